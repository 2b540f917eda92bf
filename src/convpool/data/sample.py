"""A small Fashion-MNIST sample shipped inside the package, so a first run needs no data."""

from __future__ import annotations

from importlib import resources

from .dataset import ArrayDataset
from .fashion_mnist import FASHION_MNIST_CLASSES
from .idx import load_idx_pair
from .transforms import Transform

SAMPLE_SIZES = {"train": 500, "test": 200}


def load_fashion_mnist_sample(split: str = "train", transform: Transform | None = None) -> ArrayDataset:
    """The built-in sample: 500 train / 200 test images, balanced over the 10 classes."""
    if split not in SAMPLE_SIZES:
        raise ValueError(f"load_fashion_mnist_sample: split must be 'train' or 'test', got {split!r}")
    folder = resources.files("convpool.data") / "sample"
    with resources.as_file(folder / f"{split}-images-idx3-ubyte.gz") as images, \
            resources.as_file(folder / f"{split}-labels-idx1-ubyte.gz") as labels:
        images, labels = load_idx_pair(images, labels, num_classes=len(FASHION_MNIST_CLASSES))
    return ArrayDataset(images[:, None], labels.astype("int64"), transform, FASHION_MNIST_CLASSES)
