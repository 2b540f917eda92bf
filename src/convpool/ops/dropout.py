"""Dropout: zero random elements (or whole channels) while training, and scale the survivors
by 1/(1-p) so that the expected value is unchanged and evaluation needs no rescaling
("inverted" dropout). The mask comes from the library RNG (`convpool.manual_seed`); the
gradient is the upstream gradient times the same scaled mask.
"""

from __future__ import annotations

import numbers

from .. import backend
from ..backend import array_module
from ..tensor import Tensor


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p while training; identity when not training.
    `inplace` (here and below) is accepted; the result is always a new tensor."""
    return _dropout(input, p, training, input.shape, "dropout")


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) or unbatched (C, L) input, each with probability p."""
    return _dropout(input, p, training, _channel_mask_shape(input, 1, "dropout1d"), "dropout1d")


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) or unbatched (C, H, W) input, each with probability p.

    A 3-D input is read as one unbatched image (C, H, W), as nn.Dropout2d documents; PyTorch
    2.13's functional form still reads it as (N, C, L) with a warning.
    """
    return _dropout(input, p, training, _channel_mask_shape(input, 2, "dropout2d"), "dropout2d")


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, D, H, W) or unbatched (C, D, H, W) input, each with probability p."""
    return _dropout(input, p, training, _channel_mask_shape(input, 3, "dropout3d"), "dropout3d")


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Dropout for SELU networks (Klambauer et al., 2017): dropped elements take SELU's
    negative saturation value -scale * alpha instead of 0, and an affine correction
    a x + b keeps the mean and variance of a standardised input. As in PyTorch the
    default is training=False (identity)."""
    return _alpha_dropout(input, p, training, input.shape, "alpha_dropout")


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """alpha_dropout dropping whole channels (dim 1 of (N, C, *)) instead of elements."""
    if input.ndim < 2:
        raise ValueError(f"feature_alpha_dropout: input must be (N, C, *), got shape {input.shape}")
    return _alpha_dropout(input, p, training, input.shape[:2] + (1,) * (input.ndim - 2), "feature_alpha_dropout")


def _alpha_dropout(input: Tensor, p: float, training: bool, mask_shape: tuple[int, ...], op: str) -> Tensor:
    """PyTorch's form:
    y = a (x keep + alpha' (1 - keep)) - a alpha' p with alpha' = -1.7580993408473766 and
    a = ((1 - p)(1 + p alpha'^2))^(-1/2); the gradient is a * keep. p = 1 gives zeros."""
    if not _applies(input, p, training, op):
        return input
    xp = array_module(input.data)
    if p == 1:
        zeros = xp.zeros(mask_shape, dtype=input.dtype)
        return Tensor.from_op(input.data * zeros, (input,), lambda g: (g * zeros,), op)
    alpha = 1.7580993408473766
    a = ((1 - float(p)) * (1 + float(p) * alpha * alpha)) ** -0.5
    keep = (backend.rng().random(mask_shape) >= p).astype(input.dtype)
    scale = keep * a
    shift = (keep - 1) * (alpha * a) + alpha * a * float(p)
    return Tensor.from_op(input.data * scale + shift, (input,), lambda g: (g * scale,), op)


def _check_p(p, op: str) -> None:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"{op}: dropout probability p has to be between 0 and 1, got p={p!r}")


def _applies(input: Tensor, p: float, training: bool, op: str) -> bool:
    """Check p and input's dtype; whether dropout changes anything (training with p > 0)."""
    _check_p(p, op)
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating point (float32 or float64), got {input.dtype}")
    return bool(training) and p != 0


def _channel_mask_shape(input: Tensor, spatial: int, op: str) -> tuple[int, ...]:
    """(N, C, 1, ...) for batched input, (C, 1, ...) for unbatched: one draw per channel."""
    if input.ndim not in (spatial + 1, spatial + 2):
        names = {1: "L", 2: "H, W", 3: "D, H, W"}[spatial]
        raise ValueError(f"{op}: input must be {spatial + 2}-D (N, C, {names}) or {spatial + 1}-D "
                         f"(C, {names}), got {input.ndim}-D with shape {input.shape}")
    return input.shape[:input.ndim - spatial] + (1,) * spatial


def _dropout(input: Tensor, p: float, training: bool, mask_shape: tuple[int, ...], op: str) -> Tensor:
    if not _applies(input, p, training, op):
        return input
    xp = array_module(input.data)
    if p == 1:
        mask = xp.zeros(mask_shape, dtype=input.dtype)
    else:
        keep = backend.uniform(mask_shape, like=input.data) >= p
        mask = keep.astype(input.dtype) * (1 / (1 - float(p)))  # Python float: dtype kept
    return Tensor.from_op(input.data * mask, (input,), lambda g: (g * mask,), op)
