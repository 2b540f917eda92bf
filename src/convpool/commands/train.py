"""`convpool train`: train a named model on labelled data, with checkpoints each epoch."""

from __future__ import annotations

import argparse

from .. import models
from ..run_settings import SAVED
from . import add_device_argument

NAME = "train"
HELP = "train a named model on labelled images and save checkpoints"
ORDER = 20
EPILOG = ("examples:\n  convpool train --data sample --model article-cnn --epochs 1\n"
          "  convpool train --data fashion-mnist --epochs 7 --schedule onecycle --lr 3e-3 --val-every 7\n"
          "  convpool train --data cifar10-train-jpeg.zip --model fast-cnn --augment --crop-padding 2 --tta \\\n"
          "      --tta-shift 1 --optimizer sgd --lr 0.2 --weight-decay 5e-4 --schedule onecycle \\\n"
          "      --label-smoothing 0.2 --batch-size 256 --epochs 19 --val-every 19\n"
          "  convpool train --data fsdd-train-wav.zip --model audio-cnn2d --epochs 10\n"
          "  convpool train --data cifar10 --model fast-cnn --processes 2   (or: mpiexec -n 2 convpool train ...)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_device_argument(parser)
    parser.add_argument("--data", default="sample",
                        help="'sample' (built in, the default), 'fashion-mnist', 'cifar10', 'cifar100', 'fsdd' "
                             "(found on disk), or a path: a folder of IDX files, a CIFAR archive, a folder or "
                             ".zip of class folders of images, a folder or .zip of WAV files")
    parser.add_argument("--data-dir", help="where to look for a named data set first")
    parser.add_argument("--model", choices=models.names(),
                        help="default: article-cnn for images, audio-cnn2d for sound")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--optimizer", default="adam", choices=("adam", "adamw", "sgd"))
    parser.add_argument("--schedule", default="none", choices=("none", "step", "cosine", "onecycle"))
    parser.add_argument("--augment", action="store_true",
                        help="images: random crop (padding 2, or 4 from 32x32 up) and horizontal flip")
    parser.add_argument("--crop-padding", type=int, metavar="P",
                        help="with --augment: pad P pixels for the random crop (0: flips only)")
    parser.add_argument("--tta", action="store_true",
                        help="measure the final validation and test accuracy on each image and its mirror image "
                             "(mean of the two scores); recorded in the checkpoint, so evaluate does the same")
    parser.add_argument("--tta-shift", type=int, default=0, metavar="N",
                        help="with --tta: also score the image pair moved N pixels down-right and up-left "
                             "(six passes; 1 suits --crop-padding 1 and up); recorded in the checkpoint too")
    parser.add_argument("--cutout", type=int, default=0, metavar="N",
                        help="with --augment: also zero a random NxN square of each image")
    parser.add_argument("--label-smoothing", type=float, default=0.0, help="cross-entropy label smoothing")
    parser.add_argument("--val-split", type=float, default=0.1,
                        help="share of the train split held out (default 0.1)")
    parser.add_argument("--val-every", type=int, default=1, metavar="N",
                        help="measure the validation split after every Nth epoch and after the last (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="run folder for checkpoints (default: a new runs/MODEL-N)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--live", action="store_true",
                        help="follow the run in a browser: curves, images/s, every layer's activations, weights "
                             "and gradients; served on 127.0.0.1 while training runs (the address is printed)")
    parser.add_argument("--live-port", type=int, metavar="PORT",
                        help="port for --live (implies it; default: a free one)")
    parser.add_argument("--processes", type=int, metavar="K",
                        help="train as K processes on this machine (starts mpiexec; needs the mpi extra)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="threads per process (default: all cores, divided by the processes on this machine)")
    parser.add_argument("--plot", action="store_true", help="write the loss and accuracy curves to OUT/curves.png "
                                                            "after every epoch")
    for action in parser._actions:
        if action.dest in SAVED:  # --resume takes these from the run unless they are given
            action.help = (action.help or ("default: %(default)s" if action.default not in (None, False) else "")
                           ) + "; with --resume, the run's own unless given"


def run(args: argparse.Namespace) -> int:
    from .. import workflow
    from ..distributed import launch

    return launch.run(args, workflow.train_command)  # as K processes with --processes K or under mpiexec
