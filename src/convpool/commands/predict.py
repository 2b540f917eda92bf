"""`convpool predict`: the top classes of image files according to a trained network."""

from __future__ import annotations

import argparse

NAME = "predict"
HELP = "top-k classes of image files (any size or colour: resized, converted)"
ORDER = 40
EPILOG = "example: convpool predict runs/article-cnn shoe.png"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a run folder, a weights file, or pretrained:NAME")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--top-k", type=int, default=3)


def run(args: argparse.Namespace) -> int:
    from .. import workflow

    return workflow.predict_command(args)
