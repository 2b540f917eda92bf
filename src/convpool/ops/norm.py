"""Normalisation layers: batch, layer and group norm share one primitive.

`normalize(x, axes, eps)` returns xhat = (x - mean) / sqrt(var + eps), the mean and the
biased variance taken over `axes`; the three layers differ only in which axes they pick
(batch: N and spatial; layer: the trailing normalized_shape; group: each group of
channels) and then apply weight and bias as ordinary broadcasting ops.

Backward of xhat, derived once. Write s = 1/sqrt(var + eps), m = the count over the axes,
and E[.] the mean over the axes. With xhat = (x - mu) s,
    d mu / dx_j = 1/m,   d var / dx_j = 2 (x_j - mu) / m,   d s / d var = -s^3 / 2
so for an upstream gradient g
    dL/dx_j = s g_j - s E[g] - (x_j - mu) s^3 E[g (x - mu)]
            = s (g_j - E[g] - xhat_j E[g xhat]).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy

from ..backend import array_module, parallel_for
from ..tensor import Tensor
from .args import check_same_device, check_same_dtype
from .basic import add, mean, mul, pow, reshape
from .pad import pad


def normalize(x: Tensor, axes: tuple[int, ...], eps: float) -> tuple[Tensor, object, object]:
    """(xhat, mean, biased var) over axes; xhat carries the fused backward derived above."""
    xp = array_module(x.data)
    mean = x.data.mean(axis=axes, keepdims=True)
    centred = x.data - mean
    var = (centred * centred).mean(axis=axes, keepdims=True)
    inv_std = 1 / xp.sqrt(var + float(eps))
    xhat = centred * inv_std

    def grad_fn(g):
        return (inv_std * (g - g.mean(axis=axes, keepdims=True)
                           - xhat * (g * xhat).mean(axis=axes, keepdims=True)),)

    return Tensor.from_op(xhat, (x,), grad_fn, "normalize"), mean, var


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of (N, C, *) over N and the spatial dims.

    Training: batch mean and biased variance normalise, and running_mean/running_var (if
    given) are updated in place with the unbiased variance, as PyTorch does:
    running = (1 - momentum) * running + momentum * batch. Evaluation: the running stats
    normalise. momentum=None (a cumulative average) needs a batch count, which belongs to
    nn.BatchNorm, so here it is an error, as in torch.nn.functional.
    """
    if input.ndim == 1 and input.numel() == 0:  # PyTorch returns the empty input as it is
        return Tensor.from_op(input.data.copy(), (input,), lambda g: (g,), "batch_norm")
    if input.ndim < 2:
        raise ValueError(f"batch_norm: input must be (N, C, *) with at least 2 dims, got shape {input.shape}")
    if momentum is None or isinstance(momentum, bool) or not isinstance(momentum, numbers.Real):
        raise TypeError(f"batch_norm: momentum must be a float, got momentum={momentum!r}; the cumulative "
                        "average of momentum=None is kept by nn.BatchNorm layers, which count batches")
    momentum = float(momentum)
    channels = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.shape != (channels,):
            raise ValueError(f"batch_norm: {name} must have shape ({channels},) for input of shape "
                             f"{input.shape} with C={channels}, got {t.shape}")
    check_same_dtype("batch_norm", input=input, weight=weight, bias=bias)
    shape = (1, channels) + (1,) * (input.ndim - 2)
    if training:
        count = input.numel() // max(channels, 1)
        if count == 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                             f"got input of shape {input.shape}")
        if count == 0:  # an empty batch: an empty output, running statistics untouched (as PyTorch)
            return _affine(Tensor.from_op(input.data.copy(), (input,), lambda g: (g,), "batch_norm"),
                           weight, bias, shape)
        y, mean, var = _batch_norm_training(input, weight, bias, float(eps))
        if running_mean is not None:
            running_mean.data[...] = momentum * mean.reshape(channels) + (1 - momentum) * running_mean.data
        if running_var is not None:
            unbiased = var.reshape(channels) * (count / (count - 1))
            running_var.data[...] = momentum * unbiased + (1 - momentum) * running_var.data
        return y
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: running_mean and running_var are needed when training=False")
    xp = array_module(input.data)
    mean = running_mean.data.reshape(shape).astype(input.dtype, copy=False)
    var = running_var.data.reshape(shape).astype(input.dtype, copy=False)
    xhat = mul(input - Tensor(mean), Tensor(1 / xp.sqrt(var + float(eps))))
    return _affine(xhat, weight, bias, shape)


def _batch_norm_training(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float):
    """(y, mean, biased var) of training batch norm as one op, split over threads by channel.

    The same formulas as `normalize` followed by the affine, with per-channel constants folded
    so that forward and backward each take a few passes over the data instead of a dozen:
        y  = xhat * w + b
        gx = (w s) * (g - E[g] - xhat E[g xhat]),  gw = sum(g xhat),  gb = sum(g)
    """
    xp = array_module(x.data)
    n, channels = x.shape[:2]
    x3 = x.data.reshape(n, channels, -1)
    count = n * x3.shape[2]
    dtype = x.dtype
    w = weight.data if weight is not None else xp.ones(channels, dtype=dtype)
    b = bias.data if bias is not None else None
    xhat = xp.empty(x3.shape, dtype=dtype)
    y = xp.empty(x3.shape, dtype=dtype)
    mean, var = xp.empty(channels, dtype=dtype), xp.empty(channels, dtype=dtype)

    def forward_part(c0: int, c1: int) -> None:
        part = x3[:, c0:c1]
        mean[c0:c1] = part.mean(axis=(0, 2))
        centred = xhat[:, c0:c1]
        xp.subtract(part, mean[c0:c1, None], out=centred)
        var[c0:c1] = xp.einsum("ncs,ncs->c", centred, centred) / count
        centred *= (1 / xp.sqrt(var[c0:c1] + eps))[:, None]
        xp.multiply(centred, w[c0:c1, None], out=y[:, c0:c1])
        if b is not None:
            y[:, c0:c1] += b[c0:c1, None]

    parallel_for(channels, forward_part, min_size=1, elements=x3.size, like=x3)
    inv_std = 1 / xp.sqrt(var + eps)

    def grad_fn(g):
        g3 = g.reshape(x3.shape)
        gx = xp.empty(x3.shape, dtype=g.dtype)
        gw, gb = xp.empty(channels, dtype=g.dtype), xp.empty(channels, dtype=g.dtype)

        def backward_part(c0: int, c1: int) -> None:
            gpart, xpart = g3[:, c0:c1], xhat[:, c0:c1]
            gb[c0:c1] = gpart.sum(axis=(0, 2))
            gw[c0:c1] = xp.einsum("ncs,ncs->c", gpart, xpart)
            scale = w[c0:c1] * inv_std[c0:c1]
            out = gx[:, c0:c1]
            xp.multiply(gpart, scale[:, None], out=out)
            out -= xpart * (scale * gw[c0:c1] / count)[:, None]
            out -= (scale * gb[c0:c1] / count)[:, None]

        parallel_for(channels, backward_part, min_size=1, elements=g3.size, like=g3)
        grads = (gx.reshape(x.shape),)
        grads += (gw,) if weight is not None else ()
        grads += (gb,) if bias is not None else ()
        return grads

    parents = (x,) + ((weight,) if weight is not None else ()) + ((bias,) if bias is not None else ())
    out = Tensor.from_op(y.reshape(x.shape), parents, grad_fn, "batch_norm")
    return out, mean, var


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise each sample over its trailing dims `normalized_shape` (no running stats)."""
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(int(n) for n in normalized_shape)
    k = len(normalized_shape)
    if k == 0 or input.ndim < k or input.shape[input.ndim - k:] != normalized_shape:
        raise ValueError(f"layer_norm: input shape {input.shape} does not end with "
                         f"normalized_shape {normalized_shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != normalized_shape:
            raise ValueError(f"layer_norm: {name} must have shape normalized_shape={normalized_shape}, "
                             f"got {t.shape}")
    check_same_dtype("layer_norm", input=input, weight=weight, bias=bias)
    xhat, _, _ = normalize(input, tuple(range(input.ndim - k, input.ndim)), eps)
    return _affine(xhat, weight, bias, normalized_shape)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Split the C channels of (N, C, *) into num_groups groups; normalise each group of each
    sample over its channels and spatial dims; weight and bias are per channel."""
    if input.ndim < 2:
        raise ValueError(f"group_norm: input must be (N, C, *) with at least 2 dims, got shape {input.shape}")
    channels = input.shape[1]
    if isinstance(num_groups, bool) or not isinstance(num_groups, int) or num_groups <= 0:
        raise ValueError(f"group_norm: num_groups must be a positive int, got num_groups={num_groups!r}")
    if channels % num_groups:
        raise ValueError(f"group_norm: the {channels} channels of input shape {input.shape} are not "
                         f"divisible by num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (channels,):
            raise ValueError(f"group_norm: {name} must have shape ({channels},) for input of shape "
                             f"{input.shape}, got {t.shape}")
    check_same_dtype("group_norm", input=input, weight=weight, bias=bias)
    n = input.shape[0]
    grouped = reshape(input, (n, num_groups, math.prod(input.shape[1:]) // num_groups))
    xhat, _, _ = normalize(grouped, (2,), eps)
    shape = (1, channels) + (1,) * (input.ndim - 2)
    return _affine(reshape(xhat, input.shape), weight, bias, shape)


def instance_norm(input: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None,
                  weight: Tensor | None = None, bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each sample of (N, C, *) over its spatial dims alone.

    With use_input_stats (the default) the sample's own statistics normalise, and
    running_mean/running_var (if given) are updated in place with their means over the
    batch (unbiased variances), as PyTorch does; otherwise the running statistics normalise.
    weight and bias are per channel.
    """
    if input.ndim < 3:
        raise ValueError(f"instance_norm: input must be (N, C, *) with at least one spatial dim, "
                         f"got shape {input.shape}")
    channels = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.shape != (channels,):
            raise ValueError(f"instance_norm: {name} must have shape ({channels},) for input of shape "
                             f"{input.shape}, got {t.shape}")
    check_same_dtype("instance_norm", input=input, weight=weight, bias=bias)
    check_same_device("instance_norm", input=input, running_mean=running_mean, running_var=running_var)
    shape = (1, channels) + (1,) * (input.ndim - 2)
    axes = tuple(range(2, input.ndim))
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: running_mean and running_var are needed when use_input_stats=False")
        xp = array_module(input.data)
        mean = running_mean.data.reshape(shape).astype(input.dtype, copy=False)
        inv_std = 1 / xp.sqrt(running_var.data.reshape(shape).astype(input.dtype, copy=False) + float(eps))
        return _affine(mul(input - Tensor(mean), Tensor(inv_std)), weight, bias, shape)
    count = math.prod(input.shape[2:])
    if count == 1:
        raise ValueError(f"instance_norm: expected more than 1 spatial element when training, got input "
                         f"of shape {input.shape}")
    xhat, mean, var = normalize(input, axes, eps)
    momentum = float(momentum)
    if running_mean is not None:
        batch_mean = mean.reshape(input.shape[:2]).mean(axis=0)
        running_mean.data[...] = momentum * batch_mean + (1 - momentum) * running_mean.data
    if running_var is not None:
        batch_var = var.reshape(input.shape[:2]).mean(axis=0) * (count / (count - 1))
        running_var.data[...] = momentum * batch_var + (1 - momentum) * running_var.data
    return _affine(xhat, weight, bias, shape)


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """x / (k + alpha * mean of x^2 over `size` neighbouring channels)^beta (AlexNet's LRN),
    with PyTorch's window: size // 2 channels before, (size - 1) // 2 after, zeros beyond the
    edges, and the mean dividing by size. Composed from differentiable ops."""
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f"local_response_norm: size must be a positive int, got size={size!r}")
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: input must be (N, C, *) with at least 3 dims, got shape "
                         f"{input.shape}")
    if input.numel() == 0:
        return input
    squares = mul(input, input)
    n, channels = input.shape[:2]
    flat = reshape(squares, (n, channels, -1))
    padded = pad(flat, (0, 0, size // 2, (size - 1) // 2))
    window = padded[:, 0:channels]
    for offset in range(1, size):
        window = window + padded[:, offset:offset + channels]
    average = reshape(window, input.shape) * (1.0 / size)
    return input / (average * float(alpha) + float(k)) ** float(beta)


def rms_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """x / sqrt(mean(x^2) + eps) over the trailing normalized_shape dims, times weight
    (Zhang and Sennrich, 2019); eps=None is the dtype's machine epsilon, as in PyTorch.
    Composed from differentiable ops."""
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(int(n) for n in normalized_shape)
    k = len(normalized_shape)
    if k == 0 or input.ndim < k or input.shape[input.ndim - k:] != normalized_shape:
        raise ValueError(f"rms_norm: input shape {input.shape} does not end with normalized_shape {normalized_shape}")
    if weight is not None and weight.shape != normalized_shape:
        raise ValueError(f"rms_norm: weight must have shape normalized_shape={normalized_shape}, got {weight.shape}")
    check_same_dtype("rms_norm", input=input, weight=weight)
    if eps is None:
        eps = float(numpy.finfo(input.dtype).eps)
    axes = tuple(range(input.ndim - k, input.ndim))
    mean_square = mean(mul(input, input), axes, keepdim=True)
    y = mul(input, pow(add(mean_square, float(eps)), -0.5))
    return y if weight is None else mul(y, weight)


def _affine(xhat: Tensor, weight: Tensor | None, bias: Tensor | None, shape: tuple[int, ...]) -> Tensor:
    """xhat * weight + bias, with weight and bias viewed as `shape` to broadcast."""
    y = xhat
    if weight is not None:
        y = mul(y, reshape(weight, shape))
    if bias is not None:
        y = add(y, reshape(bias, shape))
    return y
