"""The per-sample stride-1 convolution on the flat padded grid (ops/conv_grid.py): against
PyTorch on random shapes (1-, 2- and 3-D, padding, 'same', dilation, bias, batch sizes that
do not split evenly over threads), against the batch-wide window-matrix path, against
float64 central differences, and its memory and dispatch rules."""

from __future__ import annotations

import tracemalloc

import conv_path_checks as checks
import numpy
import pytest
from reference import check_grad, compare, needs_torch, torch

import convpool
from convpool import backend
from convpool.ops import conv_grid
from convpool.ops.conv import conv1d, conv2d, conv3d

if torch is not None:
    import torch.nn.functional as TF

CONV = {1: conv1d, 2: conv2d, 3: conv3d}


@pytest.fixture
def everywhere(monkeypatch):
    """Take the grid path for every stride-1, ungrouped conv, however small."""
    monkeypatch.setattr(conv_grid, "MAX_WASTE", float("inf"))
    monkeypatch.setattr(conv_grid, "MIN_AREA", 0)


def draw(seed: int) -> dict:
    rng = numpy.random.default_rng(5000 + seed)
    nd = 1 + seed % 3
    sizes, kernel, dilation = checks.draw_geometry(rng, nd, 12)
    padding = "same" if rng.random() < 0.25 else tuple(  # within the kernel's reach, as the grid path needs
        int(rng.integers(0, min(2, d * (k - 1)) + 1)) for k, d in zip(kernel, dilation, strict=True))
    return dict(nd=nd, batch=int(rng.integers(1, 8)), channels=int(rng.integers(1, 5)),
                out_channels=int(rng.integers(1, 5)), sizes=sizes, kernel=kernel, dilation=dilation,
                padding=padding, bias=bool(rng.random() < 0.7), dtype="float64" if seed % 2 == 0 else "float32")


@needs_torch
@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note that it pads a copy for even kernels
@pytest.mark.parametrize("seed", range(60))
def test_grid_conv_matches_torch(seed, everywhere):
    c = draw(seed)
    args = dict(padding=c["padding"], dilation=c["dilation"])
    if c["padding"] == "same":
        pads = tuple(convpool.shapes.same_padding(k, d) for k, d in zip(c["kernel"], c["dilation"], strict=True))
    else:
        pads = tuple((p, p) for p in c["padding"])
    assert conv_grid.applies((c["batch"], c["channels"]) + c["sizes"], (c["out_channels"], c["channels"]) + c["kernel"],
                             (1,) * c["nd"], pads, c["dilation"], 1, 8)
    ours = CONV[c["nd"]]
    theirs = getattr(TF, f"conv{c['nd']}d")
    compare(lambda *a: ours(*a, **args), lambda *a: theirs(*a, **args), *checks.arrays(c, seed), seed=seed)


@pytest.mark.parametrize("seed", range(12))
def test_grid_conv_equals_the_window_matrix_path(seed, everywhere, monkeypatch):
    """Same numbers (to rounding) as the batch-wide im2col path, output and all gradients."""
    c = draw(100 + seed)
    c["dtype"] = "float64"
    data = checks.arrays(c, seed)
    args = dict(padding=c["padding"], dilation=c["dilation"])
    grid = checks.output_and_gradients(CONV[c["nd"]], data, seed, **args)
    monkeypatch.setattr(conv_grid, "applies", lambda *a: False)
    for got, expected in zip(grid, checks.output_and_gradients(CONV[c["nd"]], data, seed, **args), strict=True):
        numpy.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("nd, padding, dilation", [(1, 2, 1), (2, 1, 1), (2, "same", 2), (3, 1, 1)])
def test_grid_conv_gradients_against_central_differences(nd, padding, dilation, everywhere):
    rng = numpy.random.default_rng(nd)
    sizes = (7, 6, 5)[:nd]
    x = rng.standard_normal((3, 2) + sizes)
    w = rng.standard_normal((3, 2) + (2,) * (nd - 1) + (3,))
    b = rng.standard_normal(3)
    assert check_grad(lambda x, w, b: CONV[nd](x, w, b, padding=padding, dilation=dilation), x, w, b)


@pytest.mark.parametrize("columns", [1, 90, 10_000])
def test_samples_taken_together_give_the_same_result(columns, everywhere, monkeypatch):
    """One sample per product, a few, or all a thread has: the same output and gradients."""
    rng = numpy.random.default_rng(3)
    x, w, b = rng.standard_normal((9, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    grid = conv_grid.Grid((6, 5), (3, 3), (1, 1), ((1, 1), (1, 1)), (6, 5))
    monkeypatch.setattr(conv_grid, "GRID_COLUMNS", columns)
    monkeypatch.setattr(conv_grid, "GRID_ELEMENTS", 0)
    together = conv_grid.samples_per_product(grid, 9, 3 * 9 * 8, 3 * 9)
    assert together == {1: 1, 90: 3, 10_000: -(-9 // backend.num_threads())}[columns]
    xt, wt, bt = (convpool.tensor(a, requires_grad=True) for a in (x, w, b))
    y = conv2d(xt, wt, bt, padding=1)
    y.backward(convpool.tensor(numpy.cos(numpy.arange(y.numel())).reshape(y.shape)))
    expected = [a.detach().numpy() for a in (y, xt.grad, wt.grad, bt.grad)]
    monkeypatch.setattr(conv_grid, "applies", lambda *a: False)
    xt, wt, bt = (convpool.tensor(a, requires_grad=True) for a in (x, w, b))
    y = conv2d(xt, wt, bt, padding=1)
    y.backward(convpool.tensor(numpy.cos(numpy.arange(y.numel())).reshape(y.shape)))
    for got, want in zip(expected, (y, xt.grad, wt.grad, bt.grad), strict=True):
        numpy.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_output_is_contiguous_and_backward_can_run_twice(everywhere):
    checks.check_backward_twice(8)


def test_only_the_needed_gradient_is_computed(everywhere):
    checks.check_only_needed_gradients(6)


def test_dispatch_rules():
    """Stride 1 and no groups only; tiny images, or grids mostly thrown away, keep the
    one-big-product path; one window matrix per thread must fit the memory budget."""
    big = ((128, 32, 28, 28), (32, 32, 3, 3))
    pads = ((1, 1), (1, 1))
    assert conv_grid.applies(*big, (1, 1), pads, (1, 1), 1, 4)
    assert not conv_grid.applies(*big, (2, 2), pads, (1, 1), 1, 4)
    assert not conv_grid.applies(*big, (1, 1), pads, (1, 1), 2, 4)
    assert conv_grid.applies((128, 1, 28, 28), (32, 1, 3, 3), (1, 1), pads, (1, 1), 1, 4)  # one channel too
    unpadded = ((0, 0), (0, 0))
    assert not conv_grid.applies((128, 6, 14, 14), (16, 6, 5, 5), (1, 1), unpadded, (1, 1), 1, 4)  # 140 for 100
    assert not conv_grid.applies((128, 128, 3, 3), (128, 128, 3, 3), (1, 1), pads, (1, 1), 1, 4)  # 5x5 padded
    assert not conv_grid.applies(*big, (1, 1), ((3, 3), (1, 1)), (1, 1), 1, 4)  # padding beyond the kernel
    assert conv_grid.applies(*big, (1, 1), ((4, 4), (1, 1)), (2, 1), 1, 4)  # ... within it once dilated
    per_thread = 32 * 9 * 30 * 30 * 4
    old = backend.memory_budget()
    try:
        convpool.set_memory_budget(per_thread * backend.num_threads() - 1)
        assert not conv_grid.applies(*big, (1, 1), pads, (1, 1), 1, 4)
    finally:
        convpool.set_memory_budget(old)


def test_peak_memory_is_per_sample_not_per_batch(everywhere):
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
    conv2d(x, w, padding=1).sum().backward()
    assert [(i["internal_api"], i["num_threads"]) for i in threadpoolctl.threadpool_info()] == before
