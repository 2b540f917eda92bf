"""DataLoader with torch.utils.data.DataLoader's arguments and semantics.

Samples go through `collate_fn` (default_collate) unchanged in kind: uint8 images stay
uint8, Python ints become int64 and floats float64, a (image, label) sample gives a list
[images, labels]. Nothing is rescaled or cast, unlike `convpool.data.DataLoader`, which
makes float32 batches in [0, 1] for convpool's own training loop.

Order: `sampler` (or shuffle=True's RandomSampler, else SequentialSampler) gives indices,
grouped by `batch_sampler` (or BatchSampler(sampler, batch_size, drop_last)); batch_size=None
turns batching off (each sample passes through default_convert). `generator` (a
numpy.random.Generator) drives the shuffling and the workers' base seed; without one they
come from convpool's generator, so `convpool.manual_seed(s)` repeats a run.

num_workers > 0 prepares batches in worker processes (see workers.py: ordered results,
per-worker seeds, errors raised here naming the worker and the index, clean shutdown);
`prefetch_factor` batches per worker are in flight (2 by default), `persistent_workers`
keeps the processes between epochs, `worker_init_fn(worker_id)` runs in each at start,
`timeout` bounds the wait for one batch, `multiprocessing_context` picks the start method.

An IterableDataset is read as a stream: batch_size samples at a time, no sampler, no
shuffle; each worker iterates its own copy (split the stream with get_worker_info()).

`pin_memory` and `pin_memory_device` are accepted: batches are host arrays and move to a
device on `.to(device)`; page-locked staging buffers, which make that copy faster with a
GPU, are not implemented, so the flag changes nothing.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy

from .collate import default_collate, default_convert
from .fetch import IterableFetcher, fetch
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, draw_seed, resolve_generator
from .torch_datasets import IterableDataset
from .workers import MultiProcessIterator

_FIXED_AFTER_INIT = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")


class _InfiniteConstantSampler(Sampler):
    """None forever: the index stream of an iterable dataset (the dataset decides the end)."""

    def __iter__(self) -> Iterator[None]:
        while True:
            yield None


class DataLoader:
    """Batches from a map-style dataset (one with __len__ and __getitem__) or an
    IterableDataset, as torch's."""

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler | Iterable | None = None, batch_sampler: Sampler | Iterable | None = None,
                 num_workers: int = 0, collate_fn: Callable[[Any], Any] | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context: Any = None, generator: numpy.random.Generator | None = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False, pin_memory_device: str = "",
                 in_order: bool = True) -> None:
        iterable = isinstance(dataset, IterableDataset)
        if not iterable and not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: dataset must support indexing (__getitem__) or be an IterableDataset, "
                            f"got {type(dataset).__name__}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be a non-negative int (0 loads in this process), "
                             f"got {num_workers!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0:
            raise ValueError(f"DataLoader: timeout must be a number >= 0, got {timeout!r}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(f"DataLoader: prefetch_factor={prefetch_factor!r} needs num_workers > 0; "
                             "leave it None without workers")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and (isinstance(prefetch_factor, bool) or not isinstance(prefetch_factor, int)
                                            or prefetch_factor < 1):
            raise ValueError(f"DataLoader: prefetch_factor must be a positive int, got {prefetch_factor!r}")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers=True needs num_workers > 0")
        if isinstance(multiprocessing_context, str):
            methods = multiprocessing.get_all_start_methods()
            if multiprocessing_context not in methods:
                raise ValueError(f"DataLoader: multiprocessing_context must be one of {methods}, "
                                 f"got {multiprocessing_context!r}")
        generator = resolve_generator("DataLoader", generator)
        if iterable:
            for name, value in (("shuffle", shuffle), ("sampler", sampler), ("batch_sampler", batch_sampler)):
                if value not in (None, False):
                    raise ValueError(f"DataLoader with an IterableDataset: expected no {name}, got {name}={value!r}")
            sampler = _InfiniteConstantSampler()
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler is mutually exclusive with shuffle=True")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler is mutually exclusive with batch_size, shuffle, "
                                 "sampler and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None:
            if drop_last:
                raise ValueError("DataLoader: batch_size=None turns batching off and is mutually exclusive with "
                                 "drop_last=True")
        elif isinstance(batch_size, bool) or not isinstance(batch_size, int | numpy.integer) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int or None, got {batch_size!r}")
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, int(batch_size), bool(drop_last))
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else default_convert
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.drop_last = bool(drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.collate_fn = collate_fn
        self.pin_memory = bool(pin_memory)
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = bool(persistent_workers)
        self.in_order = bool(in_order)
        self._iterable = iterable
        self._iterator: MultiProcessIterator | None = None
        self._initialized = True

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_initialized", False) and name in _FIXED_AFTER_INIT:
            raise ValueError(f"DataLoader: {name} should not be set after the DataLoader is made")
        super().__setattr__(name, value)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Iterable:
        return self.batch_sampler if self._auto_collation else self.sampler

    def _draw_base_seed(self) -> int:
        """The seed the workers of one iterator derive theirs from."""
        return draw_seed(self.generator)

    def __len__(self) -> int:
        if self._iterable:  # what the dataset says, in batches, as torch's
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self._index_sampler)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator:
        if self.num_workers == 0:
            return _SingleProcessIterator(self)
        if self.persistent_workers:
            if self._iterator is None or self._iterator._closed:
                self._iterator = MultiProcessIterator(self)
            else:
                self._iterator._reset()
            return self._iterator
        return MultiProcessIterator(self)

    def __repr__(self) -> str:
        size = "" if self._iterable else f" of {len(self.dataset)}"
        return (f"DataLoader({type(self.dataset).__name__}{size}, batch_size={self.batch_size}, "
                f"sampler={type(self.sampler).__name__}, num_workers={self.num_workers})")


class _SingleProcessIterator:
    """Batches made in the calling process, one per next()."""

    def __init__(self, loader: DataLoader) -> None:
        self._dataset = loader.dataset
        self._auto_collation = loader._auto_collation
        self._collate_fn = loader.collate_fn
        self._index_sampler = loader._index_sampler
        self._length = len(loader) if not loader._iterable or hasattr(loader.dataset, "__len__") else None
        loader._draw_base_seed()  # as torch, which draws it for every iterator
        self._sampler_iter = iter(self._index_sampler)
        self._stream = (IterableFetcher(loader.dataset, self._auto_collation, self._collate_fn, loader.drop_last)
                        if loader._iterable else None)

    def __iter__(self) -> _SingleProcessIterator:
        return self

    def __len__(self) -> int:
        if self._length is None:
            raise TypeError("DataLoader: this IterableDataset has no length")
        return self._length

    def __next__(self) -> Any:
        index = next(self._sampler_iter)
        if self._stream is not None:
            return self._stream(index)
        return fetch(self._dataset, index, self._auto_collation, self._collate_fn)


__all__ = ["DataLoader"]
