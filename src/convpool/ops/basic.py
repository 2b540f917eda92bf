"""Elementwise arithmetic, reductions, shape changes and indexing: each op's forward and its
gradient closure side by side. Gradients of broadcast inputs are summed back to the
input's shape by `unbroadcast`.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence

import numpy

from .. import backend
from ..backend import array_module
from ..tensor import Tensor
from .args import check_same_device


def as_tensor(value, like: Tensor | None = None) -> Tensor:
    """A Tensor from a tensor or a Python/NumPy scalar or array; a scalar takes `like`'s
    floating dtype so that `x * 2` stays float32, as in PyTorch."""
    if isinstance(value, Tensor):
        return value
    if like is not None and numpy.ndim(value) == 0:
        dtype = like.dtype
        if dtype.kind != "f" and isinstance(value, float):
            dtype = backend.default_dtype()
        elif dtype.kind == "b" and isinstance(value, int):
            dtype = backend.int64
        return Tensor(backend.asarray(value, like=like.data, dtype=dtype))
    if like is None or array_module(value) is not numpy:
        return Tensor(value)  # a device array stays where it is
    return Tensor(value, device=like.device)  # host data joins the tensor it meets


def unbroadcast(g, shape: tuple[int, ...]):
    """Sum a broadcast gradient back down to `shape`."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and g.shape[i + extra] != 1
    )
    g = g.sum(axis=axes, keepdims=True) if axes else g
    return g.reshape(shape)


def _pair(a, b) -> tuple[Tensor, Tensor]:
    """Both operands as tensors with PyTorch's promotion: an integer tensor meeting a
    floating one takes its dtype (NumPy would give float64)."""
    if isinstance(a, Tensor):
        b = as_tensor(b, a)
    else:
        b = as_tensor(b)
        a = as_tensor(a, b)
    if not (type(a.data) is type(b.data) is numpy.ndarray) and a.device != b.device:  # two host arrays: no look
        a, b = _same_device(a, b)
    if a.dtype.kind == "f" and b.dtype.kind != "f":
        b = cast(b, a.dtype)
    elif b.dtype.kind == "f" and a.dtype.kind != "f":
        a = cast(a, b.dtype)
    return a, b


def _same_device(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """A 0-d CPU tensor meeting a device tensor moves to it, as PyTorch lets CPU scalars mix
    with GPU tensors; any other mix is an error naming both devices."""
    if a.ndim == 0 and a.device.type == "cpu" and not a.requires_grad:
        return a.to(b.device), b
    if b.ndim == 0 and b.device.type == "cpu" and not b.requires_grad:
        return a, b.to(a.device)
    check_same_device("binary op", input=a, other=b)
    return a, b


def _floating(a: Tensor) -> Tensor:
    """Integer input to a floating function (exp, true division) becomes the default dtype."""
    return a if a.dtype.kind == "f" else cast(a, backend.default_dtype())


# ----- arithmetic ----------------------------------------------------------------------
def add(a, b) -> Tensor:
    a, b = _pair(a, b)

    def grad_fn(g):
        return unbroadcast(g, a.shape), unbroadcast(g, b.shape)

    return Tensor.from_op(a.data + b.data, (a, b), grad_fn, "add")


def sub(a, b) -> Tensor:
    a, b = _pair(a, b)

    def grad_fn(g):
        return unbroadcast(g, a.shape), unbroadcast(-g, b.shape)

    return Tensor.from_op(a.data - b.data, (a, b), grad_fn, "sub")


def mul(a, b) -> Tensor:
    a, b = _pair(a, b)

    def grad_fn(g):
        return (unbroadcast(g * b.data, a.shape) if a.requires_grad else None,
                unbroadcast(g * a.data, b.shape) if b.requires_grad else None)

    return Tensor.from_op(a.data * b.data, (a, b), grad_fn, "mul")


def div(a, b) -> Tensor:
    a, b = _pair(a, b)
    a, b = _floating(a), _floating(b)
    y = a.data / b.data

    def grad_fn(g):
        return (unbroadcast(g / b.data, a.shape) if a.requires_grad else None,
                unbroadcast(-g * y / b.data, b.shape) if b.requires_grad else None)

    return Tensor.from_op(y, (a, b), grad_fn, "div")


def pow(a, b) -> Tensor:
    a, b = _pair(a, b)
    if a.dtype.kind != "f" and b.dtype.kind != "f" and (b.data < 0).any():
        raise ValueError("pow: integers to negative integer powers are not allowed")
    xp = array_module(a.data)
    y = a.data ** b.data

    def grad_fn(g):
        ga = gb = None
        if a.requires_grad:
            ga = unbroadcast(g * b.data * a.data ** (b.data - 1), a.shape)
        if b.requires_grad:
            with backend.errstate(xp, divide="ignore", invalid="ignore"):
                log_a = xp.where(a.data > 0, xp.log(xp.where(a.data > 0, a.data, 1)), 0)
            gb = unbroadcast(g * y * log_a, b.shape)
        return ga, gb

    return Tensor.from_op(y, (a, b), grad_fn, "pow")


def neg(a: Tensor) -> Tensor:
    return Tensor.from_op(-a.data, (a,), lambda g: (-g,), "neg")


def abs(a: Tensor) -> Tensor:
    xp = array_module(a.data)
    return Tensor.from_op(xp.abs(a.data), (a,), lambda g: (g * xp.sign(a.data),), "abs")


def exp(a: Tensor) -> Tensor:
    a = _floating(a)
    y = array_module(a.data).exp(a.data)
    return Tensor.from_op(y, (a,), lambda g: (g * y,), "exp")


def log(a: Tensor) -> Tensor:
    a = _floating(a)
    y = array_module(a.data).log(a.data)
    return Tensor.from_op(y, (a,), lambda g: (g / a.data,), "log")


def sqrt(a: Tensor) -> Tensor:
    a = _floating(a)
    y = array_module(a.data).sqrt(a.data)
    return Tensor.from_op(y, (a,), lambda g: (g / (2 * y),), "sqrt")


def clamp(a: Tensor, min=None, max=None) -> Tensor:
    if isinstance(min, float) or isinstance(max, float):
        a = _floating(a)
    xp = array_module(a.data)
    y = xp.clip(a.data, min, max)
    inside = xp.ones(a.shape, dtype=bool)
    if min is not None:
        inside &= a.data >= min
    if max is not None:
        inside &= a.data <= max
    return Tensor.from_op(y, (a,), lambda g: (g * inside,), "clamp")


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules (1-D operands, broadcast batch dimensions)."""
    a, b = _pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least one dimension, got {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not line up (inner sizes differ)")
    if a.dtype != b.dtype:
        raise TypeError(f"matmul: dtypes differ, {a.dtype} and {b.dtype}; convert one with .to()")
    xp = array_module(a.data)
    # 2-D products run on convpool's threads (see backend.matmul); others with NumPy's broadcasting
    product = backend.matmul if a.ndim == 2 and b.ndim == 2 else xp.matmul
    y = product(a.data, b.data)

    def grad_fn(g):
        a2 = a.data[None, :] if a.ndim == 1 else a.data
        b2 = b.data[:, None] if b.ndim == 1 else b.data
        g2 = xp.expand_dims(g, -1) if b.ndim == 1 else g  # restore the dims matmul dropped
        g2 = xp.expand_dims(g2, -2) if a.ndim == 1 else g2
        ga = gb = None
        if a.requires_grad:
            ga = product(g2, xp.swapaxes(b2, -1, -2))
            ga = unbroadcast(ga, a2.shape).reshape(a.shape) if a.ndim > 1 else ga.reshape(
                -1, a.shape[0]).sum(0)
        if b.requires_grad:
            gb = product(xp.swapaxes(a2, -1, -2), g2)
            gb = unbroadcast(gb, b2.shape).reshape(b.shape) if b.ndim > 1 else gb.reshape(
                -1, b.shape[0]).sum(0)
        return ga, gb

    return Tensor.from_op(y, (a, b), grad_fn, "matmul")


def compare(a, b, how: str) -> Tensor:
    """Elementwise comparison; a bool tensor outside the graph."""
    a, b = _pair(a, b)
    xp = array_module(a.data)
    fn = {"eq": xp.equal, "ne": xp.not_equal, "lt": xp.less, "le": xp.less_equal,
          "gt": xp.greater, "ge": xp.greater_equal}[how]
    return Tensor(fn(a.data, b.data))


def where(condition, a, b) -> Tensor:
    """a where condition holds, else b (gradients flow to the chosen side)."""
    a, b = _pair(a, b)
    if isinstance(condition, Tensor):
        check_same_device("where", condition=condition, input=a)
        cond = condition.data
    else:
        cond = backend.asarray(condition, like=a.data)
    xp = array_module(a.data)
    cond = xp.asarray(cond, dtype=bool)
    y = xp.where(cond, a.data, b.data)

    def grad_fn(g):
        return (unbroadcast(xp.where(cond, g, 0), a.shape) if a.requires_grad else None,
                unbroadcast(xp.where(cond, 0, g), b.shape) if b.requires_grad else None)

    return Tensor.from_op(y, (a, b), grad_fn, "where")


def maximum(a, b, largest: bool = True) -> Tensor:
    """Elementwise larger (or smaller) of two tensors; NaN wins. PyTorch's gradient rule:
    ties give each side half, the losing side nothing, and a NaN pair both sides all of it."""
    a, b = _pair(a, b)
    xp = array_module(a.data)
    y = (xp.maximum if largest else xp.minimum)(a.data, b.data)
    tie = a.data == b.data
    a_loses = (a.data < b.data) if largest else (a.data > b.data)
    b_loses = (a.data > b.data) if largest else (a.data < b.data)

    def grad_fn(g):
        shared = xp.where(tie, g / 2, g)
        return (unbroadcast(xp.where(a_loses, 0, shared), a.shape) if a.requires_grad else None,
                unbroadcast(xp.where(b_loses, 0, shared), b.shape) if b.requires_grad else None)

    return Tensor.from_op(y, (a, b), grad_fn, "maximum" if largest else "minimum")


def cast(a: Tensor, dtype) -> Tensor:
    """Convert the dtype; a cast to a non-floating dtype leaves the graph, as in PyTorch."""
    dtype = numpy.dtype(dtype)
    if dtype == a.dtype:
        return a
    if dtype.kind != "f":
        return Tensor(a.data.astype(dtype))
    source = a.dtype
    return Tensor.from_op(a.data.astype(dtype), (a,), lambda g: (g.astype(source),), "cast")


# ----- reductions ------------------------------------------------------------------------
def normalize_dim(dim: int, ndim: int) -> int:
    """A dim in [-ndim, ndim) as a non-negative index; a 0-d tensor accepts 0 and -1."""
    span = builtins.max(ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, int | numpy.integer) or not -span <= dim < span:
        raise IndexError(f"dim {dim!r} is out of range for a tensor with {ndim} dimensions "
                         f"(expected a dim in [{-span}, {span - 1}])")
    return int(dim) % span


def _axes(dim, ndim: int) -> tuple[int, ...] | None:
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int | numpy.integer) else tuple(dim)
    axes = tuple(sorted({normalize_dim(d, ndim) for d in dims}))
    return () if ndim == 0 else axes


def _expand_back(g, shape, axes, keepdim):
    """Reshape a reduced gradient so that it broadcasts against the input again."""
    if axes is None:
        return g.reshape((1,) * len(shape)) if not keepdim else g
    if not keepdim:
        for ax in axes:
            g = array_module(g).expand_dims(g, ax)
    return g


def sum(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    axes = _axes(dim, a.ndim)
    y = a.data.sum(axis=axes, keepdims=keepdim)
    xp = array_module(a.data)

    def grad_fn(g):
        return (xp.broadcast_to(_expand_back(g, a.shape, axes, keepdim), a.shape),)

    return Tensor.from_op(xp.asarray(y), (a,), grad_fn, "sum")


def mean(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    axes = _axes(dim, a.ndim)
    count = a.data.size if axes is None else int(numpy.prod([a.shape[i] for i in axes]))
    xp = array_module(a.data)
    y = xp.asarray(a.data.mean(axis=axes, keepdims=keepdim))

    def grad_fn(g):
        return (xp.broadcast_to(_expand_back(g, a.shape, axes, keepdim) / count, a.shape),)

    return Tensor.from_op(y, (a,), grad_fn, "mean")


def var(a: Tensor, dim=None, unbiased: bool = True, keepdim: bool = False) -> Tensor:
    centred = a - mean(a, dim, keepdim=True)
    axes = _axes(dim, a.ndim)
    count = a.numel() if axes is None else int(numpy.prod([a.shape[i] for i in axes]))
    return sum(centred * centred, dim, keepdim) / (count - 1 if unbiased else count)


def _extreme(a: Tensor, dim, keepdim: bool, largest: bool):
    """max/min over all elements (one value) or along one dim (values, indices).

    The gradient goes to the first extreme element, as PyTorch's does along a dim."""
    xp = array_module(a.data)
    arg = xp.argmax if largest else xp.argmin
    name = "max" if largest else "min"
    if dim is None:
        flat = a.data.reshape(-1)
        if flat.size == 0:
            raise ValueError(f"{name}: the tensor is empty")
        index = int(arg(flat))

        def grad_all(g):
            gx = xp.zeros(flat.shape, dtype=a.dtype)
            gx[index] = g
            return (gx.reshape(a.shape),)

        return Tensor.from_op(flat[index].copy(), (a,), grad_all, name)
    if a.ndim == 0:
        normalize_dim(dim, 0)
        return Tensor.from_op(a.data.copy(), (a,), lambda g: (g,), name), Tensor(xp.zeros((), numpy.int64))
    (axis,) = _axes(dim, a.ndim)
    idx = xp.expand_dims(arg(a.data, axis=axis), axis)
    values = xp.take_along_axis(a.data, idx, axis=axis)

    def grad_dim(g):
        gx = xp.zeros(a.shape, dtype=a.dtype)
        xp.put_along_axis(gx, idx, g if keepdim else xp.expand_dims(g, axis), axis=axis)
        return (gx,)

    indices = idx if keepdim else idx.squeeze(axis)
    values = values if keepdim else values.squeeze(axis)
    return Tensor.from_op(values, (a,), grad_dim, name), Tensor(indices.astype(numpy.int64))


def max(a: Tensor, dim=None, keepdim: bool = False):
    return _extreme(a, dim, keepdim, largest=True)


def min(a: Tensor, dim=None, keepdim: bool = False):
    return _extreme(a, dim, keepdim, largest=False)


def argmax(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    xp = array_module(a.data)
    if dim is None or a.ndim == 0:
        if dim is not None:
            normalize_dim(dim, 0)
        return Tensor(xp.asarray(xp.argmax(a.data), dtype=numpy.int64))
    (axis,) = _axes(dim, a.ndim)
    return Tensor(xp.argmax(a.data, axis=axis, keepdims=keepdim).astype(numpy.int64))


# ----- shapes ----------------------------------------------------------------------------
def reshape(a: Tensor, shape: Sequence[int]) -> Tensor:
    shape = tuple(shape)
    try:
        y = a.data.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {a.shape} "
                         f"({a.numel()} elements) into shape {shape}") from None
    return Tensor.from_op(y, (a,), lambda g: (g.reshape(a.shape),), "reshape")


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if a.ndim == 0:
        return reshape(a, (1,))
    start, end = start_dim % a.ndim, end_dim % a.ndim
    if start > end:
        raise ValueError(f"flatten: start_dim={start_dim} comes after end_dim={end_dim} for shape {a.shape}")
    middle = int(numpy.prod(a.shape[start:end + 1]))
    return reshape(a, a.shape[:start] + (middle,) + a.shape[end + 1:])


def permute(a: Tensor, dims: Sequence[int]) -> Tensor:
    dims = tuple(normalize_dim(d, a.ndim) for d in dims)
    if sorted(dims) != list(range(a.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {a.ndim} dims of {a.shape}")
    inverse = tuple(numpy.argsort(dims))
    return Tensor.from_op(a.data.transpose(dims), (a,), lambda g: (g.transpose(inverse),), "permute")


def transpose(a: Tensor, dim0: int, dim1: int) -> Tensor:
    dims = list(range(a.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return permute(a, dims)


def unsqueeze(a: Tensor, dim: int) -> Tensor:
    dim = normalize_dim(dim, a.ndim + 1)
    return reshape(a, a.shape[:dim] + (1,) + a.shape[dim:])


def squeeze(a: Tensor, dim=None) -> Tensor:
    if dim is None:
        return reshape(a, tuple(n for n in a.shape if n != 1))
    dim = normalize_dim(dim, a.ndim)
    if a.ndim == 0 or a.shape[dim] != 1:
        return a
    return reshape(a, a.shape[:dim] + a.shape[dim + 1:])


def expand(a: Tensor, shape: Sequence[int]) -> Tensor:
    shape = tuple(a.shape[i - (len(shape) - a.ndim)] if n == -1 else n for i, n in enumerate(shape))
    xp = array_module(a.data)
    return Tensor.from_op(xp.broadcast_to(a.data, shape), (a,),
                          lambda g: (unbroadcast(g, a.shape),), "expand")


def getitem(a: Tensor, index) -> Tensor:
    """Indexing with ints, slices, None, Ellipsis, bool masks and integer arrays."""
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    xp = array_module(a.data)
    if xp is not numpy:  # host index arrays move to the tensor's device
        parts = index if isinstance(index, tuple) else (index,)
        parts = tuple(backend.asarray(p, like=a.data) if isinstance(p, numpy.ndarray) else p for p in parts)
        index = parts if isinstance(index, tuple) else parts[0]
    y = a.data[index]
    advanced = _is_advanced(index)

    def grad_fn(g):
        gx = xp.zeros(a.shape, dtype=a.dtype)
        if advanced:
            xp.add.at(gx, index, g)  # repeated integer indices must add up
        else:
            gx[index] = g
        return (gx,)

    return Tensor.from_op(xp.asarray(y), (a,), grad_fn, "getitem")


def _is_advanced(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return builtins.any(not isinstance(p, int | slice | type(None) | type(Ellipsis)) for p in parts)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dim."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    ndim = tensors[0].ndim
    if ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    axis = normalize_dim(dim, ndim)
    for i, t in enumerate(tensors):
        if t.ndim != ndim or t.shape[:axis] + t.shape[axis + 1:] != tensors[0].shape[:axis] + \
                tensors[0].shape[axis + 1:]:
            raise ValueError(f"cat: tensor {i} has shape {t.shape}, which does not match "
                             f"{tensors[0].shape} outside dim {dim}")
    check_same_device("cat", **{f"tensors[{i}]": t for i, t in enumerate(tensors)})
    xp = array_module(tensors[0].data)
    y = xp.concatenate([t.data for t in tensors], axis=axis)
    bounds = numpy.cumsum([t.shape[axis] for t in tensors])[:-1].tolist()

    def grad_fn(g):
        return tuple(xp.split(g, bounds, axis=axis))

    return Tensor.from_op(y, tuple(tensors), grad_fn, "cat")


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors of one shape along a new dim."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors need the same shape, got {sorted(shapes)}")
    dim = normalize_dim(dim, tensors[0].ndim + 1)
    return cat([unsqueeze(t, dim) for t in tensors], dim)
