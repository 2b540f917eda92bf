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

from ..backend import array_module, parallel_for
from ..tensor import Tensor

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_TANH_KAPPA = 0.044715


def relu(input: Tensor) -> Tensor:
    """max(x, 0); the gradient at 0 is 0, and NaN stays NaN, as in PyTorch. Large inputs are
    split over threads (the first axis), forward and backward."""
    xp = array_module(input.data)
    x = input.data
    if x.ndim == 0 or not x.flags.c_contiguous:
        positive = x > 0
        return Tensor.from_op(xp.maximum(x, 0), (input,), lambda g: (g * positive,), "relu")
    y, positive = xp.empty_like(x), xp.empty(x.shape, dtype=bool)

    def forward_part(start: int, stop: int) -> None:
        xp.greater(x[start:stop], 0, out=positive[start:stop])
        xp.maximum(x[start:stop], 0, out=y[start:stop])

    parallel_for(x.shape[0], forward_part, min_size=1, elements=x.size, like=x)

    def grad_fn(g):
        g = xp.ascontiguousarray(g)  # same layout as the mask: a straight pass
        gx = xp.empty_like(g)

        def backward_part(start: int, stop: int) -> None:
            xp.multiply(g[start:stop], positive[start:stop], out=gx[start:stop])

        parallel_for(g.shape[0], backward_part, min_size=1, elements=g.size, like=g)
        return (gx,)

    return Tensor.from_op(y, (input,), grad_fn, "relu")


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, negative_slope * x otherwise: negative inputs keep a small gradient."""
    xp = array_module(input.data)
    negative_slope = float(negative_slope)  # a Python float keeps float32 data float32
    positive = input.data > 0
    y = xp.where(positive, input.data, input.data * negative_slope)
    return Tensor.from_op(y, (input,), lambda g: (xp.where(positive, g, g * negative_slope),),
                          "leaky_relu")


def elu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise: smooth, with negative outputs."""
    xp = array_module(input.data)
    alpha = float(alpha)
    positive = input.data > 0
    negative_part = xp.minimum(input.data, 0)  # exp of the negative part only: never overflows
    y = xp.where(positive, input.data, alpha * xp.expm1(negative_part))

    def grad_fn(g):
        return (xp.where(positive, g, g * (alpha * xp.exp(negative_part))),)

    return Tensor.from_op(y, (input,), grad_fn, "elu")


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


def silu(input: Tensor) -> Tensor:
    """x * sigmoid(x) (also called swish); d/dx = s (1 + x (1 - s))."""
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


def softmax(input: Tensor, dim: int) -> Tensor:
    """exp(x) / sum(exp(x)) along dim, shifted by the max so exp never overflows.

    Backward: with y = softmax(x), dL/dx = y * (g - sum(g * y)) along dim.
    """
    xp = array_module(input.data)
    x, axis = _along(input, dim, "softmax")
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    y = e / e.sum(axis=axis, keepdims=True)

    def grad_fn(g):
        g = g.reshape(y.shape)
        return ((y * (g - (g * y).sum(axis=axis, keepdims=True))).reshape(input.shape),)

    return Tensor.from_op(y.reshape(input.shape), (input,), grad_fn, "softmax")


def log_softmax(input: Tensor, dim: int) -> Tensor:
    """x - logsumexp(x) along dim, stable for any magnitude.

    Backward: dL/dx = g - softmax(x) * sum(g) along dim (softmax is exp of the output).
    """
    xp = array_module(input.data)
    x, axis = _along(input, dim, "log_softmax")
    shifted = x - x.max(axis=axis, keepdims=True)
    y = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))

    def grad_fn(g):
        g = g.reshape(y.shape)
        return ((g - xp.exp(y) * g.sum(axis=axis, keepdims=True)).reshape(input.shape),)

    return Tensor.from_op(y.reshape(input.shape), (input,), grad_fn, "log_softmax")


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
