"""Datasets shaped like torch.utils.data's: TensorDataset, ConcatDataset, IterableDataset,
ChainDataset, and random_split with a generator. `Dataset` and `Subset` are convpool's own
(dataset.py), which follow torch's semantics already.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy

from ..backend import array_module
from ..tensor import Tensor
from .dataset import ArrayDataset, Dataset, Subset, _check_index
from .dataset import random_split as _seeded_split
from .sampler import draw_seed, resolve_generator


class TensorDataset(Dataset):
    """Samples are the rows of tensors of one length: `dataset[i]` is the tuple
    `(t[i] for t in tensors)`, each a Tensor (so `y.item()` works), as torch's.
    NumPy arrays are taken as tensors (sharing memory)."""

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors:
            raise ValueError("TensorDataset: give at least one tensor")
        tensors = tuple(t if isinstance(t, Tensor) else Tensor(numpy.asarray(t)) for t in tensors)
        for i, t in enumerate(tensors):
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: tensor {i} is 0-d; every tensor needs a first dimension")
        lengths = [t.shape[0] for t in tensors]
        if len(set(lengths)) != 1:
            shapes = ", ".join(str(t.shape) for t in tensors)
            raise ValueError(f"TensorDataset: size mismatch between tensors, first dimensions {lengths} "
                             f"(shapes {shapes})")
        self.tensors = tensors

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        index = _check_index(index, len(self))
        return tuple(t[index] for t in self.tensors)

    def __repr__(self) -> str:
        return f"TensorDataset({len(self)} samples: " + ", ".join(
            f"{t.shape[1:]} {t.dtype}" for t in self.tensors) + ")"


class ConcatDataset(Dataset):
    """Several datasets one after another: index i reaches the dataset whose cumulative
    size passes i, as torch's (`cumulative_sizes`, negative indices from the end)."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        self.cumulative_sizes: list[int] = []
        total = 0
        for i, d in enumerate(self.datasets):
            if not hasattr(d, "__len__") or not hasattr(d, "__getitem__"):
                raise TypeError(f"ConcatDataset: datasets[{i}] ({type(d).__name__}) has no length or indexing")
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        index = _check_index(index, len(self))
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which > 0 else 0
        return self.datasets[which][index - start]

    def __repr__(self) -> str:
        return f"ConcatDataset({len(self)} samples from {len(self.datasets)} datasets)"


class IterableDataset:
    """A stream of samples (define __iter__), as torch's: the DataLoader takes them in order,
    batch_size at a time, and has no sampler or shuffle. With num_workers > 0 every worker
    iterates its own copy, so a dataset that should not repeat samples splits its stream
    with `get_worker_info()` (id, num_workers) inside __iter__, as with torch."""

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other: IterableDataset) -> ChainDataset:
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """Iterable datasets one after another."""

    def __init__(self, datasets: Iterable[IterableDataset]) -> None:
        self.datasets = list(datasets)

    def __iter__(self) -> Iterator:
        for d in self.datasets:
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)  # type: ignore[arg-type]


def random_split(dataset: Dataset, lengths: Sequence[int | float],
                 generator: numpy.random.Generator | None = None) -> list[Subset]:
    """Non-overlapping random subsets of the given lengths, or of fractions summing to 1
    (floored, the remainder handed out one by one from the first), as torch's.

    The permutation comes from `generator` (a numpy.random.Generator), or from convpool's
    generator when it is None, so manual_seed repeats it; it differs from torch's for the
    same seed."""
    generator = resolve_generator("random_split", generator)
    return _seeded_split(dataset, lengths, seed=draw_seed(generator))


def gather_batch(dataset: Any, indices: Sequence[int]) -> list[Tensor] | None:
    """default_collate([dataset[i] for i in indices]) in one gather per array, for a
    TensorDataset, an ArrayDataset without a transform, or nested Subsets of either; None
    for any other dataset (the caller then collates sample by sample). Tensors that
    require a gradient are left to the sample-by-sample path, which records autograd."""
    idx = numpy.asarray(indices, dtype=numpy.int64)
    while isinstance(dataset, Subset):
        n = len(dataset)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            return None  # let the dataset raise its own IndexError
        idx = dataset.indices[idx]
        dataset = dataset.dataset
    n = len(dataset) if isinstance(dataset, TensorDataset | ArrayDataset) else 0
    if idx.size == 0 or idx.min() < -n or idx.max() >= n:
        return None
    if isinstance(dataset, TensorDataset):
        if any(t.requires_grad for t in dataset.tensors):
            return None
        out = []
        for t in dataset.tensors:
            xp = array_module(t.data)
            out.append(Tensor(xp.take(t.data, xp.asarray(idx), axis=0)))
        return out
    if isinstance(dataset, ArrayDataset) and dataset.transform is None:
        return [Tensor(numpy.take(dataset.images, idx, axis=0)),
                Tensor(dataset.labels[idx].astype(numpy.int64))]
    return None


__all__ = ["TensorDataset", "ConcatDataset", "IterableDataset", "ChainDataset", "random_split", "gather_batch"]
