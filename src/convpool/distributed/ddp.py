"""DistributedDataParallel: one model per process, gradients averaged across processes.

As PyTorch's: wrapping broadcasts rank 0's parameters and buffers, so every process starts
from the same weights; each process runs forward and backward on its own shard of the
global batch; when backward() returns, every parameter's `.grad` holds the gradient of the
whole global batch, the same on every process, so each optimiser step makes the same weights.

Overlap. The parameters are grouped, last layer first (the order backward reaches them),
into buckets of at most `bucket_cap_mb` (the first one 1 MB, so communication starts early).
A hook on each parameter's gradient accumulation (`register_post_accumulate_grad_hook`)
counts the bucket's finished gradients; a full bucket is copied into one contiguous buffer
and all-reduced without blocking (MPI Iallreduce) while backward goes on with the earlier
layers. Buckets are started in the same order on every process, as MPI requires. The last
gradient waits for every bucket and writes the reduced values back into `.grad`.

Uneven shards. Each process's gradient weighs by its share of the global batch (its
forward's batch length over the sum of all of them), not 1/K, so 3 processes on a batch of
64 give the same step as one process on the whole batch, for a loss that is a mean over the
batch (`weight_by_batch_size=False` averages plainly, as PyTorch does).

Batch norm keeps per-process statistics (`broadcast_buffers`: rank 0's buffers are sent to
the others before each training forward, as in PyTorch); `nn.SyncBatchNorm` shares them.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy

from .. import backend
from ..nn.module import Module
from ..tensor import Tensor, is_grad_enabled
from . import world as _w


class _Bucket:
    __slots__ = ("params", "offsets", "buffer", "ready", "request")

    def __init__(self, params: list[Tensor], dtype: numpy.dtype) -> None:
        self.params = params
        sizes = [int(p.data.size) for p in params]
        self.offsets = numpy.concatenate([[0], numpy.cumsum(sizes)]).astype(int).tolist()
        self.buffer = numpy.zeros(self.offsets[-1], dtype=dtype)
        self.ready: set[int] = set()
        self.request: Any = None


def _buckets(params: list[Tensor], cap_bytes: int, first_cap_bytes: int) -> list[_Bucket]:
    """Consecutive parameters of one dtype, reversed (backward's order), up to the cap each."""
    buckets: list[_Bucket] = []
    group: list[Tensor] = []
    size = 0
    for param in reversed(params):
        limit = first_cap_bytes if not buckets else cap_bytes
        if group and (param.data.dtype != group[0].data.dtype or size + param.data.nbytes > limit):
            buckets.append(_Bucket(group, group[0].data.dtype))
            group, size = [], 0
        group.append(param)
        size += param.data.nbytes
    if group:
        buckets.append(_Bucket(group, group[0].data.dtype))
    return buckets


class DistributedDataParallel(Module):
    """Wrap `module` for data-parallel training; call it as the module. In a world of one
    it is the module itself with no communication.

    bucket_cap_mb: the largest bucket. broadcast_buffers: send rank 0's buffers before each
    training forward. find_unused_parameters: walk the output's graph after forward and count
    the parameters it does not reach as done (their gradient is taken as zero); without it a
    parameter that gets no gradient stops the next forward with an error. weight_by_batch_size:
    weigh each process's gradient by its share of the global batch (see the module notes).
    `no_sync()` accumulates without communicating; `sync_buffers()` sends rank 0's buffers.
    wait_seconds and reduce_seconds add up the time spent blocked on, and copying for, the
    all-reduce."""

    def __init__(self, module: Module, bucket_cap_mb: float = 4.0, broadcast_buffers: bool = True,
                 find_unused_parameters: bool = False, weight_by_batch_size: bool = True) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be a convpool Module, got {type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb!r}")
        _w.init()
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.weight_by_batch_size = bool(weight_by_batch_size)
        self._size = _w.world_size()
        self._params = [p for p in module.parameters() if p.requires_grad]
        cap = int(bucket_cap_mb * 2**20)
        self._bucket_list = _buckets(self._params, cap, min(cap, 2**20))
        self._where = {id(p): (b, i) for b, bucket in enumerate(self._bucket_list) for i, p in enumerate(bucket.params)}
        self._armed = False
        self._syncing = True
        self._launched = 0
        self._count = numpy.zeros(1, dtype=numpy.float64)
        self._count_request: Any = None
        self._local_count = 0.0
        self._armed_rows = 0.0
        self._weight = 1.0
        self.wait_seconds = 0.0  # time backward spent blocked on the all-reduce (for measuring overlap)
        self.reduce_seconds = 0.0  # time spent copying gradients into and out of the buckets
        self._removers = [p.register_post_accumulate_grad_hook(_weak_hook(self)) for p in self._params]
        if self._size > 1:
            self._broadcast(list(module.parameters()) + [b for b in module.buffers() if b is not None],
                            "the initial parameters and buffers")

    # ----- the forward pass -------------------------------------------------------------
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        prepare = self._size > 1 and self.training and is_grad_enabled() and bool(self._params)
        if prepare:
            if self._armed and any(b.ready for b in self._bucket_list):
                raise _w.DistributedError(
                    "DistributedDataParallel: the previous backward did not finish reducing gradients: some "
                    "parameters got none (pass find_unused_parameters=True)")
            if self.broadcast_buffers:
                self.sync_buffers()
            rows = float(_batch_length(inputs, kwargs)) if self.weight_by_batch_size else 1.0
            self._local_count += rows
            if self._syncing:
                self._arm(rows)
        output = self.module(*inputs, **kwargs)
        if prepare and self._syncing and self.find_unused_parameters:
            reached = _leaves_reached(output)
            for param in self._params:
                if id(param) not in reached:
                    self._mark_ready(param)
        return output

    def _arm(self, rows: float) -> None:
        world = _w._get()
        if self._count_request is not None:  # a forward whose backward never came: its rows count no more
            _w.wait([self._count_request], "the batch sizes of the other processes")
            self._local_count -= self._armed_rows
        self._armed_rows = rows
        self._count = numpy.array([self._local_count], dtype=numpy.float64)
        self._count_request = world.comm.Iallreduce(world.mpi.IN_PLACE, self._count, op=world.mpi.SUM)
        for bucket in self._bucket_list:
            bucket.ready.clear()
            bucket.request = None
        self._launched = 0
        self._armed = True

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes inside accumulate local gradients only; the first forward and
        backward after the block reduce the sum (gradient accumulation)."""
        previous = self._syncing
        self._syncing = False
        try:
            yield
        finally:
            self._syncing = previous

    # ----- the backward pass ------------------------------------------------------------
    def _on_gradient(self, param: Tensor) -> None:
        if self._armed and self._syncing:
            self._mark_ready(param)

    def _mark_ready(self, param: Tensor) -> None:
        b, i = self._where[id(param)]
        bucket = self._bucket_list[b]
        if i in bucket.ready:
            raise _w.DistributedError("DistributedDataParallel: a parameter's gradient was accumulated twice in one "
                                      "backward pass (backward called twice before a forward?)")
        bucket.ready.add(i)
        world = _w._get()
        while self._launched < len(self._bucket_list):
            nxt = self._bucket_list[self._launched]
            if len(nxt.ready) < len(nxt.params):
                break
            self._launch(nxt, world)
            self._launched += 1
        pending = [x.request for x in self._bucket_list[:self._launched] if x.request is not None]
        if pending:
            world.mpi.Request.Testall(pending)  # lets MPI move the reductions on while backward computes
        if self._launched == len(self._bucket_list):
            self._finish(world)

    def _launch(self, bucket: _Bucket, world: Any) -> None:
        began = time.perf_counter()
        if self._count_request is not None:
            _w.wait([self._count_request], "the batch sizes of the other processes")
            self._count_request = None
            total = float(self._count[0])
            self._weight = self._local_count / total if self.weight_by_batch_size and total > 0 else 1.0 / self._size
            self._local_count = 0.0
        for param, start, stop in zip(bucket.params, bucket.offsets, bucket.offsets[1:], strict=False):
            part = bucket.buffer[start:stop]
            if param.grad is None:
                part[...] = 0
            else:
                numpy.multiply(backend.to_host(param.grad.data).reshape(-1), self._weight, out=part)
        bucket.request = world.comm.Iallreduce(world.mpi.IN_PLACE, bucket.buffer, op=world.mpi.SUM)
        self.reduce_seconds += time.perf_counter() - began

    def _finish(self, world: Any) -> None:
        began = time.perf_counter()
        _w.wait([b.request for b in self._bucket_list], "the gradients of the other processes (all-reduce)")
        waited = time.perf_counter()
        for bucket in self._bucket_list:
            bucket.request = None
            for param, start, stop in zip(bucket.params, bucket.offsets, bucket.offsets[1:], strict=False):
                reduced = bucket.buffer[start:stop].reshape(param.data.shape)
                if isinstance(param.data, numpy.ndarray):
                    param.grad = Tensor(reduced)  # a view of the bucket: the next backward makes a new array
                else:  # from_op keeps a device array as it is
                    on_device = backend.to_device(reduced.copy(), backend.device_of(param.data))
                    param.grad = Tensor.from_op(on_device, (), _no_gradient, "grad")
        self._armed = False
        self._launched = 0
        self.wait_seconds += waited - began
        self.reduce_seconds += time.perf_counter() - waited

    # ----- buffers ----------------------------------------------------------------------
    def sync_buffers(self) -> None:
        """Give every process rank 0's buffers (batch norm's running statistics)."""
        if self._size > 1:
            self._broadcast([b for b in self.module.buffers() if b is not None], "rank 0's buffers")

    def _broadcast(self, tensors: list[Tensor], what: str) -> None:
        world = _w._get()
        hosts = [numpy.ascontiguousarray(backend.to_host(t.data)).copy() for t in tensors]
        _w.wait([world.comm.Ibcast(h, root=0) for h in hosts], what)
        for tensor, host in zip(tensors, hosts, strict=True):
            tensor.data[...] = backend.to_device(host, backend.device_of(tensor.data))

    def extra_repr(self) -> str:
        sizes = ", ".join(f"{b.buffer.nbytes / 2**20:.2f}" for b in self._bucket_list)
        return f"world_size={self._size}, buckets (MB)=[{sizes}]"


def _weak_hook(ddp: DistributedDataParallel):
    """The gradient hook, holding the wrapper weakly: a wrapper no one uses any more is freed
    and its hooks do nothing (fit wraps the model anew on each call)."""
    ref = weakref.ref(ddp)

    def hook(param: Tensor) -> None:
        owner = ref()
        if owner is not None:
            owner._on_gradient(param)

    return hook


def _no_gradient(_g):
    return ()


def _batch_length(inputs: tuple, kwargs: dict) -> int:
    """The batch length of the first tensor argument."""
    for value in list(inputs) + list(kwargs.values()):
        if isinstance(value, Tensor) and value.ndim > 0:
            return value.shape[0]
        if isinstance(value, numpy.ndarray) and value.ndim > 0:
            return value.shape[0]
    raise ValueError("DistributedDataParallel: the forward has no tensor argument to take the batch length from; "
                     "pass weight_by_batch_size=False")


def _leaves_reached(output: Any) -> set[int]:
    """ids of the tensors the output's graph reaches."""
    stack = [t for t in _tensors_in(output)]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.extend(node._parents)
    return seen


def _tensors_in(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [t for item in value for t in _tensors_in(item)]
    return []
