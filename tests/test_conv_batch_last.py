"""Convolution of small images with the batch innermost (ops/conv_batch_last.py): against
PyTorch on random shapes (1-, 2- and 3-D, stride, padding, 'same', dilation, bias, float32 and
float64), against the window-matrix path, against float64 central differences, and its
dispatch rules."""

from __future__ import annotations

import conv_path_checks as checks
import numpy
import pytest
from reference import check_grad, compare, needs_torch, torch

import convpool
from convpool.ops import conv_batch_last, conv_grid
from convpool.ops.conv import conv1d, conv2d, conv3d

if torch is not None:
    import torch.nn.functional as TF

CONV = {1: conv1d, 2: conv2d, 3: conv3d}


@pytest.fixture
def everywhere(monkeypatch):
    """Take the batch-last path for every ungrouped conv, whatever its batch and row length."""
    monkeypatch.setattr(conv_grid, "applies", lambda *a: False)
    monkeypatch.setattr(conv_batch_last, "MIN_BATCH", 1)
    monkeypatch.setattr(conv_batch_last, "MAX_ROW", 10**9)


def draw(seed: int) -> dict:
    rng = numpy.random.default_rng(7000 + seed)
    nd = 1 + seed % 3
    sizes, kernel, dilation = checks.draw_geometry(rng, nd, 10)
    same = rng.random() < 0.2
    stride = (1,) * nd if same else tuple(int(rng.integers(1, 4)) for _ in range(nd))
    padding = "same" if same else tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    return dict(nd=nd, batch=int(rng.integers(1, 7)), channels=int(rng.integers(1, 5)),
                out_channels=int(rng.integers(1, 5)), sizes=sizes, kernel=kernel, stride=stride,
                dilation=dilation, padding=padding, bias=bool(rng.random() < 0.7),
                dtype="float64" if seed % 2 == 0 else "float32")


def kwargs(c: dict) -> dict:
    return dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"])


@needs_torch
@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note that it pads a copy for even kernels
@pytest.mark.parametrize("seed", range(48))
def test_batch_last_conv_matches_torch(seed, everywhere, monkeypatch):
    c = draw(seed)
    taken = []
    original = conv_batch_last.convolution
    monkeypatch.setattr(conv_batch_last, "convolution", lambda *a: taken.append(1) or original(*a))
    ours, theirs = CONV[c["nd"]], getattr(TF, f"conv{c['nd']}d")
    compare(lambda *a: ours(*a, **kwargs(c)), lambda *a: theirs(*a, **kwargs(c)), *checks.arrays(c, seed), seed=seed)
    assert taken  # the path under test ran


@pytest.mark.parametrize("seed", range(12))
def test_batch_last_conv_equals_the_window_matrix_path(seed, everywhere, monkeypatch):
    """Same numbers (to rounding) as the (sample, position)-ordered window matrix."""
    c = draw(100 + seed)
    c["dtype"] = "float64"
    data = checks.arrays(c, seed)
    batch_last = checks.output_and_gradients(CONV[c["nd"]], data, seed, **kwargs(c))
    monkeypatch.setattr(conv_batch_last, "applies", lambda *a: False)
    window_matrix = checks.output_and_gradients(CONV[c["nd"]], data, seed, **kwargs(c))
    for got, expected in zip(batch_last, window_matrix, strict=True):
        numpy.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("nd, stride, padding, dilation", [(1, 2, 1, 1), (2, 1, 1, 1), (2, 2, 1, 2), (2, 1, "same", 1),
                                                           (3, 1, 1, 1)])
def test_batch_last_conv_gradients_against_central_differences(nd, stride, padding, dilation, everywhere):
    rng = numpy.random.default_rng(nd * 7 + stride)
    sizes = (5, 4, 4)[:nd]
    x = rng.standard_normal((3, 2) + sizes)
    w = rng.standard_normal((3, 2) + (2,) * (nd - 1) + (3,))
    b = rng.standard_normal(3)
    assert check_grad(lambda x, w, b: CONV[nd](x, w, b, stride=stride, padding=padding, dilation=dilation), x, w, b)


def test_backward_can_run_twice_and_only_the_needed_gradient_is_computed(everywhere):
    checks.check_backward_twice(3)
    checks.check_only_needed_gradients(3)


def test_dispatch_rules(monkeypatch):
    """No groups, short output rows, a batch of at least MIN_BATCH, and the window matrix
    within the memory budget."""
    applies = conv_batch_last.applies
    assert applies((256, 128, 3, 3), (128, 128, 3, 3), (3, 3), 1, 4)  # fast-cnn's last conv
    assert not applies((256, 128, 3, 3), (128, 64, 3, 3), (3, 3), 2, 4)  # groups
    assert not applies((8, 128, 3, 3), (128, 128, 3, 3), (3, 3), 1, 4)  # a short batch
    assert not applies((256, 64, 16, 16), (64, 64, 3, 3), (16, 16), 1, 4)  # long rows copy fast as they are
    monkeypatch.setattr(convpool.backend, "memory_budget", lambda: 1024)
    assert not applies((256, 128, 3, 3), (128, 128, 3, 3), (3, 3), 1, 4)  # over the budget
