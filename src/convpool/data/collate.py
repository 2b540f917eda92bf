"""default_collate and default_convert: samples to batches, with torch.utils.data's rules.

`default_collate(samples)` puts a list of samples together along a new first dimension:

    Tensor         -> the tensors stacked (they must have one shape)
    NumPy array    -> a Tensor of the arrays stacked, the arrays' dtype kept (uint8 stays uint8:
                      nothing is rescaled)
    NumPy scalar   -> a 1-D Tensor of its dtype
    float          -> float64 Tensor;  int -> int64 Tensor;  bool -> bool Tensor
    str, bytes     -> the list unchanged
    Mapping        -> the same mapping type, each key's values collated
    namedtuple     -> the same namedtuple type, each field collated
    tuple          -> a list, one collated entry per position (as torch's)
    other Sequence -> the same sequence type (a list if it cannot be built), per position

`collate(batch, collate_fn_map=...)` is the general form: `collate_fn_map` maps element
types to functions `fn(batch, *, collate_fn_map)`, tried by exact type first and then by
isinstance in insertion order, as torch's.
"""

from __future__ import annotations

import collections.abc
import copy
import re
from collections.abc import Callable
from typing import Any

import numpy

from ..backend import array_module
from ..ops.basic import stack
from ..tensor import Tensor

_STRING_OR_OBJECT = re.compile(r"[SaUO]")  # NumPy dtype codes that cannot become tensors

_ERROR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def collate_tensor_fn(batch: list[Tensor], *, collate_fn_map: dict | None = None) -> Tensor:
    """Stack tensors of one shape along a new first dimension (autograd recorded when one
    of them requires a gradient, as torch.stack records it)."""
    first = batch[0].shape
    for i, t in enumerate(batch):
        if t.shape != first:
            raise RuntimeError(f"default_collate: stack expects each tensor to be equal size, but got "
                               f"{list(first)} at entry 0 and {list(t.shape)} at entry {i}")
    if any(t.requires_grad for t in batch):
        return stack(batch, 0)
    xp = array_module(batch[0].data)
    return Tensor(xp.stack([t.data for t in batch]))


def collate_numpy_array_fn(batch: list[numpy.ndarray], *, collate_fn_map: dict | None = None) -> Tensor:
    """Arrays to one Tensor of their dtype; string and object arrays are refused, as torch's."""
    first = batch[0]
    if _STRING_OR_OBJECT.search(first.dtype.str) is not None:
        raise TypeError(_ERROR.format(first.dtype))
    return collate([Tensor(b) for b in batch], collate_fn_map=collate_fn_map)


def collate_numpy_scalar_fn(batch: list, *, collate_fn_map: dict | None = None) -> Tensor:
    return Tensor(numpy.asarray(batch))


def collate_float_fn(batch: list[float], *, collate_fn_map: dict | None = None) -> Tensor:
    return Tensor(numpy.asarray(batch, dtype=numpy.float64))


def collate_int_fn(batch: list[int], *, collate_fn_map: dict | None = None) -> Tensor:
    """ints to int64; bools (an int subclass) to bool, as torch.tensor infers them."""
    if all(isinstance(b, bool) for b in batch):
        return Tensor(numpy.asarray(batch, dtype=numpy.bool_))
    return Tensor(numpy.asarray(batch, dtype=numpy.int64))


def collate_str_fn(batch: list, *, collate_fn_map: dict | None = None) -> list:
    return batch


default_collate_fn_map: dict[type | tuple[type, ...], Callable] = {
    Tensor: collate_tensor_fn,
    numpy.ndarray: collate_numpy_array_fn,
    (numpy.bool_, numpy.number, numpy.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def _like_mapping(original: collections.abc.Mapping, values: dict) -> Any:
    """values in a mapping of original's type: a copy of a mutable one updated, else the type
    built from values; a plain dict when the type cannot be built so (as torch's)."""
    try:
        if isinstance(original, collections.abc.MutableMapping):
            clone = copy.copy(original)
            clone.update(values)
            return clone
        return type(original)(values)
    except TypeError:
        return values


def _like_sequence(original: collections.abc.Sequence, values: list) -> Any:
    """values in a sequence of original's type: a copy of a mutable one with each position
    set, else the type built from values; a plain list when the type cannot be built so."""
    try:
        if isinstance(original, collections.abc.MutableSequence):
            clone = copy.copy(original)
            for i, value in enumerate(values):
                clone[i] = value
            return clone
        return type(original)(values)
    except TypeError:
        return values


def collate(batch: list, *, collate_fn_map: dict[type | tuple[type, ...], Callable] | None = None) -> Any:
    """Collate a list of samples, looking element types up in `collate_fn_map` first and
    recursing into mappings, namedtuples and sequences (see the module docstring)."""
    if len(batch) == 0:
        raise ValueError("default_collate: got an empty batch")
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for collate_type, fn in collate_fn_map.items():
            if isinstance(elem, collate_type):
                return fn(batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        return _like_mapping(elem, {key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map)
                                    for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        fields = zip(*batch, strict=False)
        return elem_type(*(collate(list(samples), collate_fn_map=collate_fn_map) for samples in fields))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        for i, sample in enumerate(batch):
            if len(sample) != size:
                raise RuntimeError(f"default_collate: each element in list of batch should be of equal size, "
                                   f"got {size} at entry 0 and {len(sample)} at entry {i}")
        transposed = [collate(list(samples), collate_fn_map=collate_fn_map) for samples in zip(*batch, strict=True)]
        if isinstance(elem, tuple):
            return transposed  # a list, as torch's (kept for backward compatibility there)
        return _like_sequence(elem, transposed)
    raise TypeError(_ERROR.format(elem_type))


def default_collate(batch: list) -> Any:
    """Samples to a batch with torch's rules (see the module docstring): the DataLoader's
    collate_fn when it makes batches."""
    return collate(batch, collate_fn_map=default_collate_fn_map)


def default_convert(data: Any) -> Any:
    """NumPy arrays and scalars in one sample to Tensors, recursing into mappings and sequences
    (tuples become lists, as torch's); string and object arrays stay arrays. The DataLoader's
    collate_fn when batching is off (batch_size=None)."""
    elem_type = type(data)
    if isinstance(data, Tensor):
        return data
    if isinstance(data, numpy.ndarray | numpy.generic) and not isinstance(data, numpy.str_ | numpy.bytes_):
        if isinstance(data, numpy.ndarray) and _STRING_OR_OBJECT.search(data.dtype.str) is not None:
            return data
        return Tensor(numpy.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _like_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, str | bytes):
        return _like_sequence(data, [default_convert(d) for d in data])
    return data


__all__ = ["default_collate", "default_convert", "collate", "default_collate_fn_map"]
