"""`convpool train`: train a named model on labelled data, with checkpoints each epoch."""

from __future__ import annotations

import argparse

from .. import models

NAME = "train"
HELP = "train a named model on labelled images and save checkpoints"
ORDER = 20
EPILOG = ("examples:\n  convpool train --data sample --model article-cnn --epochs 1\n"
          "  convpool train --data fashion-mnist --epochs 12 --schedule onecycle")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="sample",
                        help="'fashion-mnist' (found on disk), 'sample' (built in, the default) "
                             "or a folder of IDX files")
    parser.add_argument("--data-dir", help="where to look for fashion-mnist first")
    parser.add_argument("--model", default="article-cnn", choices=models.names())
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--optimizer", default="adam", choices=("adam", "adamw", "sgd"))
    parser.add_argument("--schedule", default="none", choices=("none", "step", "cosine", "onecycle"))
    parser.add_argument("--augment", action="store_true", help="random crop (padding 2) and horizontal flip")
    parser.add_argument("--val-split", type=float, default=0.1,
                        help="share of the train split held out (default 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="run folder for checkpoints (default: a new runs/MODEL-N)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from .. import workflow

    return workflow.train_command(args)
