"""convpool.autograd.grad: first-order gradients of outputs with respect to chosen inputs.

`grad(outputs, inputs)` runs the same backward pass as `Tensor.backward` but hands back
d(outputs)/d(inputs) instead of accumulating into any `.grad` (neither the inputs' nor any
other leaf's is touched), as torch.autograd.grad does. Higher-order gradients
(create_graph=True) are not supported: the backward closures compute with plain arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import backend
from .tensor import Tensor, _as_array, run_backward

__all__ = ["grad"]


def _as_tuple(value: Tensor | Sequence[Tensor | None] | None, name: str, allow_none: bool = False) -> tuple:
    if isinstance(value, Tensor) or (allow_none and value is None):
        return (value,)
    try:
        items = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"grad: {name} must be a Tensor or a sequence of Tensors, got {type(value).__name__}") from None
    for i, item in enumerate(items):
        if not isinstance(item, Tensor) and not (allow_none and item is None):
            raise TypeError(f"grad: {name}[{i}] is a {type(item).__name__}, not a convpool Tensor")
    return items


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Tensor | Sequence[Tensor | None] | None = None, retain_graph: bool | None = None,
         create_graph: bool = False, only_inputs: bool = True, allow_unused: bool | None = None,
         is_grads_batched: bool = False, materialize_grads: bool = False) -> tuple[Tensor | None, ...]:
    """The sum over outputs of grad_output . d(output)/d(input), for each input, as a tuple
    (None for an input the outputs do not depend on, which needs allow_unused=True, or
    zeros with materialize_grads=True). grad_outputs may be left out (or None) for
    one-element outputs. The graph is freed unless retain_graph is set."""
    if create_graph:
        raise NotImplementedError("grad: create_graph=True (higher-order gradients) is not supported by convpool: "
                                  "the backward pass computes with plain arrays, so its result has no graph")
    if is_grads_batched:
        raise NotImplementedError("grad: is_grads_batched=True is not supported; call grad once per gradient")
    outs = _as_tuple(outputs, "outputs")
    ins = _as_tuple(inputs, "inputs")
    if not outs or not ins:
        raise ValueError(f"grad: expected at least one output and one input, got {len(outs)} and {len(ins)}")
    if allow_unused is None:
        allow_unused = materialize_grads
    seeds = (None,) * len(outs) if grad_outputs is None else _as_tuple(grad_outputs, "grad_outputs", allow_none=True)
    if len(seeds) != len(outs):
        raise ValueError(f"grad: got {len(seeds)} grad_outputs for {len(outs)} outputs")
    for i, x in enumerate(ins):
        if not x.requires_grad:
            raise RuntimeError(f"grad: inputs[{i}] (shape {x.shape}) does not require grad")
    roots, arrays = [], []
    for i, (out, seed) in enumerate(zip(outs, seeds, strict=True)):
        if not out.requires_grad:
            raise RuntimeError(f"grad: outputs[{i}] (shape {out.shape}) does not require grad and has no grad_fn")
        if seed is None:
            if out.data.size != 1:
                raise RuntimeError(f"grad: grad_outputs[{i}] can be left out only for a one-element output, "
                                   f"outputs[{i}] has shape {out.shape}")
            array = backend.array_module(out.data).ones_like(out.data)
        else:
            array = _as_array(seed, out.data.dtype, out.device)
            if array.shape != out.data.shape:
                raise ValueError(f"grad: grad_outputs[{i}] has shape {tuple(array.shape)} but outputs[{i}] has "
                                 f"shape {out.shape}")
        roots.append(out)
        arrays.append(array)
    captured = run_backward(roots, arrays, retain_graph=bool(retain_graph), inputs=ins)
    result: list[Tensor | None] = []
    for i, x in enumerate(ins):
        g = captured.get(id(x))
        if g is None:
            if materialize_grads:
                result.append(Tensor(backend.array_module(x.data).zeros_like(x.data)))
                continue
            if not allow_unused:
                raise RuntimeError(f"grad: inputs[{i}] (shape {x.shape}) was not used to compute the outputs; "
                                   "pass allow_unused=True to get None for it")
            result.append(None)
        else:
            result.append(Tensor(g.astype(x.data.dtype, copy=False)))
    return tuple(result)
