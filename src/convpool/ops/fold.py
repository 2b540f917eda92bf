"""F.unfold and F.fold: the window matrix that convolution builds, as a tensor of its own.

unfold(x) lays every kernel window of (N, C, H, W) out as a column: (N, C * kh * kw, L),
L the number of windows, rows ordered (channel, kernel row, kernel column) as PyTorch's
im2col. fold is its adjoint: it sums such columns back into an image, overlapping windows
adding up. Both read and write windows through the engine's `im2col.windows` (a strided
view) and `im2col.col2im` (its adjoint), so each one's backward is the other's forward.
"""

from __future__ import annotations

import math

from ..backend import array_module
from ..tensor import Tensor
from .args import ntuple
from .im2col import col2im, crop_spatial, pad_spatial, windows

_ND = 2


def _settings(op: str, kernel_size, dilation, padding, stride):
    return (ntuple("kernel_size", kernel_size, _ND, 1, op), ntuple("dilation", dilation, _ND, 1, op),
            ntuple("padding", padding, _ND, 0, op), ntuple("stride", stride, _ND, 1, op))


def _blocks(op: str, sizes, kernel, dilation, padding, stride) -> tuple[int, ...]:
    """Windows along each spatial axis: floor((n + 2p - d (k - 1) - 1) / s) + 1."""
    counts = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                   for n, k, d, p, s in zip(sizes, kernel, dilation, padding, stride, strict=True))
    if any(c <= 0 for c in counts):
        raise ValueError(f"{op}: kernel_size={kernel} with dilation={dilation} does not fit the spatial size "
                         f"{tuple(sizes)} padded by {padding}: no complete window")
    return counts


def _columns(x_pad, kernel, stride, dilation, out):
    """(N, C, *out, *kernel) windows -> (N, C * prod(kernel), prod(out)) columns (a copy)."""
    xp = array_module(x_pad)
    n, c = x_pad.shape[:2]
    view = windows(x_pad, kernel, stride, dilation, out).transpose(0, 1, 4, 5, 2, 3)
    return xp.ascontiguousarray(view).reshape(n, c * math.prod(kernel), math.prod(out))


def _uncolumns(cols, shape, kernel, stride, dilation, out):
    """The adjoint of _columns: sum (N, C * prod(kernel), L) into an array of `shape`."""
    n, c = shape[:2]
    blocks = cols.reshape((n, c) + tuple(kernel) + tuple(out)).transpose(0, 1, 4, 5, 2, 3)
    return col2im(blocks, shape, kernel, stride, dilation)


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Every kernel window of (N, C, H, W) (or unbatched (C, H, W)) as a column of
    (N, C * kh * kw, L), zero padding first; conv2d is weight.view(out, -1) @ unfold(x)."""
    op = "unfold"
    x, unbatched = _batched(op, input, 3, "(C, H, W)", "(N, C, H, W)")
    kernel, dilation, padding, stride = _settings(op, kernel_size, dilation, padding, stride)
    out = _blocks(op, x.shape[2:], kernel, dilation, padding, stride)
    pads = tuple((p, p) for p in padding)
    x_pad = pad_spatial(x.data, pads)
    y = _columns(x_pad, kernel, stride, dilation, out)

    def grad_fn(g):
        g_pad = _uncolumns(g, x_pad.shape, kernel, stride, dilation, out)
        return (array_module(g).ascontiguousarray(crop_spatial(g_pad, pads, x.shape[2:])),)

    result = Tensor.from_op(y, (x,), grad_fn, "unfold")
    return result.squeeze(0) if unbatched else result


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sum columns (N, C * kh * kw, L) (or unbatched (C * kh * kw, L)) back into an image
    (N, C, *output_size): the adjoint of unfold, overlapping windows adding up."""
    op = "fold"
    x, unbatched = _batched(op, input, 2, "(C * kh * kw, L)", "(N, C * kh * kw, L)")
    kernel, dilation, padding, stride = _settings(op, kernel_size, dilation, padding, stride)
    sizes = ntuple("output_size", output_size, _ND, 1, op)
    per_window = math.prod(kernel)
    if x.shape[1] % per_window:
        raise ValueError(f"fold: dim 1 of input shape {input.shape} must be divisible by the kernel size "
                         f"prod({kernel}) = {per_window}")
    out = _blocks(op, sizes, kernel, dilation, padding, stride)
    if x.shape[2] != math.prod(out):
        raise ValueError(f"fold: input shape {input.shape} has {x.shape[2]} windows, but output_size={sizes} with "
                         f"kernel_size={kernel}, dilation={dilation}, padding={padding}, stride={stride} gives "
                         f"{out[0]} x {out[1]} = {math.prod(out)}")
    channels = x.shape[1] // per_window
    pads = tuple((p, p) for p in padding)
    padded_shape = (x.shape[0], channels) + tuple(n + 2 * p for n, p in zip(sizes, padding, strict=True))
    y_pad = _uncolumns(x.data, padded_shape, kernel, stride, dilation, out)
    y = array_module(y_pad).ascontiguousarray(crop_spatial(y_pad, pads, sizes))

    def grad_fn(g):
        return (_columns(pad_spatial(g, pads), kernel, stride, dilation, out),)

    result = Tensor.from_op(y, (x,), grad_fn, "fold")
    return result.squeeze(0) if unbatched else result


def _batched(op: str, input, unbatched_ndim: int, unbatched: str, batched: str) -> tuple[Tensor, bool]:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a convpool.Tensor, got {type(input).__name__}")
    if input.ndim == unbatched_ndim + 1:
        return input, False
    if input.ndim == unbatched_ndim:
        return input.unsqueeze(0), True
    raise ValueError(f"{op}: input must be {unbatched_ndim + 1}-D {batched} or {unbatched_ndim}-D {unbatched}, "
                     f"got shape {input.shape}")
