"""F.interpolate: resize the spatial dims of (N, C, *spatial) by nearest, linear or cubic
interpolation, or by area averaging, with PyTorch's index rules.

Every mode here is separable, so a resize is one 1-D resize per spatial axis. A 1-D resize
reads each output pixel from one (nearest), two (linear) or four (cubic) input pixels at
precomputed indices with precomputed weights: a gather along the axis (`pad._gather`,
whose backward is the adjoint sum) times a constant weight, added up. Indices and weights
follow PyTorch's CPU kernels (aten/src/ATen/native/UpSample.h), computed in the input's
dtype as PyTorch does:

    scale  = (in - 1) / (out - 1) with align_corners, else 1 / scale_factor when given,
             else in / out
    source = scale * i with align_corners, else scale * (i + 0.5) - 0.5 (linear clamps it at 0)
    nearest: floor(scale * i); nearest-exact: floor(source + 0.5); both capped at in - 1
    linear:  i0 = floor(source), i1 = min(i0 + 1, in - 1), weights 1 - l, l = source - i0
    cubic:   Keys' cubic convolution (A = -0.75) at i0 - 1 .. i0 + 2, indices clamped to the edge
    area:    adaptive average pooling to the output size
"""

from __future__ import annotations

import math
import numbers

import numpy

from ..backend import array_module
from ..tensor import Tensor
from .basic import add, mul
from .pad import _gather

MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
_CUBIC_A = -0.75


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None, antialias: bool = False) -> Tensor:
    """Resize input (N, C, L), (N, C, H, W) or (N, C, D, H, W) to `size`, or by `scale_factor`
    (output size floor(in * scale)); PyTorch's arguments and defaults. recompute_scale_factor
    makes the interpolation use in / out instead of 1 / scale_factor."""
    if not isinstance(input, Tensor):
        raise TypeError(f"interpolate: input must be a convpool.Tensor, got {type(input).__name__}")
    if mode not in MODES:
        raise ValueError(f"interpolate: mode must be one of {MODES}, got mode={mode!r}")
    if input.dtype.kind != "f":
        raise TypeError(f"interpolate: input must be floating point (float32 or float64), got {input.dtype}")
    nd = input.ndim - 2
    if nd not in (1, 2, 3):
        raise ValueError(f"interpolate: input must be 3-D, 4-D or 5-D (N, C, *spatial), got shape {input.shape}")
    if mode in _DIMS and _DIMS[mode] != nd:
        raise ValueError(f"interpolate: mode={mode!r} needs a {_DIMS[mode] + 2}-D input, got {input.ndim}-D "
                         f"with shape {input.shape}")
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported by convpool; use antialias=False")
    if mode in ("nearest", "nearest-exact", "area"):
        if align_corners is not None:
            raise ValueError("interpolate: align_corners can only be set with the interpolating modes "
                             "linear, bilinear, bicubic and trilinear")
        align_corners = False
    align_corners = bool(align_corners)
    if recompute_scale_factor and size is not None:
        raise ValueError("interpolate: recompute_scale_factor is not meaningful with an explicit size")
    out, scales = _output_sizes(input.shape[2:], size, scale_factor, bool(recompute_scale_factor) or mode == "area")
    if mode == "area":
        return _area(input, out)
    y = input
    for axis in range(nd):
        in_size = input.shape[2 + axis]
        if out[axis] == in_size and mode in ("linear", "bilinear", "trilinear"):
            continue  # PyTorch copies an axis whose size does not change
        y = _resize_axis(y, 2 + axis, in_size, out[axis], scales[axis], mode, align_corners)
    return y if y is not input else Tensor.from_op(input.data.copy(), (input,), lambda g: (g,), "interpolate")


def _output_sizes(sizes, size, scale_factor, recompute: bool):
    """(output sizes, scale factors to interpolate with, None where in / out is used)."""
    nd = len(sizes)
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor, got "
                         f"size={size!r}, scale_factor={scale_factor!r}")
    if size is not None:
        out = tuple(size) if isinstance(size, tuple | list) else (size,) * nd
        if len(out) != nd or any(isinstance(o, bool) or not isinstance(o, numbers.Integral) or o <= 0 for o in out):
            raise ValueError(f"interpolate: size must be a positive int or {nd} positive ints for an input "
                             f"with {nd} spatial dims {tuple(sizes)}, got size={size!r}")
        return tuple(int(o) for o in out), (None,) * nd
    factors = tuple(scale_factor) if isinstance(scale_factor, tuple | list) else (scale_factor,) * nd
    if len(factors) != nd or any(isinstance(f, bool) or not isinstance(f, numbers.Real) or not f > 0
                                 or not math.isfinite(f) for f in factors):
        raise ValueError(f"interpolate: scale_factor must be a positive number or {nd} of them for an input "
                         f"with {nd} spatial dims {tuple(sizes)}, got scale_factor={scale_factor!r}")
    out = tuple(math.floor(float(n) * float(f)) for n, f in zip(sizes, factors, strict=True))
    if any(o <= 0 for o in out):
        raise ValueError(f"interpolate: scale_factor={scale_factor!r} gives output size {out} for input "
                         f"size {tuple(sizes)}; every output size must be positive")
    return out, ((None,) * nd if recompute else tuple(float(f) for f in factors))


def _area(input: Tensor, out) -> Tensor:
    from . import pool, pool3d  # area mode is adaptive average pooling

    nd = len(out)
    resize = {1: pool.adaptive_avg_pool1d, 2: pool.adaptive_avg_pool2d, 3: pool3d.adaptive_avg_pool3d}[nd]
    return resize(input, out)


def _scale(in_size: int, out_size: int, align_corners: bool, scale_factor, dtype):
    """PyTorch's area_pixel_compute_scale, in dtype."""
    if align_corners:
        return dtype.type(in_size - 1) / dtype.type(out_size - 1) if out_size > 1 else dtype.type(0)
    if scale_factor is not None:
        return dtype.type(1.0 / scale_factor)
    return dtype.type(in_size) / dtype.type(out_size)


def _source(scale, out_size: int, align_corners: bool, cubic: bool, dtype):
    """PyTorch's area_pixel_compute_source_index for every output position, in dtype."""
    i = numpy.arange(out_size).astype(dtype)
    if align_corners:
        return scale * i
    source = scale * (i + dtype.type(0.5)) - dtype.type(0.5)
    return source if cubic else numpy.maximum(source, dtype.type(0))


def _taps(in_size: int, out_size: int, scale_factor, mode: str, align_corners: bool, dtype):
    """[(index array, weight array or None)] for one axis: the input pixels each output reads."""
    scale = _scale(in_size, out_size, align_corners, scale_factor, dtype)
    last = in_size - 1
    if mode == "nearest":
        index = numpy.floor((scale * numpy.arange(out_size).astype(dtype)).astype(numpy.float32))
        return [(numpy.minimum(index.astype(numpy.int64), last), None)]
    if mode == "nearest-exact":
        source = _source(scale, out_size, False, False, dtype)
        index = numpy.floor((source + dtype.type(0.5)).astype(numpy.float32))
        return [(numpy.minimum(index.astype(numpy.int64), last), None)]
    if mode == "bicubic":
        source = _source(scale, out_size, align_corners, True, dtype)
        start = numpy.floor(source.astype(numpy.float32)).astype(numpy.int64)
        t = source - start.astype(dtype)
        weights = _cubic_weights(t)
        return [(numpy.clip(start - 1 + j, 0, last), weights[j]) for j in range(4)]
    source = _source(scale, out_size, align_corners, False, dtype)  # linear, bilinear, trilinear
    i0 = numpy.minimum(numpy.floor(source.astype(numpy.float32)).astype(numpy.int64), last)
    lambda1 = numpy.clip(source - i0.astype(dtype), 0, 1).astype(dtype)
    i1 = numpy.where(i0 < last, i0 + 1, i0)
    return [(i0, (1 - lambda1).astype(dtype)), (i1, lambda1)]


def _cubic_weights(t):
    """Keys' cubic convolution weights for the taps at -1, 0, 1, 2 around a point t in [0, 1)."""
    a = _CUBIC_A

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _resize_axis(x: Tensor, axis: int, in_size: int, out_size: int, scale_factor, mode: str,
                 align_corners: bool) -> Tensor:
    """One 1-D resize along axis: sum over taps of gather(x, index) * weight."""
    xp = array_module(x.data)
    broadcast = (out_size,) + (1,) * (x.ndim - 1 - axis)
    y = None
    for index, weight in _taps(in_size, out_size, scale_factor, mode, align_corners, x.dtype):
        picked = _gather(x, axis, xp.asarray(index), xp)
        if weight is not None:
            picked = mul(picked, Tensor(xp.asarray(weight.astype(x.dtype).reshape(broadcast))))
        y = picked if y is None else add(y, picked)
    return y


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None
             ) -> Tensor:
    """The deprecated F.upsample name of interpolate."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """interpolate(..., mode='nearest')."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """interpolate(..., mode='bilinear', align_corners=True), as PyTorch's deprecated function."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
