"""Short training runs on subsets of the real data sets in ../shared/data: CIFAR-10 photos
(JPEG zip) and spoken digits (WAV zip) reach a sanity accuracy. Skipped where the data is
absent; nothing is downloaded."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _subset_zip(source: Path, target: Path, per_class: int, class_of) -> Path:
    """The first `per_class` members of each class of a zip, in a new zip (same layout)."""
    with zipfile.ZipFile(source) as archive:
        names = sorted(n for n in archive.namelist() if not n.endswith("/"))
        counts: dict[str, int] = {}
        with zipfile.ZipFile(target, "w") as out:
            for name in names:
                label = class_of(name)
                if label is None or counts.get(label, 0) >= per_class:
                    continue
                counts[label] = counts.get(label, 0) + 1
                out.writestr(name, archive.read(name))
    return target


def _train(data: Path, out: Path, *args: str) -> float:
    result = subprocess.run([sys.executable, "-m", "convpool", "train", "--data", str(data), "--out", str(out),
                             "--no-progress", "--val-split", "0.2", *args],
                            capture_output=True, text=True, timeout=600,
                            env={**__import__("os").environ, "CONVPOOL_CACHE": str(out.parent / "cache")})
    assert result.returncode == 0, result.stderr
    return float(result.stdout.split("validation accuracy ")[1].split(",")[0])


@pytest.mark.skipif(not (SHARED / "cifar10-train-jpeg.zip").is_file(), reason="../shared/data has no CIFAR-10 zip")
def test_a_short_run_on_cifar10_photos_learns(tmp_path):
    data = _subset_zip(SHARED / "cifar10-train-jpeg.zip", tmp_path / "cifar-subset.zip", 150,
                       lambda name: name.split("/")[-2] if name.endswith(".jpg") else None)
    accuracy = _train(data, tmp_path / "run", "--model", "resnet-cifar", "--epochs", "2", "--batch-size", "64",
                      "--optimizer", "sgd", "--lr", "0.05", "--augment")
    assert accuracy >= 0.2  # ten classes: chance is 0.1


@pytest.mark.skipif(not (SHARED / "fsdd-train-wav.zip").is_file(), reason="../shared/data has no FSDD zip")
def test_a_short_run_on_spoken_digits_learns(tmp_path):
    data = _subset_zip(SHARED / "fsdd-train-wav.zip", tmp_path / "fsdd-subset.zip", 50,
                       lambda name: Path(name).name.split("_")[0] if name.endswith(".wav") else None)
    accuracy = _train(data, tmp_path / "run", "--model", "audio-cnn2d", "--epochs", "3", "--batch-size", "32",
                      "--lr", "3e-3", "--schedule", "onecycle")
    assert accuracy >= 0.4  # ten digits: chance is 0.1
