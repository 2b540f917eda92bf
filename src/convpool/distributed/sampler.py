"""DistributedSampler: the indices of one process's share of a dataset, as PyTorch's.

Every process draws the same order (from seed + epoch when shuffling), pads it by repeating
its start until it divides by num_replicas (or, with drop_last, cuts the tail), and takes
every num_replicas-th index from its rank on; so the shares are disjoint, equally long and
together cover the dataset. Call `set_epoch(epoch)` before each epoch for a new order.

    sampler = DistributedSampler(dataset, shuffle=True, seed=0)
    sampler.set_epoch(epoch)
    loader = DataLoader(Subset(dataset, list(sampler)), batch_size=64)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized

import numpy

from . import world as _w


def _whole(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | numpy.integer) or value < low:
        raise ValueError(f"DistributedSampler: {name} must be an int of at least {low}, got {value!r}")
    return int(value)


class DistributedSampler:
    """Iterates over this process's dataset indices; len() is how many."""

    def __init__(self, dataset: Sized, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        self.num_replicas = _w.world_size() if num_replicas is None else _whole(num_replicas, "num_replicas", 1)
        self.rank = _w.rank() if rank is None else _whole(rank, "rank", 0)
        if self.rank >= self.num_replicas:
            raise ValueError(f"DistributedSampler: rank {self.rank} is not below num_replicas {self.num_replicas}")
        self.dataset = dataset
        self.shuffle = bool(shuffle)
        self.seed = _whole(seed, "seed", 0)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose order the next iteration gives (shuffle=True)."""
        self.epoch = _whole(epoch, "epoch", 0)

    def indices(self) -> numpy.ndarray:
        """This rank's indices for the current epoch, as an int64 array."""
        n = len(self.dataset)
        order = (numpy.random.default_rng(self.seed + self.epoch).permutation(n) if self.shuffle
                 else numpy.arange(n)).astype(numpy.int64)
        if self.drop_last:
            order = order[:self.total_size]
        elif self.total_size > n and n > 0:
            order = numpy.resize(order, self.total_size)  # repeats the order from its start
        return order[self.rank:self.total_size:self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples
