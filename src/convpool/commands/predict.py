"""`convpool predict`: the top classes of image files according to a trained network."""

from __future__ import annotations

import argparse

from . import add_device_argument

NAME = "predict"
HELP = "top-k classes of images (any size or colour: resized, converted) or .wav recordings"
ORDER = 40
EPILOG = ("examples:\n  convpool predict car.jpg            (the shipped photo model)\n"
          "  convpool predict seven.wav          (the shipped spoken-digit model)\n"
          "  convpool predict runs/article-cnn-1 shoe.png\n"
          "  convpool predict pretrained:fashion-mnist shoe.png")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_device_argument(parser)
    parser.add_argument("inputs", nargs="+", metavar="[CHECKPOINT] INPUT",
                        help="optionally first a run folder, a weights file or pretrained:NAME; then image or "
                             ".wav files (without a checkpoint, the shipped network for each input)")
    parser.add_argument("--top-k", type=int, default=3)


def run(args: argparse.Namespace) -> int:
    from .. import workflow

    return workflow.predict_command(args)
