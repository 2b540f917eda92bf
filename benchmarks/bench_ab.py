"""Time two copies of convpool against each other, call by call: is a change faster or slower?

Each copy (a folder holding `src/convpool`, e.g. from `git archive COMMIT | tar -x -C DIR`)
runs in its own worker process. For every case the two take turns, one call each, who goes
first alternating, with a pause before each call, so both see the same machine noise; the
table gives each side's median and the median of the per-pair ratios after / before. On a
shared machine this resolves changes that single runs of bench_ops.py cannot.

    .venv/bin/python benchmarks/bench_ab.py --before /tmp/old --after . [--repeat 10] [--only conv2d]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def cases():
    """name -> a call: bench_ops.py's conv and pooling layers (float32), a transposed
    convolution each way, and one training step of two models."""
    import numpy

    import convpool
    import convpool.functional as F
    from convpool import models, optim

    rng = numpy.random.default_rng(0)
    table = {}

    def conv(name, x_shape, w_shape, **kwargs):
        x = rng.standard_normal(x_shape).astype("float32")
        w = (rng.standard_normal(w_shape) * 0.1).astype("float32")
        b = rng.standard_normal(w_shape[0]).astype("float32")
        op = F.conv1d if len(x_shape) == 3 else F.conv2d

        def forward():
            with convpool.no_grad():
                op(convpool.tensor(x), convpool.tensor(w), convpool.tensor(b), **kwargs)

        def train():
            inputs = [convpool.tensor(a, requires_grad=True) for a in (x, w, b)]
            y = op(*inputs, **kwargs)
            y.backward(convpool.tensor(numpy.ones(y.shape, "float32")))

        table[f"{name} | fwd"], table[f"{name} | fwd+bwd"] = forward, train

    conv("conv2d 3-64 @32", (128, 3, 32, 32), (64, 3, 3, 3), padding=1)
    conv("conv2d 64-64 @32", (128, 64, 32, 32), (64, 64, 3, 3), padding=1)
    conv("conv2d 64-128 s2 @32", (128, 64, 32, 32), (128, 64, 3, 3), padding=1, stride=2)
    conv("conv2d 128-128 @16", (128, 128, 16, 16), (128, 128, 3, 3), padding=1)
    conv("conv2d 128-256 @8", (128, 128, 8, 8), (256, 128, 3, 3), padding=1)
    conv("conv2d 128-128 @3", (256, 128, 3, 3), (128, 128, 3, 3), padding=1)
    conv("conv1d 1-32 k80 s4", (64, 1, 8000), (32, 1, 80), stride=4)
    conv("conv1d 32-64 k3", (64, 32, 1981), (64, 32, 3), padding=1)
    conv("conv1d 32-64 k3 s2", (64, 32, 1981), (64, 32, 3), padding=1, stride=2)
    conv("depthwise 3x3 64ch @32", (128, 64, 32, 32), (64, 1, 3, 3), padding=1, groups=64)

    def transposed(name, x_shape, w_shape, **kwargs):
        x = rng.standard_normal(x_shape).astype("float32")
        w = (rng.standard_normal(w_shape) * 0.1).astype("float32")

        def train():
            inputs = [convpool.tensor(a, requires_grad=True) for a in (x, w)]
            y = F.conv_transpose2d(*inputs, **kwargs)
            y.backward(convpool.tensor(numpy.ones(y.shape, "float32")))

        table[f"{name} | fwd+bwd"] = train

    transposed("conv_transpose2d 64-32 s2 @16", (64, 64, 16, 16), (64, 32, 4, 4), stride=2, padding=1)
    transposed("conv_transpose2d 64-32 s1 @16", (64, 64, 16, 16), (64, 32, 3, 3), padding=1)
    images = rng.standard_normal((128, 64, 32, 32)).astype("float32")

    def pool(name, op):
        def train():
            x = convpool.tensor(images, requires_grad=True)
            y = op(x, 2)
            y.backward(convpool.tensor(numpy.ones(y.shape, "float32")))

        table[f"{name} | fwd+bwd"] = train

    pool("max_pool2d 2x2", F.max_pool2d)
    pool("avg_pool2d 2x2", F.avg_pool2d)

    def step(name, model_name, channels, size, batch):
        convpool.manual_seed(0)
        model = models.build(model_name, in_channels=channels, image_size=size)
        if hasattr(model, "initialise_from_data"):
            model.initialise_from_data(numpy.random.default_rng(1).standard_normal((64, channels, size, size)))
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = rng.standard_normal((batch, channels, size, size)).astype("float32")
        labels = rng.integers(0, 10, batch)

        def train():
            loss = F.cross_entropy(model(convpool.tensor(x)), convpool.tensor(labels))
            opt.zero_grad()
            loss.backward()
            opt.step()

        table[f"{name} | step"] = train

    step("train step article-cnn b128", "article-cnn", 1, 28, 128)
    step("train step fast-cnn 1,28 b128", "fast-cnn", 1, 28, 128)
    return table


def worker() -> None:
    """Answer one line per request on stdin: 'list', or a case name (-> seconds it took)."""
    table = cases()
    print("ready", flush=True)
    for line in sys.stdin:
        name = line.strip()
        if name == "list":
            print("\t".join(table), flush=True)
            continue
        start = time.perf_counter()
        table[name]()
        print(time.perf_counter() - start, flush=True)


class Side:
    def __init__(self, root: str) -> None:
        env = dict(os.environ, PYTHONPATH=os.path.join(os.path.abspath(root), "src"))
        self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker"], env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.process.stdout.readline().strip() != "ready":
            raise SystemExit(f"bench_ab: the worker for {root} did not start")

    def ask(self, request: str) -> str:
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="folder holding the first copy's src/convpool")
    parser.add_argument("--after", help="folder holding the second copy's src/convpool")
    parser.add_argument("--repeat", type=int, default=10, help="pairs of calls per case (default 10)")
    parser.add_argument("--pause", type=float, default=0.2, help="seconds of sleep before each call (default 0.2)")
    parser.add_argument("--only", action="append", metavar="NAME", help="cases whose name contains NAME")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    for option in ("before", "after"):
        root = getattr(args, option)
        if root is None or not os.path.isfile(os.path.join(root, "src", "convpool", "__init__.py")):
            parser.error(f"--{option} {root!r}: not a folder holding src/convpool")
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    before, after = Side(args.before), Side(args.after)
    names = [n for n in before.ask("list").split("\t") if not args.only or any(o in n for o in args.only)]
    if not names:
        parser.error(f"--only {args.only}: no case matches")
    print("| case | pass | before ms (median) | after ms (median) | after / before, median of pairs | "
          "lowest to highest pair |")
    print("|---|---|---:|---:|---:|---|")
    for name in names:
        before.ask(name), after.ask(name)  # warm-up
        times: dict[Side, list[float]] = {before: [], after: []}
        for i in range(args.repeat):
            for side in (before, after) if i % 2 == 0 else (after, before):
                time.sleep(args.pause)
                times[side].append(float(side.ask(name)))
        ratios = [a / b for a, b in zip(times[after], times[before], strict=True)]
        case, kind = name.split(" | ")
        print(f"| {case} | {kind} | {statistics.median(times[before]) * 1e3:.1f} | "
              f"{statistics.median(times[after]) * 1e3:.1f} | {statistics.median(ratios):.2f} | "
              f"{min(ratios):.2f} to {max(ratios):.2f} |", flush=True)


if __name__ == "__main__":
    main()
