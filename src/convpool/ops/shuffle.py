"""Rearrangements of channels: pixel shuffle (sub-pixel convolution, Shi et al. 2016) trades
channels for resolution, channel shuffle (ShuffleNet) interleaves channel groups.

pixel_shuffle moves r * r channels into an r x r block of pixels, (*, C r^2, H, W) ->
(*, C, H r, W r); pixel_unshuffle is its inverse; channel_shuffle reads (N, g * k, *) as
(N, g, k, *) and transposes it to (N, k, g, *). Each is a reshape, a permute and a
reshape, so their gradients come from those ops.
"""

from __future__ import annotations

from ..tensor import Tensor
from .basic import permute, reshape


def _factor(op: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{op}: {name} must be a positive int, got {name}={value!r}")
    return value


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r); channel c * r^2 + i * r + j lands at (i, j)."""
    r = _factor("pixel_shuffle", "upscale_factor", upscale_factor)
    if input.ndim < 3 or input.shape[-3] % (r * r):
        raise ValueError(f"pixel_shuffle: input must be (*, C * r^2, H, W) with r={r}: the channel dim of "
                         f"shape {input.shape} must be divisible by {r * r}")
    *lead, channels, h, w = input.shape
    lead = tuple(lead)
    c = channels // (r * r)
    k = len(lead)
    y = reshape(input, lead + (c, r, r, h, w))
    y = permute(y, tuple(range(k)) + (k, k + 3, k + 1, k + 4, k + 2))
    return reshape(y, lead + (c, h * r, w * r))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H * r, W * r) -> (*, C * r^2, H, W), the inverse of pixel_shuffle."""
    r = _factor("pixel_unshuffle", "downscale_factor", downscale_factor)
    if input.ndim < 3 or input.shape[-1] % r or input.shape[-2] % r:
        raise ValueError(f"pixel_unshuffle: input must be (*, C, H, W) with H and W divisible by r={r}, "
                         f"got shape {input.shape}")
    *lead, c, hr, wr = input.shape
    lead = tuple(lead)
    h, w = hr // r, wr // r
    k = len(lead)
    y = reshape(input, lead + (c, h, r, w, r))
    y = permute(y, tuple(range(k)) + (k, k + 2, k + 4, k + 1, k + 3))
    return reshape(y, lead + (c * r * r, h, w))


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """(N, C, *) with C = groups * k: channel i * k + j moves to j * groups + i (ShuffleNet)."""
    g = _factor("channel_shuffle", "groups", groups)
    if input.ndim < 3 or input.shape[1] % g:
        raise ValueError(f"channel_shuffle: input must be (N, C, *) with C divisible by groups={g}, "
                         f"got shape {input.shape}")
    n, c, *rest = input.shape
    rest = tuple(rest)
    y = reshape(input, (n, g, c // g) + rest)
    y = permute(y, (0, 2, 1) + tuple(range(3, 3 + len(rest))))
    return reshape(y, input.shape)
