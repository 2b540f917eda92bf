"""Making one batch: read the samples a sampler chose and collate them; shared by the
DataLoader's own process and its worker processes.

A failure while reading sample i carries a note naming `dataset[i]` (and the exception
keeps it as `dataloader_where`), so the error says which sample broke.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .collate import default_collate
from .torch_datasets import gather_batch


def _mark(error: BaseException, where: str) -> None:
    if getattr(error, "dataloader_where", None) is None:
        try:
            error.dataloader_where = where  # type: ignore[attr-defined]
        except AttributeError:
            pass
        error.add_note(f"(raised while the DataLoader read {where})")


def _read(dataset: Any, index: Any) -> Any:
    try:
        return dataset[index]
    except Exception as error:
        _mark(error, f"dataset[{index!r}]")
        raise


def fetch(dataset: Any, index: Any, auto_collation: bool, collate_fn: Callable[[Any], Any]) -> Any:
    """collate_fn of the samples at `index` (a list of indices with auto-collation, else one
    index). The default collate of a TensorDataset or a plain ArrayDataset gathers whole
    arrays at once, with the same result."""
    if not auto_collation:
        sample = _read(dataset, index)
        where = f"dataset[{index!r}]"
    else:
        index = list(index)
        if collate_fn is default_collate:
            batch = gather_batch(dataset, index)
            if batch is not None:
                return batch
        where = f"the samples at indices {index}"
        getitems = getattr(dataset, "__getitems__", None)
        if getitems is not None:
            try:
                sample = getitems(index)
            except Exception as error:
                _mark(error, f"dataset.__getitems__({index})")
                raise
        else:
            sample = [_read(dataset, i) for i in index]
    try:
        return collate_fn(sample)
    except Exception as error:
        _mark(error, f"{where} (in collate_fn)")
        raise


class IterableFetcher:
    """Batches from one pass over an iterable dataset: each call takes len(index) samples
    (one without auto-collation) and raises StopIteration when none are left (or, with
    drop_last, when fewer than a full batch are)."""

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable[[Any], Any],
                 drop_last: bool) -> None:
        try:
            self._stream = iter(dataset)
        except Exception as error:
            _mark(error, "iter(dataset)")
            raise
        self._auto_collation = auto_collation
        self._collate_fn = collate_fn
        self._drop_last = drop_last
        self._count = 0
        self._ended = False

    def _next_sample(self) -> Any:
        try:
            sample = next(self._stream)
        except StopIteration:
            self._ended = True
            raise
        except Exception as error:
            _mark(error, f"sample {self._count} of the iterable dataset")
            raise
        self._count += 1
        return sample

    def __call__(self, index: Any) -> Any:
        if self._ended:
            raise StopIteration
        first = self._count
        if self._auto_collation:
            samples = []
            for _ in index:
                try:
                    samples.append(self._next_sample())
                except StopIteration:
                    break
            if not samples or (self._drop_last and len(samples) < len(index)):
                self._ended = True
                raise StopIteration
        else:
            samples = self._next_sample()
        try:
            return self._collate_fn(samples)
        except Exception as error:
            _mark(error, f"samples {first}..{self._count - 1} of the iterable dataset (in collate_fn)")
            raise


__all__ = ["fetch", "IterableFetcher"]
