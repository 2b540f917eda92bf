"""What a newcomer sees: inputs that are folders, counts of zero, a .jpg output, evaluate on
a source without a test part, a missing data set, and each scoring command saying what it
scored. Through `convpool.cli.main` in this process (the interrupt tests use subprocesses)."""

from __future__ import annotations

import numpy
import pytest
from PIL import Image

from convpool import cli


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(list(map(str, args)))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = numpy.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (20, 24, 3)).astype(numpy.uint8)).save(folder / "a.png")
    return folder


@pytest.mark.parametrize("args, message", [
    (("predict", "{folder}"), "{folder} is a folder, not an image or .wav file (and no run folder: it holds no "
                              "checkpoint); name one file in it, e.g. {folder}/photo.jpg"),
    (("predict", "pretrained:fashion-mnist", "{folder}"), "{folder} is a folder, not an image or .wav file"),
    (("explain", "pretrained:fashion-mnist", "{folder}"), "{folder} is a folder, not an image or .wav file; name"),
    (("tour", "--image", "{folder}"), "--image {folder} is a folder, not a photo; name one file in it"),
    (("filter", "{folder}", "-k", "edge"), "{folder} is a folder, not an image file; name one file in it"),
    (("explain", "pretrained:fashion-mnist", "{folder}/none.png"), "{folder}/none.png: no such file"),
    (("predict", "--top-k", "0", "{folder}/a.png"), "--top-k must be 1 or more, got 0"),
    (("filter", "{folder}/a.png", "-k", "edge", "-o", "{folder}/out.xyz"),
     "-o {folder}/out.xyz: Pillow cannot write .xyz files; name a .png or .jpg"),
    (("train", "--data", "fashion-mnist", "--data-dir", "{folder}/nothing"),
     "--data fashion-mnist: not found ({folder}/nothing: no such folder;"),
])
def test_bad_inputs_are_one_line_in_the_commands_words(capsys, photos, args, message):
    code, _, err = _cli(capsys, *(a.format(folder=photos) for a in args))
    assert code == 2
    assert err.startswith(f"convpool {args[0]}: error: " + message.format(folder=photos)), err
    assert err.count("\n") == 1 and "data_dir=" not in err


def test_filter_writes_the_format_its_suffix_names(capsys, photos):
    for suffix, expected in ((".jpg", "JPEG"), (".png", "PNG"), (".webp", "WEBP")):
        out = photos / f"edges{suffix}"
        code, printed, err = _cli(capsys, "filter", photos / "a.png", "-k", "sobel-x", "-o", out)
        assert code == 0, err
        with Image.open(out) as picture:
            assert picture.format == expected


def test_predict_says_a_tta_network_scored_mirrored_copies(capsys, photos):
    code, out, err = _cli(capsys, "predict", "pretrained:cifar10", photos / "a.png", "--top-k", "2")
    assert code == 0, err
    assert ("scored as the mean over the image and its mirror image and copies moved 1 pixel, as trained (--tta)"
            in out.splitlines()[0])
    plain = _cli(capsys, "predict", "pretrained:fashion-mnist", photos / "a.png")[1]
    assert "scored" not in plain  # a plain network: scored on the image alone, as nothing else says


def test_explain_says_it_scored_the_input_alone_where_predict_would_not(capsys, photos, tmp_path):
    code, out, err = _cli(capsys, "explain", "pretrained:cifar10", photos / "a.png", "--out", tmp_path / "x")
    assert code == 0, err
    assert "scored on the input alone (saliency and Grad-CAM need one input" in out.splitlines()[0]


@pytest.fixture
def train_only_folder(tmp_path):
    """Class folders of 28x28 grey pictures under train/, and no test/."""
    rng = numpy.random.default_rng(1)
    for name in ("Trouser", "Bag"):
        folder = tmp_path / "clothes" / "train" / name
        folder.mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (28, 28)).astype(numpy.uint8)).save(folder / f"{i}.png")
    return tmp_path / "clothes"


def test_evaluate_on_a_source_without_test_measures_what_there_is_and_says_so(capsys, train_only_folder):
    code, out, err = _cli(capsys, "evaluate", "pretrained:fashion-mnist", "--data", train_only_folder, "--json")
    assert code == 0, err
    assert f"note: {train_only_folder}: has no test/ part; measuring its 6 images instead, which may include" in err
    assert '"n": 6' in out
