"""The networks shipped in the package: they load with their config, stay small, and classify
held-out samples shipped with the tests (tests/data/pretrained, never trained on); `predict`
picks the right one for an image or a .wav, and `evaluate` reads the samples' folders."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from convpool import models

SAMPLES = Path(__file__).parent / "data" / "pretrained"


def _run(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "convpool", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name", sorted(models.PRETRAINED))
def test_each_shipped_network_loads_with_its_config_and_is_small(name):
    from importlib import resources

    model, config = models.pretrained(name)
    assert not model.training
    for key in ("in_channels", "num_classes", "image_size", "class_names", "mean", "std"):
        assert key in config, key
    assert len(config["class_names"]) == config["num_classes"]
    weights = resources.files("convpool.models") / "weights" / models.PRETRAINED[name]
    assert weights.stat().st_size < 3 * 2**20  # a few MB at most


@pytest.mark.parametrize("name, folder, at_least", [("cifar10", "cifar10", 0.7), ("fsdd", "fsdd", 0.9)])
def test_shipped_networks_classify_held_out_samples(name, folder, at_least):
    if name not in models.PRETRAINED:
        pytest.fail(f"pretrained({name!r}) is not shipped")
    result = _run("evaluate", f"pretrained:{name}", "--data", str(SAMPLES / folder), "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["n"] == (30 if name == "cifar10" else 20)
    assert metrics["accuracy"] >= at_least, metrics


def test_predict_without_a_checkpoint_picks_the_network_for_each_input():
    car = SAMPLES / "cifar10" / "automobile" / "0.jpg"
    seven = sorted((SAMPLES / "fsdd").glob("7_*.wav"))[0]
    result = _run("predict", str(car), str(seven), "--top-k", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "[pretrained:cifar10]" in lines[0] and lines[1].split()[1] == "automobile"
    assert "[pretrained:fsdd]" in lines[2] and lines[3].split()[1] == "7"
