"""The data sets `convpool data` can download: each one's files at their official addresses with
the checksums their publishers give, its licence and size, where it goes, and whether it is there.

Each data set lives in its own folder under the cache root (`cache_root()`: $CONVPOOL_CACHE, or
~/.cache/convpool, the folder Fashion-MNIST already used). CONVPOOL_DOWNLOAD_MIRROR, when set, is
a base URL to fetch from instead of the official addresses, as MIRROR/NAME/FILE; the checksums
are the same, so a mirror can only save time, never change the data.

How each set is checked, and why:
- Fashion-MNIST: SHA-256 of each file's *decompressed* IDX content (the constants in
  fashion_mnist.py, the same check `load_fashion_mnist(verify=True)` makes), so upstream's .gz
  files and Debian's, which differ byte for byte, both pass.
- CIFAR-10 and CIFAR-100: the MD5 of each archive, as published on the dataset's page.
- Free Spoken Digit Dataset: GitHub builds its archives on the fly, publishes no checksum and
  does not promise the same bytes twice, so the *recordings inside* are checked instead (see
  `fsdd_content`), one by one through two manifest digests: the 2,700 train recordings (index
  5-49) by SHA-256, the 300 test recordings (index 0-4) by their git blob ids in the pinned
  commit's tree (the project holds no copy of the test recordings, only that tree's listing).
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import fashion_mnist as fm
from .download import Checksum, cache_root, download, part_path

MIRROR_ENV = "CONVPOOL_DOWNLOAD_MIRROR"
MAX_FILE_BYTES = 256 * 2**20  # the largest catalogued file, CIFAR-10's python archive, is 163 MB


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set: its name in the data set's folder, its official URL, its checksum,
    the format it belongs to ("" when the data set has a single format), and the most bytes a
    download of it may take."""

    name: str
    url: str
    checksum: Checksum
    format: str = ""
    max_bytes: int = MAX_FILE_BYTES


@dataclass(frozen=True)
class DataSet:
    """A downloadable data set. `formats` lists the alternatives, the default first; `places`
    are other folders searched for it (e.g. a system package's)."""

    name: str
    title: str
    what: str
    size: str
    licence: str
    source: str
    files: tuple[RemoteFile, ...]
    formats: tuple[str, ...] = ("",)
    note: str = ""
    places: tuple[Path, ...] = field(default=())
    unpack: Callable[[Path, Path], int] | None = None  # (verified archive, folder) -> files written

    def files_for(self, format: str | None = None) -> tuple[RemoteFile, ...]:
        """The files of one format (default: the first), plus those every format shares."""
        format = self.formats[0] if format is None else format
        if format not in self.formats:
            raise ValueError(f"{self.name} comes in format {' or '.join(map(repr, self.formats))}, not {format!r}")
        return tuple(f for f in self.files if f.format in ("", format))

    def folder(self) -> Path:
        """Where `download` puts it: <cache root>/<name>."""
        return cache_root() / self.name


# ----- Free Spoken Digit Dataset: the content check ----------------------------------------------
FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"  # v1.0.10-27-g26eb9aa, 3,000 recordings
FSDD_URL = f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/{FSDD_COMMIT}.tar.gz"
# SHA-256 of the text made of one line "recordings/<digit>_<speaker>_<index>.wav <sha256 of the
# file>\n" per train recording (index 5-49), sorted. Built from the project's copy of that commit's
# 2,700 train recordings (../shared/data/fsdd-train-wav.zip), not from a download of the archive.
FSDD_TRAIN_MANIFEST_SHA256 = "56a5917d2f67446d2ff2c6435449153dd8d2f9336c2ff94bf93d770173e292fb"
# SHA-256 of the text made of one line "recordings/<name> <git blob id>\n" per test recording
# (index 0-4), sorted, where a git blob id is the SHA-1 of b"blob <size>\0" + the file's bytes.
# Built from `git ls-tree 26eb9aaf recordings/` (the ids of all 3,000 recordings; the 2,700 train
# ids agree with the project's copy of the train recordings), not from the recordings themselves.
FSDD_TEST_MANIFEST_SHA256 = "927e1be2e17d1d15079b3220ad7fcde38e6fd9051794148fdd7350dcf9fe27ba"
FSDD_TRAIN_COUNT, FSDD_TEST_COUNT = 2700, 300
MAX_RECORDING_BYTES = 2**20  # the longest recording is about 2.3 s of 8 kHz 16-bit: 37 kB
FSDD_RECORDING = re.compile(r"(?:[^/]+/)?recordings/(\d_[A-Za-z]+_(\d+)\.wav)")


def fsdd_manifest_digest(recordings: Iterable[tuple[str, bytes]]) -> str:
    """The manifest digest of train recordings given as ("<digit>_<speaker>_<index>.wav", bytes) pairs."""
    lines = sorted(f"recordings/{name} {hashlib.sha256(data).hexdigest()}\n" for name, data in recordings)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def git_blob_id(data: bytes) -> str:
    """The id git gives a file's bytes: SHA-1 of b"blob <size>\\0" + data."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324  (git's own id)


def fsdd_test_manifest_digest(recordings: Iterable[tuple[str, bytes]]) -> str:
    """The manifest digest of test recordings given as ("<digit>_<speaker>_<index>.wav", bytes) pairs."""
    lines = sorted(f"recordings/{name} {git_blob_id(data)}\n" for name, data in recordings)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _fsdd_summary(train_digest: str, test_digest: str, train: int, test: int) -> str:
    return f"{train_digest} + {test_digest} ({train} train + {test} test recordings)"


def fsdd_content(path: Path) -> str | None:
    """What an FSDD archive holds, as "<train manifest digest> + <test manifest digest> (<n> train
    + <m> test recordings)"; None when it is not a readable tar archive. Every recording counts in
    one of the two digests (index 0-4: test), so an extra, a missing or a changed recording
    changes the summary."""
    train: list[tuple[str, bytes]] = []
    test: list[tuple[str, bytes]] = []
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                match = FSDD_RECORDING.fullmatch(member.name)
                if match is None or not member.isfile():
                    continue
                if member.size > MAX_RECORDING_BYTES:
                    return None
                with archive.extractfile(member) as f:
                    (test if int(match[2]) < 5 else train).append((match[1], f.read()))
    except (OSError, EOFError, zlib.error, tarfile.TarError):
        return None
    return _fsdd_summary(fsdd_manifest_digest(train), fsdd_test_manifest_digest(test), len(train), len(test))


def unpack_fsdd(archive: Path, folder: Path) -> int:
    """Write the recordings of a verified FSDD archive as folder/train/*.wav (index 5-49) and
    folder/test/*.wav (index 0-4), FSDD's own split, which the spoken-digit reader takes as
    train and test. Only names matching the recording pattern are written, under that name
    alone (nothing from the archive chooses a path); files already there with the same bytes
    are left alone, so running it again writes nothing. Returns the number of files written."""
    written = 0
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            match = FSDD_RECORDING.fullmatch(member.name)
            if match is None or not member.isfile():
                continue
            with tar.extractfile(member) as f:
                data = f.read()
            target = folder / ("test" if int(match[2]) < 5 else "train") / match[1]
            if target.is_file() and target.read_bytes() == data:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)  # never a half-written recording under its name
            written += 1
    return written


def _fsdd_checksum() -> Checksum:
    return Checksum(_fsdd_summary(FSDD_TRAIN_MANIFEST_SHA256, FSDD_TEST_MANIFEST_SHA256, FSDD_TRAIN_COUNT,
                                  FSDD_TEST_COUNT),
                    "the recordings' manifest", fsdd_content)


# ----- the catalogue -----------------------------------------------------------------------------
def _fashion_mnist() -> DataSet:
    names = fm.FASHION_MNIST_FILES["train"] + fm.FASHION_MNIST_FILES["test"]
    files = tuple(RemoteFile(f"{name}.gz", fm.FASHION_MNIST_URL.rstrip("/") + f"/{name}.gz",
                             Checksum(fm.FASHION_MNIST_SHA256[name], "SHA-256 of the decompressed content",
                                      fm._content_sha256))  # the very check load_fashion_mnist(verify=True) makes
                  for name in names)
    return DataSet("fashion-mnist", "Fashion-MNIST", "clothing, 28x28 grey, 10 classes, 60k + 10k", "30 MB",
                   "MIT", "https://github.com/zalandoresearch/fashion-mnist", files,
                   places=(fm.SYSTEM_DIR,))


# MD5s as published on https://www.cs.toronto.edu/~kriz/cifar.html, the table of versions.
_TORONTO = "https://www.cs.toronto.edu/~kriz/"
_CIFAR_MD5 = {
    "cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a",
    "cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530",
    "cifar-100-python.tar.gz": "eb9058c3a382ffc7106e4002c42a8d85",
    "cifar-100-binary.tar.gz": "03b5dce01913d631647c71ecec9e9cb8",
}
_CIFAR_LICENCE = "none stated; cite Krizhevsky 2009"


def _cifar(classes: int, what: str, size: str) -> DataSet:
    files = tuple(RemoteFile(f"cifar-{classes}-{fmt}.tar.gz", f"{_TORONTO}cifar-{classes}-{fmt}.tar.gz",
                             Checksum.of_bytes("md5", _CIFAR_MD5[f"cifar-{classes}-{fmt}.tar.gz"]), fmt)
                  for fmt in ("python", "binary"))
    return DataSet(f"cifar{classes}", f"CIFAR-{classes}", what, size, _CIFAR_LICENCE,
                   "https://www.cs.toronto.edu/~kriz/cifar.html", files, formats=("python", "binary"),
                   note="archives are kept as downloaded (.tar.gz)")


def _fsdd() -> DataSet:
    return DataSet("fsdd", "Free Spoken Digit Dataset", "spoken digits, 8 kHz mono WAV, 6 speakers, 3,000",
                   "~16 MB", "CC BY-SA 4.0", "https://github.com/Jakobovski/free-spoken-digit-dataset",
                   (RemoteFile(f"fsdd-{FSDD_COMMIT[:8]}.tar.gz", FSDD_URL, _fsdd_checksum()),),
                   note=f"GitHub archive of commit {FSDD_COMMIT[:8]}, checked by content: the {FSDD_TRAIN_COUNT:,} "
                        f"train recordings (index 5-49) and the {FSDD_TEST_COUNT} test recordings (index 0-4) against "
                        f"manifests; unpacked as train/ and test/",
                   unpack=unpack_fsdd)


CATALOG: dict[str, DataSet] = {ds.name: ds for ds in (
    _fashion_mnist(),
    _cifar(10, "colour photos, 32x32, 10 classes, 50k + 10k", "163 MB"),
    _cifar(100, "colour photos, 32x32, 100 classes, 50k + 10k", "161 MB"),
    _fsdd(),
)}


def names() -> list[str]:
    return list(CATALOG)


def get(name: str) -> DataSet:
    """The catalogue entry; ValueError listing the names when there is none."""
    try:
        return CATALOG[name]
    except KeyError:
        raise ValueError(f"unknown data set {name!r}; the names are: {', '.join(CATALOG)}") from None


# ----- where it is -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Status:
    """state: "present" (every file of a format is there), "partial" (some files or a .part to
    resume) or "missing"; folder: where it was found, or where a download would put it. Presence
    only: files are verified when they are downloaded, and again by `download_dataset`."""

    state: str
    folder: Path
    format: str = ""
    detail: str = ""


def status(name: str, folder: str | os.PathLike | None = None) -> Status:
    """Whether a data set is in folder (default: its cache folder, then its other places)."""
    ds = get(name)
    places = [Path(folder).expanduser()] if folder is not None else [ds.folder(), *ds.places]
    for place in places:
        for fmt in ds.formats:
            if all((place / f.name).is_file() for f in ds.files_for(fmt)):
                return Status("present", place, fmt)
    for place in places:
        parts = sum(part_path(place / f.name).is_file() for f in ds.files)
        have, best = max((sum((place / f.name).is_file() for f in ds.files_for(fmt)), fmt) for fmt in ds.formats)
        if have or parts:
            details = [f"{have} of {len(ds.files_for(best))} files"] if have else []
            details += [f"{parts} .part to resume"] if parts else []
            return Status("partial", place, best, ", ".join(details))
    return Status("missing", places[0])


# ----- getting it --------------------------------------------------------------------------------
def url_for(ds: DataSet, file: RemoteFile, mirror: str | None = None) -> str:
    """The official URL, or MIRROR/NAME/FILE when a mirror is given or set in $CONVPOOL_DOWNLOAD_MIRROR."""
    mirror = mirror or os.environ.get(MIRROR_ENV)
    return f"{mirror.rstrip('/')}/{ds.name}/{file.name}" if mirror else file.url


def download_dataset(name: str, folder: str | os.PathLike | None = None, *, format: str | None = None,
                     mirror: str | None = None, progress: bool | None = None,
                     on_file: Callable[[RemoteFile, Path, str], None] | None = None) -> Path:
    """Download a data set's files (one format's: default the first) into folder (default its
    cache folder) and return the folder. Files present that verify are kept, not fetched again;
    on_file(file, path, outcome) hears "present", "resumed" or "downloaded" for each, then
    "unpacked N files" when a data set that is unpacked (FSDD) had files to write."""
    ds = get(name)
    folder = ds.folder() if folder is None else Path(folder).expanduser()
    for file in ds.files_for(format):
        path = folder / file.name
        outcome = download(url_for(ds, file, mirror), path, file.checksum, progress=progress, max_bytes=file.max_bytes)
        if on_file is not None:
            on_file(file, path, outcome)
        if ds.unpack is not None and (written := ds.unpack(path, folder)) and on_file is not None:
            on_file(file, folder, f"unpacked {written:,} files")
    return folder
