"""convpool.utils.data against torch.utils.data: default_collate / default_convert on every
kind of sample (types, dtypes, shapes, values), batch contents of DataLoaders without
shuffling (TensorDataset, ArrayDataset, ConcatDataset, Subset, samplers, batch_size=None),
random_split partitions, seeded shuffles, and worker processes: they really run (pids,
overlapping work), batches equal the single-process ones, seeds repeat, errors surface
naming the worker and the index, dead and slow workers are reported, and shutdown is clean."""

from __future__ import annotations

import collections
import gc
import os
import random
import time

import numpy
import pytest
from reference import needs_torch, torch

import convpool
from convpool import backend
from convpool.data import ArrayDataset
from convpool.data.collate import default_collate_fn_map
from convpool.utils import data as D

# ----- comparing results with torch's ---------------------------------------------------------------


def _dtype_name(t) -> str:
    return str(t.dtype).replace("torch.", "")


def assert_same(ours, theirs, path="batch"):
    """Same structure, container types, tensor dtypes, shapes and values."""
    if torch is not None and isinstance(theirs, torch.Tensor):
        assert isinstance(ours, convpool.Tensor), f"{path}: {type(ours).__name__}, torch has a Tensor"
        assert ours.shape == tuple(theirs.shape), f"{path}: shape {ours.shape} vs {tuple(theirs.shape)}"
        assert str(ours.dtype) == _dtype_name(theirs), f"{path}: dtype {ours.dtype} vs {theirs.dtype}"
        numpy.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=path)
        return
    if isinstance(theirs, convpool.Tensor):
        assert isinstance(ours, convpool.Tensor), f"{path}: {type(ours).__name__}, expected a Tensor"
        assert (ours.shape, ours.dtype) == (theirs.shape, theirs.dtype), f"{path}: shape or dtype"
        numpy.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=path)
        return
    assert type(ours) is type(theirs), f"{path}: {type(ours).__name__} vs {type(theirs).__name__}"
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs), f"{path}: keys"
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{path}[{key!r}]")
    elif isinstance(theirs, list | tuple):
        assert len(ours) == len(theirs), f"{path}: length"
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(theirs, numpy.ndarray):
        numpy.testing.assert_array_equal(ours, theirs, err_msg=path)
    else:
        assert ours == theirs, path


Point = collections.namedtuple("Point", ["x", "y"])


class Record(dict):
    """A dict subclass: collate keeps the type."""


def _samples(lib, case: str) -> list:
    """Four samples of one kind; tensors are made with lib (convpool or torch)."""
    rng = numpy.random.default_rng(0)
    arrays = [rng.standard_normal((2, 3)) for _ in range(4)]
    images = [rng.integers(0, 256, (1, 4, 4), dtype=numpy.uint8) for _ in range(4)]
    tensor = (lambda a: convpool.tensor(a)) if lib is convpool else (lambda a: torch.tensor(a))
    cases = {
        "tensors-float64": [tensor(a) for a in arrays],
        "tensors-float32": [tensor(a.astype(numpy.float32)) for a in arrays],
        "tensors-int64": [tensor(numpy.arange(3) + i) for i in range(4)],
        "tensors-0d": [tensor(numpy.float64(i)) for i in range(4)],
        "arrays-uint8": images,
        "arrays-int16": [a.astype(numpy.int16) for a in arrays],
        "arrays-bool": [a > 0 for a in arrays],
        "arrays-float32": [a.astype(numpy.float32) for a in arrays],
        "numpy-float32-scalars": [numpy.float32(i / 3) for i in range(4)],
        "numpy-int32-scalars": [numpy.int32(i) for i in range(4)],
        "numpy-bool-scalars": [numpy.bool_(i % 2) for i in range(4)],
        "floats": [0.5, 1.25, -3.0, 1e-3],
        "ints": [0, 7, -2, 2**40],
        "bools": [True, False, True, True],
        "strings": ["a", "bb", "c", "d"],
        "bytes": [b"a", b"b", b"c", b"d"],
        "image-label": [(img, i) for i, img in enumerate(images)],
        "tensor-pairs": [(tensor(a), tensor(numpy.int64(i))) for i, a in enumerate(arrays)],
        "dicts": [{"image": img, "label": i, "name": f"n{i}", "weight": 0.5 * i} for i, img in enumerate(images)],
        "dict-subclass": [Record(x=a, y=float(i)) for i, a in enumerate(arrays)],
        "namedtuples": [Point(tensor(a), i) for i, a in enumerate(arrays)],
        "lists": [[a, i, [i, 2.0]] for i, a in enumerate(arrays)],
        "nested": [{"pair": (img, [i, i + 1]), "meta": {"id": i, "p": Point(i, 1.5)}} for i, img in enumerate(images)],
    }
    return cases[case]


CASES = ["tensors-float64", "tensors-float32", "tensors-int64", "tensors-0d", "arrays-uint8", "arrays-int16",
         "arrays-bool", "arrays-float32", "numpy-float32-scalars", "numpy-int32-scalars", "numpy-bool-scalars",
         "floats", "ints", "bools", "strings", "bytes", "image-label", "tensor-pairs", "dicts", "dict-subclass",
         "namedtuples", "lists", "nested"]


@needs_torch
@pytest.mark.parametrize("case", CASES)
def test_default_collate_matches_torch(case):
    ours = D.default_collate(_samples(convpool, case))
    theirs = torch.utils.data.default_collate(_samples(torch, case))
    assert_same(ours, theirs)


@needs_torch
@pytest.mark.parametrize("case", CASES)
def test_default_convert_matches_torch(case):
    for ours_sample, theirs_sample in zip(_samples(convpool, case), _samples(torch, case), strict=True):
        assert_same(D.default_convert(ours_sample), torch.utils.data.default_convert(theirs_sample))


def test_uint8_is_not_rescaled():
    images = numpy.arange(2 * 1 * 2 * 2, dtype=numpy.uint8).reshape(2, 1, 2, 2) * 60
    batch = D.default_collate([images[0], images[1]])
    assert batch.dtype == numpy.uint8
    numpy.testing.assert_array_equal(batch.numpy(), images)


@needs_torch
@pytest.mark.parametrize("samples,error", [
    ([numpy.zeros(3), numpy.zeros(4)], RuntimeError),   # shapes differ
    ([(1, 2), (1, 2, 3)], RuntimeError),                 # sequence lengths differ
    ([numpy.array(["a"]), numpy.array(["b"])], TypeError),
    ([object(), object()], TypeError),
])
def test_collate_errors_like_torch(samples, error):
    with pytest.raises(error):
        torch.utils.data.default_collate(samples)
    with pytest.raises(error, match="default_collate"):
        D.default_collate(samples)


def test_collate_tensors_keep_autograd():
    w = convpool.tensor(numpy.ones(3), requires_grad=True)
    batch = D.default_collate([w * 2, w * 3])
    batch.sum().backward()
    numpy.testing.assert_array_equal(w.grad.numpy(), [5.0, 5.0, 5.0])


def test_collate_fn_map_extends_collate():
    class Box:
        def __init__(self, v):
            self.v = v

    def collate_box(batch, *, collate_fn_map=None):
        return sum(b.v for b in batch)

    out = D.collate([(Box(1), 2.0), (Box(5), 3.0)],
                    collate_fn_map={Box: collate_box, **default_collate_fn_map})
    assert out[0] == 6 and out[1].dtype == numpy.float64


# ----- datasets ---------------------------------------------------------------------------------------


def test_tensor_dataset_items_are_tensors():
    x = convpool.tensor(numpy.arange(12.0).reshape(6, 2))
    y = convpool.tensor(numpy.array([3, 1, 4, 1, 5, 9]))
    ds = D.TensorDataset(x, y)
    assert len(ds) == 6
    image, label = ds[2]
    assert isinstance(label, convpool.Tensor) and label.item() == 4 and isinstance(label.item(), int)
    numpy.testing.assert_array_equal(image.numpy(), [4.0, 5.0])
    assert ds[-1][1].item() == 9
    with pytest.raises(IndexError, match="index 6 is out of range for a dataset of 6 items"):
        ds[6]
    with pytest.raises(ValueError, match=r"size mismatch between tensors, first dimensions \[6, 5\]"):
        D.TensorDataset(x, y[:5])


@needs_torch
def test_concat_dataset_matches_torch():
    a = ArrayDataset(numpy.arange(5 * 4, dtype=numpy.uint8).reshape(5, 1, 2, 2), numpy.arange(5))
    b = ArrayDataset(numpy.arange(3 * 4, dtype=numpy.uint8).reshape(3, 1, 2, 2) + 100, numpy.arange(3) + 10)
    ours, theirs = D.ConcatDataset([a, b]), torch.utils.data.ConcatDataset([a, b])
    assert len(ours) == len(theirs) == 8 and ours.cumulative_sizes == theirs.cumulative_sizes
    for i in range(-8, 8):
        image, label = ours[i]
        t_image, t_label = theirs[i]
        numpy.testing.assert_array_equal(image, t_image)
        assert label == t_label
    assert len(a + b) == 8 and (a + b)[6][1] == 11
    with pytest.raises(IndexError):
        ours[8]
    with pytest.raises(ValueError, match="should not be an empty iterable"):
        D.ConcatDataset([])


@needs_torch
@pytest.mark.parametrize("lengths", [[7, 3, 0], [0.5, 0.3, 0.2], [0.34, 0.33, 0.33], [10], [0.25, 0.75]])
def test_random_split_is_a_partition_of_torchs_lengths(lengths):
    ds = D.TensorDataset(convpool.tensor(numpy.arange(10)))
    parts = D.random_split(ds, lengths, generator=numpy.random.default_rng(3))
    tparts = torch.utils.data.random_split(range(10), lengths, generator=torch.Generator().manual_seed(3))
    assert [len(p) for p in parts] == [len(p) for p in tparts]
    values = sorted(int(p[i][0].item()) for p in parts for i in range(len(p)))
    assert values == list(range(10))
    again = D.random_split(ds, lengths, generator=numpy.random.default_rng(3))
    assert [list(p.indices) for p in again] == [list(p.indices) for p in parts]


def test_random_split_seeds():
    ds = D.TensorDataset(convpool.tensor(numpy.arange(50)))
    convpool.manual_seed(11)
    first = [list(p.indices) for p in D.random_split(ds, [25, 25])]
    convpool.manual_seed(11)
    assert [list(p.indices) for p in D.random_split(ds, [25, 25])] == first
    other = [list(p.indices) for p in D.random_split(ds, [25, 25], generator=numpy.random.default_rng(12))]
    assert other != first
    with pytest.raises(ValueError, match="must be non-negative and sum to 50"):
        D.random_split(ds, [20, 20])
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator or None, got int"):
        D.random_split(ds, [25, 25], generator=5)


# ----- DataLoader batch contents against torch's --------------------------------------------------------


class Decoded:
    """A dataset whose __getitem__ works in Python, as decoding or augmenting code does:
    dict samples with an image array, a label and a name."""

    def __init__(self, n=11):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        image = (numpy.arange(6, dtype=numpy.uint8).reshape(1, 2, 3) * (i + 1)) % 251
        return {"image": image, "label": i % 3, "name": f"item{i}", "scale": i / 4}


def _tensor_dataset(lib):
    rng = numpy.random.default_rng(1)
    x, y = rng.standard_normal((13, 3, 2)), rng.integers(0, 5, 13)
    if lib is convpool:
        return D.TensorDataset(convpool.tensor(x), convpool.tensor(y))
    return torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))


LOADER_CASES = {
    "tensor-dataset": (_tensor_dataset, {"batch_size": 4}),
    "tensor-dataset-drop-last": (_tensor_dataset, {"batch_size": 4, "drop_last": True}),
    "tensor-dataset-one-batch": (_tensor_dataset, {"batch_size": 100}),
    "tensor-dataset-no-batching": (_tensor_dataset, {"batch_size": None}),
    "array-dataset-uint8": (lambda lib: ArrayDataset(
        numpy.arange(7 * 3 * 2 * 2, dtype=numpy.uint8).reshape(7, 3, 2, 2), numpy.arange(7) % 4), {"batch_size": 3}),
    "python-dataset": (lambda lib: Decoded(), {"batch_size": 4}),
    "python-dataset-sampler": (lambda lib: Decoded(), {"batch_size": 3, "sampler": [5, 1, 9, 9, 0, 2, 7]}),
    "python-dataset-batch-sampler": (lambda lib: Decoded(), {"batch_sampler": [[3, 1], [0], [10, 2, 4, 4]]}),
    "subset": (lambda lib: (D if lib is convpool else torch.utils.data).Subset(_tensor_dataset(lib), [12, 0, 5, 3, 8]),
               {"batch_size": 2}),
    "concat": (lambda lib: (D if lib is convpool else torch.utils.data).ConcatDataset(
        [_tensor_dataset(lib), _tensor_dataset(lib)]), {"batch_size": 5}),
    "custom-collate": (lambda lib: Decoded(), {"batch_size": 4,
                                               "collate_fn": lambda batch: [b["name"] for b in batch]}),
}


@needs_torch
@pytest.mark.parametrize("key", list(LOADER_CASES))
def test_loader_batches_match_torch(key):
    make, kw = LOADER_CASES[key]
    ours = list(D.DataLoader(make(convpool), **kw))
    theirs = list(torch.utils.data.DataLoader(make(torch), **kw))
    assert len(ours) == len(theirs) > 0
    assert len(D.DataLoader(make(convpool), **kw)) == len(torch.utils.data.DataLoader(make(torch), **kw))
    for b, (a, t) in enumerate(zip(ours, theirs, strict=True)):
        assert_same(a, t, f"{key} batch {b}")


@needs_torch
@pytest.mark.parametrize("key", ["tensor-dataset", "python-dataset", "array-dataset-uint8",
                                 "python-dataset-batch-sampler", "tensor-dataset-no-batching"])
def test_worker_batches_match_torch_and_single_process(key):
    make, kw = LOADER_CASES[key]
    with_workers = list(D.DataLoader(make(convpool), num_workers=2, **kw))
    single = list(D.DataLoader(make(convpool), **kw))
    theirs = list(torch.utils.data.DataLoader(make(torch), **kw))
    for b, (a, s, t) in enumerate(zip(with_workers, single, theirs, strict=True)):
        assert_same(a, t, f"{key} batch {b}")
        assert_same(a, s, f"{key} batch {b}")


def test_tensor_dataset_gather_equals_per_sample_collate():
    """The one-gather path for TensorDataset gives what collating sample by sample gives."""
    ds = _tensor_dataset(convpool)
    fast = list(D.DataLoader(ds, batch_size=4))
    slow = list(D.DataLoader(ds, batch_size=4, collate_fn=lambda batch: D.default_collate(batch)))
    for a, b in zip(fast, slow, strict=True):
        for x, y in zip(a, b, strict=True):
            assert x.dtype == y.dtype and x.shape == y.shape
            numpy.testing.assert_array_equal(x.numpy(), y.numpy())


def test_shuffle_is_a_permutation_and_repeats_with_the_seed():
    ds = D.TensorDataset(convpool.tensor(numpy.arange(30)))

    def epochs(loader, k=3):
        return [[int(v) for batch in loader for v in batch[0].numpy()] for _ in range(k)]

    runs = epochs(D.DataLoader(ds, batch_size=7, shuffle=True, generator=numpy.random.default_rng(4)))
    assert all(sorted(e) == list(range(30)) for e in runs)
    assert runs[0] != runs[1] and runs[0] != list(range(30))
    assert epochs(D.DataLoader(ds, batch_size=7, shuffle=True, generator=numpy.random.default_rng(4))) == runs
    convpool.manual_seed(8)
    seeded = epochs(D.DataLoader(ds, batch_size=7, shuffle=True))
    convpool.manual_seed(8)
    assert epochs(D.DataLoader(ds, batch_size=7, shuffle=True)) == seeded


def test_samplers():
    ds = list(range(10))
    with_replacement = list(D.RandomSampler(ds, replacement=True, num_samples=25,
                                            generator=numpy.random.default_rng(0)))
    assert len(with_replacement) == 25 and set(with_replacement) <= set(ds)
    longer = list(D.RandomSampler(ds, num_samples=23, generator=numpy.random.default_rng(0)))
    assert sorted(longer[:10]) == ds and sorted(longer[10:20]) == ds and len(longer) == 23
    subset = list(D.SubsetRandomSampler([2, 4, 6], generator=numpy.random.default_rng(0)))
    assert sorted(subset) == [2, 4, 6]
    weighted = list(D.WeightedRandomSampler([0, 1, 0, 3], 50, generator=numpy.random.default_rng(0)))
    assert set(weighted) == {1, 3} and weighted.count(3) > weighted.count(1)
    batches = D.BatchSampler(D.SequentialSampler(ds), 4, drop_last=False)
    assert list(batches) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and len(batches) == 3
    assert len(D.BatchSampler(ds, 4, drop_last=True)) == 2
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        D.BatchSampler(ds, 0, False)


@needs_torch
@pytest.mark.parametrize("kw", [
    {"shuffle": True, "sampler": [0, 1]},
    {"batch_sampler": [[0]], "batch_size": 2},
    {"batch_sampler": [[0]], "drop_last": True},
    {"batch_size": None, "drop_last": True},
    {"num_workers": -1},
    {"prefetch_factor": 2},
    {"persistent_workers": True},
    {"timeout": -1},
])
def test_loader_argument_errors_like_torch(kw):
    ds = _tensor_dataset(convpool)
    with pytest.raises(ValueError):
        torch.utils.data.DataLoader(_tensor_dataset(torch), **kw)
    with pytest.raises(ValueError, match="DataLoader: "):
        D.DataLoader(ds, **kw)


def test_loader_attributes_are_fixed_after_init():
    loader = D.DataLoader(_tensor_dataset(convpool), batch_size=4, pin_memory=True)
    assert loader.batch_size == 4 and loader.pin_memory and not loader.drop_last
    with pytest.raises(ValueError, match="batch_size should not be set after"):
        loader.batch_size = 8


# ----- worker processes ---------------------------------------------------------------------------------


class Recorder(D.Dataset):
    """Each sample says which process made it, when, and three random draws (Python's random,
    NumPy's global generator, convpool's), as an augmenting dataset would make them."""

    def __init__(self, n=16, pause=0.0):
        self.n, self.pause = n, pause

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        start = time.monotonic()
        if self.pause:
            time.sleep(self.pause)
        info = D.get_worker_info()
        return {"index": i, "pid": os.getpid(), "worker": -1 if info is None else info.id,
                "draws": numpy.array([random.random(), numpy.random.random(), convpool.rand(1).item()]),
                "start": start, "end": time.monotonic()}


def _flatten(batches):
    rows = []
    for b in batches:
        for k in range(len(b["index"])):
            rows.append({key: (b[key][k].numpy() if key == "draws" else b[key][k].item()) for key in b})
    return rows


def test_workers_are_processes_in_order_and_in_parallel():
    loader = D.DataLoader(Recorder(pause=0.15), batch_size=2, num_workers=2)
    rows = _flatten(loader)
    assert [r["index"] for r in rows] == list(range(16))
    pids = {r["pid"] for r in rows}
    assert os.getpid() not in pids and len(pids) == 2
    assert [r["worker"] for r in rows] == [(i // 2) % 2 for i in range(16)]  # batch b -> worker b % 2
    # the two workers' samples overlap in time: they really run side by side
    spans = {w: [(r["start"], r["end"]) for r in rows if r["worker"] == w] for w in (0, 1)}
    overlaps = sum(1 for a in spans[0] for b in spans[1] if a[0] < b[1] and b[0] < a[1])
    assert overlaps > 0


def test_worker_seeds_repeat_and_differ_between_workers():
    def run(seed):
        return _flatten(D.DataLoader(Recorder(n=8), batch_size=2, num_workers=2,
                                     generator=numpy.random.default_rng(seed)))

    first, again, other = run(5), run(5), run(6)
    for a, b in zip(first, again, strict=True):
        numpy.testing.assert_array_equal(a["draws"], b["draws"])
    assert not numpy.array_equal(first[0]["draws"], other[0]["draws"])
    by_worker = {r["worker"]: r["draws"] for r in first if r["index"] in (0, 2)}  # first sample of each worker
    assert not numpy.array_equal(by_worker[0], by_worker[1])


def test_worker_init_fn_and_worker_info(tmp_path):
    def init(worker_id):
        info = D.get_worker_info()
        (tmp_path / f"worker{worker_id}").write_text(f"{info.id} {info.num_workers} {info.seed} {len(info.dataset)}")

    list(D.DataLoader(Recorder(n=4), batch_size=1, num_workers=2, worker_init_fn=init,
                      generator=numpy.random.default_rng(0)))
    texts = sorted(p.read_text() for p in tmp_path.iterdir())
    assert [t.split()[0] for t in texts] == ["0", "1"] and all(t.split()[1:2] == ["2"] for t in texts)
    seeds = [int(t.split()[2]) for t in texts]
    assert seeds[1] == seeds[0] + 1 and all(t.endswith(" 4") for t in texts)
    assert D.get_worker_info() is None


class Failing(D.Dataset):
    def __init__(self, bad, how="value"):
        self.bad, self.how = bad, how

    def __len__(self):
        return 12

    def __getitem__(self, i):
        if i == self.bad:
            if self.how == "value":
                raise ValueError(f"cannot decode sample {i}")
            if self.how == "exit":
                os._exit(3)
            if self.how == "slow":
                time.sleep(1.5)
        return numpy.full(2, i)


def test_worker_error_names_worker_and_index():
    loader = D.DataLoader(Failing(bad=5), batch_size=2, num_workers=2)
    iterator = iter(loader)
    first = next(iterator)
    numpy.testing.assert_array_equal(first.numpy(), [[0, 0], [1, 1]])
    with pytest.raises(ValueError) as caught:
        list(iterator)
    message = str(caught.value)
    assert "Caught ValueError in DataLoader worker process 0" in message  # batch 2 -> worker 0
    assert "dataset[5]" in message and "for batch 2" in message and "cannot decode sample 5" in message
    assert "Original Traceback" in message and "__getitem__" in message
    assert all(not w.is_alive() for w in iterator._workers)


def test_single_process_error_names_the_index():
    with pytest.raises(ValueError, match="cannot decode sample 5") as caught:
        list(D.DataLoader(Failing(bad=5), batch_size=4))
    assert any("dataset[5]" in note for note in caught.value.__notes__)


def test_worker_init_fn_error_surfaces():
    def init(worker_id):
        raise KeyError(f"no config for worker {worker_id}")

    with pytest.raises(KeyError, match=r"worker_init_fn\(\d\)") as caught:
        list(D.DataLoader(Recorder(n=4), batch_size=1, num_workers=2, worker_init_fn=init))
    assert "\nOriginal Traceback" in str(caught.value)  # lines, not a repr with \n in it


def test_unpicklable_exception_becomes_runtime_error():
    class LocalError(Exception):
        pass

    class Raising(Failing):
        def __getitem__(self, i):
            raise LocalError("local failure")

    with pytest.raises(RuntimeError, match="(?s)Caught LocalError in DataLoader worker process 0.*local failure"):
        list(D.DataLoader(Raising(bad=0), batch_size=2, num_workers=1))


def test_dead_worker_is_reported():
    with pytest.raises(RuntimeError, match=r"DataLoader worker 1 \(pid \d+\) exited unexpectedly with exit code 3"):
        list(D.DataLoader(Failing(bad=2, how="exit"), batch_size=2, num_workers=2))


def test_timeout():
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.5 seconds waiting for batch 0"):
        list(D.DataLoader(Failing(bad=0, how="slow"), batch_size=2, num_workers=1, timeout=0.5))
    assert time.monotonic() - started < 10


def test_workers_stop_when_the_iterator_is_dropped():
    """A `break` out of the loop: the workers finish the batch in hand, drop the ones queued
    (4 per worker here, 4 s of work each) and exit."""
    iterator = iter(D.DataLoader(Recorder(n=64, pause=0.5), batch_size=2, num_workers=2, prefetch_factor=4))
    next(iterator)
    workers = list(iterator._workers)
    assert all(w.is_alive() for w in workers)
    started = time.monotonic()
    del iterator
    gc.collect()
    deadline = time.monotonic() + 10
    while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(w.is_alive() for w in workers)
    assert time.monotonic() - started < 3.0, "the workers worked off their queues before stopping"
    assert all(w.exitcode == 0 for w in workers), "a worker had to be terminated"


def test_persistent_workers_keep_their_processes():
    loader = D.DataLoader(Recorder(n=6), batch_size=2, num_workers=2, persistent_workers=True)
    first = _flatten(loader)
    partial = iter(loader)
    next(partial)  # an epoch left early: its pending batches are dropped
    second = _flatten(loader)
    assert [r["index"] for r in first] == [r["index"] for r in second] == list(range(6))
    assert {r["pid"] for r in first} == {r["pid"] for r in second}
    assert all(w.is_alive() for w in loader._iterator._workers)
    loader._iterator.close()
    assert not any(w.is_alive() for w in loader._iterator._workers)


def test_out_of_order_gives_every_batch():
    rows = _flatten(D.DataLoader(Recorder(n=10), batch_size=2, num_workers=2, in_order=False, prefetch_factor=3))
    assert sorted(r["index"] for r in rows) == list(range(10))


def test_spawn_start_method():
    """With "spawn" the dataset travels pickled to fresh interpreters (a convpool dataset
    here, so the children import convpool only, not this test module and torch)."""
    images = numpy.arange(5 * 4, dtype=numpy.uint8).reshape(5, 1, 2, 2)
    dataset = D.Subset(ArrayDataset(images, numpy.arange(5)), [4, 3, 2, 1, 0])
    loader = D.DataLoader(dataset, batch_size=2, num_workers=2, multiprocessing_context="spawn")
    batches = list(loader)
    numpy.testing.assert_array_equal(numpy.concatenate([b[0].numpy() for b in batches]), images[::-1])
    assert [int(v) for b in batches for v in b[1].numpy()] == [4, 3, 2, 1, 0]
    with pytest.raises(ValueError, match="multiprocessing_context must be one of"):
        D.DataLoader(Decoded(5), num_workers=1, multiprocessing_context="threads")


class UsesThreads(D.Dataset):
    """__getitem__ runs convpool's threaded element-wise helper, as a convpool transform would."""

    def __len__(self):
        return 6

    def __getitem__(self, i):
        out = numpy.zeros(1 << 17)

        def fill(start, stop):
            out[start:stop] = i

        backend.parallel_for(len(out), fill, elements=len(out))
        return out[:2].copy()


def test_forked_workers_do_not_wait_on_the_parents_thread_pool():
    backend.parallel_for(1 << 17, lambda start, stop: None, elements=1 << 17)  # the parent's pool exists now
    loader = D.DataLoader(UsesThreads(), batch_size=2, num_workers=2, timeout=30)
    values = numpy.concatenate([b.numpy() for b in loader])
    numpy.testing.assert_array_equal(values, numpy.repeat(numpy.arange(6.0), 2).reshape(6, 2))


# ----- iterable datasets --------------------------------------------------------------------------------


def _stream_class(base, worker_info):
    class Stream(base):
        """Samples 0..n-1 as (array, int) pairs; sharded between workers unevenly when asked
        (worker 0 takes indices below 7, the others share the rest)."""

        def __init__(self, n=10, shard=False):
            self.n, self.shard = n, shard

        def __iter__(self):
            info = worker_info()
            indices = range(self.n)
            if self.shard and info is not None:
                mine = [i for i in indices if i < 7] if info.id == 0 else [i for i in indices if i >= 7]
                indices = mine
            for i in indices:
                yield numpy.full(2, i, numpy.int16), i

        def __len__(self):
            return self.n

    return Stream


@needs_torch
@pytest.mark.parametrize("kw", [{"batch_size": 4}, {"batch_size": 4, "drop_last": True}, {"batch_size": None},
                                {"batch_size": 3, "num_workers": 2},
                                {"batch_size": 3, "num_workers": 2, "shard": True},
                                {"batch_size": 2, "num_workers": 2, "shard": True, "drop_last": True},
                                {"batch_size": None, "num_workers": 2, "shard": True}],
                         ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_iterable_dataset_matches_torch(kw):
    kw = dict(kw)
    shard = kw.pop("shard", False)
    ours_ds = _stream_class(D.IterableDataset, D.get_worker_info)(shard=shard)
    theirs_ds = _stream_class(torch.utils.data.IterableDataset, torch.utils.data.get_worker_info)(shard=shard)
    ours = list(D.DataLoader(ours_ds, **kw))
    theirs = list(torch.utils.data.DataLoader(theirs_ds, **kw))
    assert len(ours) == len(theirs) > 0
    for b, (a, t) in enumerate(zip(ours, theirs, strict=True)):
        assert_same(a, t, f"batch {b}")
    assert len(D.DataLoader(ours_ds, **kw)) == len(torch.utils.data.DataLoader(theirs_ds, **kw))


def test_iterable_dataset_errors():
    stream = _stream_class(D.IterableDataset, D.get_worker_info)()
    with pytest.raises(ValueError, match="IterableDataset: expected no shuffle, got shuffle=True"):
        D.DataLoader(stream, shuffle=True)
    with pytest.raises(ValueError, match="expected no sampler"):
        D.DataLoader(stream, sampler=[0, 1])

    class Broken(D.IterableDataset):
        def __iter__(self):
            yield numpy.zeros(2)
            raise OSError("truncated file")

    with pytest.raises(OSError, match="(?s)worker process 0.*sample 1 of the iterable dataset.*truncated file"):
        list(D.DataLoader(Broken(), batch_size=1, num_workers=1))
    chained = D.ChainDataset([stream, stream])
    assert len(list(D.DataLoader(chained, batch_size=5))) == 4
