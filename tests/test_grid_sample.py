"""F.grid_sample and F.affine_grid against PyTorch (forward, input and grid gradients) over
every mode, padding mode and align_corners, with grids reaching outside the image; central
differences; errors."""

from __future__ import annotations

import numpy
import pytest
from reference import check_grad, compare, needs_torch, torch

import convpool
from convpool.ops.grid_sample import MODES, PADDING_MODES, affine_grid, grid_sample

DTYPES = ["float64", "float32"]


def _case(seed: int, dtype: str):
    rng = numpy.random.default_rng(1300 + seed)
    n, c = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    h, w = int(rng.integers(1, 7)), int(rng.integers(1, 7))
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    grid = rng.uniform(-1.5, 1.5, (n, int(rng.integers(1, 5)), int(rng.integers(1, 5)), 2)).astype(dtype)
    return x, grid


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", PADDING_MODES)
@pytest.mark.parametrize("mode", MODES)
def test_grid_sample_matches_torch(mode, padding_mode, align_corners, seed, dtype):
    x, grid = _case(seed, dtype)
    compare(lambda a, g: grid_sample(a, g, mode, padding_mode, align_corners),
            lambda a, g: torch.nn.functional.grid_sample(a, g, mode, padding_mode, align_corners), x, grid, seed=seed)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 3, 1), (1, 2, 3, 4, 2)])
@pytest.mark.filterwarnings("ignore:Since version 1.3.0, affine_grid behavior has changed")
def test_affine_grid_matches_torch(size, align_corners, dtype):
    nd = len(size) - 2
    theta = numpy.random.default_rng(nd).standard_normal((size[0], nd, nd + 1)).astype(dtype)
    compare(lambda t: affine_grid(t, size, align_corners), lambda t: torch.nn.functional.affine_grid(
        t, size, align_corners), theta)


@needs_torch
def test_a_spatial_transformer_step_matches_torch():
    """affine_grid then grid_sample, differentiated with respect to theta and the image."""
    rng = numpy.random.default_rng(5)
    x = rng.standard_normal((2, 3, 6, 5))
    theta = numpy.array([[[0.9, 0.1, 0.05], [-0.1, 1.1, 0.0]], [[1.0, 0.0, 0.2], [0.0, 0.8, -0.1]]])
    compare(lambda a, t: grid_sample(a, affine_grid(t, a.shape, False), align_corners=False),
            lambda a, t: torch.nn.functional.grid_sample(a, torch.nn.functional.affine_grid(t, a.shape, False),
                                                         align_corners=False), x, theta)


@pytest.mark.parametrize("padding_mode", PADDING_MODES)
def test_gradients_match_central_differences(padding_mode):
    rng = numpy.random.default_rng(2)
    x = rng.standard_normal((1, 2, 4, 5))
    grid = rng.uniform(-1.2, 1.2, (1, 3, 2, 2))
    check_grad(lambda a, g: grid_sample(a, g, "bilinear", padding_mode, True), x, grid)


def test_identity_grid_returns_the_image():
    x = convpool.tensor(numpy.random.default_rng(0).standard_normal((1, 2, 4, 6)))
    identity = convpool.tensor(numpy.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]))
    for align_corners in (False, True):
        y = grid_sample(x, affine_grid(identity, x.shape, align_corners), align_corners=align_corners)
        numpy.testing.assert_allclose(y.numpy(), x.numpy(), rtol=1e-12, atol=1e-12)


def test_errors():
    x = convpool.zeros(1, 2, 3, 3)
    with pytest.raises(ValueError, match=r"grid_sample: mode must be one of .* got mode='bicubic'"):
        grid_sample(x, convpool.zeros(1, 2, 2, 2), mode="bicubic")
    with pytest.raises(ValueError, match=r"grid_sample: input must be \(N, C, H, W\) and grid \(N, Ho, Wo, 2\)"):
        grid_sample(x, convpool.zeros(1, 2, 2, 3))
    with pytest.raises(ValueError, match=r"affine_grid: theta must be \(N, 2, 3\)"):
        affine_grid(convpool.zeros(1, 3, 3), (1, 2, 3, 3))
