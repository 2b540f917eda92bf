"""The one array-module switch: which library holds the arrays, the default dtype, the RNG,
and the memory budget for window buffers.

Every op asks `array_module(x)` for `xp` instead of importing NumPy, so a CuPy path can be
added here later without touching the math (the same idea as Chainer's
`get_array_module`).
"""

from __future__ import annotations

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
