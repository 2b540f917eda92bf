"""Normalisation layers: BatchNorm1d/2d/3d, InstanceNorm1d/2d/3d, LayerNorm, GroupNorm,
LocalResponseNorm.

BatchNorm keeps running_mean, running_var and num_batches_tracked as buffers (saved in
state_dict under PyTorch's names). In training mode it normalises with the batch
statistics and updates the running ones: running = (1 - m) * running + m * batch, with the
unbiased batch variance; momentum=None uses the cumulative average m = 1 / num_batches_tracked.
In eval mode it normalises with the running statistics (or with the batch's when
track_running_stats=False).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy

from .. import backend
from .. import functional as F
from ..tensor import Tensor
from . import init
from .module import Module, Parameter
from .placement import place


def _dtype(dtype) -> numpy.dtype:
    return backend.default_dtype() if dtype is None else numpy.dtype(dtype)


def _shape(normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    """normalized_shape as a tuple of ints (an int n is (n,))."""
    if isinstance(normalized_shape, numbers.Integral):
        return (int(normalized_shape),)
    return tuple(int(n) for n in normalized_shape)


def _affine(module: Module, shape: tuple[int, ...], affine: bool, bias: bool, dtype: numpy.dtype) -> None:
    """Register the scale (weight) and shift (bias) every norm layer shares, or None for each."""
    module.register_parameter("weight", Parameter(numpy.empty(shape, dtype=dtype)) if affine else None)
    module.register_parameter("bias", Parameter(numpy.empty(shape, dtype=dtype)) if affine and bias else None)


def _reset_affine(module: Module) -> None:
    """weight = 1, bias = 0 (PyTorch's default for norm layers)."""
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


class _NormBase(Module):
    """What batch and instance norm share: num_features, the affine weight and bias, and the
    running statistics buffers (None unless track_running_stats), as PyTorch's _NormBase."""

    def __init__(self, num_features: int, eps: float, momentum: float | None, affine: bool,
                 track_running_stats: bool, device, dtype, bias: bool) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features <= 0:
            raise ValueError(f"{type(self).__name__}: num_features must be a positive int, got {num_features!r}")
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dtype = _dtype(dtype)
        _affine(self, (num_features,), affine, bias, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(numpy.zeros((num_features,), dtype=dtype)))
            self.register_buffer("running_var", Tensor(numpy.ones((num_features,), dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor(numpy.array(0, dtype=numpy.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()
        place(self, device)

    def reset_running_stats(self) -> None:
        """running_mean = 0, running_var = 1, num_batches_tracked = 0."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        """Running statistics reset; weight = 1, bias = 0."""
        self.reset_running_stats()
        _reset_affine(self)


class _BatchNorm(_NormBase):
    _dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias)
        if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, numbers.Real)):
            raise TypeError(f"{type(self).__name__}: momentum must be a float or None, got {momentum!r}")

    def _check_input_dim(self, ndim: int) -> None:
        if ndim not in self._dims:
            wanted = " or ".join(f"{d}D" for d in self._dims)
            raise ValueError(f"{type(self).__name__}: expected {wanted} input (got {ndim}D input)")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input.ndim)
        factor = 0.0 if self.momentum is None else float(self.momentum)
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.data[...] += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.data)
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if track else None, self.running_var if track else None,
                            self.weight, self.bias, use_batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L)."""

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W): per channel, over the batch and the pixels."""

    _dims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch norm over (N, C, D, H, W)."""

    _dims = (5,)


class LayerNorm(Module):
    """Normalise each sample over its trailing normalized_shape dims; elementwise weight and bias."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        self.normalized_shape = _shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dtype = _dtype(dtype)
        _affine(self, self.normalized_shape, elementwise_affine, bias, dtype)
        self.reset_parameters()
        place(self, device)

    def reset_parameters(self) -> None:
        """weight = 1, bias = 0."""
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalise groups of channels of each sample; per-channel weight and bias."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        dtype = _dtype(dtype)
        _affine(self, (num_channels,), affine, bias, dtype)
        self.reset_parameters()
        place(self, device)

    def reset_parameters(self) -> None:
        """weight = 1, bias = 0."""
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class _InstanceNorm(_NormBase):
    """Per-sample, per-channel normalisation over the spatial dims. PyTorch's defaults:
    affine=False, track_running_stats=False; with running stats tracked, eval mode uses them."""

    _nd = 0

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias)

    def forward(self, input: Tensor) -> Tensor:
        nd = self._nd
        if input.ndim not in (nd + 1, nd + 2):
            raise ValueError(f"{type(self).__name__}: expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input, "
                             f"got shape {input.shape}")
        unbatched = input.ndim == nd + 1
        x = input.unsqueeze(0) if unbatched else input
        if self.affine and x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected {self.num_features} channels, got shape {input.shape}")
        use_input_stats = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data[...] += 1
        momentum = 0.1 if self.momentum is None else float(self.momentum)
        y = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_input_stats,
                            momentum, self.eps)
        return y.squeeze(0) if unbatched else y

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance norm over (N, C, L) or (C, L)."""

    _nd = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance norm over (N, C, H, W) or (C, H, W) (style transfer's normalisation)."""

    _nd = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance norm over (N, C, D, H, W) or (C, D, H, W)."""

    _nd = 3


class LocalResponseNorm(Module):
    """AlexNet's normalisation across neighbouring channels (F.local_response_norm)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Tensor) -> Tensor:
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class RMSNorm(Module):
    """x / sqrt(mean(x^2) + eps) over the trailing normalized_shape dims, times a learnt
    elementwise weight (ones at first); eps=None is the dtype's machine epsilon."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float | None = None,
                 elementwise_affine: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        self.normalized_shape = _shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dtype = _dtype(dtype)
        weight = Parameter(numpy.ones(self.normalized_shape, dtype=dtype)) if elementwise_affine else None
        self.register_parameter("weight", weight)
        place(self, device)

    def reset_parameters(self) -> None:
        """weight = 1."""
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input: Tensor) -> Tensor:
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
