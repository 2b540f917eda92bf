"""Vector norms and what is built on them (F.normalize, cosine_similarity,
pairwise_distance) against PyTorch, forward and every input's gradient, and against central
differences; zero vectors get PyTorch's zero gradient."""

from __future__ import annotations

import math

import numpy
import pytest
from reference import check_grad, compare, needs_torch, torch

import convpool
from convpool.ops.vector import cosine_similarity, normalize, pairwise_distance, vector_norm

DTYPES = ["float64", "float32"]
P_VALUES = [2.0, 1.0, 3.0, 0.5, math.inf]


def _x(seed: int, dtype: str, shape=None):
    rng = numpy.random.default_rng(600 + seed)
    shape = shape or tuple(int(n) for n in rng.integers(1, 5, size=1 + seed % 3))
    return rng, (rng.standard_normal(shape) * 2).astype(dtype)


def TF():
    return torch.nn.functional


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("p", P_VALUES)
def test_vector_norm_matches_torch(p, seed, dtype):
    rng, x = _x(seed, dtype)
    dim = int(rng.integers(-x.ndim, x.ndim))
    keepdim = bool(seed % 2)
    compare(lambda t: vector_norm(t, p, dim, keepdim), lambda t: torch.linalg.vector_norm(t, p, dim, keepdim), x,
            seed=seed)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("p", P_VALUES)
def test_normalize_matches_torch(p, seed, dtype):
    rng, x = _x(seed, dtype, (3, 4, 2))
    dim = int(rng.integers(-3, 3))
    compare(lambda t: normalize(t, p, dim), lambda t: TF().normalize(t, p, dim), x, seed=seed)


@needs_torch
def test_normalize_of_a_zero_vector_matches_torch():
    x = numpy.array([[0.0, 0.0, 0.0], [1.0, -2.0, 2.0], [1e-13, 0.0, 0.0]])
    compare(lambda t: normalize(t, dim=1), lambda t: TF().normalize(t, dim=1), x)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(6))
def test_cosine_similarity_matches_torch(seed, dtype):
    rng = numpy.random.default_rng(700 + seed)
    shape = (int(rng.integers(1, 5)), int(rng.integers(1, 6)), int(rng.integers(1, 4)))
    x1 = rng.standard_normal(shape).astype(dtype)
    x2 = rng.standard_normal(shape[1:] if seed % 3 == 0 else shape).astype(dtype)  # some broadcast
    dim = [1, -1, 2][seed % 3] if seed % 3 else -2
    compare(lambda a, b: cosine_similarity(a, b, dim), lambda a, b: TF().cosine_similarity(a, b, dim), x1, x2,
            seed=seed)


@needs_torch
def test_cosine_similarity_with_a_tiny_vector_clamps_like_torch():
    x1 = numpy.array([[1e-10, 0.0], [1.0, 2.0]])
    x2 = numpy.array([[3.0, 4.0], [0.0, 0.0]])
    compare(lambda a, b: cosine_similarity(a, b, 1), lambda a, b: TF().cosine_similarity(a, b, 1), x1, x2)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("p", P_VALUES)
def test_pairwise_distance_matches_torch(p, seed, dtype):
    rng = numpy.random.default_rng(800 + seed)
    shape = (int(rng.integers(1, 5)), int(rng.integers(1, 6)))
    x1, x2 = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    keepdim = bool(seed % 2)
    compare(lambda a, b: pairwise_distance(a, b, p, keepdim=keepdim),
            lambda a, b: TF().pairwise_distance(a, b, p, keepdim=keepdim), x1, x2, seed=seed)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, math.inf])
def test_gradients_match_central_differences(p):
    rng = numpy.random.default_rng(int(p) if math.isfinite(p) else 9)
    x1 = rng.choice([-1.0, 1.0], (3, 4)) * (0.3 + rng.random((3, 4)))
    x2 = rng.standard_normal((3, 4))
    check_grad(lambda a: vector_norm(a, p, 1), x1)
    check_grad(lambda a: normalize(a, p, 1), x1)
    check_grad(lambda a, b: pairwise_distance(a, b, p), x1, x2)
    check_grad(lambda a, b: cosine_similarity(a, b, 0), x1, x2)


def test_bad_arguments_are_reported():
    with pytest.raises(ValueError, match=r"vector_norm: p must be a positive number or inf, got p=0"):
        vector_norm(convpool.ones(3), 0)
    with pytest.raises(ValueError, match=r"cosine_similarity: shapes \(2, 3\) and \(4,\) do not broadcast"):
        cosine_similarity(convpool.ones(2, 3), convpool.ones(4))
