"""--device on train, evaluate, predict and explain: the whole command runs on the device
(here the 'strict' stand-in GPU, which refuses every implicit host copy), says where it
runs, and refuses a missing GPU in one line."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy
import pytest
from PIL import Image

from convpool import cli
from convpool.checkpoint import load_checkpoint


def test_train_evaluate_predict_explain_run_on_the_device(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    assert cli.main(["train", "--data", "sample", "--epochs", "1", "--batch-size", "64", "--out", str(run),
                     "--no-progress", "--device", "strict"]) == 0
    out = capsys.readouterr().out
    assert "device: strict:0" in out
    checkpoint = load_checkpoint(run)  # saved from the device as host arrays
    assert all(isinstance(v, numpy.ndarray) for v in checkpoint.weights.values())
    assert cli.main(["evaluate", str(run), "--device", "strict"]) == 0
    assert "accuracy" in capsys.readouterr().out
    photo = tmp_path / "shoe.png"
    Image.fromarray(numpy.random.default_rng(0).integers(0, 255, (40, 30), dtype=numpy.uint8)).save(photo)
    assert cli.main(["predict", str(run), str(photo), "--device", "strict"]) == 0
    assert "1." in capsys.readouterr().out
    assert cli.main(["explain", str(run), str(photo), "-o", str(tmp_path / "why"), "--device", "strict"]) == 0
    assert (tmp_path / "why" / "index.html").exists()


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed")
def test_a_missing_gpu_is_one_line_with_the_install_hint(tmp_path):
    result = subprocess.run([sys.executable, "-m", "convpool", "train", "--data", "sample", "--epochs", "1",
                             "--out", str(tmp_path / "run"), "--device", "cuda"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == ('convpool train: error: device \'cuda\': CuPy is not installed; install it with '
                                     'pip install "convpool[gpu]"')
    assert "Traceback" not in result.stderr


def test_auto_is_the_cpu_without_a_gpu(tmp_path, capsys, monkeypatch):
    import convpool

    if convpool.cuda.is_available():
        pytest.skip("a GPU is present: auto picks it")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--data", "sample", "--epochs", "1", "--out", str(tmp_path / "run"),
                     "--no-progress"]) == 0
    assert "device: cpu" in capsys.readouterr().out


def test_predict_goes_on_after_a_bad_input_and_says_how_many_failed(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(numpy.full((28, 28), 128, dtype=numpy.uint8)).save(good)
    cut = tmp_path / "cut.jpg"
    Image.fromarray(numpy.zeros((40, 40, 3), dtype=numpy.uint8)).save(cut)
    cut.write_bytes(cut.read_bytes()[:200])
    result = subprocess.run([sys.executable, "-m", "convpool", "predict", "pretrained:fashion-mnist", str(cut),
                             str(tmp_path / "missing.png"), str(good)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "good.png" in result.stdout and "1." in result.stdout  # predicted although two inputs before it failed
    lines = result.stderr.strip().splitlines()
    assert any("cut.jpg" in line for line in lines) and any("missing.png" in line for line in lines)
    assert lines[-1] == "convpool predict: 2 of 3 inputs could not be predicted"
    assert "Traceback" not in result.stderr
