"""Gradient clipping and flat parameter vectors, as torch.nn.utils has them.

`clip_grad_norm_` scales every gradient by max_norm / (total_norm + 1e-6) when that is below
1 (the total norm is the norm of the per-gradient norms, so it equals the norm of all
gradients joined); `clip_grad_value_` clamps each gradient element to [-clip_value,
clip_value]. Both change the `.grad` arrays in place, on their device. `foreach` is
accepted for PyTorch's signature; every gradient is handled one at a time either way.
`parameters_to_vector` / `vector_to_parameters` join parameters into one 1-D tensor and
back (the parameters then hold views of the vector, as in PyTorch).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from .. import backend
from ..ops import basic
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def _as_list(parameters: Tensor | Iterable[Tensor], name: str) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        return [parameters]
    try:
        items = list(parameters)
    except TypeError:
        raise TypeError(f"{name}: parameters must be a Tensor or an iterable of Tensors, "
                        f"got {type(parameters).__name__}") from None
    for i, p in enumerate(items):
        if not isinstance(p, Tensor):
            raise TypeError(f"{name}: parameters[{i}] is a {type(p).__name__}, not a convpool Tensor")
    return items


def _vector_norm(xp, a, norm_type: float):
    """The norm_type norm of a's elements as a 0-d array (torch.linalg.vector_norm)."""
    a = xp.abs(a)
    if a.size == 0:
        return xp.asarray(0, dtype=a.dtype)
    if norm_type == math.inf:
        return xp.asarray(a.max())
    if norm_type == -math.inf:
        return xp.asarray(a.min())
    if norm_type == 0:
        return xp.asarray((a != 0).sum(), dtype=a.dtype)
    if norm_type == 1:
        return xp.asarray(a.sum())
    if norm_type == 2:
        return xp.sqrt(xp.asarray((a * a).sum()))
    return xp.asarray((a ** norm_type).sum() ** (1.0 / norm_type))


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale the gradients in place so that their joint norm is at most max_norm; returns the
    total norm before clipping (a 0-d tensor; 0 when no parameter has a gradient).
    norm_type may be float('inf'). A non-finite total norm is an error with
    error_if_nonfinite, and otherwise scales the gradients by it, as in PyTorch."""
    params = _as_list(parameters, "clip_grad_norm_")
    max_norm, norm_type = float(max_norm), float(norm_type)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return Tensor(0.0)
    first = grads[0].data
    xp = backend.array_module(first)
    where = backend.device_of(first)
    norms = [backend.to_device(_vector_norm(backend.array_module(g.data), g.data, norm_type), where)
             for g in grads]
    total = _vector_norm(xp, xp.stack(norms), norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} for gradients from `parameters` "
                           f"is non-finite ({float(total)}), so it cannot be clipped. To disable this error and "
                           "scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")
    coef = xp.minimum(xp.asarray(max_norm, dtype=total.dtype) / (total + total.dtype.type(1e-6)),
                      xp.asarray(1.0, dtype=total.dtype))
    for g in grads:
        g.data *= backend.to_device(coef, backend.device_of(g.data)).astype(g.data.dtype, copy=False)
    return Tensor(total)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    for p in _as_list(parameters, "clip_grad_value_"):
        if p.grad is not None:
            xp = backend.array_module(p.grad.data)
            xp.clip(p.grad.data, -clip_value, clip_value, out=p.grad.data)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters flattened and joined into one 1-D tensor (differentiable)."""
    params = _as_list(parameters, "parameters_to_vector")
    if not params:
        raise ValueError("parameters_to_vector: expected at least one parameter, got none")
    return basic.cat([basic.reshape(p, (-1,)) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Give each parameter its slice of vec (in order, reshaped); the inverse of
    parameters_to_vector. vec must have exactly as many elements as the parameters."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected a convpool Tensor, but got {type(vec).__name__}")
    params = _as_list(parameters, "vector_to_parameters")
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.numel() != total:
        raise ValueError(f"vector_to_parameters: vec has shape {vec.shape}, expected a 1-D tensor of {total} "
                         f"elements (the parameters' total)")
    start = 0
    for p in params:
        n = p.numel()
        p.data = vec.data[start:start + n].reshape(p.shape)
        start += n
