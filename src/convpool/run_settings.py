"""The settings of a `convpool train` run, saved in each checkpoint, and what `--resume` does
with them: an option left out takes the run's own value; one given anew is applied (and
said) where the saved state allows it, and refused in one line where it does not (a
learning-rate schedule is laid out over the run's epochs and steps when it starts, so its
length, its steps per epoch and its learning rate cannot change halfway)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .checkpoint import Checkpoint, CheckpointError, latest_checkpoint, load_checkpoint

# what the run's checkpoints record, by argparse destination
SAVED = ("data", "data_dir", "model", "epochs", "batch_size", "lr", "weight_decay", "optimizer", "schedule",
         "augment", "crop_padding", "cutout", "tta", "tta_shift", "label_smoothing", "val_split", "val_every",
         "seed")
# what a resumed run may change: applied to the restored optimizer, or read afresh each epoch
CHANGEABLE = ("epochs", "lr", "weight_decay", "label_smoothing", "val_every")


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def settings_of(args: Any) -> dict[str, Any]:
    """The command's settings as checkpoints record them (JSON values; a --data or
    --data-dir path made absolute, so a resume from another folder finds it)."""
    settings = {name: getattr(args, name, None) for name in SAVED}
    for name in ("data", "data_dir"):
        if isinstance(settings[name], str) and os.path.exists(settings[name]):
            settings[name] = os.path.abspath(settings[name])
    return settings


def check_new_run(args: Any, out: Path) -> None:
    """A new run (no --resume): --epochs at least 1 and an --out that holds no run yet."""
    if args.epochs < 1:
        raise ValueError(f"--epochs must be 1 or more, got {args.epochs}")
    existing = latest_checkpoint(out)
    if existing is not None:
        raise FileExistsError(f"--out {out} already holds a run (its latest checkpoint is {existing}); add --resume "
                              f"to continue it, or choose another --out")


def resume_settings(args: Any, given: set[str]) -> tuple[Checkpoint, list[str]]:
    """For `train --resume`: the run's checkpoint, args completed with the run's saved
    settings where the command left them out, and the lines saying what changes. Raises a
    one-line ValueError for a change the run cannot take."""
    if not args.out:
        raise ValueError("--resume needs --out RUN: the run folder to continue")
    out = Path(args.out)
    if latest_checkpoint(out) is None:
        where = "does not exist" if not out.exists() else "holds no checkpoint"
        raise FileNotFoundError(f"--resume: --out {out} {where}; nothing to continue")
    try:
        checkpoint = load_checkpoint(out)
    except CheckpointError as error:
        raise CheckpointError(f"--resume: {error}") from None
    run = checkpoint.extra.get("run") if isinstance(checkpoint.extra, dict) else None
    saved = run.get("settings") if isinstance(run, dict) else None
    saved = saved if isinstance(saved, dict) else {}
    fit_info = checkpoint.extra.get("fit") if isinstance(checkpoint.extra, dict) else None
    if "epochs" not in saved and isinstance(fit_info, dict) and isinstance(fit_info.get("epochs"), int):
        saved["epochs"] = fit_info["epochs"]
    done = int(checkpoint.epoch or 0)
    notes: list[str] = []
    if not saved:
        notes.append(f"note: {checkpoint.path} records no command settings; the ones given now are used")
    for name in SAVED:
        if name not in saved:
            continue
        if name not in given:
            setattr(args, name, saved[name])
        elif not _same(name, getattr(args, name), saved[name]):
            if name not in CHANGEABLE:
                raise ValueError(f"{flag(name)} {getattr(args, name)} with --resume: the run in {out} was trained with "
                                 f"{flag(name)} {saved[name]}, and that cannot change halfway; leave it out to "
                                 f"keep the run's, or start a new run with another --out")
            notes.append(f"{flag(name)} changes from {saved[name]} to {getattr(args, name)}")
    schedule = getattr(args, "schedule", "none")
    planned = saved.get("epochs")
    if args.epochs <= done:
        raise ValueError(f"--epochs {args.epochs} with --resume: the run in {out} has already done {done} epoch"
                         f"{'s' if done != 1 else ''}; pass a larger --epochs to train more")
    if schedule != "none" and planned is not None and args.epochs != planned:
        epochs = f"{planned} epoch{'s' if planned != 1 else ''}"
        raise ValueError(f"--epochs {args.epochs} with --resume: the run's --schedule {schedule} was laid out over "
                         f"{epochs} when it started and cannot be stretched; resume with --epochs {planned}, "
                         f"or start a new run with another --out")
    if schedule != "none" and "lr" in given and ("lr" not in saved or not _same("lr", args.lr, saved["lr"])):
        raise ValueError(f"--lr {args.lr} with --resume: the run's --schedule {schedule} sets the learning rate at "
                         f"every step; leave --lr out to keep its schedule, or start a new run with another --out")
    notes.insert(0, f"resuming {out} from epoch {done} ({checkpoint.path}) to epoch {args.epochs}")
    return checkpoint, notes


def apply_changes(optimizer: Any, args: Any, given: set[str]) -> None:
    """After the run's optimizer state is restored: the learning rate and weight decay the
    command gives anew (a run without a schedule only; see resume_settings)."""
    for group in optimizer.param_groups:
        if "lr" in given:
            group["lr"] = float(args.lr)
        if "weight_decay" in given and "weight_decay" in group:
            group["weight_decay"] = float(args.weight_decay)


def _same(name: str, value: Any, saved: Any) -> bool:
    if name in ("data", "data_dir") and isinstance(value, str) and isinstance(saved, str):
        if os.path.exists(value) and os.path.exists(saved):
            return os.path.samefile(value, saved)
    if isinstance(value, float) or isinstance(saved, float):
        try:
            return float(value) == float(saved)
        except (TypeError, ValueError):
            return False
    return value == saved
