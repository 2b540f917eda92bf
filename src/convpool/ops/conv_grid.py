"""Stride-1 convolution a few samples at a time, on the flattened padded images ("grid").

Flatten a few padded samples to (C, samples, Hp*Wp). Kernel position (i, j) then reads the
pixels at a fixed flat offset i*Wp + j from the output's, so the window matrix is one strided
view of that buffer, copied in a single pass. The price: outputs are computed on the whole
padded width (Wp columns per output row, of which the last Wp - W_out are thrown away), a
few percent more work.

    cols[c, k, g] = x_flat[c, g + offset_k]        g over out_rows * Wp grid positions
    y_grid        = W (O, C*K) @ cols (C*K, G)     y[n] = the valid columns of y_grid
    gW^T         += cols @ gy_grid^T               (gy_grid is zero outside the valid columns)
    gx            = the same forward, of gy padded by d(K-1) - pad, with W flipped and its
                    two channel axes swapped (the input gradient of a stride-1 convolution
                    is a "full" convolution of the output gradient)

The buffers stay in the core's cache between the copy and the product, the output comes
out in (N, C, H, W) order with no transpose, and the batch is split over threads that each
run a single-threaded matrix product. No window matrix is kept between forward and
backward: backward rebuilds a few samples' at a time, which costs less than keeping a
batch-sized one in memory. The same code serves 1-, 2- and 3-D convolutions.
"""

from __future__ import annotations

from .. import backend
from ..backend import array_module, on_cpu, parallel_for
from .conv_geometry import Geometry, Needs, Path, Saved, full_pads, transposed_kernel
from .im2col import prod


class Grid:
    """Geometry of one padded sample laid flat: the window view, grid size, valid columns."""

    def __init__(self, spatial, kernel, dilation, pads, out) -> None:
        self.padded = tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pads, strict=True))
        self.pads, self.spatial, self.out = tuple(pads), tuple(spatial), tuple(out)
        self.kernel, self.dilation = tuple(kernel), tuple(dilation)
        flat_strides = [prod(self.padded[i + 1:]) for i in range(len(self.padded))]
        self.tap_strides = tuple(s * d for s, d in zip(flat_strides, dilation, strict=True))
        reach = sum((k - 1) * s for k, s in zip(kernel, self.tap_strides, strict=True))
        self.size = out[0] * flat_strides[0]  # grid positions: every output row at full padded width
        self.length = max(prod(self.padded), reach + self.size)  # room for the last tap's reads

    @staticmethod
    def of(g: Geometry) -> Grid:
        return Grid(g.spatial, g.kernel, g.dilation, g.pads, g.out)

    def buffer(self, xp, channels: int, samples: int, dtype):
        """A zeroed (C, samples, length) buffer: the padding written once, never again."""
        return xp.zeros((channels, samples, self.length), dtype=dtype)

    def interior(self, flat):
        """The unpadded samples inside a (C, S, length) buffer, as a (C, S, *spatial) view."""
        image = flat[:, :, :prod(self.padded)].reshape(flat.shape[:2] + self.padded)
        return image[(slice(None), slice(None)) + tuple(slice(lo, lo + n) for (lo, _), n in
                                                        zip(self.pads, self.spatial, strict=True))]

    def valid(self, grid):
        """The real outputs inside a (O, S, size) grid, as a (O, S, *out) view."""
        shaped = grid.reshape(grid.shape[:2] + (self.out[0],) + self.padded[1:])
        return shaped[(slice(None),) * 3 + tuple(slice(0, o) for o in self.out[1:])]

    def windows(self, flat):
        """Read-only view (C, *kernel, S, size) of a (C, S, length) buffer: the window matrix."""
        xp = array_module(flat)
        item = flat.itemsize
        return xp.lib.stride_tricks.as_strided(
            flat, (flat.shape[0],) + self.kernel + (flat.shape[1], self.size),
            (flat.strides[0],) + tuple(s * item for s in self.tap_strides) + (flat.strides[1], item),
            writeable=False)


MIN_AREA = 64  # padded pixels per sample; below, per-sample work costs more than it saves
MAX_WASTE = 1.35  # grid positions per real output; above, the thrown-away columns cost too much


GRID_COLUMNS = 512  # samples are taken together until a product has at least this many columns,
GRID_ELEMENTS = 2**17  # and a window matrix of at least this many values (a few rows: many columns)


def samples_per_product(grid: Grid, n_batch: int, bytes_per_column: int, rows: int = 1) -> int:
    """How many samples share one matrix product: enough columns to amortise BLAS's packing of
    the weights and Python's per-call cost, few enough that every thread gets work and the
    budget holds. `rows` is the window matrix's (channels x kernel positions)."""
    wanted = -(-max(GRID_COLUMNS, GRID_ELEMENTS // max(rows, 1)) // grid.size)
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
    together = samples_per_product(grid, n_batch, channels * taps * x.itemsize, channels * taps)

    def part(start: int, stop: int) -> None:
        flat = grid.buffer(xp, channels, together, x.dtype)
        inside, windows = grid.interior(flat), grid.windows(flat)
        cols = xp.empty((channels,) + grid.kernel + (together, grid.size), dtype=x.dtype)
        y_grid = xp.empty((n_out, together, grid.size), dtype=x.dtype)
        for first in range(start, stop, together):
            count = min(together, stop - first)
            samples = slice(first, first + count)
            inside[:, :count] = x[samples].swapaxes(0, 1)
            cols[..., :count, :] = windows[..., :count, :]
            xp.matmul(w_mat, cols[..., :count, :].reshape(channels * taps, -1),
                      out=y_grid[:, :count].reshape(n_out, -1))
            y[samples] = grid.valid(y_grid[:, :count]).swapaxes(0, 1)
            if bias is not None:
                y[samples] += bias.reshape(bias_shape)

    parallel_for(n_batch, part, min_size=1, elements=y.size * channels * taps, single_thread_blas=True, like=y)
    return y


def input_gradient(gy, w, grid: Grid):
    """gx (N, C, *spatial) from gy (N, O, *out): a stride-1 "full" convolution of gy with the
    transposed kernel."""
    pads = full_pads(grid.pads, grid.dilation, grid.kernel)
    return forward(gy, transposed_kernel(w), Grid(grid.out, grid.kernel, grid.dilation, pads, grid.spatial))


def weight_gradient(gy, x, w, grid: Grid):
    """gW (O, C, *kernel) = sum over samples of gy_grid @ cols^T."""
    xp = array_module(gy)
    n_out, channels, taps = w.shape[0], w.shape[1], prod(w.shape[2:])
    n_batch = gy.shape[0]
    partial_gw = {}
    together = samples_per_product(grid, n_batch, channels * taps * gy.itemsize, channels * taps)

    def part(start: int, stop: int) -> None:
        flat = grid.buffer(xp, channels, together, gy.dtype)
        inside, windows = grid.interior(flat), grid.windows(flat)
        cols = xp.empty((channels,) + grid.kernel + (together, grid.size), dtype=gy.dtype)
        gy_grid = xp.zeros((n_out, together, grid.size), dtype=gy.dtype)  # outside the valid columns: zero
        gy_valid = grid.valid(gy_grid)
        gw_t = xp.zeros((channels * taps, n_out), dtype=gy.dtype)
        for first in range(start, stop, together):
            count = min(together, stop - first)
            samples = slice(first, first + count)
            gy_valid[:, :count] = gy[samples].swapaxes(0, 1)
            inside[:, :count] = x[samples].swapaxes(0, 1)
            cols[..., :count, :] = windows[..., :count, :]
            gw_t += cols[..., :count, :].reshape(channels * taps, -1) @ gy_grid[:, :count].reshape(n_out, -1).T
        partial_gw[start] = gw_t

    parallel_for(n_batch, part, min_size=1, elements=gy.size * channels * taps, single_thread_blas=True, like=gy)
    return sum(partial_gw.values()).T.reshape(w.shape)


class FlatGrid(Path):
    """Stride 1, no groups, padding within the kernel's reach (so the input gradient is a
    convolution too), one window matrix per thread within the memory budget, on the CPU (a
    few samples per product, sized for a core's cache). Pays for images big enough and few
    enough thrown-away grid columns (measured on 2 cores, see benchmarks/README.md)."""

    name = "grid"
    cpu_only = True

    def applies(self, g: Geometry, xp, needs: Needs) -> bool:
        if not (on_cpu(xp) and g.groups == 1 and g.stride_one and g.within_reach):
            return False
        per_thread = max(g.out_channels, g.channels) * g.taps * prod(g.padded) * g.itemsize
        return per_thread * backend.num_threads() <= backend.memory_budget()

    def pays(self, g: Geometry, needs: Needs) -> bool:
        padded = g.padded
        return prod(padded) >= MIN_AREA and g.out[0] * prod(padded[1:]) <= MAX_WASTE * prod(g.out)

    def forward(self, x, w, bias, g: Geometry, needs: Needs):
        y = forward(x, w, Grid.of(g), bias)
        return y, (Saved(g, w, x=x if needs.weight else None) if needs.graph else None)

    def backward(self, gy, saved: Saved, needs: Needs):
        grid = Grid.of(saved.geometry)
        gx = input_gradient(gy, saved.w, grid) if needs.input else None
        gw = weight_gradient(gy, saved.x, saved.w, grid) if needs.weight else None
        return gx, gw


GRID = FlatGrid()
