"""Run by the distributed tests under `mpiexec -n K python tests/mpi_worker.py MODE OUT ...`.

train: a few SGD steps (momentum, weight decay, Nesterov, a per-step cosine schedule) of a
small CNN with batch norm (SyncBatchNorm when K > 1) on a fixed global batch, each rank on
its rows of the batch through DistributedDataParallel; rank 0 writes the final weights and
buffers to OUT (.npz) with the largest difference between ranks. `reference()` makes the
same steps in one process without any wrapper, for the test to compare.

collectives: all_reduce, broadcast, all_gather and the sampler, results to OUT (.json).
features: no_sync, find_unused_parameters and sync_buffers, results to OUT (.json).
evaluate: evaluate() sharded over K processes and alone, results to OUT (.json).
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


def _mlp() -> nn.Module:
    convpool.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5, dtype="float64"), nn.ReLU(), nn.Linear(5, 3, dtype="float64"))


def run_features(out: Path) -> None:
    """no_sync accumulation, find_unused_parameters, the unused-parameter error, sync_buffers."""
    dist.init(timeout=30)
    r, k = dist.rank(), dist.world_size()
    rng = numpy.random.default_rng(2)
    x, y = rng.standard_normal((2, 8, 6)), rng.integers(0, 3, (2, 8))
    reference = _mlp()
    for m in range(2):  # one process: two micro-batches of 8, gradients accumulated
        F.cross_entropy(reference(Tensor(x[m])), Tensor(y[m])).backward()
    model = _mlp()
    ddp = dist.DistributedDataParallel(model)
    lo, hi = 8 * r // k, 8 * (r + 1) // k
    with ddp.no_sync():
        F.cross_entropy(ddp(Tensor(x[0, lo:hi])), Tensor(y[0, lo:hi])).backward()
    F.cross_entropy(ddp(Tensor(x[1, lo:hi])), Tensor(y[1, lo:hi])).backward()
    no_sync = max(float(numpy.abs(p.grad.data - q.grad.data).max()) for p, q in
                  zip(model.parameters(), reference.parameters(), strict=True))

    class Branches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used, self.unused = _mlp(), nn.Linear(6, 3, dtype="float64")

        def forward(self, t: Tensor) -> Tensor:
            return self.used(t)

    wide = Branches()
    found = dist.DistributedDataParallel(wide, find_unused_parameters=True)
    F.cross_entropy(found(Tensor(x[1, lo:hi])), Tensor(y[1, lo:hi])).backward()
    single = _mlp()
    F.cross_entropy(single(Tensor(x[1])), Tensor(y[1])).backward()
    unused = max(float(numpy.abs(p.grad.data - q.grad.data).max()) for p, q in
                 zip(wide.used.parameters(), single.parameters(), strict=True))
    unused_grad = float(numpy.abs(wide.unused.weight.grad.data).max())
    dropped = _mlp()
    dropped_ddp = dist.DistributedDataParallel(dropped)
    dropped_ddp(Tensor(x[0, :1 + 4 * r]))  # a forward whose backward never comes, other rows per rank
    F.cross_entropy(dropped_ddp(Tensor(x[1, lo:hi])), Tensor(y[1, lo:hi])).backward()
    abandoned = max(float(numpy.abs(p.grad.data - q.grad.data).max()) for p, q in
                    zip(dropped.parameters(), single.parameters(), strict=True))
    strict = dist.DistributedDataParallel(Branches())
    F.cross_entropy(strict(Tensor(x[1, lo:hi])), Tensor(y[1, lo:hi])).backward()
    try:
        strict(Tensor(x[1, lo:hi]))
        error = ""
    except dist.DistributedError as e:
        error = str(e)
    bn = nn.BatchNorm1d(6, dtype="float64")
    bn_ddp = dist.DistributedDataParallel(bn)
    bn(Tensor(x[0, lo:hi] + r))  # each rank's own statistics
    bn_ddp.sync_buffers()
    slots = [Tensor(numpy.zeros(6)) for _ in range(k)]
    dist.all_gather(slots, Tensor(bn.running_mean.data.copy()))
    buffers = max(float(numpy.abs(s.data - slots[0].data).max()) for s in slots)
    if dist.is_main():
        out.write_text(json.dumps({"no_sync": no_sync, "unused": unused, "abandoned": abandoned,
                                   "unused_grad": unused_grad, "error": error, "buffers": buffers,
                                   "rank0_mean_moved": float(numpy.abs(slots[0].data).max())}))


def run_evaluate(out: Path) -> None:
    """evaluate() on K processes (each its part of 37 images, batches of 8) and in one."""
    from convpool.data import ArrayDataset, DataLoader
    from convpool.train import evaluate

    dist.init(timeout=30)
    rng = numpy.random.default_rng(4)
    images = rng.integers(0, 255, (37, 2, 8, 8)).astype(numpy.uint8)
    data = ArrayDataset(images, rng.integers(0, 5, 37))
    model = build("float32")
    shared = evaluate(model, DataLoader(data, batch_size=8), 5)
    if dist.is_main():
        from convpool.distributed import world

        world._world.size = 1  # this process alone, as a world of one, for the reference
        alone = evaluate(model, DataLoader(data, batch_size=8), 5)
        out.write_text(json.dumps({"shared": shared, "alone": alone}))


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
    elif mode == "features":
        run_features(Path(sys.argv[2]))
    elif mode == "evaluate":
        run_evaluate(Path(sys.argv[2]))
    elif mode == "fail":
        run_fail(sys.argv[2])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
