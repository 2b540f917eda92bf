"""Convolution of small images with the batch as the innermost axis: (C, *spatial, N).

On images of a few pixels (the 3x3 maps at the end of a CIFAR network) the usual window
matrix, columns ordered (sample, output position), is copied in runs of 3 or so values, and
NumPy's copy loops crawl. Laid out batch-last, every run is the whole batch long:

    xt[c, *p, n]            = x_pad[n, c, *p]                     (one transposing copy)
    cols[c, k, o, n]        = xt[c, o*S + k*D, n]                 (runs of N values)
    y_t (O, o*N)            = W (O, C*K) @ cols (C*K, o*N)         (one product)
    gW                      = gy_t @ cols^T
    gxt[c, o*S + k*D, n]   += (W^T @ gy_t)[c, k, o, n]            (adds in runs of N values)

Any stride, dilation and padding; no groups. Used when the output rows are short and the
whole window matrix fits the memory budget.
"""

from __future__ import annotations

from .. import backend
from ..backend import array_module, parallel_copy, parallel_for
from ..tensor import Tensor, is_grad_enabled
from .conv_matmul import weight_grad
from .conv_node import conv_node
from .im2col import kernel_offsets, prod, unpad

MAX_ROW = 8  # output rows shorter than this copy slowly in (sample, position) order
MIN_BATCH = 16  # and the batch must be long enough to make the runs worth it


def applies(x_shape, w_shape, out, groups: int, itemsize: int) -> bool:
    """No groups, short output rows, a batch of at least MIN_BATCH, and the window matrix
    within the memory budget (it is built whole)."""
    if groups != 1 or x_shape[0] < MIN_BATCH or out[-1] >= MAX_ROW:
        return False
    cols = x_shape[0] * x_shape[1] * prod(w_shape[2:]) * prod(out) * itemsize
    return cols <= backend.memory_budget()


def _batch_last(x, pads):
    """(N, C, *S) -> a contiguous (C, *padded S, N), zero padded: one transposing copy."""
    xp = array_module(x)
    nd = x.ndim - 2
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads, strict=True))
    xt = xp.zeros((x.shape[1],) + padded + (x.shape[0],), dtype=x.dtype)
    inside = tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[2:], pads, strict=True))
    source = x.transpose(tuple(range(1, nd + 2)) + (0,))

    def part(start: int, stop: int) -> None:
        xt[(slice(start, stop),) + inside] = source[start:stop]

    parallel_for(x.shape[1], part, min_size=1, elements=x.size, like=x)
    return xt


def _windows(xt, kernel, stride, dilation, out):
    """Read-only view (C, *kernel, *out, N) of a batch-last padded input."""
    xp = array_module(xt)
    nd, st = len(kernel), xt.strides
    shape = (xt.shape[0],) + tuple(kernel) + tuple(out) + (xt.shape[-1],)
    strides = ((st[0],) + tuple(st[1 + i] * dilation[i] for i in range(nd))
               + tuple(st[1 + i] * stride[i] for i in range(nd)) + (st[-1],))
    return xp.lib.stride_tricks.as_strided(xt, shape, strides, writeable=False)


def forward(x, w, stride, pads, dilation, out, bias=None, keep_cols: bool = False):
    """(y (N, O, *out), the window matrix (C*K, out*N) if keep_cols else None) of the
    unpadded x (N, C, *spatial)."""
    n_batch, n_out = x.shape[0], w.shape[0]
    cols = parallel_copy(_windows(_batch_last(x, pads), w.shape[2:], stride, dilation, out))
    cols = cols.reshape(-1, prod(out) * n_batch)
    y_t = backend.matmul(w.reshape(n_out, -1), cols)
    if bias is not None:
        y_t += bias[:, None]
    y = parallel_copy(y_t.reshape(-1, n_batch).T).reshape((n_batch, n_out) + tuple(out))
    return y, (cols if keep_cols else None)


def backward(gy, w, padded_shape, stride, dilation, cols, need_input: bool, need_weight: bool):
    """(gx_pad (N, C, *padded) or None, gw or None) from gy (N, O, *out)."""
    xp = array_module(gy)
    n_batch, n_out = gy.shape[0], w.shape[0]
    kernel, out, nd = w.shape[2:], gy.shape[2:], gy.ndim - 2
    gy_t = parallel_copy(gy.reshape(n_batch, -1).T).reshape(n_out, -1)  # (O, out*N)
    w_mat = w.reshape(n_out, -1)
    gw = weight_grad(gy_t, cols, 1).reshape(w.shape) if need_weight else None
    if not need_input:
        return None, gw
    channels = w.shape[1]
    gcols = backend.matmul(w_mat.T, gy_t).reshape((channels,) + tuple(kernel) + tuple(out) + (n_batch,))
    gxt = xp.zeros((channels,) + tuple(padded_shape[2:]) + (n_batch,), dtype=gy.dtype)
    offsets = kernel_offsets(kernel)

    def part(start: int, stop: int) -> None:  # a slice of the channels, every kernel position
        for offset in offsets:
            target = (slice(start, stop),) + tuple(
                slice(k * d, k * d + (o - 1) * s + 1, s) for k, d, o, s in zip(offset, dilation, out, stride,
                                                                                 strict=True))
            gxt[target] += gcols[(slice(start, stop),) + offset]

    parallel_for(channels, part, min_size=1, elements=gcols.size, like=gcols)
    gx_pad = parallel_copy(gxt.transpose((nd + 1, 0) + tuple(range(1, nd + 1))))
    return gx_pad, gw


def convolution(x: Tensor, w: Tensor, b: Tensor | None, stride, pads, dilation, out) -> Tensor:
    """The differentiable convolution on checked arguments (pads are (before, after) pairs)."""
    nd = len(out)
    keep = w.requires_grad and is_grad_enabled()
    y, cols = forward(x.data, w.data, stride, pads, dilation, out, None if b is None else b.data, keep_cols=keep)
    padded_shape = x.shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads, strict=True))

    def gradients(gy):  # cols is only read, so a retained graph can run this again
        gx_pad, gw = backward(gy, w.data, padded_shape, stride, dilation, cols,
                              need_input=x.requires_grad, need_weight=w.requires_grad)
        return (unpad(gx_pad, pads, x.shape[2:]) if x.requires_grad else None), gw

    return conv_node(y, x, w, b, gradients, f"conv{nd}d")
