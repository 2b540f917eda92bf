"""The gradient checker itself: it must pass correct gradients and catch wrong ones,
otherwise every check_grad in the suite proves nothing."""

from __future__ import annotations

import numpy
import pytest
from reference import check_grad

import convpool
from convpool.gradcheck import gradcheck, numerical_grad
from convpool.tensor import Tensor


def _square(x: Tensor, factor: float = 2.0) -> Tensor:
    """x**2 with a gradient of factor*x: correct only for factor 2."""
    return Tensor.from_op(x.data ** 2, (x,), lambda g: (g * factor * x.data,), "square")


def _sin(x: Tensor, wrong: bool = False) -> Tensor:
    """sin, whose gradient is cos; the wrong version returns sin again."""
    deriv = numpy.sin if wrong else numpy.cos
    return Tensor.from_op(numpy.sin(x.data), (x,), lambda g: (g * deriv(x.data),), "sin")


def _mul(a: Tensor, b: Tensor, wrong_b: bool = False) -> Tensor:
    """a*b; the wrong version gives b the gradient a should get."""
    def grad_fn(g):
        return g * b.data, g * (b.data if wrong_b else a.data)
    return Tensor.from_op(a.data * b.data, (a, b), grad_fn, "mul")


def _inputs(*shapes, seed=0):
    rng = numpy.random.default_rng(seed)
    return [convpool.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]


def test_correct_gradients_pass():
    assert gradcheck(_square, _inputs((3, 4))) is True
    assert gradcheck(_sin, _inputs((5,))) is True
    assert gradcheck(_mul, _inputs((2, 3), (2, 3))) is True


def test_a_gradient_off_by_a_factor_is_caught():
    (x,) = _inputs((3, 4))
    with pytest.raises(AssertionError, match=r"gradcheck: gradient of input 0 \(shape \(3, 4\)\)"):
        gradcheck(lambda t: _square(t, factor=3.0), [x])


def test_a_slightly_wrong_gradient_is_caught():
    (x,) = _inputs((6,), seed=1)
    x.data = numpy.abs(x.data) + 0.5  # keep 2x away from zero so a 0.1% error is visible
    with pytest.raises(AssertionError, match="differs from central differences"):
        gradcheck(lambda t: _square(t, factor=2.002), [x])


def test_a_wrong_derivative_function_is_caught():
    with pytest.raises(AssertionError, match="gradient of input 0"):
        gradcheck(lambda t: _sin(t, wrong=True), _inputs((4,)))


def test_the_wrong_input_is_named():
    with pytest.raises(AssertionError, match="gradient of input 1"):
        gradcheck(lambda a, b: _mul(a, b, wrong_b=True), _inputs((3,), (3,), seed=2))


def test_a_missing_gradient_is_caught():
    (x,) = _inputs((3,))
    op = lambda t: Tensor.from_op(t.data * 3.0, (t,), lambda g: (None,), "dropped")  # noqa: E731
    with pytest.raises(AssertionError, match="gradient of input 0"):
        gradcheck(op, [x])


def test_a_wrong_gradient_is_caught_through_a_graph():
    # the bad op sits inside ordinary ops; the error still surfaces at the leaf
    def fn(x):
        return (_square(x * 2.0, factor=1.0) + x).sum()
    with pytest.raises(AssertionError):
        gradcheck(fn, _inputs((2, 2), seed=3))
    assert gradcheck(lambda x: (_square(x * 2.0) + x).sum(), _inputs((2, 2), seed=3))


def test_check_grad_helper_catches_wrong_gradients():
    x = numpy.random.default_rng(4).standard_normal((3, 2))
    assert check_grad(_square, x)
    with pytest.raises(AssertionError):
        check_grad(lambda t: _square(t, factor=-2.0), x)


def test_float32_inputs_are_refused():
    x = convpool.tensor(numpy.ones(3, dtype=numpy.float32), requires_grad=True)
    with pytest.raises(TypeError, match="input 0 must be float64, got float32"):
        gradcheck(_square, [x])


def test_non_contiguous_inputs_are_handled():
    base = numpy.random.default_rng(5).standard_normal((4, 6))
    x = convpool.tensor(base, requires_grad=True)
    x.data = x.data[:, ::2]  # a strided view: central differences must still perturb x itself
    assert not x.data.flags.c_contiguous
    assert gradcheck(_square, [x])
    with pytest.raises(AssertionError):
        gradcheck(lambda t: _square(t, factor=2.5), [x])


def test_inputs_are_restored_after_checking():
    (x,) = _inputs((3, 3), seed=6)
    before = x.data.copy()
    gradcheck(_sin, [x])
    numpy.testing.assert_array_equal(x.data, before)


def test_numerical_grad_of_a_known_function():
    x = convpool.tensor(numpy.array([0.3, -1.2, 2.0]), requires_grad=True)
    upstream = numpy.array([1.0, 2.0, -0.5])
    (g,) = numerical_grad(lambda t: t * t * t, [x], upstream)
    numpy.testing.assert_allclose(g, 3 * x.data ** 2 * upstream, rtol=1e-7)
