"""`convpool train` as K processes on a tiny generated IDX data set: --processes starts
mpiexec, rank 0 alone prints and writes, a run written by K processes resumes exactly with
K, and with another K from the same weights; errors stop every process with one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy
import pytest
from test_distributed import MPIEXEC, needs_mpi

from convpool.checkpoint import load_checkpoint
from convpool.data import write_idx

pytestmark = needs_mpi


def _env() -> dict[str, str]:
    return {n: v for n, v in os.environ.items() if not n.startswith(("PMI_", "PMIX_", "HYDRA_", "OMPI_"))}


def _train(*args: str, processes: int = 2, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "convpool", "train", "--processes", str(processes), "--no-progress",
                           *args], capture_output=True, text=True, timeout=timeout, env=_env())


@pytest.fixture(scope="module")
def bars(tmp_path_factory):
    """Three classes of 12x12 images: a bright bar that is horizontal, vertical or absent."""
    folder = tmp_path_factory.mktemp("idx")
    rng = numpy.random.default_rng(0)
    for split, n in (("train", 200), ("t10k", 40)):
        labels = rng.integers(0, 3, n).astype(numpy.uint8)
        images = rng.integers(0, 60, (n, 12, 12)).astype(numpy.uint8)
        for image, label in zip(images, labels, strict=True):
            position = rng.integers(2, 10)
            if label == 0:
                image[position, :] = 250
            elif label == 1:
                image[:, position] = 250
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels)
    return folder


# no --schedule: a schedule is laid out over the run's --epochs, and `train --resume` refuses to
# stretch one (a 1-epoch run resumed to 2 would not be the 2-epoch run); the library-level
# equality tests (tests/test_distributed.py) step a schedule
COMMON = ("--model", "article-cnn", "--batch-size", "16", "--lr", "3e-3", "--optimizer", "sgd",
          "--weight-decay", "5e-4", "--augment", "--seed", "3")


def test_a_run_of_three_processes_resumes_exactly_with_three(bars, tmp_path):
    """article-cnn has dropout and --augment draws crops and flips: both must continue as
    if never stopped. A batch of 16 over 3 processes (5, 5 and 6 rows)."""
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    result = _train("--data", str(bars), "--epochs", "2", "--out", str(whole), *COMMON, processes=3)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("training article-cnn on") == 1  # rank 0 alone prints
    assert result.stdout.count("done: epoch 2,") == 1 and result.stderr == ""
    assert "test accuracy" in result.stdout
    first = _train("--data", str(bars), "--epochs", "1", "--out", str(halves), *COMMON, processes=3)
    assert first.returncode == 0, first.stderr
    resumed = _train("--data", str(bars), "--epochs", "2", "--out", str(halves), "--resume", *COMMON, processes=3)
    assert resumed.returncode == 0, resumed.stderr
    a, b = load_checkpoint(whole), load_checkpoint(halves)
    assert a.epoch == b.epoch == 2
    for name, weights in a.weights.items():
        numpy.testing.assert_array_equal(weights, b.weights[name], err_msg=name)
    assert a.history[-1]["train_loss"] == b.history[-1]["train_loss"]
    assert a.history[-1]["val_accuracy"] == b.history[-1]["val_accuracy"]

    # another number of processes continues from the same weights (the data order differs)
    other = tmp_path / "other"
    again = _train("--data", str(bars), "--epochs", "1", "--out", str(other), *COMMON, processes=3)
    assert again.returncode == 0, again.stderr
    saved = load_checkpoint(other)
    one = _train("--data", str(bars), "--epochs", "2", "--out", str(other), "--resume", *COMMON, processes=1)
    assert one.returncode == 0, one.stderr
    continued = load_checkpoint(other)
    assert continued.epoch == 2 and "done: epoch 2," in one.stdout
    assert continued.history[0] == saved.history[0]  # the 3-process epoch, kept as it was
    assert any(not numpy.array_equal(continued.weights[k], saved.weights[k]) for k in saved.weights)


def test_mpiexec_runs_the_command_as_it_is(bars, tmp_path):
    out = tmp_path / "run"
    result = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "convpool", "train", "--data", str(bars),
                             "--epochs", "1", "--out", str(out), "--no-progress", "--threads", "1", *COMMON],
                            capture_output=True, text=True, timeout=300, env=_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("done: epoch 1,") == 1
    assert load_checkpoint(out).epoch == 1
    accuracy = float(result.stdout.split("test accuracy ")[1].split()[0])
    n = int(result.stdout.split(" on ")[-1].split()[0])
    assert n == 40 and 0.0 <= accuracy <= 1.0  # every test image counted once over both processes


@pytest.mark.parametrize("args, message", [
    (("--batch-size", "1", "--epochs", "1"), "the batch size 1 is smaller than the 2 processes"),
    (("--epochs", "1", "--val-split", "2"), "rank 0 of 2 failed: ValueError: --val-split must be in [0, 1)"),
    (("--threads", "0",), "--threads must be 1 or more, got 0"),
])
def test_errors_stop_every_process_with_one_line(bars, tmp_path, args, message):
    result = _train("--data", str(bars), "--out", str(tmp_path / "r"), *args, timeout=120)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr


def _ancestors(pid: int) -> list[int]:
    out = []
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        out.append(pid)
    return out


def _rank_process(launcher: int, rank: int) -> int | None:
    """The pid of rank `rank` under this launcher, once it has joined the world."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            pairs = (entry / "environ").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        environ = dict(p.split("=", 1) for p in pairs if "=" in p)
        folder = environ.get("CONVPOOL_RANK_DIR")
        if (folder and environ.get("PMI_RANK") == str(rank) and launcher in _ancestors(int(entry.name))
                and (Path(folder) / entry.name).exists()):
            return int(entry.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the rank's process through /proc")
def test_a_killed_process_is_named_by_its_rank(bars, tmp_path):
    launcher = subprocess.Popen([sys.executable, "-m", "convpool", "train", "--processes", "2", "--no-progress",
                                 "--data", str(bars), "--epochs", "100", "--out", str(tmp_path / "r"), *COMMON],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    victim, deadline = None, time.monotonic() + 120
    while victim is None and time.monotonic() < deadline and launcher.poll() is None:
        victim = _rank_process(launcher.pid, 1)
        time.sleep(0.2)
    assert victim is not None, launcher.communicate()[1]
    os.kill(victim, signal.SIGKILL)
    began = time.monotonic()
    _, err = launcher.communicate(timeout=60)
    assert time.monotonic() - began < 30 and launcher.returncode != 0
    assert f"convpool: rank 1 of 2 (pid {victim}) stopped first, with exit code 9; mpiexec ended the others" in err


def test_a_failure_line_mpiexec_drops_is_reported_by_the_launcher(tmp_path, monkeypatch, capsys):
    """mpiexec can end a process before its last line is forwarded; the rank also leaves the
    line in the launcher's folder, and --processes prints it when it did not come through."""
    pytest.importorskip("mpi4py")
    from convpool.distributed import launch

    fake = tmp_path / "mpiexec"
    fake.write_text('#!/bin/sh\necho "convpool: rank 1 of 2 failed: ValueError: lost" > "$CONVPOOL_RANK_DIR/failed-1"\n'
                    "exit 2\n")
    fake.chmod(0o755)
    monkeypatch.setattr(launch, "find_mpiexec", lambda: str(fake))
    assert launch._start(2, ["train"]) == 2
    assert capsys.readouterr().err.strip() == "convpool: rank 1 of 2 failed: ValueError: lost"
