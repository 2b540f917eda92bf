"""batch_norm, layer_norm and group_norm against PyTorch (output, every gradient, and the
running statistics updated in place), against central differences, and their errors."""

from __future__ import annotations

import numpy
import pytest
from reference import REFERENCE_DEVICES, TOLERANCE, check_grad, compare, needs_torch, torch

import convpool
from convpool.ops.norm import (
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    local_response_norm,
    normalize,
    rms_norm,
)

DTYPES = ["float64", "float32"]


def _F():
    return torch.nn.functional


def _batch_case(seed: int, dtype: str):
    """Seeded (x, running_mean, running_var, weight, bias, momentum, eps) of rank 2-4."""
    rng = numpy.random.default_rng(seed)
    n, c = int(rng.integers(2, 5)), int(rng.integers(1, 5))
    spatial = tuple(int(s) for s in rng.integers(1, 5, size=seed % 3))
    x = (rng.standard_normal((n, c) + spatial) * rng.uniform(0.5, 3) + rng.uniform(-2, 2)).astype(dtype)
    running_mean = rng.standard_normal(c).astype(dtype)
    running_var = (rng.random(c) + 0.5).astype(dtype)
    weight = rng.standard_normal(c).astype(dtype)
    bias = rng.standard_normal(c).astype(dtype)
    momentum = float(rng.uniform(0.05, 0.9))
    eps = float(rng.choice([1e-5, 1e-3, 0.1]))
    return x, running_mean, running_var, weight, bias, momentum, eps


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(9))
def test_batch_norm_training_matches_torch_and_updates_running_stats(seed, dtype):
    x, rm, rv, w, b, momentum, eps = _batch_case(seed, dtype)
    affine = seed % 2 == 0
    tracked = seed % 4 != 3
    arrays = (x, w, b) if affine else (x,)
    for device in REFERENCE_DEVICES:  # fresh running statistics per device: the op updates them
        ours_stats = [convpool.tensor(rm, device=device), convpool.tensor(rv, device=device)] if tracked \
            else [None, None]
        theirs_stats = [torch.tensor(rm), torch.tensor(rv)] if tracked else [None, None]
        compare(lambda x, *wb, s=ours_stats: batch_norm(x, *s, *wb, training=True, momentum=momentum, eps=eps),
                lambda x, *wb, s=theirs_stats: _F().batch_norm(x, *s, *wb, training=True, momentum=momentum,
                                                               eps=eps),
                *arrays, seed=seed, devices=(device,))
        if tracked:
            rtol, atol = TOLERANCE[numpy.dtype(dtype)]
            for ours, theirs in zip(ours_stats, theirs_stats, strict=True):
                assert ours.dtype == numpy.dtype(dtype) and ours.device.type == device
                numpy.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=rtol, atol=atol)


@needs_torch
@pytest.mark.parametrize("which", ["both", "weight only", "bias only"])
def test_batch_norm_training_on_a_batch_split_over_threads(which):
    """Large enough for the channels to be shared out over threads (forward and backward),
    with weight and bias each present or absent."""
    rng = numpy.random.default_rng(7)
    x = rng.standard_normal((16, 9, 24, 23)) * 2 + 1
    assert x.size > convpool.backend.SERIAL_BELOW
    w, b = rng.standard_normal(9), rng.standard_normal(9)
    pick = {"both": (w, b), "weight only": (w, None), "bias only": (None, b)}[which]
    arrays = [a for a in pick if a is not None]

    def call(fn):
        def run(x, *given):
            given = iter(given)
            weight, bias = (next(given) if a is not None else None for a in pick)
            return fn(x, None, None, weight, bias, training=True)
        return run

    compare(call(batch_norm), call(_F().batch_norm), x, *arrays)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(6))
def test_batch_norm_eval_matches_torch(seed, dtype):
    x, rm, rv, w, b, momentum, eps = _batch_case(seed + 100, dtype)
    arrays = (x, w, b) if seed % 2 == 0 else (x,)
    compare(lambda x, *wb: batch_norm(x, convpool.tensor(rm, device=x.device), convpool.tensor(rv, device=x.device),
                                      *wb, eps=eps),
            lambda x, *wb: _F().batch_norm(x, torch.tensor(rm), torch.tensor(rv), *wb, eps=eps),
            *arrays, seed=seed)


def _layer_case(seed: int, dtype: str):
    rng = numpy.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 6, size=rng.integers(1, 5)))
    k = int(rng.integers(1, len(shape) + 1))
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    weight = rng.standard_normal(shape[len(shape) - k:]).astype(dtype)
    bias = rng.standard_normal(shape[len(shape) - k:]).astype(dtype)
    return x, shape[len(shape) - k:], weight, bias, float(rng.choice([1e-5, 1e-2]))


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(8))
def test_layer_norm_matches_torch(seed, dtype):
    x, normalized_shape, w, b, eps = _layer_case(seed, dtype)
    arrays = [(x, w, b), (x,), (x, w)][seed % 3]
    compare(lambda x, *wb: layer_norm(x, normalized_shape, *wb, eps=eps),
            lambda x, *wb: _F().layer_norm(x, normalized_shape, *wb, eps=eps), *arrays, seed=seed)


def _group_case(seed: int, dtype: str):
    rng = numpy.random.default_rng(seed)
    groups = int(rng.integers(1, 4))
    c = groups * int(rng.integers(1, 4))
    shape = (int(rng.integers(1, 4)), c) + tuple(int(s) for s in rng.integers(1, 5, size=seed % 3))
    x = (rng.standard_normal(shape) * 1.5 - 0.5).astype(dtype)
    return x, groups, rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(8))
def test_group_norm_matches_torch(seed, dtype):
    x, groups, w, b = _group_case(seed, dtype)
    if x.size // (x.shape[0] * groups) == 1:
        x, groups, w, b = _group_case(seed + 50, dtype)  # one value per group: all zeros, a dull case
    arrays = (x, w, b) if seed % 2 == 0 else (x,)
    compare(lambda x, *wb: group_norm(x, groups, *wb), lambda x, *wb: _F().group_norm(x, groups, *wb),
            *arrays, seed=seed)


# ----- always run -------------------------------------------------------------------------------
@pytest.mark.parametrize("axes", [(0,), (1,), (0, 2), (1, 2), (0, 1, 2)])
def test_normalize_gradient_matches_central_differences(axes):
    x = numpy.random.default_rng(len(axes)).standard_normal((3, 2, 4))
    check_grad(lambda t: normalize(t, axes, 1e-5)[0], x)


def test_normalize_gives_zero_mean_unit_variance():
    x = convpool.tensor(numpy.random.default_rng(0).standard_normal((5, 3, 4)) * 3 + 2)
    xhat, mean, var = normalize(x, (0, 2), 0.0)
    numpy.testing.assert_allclose(xhat.numpy().mean(axis=(0, 2)), 0, atol=1e-14)
    numpy.testing.assert_allclose(xhat.numpy().var(axis=(0, 2)), 1, rtol=1e-12)
    numpy.testing.assert_allclose(var.reshape(3), x.numpy().var(axis=(0, 2)), rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradient_matches_central_differences(training):
    x, rm, rv, w, b, _, _ = _batch_case(2, "float64")
    stats = (convpool.tensor(rm), convpool.tensor(rv)) if not training else (None, None)
    check_grad(lambda x, w, b: batch_norm(x, *stats, w, b, training=training), x, w, b)


def test_layer_norm_gradient_matches_central_differences():
    x, normalized_shape, w, b, eps = _layer_case(3, "float64")
    check_grad(lambda x, w, b: layer_norm(x, normalized_shape, w, b, eps), x, w, b)


def test_group_norm_gradient_matches_central_differences():
    x = numpy.random.default_rng(4).standard_normal((2, 6, 3))
    rng = numpy.random.default_rng(5)
    check_grad(lambda x, w, b: group_norm(x, 3, w, b), x, rng.standard_normal(6), rng.standard_normal(6))


def test_float32_stays_float32():
    x, rm, rv, w, b, momentum, eps = _batch_case(1, "float32")
    xt, wt, bt = (convpool.tensor(a, requires_grad=True) for a in (x, w, b))
    rmt, rvt = convpool.tensor(rm), convpool.tensor(rv)
    for y in (batch_norm(xt, rmt, rvt, wt, bt, training=True), batch_norm(xt, rmt, rvt, wt, bt),
              layer_norm(xt, x.shape[-1:]), group_norm(xt, 1, wt, bt)):
        assert y.dtype == numpy.float32
        y.backward(convpool.ones_like(y))
    assert {xt.grad.dtype, wt.grad.dtype, bt.grad.dtype, rmt.dtype, rvt.dtype} == {numpy.dtype("float32")}


def test_running_stats_update_in_place():
    x = convpool.tensor([[1.0, 10.0], [3.0, 20.0], [5.0, 30.0]], dtype="float64")
    rm, rv = convpool.zeros(2, dtype="float64"), convpool.ones(2, dtype="float64")
    mean_buffer, var_buffer = rm.data, rv.data
    batch_norm(x, rm, rv, training=True, momentum=0.5)
    assert rm.data is mean_buffer and rv.data is var_buffer
    numpy.testing.assert_allclose(rm.numpy(), [1.5, 10.0])  # 0.5 * 0 + 0.5 * batch mean
    numpy.testing.assert_allclose(rv.numpy(), [2.5, 50.5])  # unbiased batch var 4 and 100


# ----- errors ---------------------------------------------------------------------------------------
def test_batch_norm_errors():
    x = convpool.zeros(4, 3, 2)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean must have shape \(3,\) .* got \(2,\)"):
        batch_norm(x, convpool.zeros(2), convpool.ones(3))
    with pytest.raises(ValueError, match=r"batch_norm: weight must have shape \(3,\)"):
        batch_norm(x, None, None, weight=convpool.ones(4), training=True)
    with pytest.raises(ValueError, match=r"running_mean and running_var are needed when training=False"):
        batch_norm(x, None, None)
    with pytest.raises(ValueError, match=r"expected more than 1 value per channel when training, .*\(1, 3\)"):
        batch_norm(convpool.zeros(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match=r"at least 2 dims, got shape \(3,\)"):
        batch_norm(convpool.zeros(3), None, None, training=True)
    with pytest.raises(ValueError, match=r"expected more than 1 value per channel when training, .*\(1, 3, 1\)"):
        batch_norm(convpool.zeros(1, 3, 1), None, None, training=True)
    with pytest.raises(TypeError, match=r"momentum must be a float, got momentum=None"):
        batch_norm(x, convpool.zeros(3), convpool.ones(3), training=True, momentum=None)
    with pytest.raises(TypeError, match=r"dtypes must match, got input float32, weight float64"):
        batch_norm(x, None, None, weight=convpool.ones(3, dtype="float64"), training=True)


def test_layer_norm_errors():
    with pytest.raises(ValueError, match=r"input shape \(2, 3, 4\) does not end with "
                                         r"normalized_shape \(3,\)"):
        layer_norm(convpool.zeros(2, 3, 4), 3)
    with pytest.raises(ValueError, match=r"weight must have shape normalized_shape=\(3, 4\), got \(4,\)"):
        layer_norm(convpool.zeros(2, 3, 4), (3, 4), weight=convpool.ones(4))


def test_group_norm_errors():
    with pytest.raises(ValueError, match=r"the 6 channels of input shape \(2, 6, 5\) are not divisible by "
                                         r"num_groups=4"):
        group_norm(convpool.zeros(2, 6, 5), 4)
    with pytest.raises(ValueError, match=r"num_groups must be a positive int, got num_groups=0"):
        group_norm(convpool.zeros(2, 6, 5), 0)
    with pytest.raises(ValueError, match=r"group_norm: bias must have shape \(6,\)"):
        group_norm(convpool.zeros(2, 6, 5), 3, bias=convpool.zeros(3))


# ----- empty inputs: PyTorch's answers ----------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("training", [False, True])
def test_batch_norm_on_a_1d_empty_input_returns_it_like_torch(training):
    ours = batch_norm(convpool.zeros(0), convpool.zeros(0), convpool.ones(0), training=training)
    theirs = torch.nn.functional.batch_norm(torch.zeros(0), torch.zeros(0), torch.ones(0), training=training)
    assert ours.shape == tuple(theirs.shape) == (0,)


@needs_torch
@pytest.mark.parametrize("shape", [(0, 3, 2, 2), (4, 3, 0), (0, 3)])
def test_batch_norm_training_on_an_empty_batch_leaves_running_stats_like_torch(shape):
    """An empty batch in training gives an empty output and no running-statistics update
    (the refusal is only for exactly one value per channel)."""
    mean, var = numpy.array([1.0, -1.0, 0.5]), numpy.array([2.0, 3.0, 0.5])
    ours_mean, ours_var = convpool.tensor(mean.copy()), convpool.tensor(var.copy())
    theirs_mean, theirs_var = torch.tensor(mean.copy()), torch.tensor(var.copy())
    x = numpy.zeros(shape)
    y = batch_norm(convpool.tensor(x), ours_mean, ours_var, convpool.ones(3, dtype="float64"),
                   convpool.zeros(3, dtype="float64"), training=True)
    expected = TF().batch_norm(torch.tensor(x), theirs_mean, theirs_var, torch.ones(3, dtype=torch.float64),
                               torch.zeros(3, dtype=torch.float64), training=True)
    assert y.shape == tuple(expected.shape)
    numpy.testing.assert_array_equal(ours_mean.numpy(), theirs_mean.numpy())
    numpy.testing.assert_array_equal(ours_var.numpy(), theirs_var.numpy())


@needs_torch
@pytest.mark.parametrize("name", ["BatchNorm1d", "BatchNorm2d"])
def test_batch_norm_layer_on_an_empty_batch_counts_it_like_torch(name):
    shape = (0, 3) if name == "BatchNorm1d" else (0, 3, 2, 2)
    ours, theirs = getattr(convpool.nn, name)(3), getattr(torch.nn, name)(3)
    y = ours(convpool.zeros(*shape))
    expected = theirs(torch.zeros(*shape))
    assert y.shape == tuple(expected.shape)
    assert int(ours.num_batches_tracked.item()) == int(theirs.num_batches_tracked.item()) == 1
    numpy.testing.assert_array_equal(ours.running_mean.numpy(), theirs.running_mean.numpy())
    with pytest.raises(ValueError, match="expected more than 1 value per channel"):
        ours(convpool.zeros(*((1,) + shape[1:-2] + (1, 1)) if name == "BatchNorm2d" else (1, 3)))


# ----- instance norm and local response norm --------------------------------------------------
def _instance_case(seed: int, dtype: str):
    rng = numpy.random.default_rng(400 + seed)
    spatial = tuple(int(n) for n in rng.integers(2, 5, size=1 + seed % 3))
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 4))) + spatial
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    c = shape[1]
    return rng, x, rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("affine", [True, False])
def test_instance_norm_matches_torch(seed, dtype, affine):
    _, x, w, b = _instance_case(seed, dtype)
    if affine:
        compare(lambda t, w, b: instance_norm(t, weight=w, bias=b),
                lambda t, w, b: TF().instance_norm(t, weight=w, bias=b), x, w, b, seed=seed)
    else:
        compare(instance_norm, TF().instance_norm, x, seed=seed)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(3))
def test_instance_norm_running_stats_update_and_eval_match_torch(seed, dtype):
    rng, x, w, b = _instance_case(seed, dtype)
    c = x.shape[1]
    ours = [convpool.tensor(rng.standard_normal(c).astype(dtype)), convpool.tensor(rng.random(c).astype(dtype) + 0.5)]
    theirs = [torch.tensor(t.numpy().copy()) for t in ours]
    y = instance_norm(convpool.tensor(x), ours[0], ours[1], momentum=0.3)
    expected = TF().instance_norm(torch.tensor(x), theirs[0], theirs[1], momentum=0.3)
    rtol, atol = TOLERANCE[numpy.dtype(dtype)]
    numpy.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=rtol, atol=atol)
    for a, e in zip(ours, theirs, strict=True):
        numpy.testing.assert_allclose(a.numpy(), e.numpy(), rtol=rtol, atol=atol)
    compare(lambda t: instance_norm(t, ours[0].to(t.device), ours[1].to(t.device), use_input_stats=False),
            lambda t: TF().instance_norm(t, theirs[0], theirs[1], use_input_stats=False), x)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_local_response_norm_matches_torch(size, seed, dtype):
    rng = numpy.random.default_rng(500 + seed)
    shape = (2, int(rng.integers(1, 7))) + tuple(int(n) for n in rng.integers(1, 4, size=1 + seed % 3))
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    config = dict(alpha=float(rng.uniform(1e-4, 0.5)), beta=float(rng.uniform(0.5, 1.0)), k=float(rng.uniform(1, 2)))
    compare(lambda t: local_response_norm(t, size, **config), lambda t: TF().local_response_norm(t, size, **config),
            x, seed=seed)


def test_instance_and_local_response_norm_gradients_match_central_differences():
    rng = numpy.random.default_rng(9)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal(3), rng.standard_normal(3)
    check_grad(lambda t, w, b: instance_norm(t, weight=w, bias=b), x, w, b)
    check_grad(lambda t: local_response_norm(t, 3, alpha=0.3, beta=0.75, k=1.5), x)


def test_instance_and_local_response_norm_errors():
    with pytest.raises(ValueError, match=r"instance_norm: input must be \(N, C, \*\) with at least one spatial dim"):
        instance_norm(convpool.zeros(2, 3))
    with pytest.raises(ValueError, match=r"instance_norm: expected more than 1 spatial element"):
        instance_norm(convpool.zeros(2, 3, 1))
    with pytest.raises(ValueError, match=r"instance_norm: weight must have shape \(3,\)"):
        instance_norm(convpool.zeros(2, 3, 4), weight=convpool.ones(2))
    with pytest.raises(ValueError, match=r"local_response_norm: size must be a positive int, got size=0"):
        local_response_norm(convpool.zeros(2, 3, 4), 0)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("normalized_shape", [(4,), (3, 4)])
@pytest.mark.parametrize("eps", [None, 1e-3])
@pytest.mark.parametrize("with_weight", [True, False])
def test_rms_norm_matches_torch(normalized_shape, eps, with_weight, dtype):
    rng = numpy.random.default_rng(len(normalized_shape))
    x = rng.standard_normal((2, 3, 4)).astype(dtype)
    if with_weight:
        w = rng.standard_normal(normalized_shape).astype(dtype)
        compare(lambda t, w: rms_norm(t, normalized_shape, w, eps),
                lambda t, w: TF().rms_norm(t, normalized_shape, w, eps), x, w)
    else:
        compare(lambda t: rms_norm(t, normalized_shape, eps=eps), lambda t: TF().rms_norm(t, normalized_shape, eps=eps),
                x)


def TF():
    return torch.nn.functional
