"""Pooling: max, average, power-average (Lp), adaptive, and max-unpooling.

As in the article, a pooling window summarises its pixels by their largest value (max) or
their mean (average); with stride == kernel the windows tile the image. Max and average
pooling read the (padded) input once per kernel position through strided slices
(`im2col.tap`) and write gradients back the same way; adaptive pooling loops over output
positions. There is one form for every device: the passes are split over the batch with
`backend.parallel_for`, which runs them whole for device arrays.

Edge rules follow PyTorch: padding at most half the kernel; in ceil mode a last window
that would start in the right padding is dropped; with count_include_pad an overhanging
window divides by its size clipped to input + padding. One rule differs on purpose: a
window that lies wholly in padding (possible with dilation) makes PyTorch 2.13 return -inf
with a wrong gradient; here it raises a ValueError.
"""

from __future__ import annotations

import itertools

from ..backend import array_module, parallel_for
from ..shapes import adaptive_windows, output_length, window_touches_input
from ..tensor import Tensor, is_grad_enabled
from .args import check_input, ntuple
from .basic import matmul, pow
from .im2col import kernel_offsets, overlapping, pad_spatial, prod, tap, tiles, unpad


def _geometry(op: str, x: Tensor, nd: int, kernel_size, stride, padding, dilation, ceil_mode: bool):
    """Checked (kernel, stride, dilation, pads, out); pads hold the extra right padding
    that ceil mode's last window needs."""
    kernel = ntuple("kernel_size", kernel_size, nd, 1, op)
    stride = kernel if stride is None or (isinstance(stride, tuple | list) and len(stride) == 0) else \
        ntuple("stride", stride, nd, 1, op)
    padding = ntuple("padding", padding, nd, 0, op)
    dilation = ntuple("dilation", dilation, nd, 1, op)
    for k, p in zip(kernel, padding, strict=True):
        if p > k // 2:
            raise ValueError(f"{op}: padding should be at most half of the kernel size, got "
                             f"padding={padding} with kernel_size={kernel}")
    sizes = x.shape[2:]
    try:
        out = tuple(output_length(n, k, s, p, d, ceil_mode)
                    for n, k, s, p, d in zip(sizes, kernel, stride, padding, dilation, strict=True))
    except ValueError as error:
        raise ValueError(f"{op}: {error}; input shape {x.shape}") from None
    for axis, (n, k, s, p, d, o) in enumerate(zip(sizes, kernel, stride, padding, dilation, out, strict=True)):
        if not window_touches_input(n, k, s, p, d, o):
            raise ValueError(
                f"{op}: a pooling window along spatial axis {axis} lies wholly in the padding "
                f"(input shape {x.shape}, kernel_size={kernel}, stride={stride}, padding={padding}, "
                f"dilation={dilation}); PyTorch returns -inf there, convpool refuses: reduce padding or dilation")
    pads = tuple((p, max(0, (o - 1) * s + d * (k - 1) + 1 - n - p))
                 for n, k, s, p, d, o in zip(sizes, kernel, stride, padding, dilation, out, strict=True))
    return kernel, stride, dilation, pads, out


def _lowest(dtype):
    xp = array_module()
    return -xp.inf if dtype.kind == "f" else xp.iinfo(dtype).min


# ----- max pooling -------------------------------------------------------------------------
def max_pool(x: Tensor, kernel, stride, dilation, pads, out, return_indices: bool):
    """Largest value in each window; backward sends the gradient to the first largest.

    One pass per kernel position over strided slices (np.maximum into the output) is far
    faster than reducing over a window view's short trailing axes. When a gradient or the
    indices are needed, a small integer array keeps which kernel position won, updated
    where a value is strictly greater (first largest wins) or NaN (NaN wins, as in PyTorch).
    """
    xp = array_module(x.data)
    nd = len(kernel)
    x_pad = pad_spatial(x.data, pads, _lowest(x.dtype))
    taps = [tap(offset, stride, dilation, out) for offset in kernel_offsets(kernel)]
    y = xp.empty(x.shape[:2] + tuple(out), dtype=x.dtype)
    track = return_indices or (x.requires_grad and is_grad_enabled())
    winner = xp.empty(y.shape, dtype=xp.uint8 if len(taps) < 256 else xp.int32) if track else None

    def forward_part(start: int, stop: int) -> None:
        part = slice(start, stop)
        won = None if winner is None else winner[part]
        _fold_max(x_pad[part], taps, y[part], won, nan_aware=False)
        if won is not None and x.dtype.kind == "f" and bool(xp.isnan(y[part]).any()):
            _fold_max(x_pad[part], taps, y[part], won, nan_aware=True)  # rare: redo tracking NaN

    parallel_for(y.shape[0], forward_part, min_size=1, elements=x.data.size, like=x.data)
    if not track:
        return Tensor(y), None
    assign = not overlapping(kernel, stride, dilation)
    # windows that tile the padded input exactly write every pixel's gradient: no zero fill needed
    covered = tiles(kernel, stride, dilation) and all(o * k == n for o, k, n in zip(out, kernel, x_pad.shape[2:],
                                                                                  strict=True))

    def grad_fn(gy):
        gx_pad = (xp.empty if covered else xp.zeros)(x_pad.shape, dtype=gy.dtype)

        def backward_part(start: int, stop: int) -> None:
            part = slice(start, stop)
            won = xp.empty(winner[part].shape, dtype=bool)
            for i, t in enumerate(taps):
                xp.equal(winner[part], i, out=won)
                target = (part,) + t[1:]
                if assign:  # windows do not overlap: each pixel belongs to at most one window
                    xp.multiply(gy[part], won, out=gx_pad[target])
                else:
                    gx_pad[target] += gy[part] * won

        parallel_for(gy.shape[0], backward_part, min_size=1, elements=x.data.size, like=x.data)
        return (unpad(gx_pad, pads, x.shape[2:]),)

    result = Tensor.from_op(y, (x,), grad_fn, f"max_pool{nd}d")
    return result, (_plane_indices(winner, x.shape[2:], kernel, stride, dilation, pads) if return_indices else None)


def _fold_max(x_pad, taps, y, winner, nan_aware: bool) -> None:
    """y = the running max over the taps, in place; winner (if given) = which tap won.

    Taps come in increasing order, so a new winner always has a larger index than the old
    one: max(winner, i * beaten) updates it with fast integer ops instead of a masked write.
    A tap wins when strictly greater (the first largest is kept) or NaN (as in PyTorch).
    """
    xp = array_module(x_pad)
    y[...] = x_pad[taps[0]]
    if winner is None:
        for t in taps[1:]:
            xp.maximum(y, x_pad[t], out=y)
        return
    winner[...] = 0
    beaten = xp.empty(y.shape, dtype=bool)
    small = winner.dtype == xp.uint8
    # bool * int casts element by element; a uint8 view of the same bytes multiplies at full speed
    step = beaten.view(xp.uint8) if small else xp.empty(y.shape, dtype=winner.dtype)
    for i, t in enumerate(taps[1:], 1):
        v = x_pad[t]
        xp.greater(v, y, out=beaten)
        if nan_aware:
            beaten |= xp.isnan(v)
        xp.maximum(y, v, out=y)
        xp.multiply(step if small else beaten, winner.dtype.type(i), out=step)
        xp.maximum(winner, step, out=winner)


def _plane_indices(arg, sizes, kernel, stride, dilation, pads) -> Tensor:
    """Window-relative argmax -> flat index within each (N, C) plane of the unpadded input."""
    xp = array_module(arg)
    nd = len(kernel)
    flat = xp.zeros(arg.shape, dtype=xp.int64)
    rest = arg.astype(xp.int64)
    for axis in reversed(range(nd)):
        offset = rest % kernel[axis]
        rest //= kernel[axis]
        positions = xp.arange(arg.shape[2 + axis], dtype=xp.int64).reshape(
            (-1,) + (1,) * (nd - 1 - axis))
        coord = positions * stride[axis] - pads[axis][0] + offset * dilation[axis]
        flat += coord * prod(sizes[axis + 1:])
    return Tensor(flat)


def _max_pool(op: str, nd: int, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x, unbatched = check_input(op, input, nd)
    kernel, stride, dilation, pads, out = _geometry(op, x, nd, kernel_size, stride, padding, dilation, ceil_mode)
    y, indices = max_pool(x, kernel, stride, dilation, pads, out, return_indices)
    if unbatched:
        y = y.squeeze(0)
        indices = Tensor(indices.data[0]) if indices is not None else None
    return (y, indices) if return_indices else y


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Max pooling over (N, C, L); stride defaults to kernel_size."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Max pooling over (N, C, H, W): keep the largest value of each window.

    >>> import convpool
    >>> x = convpool.tensor([[[[1., 1., 2., 4.], [5., 6., 7., 8.], [3., 2., 1., 0.], [1., 2., 3., 4.]]]])
    >>> max_pool2d(x, 2).tolist()
    [[[[6.0, 8.0], [3.0, 4.0]]]]
    """
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Max pooling over (N, C, D, H, W)."""
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


# ----- average pooling ---------------------------------------------------------------------
def _divisor(sizes, kernel, stride, pads, out, count_include_pad: bool, xp, dtype):
    """Per-window element count, separable per axis: clipped to input + padding (PyTorch's
    count_include_pad) or to the input alone."""
    total = None
    for axis, (n, k, s, (lo, _), o) in enumerate(zip(sizes, kernel, stride, pads, out, strict=True)):
        start = xp.arange(o) * s - lo
        if count_include_pad:
            count = xp.minimum(start + k, n + lo) - start
        else:
            count = xp.minimum(start + k, n) - xp.maximum(start, 0)
        count = count.reshape((-1,) + (1,) * (len(sizes) - 1 - axis)).astype(dtype)
        total = count if total is None else total * count
    return total


def avg_pool(x: Tensor, kernel, stride, pads, out, count_include_pad: bool, divisor_override) -> Tensor:
    """Mean of each window: a sum over kernel positions (one strided pass each) / divisor."""
    xp = array_module(x.data)
    nd = len(kernel)
    dilation = (1,) * nd
    x_pad = pad_spatial(x.data, pads)
    taps = [tap(offset, stride, dilation, out) for offset in kernel_offsets(kernel)]
    if divisor_override is not None:
        divisor = xp.asarray(divisor_override, dtype=x.dtype)
    else:
        divisor = _divisor(x.shape[2:], kernel, stride, pads, out, count_include_pad, xp, x.dtype)
    y = xp.empty(x.shape[:2] + tuple(out), dtype=x.dtype)

    def forward_part(start: int, stop: int) -> None:
        part = slice(start, stop)
        y[part] = x_pad[(part,) + taps[0][1:]]
        for t in taps[1:]:
            y[part] += x_pad[(part,) + t[1:]]
        y[part] /= divisor

    parallel_for(y.shape[0], forward_part, min_size=1, elements=x.data.size, like=x.data)
    assign = not overlapping(kernel, stride, dilation)

    def grad_fn(gy):
        gx_pad = xp.zeros(x_pad.shape, dtype=gy.dtype)

        def backward_part(start: int, stop: int) -> None:
            part = slice(start, stop)
            share = gy[part] / divisor
            for t in taps:
                if assign:
                    gx_pad[(part,) + t[1:]] = share
                else:
                    gx_pad[(part,) + t[1:]] += share

        parallel_for(gy.shape[0], backward_part, min_size=1, elements=x.data.size, like=x.data)
        return (unpad(gx_pad, pads, x.shape[2:]),)

    return Tensor.from_op(y, (x,), grad_fn, f"avg_pool{nd}d")


def _avg_pool(op: str, nd: int, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    x, unbatched = check_input(op, input, nd)
    if divisor_override is not None and (isinstance(divisor_override, bool) or
                                         not isinstance(divisor_override, int) or divisor_override == 0):
        raise ValueError(f"{op}: divisor_override must be a non-zero int or None, got {divisor_override!r}")
    kernel, stride, _, pads, out = _geometry(op, x, nd, kernel_size, stride, padding, 1, ceil_mode)
    y = avg_pool(x, kernel, stride, pads, out, count_include_pad, divisor_override)
    return y.squeeze(0) if unbatched else y


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Average pooling over (N, C, L)."""
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Average pooling over (N, C, H, W): the mean of each window.

    >>> import convpool
    >>> x = convpool.tensor([[[[1., 1., 2., 4.], [5., 6., 7., 8.], [3., 2., 1., 0.], [1., 2., 3., 4.]]]])
    >>> avg_pool2d(x, 2).tolist()
    [[[[3.25, 5.25], [2.0, 2.0]]]]
    """
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Average pooling over (N, C, D, H, W)."""
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


# ----- power-average pooling ---------------------------------------------------------------
def _lp_pool(op: str, nd: int, input, norm_type: float, kernel_size, stride, ceil_mode) -> Tensor:
    """(sum over the window of x**p) ** (1/p), as PyTorch: an average pool of x**p times
    the window size; composed from differentiable ops, so it needs no backward of its own."""
    if isinstance(norm_type, bool) or not isinstance(norm_type, int | float) or norm_type == 0:
        raise ValueError(f"{op}: norm_type must be a non-zero number, got {norm_type!r}")
    x, unbatched = check_input(op, input, nd)
    kernel, stride, _, pads, out = _geometry(op, x, nd, kernel_size, stride, 0, 1, ceil_mode)
    mean = avg_pool(pow(x, norm_type), kernel, stride, pads, out, True, None)
    y = pow(mean * prod(kernel), 1.0 / norm_type)
    return y.squeeze(0) if unbatched else y


def lp_pool1d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over (N, C, L): p=1 is sum pooling, p=inf would be max."""
    return _lp_pool("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over (N, C, H, W)."""
    return _lp_pool("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


# ----- adaptive pooling --------------------------------------------------------------------
def _adaptive_sizes(op: str, x: Tensor, nd: int, output_size) -> tuple[int, ...]:
    if isinstance(output_size, int):
        output_size = (output_size,) * nd
    output_size = tuple(x.shape[2 + i] if o is None else o for i, o in enumerate(output_size))
    return ntuple("output_size", output_size, nd, 1, op)


def _averaging_matrix(size: int, out: int, xp, dtype):
    """(out, size) matrix whose row i averages adaptive window i."""
    matrix = xp.zeros((out, size), dtype=dtype)
    for i, (start, end) in enumerate(adaptive_windows(size, out)):
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def _adaptive_avg(op: str, nd: int, input, output_size) -> Tensor:
    x, unbatched = check_input(op, input, nd)
    out = _adaptive_sizes(op, x, nd, output_size)
    sizes = x.shape[2:]
    if all(n % o == 0 for n, o in zip(sizes, out, strict=True)):  # equal windows: plain pooling
        kernel = tuple(n // o for n, o in zip(sizes, out, strict=True))
        y = avg_pool(x, kernel, kernel, ((0, 0),) * nd, out, True, None)
    else:  # separable: average along each axis with a small matrix product
        xp = array_module(x.data)
        y = x
        for axis in range(nd):
            matrix = Tensor(_averaging_matrix(sizes[axis], out[axis], xp, x.dtype))
            moved = y.transpose(2 + axis, y.ndim - 1)
            y = matmul(moved, matrix.T).transpose(2 + axis, y.ndim - 1)
    return y.squeeze(0) if unbatched else y


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed output length, whatever the input length."""
    return _adaptive_avg("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed output size (1 gives global average pooling)."""
    return _adaptive_avg("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_max(x: Tensor, out: tuple[int, ...]):
    """Max over each adaptive window (windows may overlap by one); returns values and
    plane indices. Loops over output positions only, never over batch or channels."""
    xp = array_module(x.data)
    nd = len(out)
    sizes = x.shape[2:]
    n_batch, channels = x.shape[:2]
    plane = x.data.reshape(n_batch, channels, -1)
    ranges = [adaptive_windows(n, o) for n, o in zip(sizes, out, strict=True)]
    indices = xp.empty((n_batch, channels) + out, dtype=xp.int64)
    for position in itertools.product(*(range(o) for o in out)):
        bounds = [ranges[a][i] for a, i in enumerate(position)]
        window = x.data[(slice(None), slice(None)) + tuple(slice(s, e) for s, e in bounds)]
        arg = window.reshape(n_batch, channels, -1).argmax(axis=-1)
        flat = xp.zeros_like(arg)
        rest = arg
        for axis in reversed(range(nd)):
            extent = bounds[axis][1] - bounds[axis][0]
            flat += (rest % extent + bounds[axis][0]) * prod(sizes[axis + 1:])
            rest = rest // extent
        indices[(slice(None), slice(None)) + position] = flat
    index = indices.reshape(n_batch, channels, -1)
    y = xp.take_along_axis(plane, index, axis=-1).reshape(indices.shape)

    def grad_fn(gy):
        gx = xp.zeros(plane.shape, dtype=gy.dtype)
        g = gy.reshape(n_batch, channels, -1)
        for p in range(index.shape[-1]):  # one position at a time: no repeated index within a write
            at = index[:, :, p:p + 1]
            xp.put_along_axis(gx, at, xp.take_along_axis(gx, at, axis=-1) + g[:, :, p:p + 1], axis=-1)
        return (gx.reshape(x.shape),)

    return Tensor.from_op(y, (x,), grad_fn, f"adaptive_max_pool{nd}d"), Tensor(indices)


def _adaptive_max(op: str, nd: int, input, output_size, return_indices: bool):
    x, unbatched = check_input(op, input, nd)
    out = _adaptive_sizes(op, x, nd, output_size)
    sizes = x.shape[2:]
    if all(n % o == 0 for n, o in zip(sizes, out, strict=True)):
        kernel = tuple(n // o for n, o in zip(sizes, out, strict=True))
        y, indices = max_pool(x, kernel, kernel, (1,) * nd, ((0, 0),) * nd, out, return_indices)
    else:
        y, indices = adaptive_max(x, out)
    if unbatched:
        y = y.squeeze(0)
        indices = Tensor(indices.data[0]) if indices is not None else None
    return (y, indices) if return_indices else y


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to a fixed output length."""
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to a fixed output size."""
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)


# ----- max unpooling -----------------------------------------------------------------------
def max_unpool(x: Tensor, indices: Tensor, out: tuple[int, ...]) -> Tensor:
    """Place each value at its plane index in a zero tensor of spatial size `out`."""
    xp = array_module(x.data)
    n_batch, channels = x.shape[:2]
    index = indices.data.reshape(n_batch, channels, -1)
    y = xp.zeros((n_batch, channels, prod(out)), dtype=x.dtype)
    xp.put_along_axis(y, index, x.data.reshape(n_batch, channels, -1), axis=-1)

    def grad_fn(gy):
        return (xp.take_along_axis(gy.reshape(n_batch, channels, -1), index, axis=-1).reshape(x.shape),)

    return Tensor.from_op(y.reshape((n_batch, channels) + out), (x,), grad_fn, f"max_unpool{len(out)}d")


def _max_unpool(op: str, nd: int, input, indices, kernel_size, stride, padding, output_size):
    x, unbatched = check_input(op, input, nd)
    if not isinstance(indices, Tensor) or indices.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be an integer convpool.Tensor (from return_indices=True)")
    if unbatched:
        indices = indices.unsqueeze(0)
    if indices.shape != x.shape:
        raise ValueError(f"{op}: indices shape {indices.shape} must equal the input shape {x.shape}")
    kernel = ntuple("kernel_size", kernel_size, nd, 1, op)
    stride = kernel if stride is None else ntuple("stride", stride, nd, 1, op)
    padding = ntuple("padding", padding, nd, 0, op)
    default = tuple((n - 1) * s - 2 * p + k for n, s, p, k in zip(x.shape[2:], stride, padding, kernel, strict=True))
    if output_size is None:
        out = default
    else:
        out = tuple(int(o) for o in tuple(output_size)[-nd:])
        for o, d, s in zip(out, default, stride, strict=True):
            if not d - s < o < d + s:
                raise ValueError(f"{op}: output_size {tuple(output_size)} must be within the stride of the "
                                 f"default size {default} (input shape {x.shape})")
    limit = prod(out)
    if indices.numel() and (int(indices.data.min()) < 0 or int(indices.data.max()) >= limit):
        raise ValueError(f"{op}: indices must lie in [0, {limit}) for output size {out}, got values from "
                         f"{int(indices.data.min())} to {int(indices.data.max())}")
    y = max_unpool(x, indices, out)
    return y.squeeze(0) if unbatched else y


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """Inverse of max_pool1d: values back at their argmax positions, zeros elsewhere."""
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """Inverse of max_pool2d: values back at their argmax positions, zeros elsewhere."""
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding, output_size)
