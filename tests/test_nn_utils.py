"""convpool.nn.utils against torch.nn.utils: clip_grad_norm_ for every norm type (2, 1, inf,
fractional, 0), below and above max_norm, float32 and float64, on the CPU and the strict
stand-in GPU; the non-finite error; clip_grad_value_; and the parameter vector round trip."""

from __future__ import annotations

import math

import numpy
import pytest
from reference import REFERENCE_DEVICES, needs_torch, torch

import convpool
from convpool import nn
from convpool.nn import utils


def _pairs(dtype, device, seed=0, scale=1.0):
    """Three convpool parameters with gradients, one without, and torch's twins."""
    rng = numpy.random.default_rng(seed)
    shapes = [(3, 4), (5,), (2, 1, 3)]
    ours, theirs = [], []
    for shape in shapes:
        value, grad = rng.standard_normal(shape).astype(dtype), (scale * rng.standard_normal(shape)).astype(dtype)
        p = nn.Parameter(convpool.tensor(value)).to(device) if device != "cpu" else nn.Parameter(convpool.tensor(value))
        p.grad = convpool.tensor(grad.copy()).to(device)
        q = torch.nn.Parameter(torch.tensor(value))
        q.grad = torch.tensor(grad.copy())
        ours.append(p)
        theirs.append(q)
    ours.append(nn.Parameter(convpool.zeros(2, dtype=dtype)))  # no gradient: left out
    theirs.append(torch.nn.Parameter(torch.zeros(2, dtype=getattr(torch, dtype))))
    return ours, theirs


@needs_torch
@pytest.mark.parametrize("device", REFERENCE_DEVICES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 0.5, 3, 0])
@pytest.mark.parametrize("max_norm", [0.3, 1e3])
def test_clip_grad_norm_matches_torch(device, dtype, norm_type, max_norm):
    ours, theirs = _pairs(dtype, device)
    total_ours = utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type, foreach=True)
    total_theirs = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    assert total_ours.shape == () and total_ours.dtype == numpy.dtype(dtype)
    numpy.testing.assert_allclose(total_ours.item(), total_theirs.item(), rtol=rtol)
    for p, q in zip(ours, theirs, strict=True):
        if q.grad is None:
            assert p.grad is None
            continue
        assert p.grad.device == p.device
        numpy.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=rtol, atol=rtol * 1e-3)


@needs_torch
def test_clip_grad_norm_of_one_tensor_and_of_nothing():
    ours, theirs = _pairs("float64", "cpu", scale=10)
    total = utils.clip_grad_norm_(ours[0], 1.0)
    numpy.testing.assert_allclose(total.item(), torch.nn.utils.clip_grad_norm_(theirs[0], 1.0).item(), rtol=1e-12)
    numpy.testing.assert_allclose(numpy.linalg.norm(ours[0].grad.numpy()), 1.0, rtol=1e-5)
    assert utils.clip_grad_norm_([nn.Parameter(convpool.zeros(3))], 1.0).item() == 0.0


def test_non_finite_norm_is_an_error_only_when_asked():
    p = nn.Parameter(convpool.zeros(3, dtype="float64"))
    p.grad = convpool.tensor([1.0, float("nan"), 2.0], dtype="float64")
    with pytest.raises(RuntimeError, match="non-finite"):
        utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert numpy.isnan(utils.clip_grad_norm_([p], 1.0).item())
    with pytest.raises(TypeError, match=r"parameters\[0\] is a int"):
        utils.clip_grad_norm_([3], 1.0)


@needs_torch
@pytest.mark.parametrize("device", REFERENCE_DEVICES)
def test_clip_grad_value_matches_torch(device):
    ours, theirs = _pairs("float64", device, scale=2)
    assert utils.clip_grad_value_(ours, 0.7, foreach=False) is None
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, q in zip(ours[:3], theirs[:3], strict=True):
        numpy.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
        assert numpy.abs(p.grad.numpy()).max() <= 0.7


@needs_torch
def test_parameters_to_vector_and_back_match_torch():
    ours, theirs = _pairs("float64", "cpu")
    vec = utils.parameters_to_vector(ours)
    numpy.testing.assert_array_equal(vec.detach().numpy(), torch.nn.utils.parameters_to_vector(theirs).detach().numpy())
    for p in ours:
        p.grad = None
    vec.sum().backward()  # differentiable: every parameter gets a gradient of ones
    assert all(numpy.all(p.grad.numpy() == 1) for p in ours)
    new = convpool.arange(vec.numel()).double()
    utils.vector_to_parameters(new, ours)
    torch.nn.utils.vector_to_parameters(torch.arange(vec.numel()).double(), theirs)
    for p, q in zip(ours, theirs, strict=True):
        assert p.shape == tuple(q.shape)
        numpy.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    with pytest.raises(ValueError, match=r"shape \(3,\).*25 elements"):
        utils.vector_to_parameters(convpool.zeros(3), ours)
    with pytest.raises(TypeError, match="expected a convpool Tensor"):
        utils.vector_to_parameters(numpy.zeros(25), ours)
    assert convpool.nn.utils.clip_grad_norm_ is utils.clip_grad_norm_
