"""DataLoader: seeded, reproducible batches, prepared one step ahead on a background thread.

This is convpool's own loader, made for its training loop: batches are always
(float32 images, int64 labels), and uint8 images (what convpool's readers return) are
scaled to [0, 1] on the way. `convpool.utils.data.DataLoader` has torch's semantics
instead: samples go through default_collate and keep their dtypes, nothing is rescaled.

Reproducibility. Every random choice comes from a generator made from (seed, epoch, ...):
the epoch's order from SeedSequence(seed, spawn_key=(epoch, 0)), batch b's transforms from
SeedSequence(seed, spawn_key=(epoch, 1, b)). So batch b of epoch k is the same whichever
thread makes it, whether prefetching is on, and whether epochs 0..k-1 ran in this process:
a resumed run calls `set_epoch(k)` (or `load_state_dict`) and sees epoch k again.

Prefetching. `iter(loader)` starts one daemon thread that makes batches in order and puts
them in a bounded queue (`prefetch` batches deep), so while the training step uses batch b,
the gather and transforms of batch b+1 (NumPy, which releases the GIL) run beside it. An
exception in the thread is handed through the queue and raised by `next()` in the caller's
thread. The thread never refers to the iterator, so an iterator dropped mid-epoch (a `break`)
is collected at once and its finaliser stops the thread; `close()` or a `with` block stops it
and waits for it.
"""

from __future__ import annotations

import itertools
import math
import queue
import threading
import weakref
from collections.abc import Callable

import numpy

from .. import backend
from ..tensor import Tensor
from .dataset import Dataset, resolve_arrays
from .transforms import Transform, to_float32

Batch = tuple[Tensor, Tensor]
_END = object()
_names = itertools.count()


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException):
        self.error = error


class DataLoader:
    """Batches of (images float32 (B, C, H, W), labels int64 (B,)) tensors from a dataset.

    shuffle: a new order each epoch, fixed by (seed, epoch). seed None draws one from the
    library generator, so `manual_seed` makes the run reproducible; it is kept as `.seed`.
    Each `iter()` uses the current epoch and moves on to the next; `set_epoch(k)` chooses it.
    transform: a batch transform applied after the dataset's own. Batches still uint8 after
    the transforms are scaled to [0, 1] (as ToFloat); other dtypes are cast to float32.
    prefetch: depth of the queue filled by a background thread (True = 1: one batch waiting
    and one being made while you use the current one; False/0: no thread, batches made in
    `next()`). The batches are identical either way.
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, transform: Transform | None = None, prefetch: int | bool = True):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | numpy.integer) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | numpy.integer) or seed < 0):
            raise ValueError(f"DataLoader: seed must be a non-negative int or None, got {seed!r}")
        depth = int(prefetch)
        if depth < 0:
            raise ValueError(f"DataLoader: prefetch must be non-negative, got {prefetch!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.transform = transform
        self.prefetch = depth
        self.seed = int(backend.rng().integers(2**63)) if seed is None else int(seed)
        self._epoch = 0

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    @property
    def epoch(self) -> int:
        """The epoch the next `iter()` will produce."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Make the next `iter()` produce epoch `epoch` (its order and its augmentations)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int | numpy.integer) or epoch < 0:
            raise ValueError(f"set_epoch: epoch must be a non-negative int, got {epoch!r}")
        self._epoch = int(epoch)

    def state_dict(self) -> dict:
        """What a checkpoint needs to resume the data stream: the seed and the next epoch."""
        return {"seed": self.seed, "epoch": self._epoch}

    def load_state_dict(self, state: dict) -> None:
        self.seed = int(state["seed"])
        self.set_epoch(int(state["epoch"]))

    def order(self, epoch: int) -> numpy.ndarray:
        """The dataset indices of `epoch`, in the order they will be served."""
        n = len(self.dataset)
        if not self.shuffle:
            return numpy.arange(n)
        rng = numpy.random.default_rng(numpy.random.SeedSequence(self.seed, spawn_key=(epoch, 0)))
        return rng.permutation(n)

    def __iter__(self) -> _BatchIterator:
        epoch = self._epoch
        self._epoch += 1
        order = self.order(epoch)
        count = len(self)
        batches = [order[b * self.batch_size:(b + 1) * self.batch_size] for b in range(count)]
        make = _BatchMaker(self.dataset, batches, self.seed, epoch, self.transform)
        return _BatchIterator(make, count, self.prefetch, epoch)

    def __repr__(self) -> str:
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, seed={self.seed}, transform={self.transform!r}, "
                f"prefetch={self.prefetch})")


class _BatchMaker:
    """Makes batch b of one epoch; holds no reference to the iterator (see the module notes)."""

    def __init__(self, dataset: Dataset, batches: list[numpy.ndarray], seed: int, epoch: int,
                 transform: Transform | None):
        self.dataset = dataset
        self.resolved = resolve_arrays(dataset)
        self.batches = batches
        self.seed = seed
        self.epoch = epoch
        self.transform = transform

    def __call__(self, b: int) -> Batch:
        idx = self.batches[b]
        rng = numpy.random.default_rng(numpy.random.SeedSequence(self.seed, spawn_key=(self.epoch, 1, b)))
        if self.resolved is not None:  # fast path: one gather from the arrays, transforms per batch
            base, indices = self.resolved
            if indices is not None:
                idx = indices[idx]
            images = numpy.take(base.images, idx, axis=0)
            labels = base.labels[idx]
            if base.transform is not None:
                images = base.transform(images, rng)
        else:
            items = [self.dataset[int(i)] for i in idx]
            images = numpy.stack([x.numpy() if isinstance(x, Tensor) else numpy.asarray(x) for x, _ in items])
            labels = numpy.asarray([int(y) for _, y in items], dtype=numpy.int64)
        if self.transform is not None:
            images = self.transform(images, rng)
        images = numpy.ascontiguousarray(to_float32(numpy.asarray(images)))
        return Tensor(images), Tensor(numpy.asarray(labels, dtype=numpy.int64))


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Put item unless asked to stop first; never blocks for good on a queue no one reads."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def _work(make: Callable[[int], Batch], count: int, q: queue.Queue, stop: threading.Event) -> None:
    try:
        for b in range(count):
            if stop.is_set():
                return
            if not _put(q, make(b), stop):
                return
        _put(q, _END, stop)
    except BaseException as error:  # noqa: BLE001  (handed to the consumer, who raises it)
        _put(q, _Failure(error), stop)


def _stop(stop: threading.Event, q: queue.Queue) -> None:
    """Tell the worker to finish, and empty the queue so a pending put returns at once."""
    stop.set()
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return


class _BatchIterator:
    """One pass over the loader: `next()` returns batches; `close()` stops the worker."""

    def __init__(self, make: Callable[[int], Batch], count: int, prefetch: int, epoch: int):
        self.epoch = epoch
        self._make = make
        self._count = count
        self._served = 0
        self._done = count == 0
        self._thread: threading.Thread | None = None
        if prefetch > 0 and count > 0:
            self._queue: queue.Queue = queue.Queue(maxsize=prefetch)
            self._stop = threading.Event()
            self._thread = threading.Thread(target=_work, args=(make, count, self._queue, self._stop),
                                            name=f"convpool-loader-{next(_names)}", daemon=True)
            self._finalizer = weakref.finalize(self, _stop, self._stop, self._queue)
            self._thread.start()

    def __iter__(self) -> _BatchIterator:
        return self

    def __len__(self) -> int:
        """Batches not served yet."""
        return self._count - self._served

    def __next__(self) -> Batch:
        if self._done:
            raise StopIteration
        if self._thread is None:
            try:
                batch = self._make(self._served)
            except BaseException:
                self._done = True  # as with the worker: a failed epoch is over
                raise
        else:
            item = self._queue.get()
            if item is _END:
                self.close()
                raise StopIteration
            if isinstance(item, _Failure):
                self.close()
                error = item.error
                error.add_note(f"(raised in the DataLoader's worker thread, making batch {self._served} "
                               f"of epoch {self.epoch})")
                raise error
            batch = item
        self._served += 1
        if self._served == self._count and self._thread is None:
            self._done = True
        return batch

    def close(self) -> None:
        """Stop the worker thread and wait for it (it finishes the batch in hand first)."""
        self._done = True
        if self._thread is not None:
            self._finalizer()
            if self._thread is not threading.current_thread():
                self._thread.join()

    def __enter__(self) -> _BatchIterator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
