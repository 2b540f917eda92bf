"""`convpool summary`: a named model's layer table (output shapes, parameters, multiply-adds)."""

from __future__ import annotations

import argparse

from .. import models

NAME = "summary"
HELP = "a named model's (or an ONNX file's) layers, output shapes, parameters and multiply-adds"
ORDER = 60
EPILOG = "examples:\n  convpool summary --model vgg-bn --input-shape 1,28,28\n" \
         "  convpool summary --model article-cnn --input-shape 3,32,32\n  convpool summary model.onnx"


def _shape(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected C,H,W as whole numbers, got {text!r}") from None
    if len(values) != 3 or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected three positive sizes C,H,W, got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", help="an ONNX file (instead of --model): its nodes and shapes")
    parser.add_argument("--model", choices=models.names())
    parser.add_argument("--input-shape", type=_shape, default=None, metavar="C,H,W")


def run(args: argparse.Namespace) -> int:
    """Print a named model's layer table for one input of shape C,H,W."""
    if args.file is not None:
        from ..onnx.summary import onnx_summary

        print(onnx_summary(args.file, args.input_shape))
        return 0
    if args.model is None:
        raise ValueError("name a model with --model NAME, or an ONNX file")
    channels, height, width = args.input_shape or (1, 28, 28)
    if height != width:
        raise ValueError(f"--input-shape: the named models take square images, got {height}x{width}")
    model = models.build(args.model, in_channels=channels, image_size=height)
    print(f"{args.model} for input {channels}x{height}x{width}")
    print(model.summary((channels, height, width)))
    return 0
