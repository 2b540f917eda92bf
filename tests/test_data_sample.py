"""The Fashion-MNIST sample shipped in the package."""

import numpy
import pytest

from convpool.data import FASHION_MNIST_CLASSES, DataLoader, load_fashion_mnist_sample


@pytest.mark.parametrize("split, size", [("train", 500), ("test", 200)])
def test_the_built_in_sample_is_balanced_fashion_mnist(split, size):
    data = load_fashion_mnist_sample(split)
    assert len(data) == size
    assert data.images.shape == (size, 1, 28, 28) and data.images.dtype == numpy.uint8
    numpy.testing.assert_array_equal(numpy.bincount(data.labels, minlength=10), size // 10)
    assert tuple(data.classes) == FASHION_MNIST_CLASSES
    assert 0.2 < data.images.mean() / 255 < 0.4  # real pictures, not blank or noise
    images, labels = next(iter(DataLoader(data, batch_size=32)))
    assert images.shape == (32, 1, 28, 28) and labels.shape == (32,)


def test_the_sample_refuses_an_unknown_split():
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'val'"):
        load_fashion_mnist_sample("val")
