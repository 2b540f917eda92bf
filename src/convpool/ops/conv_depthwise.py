"""Depthwise convolution (one input and one output channel per group): shift and accumulate.

im2col would copy every pixel K times to feed tiny (1 x K) products; instead each kernel
position adds its shifted input times one weight per channel, reading the unpadded input
through clipped taps (padding pixels are zeros: skipped, not copied in). On the CPU the
batch is walked in slices small enough to stay in cache, spread over threads; on a device
each kernel position is one pass over the whole batch.
"""

from __future__ import annotations

from ..backend import array_module, on_cpu, parallel_for
from .conv_geometry import CACHE_BYTES, Geometry, Needs, Path, Saved
from .im2col import clipped_tap, kernel_offsets, prod


def _batch_slices(xp, start: int, stop: int, bytes_per_sample: int):
    step = max(1, CACHE_BYTES // max(bytes_per_sample, 1)) if on_cpu(xp) else stop - start
    for n0 in range(start, stop, max(step, 1)):
        yield slice(n0, min(stop, n0 + step))


def _taps(g: Geometry):
    """(tap number, output index, input index) of every kernel position that touches the input."""
    taps = []
    for i, offset in enumerate(kernel_offsets(g.kernel)):
        clipped = clipped_tap(offset, g.stride, g.dilation, g.pads, g.spatial, g.out)
        if clipped is not None:
            taps.append((i, clipped[0][1:], clipped[1][1:]))  # drop the batch axis: added per slice
    return taps


def _per_tap(w, nd: int):
    """The weights as (taps, C, 1, ...): one channel vector per kernel position."""
    channels = w.shape[0]
    return w.reshape(channels, -1).T.reshape((-1, channels) + (1,) * nd)


def forward(x, w, g: Geometry, bias=None):
    """y (N, C, *out) from the unpadded x."""
    xp = array_module(x)
    weights = _per_tap(w, g.dims)
    taps = _taps(g)
    y = xp.zeros((x.shape[0], g.out_channels) + tuple(g.out), dtype=x.dtype)

    def part(start: int, stop: int) -> None:
        for rows in _batch_slices(xp, start, stop, x[0].nbytes + y[0].nbytes):
            for i, out_index, in_index in taps:
                y[(rows,) + out_index] += x[(rows,) + in_index] * weights[i]

    parallel_for(y.shape[0], part, min_size=1, elements=x.size, like=x)
    if bias is not None:
        y += bias.reshape((1, -1) + (1,) * g.dims)
    return y


def backward(gy, w, x, g: Geometry, need_input: bool, need_weight: bool):
    """(gx over the unpadded input, gw); x is only read for gw."""
    xp = array_module(gy)
    channels, nd = g.out_channels, g.dims
    weights = _per_tap(w, nd)
    taps = _taps(g)
    gx = xp.zeros(g.x_shape, dtype=gy.dtype) if need_input else None
    partial_gw: dict[int, object] = {}
    letters = "xyz"[:nd]
    contract = f"nc{letters},nc{letters}->c"  # sum over batch and space, per channel

    def part(start: int, stop: int) -> None:
        gw = xp.zeros((prod(g.kernel), channels), dtype=gy.dtype)
        for rows in _batch_slices(xp, start, stop, prod(g.x_shape[1:]) * gy.itemsize + gy[0].nbytes):
            for i, out_index, in_index in taps:
                grad = gy[(rows,) + out_index]
                if need_input:
                    gx[(rows,) + in_index] += grad * weights[i]
                if need_weight:
                    gw[i] += xp.einsum(contract, grad, x[(rows,) + in_index])
        partial_gw[start] = gw

    parallel_for(gy.shape[0], part, min_size=1, elements=gy.size, like=gy)
    gw = sum(partial_gw.values()).T.reshape(w.shape) if need_weight else None
    return gx, gw


class Depthwise(Path):
    """groups == in channels == out channels, any stride, padding and dilation, any device."""

    name = "depthwise"

    def applies(self, g: Geometry, xp, needs: Needs) -> bool:
        return g.depthwise

    def forward(self, x, w, bias, g: Geometry, needs: Needs):
        y = forward(x, w, g, bias)
        return y, (Saved(g, w, x=x if needs.weight else None) if needs.graph else None)

    def backward(self, gy, saved: Saved, needs: Needs):
        return backward(gy, saved.w, saved.x, saved.geometry, needs.input, needs.weight)


DEPTHWISE = Depthwise()
