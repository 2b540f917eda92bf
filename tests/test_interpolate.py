"""F.interpolate against PyTorch in every mode, on seeded random shapes, sizes and scale
factors (forward and input gradient, float64 to 1e-10, float32 to 1e-4), central
differences, and the argument errors."""

from __future__ import annotations

import numpy
import pytest
from reference import check_grad, compare, needs_torch, torch

import convpool
from convpool.ops.interpolate import interpolate

DTYPES = ["float64", "float32"]
MODE_DIMS = [("nearest", 1), ("nearest", 2), ("nearest", 3), ("nearest-exact", 1), ("nearest-exact", 2),
             ("nearest-exact", 3), ("linear", 1), ("bilinear", 2), ("bicubic", 2), ("trilinear", 3),
             ("area", 1), ("area", 2), ("area", 3)]
SCALES = [0.5, 1.5, 2.0, 3.0, 0.7, 1.3, 2.5, 1.0]


def _case(mode: str, nd: int, seed: int, dtype: str):
    rng = numpy.random.default_rng(900 + seed)
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 3))) + tuple(int(n) for n in rng.integers(2, 7, size=nd))
    x = rng.standard_normal(shape).astype(dtype)
    kwargs = {}
    if mode in ("linear", "bilinear", "bicubic", "trilinear"):
        kwargs["align_corners"] = bool(seed % 2)
    if seed % 3 == 0:
        kwargs["size"] = tuple(int(n) for n in rng.integers(1, 11, size=nd))
    else:
        kwargs["scale_factor"] = tuple(float(rng.choice(SCALES)) for _ in range(nd)) if seed % 3 == 1 else \
            float(rng.choice(SCALES))
        if seed % 4 == 2:
            kwargs["recompute_scale_factor"] = True
    return x, kwargs


def _torch_nearest_backward_shortcut(mode: str, x, kwargs) -> bool:
    """PyTorch's nearest backward copies straight through when an output size equals (or is
    twice) the input size, even when a scale_factor made its forward read other pixels; there
    convpool's gradient is the true adjoint of the forward, so the gradients differ."""
    if mode != "nearest" or "scale_factor" not in kwargs or kwargs.get("recompute_scale_factor"):
        return False
    nd = x.ndim - 2
    factors = kwargs["scale_factor"] if isinstance(kwargs["scale_factor"], tuple) else (kwargs["scale_factor"],) * nd
    for n, f in zip(x.shape[2:], factors, strict=True):
        out = int(numpy.floor(n * f))
        if (out == n and f != 1.0) or (out == 2 * n and f != 2.0):
            return True
    return False


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("mode,nd", MODE_DIMS, ids=[f"{m}-{n}d" for m, n in MODE_DIMS])
def test_interpolate_matches_torch(mode, nd, seed, dtype):
    x, kwargs = _case(mode, nd, seed, dtype)
    grad = not _torch_nearest_backward_shortcut(mode, x, kwargs)
    compare(lambda t: interpolate(t, mode=mode, **kwargs),
            lambda t: torch.nn.functional.interpolate(t, mode=mode, **kwargs), x, seed=seed, grad=grad)


@needs_torch
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_upsampling_an_image_by_two_matches_torch(mode, align_corners):
    x = numpy.random.default_rng(1).standard_normal((2, 3, 7, 5))
    compare(lambda t: interpolate(t, scale_factor=2, mode=mode, align_corners=align_corners),
            lambda t: torch.nn.functional.interpolate(t, scale_factor=2, mode=mode, align_corners=align_corners), x)


def test_nearest_by_two_repeats_each_pixel():
    x = convpool.tensor(numpy.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    numpy.testing.assert_array_equal(interpolate(x, scale_factor=2).numpy()[0, 0],
                                     [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])


@pytest.mark.parametrize("mode,nd", [("nearest", 2), ("linear", 1), ("bilinear", 2), ("bicubic", 2),
                                     ("trilinear", 3), ("area", 2), ("nearest-exact", 1)])
def test_gradient_matches_central_differences(mode, nd):
    x = numpy.random.default_rng(nd).standard_normal((1, 2) + (3,) * nd)
    kwargs = {"align_corners": True} if mode in ("linear", "bilinear", "bicubic", "trilinear") else {}
    check_grad(lambda t: interpolate(t, size=(5,) * nd, mode=mode, **kwargs), x)


def test_an_infinite_pixel_only_spoils_the_outputs_that_read_it():
    x = numpy.zeros((1, 1, 6))
    x[0, 0, 0] = numpy.inf
    y = interpolate(convpool.tensor(x), size=12, mode="linear").numpy()[0, 0]
    assert numpy.isinf(y[0]) and numpy.isfinite(y[3:]).all()


def test_argument_errors():
    x = convpool.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match=r"interpolate: give exactly one of size and scale_factor"):
        interpolate(x)
    with pytest.raises(ValueError, match=r"interpolate: give exactly one of size and scale_factor"):
        interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match=r"interpolate: mode='linear' needs a 3-D input, got 4-D"):
        interpolate(x, size=3, mode="linear")
    with pytest.raises(ValueError, match=r"align_corners can only be set with the interpolating modes"):
        interpolate(x, size=3, align_corners=True)
    with pytest.raises(ValueError, match=r"interpolate: mode must be one of"):
        interpolate(x, size=3, mode="cubic")
    with pytest.raises(ValueError, match=r"recompute_scale_factor is not meaningful with an explicit size"):
        interpolate(x, size=3, recompute_scale_factor=True)
    with pytest.raises(ValueError, match=r"size must be a positive int or 2 positive ints .* got size=\(3, 0\)"):
        interpolate(x, size=(3, 0))
    with pytest.raises(ValueError, match=r"scale_factor=0.1 gives output size \(0, 0\)"):
        interpolate(x, scale_factor=0.1)
    with pytest.raises(ValueError, match=r"antialias=True is not supported"):
        interpolate(x, size=3, mode="bilinear", antialias=True)
    with pytest.raises(ValueError, match=r"input must be 3-D, 4-D or 5-D"):
        interpolate(convpool.zeros(4, 4), size=3)
