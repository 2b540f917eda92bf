"""One look for every figure: matplotlib without a screen, the same colour maps everywhere
(diverging and centred on zero for signed values such as kernels, gradients and feature maps
before ReLU; sequential for values that cannot be negative), one resolution."""

from __future__ import annotations

import io
from pathlib import Path

import numpy

SIGNED_CMAP = "RdBu_r"  # blue negative, white zero, red positive
UNSIGNED_CMAP = "viridis"
GREY_CMAP = "gray"
DPI = 110


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def color_limits(values: numpy.ndarray) -> dict:
    """imshow arguments for values: a diverging map symmetric about zero when any is negative,
    a sequential one from the minimum to the maximum otherwise (a constant map stays visible)."""
    values = numpy.asarray(values, dtype=numpy.float64)
    low, high = float(numpy.nanmin(values)), float(numpy.nanmax(values))
    if low < 0:
        bound = max(abs(low), abs(high)) or 1.0
        return {"cmap": SIGNED_CMAP, "vmin": -bound, "vmax": bound}
    if high == low:
        high = low + 1.0
    return {"cmap": UNSIGNED_CMAP, "vmin": low, "vmax": high}


def save(figure, path: str | Path | None = None) -> bytes:
    """Render a figure to PNG bytes, write them to path if given, and close the figure."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    pyplot().close(figure)
    data = buffer.getvalue()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)
    return data
