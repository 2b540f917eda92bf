"""`convpool demo`: the article's arithmetic (output sizes, a convolution, pooling) computed by
the library on a built-in example, and two gradient checks."""

from __future__ import annotations

import argparse

import numpy

from .. import functional as F
from ..factories import tensor
from ..gradcheck import gradcheck
from ..shapes import output_size

NAME = "demo"
HELP = "the article's conv/pool arithmetic on a built-in example, and a gradient check"
ORDER = 90
EPILOG = "example: convpool demo"

EXAMPLE_IMAGE = [  # a 6x6 grey image: a bright square on a dark background
    [0, 0, 0, 0, 0, 0],
    [0, 9, 9, 9, 0, 0],
    [0, 9, 9, 9, 0, 0],
    [0, 9, 9, 9, 0, 0],
    [0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0],
]
EDGE_KERNEL = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]  # Sobel: responds to vertical edges
POOL_MATRIX = [[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]


def _show(title: str, array) -> None:
    print(title)
    print("  " + numpy.array2string(numpy.asarray(array), precision=3, suppress_small=True, prefix="  "))
    print()


def run(args: argparse.Namespace) -> int:
    """Print the article's arithmetic, computed by the library, and check two gradients."""
    print("convpool: convolution and pooling, step by step\n")
    print("1. Output size: out = (W - K + 2P) / S + 1, rounded down")
    for w, k, s, p in [(256, 3, 3, 0), (256, 3, 1, 1), (32, 5, 1, 0), (7, 3, 2, 1)]:
        print(f"   W={w:<4} K={k} S={s} P={p}  ->  {output_size(w, k, stride=s, padding=p)}")
    print()

    image = tensor([[EXAMPLE_IMAGE]], dtype="float64")
    kernel = tensor([[EDGE_KERNEL]], dtype="float64")
    bias = tensor([0.5], dtype="float64")
    _show("2. A 6x6 image (a bright square):", image.numpy()[0, 0])
    _show("   a 3x3 vertical-edge kernel, bias 0.5:", kernel.numpy()[0, 0])
    for stride, padding in [(1, 0), (1, 1), (2, 1)]:
        y = F.conv2d(image, kernel, bias, stride=stride, padding=padding)
        size = output_size(6, 3, stride=stride, padding=padding)
        _show(f"   conv2d stride={stride} padding={padding}: (6 - 3 + 2*{padding})/{stride} + 1 = {size} "
              f"-> output {size}x{size}", y.numpy()[0, 0])

    matrix = tensor([[POOL_MATRIX]], dtype="float64")
    _show("3. Pooling a 4x4 matrix with 2x2 windows, stride 2:", matrix.numpy()[0, 0])
    _show("   max pooling keeps the largest of each window:", F.max_pool2d(matrix, 2).numpy()[0, 0])
    _show("   average pooling keeps the mean:", F.avg_pool2d(matrix, 2).numpy()[0, 0])

    print("4. Gradient check (autograd against float64 central differences):")
    rng = numpy.random.default_rng(0)
    x = tensor(rng.standard_normal((2, 3, 7, 7)), requires_grad=True)
    w = tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    b = tensor(rng.standard_normal(4), requires_grad=True)
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), [x, w, b])
    print("   conv2d(stride=2, padding=1): input, weight and bias gradients agree")
    x = tensor(rng.permutation(2 * 3 * 7 * 7).reshape(2, 3, 7, 7) / 10.0, requires_grad=True)
    gradcheck(lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True), [x])
    print("   max_pool2d(3, stride=2, padding=1, ceil_mode=True): input gradient agrees")
    return 0



def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""
