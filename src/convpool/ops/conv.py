"""Convolution (1-, 2- and 3-D, groups, dilation, 'same') and transposed convolution.

The article's picture: each output value is the weighted sum of the pixels under the
kernel, over every input channel, plus a bias. Computed as im2col + one matrix product:

    cols[c, k, (n, o)] = x_pad[n, c, o*S + k*D]          (one contiguous copy)
    y[(n, o), out_ch]  = W[out_ch, (c, k)] @ cols         (one product; batched over groups)

Gradients, derived from y = W @ cols:
    gW    = gy @ cols^T                                   (the weight gradient is a conv of x with gy)
    gcols = W^T @ gy,  gx = col2im(gcols)                 (the input gradient is a transposed conv)
and a transposed convolution's forward is exactly that input gradient, so it reuses it, and
its own backward is a plain convolution: each formula is written once.

Stride-1 convolutions without groups (most layers) take `conv_grid`'s sample-by-sample path
instead, which builds no batch-sized window matrix; convolutions whose output rows are a
few pixels long take `conv_batch_last`'s, which lays the batch innermost so every copy runs
the batch's length. This module keeps the other strided, grouped, depthwise and transposed
cases.

The window buffer is built in chunks (over the batch, then over output rows) so one call
never holds more than `backend.memory_budget()` bytes of it. When a single chunk suffices,
forward keeps `cols` for the weight gradient instead of rebuilding it.
"""

from __future__ import annotations

from .. import backend
from ..backend import array_module, parallel_copy, parallel_for
from ..shapes import output_length, same_padding, transposed_output_length
from ..tensor import Tensor, is_grad_enabled
from . import conv_batch_last, conv_grid
from .args import check_input, check_same_dtype, ntuple, spatial_names
from .conv_matmul import grouped_matmul, weight_grad
from .conv_node import conv_node
from .im2col import clipped_tap, col2im, crop_spatial, kernel_offsets, pad_spatial, prod, unpad, windows


# ----- chunking under the memory budget ---------------------------------------------------
def _chunks(n_batch: int, out: tuple[int, ...], bytes_per_position: int):
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


def _im2col(x_region, kernel, stride, dilation, out):
    """Window matrix (C*K, n*out) of a batch region, rows ordered (c, k), columns (n, o)."""
    nd = len(kernel)
    view = windows(x_region, kernel, stride, dilation, out)  # (n, C, *out, *K)
    order = (1,) + tuple(range(2 + nd, 2 + 2 * nd)) + (0,) + tuple(range(2, 2 + nd))
    cols = parallel_copy(view.transpose(order))  # always a fresh buffer: backward may overwrite it
    return cols.reshape(x_region.shape[1] * prod(kernel), -1)


def _is_depthwise(w, groups: int) -> bool:
    """One input and one output channel per group: shift-and-accumulate beats im2col."""
    return groups > 1 and w.shape[0] == groups and w.shape[1] == 1


# ----- depthwise: one input and one output channel per group ------------------------------
# im2col would copy every pixel K times to feed tiny (1 x K) products; instead each kernel
# position adds its shifted input times one weight per channel. The batch is walked in
# slices small enough to stay in cache, spread over threads.
_CACHE_BYTES = 2**20


def _batch_slices(start: int, stop: int, bytes_per_sample: int):
    step = max(1, _CACHE_BYTES // max(bytes_per_sample, 1))
    for n0 in range(start, stop, step):
        yield slice(n0, min(stop, n0 + step))


def _depthwise_taps(kernel, stride, dilation, pads, sizes, out):
    """(tap number, output index, input index) of every kernel position that touches the input."""
    taps = []
    for i, offset in enumerate(kernel_offsets(kernel)):
        clipped = clipped_tap(offset, stride, dilation, pads, sizes, out)
        if clipped is not None:
            taps.append((i, clipped[0][1:], clipped[1][1:]))  # drop the batch axis: added per slice
    return taps


def _depthwise_forward(x, w, stride, dilation, pads, out):
    """y (N, C, *out) from the unpadded x: padding is skipped, not copied in."""
    xp = array_module(x)
    channels, nd = w.shape[0], len(out)
    weights = w.reshape(channels, -1).T.reshape((-1, channels) + (1,) * nd)  # per tap: (C, 1..)
    taps = _depthwise_taps(w.shape[2:], stride, dilation, pads, x.shape[2:], out)
    y = xp.zeros((x.shape[0], channels) + tuple(out), dtype=x.dtype)

    def part(start: int, stop: int) -> None:
        for rows in _batch_slices(start, stop, x[0].nbytes + y[0].nbytes):
            for i, out_index, in_index in taps:
                y[(rows,) + out_index] += x[(rows,) + in_index] * weights[i]

    parallel_for(y.shape[0], part, min_size=1, elements=x.size, like=x)
    return y


def _depthwise_backward(gy, w, x, x_shape, stride, dilation, pads, need_input: bool, need_weight: bool):
    """(gx, gw) with gx over the unpadded input of shape x_shape (x itself only for gw)."""
    xp = array_module(gy)
    channels, nd = w.shape[0], len(x_shape) - 2
    weights = w.reshape(channels, -1).T.reshape((-1, channels) + (1,) * nd)
    taps = _depthwise_taps(w.shape[2:], stride, dilation, pads, x_shape[2:], gy.shape[2:])
    gx = xp.zeros(tuple(x_shape), dtype=gy.dtype) if need_input else None
    partial_gw: dict[int, object] = {}
    letters = "xyz"[:nd]
    contract = f"nc{letters},nc{letters}->c"  # sum over batch and space, per channel

    def part(start: int, stop: int) -> None:
        gw = xp.zeros((prod(w.shape[2:]), channels), dtype=gy.dtype)
        for rows in _batch_slices(start, stop, prod(x_shape[1:]) * gy.itemsize + gy[0].nbytes):
            for i, out_index, in_index in taps:
                g = gy[(rows,) + out_index]
                if need_input:
                    gx[(rows,) + in_index] += g * weights[i]
                if need_weight:
                    gw[i] += xp.einsum(contract, g, x[(rows,) + in_index])
        partial_gw[start] = gw

    parallel_for(gy.shape[0], part, min_size=1, elements=gy.size, like=gy)
    gw = sum(partial_gw.values()).T.reshape(w.shape) if need_weight else None
    return gx, gw


# ----- one input channel, no weight gradient (raw audio, grey images at inference) --------
def _forward_single_channel(x_pad, w, stride, dilation, out, bias):
    """Per sample: copy its windows as rows (out, K) into one buffer and multiply by W^T.

    The buffer stays in cache between the copy and the product, which makes this about
    twice as fast as one large window matrix for a long kernel over a single channel
    (a learned filterbank on audio). Training keeps the general path: it needs the window
    matrix for the weight gradient anyway."""
    xp = array_module(x_pad)
    kernel, nd = w.shape[2:], len(out)
    n_batch, n_out = x_pad.shape[0], w.shape[0]
    view = windows(x_pad, kernel, stride, dilation, out)  # (N, 1, *out, *kernel)
    w_t = w.reshape(n_out, -1).T
    y = xp.empty((n_batch,) + tuple(out) + (n_out,), dtype=x_pad.dtype)
    rows = xp.empty(tuple(out) + tuple(kernel), dtype=x_pad.dtype)
    for n in range(n_batch):
        rows[...] = view[n, 0]
        xp.matmul(rows.reshape(-1, w_t.shape[0]), w_t, out=y[n].reshape(-1, n_out))
        if bias is not None:
            y[n] += bias  # while the sample is still in cache
    return y.transpose((0, nd + 1) + tuple(range(1, nd + 1)))


# ----- 1-D, several channels: one sample at a time, in cache ------------------------------
# For a 1-D conv the window matrix of one sample (C*K, L) is small, so building it sample by
# sample keeps it in cache between the copy and the product, and W @ cols writes straight into
# y[n] in (O, L) layout: no large buffer, no transposes. Backward likewise takes gy[n] as it
# lies. Measured on 32 -> 64 channels, k3, 1981 samples: about 1.5x faster than one large
# window matrix; for 2-D and 3-D convs the large product wins, so only 1-D takes this path.
def _per_sample(x_shape, w, groups: int, out, itemsize: int) -> bool:
    return len(out) == 1 and groups == 1 and x_shape[1] > 1 and \
        x_shape[1] * w.shape[2] * out[0] * itemsize <= _CACHE_BYTES


def _sample_cols(view, n: int, cols):
    """cols (C, K, L) <- the windows of sample n (view: (N, C, L, K))."""
    cols[...] = view[n].transpose(0, 2, 1)
    return cols.reshape(cols.shape[0] * cols.shape[1], -1)


def _forward_per_sample(x_pad, w, stride, dilation, out, bias):
    xp = array_module(x_pad)
    view = windows(x_pad, w.shape[2:], stride, dilation, out)  # (N, C, L, K)
    w_mat = w.reshape(w.shape[0], -1)
    y = xp.empty((x_pad.shape[0], w.shape[0], out[0]), dtype=x_pad.dtype)
    cols = xp.empty((x_pad.shape[1], w.shape[2], out[0]), dtype=x_pad.dtype)
    for n in range(x_pad.shape[0]):
        xp.matmul(w_mat, _sample_cols(view, n, cols), out=y[n])
        if bias is not None:
            y[n] += bias[:, None]
    return y


def _backward_per_sample(gy, w, x_shape, stride, dilation, x_pad, need_input: bool, need_weight: bool):
    xp = array_module(gy)
    channels, n_out, kernel = x_shape[1], w.shape[0], w.shape[2]
    length = gy.shape[2]
    w_mat = w.reshape(n_out, -1)
    gx = xp.zeros(tuple(x_shape), dtype=gy.dtype) if need_input else None
    gw_t = xp.zeros((channels * kernel, n_out), dtype=gy.dtype) if need_weight else None  # (C*K, O): see weight_grad
    view = windows(x_pad, (kernel,), stride, dilation, (length,)) if need_weight else None
    cols = xp.empty((channels, kernel, length), dtype=gy.dtype)
    gcols = xp.empty((channels * kernel, length), dtype=gy.dtype)
    reach = (length - 1) * stride[0] + 1
    for n in range(gy.shape[0]):
        if need_weight:
            gw_t += _sample_cols(view, n, cols) @ gy[n].T
        if need_input:
            xp.matmul(w_mat.T, gy[n], out=gcols)
            per_tap = gcols.reshape(channels, kernel, length)
            for k in range(kernel):
                start = k * dilation[0]
                gx[n, :, start:start + reach:stride[0]] += per_tap[:, k]
    return gx, (gw_t.T.reshape(w.shape) if need_weight else None)


# ----- the three array-level computations ------------------------------------------------
def _forward(x_pad, w, stride, dilation, groups, out, keep_cols: bool, bias=None):
    """y (N, O, *out) + bias from a padded input; also the window matrix when it was built whole."""
    xp = array_module(x_pad)
    kernel = w.shape[2:]
    n_batch, n_out = x_pad.shape[0], w.shape[0]
    nd = len(out)
    if _is_depthwise(w, groups):
        y = _depthwise_forward(x_pad, w, stride, dilation, ((0, 0),) * nd, out)
        if bias is not None:
            y += bias.reshape((1, -1) + (1,) * nd)
        return y, None
    if _per_sample(x_pad.shape, w, groups, out, x_pad.itemsize):
        return _forward_per_sample(x_pad, w, stride, dilation, out, bias), None
    if not keep_cols and groups == 1 and x_pad.shape[1] == 1 and \
            prod(out) * prod(kernel) * x_pad.itemsize <= backend.memory_budget():
        return _forward_single_channel(x_pad, w, stride, dilation, out, bias), None
    w_mat = w.reshape(n_out, -1)
    pieces = list(_chunks(n_batch, out, x_pad.shape[1] * prod(kernel) * x_pad.itemsize))
    if len(pieces) == 1:
        cols = _im2col(x_pad, kernel, stride, dilation, out)
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
        cols = _im2col(region, kernel, stride, dilation, out_piece)
        y[(slice(None), batch, rows)] = grouped_matmul(w_mat, cols, groups).reshape(
            (n_out, batch.stop - batch.start) + out_piece)
        del cols  # free this piece's buffer before the next one is built
    if bias is not None:
        y += bias.reshape((-1,) + (1,) * (nd + 1))
    return y.transpose((1, 0) + tuple(range(2, 2 + nd))), None


def _backward(gy, w, x_shape, stride, dilation, groups, x_pad=None, cols=None,
              need_input: bool = True, need_weight: bool = True):
    """(gx_pad, gw) of y = conv(x_pad, w) given gy (N, O, *out); either may be skipped.

    gx_pad is also the forward of a transposed convolution of gy with w. A window matrix
    passed in as `cols` is consumed: its buffer is reused for the input gradient's."""
    xp = array_module(gy)
    kernel = w.shape[2:]
    nd = len(kernel)
    out = gy.shape[2:]
    n_batch, n_out = gy.shape[0], w.shape[0]
    if cols is None and _per_sample(x_shape, w, groups, out, gy.itemsize) and (x_pad is not None or not need_weight):
        return _backward_per_sample(gy, w, x_shape, stride, dilation, x_pad, need_input, need_weight)
    gx = xp.zeros(tuple(x_shape), dtype=gy.dtype) if need_input else None  # replaced when in one piece
    gw = xp.zeros(w.shape, dtype=gy.dtype) if need_weight else None
    if _is_depthwise(w, groups):
        return _depthwise_backward(gy, w, x_pad, x_shape, stride, dilation, ((0, 0),) * nd, need_input,
                                   need_weight)
    w_mat = w.reshape(n_out, -1)
    channels = x_shape[1]
    to_matrix = (1, 0) + tuple(range(2, 2 + nd))
    pieces = list(_chunks(n_batch, tuple(out), channels * prod(kernel) * gy.itemsize))
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
                cols = _im2col(region, kernel, stride, dilation, out_piece)
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


# ----- differentiable ops ----------------------------------------------------------------
def convolution(x: Tensor, w: Tensor, b: Tensor | None, stride, pads, dilation, groups: int, out) -> Tensor:
    """y = conv(x, w) + b on checked, normalised arguments (pads are (before, after) pairs)."""
    nd = len(stride)
    if _is_depthwise(w.data, groups):
        return _depthwise_convolution(x, w, b, stride, pads, dilation, out)
    if conv_grid.applies(x.shape, w.shape, stride, pads, dilation, groups, x.data.itemsize):
        return conv_grid.convolution(x, w, b, pads, dilation, out)
    if conv_batch_last.applies(x.shape, w.shape, out, groups, x.data.itemsize):
        return conv_batch_last.convolution(x, w, b, stride, pads, dilation, out)
    x_pad = pad_spatial(x.data, pads)
    keep_cols = w.requires_grad and is_grad_enabled()
    y, cols = _forward(x_pad, w.data, stride, dilation, groups, out, keep_cols, None if b is None else b.data)

    # A stride-1 input gradient is itself a convolution (of gy, with the transposed kernel):
    # building its window matrix and multiplying beats col2im's scattered adds (81 -> 48 ms on
    # 256x128x3x3 before conv_batch_last took such batches). Still here: small images in
    # batches under conv_batch_last.MIN_BATCH, and grids conv_grid finds too wasteful.
    input_as_conv = groups == 1 and all(s == 1 for s in stride) and \
        not _per_sample(x.shape, w.data, groups, out, x.data.itemsize) and \
        all(max(lo, hi) <= d * (k - 1) for (lo, hi), d, k in zip(pads, dilation, w.shape[2:], strict=True))

    def gradients(gy):
        nonlocal cols
        kept, cols = cols, None  # backward reuses the buffer; a retained graph rebuilds it
        need_input = x.requires_grad and not input_as_conv
        gx_pad, gw = _backward(gy, w.data, x_pad.shape, stride, dilation, groups, x_pad=x_pad, cols=kept,
                               need_input=need_input, need_weight=w.requires_grad)
        if x.requires_grad and input_as_conv:
            gy_pad = pad_spatial(gy, conv_grid.full_pads(pads, dilation, w.shape[2:]))
            gx, _ = _forward(gy_pad, conv_grid.transposed_kernel(w.data), stride, dilation, 1, x.shape[2:],
                             keep_cols=False)
        else:
            gx = unpad(gx_pad, pads, x.shape[2:]) if x.requires_grad else None
        return gx, gw

    return conv_node(y, x, w, b, gradients, f"conv{nd}d")


def _depthwise_convolution(x: Tensor, w: Tensor, b: Tensor | None, stride, pads, dilation, out) -> Tensor:
    """Depthwise conv straight from the unpadded input (no padded copy, no cropping)."""
    nd = len(stride)
    y = _depthwise_forward(x.data, w.data, stride, dilation, pads, out)
    if b is not None:
        y += b.data.reshape((1, -1) + (1,) * nd)

    def gradients(gy):
        gx, gw = _depthwise_backward(gy, w.data, x.data, x.shape, stride, dilation, pads,
                                     need_input=x.requires_grad, need_weight=w.requires_grad)
        return gx, gw

    return conv_node(y, x, w, b, gradients, f"conv{nd}d")


def transposed_convolution(x: Tensor, w: Tensor, b: Tensor | None, stride, padding, output_padding,
                           dilation, groups: int) -> Tensor:
    """The adjoint of convolution with the same weight (x plays the output gradient)."""
    nd = len(stride)
    kernel = w.shape[2:]
    full = tuple((n - 1) * s + d * (k - 1) + 1 + op
                 for n, s, d, k, op in zip(x.shape[2:], stride, dilation, kernel, output_padding, strict=True))
    y_shape = (x.shape[0], w.shape[1] * groups) + full
    pads = tuple((p, p) for p in padding)
    out = tuple(n - 2 * p for n, p in zip(full, padding, strict=True))
    y_pad, _ = _backward(x.data, w.data, y_shape, stride, dilation, groups, need_weight=False)
    y = crop_spatial(y_pad, pads, out)
    y = array_module(y).ascontiguousarray(y)
    if b is not None:
        y += b.data.reshape((1, -1) + (1,) * nd)

    def gradients(gy):
        gy_pad = pad_spatial(gy, pads)
        if full != gy_pad.shape[2:]:  # negative output padding never happens; keep shapes honest
            raise AssertionError("transposed convolution: gradient shape mismatch")
        gx = None
        if x.requires_grad:
            gx, _ = _forward(gy_pad, w.data, stride, dilation, groups, x.shape[2:], keep_cols=False)
        gw = None
        if w.requires_grad:
            _, gw = _backward(x.data, w.data, gy_pad.shape, stride, dilation, groups, x_pad=gy_pad,
                              need_input=False)
        return gx, gw

    return conv_node(y, x, w, b, gradients, f"conv_transpose{nd}d")


# ----- public functions (PyTorch's names, arguments and defaults) ------------------------
def _check_weight(op: str, x: Tensor, weight, bias, nd: int, groups, transposed: bool):
    if not isinstance(weight, Tensor):
        raise TypeError(f"{op}: weight must be a convpool.Tensor, got {type(weight).__name__}")
    if weight.ndim != nd + 2:
        layout = "(in_channels, out_channels/groups, " if transposed else "(out_channels, in_channels/groups, "
        raise ValueError(f"{op}: weight must be {nd + 2}-D {layout}{spatial_names(nd)}), "
                         f"got shape {weight.shape}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{op}: bias must be a convpool.Tensor or None, got {type(bias).__name__}")
    check_same_dtype(op, input=x, weight=weight, bias=bias)
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got groups={groups!r}")
    channels = x.shape[1]
    if transposed:
        expected_in, out_channels = weight.shape[0], weight.shape[1] * groups
    else:
        expected_in, out_channels = weight.shape[1] * groups, weight.shape[0]
    if channels % groups:
        raise ValueError(f"{op}: groups={groups} does not divide the input's {channels} channels "
                         f"(input shape {x.shape})")
    if (weight.shape[0]) % groups:
        raise ValueError(f"{op}: groups={groups} does not divide weight.shape[0]={weight.shape[0]} "
                         f"(weight shape {weight.shape})")
    if channels != expected_in:
        what = "weight.shape[0]" if transposed else f"weight.shape[1] * groups = {weight.shape[1]} * {groups}"
        raise ValueError(f"{op}: input has {channels} channels but the weight expects {expected_in} "
                         f"({what}); input shape {x.shape}, weight shape {weight.shape}")
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"{op}: bias must have shape ({out_channels},) to match the weight's output "
                         f"channels, got {bias.shape}; weight shape {weight.shape}")


def _conv(op: str, nd: int, input, weight, bias, stride, padding, dilation, groups) -> Tensor:
    x, unbatched = check_input(op, input, nd)
    _check_weight(op, x, weight, bias, nd, groups, transposed=False)
    stride = ntuple("stride", stride, nd, 1, op)
    dilation = ntuple("dilation", dilation, nd, 1, op)
    kernel = weight.shape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0),) * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' needs stride 1, got stride={stride} "
                                 "(the output size would not equal the input size)")
            pads = tuple(same_padding(k, d) for k, d in zip(kernel, dilation, strict=True))
        else:
            raise ValueError(f"{op}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
    else:
        pads = tuple((p, p) for p in ntuple("padding", padding, nd, 0, op))
    try:
        out = tuple(output_length(n, k, s, p, d)
                    for n, k, s, p, d in zip(x.shape[2:], kernel, stride, pads, dilation, strict=True))
    except ValueError as error:
        raise ValueError(f"{op}: {error}; input shape {x.shape}, weight shape {weight.shape}") from None
    y = convolution(x, weight, bias, stride, pads, dilation, groups, out)
    return y.squeeze(0) if unbatched else y


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """1-D convolution over (N, C, L): audio, sequences. Same arguments as torch.nn.functional.conv1d.

    >>> import convpool
    >>> x = convpool.tensor([[[1., 2., 3., 4., 5.]]])
    >>> conv1d(x, convpool.tensor([[[0., 1.]]]), padding='same').tolist()
    [[[2.0, 3.0, 4.0, 5.0, 0.0]]]
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """2-D convolution over (N, C, H, W): each output pixel is the kernel-weighted sum of the
    pixels under it, over all input channels of its group, plus the bias."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """3-D convolution over (N, C, D, H, W): video or volumes."""
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(op: str, nd: int, input, weight, bias, stride, padding, output_padding, groups,
                    dilation) -> Tensor:
    x, unbatched = check_input(op, input, nd)
    _check_weight(op, x, weight, bias, nd, groups, transposed=True)
    stride = ntuple("stride", stride, nd, 1, op)
    dilation = ntuple("dilation", dilation, nd, 1, op)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple (PyTorch has no 'same' here), got {padding!r}")
    padding = ntuple("padding", padding, nd, 0, op)
    output_padding = ntuple("output_padding", output_padding, nd, 0, op)
    for op_pad, s, d in zip(output_padding, stride, dilation, strict=True):
        if op_pad >= s and op_pad >= d:
            raise ValueError(f"{op}: output_padding must be smaller than stride or dilation, got "
                             f"output_padding={output_padding}, stride={stride}, dilation={dilation}")
    for n, k, s, p, d, op_pad in zip(x.shape[2:], weight.shape[2:], stride, padding, dilation, output_padding,
                                     strict=True):
        try:
            transposed_output_length(n, k, s, p, d, op_pad)
        except ValueError as error:
            raise ValueError(f"{op}: {error}; input shape {x.shape}, weight shape {weight.shape}") from None
    y = transposed_convolution(x, weight, bias, stride, padding, output_padding, dilation, groups)
    return y.squeeze(0) if unbatched else y


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed 1-D convolution (the gradient of conv1d with respect to its input); upsamples."""
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding,
                           groups, dilation)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed 2-D convolution; weight is (in_channels, out_channels/groups, kH, kW)."""
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding,
                           groups, dilation)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed 3-D convolution."""
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding,
                           groups, dilation)
