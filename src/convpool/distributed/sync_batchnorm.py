"""SyncBatchNorm: batch norm whose training statistics cover the global batch, over every
process, so K processes normalise as one process does on the whole batch.

Forward all-reduces each channel's count, sum and sum of squares; backward all-reduces
sum(g) and sum(g * xhat). Each process's share of the backward sums weighs by its share of
the global batch (its count over the total), which matches DistributedDataParallel's
weighting, so uneven shards give the one-process gradient too:
    y  = xhat * w + b,  xhat = (x - mean) / sqrt(var + eps)
    gx = (w / sqrt(var + eps)) * (g - S[g] / n_local - xhat * S[g xhat] / n_local)
with S[.] the all-reduced, weighted sums. In eval mode, or in a world of one, it is
BatchNorm. `convert_sync_batchnorm(model)` swaps every BatchNorm layer for one.
"""

from __future__ import annotations

import numpy

from .. import backend
from ..nn.module import Module
from ..nn.norm import BatchNorm1d, BatchNorm2d, BatchNorm3d, _BatchNorm
from ..tensor import Tensor
from . import world as _w


class SyncBatchNorm(_BatchNorm):
    """Batch norm over (N, C, *) with statistics from every process's batch (PyTorch's name)."""

    _dims = (2, 3, 4, 5)

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or _w.world_size() == 1:
            return super().forward(input)
        self._check_input_dim(input.ndim)
        if input.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm: expected {self.num_features} channels, got shape {input.shape}")
        factor = 0.0 if self.momentum is None else float(self.momentum)
        if self.track_running_stats:
            self.num_batches_tracked.data[...] += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.data)
        y, mean, var, total = _sync_batch_norm(input, self.weight, self.bias, float(self.eps))
        if self.track_running_stats:
            if total <= 1:
                raise ValueError(f"SyncBatchNorm: expected more than 1 value per channel when training, got "
                                 f"{total:.0f} over all processes")
            unbiased = var * (total / (total - 1))
            device = backend.device_of(self.running_mean.data)
            self.running_mean.data[...] = backend.to_device(
                (factor * mean + (1 - factor) * backend.to_host(self.running_mean.data)).astype(
                    self.running_mean.dtype), device)
            self.running_var.data[...] = backend.to_device(
                (factor * unbiased + (1 - factor) * backend.to_host(self.running_var.data)).astype(
                    self.running_var.dtype), device)
        return y


def _sync_batch_norm(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float):
    """(y, mean, biased var, global count per channel): the op, with its backward."""
    xp = backend.array_module(x.data)
    n, channels = x.shape[:2]
    x3 = x.data.reshape(n, channels, -1)
    local = float(n * x3.shape[2])
    stats = numpy.concatenate([[local], backend.to_host(x3.sum(axis=(0, 2), dtype=xp.float64)),
                               backend.to_host((x3 * x3).sum(axis=(0, 2), dtype=xp.float64))])
    stats = _w.allreduce_array(stats, what="SyncBatchNorm's statistics")
    total = float(stats[0])
    mean = stats[1:1 + channels] / total
    var = numpy.maximum(stats[1 + channels:] / total - mean * mean, 0.0)
    dtype = x.dtype
    mean_d = backend.to_device(mean.astype(dtype), backend.device_of(x.data)).reshape(1, channels, 1)
    inv_d = backend.to_device((1.0 / numpy.sqrt(var + eps)).astype(dtype), backend.device_of(x.data))
    inv_d = inv_d.reshape(1, channels, 1)
    xhat = (x3 - mean_d) * inv_d
    w = weight.data.reshape(1, channels, 1) if weight is not None else xp.ones((1, channels, 1), dtype=dtype)
    y = xhat * w
    if bias is not None:
        y = y + bias.data.reshape(1, channels, 1)
    share = local / total

    def grad_fn(g):
        g3 = g.reshape(n, channels, -1)
        gb = g3.sum(axis=(0, 2))
        gw = (g3 * xhat).sum(axis=(0, 2))
        sums = numpy.concatenate([backend.to_host(gb), backend.to_host(gw)]).astype(numpy.float64) * share
        sums = _w.allreduce_array(sums, what="SyncBatchNorm's gradient sums")
        device = backend.device_of(g)
        s_g = backend.to_device((sums[:channels] / local).astype(dtype), device).reshape(1, channels, 1)
        s_gx = backend.to_device((sums[channels:] / local).astype(dtype), device).reshape(1, channels, 1)
        gx = (w * inv_d) * (g3 - s_g - xhat * s_gx)
        return (gx.reshape(x.shape), gw.astype(dtype) if weight is not None else None,
                gb.astype(dtype) if bias is not None else None)

    out = Tensor.from_op(y.reshape(x.shape), (x, _or_dummy(weight, xp, dtype), _or_dummy(bias, xp, dtype)),
                         grad_fn, "sync_batch_norm")
    return out, mean, var, total


def _or_dummy(t: Tensor | None, xp, dtype) -> Tensor:
    return t if t is not None else Tensor(numpy.zeros(0, dtype=dtype))


def convert_sync_batchnorm(module: Module) -> Module:
    """The module with every BatchNorm1d/2d/3d replaced by a SyncBatchNorm sharing its
    parameters and buffers (PyTorch's `SyncBatchNorm.convert_sync_batchnorm`)."""
    if isinstance(module, BatchNorm1d | BatchNorm2d | BatchNorm3d) and not isinstance(module, SyncBatchNorm):
        sync = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                             module.track_running_stats, dtype=(module.weight.dtype if module.weight is not None
                                                                else None), bias=module.bias is not None)
        for name in ("weight", "bias"):
            if getattr(module, name) is not None:
                sync.register_parameter(name, getattr(module, name))
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            sync.register_buffer(name, getattr(module, name))
        sync.train(module.training)
        return sync
    for name, child in list(module.named_children()):
        converted = convert_sync_batchnorm(child)
        if converted is not child:
            setattr(module, name, converted)
    return module


SyncBatchNorm.convert_sync_batchnorm = staticmethod(convert_sync_batchnorm)
