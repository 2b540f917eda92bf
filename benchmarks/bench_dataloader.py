"""What worker processes buy a torch-style input pipeline: one epoch of a dataset whose
__getitem__ decodes and augments in Python (a pure-Python loop over the pixels of a
28x28 image, then a random crop and flip with NumPy's global generator), through
convpool.utils.data.DataLoader and torch.utils.data.DataLoader with 0, 1 and 2 workers.
Runs alternate (convpool, torch) so both share the machine's noise; prints per-setting
medians of the epoch time, worker start-up included, as a new iterator pays it each epoch.

    .venv/bin/python benchmarks/bench_dataloader.py [--items 512] [--batch 64] [--passes 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy

from convpool.utils import data as D

try:
    import torch
except ImportError:
    torch = None


class PythonDecoded:
    """Images decoded from bytes by a Python loop, then randomly cropped and flipped."""

    def __init__(self, items: int, passes: int) -> None:
        self.passes = passes
        rng = numpy.random.default_rng(0)
        self.raw = [bytes(rng.integers(0, 256, 28 * 28, dtype=numpy.uint8)) for _ in range(items)]
        self.labels = rng.integers(0, 10, items).tolist()

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, i: int):
        pixels = list(self.raw[i])
        for _ in range(self.passes):  # the "decoder": Python work per pixel
            pixels = [(b * 3 + 7) % 256 for b in pixels]
        image = numpy.asarray(pixels, dtype=numpy.uint8).reshape(1, 28, 28)
        padded = numpy.pad(image, ((0, 0), (2, 2), (2, 2)))
        top, left = numpy.random.randint(0, 5, 2)
        image = padded[:, top:top + 28, left:left + 28]
        if numpy.random.random() < 0.5:
            image = image[:, :, ::-1]
        return numpy.ascontiguousarray(image), self.labels[i]


def epoch_seconds(make_loader, dataset, batch: int, workers: int) -> float:
    started = time.perf_counter()
    count = 0
    for images, _labels in make_loader(dataset, batch_size=batch, shuffle=True, num_workers=workers):
        count += len(images)
    assert count == len(dataset)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--passes", type=int, default=8, help="Python passes over each image's pixels")
    args = parser.parse_args()
    dataset = PythonDecoded(args.items, args.passes)
    libraries = {"convpool": D.DataLoader}
    if torch is not None:
        torch.set_num_threads(1)
        libraries["torch"] = torch.utils.data.DataLoader
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.repeats):
        for workers in (0, 1, 2):
            for name, make in libraries.items():
                times.setdefault((name, workers), []).append(epoch_seconds(make, dataset, args.batch, workers))
    print(f"{args.items} items, {args.passes} decoder passes, batch {args.batch}, median of {args.repeats} epochs (s)")
    print("workers | " + " | ".join(libraries))
    for workers in (0, 1, 2):
        print(f"{workers} | " + " | ".join(f"{statistics.median(times[(n, workers)]):.3f}" for n in libraries))


if __name__ == "__main__":
    main()
