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
from ..backend import array_module, on_cpu, parallel_copy, parallel_for
from .conv_geometry import Geometry, Needs, Path, Saved
from .conv_matmul import weight_grad
from .im2col import kernel_offsets, prod, unpad

MAX_ROW = 8  # output rows shorter than this copy slowly in (sample, position) order
MIN_BATCH = 16  # and the batch must be long enough to make the runs worth it


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


def window_matrix(x, g: Geometry):
    """The batch-last window matrix (C*K, out*N) of the unpadded x (N, C, *spatial)."""
    cols = parallel_copy(_windows(_batch_last(x, g.pads), g.kernel, g.stride, g.dilation, g.out))
    return cols.reshape(-1, prod(g.out) * x.shape[0])


def forward(x, w, g: Geometry, bias=None, keep_cols: bool = False):
    """(y (N, O, *out), the window matrix (C*K, out*N) if keep_cols else None) of the
    unpadded x (N, C, *spatial)."""
    n_batch, n_out, out = x.shape[0], w.shape[0], g.out
    cols = window_matrix(x, g)
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


class BatchLast(Path):
    """No groups, the whole window matrix within the memory budget, on the CPU (the layout
    helps NumPy's copy loops; a device copies short runs as fast as long ones). Pays for
    short output rows and a batch of at least MIN_BATCH."""

    name = "batch_last"
    cpu_only = True

    def applies(self, g: Geometry, xp, needs: Needs) -> bool:
        cols = g.batch * g.channels * g.taps * prod(g.out) * g.itemsize
        return on_cpu(xp) and g.groups == 1 and cols <= backend.memory_budget()

    def pays(self, g: Geometry, needs: Needs) -> bool:
        return g.batch >= MIN_BATCH and g.out[-1] < MAX_ROW

    def forward(self, x, w, bias, g: Geometry, needs: Needs):
        y, cols = forward(x, w, g, bias, keep_cols=needs.weight)
        return y, (Saved(g, w, x=x if needs.weight else None, cols=cols) if needs.graph else None)

    def backward(self, gy, saved: Saved, needs: Needs):
        """cols is only read, so a retained graph can run this again."""
        g = saved.geometry
        cols = saved.cols
        if needs.weight and cols is None:  # a transposed convolution's weight gradient: no forward ran
            cols = window_matrix(saved.x, g)
        gx_pad, gw = backward(gy, saved.w, g.padded_shape, g.stride, g.dilation, cols,
                              need_input=needs.input, need_weight=needs.weight)
        return (unpad(gx_pad, g.pads, g.spatial) if needs.input else None), gw


BATCH_LAST = BatchLast()
