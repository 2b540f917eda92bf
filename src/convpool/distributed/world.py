"""The process world: rank, size and collectives on tensors, over MPI (mpi4py).

`init()` joins the world mpiexec (or a cluster scheduler) started. Without mpi4py, or in a
process no MPI launcher started, it is a world of one: rank 0 of 1, every collective a copy
or a no-op, so the same script runs alone or as K processes.

Collectives are started non-blocking and waited for by polling with a deadline (`timeout`
seconds, 600 by default or CONVPOOL_DISTRIBUTED_TIMEOUT): a peer that hangs or left makes
the others stop with `DistributedTimeout` instead of waiting for ever. In a world of more
than one, `init()` also installs an excepthook that prints one line naming the rank and the
error, then aborts the world, so a process that raises stops all the others at once.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy

from .. import backend
from ..tensor import Tensor

_LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS",
                       "HYDRA_CONTROL_FD", "PMI_FD")
DEFAULT_TIMEOUT = 600.0


class DistributedError(RuntimeError):
    """A collective could not complete: a peer failed, left or disagreed."""


class DistributedTimeout(DistributedError):
    """A collective waited past the world's timeout."""


class _World:
    def __init__(self, comm: Any, mpi: Any, timeout: float) -> None:
        self.comm, self.mpi, self.timeout = comm, mpi, timeout
        self.rank = 0 if comm is None else comm.Get_rank()
        self.size = 1 if comm is None else comm.Get_size()
        if comm is None:
            self.local_size = 1
        else:
            local = comm.Split_type(mpi.COMM_TYPE_SHARED)
            self.local_size = local.Get_size()
            local.Free()


_world: _World | None = None


def launched_by_mpi() -> bool:
    """True in a process an MPI launcher (mpiexec, srun) started."""
    return any(name in os.environ for name in _LAUNCHER_VARIABLES)


def _default_timeout() -> float:
    text = os.environ.get("CONVPOOL_DISTRIBUTED_TIMEOUT")
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"CONVPOOL_DISTRIBUTED_TIMEOUT must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise ValueError(f"CONVPOOL_DISTRIBUTED_TIMEOUT must be positive, got {text!r}")
    return value


def init(timeout: float | None = None) -> None:
    """Join the MPI world (once; later calls only change the timeout, if given). A world of one
    without mpi4py or outside an MPI launcher."""
    global _world
    if timeout is not None and not (isinstance(timeout, int | float) and timeout > 0):
        raise ValueError(f"init: timeout must be a positive number of seconds, got {timeout!r}")
    if _world is not None:
        if timeout is not None:
            _world.timeout = float(timeout)
        return
    seconds = float(timeout) if timeout is not None else _default_timeout()
    comm = mpi = None
    if launched_by_mpi():
        try:
            from mpi4py import MPI
        except ImportError:
            MPI = None  # noqa: N806  (mpi4py's name)
        if MPI is not None:
            mpi, comm = MPI, MPI.COMM_WORLD
    _world = _World(comm, mpi, seconds)
    if _world.size > 1:
        _install_excepthook()
        folder = os.environ.get("CONVPOOL_RANK_DIR")
        if folder:  # the launcher names a process that dies by its rank (launch.py)
            with open(os.path.join(folder, str(os.getpid())), "w") as file:
                file.write(f"{_world.rank} {_world.size}")


def _get() -> _World:
    if _world is None:
        init()
    assert _world is not None
    return _world


def is_initialized() -> bool:
    return _world is not None


def rank() -> int:
    """This process's rank, 0 to world_size() - 1."""
    return _get().rank


def world_size() -> int:
    """The number of processes training together."""
    return _get().size


def local_world_size() -> int:
    """The number of processes of the world on this machine."""
    return _get().local_size


def is_main() -> bool:
    """True on rank 0, the process that prints, writes checkpoints and serves views."""
    return _get().rank == 0


def timeout() -> float:
    return _get().timeout


ABORT_GRACE_SECONDS = 0.5


def fail(message: str, code: int = 1) -> None:
    """Print one line naming this rank and stop the whole world (MPI Abort). In a world of
    one it raises DistributedError instead."""
    world = _get()
    if world.size == 1:
        raise DistributedError(message)
    line = f"convpool: rank {world.rank} of {world.size} failed: {message}"
    folder = os.environ.get("CONVPOOL_RANK_DIR")  # set by --processes: the launcher reports it if mpiexec drops it
    if folder:
        try:
            Path(folder, f"failed-{world.rank}").write_text(line)
        except OSError:
            pass
    print(line, file=sys.stderr, flush=True)
    # Abort makes mpiexec tear every process down at once, and a line still in its pipes can be
    # lost: give its proxy a moment to forward this one first
    time.sleep(ABORT_GRACE_SECONDS)
    world.comm.Abort(code)


def _install_excepthook() -> None:
    previous = sys.excepthook

    def abort_on_exception(kind, error, traceback) -> None:
        if os.environ.get("CONVPOOL_DEBUG"):
            previous(kind, error, traceback)
        fail(f"{kind.__name__}: {error}" if str(error) else kind.__name__)

    sys.excepthook = abort_on_exception


def wait(requests: Sequence[Any], what: str, seconds: float | None = None) -> None:
    """Wait for MPI requests, polling, for at most the world's timeout; then DistributedTimeout."""
    world = _get()
    if not requests:
        return
    limit = world.timeout if seconds is None else seconds
    began = time.monotonic()
    pause = 0.0
    while not world.mpi.Request.Testall(list(requests)):
        waited = time.monotonic() - began
        if waited > limit:
            raise DistributedTimeout(
                f"rank {world.rank} of {world.size} waited {waited:.0f} s for {what}: another process stopped or "
                f"hangs (raise the limit with CONVPOOL_DISTRIBUTED_TIMEOUT=seconds)")
        time.sleep(pause)
        pause = min(0.001, pause + 0.00005)


_OPS = ("sum", "max", "min", "avg")


def _mpi_op(world: _World, op: str):
    return {"sum": world.mpi.SUM, "avg": world.mpi.SUM, "max": world.mpi.MAX, "min": world.mpi.MIN}[op]


def _host_buffer(tensor: Tensor, name: str) -> numpy.ndarray:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(tensor).__name__}")
    host = backend.to_host(tensor.data)
    return numpy.ascontiguousarray(host)


def _write_back(tensor: Tensor, host: numpy.ndarray) -> None:
    if isinstance(tensor.data, numpy.ndarray) and tensor.data is host:
        return
    tensor.data[...] = backend.to_device(host, backend.device_of(tensor.data))


def allreduce_array(array: numpy.ndarray, op: str = "sum", what: str = "all_reduce") -> numpy.ndarray:
    """A host array reduced over the world (a new array; op 'avg' divides the sum by the size)."""
    world = _get()
    if op not in _OPS:
        raise ValueError(f"all_reduce: op must be one of {', '.join(_OPS)}, got {op!r}")
    out = numpy.array(array, copy=True, order="C")
    if world.size > 1:
        wait([world.comm.Iallreduce(world.mpi.IN_PLACE, out, op=_mpi_op(world, op))], what)
    if op == "avg":
        out = out / world.size
    return out


def all_reduce(tensor: Tensor, op: str = "sum") -> Tensor:
    """Reduce `tensor` over every process, in place (as torch.distributed.all_reduce); returns it."""
    host = _host_buffer(tensor, "all_reduce")
    _write_back(tensor, allreduce_array(host, op).astype(host.dtype, copy=False))
    return tensor


def broadcast(tensor: Tensor, src: int = 0) -> Tensor:
    """Give every process rank `src`'s values of `tensor`, in place; returns it."""
    world = _get()
    _check_rank(src, "broadcast: src")
    if world.size == 1:
        return tensor
    host = _host_buffer(tensor, "broadcast").copy()
    wait([world.comm.Ibcast(host, root=src)], f"broadcast from rank {src}")
    _write_back(tensor, host)
    return tensor


def all_gather(tensor_list: list[Tensor], tensor: Tensor) -> list[Tensor]:
    """Fill tensor_list[r] with rank r's `tensor` (as torch.distributed.all_gather); all the
    same shape and dtype. Returns the list."""
    world = _get()
    if len(tensor_list) != world.size:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors for a world of {world.size}")
    host = _host_buffer(tensor, "all_gather")
    for r, slot in enumerate(tensor_list):
        if not isinstance(slot, Tensor) or slot.shape != tensor.shape or slot.dtype != tensor.dtype:
            raise ValueError(f"all_gather: tensor_list[{r}] must be a {tensor.dtype} tensor of shape {tensor.shape}, "
                             f"got {getattr(slot, 'dtype', None)} {getattr(slot, 'shape', type(slot).__name__)}")
    if world.size == 1:
        gathered = host[None]
    else:
        gathered = numpy.empty((world.size,) + host.shape, dtype=host.dtype)
        wait([world.comm.Iallgather(host, gathered)], "all_gather")
    for slot, part in zip(tensor_list, gathered, strict=True):
        _write_back(slot, part)
    return tensor_list


def barrier(seconds: float | None = None) -> None:
    """Wait until every process has reached this point (at most the timeout, or `seconds`)."""
    world = _get()
    if world.size > 1:
        wait([world.comm.Ibarrier()], "the other processes at a barrier", seconds)


def broadcast_object(value: Any, src: int = 0) -> Any:
    """Rank src's value of a small JSON-able object (a path, a flag), on every process."""
    import json

    world = _get()
    _check_rank(src, "broadcast_object: src")
    if world.size == 1:
        return value
    text = json.dumps(value).encode() if world.rank == src else b""
    length = numpy.array([len(text)], dtype=numpy.int64)
    wait([world.comm.Ibcast(length, root=src)], f"broadcast from rank {src}")
    data = numpy.frombuffer(text, dtype=numpy.uint8).copy() if world.rank == src else numpy.empty(
        int(length[0]), dtype=numpy.uint8)
    wait([world.comm.Ibcast(data, root=src)], f"broadcast from rank {src}")
    return json.loads(data.tobytes().decode())


@contextmanager
def main_first(seconds: float | None = None):
    """Run the block on rank 0 first, then on the others: a cache rank 0 builds, the others
    read, never raced. `seconds` bounds the others' wait (default: the world's timeout)."""
    world = _get()
    if world.size > 1 and world.rank != 0:
        barrier(seconds)
    try:
        yield
    finally:  # also when rank 0's block raised: the others then meet the same error themselves
        if world.size > 1 and world.rank == 0:
            barrier(seconds)


def _check_rank(value: int, name: str) -> None:
    size = _get().size
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
        raise ValueError(f"{name} must be a rank from 0 to {size - 1}, got {value!r}")
