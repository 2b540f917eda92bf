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


def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of data; Python floats become float32 by default."""
    source = data.data if isinstance(data, Tensor) else data
    return Tensor(backend.xp.array(Tensor(source, dtype).data, copy=True), requires_grad=requires_grad)


def from_numpy(array: numpy.ndarray) -> Tensor:
    """A tensor sharing memory with a NumPy array."""
    return Tensor(array)


def zeros(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(backend.xp.zeros(_shape(size), _float_dtype(dtype)), requires_grad=requires_grad)


def ones(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(backend.xp.ones(_shape(size), _float_dtype(dtype)), requires_grad=requires_grad)


def full(size, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(backend.xp.full(_shape((size,)), fill_value, _float_dtype(dtype)),
                  requires_grad=requires_grad)


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(backend.xp.zeros_like(t.data), requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(backend.xp.ones_like(t.data), requires_grad=requires_grad)


def randn(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    data = backend.rng().standard_normal(_shape(size)).astype(_float_dtype(dtype))
    return Tensor(backend.xp.asarray(data), requires_grad=requires_grad)


def rand(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1)."""
    data = backend.rng().random(_shape(size)).astype(_float_dtype(dtype))
    return Tensor(backend.xp.asarray(data), requires_grad=requires_grad)


def randint(low: int, high: int, size, dtype=None) -> Tensor:
    data = backend.rng().integers(low, high, _shape((size,)))
    return Tensor(backend.xp.asarray(data, dtype=numpy.dtype(dtype or backend.int64)))


def arange(start, end=None, step=1, dtype=None, requires_grad: bool = False) -> Tensor:
    """Like torch.arange: int64 for integer arguments, the default float dtype otherwise."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        all_int = all(isinstance(v, int | numpy.integer) for v in (start, end, step))
        dtype = backend.int64 if all_int else backend.default_dtype()
    return Tensor(backend.xp.arange(start, end, step, dtype=numpy.dtype(dtype)), requires_grad=requires_grad)
