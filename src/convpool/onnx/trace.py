"""Recording a forward pass at the op level, for `convpool.onnx.export`.

`recording(graph)` replaces, for the duration of a `with` block, every public function of
convpool.functional and of the Tensor ops (ops.basic, ops.activation: what Tensor's operators
and methods call) by a wrapper, wherever a loaded convpool module holds a reference to it,
and wraps `Module.__call__` to know which layer is running. The wrapper runs the real op and
hands (op name, bound arguments, output, layer name) to the graph; calls made while an op is
running (an op built from other ops) are not recorded, so each op the model calls is one
entry. Everything is restored on leaving the block, also after an error. Nothing outside
this package is edited: the replacement is of module attributes, at run time.
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .. import functional
from ..nn.module import Module
from ..ops import activation, basic

# ops.basic functions that build tensors (helpers such as as_tensor and unbroadcast are not ops)
BASIC_OPS = ("add", "sub", "mul", "div", "pow", "neg", "abs", "exp", "log", "sqrt", "clamp", "matmul", "compare",
             "where", "cast", "sum", "mean", "var", "max", "min", "argmax", "reshape", "flatten", "permute",
             "transpose", "unsqueeze", "squeeze", "expand", "getitem", "cat", "stack")
ACTIVATION_OPS = ("relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax")

_state = threading.local()


def traced_functions() -> dict[str, Callable]:
    """{op name: the original function} for everything a recording wraps."""
    found: dict[str, Callable] = {name: getattr(functional, name) for name in functional.__all__}
    found.update({name: getattr(basic, name) for name in BASIC_OPS})
    found.update({name: getattr(activation, name) for name in ACTIVATION_OPS})
    return found


class Recorder:
    """What a recording reports to: `record(op, arguments, output, layer)`."""

    def record(self, op: str, arguments: dict[str, Any], output: Any, layer: str) -> None:  # pragma: no cover
        raise NotImplementedError


def _wrap(name: str, original: Callable, recorder: Recorder, layers: list[str]) -> Callable:
    signature = inspect.signature(original)

    def wrapper(*args, **kwargs):
        if getattr(_state, "depth", 0):
            return original(*args, **kwargs)
        _state.depth = 1  # the op's own inner calls, and the recorder's, are not recorded
        try:
            output = original(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            recorder.record(name, dict(bound.arguments), output, layers[-1] if layers else "")
        finally:
            _state.depth = 0
        return output

    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    return wrapper


@contextmanager
def recording(recorder: Recorder, module_names: dict[int, str]) -> Iterator[None]:
    """Record every op called inside the block into recorder (see the module docstring)."""
    originals = traced_functions()
    by_id = {id(fn): name for name, fn in originals.items()}
    layers: list[str] = []
    wrappers = {name: _wrap(name, fn, recorder, layers) for name, fn in originals.items()}
    patched: list[tuple[object, str, object]] = []
    original_call = Module.__call__

    def call(self, *args, **kwargs):
        layers.append(f"{module_names.get(id(self), '?')} ({type(self).__name__})")
        try:
            return original_call(self, *args, **kwargs)
        finally:
            layers.pop()

    try:
        for module in list(sys.modules.values()):
            if not getattr(module, "__name__", "").startswith("convpool"):
                continue
            for attr, value in list(vars(module).items()):
                name = by_id.get(id(value))
                if name is not None and value is originals[name]:
                    patched.append((module, attr, value))
                    setattr(module, attr, wrappers[name])
        Module.__call__ = call  # type: ignore[method-assign]
        _state.depth = 0
        yield
    finally:
        Module.__call__ = original_call  # type: ignore[method-assign]
        for module, attr, value in reversed(patched):
            setattr(module, attr, value)
