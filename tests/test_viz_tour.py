"""The tour's numbers, figures, output folder and explorer script: the numbers are what
F.conv2d and convpool.output_size give, every figure has its size and is not blank, and the
explorer's JavaScript output size agrees with convpool.output_size."""

import io
import json
import shutil
import subprocess
from importlib import resources

import numpy
import pytest
from PIL import Image

import convpool
from convpool import functional as F
from convpool import models
from convpool.data import Compose, Normalize, ToFloat
from convpool.viz import tour, tour_folder, tour_network
from convpool.viz import tour_numbers as numbers


def _photo(path, width=40, height=30, mode="RGB"):
    """A small test picture: a gradient with a bright square, so edges and channels differ."""
    y, x = numpy.mgrid[0:height, 0:width]
    array = numpy.stack([x * 255 // width, y * 255 // height, (x + y) % 64 * 4], axis=-1).astype(numpy.uint8)
    array[height // 3:2 * height // 3, width // 3:width // 2] = (250, 240, 30)
    Image.fromarray(array).convert(mode).save(path)
    return array


@pytest.fixture(scope="module")
def small_tour(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tour")
    photo = _photo(folder / "small.png")
    lines = []
    result = tour.run_tour(str(folder / "small.png"), str(folder / "out"), log=lines.append)
    return result, photo, lines


@pytest.mark.parametrize("key", list(tour.FILES))
def test_every_figure_exists_has_its_size_and_is_not_blank(small_tour, key):
    result, _, _ = small_tour
    path = result.folder / tour.FILES[key]
    assert path in result.files
    with Image.open(path) as image:
        assert image.size == tour.figure_size_pixels(key)
        assert numpy.asarray(image.convert("L"), dtype=float).std() > 0


def test_the_page_embeds_every_figure_and_the_explorer(small_tour):
    result, _, _ = small_tour
    text = result.page.read_text(encoding="utf-8")
    assert text.count("<img src=\"data:image/png;base64,") == len(tour.FILES)
    assert 'id="explorer"' in text and "function outputLength" in text
    assert "http://" not in text and "https://" not in text  # nothing to fetch: it works offline
    assert set(tour_folder.own_files(result.folder)) == {*tour.FILES.values(), tour.PAGE}


def test_step_2_is_f_conv2d_at_that_position(small_tour):
    _, photo, lines = small_tour
    window = numbers.one_window(photo[..., 0].astype(float))
    x = convpool.tensor(photo[None, None, :, :, 0].astype(numpy.float64))
    w = convpool.tensor(numbers.KERNELS["edge"][None, None])
    expected = F.conv2d(x, w, convpool.tensor([numbers.WINDOW_BIAS], dtype="float64")).numpy()[0, 0]
    assert window.conv2d == expected[window.row, window.column]
    assert window.by_hand == pytest.approx(window.conv2d, abs=1e-9)
    assert abs(window.conv2d) == pytest.approx(numpy.abs(expected).max())
    by_hand = (photo[window.row:window.row + 3, window.column:window.column + 3, 0] * numbers.KERNELS["edge"]).sum()
    assert window.by_hand == pytest.approx(by_hand + numbers.WINDOW_BIAS)
    assert any(f"output[{window.row}, {window.column}]" in line and f"(F.conv2d: {tour._fmt(window.conv2d)})" in line
               for line in lines)


def test_one_window_at_a_given_position_and_outside():
    channel = numpy.arange(36, dtype=float).reshape(6, 6)
    window = numbers.one_window(channel, numpy.ones((3, 3)), bias=1.0, position=(1, 2))
    assert window.by_hand == channel[1:4, 2:5].sum() + 1 == window.conv2d
    with pytest.raises(ValueError, match="outside"):
        numbers.one_window(channel, position=(4, 0))


@pytest.mark.parametrize("size, kernel, stride, padding, dilation, ceil_mode", [
    (256, 3, 3, 0, 1, False), (256, 3, 3, 0, 1, True), (5, 2, 2, 1, 1, True), (256, 3, 3, 0, 2, False),
    (120, 3, 2, 1, 1, False), (7, 3, 3, 1, 1, False), (2, 5, 1, 0, 1, False), (3, 2, 1, 0, 3, False),
])
def test_step_5_formula_gives_output_size(size, kernel, stride, padding, dilation, ceil_mode):
    example = numbers.SizeExample(size, kernel, stride, padding, dilation, ceil_mode)
    try:
        expected = convpool.output_size(size, kernel, stride=stride, padding=padding, dilation=dilation,
                                        ceil_mode=ceil_mode)
    except ValueError:
        assert example.out is None and "does not fit" in example.formula()
        return
    assert example.out == expected
    assert example.formula().endswith(f" {expected}")
    assert example.formula(short=True).endswith(f" {expected}")


def test_step_5_on_the_photo_is_what_f_conv2d_outputs(small_tour):
    _, photo, lines = small_tour
    rows, columns = photo.shape[:2]
    for height, width in numbers.photo_size_examples(rows, columns):
        assert (height.out, width.out) == numbers.conv2d_shape(rows, columns, 3, height.stride, height.padding)
        assert (height.out, width.out) == convpool.output_size((rows, columns), 3, stride=height.stride,
                                                               padding=height.padding)
    stride, padding = tour.STEP5_SETTING
    line = next(line for line in lines if line.strip().startswith("5."))
    assert line.endswith(f"-> {convpool.output_size(rows, 3, stride=stride, padding=padding)}")
    assert f"width ({columns} - 3 + 2*{padding})/{stride}" in line
    assert any(line.endswith(f"-> {convpool.output_size(256, 3, stride=3)}") for line in lines)


def test_pooling_numbers_are_the_library_s():
    assert numbers.pool(numbers.POOL_MATRIX, "max").tolist() == [[6, 8], [3, 4]]
    assert numbers.pool(numbers.POOL_MATRIX, "avg").tolist() == [[3.25, 5.25], [2, 2]]
    photo = numpy.arange(4 * 6 * 3, dtype=float).reshape(4, 6, 3)
    assert numbers.pool(photo, "max").shape == (2, 3, 3)


def test_conv_photo_sums_the_per_channel_outputs():
    photo = numpy.random.default_rng(0).integers(0, 256, (9, 11, 3))
    per_channel, summed = numbers.conv_photo(photo, numbers.KERNELS["sharpen"])
    assert per_channel.shape == (3, 7, 9)
    numpy.testing.assert_allclose(per_channel.sum(0), summed, atol=1e-9)


def test_load_photo_scales_down_converts_and_refuses(tmp_path):
    Image.new("L", (640, 320), 128).save(tmp_path / "big.png")
    array, notes = tour.load_photo(tmp_path / "big.png")
    assert array.shape == (80, 160, 3) and "converted L to RGB" in notes and "640x320 down to 160x80" in notes
    Image.new("RGB", (5, 40)).save(tmp_path / "thin.png")
    with pytest.raises(ValueError, match="too small"):
        tour.load_photo(tmp_path / "thin.png")
    (tmp_path / "notes.txt").write_text("not a picture")
    with pytest.raises(ValueError, match="not an image"):
        tour.load_photo(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match="no such image"):
        tour.load_photo(tmp_path / "missing.png")


def test_built_in_photo_is_a_colour_picture():
    data = (resources.files("convpool.viz") / "assets" / tour.BUILT_IN).read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == "RGB" and max(image.size) <= tour.MAX_SIDE
        array = numpy.asarray(image, dtype=float)
    assert array.std(axis=(0, 1)).min() > 10  # every channel varies


def test_output_folder_never_overwrites_files_the_tour_did_not_write(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = ["index.html", "01-photo.png"]
    assert str(tour_folder.choose(None, names)) == "tour"
    (tmp_path / "tour").mkdir()
    (tmp_path / "tour" / "notes.txt").write_text("mine")
    assert str(tour_folder.choose(None, names)) == "tour"  # other names are no obstacle
    (tmp_path / "tour" / "index.html").write_text("my own page")
    assert str(tour_folder.choose(None, names)) == "tour-2"
    with pytest.raises(ValueError, match="tour already has index.html"):
        tour_folder.choose("tour", names)
    (tmp_path / "tour-2").mkdir()
    (tmp_path / "tour-2" / "index.html").write_text("written by the tour")
    tour_folder.record(tmp_path / "tour-2", names)
    assert str(tour_folder.choose(None, names)) == "tour-2"  # its own files: a rerun refreshes them
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ValueError, match="a-file"):
        tour_folder.choose("a-file", names)


def test_step_7_falls_back_to_fashion_mnist_until_cifar10_ships(monkeypatch):
    name, _, config = tour_network.load_model()
    if "cifar10" not in models.PRETRAINED:
        assert name == "fashion-mnist" and config["in_channels"] == 1
    real = models.pretrained

    def cifar_only(wanted):
        if wanted != "cifar10":
            return real(wanted)
        model = models.build("resnet-cifar", in_channels=3, num_classes=10, image_size=32)
        model.eval()
        return model, {"in_channels": 3, "image_size": 32, "num_classes": 10, "mean": [0.5] * 3, "std": [0.25] * 3,
                       "class_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                       "ship", "truck"]}

    monkeypatch.setattr(models, "pretrained", cifar_only)
    assert tour_network.load_model()[0] == "cifar10"


def test_step_7_walks_a_resnet_layer_by_layer_and_scores_with_its_own_forward(tmp_path):
    _photo(tmp_path / "car.png")
    model = models.build("resnet-cifar", in_channels=3, num_classes=10, image_size=32)
    model.eval()
    config = {"in_channels": 3, "image_size": 32, "num_classes": 10, "mean": [0.5] * 3, "std": [0.25] * 3,
              "class_names": [str(i) for i in range(10)]}
    view = tour_network.look(str(tmp_path / "car.png"), "cifar10", model, config)
    labels = [layer.label for layer in view.layers]
    assert labels[:5] == ["CONV+BN", "RELU", "CONV+BN", "RELU", "POOL"] and "RESIDUAL" in labels
    assert view.image.shape == (3, 32, 32)
    assert view.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    png = tour_network.feature_maps_figure(view)
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == tour_network.figure_size_pixels("feature_maps")


def _python_output_length(size, kernel, stride, padding, dilation, ceil_mode):
    try:
        return convpool.output_size(size, kernel, stride=stride, padding=padding, dilation=dilation,
                                    ceil_mode=ceil_mode)
    except ValueError:
        return None


def test_the_explorer_script_agrees_with_output_size_everywhere():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    cases = [[size, kernel, stride, padding, dilation, ceil]
             for size in range(0, 13) for kernel in range(1, 7) for stride in range(1, 5)
             for padding in range(0, 4) for dilation in range(1, 4) for ceil in (False, True)]
    cases += [[7, 0, 1, 0, 1, False], [7, 3, 0, 0, 1, False], [7, 3, 1, -1, 1, True], [7, 3, 1, 0, 0, False],
              [-1, 1, 1, 0, 1, False], [256, 3, 3, 0, 1, False], [256, 3, 3, 0, 1, True], [255, 4, 3, 2, 2, True]]
    script = ("const {outputLength} = require(process.argv[1]);"
              "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "process.stdout.write(JSON.stringify(cases.map(c => outputLength(...c))));")
    with resources.as_file(resources.files("convpool.viz") / "explorer.js") as path:
        result = subprocess.run([node, "-e", script, str(path)], input=json.dumps(cases), capture_output=True,
                                text=True, timeout=60, check=True)
    answers = json.loads(result.stdout)
    assert len(cases) > 2000
    mismatches = [(case, answer) for case, answer in zip(cases, answers, strict=True)
                  if answer["out"] != _python_output_length(*case) or (answer["out"] is None) != bool(answer["error"])]
    assert not mismatches, mismatches[:5]
    dropped = [case for case, answer in zip(cases, answers, strict=True) if answer["dropped"]]
    assert dropped, "the grid must include ceil mode's dropped last window"


def test_step_7_walks_fast_cnn_with_its_whitening_and_folds_batch_norm_into_the_pool(tmp_path):
    _photo(tmp_path / "car.png")
    model = models.build("fast-cnn", in_channels=3, num_classes=10, image_size=32)
    model.initialise_from_data(numpy.random.default_rng(0).standard_normal((50, 3, 32, 32)))
    model.eval()
    config = {"in_channels": 3, "image_size": 32, "num_classes": 10, "mean": [0.5] * 3, "std": [0.25] * 3,
              "class_names": [str(i) for i in range(10)]}
    view = tour_network.look(str(tmp_path / "car.png"), "cifar10", model, config)
    labels = [layer.label for layer in view.layers]
    assert labels[:7] == ["WHITENING", "RELU", "CONV", "POOL+BN", "RELU", "CONV+BN", "RELU"]
    assert [layer.maps.shape for layer in view.layers[:4]] == [(24, 31, 31), (24, 31, 31), (32, 31, 31),
                                                               (32, 15, 15)]
    assert len(labels) == 17 and view.layers[-1].maps.shape == (128, 3, 3)
    assert not view.mirrored
    mirrored = tour_network.look(str(tmp_path / "car.png"), "cifar10", model, dict(config, tta=True))
    x = convpool.Tensor(Compose([ToFloat(), Normalize(config["mean"], config["std"])])(view.image[None]))
    with convpool.no_grad():
        expected = (model(x).numpy() + model(convpool.Tensor(x.numpy()[..., ::-1].copy())).numpy())[0] / 2
    assert mirrored.mirrored
    numpy.testing.assert_allclose(mirrored.scores, expected, rtol=1e-5, atol=1e-6)
    assert not numpy.allclose(mirrored.scores, view.scores)  # the mirror image changes the scores
