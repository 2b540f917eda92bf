"""The one array-module switch: which library holds the arrays, the default dtype, the RNG,
and the memory budget for window buffers.

Every op asks `array_module(x)` for `xp` instead of importing NumPy, so a CuPy path can be
added here later without touching the math (the same idea as Chainer's
`get_array_module`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy

xp = numpy  # the array module for new arrays; CuPy will be chosen here, nowhere else

float32 = numpy.dtype("float32")
float64 = numpy.dtype("float64")
int64 = numpy.dtype("int64")
bool_ = numpy.dtype("bool")

_default_dtype = float32
_rng = numpy.random.default_rng()
_memory_budget = 512 * 2**20


def array_module(*arrays: object):
    """The array module that owns these arrays (NumPy today)."""
    return xp


def default_dtype() -> numpy.dtype:
    """dtype of tensors made from Python floats: float32 unless changed."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Make float32 or float64 the dtype of new floating tensors."""
    global _default_dtype
    dtype = numpy.dtype(dtype)
    if dtype not in (float32, float64):
        raise TypeError(f"set_default_dtype: dtype must be float32 or float64, got {dtype}")
    _default_dtype = dtype


def manual_seed(seed: int) -> None:
    """Seed the generator behind randn, rand, dropout and the initialisers."""
    global _rng
    if not isinstance(seed, int | numpy.integer) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    _rng = numpy.random.default_rng(int(seed))


def rng() -> numpy.random.Generator:
    """The library's random generator (seeded by manual_seed)."""
    return _rng


def get_rng_state() -> dict:
    """The generator's state, as plain JSON-able data."""
    return _rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state taken by get_rng_state."""
    _rng.bit_generator.state = state


def memory_budget() -> int:
    """Bytes one conv or pooling call may use for its window buffer (default 512 MiB)."""
    return _memory_budget


def set_memory_budget(nbytes: int) -> None:
    """Change the window-buffer budget; large inputs are then processed in chunks."""
    global _memory_budget
    if not isinstance(nbytes, int | numpy.integer) or nbytes <= 0:
        raise ValueError(f"set_memory_budget: nbytes must be a positive int, got {nbytes!r}")
    _memory_budget = int(nbytes)


# ----- threads for element-wise work ---------------------------------------------------------
# BLAS already uses every core for matrix products; NumPy's copies and ufuncs use one. They
# release the GIL, so splitting a copy or a pooling pass over the batch across a few threads
# runs it on all cores.
_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def num_threads() -> int:
    """Threads used for element-wise work (copies, pooling, col2im)."""
    return _threads


def set_num_threads(n: int) -> None:
    """Use n threads for element-wise work (1 turns the splitting off)."""
    global _threads, _executor
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int, got {n!r}")
    _threads = n
    if _executor is not None:
        _executor.shutdown(wait=True)
        _executor = None


SERIAL_BELOW = 1 << 16  # elements: smaller jobs cost more to hand to a thread than to run


_blas_controller = None


def _blas_limited_to_one_thread():
    """A context in which BLAS runs each call on the calling thread only (threadpoolctl), so
    that several of our threads can each run their own matrix products side by side."""
    global _blas_controller
    if _blas_controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # without it the products still run, only oversubscribed
            _blas_controller = False
        else:
            _blas_controller = ThreadpoolController()
    if _blas_controller is False:
        return contextlib.nullcontext()
    return _blas_controller.limit(limits=1, user_api="blas")


def parallel_for(n: int, fn: Callable[[int, int], None], min_size: int = 2, elements: int | None = None,
                 single_thread_blas: bool = False) -> None:
    """Run fn(start, stop) over [0, n) in one contiguous range per thread and wait.

    Ranges never overlap, so each call may write its own part of a shared output. A job of
    fewer than SERIAL_BELOW `elements` runs in the calling thread. With `single_thread_blas`,
    fn's matrix products run on one thread each, also when the job runs as one range (see
    `matmul` for why convpool never lets BLAS start its own threads)."""
    global _executor
    parts = min(_threads, n // max(min_size, 1))
    if elements is not None and elements < SERIAL_BELOW:
        parts = 1
    if parts <= 1 or threading.current_thread().name.startswith("convpool"):  # no nesting: no deadlock
        with _blas_limited_to_one_thread() if single_thread_blas else contextlib.nullcontext():
            fn(0, n)
        return
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=_threads, thread_name_prefix="convpool")
    bounds = [n * i // parts for i in range(parts + 1)]
    with _blas_limited_to_one_thread() if single_thread_blas else contextlib.nullcontext():
        futures = [_executor.submit(fn, bounds[i], bounds[i + 1]) for i in range(1, parts)]
        fn(bounds[0], bounds[1])
        for future in futures:
            future.result()


MATMUL_SPLIT_BELOW = 1 << 21  # multiply-adds: a smaller product runs whole, on the calling thread


def matmul(a, b, out=None):
    """a @ b for 2-D a and b, or stacks of them (3-D, the same stack length), with BLAS on one
    thread per call; a product of MATMUL_SPLIT_BELOW multiply-adds or more is split over
    convpool's threads, by the stack or by rows of a.

    Why not let BLAS use every core itself: OpenBLAS's worker threads keep spinning for a
    while after each multi-threaded product, and the element-wise work convpool runs on its
    own threads right after (copies, pooling, batch norm) then shares the cores with them.
    Keeping every product on convpool's threads made a training step 10 to 25% faster on
    2 cores (benchmarks/README.md)."""
    xp = array_module(a)
    if a.ndim not in (2, 3) or b.ndim != a.ndim or (a.ndim == 3 and a.shape[0] != b.shape[0]):
        raise ValueError(f"backend.matmul: expected two 2-D arrays or two stacks of the same length, "
                         f"got shapes {a.shape} and {b.shape}")
    if out is None:
        out = xp.empty(a.shape[:-1] + b.shape[-1:], dtype=xp.result_type(a, b))
    if a.ndim == 3 and a.shape[0] >= _threads:
        def part(start: int, stop: int) -> None:
            xp.matmul(a[start:stop], b[start:stop], out=out[start:stop])
        n = a.shape[0]
    else:
        def part(start: int, stop: int) -> None:
            xp.matmul(a[..., start:stop, :], b, out=out[..., start:stop, :])
        n = a.shape[-2]
    work = a.size * b.shape[-1]
    parallel_for(n, part, min_size=1, elements=work if work >= MATMUL_SPLIT_BELOW else 0, single_thread_blas=True)
    return out


def parallel_copy(source):
    """A fresh C-contiguous copy of an array (often a transposed view), split over its
    first axis, or its second when the first is too short to share out."""
    xp = array_module(source)
    out = xp.empty(source.shape, dtype=source.dtype)
    if source.ndim == 0:
        out[()] = source
        return out
    axis = 1 if source.ndim > 1 and source.shape[0] < _threads <= source.shape[1] else 0
    lead = (slice(None),) * axis

    def part(start: int, stop: int) -> None:
        out[lead + (slice(start, stop),)] = source[lead + (slice(start, stop),)]

    parallel_for(source.shape[axis], part, min_size=1, elements=source.size)
    return out
