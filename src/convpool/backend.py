"""The one array-module switch: which library holds the arrays (NumPy on the CPU, CuPy on an
NVIDIA GPU, or a device registered for tests), the default dtype, the random generators, the
memory budget for window buffers, and the CPU's execution policy (threads, BLAS).

Every op asks `array_module(x)` for `xp` instead of importing NumPy, as Chainer's
`get_array_module` does: the arrays' own type says which library computes on them.
`parallel_for`, `parallel_copy` and `matmul` split work over CPU threads for NumPy arrays
and pass straight through for any other array module, so op bodies read the same on every
device.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy

float32 = numpy.dtype("float32")
float64 = numpy.dtype("float64")
int64 = numpy.dtype("int64")
bool_ = numpy.dtype("bool")

_default_dtype = float32
_seed: int | None = None
_rng = numpy.random.default_rng()
_memory_budget = 512 * 2**20

GPU_INSTALL_HINT = 'pip install "convpool[gpu]"'


# ----- devices -------------------------------------------------------------------------------
@dataclass
class DeviceKind:
    """One kind of device: its array module, its array type, and the copies to and from the host.

    `cpu` (NumPy) is built in, `cuda` (CuPy) is registered on first use, and tests register a
    stand-in (see tests/strict_device.py) that behaves like CuPy on the host."""

    name: str
    module: Any
    array_type: type | tuple[type, ...]
    from_host: Callable[[numpy.ndarray, int], Any]
    to_host: Callable[[Any], numpy.ndarray]
    device_count: Callable[[], int] = lambda: 1
    index_of: Callable[[Any], int] = lambda array: 0
    new_generator: Callable[[int | None], Any] | None = None
    generators: dict[int, Any] = field(default_factory=dict)
    activate: Callable[[int], contextlib.AbstractContextManager] = lambda index: contextlib.nullcontext()


_kinds: dict[str, DeviceKind] = {}
_device_types: tuple[type, ...] = ()  # the array types of every registered non-CPU kind


def register_device_kind(kind: DeviceKind) -> None:
    """Make `convpool.device(kind.name)` and its arrays known to every op."""
    _kinds[kind.name] = kind
    _refresh_device_types()


def unregister_device_kind(name: str) -> None:
    """Forget a registered kind (tests clean up their stand-in device with it)."""
    _kinds.pop(name, None)
    _refresh_device_types()


def _refresh_device_types() -> None:
    """The array types array_module looks for: every registered kind's but NumPy's."""
    global _device_types
    types: list[type] = []
    for kind in _kinds.values():
        types.extend(kind.array_type if isinstance(kind.array_type, tuple) else (kind.array_type,))
    _device_types = tuple(types)


class device:  # noqa: N801  (torch.device's name)
    """Where a tensor's data lives: `device('cpu')`, `device('cuda')`, `device('cuda:1')`,
    `device('cuda', 1)`. Compares equal to its string form, as torch.device does."""

    __slots__ = ("type", "index")

    def __init__(self, type: str | device, index: int | None = None):  # noqa: A002  (torch's name)
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string like 'cpu' or 'cuda:0', got {type!r}")
        name = type.strip()
        if ":" in name:
            name, _, number = name.partition(":")
            if index is not None or not number.isdigit():
                raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {type!r}")
            index = int(number)
        if name != "cpu" and name != "cuda" and name not in _kinds:
            known = ", ".join(["cpu", "cuda", *sorted(k for k in _kinds if k not in ("cpu", "cuda"))])
            raise ValueError(f"device: unknown device type {name!r} (known: {known})")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
            raise ValueError(f"device: index must be a non-negative int, got {index!r}")
        if name == "cpu" and index not in (None, 0):
            raise ValueError(f"device: the CPU has no index {index}")
        self.type = name
        self.index = None if name == "cpu" else index

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except ValueError:
                return False
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


CPU = device("cpu")


def _cuda_kind() -> DeviceKind:
    """Register CuPy as the `cuda` kind, or say in one line what is missing."""
    if "cuda" in _kinds:
        return _kinds["cuda"]
    try:
        import cupy
    except ImportError:
        raise RuntimeError(f"device 'cuda': CuPy is not installed; install it with {GPU_INSTALL_HINT}") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # noqa: BLE001  (CuPy raises its own CUDA errors)
        raise RuntimeError(f"device 'cuda': CuPy is installed but found no usable NVIDIA GPU ({error})") from None
    if count == 0:
        raise RuntimeError("device 'cuda': CuPy is installed but this machine has no NVIDIA GPU")

    def from_host(array: numpy.ndarray, index: int):
        with cupy.cuda.Device(index):
            return cupy.asarray(array)

    register_device_kind(DeviceKind(
        name="cuda", module=cupy, array_type=cupy.ndarray, from_host=from_host, to_host=cupy.asnumpy,
        device_count=cupy.cuda.runtime.getDeviceCount, index_of=lambda array: array.device.id,
        new_generator=lambda seed: cupy.random.default_rng(seed),
        activate=lambda index: cupy.cuda.Device(index)))
    from . import gpu  # noqa: F401  (the CUDA kernels and policy register themselves)
    return _kinds["cuda"]


def _kind(name: str) -> DeviceKind:
    if name == "cpu":
        return _kinds["cpu"]
    if name == "cuda":
        return _cuda_kind()
    return _kinds[name]


def resolve_device(name: str | device) -> device:
    """A device from a command line's --device: 'auto' is the first GPU when CuPy sees one,
    else the CPU; 'cuda' or 'cuda:N' must be usable (else the clear error of `_cuda_kind`)."""
    if isinstance(name, device):
        return name
    if name == "auto":
        return device("cuda", 0) if cuda_is_available() else CPU
    target = device(name)
    if target.type != "cpu":
        kind = _kind(target.type)
        index = target.index or 0
        if index >= kind.device_count():
            raise RuntimeError(f"device {target}: only {kind.device_count()} {target.type} device(s) present")
        target = device(target.type, index)
    return target


def describe(target: device) -> str:
    """'cpu' or 'cuda:0 (NVIDIA H200)': what a command prints about where it runs."""
    if target.type == "cuda":
        import cupy

        name = cupy.cuda.runtime.getDeviceProperties(target.index or 0)["name"]
        return f"{target} ({name.decode() if isinstance(name, bytes) else name})"
    return str(target)


def cuda_is_available() -> bool:
    """True when CuPy is installed and sees at least one NVIDIA GPU."""
    try:
        _cuda_kind()
    except RuntimeError:
        return False
    return True


def cuda_device_count() -> int:
    """Number of GPUs CuPy sees (0 without CuPy or a GPU)."""
    return _cuda_kind().device_count() if cuda_is_available() else 0


def array_module(*arrays: object):
    """The array module that owns these arrays: NumPy for host arrays and Python numbers,
    CuPy for CuPy arrays, a registered test module for its arrays. Looks at the first
    device array it finds, as Chainer's get_array_module does."""
    if _device_types:
        for array in arrays:
            if isinstance(array, _device_types):
                for kind in _kinds.values():
                    if isinstance(array, kind.array_type):
                        return kind.module
    return numpy


def on_cpu(module) -> bool:
    """True for NumPy: CPU-only fast paths and thread policy check it."""
    return module is numpy


def device_of(array) -> device:
    """The device an array lives on."""
    if isinstance(array, numpy.ndarray | numpy.generic) or not _device_types or not isinstance(array, _device_types):
        return CPU
    for kind in _kinds.values():
        if kind.name != "cpu" and isinstance(array, kind.array_type):
            return device(kind.name, kind.index_of(array))
    return CPU


def module_for(target: device | str):
    """The array module of a device (CuPy for 'cuda', raising a clear error without it)."""
    return _kind(device(target).type).module


def to_device(array, target: device | str):
    """array on `target`: no copy when it is already there."""
    target = device(target)
    here = device_of(array)
    if here == target or (target.index is None and here.type == target.type):
        return array
    host = to_host(array)
    if target.type == "cpu":
        return host
    kind = _kind(target.type)
    index = 0 if target.index is None else target.index
    if index >= kind.device_count():
        raise RuntimeError(f"device {target}: only {kind.device_count()} {target.type} device(s) present")
    return kind.from_host(host, index)


def activate(target: device | str | None):
    """A context in which new device arrays go to `target`'s index (CuPy's current device)."""
    if target is None:
        return contextlib.nullcontext()
    target = device(target)
    if target.type == "cpu":
        return contextlib.nullcontext()
    return _kind(target.type).activate(0 if target.index is None else target.index)


def to_host(array) -> numpy.ndarray:
    """A NumPy array with the same values (the array itself when it already is one)."""
    if isinstance(array, numpy.ndarray):
        return array
    if isinstance(array, numpy.generic):
        return numpy.asarray(array)
    for kind in _kinds.values():
        if kind.name != "cpu" and isinstance(array, kind.array_type):
            return kind.to_host(array)
    return numpy.asarray(array)


def asarray(data, like=None, dtype=None):
    """`data` as an array of the module that owns `like` (host data is copied to its device)."""
    module = array_module(like)
    if module is numpy:
        return numpy.asarray(to_host(data) if not isinstance(data, numpy.ndarray) else data, dtype=dtype)
    if array_module(data) is module:
        return data if dtype is None else data.astype(dtype, copy=False)
    return to_device(numpy.asarray(data, dtype=dtype), device_of(like))


def strided_view(x, shape: tuple[int, ...], strides: tuple[int, ...]):
    """A read-only view of x with these shape and strides (NumPy's as_strided; CuPy's takes
    no `writeable` flag, and its views are never written through here)."""
    module = array_module(x)
    if module is numpy:
        return numpy.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)
    return module.lib.stride_tricks.as_strided(x, shape, strides)


def errstate(module, **kwargs):
    """`numpy.errstate` on the host; device modules report nothing to silence."""
    errstate_fn = getattr(module, "errstate", None)
    return errstate_fn(**kwargs) if module is numpy or errstate_fn is not None else contextlib.nullcontext()


register_device_kind(DeviceKind(name="cpu", module=numpy, array_type=(), from_host=lambda array, index: array,
                                to_host=lambda array: array))


# ----- dtypes and random generators ----------------------------------------------------------
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
    """Seed the generator behind randn, rand, dropout and the initialisers, and every
    device's generator (each GPU's is made on first use from the same seed)."""
    global _rng, _seed
    if isinstance(seed, bool) or not isinstance(seed, int | numpy.integer) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    _seed = int(seed)
    _rng = numpy.random.default_rng(_seed)
    for kind in _kinds.values():
        kind.generators.clear()


def rng() -> numpy.random.Generator:
    """The library's host random generator (seeded by manual_seed)."""
    return _rng


def generator_for(module, index: int = 0):
    """The random generator that draws arrays of `module` directly: the host generator for
    NumPy, the device's own (seeded by manual_seed) for CuPy. None for a module without one:
    draw on the host and copy."""
    if module is numpy:
        return _rng
    for kind in _kinds.values():
        if kind.module is module and kind.new_generator is not None:
            if index not in kind.generators:
                seed = None if _seed is None else _seed + 7919 * index
                kind.generators[index] = kind.new_generator(seed)
            return kind.generators[index]
    return None


def uniform(shape: tuple[int, ...], like) -> Any:
    """Uniform [0, 1) float64 samples on `like`'s device: from the host generator on the CPU
    (and for devices without a generator of their own, copied over), from the GPU's on a GPU."""
    module = array_module(like)
    if module is numpy:
        return _rng.random(shape)
    target = device_of(like)
    generator = generator_for(module, target.index or 0)
    if generator is None:
        return to_device(_rng.random(shape), target)
    with activate(target):
        return generator.random(shape)


def get_rng_state() -> dict:
    """The host generator's state, as plain JSON-able data."""
    return _rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state taken by get_rng_state."""
    _rng.bit_generator.state = state


def memory_budget() -> int:
    """Bytes of window buffer one convolution may hold (default 512 MiB); see set_memory_budget."""
    return _memory_budget


def set_memory_budget(nbytes: int) -> None:
    """Bound the window buffers a convolution builds to `nbytes`.

    Exactly what it bounds: the window matrix of the window-matrix path, built in chunks
    (over the batch, then over output rows) of at most nbytes each, one chunk alive at a time;
    and the per-thread window buffers of the grid, batch-last and per-sample paths, all
    threads together (a path whose buffers would not fit is not taken). What it does not
    bound: the padded copy of the input, the output, the gradients and what forward keeps for
    backward, each the size of an input or output array. So a smaller budget can move a
    convolution from a cache-sized path to the chunked window-matrix path, whose padded copy
    is not counted, and the whole call's extra memory is not monotonic in the budget; the
    window buffer always is (tests/test_conv.py measures it)."""
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
                 single_thread_blas: bool = False, like: object = None) -> None:
    """Run fn(start, stop) over [0, n) in one contiguous range per thread and wait.

    Ranges never overlap, so each call may write its own part of a shared output. A job of
    fewer than SERIAL_BELOW `elements` runs in the calling thread. With `single_thread_blas`,
    fn's matrix products run on one thread each, also when the job runs as one range (see
    `matmul` for why convpool never lets BLAS start its own threads). For arrays of another
    module (`like` a CuPy array) fn(0, n) runs once: the device parallelises each call itself."""
    global _executor
    if like is not None and array_module(like) is not numpy:
        fn(0, n)
        return
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
    xp = array_module(a, b)
    if xp is not numpy:  # the device's own BLAS (cuBLAS) schedules the product
        return xp.matmul(a, b, out=out)
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
    if xp is not numpy:
        return source.copy()  # a fresh C-ordered buffer
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
