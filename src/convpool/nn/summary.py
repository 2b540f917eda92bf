"""Model summary: one row per leaf layer (name, type, output shape, parameters,
multiply-adds) and the totals, computed by shape arithmetic alone.

`summarize(model, (1, 28, 28))` returns a `Summary` (rows and totals as numbers; `str()` is
the table); `model.summary((1, 28, 28))` returns that table as a string, so
`print(model.summary((1, 28, 28)))` shows it. The input shape leaves out the batch axis;
`batch_size` (default 1) is put in front.

How the shapes are found: the root's `output_shape(input_shape)` is called, and every
layer's `output_shape` uses `convpool.shapes` (the same formula the ops use); no data runs.
Containers chain their children (Sequential does); a module with a custom forward (a
residual block) defines `output_shape` by calling its children's, in forward's order. While
summarising, each leaf's `output_shape` is wrapped to record its row, so the table lists
leaves in the order the shapes flow through them (a leaf used twice appears twice).

Counts: "Params" is the number of elements of the leaf's own parameters; the totals count
each parameter of the whole model once (parameters held by a container itself included),
and "trainable" those with requires_grad. MACs (multiply-adds) are counted for layers
with weights that multiply: convolution, out_elements * in_channels/groups * prod(kernel);
transposed convolution, in_elements * out_channels/groups * prod(kernel); Linear,
rows * in_features * out_features. Everything else (activations, pooling, normalisation,
dropout, flatten, bias additions) counts 0. Element counts include the batch axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .module import Module

__all__ = ["LayerRow", "Summary", "summarize"]


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
    """Rows and totals; str(summary) is the table."""

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


def _shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(n) for n in shape) + "]"


def summarize(module: Module, input_shape: Sequence[int], batch_size: int = 1) -> Summary:
    """The summary of module for inputs of shape (batch_size, *input_shape)."""
    if not isinstance(module, Module):
        raise TypeError(f"summarize: expected a convpool.nn.Module, got {type(module).__name__}")
    input_shape = tuple(input_shape)
    for n in (batch_size, *input_shape):
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f"summarize: batch_size and input_shape must be positive ints, got batch_size="
                             f"{batch_size!r}, input_shape={input_shape!r}")
    shape = (batch_size, *input_shape)
    names = {id(m): name for name, m in module.named_modules()}
    rows: list[LayerRow] = []
    leaves = [m for m in module.modules() if not any(True for _ in m.children())]

    def recorder(leaf: Module):
        original = leaf.output_shape

        def output_shape(in_shape, *args, **kwargs):
            out = tuple(original(in_shape, *args, **kwargs))
            macs_fn = getattr(leaf, "macs", None)
            rows.append(LayerRow(
                name=names.get(id(leaf)) or type(leaf).__name__, type=type(leaf).__name__,
                input_shape=tuple(in_shape), output_shape=out,
                params=sum(p.numel() for p in leaf.parameters()),
                macs=int(macs_fn(tuple(in_shape), out)) if macs_fn is not None else 0))
            return out

        return output_shape

    for leaf in leaves:  # an instance attribute shadows the method for this call only
        leaf.__dict__["output_shape"] = recorder(leaf)
    try:
        out_shape = tuple(module.output_shape(shape))
    finally:
        for leaf in leaves:
            leaf.__dict__.pop("output_shape", None)
    params = list(module.parameters())
    return Summary(input_shape=shape, output_shape=out_shape, rows=rows,
                   total_params=sum(p.numel() for p in params),
                   trainable_params=sum(p.numel() for p in params if p.requires_grad),
                   total_macs=sum(row.macs for row in rows))
