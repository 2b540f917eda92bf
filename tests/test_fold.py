"""F.unfold / F.fold and pixel (un)shuffle against PyTorch on seeded random geometries
(forward and input gradient), their adjointness, conv2d as a product with unfold, central
differences and the errors."""

from __future__ import annotations

import numpy
import pytest
from reference import check_grad, compare, needs_torch, torch

import convpool
from convpool.ops.conv import conv2d
from convpool.ops.fold import fold, unfold
from convpool.ops.shuffle import channel_shuffle, pixel_shuffle, pixel_unshuffle

DTYPES = ["float64", "float32"]


def _geometry(seed: int):
    rng = numpy.random.default_rng(1000 + seed)
    kernel = tuple(int(k) for k in rng.integers(1, 4, 2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, 2))
    padding = tuple(int(p) for p in rng.integers(0, 3, 2))
    stride = tuple(int(s) for s in rng.integers(1, 4, 2))
    size = tuple(int(d * (k - 1) + 1 + rng.integers(0, 6)) for k, d in zip(kernel, dilation, strict=True))
    return rng, dict(kernel_size=kernel, dilation=dilation, padding=padding, stride=stride), size


def _blocks(size, kernel_size, dilation, padding, stride):
    return int(numpy.prod([(n + 2 * p - d * (k - 1) - 1) // s + 1
                           for n, k, d, p, s in zip(size, kernel_size, dilation, padding, stride, strict=True)]))


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("batched", [True, False])
def test_unfold_matches_torch(seed, dtype, batched):
    rng, settings, size = _geometry(seed)
    shape = ((int(rng.integers(1, 3)),) if batched else ()) + (int(rng.integers(1, 4)),) + size
    x = rng.standard_normal(shape).astype(dtype)
    compare(lambda t: unfold(t, **settings), lambda t: torch.nn.functional.unfold(t, **settings), x, seed=seed)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("batched", [True, False])
def test_fold_matches_torch(seed, dtype, batched):
    rng, settings, size = _geometry(seed)
    channels = int(rng.integers(1, 4))
    rows = channels * int(numpy.prod(settings["kernel_size"]))
    shape = ((int(rng.integers(1, 3)),) if batched else ()) + (rows, _blocks(size, **settings))
    x = rng.standard_normal(shape).astype(dtype)
    compare(lambda t: fold(t, size, **settings), lambda t: torch.nn.functional.fold(t, size, **settings), x,
            seed=seed)


def test_fold_is_the_adjoint_of_unfold():
    """<unfold(x), c> == <x, fold(c)> for any x and c."""
    rng, settings, size = _geometry(3)
    x = rng.standard_normal((2, 3) + size)
    cols = unfold(convpool.tensor(x), **settings).numpy()
    c = rng.standard_normal(cols.shape)
    back = fold(convpool.tensor(c), size, **settings).numpy()
    assert numpy.isclose((cols * c).sum(), (x * back).sum(), rtol=1e-12)


def test_conv2d_is_a_product_with_unfold():
    rng = numpy.random.default_rng(5)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    cols = unfold(convpool.tensor(x), (3, 2), padding=1, stride=2)
    y = (convpool.tensor(w.reshape(4, -1)) @ cols).numpy()
    expected = conv2d(convpool.tensor(x), convpool.tensor(w), padding=1, stride=2).numpy()
    numpy.testing.assert_allclose(y.reshape(expected.shape), expected, rtol=1e-12)


def test_gradients_match_central_differences():
    rng, settings, size = _geometry(1)
    check_grad(lambda t: unfold(t, **settings), rng.standard_normal((1, 2) + size))
    rows = 2 * int(numpy.prod(settings["kernel_size"]))
    check_grad(lambda t: fold(t, size, **settings), rng.standard_normal((1, rows, _blocks(size, **settings))))


def test_fold_and_unfold_errors():
    with pytest.raises(ValueError, match=r"unfold: input must be 4-D \(N, C, H, W\) or 3-D \(C, H, W\)"):
        unfold(convpool.zeros(2, 3), 2)
    with pytest.raises(ValueError, match=r"unfold: kernel_size=\(5, 5\) .* does not fit"):
        unfold(convpool.zeros(1, 1, 3, 3), 5)
    with pytest.raises(ValueError, match=r"fold: dim 1 of input shape \(1, 5, 4\) must be divisible"):
        fold(convpool.zeros(1, 5, 4), (3, 3), 2)
    with pytest.raises(ValueError, match=r"fold: input shape \(1, 4, 5\) has 5 windows, but output_size"):
        fold(convpool.zeros(1, 4, 5), (3, 3), 2)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("factor", [1, 2, 3])
@pytest.mark.parametrize("lead", [(), (2,), (2, 3)])
def test_pixel_shuffle_and_unshuffle_match_torch(factor, lead, dtype):
    rng = numpy.random.default_rng(factor + len(lead))
    x = rng.standard_normal(lead + (2 * factor * factor, 3, 2)).astype(dtype)
    compare(lambda t: pixel_shuffle(t, factor), lambda t: torch.nn.functional.pixel_shuffle(t, factor), x)
    y = rng.standard_normal(lead + (2, 3 * factor, 2 * factor)).astype(dtype)
    compare(lambda t: pixel_unshuffle(t, factor), lambda t: torch.nn.functional.pixel_unshuffle(t, factor), y)


def test_pixel_unshuffle_inverts_pixel_shuffle_and_errors():
    x = convpool.tensor(numpy.random.default_rng(0).standard_normal((2, 8, 3, 3)))
    numpy.testing.assert_array_equal(pixel_unshuffle(pixel_shuffle(x, 2), 2).numpy(), x.numpy())
    with pytest.raises(ValueError, match=r"pixel_shuffle: .* must be divisible by 9"):
        pixel_shuffle(x, 3)
    with pytest.raises(ValueError, match=r"pixel_unshuffle: input must be \(\*, C, H, W\) with H and W divisible"):
        pixel_unshuffle(x, 2)
    with pytest.raises(ValueError, match=r"upscale_factor must be a positive int, got upscale_factor=0"):
        pixel_shuffle(x, 0)


@needs_torch
@pytest.mark.parametrize("groups", [1, 2, 3, 6])
@pytest.mark.parametrize("shape", [(2, 6, 3), (2, 6, 2, 3), (1, 12, 2, 1, 2)])
def test_channel_shuffle_matches_torch(groups, shape):
    if shape[1] % groups:
        return
    x = numpy.random.default_rng(groups).standard_normal(shape)
    compare(lambda t: channel_shuffle(t, groups), lambda t: torch.nn.functional.channel_shuffle(t, groups), x)
