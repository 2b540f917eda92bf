"""Ways to make tensors: from data, filled, random (from the seeded library RNG), ranges."""

from __future__ import annotations

import numpy

from . import backend
from .tensor import Tensor


def _shape(size) -> tuple[int, ...]:
    if len(size) == 1 and not isinstance(size[0], int | numpy.integer):
        size = tuple(size[0])
    for n in size:
        if isinstance(n, bool) or not isinstance(n, int | numpy.integer) or n < 0:
            raise ValueError(f"size must be non-negative ints, got {size!r}")
    return tuple(int(n) for n in size)


def _float_dtype(dtype):
    return backend.default_dtype() if dtype is None else numpy.dtype(dtype)


def _module(device):
    """The array module for new tensors on `device` (NumPy when None)."""
    return numpy if device is None else backend.module_for(device)


def _on(array, device):
    return array if device is None else backend.to_device(array, device)


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of data; Python floats become float32 by default."""
    source = data.data if isinstance(data, Tensor) else data
    array = Tensor(source, dtype).data
    module = backend.array_module(array)
    copied = module.array(array, copy=True)
    return Tensor(_on(copied, device), requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """data as a tensor, sharing memory when it already is one of that dtype and device."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == numpy.dtype(dtype)) and \
            (device is None or data.device == backend.device(device)):
        return data
    return Tensor(data, dtype, device=device)


def from_numpy(array: numpy.ndarray) -> Tensor:
    """A tensor sharing memory with a NumPy array."""
    if not isinstance(array, numpy.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def _filled(fill, size, dtype, device, requires_grad) -> Tensor:
    module = _module(device)
    array = getattr(module, fill)(_shape(size), _float_dtype(dtype)) if fill != "empty" else \
        module.empty(_shape(size), _float_dtype(dtype))
    return Tensor(_on(array, device) if module is numpy else array, requires_grad=requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _filled("zeros", size, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _filled("ones", size, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uninitialised values (zeros here: NumPy's empty is fast enough that safety wins)."""
    return _filled("zeros", size, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if dtype is None and isinstance(fill_value, bool):
        dtype = backend.bool_
    elif dtype is None and isinstance(fill_value, int):
        dtype = backend.int64
    array = numpy.full(_shape((size,)), fill_value, _float_dtype(dtype))
    return Tensor(_on(array, device), requires_grad=requires_grad)


def _like(t: Tensor, fill: str, dtype, device, requires_grad: bool, value=None) -> Tensor:
    xp = backend.array_module(t.data)
    dtype = t.dtype if dtype is None else numpy.dtype(dtype)
    array = xp.full(t.shape, value, dtype) if fill == "full" else getattr(xp, fill)(t.shape, dtype)
    return Tensor(array if device is None else backend.to_device(array, device), requires_grad=requires_grad)


def zeros_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(t, "zeros", dtype, device, requires_grad)


def ones_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(t, "ones", dtype, device, requires_grad)


def empty_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(t, "zeros", dtype, device, requires_grad)


def full_like(t: Tensor, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(t, "full", dtype, device, requires_grad, fill_value)


def _drawn(draw: str, shape, dtype, device, requires_grad: bool) -> Tensor:
    """Random values: from the host generator for the CPU (and for devices without their own),
    from the device's generator on a GPU."""
    module = _module(device)
    target = None if device is None else backend.device(device)
    generator = backend.generator_for(module, 0 if target is None or target.index is None else target.index)
    if module is numpy or generator is None:
        data = getattr(backend.rng(), draw)(shape).astype(_float_dtype(dtype))
        return Tensor(_on(data, device), requires_grad=requires_grad)
    with backend.activate(target):
        data = getattr(generator, draw)(shape, dtype=_float_dtype(dtype))
    return Tensor(data, requires_grad=requires_grad)


def randn(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    return _drawn("standard_normal", _shape(size), dtype, device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1)."""
    return _drawn("random", _shape(size), dtype, device, requires_grad)


def randn_like(t: Tensor, dtype=None, device=None) -> Tensor:
    return randn(*t.shape, dtype=dtype or t.dtype, device=device or t.device)


def rand_like(t: Tensor, dtype=None, device=None) -> Tensor:
    return rand(*t.shape, dtype=dtype or t.dtype, device=device or t.device)


def randint(low: int, high: int | None = None, size=None, dtype=None, device=None) -> Tensor:
    """Integers in [low, high) (or [0, low) when high is left out), as torch.randint."""
    if size is None and isinstance(high, tuple | list):  # randint(high, size)
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint: size is required, e.g. randint(0, 10, (3,))")
    if high is None:
        low, high = 0, low
    data = backend.rng().integers(low, high, _shape((size,)))
    return Tensor(_on(numpy.asarray(data, dtype=numpy.dtype(dtype or backend.int64)), device))


def randperm(n: int, dtype=None, device=None) -> Tensor:
    """A random permutation of 0..n-1 (int64), from the seeded generator."""
    if isinstance(n, bool) or not isinstance(n, int | numpy.integer) or n < 0:
        raise ValueError(f"randperm: n must be a non-negative int, got {n!r}")
    data = backend.rng().permutation(int(n)).astype(numpy.dtype(dtype or backend.int64))
    return Tensor(_on(data, device))


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Like torch.arange: int64 for integer arguments, the default float dtype otherwise."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        all_int = all(isinstance(v, int | numpy.integer) for v in (start, end, step))
        dtype = backend.int64 if all_int else backend.default_dtype()
    return Tensor(_on(numpy.arange(start, end, step, dtype=numpy.dtype(dtype)), device), requires_grad=requires_grad)


def linspace(start: float, end: float, steps: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """steps evenly spaced values from start to end inclusive, as torch.linspace."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    data = numpy.linspace(start, end, steps, dtype=_float_dtype(dtype))
    return Tensor(_on(data, device), requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """The n x m identity matrix."""
    return Tensor(_on(numpy.eye(n, m, dtype=_float_dtype(dtype)), device), requires_grad=requires_grad)
