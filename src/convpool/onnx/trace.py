"""Recording a forward pass at the op level, for `convpool.onnx.export`.

`recording(graph)` replaces, for the duration of a `with` block, every public function of
convpool.functional and of the Tensor ops (ops.basic, ops.activation: what Tensor's operators
and methods call) by a wrapper, wherever a loaded convpool module holds a reference to it,
and wraps `Module.__call__` to know which layer is running and `Tensor.from_op` to know
which tensors ops built during the recording (one built by an op the recording does not know
is refused when it reaches a recorded op, rather than baked in as a constant). The wrapper runs the real op and
hands (op name, bound arguments, output, layer name) to the graph; calls made while an op is
running (an op built from other ops) are not recorded, so each op the model calls is one
entry. Everything is restored on leaving the block, also after an error. Nothing outside
this package is edited: the replacement is of module attributes, at run time; one export
runs at a time.
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
from ..tensor import Tensor

# public functions of the op modules that are helpers, not ops
HELPERS = {"as_tensor", "unbroadcast", "normalize_dim", "array_module"}

_state = threading.local()


def traced_functions() -> dict[str, Callable]:
    """{op name: the original function} for everything a recording wraps."""
    found: dict[str, Callable] = {name: getattr(functional, name) for name in functional.__all__}
    for module in (basic, activation):  # what Tensor's operators and methods call: every public function
        for name, value in vars(module).items():
            if (inspect.isfunction(value) and value.__module__ == module.__name__ and not name.startswith("_")
                    and name not in HELPERS):
                found.setdefault(name, value)
    return found


class Recorder:
    """What a recording reports to: `record(op, arguments, output, layer)` for each op the model
    calls, and `created(tensor)` for every tensor any op builds while the recording runs."""

    def record(self, op: str, arguments: dict[str, Any], output: Any, layer: str) -> None:  # pragma: no cover
        raise NotImplementedError

    def created(self, tensor: Tensor) -> None:
        pass


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
    original_from_op = Tensor.__dict__["from_op"]

    def from_op(data, parents, grad_fn, name):
        out = original_from_op.__func__(data, parents, grad_fn, name)
        recorder.created(out)
        return out

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
        Tensor.from_op = staticmethod(from_op)  # type: ignore[method-assign]
        _state.depth = 0
        yield
    finally:
        Tensor.from_op = original_from_op  # type: ignore[method-assign]
        Module.__call__ = original_call  # type: ignore[method-assign]
        for module, attr, value in reversed(patched):
            setattr(module, attr, value)
