"""CIFAR-10/100 readers: small files written in the official binary and python formats, read as a
folder, as the folder above it and as the .tar.gz archive; a clear error for each bad file; the
decoded cache of the sources that cannot be mapped as they are."""

import gzip
import io
import json
import os
import tarfile
import tracemalloc
import warnings

import numpy
import pytest
from py2pickle import py2_pickle

from convpool.data import CIFAR10_CLASSES, UnsafePickleError, load_cifar
from convpool.data import cifar as cifar_module
from convpool.data.dataset import is_mapped

FOLDERS = {("cifar10", True): "cifar-10-batches-bin", ("cifar100", True): "cifar-100-binary",
           ("cifar10", False): "cifar-10-batches-py", ("cifar100", False): "cifar-100-python"}
ARCHIVES = {("cifar10", True): "cifar-10-binary.tar.gz", ("cifar100", True): "cifar-100-binary.tar.gz",
            ("cifar10", False): "cifar-10-python.tar.gz", ("cifar100", False): "cifar-100-python.tar.gz"}
FINE100 = [f"fine_{i:02d}" for i in range(100)]


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    """Every decoded cache these tests build goes under tmp_path, never the real one."""
    monkeypatch.setenv("CONVPOOL_CACHE", str(tmp_path / "convpool-cache"))

COARSE100 = [f"coarse_{i:02d}" for i in range(20)]


def _batch_bytes(variant, binary, images, fine, coarse, label=b"batch"):
    """One batch file's bytes in the official format."""
    flat = images.reshape(len(images), -1)
    if binary:
        labels = fine[:, None] if variant == "cifar10" else numpy.stack([coarse, fine], 1)
        return numpy.concatenate([labels.astype(numpy.uint8), flat], 1).tobytes()
    entries = {b"batch_label": label, b"data": flat, b"filenames": [b"img_%d.png" % i for i in range(len(flat))]}
    if variant == "cifar10":
        entries[b"labels"] = [int(v) for v in fine]
    else:
        entries[b"fine_labels"] = [int(v) for v in fine]
        entries[b"coarse_labels"] = [int(v) for v in coarse]
    return py2_pickle(entries)


def _meta_files(variant, binary):
    if variant == "cifar10" and binary:
        return {"batches.meta.txt": ("\n".join(CIFAR10_CLASSES) + "\n\n").encode()}
    if variant == "cifar10":
        return {"batches.meta": py2_pickle({b"num_cases_per_batch": 10000, b"num_vis": 3072,
                                            b"label_names": [n.encode() for n in CIFAR10_CLASSES]})}
    if binary:
        return {"coarse_label_names.txt": "\n".join(COARSE100).encode(),
                "fine_label_names.txt": "\n".join(FINE100).encode()}
    return {"meta": py2_pickle({b"fine_label_names": [n.encode() for n in FINE100],
                                b"coarse_label_names": [n.encode() for n in COARSE100]})}


def _batch_names(variant, binary):
    ext = ".bin" if binary else ""
    if variant == "cifar10":
        return [f"data_batch_{i}{ext}" for i in range(1, 6)], [f"test_batch{ext}"]
    return [f"train{ext}"], [f"test{ext}"]


def make_cifar(parent, variant, binary, per_file=2, seed=0):
    """Write a small CIFAR in the official layout under parent; return (folder, expected per split)."""
    rng = numpy.random.default_rng(seed)
    folder = parent / FOLDERS[variant, binary]
    folder.mkdir(parents=True)
    n_fine = 10 if variant == "cifar10" else 100
    expected = {}
    for split, names in zip(("train", "test"), _batch_names(variant, binary), strict=True):
        parts = []
        for name in names:
            images = rng.integers(0, 256, (per_file, 3, 32, 32), dtype=numpy.uint8)
            fine, coarse = rng.integers(0, n_fine, per_file), rng.integers(0, 20, per_file)
            fine[0] = n_fine - 1  # the largest label is in range
            (folder / name).write_bytes(_batch_bytes(variant, binary, images, fine, coarse))
            parts.append((images, fine, coarse))
        expected[split] = tuple(numpy.concatenate(p) for p in zip(*parts, strict=True))
    for name, data in _meta_files(variant, binary).items():
        (folder / name).write_bytes(data)
    return folder, expected


def make_tar(folder, archive):
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


FORMS = [(v, b) for v in ("cifar10", "cifar100") for b in (True, False)]


@pytest.mark.parametrize("variant,binary", FORMS, ids=[f"{v}-{'bin' if b else 'py'}" for v, b in FORMS])
@pytest.mark.parametrize("where", ["folder", "parent", "tar"])
def test_reads_every_format_from_folder_parent_and_archive(tmp_path, variant, binary, where):
    folder, expected = make_cifar(tmp_path / "data", variant, binary)
    path = {"folder": folder, "parent": folder.parent,
            "tar": make_tar(folder, tmp_path / ARCHIVES[variant, binary]) if where == "tar" else None}[where]
    for split in ("train", "test"):
        images, fine, coarse = expected[split]
        data = load_cifar(path, split)
        assert data.images.dtype == numpy.uint8 and data.images.shape == (len(fine), 3, 32, 32)
        assert data.labels.dtype == numpy.int64
        numpy.testing.assert_array_equal(data.images, images)
        numpy.testing.assert_array_equal(data.labels, fine)
        assert data.classes == (list(CIFAR10_CLASSES) if variant == "cifar10" else FINE100)
        assert load_cifar(path, split, variant=variant).images.shape == data.images.shape
        if variant == "cifar100":
            data = load_cifar(path, split, label_mode="coarse")
            numpy.testing.assert_array_equal(data.labels, coarse)
            assert data.classes == COARSE100
    assert len(load_cifar(path, "train")) == (10 if variant == "cifar10" else 2)


def _hand_made_pixels() -> bytearray:
    """3072 pixel bytes: R plane, G plane, B plane, each 32x32 row-major. (row 1, col 2) is pure
    red, (31, 0) pure blue, (0, 31) grey 7 in every plane."""
    pixels = bytearray(3072)
    pixels[0 * 1024 + 1 * 32 + 2] = 255
    pixels[2 * 1024 + 31 * 32 + 0] = 200
    for plane in range(3):
        pixels[plane * 1024 + 0 * 32 + 31] = 7
    return pixels


def _check_hand_made(image):
    assert image[:, 1, 2].tolist() == [255, 0, 0]
    assert image[:, 31, 0].tolist() == [0, 0, 200]
    assert image[:, 0, 31].tolist() == [7, 7, 7]
    assert int(image.astype(int).sum()) == 255 + 200 + 21


@pytest.mark.parametrize("binary", [True, False])
def test_pixel_order_against_a_hand_made_record(tmp_path, binary):
    folder = tmp_path / FOLDERS["cifar100", binary]
    folder.mkdir()
    pixels = _hand_made_pixels()
    if binary:
        (folder / "test.bin").write_bytes(bytes([19, 99]) + pixels + bytes([3, 42]) + bytes(3072))
    else:
        data = numpy.frombuffer(bytes(pixels) + bytes(3072), numpy.uint8).reshape(2, 3072)
        (folder / "test").write_bytes(py2_pickle({b"data": data, b"fine_labels": [99, 42], b"coarse_labels": [19, 3]}))
    for name, content in _meta_files("cifar100", binary).items():
        (folder / name).write_bytes(content)
    data = load_cifar(folder, "test")
    _check_hand_made(data.images[0])
    assert data.labels.tolist() == [99, 42] and data.classes[99] == "fine_99"
    assert load_cifar(folder, "test", label_mode="coarse").labels.tolist() == [19, 3]


def test_cifar10_binary_record_by_hand(tmp_path):
    folder, _ = make_cifar(tmp_path, "cifar10", True)
    (folder / "test_batch.bin").write_bytes(bytes([1]) + _hand_made_pixels())
    data = load_cifar(folder, "test")
    _check_hand_made(data.images[0])
    assert data.labels.tolist() == [1] and data.classes[1] == "automobile"


def test_cifar10_classes_constant():
    assert CIFAR10_CLASSES[0] == "airplane" and CIFAR10_CLASSES[-1] == "truck" and len(CIFAR10_CLASSES) == 10


def test_binary_is_preferred_when_both_forms_are_present(tmp_path):
    _, from_bin = make_cifar(tmp_path, "cifar10", True, seed=1)
    make_cifar(tmp_path, "cifar10", False, seed=2)
    numpy.testing.assert_array_equal(load_cifar(tmp_path, "test").images, from_bin["test"][0])


def test_both_variants_need_variant(tmp_path):
    _, ten = make_cifar(tmp_path, "cifar10", True)
    _, hundred = make_cifar(tmp_path, "cifar100", False)
    with pytest.raises(ValueError, match=r"both CIFAR-10 and CIFAR-100.*pass variant="):
        load_cifar(tmp_path)
    numpy.testing.assert_array_equal(load_cifar(tmp_path, variant="cifar10").labels, ten["train"][1])
    numpy.testing.assert_array_equal(load_cifar(tmp_path, variant="cifar100").labels, hundred["train"][1])


@pytest.mark.parametrize("in_tar", [False, True])
def test_truncated_binary_batch_says_sizes(tmp_path, in_tar):
    folder, _ = make_cifar(tmp_path / "d", "cifar10", True)
    batch = folder / "data_batch_3.bin"
    batch.write_bytes(batch.read_bytes()[:-5])
    path = make_tar(folder, tmp_path / "c.tar.gz") if in_tar else folder
    name = r"c\.tar\.gz:cifar-10-batches-bin/data_batch_3\.bin" if in_tar else r"cifar-10-batches-bin/data_batch_3\.bin"
    with pytest.raises(ValueError, match=name + r": 6141 bytes is not a whole.*3073-byte records \(1 label byte"):
        load_cifar(path)
    folder100, _ = make_cifar(tmp_path / "e", "cifar100", True)
    (folder100 / "test.bin").write_bytes(b"")
    with pytest.raises(ValueError, match=r"test\.bin: 0 bytes .*3074-byte records \(2 label bytes"):
        load_cifar(folder100, "test")


@pytest.mark.parametrize("variant,binary", FORMS, ids=[f"{v}-{'bin' if b else 'py'}" for v, b in FORMS])
def test_label_out_of_range_names_the_file(tmp_path, variant, binary):
    folder, _ = make_cifar(tmp_path, variant, binary)
    images = numpy.zeros((2, 3, 32, 32), numpy.uint8)
    bad = 10 if variant == "cifar10" else 100
    name = _batch_names(variant, binary)[1][0]
    (folder / name).write_bytes(_batch_bytes(variant, binary, images, numpy.array([0, bad]), numpy.array([0, 1])))
    with pytest.raises(ValueError, match=rf"{name}: label values must be in \[0, {bad}\).*\[0, {bad}\]"):
        load_cifar(folder, "test")
    if variant == "cifar100":
        (folder / name).write_bytes(_batch_bytes(variant, binary, images, numpy.array([0, 1]), numpy.array([0, 20])))
        load_cifar(folder, "test")  # fine labels are fine
        with pytest.raises(ValueError, match=rf"{name}: label values must be in \[0, 20\) for the 20 coarse"):
            load_cifar(folder, "test", label_mode="coarse")


def test_negative_pickled_label(tmp_path):
    folder, _ = make_cifar(tmp_path, "cifar10", False)
    (folder / "test_batch").write_bytes(_batch_bytes("cifar10", False, numpy.zeros((1, 3, 32, 32), numpy.uint8),
                                                     numpy.array([-1]), numpy.array([0])))
    with pytest.raises(ValueError, match=r"test_batch: label values must be in \[0, 10\).*\[-1, -1\]"):
        load_cifar(folder, "test")


@pytest.mark.parametrize("binary", [True, False])
def test_missing_batch_files_are_listed(tmp_path, binary):
    folder, _ = make_cifar(tmp_path / "d", "cifar10", binary)
    ext = ".bin" if binary else ""
    (folder / f"data_batch_2{ext}").unlink()
    (folder / f"data_batch_4{ext}").unlink()
    with pytest.raises(FileNotFoundError, match=rf"missing data_batch_2{ext}, data_batch_4{ext}$"):
        load_cifar(folder)
    with pytest.raises(FileNotFoundError, match=rf"c\.tar\.gz:{FOLDERS['cifar10', binary]}/: .*missing data_batch_2"):
        load_cifar(make_tar(folder, tmp_path / "c.tar.gz"))
    load_cifar(folder, "test")  # the test split is complete
    meta = "batches.meta.txt" if binary else "batches.meta"
    (folder / meta).unlink()
    with pytest.raises(FileNotFoundError, match=rf"missing {meta}"):
        load_cifar(folder, "test")


def _write_pickle_batch(folder, entries):
    (folder / "test_batch").write_bytes(py2_pickle(entries))


def test_wrong_pickle_contents(tmp_path):
    folder, _ = make_cifar(tmp_path, "cifar10", False)
    good = numpy.zeros((2, 3072), numpy.uint8)
    cases = [
        ({b"data": good}, r"no 'labels' entry \(it has: data\); not a CIFAR-10 python batch"),
        ({b"labels": [0, 1]}, r"no 'data' entry"),
        ({b"data": good[:, :-1], b"labels": [0, 1]}, r"'data' must be a uint8 array of shape \(N, 3072\), "
                                                        r"got shape \(2, 3071\) of uint8"),
        ({b"data": good.astype(numpy.float32), b"labels": [0, 1]}, r".*of float32"),
        ({b"data": good.reshape(2, 3, 32, 32), b"labels": [0, 1]}, r".*got shape \(2, 3, 32, 32\)"),
        ({b"data": [1, 2], b"labels": [0, 1]}, r".*got list"),
        ({b"data": good, b"labels": [0]}, r"'labels' must be 2 integers, one per image, got 1 values"),
        ({b"data": good, b"labels": [0.5, 1.0]}, r"'labels' must be 2 integers.*float64"),
        ({b"data": good, b"labels": b"\x00\x01"}, r"'labels' must be 2 integers"),
    ]
    for entries, message in cases:
        _write_pickle_batch(folder, entries)
        with pytest.raises(ValueError, match=r"test_batch: " + message):
            load_cifar(folder, "test")
    (folder / "test_batch").write_bytes(py2_pickle([good]))
    with pytest.raises(ValueError, match=r"test_batch: expected a pickled dict, found list"):
        load_cifar(folder, "test")


def test_wrong_meta_contents(tmp_path):
    folder, _ = make_cifar(tmp_path / "py", "cifar100", False)
    (folder / "meta").write_bytes(py2_pickle({b"fine_label_names": [b"a"] * 100}))
    load_cifar(folder, "test")
    with pytest.raises(ValueError, match=r"meta: no 'coarse_label_names' entry"):
        load_cifar(folder, "test", label_mode="coarse")
    (folder / "meta").write_bytes(py2_pickle({b"fine_label_names": [b"a"] * 99}))
    with pytest.raises(ValueError, match=r"meta: expected 100 names in 'fine_label_names', found 99"):
        load_cifar(folder, "test")
    folder, _ = make_cifar(tmp_path / "bin", "cifar10", True)
    (folder / "batches.meta.txt").write_text("cat\ndog\n")
    with pytest.raises(ValueError, match=r"batches\.meta\.txt: expected 10 class names, one a line, found 2"):
        load_cifar(folder, "test")


def test_truncated_and_malicious_pickles(tmp_path):
    folder, _ = make_cifar(tmp_path, "cifar10", False)
    batch = folder / "data_batch_5"
    batch.write_bytes(batch.read_bytes()[:-50])
    with pytest.raises(ValueError, match=r"data_batch_5: truncated or not a valid pickle"):
        load_cifar(folder)
    marker = tmp_path / "MARKER"
    (folder / "test_batch").write_bytes(b"cposix\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    with pytest.raises(UnsafePickleError, match=r"test_batch: refused to unpickle the global posix\.system"):
        load_cifar(folder, "test")
    assert not marker.exists()


def test_coarse_for_cifar10_and_bad_arguments(tmp_path):
    folder, _ = make_cifar(tmp_path, "cifar10", True)
    with pytest.raises(ValueError, match="CIFAR-10 has no coarse labels"):
        load_cifar(folder, label_mode="coarse")
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_cifar(folder, "val")
    with pytest.raises(ValueError, match="variant must be"):
        load_cifar(folder, variant="cifar-10")
    with pytest.raises(ValueError, match="label_mode must be"):
        load_cifar(folder, label_mode="super")
    with pytest.raises(FileNotFoundError, match="no CIFAR-100 files found"):
        load_cifar(folder, variant="cifar100")


def test_not_cifar_at_all(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope: no such file or folder"):
        load_cifar(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty: no CIFAR-10 or CIFAR-100 files found.*cifar-10-batches-bin"):
        load_cifar(tmp_path / "empty")
    (tmp_path / "page.tar.gz").write_bytes(b"<html>404</html>")
    with pytest.raises(ValueError, match=r"page\.tar\.gz: not a folder nor a tar archive"):
        load_cifar(tmp_path / "page.tar.gz")


def test_damaged_archives(tmp_path):
    folder, _ = make_cifar(tmp_path / "d", "cifar10", True)
    whole = make_tar(folder, tmp_path / "whole.tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=r"cut\.tar\.gz: not a readable tar archive, or a truncated one"):
        load_cifar(tmp_path / "cut.tar.gz")


def _tar_with(archive, members):
    """A tar.gz of (TarInfo, data or None) pairs."""
    with tarfile.open(archive, "w:gz") as tar:
        for info, data in members:
            info.size = len(data) if data is not None else 0
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return archive


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil", "cifar-10-batches-bin/../../x", "C:\\x"])
def test_unsafe_member_names_refuse_the_archive(tmp_path, name):
    folder, _ = make_cifar(tmp_path / "d", "cifar10", True)
    members = [(tarfile.TarInfo(f"{folder.name}/{p.name}"), p.read_bytes()) for p in sorted(folder.iterdir())]
    archive = _tar_with(tmp_path / "evil.tar.gz", members + [(tarfile.TarInfo(name), b"x")])
    with pytest.raises(ValueError, match=r"evil\.tar\.gz: unsafe member name"):
        load_cifar(archive)


def test_links_in_place_of_batches_refuse_the_archive(tmp_path):
    folder, _ = make_cifar(tmp_path / "d", "cifar10", True)
    members = [(tarfile.TarInfo(f"{folder.name}/{p.name}"), p.read_bytes()) for p in sorted(folder.iterdir())
               if p.name != "test_batch.bin"]
    link = tarfile.TarInfo(f"{folder.name}/test_batch.bin")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    archive = _tar_with(tmp_path / "link.tar.gz", members + [(link, None)])
    load_cifar(archive, "train")  # the link is not read for the train split
    with pytest.raises(ValueError, match=r"link\.tar\.gz:cifar-10-batches-bin/test_batch\.bin: a link"):
        load_cifar(archive, "test")


def test_archive_with_files_at_its_root_and_dot_slash_names(tmp_path):
    folder, expected = make_cifar(tmp_path / "d", "cifar10", False)
    members = [(tarfile.TarInfo(f"./{p.name}"), p.read_bytes()) for p in sorted(folder.iterdir())]
    archive = _tar_with(tmp_path / "flat.tar", members)
    numpy.testing.assert_array_equal(load_cifar(archive, "test").images, expected["test"][0])


def _forge_tar_size(data: bytes, name: str, size: int) -> bytes:
    """A plain tar's bytes with the header of `name` declaring `size` (its checksum recomputed)."""
    data = bytearray(data)
    at = 0
    while at < len(data):
        if data[at:at + 100].rstrip(b"\0") == name.encode():
            data[at + 124:at + 136] = b"%011o\0" % size
            data[at + 148:at + 156] = b" " * 8
            data[at + 148:at + 156] = b"%06o\0 " % sum(data[at:at + 512])
            return bytes(data)
        at += 512
    raise AssertionError(f"{name} not found")


def test_a_tar_member_declaring_2_gib_is_refused_before_it_is_read(tmp_path):
    folder, _ = make_cifar(tmp_path / "d", "cifar10", True)
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tar:
        tar.add(folder, arcname=folder.name)
    forged = _forge_tar_size(plain.read_bytes(), f"{folder.name}/test_batch.bin", 2**31)
    (tmp_path / "big.tar.gz").write_bytes(gzip.compress(forged))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"big\.tar\.gz:cifar-10-batches-bin/test_batch\.bin: 2,147,483,648 "
                                             r"bytes, more than the 209,715,200 a CIFAR batch file may have"):
            load_cifar(tmp_path / "big.tar.gz", "test")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_an_oversized_batch_or_names_file_in_a_folder_is_refused_before_it_is_read(tmp_path):
    folder, _ = make_cifar(tmp_path / "d", "cifar10", True)
    with open(folder / "test_batch.bin", "r+b") as f:
        f.truncate(300 * 2**20)  # sparse: no disk used
    with pytest.raises(ValueError, match=r"test_batch\.bin: 314,572,800 bytes, more than the 209,715,200"):
        load_cifar(folder, "test")
    with open(folder / "batches.meta.txt", "r+b") as f:
        f.truncate(5 * 2**20)
    with pytest.raises(ValueError, match=r"batches\.meta\.txt: 5,242,880 bytes, more than the 1,048,576 a CIFAR "
                                         r"names file"):
        load_cifar(folder, "train")


# ---- the decoded cache: archives, pickles and CIFAR-10's five training files --------------------

CACHED = [(v, b, w) for v, b in FORMS for w in ("folder", "tar") if not (w == "folder" and b and v == "cifar100")]


def _source(tmp_path, variant, binary, where, seed=0):
    folder, expected = make_cifar(tmp_path / "data", variant, binary, seed=seed)
    return (folder if where == "folder" else make_tar(folder, tmp_path / ARCHIVES[variant, binary])), expected


def _count_decodes(monkeypatch):
    """Record each batch file decoded and each archive opened."""
    calls = []
    for name in ("_binary_batch", "_pickle_batch", "_Archive"):
        real = getattr(cifar_module, name)

        def counting(*args, real=real, name=name):
            calls.append(name)
            return real(*args)

        monkeypatch.setattr(cifar_module, name, counting)
    return calls


def _cache_folders(tmp_path):
    root = tmp_path / "convpool-cache" / "cifar-arrays"
    return sorted(root.iterdir()) if root.is_dir() else []


@pytest.mark.parametrize("variant,binary,where", CACHED,
                         ids=[f"{v}-{'bin' if b else 'py'}-{w}" for v, b, w in CACHED])
def test_cache_gives_the_readers_arrays_mapped_and_is_read_without_decoding(tmp_path, monkeypatch, variant,
                                                                             binary, where):
    path, expected = _source(tmp_path, variant, binary, where)
    modes = ["fine"] + (["coarse"] if variant == "cifar100" else [])
    splits = [s for s in ("train", "test") if where == "tar" or not binary or s == "train"]  # one-file: mapped
    for split in splits:
        for mode in modes:
            images, fine, coarse = expected[split]
            store = cifar_module._open(path, split)
            layout, prefix = cifar_module._locate(store, path, None)
            read = cifar_module._decode(store, prefix, layout, split, mode)  # what the readers give
            calls = _count_decodes(monkeypatch)
            built = load_cifar(path, split, label_mode=mode)
            assert calls, "the first load decodes"
            calls.clear()
            again = load_cifar(path, split, label_mode=mode)
            assert calls == [], f"{split} {mode}: decoded {calls} instead of reading the cache"
            monkeypatch.undo()
            monkeypatch.setenv("CONVPOOL_CACHE", str(tmp_path / "convpool-cache"))
            for data in (built, again):
                assert is_mapped(data.images) and not data.images.flags.writeable and not is_mapped(data.labels)
                assert data.images.dtype == numpy.uint8 and data.labels.dtype == numpy.int64
                numpy.testing.assert_array_equal(data.images, read[0])
                numpy.testing.assert_array_equal(data.labels, read[1])
                assert data.classes == read[2]
                numpy.testing.assert_array_equal(data.images, images)
                numpy.testing.assert_array_equal(data.labels, fine if mode == "fine" else coarse)
                assert data.classes == (list(CIFAR10_CLASSES) if variant == "cifar10"
                                        else FINE100 if mode == "fine" else COARSE100)
    assert len(_cache_folders(tmp_path)) == len(splits) * len(modes)
    for folder in _cache_folders(tmp_path):
        assert sorted(p.name for p in folder.iterdir()) == ["images.npy", "labels.npy", "meta.json"]


def test_one_file_binary_splits_are_mapped_as_they_are_without_a_cache(tmp_path):
    folder, expected = make_cifar(tmp_path / "data", "cifar100", True)
    for split in ("train", "test"):
        data = load_cifar(folder, split)
        assert is_mapped(data.images)
        numpy.testing.assert_array_equal(data.images, expected[split][0])
    assert is_mapped(load_cifar(folder.parent, "test").images)  # the folder above it, too
    assert _cache_folders(tmp_path) == []


@pytest.mark.parametrize("binary", [True, False])
def test_an_edited_batch_file_rebuilds_the_cache(tmp_path, monkeypatch, binary):
    folder, expected = make_cifar(tmp_path / "data", "cifar10", binary)
    first = load_cifar(folder, "train")
    numpy.testing.assert_array_equal(first.images, expected["train"][0])
    batch = folder / ("data_batch_3.bin" if binary else "data_batch_3")
    before = batch.stat()
    data = bytearray(batch.read_bytes())
    if binary:
        data[1:1 + 3072] = bytes(255 - b for b in data[1:1 + 3072])  # the first image, inverted
    else:
        old = expected["train"][0][4].tobytes()
        data = bytearray(bytes(data).replace(old, bytes(255 - b for b in old)))
    with open(batch, "r+b") as f:  # in place: the same size and inode; the mtime is set back
        f.write(data)
    os.utime(batch, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert batch.stat().st_size == before.st_size and batch.stat().st_mtime_ns == before.st_mtime_ns
    calls = _count_decodes(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # stale, not damaged: rebuilt quietly
        second = load_cifar(folder, "train")
    assert calls.count("_binary_batch" if binary else "_pickle_batch") == 5
    want = expected["train"][0].copy()
    want[4] = 255 - want[4]
    numpy.testing.assert_array_equal(second.images, want)
    assert is_mapped(second.images)
    numpy.testing.assert_array_equal(first.images, expected["train"][0])  # the old mapping keeps its file
    assert len(_cache_folders(tmp_path)) == 1


def test_a_replaced_archive_rebuilds_the_cache(tmp_path):
    archive, expected = _source(tmp_path, "cifar100", False, "tar")
    numpy.testing.assert_array_equal(load_cifar(archive, "test").images, expected["test"][0])
    folder, changed = make_cifar(tmp_path / "other", "cifar100", False, seed=1)
    make_tar(folder, tmp_path / "new.tar.gz").replace(archive)
    data = load_cifar(archive, "test")
    numpy.testing.assert_array_equal(data.images, changed["test"][0])
    numpy.testing.assert_array_equal(data.labels, changed["test"][1])


@pytest.mark.parametrize("damage", ["flip a pixel", "truncate images", "drop labels", "bad meta", "bad label"])
def test_a_damaged_cache_is_rebuilt_not_trusted(tmp_path, monkeypatch, damage):
    archive, expected = _source(tmp_path, "cifar10", True, "tar")
    load_cifar(archive, "train")
    [cache] = _cache_folders(tmp_path)
    if damage == "flip a pixel":
        data = bytearray((cache / "images.npy").read_bytes())
        data[-1] ^= 1
        (cache / "images.npy").write_bytes(bytes(data))
    elif damage == "truncate images":
        (cache / "images.npy").write_bytes((cache / "images.npy").read_bytes()[:-3072])
    elif damage == "drop labels":
        (cache / "labels.npy").unlink()
    elif damage == "bad meta":
        (cache / "meta.json").write_text("{not json")
    else:  # a label out of range, with a checksum that matches: caught by the range check
        labels = numpy.full(10, 10, numpy.int64)
        buffer = io.BytesIO()
        numpy.save(buffer, labels)
        (cache / "labels.npy").write_bytes(buffer.getvalue())
        meta = json.loads((cache / "meta.json").read_text())
        meta["labels_sha256"] = __import__("hashlib").sha256(buffer.getvalue()).hexdigest()
        (cache / "meta.json").write_text(json.dumps(meta))
    calls = _count_decodes(monkeypatch)
    with pytest.warns(UserWarning, match="damaged CIFAR cache"):
        data = load_cifar(archive, "train")
    assert calls.count("_binary_batch") == 5
    assert is_mapped(data.images)
    numpy.testing.assert_array_equal(data.images, expected["train"][0])
    numpy.testing.assert_array_equal(data.labels, expected["train"][1])
    calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        numpy.testing.assert_array_equal(load_cifar(archive, "train").images, expected["train"][0])
    assert calls == []


def test_an_unwritable_cache_still_gives_the_data(tmp_path):
    archive, expected = _source(tmp_path, "cifar10", False, "tar")
    (tmp_path / "blocked").write_text("a file where the cache folder would go")
    with pytest.warns(UserWarning, match="could not write the CIFAR cache"):
        data = load_cifar(archive, "train", cache_dir=tmp_path / "blocked")
    assert not is_mapped(data.images)
    numpy.testing.assert_array_equal(data.images, expected["train"][0])
    numpy.testing.assert_array_equal(data.labels, expected["train"][1])


def test_cache_dir_and_convpool_cache_place_the_cache(tmp_path, monkeypatch):
    archive, _ = _source(tmp_path, "cifar10", True, "tar")
    load_cifar(archive, "test", cache_dir=tmp_path / "mine")
    assert [p.name for p in (tmp_path / "mine").iterdir()] and _cache_folders(tmp_path) == []
    monkeypatch.setenv("CONVPOOL_CACHE", str(tmp_path / "root"))
    load_cifar(archive, "test")
    [folder] = (tmp_path / "root" / "cifar-arrays").iterdir()
    assert (folder / "images.npy").is_file()
