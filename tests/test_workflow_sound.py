"""The command line on sound: train on a folder of generated recordings, evaluate them, and
predict a .wav with the trained network (the front end recorded in the checkpoint)."""

import json
import subprocess
import sys
import wave

import numpy
import pytest

RATE = 8000


def _run(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "convpool", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def _write(path, samples, rate=RATE):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((samples * 20000).astype("<i2").tobytes())


def _tone(digit, rng, rate=RATE):
    """A 'spoken digit' a small network can learn: a tone whose pitch says the digit."""
    t = numpy.arange(int(rate * rng.uniform(0.3, 0.6))) / rate
    return numpy.sin(2 * numpy.pi * (300 + 500 * digit) * t) * rng.uniform(0.3, 0.9) + rng.normal(0, 0.02, t.shape)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tones")
    rng = numpy.random.default_rng(0)
    for digit in range(3):
        for index in range(24):
            _write(folder / f"{digit}_synth_{index}.wav", _tone(digit, rng))
    return folder


@pytest.fixture(scope="module")
def trained(recordings, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tones"
    result = _run("train", "--data", str(recordings), "--model", "audio-cnn2d", "--epochs", "4", "--batch-size", "16",
                  "--lr", "3e-3", "--val-split", "0.25", "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    return out, result


def test_training_on_recordings_learns_the_tones(trained):
    out, result = trained
    assert "training audio-cnn2d on" in result.stdout and "54 train, 18 validation recordings" in result.stdout
    accuracy = float(result.stdout.split("validation accuracy ")[1].split(",")[0])
    assert accuracy >= 0.8  # three pitches; chance is 0.33
    config = json.loads((out / (out / "latest").read_text().strip() / "checkpoint.json").read_text())["model"]
    assert config["config"]["input"]["kind"] == "spectrogram"
    assert config["config"]["input"]["front_end"]["features"] == "log-mel"


def test_evaluate_and_predict_use_the_recorded_front_end(trained, recordings, tmp_path):
    out, _ = trained
    result = _run("evaluate", str(out), "--data", str(recordings), "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 72 and metrics["accuracy"] >= 0.8
    # a recording at another rate is resampled, and says so
    rng = numpy.random.default_rng(5)
    t = numpy.arange(16000 // 2) / 16000
    _write(tmp_path / "two.wav", numpy.sin(2 * numpy.pi * 1300 * t) * 0.7 + rng.normal(0, 0.02, t.shape), rate=16000)
    result = _run("predict", str(out), str(tmp_path / "two.wav"), "--top-k", "2")
    assert result.returncode == 0, result.stderr
    assert "resampled 16000 Hz to 8000 Hz" in result.stdout
    assert result.stdout.splitlines()[1].split()[:2] == ["1.", "2"]  # 1300 Hz = 300 + 500 * 2


def test_an_image_network_refuses_sound_and_the_reverse(trained, recordings, tmp_path):
    out, _ = trained
    result = _run("train", "--data", str(recordings), "--model", "article-cnn", "--epochs", "1")
    assert result.returncode == 2 and "--model article-cnn reads images, but the data is sound" in result.stderr
    for flags, message in ((("--tta",), "--tta flips images; --model audio-cnn2d reads sound"),
                           (("--tta-shift", "1"), "--tta-shift moves images; --model audio-cnn2d reads sound")):
        result = _run("train", "--data", str(recordings), "--model", "audio-cnn2d", "--epochs", "1", *flags)
        assert result.returncode == 2 and message in result.stderr and "pixels high" not in result.stderr
    result = _run("evaluate", "pretrained:fashion-mnist", "--data", str(recordings))
    assert result.returncode == 2 and "holds sound, the network reads images" in result.stderr
    from PIL import Image

    Image.fromarray(numpy.zeros((8, 8), numpy.uint8)).save(tmp_path / "x.png")
    result = _run("predict", str(out), str(tmp_path / "x.png"))
    assert result.returncode == 2 and "reads sound (.wav files)" in result.stderr
