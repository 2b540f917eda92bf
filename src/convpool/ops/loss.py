"""Losses, with PyTorch's semantics for weight, ignore_index, label_smoothing and reduction.

Class-index losses go through one primitive, `_pick`, which gathers -w[t] * logp[t] for each
item (0 for ignored items) and scatters the gradient back; cross_entropy is log_softmax
followed by that, plus the label-smoothing term built from ordinary ops. The mean of a
weighted loss divides by the summed weights of the items that count, as PyTorch does.

The class `weight` of the class-index losses and `pos_weight` are constants: they receive no
gradient (PyTorch refuses to differentiate with respect to them). The elementwise `weight` of
mse_loss, l1_loss and huber_loss is an ordinary factor and is differentiated, as in PyTorch.
"""

from __future__ import annotations

import math
import numbers

import numpy

from ..backend import array_module
from ..tensor import Tensor
from .activation import log_softmax, logsigmoid, softplus
from .args import check_same_dtype
from .basic import abs, add, as_tensor, clamp, div, exp, log, mean, mul, neg, pow, reshape, sub, sum, where

_REDUCTIONS = ("none", "mean", "sum")
_BCE_EPSILON = float(numpy.float32(1e-12))  # PyTorch's binary_cross_entropy_backward clamp


def cross_entropy(input: Tensor, target, weight: Tensor | None = None, size_average: bool | None = None,
                  ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of logits `input` (N, C, *) or (C,) against `target`.

    target holds class indices, shaped (N, *) (or a scalar for input (C,)), or class
    probabilities shaped like input. With label_smoothing = eps the loss becomes
    (1 - eps) * nll + (eps / C) * sum over classes of -w[c] logp[c]; for probability
    targets the target becomes t (1 - eps) + eps / C.
    """
    reduction = _legacy_reduction("cross_entropy", size_average, reduce, reduction)
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, "
                         f"got label_smoothing={label_smoothing!r}")
    target = as_tensor(target)
    class_axis = _class_axis("cross_entropy", input)
    n_classes = input.shape[class_axis]
    weight = _class_weight("cross_entropy", weight, input)
    eps = float(label_smoothing)
    if target.dtype.kind == "f":
        return _cross_entropy_probabilities(input, target, weight, reduction, eps)

    batched, target_data, squeeze = _batched("cross_entropy", input, target, ignore_index)
    logp = log_softmax(batched, 1)
    nll, kept, item_weight = _nll(logp, target_data, weight, ignore_index)
    loss = _reduce(nll, reduction, item_weight)
    if eps > 0:
        if weight is None:
            per_class = logp
        else:
            per_class = mul(logp, Tensor(weight.data.reshape((1, n_classes) + (1,) * (logp.ndim - 2))))
        smooth = mul(neg(sum(per_class, 1)), Tensor(kept.astype(input.dtype)))
        loss = loss * (1 - eps) + _reduce(smooth, reduction, item_weight) * (eps / n_classes)
    return reshape(loss, ()) if squeeze and reduction == "none" else loss


def nll_loss(input: Tensor, target, weight: Tensor | None = None, size_average: bool | None = None,
             ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities `input` (N, C, *) or (C,) at class
    indices `target` (N, *): -weight[t] * input[t]; 'mean' divides by the summed weights."""
    reduction = _legacy_reduction("nll_loss", size_average, reduce, reduction)
    target = as_tensor(target)
    _class_axis("nll_loss", input)
    weight = _class_weight("nll_loss", weight, input)
    batched, target_data, squeeze = _batched("nll_loss", input, target, ignore_index)
    nll, _, item_weight = _nll(batched, target_data, weight, ignore_index)
    loss = _reduce(nll, reduction, item_weight)
    return reshape(loss, ()) if squeeze and reduction == "none" else loss


def mse_loss(input: Tensor, target, size_average: bool | None = None, reduce: bool | None = None,
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Squared error (input - target)^2, reduced. The shapes must match: PyTorch would
    broadcast them with a warning, which is almost always a bug. With weight (input's
    shape), 'mean' divides the weighted sum by the summed weights, as PyTorch does."""
    reduction = _legacy_reduction("mse_loss", size_average, reduce, reduction)
    target = _paired_target("mse_loss", input, target, weight)
    diff = input - target
    return _weighted_reduce(diff * diff, weight, reduction, by_weight_sum=True)


def l1_loss(input: Tensor, target, size_average: bool | None = None, reduce: bool | None = None,
            reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Absolute error |input - target|, reduced (the gradient at a zero error is 0, as in
    PyTorch); weight as in mse_loss."""
    reduction = _legacy_reduction("l1_loss", size_average, reduce, reduction)
    target = _paired_target("l1_loss", input, target, weight)
    return _weighted_reduce(abs(input - target), weight, reduction, by_weight_sum=True)


def smooth_l1_loss(input: Tensor, target, size_average: bool | None = None, reduce: bool | None = None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, |d| - beta / 2 elsewhere (d = input - target);
    beta = 0 is the L1 loss."""
    reduction = _legacy_reduction("smooth_l1_loss", size_average, reduce, reduction)
    beta = _non_negative("smooth_l1_loss", "beta", beta)
    target = _paired_target("smooth_l1_loss", input, target, None)
    if beta == 0:
        return _reduce(abs(input - target), reduction)
    return _reduce(_huber(input - target, beta, divide=True), reduction)


def huber_loss(input: Tensor, target, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 d^2 where |d| < delta, delta (|d| - delta / 2) elsewhere: delta * smooth_l1 with
    beta = delta. With weight (input's shape) 'mean' is the plain mean of the weighted
    losses, as in PyTorch."""
    _check_reduction("huber_loss", reduction)
    delta = _non_negative("huber_loss", "delta", delta)
    if delta == 0:
        raise ValueError("huber_loss: delta must be positive, got delta=0")
    target = _paired_target("huber_loss", input, target, weight)
    return _weighted_reduce(_huber(input - target, delta, divide=False), weight, reduction, by_weight_sum=False)


def binary_cross_entropy(input: Tensor, target, weight: Tensor | None = None, size_average: bool | None = None,
                         reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """-w (t log x + (1 - t) log(1 - x)) for probabilities x in [0, 1]; each log is clamped
    at -100 as in PyTorch, so x = 0 or 1 gives a finite loss.

    Gradients (PyTorch's): d/dx = w (x - t) / max(x (1 - x), eps), eps the float32 value
    of 1e-12 in every dtype, as PyTorch's kernel has it;
    d/dt = w (log(1 - x) - log x), with the same clamped logs.
    """
    op = "binary_cross_entropy"
    reduction = _legacy_reduction(op, size_average, reduce, reduction)
    target = as_tensor(target, input)
    _check_same_shape(op, input, target)
    check_same_dtype(op, input=input, target=target, weight=weight)
    if weight is not None and not _broadcasts_to(weight.shape, input.shape):
        raise ValueError(f"{op}: weight of shape {weight.shape} does not broadcast to input shape {input.shape}")
    xp = array_module(input.data)
    x, t = input.data, target.data
    if x.size and not bool(((x >= 0) & (x <= 1)).all()):
        raise ValueError(f"{op}: all elements of input should be between 0 and 1 (probabilities; use "
                         f"binary_cross_entropy_with_logits for logits), got values from {float(x.min())} "
                         f"to {float(x.max())}")
    with numpy.errstate(divide="ignore"):
        log_x = xp.maximum(xp.log(x), -100)
        log_1mx = xp.maximum(xp.log1p(-x), -100)
    loss = -(t * log_x + (1 - t) * log_1mx)
    if weight is not None:
        loss = loss * weight.data

    def grad_fn(g):
        if weight is not None:
            g = g * weight.data
        gx = g * (x - t) / xp.maximum(x * (1 - x), xp.asarray(_BCE_EPSILON, dtype=x.dtype)) if input.requires_grad \
            else None
        gt = g * (log_1mx - log_x) if target.requires_grad else None
        return gx, gt

    return _reduce(Tensor.from_op(loss, (input, target), grad_fn, op), reduction)


def kl_div(input: Tensor, target, size_average: bool | None = None, reduce: bool | None = None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence of target from input, input holding log-probabilities:
    t (log t - x) per element (0 where t = 0), or exp(t) (t - x) with log_target.
    'batchmean' divides the sum by the batch size (the true KL divergence); 'mean' divides by
    the element count, as PyTorch does (it warns that this is not the KL divergence).

    Gradients: d/dx = -t (or -exp(t)); d/dt = log t + 1 - x (or exp(t) (t - x + 1)).
    """
    op = "kl_div"
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(op, size_average, reduce, "mean")
    if reduction not in _REDUCTIONS + ("batchmean",):
        raise ValueError(f"{op}: reduction must be 'none', 'batchmean', 'mean' or 'sum', got reduction={reduction!r}")
    target = as_tensor(target, input)
    _check_same_shape(op, input, target)
    check_same_dtype(op, input=input, target=target)
    xp = array_module(input.data)
    x, t = input.data, target.data
    if log_target:
        p = xp.exp(t)
        loss = p * (t - x)
    else:
        positive = t > 0
        log_t = xp.log(xp.where(positive, t, 1))
        loss = xp.where(positive, t * (log_t - x), -t * x)

    def grad_fn(g):
        gx = -g * (p if log_target else t) if input.requires_grad else None
        gt = None
        if target.requires_grad:
            gt = g * (p * (t - x + 1)) if log_target else g * xp.where(positive, log_t + 1 - x, -x)
        return gx, gt

    losses = Tensor.from_op(loss, (input, target), grad_fn, op)
    if reduction == "batchmean":
        total = sum(losses)
        return total if input.ndim == 0 else _divide(total, input.dtype.type(input.shape[0]))
    return _reduce(losses, reduction)


def _huber(diff: Tensor, delta: float, divide: bool) -> Tensor:
    """0.5 d^2 (/ delta when divide) inside |d| < delta, the matching straight line outside;
    the gradient is d (/ delta) inside and +-delta (or +-1) outside."""
    xp = array_module(diff.data)
    d = diff.data
    inside = xp.abs(d) < delta
    if divide:
        y = xp.where(inside, 0.5 * d * d / delta, xp.abs(d) - 0.5 * delta)
        return Tensor.from_op(y, (diff,), lambda g: (g * xp.where(inside, d / delta, xp.sign(d)),), "smooth_l1")
    y = xp.where(inside, 0.5 * d * d, delta * (xp.abs(d) - 0.5 * delta))
    return Tensor.from_op(y, (diff,), lambda g: (g * xp.where(inside, d, delta * xp.sign(d)),), "huber")


def binary_cross_entropy_with_logits(input: Tensor, target, weight: Tensor | None = None,
                                     size_average: bool | None = None, reduce: bool | None = None,
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid plus binary cross-entropy in one stable step, for targets in [0, 1].

    Per element, with sp(z) = log(1 + exp(z)) computed as log1p(exp(-|z|)) + max(z, 0):
        loss = w * ((1 - t) x + (1 + (pos_weight - 1) t) sp(-x))
    which is -w (pw t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))). Gradients:
        d/dx = w ((1 + (pw - 1) t) sigmoid(x) - pw t)      d/dt = w ((pw - 1) sp(-x) - x)
    """
    op = "binary_cross_entropy_with_logits"
    reduction = _legacy_reduction(op, size_average, reduce, reduction)
    target = as_tensor(target, input)
    _check_same_shape(op, input, target)
    check_same_dtype(op, input=input, target=target, weight=weight, pos_weight=pos_weight)
    for name, t in (("weight", weight), ("pos_weight", pos_weight)):
        if t is not None and not _broadcasts_to(t.shape, input.shape):
            raise ValueError(f"{op}: {name} of shape {t.shape} does not broadcast to "
                             f"input shape {input.shape}")
    xp = array_module(input.data)
    x, t = input.data, target.data
    softplus_neg = xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(-x, 0)
    log_weight = 1 if pos_weight is None else 1 + (pos_weight.data - 1) * t
    loss = (1 - t) * x + log_weight * softplus_neg
    if weight is not None:
        loss = loss * weight.data

    def grad_fn(g):
        if weight is not None:
            g = g * weight.data
        gx = gt = None
        if input.requires_grad:
            e = xp.exp(-xp.abs(x))
            sig = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
            positive = t if pos_weight is None else pos_weight.data * t
            gx = g * (log_weight * sig - positive)
        if target.requires_grad:
            gt = -g * x if pos_weight is None else g * ((pos_weight.data - 1) * softplus_neg - x)
        return gx, gt

    elementwise = Tensor.from_op(loss, (input, target), grad_fn, "binary_cross_entropy_with_logits")
    return _reduce(elementwise, reduction)


# ----- margin and embedding losses, composed from differentiable ops (PyTorch's formulas) ----
def soft_margin_loss(input: Tensor, target, size_average: bool | None = None, reduce: bool | None = None,
                     reduction: str = "mean") -> Tensor:
    """log(1 + exp(-y x)) for labels y in {-1, 1}: a smooth two-class margin loss."""
    reduction = _legacy_reduction("soft_margin_loss", size_average, reduce, reduction)
    target = _paired_target("soft_margin_loss", input, target, None)
    return _reduce(softplus(neg(mul(input, target)), 1.0, math.inf), reduction)


def multilabel_soft_margin_loss(input: Tensor, target, weight: Tensor | None = None,
                                size_average: bool | None = None, reduce: bool | None = None,
                                reduction: str = "mean") -> Tensor:
    """Per sample of (N, C): the mean over classes of -(t log sigmoid(x) + (1 - t) log sigmoid(-x)),
    each class weighted by weight (a constant), then reduced over samples."""
    op = "multilabel_soft_margin_loss"
    reduction = _legacy_reduction(op, size_average, reduce, reduction)
    target = _paired_target(op, input, target, None)
    losses = neg(add(mul(target, logsigmoid(input)), mul(sub(1, target), logsigmoid(neg(input)))))
    if weight is not None:
        losses = mul(losses, Tensor(weight.data))
    per_sample = mean(losses, input.ndim - 1) if input.ndim else losses
    return _reduce(per_sample, reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target, margin: float = 0.0,
                        size_average: bool | None = None, reduce: bool | None = None,
                        reduction: str = "mean") -> Tensor:
    """max(0, -y (x1 - x2) + margin): y = 1 wants x1 ranked above x2, y = -1 below."""
    op = "margin_ranking_loss"
    reduction = _legacy_reduction(op, size_average, reduce, reduction)
    if not (input1.shape == input2.shape == as_tensor(target).shape):
        raise ValueError(f"{op}: input1 {input1.shape}, input2 {input2.shape} and target "
                         f"{as_tensor(target).shape} must have one shape")
    target = as_tensor(target, input1)
    return _reduce(clamp(add(neg(mul(target, sub(input1, input2))), float(margin)), min=0.0), reduction)


def hinge_embedding_loss(input: Tensor, target, margin: float = 1.0, size_average: bool | None = None,
                         reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """x where y = 1, max(0, margin - x) where y = -1 (input holds distances)."""
    op = "hinge_embedding_loss"
    reduction = _legacy_reduction(op, size_average, reduce, reduction)
    target = _paired_target(op, input, target, None)
    t = target.data
    hinge = clamp(sub(float(margin), input), min=0.0)
    losses = add(where(t != 1, hinge, 0.0), where(t != -1, input, 0.0))
    return _reduce(losses, reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target, margin: float = 0.0,
                          size_average: bool | None = None, reduce: bool | None = None,
                          reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1; rows of (N, D)
    or one pair of (D,). The squared norms get PyTorch's 1e-12."""
    op = "cosine_embedding_loss"
    reduction = _legacy_reduction(op, size_average, reduce, reduction)
    if input1.shape != input2.shape or input1.ndim not in (1, 2):
        raise ValueError(f"{op}: input1 {input1.shape} and input2 {input2.shape} must share a shape (N, D) or (D,)")
    axis = input1.ndim - 1
    target = as_tensor(target, input1)
    if target.shape != input1.shape[:-1]:
        raise ValueError(f"{op}: target shape {target.shape} must be {input1.shape[:-1]} for inputs {input1.shape}")
    dot = sum(mul(input1, input2), axis)
    square1 = add(sum(mul(input1, input1), axis), 1e-12)
    square2 = add(sum(mul(input2, input2), axis), 1e-12)
    cos = div(dot, pow(mul(square1, square2), 0.5))
    t = target.data
    losses = add(where(t == 1, sub(1.0, cos), 0.0), where(t == -1, clamp(sub(cos, float(margin)), min=0.0), 0.0))
    return _reduce(losses, reduction)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0, p: float = 2.0,
                        eps: float = 1e-6, swap: bool = False, size_average: bool | None = None,
                        reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """max(0, margin + d(a, p) - d(a, n)) with d the pairwise p-norm distance; swap also
    tries d(p, n) as the negative distance and keeps the smaller (Balntas et al., 2016)."""
    from .vector import pairwise_distance

    op = "triplet_margin_loss"
    reduction = _legacy_reduction(op, size_average, reduce, reduction)
    if not anchor.ndim == positive.ndim == negative.ndim or anchor.ndim not in (1, 2):
        raise ValueError(f"{op}: anchor {anchor.shape}, positive {positive.shape} and negative {negative.shape} "
                         f"must all be (N, D) or all (D,)")
    d_positive = pairwise_distance(anchor, positive, p, eps)
    d_negative = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_swap = pairwise_distance(positive, negative, p, eps)
        d_negative = where(d_swap.data < d_negative.data, d_swap, d_negative)
    return _reduce(clamp(add(sub(d_positive, d_negative), float(margin)), min=0.0), reduction)


def poisson_nll_loss(input: Tensor, target, log_input: bool = True, full: bool = False,
                     size_average: bool | None = None, eps: float = 1e-8, reduce: bool | None = None,
                     reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of a Poisson target: exp(x) - t x for log-rates x, or
    x - t log(x + eps) for rates; full adds Stirling's t log t - t + log(2 pi t) / 2 where t > 1
    (its gradient at t = 0 is 0 here; PyTorch's is NaN there, from log(0) behind its mask)."""
    op = "poisson_nll_loss"
    reduction = _legacy_reduction(op, size_average, reduce, reduction)
    target = _paired_target(op, input, target, None)
    if log_input:
        losses = sub(exp(input), mul(target, input))
    else:
        losses = sub(input, mul(target, log(add(input, float(eps)))))
    if full:  # Stirling's term where t > 1, differentiable in t as in PyTorch; 0 elsewhere
        large = target.data > 1
        t = where(large, target, 2.0)  # a safe stand-in where masked: no log(0) in the gradient
        stirling = add(sub(mul(t, log(t)), t), mul(log(mul(t, 2 * math.pi)), 0.5))
        losses = add(losses, where(large, stirling, 0.0))
    return _reduce(losses, reduction)


def gaussian_nll_loss(input: Tensor, target, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """(log(max(var, eps)) + (x - t)^2 / max(var, eps)) / 2 (+ log(2 pi) / 2 with full). var
    has input's shape, or it lacks the last dim, or that dim is 1 (one variance per sample);
    the clamp changes var's value only, its gradient passes as PyTorch's does."""
    op = "gaussian_nll_loss"
    _check_reduction(op, reduction)
    target = _paired_target(op, input, target, None)
    var = as_tensor(var, input)
    if var.shape != input.shape:
        if var.shape == input.shape[:-1]:
            var = reshape(var, var.shape + (1,))
        elif not (var.shape[:-1] == input.shape[:-1] and var.shape[-1:] == (1,)):
            raise ValueError(f"{op}: var shape {var.shape} must be input's {input.shape}, or that without its last "
                             f"dim, or with last dim 1")
    if bool((var.data < 0).any()):
        raise ValueError(f"{op}: var has negative entries")
    xp = array_module(var.data)
    lift = xp.maximum(var.data, xp.asarray(eps, dtype=var.dtype)) - var.data
    var = add(var, Tensor(lift))
    diff = sub(input, target)
    losses = mul(add(log(var), div(mul(diff, diff), var)), 0.5)
    if full:
        losses = add(losses, 0.5 * math.log(2 * math.pi))
    return _reduce(losses, reduction)


# ----- shared pieces ---------------------------------------------------------------------
def _pick(logp: Tensor, target, item_weight) -> Tensor:
    """-item_weight * logp[n, target[n, ...], ...]: the class axis is 1 and target holds valid
    indices (ignored items carry weight 0). Backward scatters -item_weight * g to the picked
    class and leaves every other class at 0."""
    xp = array_module(logp.data)
    index = xp.expand_dims(target, 1)
    picked = xp.take_along_axis(logp.data, index, axis=1).squeeze(1)

    def grad_fn(g):
        gx = xp.zeros_like(logp.data)
        xp.put_along_axis(gx, index, xp.expand_dims(-item_weight * g, 1), axis=1)
        return (gx,)

    return Tensor.from_op(-item_weight * picked, (logp,), grad_fn, "nll")


def _nll(logp: Tensor, target, weight: Tensor | None, ignore_index: int):
    """Per-item losses, the mask of items that count, and their weights w[t] (0 if ignored)."""
    xp = array_module(logp.data)
    kept = target != ignore_index
    safe_target = xp.where(kept, target, 0)
    if weight is None:
        item_weight = kept.astype(logp.dtype)
    else:
        item_weight = xp.where(kept, weight.data[safe_target], 0).astype(logp.dtype, copy=False)
    return _pick(logp, safe_target, item_weight), kept, item_weight


def _reduce(losses: Tensor, reduction: str, item_weight=None) -> Tensor:
    """'none' keeps the per-item losses; 'sum' adds them; 'mean' divides the sum by the
    summed item weights when given (0/0 gives NaN, as in PyTorch), else by the count."""
    if reduction == "none":
        return losses
    if reduction == "sum":
        return sum(losses)
    if item_weight is None:
        return mean(losses)
    return _divide(sum(losses), item_weight.sum())


def _divide(total: Tensor, denominator) -> Tensor:
    """total / a constant, quietly NaN or inf when the constant is 0 (every item ignored)."""
    def grad_fn(g):
        with numpy.errstate(divide="ignore", invalid="ignore"):
            return (g / denominator,)

    with numpy.errstate(divide="ignore", invalid="ignore"):
        y = array_module(total.data).asarray(total.data / denominator)
    return Tensor.from_op(y, (total,), grad_fn, "mean")


def _cross_entropy_probabilities(input: Tensor, target: Tensor, weight: Tensor | None, reduction: str,
                                 eps: float) -> Tensor:
    """-sum_c w[c] t[c] logp[c] per item; 'mean' divides by the item count (N * d1 * ...)."""
    _check_same_shape("cross_entropy", input, target,
                      hint=" (probability targets must have the shape of the input)")
    check_same_dtype("cross_entropy", input=input, target=target)
    class_axis = _class_axis("cross_entropy", input)
    n_classes = input.shape[class_axis]
    logp = log_softmax(input, class_axis)
    if eps > 0:
        target = target * (1 - eps) + eps / n_classes
    per_class = mul(logp, target)
    if weight is not None:
        shape = (n_classes,) + (1,) * (input.ndim - class_axis - 1)
        per_class = mul(per_class, Tensor(weight.data.reshape(shape)))
    if reduction == "none":
        return neg(sum(per_class, class_axis))
    total = neg(sum(per_class))
    if reduction == "sum":
        return total
    items = input.numel() // n_classes if n_classes else 0
    return _divide(total, input.dtype.type(items if items else math.nan))


def _class_axis(op: str, input: Tensor) -> int:
    if input.ndim == 0:
        raise ValueError(f"{op}: input must be (N, C, *) or (C,), got a 0-d tensor")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating point (float32 or float64), got {input.dtype}")
    return 0 if input.ndim == 1 else 1


def _class_weight(op: str, weight: Tensor | None, input: Tensor) -> Tensor | None:
    if weight is None:
        return None
    n_classes = input.shape[0 if input.ndim == 1 else 1]
    if weight.shape != (n_classes,):
        raise ValueError(f"{op}: weight must have shape ({n_classes},), one per class of input shape "
                         f"{input.shape}, got {weight.shape}")
    check_same_dtype(op, input=input, weight=weight)
    return weight


def _batched(op: str, input: Tensor, target: Tensor, ignore_index: int):
    """(input with a batch axis, checked int target array with one, whether to squeeze back)."""
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got dtype {target.dtype}")
    squeeze = input.ndim == 1
    expected = () if squeeze else input.shape[:1] + input.shape[2:]
    if target.shape != expected:
        also = "" if op == "nll_loss" else f", or {input.shape} for class probabilities"
        raise ValueError(f"{op}: target shape {target.shape} does not match input shape {input.shape}: "
                         f"expected {expected} for class indices{also}")
    xp = array_module(target.data)
    n_classes = input.shape[0 if squeeze else 1]
    targets = target.data.astype(numpy.int64, copy=False)
    bad = (targets != ignore_index) & ((targets < 0) | (targets >= n_classes))
    if bad.any():
        value = int(targets[bad].reshape(-1)[0])
        raise ValueError(f"{op}: target value {value} is out of range for {n_classes} classes "
                         f"(expected 0 <= target < {n_classes}, or ignore_index={ignore_index})")
    if squeeze:
        return reshape(input, (1, n_classes)), xp.reshape(targets, (1,)), True
    return input, targets, False


def _legacy_reduction(op: str, size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """PyTorch's deprecated size_average / reduce pair, when given, overrides reduction."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        return "none" if not reduce else "mean" if size_average else "sum"
    _check_reduction(op, reduction)
    return reduction


def _paired_target(op: str, input: Tensor, target, weight: Tensor | None) -> Tensor:
    """target as a tensor of input's shape and dtype; weight (if any) of input's shape."""
    target = as_tensor(target, input)
    _check_same_shape(op, input, target)
    check_same_dtype(op, input=input, target=target, weight=weight)
    if weight is not None and weight.shape != input.shape:
        raise ValueError(f"{op}: weight shape {weight.shape} must match input shape {input.shape}")
    return target


def _weighted_reduce(losses: Tensor, weight: Tensor | None, reduction: str, by_weight_sum: bool) -> Tensor:
    """Reduce losses * weight; 'mean' divides by the summed weights when by_weight_sum. Here,
    unlike the class weights, weight is differentiable, as in PyTorch."""
    if weight is None:
        return _reduce(losses, reduction)
    weighted = mul(losses, weight)
    if reduction == "mean" and by_weight_sum:
        return div(sum(weighted), sum(weight))
    return _reduce(weighted, reduction)


def _non_negative(op: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
        raise ValueError(f"{op}: {name} must be a non-negative number, got {name}={value!r}")
    return float(value)


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got reduction={reduction!r}")


def _check_same_shape(op: str, input: Tensor, target: Tensor, hint: str = "") -> None:
    if input.shape != target.shape:
        raise ValueError(f"{op}: target shape {target.shape} must match input shape {input.shape}{hint}")


def _broadcasts_to(shape: tuple[int, ...], to: tuple[int, ...]) -> bool:
    if len(shape) > len(to):
        return False
    return all(a in (1, b) for a, b in zip(reversed(shape), reversed(to), strict=False))
