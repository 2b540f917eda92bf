"""The stride-1 convolution on the flat padded grid (ops/conv_grid.py): how many samples share
a product, its rule in the table, its memory, and BLAS's thread count afterwards. Its numbers
against PyTorch and central differences are in test_conv_paths.py, with every other path's."""

from __future__ import annotations

import tracemalloc

import numpy
import pytest

import convpool
from convpool import backend
from convpool.ops import conv_grid, conv_paths
from convpool.ops.conv import conv2d
from convpool.ops.conv_geometry import Needs, geometry

TRAINING = Needs(input=True, weight=True, graph=True)


@pytest.mark.parametrize("columns", [1, 90, 10_000])
def test_samples_taken_together_give_the_same_result(columns, monkeypatch):
    """One sample per product, a few, or all a thread has: the same output and gradients."""
    rng = numpy.random.default_rng(3)
    x, w, b = rng.standard_normal((9, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    grid = conv_grid.Grid((6, 5), (3, 3), (1, 1), ((1, 1), (1, 1)), (6, 5))
    monkeypatch.setattr(conv_grid, "GRID_COLUMNS", columns)
    monkeypatch.setattr(conv_grid, "GRID_ELEMENTS", 0)
    together = conv_grid.samples_per_product(grid, 9, 3 * 9 * 8, 3 * 9)
    assert together == {1: 1, 90: 3, 10_000: -(-9 // backend.num_threads())}[columns]
    xt, wt, bt = (convpool.tensor(a, requires_grad=True) for a in (x, w, b))
    with conv_paths.forced("grid"):
        y = conv2d(xt, wt, bt, padding=1)
    y.backward(convpool.tensor(numpy.cos(numpy.arange(y.numel())).reshape(y.shape)))
    expected = [a.detach().numpy() for a in (y, xt.grad, wt.grad, bt.grad)]
    xt, wt, bt = (convpool.tensor(a, requires_grad=True) for a in (x, w, b))
    with conv_paths.forced("window_matrix"):
        y = conv2d(xt, wt, bt, padding=1)
    y.backward(convpool.tensor(numpy.cos(numpy.arange(y.numel())).reshape(y.shape)))
    for got, want in zip(expected, (y, xt.grad, wt.grad, bt.grad), strict=True):
        numpy.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-12, atol=1e-12)


def _rule(x_shape, w_shape, stride, pads, dilation=(1, 1), groups=1, itemsize=4):
    """(applies, pays) of the grid path on the CPU for one geometry."""
    g = geometry(x_shape, w_shape, stride, pads, dilation, groups, itemsize)
    return conv_grid.GRID.applies(g, numpy, TRAINING), conv_grid.GRID.pays(g, TRAINING)


def test_rules():
    """Applies: stride 1, no groups, padding within the kernel's reach, one window matrix per
    thread within the memory budget. Pays: images of MIN_AREA padded pixels or more, and no
    more than MAX_WASTE grid positions per real output."""
    big = ((128, 32, 28, 28), (32, 32, 3, 3))
    pads = ((1, 1), (1, 1))
    assert _rule(*big, (1, 1), pads) == (True, True)
    assert not _rule(*big, (2, 2), pads)[0]
    assert not _rule((128, 32, 28, 28), (32, 16, 3, 3), (1, 1), pads, groups=2)[0]
    assert _rule((128, 1, 28, 28), (32, 1, 3, 3), (1, 1), pads) == (True, True)  # one channel too
    unpadded = ((0, 0), (0, 0))
    assert _rule((128, 6, 14, 14), (16, 6, 5, 5), (1, 1), unpadded) == (True, False)  # 140 positions for 100
    assert _rule((128, 128, 3, 3), (128, 128, 3, 3), (1, 1), pads) == (True, False)  # 5x5 padded
    assert not _rule(*big, (1, 1), ((3, 3), (1, 1)))[0]  # padding beyond the kernel
    assert _rule(*big, (1, 1), ((4, 4), (1, 1)), dilation=(2, 1)) == (True, True)  # ... within it once dilated
    per_thread = 32 * 9 * 30 * 30 * 4
    old = backend.memory_budget()
    try:
        convpool.set_memory_budget(per_thread * backend.num_threads() - 1)
        assert not _rule(*big, (1, 1), pads)[0]
    finally:
        convpool.set_memory_budget(old)


def test_peak_memory_is_per_sample_not_per_batch():
    """No batch-sized window matrix: the forward's extra memory is the output plus small
    per-thread buffers."""
    rng = numpy.random.default_rng(6)
    x = convpool.tensor(rng.standard_normal((128, 8, 20, 20)))
    w = convpool.tensor(rng.standard_normal((4, 8, 3, 3)), requires_grad=True)
    output = 128 * 4 * 20 * 20 * 8
    batch_window_matrix = 128 * 8 * 9 * 20 * 20 * 8
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        with conv_paths.forced("grid"):
            y = conv2d(x, w, padding=1)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert y.shape == (128, 4, 20, 20)
    grid = conv_grid.Grid((20, 20), (3, 3), (1, 1), ((1, 1), (1, 1)), (20, 20))
    together = conv_grid.samples_per_product(grid, 128, 8 * 9 * 8, 8 * 9)
    per_thread = together * ((8 * 9 + 4) * grid.size + 8 * grid.length) * 8  # windows, product, flat samples
    assert peak <= 1.1 * (output + backend.num_threads() * per_thread), (peak, output, per_thread)
    assert peak < batch_window_matrix / 4


def test_blas_threads_are_restored():
    """The per-sample products run with one BLAS thread each; afterwards BLAS has its own
    count back."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [(i["internal_api"], i["num_threads"]) for i in threadpoolctl.threadpool_info()]
    rng = numpy.random.default_rng(7)
    x = convpool.tensor(rng.standard_normal((16, 32, 16, 16)).astype("float32"), requires_grad=True)
    w = convpool.tensor(rng.standard_normal((32, 32, 3, 3)).astype("float32"), requires_grad=True)
    with conv_paths.forced("grid"):
        y = conv2d(x, w, padding=1)
    y.sum().backward()
    assert [(i["internal_api"], i["num_threads"]) for i in threadpoolctl.threadpool_info()] == before
