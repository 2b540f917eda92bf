"""DataLoader: batch sizes, seeded order per epoch, resumable epochs, and the prefetch thread
(runs ahead, hands exceptions over, and stops when its iterator is dropped)."""

import gc
import threading

import numpy
import pytest

import convpool
from convpool.data import ArrayDataset, Compose, DataLoader, Dataset, RandomCrop, RandomHorizontalFlip, Subset, ToFloat

WAIT = 10.0  # seconds; only ever reached when something is broken


def _indexed(n, dtype=numpy.float32):
    """Image i is filled with i, label i % 10: a batch tells which items it holds."""
    images = numpy.broadcast_to(numpy.arange(n, dtype=dtype)[:, None, None, None], (n, 1, 2, 2)).copy()
    return ArrayDataset(images, numpy.arange(n) % 10)


def _ids(images):
    return images.numpy()[:, 0, 0, 0].astype(int).tolist()


def _epoch(loader):
    return [(x.numpy().copy(), y.numpy().copy()) for x, y in loader]


def _loader_threads():
    return {t for t in threading.enumerate() if t.name.startswith("convpool-loader")}


def _assert_no_new_threads(before):
    for t in _loader_threads() - before:
        t.join(WAIT)
        assert not t.is_alive(), f"{t.name} still running"


@pytest.mark.parametrize("prefetch", [0, 1, 2])
def test_batch_sizes_and_drop_last(prefetch):
    data = _indexed(10)
    sizes = [len(y) for _, y in DataLoader(data, batch_size=4, prefetch=prefetch)]
    assert sizes == [4, 4, 2] and len(DataLoader(data, batch_size=4)) == 3
    loader = DataLoader(data, batch_size=4, drop_last=True, prefetch=prefetch)
    assert [len(y) for _, y in loader] == [4, 4] and len(loader) == 2
    assert len(DataLoader(data, batch_size=10, drop_last=True)) == 1
    assert len(DataLoader(data, batch_size=11, drop_last=True)) == 0
    assert list(DataLoader(data, batch_size=11, drop_last=True, prefetch=prefetch)) == []
    assert list(DataLoader(_indexed(0), batch_size=3, prefetch=prefetch)) == []


def test_unshuffled_order_and_dtypes():
    x, y = next(iter(DataLoader(_indexed(7), batch_size=5)))
    assert _ids(x) == [0, 1, 2, 3, 4] and y.tolist() == [0, 1, 2, 3, 4]
    assert x.dtype == numpy.float32 and y.dtype == numpy.int64 and x.shape == (5, 1, 2, 2)
    assert not x.requires_grad


def test_uint8_images_come_out_scaled_to_unit_range():
    data = ArrayDataset(numpy.array([0, 255, 51], numpy.uint8).reshape(3, 1, 1, 1), numpy.zeros(3, numpy.uint8))
    x, y = next(iter(DataLoader(data, batch_size=3)))
    numpy.testing.assert_allclose(x.numpy().ravel(), [0.0, 1.0, 0.2], rtol=1e-6)
    assert y.dtype == numpy.int64


def test_seeded_shuffle_is_reproducible_and_new_each_epoch():
    data = _indexed(50)
    a, b = DataLoader(data, 8, shuffle=True, seed=1), DataLoader(data, 8, shuffle=True, seed=1)
    epochs_a = [[i for x, _ in a for i in _ids(x)] for _ in range(3)]
    epochs_b = [[i for x, _ in b for i in _ids(x)] for _ in range(3)]
    assert epochs_a == epochs_b
    assert len({tuple(e) for e in epochs_a}) == 3  # a new order each epoch
    for order in epochs_a:  # every item exactly once per epoch
        assert sorted(order) == list(range(50))
    other = [i for x, _ in DataLoader(data, 8, shuffle=True, seed=2) for i in _ids(x)]
    assert other != epochs_a[0]


def test_drop_last_shuffled_serves_distinct_items():
    order = [i for x, _ in DataLoader(_indexed(50), 8, shuffle=True, seed=0, drop_last=True) for i in _ids(x)]
    assert len(order) == 48 and len(set(order)) == 48


def test_set_epoch_reproduces_an_epoch_with_its_augmentation():
    rng = numpy.random.default_rng(0)
    data = ArrayDataset(rng.integers(0, 256, (30, 1, 6, 6), dtype=numpy.uint8), rng.integers(0, 10, 30))
    augment = Compose([RandomCrop(6, padding=2), RandomHorizontalFlip()])
    first = DataLoader(data, 7, shuffle=True, seed=5, transform=augment)
    epochs = [_epoch(first) for _ in range(3)]
    assert first.epoch == 3
    resumed = DataLoader(data, 7, shuffle=True, seed=5, transform=augment)
    resumed.set_epoch(2)
    for (xa, ya), (xb, yb) in zip(epochs[2], _epoch(resumed), strict=True):
        numpy.testing.assert_array_equal(xa, xb)
        numpy.testing.assert_array_equal(ya, yb)
    assert not numpy.array_equal(epochs[0][0][0], epochs[1][0][0])
    # the same through a checkpoint's state
    again = DataLoader(data, 7, shuffle=True, transform=augment)
    first.set_epoch(1)
    again.load_state_dict(first.state_dict())
    assert again.state_dict() == {"seed": 5, "epoch": 1}
    numpy.testing.assert_array_equal(_epoch(again)[0][0], epochs[1][0][0])


def test_prefetch_does_not_change_the_batches():
    rng = numpy.random.default_rng(1)
    data = ArrayDataset(rng.integers(0, 256, (40, 3, 5, 5), dtype=numpy.uint8), rng.integers(0, 10, 40))
    augment = Compose([RandomCrop(4, padding=1), RandomHorizontalFlip(), ToFloat()])
    batches = [_epoch(DataLoader(data, 6, shuffle=True, seed=9, transform=augment, prefetch=p)) for p in (0, 1, 3)]
    for other in batches[1:]:
        for (xa, ya), (xb, yb) in zip(batches[0], other, strict=True):
            numpy.testing.assert_array_equal(xa, xb)
            numpy.testing.assert_array_equal(ya, yb)


def test_seed_none_follows_manual_seed():
    data = _indexed(20)
    convpool.manual_seed(4)
    a = [i for x, _ in DataLoader(data, 5, shuffle=True) for i in _ids(x)]
    convpool.manual_seed(4)
    loader = DataLoader(data, 5, shuffle=True)
    assert [i for x, _ in loader for i in _ids(x)] == a
    assert isinstance(loader.seed, int)


class _ListDataset(Dataset):
    """Not array-backed: the loader calls __getitem__ per item."""

    def __init__(self, images, labels, fail_at=None):
        self.images, self.labels, self.fail_at = images, labels, fail_at

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        if i == self.fail_at:
            raise KeyError(f"item {i} is unreadable")
        return convpool.tensor(self.images[i]), int(self.labels[i])


def test_generic_dataset_matches_the_array_fast_path():
    rng = numpy.random.default_rng(2)
    images, labels = rng.integers(0, 256, (17, 1, 4, 4), dtype=numpy.uint8), rng.integers(0, 10, 17)
    augment = Compose([RandomCrop(4, padding=1), RandomHorizontalFlip()])
    fast = _epoch(DataLoader(ArrayDataset(images, labels), 5, shuffle=True, seed=3, transform=augment))
    slow = _epoch(DataLoader(_ListDataset(images, labels), 5, shuffle=True, seed=3, transform=augment))
    for (xa, ya), (xb, yb) in zip(fast, slow, strict=True):
        numpy.testing.assert_array_equal(xa, xb)
        numpy.testing.assert_array_equal(ya, yb)


def test_subsets_use_their_indices_and_the_dataset_transform():
    data = _indexed(20)
    sub = Subset(Subset(data, numpy.arange(10, 20)), [0, 2, 4])
    (x, y), = list(DataLoader(sub, 3))
    assert _ids(x) == [10, 12, 14] and y.tolist() == [0, 2, 4]
    doubled = data.with_transform(lambda images, rng: images * 2)
    (x, _), = list(DataLoader(Subset(doubled, [3, 4]), 2))
    assert _ids(x) == [6, 8]
    assert doubled.images is data.images  # shared, not copied


def test_batches_are_prepared_on_the_worker_thread():
    names = []

    def record(images, rng):
        names.append(threading.current_thread().name)
        return images

    list(DataLoader(_indexed(12), 4, transform=record))
    assert len(names) == 3 and all(n.startswith("convpool-loader") for n in names)
    names.clear()
    list(DataLoader(_indexed(12), 4, transform=record, prefetch=0))
    assert names == ["MainThread"] * 3 or all(n == threading.current_thread().name for n in names)


def test_next_batch_is_made_while_the_current_one_is_in_use():
    """Batch 1's transform starts while the caller holds batch 0 and has not asked for more."""
    making = [threading.Event() for _ in range(3)]
    release = threading.Event()

    def slow(images, rng):
        b = int(images[0, 0, 0, 0]) // 2
        making[b].set()
        if b == 1:
            release.wait(WAIT)  # the caller is "training" on batch 0 meanwhile
        return images

    before = _loader_threads()
    it = iter(DataLoader(_indexed(6), 2, transform=slow))
    x0, _ = next(it)
    assert _ids(x0) == [0, 1]
    assert making[1].wait(WAIT), "batch 1 was not started in the background"
    release.set()
    assert [_ids(x) for x, _ in it] == [[2, 3], [4, 5]]
    _assert_no_new_threads(before)


@pytest.mark.parametrize("prefetch", [0, 1])
def test_worker_exception_surfaces_in_the_caller(prefetch):
    def failing(images, rng):
        if images[0, 0, 0, 0] == 4:
            raise ValueError("bad augmentation")
        return images

    before = _loader_threads()
    it = iter(DataLoader(_indexed(10), 2, transform=failing, prefetch=prefetch))
    assert _ids(next(it)[0]) == [0, 1] and _ids(next(it)[0]) == [2, 3]
    with pytest.raises(ValueError, match="bad augmentation") as info:
        next(it)
    if prefetch:
        assert any("worker thread" in note for note in getattr(info.value, "__notes__", []))
    with pytest.raises(StopIteration):
        next(it)
    _assert_no_new_threads(before)


def test_dataset_exception_surfaces_too():
    before = _loader_threads()
    data = _ListDataset(numpy.zeros((6, 1, 1, 1), numpy.float32), numpy.zeros(6, int), fail_at=3)
    with pytest.raises(KeyError, match="item 3 is unreadable"):
        for _ in DataLoader(data, 2):
            pass
    _assert_no_new_threads(before)


def test_abandoned_iterator_stops_its_thread():
    before = _loader_threads()
    loader = DataLoader(_indexed(100), 2, prefetch=2)
    for x, _ in loader:
        if _ids(x) == [4, 5]:
            break  # the loop's iterator is dropped here, its worker blocked on a full queue
    gc.collect()
    _assert_no_new_threads(before)
    it = iter(loader)
    next(it)
    (worker,) = _loader_threads() - before
    del it  # no gc needed: the thread holds no reference to its iterator
    worker.join(WAIT)
    assert not worker.is_alive()
    gc.collect()
    _assert_no_new_threads(before)


def test_close_and_with_block_stop_the_thread():
    before = _loader_threads()
    with iter(DataLoader(_indexed(100), 2)) as it:
        next(it)
        assert len(it) == 49
    _assert_no_new_threads(before)
    assert list(it) == []
    it = iter(DataLoader(_indexed(100), 2))
    it.close()
    it.close()
    _assert_no_new_threads(before)


def test_argument_checks():
    data = _indexed(4)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="batch_size"):
            DataLoader(data, batch_size=bad)
    with pytest.raises(ValueError, match="seed"):
        DataLoader(data, seed=-1)
    with pytest.raises(ValueError, match="prefetch"):
        DataLoader(data, prefetch=-1)
    with pytest.raises(ValueError, match="epoch"):
        DataLoader(data).set_epoch(-2)
