"""The data-set catalogue: every entry complete with official URLs and published checksums, the
cache folders, status (present / partial / missing), the FSDD content check and unpacking, and
download_dataset through a local mirror. When ../shared/data holds the FSDD train recordings,
the shipped manifest digest is checked against them."""

import dataclasses
import hashlib
import io
import re
import tarfile
import zipfile
from pathlib import Path

import pytest
from test_data_download import Server

from convpool.data import FASHION_MNIST_SHA256, FASHION_MNIST_URL
from convpool.data import catalog as cat
from convpool.data import fashion_mnist as fm
from convpool.data.download import Checksum, ChecksumError, part_path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVPOOL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(cat.MIRROR_ENV, raising=False)
    for name, ds in cat.CATALOG.items():  # no system folder may count
        monkeypatch.setitem(cat.CATALOG, name, dataclasses.replace(ds, places=()))
    return tmp_path / "cache"


def test_every_entry_is_complete():
    assert cat.names() == ["fashion-mnist", "cifar10", "cifar100", "fsdd"]
    for ds in cat.CATALOG.values():
        assert ds.title and ds.what and ds.size and ds.licence and ds.source.startswith("https://")
        assert ds.files and ds.files_for() and all(f.format in ("", *ds.formats) for f in ds.files)
        for fmt in ds.formats:
            assert ds.files_for(fmt)
        for file in ds.files:
            assert file.url.startswith(("https://", "http://")) and file.name and "/" not in file.name
            assert file.checksum.what and file.checksum.expected == file.checksum.expected.lower()
            hexdigest = file.checksum.expected.split()[0]
            assert re.fullmatch(r"[0-9a-f]{32}|[0-9a-f]{64}", hexdigest)


def test_fashion_mnist_reuses_the_official_constants():
    ds = cat.get("fashion-mnist")
    assert [f.url for f in ds.files] == [FASHION_MNIST_URL + f.name for f in ds.files]
    assert {f.name.removesuffix(".gz"): f.checksum.expected for f in ds.files} == FASHION_MNIST_SHA256
    assert fm.SYSTEM_DIR in ds.places and ds.licence == "MIT"


def test_cifar_comes_from_toronto_with_the_published_md5s():
    expected = {
        "cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a",
        "cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530",
        "cifar-100-python.tar.gz": "eb9058c3a382ffc7106e4002c42a8d85",
        "cifar-100-binary.tar.gz": "03b5dce01913d631647c71ecec9e9cb8",
    }
    for name in ("cifar10", "cifar100"):
        ds = cat.get(name)
        assert ds.formats == ("python", "binary") and ds.files_for()[0].name.endswith("-python.tar.gz")
        for file in ds.files:
            assert file.url == f"https://www.cs.toronto.edu/~kriz/{file.name}"
            assert file.checksum.expected == expected[file.name] and file.checksum.what == "MD5"
    with pytest.raises(ValueError, match="'python' or 'binary'"):
        cat.get("cifar10").files_for("png")


def test_fsdd_is_pinned_to_a_commit_and_checked_by_content():
    ds = cat.get("fsdd")
    (file,) = ds.files
    assert file.url == ("https://github.com/Jakobovski/free-spoken-digit-dataset/archive/"
                        "26eb9aaf76e81b692f806f9140c2d2777410d7a1.tar.gz")
    assert file.checksum.expected == (f"{cat.FSDD_TRAIN_MANIFEST_SHA256} + {cat.FSDD_TEST_MANIFEST_SHA256} "
                                      f"(2700 train + 300 test recordings)")
    assert "against manifests" in ds.note and ds.licence == "CC BY-SA 4.0"


def test_unknown_names_are_refused_with_the_list():
    with pytest.raises(ValueError, match="unknown data set 'mnist'; the names are: fashion-mnist, cifar10"):
        cat.get("mnist")


def test_cache_folders(cache, monkeypatch, tmp_path):
    assert cat.get("cifar10").folder() == cache / "cifar10"
    assert fm.default_cache_dir() == cat.get("fashion-mnist").folder()  # one cache, whoever downloads
    monkeypatch.delenv("CONVPOOL_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cat.get("fsdd").folder() == tmp_path / "home" / ".cache" / "convpool" / "fsdd"


def test_status_missing_partial_present(cache, tmp_path):
    assert cat.status("cifar10") == cat.Status("missing", cache / "cifar10")
    folder = cache / "cifar10"
    folder.mkdir(parents=True)
    part_path(folder / "cifar-10-python.tar.gz").write_bytes(b"half")
    assert cat.status("cifar10") == cat.Status("partial", folder, "python", "1 .part to resume")
    (folder / "cifar-10-binary.tar.gz").write_bytes(b"")
    assert cat.status("cifar10") == cat.Status("present", folder, "binary")

    fashion = cache / "fashion-mnist"
    fashion.mkdir()
    for file in cat.get("fashion-mnist").files[:3]:
        (fashion / file.name).write_bytes(b"")
    assert cat.status("fashion-mnist") == cat.Status("partial", fashion, "", "3 of 4 files")
    (fashion / cat.get("fashion-mnist").files[3].name).write_bytes(b"")
    assert cat.status("fashion-mnist").state == "present"
    assert cat.status("fashion-mnist", tmp_path / "elsewhere") == cat.Status("missing", tmp_path / "elsewhere")


def test_status_looks_in_other_places_too(cache, tmp_path, monkeypatch):
    system = tmp_path / "system"
    system.mkdir()
    ds = cat.get("fashion-mnist")
    for file in ds.files:
        (system / file.name).write_bytes(b"")
    monkeypatch.setitem(cat.CATALOG, "fashion-mnist", dataclasses.replace(ds, places=(system,)))
    assert cat.status("fashion-mnist") == cat.Status("present", system, "")


def test_mirror_urls(monkeypatch):
    ds = cat.get("cifar10")
    monkeypatch.delenv(cat.MIRROR_ENV, raising=False)
    assert cat.url_for(ds, ds.files[0]) == ds.files[0].url
    monkeypatch.setenv(cat.MIRROR_ENV, "http://mirror.example/data/")
    assert cat.url_for(ds, ds.files[0]) == "http://mirror.example/data/cifar10/cifar-10-python.tar.gz"
    assert cat.url_for(ds, ds.files[0], "http://other") == "http://other/cifar10/cifar-10-python.tar.gz"


# ----- FSDD: the content check and unpacking, on a small archive written here ---------------------
def _tar(members: dict[str, bytes], compress: str = "gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compress}") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


TOP = "free-spoken-digit-dataset-26eb9aaf/"
TRAIN = {"0_george_5.wav": b"RIFF one", "9_theo_49.wav": b"RIFF two", "3_lucas_12.wav": b"RIFF three"}
TEST = {"0_george_0.wav": b"RIFF t0", "7_nicolas_4.wav": b"RIFF t4"}
SMALL = {**{TOP + "recordings/" + n: d for n, d in {**TRAIN, **TEST}.items()},
         TOP + "README.md": b"# FSDD", TOP + "utils/0_a_5.wav": b"not a recording",
         "../recordings/1_evil_7.wav": b"a path that climbs out"}


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob " + str(len(data)).encode() + b"\0" + data).hexdigest()


def test_fsdd_content_summarises_train_and_test_by_digest(tmp_path):
    archive = tmp_path / "fsdd.tar.gz"
    archive.write_bytes(_tar(SMALL))
    lines = sorted(f"recordings/{n} {hashlib.sha256(d).hexdigest()}\n" for n, d in
                   {**TRAIN, "1_evil_7.wav": b"a path that climbs out"}.items())
    digest = hashlib.sha256("".join(lines).encode()).hexdigest()
    test_lines = sorted(f"recordings/{n} {_git_blob_id(d)}\n" for n, d in TEST.items())
    test_digest = hashlib.sha256("".join(test_lines).encode()).hexdigest()
    assert cat.fsdd_content(archive) == f"{digest} + {test_digest} (4 train + 2 test recordings)"
    # a test recording changed, same count: a count alone would not see it
    archive.write_bytes(_tar({**SMALL, TOP + "recordings/7_nicolas_4.wav": b"RIFF t5"}))
    changed = cat.fsdd_content(archive)
    assert changed.startswith(f"{digest} + ") and test_digest not in changed
    assert changed.endswith("(4 train + 2 test recordings)")
    archive.write_bytes(b"\x1f\x8b not an archive")
    assert cat.fsdd_content(archive) is None


def test_git_blob_ids_are_git_s():
    assert cat.git_blob_id(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # `git hash-object /dev/null`
    assert cat.git_blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_unpack_fsdd_writes_train_and_test_by_name_only(tmp_path):
    archive = tmp_path / "fsdd.tar.gz"
    archive.write_bytes(_tar(SMALL))
    folder = tmp_path / "out"
    assert cat.unpack_fsdd(archive, folder) == 6
    assert sorted(p.name for p in (folder / "train").iterdir()) == sorted([*TRAIN, "1_evil_7.wav"])
    assert sorted(p.name for p in (folder / "test").iterdir()) == sorted(TEST)
    assert (folder / "train" / "9_theo_49.wav").read_bytes() == b"RIFF two"
    assert not (tmp_path / "recordings").exists()  # nothing written outside the folder
    assert cat.unpack_fsdd(archive, folder) == 0  # again: nothing to write


# ----- download_dataset through a local mirror -------------------------------------------------
def _toy(files: dict[str, bytes], **changes) -> cat.DataSet:
    remote = tuple(cat.RemoteFile(name, f"https://invalid.example/{name}",
                                  Checksum.of_bytes("sha256", hashlib.sha256(data).hexdigest())) for name, data in
                   files.items())
    return cat.DataSet("toy", "Toy", "a toy", "1 kB", "CC0", "https://invalid.example/", remote, **changes)


def test_download_dataset_fetches_verifies_and_skips_what_is_present(cache, monkeypatch):
    files = {"a.bin": b"alpha" * 1000, "b.bin": b"beta" * 1000}
    monkeypatch.setitem(cat.CATALOG, "toy", _toy(files))
    heard = []
    with Server({f"/toy/{n}": d for n, d in files.items()}) as server:
        folder = cat.download_dataset("toy", mirror=server.url, progress=False,
                                      on_file=lambda f, p, outcome: heard.append((f.name, p, outcome)))
        assert folder == cache / "toy"
        assert heard == [("a.bin", folder / "a.bin", "downloaded"), ("b.bin", folder / "b.bin", "downloaded")]
        assert cat.status("toy") == cat.Status("present", folder, "")
        server.log.clear()
        monkeypatch.setenv(cat.MIRROR_ENV, server.url)
        cat.download_dataset("toy", progress=False)
        assert server.log == []


def test_download_dataset_unpacks_after_verifying(cache, monkeypatch, tmp_path):
    data = _tar(SMALL)
    toy = _toy({"fsdd.tar.gz": data}, unpack=cat.unpack_fsdd)
    monkeypatch.setitem(cat.CATALOG, "toy", toy)
    heard = []
    with Server({"/toy/fsdd.tar.gz": data}) as server:
        folder = cat.download_dataset("toy", tmp_path / "here", mirror=server.url, progress=False,
                                      on_file=lambda f, p, outcome: heard.append(outcome))
    assert folder == tmp_path / "here" and heard == ["downloaded", "unpacked 6 files"]
    assert len(list((folder / "train").iterdir())) == 4
    bad = dataclasses.replace(toy, files=(dataclasses.replace(toy.files[0], name="bad.tar.gz"),))
    monkeypatch.setitem(cat.CATALOG, "toy", bad)
    with Server({"/toy/bad.tar.gz": data + b"x"}) as server, pytest.raises(ChecksumError):
        cat.download_dataset("toy", tmp_path / "bad", mirror=server.url, progress=False)
    assert list((tmp_path / "bad").iterdir()) == []  # nothing unpacked from a file that failed


# ----- the shipped FSDD manifest against the real recordings -----------------------------------
needs_fsdd = pytest.mark.skipif(not (SHARED / "fsdd-train-wav.zip").is_file(),
                                reason=f"no fsdd-train-wav.zip in {SHARED}")


@needs_fsdd
def test_the_shipped_fsdd_manifest_matches_the_real_train_recordings(tmp_path):
    with zipfile.ZipFile(SHARED / "fsdd-train-wav.zip") as z:
        recordings = {n.removeprefix("recordings/"): z.read(n) for n in z.namelist() if n.endswith(".wav")}
    assert len(recordings) == cat.FSDD_TRAIN_COUNT
    assert all(5 <= int(n.split("_")[2].removesuffix(".wav")) <= 49 for n in recordings)
    lines = sorted(f"recordings/{n} {hashlib.sha256(d).hexdigest()}\n" for n, d in recordings.items())
    assert hashlib.sha256("".join(lines).encode()).hexdigest() == cat.FSDD_TRAIN_MANIFEST_SHA256
    # and through the archive check, as GitHub's archive would be laid out, with 300 stand-ins for the
    # test split: the train digest matches, the test digest does not (they are checked by content)
    members = {f"{cat.FSDD_COMMIT}/recordings/{n}": d for n, d in recordings.items()}
    stand_ins = {f"{d}_{s}_{i}.wav": b"stand-in" for d in range(10)
                 for s in ("george", "jackson", "lucas", "nicolas", "theo", "yweweler") for i in range(5)}
    members.update({f"{cat.FSDD_COMMIT}/recordings/{n}": d for n, d in stand_ins.items()})
    archive = tmp_path / "fsdd.tar"
    archive.write_bytes(_tar(members, compress=""))
    found = cat.fsdd_content(archive)
    expected = cat.get("fsdd").files[0].checksum.expected
    assert found == f"{cat.FSDD_TRAIN_MANIFEST_SHA256} + {cat.fsdd_test_manifest_digest(stand_ins.items())} " \
                    f"(2700 train + 300 test recordings)"
    assert found != expected and found.split(" + ")[0] == expected.split(" + ")[0]
