"""viz/explain.py: the numbers behind `convpool explain` and the figures and page it writes."""

import io
import re

import numpy
import pytest
from PIL import Image

import convpool
from convpool import nn
from convpool.data import Compose, Normalize, ToFloat
from convpool.models.architectures import Classifier
from convpool.viz import explain as ex
from convpool.viz.saliency import grad_cam, saliency_map
from convpool.viz.style import DPI

CONFIG = {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3], "class_names": ["cat", "dog", "car", "ship", "bird", "fox"]}


def _model(in_channels=3, seed=0):
    convpool.manual_seed(seed)
    features = nn.Sequential(nn.Conv2d(in_channels, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(4, 6, 3, padding=1), nn.ReLU())
    return Classifier(features, nn.Linear(6 * 6 * 6, 6))


def _image(channels=3, size=12, seed=0):
    rng = numpy.random.default_rng(seed)
    image = rng.integers(0, 90, (channels, size, size)).astype(numpy.uint8)
    image[:, 3:8, 4:9] = 230  # a bright square: something to find
    return image


def _config(channels):
    return dict(CONFIG, mean=CONFIG["mean"][:channels], std=CONFIG["std"][:channels])


def test_explain_records_what_the_model_computed():
    model, image = _model(), _image()
    e = ex.explain(model, CONFIG, image, "resized 40x40 to 12x12")
    assert e.probabilities.sum() == pytest.approx(1.0) and e.probabilities.shape == (6,)
    x = Compose([ToFloat(), Normalize(CONFIG["mean"], CONFIG["std"])])(image[None])
    with convpool.no_grad():
        logits = model(convpool.Tensor(x)).numpy()[0]
        first = model.features[0](convpool.Tensor(x)).numpy()[0]
        second = model.features[:4](convpool.Tensor(x)).numpy()[0]
    assert e.target == int(numpy.argmax(logits))
    top = e.top()
    assert [name for name, _ in top] == [CONFIG["class_names"][i] for i in numpy.argsort(-logits)[:5]]
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)
    assert [name for name, _ in e.feature_maps] == ["features.0", "features.3"]
    numpy.testing.assert_allclose(e.feature_maps[0][1], first, rtol=1e-6)
    numpy.testing.assert_allclose(e.feature_maps[1][1], second, rtol=1e-6)
    assert e.kernels[0] == "features.0"
    numpy.testing.assert_array_equal(e.kernels[1], model.features[0].weight.detach().numpy())
    numpy.testing.assert_allclose(e.saliency, saliency_map(model, x, e.target), rtol=1e-6)
    numpy.testing.assert_allclose(e.cam.cam, grad_cam(model, x, e.target).cam, rtol=1e-6)
    assert e.cam.layer == "features.4" and e.notes == ["resized 40x40 to 12x12"]


def _png(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def _not_blank(picture: Image.Image) -> bool:
    return float(numpy.asarray(picture.convert("RGB"), dtype=numpy.float64).std()) > 0


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_figures_are_pngs_of_the_intended_width_and_not_blank(channels):
    e = ex.explain(_model(channels), _config(channels), _image(channels))
    widths = {ex.input_figure: 3.2, ex.top_classes_figure: 6, ex.kernels_figure: 6.5, ex.saliency_figure: 9,
              ex.grad_cam_figure: 9.6}
    for draw, inches in widths.items():
        picture = _png(draw(e))
        assert picture.format == "PNG" and picture.width == round(inches * DPI), draw.__name__
        assert _not_blank(picture), draw.__name__
    for name, maps in e.feature_maps:
        picture = _png(ex.feature_maps_figure(name, maps))
        assert picture.width == round(7.5 * DPI) and _not_blank(picture)


def test_mosaic_lays_tiles_out_with_a_gap():
    tiles = numpy.arange(5 * 2 * 3, dtype=numpy.float64).reshape(5, 2, 3)
    mosaic = ex.tile_mosaic(tiles, 3)
    assert mosaic.shape == (2 * 2 + 1, 3 * 3 + 2)
    numpy.testing.assert_array_equal(mosaic[0:2, 4:7], tiles[1])
    numpy.testing.assert_array_equal(mosaic[3:5, 0:3], tiles[3])
    assert numpy.isnan(mosaic[2]).all() and numpy.isnan(mosaic[3:5, 8:]).all()  # the gap row, the empty tile


def test_report_writes_numbered_pngs_and_one_offline_page(tmp_path):
    e = ex.explain(_model(), CONFIG, _image())
    page, pngs = ex.write_report(e, tmp_path / "out", "What a tiny model sees")
    names = [p.name for p in pngs]
    assert names == ["01-input.png", "02-top5.png", "03-kernels-features.0.png", "04-features-features.0.png",
                     "05-features-features.3.png", "06-saliency.png", "07-grad-cam.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(names + ["index.html"])
    text = page.read_text()
    assert len(re.findall(r'<img src="data:image/png;base64,', text)) == len(pngs)
    assert "http://" not in text and "https://" not in text
    assert "What a tiny model sees" in text and "<td>" in text


def test_a_model_without_conv_layers_is_refused():
    model = Classifier(nn.Sequential(nn.ReLU()), nn.Linear(3 * 12 * 12, 6))
    with pytest.raises(ValueError, match="no Conv2d layer"):
        ex.explain(model, CONFIG, _image())


def test_a_spectrogram_is_explained_like_a_picture_with_low_frequencies_at_the_bottom(tmp_path):
    model = _model(in_channels=1)
    spectrogram = numpy.random.default_rng(2).normal(-6, 2, (1, 12, 12)).astype(numpy.float32)
    config = dict(_config(1), input={"kind": "spectrogram", "front_end": {}})
    e = ex.explain(model, config, spectrogram, "padded 3000 samples to 4000")
    assert e.sound
    x = (spectrogram[None] - config["mean"][0]) / config["std"][0]  # floats are not scaled by 1/255
    numpy.testing.assert_allclose(e.saliency, saliency_map(model, x, e.target), rtol=1e-5)
    assert _png(ex.input_figure(e)).width == round(4.4 * DPI)
    page, pngs = ex.write_report(e, tmp_path, "a sound")
    assert len(pngs) == 7 and "log-mel spectrogram" in page.read_text()
    for path in pngs:
        assert _not_blank(Image.open(path))


def test_fast_cnn_shows_its_fixed_whitening_kernels_first(tmp_path):
    from convpool import models

    model = models.build("fast-cnn", in_channels=3, num_classes=6, image_size=12)
    model.initialise_from_data(numpy.random.default_rng(1).standard_normal((40, 3, 12, 12)))
    image = numpy.random.default_rng(2).integers(0, 256, (3, 12, 12)).astype(numpy.uint8)
    config = dict(CONFIG, mean=[0.5] * 3, std=[0.25] * 3)
    e = ex.explain(model, config, image)
    assert e.kernels[0] == "features.0" and e.kernels[1].shape == (24, 3, 2, 2) and e.fixed_kernels
    assert [name for name, _ in e.feature_maps][:2] == ["features.0", "features.2.0"]
    assert not ex.explain(_model(), CONFIG, _image()).fixed_kernels
    index, _ = ex.write_report(e, tmp_path, "fast")
    assert "one fixed 2x2 kernel of features.0" in index.read_text()
