"""Spatial transformers' sampling: F.affine_grid builds a sampling grid from affine matrices,
F.grid_sample reads an image at those (normalised, [-1, 1]) positions.

grid_sample follows PyTorch's CPU kernel (aten/src/ATen/native/GridSampler.h): a grid
coordinate g becomes a pixel position ((g + 1) / 2) (size - 1) with align_corners, else
((g + 1) size - 1) / 2; padding_mode 'border' clips it to the image, 'reflection' reflects
it at the edges (at the pixel centres with align_corners, else at the outer borders) and
then clips; 'zeros' leaves it, and taps outside the image read 0. Bilinear mode weighs the
four neighbouring pixels by the opposite areas; nearest mode takes the pixel at the
position rounded half to even.

Backward, side by side with the forward: the input gradient scatters g * weight into each
tap (np.add.at: several outputs may read one pixel); the grid gradient is the derivative of
the bilinear weights (sum over channels of g * value differences), times the derivative of
the padding transform (0 where clipped, -1 where reflected an odd number of times) and of
the unnormalisation. Nearest mode has a zero grid gradient, as in PyTorch.
"""

from __future__ import annotations

from ..backend import array_module
from ..tensor import Tensor
from .basic import matmul, reshape

MODES = ("bilinear", "nearest")
PADDING_MODES = ("zeros", "border", "reflection")


def affine_grid(theta: Tensor, size, align_corners: bool = False) -> Tensor:
    """Sampling positions of an affine map: theta (N, 2, 3) with size (N, C, H, W) gives a grid
    (N, H, W, 2) of (x, y); theta (N, 3, 4) with size (N, C, D, H, W) gives (N, D, H, W, 3).
    Built from a constant base grid and matmul, so theta's gradient comes from matmul."""
    size = tuple(int(n) for n in size)
    nd = len(size) - 2
    if nd not in (2, 3) or theta.ndim != 3 or theta.shape[1:] != (nd, nd + 1) or theta.shape[0] != size[0]:
        raise ValueError(f"affine_grid: theta must be (N, 2, 3) for a 4-D size or (N, 3, 4) for a 5-D size with the "
                         f"same N, got theta shape {theta.shape} and size {size}")
    if theta.dtype.kind != "f":
        raise TypeError(f"affine_grid: theta must be floating point, got {theta.dtype}")
    xp = array_module(theta.data)
    spatial = size[2:]
    axes = [_base_coordinates(n, align_corners, xp, theta.dtype) for n in reversed(spatial)]  # x first
    mesh = xp.meshgrid(*axes[::-1], indexing="ij")  # (D,) H, W arrays, slowest axis first
    base = xp.stack([m for m in reversed(mesh)] + [xp.ones_like(mesh[0])], axis=-1)  # (..., x, y, [z,] 1)
    base = Tensor(base.reshape(1, -1, nd + 1))
    grid = matmul(base, theta.transpose(1, 2))  # (N, prod(spatial), nd)
    return reshape(grid, (size[0],) + spatial + (nd,))


def _base_coordinates(n: int, align_corners: bool, xp, dtype):
    if n <= 1:
        return xp.zeros(max(n, 0), dtype=dtype)
    steps = xp.linspace(-1, 1, n, dtype=dtype)
    return steps if align_corners else steps * ((n - 1) / n)


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners: bool | None = None) -> Tensor:
    """Sample input (N, C, H, W) at grid (N, Ho, Wo, 2) (x then y, in [-1, 1]): (N, C, Ho, Wo).
    align_corners=None means False, as in PyTorch."""
    if mode not in MODES:
        raise ValueError(f"grid_sample: mode must be one of {MODES} (bicubic is not supported), got mode={mode!r}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"grid_sample: padding_mode must be one of {PADDING_MODES}, got padding_mode={padding_mode!r}")
    if input.ndim != 4 or grid.ndim != 4 or grid.shape[-1] != 2 or grid.shape[0] != input.shape[0]:
        raise ValueError(f"grid_sample: input must be (N, C, H, W) and grid (N, Ho, Wo, 2) with the same N "
                         f"(5-D volumes are not supported), got input {input.shape} and grid {grid.shape}")
    if input.dtype != grid.dtype or input.dtype.kind != "f":
        raise TypeError(f"grid_sample: input and grid must share a floating dtype, got {input.dtype} and {grid.dtype}")
    align_corners = bool(align_corners)
    xp = array_module(input.data)
    n, c, h, w = input.shape
    ix, x_mult = _source_position(grid.data[..., 0], w, padding_mode, align_corners, xp)
    iy, y_mult = _source_position(grid.data[..., 1], h, padding_mode, align_corners, xp)
    batch = xp.arange(n).reshape(n, 1, 1)
    channels_last = xp.moveaxis(input.data, 1, -1)  # (N, H, W, C): a tap reads all channels at once

    def read(y, x):
        inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        values = channels_last[batch, xp.clip(y, 0, h - 1), xp.clip(x, 0, w - 1)]  # (N, Ho, Wo, C)
        return values * inside[..., None], inside

    if mode == "nearest":
        x0, y0 = xp.rint(ix).astype(xp.int64), xp.rint(iy).astype(xp.int64)
        values, inside = read(y0, x0)
        taps = [(y0, x0, xp.ones(ix.shape, dtype=input.dtype), inside)]
        out = values
    else:
        fx, fy = xp.floor(ix), xp.floor(iy)  # in the input's dtype, for the weights
        x0, y0 = fx.astype(xp.int64), fy.astype(xp.int64)
        x1, y1 = x0 + 1, y0 + 1
        wx1, wy1 = ix - fx, iy - fy  # distances from the north-west corner
        wx0, wy0 = (fx + 1) - ix, (fy + 1) - iy
        corners = [(y0, x0, wx0 * wy0), (y0, x1, wx1 * wy0), (y1, x0, wx0 * wy1), (y1, x1, wx1 * wy1)]
        out, taps, read_values = None, [], []
        for y, x, weight in corners:
            values, inside = read(y, x)
            read_values.append(values)
            taps.append((y, x, weight, inside))
            term = values * weight[..., None]
            out = term if out is None else out + term
    y_out = xp.ascontiguousarray(xp.moveaxis(out, -1, 1))

    def grad_fn(g):
        g_last = xp.moveaxis(g, 1, -1)  # (N, Ho, Wo, C)
        g_input = g_grid = None
        if input.requires_grad:
            g_flat = xp.zeros((n, h * w, c), dtype=g.dtype)
            for y, x, weight, inside in taps:
                flat = xp.where(inside, y * w + x, 0)
                xp.add.at(g_flat, (xp.broadcast_to(batch, flat.shape), flat), g_last * (weight * inside)[..., None])
            g_input = xp.moveaxis(g_flat.reshape(n, h, w, c), -1, 1)
        if grid.requires_grad:
            g_grid = xp.zeros(grid.shape, dtype=g.dtype)
            if mode == "bilinear":
                nw, ne, sw, se = read_values
                gx = ((ne - nw) * wy0[..., None] + (se - sw) * wy1[..., None]) * g_last
                gy = ((sw - nw) * wx0[..., None] + (se - ne) * wx1[..., None]) * g_last
                g_grid[..., 0] = gx.sum(axis=-1) * x_mult
                g_grid[..., 1] = gy.sum(axis=-1) * y_mult
        return g_input, g_grid

    return Tensor.from_op(y_out, (input, grid), grad_fn, "grid_sample")


def _source_position(coord, size: int, padding_mode: str, align_corners: bool, xp):
    """(pixel position, d position / d coord) for a normalised coordinate, after padding."""
    if align_corners:
        position, scale = (coord + 1) / 2 * (size - 1), (size - 1) / 2
    else:
        position, scale = ((coord + 1) * size - 1) / 2, size / 2
    slope = xp.full(coord.shape, scale, dtype=coord.dtype)
    if padding_mode == "reflection":
        if align_corners:
            position, sign = _reflect(position, 0, 2 * (size - 1), xp)
        else:
            position, sign = _reflect(position, -1, 2 * size - 1, xp)
        slope = slope * sign
    if padding_mode in ("border", "reflection"):
        inside = (position >= 0) & (position <= size - 1)
        position = xp.clip(position, 0, size - 1)
        slope = slope * inside
    return position, slope


def _reflect(position, twice_low: int, twice_high: int, xp):
    """PyTorch's reflect_coordinates_set_grad: reflect into [low, high], and the sign (+-1) of
    d reflected / d position."""
    if twice_low == twice_high:
        return xp.zeros_like(position), xp.zeros_like(position)
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    shifted = position - low
    sign = xp.where(shifted < 0, -1.0, 1.0).astype(position.dtype)
    shifted = xp.abs(shifted)
    extra = xp.fmod(shifted, span)
    flips = xp.floor(shifted / span)
    even = flips % 2 == 0
    return xp.where(even, extra + low, span - extra + low), xp.where(even, sign, -sign)
