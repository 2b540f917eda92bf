"""Max pooling's tie rule, pinned: when several pixels of a window share the largest value,
the first of them in PyTorch's scan order (row-major within the window) wins: it gets the
gradient and its index is returned, in every path (tiled, overlapping, padded, dilated,
adaptive, 1-D to 3-D). Inputs are made of a few repeated values so every window has ties;
a rule that picked the last largest, or split the gradient, fails these tests."""

from __future__ import annotations

import numpy
import pytest
from reference import compare, needs_torch, torch

import convpool
import convpool.functional as F

CASES = [
    ("max_pool1d", (2, 3, 9), dict(kernel_size=3)),
    ("max_pool1d", (2, 3, 9), dict(kernel_size=3, stride=1, padding=1)),
    ("max_pool2d", (2, 3, 6, 6), dict(kernel_size=2)),
    ("max_pool2d", (2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1)),
    ("max_pool2d", (2, 2, 7, 7), dict(kernel_size=2, stride=1, dilation=2)),
    ("max_pool2d", (1, 2, 5, 5), dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("max_pool3d", (1, 2, 4, 4, 4), dict(kernel_size=2)),
    ("max_pool3d", (1, 2, 5, 4, 5), dict(kernel_size=3, stride=1, padding=1)),
    ("adaptive_max_pool1d", (2, 3, 10), dict(output_size=4)),
    ("adaptive_max_pool2d", (2, 3, 7, 5), dict(output_size=(3, 2))),
    ("adaptive_max_pool2d", (2, 3, 6, 4), dict(output_size=(3, 2))),
    ("adaptive_max_pool3d", (1, 2, 5, 4, 6), dict(output_size=(2, 3, 4))),
    ("adaptive_max_pool3d", (1, 2, 4, 4, 4), dict(output_size=2)),
]


def _tied(shape, seed: int) -> numpy.ndarray:
    """Values from {0, 1, 2}: most windows hold their maximum more than once."""
    return numpy.random.default_rng(seed).integers(0, 3, size=shape).astype(numpy.float64)


@needs_torch
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name,shape,kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_first_largest_wins_like_torch(name, shape, kwargs, seed):
    x = _tied(shape, seed)
    ours = getattr(F, name)
    theirs = getattr(torch.nn.functional, name)
    compare(lambda t: ours(t, **kwargs, return_indices=True), lambda t: theirs(t, **kwargs, return_indices=True),
            x, seed=seed)


def test_the_gradient_goes_to_the_first_of_equal_values_by_hand():
    x = convpool.tensor(numpy.ones((1, 1, 2, 2)), requires_grad=True)
    y, indices = F.max_pool2d(x, 2, return_indices=True)
    y.backward(convpool.ones(1, 1, 1, 1, dtype="float64"))
    assert int(indices.item()) == 0
    numpy.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1.0, 0.0], [0.0, 0.0]])
