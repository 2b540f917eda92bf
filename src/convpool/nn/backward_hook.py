"""BackwardHook: how `register_full_backward_hook` sees a module's gradients.

In `module(...)` the tensor inputs are passed through one identity node (the "hub" and one
identity per input) and the outputs through identity nodes, as PyTorch's BackwardHook does.
When backward reaches the output identities they record grad_output; the input identities
hand their gradients to the hub as one `_GradPack` (the engine sums what flows into a node,
and packs sum by merging), so the hub runs once with every input's gradient and calls the
user's hooks with (module, grad_input, grad_output). A hook may return a replacement
grad_input, which is what flows on to the inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import backend
from ..tensor import Tensor

_NAME = "BackwardHookFunctionBackward"


class _GradPack:
    """The gradients of several identities on their way into the hub, keyed by position."""

    __slots__ = ("grads",)

    def __init__(self, grads: dict[int, Any]) -> None:
        self.grads = grads

    def __add__(self, other: _GradPack) -> _GradPack:
        merged = dict(self.grads)
        for key, g in other.grads.items():
            merged[key] = g if key not in merged else merged[key] + g
        return _GradPack(merged)


class BackwardHook:
    """One call's worth of gradient bookkeeping for a module's full backward hooks."""

    def __init__(self, module: Any, hooks: list[Callable]) -> None:
        self.module = module
        self.hooks = hooks
        self.n_inputs = 0
        self.input_positions: list[int] | None = None
        self.zero_inputs: dict[int, Any] = {}
        self.n_outputs = 0
        self.grad_outputs: list[Tensor | None] = []

    def wrap_inputs(self, args: tuple) -> tuple:
        """args with every input that requires grad replaced by an identity through the hub."""
        self.n_inputs = len(args)
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        if not positions:
            return args
        self.input_positions = positions
        self.zero_like = [args[i].data for i in positions]
        self.zero_inputs = {i: a.data for i, a in enumerate(args) if isinstance(a, Tensor) and i not in positions}
        first = args[positions[0]].data
        hub = Tensor.from_op(backend.array_module(first).zeros((0,), dtype=first.dtype),
                             [args[i] for i in positions], self._inputs_backward, _NAME)
        wrapped = list(args)
        for k, i in enumerate(positions):
            wrapped[i] = Tensor.from_op(args[i].data, (hub,), lambda g, k=k: (_GradPack({k: g}),), _NAME)
        return tuple(wrapped)

    def wrap_outputs(self, output: Any) -> Any:
        """output with every tensor that requires grad passed through a recording identity."""
        outputs = output if isinstance(output, tuple) else (output,)
        positions = [i for i, o in enumerate(outputs) if isinstance(o, Tensor) and o.requires_grad]
        if not positions:
            return output
        self.n_outputs = len(outputs)
        self.grad_outputs = [None] * self.n_outputs
        wrapped = list(outputs)
        for i in positions:
            wrapped[i] = Tensor.from_op(outputs[i].data, (outputs[i],), lambda g, i=i: self._output_backward(i, g),
                                        _NAME)
        return tuple(wrapped) if isinstance(output, tuple) else wrapped[0]

    def _output_backward(self, index: int, g: Any) -> tuple[Any]:
        self.grad_outputs[index] = Tensor(g)
        if self.input_positions is None:  # no input needs a gradient: the hooks run now, as in PyTorch
            grad_input = (None,) * self.n_inputs
            for hook in self.hooks:
                result = hook(self.module, grad_input, tuple(self.grad_outputs))
                if result is not None and not (isinstance(result, tuple) and all(r is None for r in result)):
                    raise RuntimeError("backward hook for a module where no input requires gradient should "
                                       "return None or None for all gradients")
        return (g,)

    def _inputs_backward(self, pack: _GradPack) -> list[Any]:
        assert self.input_positions is not None
        grad_input: list[Tensor | None] = [None] * self.n_inputs
        for i, data in self.zero_inputs.items():  # tensors without a gradient get zeros, as in PyTorch
            grad_input[i] = Tensor(backend.array_module(data).zeros_like(data))
        for k, i in enumerate(self.input_positions):
            g = pack.grads.get(k)
            grad_input[i] = Tensor(g) if g is not None else \
                Tensor(backend.array_module(self.zero_like[k]).zeros_like(self.zero_like[k]))
        grad_output = tuple(self.grad_outputs) if self.grad_outputs else (None,)
        for hook in self.hooks:
            result = hook(self.module, tuple(grad_input), grad_output)
            if result is None:
                continue
            result = tuple(result) if isinstance(result, list | tuple) else (result,)
            if len(result) != self.n_inputs:
                raise RuntimeError(f"backward hook returned {len(result)} gradient(s) but the module "
                                   f"{type(self.module).__name__} has {self.n_inputs} input(s)")
            for i, (old, new) in enumerate(zip(grad_input, result, strict=True)):
                if new is not None and old is not None and tuple(new.shape) != old.shape:
                    raise RuntimeError(f"backward hook returned a gradient of shape {tuple(new.shape)} for input {i} "
                                       f"of {type(self.module).__name__}, expected shape {old.shape}")
            grad_input = [None if r is None else r if isinstance(r, Tensor) else Tensor(r) for r in result]
        return [None if grad_input[i] is None else grad_input[i].data for i in self.input_positions]
