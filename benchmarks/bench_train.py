"""Training speed: the same network, the same batches, the same optimiser, in convpool and in
PyTorch (CPU, same thread count), in one process. Prints images/s for both and the ratio of
time per step (convpool / torch).

    .venv/bin/python benchmarks/bench_train.py [--model article-cnn] [--batch-size 128] [--steps 20] [--image 1,28]
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
    """A PyTorch copy of a convpool network made of Sequentials and the layers below (the
    Classifier models and fast-cnn), with the same weights and buffers."""
    tnn = torch.nn

    class GlobalMax(tnn.Module):
        def forward(self, x):
            return x.amax(dim=(2, 3))

    class Multiply(tnn.Module):
        def __init__(self, factor):
            super().__init__()
            self.factor = factor

        def forward(self, x):
            return x * self.factor

    def convert(layer):
        kind = type(layer).__name__
        if kind == "Sequential":
            return tnn.Sequential(*[convert(m) for m in layer])
        if kind == "Conv2d":
            return tnn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                              layer.dilation, layer.groups, layer.bias is not None)
        if kind == "Whitening":  # a fixed conv: its kernels are not trained
            conv = tnn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, bias=False)
            conv.weight.requires_grad_(False)
            return conv
        if kind == "Linear":
            return tnn.Linear(layer.in_features, layer.out_features, layer.bias is not None)
        if kind == "MaxPool2d":
            return tnn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding)
        if kind in ("BatchNorm1d", "BatchNorm2d"):
            return getattr(tnn, kind)(layer.num_features)
        if kind in ("ReLU", "Flatten"):
            return getattr(tnn, kind)()
        if kind == "Dropout":
            return tnn.Dropout(layer.p)
        if kind == "GlobalMaxPool":
            return GlobalMax()
        if kind == "Scale":
            return Multiply(layer.factor)
        raise ValueError(f"bench_train: no PyTorch twin for layer {kind}")

    kind = type(model).__name__
    if kind == "Classifier":
        twin = tnn.Sequential(convert(model.features), tnn.Flatten(), convert(model.head))
    elif kind == "FastCNN":
        twin = tnn.Sequential(convert(model.features), GlobalMax(), convert(model.head))
    else:
        raise ValueError(f"bench_train: no PyTorch twin for a {kind}")
    ours, theirs = list(model.state_dict().values()), twin.state_dict()
    if len(ours) != len(theirs):
        raise AssertionError(f"bench_train: {len(ours)} arrays in convpool's state, {len(theirs)} in the twin's")
    copied = {}
    for (key, value), mine in zip(theirs.items(), ours, strict=True):
        array = torch.tensor(mine.numpy()).reshape(value.shape)
        if tuple(mine.shape) != tuple(value.shape) and mine.numpy().size != value.numel():
            raise AssertionError(f"bench_train: {key} is {tuple(value.shape)} in torch, {tuple(mine.shape)} here")
        copied[key] = array
    twin.load_state_dict(copied)
    return twin


INPUTS = {"fast-cnn": (3, 32), "resnet-cifar": (3, 32)}  # (channels, size); the others read 28x28 grey


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="article-cnn", choices=models.names())
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--image", metavar="C,H", help="image channels and size (default: 3,32 for fast-cnn and "
                        "resnet-cifar, 1,28 for the others); 1,28 times fast-cnn on Fashion-MNIST's images")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    convpool.manual_seed(0)
    channels, size = (tuple(int(v) for v in args.image.split(",")) if args.image else
                      INPUTS.get(args.model, (1, 28)))
    model = models.build(args.model, in_channels=channels, image_size=size)
    if hasattr(model, "initialise_from_data"):
        model.initialise_from_data(numpy.random.default_rng(1).standard_normal((64, channels, size, size)))
    twin = torch_twin(model, torch)
    ours_opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    their_opt = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9)
    rng = numpy.random.default_rng(0)
    batches = [(rng.standard_normal((args.batch_size, channels, size, size)).astype(numpy.float32),
                rng.integers(0, 10, args.batch_size)) for _ in range(4)]
    check = batches[0][0][:8]  # the twin computes the same function, or the timing means nothing
    model.eval()
    twin.eval()
    with convpool.no_grad(), torch.no_grad():
        ours_out, theirs_out = model(convpool.tensor(check)).numpy(), twin(torch.from_numpy(check)).numpy()
    model.train()
    twin.train()
    if not numpy.allclose(ours_out, theirs_out, rtol=1e-3, atol=1e-4):
        raise AssertionError("bench_train: the PyTorch twin's outputs differ from convpool's")

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
