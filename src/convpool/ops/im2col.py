"""Window extraction and its adjoint, and the padding and slicing helpers around them.

`windows` is a strided view of every kernel window, shape (N, C, *out, *kernel), made
without copying: the window-matrix and per-sample convolution paths copy it into the
matrix they multiply. `tap` and `clipped_tap` index the pixels one kernel position reads,
for the code that makes one pass per position (pooling, depthwise convolution). `col2im`
sums window-shaped gradients back into the input (the window-matrix path's strided input
gradient): a loop over kernel offsets with strided slices (no np.add.at), or one reshaped
assignment when windows tile the input exactly (stride == kernel, no dilation).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from .. import backend
from ..backend import array_module, parallel_copy, parallel_for


def pad_spatial(x, pads: Sequence[tuple[int, int]], value: float = 0.0):
    """Pad the trailing len(pads) axes by (before, after) with a constant; no copy if none."""
    if all(lo == 0 and hi == 0 for lo, hi in pads):
        return x
    xp = array_module(x)
    lead = x.ndim - len(pads)
    shape = x.shape[:lead] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[lead:], pads, strict=True))
    out = xp.full(shape, value, dtype=x.dtype)
    inner = (slice(None),) * lead + tuple(slice(lo, lo + n) for n, (lo, _) in
                                          zip(x.shape[lead:], pads, strict=True))
    out[inner] = x
    return out


def crop_spatial(x, pads: Sequence[tuple[int, int]], sizes: Sequence[int]):
    """The inverse of pad_spatial: the region of the original sizes (a view)."""
    lead = x.ndim - len(pads)
    return x[(slice(None),) * lead + tuple(slice(lo, lo + n) for (lo, _), n in zip(pads, sizes, strict=True))]


def unpad(x_pad, pads: Sequence[tuple[int, int]], sizes: Sequence[int]):
    """The unpadded region as its own contiguous array (x_pad itself if nothing was padded)."""
    if all(lo == 0 and hi == 0 for lo, hi in pads):
        return x_pad
    return parallel_copy(crop_spatial(x_pad, pads, sizes))


def tiles(kernel, stride, dilation) -> bool:
    """True when windows tile the input without overlap or gaps (stride == kernel)."""
    return all(d == 1 and s == k for k, s, d in zip(kernel, stride, dilation, strict=True))


def windows(x, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int], out: Sequence[int]):
    """Read-only view (N, C, *out, *kernel) of every window of x (N, C, *spatial)."""
    nd = len(kernel)
    if tiles(kernel, stride, dilation):  # a reshape: cheaper to reduce over than a strided view
        region = x[(slice(None), slice(None)) + tuple(slice(0, o * k) for o, k in zip(out, kernel, strict=True))]
        split = region.reshape(x.shape[:2] + tuple(itertools.chain.from_iterable(zip(out, kernel, strict=True))))
        return split.transpose((0, 1) + tuple(range(2, 2 + 2 * nd, 2)) + tuple(range(3, 3 + 2 * nd, 2)))
    spatial = x.strides[2:]
    shape = x.shape[:2] + tuple(out) + tuple(kernel)
    strides = x.strides[:2] + tuple(st * s for st, s in zip(spatial, stride, strict=True)) + tuple(
        st * d for st, d in zip(spatial, dilation, strict=True))
    return backend.strided_view(x, shape, strides)


def kernel_offsets(kernel: Sequence[int]) -> list[tuple[int, ...]]:
    """Every position inside a kernel, in row-major order (PyTorch's window scan order)."""
    return list(itertools.product(*(range(k) for k in kernel)))


def tap(offset: Sequence[int], stride: Sequence[int], dilation: Sequence[int], out: Sequence[int]) -> tuple:
    """Index of the input pixels that kernel position `offset` touches, one per output
    position: x[tap(...)] has shape (N, C, *out). Pooling and depthwise conv loop over these."""
    return (slice(None), slice(None)) + tuple(
        slice(k * d, k * d + s * (o - 1) + 1, s) for k, d, s, o in zip(offset, dilation, stride, out, strict=True))


def clipped_tap(offset: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
                pads: Sequence[tuple[int, int]], sizes: Sequence[int], out: Sequence[int]):
    """For kernel position `offset` over an UNPADDED input: (output index, input index) of
    the outputs whose tap lands inside the input, or None if none does. Padding pixels are
    zeros, so they can simply be skipped instead of copied in."""
    out_index, in_index = [], []
    for k, d, s, (lo, _), n, o in zip(offset, dilation, stride, pads, sizes, out, strict=True):
        shift = k * d - lo  # input position of output 0's tap
        first = max(0, -(shift // s))  # ceil(-shift / s): the first output whose tap is >= 0
        last = min(o, (n - 1 - shift) // s + 1) if n - 1 - shift >= 0 else 0
        if last <= first:
            return None
        start = first * s + shift
        out_index.append(slice(first, last))
        in_index.append(slice(start, start + (last - first - 1) * s + 1, s))
    return (slice(None), slice(None)) + tuple(out_index), (slice(None), slice(None)) + tuple(in_index)


def overlapping(kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]) -> bool:
    """True when two windows can share a pixel (then gradients must add, not assign)."""
    return any(s < d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation, strict=True))


def col2im(cols, shape: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
           dilation: Sequence[int]):
    """Sum cols (N, C, *out, *kernel) into a new array of `shape` (N, C, *spatial): the
    adjoint of `windows`."""
    xp = array_module(cols)
    nd = len(kernel)
    out = cols.shape[2:2 + nd]
    gx = xp.zeros(tuple(shape), dtype=cols.dtype)
    if tiles(kernel, stride, dilation):
        order = (0, 1) + tuple(itertools.chain.from_iterable((2 + i, 2 + nd + i) for i in range(nd)))
        region = (slice(None), slice(None)) + tuple(slice(0, o * k) for o, k in zip(out, kernel, strict=True))
        gx[region] = cols.transpose(order).reshape(
            tuple(shape[:2]) + tuple(o * k for o, k in zip(out, kernel, strict=True)))
        return gx
    lead = (slice(None),) * (2 + nd)
    offsets = kernel_offsets(kernel)

    def part(start: int, stop: int) -> None:  # one slice of the batch, all kernel positions
        for offset in offsets:
            target = (slice(start, stop),) + tap(offset, stride, dilation, out)[1:]
            gx[target] += cols[(slice(start, stop),) + lead[1:] + offset]

    parallel_for(gx.shape[0], part, min_size=1, elements=gx.size, like=gx)
    return gx


def prod(values) -> int:
    return math.prod(values)
