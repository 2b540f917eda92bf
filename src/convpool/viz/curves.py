"""Training curves: the loss and accuracy of every step and every epoch of a run, kept as
`fit` reports them, smoothed for reading, and drawn as one PNG (`convpool train --plot`).
The live view (`viz.live`) serves the same records to the browser.

    curves = TrainingCurves()
    fit(..., on_step=curves.add_step, on_epoch_end=curves.add_epoch)
    plot_curves(curves, "runs/article/curves.png", title="article-cnn on fashion-mnist")
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy

from ..files import atomic_write
from . import style

SMOOTHING = 0.9  # the weight of the past in the moving average of the per-step values, at most
STEP_KEYS = ("epoch", "step", "steps", "loss", "accuracy", "lr", "images_per_second")
EPOCH_KEYS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "images_per_second",
              "seconds")
TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#d62728"


class TrainingCurves:
    """Step and epoch records of one run. Appending (the training thread) and reading (a
    server thread) may happen at once: both hold a lock, and readers get copies."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.epochs: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add_step(self, record: dict[str, Any]) -> None:
        """fit's on_step: keep the step's numbers (the keys the curves use)."""
        kept = {key: record.get(key) for key in STEP_KEYS}
        with self._lock:
            self.steps.append(kept)

    def add_epoch(self, record: dict[str, Any]) -> None:
        """fit's on_epoch_end: keep the epoch's numbers. Returns None, so training goes on."""
        kept = {key: record.get(key) for key in EPOCH_KEYS}
        with self._lock:
            self.epochs.append(kept)

    def since(self, first_step: int = 0) -> dict[str, Any]:
        """The steps from index first_step on (a browser asks only for what it lacks), every
        epoch, and how many steps there are in all."""
        with self._lock:
            return {"steps": self.steps[first_step:], "epochs": list(self.epochs), "step_count": len(self.steps),
                    "smoothing": smoothing_weight(self.steps)}


def step_positions(steps: Sequence[dict[str, Any]]) -> numpy.ndarray:
    """Where each step sits on an epoch axis: epoch 1's steps between 0 and 1, and so on
    (the step's count when the loader's length is unknown)."""
    return numpy.array([s["epoch"] - 1 + s["step"] / s["steps"] if s.get("steps") else i + 1
                        for i, s in enumerate(steps)], dtype=numpy.float64)


def smoothing_weight(steps: Sequence[dict[str, Any]]) -> float:
    """The moving average's weight for a run: SMOOTHING, less when an epoch has few steps, so
    the average spans at most about a tenth of an epoch and never lags an epoch behind."""
    per_epoch = steps[0].get("steps") if steps else None
    return SMOOTHING if not per_epoch else min(SMOOTHING, max(0.0, 1 - 10 / per_epoch))


def smooth(values: Sequence[float], weight: float = SMOOTHING) -> numpy.ndarray:
    """Exponential moving average with the start-up bias removed (as TensorBoard draws it), so
    the first points are not pulled towards zero."""
    out = numpy.empty(len(values), dtype=numpy.float64)
    average = 0.0
    for i, value in enumerate(values):
        average = weight * average + (1 - weight) * float(value)
        out[i] = average / (1 - weight ** (i + 1))
    return out


def plot_curves(curves: TrainingCurves, path: str | Path | None = None, title: str = "Training curves") -> bytes:
    """Loss and accuracy side by side: every training step (faint), their moving average, and
    the validation value of each epoch. Returns the PNG; writes it atomically to path if given
    (a viewer never sees half a file). 1100x440 pixels."""
    data = curves.since(0)
    steps, epochs = data["steps"], data["epochs"]
    plt = style.pyplot()
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    x = step_positions(steps)
    panels = ((loss_axes, "loss", "Loss", "cross-entropy loss"), (accuracy_axes, "accuracy", "Accuracy", "accuracy"))
    for axes, key, name, label in panels:
        if steps:
            values = [s[key] for s in steps]
            axes.plot(x, values, color=TRAIN_COLOR, alpha=0.35, linewidth=0.8, label="train, each step")
            axes.plot(x, smooth(values, smoothing_weight(steps)), color=TRAIN_COLOR, linewidth=1.8,
                      label="train, moving average")
        validation = [(e["epoch"], e[f"val_{key}"]) for e in epochs if e.get(f"val_{key}") is not None]
        if validation:
            axes.plot(*zip(*validation, strict=True), color=VAL_COLOR, marker="o", linewidth=1.8,
                      label="validation, each epoch")
        axes.set_title(name)
        axes.set_xlabel("epoch" if not steps or steps[0].get("steps") else "step")
        axes.set_ylabel(label)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlim(left=0)
        axes.grid(True, alpha=0.3)
        if steps or validation:
            axes.legend(loc="upper right" if key == "loss" else "lower right", fontsize=8)
        else:
            axes.text(0.5, 0.5, "no steps yet", ha="center", va="center", transform=axes.transAxes, color="#777")
    accuracy_axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    if epochs:
        last = epochs[-1]
        summary = f"epoch {last['epoch']}: train loss {last['train_loss']:.4f}, acc {last['train_accuracy']:.1%}"
        if last.get("val_accuracy") is not None:
            summary += f"; validation loss {last['val_loss']:.4f}, acc {last['val_accuracy']:.1%}"
        title = f"{title}\n{summary}"
    figure.suptitle(title, fontsize=11)
    png = style.save(figure)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, png)
    return png
