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


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p while training; identity when not training."""
    return _dropout(input, p, training, input.shape, "dropout")


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero whole channels of (N, C, L) or unbatched (C, L) input, each with probability p."""
    return _dropout(input, p, training, _channel_mask_shape(input, 1, "dropout1d"), "dropout1d")


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero whole channels of (N, C, H, W) or unbatched (C, H, W) input, each with probability p.

    A 3-D input is read as one unbatched image (C, H, W), as nn.Dropout2d documents; PyTorch
    2.13's functional form still reads it as (N, C, L) with a warning.
    """
    return _dropout(input, p, training, _channel_mask_shape(input, 2, "dropout2d"), "dropout2d")


def _channel_mask_shape(input: Tensor, spatial: int, op: str) -> tuple[int, ...]:
    """(N, C, 1, ...) for batched input, (C, 1, ...) for unbatched: one draw per channel."""
    if input.ndim not in (spatial + 1, spatial + 2):
        names = "L" if spatial == 1 else "H, W"
        raise ValueError(f"{op}: input must be {spatial + 2}-D (N, C, {names}) or {spatial + 1}-D "
                         f"(C, {names}), got {input.ndim}-D with shape {input.shape}")
    return input.shape[:input.ndim - spatial] + (1,) * spatial


def _dropout(input: Tensor, p: float, training: bool, mask_shape: tuple[int, ...], op: str) -> Tensor:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"{op}: dropout probability p has to be between 0 and 1, got p={p!r}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating point (float32 or float64), got {input.dtype}")
    if not training or p == 0:
        return input
    xp = array_module(input.data)
    if p == 1:
        mask = xp.zeros(mask_shape, dtype=input.dtype)
    else:
        keep = backend.uniform(mask_shape, like=input.data) >= p
        mask = keep.astype(input.dtype) * (1 / (1 - float(p)))  # Python float: dtype kept
    return Tensor.from_op(input.data * mask, (input,), lambda g: (g * mask,), op)
