"""Sorting, selecting and splitting: sort, argsort, topk, gather, masked_fill, chunk, split,
repeat, std, norm, and the named results PyTorch gives (`.values`, `.indices`).

Each differentiable op sends its gradient back to the positions it read: sort and topk
scatter it through their indices, gather adds it back where it came from (repeated indices
add up), masked_fill blocks it where the fill went in.
"""

from __future__ import annotations

import builtins
from collections import namedtuple
from collections.abc import Sequence

import numpy

from ..backend import array_module
from ..tensor import Tensor
from .basic import _axes, as_tensor, cast, normalize_dim, reshape, sum, unbroadcast

# torch.return_types: tuples whose fields are also named
values_indices = namedtuple("values_indices", ["values", "indices"])


def _index_tensor(indices) -> Tensor:
    return Tensor(indices.astype(numpy.int64, copy=False))


def _scatter_back(g, shape, axis: int, indices, xp):
    """A zero gradient of `shape` with g put at `indices` along axis (each index once)."""
    gx = xp.zeros(shape, dtype=g.dtype)
    xp.put_along_axis(gx, indices, g, axis=axis)
    return gx


def sort(a: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> values_indices:
    """(values, indices) sorted along dim. Ties keep their order (a stable sort, always)."""
    xp = array_module(a.data)
    if a.ndim == 0:
        normalize_dim(dim, 0)
        return values_indices(a, Tensor(xp.zeros((), numpy.int64)))
    axis = normalize_dim(dim, a.ndim)
    # descending but stable: sort the negated keys (ties stay in order, as torch's stable sort)
    keys = -a.data if descending and a.dtype.kind != "b" else a.data
    order = xp.argsort(keys, axis=axis, kind="stable")
    if descending and a.dtype.kind == "b":
        order = xp.flip(xp.argsort(a.data, axis=axis, kind="stable"), axis=axis)
    values = xp.take_along_axis(a.data, order, axis=axis)
    out = Tensor.from_op(values, (a,), lambda g: (_scatter_back(g, a.shape, axis, order, xp),), "sort")
    return values_indices(out, _index_tensor(order))


def argsort(a: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    return sort(a, dim, descending, stable).indices


def topk(a: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> values_indices:
    """The k largest (or smallest) values along dim and their indices."""
    axis = normalize_dim(dim, builtins.max(a.ndim, 1))
    length = a.shape[axis] if a.ndim else 1
    if isinstance(k, bool) or not isinstance(k, int | numpy.integer) or not 0 <= k <= length:
        raise ValueError(f"topk: k must be an int in [0, {length}] (the size of dim {dim}), got k={k!r}; "
                         f"input shape {a.shape}")
    values, indices = sort(a, dim, descending=largest, stable=True)
    keep = (slice(None),) * axis + (slice(0, int(k)),)
    return values_indices(values[keep], Tensor(indices.data[keep]))


def gather(a: Tensor, dim: int, index: Tensor) -> Tensor:
    """out[i][j] = a[index[i][j]][j] along dim (torch.gather); the gradient adds back."""
    index = as_tensor(index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"gather: index must be an integer tensor, got {index.dtype}")
    if index.ndim != a.ndim:
        raise ValueError(f"gather: index must have as many dims as the input ({a.ndim}), got index shape "
                         f"{index.shape} for input shape {a.shape}")
    axis = normalize_dim(dim, builtins.max(a.ndim, 1))
    for d in range(a.ndim):
        if d != axis and index.shape[d] > a.shape[d]:
            raise ValueError(f"gather: index shape {index.shape} is larger than input shape {a.shape} in dim {d}")
    xp = array_module(a.data)
    idx = index.data
    if idx.size and (int(idx.min()) < -a.shape[axis] or int(idx.max()) >= a.shape[axis]):
        raise IndexError(f"gather: index out of range for dim {dim} of size {a.shape[axis]} "
                         f"(values in [{int(idx.min())}, {int(idx.max())}])")
    region = tuple(slice(0, n) for n in index.shape[:axis]) + (slice(None),) + \
        tuple(slice(0, n) for n in index.shape[axis + 1:])
    source = a.data[region]
    y = xp.take_along_axis(source, idx, axis=axis)

    def grad_fn(g):
        gx = xp.zeros(a.shape, dtype=g.dtype)
        grid = list(xp.indices(idx.shape, sparse=True))
        grid[axis] = idx % a.shape[axis]
        xp.add.at(gx, tuple(grid), g)
        return (gx,)

    return Tensor.from_op(y, (a,), grad_fn, "gather")


def masked_fill(a: Tensor, mask, value) -> Tensor:
    """a with `value` where mask is True (mask broadcasts against a)."""
    mask = as_tensor(mask, a) if not isinstance(mask, Tensor) else mask
    if mask.dtype.kind != "b":
        raise TypeError(f"masked_fill: mask must be a bool tensor, got {mask.dtype}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
        value = value.item()
    xp = array_module(a.data)
    keep = ~mask.data
    y = xp.where(mask.data, xp.asarray(value, dtype=a.dtype), a.data)
    return Tensor.from_op(y, (a,), lambda g: (unbroadcast(g * keep, a.shape),), "masked_fill")


def split(a: Tensor, split_size_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of split_size along dim (the last may be smaller), or of the listed sizes."""
    axis = normalize_dim(dim, a.ndim)
    length = a.shape[axis]
    if isinstance(split_size_or_sections, int | numpy.integer):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [size] * (length // size) + ([length % size] if length % size else [])
        sizes = sizes or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != length:
            raise ValueError(f"split: sizes {sizes} add up to {builtins.sum(sizes)}, but dim {dim} has size {length}")
    pieces, start = [], 0
    for size in sizes:
        index = (slice(None),) * axis + (slice(start, start + size),)
        pieces.append(a[index])
        start += size
    return tuple(pieces)


def chunk(a: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """At most `chunks` pieces of equal size (the last smaller), as torch.chunk."""
    if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    length = a.shape[normalize_dim(dim, a.ndim)]
    return split(a, builtins.max(1, -(-length // chunks)), dim)


def repeat(a: Tensor, repeats: Sequence[int]) -> Tensor:
    """Tile a: each dim repeated repeats[i] times (leading dims added as needed), torch's repeat."""
    repeats = tuple(int(r) for r in repeats)
    if len(repeats) < a.ndim:
        raise ValueError(f"repeat: {len(repeats)} repeat counts for a {a.ndim}-D tensor of shape {a.shape}")
    if builtins.any(r < 0 for r in repeats):
        raise ValueError(f"repeat: counts must be non-negative, got {repeats}")
    xp = array_module(a.data)
    shape = (1,) * (len(repeats) - a.ndim) + a.shape
    y = xp.tile(a.data.reshape(shape), repeats)

    def grad_fn(g):
        # view each tiled dim as (repeat, size) and sum the repeats
        split_shape = builtins.sum(((r, n) for r, n in zip(repeats, shape, strict=True)), ())
        summed = g.reshape(split_shape).sum(axis=tuple(range(0, 2 * len(shape), 2)))
        return (summed.reshape(a.shape),)

    return Tensor.from_op(y, (a,), grad_fn, "repeat")


def std(a: Tensor, dim=None, unbiased: bool = True, keepdim: bool = False, correction=None) -> Tensor:
    """Standard deviation (Bessel-corrected unless unbiased=False or correction=0)."""
    from .basic import mean, sqrt

    axes = _axes(dim, a.ndim)
    count = a.numel() if axes is None else int(numpy.prod([a.shape[i] for i in axes]))
    ddof = (1 if unbiased else 0) if correction is None else correction
    centred = a - mean(a, dim, keepdim=True)
    return sqrt(sum(centred * centred, dim, keepdim) / builtins.max(count - ddof, 0))


def norm(a: Tensor, p=2, dim=None, keepdim: bool = False) -> Tensor:
    """The p-norm over all elements or along dim (p = 2, 1, inf, -inf, 0 or any number; 'fro')."""
    from .basic import abs as absolute
    from .basic import max as maximum
    from .basic import min as minimum
    from .basic import pow

    if p == "fro":
        p = 2
    if isinstance(p, str):
        raise ValueError(f"norm: p must be a number, 'fro', inf or -inf, got {p!r}")
    magnitude = absolute(a if a.dtype.kind == "f" else cast(a, "float32"))
    if p == numpy.inf or p == -numpy.inf:
        pick = maximum if p > 0 else minimum
        if dim is None:
            result = pick(magnitude)
            return reshape(result, (1,) * a.ndim) if keepdim else result
        axes = _axes(dim, a.ndim)
        result = magnitude
        for axis in sorted(axes, reverse=True):
            result = pick(result, axis, keepdim=keepdim)[0]
        return result
    if p == 0:
        return sum(cast(magnitude != 0, magnitude.dtype), dim, keepdim)
    if p == 2:
        from .basic import sqrt

        return sqrt(sum(magnitude * magnitude, dim, keepdim))
    if p == 1:
        return sum(magnitude, dim, keepdim)
    return pow(sum(pow(magnitude, p), dim, keepdim), 1.0 / p)
