"""Data-parallel training over MPI: throughput of 1 process x 2 threads against 2 processes
x 1 thread on one machine, the share of each step spent waiting for the gradient all-reduce,
and a scaling model for 2 to 64 machines from the measured compute time per image and the
gradient bytes per step.

    .venv/bin/python benchmarks/bench_distributed.py [--steps 8] [--batch-size 256]

Each configuration runs as its own `mpiexec -n K` job of this script (`worker` mode): a few
warm-up steps, then `--steps` timed SGD steps on a fixed random global batch split over the
processes, through DistributedDataParallel. Rank 0 prints one JSON line; the driver prints
Markdown tables. Needs the mpi extra (mpi4py, mpich).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy

import convpool
import convpool.functional as F
from convpool import backend, models, nn, optim
from convpool import distributed as dist
from convpool.distributed.launch import find_mpiexec
from convpool.tensor import Tensor

SHAPES = {"fast-cnn": (3, 32), "article-cnn": (1, 28), "resnet-18": (3, 32)}


class BasicBlock(nn.Module):
    """ResNet-18's block: two 3x3 conv-BN, a shortcut (1x1 conv-BN when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                                  nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                      if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.body(x) + self.short(x))


def resnet18(num_classes: int = 10) -> nn.Module:
    """ResNet-18 for 32x32 images (3x3 stem, no stem pooling): 11.2 M parameters."""
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)]
    return nn.Sequential(*layers)


def build(name: str) -> nn.Module:
    channels, size = SHAPES[name]
    if name == "resnet-18":
        return resnet18()
    return models.build(name, in_channels=channels, num_classes=10, image_size=size)


def worker(args: argparse.Namespace) -> None:
    dist.init()
    backend.set_num_threads(args.threads)
    rank, k = dist.rank(), dist.world_size()
    convpool.manual_seed(0)
    channels, size = SHAPES[args.model]
    rng = numpy.random.default_rng(0)
    images = rng.standard_normal((args.batch_size, channels, size, size)).astype(numpy.float32)
    labels = rng.integers(0, 10, args.batch_size)
    model = build(args.model)
    if hasattr(model, "initialise_from_data"):
        model.initialise_from_data(images)
    ddp = dist.DistributedDataParallel(model)
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    lo, hi = args.batch_size * rank // k, args.batch_size * (rank + 1) // k
    x, y = Tensor(images[lo:hi]), Tensor(labels[lo:hi])
    times, waits, copies = [], [], []
    for step in range(args.warmup + args.steps):
        dist.barrier()
        began, wait0, copy0 = time.perf_counter(), ddp.wait_seconds, ddp.reduce_seconds
        optimizer.zero_grad()
        F.cross_entropy(ddp(x), y).backward()
        optimizer.step()
        if step >= args.warmup:
            times.append(time.perf_counter() - began)
            waits.append(ddp.wait_seconds - wait0)
            copies.append(ddp.reduce_seconds - copy0)
    buffer = Tensor(numpy.zeros(sum(p.numel() for p in model.parameters()), dtype=numpy.float32))
    alone = []
    for _ in range(10):  # the all-reduce of one step's gradients by itself, everyone ready
        dist.barrier()
        began = time.perf_counter()
        dist.all_reduce(buffer)
        alone.append(time.perf_counter() - began)
    gathered = [Tensor(numpy.zeros(3)) for _ in range(k)]
    dist.all_gather(gathered, Tensor(numpy.array([statistics.median(times), sum(waits) / sum(times),
                                                  sum(copies) / sum(times)])))
    if dist.is_main():
        step = max(float(g.data[0]) for g in gathered)
        gradient_bytes = sum(p.data.nbytes for p in model.parameters() if p.requires_grad)
        print(json.dumps({"model": args.model, "processes": k, "threads": args.threads, "batch": args.batch_size,
                          "step_seconds": step, "images_per_second": args.batch_size / step,
                          "wait_share": max(float(g.data[1]) for g in gathered),
                          "wait_share_least": min(float(g.data[1]) for g in gathered),
                          "copy_share": max(float(g.data[2]) for g in gathered),
                          "gradient_bytes": gradient_bytes, "all_reduce_alone_seconds": statistics.median(alone),
                          "buckets": len(ddp._bucket_list)}), flush=True)


def run(model: str, processes: int, threads: int, batch: int, steps: int, warmup: int) -> dict:
    mpiexec = find_mpiexec()
    if mpiexec is None:
        raise SystemExit("needs mpiexec: pip install 'convpool[mpi]'")
    env = {n: v for n, v in os.environ.items() if not n.startswith(("PMI_", "PMIX_", "HYDRA_"))}
    command = [mpiexec, "-n", str(processes), sys.executable, str(Path(__file__).resolve()), "worker", "--model",
               model, "--threads", str(threads), "--batch-size", str(batch), "--steps", str(steps), "--warmup",
               str(warmup)]
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def ring_seconds(nbytes: int, machines: int, gbit: float, latency: float = 20e-6) -> float:
    """A ring all-reduce of nbytes over `machines` links of `gbit` Gbit/s: each machine sends
    and receives 2 (K - 1) / K of the data, in 2 (K - 1) messages."""
    if machines == 1:
        return 0.0
    return 2 * (machines - 1) / machines * nbytes * 8 / (gbit * 1e9) + 2 * (machines - 1) * latency


def scaling_table(name: str, per_image: float, nbytes: int, batch: int) -> list[str]:
    lines = [f"**{name}**: {per_image * 1e3:.1f} ms of compute per image (measured, 1 process x 2 threads), "
             f"{nbytes / 2**20:.1f} MiB of float32 gradients per step; global batch {batch}.", "",
             "| machines | per-machine batch | compute s/step | all-reduce s/step 10 Gbit/s | 100 Gbit/s "
             "| speed-up 10 Gbit/s (no overlap) | 100 Gbit/s | per-machine batch below which communication "
             "dominates, 10 / 100 Gbit/s | the same with compute 100x faster (a GPU) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for machines in (2, 4, 8, 16, 32, 64):
        local = batch / machines
        compute = per_image * local
        c10, c100 = ring_seconds(nbytes, machines, 10), ring_seconds(nbytes, machines, 100)
        single = per_image * batch
        lines.append(f"| {machines} | {local:g} | {compute:.3f} | {c10:.3f} | {c100:.4f} | "
                     f"{single / (compute + c10):.1f}x | {single / (compute + c100):.1f}x | "
                     f"{c10 / per_image:.2f} / {c100 / per_image:.2f} | "
                     f"{100 * c10 / per_image:.0f} / {100 * c100 / per_image:.0f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="all", choices=("all", "worker"))
    parser.add_argument("--model", default="fast-cnn", choices=sorted(SHAPES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    if args.mode == "worker":
        worker(args)
        return
    rows, measured = [], {}
    for model in ("fast-cnn", "article-cnn"):
        for processes, threads in ((1, 2), (2, 1)):
            r = run(model, processes, threads, args.batch_size, args.steps, args.warmup)
            measured[(model, processes)] = r
            rows.append(f"| {model} | {processes} x {threads} | {args.batch_size} | {r['step_seconds']:.3f} | "
                        f"{r['images_per_second']:.0f} | {r['wait_share']:.1%} / {r['wait_share_least']:.1%} | "
                        f"{r['copy_share']:.1%} | "
                        f"{r['buckets']} | {r['all_reduce_alone_seconds'] * 1e3:.2f} |")
            print(rows[-1], flush=True)
    resnet = run("resnet-18", 1, 2, 16, 2, 1)
    print("| model | processes x threads | global batch | s/step (median) | images/s | waiting for the all-reduce, "
          "most / least waiting process "
          "| copying into/out of buckets | buckets | one all-reduce alone, ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    fast = measured[("fast-cnn", 1)]
    for name, r, batch in (("fast-cnn", fast, 512), ("ResNet-18", resnet, 512)):
        print("\n".join(scaling_table(name, r["step_seconds"] / r["batch"], r["gradient_bytes"], batch)))
        print()


if __name__ == "__main__":
    main()
