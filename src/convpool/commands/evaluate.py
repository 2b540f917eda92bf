"""`convpool evaluate`: accuracy, per-class table and confusion matrix of a trained network."""

from __future__ import annotations

import argparse

from . import add_device_argument

NAME = "evaluate"
HELP = "accuracy, per-class table and confusion matrix on the test split"
ORDER = 30
EPILOG = "example: convpool evaluate runs/article-cnn --data fashion-mnist --png confusion.png"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_device_argument(parser)
    parser.add_argument("checkpoint", help="a run folder, a weights file, or pretrained:NAME")
    parser.add_argument("--data", default="sample")
    parser.add_argument("--data-dir")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    parser.add_argument("--png", help="also write the confusion matrix as a PNG image")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                        help="score each image and its mirror image (default: as the network was trained)")
    parser.add_argument("--tta-shift", type=int, default=None, metavar="N",
                        help="with --tta: also score copies moved N pixels (default: as the network was trained)")


def run(args: argparse.Namespace) -> int:
    from .. import workflow

    return workflow.evaluate_command(args)
