"""The `convpool` command: parses arguments, calls the library, and turns every expected
failure (a missing file, an unknown name, a bad shape) into one clear line and exit code 2;
`--debug` shows the traceback instead."""

from __future__ import annotations

import argparse
import sys

import numpy

from . import functional as F
from . import models
from .factories import tensor
from .gradcheck import gradcheck
from .shapes import output_size

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


def demo() -> int:
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


def _shape(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected C,H,W as whole numbers, got {text!r}") from None
    if len(values) != 3 or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected three positive sizes C,H,W, got {text!r}")
    return values


def summary(model_name: str, input_shape: tuple[int, ...]) -> int:
    """Print a named model's layer table for one input of shape C,H,W."""
    channels, height, width = input_shape
    if height != width:
        raise ValueError(f"--input-shape: the named models take square images, got {height}x{width}")
    model = models.build(model_name, in_channels=channels, image_size=height)
    print(f"{model_name} for input {channels}x{height}x{width}")
    print(model.summary(input_shape))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convpool",
        description="Convolutional neural networks on NumPy.",
        epilog="examples:\n  convpool demo\n  convpool train --data sample --epochs 1\n"
               "  convpool summary --model article-cnn --input-shape 1,28,28",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("demo", help="the article's conv/pool arithmetic on a built-in example, and a gradient check")
    p = sub.add_parser("train", help="train a named model on labelled images and save checkpoints",
                       epilog="examples:\n  convpool train --data sample --model article-cnn --epochs 1\n"
                              "  convpool train --data fashion-mnist --epochs 12 --schedule onecycle",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="sample",
                   help="'fashion-mnist' (found on disk), 'sample' (built in, the default) or a folder of IDX files")
    p.add_argument("--data-dir", help="where to look for fashion-mnist first")
    p.add_argument("--model", default="article-cnn", choices=models.names())
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--optimizer", default="adam", choices=("adam", "adamw", "sgd"))
    p.add_argument("--schedule", default="none", choices=("none", "step", "cosine", "onecycle"))
    p.add_argument("--augment", action="store_true", help="random crop (padding 2) and horizontal flip")
    p.add_argument("--val-split", type=float, default=0.1, help="share of the train split held out (default 0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="run folder for checkpoints (default: a new runs/MODEL-N)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p = sub.add_parser("evaluate", help="accuracy, per-class table and confusion matrix on the test split",
                       epilog="example: convpool evaluate runs/article-cnn --data fashion-mnist --png confusion.png")
    p.add_argument("checkpoint", help="a run folder, a weights file, or pretrained:NAME")
    p.add_argument("--data", default="sample")
    p.add_argument("--data-dir")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument("--png", help="also write the confusion matrix as a PNG image")
    p = sub.add_parser("predict", help="top-k classes of image files (any size or colour: resized, converted)",
                       epilog="example: convpool predict runs/article-cnn shoe.png")
    p.add_argument("checkpoint", help="a run folder, a weights file, or pretrained:NAME")
    p.add_argument("images", nargs="+")
    p.add_argument("--top-k", type=int, default=3)
    p = sub.add_parser("summary", help="a named model's layers, output shapes, parameters and multiply-adds",
                       epilog="example: convpool summary --model vgg-bn --input-shape 1,28,28")
    p.add_argument("--model", required=True, choices=models.names())
    p.add_argument("--input-shape", type=_shape, default=(1, 28, 28), metavar="C,H,W")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in (None, "demo"):
            return demo()
        if args.command == "summary":
            return summary(args.model, args.input_shape)
        if args.command in ("train", "evaluate", "predict"):
            from . import workflow

            return getattr(workflow, f"{args.command}_command")(args)
    except (ValueError, TypeError, FileNotFoundError, OSError, RuntimeError) as error:
        if args.debug:
            raise
        print(f"convpool {args.command}: error: {error}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command!r}")
    return 2
