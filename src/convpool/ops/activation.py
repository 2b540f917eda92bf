"""Activations: elementwise nonlinearities and the (log-)softmax over one dim.

Each op computes its forward and keeps just what its gradient needs (the mask, the output,
or the cdf), so backward is one expression. Exponentials are taken of non-positive
arguments only, so large inputs neither overflow nor lose the answer.

The exact GELU needs the error function, which NumPy lacks; `_erfc` below is W. J. Cody's
rational Chebyshev approximation (the `calerf` routine of netlib's specfun), accurate to a
few ulps in float64 and evaluated in the input's dtype, so it also serves float32 and any
array module.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy

from ..backend import array_module, parallel_for
from ..tensor import Tensor
from .basic import cast, getitem, mul, neg, normalize_dim, reshape, where

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_TANH_KAPPA = 0.044715
_ONE_SIXTH_F32 = float(numpy.float32(1) / numpy.float32(6))  # PyTorch's 1.0f / 6.0f
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0); the gradient at 0 is 0, and at NaN the upstream gradient passes (NaN stays
    NaN), as in PyTorch. Large inputs are split over threads (the first axis), forward and
    backward. `inplace` is accepted for PyTorch's signature; the result is always a new tensor."""
    xp = array_module(input.data)
    x = input.data
    if x.ndim == 0 or not x.flags.c_contiguous:
        passes = ~(x <= 0)  # x > 0, or NaN
        return Tensor.from_op(xp.maximum(x, 0), (input,), lambda g: (g * passes,), "relu")
    y, passes = xp.empty_like(x), xp.empty(x.shape, dtype=bool)

    def forward_part(start: int, stop: int) -> None:
        xp.maximum(x[start:stop], 0, out=y[start:stop])
        xp.not_equal(y[start:stop], 0, out=passes[start:stop])  # x > 0, or NaN (max(NaN, 0) is NaN)

    parallel_for(x.shape[0], forward_part, min_size=1, elements=x.size, like=x)

    def grad_fn(g):
        g = xp.ascontiguousarray(g)  # same layout as the mask: a straight pass
        gx = xp.empty_like(g)

        def backward_part(start: int, stop: int) -> None:
            xp.multiply(g[start:stop], passes[start:stop], out=gx[start:stop])

        parallel_for(g.shape[0], backward_part, min_size=1, elements=g.size, like=g)
        return (gx,)

    return Tensor.from_op(y, (input,), grad_fn, "relu")


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, negative_slope * x otherwise: negative inputs keep a small gradient.
    `inplace` is accepted; the result is always a new tensor."""
    xp = array_module(input.data)
    negative_slope = float(negative_slope)  # a Python float keeps float32 data float32
    positive = input.data > 0
    y = xp.where(positive, input.data, input.data * negative_slope)
    return Tensor.from_op(y, (input,), lambda g: (xp.where(positive, g, g * negative_slope),),
                          "leaky_relu")


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise: smooth, with negative outputs.
    `inplace` is accepted; the result is always a new tensor."""
    return _elu(input, float(alpha), 1.0, 1.0, "elu")


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants of Klambauer et al. (2017).
    `inplace` is accepted; the result is always a new tensor."""
    return _elu(input, _SELU_ALPHA, _SELU_SCALE, 1.0, "selu")


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha * (exp(x / alpha) - 1) otherwise (continuously differentiable ELU).
    `inplace` is accepted; the result is always a new tensor."""
    alpha = float(alpha)
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (it divides the input), got alpha=0")
    # PyTorch's celu backward uses 1 / alpha with alpha rounded to float32, both as the factor
    # and inside the exponential (derivatives.yaml: 1.0 / alpha.toFloat()); so does this one
    return _elu(input, alpha, 1.0, 1.0 / alpha, "celu", grad_input_scale=1.0 / float(numpy.float32(alpha)))


def _elu(input: Tensor, alpha: float, scale: float, input_scale: float, name: str,
         grad_input_scale: float | None = None) -> Tensor:
    """PyTorch's general ELU: scale * x for x > 0, scale * alpha * (exp(x * input_scale) - 1)
    otherwise. Only the negative part is exponentiated, so it never overflows."""
    grad_input_scale = input_scale if grad_input_scale is None else grad_input_scale
    xp = array_module(input.data)
    positive = input.data > 0
    negative_part = xp.minimum(input.data, 0) * input_scale
    y = xp.where(positive, input.data * scale if scale != 1 else input.data,
                 (scale * alpha) * xp.expm1(negative_part))

    grad_exponent = negative_part if grad_input_scale == input_scale else \
        xp.minimum(input.data, 0) * grad_input_scale

    def grad_fn(g):
        return (xp.where(positive, g * scale if scale != 1 else g,
                         g * ((scale * alpha * grad_input_scale) * xp.exp(grad_exponent))),)

    return Tensor.from_op(y, (input,), grad_fn, name)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x), Phi the standard normal cdf; approximate='tanh' uses PyTorch's tanh formula.

    Exact: Phi(x) = erfc(-x / sqrt 2) / 2 (erfc keeps the tiny values for very negative x),
    and d/dx = Phi(x) + x phi(x).
    """
    xp = array_module(input.data)
    x = input.data
    if approximate == "none":
        cdf = 0.5 * _erfc(-x * _SQRT_HALF)
        y = x * cdf

        def grad_fn(g):
            pdf = xp.exp(-0.5 * x * x) * _INV_SQRT_2PI
            return (g * (cdf + x * pdf),)

        return Tensor.from_op(y, (input,), grad_fn, "gelu")
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (x + _GELU_TANH_KAPPA * x * x * x)
        tanh_inner = xp.tanh(inner)
        y = 0.5 * x * (1 + tanh_inner)

        def grad_tanh(g):
            # d/dx [x/2 (1 + tanh u)] = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) u'
            du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_TANH_KAPPA * x * x)
            return (g * (0.5 * (1 + tanh_inner) + 0.5 * x * (1 - tanh_inner * tanh_inner) * du),)

        return Tensor.from_op(y, (input,), grad_tanh, "gelu")
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got approximate={approximate!r}")


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (also called swish); d/dx = s (1 + x (1 - s)). `inplace` is accepted;
    the result is always a new tensor."""
    s = _sigmoid(input.data)
    x = input.data
    return Tensor.from_op(x * s, (input,), lambda g: (g * (s * (1 + x * (1 - s))),), "silu")


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), computed without overflow for either sign; d/dx = y (1 - y)."""
    y = _sigmoid(input.data)
    return Tensor.from_op(y, (input,), lambda g: (g * (1 - y) * y,), "sigmoid")


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent; d/dx = 1 - y^2."""
    y = array_module(input.data).tanh(input.data)
    return Tensor.from_op(y, (input,), lambda g: (g * (1 - y * y),), "tanh")


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along dim, shifted by the max so exp never overflows. dtype casts
    the input first (as PyTorch does); dim=None picks PyTorch's legacy dim (0 for 0-, 1- and
    3-D inputs, else 1) with a warning.

    Backward: with y = softmax(x), dL/dx = y * (g - sum(g * y)) along dim.
    """
    input, dim = _softmax_input(input, dim, dtype, "softmax")
    xp = array_module(input.data)
    x, axis = _along(input, dim, "softmax")
    if x.size == 0:
        return Tensor.from_op(input.data.copy(), (input,), lambda g: (g,), "softmax")
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    y = e / e.sum(axis=axis, keepdims=True)

    def grad_fn(g):
        g = g.reshape(y.shape)
        return ((y * (g - (g * y).sum(axis=axis, keepdims=True))).reshape(input.shape),)

    return Tensor.from_op(y.reshape(input.shape), (input,), grad_fn, "softmax")


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """x - logsumexp(x) along dim, stable for any magnitude; dtype and dim=None as in softmax.

    Backward: dL/dx = g - softmax(x) * sum(g) along dim (softmax is exp of the output).
    """
    input, dim = _softmax_input(input, dim, dtype, "log_softmax")
    xp = array_module(input.data)
    x, axis = _along(input, dim, "log_softmax")
    if x.size == 0:
        return Tensor.from_op(input.data.copy(), (input,), lambda g: (g,), "log_softmax")
    shifted = x - x.max(axis=axis, keepdims=True)
    y = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))

    def grad_fn(g):
        g = g.reshape(y.shape)
        return ((g - xp.exp(y) * g.sum(axis=axis, keepdims=True)).reshape(input.shape),)

    return Tensor.from_op(y.reshape(input.shape), (input,), grad_fn, "log_softmax")


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """softmax(-x) along dim: the smallest entries get the largest weights."""
    input, dim = _softmax_input(input, dim, dtype, "softmin")
    return softmax(neg(input), dim)


def _softmax_input(input: Tensor, dim, dtype, op: str):
    """The input cast to dtype (if given) and the dim, PyTorch's legacy choice when None."""
    if dtype is not None:
        input = cast(input, dtype)
    if dim is None:
        dim = 0 if input.ndim in (0, 1, 3) else 1
        warnings.warn(f"{op}: implicit dimension choice is deprecated; pass dim= (using dim={dim})",
                      UserWarning, stacklevel=3)
    return input, dim


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x clipped to [min_val, max_val]; the gradient is 1 strictly inside, 0 at and beyond the
    bounds, as in PyTorch. `inplace` is accepted; the result is always a new tensor."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val={min_val} must not exceed max_val={max_val}")
    xp = array_module(input.data)
    x = input.data
    low, high = _scalar(min_val, x), _scalar(max_val, x)
    inside = (x > low) & (x < high)
    return Tensor.from_op(xp.clip(x, low, high), (input,), lambda g: (g * inside,), "hardtanh")


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6), i.e. hardtanh(x, 0, 6). `inplace` is accepted; the result is new."""
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6, a piecewise-linear sigmoid; gradient 1/6 for -3 < x < 3, where
    PyTorch's kernel multiplies by the float32 value of 1/6 in every dtype, and so does this.
    `inplace` is accepted; the result is always a new tensor."""
    xp = array_module(input.data)
    x = input.data
    y = xp.clip(x + _scalar(3, x), 0, 6) / _scalar(6, x)
    inside = (x > -3) & (x < 3)
    return Tensor.from_op(y, (input,), lambda g: (g * inside * _scalar(_ONE_SIXTH_F32, g),), "hardsigmoid")


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6 (MobileNetV3); gradient 0 below -3, x/3 + 1/2 up to 3, then 1,
    as PyTorch's. `inplace` is accepted; the result is always a new tensor."""
    xp = array_module(input.data)
    x = input.data
    y = x * xp.clip(x + _scalar(3, x), 0, 6) / _scalar(6, x)

    def grad_fn(g):
        slope = xp.where(x < -3, 0, xp.where(x <= 3, x / _scalar(3, x) + _scalar(0.5, x), 1))
        return (g * slope.astype(g.dtype, copy=False),)

    return Tensor.from_op(y, (input,), grad_fn, "hardswish")


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch's switch
    to the linear part); computed as max(z, 0) + log1p(exp(-|z|)), so it never overflows.
    The gradient is sigmoid(beta x), or 1 above the threshold."""
    xp = array_module(input.data)
    x = input.data
    beta, threshold = float(beta), float(threshold)
    z = x * beta if beta != 1 else x
    linear = z > threshold
    soft = (xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z))))
    y = xp.where(linear, x, soft / beta if beta != 1 else soft)
    return Tensor.from_op(y, (input,), lambda g: (xp.where(linear, g, g * _sigmoid(z)),), "softplus")


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|); d/dx = 1 / (1 + |x|)^2."""
    xp = array_module(input.data)
    x = input.data
    denominator = 1 + xp.abs(x)
    return Tensor.from_op(x / denominator, (input,), lambda g: (g / (denominator * denominator),), "softsign")


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x)) (Misra, 2019); d/dx = t + x sigmoid(x) (1 - t^2), t = tanh(softplus(x)).
    `inplace` is accepted; the result is always a new tensor."""
    xp = array_module(input.data)
    x = input.data
    t = xp.tanh(xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x))))
    return Tensor.from_op(x * t, (input,), lambda g: (g * (t + x * _sigmoid(x) * (1 - t * t)),), "mish")


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), finite for any x; d/dx = sigmoid(-x)."""
    xp = array_module(input.data)
    x = input.data
    y = xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))
    return Tensor.from_op(y, (input,), lambda g: (g * _sigmoid(-x),), "logsigmoid")


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else value; the gradient passes where x > threshold.
    `inplace` is accepted; the result is always a new tensor."""
    xp = array_module(input.data)
    x = input.data
    above = x > _scalar(threshold, x)
    y = xp.where(above, x, _scalar(value, x))
    return Tensor.from_op(y, (input,), lambda g: (g * above,), "threshold")


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x for x > 0, a * x otherwise, with a learnt slope per channel (dim 1), or one shared by
    all (weight of one element). Built from where and mul, so both gradients come from them."""
    if input.ndim == 0:
        raise ValueError("prelu: input must have at least one dimension, got a 0-d tensor")
    channels = input.shape[1] if input.ndim > 1 else 1
    if weight.numel() not in (1, channels):
        raise ValueError(f"prelu: weight has {weight.numel()} elements but input of shape {input.shape} "
                         f"has {channels} channels (dim 1); give 1 or {channels}")
    if weight.numel() == 1:
        slope = reshape(weight, ())
    else:
        slope = reshape(weight, (channels,) + (1,) * (input.ndim - 2))
    return where(input.data > 0, input, mul(slope, input))


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a * sigmoid(b), a and b the two halves of input along dim (gated linear unit)."""
    if input.ndim == 0:
        raise ValueError("glu: input must have at least one dimension, got a 0-d tensor")
    axis = normalize_dim(dim, input.ndim)
    size = input.shape[axis]
    if size % 2:
        raise ValueError(f"glu: dim {dim} of input shape {input.shape} has odd size {size}; it must halve")
    half = size // 2
    lead = (slice(None),) * axis
    return mul(getitem(input, lead + (slice(0, half),)), sigmoid(getitem(input, lead + (slice(half, size),))))


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x)."""
    xp = array_module(input.data)
    t = xp.tanh(input.data)
    return Tensor.from_op(input.data - t, (input,), lambda g: (g * (t * t),), "tanhshrink")


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd above lambd, x + lambd below -lambd, 0 between (soft thresholding)."""
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be non-negative, got lambd={lambd}")
    xp = array_module(input.data)
    x = input.data
    level = _scalar(lambd, x)
    outside = (x > level) | (x < -level)
    y = xp.where(x > level, x - level, xp.where(x < -level, x + level, _scalar(0, x)))
    return Tensor.from_op(y, (input,), lambda g: (g * outside,), "softshrink")


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0."""
    xp = array_module(input.data)
    x = input.data
    outside = (x > _scalar(lambd, x)) | (x < -_scalar(lambd, x))
    return Tensor.from_op(xp.where(outside, x, _scalar(0, x)), (input,), lambda g: (g * outside,), "hardshrink")


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Randomised leaky ReLU: while training each negative element gets its own slope drawn
    from U(lower, upper) (from the library RNG, so the draws differ from PyTorch's);
    otherwise the slope is (lower + upper) / 2. `inplace` is accepted; the result is new."""
    if not 0 <= lower <= upper:
        raise ValueError(f"rrelu: expected 0 <= lower <= upper, got lower={lower}, upper={upper}")
    if not training:
        return leaky_relu(input, (lower + upper) / 2)
    from .. import backend

    xp = array_module(input.data)
    x = input.data
    slopes = xp.asarray(backend.rng().uniform(lower, upper, x.shape), dtype=x.dtype)
    factor = xp.where(x >= 0, _scalar(1, x), slopes)
    return Tensor.from_op(x * factor, (input,), lambda g: (g * factor,), "rrelu")


# ----- helpers -----------------------------------------------------------------------------
def _along(input: Tensor, dim: int, op: str):
    """The data (a 0-d tensor viewed as 1-D, as PyTorch allows) and dim as a checked axis."""
    ndim = max(input.ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}: dim must be an int, got dim={dim!r}")
    if not -ndim <= dim < ndim:
        raise ValueError(f"{op}: dim={dim} is out of range for a tensor of shape {input.shape} "
                         f"(expected {-ndim} <= dim < {ndim})")
    return input.data.reshape(input.shape or (1,)), int(dim) % ndim


def _scalar(value, like):
    """A Python number as a 0-d array of like's dtype, so float32 data stays float32."""
    return array_module(like).asarray(value, dtype=like.dtype)


def _sigmoid(x):
    """Logistic function from exp(-|x|), which is at most 1: no overflow for either sign."""
    xp = array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


# Cody's coefficients (Math. Comp. 23, 1969; netlib specfun `calerf`), one set per interval.
_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
          3.20937758913846947e03, 1.85777706184603153e-1)
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03)
_ERFC_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
           2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
           2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_ERFC_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
           1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
           3.43936767414372164e03, 1.23033935480374942e03)
_ERFC_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
           1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_ERFC_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
           6.05183413124413191e-2, 2.33520497626869185e-3)
_SQRT_PI_INV = 5.6418958354775628695e-1


def _erfc(z):
    """Complementary error function, elementwise, in z's dtype (Cody's three intervals).

    |z| <= 0.46875: erf = z P(z^2)/Q(z^2).  0.46875 < |z| <= 4: erfc = exp(-z^2) P(|z|)/Q(|z|).
    |z| > 4: erfc = exp(-z^2)/|z| (1/sqrt(pi) + R(1/z^2)/z^2). exp(-z^2) is formed as
    exp(-s^2) exp(-(|z|-s)(|z|+s)) with s = |z| rounded down to 1/16, which avoids the
    rounding error of z^2; negative z use erfc(z) = 2 - erfc(|z|).
    """
    xp = array_module(z)
    y = xp.abs(z)
    out = xp.empty_like(z)

    small = y <= 0.46875
    ys = y[small]
    ysq = ys * ys
    num, den = _ERF_A[4] * ysq, ysq
    for a, b in zip(_ERF_A[:3], _ERF_B[:3], strict=True):
        num, den = (num + a) * ysq, (den + b) * ysq
    out[small] = 1 - z[small] * (num + _ERF_A[3]) / (den + _ERF_B[3])

    middle = (y > 0.46875) & (y <= 4)
    ym = y[middle]
    num, den = _ERFC_C[8] * ym, ym
    for c, d in zip(_ERFC_C[:7], _ERFC_D[:7], strict=True):
        num, den = (num + c) * ym, (den + d) * ym
    out[middle] = _exp_minus_square(ym) * ((num + _ERFC_C[7]) / (den + _ERFC_D[7]))

    large = ~(small | middle)  # NaN lands here and stays NaN
    yl = xp.minimum(y[large], 30)  # erfc(30) underflows to 0 in float64; keeps inf finite
    inv_sq = 1 / (yl * yl)
    num, den = _ERFC_P[5] * inv_sq, inv_sq
    for p, q in zip(_ERFC_P[:4], _ERFC_Q[:4], strict=True):
        num, den = (num + p) * inv_sq, (den + q) * inv_sq
    tail = (_SQRT_PI_INV - inv_sq * (num + _ERFC_P[4]) / (den + _ERFC_Q[4])) / yl
    out[large] = _exp_minus_square(yl) * tail

    negative = ~small & (z < 0)
    out[negative] = 2 - out[negative]
    return out


def _exp_minus_square(y):
    """exp(-y^2) for y >= 0 without the relative error y^2 * eps of rounding y^2 first."""
    xp = array_module(y)
    s = xp.trunc(y * 16) / 16
    return xp.exp(-s * s) * xp.exp(-(y - s) * (y + s))
