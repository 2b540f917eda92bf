"""convpool.nn.init: PyTorch's weight initialisers, drawing from the library RNG.

Every function fills a Tensor in place (no graph is recorded) and returns it. Samples come
from `convpool.backend.rng()` (seeded by `convpool.manual_seed`) or from an explicit NumPy
`generator`; they are drawn in float64 and stored in the tensor's own dtype.

The variance-preserving rules: Kaiming (He et al., 2015) keeps Var(output) ~ Var(input)
through a layer followed by a rectifier, std = gain / sqrt(fan); Xavier (Glorot and Bengio,
2010) balances forward and backward, std = gain * sqrt(2 / (fan_in + fan_out)). A uniform
distribution on [-b, b] has std b / sqrt(3).
"""

from __future__ import annotations

import math
import warnings

import numpy

from .. import backend
from ..tensor import Tensor

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "ones_", "zeros_", "xavier_uniform_",
    "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "trunc_normal_", "orthogonal_", "eye_", "dirac_",
]

_LINEAR_LIKE = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity: 1 for linear/conv/sigmoid, 5/3 for tanh,
    sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu (slope = param, default 0.01),
    3/4 for selu."""
    if nonlinearity in _LINEAR_LIKE:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, int | float):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _check(tensor: Tensor, name: str) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name}: expected a convpool.Tensor, got {type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise TypeError(f"{name}: the tensor must be floating point, got {tensor.dtype}")


def _fill(tensor: Tensor, values) -> Tensor:
    tensor.data[...] = backend.asarray(numpy.asarray(values).astype(tensor.dtype, copy=False), like=tensor.data)
    return tensor


def _rng(generator: numpy.random.Generator | None) -> numpy.random.Generator:
    return backend.rng() if generator is None else generator


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0,
             generator: numpy.random.Generator | None = None) -> Tensor:
    """Fill with samples from U[a, b)."""
    _check(tensor, "uniform_")
    return _fill(tensor, _rng(generator).uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: numpy.random.Generator | None = None) -> Tensor:
    """Fill with samples from N(mean, std^2)."""
    _check(tensor, "normal_")
    return _fill(tensor, _rng(generator).normal(mean, std, tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with val."""
    _check(tensor, "constant_")
    tensor.data[...] = val
    return tensor


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1 (norm layers' weight)."""
    return constant_(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0 (biases of norm layers)."""
    return constant_(tensor, 0.0)


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) as PyTorch computes them from the weight's shape alone:
    shape[1] * receptive field and shape[0] * receptive field, where the receptive field is
    the product of shape[2:]. For a conv weight (out, in/groups, *k) this is the number of
    inputs and outputs one kernel touches; a transposed conv's weight is (in, out/groups, *k),
    so its fan_in is out/groups * prod(k), exactly as in torch."""
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _empty(tensor: Tensor) -> bool:
    if tensor.numel() == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: numpy.random.Generator | None = None) -> Tensor:
    """U[-b, b] with b = gain * sqrt(6 / (fan_in + fan_out)) (Glorot uniform)."""
    _check(tensor, "xavier_uniform_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: numpy.random.Generator | None = None) -> Tensor:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)) (Glorot normal)."""
    _check(tensor, "xavier_normal_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: numpy.random.Generator | None = None) -> Tensor:
    """U[-b, b] with b = gain * sqrt(3 / fan) (He uniform); gain from calculate_gain(nonlinearity, a).

    Conv and Linear layers use a=sqrt(5), which gives b = 1 / sqrt(fan_in)."""
    _check(tensor, "kaiming_uniform_")
    if _empty(tensor):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: numpy.random.Generator | None = None) -> Tensor:
    """N(0, std^2) with std = gain / sqrt(fan) (He normal)."""
    _check(tensor, "kaiming_normal_")
    if _empty(tensor):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator: numpy.random.Generator | None = None) -> Tensor:
    """Fill with samples from N(mean, std^2) restricted to [a, b] (absolute bounds, as in
    PyTorch): draws outside are redrawn until every value lies inside."""
    _check(tensor, "trunc_normal_")
    if not a < b:
        raise ValueError(f"trunc_normal_: the bounds must satisfy a < b, got a={a}, b={b}")
    rng = _rng(generator)
    values = rng.normal(mean, std, tensor.shape)
    outside = (values < a) | (values > b)
    for _ in range(1000):
        if not outside.any():
            break
        values[outside] = rng.normal(mean, std, int(outside.sum()))
        outside = (values < a) | (values > b)
    else:
        raise ValueError(f"trunc_normal_: [a, b] = [{a}, {b}] holds almost none of N({mean}, {std}^2)")
    return _fill(tensor, values)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: numpy.random.Generator | None = None) -> Tensor:
    """Fill a tensor of 2 or more dims, viewed as (rows, the rest), with a (semi-)orthogonal
    matrix times gain: the Q of a Gaussian matrix's QR, signs fixed by R's diagonal, as
    PyTorch's (Saxe et al., 2013)."""
    _check(tensor, "orthogonal_")
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, got shape {tensor.shape}")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _rng(generator).normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = numpy.linalg.qr(flat)
    q *= numpy.sign(numpy.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, (q * gain).reshape(tensor.shape))


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity matrix (ones on the diagonal)."""
    _check(tensor, "eye_")
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only 2-D tensors are supported, got shape {tensor.shape}")
    return _fill(tensor, numpy.eye(*tensor.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a conv weight (out, in, *kernel) with the Dirac delta: the layer then passes its
    first min(out, in) channels (per group) through unchanged."""
    _check(tensor, "dirac_")
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_: only 3-, 4- and 5-D tensors are supported, got shape {tensor.shape}")
    out_channels = tensor.shape[0]
    if groups <= 0 or out_channels % groups:
        raise ValueError(f"dirac_: dim 0 of shape {tensor.shape} must be divisible by groups={groups}")
    per_group = out_channels // groups
    values = numpy.zeros(tensor.shape)
    centre = tuple(k // 2 for k in tensor.shape[2:])
    for g in range(groups):
        for d in range(min(per_group, tensor.shape[1])):
            values[(g * per_group + d, d) + centre] = 1
    return _fill(tensor, values)
