"""Real data: two epochs on a 2,000-image Fashion-MNIST subset reach at least 70% (skips
cleanly where ../shared/data is absent)."""

from pathlib import Path

import numpy
import pytest

import convpool
from convpool import models, optim
from convpool.data import ArrayDataset, Compose, DataLoader, Normalize, ToFloat, load_fashion_mnist
from convpool.train import evaluate, fit

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fashion-mnist"


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"no shared data at {SHARED}")
def test_two_epochs_on_2000_images_reach_70_percent():
    train_full = load_fashion_mnist("train", SHARED)
    test_full = load_fashion_mnist("test", SHARED)
    rng = numpy.random.default_rng(0)
    pick = rng.choice(len(train_full), 2000, replace=False)
    train = ArrayDataset(train_full.images[pick], train_full.labels[pick], classes=train_full.classes)
    held_out = rng.choice(len(test_full), 1000, replace=False)
    test = ArrayDataset(test_full.images[held_out], test_full.labels[held_out], classes=test_full.classes)
    normalise = Compose([ToFloat(), Normalize(0.2860, 0.3530)])
    convpool.manual_seed(0)
    model = models.build("article-cnn")
    optimizer = optim.Adam(model.parameters(), lr=2e-3)
    fit(model, DataLoader(train, batch_size=64, shuffle=True, seed=0, transform=normalise), optimizer=optimizer,
        epochs=2, model_name="article-cnn", model_config={}, progress=False)
    metrics = evaluate(model, DataLoader(test, batch_size=250, transform=normalise))
    assert metrics["n"] == 1000
    assert metrics["accuracy"] >= 0.70, metrics["accuracy"]
