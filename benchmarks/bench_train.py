"""Training speed: the same network, the same batches, the same optimiser, in convpool and in
PyTorch (CPU, same thread count), in one process. Prints images/s for both and the ratio of
time per step (convpool / torch).

    .venv/bin/python benchmarks/bench_train.py [--model article-cnn] [--batch-size 128] [--steps 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy

import convpool
import convpool.functional as F
from convpool import models, nn, optim


def torch_twin(model: nn.Module, torch):
    """A PyTorch copy of a convpool Classifier (features, flatten, head), same weights."""
    tnn = torch.nn

    def convert(layer):
        kind = type(layer).__name__
        if kind == "Conv2d":
            return tnn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                              layer.dilation, layer.groups, layer.bias is not None)
        if kind == "Linear":
            return tnn.Linear(layer.in_features, layer.out_features, layer.bias is not None)
        if kind == "MaxPool2d":
            return tnn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding)
        if kind == "BatchNorm2d":
            return tnn.BatchNorm2d(layer.num_features)
        if kind == "BatchNorm1d":
            return tnn.BatchNorm1d(layer.num_features)
        if kind in ("ReLU", "Flatten"):
            return getattr(tnn, kind)()
        if kind == "Dropout":
            return tnn.Dropout(layer.p)
        raise ValueError(f"bench_train: no PyTorch twin for layer {kind}")

    twin = tnn.Sequential(*[convert(m) for m in model.features], tnn.Flatten(), *[convert(m) for m in model.head])
    state = {k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()}
    renamed = {}
    n_features = len(model.features)
    for key, value in state.items():
        part, index, rest = key.split(".", 2)
        position = int(index) if part == "features" else n_features + 1 + int(index)
        renamed[f"{position}.{rest}"] = value
    twin.load_state_dict(renamed)
    return twin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="article-cnn", choices=models.names())
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    convpool.manual_seed(0)
    model = models.build(args.model)
    twin = torch_twin(model, torch)
    ours_opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    their_opt = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9)
    rng = numpy.random.default_rng(0)
    batches = [(rng.standard_normal((args.batch_size, 1, 28, 28)).astype(numpy.float32),
                rng.integers(0, 10, args.batch_size)) for _ in range(4)]

    def our_step(x, y):
        loss = F.cross_entropy(model(convpool.tensor(x)), convpool.tensor(y))
        ours_opt.zero_grad()
        loss.backward()
        ours_opt.step()

    def their_step(x, y):
        loss = torch.nn.functional.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(y))
        their_opt.zero_grad()
        loss.backward()
        their_opt.step()

    ours, theirs = [], []
    for step in range(args.steps + 2):
        x, y = batches[step % len(batches)]
        for fn, times in ((our_step, ours), (their_step, theirs)) if step % 2 else \
                ((their_step, theirs), (our_step, ours)):
            time.sleep(0.3)  # let the other library's idle threads stop spinning
            start = time.perf_counter()
            fn(x, y)
            if step >= 2:  # the first two are warm-up
                times.append(time.perf_counter() - start)
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    print(f"model {args.model}, batch {args.batch_size}, {args.steps} steps, {args.threads} threads, SGD momentum")
    print(f"convpool: {ours_s * 1e3:8.1f} ms/step  {args.batch_size / ours_s:8.0f} images/s")
    print(f"torch:    {theirs_s * 1e3:8.1f} ms/step  {args.batch_size / theirs_s:8.0f} images/s")
    print(f"ratio (convpool time / torch time): {ours_s / theirs_s:.2f}")


if __name__ == "__main__":
    main()
