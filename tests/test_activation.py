"""Activations against PyTorch (forward and gradient, float64 and float32), against central
differences, and the erfc behind the exact GELU against Python's math.erfc."""

from __future__ import annotations

import math

import numpy
import pytest
from reference import check_grad, compare, needs_torch, torch

import convpool
from convpool.ops import activation
from convpool.ops.activation import _erfc

DTYPES = ["float64", "float32"]
SEEDS = range(3)


def _random_input(seed: int, dtype: str, scale: float = 2.0) -> numpy.ndarray:
    """A seeded array of random rank (1-4) and random sizes (1-6)."""
    rng = numpy.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(1, 7, size=rng.integers(1, 5)))
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _kink_free(seed: int, shape=(3, 4)) -> numpy.ndarray:
    """Values at least 0.1 away from 0, so central differences never straddle a kink."""
    rng = numpy.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=shape) * (0.1 + rng.random(shape) * 2)


def _torch_f():
    return torch.nn.functional


# (name, ours, theirs) with any extra argument drawn from the seed
ELEMENTWISE = [
    ("relu", lambda s: activation.relu, lambda s: _torch_f().relu),
    ("leaky_relu", lambda s: (lambda x: activation.leaky_relu(x, 0.01 + 0.3 * s)),
     lambda s: (lambda x: _torch_f().leaky_relu(x, 0.01 + 0.3 * s))),
    ("elu", lambda s: (lambda x: activation.elu(x, 0.5 + s)),
     lambda s: (lambda x: _torch_f().elu(x, 0.5 + s))),
    ("gelu", lambda s: activation.gelu, lambda s: _torch_f().gelu),
    ("gelu_tanh", lambda s: (lambda x: activation.gelu(x, approximate="tanh")),
     lambda s: (lambda x: _torch_f().gelu(x, approximate="tanh"))),
    ("silu", lambda s: activation.silu, lambda s: _torch_f().silu),
    ("sigmoid", lambda s: activation.sigmoid, lambda s: torch.sigmoid),
    ("tanh", lambda s: activation.tanh, lambda s: torch.tanh),
    ("relu6", lambda s: activation.relu6, lambda s: _torch_f().relu6),
    ("hardtanh", lambda s: (lambda x: activation.hardtanh(x, -0.5 - s, 1.0 + s)),
     lambda s: (lambda x: _torch_f().hardtanh(x, -0.5 - s, 1.0 + s))),
    ("hardswish", lambda s: activation.hardswish, lambda s: _torch_f().hardswish),
    ("hardsigmoid", lambda s: activation.hardsigmoid, lambda s: _torch_f().hardsigmoid),
    ("softplus", lambda s: (lambda x: activation.softplus(x, 0.5 + s, 2.0 + 3 * s)),
     lambda s: (lambda x: _torch_f().softplus(x, 0.5 + s, 2.0 + 3 * s))),
    ("softplus_default", lambda s: activation.softplus, lambda s: _torch_f().softplus),
    ("softsign", lambda s: activation.softsign, lambda s: _torch_f().softsign),
    ("mish", lambda s: activation.mish, lambda s: _torch_f().mish),
    ("selu", lambda s: activation.selu, lambda s: _torch_f().selu),
    ("celu", lambda s: (lambda x: activation.celu(x, 0.5 + s)), lambda s: (lambda x: _torch_f().celu(x, 0.5 + s))),
    ("logsigmoid", lambda s: activation.logsigmoid, lambda s: _torch_f().logsigmoid),
    ("threshold", lambda s: (lambda x: activation.threshold(x, 0.3 * s - 0.2, -1.5)),
     lambda s: (lambda x: _torch_f().threshold(x, 0.3 * s - 0.2, -1.5))),
    ("tanhshrink", lambda s: activation.tanhshrink, lambda s: _torch_f().tanhshrink),
    ("softshrink", lambda s: (lambda x: activation.softshrink(x, 0.3 * s)),
     lambda s: (lambda x: _torch_f().softshrink(x, 0.3 * s))),
    ("hardshrink", lambda s: (lambda x: activation.hardshrink(x, 0.2 + 0.3 * s)),
     lambda s: (lambda x: _torch_f().hardshrink(x, 0.2 + 0.3 * s))),
    ("rrelu_eval", lambda s: (lambda x: activation.rrelu(x, 0.1, 0.2 + 0.1 * s)),
     lambda s: (lambda x: _torch_f().rrelu(x, 0.1, 0.2 + 0.1 * s))),
]


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name,ours,theirs", ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
def test_elementwise_matches_torch(name, ours, theirs, seed, dtype):
    x = _random_input(seed, dtype, scale=3.0)
    compare(ours(seed), theirs(seed), x, seed=seed)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,ours,theirs", ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
def test_elementwise_large_inputs_match_torch(name, ours, theirs, dtype):
    """Far tails: nothing overflows, and the tiny values stay right."""
    x = numpy.array([-80.0, -30.0, -9.0, -5.5, 5.5, 9.0, 30.0, 80.0], dtype=dtype)
    compare(ours(0), theirs(0), x)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_matches_torch(name, seed, dtype):
    x = _random_input(seed + 10, dtype, scale=3.0)
    dim = int(numpy.random.default_rng(seed).integers(-x.ndim, x.ndim))
    compare(lambda t: getattr(activation, name)(t, dim), lambda t: getattr(_torch_f(), name)(t, dim), x,
            seed=seed)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_huge_logits_match_torch(name, dtype):
    """Logits in the thousands: the max shift keeps exp finite."""
    x = (numpy.random.default_rng(7).standard_normal((4, 5)) * 1000).astype(dtype)
    compare(lambda t: getattr(activation, name)(t, 1), lambda t: getattr(_torch_f(), name)(t, 1), x)


@needs_torch
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_of_a_scalar_matches_torch(name):
    compare(lambda t: getattr(activation, name)(t, 0), lambda t: getattr(_torch_f(), name)(t, 0),
            numpy.array(1.5))


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shared", [True, False])
def test_prelu_matches_torch(seed, dtype, shared):
    rng = numpy.random.default_rng(seed)
    shape = (2, 3) + tuple(int(n) for n in rng.integers(1, 5, size=seed))
    x = rng.standard_normal(shape).astype(dtype)
    weight = rng.standard_normal(1 if shared else 3).astype(dtype)
    compare(activation.prelu, _torch_f().prelu, x, weight, seed=seed)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_glu_matches_torch(dim, dtype):
    x = numpy.random.default_rng(dim + 5).standard_normal((4, 6, 2)).astype(dtype)
    compare(lambda t: activation.glu(t, dim), lambda t: _torch_f().glu(t, dim), x)


def test_glu_rejects_an_odd_dim():
    with pytest.raises(ValueError, match=r"glu: dim 1 of input shape \(2, 3\) has odd size 3"):
        activation.glu(convpool.zeros(2, 3), 1)


@needs_torch
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("dim", [0, 1, 2])
def test_softmax_dtype_argument_casts_first_like_torch(name, dim):
    x = numpy.random.default_rng(dim).standard_normal((3, 4, 5)).astype("float32")
    out = compare(lambda t: getattr(activation, name)(t, dim, dtype=convpool.float64),
                  lambda t: getattr(_torch_f(), name)(t, dim, dtype=torch.float64), x)
    assert out.dtype == numpy.float64


@needs_torch
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("shape,dim", [((5, 0, 0), 1), ((5, 0, 0), 0), ((0,), 0), ((2, 0), 1), ((2, 0), 0)])
def test_softmax_of_an_empty_tensor_is_empty_like_torch(name, shape, dim):
    compare(lambda t: getattr(activation, name)(t, dim), lambda t: getattr(_torch_f(), name)(t, dim),
            numpy.zeros(shape))


@needs_torch
@pytest.mark.parametrize("layout", ["contiguous", "strided", "scalar"])
def test_relu_gradient_at_nan_passes_the_upstream_gradient_like_torch(layout):
    x = numpy.array([[numpy.nan, -1.0, 2.0, 0.0], [3.0, numpy.nan, -0.5, 1.0]])
    if layout == "scalar":
        x = numpy.array(numpy.nan)
    convert = (lambda t: t.T) if layout == "strided" else (lambda t: t)
    out = compare(lambda t: activation.relu(convert(t)), lambda t: _torch_f().relu(convert(t)), x)
    assert numpy.isnan(out.detach().numpy()).any()


@needs_torch
@pytest.mark.parametrize("name", ["relu", "relu6", "elu", "selu", "celu", "leaky_relu", "silu", "mish",
                                  "hardtanh", "hardswish", "hardsigmoid"])
def test_inplace_is_accepted_and_leaves_the_input_alone(name):
    x = numpy.random.default_rng(1).standard_normal((3, 4))
    before = x.copy()
    compare(lambda t: getattr(activation, name)(t, inplace=True), lambda t: getattr(_torch_f(), name)(t), x)
    numpy.testing.assert_array_equal(x, before)


def test_rrelu_in_training_draws_one_slope_per_negative_element():
    convpool.manual_seed(0)
    x = convpool.tensor(-numpy.ones((200, 100)), requires_grad=True)
    y = activation.rrelu(x, 0.1, 0.3, training=True)
    slopes = -y.detach().numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and abs(slopes.mean() - 0.2) < 0.002
    y.backward(convpool.ones(200, 100, dtype="float64"))
    numpy.testing.assert_array_equal(x.grad.numpy(), slopes)
    positive = convpool.tensor(numpy.ones(5))
    numpy.testing.assert_array_equal(activation.rrelu(positive, training=True).numpy(), numpy.ones(5))


# ----- always run: central differences, erfc, dtype, errors ------------------------------------
@pytest.mark.parametrize("name,fn", [
    ("relu", activation.relu),
    ("leaky_relu", lambda x: activation.leaky_relu(x, 0.2)),
    ("elu", lambda x: activation.elu(x, 1.3)),
    ("gelu", activation.gelu),
    ("gelu_tanh", lambda x: activation.gelu(x, approximate="tanh")),
    ("silu", activation.silu),
    ("sigmoid", activation.sigmoid),
    ("tanh", activation.tanh),
    ("relu6", lambda x: activation.relu6(x * 4)),
    ("hardtanh", lambda x: activation.hardtanh(x, -0.7, 1.2)),
    ("hardswish", lambda x: activation.hardswish(x * 2)),
    ("hardsigmoid", lambda x: activation.hardsigmoid(x * 2)),
    ("softplus", lambda x: activation.softplus(x, 2.0, 1.5)),
    ("softsign", activation.softsign),
    ("mish", activation.mish),
    ("selu", activation.selu),
    ("celu", lambda x: activation.celu(x, 0.7)),
    ("logsigmoid", activation.logsigmoid),
    ("threshold", lambda x: activation.threshold(x, 0.5, 2.0)),
    ("prelu", lambda x: activation.prelu(x, convpool.tensor(numpy.array([0.2, -0.3, 0.5, 1.5])))),
    ("glu", lambda x: activation.glu(x, 1)),
    ("softmin", lambda x: activation.softmin(x, 1)),
    ("tanhshrink", activation.tanhshrink),
    ("softshrink", lambda x: activation.softshrink(x, 0.05)),
    ("hardshrink", lambda x: activation.hardshrink(x, 0.05)),
    ("softmax0", lambda x: activation.softmax(x, 0)),
    ("softmax-1", lambda x: activation.softmax(x, -1)),
    ("log_softmax0", lambda x: activation.log_softmax(x, 0)),
    ("log_softmax1", lambda x: activation.log_softmax(x, 1)),
])
def test_gradient_matches_central_differences(name, fn):
    check_grad(fn, _kink_free(len(name)))


def test_erfc_matches_math_erfc_in_float64():
    z = numpy.concatenate([numpy.linspace(-27, 27, 20001), [0.0, 0.46875, -0.46875, 4.0, -4.0, 1e-200]])
    expected = numpy.array([math.erfc(v) for v in z])
    got = _erfc(z)
    assert got.dtype == numpy.float64
    numpy.testing.assert_allclose(got, expected, rtol=4e-15, atol=1e-300)  # subnormals lose digits


def test_erfc_float32_stays_float32_and_handles_inf_and_nan():
    z = numpy.array([-numpy.inf, -3.0, 0.2, 2.0, 12.0, numpy.inf, numpy.nan], dtype=numpy.float32)
    got = _erfc(z)
    assert got.dtype == numpy.float32
    numpy.testing.assert_allclose(got[:-1], [math.erfc(float(v)) for v in z[:-1]], rtol=2e-6, atol=1e-30)
    assert numpy.isnan(got[-1])


def test_exact_gelu_keeps_tiny_values_for_very_negative_inputs():
    """x * Phi(x) at x = -20 is about -5.5e-88; 1 + erf would round it to 0."""
    y = activation.gelu(convpool.tensor(numpy.array([-20.0]))).item()
    assert y == pytest.approx(-20.0 * 0.5 * math.erfc(20.0 / math.sqrt(2.0)), rel=1e-13)


@pytest.mark.parametrize("fn", [
    activation.relu, activation.gelu, activation.silu, activation.sigmoid, activation.tanh,
    lambda x: activation.leaky_relu(x, numpy.float64(0.1)), lambda x: activation.elu(x, numpy.float64(0.5)),
    lambda x: activation.gelu(x, approximate="tanh"), lambda x: activation.softmax(x, 1),
    lambda x: activation.log_softmax(x, 0),
])
def test_float32_stays_float32_through_forward_and_backward(fn):
    x = convpool.tensor(_kink_free(3).astype(numpy.float32), requires_grad=True)
    y = fn(x)
    assert y.dtype == numpy.float32
    y.backward(convpool.ones_like(y))
    assert x.grad.dtype == numpy.float32


def test_tensor_methods_call_these_activations():
    x = convpool.tensor(_kink_free(1))
    numpy.testing.assert_array_equal(x.relu().numpy(), activation.relu(x).numpy())
    numpy.testing.assert_array_equal(x.sigmoid().numpy(), activation.sigmoid(x).numpy())
    numpy.testing.assert_array_equal(x.tanh().numpy(), activation.tanh(x).numpy())


def test_gelu_rejects_an_unknown_approximation():
    with pytest.raises(ValueError, match=r"approximate must be 'none' or 'tanh', got approximate='fast'"):
        activation.gelu(convpool.zeros(3), approximate="fast")


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_rejects_a_dim_out_of_range(name):
    with pytest.raises(ValueError, match=rf"{name}: dim=2 is out of range for a tensor of shape \(3, 4\)"):
        getattr(activation, name)(convpool.zeros(3, 4), 2)
    with pytest.raises(TypeError, match="dim must be an int"):
        getattr(activation, name)(convpool.zeros(3, 4), 1.5)


@needs_torch
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("shape", [(4,), (2, 3), (2, 3, 4), (2, 3, 2, 2)])
def test_softmax_without_dim_takes_torchs_legacy_dim_with_a_warning(name, shape):
    x = numpy.random.default_rng(len(shape)).standard_normal(shape)
    with pytest.warns(UserWarning, match="implicit dimension choice"):
        ours = getattr(activation, name)(convpool.tensor(x))
    with pytest.warns(UserWarning):
        theirs = getattr(_torch_f(), name)(torch.tensor(x))
    numpy.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


def test_nan_propagates_like_torch():
    x = convpool.tensor(numpy.array([numpy.nan, -1.0, 2.0]))
    for fn in (activation.relu, activation.leaky_relu, activation.elu, activation.gelu, activation.sigmoid):
        assert numpy.isnan(fn(x).numpy()[0])


def test_softmax_accepts_a_numpy_integer_dim():
    x = convpool.tensor(_kink_free(2))
    expected = activation.softmax(x, 1).numpy()
    numpy.testing.assert_array_equal(activation.softmax(x, numpy.int64(1)).numpy(), expected)
