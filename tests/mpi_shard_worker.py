"""Run by tests/test_distributed_shards.py under `mpiexec -n K python tests/mpi_shard_worker.py OUT TRAIN-ARGS...`.

`convpool train TRAIN-ARGS` as it runs under mpiexec, with these things watched: every gather of
rows from a data split's images (the loader's `numpy.take(images, rows, axis=0)`), every
call of `channel_stats` and of fast-cnn's `initialise_from_data`, and every CIFAR split decoded
from its files and written to the decoded cache. Each rank writes what it saw to OUT/rank-R.json.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from convpool import distributed as dist  # noqa: E402
from convpool import workflow  # noqa: E402
from convpool.cli import main  # noqa: E402
from convpool.data import cifar  # noqa: E402
from convpool.data.dataset import is_mapped  # noqa: E402
from convpool.models.fast import FastCNN  # noqa: E402

READS: dict[str, list[list[int]]] = {}
MAPPED: dict[str, bool] = {}
STATS_CALLS: list[int] = []
FITS: list[int] = []
WHITENING: list[str] = []  # what the whitening kernels are at the first training step
CIFAR_DECODES: list[str] = []  # the splits decoded from CIFAR files
CACHE_WRITES: list[str] = []  # the splits written to the decoded cache


def recording(images: numpy.ndarray, split: str) -> numpy.ndarray:
    """A view of images that records the rows of every gather along the first axis."""
    reads = READS.setdefault(split, [])

    class Recorded(numpy.ndarray):
        def take(self, indices, axis=None, out=None, mode="raise"):
            if axis == 0:
                reads.append(numpy.asarray(indices).tolist())
            return numpy.asarray(self).take(indices, axis=axis, out=out, mode=mode)

    return images.view(Recorded)


def watched_load_split(data, split, *args, **kwargs):
    dataset = original_load_split(data, split, *args, **kwargs)
    MAPPED[split] = is_mapped(dataset.images)
    dataset.images = recording(dataset.images, split)
    return dataset


def watched_channel_stats(*args, **kwargs):
    STATS_CALLS.append(1)
    return original_channel_stats(*args, **kwargs)


def watched_initialise(self, images):
    FITS.append(len(images))
    return original_initialise(self, images)


def watched_forward(self, x):
    if not WHITENING:
        kernels = numpy.asarray(self.whiten.weight.numpy())
        WHITENING.append("zeros" if not kernels.any() else hashlib.sha256(kernels.tobytes()).hexdigest())
    return original_forward(self, x)


def watched_decode(store, prefix, layout, split, label_mode):
    CIFAR_DECODES.append(split)
    return original_decode(store, prefix, layout, split, label_mode)


def watched_write_cache(folder, key, *args, **kwargs):
    CACHE_WRITES.append(key["split"])
    return original_write_cache(folder, key, *args, **kwargs)


original_decode, cifar._decode = cifar._decode, watched_decode
original_write_cache, cifar.write_cache = cifar.write_cache, watched_write_cache
original_initialise, FastCNN.initialise_from_data = FastCNN.initialise_from_data, watched_initialise
original_forward, FastCNN.forward = FastCNN.forward, watched_forward
original_load_split, workflow.load_split = workflow.load_split, watched_load_split
original_channel_stats, workflow.channel_stats = workflow.channel_stats, watched_channel_stats

if __name__ == "__main__":
    out = Path(sys.argv[1])
    code = main(["train", *sys.argv[2:]])
    report = {"code": code, "reads": READS, "mapped": MAPPED, "stats_calls": len(STATS_CALLS),
              "whitening_fits": FITS, "whitening": WHITENING, "cifar_decodes": CIFAR_DECODES,
              "cache_writes": CACHE_WRITES}
    (out / f"rank-{dist.rank()}.json").write_text(json.dumps(report))
    sys.exit(code)
