"""Each of K processes reads only its shard: `convpool train` under mpiexec on raw (mapped)
IDX files and on a CIFAR archive (decoded once into the cache by rank 0, mapped by both), with
every gather of rows recorded per rank (tests/mpi_shard_worker.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from test_data_cifar import make_cifar, make_tar
from test_distributed import MPIEXEC, needs_mpi

from convpool.data import ArrayDataset, DataLoader, train_val_split, write_idx

pytestmark = needs_mpi
WORKER = Path(__file__).with_name("mpi_shard_worker.py")
TRAIN, TEST, BATCH, SEED = 70, 22, 16, 5


@pytest.mark.parametrize("model,val_split", [("article-cnn", 0.0), ("article-cnn", 0.25), ("fast-cnn", 0.0)])
def test_two_processes_read_disjoint_rows_that_make_up_each_batch(tmp_path, model, val_split):
    data = tmp_path / "data"
    data.mkdir()
    rng = numpy.random.default_rng(0)
    for prefix, n in (("train", TRAIN), ("t10k", TEST)):
        write_idx(data / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 12, 12)).astype(numpy.uint8))
        write_idx(data / f"{prefix}-labels-idx1-ubyte", (numpy.arange(n) % 3).astype(numpy.uint8))
    out = tmp_path / "out"
    out.mkdir()
    run = subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(WORKER), str(out), "--data", str(data),
                          "--model", model, "--epochs", "1", "--batch-size", str(BATCH),
                          "--val-split", str(val_split), "--seed", str(SEED), "--no-progress",
                          "--out", str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    ranks = [json.loads((out / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert [r["code"] for r in ranks] == [0, 0]
    assert all(r["mapped"] == {"train": True, "test": True} for r in ranks)
    # the training statistics: read by rank 0 alone, sent to rank 1
    assert [r["stats_calls"] for r in ranks] == [1, 0]
    # fast-cnn's whitening: fitted on rank 0 from the training images, sent to rank 1 with the weights
    assert [r["whitening_fits"] for r in ranks] == ([[TRAIN], []] if model == "fast-cnn" else [[], []])
    if model == "fast-cnn":
        assert ranks[0]["whitening"] == ranks[1]["whitening"] != ["zeros"]
    # training: batch b of the one-process epoch, split between the ranks, each row read by one
    whole = ArrayDataset(numpy.zeros((TRAIN, 1, 12, 12)), (numpy.arange(TRAIN) % 3).astype(numpy.int64))
    train, val = (train_val_split(whole, val_split, seed=SEED, stratify=True) if val_split
                  else (whole, None))
    order = DataLoader(train, batch_size=BATCH, shuffle=True, drop_last=True, seed=SEED).order(0)
    rows_of = getattr(train, "indices", numpy.arange(TRAIN))
    batches = [rows_of[order[b * BATCH:(b + 1) * BATCH]] for b in range(len(train) // BATCH)]
    reads = [r["reads"]["train"] for r in ranks]
    for b, rows in enumerate(batches):
        first, second = set(reads[0][b]), set(reads[1][b])
        assert not first & second, f"batch {b}: rows {sorted(first & second)} read by both ranks"
        assert first | second == set(rows.tolist())
        assert len(reads[0][b]) == len(reads[1][b]) == BATCH // 2
    # then the validation pass, the validation rows shared out, each read once
    checked = [sum(r[len(batches):], []) for r in reads]
    assert not set(checked[0]) & set(checked[1])
    assert sorted(checked[0] + checked[1]) == ([] if val is None else sorted(val.indices.tolist()))
    # the test split: scored in two parts, every image once
    tests = [sum(r["reads"]["test"], []) for r in ranks]
    assert not set(tests[0]) & set(tests[1])
    assert sorted(tests[0] + tests[1]) == list(range(TEST))


def test_two_processes_share_one_cifar_cache_built_by_rank_0(tmp_path):
    """A CIFAR-10 python archive (what `convpool data download cifar10` gives) is read whole only
    to build the cache: rank 0 decodes and writes each split once while rank 1 waits, then both
    map the cached images and read disjoint rows of them."""
    per_file, batch = 4, 8
    folder, expected = make_cifar(tmp_path / "src", "cifar10", False, per_file=per_file)
    archive = make_tar(folder, tmp_path / "cifar-10-python.tar.gz")
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "CONVPOOL_CACHE": str(tmp_path / "cache")}
    run = subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(WORKER), str(out), "--data", str(archive),
                          "--model", "article-cnn", "--epochs", "1", "--batch-size", str(batch),
                          "--val-split", "0", "--seed", str(SEED), "--no-progress", "--out", str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    ranks = [json.loads((out / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert [r["code"] for r in ranks] == [0, 0]
    assert [r["cifar_decodes"] for r in ranks] == [["train", "test"], []]
    assert [r["cache_writes"] for r in ranks] == [["train", "test"], []]
    assert all(r["mapped"] == {"train": True, "test": True} for r in ranks)
    assert len(list((tmp_path / "cache" / "cifar-arrays").iterdir())) == 2
    n_train, n_test = 5 * per_file, per_file
    assert len(expected["train"][0]) == n_train
    whole = ArrayDataset(numpy.zeros((n_train, 3, 32, 32)), numpy.zeros(n_train, numpy.int64))
    order = DataLoader(whole, batch_size=batch, shuffle=True, drop_last=True, seed=SEED).order(0)
    reads = [r["reads"]["train"] for r in ranks]
    for b in range(n_train // batch):
        first, second = set(reads[0][b]), set(reads[1][b])
        assert not first & second and len(first) == len(second) == batch // 2
        assert first | second == set(order[b * batch:(b + 1) * batch].tolist())
    tests = [sum(r["reads"]["test"], []) for r in ranks]
    assert not set(tests[0]) & set(tests[1]) and sorted(tests[0] + tests[1]) == list(range(n_test))
