"""In-place changes: item assignment (`x[mask] = 0`, `x[:, 0] = v`), add_, mul_, copy_,
fill_, zero_, clamp_ and friends.

Two cases, as in PyTorch:
- Nothing to record (under `no_grad()`, or no tensor involved requires grad): the new values
  are written into the tensor's own buffer, so every holder of the tensor (an optimiser, a
  state dict on the CPU, a NumPy array from `from_numpy`) sees them. This is what
  fine-tuning code's `with no_grad(): p.copy_(w)` needs.
- A graph to record (the tensor or the value requires grad): the tensor becomes the output
  of the change, with a gradient rule, and its old value (an internal snapshot) keeps the
  graph that made it. The new values go into a fresh buffer, so values that earlier ops
  saved for their backward stay as they were (PyTorch raises in that situation; here the
  gradient is simply right).
A leaf that requires grad cannot be changed in place while grad is enabled (PyTorch's rule).
"""

from __future__ import annotations

import numpy

from .. import backend
from ..backend import array_module
from ..tensor import Tensor, is_grad_enabled
from .args import check_same_device
from .basic import _is_advanced, as_tensor, unbroadcast


def _refuse_leaf(t: Tensor, op: str) -> None:
    if is_grad_enabled() and t.requires_grad and t.is_leaf:
        raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in an in-place operation "
                           "(wrap it in convpool.no_grad(), as optimisers and fine-tuning code do)")


def _snapshot(t: Tensor) -> Tensor:
    """A new Tensor object standing for t's current value and the graph that made it."""
    old = Tensor.__new__(Tensor)
    old.data, old.grad, old.requires_grad = t.data, None, t.requires_grad
    old._parents, old._grad_fn, old._name = t._parents, t._grad_fn, t._name
    return old


def _become(t: Tensor, result: Tensor) -> Tensor:
    """t takes result's value and place in the graph (the recorded case)."""
    t.data, t.requires_grad = result.data, result.requires_grad
    t._parents, t._grad_fn, t._name = result._parents, result._grad_fn, result._name
    return t


def _check_result(t: Tensor, result: Tensor, op: str) -> None:
    if result.shape != t.shape:
        raise RuntimeError(f"{op}: the result has shape {result.shape}, which does not match the tensor's shape "
                           f"{t.shape} (an in-place op cannot broadcast the tensor itself)")
    if result.dtype.kind == "f" and t.dtype.kind != "f":
        raise TypeError(f"{op}: result type {result.dtype} can't be cast to the tensor's dtype {t.dtype}")


def apply(t: Tensor, compute, op: str) -> Tensor:
    """t <- compute(old t), in place: `compute` maps a Tensor to the new value (a Tensor)."""
    _refuse_leaf(t, op)
    record = is_grad_enabled()
    old = _snapshot(t) if record and t.requires_grad else t
    result = compute(old)
    _check_result(t, result, op)
    if record and result.requires_grad:
        if result.dtype != t.dtype:
            result = result.to(t.dtype)
        return _become(t, result)
    t.data[...] = result.data.astype(t.dtype, copy=False) if result.dtype != t.dtype else result.data
    return t


def copy_(t: Tensor, source) -> Tensor:
    """t <- source, broadcast to t's shape and cast to t's dtype; a source on another device is
    copied over (as PyTorch's copy_ allows)."""
    _refuse_leaf(t, "copy_")
    source = as_tensor(source, t)
    if source.device != t.device:
        source = source.to(t.device)
    xp = array_module(t.data)
    try:
        values = xp.broadcast_to(source.data, t.shape)
    except ValueError:
        raise RuntimeError(f"copy_: the source's shape {source.shape} does not broadcast to the tensor's shape "
                           f"{t.shape}") from None
    if is_grad_enabled() and source.requires_grad:
        source_dtype = source.dtype

        def grad_fn(g):
            return None, unbroadcast(g, source.shape).astype(source_dtype, copy=False)

        result = Tensor.from_op(values.astype(t.dtype, copy=True), (_snapshot(t), source), grad_fn, "copy_")
        return _become(t, result)
    if is_grad_enabled() and t.requires_grad:  # a non-leaf overwritten by a constant: its old graph is cut
        t._parents, t._grad_fn, t.requires_grad = (), None, False
        t.data = values.astype(t.dtype, copy=True)
        return t
    t.data[...] = values
    return t


def fill_(t: Tensor, value) -> Tensor:
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"fill_: value must be a number or a 0-d tensor, got shape {value.shape}")
        return copy_(t, value)
    return copy_(t, Tensor(numpy.asarray(value, dtype=t.dtype)))


def setitem(t: Tensor, index, value) -> None:
    """t[index] = value, recorded by autograd when t or value requires grad."""
    _refuse_leaf(t, "item assignment")
    if isinstance(index, Tensor):
        check_same_device("item assignment", tensor=t, index=index)
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    xp = array_module(t.data)
    if xp is not numpy:
        parts = index if isinstance(index, tuple) else (index,)
        parts = tuple(backend.asarray(p, like=t.data) if isinstance(p, numpy.ndarray) else p for p in parts)
        index = parts if isinstance(index, tuple) else parts[0]
    value = as_tensor(value, t)
    if value.device != t.device:
        value = value.to(t.device) if value.ndim == 0 else value
        check_same_device("item assignment", tensor=t, value=value)
    if value.dtype.kind == "f" and t.dtype.kind != "f":
        raise TypeError(f"item assignment: cannot put {value.dtype} values into a {t.dtype} tensor")
    recorded = is_grad_enabled() and (t.requires_grad or value.requires_grad)
    if not recorded:
        t.data[index] = value.data
        return
    old = _snapshot(t)
    data = t.data.copy()
    data[index] = value.data
    advanced = _is_advanced(index)
    value_shape, value_dtype = value.shape, value.dtype

    def grad_fn(g):
        g_old = g.copy()
        g_old[index] = 0
        picked = g[index]
        g_value = unbroadcast(picked, value_shape) if picked.shape != value_shape or advanced else picked
        return g_old, g_value.astype(value_dtype, copy=False)

    _become(t, Tensor.from_op(data, (old, value), grad_fn, "setitem"))
