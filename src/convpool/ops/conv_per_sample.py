"""Two CPU-only paths that work one sample at a time, so a sample's window matrix stays in
the core's cache between the copy and the product.

- **1-D, several channels** (`per_sample_1d`): the window matrix of one sample, (C*K, L),
  is small, so W @ cols writes straight into y[n] in (O, L) layout: no large buffer, no
  transposes; backward likewise takes gy[n] as it lies. Measured on 32 -> 64 channels, k3,
  1981 samples: about 1.5x faster than one large window matrix; for 2-D and 3-D convs the
  large product wins, so only 1-D takes this path. The samples are shared out over the
  threads, each product on one BLAS thread (the weight gradient summed per thread).
- **one input channel, no weight gradient** (`single_channel`: raw audio, grey images at
  inference): each sample's windows copied as rows (out, K) into one buffer and multiplied by
  W^T, about twice as fast as one large window matrix for a long kernel (a learned filterbank
  on audio), the samples shared out over the threads, each with single-threaded BLAS.
  Training needs the window matrix for the weight gradient anyway, so its backward is the
  window-matrix path's.

Both loop over samples in Python, one product per sample: right for a CPU core and its
cache, wrong for a device, where the window-matrix path runs instead.
"""

from __future__ import annotations

from .. import backend
from ..backend import array_module, on_cpu, parallel_for
from . import conv_window
from .conv_geometry import CACHE_BYTES, Geometry, Needs, Path, Saved
from .im2col import pad_spatial, prod, unpad, windows


def _sample_cols(view, n: int, cols):
    """cols (C, K, L) <- the windows of sample n (view: (N, C, L, K))."""
    cols[...] = view[n].transpose(0, 2, 1)
    return cols.reshape(cols.shape[0] * cols.shape[1], -1)


def forward_1d(x_pad, w, g: Geometry, bias=None):
    xp = array_module(x_pad)
    view = windows(x_pad, g.kernel, g.stride, g.dilation, g.out)  # (N, C, L, K)
    w_mat = w.reshape(w.shape[0], -1)
    y = xp.empty((x_pad.shape[0], w.shape[0], g.out[0]), dtype=x_pad.dtype)

    def part(start: int, stop: int) -> None:  # a share of the samples, each thread its own buffer
        cols = xp.empty((x_pad.shape[1], w.shape[2], g.out[0]), dtype=x_pad.dtype)
        for n in range(start, stop):
            xp.matmul(w_mat, _sample_cols(view, n, cols), out=y[n])
            if bias is not None:
                y[n] += bias[:, None]

    parallel_for(y.shape[0], part, min_size=1, elements=y.size * g.channels * g.taps, single_thread_blas=True,
                 like=x_pad)
    return y


def backward_1d(gy, w, g: Geometry, x_pad, need_input: bool, need_weight: bool):
    """(gx_pad (N, C, padded L), gw); x_pad is only read for gw."""
    xp = array_module(gy)
    channels, n_out, kernel = g.channels, w.shape[0], w.shape[2]
    stride, dilation = g.stride, g.dilation
    length = gy.shape[2]
    w_mat = w.reshape(n_out, -1)
    gx = xp.zeros(g.padded_shape, dtype=gy.dtype) if need_input else None
    view = windows(x_pad, (kernel,), stride, dilation, (length,)) if need_weight else None
    reach = (length - 1) * stride[0] + 1
    partial_gw = {}

    def part(first: int, stop: int) -> None:  # a share of the samples; the weight gradient per thread
        gw_t = xp.zeros((channels * kernel, n_out), dtype=gy.dtype) if need_weight else None  # see weight_grad
        cols = xp.empty((channels, kernel, length), dtype=gy.dtype)
        gcols = xp.empty((channels * kernel, length), dtype=gy.dtype)
        for n in range(first, stop):
            if need_weight:
                gw_t += _sample_cols(view, n, cols) @ gy[n].T
            if need_input:
                xp.matmul(w_mat.T, gy[n], out=gcols)
                per_tap = gcols.reshape(channels, kernel, length)
                for k in range(kernel):
                    start = k * dilation[0]
                    gx[n, :, start:start + reach:stride[0]] += per_tap[:, k]
        partial_gw[first] = gw_t

    parallel_for(gy.shape[0], part, min_size=1, elements=gy.size * channels * kernel, single_thread_blas=True,
                 like=gy)
    return gx, (sum(partial_gw.values()).T.reshape(w.shape) if need_weight else None)


class PerSample1d(Path):
    """1-D, no groups, on the CPU; pays while one sample's window matrix fits in cache and
    there is more than one channel."""

    name = "per_sample_1d"
    cpu_only = True

    def applies(self, g: Geometry, xp, needs: Needs) -> bool:
        return on_cpu(xp) and g.dims == 1 and g.groups == 1

    def pays(self, g: Geometry, needs: Needs) -> bool:
        return g.channels > 1 and g.channels * g.kernel[0] * g.out[0] * g.itemsize <= CACHE_BYTES

    def forward(self, x, w, bias, g: Geometry, needs: Needs):
        x_pad = pad_spatial(x, g.pads)
        y = forward_1d(x_pad, w, g, bias)
        return y, (Saved(g, w, x=x, x_pad=x_pad) if needs.weight else Saved(g, w) if needs.graph else None)

    def backward(self, gy, saved: Saved, needs: Needs):
        g = saved.geometry
        gx_pad, gw = backward_1d(gy, saved.w, g, saved.padded_input() if needs.weight else None, needs.input,
                                 needs.weight)
        return (unpad(gx_pad, g.pads, g.spatial) if needs.input else None), gw


def forward_single_channel(x_pad, w, g: Geometry, bias=None):
    """Per sample: copy its windows as rows (out, K) into one buffer and multiply by W^T."""
    xp = array_module(x_pad)
    kernel, out, nd = g.kernel, g.out, g.dims
    n_batch, n_out = x_pad.shape[0], w.shape[0]
    view = windows(x_pad, kernel, g.stride, g.dilation, out)  # (N, 1, *out, *kernel)
    w_t = w.reshape(n_out, -1).T
    y = xp.empty((n_batch,) + tuple(out) + (n_out,), dtype=x_pad.dtype)

    def part(start: int, stop: int) -> None:  # a share of the samples, each thread its own buffer
        rows = xp.empty(tuple(out) + tuple(kernel), dtype=x_pad.dtype)
        for n in range(start, stop):
            rows[...] = view[n, 0]
            xp.matmul(rows.reshape(-1, w_t.shape[0]), w_t, out=y[n].reshape(-1, n_out))
            if bias is not None:
                y[n] += bias  # while the sample is still in cache

    parallel_for(n_batch, part, min_size=1, elements=y.size * g.taps, single_thread_blas=True, like=x_pad)
    return y.transpose((0, nd + 1) + tuple(range(1, nd + 1)))


class SingleChannel(Path):
    """One input channel, no groups, no weight gradient, on the CPU; one sample's rows per
    thread within the memory budget."""

    name = "single_channel"
    cpu_only = True

    def applies(self, g: Geometry, xp, needs: Needs) -> bool:
        return on_cpu(xp) and g.groups == 1 and g.channels == 1 and not needs.weight and \
            prod(g.out) * g.taps * g.itemsize * backend.num_threads() <= backend.memory_budget()

    def forward(self, x, w, bias, g: Geometry, needs: Needs):
        y = forward_single_channel(pad_spatial(x, g.pads), w, g, bias)
        return y, (Saved(g, w) if needs.graph else None)

    def backward(self, gy, saved: Saved, needs: Needs):
        return conv_window.backward(gy, saved, needs)


PER_SAMPLE_1D = PerSample1d()
SINGLE_CHANNEL = SingleChannel()
