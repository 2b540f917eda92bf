"""The live view's pictures: any array (channels, kernels, a matrix, a vector) as a small
PNG of tiles, one byte a pixel with a colour map as its palette, so a picture is cheap to
make in a server thread."""

from __future__ import annotations

import io
import math

import numpy

from . import style
from .mosaic import mosaic

# pictures are enlarged by the whole factor that brings their long side nearest this many pixels:
# activations (the pictures to look at) largest, the input small
PICTURE_SIDE = {"auto": 440, "signed": 300, "grey": 200}
GAP_RGB = (200, 200, 200)  # between tiles: a grey that no colour map uses for zero

def tiles(array: numpy.ndarray) -> tuple[numpy.ndarray, int]:
    """Any array as small pictures (n, h, w) laid out in `columns`: channels (C, H, W) in a
    grid, conv kernels (out, in, kh, kw) one row per output channel (a grid when in is 1), a
    matrix as one picture (averaged down to at most 256 columns), a vector in rows of 32
    (NaN after its end)."""
    array = numpy.asarray(array, dtype=numpy.float32)
    if array.ndim <= 1:
        values = array.reshape(-1)
        width = max(1, min(32, values.size))
        padded = numpy.full(math.ceil(values.size / width) * width, numpy.nan, numpy.float32)
        padded[:values.size] = values
        return padded.reshape(1, -1, width), 1
    if array.ndim == 2:
        return _fit_columns(array, 256)[None], 1
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 3:
        return array, _columns(array.shape[0])
    if array.ndim == 4:
        out, inputs, h, w = array.shape
        return array.reshape(out * inputs, h, w), inputs
    return tiles(array.reshape(array.shape[0], array.shape[1], -1))


def _columns(count: int) -> int:
    """A grid a little wider than tall with no empty cell when one is near (32 -> 8 x 4)."""
    side = math.ceil(math.sqrt(count))
    return next((c for c in range(side, 2 * side + 1) if count % c == 0), side)


def _fit_columns(matrix: numpy.ndarray, limit: int) -> numpy.ndarray:
    """A wide matrix averaged down to `limit` columns (the min and max shown are the real ones)."""
    if matrix.shape[1] <= limit:
        return matrix
    edges = numpy.linspace(0, matrix.shape[1], limit + 1).astype(int)
    return numpy.add.reduceat(matrix, edges[:-1], axis=1) / numpy.diff(edges)[None, :]


_LUTS: dict[str, numpy.ndarray] = {}


LEVELS = 254  # colours of a map in a picture's palette; the last two entries are the line grey and white
_GAP, _WHITE = LEVELS, LEVELS + 1


def _palette(name: str) -> list[int]:
    """A PNG palette: LEVELS colours of a matplotlib colour map (the maps of every figure,
    viz.style), then the line grey and white. One byte a pixel keeps pictures cheap to make."""
    if name not in _LUTS:
        import matplotlib

        colours = matplotlib.colormaps[name](numpy.linspace(0, 1, LEVELS), bytes=True)[:, :3]
        _LUTS[name] = numpy.concatenate([colours, [GAP_RGB, (255, 255, 255)]]).astype(numpy.uint8)
    return _LUTS[name].reshape(-1).tolist()


def render_png(array: numpy.ndarray, mode: str) -> bytes:
    """A small PNG of an array: diverging and centred on zero ('signed', or 'auto' with a
    negative value), sequential from min to max ('auto' otherwise), or grey ('grey'), one
    scale for all its tiles; each value a square of whole pixels, thin grey lines between
    tiles, white where there is no value."""
    from PIL import Image

    stack, columns = tiles(array)
    finite = numpy.isfinite(stack)
    values = stack[finite]
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    if mode == "grey":
        limits = {"cmap": style.GREY_CMAP, "vmin": low, "vmax": high if high > low else low + 1}
    elif mode == "signed" or low < 0:
        bound = max(abs(low), abs(high)) or 1.0
        limits = {"cmap": style.SIGNED_CMAP, "vmin": -bound, "vmax": bound}
    else:
        limits = style.color_limits(values if values.size else numpy.zeros(1))
    scaled = (numpy.where(finite, stack, limits["vmin"]) - limits["vmin"]) / (limits["vmax"] - limits["vmin"])
    index = numpy.clip(numpy.rint(scaled * (LEVELS - 1)), 0, LEVELS - 1).astype(numpy.uint8)
    index[~finite] = _WHITE
    count, h, w = stack.shape
    rows = math.ceil(count / columns)
    factor = max(1, min(16, round(PICTURE_SIDE[mode] / max(columns * w, rows * h))))
    gap = 0 if count == 1 else 1 if factor < 3 else 2
    grid = mosaic(index.repeat(factor, axis=1).repeat(factor, axis=2), columns, gap, fill=_GAP, empty=_WHITE)
    image = Image.fromarray(numpy.ascontiguousarray(grid), "P")
    image.putpalette(_palette(limits["cmap"]))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
