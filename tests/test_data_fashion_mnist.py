"""Fashion-MNIST: where it is looked for, the message when it is missing, the checked download
(with a fake fetcher: tests never touch the network), and the real files when present."""

import gzip
import hashlib
from pathlib import Path

import numpy
import pytest

from convpool.data import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_URL,
    DataLoader,
    download_fashion_mnist,
    find_fashion_mnist,
    load_fashion_mnist,
    write_idx,
)
from convpool.data import fashion_mnist as fm

# the repository's parent holds shared/data (read-only) on developer machines and in CI
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fashion-mnist"
NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@pytest.fixture
def places(tmp_path, monkeypatch):
    """A given folder, a fake home (for ~/.cache) and a fake system folder, all empty."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CONVPOOL_CACHE", raising=False)  # it would move the cache out of the fake home
    monkeypatch.setattr(fm, "SYSTEM_DIR", tmp_path / "system")
    given, cache, system = tmp_path / "given", tmp_path / "home/.cache/convpool/fashion-mnist", tmp_path / "system"
    for folder in (given, cache, system):
        folder.mkdir(parents=True)
    return given, cache, system


def _touch_all(folder, gz=True, names=NAMES):
    for name in names:
        (folder / (f"{name}.gz" if gz else name)).write_bytes(b"")


def test_finder_order(places):
    given, cache, system = places
    _touch_all(system)
    assert find_fashion_mnist() == system
    assert find_fashion_mnist(given) == system  # an empty given folder falls through
    _touch_all(cache, gz=False)  # raw names are accepted too
    assert find_fashion_mnist() == cache
    _touch_all(given)
    assert find_fashion_mnist(given) == given
    assert find_fashion_mnist(str(given)) == given


def test_finder_mixes_raw_and_gz_and_knows_splits(places):
    given, _, _ = places
    _touch_all(given, gz=False, names=NAMES[2:3])
    _touch_all(given, gz=True, names=NAMES[3:])
    assert find_fashion_mnist(given, split="test") == given
    with pytest.raises(FileNotFoundError):
        find_fashion_mnist(given)
    with pytest.raises(ValueError, match="'train' or 'test'"):
        find_fashion_mnist(given, split="val")


def test_not_found_message_says_where_and_how(places, tmp_path):
    given, cache, system = places
    _touch_all(given, names=NAMES[:3])
    with pytest.raises(FileNotFoundError) as info:
        find_fashion_mnist(given)
    message = str(info.value)
    for folder in (given, cache, system):
        assert str(folder) in message
    assert message.index(str(given)) < message.index(str(cache)) < message.index(str(system))
    assert "missing t10k-labels-idx1-ubyte" in message
    assert "download_fashion_mnist" in message and "apt-get install dataset-fashion-mnist" in message
    system.rmdir()
    with pytest.raises(FileNotFoundError, match="no such folder"):
        find_fashion_mnist()


def _write_fake_split(folder, n=6, labels=None):
    rng = numpy.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=numpy.uint8)
    labels = numpy.arange(n, dtype=numpy.uint8) % 10 if labels is None else numpy.asarray(labels, numpy.uint8)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images)
    write_idx(folder / "t10k-labels-idx1-ubyte", labels)
    return images, labels


def test_load_from_a_folder(places):
    given, _, _ = places
    images, labels = _write_fake_split(given)
    data = load_fashion_mnist("test", given)
    assert data.images.shape == (6, 1, 28, 28) and data.images.dtype == numpy.uint8
    numpy.testing.assert_array_equal(data.images[:, 0], images)
    assert data.labels.dtype == numpy.int64 and data.labels.tolist() == labels.tolist()
    assert data.classes == list(FASHION_MNIST_CLASSES) and data.classes[9] == "Ankle boot"
    with pytest.raises(ValueError, match="SHA-256"):
        load_fashion_mnist("test", given, verify=True)  # fake files are not the real data


def test_load_rejects_out_of_range_labels(places):
    given, _, _ = places
    _write_fake_split(given, n=3, labels=[1, 10, 2])
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte: label values must be \[0, 10\)"):
        load_fashion_mnist("test", given)


# ----- the download, with a fake fetcher and fake checksums --------------------------------------
def _fake_contents():
    rng = numpy.random.default_rng(1)
    contents = {}
    for name in NAMES:
        shape = (4, 28, 28) if "images" in name else (4,)
        high = 256 if "images" in name else 10
        header = bytes([0, 0, 8, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape)
        contents[name] = header + rng.integers(0, high, shape, dtype=numpy.uint8).tobytes()
    return contents


@pytest.fixture
def fake_source(monkeypatch):
    contents = _fake_contents()
    for name, data in contents.items():
        monkeypatch.setitem(fm.FASHION_MNIST_SHA256, name, hashlib.sha256(data).hexdigest())
    calls = []

    def fetch(url):
        calls.append(url)
        name = url.rsplit("/", 1)[1].removesuffix(".gz")
        return gzip.compress(contents[name], mtime=0)

    return contents, fetch, calls


def test_download_writes_verified_gz_files(tmp_path, fake_source):
    contents, fetch, calls = fake_source
    dest = download_fashion_mnist(tmp_path / "d", fetch=fetch)
    assert dest == tmp_path / "d"
    assert calls == [FASHION_MNIST_URL + f"{name}.gz" for name in NAMES]
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{n}.gz" for n in NAMES)  # no temp files left
    for name in NAMES:
        assert gzip.decompress((dest / f"{name}.gz").read_bytes()) == contents[name]
    assert load_fashion_mnist("train", dest).images.shape == (4, 1, 28, 28)
    calls.clear()
    download_fashion_mnist(dest, fetch=fetch)
    assert calls == []  # good files are kept


def test_download_defaults_to_the_cache_folder(places, fake_source):
    _, cache, _ = places
    _, fetch, _ = fake_source
    assert download_fashion_mnist(fetch=fetch) == cache
    assert find_fashion_mnist() == cache


def test_corrupt_download_is_refused_and_never_replaces_a_good_file(tmp_path, fake_source):
    contents, fetch, _ = fake_source
    dest = download_fashion_mnist(tmp_path, fetch=fetch)
    good = {p.name: p.read_bytes() for p in dest.iterdir()}

    def corrupt(url):
        data = bytearray(gzip.decompress(fetch(url)))
        data[-1] ^= 1
        return gzip.compress(bytes(data))

    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz: SHA-256 .* nothing was written"):
        download_fashion_mnist(dest, fetch=corrupt, force=True)
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == good
    with pytest.raises(ValueError, match="not valid gzip"):
        download_fashion_mnist(tmp_path / "new", fetch=lambda url: b"\x1f\x8bnot really gzip")
    assert list((tmp_path / "new").iterdir()) == []


def test_bad_existing_file_is_replaced_and_raw_responses_are_stored_compressed(tmp_path, fake_source):
    contents, fetch, calls = fake_source
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b damaged")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(contents["t10k-labels-idx1-ubyte"])  # good, raw
    download_fashion_mnist(tmp_path, fetch=lambda url: gzip.decompress(fetch(url)))
    assert FASHION_MNIST_URL + "train-labels-idx1-ubyte.gz" in calls
    assert FASHION_MNIST_URL + "t10k-labels-idx1-ubyte.gz" not in calls
    assert gzip.decompress((tmp_path / "train-labels-idx1-ubyte.gz").read_bytes()) == \
        contents["train-labels-idx1-ubyte"]


def test_fetch_errors_propagate_with_advice(tmp_path, fake_source):
    def offline(url):
        raise ConnectionError("network is unreachable")

    with pytest.raises(ConnectionError) as info:
        download_fashion_mnist(tmp_path, fetch=offline)
    assert any("apt-get install dataset-fashion-mnist" in note for note in info.value.__notes__)
    assert list(tmp_path.iterdir()) == []


def test_base_url_is_the_official_one():
    assert FASHION_MNIST_URL == "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"


# ----- the real data, when the shared folder is there ------------------------------------------
needs_real_data = pytest.mark.skipif(not all((SHARED / f"{n}.gz").is_file() for n in NAMES),
                                     reason=f"Fashion-MNIST not found in {SHARED}")


@needs_real_data
def test_real_files_match_the_checksums_through_the_download_path(tmp_path):
    calls = []

    def from_shared(url):
        calls.append(url)
        return (SHARED / url.rsplit("/", 1)[1]).read_bytes()

    dest = download_fashion_mnist(tmp_path, fetch=from_shared)
    assert len(calls) == 4
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{n}.gz" for n in NAMES)


@needs_real_data
def test_real_train_and_test_sets():
    train = load_fashion_mnist("train", SHARED)
    test = load_fashion_mnist("test", SHARED, verify=True)
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.images.dtype == numpy.uint8 and train.images.flags.c_contiguous
    assert numpy.bincount(train.labels).tolist() == [6000] * 10
    assert numpy.bincount(test.labels).tolist() == [1000] * 10
    mean = train.images.mean() / 255
    assert 0.28 < mean < 0.29  # the usual normalisation constant, 0.2860
    x, y = next(iter(DataLoader(test, batch_size=256, shuffle=True, seed=0)))
    assert x.shape == (256, 1, 28, 28) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0


def test_a_gzip_bomb_download_stops_at_the_content_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(fm, "_MAX_CONTENT", 2**20)
    bomb = gzip.compress(bytes(2**20 + 100))  # 1 kB of gzip, 1 MiB and a bit of zeros
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz: the download decompresses to more than "
                                         r"1,048,576 bytes; not a Fashion-MNIST file, and nothing was written"):
        download_fashion_mnist(tmp_path, fetch=lambda url: bomb)
    assert list(tmp_path.iterdir()) == []
