"""Run by the distributed tests under `mpiexec -n K python tests/mpi_worker.py MODE OUT ...`.

train: a few SGD steps (momentum, weight decay, Nesterov, a per-step cosine schedule) of a
small CNN with batch norm (SyncBatchNorm when K > 1) on a fixed global batch, each rank on
its rows of the batch through DistributedDataParallel; rank 0 writes the final weights and
buffers to OUT (.npz) with the largest difference between ranks. `reference()` makes the
same steps in one process without any wrapper, for the test to compare.

collectives: all_reduce, broadcast, all_gather and the sampler, results to OUT (.json).
fail: rank 1 raises mid-training (exits at once with `exit`, hangs with `hang`); the others must stop.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import convpool  # noqa: E402
from convpool import distributed as dist  # noqa: E402
from convpool import functional as F  # noqa: E402
from convpool import nn, optim  # noqa: E402
from convpool.tensor import Tensor  # noqa: E402

STEPS, BATCH = 4, 16


def build(dtype: str) -> nn.Module:
    convpool.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, dtype=dtype), nn.BatchNorm2d(4, dtype=dtype), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 5, dtype=dtype),
    )


def data(dtype: str) -> tuple[numpy.ndarray, numpy.ndarray]:
    rng = numpy.random.default_rng(1)
    return rng.standard_normal((STEPS, BATCH, 2, 8, 8)).astype(dtype), rng.integers(0, 5, (STEPS, BATCH))


def train(model: nn.Module, step_model: nn.Module, dtype: str, rank: int, size: int) -> None:
    optimizer = optim.SGD(model.parameters(), lr=0.2, momentum=0.9, nesterov=True, weight_decay=1e-3)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=STEPS)
    images, labels = data(dtype)
    lo, hi = BATCH * rank // size, BATCH * (rank + 1) // size
    for step in range(STEPS):
        optimizer.zero_grad()
        loss = F.cross_entropy(step_model(Tensor(images[step, lo:hi])), Tensor(labels[step, lo:hi]))
        loss.backward()
        optimizer.step()
        scheduler.step()


def state(model: nn.Module) -> dict[str, numpy.ndarray]:
    return {k: numpy.asarray(v.data) for k, v in model.state_dict().items()}


def reference(dtype: str) -> dict[str, numpy.ndarray]:
    model = build(dtype)
    train(model, model, dtype, 0, 1)
    return state(model)


def run_train(out: Path, dtype: str) -> None:
    dist.init(timeout=60)
    model = build(dtype)
    if dist.rank() > 0:
        convpool.manual_seed(100 + dist.rank())  # other initial weights: the wrapper must broadcast rank 0's
        for p in model.parameters():
            p.data[...] = convpool.randn(*p.shape, dtype=dtype).data
    if dist.world_size() > 1:
        convpool.nn.convert_sync_batchnorm(model)
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.0005)  # several buckets of a few parameters
    train(model, ddp, dtype, dist.rank(), dist.world_size())
    flat = numpy.concatenate([v.ravel().astype(numpy.float64) for v in state(model).values()])
    gathered = [Tensor(numpy.zeros_like(flat)) for _ in range(dist.world_size())]
    dist.all_gather(gathered, Tensor(flat))
    spread = max(float(numpy.abs(g.data - flat).max()) for g in gathered)
    if dist.is_main():
        numpy.savez(out, spread=spread, buckets=len(ddp._bucket_list), **state(model))


def run_collectives(out: Path) -> None:
    dist.init(timeout=60)
    r, k = dist.rank(), dist.world_size()
    summed = dist.all_reduce(Tensor(numpy.full(3, r + 1.0, dtype=numpy.float32)))
    largest = dist.all_reduce(Tensor(numpy.array([r], dtype=numpy.float64)), op="max")
    given = dist.broadcast(Tensor(numpy.full(2, float(r), dtype=numpy.float64)), src=k - 1)
    slots = [Tensor(numpy.zeros(2)) for _ in range(k)]
    dist.all_gather(slots, Tensor(numpy.array([r, r * 10.0])))
    sampler = dist.DistributedSampler(list(range(10)), shuffle=True, seed=3)
    sampler.set_epoch(2)
    shares = [Tensor(numpy.zeros(len(sampler))) for _ in range(k)]
    dist.all_gather(shares, Tensor(sampler.indices().astype(numpy.float64)))
    folder = dist.broadcast_object({"path": f"runs/{r}"})
    dist.barrier()
    if dist.is_main():
        out.write_text(json.dumps({
            "size": k, "sum": summed.data.tolist(), "sum_dtype": str(summed.dtype), "max": largest.data.tolist(),
            "broadcast": given.data.tolist(), "gathered": [s.data.tolist() for s in slots],
            "shares": [s.data.astype(int).tolist() for s in shares], "object": folder}))


def run_fail(how: str) -> None:
    dist.init(timeout=2)
    model = build("float64")
    ddp = dist.DistributedDataParallel(model)
    images, labels = data("float64")
    for step in range(STEPS):
        if dist.rank() == 1 and step == 1:
            if how == "exit":
                import os

                os._exit(3)
            if how == "hang":
                import time

                time.sleep(60)
            raise ValueError("a bad batch on purpose")
        loss = F.cross_entropy(ddp(Tensor(images[step])), Tensor(labels[step]))
        loss.backward()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "train":
        run_train(Path(sys.argv[2]), sys.argv[3])
    elif mode == "collectives":
        run_collectives(Path(sys.argv[2]))
    elif mode == "fail":
        run_fail(sys.argv[2])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
