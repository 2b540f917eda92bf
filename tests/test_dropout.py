"""Dropout cannot match PyTorch's random stream, so these tests check what defines it: the
keep rate, the exact 1/(1-p) scaling, identity when not training, whole-channel zeroing
for dropout1d/2d, the gradient (upstream times the same scaled mask), and the errors."""

from __future__ import annotations

import numpy
import pytest
from reference import check_grad

import convpool
from convpool.ops.dropout import alpha_dropout, dropout, dropout1d, dropout2d, dropout3d, feature_alpha_dropout


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_keep_rate_and_exact_scaling(p, dtype):
    convpool.manual_seed(1234)
    y = dropout(convpool.ones(400, 500, dtype=dtype), p).numpy()
    assert y.dtype == numpy.dtype(dtype)
    kept = y != 0
    # 200,000 Bernoulli draws: the standard error of the rate is below 0.0012
    assert abs(kept.mean() - (1 - p)) < 0.006
    numpy.testing.assert_array_equal(y[kept], numpy.asarray(1 / (1 - p), dtype=dtype))


@pytest.mark.parametrize("fn", [dropout, dropout1d, dropout2d])
def test_not_training_is_the_identity(fn):
    x = convpool.randn(2, 3, 4, 5)
    if fn is dropout1d:
        x = convpool.randn(2, 3, 4)
    assert fn(x, 0.7, training=False) is x


@pytest.mark.parametrize("fn,shape", [(dropout, (5, 6)), (dropout1d, (2, 3, 4)), (dropout2d, (2, 3, 4, 5))])
def test_p_zero_is_the_identity_and_p_one_gives_zeros(fn, shape):
    x = convpool.randn(*shape, requires_grad=True)
    assert fn(x, 0.0) is x
    y = fn(x, 1.0)
    assert y.dtype == x.dtype
    assert not y.detach().numpy().any()
    y.backward(convpool.ones(*shape))
    assert not x.grad.numpy().any()


@pytest.mark.parametrize("fn,shape", [
    (dropout, (6, 7)), (dropout, (2, 3, 4, 5)), (dropout1d, (4, 5, 6)), (dropout1d, (5, 6)),
    (dropout2d, (3, 4, 5, 6)), (dropout2d, (4, 5, 6)),
])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gradient_is_upstream_times_the_scaled_mask(fn, shape, dtype):
    convpool.manual_seed(7)
    rng = numpy.random.default_rng(0)
    x = convpool.tensor(rng.random(shape) + 0.5, dtype=dtype, requires_grad=True)
    p = 0.4
    y = fn(x, p)
    scale = numpy.asarray(1 / (1 - p), dtype=dtype)
    kept = y.detach().numpy() != 0  # x > 0 everywhere, so a zero output is a dropped element
    assert 0 < kept.mean() < 1
    numpy.testing.assert_array_equal(y.detach().numpy(), numpy.where(kept, x.detach().numpy() * scale, 0))
    upstream = rng.standard_normal(shape).astype(dtype)
    y.backward(convpool.tensor(upstream))
    assert x.grad.dtype == numpy.dtype(dtype)
    numpy.testing.assert_array_equal(x.grad.numpy(), upstream * (kept * scale))


@pytest.mark.parametrize("fn,shape,channel_axes", [
    (dropout1d, (8, 16, 9), 2), (dropout1d, (16, 9), 1),
    (dropout2d, (8, 16, 5, 7), 2), (dropout2d, (16, 5, 7), 1),
])
def test_whole_channels_are_zeroed(fn, shape, channel_axes):
    convpool.manual_seed(3)
    y = fn(convpool.ones(*shape), 0.5).numpy()
    per_channel = y.reshape(shape[:channel_axes] + (-1,))
    first = per_channel[..., :1]
    assert (per_channel == first).all(), "a channel was partly dropped"
    assert set(numpy.unique(first)) == {0.0, 2.0}


def test_channel_keep_rate():
    convpool.manual_seed(11)
    p = 0.3
    y = dropout2d(convpool.ones(200, 100, 2, 2), p).numpy()
    kept = y[:, :, 0, 0] != 0
    assert abs(kept.mean() - (1 - p)) < 0.015  # 20,000 channel draws


def test_same_seed_same_mask():
    x = convpool.ones(50, 60)
    convpool.manual_seed(5)
    a = dropout(x).numpy()
    convpool.manual_seed(5)
    b = dropout(x).numpy()
    c = dropout(x).numpy()
    numpy.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_gradient_matches_central_differences():
    """Reseeding inside the function makes every evaluation draw the same mask."""
    def fn(x):
        convpool.manual_seed(2)
        return dropout2d(x, 0.5)

    check_grad(fn, numpy.random.default_rng(0).standard_normal((2, 3, 2, 2)))


@pytest.mark.parametrize("fn", [dropout, dropout1d, dropout2d])
@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_p_out_of_range_is_a_value_error(fn, p):
    x = convpool.ones(2, 3, 4) if fn is not dropout2d else convpool.ones(2, 3, 4, 5)
    with pytest.raises(ValueError, match=r"p has to be between 0 and 1, got p="):
        fn(x, p)


@pytest.mark.parametrize("fn,shape,message", [
    (dropout1d, (2, 3, 4, 5), r"dropout1d: input must be 3-D \(N, C, L\) or 2-D \(C, L\), got 4-D"),
    (dropout1d, (5,), r"dropout1d: .* got 1-D with shape \(5,\)"),
    (dropout2d, (2, 3), r"dropout2d: input must be 4-D \(N, C, H, W\) or 3-D \(C, H, W\), got 2-D"),
])
def test_channel_dropout_rejects_wrong_ranks(fn, shape, message):
    with pytest.raises(ValueError, match=message):
        fn(convpool.ones(*shape), 0.5)


def test_integer_input_is_a_type_error():
    with pytest.raises(TypeError, match="floating point"):
        dropout(convpool.tensor([1, 2, 3]), 0.5)


# ----- dropout3d, alpha dropout ------------------------------------------------------------------
def test_dropout3d_zeroes_whole_channels_with_the_right_rate():
    convpool.manual_seed(3)
    y = dropout3d(convpool.ones(40, 50, 2, 3, 2), 0.3).numpy()
    per_channel = y.reshape(40, 50, -1)
    assert (per_channel.min(axis=2) == per_channel.max(axis=2)).all()  # all or nothing per channel
    assert abs((per_channel[:, :, 0] != 0).mean() - 0.7) < 0.05  # 2000 channels: standard error 0.01
    unbatched = dropout3d(convpool.ones(50, 2, 3, 2), 0.3).numpy().reshape(50, -1)
    assert (unbatched.min(axis=1) == unbatched.max(axis=1)).all()
    with pytest.raises(ValueError, match=r"dropout3d: input must be 5-D \(N, C, D, H, W\) or 4-D"):
        dropout3d(convpool.ones(2, 3, 4), 0.5)


@pytest.mark.parametrize("p", [0.2, 0.5])
@pytest.mark.parametrize("fn", [alpha_dropout, feature_alpha_dropout])
def test_alpha_dropout_keeps_zero_mean_and_unit_variance(fn, p):
    """The point of alpha dropout: a standardised input stays standardised."""
    convpool.manual_seed(5)
    x = convpool.tensor(numpy.random.default_rng(0).standard_normal((400, 500)))
    y = fn(x, p, training=True).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    alpha = 1.7580993408473766
    a = ((1 - p) * (1 + p * alpha ** 2)) ** -0.5
    dropped = numpy.isclose(y, -alpha * a + alpha * a * p)
    assert abs(dropped.mean() - p) < 0.01


@pytest.mark.parametrize("fn", [alpha_dropout, feature_alpha_dropout])
def test_alpha_dropout_gradient_is_a_times_the_mask_and_defaults_to_eval(fn):
    x = convpool.randn(20, 30, requires_grad=True)
    assert fn(x, 0.5) is x  # training=False by default, as in PyTorch
    assert fn(x, 0.0, training=True) is x
    convpool.manual_seed(2)
    p = 0.3
    a = ((1 - p) * (1 + p * 1.7580993408473766 ** 2)) ** -0.5
    y = fn(x, p, training=True)
    y.backward(convpool.ones(20, 30))
    grad = x.grad.numpy()
    assert set(numpy.unique(numpy.round(grad / a, 12))) <= {0.0, 1.0}
    kept = grad != 0
    alpha = 1.7580993408473766
    expected = numpy.where(kept, a * x.detach().numpy() + alpha * a * p, -alpha * a + alpha * a * p)
    numpy.testing.assert_allclose(y.detach().numpy(), expected, rtol=1e-6)
    zeros = fn(x, 1.0, training=True)
    assert not zeros.detach().numpy().any()


@pytest.mark.parametrize("fn", [dropout, dropout2d, alpha_dropout])
def test_inplace_is_accepted_and_the_input_is_kept(fn):
    x = convpool.ones(2, 3, 4, 5)
    y = fn(x, 0.5, training=True, inplace=True)
    assert y is not x and (x.numpy() == 1).all()
