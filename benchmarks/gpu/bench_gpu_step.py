"""Training-step time on a GPU: convpool on CuPy against PyTorch with cuDNN, the same network,
batches and optimiser (SGD with momentum, float32, TF32 off in both), in one process.

    PYTHONPATH=src python3 benchmarks/gpu/bench_gpu_step.py [--steps 20] [--only article-cnn]

Cases: the article CNN at batch 128 (1x28x28), fast-cnn at batch 512 (3x32x32), and a
ResNet-18 (torchvision's layout, written once below for both libraries) at 224x224, batch 64.
Prints one line per case with ms/step for both and the ratio convpool / torch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench_train's torch_twin

import convpool  # noqa: E402
import convpool.functional as convpool_F  # noqa: E402
from convpool import models  # noqa: E402


def resnet18(nn, F, num_classes: int = 1000):
    """torchvision's ResNet-18 layout, for either library: `nn`/`F` are convpool's or torch's."""

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) \
                if stride != 1 or cin != cout else None

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + (x if self.downsample is None else self.downsample(x)))

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            widths, cin, stages = (64, 128, 256, 512), 64, []
            for i, width in enumerate(widths):
                stages.append(nn.Sequential(BasicBlock(cin, width, 1 if i == 0 else 2), BasicBlock(width, width, 1)))
                cin = width
            self.layer1, self.layer2, self.layer3, self.layer4 = stages
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet18()


def build_pair(name: str, torch):
    """(convpool model on the GPU, torch twin on the GPU, input shape, classes)."""
    convpool.manual_seed(0)
    if name == "resnet18":
        ours = resnet18(convpool.nn, convpool_F)
        twin = resnet18(torch.nn, torch.nn.functional)
        twin.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
        return ours, twin, (3, 224, 224), 1000
    from bench_train import torch_twin

    channels, size = (3, 32) if name == "fast-cnn" else (1, 28)
    ours = models.build(name, in_channels=channels, image_size=size)
    if hasattr(ours, "initialise_from_data"):
        ours.initialise_from_data(numpy.random.default_rng(1).standard_normal((64, channels, size, size)))
    return ours, torch_twin(ours, torch), (channels, size, size), 10


def time_case(name: str, batch: int, steps: int, torch) -> tuple[float, float]:
    import cupy

    ours, twin, shape, classes = build_pair(name, torch)
    ours.to("cuda")
    twin.to("cuda")
    ours_opt = convpool.optim.SGD(ours.parameters(), lr=0.01, momentum=0.9)
    their_opt = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9)
    rng = numpy.random.default_rng(0)
    host = [(rng.standard_normal((batch,) + shape).astype(numpy.float32), rng.integers(0, classes, batch))
            for _ in range(2)]
    ours_batches = [(convpool.tensor(x, device="cuda"), convpool.tensor(y, device="cuda")) for x, y in host]
    their_batches = [(torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()) for x, y in host]

    def our_step(i):
        x, y = ours_batches[i % 2]
        loss = convpool_F.cross_entropy(ours(x), y)
        ours_opt.zero_grad()
        loss.backward()
        ours_opt.step()
        cupy.cuda.get_current_stream().synchronize()

    def their_step(i):
        x, y = their_batches[i % 2]
        loss = torch.nn.functional.cross_entropy(twin(x), y)
        their_opt.zero_grad()
        loss.backward()
        their_opt.step()
        torch.cuda.synchronize()

    ours_times, their_times = [], []
    for i in range(steps + 3):
        for fn, times in ((our_step, ours_times), (their_step, their_times)) if i % 2 else \
                ((their_step, their_times), (our_step, ours_times)):
            start = time.perf_counter()
            fn(i)
            if i >= 3:  # warm-up: kernel compilation, cuDNN autotuning, memory pools
                times.append(time.perf_counter() - start)
    return statistics.median(ours_times), statistics.median(their_times)


CASES = (("article-cnn", 128), ("fast-cnn", 512), ("resnet18", 64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--only", choices=[name for name, _ in CASES])
    args = parser.parse_args()
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}")
    for name, batch in CASES:
        if args.only and name != args.only:
            continue
        ours, theirs = time_case(name, batch, args.steps, torch)
        print(f"{name:12s} batch {batch:4d}: convpool {ours * 1e3:8.2f} ms/step, torch {theirs * 1e3:8.2f} ms/step, "
              f"ratio {ours / theirs:5.2f}", flush=True)


if __name__ == "__main__":
    main()
