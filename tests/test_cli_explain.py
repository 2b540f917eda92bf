"""`convpool explain` end to end through a subprocess with the shipped Fashion-MNIST weights."""

import re
import subprocess
import sys
import wave

import numpy
import pytest
from PIL import Image

import convpool
from convpool import functional as F
from convpool import models
from convpool.checkpoint import save_checkpoint
from convpool.commands.explain import fresh_folder
from convpool.data import Compose, Normalize, ToFloat
from convpool.data.audio import AudioFrontEnd
from convpool.viz.style import DPI
from convpool.workflow import read_image


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "convpool", "explain", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def shoe(tmp_path_factory):
    """A 40x40 colour drawing of something shoe-like on black (converted to grey, resized to 28x28)."""
    folder = tmp_path_factory.mktemp("explain")
    picture = numpy.zeros((40, 40, 3), dtype=numpy.uint8)
    picture[22:32, 4:36] = (200, 190, 180)  # the sole and body
    picture[12:22, 20:34] = (170, 160, 150)  # the ankle
    Image.fromarray(picture).save(folder / "shoe.png")
    (folder / "notes.txt").write_text("not an image\n")
    (folder / "digit.wav").write_bytes(b"RIFF....WAVEfmt ")
    return folder


def test_explain_writes_the_figures_and_page_and_prints_the_top_5(shoe):
    result = _run("pretrained:fashion-mnist", "shoe.png", cwd=shoe)
    assert result.returncode == 0, result.stderr
    out = shoe / "explain-shoe"  # the default folder, named after the input
    expected = ["01-input.png", "02-top5.png", "03-kernels-features.0.png", "04-features-features.0.png",
                "05-features-features.2.png", "06-features-features.5.png", "07-saliency.png", "08-grad-cam.png"]
    assert sorted(p.name for p in out.iterdir()) == expected + ["index.html"]
    widths = [3.2, 6, 6.5, 7.5, 7.5, 7.5, 9, 9.6]  # inches, as each figure is drawn
    for name, inches in zip(expected, widths, strict=True):
        with Image.open(out / name) as picture:
            assert picture.format == "PNG" and picture.width == round(inches * DPI), name
            assert 200 < picture.height < 1200, name
            assert numpy.asarray(picture.convert("RGB"), dtype=float).std() > 0, name
    page = (out / "index.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == len(expected)

    # the printed probabilities are the model's own, on the image as read_image gives it
    model, config = models.pretrained("fashion-mnist")
    image, notes = read_image(str(shoe / "shoe.png"), 1, 28)
    x = Compose([ToFloat(), Normalize(config["mean"], config["std"])])(image[None])
    with convpool.no_grad():
        probabilities = F.softmax(model(convpool.Tensor(x)), 1).numpy()[0]
    printed = re.findall(r"^\s+(\d)\. (.+?)\s+(\d\.\d{4})$", result.stdout, re.MULTILINE)
    assert len(printed) == 5
    for position, ((rank, name, value), index) in enumerate(zip(printed, numpy.argsort(-probabilities)[:5],
                                                                 strict=True), 1):
        assert int(rank) == position and name == config["class_names"][index]
        assert float(value) == pytest.approx(probabilities[index], abs=5e-5)
    assert notes in result.stdout and "wrote 8 figures" in result.stdout


def test_fresh_folder_never_reuses_an_existing_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert str(fresh_folder("cat")) == "explain-cat"
    (tmp_path / "explain-cat").mkdir()
    (tmp_path / "explain-cat-2").mkdir()
    assert str(fresh_folder("cat")) == "explain-cat-3"


@pytest.mark.parametrize("args, message", [
    (("pretrained:fashion-mnist", "digit.wav"), "a sound, but pretrained:fashion-mnist reads images"),
    (("pretrained:fashion-mnist", "notes.txt"), "not an image Pillow can read"),
    (("pretrained:fashion-mnist", "missing.png"), "missing.png: no such file"),
    (("pretrained:nonesuch", "shoe.png"), "no pretrained weights named 'nonesuch'"),
])
def test_bad_input_is_one_line_and_exit_code_2(shoe, args, message):
    result = _run(*args, cwd=shoe)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def _write_wav(path, samples, rate=8000):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((samples * 20000).astype("<i2").tobytes())


def _sound_network(folder, model_name, features, size):
    """An untrained sound network saved as a run folder, with its front end in the config."""
    convpool.manual_seed(0)
    model = models.build(model_name, in_channels=1, num_classes=3, image_size=size)
    front = AudioFrontEnd(sample_rate=8000, length=2000, features=features)
    config = {"in_channels": 1, "num_classes": 3, "image_size": size, "class_names": ["low", "mid", "high"],
              "mean": [-6.0], "std": [3.0], "input": {"kind": "spectrogram" if features == "log-mel" else "waveform",
                                                      "front_end": front.to_config()}}
    save_checkpoint(folder, model, model_name=model_name, model_config=config, epoch=0, history=[])
    return folder


def test_explain_a_wav_with_a_network_that_reads_spectrograms(tmp_path):
    run = _sound_network(tmp_path / "run", "audio-cnn2d", "log-mel", 40)
    t = numpy.arange(2400) / 8000
    _write_wav(tmp_path / "tone.wav", numpy.sin(2 * numpy.pi * 800 * t) * 0.6)
    result = _run(run, tmp_path / "tone.wav", "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "cut 2400 samples to 2000" in result.stdout and "wrote 9 figures" in result.stdout
    pngs = sorted((tmp_path / "out").glob("*.png"))
    assert [p.name for p in pngs][:3] == ["01-input.png", "02-top5.png", "03-kernels-features.0.png"]
    for path in pngs:
        with Image.open(path) as picture:
            assert numpy.asarray(picture.convert("RGB"), dtype=float).std() > 0, path.name
    assert "log-mel spectrogram" in (tmp_path / "out" / "index.html").read_text()


@pytest.mark.parametrize("model_name, features, size, message", [
    ("audio-cnn2d", "log-mel", 40, "reads sound (.wav files)"),  # given an image
    ("audio-cnn1d", "waveform", 2000, "reads the raw waveform with 1-D convolutions"),  # given a .wav
])
def test_a_sound_network_refuses_what_explain_cannot_show(shoe, tmp_path, model_name, features, size, message):
    run = _sound_network(tmp_path / "run", model_name, features, size)
    result = _run(run, "shoe.png" if features == "log-mel" else "digit.wav", cwd=shoe)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
