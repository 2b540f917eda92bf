"""linear against PyTorch on seeded random shapes (leading dims 0-3, with and without bias),
against central differences, and its argument errors."""

from __future__ import annotations

import numpy
import pytest
from reference import check_grad, compare, needs_torch, torch

import convpool
from convpool.ops.linear import linear


def _draw(seed: int, dtype: str):
    """(x, w, b or None) with 0-3 leading dims and sizes 1-7."""
    rng = numpy.random.default_rng(seed)
    lead = tuple(int(n) for n in rng.integers(1, 5, size=rng.integers(0, 4)))
    in_features, out_features = (int(n) for n in rng.integers(1, 8, size=2))
    x = rng.standard_normal(lead + (in_features,)).astype(dtype)
    w = rng.standard_normal((out_features, in_features)).astype(dtype)
    b = rng.standard_normal(out_features).astype(dtype) if seed % 3 else None
    return x, w, b


@needs_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("seed", range(12))
def test_linear_matches_torch(seed, dtype):
    x, w, b = _draw(seed, dtype)
    if b is None:
        compare(linear, torch.nn.functional.linear, x, w, seed=seed)
    else:
        compare(linear, torch.nn.functional.linear, x, w, b, seed=seed)


@needs_torch
@pytest.mark.parametrize("grad_inputs", [(0,), (1,), (2,), (1, 2)])
def test_linear_matches_torch_when_only_some_inputs_need_grad(grad_inputs):
    x, w, b = _draw(1, "float64")
    compare(linear, torch.nn.functional.linear, x, w, b, grad_inputs=grad_inputs)


@pytest.mark.parametrize("seed", [0, 1, 4])
def test_gradient_matches_central_differences(seed):
    x, w, b = _draw(seed, "float64")
    if b is None:
        check_grad(linear, x, w)
    else:
        check_grad(linear, x, w, b)


def test_float32_stays_float32():
    x, w, b = _draw(2, "float32")
    xt, wt, bt = (convpool.tensor(a, requires_grad=True) for a in (x, w, b))
    y = linear(xt, wt, bt)
    assert y.dtype == numpy.float32
    y.backward(convpool.ones_like(y))
    assert {xt.grad.dtype, wt.grad.dtype, bt.grad.dtype} == {numpy.dtype("float32")}


def test_in_features_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"linear: input has in_features=5 \(last dim of input shape "
                                         r"\(3, 5\)\) but weight of shape \(4, 6\) expects in_features=6"):
        linear(convpool.zeros(3, 5), convpool.zeros(4, 6))


def test_bias_shape_mismatch():
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\) .* got \(3,\)"):
        linear(convpool.zeros(2, 6), convpool.zeros(4, 6), convpool.zeros(3))


def test_weight_must_be_2d():
    with pytest.raises(ValueError, match=r"weight must be 2-D \(out_features, in_features\), "
                                         r"got shape \(6,\)"):
        linear(convpool.zeros(2, 6), convpool.zeros(6))


def test_dtype_mismatch_is_a_type_error():
    with pytest.raises(TypeError, match=r"linear: dtypes must match, got input float32, weight float64"):
        linear(convpool.zeros(2, 3), convpool.zeros(4, 3, dtype="float64"))
