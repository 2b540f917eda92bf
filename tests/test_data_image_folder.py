"""Image folders: tiny images written with Pillow, read from folders and zips in each layout,
cached and rebuilt when the source or the cache changes; a clear error for each bad input."""

import hashlib
import os
import warnings
import zipfile
from pathlib import Path

import numpy
import pytest
from PIL import Image

from convpool.data import image_folder as image_folder_module
from convpool.data import load_image_folder

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CIFAR_ZIP = SHARED / "cifar10-train-jpeg.zip"


def _pixels(seed, h=4, w=5, channels=3):
    shape = (h, w, channels) if channels > 1 else (h, w)
    return numpy.random.default_rng(seed).integers(0, 256, shape, dtype=numpy.uint8)


def _save(path, array, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)
    return path


def make_folder(root, classes=("dog", "cat", "Zebra"), per_class=2, prefix=""):
    """PNG images under root/prefix/<class>/<i>.png; returns {class: [(H, W, 3) arrays, in file order]}."""
    arrays = {}
    for c, name in enumerate(classes):
        arrays[name] = [_pixels(10 * c + i) for i in range(per_class)]
        for i, array in enumerate(arrays[name]):
            _save(root / prefix / name / f"{i}.png", array)
    return arrays


def expected(arrays):
    classes = sorted(arrays)
    images = numpy.stack([a.transpose(2, 0, 1) for c in classes for a in arrays[c]])
    labels = numpy.repeat(numpy.arange(len(classes)), [len(arrays[c]) for c in classes])
    return images, labels, classes


def make_zip(folder, archive, arc_prefix=""):
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(folder.rglob("*")):
            z.write(path, arc_prefix + path.relative_to(folder).as_posix())
    return archive


def check(data, arrays):
    images, labels, classes = expected(arrays)
    assert data.images.dtype == numpy.uint8 and data.labels.dtype == numpy.int64
    numpy.testing.assert_array_equal(data.images, images)
    numpy.testing.assert_array_equal(data.labels, labels)
    assert data.classes == classes


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


@pytest.mark.parametrize("prefix", ["", "photos", "photos/train"])
def test_folder_with_classes_at_any_single_depth(tmp_path, cache, prefix):
    arrays = make_folder(tmp_path / "src", prefix=prefix)
    data = load_image_folder(tmp_path / "src", cache_dir=cache)
    check(data, arrays)
    assert data.classes == ["Zebra", "cat", "dog"]  # sorted, as torchvision's ImageFolder


@pytest.mark.parametrize("arc_prefix", ["", "top/", "top/train/"])
def test_zip_with_classes_at_root_or_inside_top_folders(tmp_path, cache, arc_prefix):
    arrays = make_folder(tmp_path / "src")
    (tmp_path / "src" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "src" / "cat" / "notes.txt").write_text("not an image")
    archive = make_zip(tmp_path / "src", tmp_path / "images.zip", arc_prefix)
    with zipfile.ZipFile(archive, "a") as z:  # macOS resource forks look like images
        z.writestr("__MACOSX/cat/._0.png", b"\x00\x05\x16\x07")
    check(load_image_folder(archive, cache_dir=cache), arrays)


@pytest.mark.parametrize("as_zip", [False, True])
def test_train_and_test_need_split(tmp_path, cache, as_zip):
    train = make_folder(tmp_path / "src", prefix="data/train")
    test = make_folder(tmp_path / "src", classes=("cat", "dog"), per_class=1, prefix="data/test")
    source = make_zip(tmp_path / "src", tmp_path / "s.zip") if as_zip else tmp_path / "src"
    check(load_image_folder(source, split="train", cache_dir=cache), train)
    check(load_image_folder(source, split="test", cache_dir=cache), test)
    with pytest.raises(ValueError, match=r"no class folders: none of its sub-folders \(test, train\) holds images "
                                         r"directly; if they are splits, pass split="):
        load_image_folder(source, cache_dir=cache)
    with pytest.raises(ValueError, match=r"none is named 'val'"):
        load_image_folder(source, split="val", cache_dir=cache)


def test_split_must_be_above_the_classes(tmp_path, cache):
    make_folder(tmp_path / "src")
    with pytest.raises(ValueError, match=r"src: no sub-folder named 'train' above the class folders "
                                         r"\(Zebra, cat, dog\)"):
        load_image_folder(tmp_path / "src", split="train", cache_dir=cache)


def test_grey_images_stay_one_channel(tmp_path, cache):
    grey = [_pixels(i, channels=1) for i in range(3)]
    for i, array in enumerate(grey):
        _save(tmp_path / "src" / ("a" if i < 2 else "b") / f"{i}.png", array)
    data = load_image_folder(tmp_path / "src", cache_dir=cache)
    assert data.images.shape == (3, 1, 4, 5)
    numpy.testing.assert_array_equal(data.images[:, 0], numpy.stack(grey))


def test_grey_among_colour_palette_and_alpha_become_rgb(tmp_path, cache):
    grey, colour = _pixels(1, channels=1), _pixels(2)
    rgba = numpy.dstack([_pixels(3), numpy.full((4, 5), 9, numpy.uint8)])
    palette = Image.fromarray(_pixels(4)).quantize(colors=8)
    _save(tmp_path / "src" / "a" / "0.png", grey)  # the first image is grey: the decode restarts as RGB
    _save(tmp_path / "src" / "a" / "1.png", colour)
    _save(tmp_path / "src" / "b" / "2.png", rgba)
    palette.save(tmp_path / "src" / "b" / "3.gif")
    data = load_image_folder(tmp_path / "src", cache_dir=cache)
    assert data.images.shape == (4, 3, 4, 5)
    numpy.testing.assert_array_equal(data.images[0], numpy.stack([grey] * 3))
    numpy.testing.assert_array_equal(data.images[1], colour.transpose(2, 0, 1))
    numpy.testing.assert_array_equal(data.images[2], rgba[..., :3].transpose(2, 0, 1))
    numpy.testing.assert_array_equal(data.images[3], numpy.asarray(palette.convert("RGB")).transpose(2, 0, 1))


def test_jpeg_and_bmp(tmp_path, cache):
    smooth = numpy.broadcast_to(numpy.linspace(0, 250, 16, dtype=numpy.uint8)[None, :, None], (16, 16, 3)).copy()
    _save(tmp_path / "src" / "a" / "x.JPG", smooth, quality=95)
    _save(tmp_path / "src" / "b" / "y.bmp", _pixels(5, 16, 16))
    data = load_image_folder(tmp_path / "src", cache_dir=cache)
    assert data.images.shape == (2, 3, 16, 16)
    assert numpy.abs(data.images[0].astype(int) - smooth.transpose(2, 0, 1)).max() < 12  # JPEG is lossy
    numpy.testing.assert_array_equal(data.images[1], _pixels(5, 16, 16).transpose(2, 0, 1))


def test_other_sizes_are_an_error_unless_size_is_given(tmp_path, cache):
    make_folder(tmp_path / "src")
    odd = _save(tmp_path / "src" / "cat" / "9.png", _pixels(9, 6, 7))
    with pytest.raises(ValueError, match=rf"{odd}: 6x7 pixels \(height x width\), but the first image, .*, is 4x5; "
                                         r"pass size=\(H, W\)"):
        load_image_folder(tmp_path / "src", cache_dir=cache)
    with pytest.warns(UserWarning, match=r"resized 1 of 7 images .* to 4x5") as caught:
        data = load_image_folder(tmp_path / "src", size=(4, 5), cache_dir=cache)
    assert len([w for w in caught if "resized" in str(w.message)]) == 1  # said once, not per image
    want = numpy.asarray(Image.fromarray(_pixels(9, 6, 7)).resize((5, 4), Image.Resampling.BILINEAR))
    numpy.testing.assert_array_equal(data.images[list(data.labels).index(1) + 2], want.transpose(2, 0, 1))
    with pytest.warns(UserWarning, match="resized 7 of 7"):
        square = load_image_folder(tmp_path / "src", size=3, cache_dir=cache)
    assert square.images.shape == (7, 3, 3, 3)
    with pytest.raises(ValueError, match="size must be a positive int"):
        load_image_folder(tmp_path / "src", size=(0, 3), cache_dir=cache)


def _count_decodes(monkeypatch):
    calls = []
    real = image_folder_module._open_image

    def counting(data, where, *check):
        calls.append(where)
        return real(data, where, *check)

    monkeypatch.setattr(image_folder_module, "_open_image", counting)
    return calls


def _no_decoding(monkeypatch):
    def fail(data, where):
        raise AssertionError(f"decoded {where} instead of using the cache")

    monkeypatch.setattr(image_folder_module, "_open_image", fail)


@pytest.mark.parametrize("as_zip", [False, True])
def test_second_load_comes_from_the_cache(tmp_path, cache, monkeypatch, as_zip):
    arrays = make_folder(tmp_path / "src")
    source = make_zip(tmp_path / "src", tmp_path / "s.zip") if as_zip else tmp_path / "src"
    check(load_image_folder(source, cache_dir=cache), arrays)
    [folder] = cache.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["images.npy", "labels.npy", "meta.json"]
    with monkeypatch.context() as m:
        _no_decoding(m)
        check(load_image_folder(source, cache_dir=cache), arrays)


def test_cache_lives_under_convpool_cache(tmp_path, monkeypatch):
    make_folder(tmp_path / "src")
    monkeypatch.setenv("CONVPOOL_CACHE", str(tmp_path / "root"))
    load_image_folder(tmp_path / "src")
    [folder] = (tmp_path / "root" / "image-folders").iterdir()
    assert (folder / "images.npy").is_file()


def test_cache_is_rebuilt_when_a_file_is_added_or_changed(tmp_path, cache, monkeypatch):
    arrays = make_folder(tmp_path / "src")
    load_image_folder(tmp_path / "src", cache_dir=cache)
    arrays["cat"].append(_pixels(77))
    _save(tmp_path / "src" / "cat" / "2.png", arrays["cat"][-1])
    check(load_image_folder(tmp_path / "src", cache_dir=cache), arrays)
    arrays["dog"][0] = 255 - arrays["dog"][0]  # the same size on disk; a new mtime
    path = _save(tmp_path / "src" / "dog" / "0.png", arrays["dog"][0])
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    calls = _count_decodes(monkeypatch)
    check(load_image_folder(tmp_path / "src", cache_dir=cache), arrays)
    assert len(calls) == 1 + 7  # the first image, then all seven


def test_zip_cache_is_rebuilt_when_the_zip_changes(tmp_path, cache):
    arrays = make_folder(tmp_path / "src")
    archive = make_zip(tmp_path / "src", tmp_path / "s.zip")
    load_image_folder(archive, cache_dir=cache)
    arrays["Zebra"].append(_pixels(99))
    _save(tmp_path / "src" / "Zebra" / "5.png", arrays["Zebra"][-1])
    make_zip(tmp_path / "src", archive)
    check(load_image_folder(archive, cache_dir=cache), arrays)


@pytest.mark.parametrize("damage", ["flip-a-byte", "truncate", "empty", "swap-labels", "meta-garbage", "meta-shape"])
def test_damaged_cache_is_rebuilt_not_trusted(tmp_path, cache, monkeypatch, damage):
    arrays = make_folder(tmp_path / "src")
    load_image_folder(tmp_path / "src", cache_dir=cache)
    [folder] = cache.iterdir()
    images, meta = folder / "images.npy", folder / "meta.json"
    data = bytearray(images.read_bytes())
    if damage == "flip-a-byte":
        data[-10] ^= 0xFF
        images.write_bytes(data)
    elif damage == "truncate":
        images.write_bytes(data[:-7])
    elif damage == "empty":
        images.write_bytes(b"")
    elif damage == "swap-labels":  # a valid .npy, but not the one meta.json vouches for
        numpy.save(folder / "labels.npy", numpy.zeros(6, numpy.int64))
    elif damage == "meta-garbage":
        meta.write_text("{not json")
    else:
        meta.write_text(meta.read_text().replace('"shape": [\n  6', '"shape": [\n  5'))
    calls = _count_decodes(monkeypatch)
    with pytest.warns(UserWarning, match="damaged image cache"):
        check(load_image_folder(tmp_path / "src", cache_dir=cache), arrays)
    assert calls
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _no_decoding(monkeypatch)
        check(load_image_folder(tmp_path / "src", cache_dir=cache), arrays)  # the rebuilt cache is good


def test_interrupted_cache_write_is_never_used(tmp_path, cache, monkeypatch):
    arrays = make_folder(tmp_path / "src")
    load_image_folder(tmp_path / "src", cache_dir=cache)
    arrays["cat"].append(_pixels(50))
    _save(tmp_path / "src" / "cat" / "7.png", arrays["cat"][-1])
    real = image_folder_module.atomic_write

    def crash_on_labels(path, data):
        if path.name == "labels.npy":
            raise OSError("disk full")
        real(path, data)

    with monkeypatch.context() as m:
        m.setattr(image_folder_module, "atomic_write", crash_on_labels)
        with pytest.warns(UserWarning, match="could not write the image cache"):
            check(load_image_folder(tmp_path / "src", cache_dir=cache), arrays)  # the data still comes back
    calls = _count_decodes(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no meta.json: no cache, so nothing is "damaged" either
        check(load_image_folder(tmp_path / "src", cache_dir=cache), arrays)
    assert calls


def _snapshot(root):
    return {p: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def test_the_source_is_never_written_to(tmp_path, cache):
    make_folder(tmp_path / "src", prefix="train")
    archive = make_zip(tmp_path / "src", tmp_path / "s.zip")
    before = _snapshot(tmp_path / "src"), archive.stat().st_mtime_ns, archive.read_bytes()
    load_image_folder(tmp_path / "src", cache_dir=cache, progress=True)
    load_image_folder(archive, cache_dir=cache)
    assert (_snapshot(tmp_path / "src"), archive.stat().st_mtime_ns, archive.read_bytes()) == before
    with pytest.raises(ValueError, match="is inside the source"):
        load_image_folder(tmp_path / "src", cache_dir=tmp_path / "src" / "cache")


def test_not_an_image_names_the_file(tmp_path, cache):
    make_folder(tmp_path / "src")
    bad = tmp_path / "src" / "dog" / "1.png"
    bad.write_bytes(b"<html>404</html>")
    with pytest.raises(ValueError, match=rf"^{bad}: not a readable JPEG, PNG, BMP or GIF image"):
        load_image_folder(tmp_path / "src", cache_dir=cache)
    archive = make_zip(tmp_path / "src", tmp_path / "s.zip")
    with pytest.raises(ValueError, match=r"s\.zip:dog/1\.png: not a readable"):
        load_image_folder(archive, cache_dir=cache)
    good = _save(tmp_path / "t.png", _pixels(0)).read_bytes()
    bad.write_bytes(good[: len(good) // 2])  # a truncated PNG
    with pytest.raises(ValueError, match=rf"^{bad}: not a readable"):
        load_image_folder(tmp_path / "src", cache_dir=cache)


def test_sixteen_bit_images_are_refused(tmp_path, cache):
    path = tmp_path / "src" / "a" / "deep.png"
    path.parent.mkdir(parents=True)
    Image.fromarray(numpy.full((4, 5), 1000, numpy.uint16)).save(path)
    with pytest.raises(ValueError, match=r"deep\.png: mode I.* is not supported"):
        load_image_folder(tmp_path / "src", cache_dir=cache)


def test_empty_class_folder(tmp_path, cache):
    make_folder(tmp_path / "src")
    (tmp_path / "src" / "empty").mkdir()
    (tmp_path / "src" / "text").mkdir()
    (tmp_path / "src" / "text" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=r"src/empty: empty class folder"):
        load_image_folder(tmp_path / "src", cache_dir=cache)


def test_no_class_folders(tmp_path, cache):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: no class folders: expected one sub-folder"):
        load_image_folder(tmp_path / "empty", cache_dir=cache)
    _save(tmp_path / "loose" / "1.png", _pixels(0))
    _save(tmp_path / "loose" / "2.png", _pixels(1))
    with pytest.raises(ValueError, match=r"loose: no class folders: its images sit directly in it"):
        load_image_folder(tmp_path / "loose", cache_dir=cache)
    _save(tmp_path / "one" / "x" / "1.png", _pixels(0))  # one sub-folder of images is one class
    assert load_image_folder(tmp_path / "one", cache_dir=cache).classes == ["x"]
    with zipfile.ZipFile(tmp_path / "e.zip", "w") as z:
        z.writestr("readme.txt", "nothing here")
    with pytest.raises(ValueError, match=r"e\.zip: no class folders"):
        load_image_folder(tmp_path / "e.zip", cache_dir=cache)


def test_not_a_zip_and_missing_source(tmp_path, cache):
    (tmp_path / "fake.zip").write_bytes(b"PK but not really")
    with pytest.raises(ValueError, match=r"fake\.zip: not a folder nor a zip archive"):
        load_image_folder(tmp_path / "fake.zip", cache_dir=cache)
    with pytest.raises(FileNotFoundError, match=r"nope: no such file or folder"):
        load_image_folder(tmp_path / "nope", cache_dir=cache)


def test_labels_follow_sorted_classes_and_files(tmp_path, cache):
    for name in ("b", "a"):
        for i in (3, 1, 2):
            _save(tmp_path / "src" / name / f"{i}.png", numpy.full((2, 2, 3), 10 * (name == "b") + i, numpy.uint8))
    data = load_image_folder(tmp_path / "src", cache_dir=cache)
    assert data.classes == ["a", "b"] and data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.images[:, 0, 0, 0].tolist() == [1, 2, 3, 11, 12, 13]


@pytest.mark.skipif(not CIFAR_ZIP.is_file(), reason=f"{CIFAR_ZIP} not present")
def test_layout_of_the_shared_cifar10_jpeg_zip():
    source = image_folder_module._ZipSource(CIFAR_ZIP)
    try:
        for split in (None, "train"):  # train/ is the only top folder: found either way
            classes, files = image_folder_module._find_classes(source, split)
            assert classes == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                               "truck"]
            assert [len(f) for f in files] == [5000] * 10
        for name in (files[0][0], files[3][17], files[9][-1]):
            image = image_folder_module._open_image(source.read(name), source.where(name))
            assert (image.mode, image.size) == ("RGB", (32, 32))
    finally:
        source.close()
