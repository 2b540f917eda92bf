"""What `convpool train --live` costs: the same training run with the live view off, on with
no page open, and on with a page watching (a client in this process that polls state.json
every 2 s and fetches every picture of each new snapshot, as the browser does; in the same
process it also competes for the GIL, so it overstates a real browser). Runs alternate
(off, on, watched) so all modes share the machine's noise; prints per-mode medians and the
overhead against off. On a busy machine those swing by more than the cost itself, so it also
measures the cost directly: the wall time the training thread spent taking snapshots, and the
CPU time the server's threads spent on JSON and pictures (time the training could lose when
there is no spare core).

    .venv/bin/python benchmarks/bench_live.py [--images 3000] [--epochs 2] [--repeats 3]

Data: the first --images Fashion-MNIST training images from --data-dir (default
../shared/data/fashion-mnist) with 500 test images for validation, or the built-in sample.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import urllib.request
from pathlib import Path

import numpy

import convpool
from convpool import models, optim
from convpool.data import ArrayDataset, Compose, DataLoader, Normalize, ToFloat, load_fashion_mnist_sample
from convpool.data.fashion_mnist import FASHION_MNIST_CLASSES
from convpool.data.idx import load_idx_pair
from convpool.train import fit
from convpool.viz import live
from convpool.viz.live import LiveView, sample_input

MODES = ("off", "on", "watched")
SERVER_CPU = [0.0]  # CPU seconds the server's threads spent answering, summed over the threads
_LOCK = threading.Lock()


def _cpu_timed(method):
    def timed(*args, **kwargs):
        began = time.thread_time()
        try:
            return method(*args, **kwargs)
        finally:
            with _LOCK:
                SERVER_CPU[0] += time.thread_time() - began
    return timed


live._Handler.do_GET = _cpu_timed(live._Handler.do_GET)  # every answer: JSON, pictures, the page


def load(data_dir: Path, count: int) -> tuple[ArrayDataset, ArrayDataset, str]:
    names = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
             "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
    if all((data_dir / name).is_file() for pair in names.values() for name in pair):
        sets = []
        for split, size in (("train", count), ("test", 500)):
            images, labels = load_idx_pair(*(data_dir / name for name in names[split]))
            sets.append(ArrayDataset(images[:size, None], labels[:size].astype(numpy.int64),
                                     classes=FASHION_MNIST_CLASSES))
        return sets[0], sets[1], f"Fashion-MNIST ({count} train, 500 validation images)"
    return load_fashion_mnist_sample("train"), load_fashion_mnist_sample("test"), "the built-in sample"


class Watcher(threading.Thread):
    """A page, minus the drawing: state.json every poll, and each new snapshot's pictures."""

    def __init__(self, url: str, poll: float) -> None:
        super().__init__(daemon=True)
        self.url, self.poll, self.stop, self.pictures = url, poll, threading.Event(), 0

    def run(self) -> None:
        steps, version = 0, -1
        while not self.stop.wait(self.poll):
            try:
                with urllib.request.urlopen(f"{self.url}state.json?since={steps}", timeout=10) as answer:
                    state = json.load(answer)
            except OSError:
                return
            steps = state["curves"]["step_count"]
            snapshot = state["snapshot"]
            if snapshot and snapshot["version"] != version:
                version = snapshot["version"]
                urls = [snapshot["input"]["url"]]
                for layer in snapshot["layers"]:
                    urls += [layer["activation"]["url"]] if layer["activation"] else []
                    urls += [p[k]["url"] for p in layer["params"] for k in ("value", "grad") if p[k]]
                for url in urls:
                    with urllib.request.urlopen(self.url + url, timeout=10) as answer:
                        answer.read()
                    self.pictures += 1


def one_run(mode: str, train_set, val_set, args) -> dict:
    normalise = Compose([ToFloat(), Normalize([0.286], [0.353])])
    train = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True, seed=0,
                       transform=normalise)
    val = DataLoader(val_set, batch_size=256, transform=normalise)
    convpool.manual_seed(0)
    model = models.build("article-cnn", in_channels=1, num_classes=10, image_size=28)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    view = watcher = None
    snapshot_seconds = [0.0]
    if mode != "off":
        sample, label, classes = sample_input(val)
        view = LiveView(model, sample, label=label, class_names=classes, interval=args.interval,
                        poll_ms=int(args.poll * 1000))
        take = view.snapshot

        def timed(step):  # the training thread's share of the live view, measured directly
            began = time.perf_counter()
            try:
                return take(step)
            finally:
                snapshot_seconds[0] += time.perf_counter() - began

        view.snapshot = timed
        if mode == "watched":
            watcher = Watcher(view.url, args.poll)
            watcher.start()
    SERVER_CPU[0] = 0.0
    began = time.perf_counter()
    history = fit(model, train, val, optimizer=optimizer, epochs=args.epochs, model_name="article-cnn",
                  model_config={"num_classes": 10}, progress=False,
                  on_step=view.on_step if view else None, on_epoch_end=view.on_epoch_end if view else None)
    seconds = time.perf_counter() - began
    if watcher is not None:
        watcher.stop.set()
        watcher.join()
    if view is not None:
        view.close(linger=0)
    return {"seconds": seconds, "images_per_second": statistics.mean(h["images_per_second"] for h in history),
            "snapshots": max(view._snapshots) if view else 0, "snapshot_seconds": snapshot_seconds[0],
            "server_cpu": SERVER_CPU[0], "pictures": watcher.pictures if watcher else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion-mnist")
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between snapshots (LiveView's)")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between the watcher's polls")
    args = parser.parse_args()
    train_set, val_set, described = load(args.data_dir, args.images)
    print(f"article-cnn, {args.epochs} epochs of {described}, batch {args.batch_size}; snapshots every "
          f"{args.interval:g} s, polls every {args.poll:g} s; {args.repeats} rounds of {', '.join(MODES)}")
    results: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for round_ in range(args.repeats):
        for mode in MODES if round_ % 2 == 0 else MODES[::-1]:
            result = one_run(mode, train_set, val_set, args)
            results[mode].append(result)
            print(f"  round {round_ + 1} {mode:>7}: {result['seconds']:6.2f} s, {result['images_per_second']:6.1f} "
                  f"images/s, {result['snapshots']} snapshots taking {result['snapshot_seconds']:.3f} s, "
                  f"{result['pictures']} pictures served using {result['server_cpu']:.3f} s CPU", flush=True)
    base = statistics.median(r["seconds"] for r in results["off"])
    print(f"\n{'mode':>8} {'median s':>9} {'images/s':>9} {'vs off':>8} {'snapshots':>10} {'server CPU':>11}"
          f" {'both':>7}")
    for mode in MODES:
        seconds = statistics.median(r["seconds"] for r in results[mode])
        speed = statistics.median(r["images_per_second"] for r in results[mode])
        snap = statistics.median(r["snapshot_seconds"] / r["seconds"] for r in results[mode])
        server = statistics.median(r["server_cpu"] / r["seconds"] for r in results[mode])
        both = statistics.median((r["snapshot_seconds"] + r["server_cpu"]) / r["seconds"] for r in results[mode])
        print(f"{mode:>8} {seconds:9.2f} {speed:9.1f} {seconds / base - 1:+8.1%} {snap:10.2%} {server:11.2%}"
              f" {both:7.2%}")
    print("(snapshots, server CPU, both: shares of the run's wall time, measured directly)")


if __name__ == "__main__":
    main()
