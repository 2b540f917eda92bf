"""Training and evaluation: `fit` runs epochs with a live progress bar, checkpoints each one,
stops at the first non-finite loss, and resumes exactly; `evaluate` measures a classifier.

    history = fit(model, train_loader, val_loader, optimizer=opt, scheduler=sched, epochs=10,
                  out_dir="runs/article", model_name="article-cnn", model_config=config)
    metrics = evaluate(model, test_loader, num_classes=10)
    print(format_confusion(metrics["confusion"], FASHION_MNIST_CLASSES))

Exact resume. Everything that decides the next epoch's arithmetic is restored from the
checkpoint: weights and buffers, the optimizer's state and hyper-parameters, the scheduler,
the global RNG (dropout masks, made after the checkpoint in both runs), and the loader's seed;
the loader's order and augmentations come from `set_epoch(epoch)`. So `fit(epochs=1)`, then
`fit(epochs=2, resume=True)` gives the same weights, bit for bit, as `fit(epochs=2)`.

K processes (under mpiexec): fit and evaluate shard the data and reduce the results through
convpool.distributed.training; rank 0 alone prints and writes checkpoints.
"""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy
from tqdm import tqdm

from . import functional as F
from .backend import array_module, to_host
from .checkpoint import (
    Checkpoint,
    CheckpointError,
    PathLike,
    check_room,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from .distributed import training as parallel
from .nn.module import Module
from .optim.optimizer import Optimizer
from .tensor import Tensor, no_grad


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during `fit`. `epoch` is the one that was running (from 1); `checkpoint` is the
    newest complete checkpoint (untouched: a save cut short removes its own folder), or None."""

    def __init__(self, epoch: int, epochs: int, checkpoint: Path | None, done: int | None) -> None:
        self.epoch, self.epochs, self.checkpoint, self.done = epoch, epochs, checkpoint, done
        where = (f"{checkpoint} is intact ({done} epoch{'s' if done != 1 else ''} done)" if checkpoint is not None
                 else "no checkpoint was written yet")
        super().__init__(f"training stopped in epoch {epoch} of {epochs}; {where}")


class TrainingDiverged(RuntimeError):
    """The loss (or a parameter) became NaN or infinite; training stopped before saving.
    `epoch` and `batch` count from 1; `checkpoint` is the last good one (or None)."""

    def __init__(self, epoch: int, batch: int, loss: float, checkpoint: Path | None, reason: str = "the loss is"):
        self.epoch, self.batch, self.loss, self.checkpoint = epoch, batch, loss, checkpoint
        where = (f"the last good checkpoint is {checkpoint} (untouched; resume=True continues from it)"
                 if checkpoint is not None else "no checkpoint was written before it")
        super().__init__(f"training diverged at epoch {epoch}, batch {batch}: {reason} {loss}; {where}. "
                         f"Try a lower learning rate.")


def fit(model: Module, train_loader: Iterable, val_loader: Iterable | None = None, *, optimizer: Optimizer,
        scheduler: Any = None, epochs: int, out_dir: PathLike | None = None, model_name: str,
        model_config: Mapping[str, Any], resume: bool = False, progress: bool = True,
        on_epoch_end: Callable[[dict[str, Any]], bool | None] | None = None,
        scheduler_interval: str = "epoch", keep_checkpoints: int | None = 2,
        on_step: Callable[[dict[str, Any]], None] | None = None,
        label_smoothing: float = 0.0, val_every: int = 1, run_info: Mapping[str, Any] | None = None,
        on_resume: Callable[[Checkpoint], None] | None = None) -> list[dict[str, Any]]:
    """Train for `epochs` epochs in all (a resumed run counts the epochs already done) and
    return the history: one dict per epoch with epoch, train_loss, train_accuracy, val_loss,
    val_accuracy (None without val_loader), lr (the first group's, as the epoch began),
    images_per_second (training only) and seconds (the whole epoch).

    Each epoch: train mode, cross-entropy on every batch, backward, step (and scheduler.step()
    per batch with scheduler_interval='step'); then evaluation in eval mode without gradients;
    scheduler.step() per epoch with 'epoch'; then a checkpoint into out_dir (the newest
    keep_checkpoints are kept). A NaN or infinite loss raises TrainingDiverged at once, before
    anything is saved. An out_dir that already holds a checkpoint needs resume=True, so a run
    is never overwritten by accident. on_epoch_end(record) runs after the checkpoint; returning
    True stops training. The progress bar shows only with progress=True on a terminal; with
    progress=True a one-line summary per epoch goes to stderr. label_smoothing is
    cross_entropy's (the training loss only; validation reports the plain loss). val_every=N
    validates after every Nth epoch and after the last (the others record None): on a slow
    machine a long run spends less time measuring.

    on_step(step) runs after every optimizer step (and the per-step scheduler step), while the
    gradients of that step are still on the parameters (they are cleared only before the next
    backward), so a watcher can look at weights and gradients there. step is a dict: epoch and
    step (its batch, both from 1), steps (batches in the epoch, or None), loss and accuracy (of
    this batch), lr (the one this step used), images and images_per_second (so far this epoch).
    It is for watching (live views, curves): its return value is ignored.

    run_info (JSON data, e.g. the command's settings) is saved in every checkpoint's extra
    under "run". on_resume(checkpoint) runs after a resumed run's state is restored and before
    its first epoch (to change a setting on purpose). Before the first epoch, out_dir is
    checked for writability and room for the checkpoints. Ctrl-C raises TrainingInterrupted
    (a KeyboardInterrupt) naming the newest intact checkpoint.
    """
    if scheduler_interval not in ("epoch", "step"):
        raise ValueError(f"fit: scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative int, got {epochs!r}")
    if isinstance(val_every, bool) or not isinstance(val_every, int) or val_every < 1:
        raise ValueError(f"fit: val_every must be a positive int, got {val_every!r}")
    run = Path(out_dir) if out_dir is not None else None
    history: list[dict[str, Any]] = []
    start = 0
    last_good: Path | None = None
    if resume:
        if run is None:
            raise ValueError("fit: resume=True needs out_dir, the run folder to resume from")
        checkpoint = load_checkpoint(run)
        if checkpoint.model_name != model_name:
            raise CheckpointError(f"{checkpoint.path} holds a {checkpoint.model_name!r} model, not {model_name!r}")
        saved_interval = checkpoint.extra.get("fit", {}).get("scheduler_interval", scheduler_interval)
        if saved_interval != scheduler_interval:
            raise ValueError(f"fit: the run in {run} stepped its scheduler per {saved_interval}, "
                             f"not per {scheduler_interval}")
        checkpoint.restore(model, optimizer, scheduler, train_loader if _has_state(train_loader) else None)
        start, history, last_good = int(checkpoint.epoch or 0), list(checkpoint.history), checkpoint.path
        if on_resume is not None:
            on_resume(checkpoint)
    elif run is not None and latest_checkpoint(run) is not None:
        raise FileExistsError(f"fit: {run} already holds a checkpoint ({latest_checkpoint(run)}); pass "
                              f"resume=True to continue that run, or choose another out_dir")
    if run is not None and start < epochs:
        check_room(run, model, optimizer, keep_checkpoints)
    num_classes = model_config.get("num_classes")
    step_model, train_batches = parallel.prepare(model, train_loader)  # K processes: DDP and this rank's rows
    progress = progress and parallel.is_main()
    epoch = start
    try:
        for epoch in range(start, epochs):
            began = time.perf_counter()
            lr = float(optimizer.param_groups[0]["lr"])
            train = _train_epoch(step_model, train_batches, optimizer,
                                 scheduler if scheduler_interval == "step" else None, epoch, epochs, progress,
                                 last_good, on_step, label_smoothing)
            train = parallel.epoch_totals(step_model, train)
            train_seconds = time.perf_counter() - began
            val: dict[str, Any] = {}
            if val_loader is not None and ((epoch + 1) % val_every == 0 or epoch + 1 == epochs):
                if hasattr(val_loader, "set_epoch"):
                    val_loader.set_epoch(epoch)  # the same validation batches whether resumed or not
                val = evaluate(model, val_loader, num_classes)
                if not math.isfinite(val["loss"]):
                    raise TrainingDiverged(epoch + 1, train["batches"], val["loss"], last_good,
                                           "the validation loss is")
            if scheduler is not None and scheduler_interval == "epoch":
                scheduler.step()
            record = {
                "epoch": epoch + 1,
                "train_loss": train["loss"],
                "train_accuracy": train["accuracy"],
                "val_loss": val.get("loss"),
                "val_accuracy": val.get("accuracy"),
                "lr": lr,
                "images_per_second": train["n"] / train_seconds if train_seconds > 0 else float("inf"),
                "seconds": time.perf_counter() - began,
            }
            history.append(record)
            if run is not None and parallel.is_main():
                last_good = save_checkpoint(
                    run, model, model_name=model_name, model_config=model_config, optimizer=optimizer,
                    scheduler=scheduler, epoch=epoch + 1, history=history,
                    loader=train_loader if _has_state(train_loader) else None,
                    extra={"fit": {"scheduler_interval": scheduler_interval, "epochs": epochs},
                           **({"run": dict(run_info)} if run_info is not None else {})},
                    keep=keep_checkpoints)
            if progress:
                print(_summary(record, epochs), file=sys.stderr, flush=True)
            if on_epoch_end is not None and parallel.agree(on_epoch_end(record) is True):
                break
    except KeyboardInterrupt:
        newest = latest_checkpoint(run) if run is not None else None
        done = None
        if newest is not None:
            match = re.match(r"epoch-(\d+)", newest.name)
            done = int(match.group(1)) if match else None
        raise TrainingInterrupted(epoch + 1, epochs, newest, done) from None
    return history


def _train_epoch(model: Module, loader: Iterable, optimizer: Optimizer, step_scheduler: Any, epoch: int,
                 epochs: int, progress: bool, last_good: Path | None,
                 on_step: Callable[[dict[str, Any]], None] | None = None,
                 label_smoothing: float = 0.0) -> dict[str, Any]:
    """One pass over the training batches; loss, accuracy and count, or TrainingDiverged."""
    began = time.perf_counter()
    steps = _length(loader)
    model.train()
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)  # the epoch's order and augmentations, resumed or not
    total_loss, correct, seen, batch = 0.0, 0, 0, 0
    bar = tqdm(total=_length(loader), desc=f"epoch {epoch + 1}/{epochs}", unit="batch", leave=False,
               disable=True if not progress else None, file=sys.stderr, dynamic_ncols=True)
    batches = iter(loader)
    device = model_device(model)
    try:
        for batch, (images, labels) in enumerate(batches, start=1):
            images, labels = _tensor(images, device), _tensor(labels, device)
            optimizer.zero_grad()
            logits = model(images)
            loss = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
            value = float(loss.item())
            if not math.isfinite(value):
                raise TrainingDiverged(epoch + 1, batch, value, last_good)
            loss.backward()
            lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            if step_scheduler is not None:
                step_scheduler.step()
            n = len(labels.data)
            hits = int((logits.data.argmax(axis=1) == labels.data).sum())
            total_loss += value * n
            correct += hits
            seen += n
            if on_step is not None:
                elapsed = time.perf_counter() - began
                on_step({"epoch": epoch + 1, "step": batch, "steps": steps, "loss": value, "accuracy": hits / n,
                         "lr": float(lr), "images": seen,
                         "images_per_second": seen / elapsed if elapsed > 0 else float("inf")})
            bar.update(1)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.2%}",
                            lr=f"{optimizer.param_groups[0]['lr']:.2e}", refresh=False)
    finally:
        bar.close()
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # stops the loader's prefetch thread when the epoch ends early
    if seen == 0:
        raise ValueError(f"fit: the training loader gave no batches in epoch {epoch + 1}")
    # a step can turn weights non-finite after the last finite loss; never save those
    for name, param in model.named_parameters():
        if not bool(array_module(param.data).isfinite(param.data).all()):
            raise TrainingDiverged(epoch + 1, batch, value, last_good, f"parameter {name!r} became non-finite; "
                                   "the last loss was")
    return {"loss": total_loss / seen, "accuracy": correct / seen, "n": seen, "batches": batch}


def evaluate(model: Module, loader: Iterable, num_classes: int | None = None, tta: bool = False,
             tta_shift: int = 0) -> dict[str, Any]:
    """Accuracy, mean cross-entropy, per-class accuracy (recall; None for a class with no
    items), confusion matrix (list of lists, rows = true class, columns = predicted) and n.

    Runs in eval mode under no_grad and puts the model back in the mode it was in.
    num_classes None takes the width of the model's output. tta=True (test-time
    augmentation) scores each image by the mean of the logits for it and for its mirror
    image (flipped left to right): twice the work, usually a little more accuracy for a
    network trained with flips. tta_shift > 0 adds copies moved that many pixels (see
    `scores_with_mirror`). The loader's batches are scored one at a time (nothing but the
    confusion matrix is kept), and a batch with a NaN or infinite input is refused."""
    loader, shared = parallel.shard_for_evaluation(loader)  # K processes: each scores its part
    was_training = model.training
    model.eval()
    confusion = None
    total_loss, n = 0.0, 0
    batches = iter(loader)
    device = model_device(model)
    try:
        with no_grad():
            for batch, (images, labels) in enumerate(batches, start=1):
                truth = to_host(_tensor(labels).data).astype(numpy.int64)
                images, labels = _tensor(images, device), _tensor(labels, device)
                xp = array_module(images.data)
                if numpy.issubdtype(images.data.dtype, numpy.floating) and not bool(xp.isfinite(images.data).all()):
                    bad = int(images.data.size - int(xp.isfinite(images.data).sum()))
                    raise ValueError(f"evaluate: batch {batch} holds {bad} NaN or infinite input value(s); scores of "
                                     f"such inputs mean nothing (their argmax would count as class 0)")
                if tta and images.ndim != 4:
                    raise ValueError(f"evaluate: tta flips images (N, C, H, W), got a batch of shape {images.shape}")
                logits = scores_with_mirror(model, images, tta_shift) if tta else model(images)
                size = num_classes if num_classes is not None else logits.shape[-1]
                if logits.ndim != 2 or logits.shape[1] != size:
                    raise ValueError(f"evaluate: the model gave scores of shape {logits.shape}; expected "
                                     f"(batch, num_classes) with num_classes={size}")
                if truth.size and (truth.min() < 0 or truth.max() >= size):
                    raise ValueError(f"evaluate: labels must be in [0, {size}), got values in "
                                     f"[{truth.min()}, {truth.max()}]")
                total_loss += float(F.cross_entropy(logits, labels, reduction="sum").item())
                if confusion is None:
                    confusion = numpy.zeros((size, size), dtype=numpy.int64)
                predicted = to_host(logits.data.argmax(axis=1))
                confusion += numpy.bincount(truth * size + predicted, minlength=size * size).reshape(size, size)
                n += len(truth)
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
        model.train(was_training)
    if shared:
        confusion, total_loss, n = parallel.reduce_evaluation(confusion, total_loss, n)
    if confusion is None or n == 0:
        raise ValueError("evaluate: the loader gave no batches")
    support = confusion.sum(axis=1)
    per_class = [float(confusion[c, c] / support[c]) if support[c] else None for c in range(len(confusion))]
    return {
        "accuracy": float(numpy.trace(confusion) / n),
        "loss": total_loss / n,
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "n": n,
    }


def scores_with_mirror(model: Module, images: Tensor, shift: int = 0) -> Tensor:
    """The mean of the model's scores for a batch of images and for their mirror images
    (flipped left to right): test-time augmentation for a network trained with flips.

    shift > 0 also scores the pair moved `shift` pixels down and right, and the pair moved up
    and left, the uncovered border filled with zeros as training's padded crops fill it; the
    unmoved pair weighs 1/2, each moved pair 1/4 (the weighting of Keller Jordan's airbench).
    Six forward passes in all: for a network trained on crops of at least that padding."""
    if isinstance(shift, bool) or not isinstance(shift, int) or shift < 0:
        raise ValueError(f"scores_with_mirror: shift must be a non-negative int, got {shift!r}")
    if shift and (images.ndim != 4 or shift >= min(images.shape[2:])):
        raise ValueError(f"scores_with_mirror: shift={shift} needs a batch of images (N, C, H, W) larger than "
                         f"{shift} pixels, got shape {images.shape}")

    def pair(batch):
        return (model(Tensor(batch)) + model(Tensor(batch[..., ::-1].copy()))) * 0.5

    scores = pair(images.data)
    if not shift:
        return scores
    moved = (pair(_translated(images.data, shift)) + pair(_translated(images.data, -shift))) * 0.5
    return (scores + moved) * 0.5


def _translated(images, shift: int):
    """Images (N, C, H, W) moved shift pixels down and right (up and left if negative), zero-filled."""
    out = array_module(images).zeros_like(images)
    if shift > 0:
        out[..., shift:, shift:] = images[..., :-shift, :-shift]
    else:
        out[..., :shift, :shift] = images[..., -shift:, -shift:]
    return out


def format_confusion(confusion: Sequence[Sequence[int]], class_names: Sequence[str] | None = None) -> str:
    """The confusion matrix as a text table: a row per true class, a column per predicted
    class (headed by the names, cut to the column width)."""
    matrix = numpy.asarray(confusion, dtype=numpy.int64)
    names = _names(class_names, len(matrix))
    width = max(len(str(matrix.max(initial=0))), min(max(len(n) for n in names), 7), 3)
    corner = "true \\ predicted"
    label = max(max(len(n) for n in names), len(corner))
    lines = [f"{corner:<{label}} " + " ".join(f"{n[:width]:>{width}}" for n in names)]
    for name, row in zip(names, matrix, strict=True):
        lines.append(f"{name:<{label}} " + " ".join(f"{int(v):>{width}}" for v in row))
    return "\n".join(lines)


def per_class_table(confusion: Sequence[Sequence[int]], class_names: Sequence[str] | None = None) -> str:
    """Per class: items (n), recall (the per-class accuracy) and precision, from the confusion
    matrix; a final line for all classes together."""
    matrix = numpy.asarray(confusion, dtype=numpy.int64)
    names = _names(class_names, len(matrix))
    label = max(max(len(n) for n in names), len("class"), len("all"))
    support, predicted, hits = matrix.sum(axis=1), matrix.sum(axis=0), numpy.diag(matrix)

    def ratio(a: int, b: int) -> str:
        return f"{a / b:9.2%}" if b else f"{'-':>9}"

    lines = [f"{'class':<{label}} {'n':>7} {'recall':>9} {'precision':>9}"]
    for c, name in enumerate(names):
        lines.append(f"{name:<{label}} {support[c]:>7} {ratio(hits[c], support[c])} {ratio(hits[c], predicted[c])}")
    lines.append(f"{'all':<{label}} {support.sum():>7} {ratio(hits.sum(), support.sum())}")
    return "\n".join(lines)


def _names(class_names: Sequence[str] | None, count: int) -> list[str]:
    if class_names is None:
        return [str(c) for c in range(count)]
    if len(class_names) != count:
        raise ValueError(f"{len(class_names)} class names for a {count}x{count} confusion matrix")
    return [str(n) for n in class_names]


def _summary(record: dict[str, Any], epochs: int) -> str:
    text = (f"epoch {record['epoch']}/{epochs}: train loss {record['train_loss']:.4f} "
            f"acc {record['train_accuracy']:.2%}")
    if record["val_loss"] is not None:
        text += f" | val loss {record['val_loss']:.4f} acc {record['val_accuracy']:.2%}"
    return text + (f" | lr {record['lr']:.2e} | {record['images_per_second']:.0f} img/s "
                   f"| {record['seconds']:.1f} s")


def _tensor(value: Any, device: Any = None) -> Tensor:
    """A batch as a tensor on `device` (the loader's host arrays are copied there)."""
    tensor = value if isinstance(value, Tensor) else Tensor(numpy.asarray(value))
    return tensor if device is None else tensor.to(device)


def model_device(model: Module):
    """The device of a model's first parameter (the CPU for a model without parameters)."""
    for param in model.parameters():
        return param.device
    return None


def _length(loader: Iterable) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def _has_state(loader: Any) -> bool:
    return hasattr(loader, "state_dict") and hasattr(loader, "load_state_dict")


__all__ = ["fit", "evaluate", "scores_with_mirror", "format_confusion", "per_class_table", "TrainingDiverged",
           "TrainingInterrupted"]
