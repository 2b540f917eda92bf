"""Many small pictures as one array: tiles in rows, a gap between them. One imshow (or one
PNG) instead of one subplot per tile, which is many times faster to draw. Used by explain's
figures, the tour's feature-map columns and the live view's pictures."""

from __future__ import annotations

import numpy


def mosaic(tiles: numpy.ndarray, columns: int, gap: int = 1, fill: float = numpy.nan,
           empty: float | None = None) -> numpy.ndarray:
    """Tiles (n, h, w) or (n, h, w, k) laid out in rows of `columns`, `gap` pixels of `fill`
    between two (NaN, the default, is drawn as the background), the cells after the last tile
    filled with `empty` (default: fill). No gap after the last row or column."""
    tiles = numpy.asarray(tiles)
    if tiles.ndim < 3 or columns < 1 or gap < 0:
        raise ValueError(f"mosaic: needs tiles (n, h, w[, k]), columns >= 1 and gap >= 0, got shape {tiles.shape}, "
                         f"columns={columns}, gap={gap}")
    count, height, width = tiles.shape[:3]
    rows = max(1, -(-count // columns))
    dtype = numpy.result_type(tiles.dtype, numpy.min_scalar_type(fill))
    out = numpy.full((rows * (height + gap) - gap, columns * (width + gap) - gap) + tiles.shape[3:], fill, dtype)
    for index in range(rows * columns):
        row, column = divmod(index, columns)
        cell = (slice(row * (height + gap), row * (height + gap) + height),
                slice(column * (width + gap), column * (width + gap) + width))
        if index < count:
            out[cell] = tiles[index]
        elif empty is not None:
            out[cell] = empty
    return out
