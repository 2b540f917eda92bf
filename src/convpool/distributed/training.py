"""What `fit` and `evaluate` need to run as K processes; in a world of one each is a no-op.

- `prepare(model, loader)`: the model wrapped in DistributedDataParallel and a loader that
  gives this process its rows of each global batch (`ShardedLoader`). It gathers only those
  rows, so from a memory-mapped data set (see `convpool.data.sources`) a process reads only
  its shard.
- `epoch_totals(step_model, totals)`: the epoch's loss, accuracy and count over every process,
  with rank 0's buffers sent to the others (so validation and the checkpoint see one model).
- `shard_for_evaluation(loader)` and `reduce_evaluation(...)`: each process scores a
  contiguous part of the data, the counts are summed, so every image counts once.
- `agree(flag)`: rank 0's decision (stop early or not), the same on every process.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy

from .. import backend
from ..data.dataset import Subset
from ..data.loader import DataLoader, _BatchIterator, _BatchMaker
from ..nn.module import Module
from . import world as _w
from .ddp import DistributedDataParallel


def _derived_seed(*key: int) -> int:
    return int(numpy.random.SeedSequence(list(key)).generate_state(1, numpy.uint64)[0] >> 1)


class ShardedLoader:
    """This process's share of each global batch of `loader`: the same epoch order on every
    process, batch b's rows split into K contiguous parts (sizes differ by at most one), so
    the K shards together are exactly the one-process batch. A last batch with fewer rows
    than processes is left out. Augmentations are drawn per process (seeded by seed, rank).

    Starting an epoch also seeds this process's generator (dropout) from (seed, epoch, rank),
    so ranks draw different masks and a resumed run draws the ones it would have drawn.
    `set_epoch`, `state_dict` and `load_state_dict` are the wrapped loader's, so a
    checkpoint holds the same loader state whatever K."""

    def __init__(self, loader: DataLoader, rank: int, size: int) -> None:
        self.loader, self.rank, self.size = loader, rank, size

    def _batches(self, epoch: int) -> list[numpy.ndarray]:
        order = self.loader.order(epoch)
        b = self.loader.batch_size
        rows = [order[i * b:(i + 1) * b] for i in range(len(self.loader))]
        return [r[len(r) * self.rank // self.size:len(r) * (self.rank + 1) // self.size]
                for r in rows if len(r) >= self.size]

    def __len__(self) -> int:
        count, rest = len(self.loader), len(self.loader.dataset) % self.loader.batch_size
        return count - 1 if not self.loader.drop_last and 0 < rest < self.size else count

    @property
    def epoch(self) -> int:
        return self.loader.epoch

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def state_dict(self) -> dict:
        return self.loader.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.loader.load_state_dict(state)

    def __iter__(self) -> _BatchIterator:
        epoch = self.loader.epoch
        self.loader.set_epoch(epoch + 1)
        batches = self._batches(epoch)
        seed = self.loader.seed if self.size == 1 else _derived_seed(self.loader.seed, self.rank)
        if self.size > 1:
            backend.manual_seed(_derived_seed(self.loader.seed, epoch, self.rank))
        make = _BatchMaker(self.loader.dataset, batches, seed, epoch, self.loader.transform)
        return _BatchIterator(make, len(batches), self.loader.prefetch, epoch)


def prepare(model: Module, loader: Iterable) -> tuple[Module, Iterable]:
    """(the module to train with, the batches for this process). A convpool DataLoader is
    sharded; any other loader is taken as this process's own already."""
    _w.init()
    size = _w.world_size()
    if size == 1:
        return model, loader
    if isinstance(model, DistributedDataParallel):
        raise TypeError("fit: pass the model itself; on several processes fit wraps it in DistributedDataParallel")
    if isinstance(loader, DataLoader):
        if loader.batch_size < size:
            raise ValueError(f"fit: the batch size {loader.batch_size} is smaller than the {size} processes; each "
                             f"process needs rows of every batch")
        loader = ShardedLoader(loader, _w.rank(), size)
    return DistributedDataParallel(model), loader


def epoch_totals(step_model: Module, totals: dict[str, Any]) -> dict[str, Any]:
    """The epoch's training loss, accuracy and count over every process (weighted by count)."""
    if _w.world_size() == 1:
        return totals
    if isinstance(step_model, DistributedDataParallel):
        step_model.sync_buffers()
    n = float(totals["n"])
    sums = _w.allreduce_array(numpy.array([totals["loss"] * n, totals["accuracy"] * n, n]),
                              what="the epoch's totals")
    return {**totals, "loss": sums[0] / sums[2], "accuracy": sums[1] / sums[2], "n": int(round(sums[2]))}


def shard_for_evaluation(loader: Iterable) -> tuple[Iterable, bool]:
    """(this process's part of a DataLoader's data, True), or (loader, False) in a world of
    one or for another kind of loader (then every process scores all of it)."""
    size = _w.world_size()
    if size == 1 or not isinstance(loader, DataLoader):
        return loader, False
    order = loader.order(loader.epoch)
    loader.set_epoch(loader.epoch + 1)
    r, n = _w.rank(), len(order)
    part = order[n * r // size:n * (r + 1) // size]
    return DataLoader(Subset(loader.dataset, part), batch_size=loader.batch_size, shuffle=False,
                      drop_last=loader.drop_last, seed=loader.seed, transform=loader.transform,
                      prefetch=loader.prefetch), True


def reduce_evaluation(confusion: numpy.ndarray | None, total_loss: float, n: int
                      ) -> tuple[numpy.ndarray | None, float, int]:
    """The confusion matrix, summed loss and count over every process."""
    width = int(_w.allreduce_array(numpy.array([0 if confusion is None else len(confusion)]), "max",
                                   what="the evaluation's class count")[0])
    if width == 0:
        return None, total_loss, 0
    local = numpy.zeros((width, width), dtype=numpy.int64) if confusion is None else confusion
    if local.shape != (width, width):
        raise _w.DistributedError(f"evaluate: rank {_w.rank()} scored {len(local)} classes, another {width}")
    summed = _w.allreduce_array(local, what="the evaluation's confusion matrix")
    loss, count = _w.allreduce_array(numpy.array([total_loss, float(n)]), what="the evaluation's loss")
    return summed, float(loss), int(round(count))


def agree(flag: bool) -> bool:
    """Rank 0's flag on every process."""
    return bool(_w.broadcast_object(bool(flag)))


def is_main() -> bool:
    return _w.is_main()
