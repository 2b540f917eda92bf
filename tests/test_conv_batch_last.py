"""Convolution of small images with the batch innermost (ops/conv_batch_last.py): against
PyTorch on random shapes (1-, 2- and 3-D, stride, padding, 'same', dilation, bias, float32 and
float64), against the window-matrix path, against float64 central differences, and its
dispatch rules."""

from __future__ import annotations

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
    sizes = tuple(int(s) for s in rng.integers(3, 10 if nd < 3 else 6, nd))
    kernel = tuple(int(rng.integers(1, min(4, s) + 1)) for s in sizes)
    dilation = tuple(int(rng.integers(1, 3)) if rng.random() < 0.3 else 1 for _ in range(nd))
    kernel = tuple(k if (k - 1) * d + 1 <= s else 1 for k, d, s in zip(kernel, dilation, sizes, strict=True))
    same = rng.random() < 0.2
    stride = (1,) * nd if same else tuple(int(rng.integers(1, 4)) for _ in range(nd))
    padding = "same" if same else tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    return dict(nd=nd, batch=int(rng.integers(1, 7)), channels=int(rng.integers(1, 5)),
                out_channels=int(rng.integers(1, 5)), sizes=sizes, kernel=kernel, stride=stride,
                dilation=dilation, padding=padding, bias=bool(rng.random() < 0.7),
                dtype="float64" if seed % 2 == 0 else "float32")


def arrays(c: dict, seed: int):
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((c["batch"], c["channels"]) + c["sizes"]).astype(c["dtype"])
    w = rng.standard_normal((c["out_channels"], c["channels"]) + c["kernel"]).astype(c["dtype"])
    b = rng.standard_normal(c["out_channels"]).astype(c["dtype"])
    return (x, w, b) if c["bias"] else (x, w)


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
    compare(lambda *a: ours(*a, **kwargs(c)), lambda *a: theirs(*a, **kwargs(c)), *arrays(c, seed), seed=seed)
    assert taken  # the path under test ran


@pytest.mark.parametrize("seed", range(12))
def test_batch_last_conv_equals_the_window_matrix_path(seed, everywhere, monkeypatch):
    """Same numbers (to rounding) as the (sample, position)-ordered window matrix."""
    c = draw(100 + seed)
    c["dtype"] = "float64"
    data = arrays(c, seed)

    def run():
        tensors = [convpool.tensor(a, requires_grad=True) for a in data]
        y = CONV[c["nd"]](*tensors, **kwargs(c))
        y.backward(convpool.tensor(numpy.random.default_rng(seed).standard_normal(y.shape)))
        return [y.detach().numpy()] + [t.grad.numpy() for t in tensors]

    batch_last = run()
    monkeypatch.setattr(conv_batch_last, "applies", lambda *a: False)
    for got, expected in zip(batch_last, run(), strict=True):
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
    rng = numpy.random.default_rng(4)
    x = convpool.tensor(rng.standard_normal((5, 2, 3, 3)), requires_grad=True)
    w = convpool.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    y = conv2d(x, w, padding=1)
    assert y.data.flags.c_contiguous and y.shape == (5, 3, 3, 3)
    y.sum().backward(retain_graph=True)
    first = x.grad.numpy().copy(), w.grad.numpy().copy()
    y.sum().backward()
    numpy.testing.assert_allclose(x.grad.numpy(), 2 * first[0], rtol=1e-12)
    numpy.testing.assert_allclose(w.grad.numpy(), 2 * first[1], rtol=1e-12)
    image = convpool.tensor(rng.standard_normal((4, 2, 3, 3)))
    w = convpool.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    conv2d(image, w, padding=1).sum().backward()
    assert image.grad is None and w.grad is not None
    x = convpool.tensor(rng.standard_normal((4, 2, 3, 3)), requires_grad=True)
    frozen = convpool.tensor(rng.standard_normal((3, 2, 3, 3)))
    conv2d(x, frozen, padding=1).sum().backward()
    assert frozen.grad is None and x.grad is not None


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
