"""Samplers: the order in which a DataLoader visits a dataset, as torch.utils.data's.

A sampler is an iterable of dataset indices (a batch sampler: of lists of indices).
Random samplers draw from `generator`, a `numpy.random.Generator`, when one is given (its
state moves on, so each epoch differs and a re-seeded generator repeats the run); without
one, each `iter()` draws a fresh seed from convpool's generator, so `convpool.manual_seed`
makes runs repeat. The draws are NumPy's, so the orders differ from torch's for the same
seed; what each sampler yields (a permutation, draws with replacement, ...) is torch's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any

import numpy

from .. import backend


def resolve_generator(owner: str, generator: Any) -> numpy.random.Generator | None:
    """generator as a NumPy Generator, or None; a clear TypeError for anything else."""
    if generator is None or isinstance(generator, numpy.random.Generator):
        return generator
    raise TypeError(f"{owner}: generator must be a numpy.random.Generator or None, got {type(generator).__name__}")


def draw_seed(generator: numpy.random.Generator | None) -> int:
    """A 63-bit seed from generator, or from convpool's generator when it is None."""
    source = backend.rng() if generator is None else generator
    return int(source.integers(2**63))


def _positive_int(owner: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | numpy.integer) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return int(value)


class Sampler:
    """Base class: an iterable of indices; subclasses define __iter__ and, when they can, __len__."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator:
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation each epoch; with `replacement`, num_samples independent draws.
    Without replacement, num_samples beyond the dataset's length chains permutations, as torch's."""

    def __init__(self, data_source: Sized, replacement: bool = False, num_samples: int | None = None,
                 generator: numpy.random.Generator | None = None) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement must be a bool, got {replacement!r}")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = None if num_samples is None else _positive_int("RandomSampler", "num_samples",
                                                                            num_samples)
        self.generator = resolve_generator("RandomSampler", generator)

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        rng = self.generator if self.generator is not None else numpy.random.default_rng(draw_seed(None))
        if self.replacement:
            return iter(rng.integers(0, n, size=self.num_samples).tolist())
        full, rest = divmod(self.num_samples, n) if n else (0, 0)
        order = [rng.permutation(n) for _ in range(full)] + ([rng.permutation(n)[:rest]] if rest else [])
        return iter(numpy.concatenate(order).tolist() if order else [])

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order each epoch."""

    def __init__(self, indices: Sequence[int], generator: numpy.random.Generator | None = None) -> None:
        self.indices = indices
        self.generator = resolve_generator("SubsetRandomSampler", generator)

    def __iter__(self) -> Iterator[int]:
        rng = self.generator if self.generator is not None else numpy.random.default_rng(draw_seed(None))
        for i in rng.permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """num_samples indices drawn with probabilities proportional to `weights` (with or
    without replacement)."""

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: numpy.random.Generator | None = None) -> None:
        weights = numpy.asarray(weights, dtype=numpy.float64)
        if weights.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights must be 1-D, got shape {weights.shape}")
        if weights.size and (not numpy.isfinite(weights).all() or weights.min() < 0 or weights.sum() <= 0):
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and not all zero")
        self.num_samples = _positive_int("WeightedRandomSampler", "num_samples", num_samples)
        if not isinstance(replacement, bool):
            raise TypeError(f"WeightedRandomSampler: replacement must be a bool, got {replacement!r}")
        if not replacement and self.num_samples > int((weights > 0).sum()):
            raise ValueError(f"WeightedRandomSampler: cannot draw {self.num_samples} samples without replacement "
                             f"from {int((weights > 0).sum())} indices of non-zero weight")
        self.weights = weights
        self.replacement = replacement
        self.generator = resolve_generator("WeightedRandomSampler", generator)

    def __iter__(self) -> Iterator[int]:
        rng = self.generator if self.generator is not None else numpy.random.default_rng(draw_seed(None))
        p = self.weights / self.weights.sum()
        return iter(rng.choice(len(p), size=self.num_samples, replace=self.replacement, p=p).tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of batch_size indices from `sampler`; the last one shorter unless drop_last."""

    def __init__(self, sampler: Sampler | Iterable[int], batch_size: int, drop_last: bool) -> None:
        self.batch_size = _positive_int("BatchSampler", "batch_size", batch_size)
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last must be a bool, got {drop_last!r}")
        self.sampler = sampler
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
           "BatchSampler"]
