"""adaptive_avg_pool3d, adaptive_max_pool3d and max_unpool3d against PyTorch (forward,
indices and input gradient) on seeded random shapes, equal and unequal windows."""

from __future__ import annotations

import numpy
import pytest
from reference import check_grad, compare, needs_torch, tie_free, torch

import convpool
from convpool.ops.pool import max_pool3d
from convpool.ops.pool3d import adaptive_avg_pool3d, adaptive_max_pool3d, max_unpool3d

DTYPES = ["float64", "float32"]


def _case(seed: int, dtype: str):
    rng = numpy.random.default_rng(1200 + seed)
    sizes = tuple(int(n) for n in rng.integers(2, 7, size=3))
    shape = ((int(rng.integers(1, 3)),) if seed % 2 else ()) + (int(rng.integers(1, 4)),) + sizes
    out = [tuple(int(rng.integers(1, n + 1)) for n in sizes), int(rng.integers(1, 4)),
           (None, int(rng.integers(1, 4)), None)][seed % 3]
    return tie_free(rng, shape, dtype), out


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(8))
def test_adaptive_pool3d_matches_torch(seed, dtype):
    x, out = _case(seed, dtype)
    compare(lambda t: adaptive_avg_pool3d(t, out), lambda t: torch.nn.functional.adaptive_avg_pool3d(t, out), x,
            seed=seed)
    compare(lambda t: adaptive_max_pool3d(t, out, return_indices=True),
            lambda t: torch.nn.functional.adaptive_max_pool3d(t, out, return_indices=True), x, seed=seed)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                    dict(kernel_size=(2, 1, 3), stride=(1, 2, 2))])
def test_max_unpool3d_matches_torch(config, dtype):
    rng = numpy.random.default_rng(7)
    x = tie_free(rng, (2, 3, 5, 6, 7), dtype)
    pooled, indices = max_pool3d(convpool.tensor(x), **config, return_indices=True)
    size = (5, 6, 7)
    compare(lambda t, i: max_unpool3d(t, i, **config, output_size=size),
            lambda t, i: torch.nn.functional.max_unpool3d(t, i, **config, output_size=size),
            pooled.numpy(), indices.numpy(), seed=2)


@needs_torch
def test_max_unpool3d_default_size_matches_torch():
    x = tie_free(numpy.random.default_rng(8), (2, 2, 4, 6, 2))
    pooled, indices = max_pool3d(convpool.tensor(x), 2, return_indices=True)
    compare(lambda t, i: max_unpool3d(t, i, 2), lambda t, i: torch.nn.functional.max_unpool3d(t, i, 2),
            pooled.numpy(), indices.numpy())


def test_gradients_match_central_differences():
    x = tie_free(numpy.random.default_rng(2), (1, 2, 5, 4, 3))
    check_grad(lambda t: adaptive_avg_pool3d(t, (2, 3, 2)), x)
    check_grad(lambda t: adaptive_max_pool3d(t, (2, 3, 2)), x)


def test_errors():
    with pytest.raises(ValueError, match=r"adaptive_avg_pool3d: input must be 5-D \(N, C, D, H, W\)"):
        adaptive_avg_pool3d(convpool.zeros(2, 3), 1)
    with pytest.raises(TypeError, match=r"output_size must be an int or a tuple of 3 ints"):
        adaptive_max_pool3d(convpool.zeros(1, 1, 2, 2, 2), (1, 1))
    with pytest.raises(ValueError, match=r"max_unpool3d: indices must lie in \[0, 64\)"):
        max_unpool3d(convpool.zeros(1, 1, 2, 2, 2), convpool.tensor(numpy.full((1, 1, 2, 2, 2), 99)), 2)
