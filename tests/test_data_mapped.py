"""Memory-mapped sources (raw IDX of bytes, one-file CIFAR binary batches, the image-folder
and CIFAR caches) give exactly the arrays a whole read gives, stay mapped through ArrayDataset
and the loader, and keep every size check; formats that cannot be mapped are read as before."""

import hashlib
import json
import warnings

import numpy
import pytest
from test_data_cifar import make_cifar, make_tar
from test_data_image_folder import make_folder

from convpool.data import ArrayDataset, DataLoader, load_cifar, load_image_folder, read_idx, write_idx
from convpool.data.dataset import Subset, is_mapped
from convpool.data.idx import load_idx_pair
from convpool.data.sources import open_split
from convpool.data.stats import channel_stats


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    """Every decoded cache these tests build goes under tmp_path, never the real one."""
    monkeypatch.setenv("CONVPOOL_CACHE", str(tmp_path / "convpool-cache"))


def _whole(path):
    return read_idx(path, mmap=False)


def test_raw_idx_of_bytes_is_mapped_and_equal(tmp_path):
    images = numpy.random.default_rng(0).integers(0, 256, (7, 5, 4), dtype=numpy.uint8)
    write_idx(tmp_path / "images", images)
    mapped = read_idx(tmp_path / "images", mmap=True)
    assert is_mapped(mapped) and not is_mapped(_whole(tmp_path / "images"))
    assert mapped.dtype == numpy.uint8 and mapped.shape == images.shape
    numpy.testing.assert_array_equal(mapped, images)
    assert not mapped.flags.writeable  # the file can never be written through it


@pytest.mark.parametrize("name,array", [
    ("images.gz", numpy.arange(60, dtype=numpy.uint8).reshape(3, 4, 5)),  # gzip: decompressed, read whole
    ("floats", numpy.linspace(-1, 1, 24, dtype=numpy.float32).reshape(2, 3, 4)),  # big-endian on disk
    ("shorts", numpy.arange(-6, 6, dtype=numpy.int16).reshape(3, 4)),
])
def test_idx_that_cannot_be_mapped_is_read_whole(tmp_path, name, array):
    write_idx(tmp_path / name, array)
    read = read_idx(tmp_path / name, mmap=True)
    assert not is_mapped(read) and read.flags.writeable
    assert read.dtype == array.dtype.newbyteorder("=")
    numpy.testing.assert_array_equal(read, array)


def test_mapped_idx_keeps_the_size_checks(tmp_path):
    write_idx(tmp_path / "images", numpy.zeros((4, 3, 3), numpy.uint8))
    data = (tmp_path / "images").read_bytes()
    (tmp_path / "short").write_bytes(data[:-1])
    with pytest.raises(ValueError, match=r"short: truncated IDX data: .*shape \(4, 3, 3\)"):
        read_idx(tmp_path / "short", mmap=True)
    (tmp_path / "long").write_bytes(data + b"\0")
    with pytest.raises(ValueError, match=r"long: size mismatch: more data than the header's shape \(4, 3, 3\)"):
        read_idx(tmp_path / "long", mmap=True)
    huge = bytes([0, 0, 8, 3]) + (10**4).to_bytes(4, "big") * 3 + b"\0" * 100
    (tmp_path / "huge").write_bytes(huge)  # a header declaring 10^12 bytes behind 100
    with pytest.raises(ValueError, match=r"huge: truncated IDX data"):
        read_idx(tmp_path / "huge", mmap=True)


def test_idx_folder_source_maps_its_images_and_reads_its_labels(tmp_path):
    rng = numpy.random.default_rng(1)
    images = rng.integers(0, 256, (9, 6, 6), dtype=numpy.uint8)
    labels = (numpy.arange(9) % 3).astype(numpy.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels)
    mapped, read_labels = load_idx_pair(tmp_path / "train-images-idx3-ubyte", tmp_path / "train-labels-idx1-ubyte")
    assert is_mapped(mapped) and not is_mapped(read_labels)
    dataset = open_split(str(tmp_path), "train")
    assert is_mapped(dataset.images) and dataset.images.shape == (9, 1, 6, 6)
    numpy.testing.assert_array_equal(dataset.images[:, 0], images)
    numpy.testing.assert_array_equal(dataset.labels, labels)


def test_idx_folder_prefers_the_raw_file_to_its_gzip(tmp_path):
    images = numpy.random.default_rng(3).integers(0, 256, (4, 5, 5), dtype=numpy.uint8)
    for suffix in ("", ".gz"):
        write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", images)
        write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", numpy.arange(4, dtype=numpy.uint8) % 2)
    dataset = open_split(str(tmp_path), "train")
    assert is_mapped(dataset.images)
    numpy.testing.assert_array_equal(dataset.images[:, 0], images)
    (tmp_path / "train-images-idx3-ubyte").unlink()
    alone = open_split(str(tmp_path), "train")  # the gzip alone: read whole, the same
    assert not is_mapped(alone.images)
    numpy.testing.assert_array_equal(alone.images, dataset.images)


def test_array_dataset_and_loader_keep_a_mapped_array_mapped(tmp_path):
    images = numpy.random.default_rng(2).integers(0, 256, (10, 1, 4, 4), dtype=numpy.uint8)
    write_idx(tmp_path / "images", images)
    mapped = read_idx(tmp_path / "images", mmap=True)
    dataset = ArrayDataset(mapped, numpy.arange(10) % 2)
    assert is_mapped(dataset.images) and numpy.shares_memory(dataset.images, mapped)
    assert is_mapped(dataset.with_transform(None).images)
    in_memory = ArrayDataset(images, numpy.arange(10) % 2)
    for a, b in zip(DataLoader(Subset(dataset, [9, 2, 4, 7]), batch_size=3),
                    DataLoader(Subset(in_memory, [9, 2, 4, 7]), batch_size=3), strict=True):
        numpy.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
        numpy.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    assert channel_stats(dataset.images, [1, 3, 5]) == channel_stats(images, [1, 3, 5])
    image, label = dataset[3]
    numpy.testing.assert_array_equal(image, images[3])


@pytest.mark.parametrize("variant", ["cifar10", "cifar100"])
def test_one_file_cifar_binary_split_is_mapped_and_equal(tmp_path, variant):
    folder, expected = make_cifar(tmp_path / "data", variant, True, per_file=3)
    archive = make_tar(folder, tmp_path / "cifar.tar.gz")
    test = load_cifar(folder, "test")  # one file: mapped
    assert is_mapped(test.images) and not test.images.flags.writeable
    from_archive = load_cifar(archive, "test")  # compressed: decoded once into the cache, mapped from it
    assert is_mapped(from_archive.images) and not numpy.shares_memory(from_archive.images, test.images)
    numpy.testing.assert_array_equal(test.images, expected["test"][0])
    numpy.testing.assert_array_equal(test.images, from_archive.images)
    numpy.testing.assert_array_equal(test.labels, expected["test"][1])
    numpy.testing.assert_array_equal(test.labels, from_archive.labels)
    if variant == "cifar100":
        numpy.testing.assert_array_equal(load_cifar(folder, "test", label_mode="coarse").labels, expected["test"][2])
    rows = [2, 0]
    batch = next(iter(DataLoader(Subset(test, rows), batch_size=2)))[0].numpy()
    numpy.testing.assert_array_equal(batch, expected["test"][0][rows] / numpy.float32(255))


def test_mapped_cifar_labels_are_read_across_chunks(tmp_path, monkeypatch):
    """The labels sit between the records; they are read a few records at a time."""
    from convpool.data import cifar

    monkeypatch.setattr(cifar, "_READ_BYTES", 2 * 3073)  # two records a read, five records in all
    folder, expected = make_cifar(tmp_path / "data", "cifar10", True, per_file=5)
    test = load_cifar(folder, "test")
    numpy.testing.assert_array_equal(test.labels, expected["test"][1])
    numpy.testing.assert_array_equal(test.images, expected["test"][0])


def test_mapped_cifar_keeps_the_size_check(tmp_path):
    folder, _ = make_cifar(tmp_path / "data", "cifar10", True)
    path = folder / "test_batch.bin"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match=r"test_batch.bin: 6141 bytes is not a whole, non-zero number of 3073-byte"):
        load_cifar(folder, "test")


def test_image_folder_cache_is_mapped_and_equal_when_built_and_when_read(tmp_path):
    arrays = make_folder(tmp_path / "photos")
    expected = numpy.stack([a.transpose(2, 0, 1) for name in sorted(arrays) for a in arrays[name]])
    built = load_image_folder(tmp_path / "photos", cache_dir=tmp_path / "cache")
    again = load_image_folder(tmp_path / "photos", cache_dir=tmp_path / "cache")
    for dataset in (built, again):
        assert is_mapped(dataset.images) and not dataset.images.flags.writeable
        assert not is_mapped(dataset.labels)
        numpy.testing.assert_array_equal(dataset.images, expected)
        numpy.testing.assert_array_equal(dataset.labels, [0, 0, 1, 1, 2, 2])


def test_image_cache_header_is_trusted_no_further_than_its_bytes(tmp_path):
    """A cache whose images.npy header declares more rows than the file holds (with a checksum
    that matches, so only the size check can catch it) is rebuilt, not mapped."""
    make_folder(tmp_path / "photos")
    good = load_image_folder(tmp_path / "photos", cache_dir=tmp_path / "cache")
    (folder,) = (tmp_path / "cache").iterdir()
    data = bytearray((folder / "images.npy").read_bytes())
    header = bytes(data[:128]).replace(b"(6, 3, 4, 5)", b"(9, 3, 4, 5)")
    assert header != bytes(data[:128])
    data[:128] = header
    (folder / "images.npy").write_bytes(bytes(data))
    meta = json.loads((folder / "meta.json").read_text())
    meta["images_sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    (folder / "meta.json").write_text(json.dumps(meta))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rebuilt = load_image_folder(tmp_path / "photos", cache_dir=tmp_path / "cache")
    assert any("damaged image cache" in str(w.message) and "the file holds" in str(w.message) for w in caught)
    numpy.testing.assert_array_equal(rebuilt.images, good.images)
    assert is_mapped(rebuilt.images)


def test_a_file_system_that_cannot_map_files_is_read_instead(tmp_path, monkeypatch):
    images = numpy.random.default_rng(4).integers(0, 256, (5, 3, 3), dtype=numpy.uint8)
    write_idx(tmp_path / "images", images)
    folder, expected = make_cifar(tmp_path / "data", "cifar100", True)
    make_folder(tmp_path / "photos")
    cached = load_image_folder(tmp_path / "photos", cache_dir=tmp_path / "cache")

    class Refused(numpy.memmap):
        def __new__(cls, *args, **kwargs):
            raise OSError(19, "No such device")

    monkeypatch.setattr(numpy, "memmap", Refused)
    read = read_idx(tmp_path / "images", mmap=True)
    test = load_cifar(folder, "test")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # read from the cache, not rebuilt
        again = load_image_folder(tmp_path / "photos", cache_dir=tmp_path / "cache")
    monkeypatch.undo()
    assert not any(is_mapped(a) for a in (read, test.images, again.images))
    numpy.testing.assert_array_equal(read, images)
    numpy.testing.assert_array_equal(test.images, expected["test"][0])
    numpy.testing.assert_array_equal(test.labels, expected["test"][1])
    numpy.testing.assert_array_equal(again.images, cached.images)
