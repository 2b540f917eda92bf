"""The tour's figures on photos of five shapes (tiny, portrait, panorama, grey, 4000x3000),
read as `convpool tour --image` reads them: no text may leave the canvas, and the widths the
page relies on stay. Also the stride figure's padding cells, whose number counts the
windows that read them as the legend says."""

from __future__ import annotations

import matplotlib.figure
import numpy
import pytest
from PIL import Image

from convpool.viz import tour_figures as figures
from convpool.viz import tour_numbers as numbers
from convpool.viz.style import DPI, texts_outside
from convpool.viz.tour import load_photo

SHAPES = {"tiny": (32, 32, "RGB"), "portrait": (512, 600, "RGB"), "panorama": (1600, 300, "RGB"),
          "grey": (200, 160, "L"), "large": (4000, 3000, "RGB")}


@pytest.fixture
def checked_figures(monkeypatch):
    """Every figure saved while the test runs: (its texts outside the canvas, its size in pixels)."""
    seen = []
    original = matplotlib.figure.Figure.savefig

    def checking(self, *args, **kwargs):
        seen.append((texts_outside(self), tuple(round(v * DPI) for v in self.get_size_inches())))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", checking)
    return seen


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_no_text_leaves_a_figure_on_any_photo_shape(tmp_path, checked_figures, shape):
    width, height, mode = SHAPES[shape]
    rng = numpy.random.default_rng(len(shape))
    pixels = rng.integers(0, 256, (height, width) if mode == "L" else (height, width, 3)).astype(numpy.uint8)
    path = tmp_path / f"{shape}.jpg"
    Image.fromarray(pixels, mode).save(path, quality=80)
    photo, _ = load_photo(path)
    red = photo[..., 0].astype(numpy.float64)
    window = numbers.one_window(red)
    centre = (window.row + 1, window.column + 1)
    made = {"photo": figures.photo_figure(photo, centre), "channels": figures.channels_figure(photo),
            "window": figures.window_figure(red, window), "kernels": figures.kernels_figure(photo),
            "pooling": figures.pooling_figure(photo)}
    assert len(checked_figures) == len(made)
    for (outside, size), (name, png) in zip(checked_figures, made.items(), strict=True):
        assert outside == [], f"{shape} photo {photo.shape}, figure {name}: {outside}"
        assert size[0] == figures.figure_size_pixels(name)[0], name  # the width stays; only the height may grow
        assert png[:8] == b"\x89PNG\r\n\x1a\n"



def test_padding_counts_in_the_grid_panel():
    from convpool.viz.style import pyplot

    figure, ax = pyplot().subplots()
    figures._grid_panel(ax, 7, 3, 3, 1)  # stride 3, padding 1: windows at 0, 3, 6 of the 9 padded cells
    counts = {(round(t.get_position()[1] - 0.5), round(t.get_position()[0] - 0.5)): t.get_text() for t in ax.texts}
    pyplot().close(figure)
    coverage = numpy.zeros((9, 9), dtype=int)
    for i in range(3):
        for j in range(3):
            coverage[i * 3:i * 3 + 3, j * 3:j * 3 + 3] += 1
    for cell in [(0, 0), (0, 4), (8, 8), (4, 0)]:  # padding cells: each read by one window
        assert counts[cell] == str(coverage[cell]) == "1"
