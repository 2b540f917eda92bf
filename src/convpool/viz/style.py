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
    fit_texts(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    pyplot().close(figure)
    data = buffer.getvalue()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)
    return data


def fit_texts(figure, rounds: int = 6, smallest: float = 6.0) -> None:
    """Keep every drawn text inside the canvas, whatever the photo's shape: a text too wide
    for its place gets a smaller font (down to `smallest` points), and text past the top or
    bottom makes the figure that much taller (its width, the one tests and pages rely on,
    stays). A few rounds, since the layout moves things each time."""
    for _ in range(rounds):
        outside = _outside(figure)
        if not outside:
            return
        width, height = figure.bbox.width, figure.bbox.height
        grow = 0.0
        for text, box in outside:
            if box.x0 < 0 or box.x1 > width:
                if text.get_fontsize() <= smallest and "\n" not in text.get_text():
                    text.set_text(_wrapped(text.get_text()))  # as small as it gets: two lines instead
                # the room its anchor leaves it: a centred text grows both ways, an aligned one away from its edge
                centre = (box.x0 + box.x1) / 2
                room = {"center": 2 * min(centre, width - centre), "left": width - box.x0,
                        "right": box.x1}.get(text.get_horizontalalignment(), width)
                factor = max(0.5, min(0.95, 0.97 * room / max(box.width, 1.0)))
                text.set_fontsize(max(smallest, text.get_fontsize() * factor))
            grow = max(grow, -box.y0, box.y1 - height)
        if grow > 0:
            inches_wide, inches_high = figure.get_size_inches()
            figure.set_size_inches(inches_wide, inches_high + (grow + 8) / figure.dpi)


def _wrapped(text: str) -> str:
    """text on two lines, broken at the space nearest its middle."""
    spaces = [i for i, c in enumerate(text) if c == " "]
    if not spaces:
        return text
    cut = min(spaces, key=lambda i: abs(i - len(text) / 2))
    return text[:cut] + "\n" + text[cut + 1:]


def texts_outside(figure, margin: float = 0.5) -> list[str]:
    """The drawn texts (titles, labels, tick labels, annotations) that reach past the edge of
    the figure's canvas, each as 'text' at its box in pixels; empty when all fit. Tick labels
    of ticks outside an axis's view are not drawn, so they do not count."""
    return [f"{text.get_text()[:40]!r} at x {box.x0:.0f}..{box.x1:.0f}, y {box.y0:.0f}..{box.y1:.0f} of "
            f"{figure.bbox.width:.0f}x{figure.bbox.height:.0f}" for text, box in _outside(figure, margin)]


def _outside(figure, margin: float = 0.5) -> list:
    """(text, its box in pixels) of each drawn text that reaches past the canvas."""
    from matplotlib.text import Text

    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    width, height = figure.bbox.width, figure.bbox.height
    tick_labels, drawn = set(), set()
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                tick_labels |= {id(tick.label1), id(tick.label2)}
            if not (axes.get_visible() and axes.axison and axis.get_visible()):
                continue
            for tick in axis._update_ticks():
                drawn |= {id(label) for label in (tick.label1, tick.label2) if label.get_visible()}
    outside = []
    for text in figure.findobj(Text):
        if not text.get_visible() or not text.get_text().strip() or (id(text) in tick_labels and id(text) not in drawn):
            continue
        box = text.get_window_extent(renderer)
        if box.x0 < -margin or box.y0 < -margin or box.x1 > width + margin or box.y1 > height + margin:
            outside.append((text, box))
    return outside
