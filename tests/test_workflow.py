"""The command line end to end on a tiny generated IDX data set: train, evaluate, predict,
summary, and the one-line errors."""

import json
import subprocess
import sys

import numpy
import pytest

from convpool.data import write_idx


def _run(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "convpool", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


@pytest.fixture(scope="module")
def idx_folder(tmp_path_factory):
    """Three classes of 12x12 images that a small CNN can tell apart: a bright bar that is
    horizontal, vertical or absent."""
    folder = tmp_path_factory.mktemp("idx")
    rng = numpy.random.default_rng(0)

    def make(n):
        labels = rng.integers(0, 3, n).astype(numpy.uint8)
        images = rng.integers(0, 60, (n, 12, 12)).astype(numpy.uint8)
        for image, label in zip(images, labels, strict=True):
            position = rng.integers(2, 10)
            if label == 0:
                image[position, :] = 250
            elif label == 1:
                image[:, position] = 250
        return images, labels

    for split, n in (("train", 240), ("t10k", 60)):
        images, labels = make(n)
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels)
    return folder


@pytest.fixture(scope="module")
def trained_run(idx_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "bars"
    result = _run("train", "--data", str(idx_folder), "--model", "article-cnn", "--epochs", "3", "--batch-size", "16",
                  "--lr", "3e-3", "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    return out, result


def test_train_writes_a_checkpoint_and_reports_test_accuracy(trained_run):
    out, result = trained_run
    assert "training article-cnn on" in result.stdout and "216 train, 24 validation images" in result.stdout
    assert (out / "latest").is_file()
    accuracy = float(result.stdout.split("test accuracy ")[1].split()[0])
    assert accuracy > 0.6  # three easy classes: chance is 0.33


def test_evaluate_prints_json_metrics_and_writes_the_confusion_png(trained_run, idx_folder, tmp_path):
    out, _ = trained_run
    png = tmp_path / "confusion.png"
    result = _run("evaluate", str(out), "--data", str(idx_folder), "--json", "--png", str(png))
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert set(metrics) == {"accuracy", "per_class", "confusion", "n"}
    assert metrics["n"] == 60 and sum(map(sum, metrics["confusion"])) == 60
    assert metrics["accuracy"] == pytest.approx(numpy.trace(metrics["confusion"]) / 60)
    from PIL import Image

    with Image.open(png) as image:
        assert image.size[0] > 300 and image.size[1] > 300
        assert len(numpy.unique(numpy.asarray(image.convert("L")))) > 10  # not blank


def test_predict_resizes_and_converts_any_image(trained_run, tmp_path):
    from PIL import Image

    out, _ = trained_run
    picture = numpy.zeros((40, 30, 3), numpy.uint8)
    picture[:, 14:16] = 255  # a vertical bar, in colour and the wrong size
    path = tmp_path / "bar.png"
    Image.fromarray(picture).save(path)
    result = _run("predict", str(out), str(path), "--top-k", "2")
    assert result.returncode == 0, result.stderr
    assert "converted RGB to grey" in result.stdout and "resized 30x40 to 12x12" in result.stdout
    lines = [line for line in result.stdout.splitlines() if line.strip().startswith(("1.", "2."))]
    assert len(lines) == 2
    probabilities = [float(line.split()[-1]) for line in lines]
    assert probabilities[0] >= probabilities[1] and 0 < sum(probabilities) <= 1.0001


def test_train_refuses_to_overwrite_a_run_and_resumes_it(trained_run, idx_folder):
    out, _ = trained_run
    again = _run("train", "--data", str(idx_folder), "--epochs", "3", "--out", str(out), "--no-progress")
    assert again.returncode == 2 and "Traceback" not in again.stderr
    resumed = _run("train", "--data", str(idx_folder), "--epochs", "4", "--batch-size", "16", "--out", str(out),
                   "--resume", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert "done: epoch 4," in resumed.stdout  # one more epoch on top of the three saved


@pytest.mark.parametrize("args, message", [
    (("train", "--data", "/nonexistent/folder"), "no such file or folder, and not one of: sample, fashion-mnist"),
    (("evaluate", "/nonexistent/run"), "no checkpoint at /nonexistent/run"),
    (("predict", "pretrained:cifar", "x.png"), "no pretrained weights named 'cifar'"),
    (("train", "--val-split", "1.5", "--epochs", "1"), "--val-split must be in [0, 1)"),
    (("train", "--crop-padding", "2", "--epochs", "1"), "--crop-padding 2: needs --augment"),
    (("train", "--augment", "--crop-padding", "-1", "--epochs", "1"), "--crop-padding -1: needs --augment and a value"),
    (("train", "--augment", "--tta-shift", "1", "--epochs", "1"), "--tta-shift 1: needs --tta and a value"),
    (("train", "--augment", "--tta", "--tta-shift", "28", "--epochs", "1"), "--tta-shift 28: needs --tta"),
    (("evaluate", "pretrained:fashion-mnist", "--tta", "--tta-shift", "30"), "--tta-shift 30: must be from 0 to 27"),
])
def test_bad_input_is_one_line_and_exit_code_2(args, message, tmp_path):
    result = _run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_tta_without_augment_gets_a_note(idx_folder, tmp_path):
    """Mirror images the network never trained on can cost accuracy: train says so."""
    note = "--tta without --augment scores mirror images the network never saw"
    plain = _run("train", "--data", str(idx_folder), "--epochs", "1", "--batch-size", "32", "--tta",
                 "--out", str(tmp_path / "a"), "--no-progress")
    assert plain.returncode == 0, plain.stderr
    assert note in plain.stdout
    augmented = _run("train", "--data", str(idx_folder), "--epochs", "1", "--batch-size", "32", "--tta", "--augment",
                     "--out", str(tmp_path / "b"), "--no-progress")
    assert augmented.returncode == 0, augmented.stderr
    assert note not in augmented.stdout


def test_tta_shift_is_recorded_and_scored_by_evaluate_and_predict(idx_folder, tmp_path):
    out = tmp_path / "shift"
    result = _run("train", "--data", str(idx_folder), "--epochs", "1", "--batch-size", "32", "--augment", "--tta",
                  "--tta-shift", "1", "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "validation accuracy with mirror images (--tta) and copies moved 1 pixel " in result.stdout
    test_line = "test accuracy with mirror images and copies moved 1 pixel "
    test_accuracy = float(result.stdout.split(test_line)[1].split()[0])
    from convpool import Tensor, no_grad
    from convpool.data import Compose, DataLoader, Normalize, ToFloat
    from convpool.models import build_from_checkpoint
    from convpool.train import evaluate, scores_with_mirror
    from convpool.workflow import load_split

    model, checkpoint = build_from_checkpoint(out)
    config = checkpoint.model_config
    assert config["tta"] is True and config["tta_shift"] == 1
    test_set = load_split(str(idx_folder), "test")
    loader = DataLoader(test_set, batch_size=256, transform=Compose([ToFloat(), Normalize(config["mean"],
                                                                                         config["std"])]))
    by_hand = evaluate(model, loader, 3, tta=True, tta_shift=1)["accuracy"]
    assert test_accuracy == pytest.approx(by_hand, abs=1e-4)
    recorded = json.loads(_run("evaluate", str(out), "--data", str(idx_folder), "--json").stdout)
    assert recorded["accuracy"] == pytest.approx(by_hand, abs=1e-4)  # the recorded shift is the default
    unshifted = json.loads(_run("evaluate", str(out), "--data", str(idx_folder), "--json", "--tta-shift", "0").stdout)
    assert unshifted["accuracy"] == pytest.approx(evaluate(model, loader, 3, tta=True)["accuracy"], abs=1e-4)
    from PIL import Image

    picture = numpy.zeros((12, 12), numpy.uint8)
    picture[3, :7] = 250
    Image.fromarray(picture).save(tmp_path / "bar.png")
    predicted = _run("predict", str(out), str(tmp_path / "bar.png"), "--top-k", "3")
    assert predicted.returncode == 0, predicted.stderr
    printed = {line.split()[1]: float(line.split()[2]) for line in predicted.stdout.splitlines()
               if line.strip()[:2] in ("1.", "2.", "3.")}
    x = Normalize(config["mean"], config["std"])(ToFloat()(picture[None, None]))
    with no_grad():
        logits = scores_with_mirror(model, Tensor(x), 1).numpy()[0]
    expected = numpy.exp(logits - logits.max()) / numpy.exp(logits - logits.max()).sum()
    names = config["class_names"]
    assert printed == pytest.approx({names[i]: round(float(expected[i]), 4) for i in range(3)}, abs=2e-4)


def test_fast_cnn_whitens_from_the_data_and_scores_with_mirror_images(idx_folder, tmp_path):
    out = tmp_path / "fast"
    result = _run("train", "--data", str(idx_folder), "--model", "fast-cnn", "--epochs", "4", "--batch-size", "16",
                  "--optimizer", "sgd", "--lr", "0.05", "--augment", "--crop-padding", "1", "--tta",
                  "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "validation accuracy with mirror images (--tta)" in result.stdout
    accuracy = float(result.stdout.split("test accuracy with mirror images ")[1].split()[0])
    assert accuracy > 0.6  # three easy classes: chance is 0.33
    from convpool.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(out)
    assert checkpoint.model_config["tta"] is True
    assert numpy.abs(checkpoint.weights["features.0.weight"]).max() > 0  # set from the data, not left at zero
    with_tta = json.loads(_run("evaluate", str(out), "--data", str(idx_folder), "--json").stdout)
    assert with_tta["accuracy"] == pytest.approx(accuracy, abs=1e-4)  # the recorded --tta is the default
    plain = _run("evaluate", str(out), "--data", str(idx_folder), "--json", "--no-tta")
    assert plain.returncode == 0 and json.loads(plain.stdout)["n"] == 60
    # predict scores with the mirror image too, as the network was trained
    from PIL import Image

    from convpool import Tensor, no_grad
    from convpool.data import Normalize, ToFloat
    from convpool.models import build_from_checkpoint

    picture = numpy.zeros((12, 12), numpy.uint8)
    picture[3, :7] = 250  # a horizontal bar on the left: its mirror image differs
    Image.fromarray(picture).save(tmp_path / "bar.png")
    result = _run("predict", str(out), str(tmp_path / "bar.png"), "--top-k", "3")
    assert result.returncode == 0, result.stderr
    printed = {line.split()[1]: float(line.split()[2]) for line in result.stdout.splitlines()
               if line.strip()[:2] in ("1.", "2.", "3.")}
    model, checkpoint = build_from_checkpoint(out)
    config = checkpoint.model_config
    x = Normalize(config["mean"], config["std"])(ToFloat()(picture[None, None]))
    with no_grad():
        logits = (model(Tensor(x)).numpy() + model(Tensor(x[..., ::-1].copy())).numpy())[0] / 2
    expected = numpy.exp(logits - logits.max()) / numpy.exp(logits - logits.max()).sum()
    names = config["class_names"]
    assert printed == pytest.approx({names[i]: round(float(expected[i]), 4) for i in range(3)}, abs=2e-4)
