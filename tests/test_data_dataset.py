"""Datasets: ArrayDataset checks, Subset indexing, and seeded splits (plain and stratified)."""

import numpy
import pytest

import convpool
from convpool.data import ArrayDataset, Dataset, Subset, dataset_labels, random_split, train_val_split


def _data(n=20, classes=4):
    images = numpy.arange(n, dtype=numpy.float32).reshape(n, 1, 1, 1)
    return ArrayDataset(images, numpy.arange(n) % classes)


def test_dataset_is_abstract():
    with pytest.raises(TypeError):
        Dataset()


def test_array_dataset_items_and_checks():
    data = _data()
    image, label = data[5]
    assert image.shape == (1, 1, 1) and image[0, 0, 0] == 5 and label == 1 and isinstance(label, int)
    assert data[-1][0][0, 0, 0] == 19 and len(data) == 20
    with pytest.raises(IndexError):
        data[20]
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ArrayDataset(numpy.zeros((3, 2)), numpy.zeros(3, int))
    assert ArrayDataset(numpy.zeros((3, 1, 5)), numpy.zeros(3, int))[0][0].shape == (1, 5)  # sound: (N, C, L)
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        ArrayDataset(numpy.zeros((3, 1, 2, 2)), numpy.zeros(2, int))
    with pytest.raises(ValueError, match="1-D integer"):
        ArrayDataset(numpy.zeros((3, 1, 2, 2)), numpy.zeros(3))


def test_item_transform_uses_the_library_generator():
    data = ArrayDataset(numpy.zeros((2, 1, 1, 1)), numpy.zeros(2, int),
                        transform=lambda x, rng: x + rng.random())
    convpool.manual_seed(0)
    a = data[0][0]
    convpool.manual_seed(0)
    assert data[0][0] == a and a.shape == (1, 1, 1)


def test_subset():
    data = _data()
    sub = Subset(data, [3, 1, 7])
    assert len(sub) == 3 and [sub[i][1] for i in range(3)] == [3, 1, 3] and sub[-1][0][0, 0, 0] == 7
    with pytest.raises(IndexError):
        Subset(data, [0, 20])
    with pytest.raises(IndexError):
        sub[3]
    assert len(Subset(data, [])) == 0
    numpy.testing.assert_array_equal(dataset_labels(Subset(sub, [2, 0])), [3, 3])


def test_random_split_by_counts_and_fractions():
    data = _data(10)
    a, b = random_split(data, [7, 3], seed=0)
    assert (len(a), len(b)) == (7, 3)
    assert sorted(a.indices.tolist() + b.indices.tolist()) == list(range(10))
    a2, _ = random_split(data, [7, 3], seed=0)
    numpy.testing.assert_array_equal(a.indices, a2.indices)
    assert not numpy.array_equal(random_split(data, [7, 3], seed=1)[0].indices, a.indices)
    assert [len(s) for s in random_split(data, [0.5, 0.3, 0.2], seed=0)] == [5, 3, 2]
    assert [len(s) for s in random_split(_data(11), [0.5, 0.5], seed=0)] == [6, 5]  # remainder to the first
    with pytest.raises(ValueError, match="sum to 10"):
        random_split(data, [5, 4])
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(data, [0.5, 0.4])


def test_train_val_split_plain():
    data = _data(50)
    train, val = train_val_split(data, 0.2, seed=3)
    assert (len(train), len(val)) == (40, 10)
    assert not set(train.indices) & set(val.indices)
    assert numpy.all(numpy.diff(train.indices) > 0)  # sorted
    numpy.testing.assert_array_equal(train_val_split(data, 0.2, seed=3)[1].indices, val.indices)
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(data, 1.0)


def test_train_val_split_stratified_keeps_class_shares():
    labels = numpy.repeat([0, 1, 2], [60, 30, 10])
    data = ArrayDataset(numpy.zeros((100, 1, 1, 1)), labels)
    train, val = train_val_split(data, 0.1, seed=0, stratify=True)
    assert numpy.bincount(dataset_labels(val)).tolist() == [6, 3, 1]
    assert numpy.bincount(dataset_labels(train)).tolist() == [54, 27, 9]
    # uneven shares: the total is still round(N * fraction)
    labels = numpy.repeat([0, 1, 2], [5, 5, 5])
    _, val = train_val_split(ArrayDataset(numpy.zeros((15, 1, 1, 1)), labels), 0.2, seed=1, stratify=True)
    assert len(val) == 3 and sorted(numpy.bincount(dataset_labels(val)).tolist()) == [1, 1, 1]
    _, val = train_val_split(ArrayDataset(numpy.zeros((15, 1, 1, 1)), labels), 0.3, seed=1, stratify=True)
    assert len(val) == 4 and sorted(numpy.bincount(dataset_labels(val), minlength=3).tolist()) == [1, 1, 2]
