"""Reading the pickles of the CIFAR python-format batches without letting a pickle run code.

`pickle.load` calls whatever function a file names, so a tampered download could run
anything (`os.system`, `eval`, ...). This unpickler looks up no name except the three that
pickled NumPy arrays need, and refuses every other one when the unpickler reaches it, before
anything is called. Plain containers, numbers, strings and bytes need no lookup. Arrays of
dtype object are refused too: their items are arbitrary pickled objects.

Python 2 pickles (the official CIFAR files) are read with encoding="bytes", as the CIFAR page
says, so their str keys come back as bytes. Arrays pickled with protocol 5 name another
function (`_frombuffer`) and are refused; protocols 2 to 4 are fine.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
from typing import BinaryIO

import numpy


class UnsafePickleError(ValueError):
    """The pickle names a global or an array type that safe_load does not allow."""


_RECONSTRUCT = numpy.empty(0).__reduce__()[0]  # numpy's array-rebuilding function, whatever its module


def _refuse(where: str, what: str) -> UnsafePickleError:
    return UnsafePickleError(f"{where}: refused to unpickle {what}: only dicts, lists, tuples, numbers, "
                             f"strings, bytes and NumPy arrays are allowed (the file may have been tampered with)")


class _ArrayType:
    """Stands for numpy.ndarray in the pickle: only `_reconstruct` may use it, never a direct call."""

    def __init__(self, where: str):
        self.where = where

    def __call__(self, *args, **kwargs):
        raise _refuse(self.where, "a direct call of numpy.ndarray")


class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, where: str):
        super().__init__(file, encoding="bytes")
        self.where = where
        self.array_type = _ArrayType(where)

    def find_class(self, module: str, name: str):
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return self._reconstruct
        if module == "numpy" and name == "ndarray":
            return self.array_type
        if module == "numpy" and name == "dtype":
            return self._dtype
        raise _refuse(self.where, f"the global {module}.{name}")

    def _reconstruct(self, subtype, shape, code):
        if subtype is not self.array_type:
            raise _refuse(self.where, f"an array of type {type(subtype).__name__}")
        # NumPy pickles an empty array here and fills it from the BUILD state that follows,
        # whose bytes NumPy checks against the shape; any other shape is memory the file never
        # holds (uninitialised, and as large as the header cares to say)
        if not (isinstance(shape, tuple) and len(shape) == 1 and shape[0] == 0):
            raise UnsafePickleError(f"{self.where}: refused an array rebuilt with shape {shape!r}: NumPy pickles "
                                    f"start from an empty array (shape (0,)) and bring their bytes in the file")
        return _RECONSTRUCT(numpy.ndarray, shape, code)

    def _dtype(self, *args):
        dtype = numpy.dtype(*args)
        if dtype.hasobject:
            raise _refuse(self.where, f"an array of dtype {dtype} (object items could carry code)")
        return dtype


def _check_no_object_arrays(value, where: str) -> None:
    """Refuse object arrays anywhere in the result, whatever path built their dtype."""
    stack, seen = [value], set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, numpy.ndarray) and item.dtype.hasobject:
            raise _refuse(where, f"an array of dtype {item.dtype}")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def _check_lengths(data: bytes, where: str) -> None:
    """Walk the opcodes once, so that every length the pickle declares (bytes, strings, long
    integers, frames) is checked against the bytes really there before the unpickler, which
    allocates a declared length up front, reads it."""
    try:
        for opcode, arg, position in pickletools.genops(io.BytesIO(data)):
            if opcode.name == "FRAME" and arg > len(data) - position - 9:
                raise ValueError(f"a frame of {arg:,} bytes at byte {position}, with {len(data) - position - 9:,} left")
    except ValueError as e:
        raise ValueError(f"{where}: truncated or not a valid pickle ({e})") from None


def safe_load(source: str | os.PathLike | BinaryIO, name_for_errors: str | None = None):
    """Unpickle a file (a path or an open binary file) allowing only plain data and NumPy arrays.

    Raises UnsafePickleError (a ValueError) for anything else, and ValueError for a truncated
    or malformed pickle; both messages start with name_for_errors (default: the path). Memory
    stays within a small multiple of the file's size: no declared length or array shape is
    trusted beyond the bytes that back it."""
    if isinstance(source, str | os.PathLike):
        where = name_for_errors or str(source)
        with open(source, "rb") as f:
            return safe_load(f, where)
    where = name_for_errors or str(getattr(source, "name", "<pickle>"))
    data = source.read()
    _check_lengths(data, where)
    try:
        value = _SafeUnpickler(io.BytesIO(data), where).load()
    except (UnsafePickleError, MemoryError):
        raise
    except Exception as e:  # the unpickler raises many types for a damaged stream
        raise ValueError(f"{where}: truncated or not a valid pickle ({type(e).__name__}: {e})") from None
    _check_no_object_arrays(value, where)
    return value
