"""F.embedding and F.one_hot against PyTorch: lookups of any index shape, the weight
gradient with repeated indices, padding_idx, scale_grad_by_freq and max_norm; errors."""

from __future__ import annotations

import numpy
import pytest
from reference import compare, needs_torch, torch

import convpool
from convpool.ops.embedding import embedding, one_hot

DTYPES = ["float64", "float32"]


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("config", [{}, {"padding_idx": 1}, {"padding_idx": -1}, {"scale_grad_by_freq": True},
                                    {"padding_idx": 0, "scale_grad_by_freq": True}])
def test_embedding_matches_torch(config, seed, dtype):
    rng = numpy.random.default_rng(1100 + seed)
    rows, dim = int(rng.integers(2, 8)), int(rng.integers(1, 5))
    index = rng.integers(0, rows, size=tuple(int(n) for n in rng.integers(1, 5, size=seed % 3 + 1)))
    weight = rng.standard_normal((rows, dim)).astype(dtype)
    compare(lambda i, w: embedding(i, w, **config), lambda i, w: torch.nn.functional.embedding(i, w, **config),
            index, weight, seed=seed)


@needs_torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_embedding_max_norm_renormalises_rows_in_place_like_torch(norm_type):
    rng = numpy.random.default_rng(3)
    weight = rng.standard_normal((6, 4)) * 3
    index = numpy.array([[0, 2, 2], [5, 0, 1]])
    ours, theirs = convpool.tensor(weight.copy()), torch.tensor(weight.copy())
    y = embedding(convpool.tensor(index), ours, max_norm=1.5, norm_type=norm_type)
    expected = torch.nn.functional.embedding(torch.tensor(index), theirs, max_norm=1.5, norm_type=norm_type)
    numpy.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=1e-12)
    numpy.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)  # rows 3 and 4 untouched


def test_embedding_errors():
    weight = convpool.zeros(4, 2)
    with pytest.raises(IndexError, match=r"embedding: index 4 is out of range for a weight with 4 rows"):
        embedding(convpool.tensor([0, 4]), weight)
    with pytest.raises(TypeError, match=r"embedding: input must hold integer indices"):
        embedding(convpool.tensor([0.0]), weight)
    with pytest.raises(ValueError, match=r"padding_idx must be an int in \[-4, 4\)"):
        embedding(convpool.tensor([0]), weight, padding_idx=4)


@needs_torch
@pytest.mark.parametrize("num_classes", [-1, 7])
def test_one_hot_matches_torch(num_classes):
    index = numpy.random.default_rng(0).integers(0, 5, size=(3, 4))
    ours = one_hot(convpool.tensor(index), num_classes)
    theirs = torch.nn.functional.one_hot(torch.tensor(index), num_classes)
    assert ours.dtype == numpy.int64
    numpy.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_one_hot_errors():
    with pytest.raises(ValueError, match=r"one_hot: class values must lie in \[0, 3\), got values from 0 to 3"):
        one_hot(convpool.tensor([0, 3]), 3)
    with pytest.raises(TypeError, match=r"one_hot: tensor must hold integer class indices"):
        one_hot(convpool.tensor([0.5]))
