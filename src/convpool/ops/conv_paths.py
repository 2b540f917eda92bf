"""The table of convolution paths, in the order they are tried, and the one place that
chooses among them.

A convolution takes the first path that applies (it can compute this geometry on this
array module with the gradients needed) and pays (its measured speed rule holds). The
order, and why:

1. `depthwise` (conv_depthwise.py, any device): groups == channels is the only case where
   every other path would copy each pixel K times to feed 1 x K products; shift and
   accumulate reads the input once per kernel position. First because it is the only path
   that is right for that shape, and the others' rules do not look at groups.
2. `grid` (conv_grid.py, CPU): stride 1 without groups, most layers of a CNN, a few samples
   at a time in cache, no batch-sized window matrix. Before the others because it is the
   fastest wherever its rule holds (images of 64 padded pixels or more, under 35% of the
   grid thrown away), and it covers 1-D stride-1 convolutions too.
3. `batch_last` (conv_batch_last.py, CPU): any stride without groups, for output rows under
   8 pixels and a batch of 16 or more, the small images the grid path leaves. After `grid`
   because the grid path wins on the images both could take.
4. `per_sample_1d` (conv_per_sample.py, CPU): 1-D convolutions the two above leave (strided,
   short rows in small batches), one sample's window matrix in cache.
5. `single_channel` (conv_per_sample.py, CPU): one input channel at inference; after
   `per_sample_1d`, which needs several channels, and before the generic path it speeds up.
6. `window_matrix` (conv_window.py, any device): the generic path, the window matrix and
   one product, chunked under the memory budget. Last because it always applies.

On a device the CPU-only paths do not apply (`backend.on_cpu`), so a convolution there runs
on `depthwise` or `window_matrix`. `forced(name)` makes the next convolutions take one path
whatever its speed rule says, and refuses a path that does not apply: tests use it to run
every path on the same cases.
"""

from __future__ import annotations

import contextlib
import contextvars

from .conv_batch_last import BATCH_LAST
from .conv_depthwise import DEPTHWISE
from .conv_geometry import Geometry, Needs, Path
from .conv_grid import GRID
from .conv_per_sample import PER_SAMPLE_1D, SINGLE_CHANNEL
from .conv_window import WINDOW_MATRIX

PATHS: list[Path] = [DEPTHWISE, GRID, BATCH_LAST, PER_SAMPLE_1D, SINGLE_CHANNEL, WINDOW_MATRIX]
BY_NAME = {path.name: path for path in PATHS}

_forced: contextvars.ContextVar[str | None] = contextvars.ContextVar("convpool_conv_path", default=None)


@contextlib.contextmanager
def forced(name: str):
    """Within the block, every convolution and transposed convolution op (not the convolutions
    a path runs inside itself) takes the path `name`; one it does not apply to raises a
    ValueError."""
    if name not in BY_NAME:
        raise ValueError(f"conv path: unknown path {name!r}; the paths are {', '.join(BY_NAME)}")
    token = _forced.set(name)
    try:
        yield BY_NAME[name]
    finally:
        _forced.reset(token)


def choose(g: Geometry, xp, needs: Needs) -> Path:
    """The first path in PATHS that applies and pays."""
    for path in PATHS:
        if path.applies(g, xp, needs) and path.pays(g, needs):
            return path
    raise AssertionError("conv path: the window-matrix path always applies")


def choose_outer(g: Geometry, xp, needs: Needs) -> Path:
    """The path for a convolution op: the forced one inside `forced(...)`, else `choose`."""
    name = _forced.get()
    if name is None:
        return choose(g, xp, needs)
    path = BY_NAME[name]
    if not path.applies(g, xp, needs):
        raise ValueError(
            f"conv path {name!r} does not apply to input {g.x_shape}, weight {g.w_shape}, stride {g.stride}, "
            f"pads {g.pads}, dilation {g.dilation}, groups {g.groups} on {xp.__name__} with "
            f"input gradient {needs.input}, weight gradient {needs.weight}")
    return path
