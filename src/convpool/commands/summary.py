"""`convpool summary`: a named model's layer table (output shapes, parameters, multiply-adds)."""

from __future__ import annotations

import argparse

from .. import models

NAME = "summary"
HELP = "a named model's layers, output shapes, parameters and multiply-adds"
ORDER = 60
EPILOG = "examples:\n  convpool summary --model vgg-bn --input-shape 1,28,28\n" \
         "  convpool summary --model article-cnn --input-shape 3,32,32"


def _shape(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected C,H,W as whole numbers, got {text!r}") from None
    if len(values) != 3 or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected three positive sizes C,H,W, got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, choices=models.names())
    parser.add_argument("--input-shape", type=_shape, default=(1, 28, 28), metavar="C,H,W")


def run(args: argparse.Namespace) -> int:
    """Print a named model's layer table for one input of shape C,H,W."""
    channels, height, width = args.input_shape
    if height != width:
        raise ValueError(f"--input-shape: the named models take square images, got {height}x{width}")
    model = models.build(args.model, in_channels=channels, image_size=height)
    print(f"{args.model} for input {channels}x{height}x{width}")
    print(model.summary(args.input_shape))
    return 0
