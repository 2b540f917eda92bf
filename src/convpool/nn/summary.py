"""Model summary: one row per leaf layer (name, type, output shape, parameters,
multiply-adds) and the totals, traced from one real forward pass.

`summarize(model, (1, 28, 28))` and `model.summary((1, 28, 28))` return a `Summary` (rows
and totals as numbers); its repr and str are the table, so it prints itself in a REPL and
`print(model.summary((1, 28, 28)))` shows it. The input shape leaves out the batch axis;
`batch_size` (default 1) is put in front.

How the shapes are found: a forward hook on every leaf module (`nn.watch`) records its
input and output shapes while the model runs once, in eval mode and without gradients, on
a random batch of the given shape (drawn from a fixed seed, in the dtype and on the device
of the model's parameters; the global generator is not used). Every module's training flag
is put back afterwards. So any Module works, whatever its forward does (residual blocks,
custom forwards), and the rows come in the order the forward calls the leaves (a leaf used
twice appears twice). A model that cannot run on that input raises the layer's own error.

Counts: "Params" is the number of elements of the leaf's own parameters; the totals count
each parameter of the whole model once (parameters held by a container itself included),
and "trainable" those with requires_grad. MACs (multiply-adds) are counted for layers
with weights that multiply (those with a `macs(input_shape, output_shape)` method):
convolution, out_elements * in_channels/groups * prod(kernel); transposed convolution,
in_elements * out_channels/groups * prod(kernel); Linear, rows * in_features *
out_features. Everything else (activations, pooling, normalisation, dropout, flatten, bias
additions) counts 0. Element counts include the batch axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy

from .. import backend
from ..tensor import Tensor, no_grad
from .module import Module
from .watch import leaves, modes_kept, watch

__all__ = ["LayerRow", "Summary", "summarize", "traced_output_shape"]


@dataclass(frozen=True)
class LayerRow:
    """One leaf layer's line of the summary."""

    name: str
    type: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    macs: int


@dataclass
class Summary:
    """Rows and totals; str(summary) and repr(summary) are the table."""

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    rows: list[LayerRow] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    total_macs: int = 0

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    def __str__(self) -> str:
        header = ("Layer", "Type", "Output shape", "Params", "MACs")
        lines = [(row.name, row.type, _shape(row.output_shape), f"{row.params:,}", f"{row.macs:,}")
                 for row in self.rows]
        widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]

        def fmt(cells: Sequence[str]) -> str:
            left = [f"{cell:<{w}}" for cell, w in zip(cells[:3], widths[:3], strict=True)]
            right = [f"{cell:>{w}}" for cell, w in zip(cells[3:], widths[3:], strict=True)]
            return "  ".join(left + right).rstrip()

        rule_width = sum(widths) + 2 * (len(widths) - 1)
        out = [fmt(header), "=" * rule_width]
        out += [fmt(line) for line in lines]
        out += ["=" * rule_width,
                f"Input shape: {_shape(self.input_shape)}",
                f"Output shape: {_shape(self.output_shape)}",
                f"Total params: {self.total_params:,}",
                f"Trainable params: {self.trainable_params:,}",
                f"Non-trainable params: {self.non_trainable_params:,}",
                f"Total MACs: {self.total_macs:,}"]
        return "\n".join(out)

    def __repr__(self) -> str:
        return str(self)


def _shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(n) for n in shape) + "]"


def _first_shape(value: Any) -> tuple[int, ...]:
    """The shape of value, or of the first tensor in a tuple or list of them (() if none)."""
    if isinstance(value, Tensor):
        return value.shape
    if isinstance(value, tuple | list):
        for item in value:
            if isinstance(item, Tensor):
                return item.shape
    return ()


def example_input(module: Module, shape: tuple[int, ...], dtype=None) -> Tensor:
    """A random batch of `shape` in the dtype and on the device of the module's first
    parameter (the default dtype and the CPU for a module without any)."""
    param = next(module.parameters(), None)
    if dtype is None:
        dtype = param.dtype if param is not None and param.dtype.kind == "f" else backend.default_dtype()
    values = numpy.random.default_rng(0).standard_normal(shape).astype(dtype)
    return Tensor(values, device=param.device if param is not None else None)


def traced_output_shape(module: Module, input_shape: Sequence[int], dtype=None) -> tuple[int, ...]:
    """The shape of module's output for an input of input_shape (batch axis included), from
    one forward pass in eval mode without gradients (training flags put back)."""
    with modes_kept(module), no_grad():
        module.eval()
        return _first_shape(module(example_input(module, tuple(input_shape), dtype)))


def summarize(module: Module, input_shape: Sequence[int], batch_size: int = 1, dtype=None) -> Summary:
    """The summary of module for inputs of shape (batch_size, *input_shape), traced from one
    forward pass (dtype: the input's, by default the parameters')."""
    if not isinstance(module, Module):
        raise TypeError(f"summarize: expected a convpool.nn.Module, got {type(module).__name__}")
    input_shape = tuple(input_shape)
    for n in (batch_size, *input_shape):
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f"summarize: batch_size and input_shape must be positive ints, got batch_size="
                             f"{batch_size!r}, input_shape={input_shape!r}")
    shape = (batch_size, *input_shape)
    rows: list[LayerRow] = []

    def record(name: str, leaf: Module, args: tuple, output: Any) -> None:
        in_shape, out_shape = _first_shape(args), _first_shape(output)
        macs_fn = getattr(leaf, "macs", None)
        rows.append(LayerRow(name=name, type=type(leaf).__name__, input_shape=in_shape, output_shape=out_shape,
                             params=sum(p.numel() for p in leaf.parameters()),
                             macs=int(macs_fn(in_shape, out_shape)) if macs_fn is not None else 0))

    x = example_input(module, shape, dtype)
    try:
        with modes_kept(module), watch(leaves(module), record), no_grad():
            module.eval()
            out_shape = _first_shape(module(x))
    except Exception as error:
        error.add_note(f"(raised while tracing the summary of {type(module).__name__} on an input of shape {shape})")
        raise
    params = list(module.parameters())
    return Summary(input_shape=shape, output_shape=out_shape, rows=rows,
                   total_params=sum(p.numel() for p in params),
                   trainable_params=sum(p.numel() for p in params if p.requires_grad),
                   total_macs=sum(row.macs for row in rows))
