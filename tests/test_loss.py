"""Losses against PyTorch: cross_entropy over a product of (reduction, weight, smoothing)
and seeded random draws of rank, ignore_index and targets (class indices and
probabilities), nll_loss, mse_loss, binary_cross_entropy_with_logits, then l1, smooth L1,
Huber (with elementwise weights), binary cross-entropy on probabilities and KL divergence;
then central differences and the error messages."""

from __future__ import annotations

import warnings

import numpy
import pytest
from reference import check_grad, compare, needs_torch, torch

import convpool
from convpool.ops.loss import binary_cross_entropy_with_logits, cross_entropy, mse_loss, nll_loss

DTYPES = ["float64", "float32"]
REDUCTIONS = ["mean", "sum", "none"]


def _F():
    return torch.nn.functional


def _class_case(seed: int, dtype: str, ndim: int | None = None):
    """Seeded (logits, class targets, weight or None, ignore_index, reduction, label_smoothing).

    Some targets equal ignore_index (either -100 or a real class), but never all of them."""
    rng = numpy.random.default_rng(seed)
    ndim = [1, 2, 2, 3, 4][seed % 5] if ndim is None else ndim
    c = int(rng.integers(2, 6))
    if ndim == 1:
        shape, target_shape = (c,), ()
    else:
        n = int(rng.integers(1, 5))
        spatial = tuple(int(s) for s in rng.integers(1, 4, size=ndim - 2))
        shape, target_shape = (n, c) + spatial, (n,) + spatial
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    target = rng.integers(0, c, size=target_shape)
    ignore_index = -100 if rng.random() < 0.5 else int(rng.integers(0, c))
    if ignore_index == -100 and target.ndim:
        target[rng.random(target_shape) < 0.25] = -100
    target.reshape(-1)[0] = (max(ignore_index, 0) + 1) % c  # at least one item counts
    weight = (rng.random(c) + 0.2).astype(dtype) if rng.random() < 0.6 else None
    reduction = REDUCTIONS[int(rng.integers(0, 3))]
    smoothing = float(rng.choice([0.0, 0.1, 0.35]))
    return x, target, weight, ignore_index, reduction, smoothing


def _compare_class_loss(ours, theirs, x, target, weight, seed, **kwargs):
    if weight is None:
        compare(lambda x, t: ours(x, t, **kwargs), lambda x, t: theirs(x, t, **kwargs), x, target, seed=seed)
    else:  # weight is a constant: PyTorch refuses to differentiate with respect to it
        compare(lambda x, t, w: ours(x, t, weight=w, **kwargs),
                lambda x, t, w: theirs(x, t, weight=w, **kwargs), x, target, weight, seed=seed,
                grad_inputs=(0,))


# ----- cross_entropy with class indices --------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.6])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_grid_matches_torch(reduction, weighted, smoothing, dtype):
    rng = numpy.random.default_rng(0)
    x = (rng.standard_normal((6, 5)) * 2).astype(dtype)
    target = numpy.array([0, 4, -100, 2, 2, -100])
    weight = (rng.random(5) + 0.2).astype(dtype) if weighted else None
    _compare_class_loss(cross_entropy, _F().cross_entropy, x, target, weight, seed=1, reduction=reduction,
                        label_smoothing=smoothing)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(16))
def test_cross_entropy_random_draws_match_torch(seed, dtype):
    x, target, weight, ignore_index, reduction, smoothing = _class_case(seed, dtype)
    _compare_class_loss(cross_entropy, _F().cross_entropy, x, target, weight, seed=seed,
                        ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing)


@needs_torch
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_with_every_item_ignored_is_nan_like_torch(smoothing):
    x = numpy.random.default_rng(0).standard_normal((3, 4))
    target = numpy.array([-100, -100, -100])
    out = compare(lambda x, t: cross_entropy(x, t, label_smoothing=smoothing),
                  lambda x, t: _F().cross_entropy(x, t, label_smoothing=smoothing), x, target, grad=False)
    assert numpy.isnan(out.item())


# ----- cross_entropy with probability targets --------------------------------------------------
def _probability_case(seed: int, dtype: str):
    rng = numpy.random.default_rng(seed)
    x, _, weight, _, reduction, smoothing = _class_case(seed, dtype, ndim=[1, 2, 3, 4][seed % 4])
    target = rng.random(x.shape)
    target = (target / target.sum(axis=0 if x.ndim == 1 else 1, keepdims=True)).astype(dtype)
    return x, target, weight, reduction, smoothing


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(10))
def test_cross_entropy_probability_targets_match_torch(seed, dtype):
    x, target, weight, reduction, smoothing = _probability_case(seed, dtype)
    kwargs = dict(reduction=reduction, label_smoothing=smoothing)
    if weight is None:
        compare(lambda x, t: cross_entropy(x, t, **kwargs), lambda x, t: _F().cross_entropy(x, t, **kwargs),
                x, target, seed=seed)
    else:
        compare(lambda x, t, w: cross_entropy(x, t, weight=w, **kwargs),
                lambda x, t, w: _F().cross_entropy(x, t, weight=w, **kwargs),
                x, target, weight, seed=seed, grad_inputs=(0, 1))


# ----- nll_loss, mse_loss, binary_cross_entropy_with_logits -------------------------------------
@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(10))
def test_nll_loss_matches_torch(seed, dtype):
    x, target, weight, ignore_index, reduction, _ = _class_case(seed + 200, dtype)
    _compare_class_loss(nll_loss, _F().nll_loss, x, target, weight, seed=seed, ignore_index=ignore_index,
                        reduction=reduction)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(6))
def test_mse_loss_matches_torch(seed, dtype):
    rng = numpy.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 6, size=rng.integers(0, 4)))
    x, target = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    reduction = REDUCTIONS[seed % 3]
    compare(lambda x, t: mse_loss(x, t, reduction=reduction), lambda x, t: _F().mse_loss(x, t, reduction=reduction),
            x, target, seed=seed)


def _bce_case(seed: int, dtype: str):
    rng = numpy.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 6, size=rng.integers(1, 4)))
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    target = rng.random(shape).astype(dtype) if seed % 2 else rng.integers(0, 2, shape).astype(dtype)
    weight = [None, rng.random(shape), rng.random(shape[-1:])][seed % 3]
    pos_weight = rng.random(shape[-1:]) * 3 if seed % 4 < 2 else None
    weight = None if weight is None else weight.astype(dtype)
    pos_weight = None if pos_weight is None else pos_weight.astype(dtype)
    return x, target, weight, pos_weight, REDUCTIONS[seed % 3 if seed < 6 else (seed // 3) % 3]


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(12))
def test_binary_cross_entropy_with_logits_matches_torch(seed, dtype):
    x, target, weight, pos_weight, reduction = _bce_case(seed, dtype)
    constants = [a for a in (weight, pos_weight) if a is not None]

    def call(fn):
        def run(x, t, *rest):
            rest = list(rest)
            w = rest.pop(0) if weight is not None else None
            pw = rest.pop(0) if pos_weight is not None else None
            return fn(x, t, weight=w, reduction=reduction, pos_weight=pw)
        return run

    compare(call(binary_cross_entropy_with_logits), call(_F().binary_cross_entropy_with_logits),
            x, target, *constants, seed=seed, grad_inputs=(0, 1))


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy_with_logits_huge_logits_match_torch(dtype):
    x = numpy.array([-200.0, -40.0, -1.0, 0.0, 1.0, 40.0, 200.0], dtype=dtype)
    target = numpy.array([1.0, 0.3, 0.0, 1.0, 0.5, 0.0, 1.0], dtype=dtype)
    pos_weight = numpy.full(7, 2.5, dtype=dtype)
    compare(lambda x, t, pw: binary_cross_entropy_with_logits(x, t, reduction="none", pos_weight=pw),
            lambda x, t, pw: _F().binary_cross_entropy_with_logits(x, t, reduction="none", pos_weight=pw),
            x, target, pos_weight, grad_inputs=(0, 1))


# ----- always run: central differences ----------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_gradient_matches_central_differences(reduction):
    rng = numpy.random.default_rng(3)
    target = numpy.array([[1, -100], [2, 0]])
    weight = convpool.tensor(rng.random(3) + 0.5)
    check_grad(lambda x: cross_entropy(x, target, weight=weight, reduction=reduction, label_smoothing=0.2),
               rng.standard_normal((2, 3, 2)))


def test_cross_entropy_probability_gradient_matches_central_differences():
    rng = numpy.random.default_rng(4)
    check_grad(lambda x, t: cross_entropy(x, t, label_smoothing=0.1), rng.standard_normal((3, 4)),
               rng.random((3, 4)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_gradient_matches_central_differences(reduction):
    rng = numpy.random.default_rng(5)
    check_grad(lambda x: nll_loss(x, numpy.array([3, 0, 1]), reduction=reduction, ignore_index=0),
               rng.standard_normal((3, 4)))


def test_mse_loss_gradient_matches_central_differences():
    rng = numpy.random.default_rng(6)
    check_grad(mse_loss, rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits_gradient_matches_central_differences(reduction):
    rng = numpy.random.default_rng(7)
    weight, pos_weight = convpool.tensor(rng.random((2, 3))), convpool.tensor(rng.random(3) * 3)
    check_grad(lambda x, t: binary_cross_entropy_with_logits(x, t, weight, reduction=reduction, pos_weight=pos_weight),
               rng.standard_normal((2, 3)) * 3, rng.random((2, 3)))


def test_float32_stays_float32():
    rng = numpy.random.default_rng(8)
    x = convpool.tensor(rng.standard_normal((4, 3)).astype("float32"), requires_grad=True)
    t = convpool.tensor(rng.random((4, 3)).astype("float32"))
    w = convpool.tensor(rng.random(3).astype("float32"))
    for loss in (cross_entropy(x, numpy.array([0, 2, 1, 1]), weight=w, label_smoothing=0.1),
                 cross_entropy(x, t, weight=w, label_smoothing=0.1), nll_loss(x, numpy.array([0, 2, 1, 1])),
                 mse_loss(x, t), binary_cross_entropy_with_logits(x, t, pos_weight=w)):
        assert loss.dtype == numpy.float32
        loss.backward()
    assert x.grad.dtype == numpy.float32


# ----- errors ----------------------------------------------------------------------------------
def test_target_out_of_range_names_the_value_and_the_classes():
    with pytest.raises(ValueError, match=r"cross_entropy: target value 5 is out of range for 4 classes"):
        cross_entropy(convpool.zeros(3, 4), numpy.array([0, 5, 1]))
    with pytest.raises(ValueError, match=r"nll_loss: target value -1 is out of range for 4 classes "
                                         r"\(expected 0 <= target < 4, or ignore_index=-100\)"):
        nll_loss(convpool.zeros(3, 4), numpy.array([0, -1, 1]))


def test_target_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"target shape \(3, 2\) does not match input shape \(3, 4\): "
                                         r"expected \(3,\) for class indices, "
                                         r"or \(3, 4\) for class probabilities"):
        cross_entropy(convpool.zeros(3, 4), numpy.zeros((3, 2), dtype=int))
    with pytest.raises(ValueError, match=r"target shape \(3, 5\) must match input shape \(3, 4\) "
                                         r"\(probability targets"):
        cross_entropy(convpool.zeros(3, 4), convpool.zeros(3, 5))
    with pytest.raises(ValueError, match=r"mse_loss: target shape \(4,\) must match input shape \(3, 4\)"):
        mse_loss(convpool.zeros(3, 4), convpool.zeros(4))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: target shape \(3,\) must match "
                                         r"input shape \(3, 1\)"):
        binary_cross_entropy_with_logits(convpool.zeros(3, 1), convpool.zeros(3))


@pytest.mark.parametrize("fn", [
    lambda r: cross_entropy(convpool.zeros(2, 3), numpy.array([0, 1]), reduction=r),
    lambda r: nll_loss(convpool.zeros(2, 3), numpy.array([0, 1]), reduction=r),
    lambda r: mse_loss(convpool.zeros(2), convpool.zeros(2), reduction=r),
    lambda r: binary_cross_entropy_with_logits(convpool.zeros(2), convpool.zeros(2), reduction=r),
])
def test_unknown_reduction(fn):
    with pytest.raises(ValueError, match=r"reduction must be 'none', 'mean' or 'sum', got reduction='avg'"):
        fn("avg")


def test_other_argument_errors():
    x = convpool.zeros(2, 3)
    with pytest.raises(ValueError, match=r"label_smoothing must be between 0.0 and 1.0, "
                                         r"got label_smoothing=1.5"):
        cross_entropy(x, numpy.array([0, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\), one per class .* got \(2,\)"):
        cross_entropy(x, numpy.array([0, 1]), weight=convpool.ones(2))
    with pytest.raises(TypeError, match=r"nll_loss: target must hold integer class indices, "
                                        r"got dtype float32"):
        nll_loss(x, convpool.zeros(2))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(2,\) does not broadcast to "
                                         r"input shape \(2, 3\)"):
        binary_cross_entropy_with_logits(x, convpool.zeros(2, 3), pos_weight=convpool.ones(2))
    with pytest.raises(ValueError, match=r"input must be \(N, C, \*\) or \(C,\), got a 0-d tensor"):
        cross_entropy(convpool.tensor(1.0), numpy.array(0))


# ----- regression losses, binary cross-entropy on probabilities, KL divergence -------------------
def _pair_case(seed: int, dtype: str):
    rng = numpy.random.default_rng(100 + seed)
    shape = tuple(int(s) for s in rng.integers(1, 6, size=rng.integers(0, 4)))
    x, target = ((rng.standard_normal(shape) * 2).astype(dtype) for _ in range(2))
    return rng, x, target


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("name,extra", [("l1_loss", {}), ("mse_loss", {}), ("smooth_l1_loss", {"beta": 0.7}),
                                        ("smooth_l1_loss", {}), ("smooth_l1_loss", {"beta": 0.0}),
                                        ("huber_loss", {"delta": 1.3}), ("huber_loss", {})])
def test_regression_losses_match_torch(name, extra, seed, dtype):
    _, x, target = _pair_case(seed, dtype)
    reduction = REDUCTIONS[seed % 3]
    compare(lambda a, t: getattr(convpool.functional, name)(a, t, reduction=reduction, **extra),
            lambda a, t: getattr(_F(), name)(a, t, reduction=reduction, **extra), x, target, seed=seed)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "huber_loss"])
def test_elementwise_weight_matches_torch_and_is_differentiated(name, seed, dtype):
    rng, x, target = _pair_case(seed, dtype)
    weight = rng.random(x.shape).astype(dtype) + 0.1
    reduction = REDUCTIONS[seed % 3]
    compare(lambda a, t, w: getattr(convpool.functional, name)(a, t, reduction=reduction, weight=w),
            lambda a, t, w: getattr(_F(), name)(a, t, reduction=reduction, weight=w), x, target, weight, seed=seed)


@needs_torch
@pytest.mark.filterwarnings("ignore:size_average and reduce args will be deprecated")
@pytest.mark.parametrize("size_average,reduce", [(None, False), (False, None), (True, True), (False, True)])
def test_legacy_size_average_and_reduce_match_torch(size_average, reduce):
    _, x, target = _pair_case(3, "float64")
    for name in ("l1_loss", "mse_loss", "smooth_l1_loss"):
        compare(lambda a, t, n=name: getattr(convpool.functional, n)(a, t, size_average=size_average, reduce=reduce),
                lambda a, t, n=name: getattr(_F(), n)(a, t, size_average=size_average, reduce=reduce), x, target)


def _bce_probability_case(seed: int, dtype: str):
    rng = numpy.random.default_rng(200 + seed)
    shape = tuple(int(s) for s in rng.integers(1, 6, size=rng.integers(1, 4)))
    x = rng.uniform(0.02, 0.98, shape).astype(dtype)
    target = rng.random(shape).astype(dtype) if seed % 2 else rng.integers(0, 2, shape).astype(dtype)
    weight = [None, rng.random(shape), rng.random(shape[-1:])][seed % 3]
    return x, target, None if weight is None else weight.astype(dtype), REDUCTIONS[(seed // 3) % 3]


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(9))
def test_binary_cross_entropy_matches_torch(seed, dtype):
    x, target, weight, reduction = _bce_probability_case(seed, dtype)
    if weight is None:
        compare(lambda a, t: convpool.functional.binary_cross_entropy(a, t, reduction=reduction),
                lambda a, t: _F().binary_cross_entropy(a, t, reduction=reduction), x, target, seed=seed)
    else:  # weight is a constant in both
        compare(lambda a, t, w: convpool.functional.binary_cross_entropy(a, t, w, reduction=reduction),
                lambda a, t, w: _F().binary_cross_entropy(a, t, w, reduction=reduction), x, target, weight,
                seed=seed, grad_inputs=(0, 1))


@needs_torch
def test_binary_cross_entropy_at_0_and_1_clamps_the_log_like_torch():
    x = numpy.array([0.0, 1.0, 0.0, 1.0, 0.5])
    target = numpy.array([1.0, 0.0, 0.0, 1.0, 0.3])
    compare(lambda a, t: convpool.functional.binary_cross_entropy(a, t, reduction="none"),
            lambda a, t: _F().binary_cross_entropy(a, t, reduction="none"), x, target, grad_inputs=(0,))


def test_binary_cross_entropy_rejects_values_outside_0_1():
    with pytest.raises(ValueError, match=r"binary_cross_entropy: all elements of input should be between 0 and 1"):
        convpool.functional.binary_cross_entropy(convpool.tensor([0.5, 1.5]), convpool.tensor([0.0, 1.0]))


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target, seed, dtype):
    rng = numpy.random.default_rng(300 + seed)
    shape = (int(rng.integers(1, 5)), int(rng.integers(2, 6)))
    logits = rng.standard_normal(shape)
    logp = logits - numpy.log(numpy.exp(logits).sum(1, keepdims=True))
    q = rng.random(shape) + 0.05
    q /= q.sum(1, keepdims=True)
    target = numpy.log(q) if log_target else q
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch warns that 'mean' is not the KL divergence
        compare(lambda a, t: convpool.functional.kl_div(a, t, reduction=reduction, log_target=log_target),
                lambda a, t: _F().kl_div(a, t, reduction=reduction, log_target=log_target),
                logp.astype(dtype), target.astype(dtype), seed=seed)


@needs_torch
def test_kl_div_with_zero_targets_matches_torch_forward_and_input_gradient():
    logp = numpy.log(numpy.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]]))
    target = numpy.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    compare(lambda a, t: convpool.functional.kl_div(a, t, reduction="batchmean"),
            lambda a, t: _F().kl_div(a, t, reduction="batchmean"), logp, target, grad_inputs=(0,))


@pytest.mark.parametrize("name,fn", [
    ("l1", lambda a, t: convpool.functional.l1_loss(a, t)),
    ("smooth_l1", lambda a, t: convpool.functional.smooth_l1_loss(a, t, beta=0.5)),
    ("huber", lambda a, t: convpool.functional.huber_loss(a, t, delta=0.5, reduction="sum")),
    ("huber_weighted", lambda a, t: convpool.functional.huber_loss(a, t, weight=a * a)),
    ("mse_weighted", lambda a, t: convpool.functional.mse_loss(a, t, weight=a * a + 1)),
    ("bce", lambda a, t: convpool.functional.binary_cross_entropy(convpool.functional.sigmoid(a),
                                                                   convpool.functional.sigmoid(t))),
    ("kl", lambda a, t: convpool.functional.kl_div(a, convpool.functional.softmax(t, 1), reduction="batchmean")),
    ("kl_log", lambda a, t: convpool.functional.kl_div(a, t, reduction="sum", log_target=True)),
])
def test_new_loss_gradients_match_central_differences(name, fn):
    rng = numpy.random.default_rng(len(name))
    x = rng.standard_normal((3, 4))
    target = x + rng.choice([-1.0, 1.0], size=(3, 4)) * (0.2 + rng.random((3, 4)))  # no kinks within eps
    check_grad(fn, x, target)


def test_new_loss_argument_errors():
    x, t = convpool.zeros(2, 3), convpool.zeros(2, 3)
    with pytest.raises(ValueError, match=r"l1_loss: target shape \(3,\) must match input shape \(2, 3\)"):
        convpool.functional.l1_loss(x, convpool.zeros(3))
    with pytest.raises(ValueError, match=r"smooth_l1_loss: beta must be a non-negative number, got beta=-1"):
        convpool.functional.smooth_l1_loss(x, t, beta=-1)
    with pytest.raises(ValueError, match=r"huber_loss: delta must be positive"):
        convpool.functional.huber_loss(x, t, delta=0)
    with pytest.raises(ValueError, match=r"mse_loss: weight shape \(3,\) must match input shape \(2, 3\)"):
        convpool.functional.mse_loss(x, t, weight=convpool.ones(3))
    with pytest.raises(ValueError, match=r"kl_div: reduction must be 'none', 'batchmean', 'mean' or 'sum'"):
        convpool.functional.kl_div(x, t, reduction="avg")


# ----- margin, embedding and likelihood losses --------------------------------------------------
def _signs(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape)


MARGIN_CASES = [
    ("soft_margin_loss", lambda rng: (rng.standard_normal((4, 3)), _signs(rng, (4, 3))), {}),
    ("multilabel_soft_margin_loss", lambda rng: (rng.standard_normal((4, 3)), rng.integers(0, 2, (4, 3)) * 1.0), {}),
    ("margin_ranking_loss", lambda rng: (rng.standard_normal(5), rng.standard_normal(5), _signs(rng, 5)),
     {"margin": 0.3}),
    ("hinge_embedding_loss", lambda rng: (rng.random((4, 3)) * 2, _signs(rng, (4, 3))), {"margin": 1.2}),
    ("cosine_embedding_loss", lambda rng: (rng.standard_normal((5, 4)), rng.standard_normal((5, 4)), _signs(rng, 5)),
     {"margin": 0.1}),
    ("cosine_embedding_loss", lambda rng: (rng.standard_normal(4), rng.standard_normal(4), numpy.array(-1.0)), {}),
    ("triplet_margin_loss", lambda rng: tuple(rng.standard_normal((5, 4)) for _ in range(3)), {"margin": 0.8}),
    ("triplet_margin_loss", lambda rng: tuple(rng.standard_normal((5, 4)) for _ in range(3)), {"swap": True, "p": 1.0}),
    ("poisson_nll_loss", lambda rng: (rng.standard_normal((4, 3)), rng.poisson(2.0, (4, 3)) * 1.0), {}),
    ("poisson_nll_loss", lambda rng: (rng.random((4, 3)) + 0.1, rng.poisson(2.0, (4, 3)) + 1.0),
     {"log_input": False, "full": True}),
    ("gaussian_nll_loss", lambda rng: (rng.standard_normal((4, 3)), rng.standard_normal((4, 3)),
                                       rng.random((4, 3)) + 0.1), {}),
    ("gaussian_nll_loss", lambda rng: (rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), rng.random(4) + 0.1),
     {"full": True}),
    ("gaussian_nll_loss", lambda rng: (rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), rng.random((4, 1))),
     {"eps": 0.05}),
]


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,draw,extra", MARGIN_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(MARGIN_CASES)])
def test_margin_and_likelihood_losses_match_torch(name, draw, extra, reduction, dtype):
    arrays = [numpy.asarray(a).astype(dtype) for a in draw(numpy.random.default_rng(len(name)))]
    labels = name in ("margin_ranking_loss", "hinge_embedding_loss", "cosine_embedding_loss", "soft_margin_loss")
    grad_inputs = tuple(range(len(arrays) - 1)) if labels else None
    compare(lambda *a: getattr(convpool.functional, name)(*a, reduction=reduction, **extra),
            lambda *a: getattr(_F(), name)(*a, reduction=reduction, **extra), *arrays, grad_inputs=grad_inputs)


def test_margin_losses_gradients_match_central_differences():
    rng = numpy.random.default_rng(3)
    a, p, n = (rng.standard_normal((4, 3)) for _ in range(3))
    check_grad(lambda a, p, n: convpool.functional.triplet_margin_loss(a, p, n, margin=5.0), a, p, n)
    check_grad(lambda a, b: convpool.functional.cosine_embedding_loss(a, b, numpy.array([1.0, -1.0, 1.0, -1.0]),
                                                                       margin=-1.0), a, p)
    check_grad(lambda x, t: convpool.functional.poisson_nll_loss(x, t, full=True), a, numpy.abs(p) * 3)
    check_grad(lambda x, t, v: convpool.functional.gaussian_nll_loss(x, t, v * v + 0.5), a, p, n)
