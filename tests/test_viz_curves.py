"""Training curves: the moving average, the PNG (its size, that it is drawn, that an empty
run still gives a picture), and `convpool train --plot` writing OUT/curves.png."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy
from PIL import Image

from convpool.viz.curves import TrainingCurves, plot_curves, smooth, step_positions


def a_run(epochs: int = 3, steps: int = 20) -> TrainingCurves:
    """Made-up numbers shaped like a run: the loss falls, the accuracy rises, with noise."""
    rng = numpy.random.default_rng(0)
    curves = TrainingCurves()
    for epoch in range(1, epochs + 1):
        for step in range(1, steps + 1):
            progress = (epoch - 1 + step / steps) / epochs
            curves.add_step({"epoch": epoch, "step": step, "steps": steps, "loss": 2.3 * (1 - 0.8 * progress)
                             + 0.1 * rng.standard_normal(), "accuracy": min(1.0, 0.1 + 0.8 * progress
                                                                              + 0.05 * rng.standard_normal()),
                             "lr": 1e-3, "images_per_second": 500.0, "images": step * 32, "ignored": "x"})
        curves.add_epoch({"epoch": epoch, "train_loss": 2.0 - 0.5 * epoch, "train_accuracy": 0.3 * epoch,
                          "val_loss": 1.9 - 0.5 * epoch, "val_accuracy": 0.3 * epoch - 0.05, "lr": 1e-3,
                          "images_per_second": 500.0, "seconds": 1.0})
    return curves


def picture(png: bytes) -> numpy.ndarray:
    return numpy.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_smoothing_has_no_start_up_bias_and_follows_a_step():
    numpy.testing.assert_allclose(smooth([2.0] * 5), [2.0] * 5)
    values = smooth([0.0] * 20 + [1.0] * 40)
    assert values[19] == 0.0 and 0.0 < values[20] < values[30] < values[-1] < 1.0 and values[-1] > 0.95


def test_steps_sit_on_an_epoch_axis():
    curves = a_run(epochs=2, steps=4)
    numpy.testing.assert_allclose(step_positions(curves.steps), [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0])
    assert "ignored" not in curves.steps[0] and curves.since(6)["steps"] == curves.steps[6:]
    assert curves.since(6)["step_count"] == 8


def test_the_png_has_the_expected_size_and_is_drawn(tmp_path):
    path = tmp_path / "run" / "curves.png"
    png = plot_curves(a_run(), path, title="tiny-net on made-up numbers")
    assert path.read_bytes() == png
    pixels = picture(png)
    assert pixels.shape == (440, 1100, 3)
    colours = {tuple(c) for c in pixels.reshape(-1, 3)[::7]}
    assert len(colours) > 50  # text, axes and two kinds of lines, not a blank canvas
    blue = (numpy.abs(pixels.astype(int) - (31, 119, 180)).sum(axis=2) < 40).sum()
    red = (numpy.abs(pixels.astype(int) - (214, 39, 40)).sum(axis=2) < 40).sum()
    assert blue > 500 and red > 100  # the training curves and the validation points are there


def test_an_empty_run_still_gives_a_picture():
    pixels = picture(plot_curves(TrainingCurves()))
    assert pixels.shape == (440, 1100, 3) and pixels.std() > 1


def test_train_plot_writes_curves_png(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "convpool", "train", "--data", "sample", "--epochs", "1", "--plot",
                             "--out", str(out), "--no-progress"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    pixels = numpy.asarray(Image.open(out / "curves.png").convert("RGB"))
    assert pixels.shape == (440, 1100, 3) and pixels.std() > 1
