"""Stride-1 convolution one sample at a time, on the flattened padded image ("grid").

Flatten one padded sample to (C, Hp*Wp). Kernel position (i, j) then reads the pixels at a
fixed flat offset i*Wp + j from the output's, so its rows of the window matrix are one
contiguous slice of that flat buffer, and the input gradient adds back one contiguous
slice per position. The price: outputs are computed on the whole padded width (Wp columns
per output row, of which the last Wp - W_out are thrown away), a few percent more work.

    cols[c, k, g] = x_flat[c, g + offset_k]        g over out_rows * Wp grid positions
    y_grid        = W (O, C*K) @ cols (C*K, G)     y[n] = the valid columns of y_grid
    gW^T         += cols @ gy_grid^T               (gy_grid is zero outside the valid columns)
    gcols         = W^T @ gy_grid,  gx_flat[c, g + offset_k] += gcols[c, k, g]

Each sample's buffers stay in the core's cache between the copy and the product, the output
comes out in (N, C, H, W) order with no transpose, and the batch is split over threads
that each run a single-threaded matrix product. No window matrix is kept between forward
and backward: backward rebuilds one sample's at a time, which costs less than keeping a
batch-sized one in memory. The same code serves 1-, 2- and 3-D convolutions.
"""

from __future__ import annotations

from .. import backend
from ..backend import array_module, parallel_for
from ..tensor import Tensor
from .im2col import kernel_offsets, prod


class Grid:
    """Geometry of one padded sample laid flat: tap offsets, grid size, valid columns."""

    def __init__(self, spatial, kernel, dilation, pads, out) -> None:
        self.padded = tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pads, strict=True))
        self.pads, self.spatial, self.out = tuple(pads), tuple(spatial), tuple(out)
        strides = [prod(self.padded[i + 1:]) for i in range(len(self.padded))]
        self.offsets = [sum(k * d * s for k, d, s in zip(offset, dilation, strides, strict=True))
                        for offset in kernel_offsets(kernel)]
        self.size = out[0] * strides[0]  # grid positions: every output row at full padded width
        self.length = max(prod(self.padded), max(self.offsets) + self.size)  # room for the last tap's reads

    def interior(self, flat):
        """The unpadded sample inside a flat (C, length) buffer, as a (C, *spatial) view."""
        image = flat[:, :prod(self.padded)].reshape((flat.shape[0],) + self.padded)
        return image[(slice(None),) + tuple(slice(lo, lo + n) for (lo, _), n in
                                            zip(self.pads, self.spatial, strict=True))]

    def valid(self, grid):
        """The real outputs inside a (O, size) grid, as a (O, *out) view."""
        shaped = grid.reshape((grid.shape[0], self.out[0]) + self.padded[1:])
        return shaped[(slice(None), slice(None)) + tuple(slice(0, o) for o in self.out[1:])]

    def fill_cols(self, flat, cols) -> None:
        """cols (C, K, size) <- the window rows of the sample in `flat`."""
        for k, offset in enumerate(self.offsets):
            cols[:, k] = flat[:, offset:offset + self.size]

    def scatter(self, cols, flat) -> None:
        """flat (C, length) <- the sum of cols (C, K, size) at each tap's offset (col2im)."""
        flat[...] = 0
        for k, offset in enumerate(self.offsets):
            flat[:, offset:offset + self.size] += cols[:, k]


MIN_WINDOW = 32  # rows of the window matrix (channels x kernel positions); below, one big product wins
MIN_AREA = 64  # padded pixels per sample; below, per-sample work costs more than it saves


def applies(x_shape, w_shape, stride, pads, groups: int, itemsize: int) -> bool:
    """Stride 1, no groups, images and windows big enough to gain (measured on 2 cores, see
    benchmarks/README.md), and one window matrix per thread within the memory budget."""
    if groups != 1 or any(s != 1 for s in stride) or w_shape[1] * prod(w_shape[2:]) < MIN_WINDOW:
        return False
    padded = prod(n + lo + hi for n, (lo, hi) in zip(x_shape[2:], pads, strict=True))
    if padded < MIN_AREA:
        return False
    per_thread = w_shape[1] * prod(w_shape[2:]) * padded * itemsize
    return per_thread * backend.num_threads() <= backend.memory_budget()


GRID_COLUMNS = 512  # samples are taken together until a product has at least this many columns


def samples_per_product(grid: Grid, n_batch: int, bytes_per_column: int) -> int:
    """How many samples share one matrix product: enough columns to amortise BLAS's packing of
    the weights, few enough that every thread gets work and the budget holds."""
    wanted = -(-GRID_COLUMNS // grid.size)
    per_thread = -(-n_batch // backend.num_threads())
    affordable = backend.memory_budget() // max(1, backend.num_threads() * bytes_per_column * grid.size)
    return max(1, min(wanted, per_thread, affordable))


def forward(x, w, grid: Grid, bias=None):
    """y (N, O, *out) of a stride-1 convolution of the unpadded x (N, C, *spatial)."""
    xp = array_module(x)
    n_out, channels, taps = w.shape[0], w.shape[1], prod(w.shape[2:])
    n_batch = x.shape[0]
    w_mat = w.reshape(n_out, -1)
    y = xp.empty((n_batch, n_out) + grid.out, dtype=x.dtype)
    bias_shape = (-1,) + (1,) * len(grid.out)
    together = samples_per_product(grid, n_batch, channels * taps * x.itemsize)

    def part(start: int, stop: int) -> None:
        flat = xp.zeros((channels, grid.length), dtype=x.dtype)  # the padding stays zero
        inside = grid.interior(flat)
        cols = xp.empty((channels, taps, together, grid.size), dtype=x.dtype)
        y_grid = xp.empty((n_out, together, grid.size), dtype=x.dtype)
        for first in range(start, stop, together):
            count = min(together, stop - first)
            for b in range(count):
                inside[...] = x[first + b]
                grid.fill_cols(flat, cols[:, :, b])
            xp.matmul(w_mat, cols[:, :, :count].reshape(channels * taps, -1), out=y_grid[:, :count].reshape(n_out, -1))
            for b in range(count):
                y[first + b] = grid.valid(y_grid[:, b])
                if bias is not None:
                    y[first + b] += bias.reshape(bias_shape)

    parallel_for(n_batch, part, min_size=1, elements=y.size * channels * taps, single_thread_blas=True)
    return y


def backward(gy, x, w, grid: Grid, need_input: bool, need_weight: bool):
    """(gx, gw) of y = forward(x, w) given gy (N, O, *out); either may be skipped (None)."""
    xp = array_module(gy)
    n_out, channels, taps = w.shape[0], w.shape[1], prod(w.shape[2:])
    n_batch = gy.shape[0]
    w_t = w.reshape(n_out, -1).T
    gx = xp.empty(x.shape, dtype=gy.dtype) if need_input else None
    partial_gw = {}
    together = samples_per_product(grid, n_batch, channels * taps * gy.itemsize)

    def part(start: int, stop: int) -> None:
        flat = xp.zeros((channels, grid.length), dtype=gy.dtype)  # x's sample: its padding stays zero
        flat_gx = xp.empty((channels, grid.length), dtype=gy.dtype)  # the input gradient's, padding included
        inside, inside_gx = grid.interior(flat), grid.interior(flat_gx)
        cols = xp.empty((channels, taps, together, grid.size), dtype=gy.dtype)
        gy_grid = xp.zeros((n_out, together, grid.size), dtype=gy.dtype)  # outside the valid columns: zero
        gw_t = xp.zeros((channels * taps, n_out), dtype=gy.dtype) if need_weight else None
        for first in range(start, stop, together):
            count = min(together, stop - first)
            for b in range(count):
                grid.valid(gy_grid[:, b])[...] = gy[first + b]
            gy_mat = gy_grid[:, :count].reshape(n_out, -1)
            cols_mat = cols[:, :, :count].reshape(channels * taps, -1)
            if need_weight:
                for b in range(count):
                    inside[...] = x[first + b]
                    grid.fill_cols(flat, cols[:, :, b])
                gw_t += cols_mat @ gy_mat.T
            if need_input:
                xp.matmul(w_t, gy_mat, out=cols_mat)
                for b in range(count):
                    grid.scatter(cols[:, :, b], flat_gx)
                    gx[first + b] = inside_gx
        partial_gw[start] = gw_t

    parallel_for(n_batch, part, min_size=1, elements=gy.size * channels * taps, single_thread_blas=True)
    gw = sum(partial_gw.values()).T.reshape(w.shape) if need_weight else None
    return gx, gw


def convolution(x: Tensor, w: Tensor, b: Tensor | None, pads, dilation, out) -> Tensor:
    """The differentiable stride-1 convolution (pads are (before, after) pairs)."""
    nd = len(out)
    grid = Grid(x.shape[2:], w.shape[2:], dilation, pads, out)
    y = forward(x.data, w.data, grid, None if b is None else b.data)

    def grad_fn(gy):
        gx, gw = backward(gy, x.data, w.data, grid, need_input=x.requires_grad, need_weight=w.requires_grad)
        gb = gy.sum(axis=(0,) + tuple(range(2, 2 + nd))) if b is not None and b.requires_grad else None
        return (gx, gw) + ((gb,) if b is not None else ())

    parents = (x, w) + ((b,) if b is not None else ())
    return Tensor.from_op(y, parents, grad_fn, f"conv{nd}d")

