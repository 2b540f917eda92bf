"""The generic convolution path: the window matrix and one matrix product, on any array module.

    cols[c, k, (n, o)] = x_pad[n, c, o*S + k*D]          (one contiguous copy)
    y[out_ch, (n, o)]  = W[out_ch, (c, k)] @ cols         (one product; batched over groups)
    gW    = gy @ cols^T                                   (the weight gradient is a conv of x with gy)
    gcols = W^T @ gy,  gx = col2im(gcols)                 (the input gradient is a transposed conv)

At stride 1 without groups, with the padding within the kernel's reach, the input gradient
is itself a convolution (of gy, with the transposed kernel), taken through the table of
paths: building its window matrix and multiplying beats col2im's scattered adds.

The window buffer is built in chunks (over the batch, then over output rows) so one call
never holds more than `backend.memory_budget()` bytes of it. When a single chunk suffices,
forward keeps `cols` for the weight gradient, and backward reuses its buffer for the input
gradient's. Every array call goes through the input's array module (`backend.array_module`),
and the thread splitting of `parallel_copy`, `parallel_for` and `backend.matmul` passes
straight through for device arrays, so this path runs on any device.
"""

from __future__ import annotations

from .. import backend
from ..backend import array_module, parallel_copy
from .conv_geometry import Geometry, Needs, Path, Saved, transposed_kernel
from .conv_matmul import grouped_matmul, weight_grad
from .im2col import col2im, pad_spatial, prod, unpad, windows


def chunks(n_batch: int, out: tuple[int, ...], bytes_per_position: int):
    """(batch slice, first-output-axis slice) pieces whose window buffer fits the budget."""
    budget = backend.memory_budget()
    per_sample = prod(out) * bytes_per_position
    if n_batch * per_sample <= budget:
        yield slice(0, n_batch), slice(0, out[0])
    elif per_sample <= budget:
        step = budget // per_sample
        for n0 in range(0, n_batch, step):
            yield slice(n0, min(n_batch, n0 + step)), slice(0, out[0])
    else:
        step = max(1, budget // (prod(out[1:]) * bytes_per_position))
        for n0 in range(n_batch):
            for r0 in range(0, out[0], step):
                yield slice(n0, n0 + 1), slice(r0, min(out[0], r0 + step))


def _input_rows(rows: slice, kernel, stride, dilation) -> slice:
    """Input rows (first spatial axis) read by the output rows `rows`."""
    return slice(rows.start * stride[0], (rows.stop - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1)


def im2col(x_region, kernel, stride, dilation, out):
    """Window matrix (C*K, n*out) of a batch region, rows ordered (c, k), columns (n, o)."""
    nd = len(kernel)
    view = windows(x_region, kernel, stride, dilation, out)  # (n, C, *out, *K)
    order = (1,) + tuple(range(2 + nd, 2 + 2 * nd)) + (0,) + tuple(range(2, 2 + nd))
    cols = parallel_copy(view.transpose(order))  # always a fresh buffer: backward may overwrite it
    return cols.reshape(x_region.shape[1] * prod(kernel), -1)


def forward_padded(x_pad, w, g: Geometry, keep_cols: bool, bias=None):
    """(y (N, O, *out) + bias, the window matrix if keep_cols and it was built whole) from the
    padded input."""
    xp = array_module(x_pad)
    kernel, stride, dilation, out, groups = g.kernel, g.stride, g.dilation, g.out, g.groups
    n_batch, n_out, nd = x_pad.shape[0], w.shape[0], g.dims
    w_mat = w.reshape(n_out, -1)
    pieces = list(chunks(n_batch, out, x_pad.shape[1] * prod(kernel) * x_pad.itemsize))
    if len(pieces) == 1:
        cols = im2col(x_pad, kernel, stride, dilation, out)
        y = grouped_matmul(w_mat, cols, groups)
        if bias is not None:
            y += bias[:, None]  # rows of the product are output channels: a contiguous add
        y = y.reshape((n_out, n_batch) + tuple(out))
        # (N, O, *out) in memory order too: the ops after a conv then run straight passes
        return parallel_copy(y.transpose((1, 0) + tuple(range(2, 2 + nd)))), (cols if keep_cols else None)
    y = xp.empty((n_out, n_batch) + tuple(out), dtype=x_pad.dtype)
    for batch, rows in pieces:
        region = x_pad[(batch, slice(None), _input_rows(rows, kernel, stride, dilation))]
        out_piece = (rows.stop - rows.start,) + tuple(out[1:])
        cols = im2col(region, kernel, stride, dilation, out_piece)
        y[(slice(None), batch, rows)] = grouped_matmul(w_mat, cols, groups).reshape(
            (n_out, batch.stop - batch.start) + out_piece)
        del cols  # free this piece's buffer before the next one is built
    if bias is not None:
        y += bias.reshape((-1,) + (1,) * (nd + 1))
    return y.transpose((1, 0) + tuple(range(2, 2 + nd))), None


def backward_padded(gy, w, g: Geometry, x_pad=None, cols=None, need_input: bool = True, need_weight: bool = True):
    """(gx_pad (N, C, *padded), gw) of y = conv(x_pad, w) given gy (N, O, *out); either may be
    skipped (x_pad is only read for the weight gradient). A window matrix passed in as `cols`
    is consumed: its buffer is reused for the input gradient's."""
    xp = array_module(gy)
    kernel, stride, dilation, groups, out, nd = g.kernel, g.stride, g.dilation, g.groups, g.out, g.dims
    x_shape = g.padded_shape
    n_batch, n_out = gy.shape[0], w.shape[0]
    gx = xp.zeros(tuple(x_shape), dtype=gy.dtype) if need_input else None  # replaced when in one piece
    gw = xp.zeros(w.shape, dtype=gy.dtype) if need_weight else None
    w_mat = w.reshape(n_out, -1)
    channels = x_shape[1]
    to_matrix = (1, 0) + tuple(range(2, 2 + nd))
    pieces = list(chunks(n_batch, tuple(out), channels * prod(kernel) * gy.itemsize))
    if len(pieces) > 1:
        cols = None  # the budget shrank since forward: rebuild the window matrix per piece
    for batch, rows in pieces:
        gy_piece = gy[(batch, slice(None), rows)]
        n_piece = batch.stop - batch.start
        out_piece = gy_piece.shape[2:]
        gy_mat = parallel_copy(gy_piece.transpose(to_matrix)).reshape(n_out, -1)
        in_rows = _input_rows(rows, kernel, stride, dilation)
        if need_weight:
            if cols is None:
                region = x_pad[(batch, slice(None), in_rows)]
                cols = im2col(region, kernel, stride, dilation, out_piece)
            gw += weight_grad(gy_mat, cols, groups).reshape(w.shape)
        if need_input:
            gcols = grouped_matmul(w_mat, gy_mat, groups, transpose_a=True, out=cols)
            gcols = gcols.reshape((channels,) + tuple(kernel) + (n_piece,) + tuple(out_piece))
            order = (nd + 1, 0) + tuple(range(nd + 2, 2 * nd + 2)) + tuple(range(1, nd + 1))
            if len(pieces) == 1:  # the whole gradient in one go: no accumulation buffer
                gx = col2im(gcols.transpose(order), x_shape, kernel, stride, dilation)
            else:
                whole_rows = rows.start == 0 and rows.stop == out[0]
                in_rows = slice(0, x_shape[2]) if whole_rows else in_rows
                region_shape = (n_piece, channels, in_rows.stop - in_rows.start) + tuple(x_shape[3:])
                gx[(batch, slice(None), in_rows)] += col2im(gcols.transpose(order), region_shape, kernel, stride,
                                                             dilation)
            del gcols
        cols = None  # one piece's buffer at a time
    return gx, gw


def input_gradient_by_convolution(gy, w, g: Geometry):
    """gx (N, C, *spatial) of a stride-1 convolution within reach: the convolution of gy, padded
    by d(K-1) - pad, with the transposed kernel, on whichever path of the table fits it."""
    from .conv_paths import choose  # the table lists this path: import it when first needed

    inner = g.input_gradient()
    path = choose(inner, array_module(gy), Needs(input=False, weight=False, graph=False))
    gx, _ = path.forward(gy, transposed_kernel(w), None, inner, Needs(input=False, weight=False, graph=False))
    return gx


def backward(gy, saved: Saved, needs: Needs, cols=None):
    """(gx, gw) of the window-matrix convolution; `cols`, a window matrix of the whole batch,
    is consumed (its buffer holds the input gradient's)."""
    g = saved.geometry
    as_conv = needs.input and g.input_gradient_is_a_convolution
    need_cols = needs.weight or (needs.input and not as_conv)
    gx_pad, gw = (None, None)
    if need_cols:
        gx_pad, gw = backward_padded(gy, saved.w, g, x_pad=saved.padded_input() if needs.weight else None,
                                     cols=cols, need_input=needs.input and not as_conv, need_weight=needs.weight)
    if as_conv:
        return input_gradient_by_convolution(gy, saved.w, g), gw
    return (unpad(gx_pad, g.pads, g.spatial) if needs.input else None), gw


class WindowMatrix(Path):
    """Any device, any geometry: the last entry of the table, which always applies."""

    name = "window_matrix"

    def applies(self, g: Geometry, xp, needs: Needs) -> bool:
        return True

    def forward(self, x, w, bias, g: Geometry, needs: Needs):
        x_pad = pad_spatial(x, g.pads)
        y, cols = forward_padded(x_pad, w, g, keep_cols=needs.weight, bias=bias)
        if not needs.graph:
            return y, None
        return y, Saved(g, w, x=x if needs.weight else None, x_pad=x_pad if needs.weight else None, cols=cols)

    def backward(self, gy, saved: Saved, needs: Needs):
        cols, saved.cols = saved.cols, None  # consumed: a retained graph's second backward rebuilds it
        return backward(gy, saved, needs, cols=cols)


WINDOW_MATRIX = WindowMatrix()
