"""Vector norms along one dim, and what is built on them: F.normalize, cosine_similarity and
pairwise_distance.

`vector_norm` is the one primitive: (sum |x|^p)^(1/p) along dim, or max |x| for p = inf.
Its backward, for finite p, is g * sign(x) |x|^(p-1) / norm^(p-1) (g x / norm for p = 2);
for p = inf the gradient is shared equally among the entries of largest magnitude, as
PyTorch's amax backward does. Where the norm is 0 the gradient is 0, as in PyTorch (the
norm is not differentiable there; a subgradient of 0 keeps training finite).
"""

from __future__ import annotations

import math
import numbers

from ..backend import array_module
from ..tensor import Tensor
from .basic import add, div, mul, normalize_dim, reshape, sub, sum


def vector_norm(input: Tensor, p: float = 2.0, dim: int = -1, keepdim: bool = False) -> Tensor:
    """The p-norm of input along dim (p > 0 or inf)."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not p > 0:
        raise ValueError(f"vector_norm: p must be a positive number or inf, got p={p!r}")
    if input.dtype.kind != "f":
        raise TypeError(f"vector_norm: input must be floating point, got {input.dtype}")
    xp = array_module(input.data)
    axis = normalize_dim(dim, input.ndim)
    x = input.data if input.ndim else input.data.reshape(1)
    magnitude = xp.abs(x)
    p = float(p)
    if math.isinf(p):
        norm = magnitude.max(axis=axis, keepdims=True) if x.shape[axis] else xp.zeros(
            x.shape[:axis] + (1,) + x.shape[axis + 1:], dtype=x.dtype)
    elif p == 2:
        norm = xp.sqrt((x * x).sum(axis=axis, keepdims=True))
    elif p == 1:
        norm = magnitude.sum(axis=axis, keepdims=True)
    else:
        norm = (magnitude ** p).sum(axis=axis, keepdims=True) ** (1 / p)

    def grad_fn(g):
        g = g.reshape(norm.shape)
        zero = norm == 0
        safe = xp.where(zero, 1, norm)
        if math.isinf(p):
            top = (magnitude == norm) & ~zero
            share = top / xp.maximum(top.sum(axis=axis, keepdims=True), 1)
            gx = g * xp.sign(x) * share
        elif p == 2:
            gx = g * x / safe
        elif p == 1:
            gx = g * xp.sign(x) * ~zero
        else:
            gx = g * xp.sign(x) * (magnitude / safe) ** (p - 1)
        return (xp.where(zero, 0, gx).reshape(input.shape).astype(input.dtype, copy=False),)

    out = norm if keepdim else norm.squeeze(axis)
    if input.ndim == 0:
        out = out.reshape(())
    return Tensor.from_op(out, (input,), grad_fn, "vector_norm")


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None) -> Tensor:
    """input / max(||input||_p, eps) along dim: unit vectors, with eps guarding zero vectors.
    The clamp is max(norm, eps) composed from differentiable ops, as in PyTorch."""
    if out is not None:
        raise ValueError("normalize: out= is not supported; use the returned tensor")
    norm = vector_norm(input, p, dim, keepdim=True)
    xp = array_module(norm.data)
    small = norm.data < eps
    clamped = add(mul(norm, Tensor(~small)), Tensor(xp.where(small, xp.asarray(eps, dtype=norm.dtype), 0)))
    return div(input, clamped)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1/|x1| * x2/|x2|) along dim, each norm clamped below at eps by value only (its
    gradient passes as if unclamped), which is exactly what PyTorch computes."""
    xp = array_module(x1.data)
    shape = _broadcast_shape("cosine_similarity", x1.shape, x2.shape)
    ndim = max(len(shape), 1)
    axis = normalize_dim(dim, ndim)
    unit = []
    for x in (x1, x2):
        x = _expand(x, shape)
        norm = vector_norm(x, 2.0, axis, keepdim=True)
        lift = xp.maximum(norm.data, xp.asarray(eps, dtype=norm.dtype)) - norm.data
        unit.append(div(x, add(norm, Tensor(lift))))
    return sum(mul(unit[0], unit[1]), axis)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p over the last dim, as torch.pairwise_distance."""
    shape = _broadcast_shape("pairwise_distance", x1.shape, x2.shape)
    difference = add(sub(x1, x2), eps)
    if not shape:
        return vector_norm(reshape(difference, (1,)), p, 0, keepdim=False) if not keepdim else \
            vector_norm(reshape(difference, (1,)), p, 0, keepdim=True)
    return vector_norm(difference, p, -1, keepdim)


def _broadcast_shape(op: str, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(array_module().broadcast_shapes(a, b))
    except ValueError:
        raise ValueError(f"{op}: shapes {a} and {b} do not broadcast together") from None


def _expand(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    return x if x.shape == shape else x.expand(*shape)
