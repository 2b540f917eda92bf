"""Validate before building: the typed model configuration, damaged checkpoint entries,
weights of the wrong dtype or NaN, and NaN inputs in evaluate. Every damaged file is written
by the test and must give one clear error, never an AttributeError, a KeyError or a
network sized by a hostile number."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy
import pytest
import safetensors.numpy

from convpool import models, nn
from convpool.checkpoint import JSON_FILE, WEIGHTS_FILE, CheckpointError, load_checkpoint, save_checkpoint
from convpool.data import ArrayDataset, DataLoader
from convpool.models import ModelConfig, ModelConfigError, build_from_checkpoint
from convpool.train import evaluate

CONFIG = {"in_channels": 1, "num_classes": 3, "image_size": 8, "class_names": ["a", "b", "c"], "mean": [0.5],
          "std": [0.25]}


def saved_net(tmp_path, config=None):
    model = models.build("article-cnn", in_channels=1, num_classes=3, image_size=8)
    return save_checkpoint(tmp_path / "run", model, model_name="article-cnn", model_config=config or CONFIG, epoch=1,
                           history=[]), model


def rewrite(folder, **changes):
    document = json.loads((folder / JSON_FILE).read_text())
    document.update(changes)
    (folder / JSON_FILE).write_text(json.dumps(document))


def test_a_config_round_trips_and_keeps_unknown_keys():
    config = ModelConfig.from_dict({**CONFIG, "classes": ["x"], "tta": True, "tta_shift": 1})
    assert config.num_classes == 3 and config.class_names == ("a", "b", "c") and config.kind == "image"
    assert config.to_dict()["classes"] == ["x"] and config["image_size"] == 8 and "tta" in config
    assert ModelConfig.from_dict(config.to_dict()) == config
    assert config.build_arguments() == {"in_channels": 1, "num_classes": 3, "image_size": 8}
    assert ModelConfig.from_dict({"in_channels": 1, "num_classes": 2, "image_size": 4}).names == ["0", "1"]


@pytest.mark.parametrize("change, message", [
    ({"num_classes": 1e10}, "num_classes must be a whole number from 1 to 100000, got float 10000000000.0"),
    ({"num_classes": 10**10}, "num_classes must be from 1 to 100000, got 10000000000"),
    ({"num_classes": True}, "num_classes must be a whole number"),
    ({"in_channels": 0}, "in_channels must be from 1 to 64, got 0"),
    ({"image_size": "28"}, "image_size must be a whole number from 1 to 1024, got str '28'"),
    ({"image_size": None}, "image_size must be a whole number"),
    ({"class_names": ["a"]}, "1 class_names for num_classes 3"),
    ({"class_names": "abc"}, "class_names must be a list of names"),
    ({"mean": [0.1, 0.2]}, "mean has 2 values for 1 input channel(s)"),
    ({"std": [0.0]}, "std must be positive"),
    ({"mean": [float("nan")]}, "mean must be a list of finite numbers"),
    ({"input": {"kind": "video"}}, "input must be an object whose kind is one of image, waveform, spectrogram"),
    ({"input": {"kind": "spectrogram"}}, "a spectrogram network's input needs a front_end object"),
    ({"tta": "yes"}, "tta must be true or false"),
    ({"tta_shift": 8}, "tta_shift must be from 0 to 7, got 8"),
])
def test_bad_config_values_are_refused_in_one_line(change, message):
    with pytest.raises(ModelConfigError) as caught:
        ModelConfig.from_dict({**CONFIG, **change}, "run/epoch-0001")
    assert str(caught.value).startswith("run/epoch-0001: ") and message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("data, message", [
    ([1, 2], "the model config must be a JSON object, got list [1, 2]"),
    ({"in_channels": 1, "num_classes": 3}, "the model config has no 'image_size'"),
])
def test_a_config_that_is_not_one_is_refused(data, message):
    with pytest.raises(ModelConfigError, match=re.escape(message)):
        ModelConfig.from_dict(data)


@pytest.mark.parametrize("entry, message", [
    ({"files": []}, '"files" must be an object naming the weights file'),
    ({"scheduler": []}, '"scheduler" must be an object, got list'),
    ({"optimizer": [1]}, '"optimizer" must be an object, got list'),
    ({"extra": []}, '"extra" must be an object, got list'),
    ({"history": {}}, '"history" must be a list'),
    ({"epoch": "3"}, '"epoch" must be a whole number'),
    ({"epoch": -1}, '"epoch" must be a non-negative whole number'),
    ({"scheduler": {"state": {}}}, '"scheduler" must name its class'),
    ({"model": {"name": "article-cnn", "config": [1, 2]}}, '"model" must hold a name and a config'),
])
def test_damaged_checkpoint_entries_are_one_clear_error(tmp_path, entry, message):
    folder, _ = saved_net(tmp_path)
    rewrite(folder, **entry)
    with pytest.raises(CheckpointError, match=re.escape(message)):
        load_checkpoint(tmp_path / "run")


@pytest.mark.parametrize("config, message", [
    ({k: v for k, v in CONFIG.items() if k != "image_size"}, "the model config has no 'image_size'"),
    ({**CONFIG, "num_classes": 1e10}, "num_classes must be a whole number from 1 to 100000, got float"),
    ({**CONFIG, "num_classes": 4, "class_names": None}, "num_classes is 4, but the last layer head.3.weight has 3"),
    ({**CONFIG, "in_channels": 3, "mean": None, "std": None}, "in_channels is 3, but the first layer"),
])
def test_a_weights_header_config_is_checked_before_a_network_is_built(tmp_path, config, message):
    """A bare weights file: its header's config alone sizes the network."""
    folder, _ = saved_net(tmp_path)
    path = folder / WEIGHTS_FILE
    arrays = safetensors.numpy.load_file(path)
    with safetensors.safe_open(path, "np") as handle:
        metadata = handle.metadata()
    metadata["model_config"] = json.dumps(config)
    alone = tmp_path / "alone.safetensors"
    safetensors.numpy.save_file(arrays, alone, metadata=metadata)
    with pytest.raises(CheckpointError, match=re.escape(message)):
        build_from_checkpoint(alone)
    result = subprocess.run([sys.executable, "-m", "convpool", "evaluate", str(alone)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and message.split(",")[0] in result.stderr


@pytest.mark.parametrize("damage, message", [
    (lambda a: a.astype(numpy.int32), "holds int32 values where the Classifier holds float32"),
    (lambda a: numpy.full_like(a, numpy.nan), "NaN or infinite value"),
    (lambda a: numpy.where(numpy.arange(a.size).reshape(a.shape) == 0, numpy.inf, a).astype(a.dtype),
     "holds 1 NaN or infinite value"),
])
def test_weights_of_the_wrong_dtype_or_nan_are_refused_at_load(tmp_path, damage, message):
    folder, model = saved_net(tmp_path)
    path = folder / WEIGHTS_FILE
    arrays = safetensors.numpy.load_file(path)
    key = next(k for k in arrays if k.endswith("weight"))
    arrays[key] = damage(arrays[key])
    checkpoint = load_checkpoint(path)  # a bare file: no hashes to catch it
    checkpoint.weights[key] = arrays[key]
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=f"{key} {message}" if "int32" in message else message):
        checkpoint.load_weights(model)
    assert all(numpy.array_equal(before[k], v.numpy(), equal_nan=True) for k, v in model.state_dict().items())


@pytest.mark.parametrize("bad", [numpy.nan, numpy.inf])
def test_evaluate_refuses_nan_or_infinite_inputs(bad):
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    images = numpy.zeros((10, 1, 2, 2), dtype=numpy.float32)
    images[7, 0, 1, 1] = bad
    loader = DataLoader(ArrayDataset(images, numpy.zeros(10, dtype=numpy.int64)), batch_size=4)
    with pytest.raises(ValueError, match="evaluate: batch 2 holds 1 NaN or infinite input value"):
        evaluate(model, loader)
    images[7, 0, 1, 1] = 0
    assert evaluate(model, loader)["n"] == 10
