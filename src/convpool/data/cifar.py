"""CIFAR-10 and CIFAR-100 from the official files, in their binary or python (pickle) format.

`path` may be the extracted folder (`cifar-10-batches-bin`, `cifar-10-batches-py`,
`cifar-100-binary`, `cifar-100-python`), the folder that holds one, or the official `.tar.gz`
archive itself, whose members are read in one pass without extracting anything to disk.
Pickles are read only through `safe_load`, which runs no code from the file.

Binary records are label byte(s) then 3072 pixel bytes: the red plane, then green, then blue,
each 32x32 row by row, so a record reshapes straight to (3, 32, 32). CIFAR-100 records carry
two label bytes, coarse then fine. Every way a file can be wrong is a ValueError (a missing
file, FileNotFoundError) naming the file.

A split held in one binary file on disk (CIFAR-100's train.bin and test.bin, CIFAR-10's
test_batch.bin) is memory-mapped: the pixels are a read-only strided view of the records,
read page by page as rows are indexed (so each of K training processes reads its own shard),
and only the labels are read in a pass over the file. The rest cannot be mapped as it is (an
archive must be decompressed from its start, a pickle is loaded whole, CIFAR-10's training
split is five files), so it is decoded once into the cache of `convpool.data.array_cache`,
under $CONVPOOL_CACHE/cifar-arrays (default ~/.cache/convpool/cifar-arrays), keyed by the
source's path, the split, variant and label_mode, and a fingerprint of the files read (each
one's size, modification and change times and inode: for an archive, the archive's). Every
later load maps the cached images after checking the fingerprint and the checksums; a
changed source or a damaged cache is decoded again. Under `convpool train` on K processes
rank 0 builds the cache while the others wait (`convpool.distributed.main_first`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy

from .array_cache import cache_folder, cache_root, file_stamp, read_cache, write_cache
from .dataset import ArrayDataset
from .safe_pickle import safe_load
from .transforms import Transform

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

_PIXELS = 3 * 32 * 32
# the largest official files: CIFAR-100's train batch, 50,000 records of 3,074 bytes (155 MB as a
# pickle), and a names file of a few kB; anything far larger is refused before it is read
MAX_BATCH_BYTES = 200 * 2**20
MAX_META_BYTES = 2**20
_READ_BYTES = 1 << 22  # the labels of a mapped binary batch are read this many bytes at a time
_META_NAMES = ("meta", "batches.meta", "batches.meta.txt", "label_names.txt")
_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
_CLASS_COUNTS = {("cifar10", "fine"): 10, ("cifar100", "fine"): 100, ("cifar100", "coarse"): 20}
_CACHE_FORMAT = 1
_WHAT = "CIFAR cache"  # as warnings name it


@dataclass(frozen=True)
class _Layout:
    """One official distribution: its folder name and the files of each split and of the names."""

    variant: str
    binary: bool
    folder: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    meta: tuple[str, ...]

    def files(self, split: str) -> tuple[str, ...]:
        return (self.train if split == "train" else self.test) + self.meta

    def title(self) -> str:
        return f"{_NAMES[self.variant]} {'binary' if self.binary else 'python'}"


_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_LAYOUTS = (  # binary first: the preferred form when both are present
    _Layout("cifar10", True, "cifar-10-batches-bin", tuple(f"{b}.bin" for b in _BATCHES), ("test_batch.bin",),
            ("batches.meta.txt",)),
    _Layout("cifar100", True, "cifar-100-binary", ("train.bin",), ("test.bin",),
            ("coarse_label_names.txt", "fine_label_names.txt")),
    _Layout("cifar10", False, "cifar-10-batches-py", _BATCHES, ("test_batch",), ("batches.meta",)),
    _Layout("cifar100", False, "cifar-100-python", ("train",), ("test",), ("meta",)),
)


def _check_size(where: str, name: str, size: int) -> None:
    """Refuse a file larger than any official CIFAR file of its kind, before it is read."""
    limit = MAX_META_BYTES if name.endswith(_META_NAMES) else MAX_BATCH_BYTES
    if size > limit:
        raise ValueError(f"{where}: {size:,} bytes, more than the {limit:,} a CIFAR "
                         f"{'names' if limit == MAX_META_BYTES else 'batch'} file may have")


class _Folder:
    """Files under a folder, by relative name."""

    def __init__(self, root: Path):
        self.root = root

    def has(self, name: str) -> bool:
        return (self.root / name).is_file()

    def read(self, name: str) -> bytes:
        _check_size(self.where(name), name, (self.root / name).stat().st_size)
        return (self.root / name).read_bytes()

    def where(self, name: str) -> str:
        return str(self.root / name)

    def path(self, name: str) -> Path:
        return self.root / name


class _Archive:
    """The regular-file members of a tar archive, read in one pass; only `wanted` ones are kept."""

    def __init__(self, path: Path, wanted: set[str]):
        self.path = path
        self.names: set[str] = set()
        self.data: dict[str, bytes] = {}
        try:
            with tarfile.open(path, "r:*") as tar:
                for member in tar:
                    name = self._checked_name(member)
                    if name in wanted and not member.isfile():
                        raise ValueError(f"{self.where(member.name)}: a link or special file where a CIFAR "
                                         f"file was expected; refusing the archive")
                    if member.isfile():
                        self.names.add(name)
                        if name in wanted:
                            _check_size(self.where(member.name), name, member.size)  # before reading
                            self.data[name] = tar.extractfile(member).read()
        except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
            raise ValueError(f"{path}: not a readable tar archive, or a truncated one ({e})") from None

    def _checked_name(self, member: tarfile.TarInfo) -> str:
        """The name without "./" parts; absolute names and ".." parts (which would lead out of a
        folder the archive were extracted to) refuse the whole archive."""
        name = member.name.replace("\\", "/")
        parts = name.split("/")
        if name.startswith("/") or ".." in parts or (len(name) > 1 and name[1] == ":"):
            raise ValueError(f"{self.path}: unsafe member name {member.name!r} (absolute, or leading out of the "
                             f"archive's folder); refusing the archive")
        return "/".join(p for p in parts if p not in ("", "."))

    def has(self, name: str) -> bool:
        return name in self.names

    def read(self, name: str) -> bytes:
        return self.data[name]

    def where(self, name: str) -> str:
        return f"{self.path}:{name}"


def _open(path: Path, split: str) -> _Folder | _Archive:
    if path.is_dir():
        return _Folder(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder (expected a CIFAR folder or its .tar.gz archive)")
    if not tarfile.is_tarfile(path):
        raise ValueError(f"{path}: not a folder nor a tar archive; expected a CIFAR folder or its .tar.gz archive")
    wanted = {prefix + name for layout in _LAYOUTS for prefix in ("", f"{layout.folder}/")
              for name in layout.files(split)}
    return _Archive(path, wanted)


def _locate(store: _Folder | _Archive, path: Path, variant: str | None) -> tuple[_Layout, str]:
    """The layout and the prefix ("" or "its-folder/") of the CIFAR files found in the store."""
    found = []
    for layout in _LAYOUTS:
        if variant is not None and layout.variant != variant:
            continue
        everything = layout.train + layout.test + layout.meta
        for prefix in (f"{layout.folder}/", ""):
            if any(store.has(prefix + name) for name in everything):
                found.append((layout, prefix))
                break
    if not found:
        wanted = _NAMES[variant] if variant else "CIFAR-10 or CIFAR-100"
        folders = ", ".join(lay.folder for lay in _LAYOUTS if variant in (None, lay.variant))
        raise FileNotFoundError(f"{path}: no {wanted} files found: expected the files of one of the official "
                                f"folders ({folders}), or a folder or .tar.gz archive holding one")
    if len({layout.variant for layout, _ in found}) > 1:
        raise ValueError(f"{path}: holds both CIFAR-10 and CIFAR-100 files; pass variant='cifar10' or 'cifar100'")
    return found[0]


def _names_from_text(data: bytes, where: str, count: int) -> list[str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{where}: not a text file of class names ({e})") from None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) != count:
        raise ValueError(f"{where}: expected {count} class names, one a line, found {len(names)}")
    return names


def _pickled_dict(data: bytes, where: str) -> dict:
    """The pickle's dict with its keys (bytes, from Python 2) as str."""
    value = safe_load(io.BytesIO(data), where)
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a pickled dict, found {type(value).__name__}")
    return {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in value.items()}


def _entry(entries: dict, key: str, where: str, what: str):
    if key not in entries:
        keys = ", ".join(sorted(str(k) for k in entries))
        raise ValueError(f"{where}: no '{key}' entry (it has: {keys}); not a {what}")
    return entries[key]


def _names_from_pickle(data: bytes, where: str, key: str, count: int) -> list[str]:
    names = _entry(_pickled_dict(data, where), key, where, "CIFAR meta file")
    if not isinstance(names, list | tuple) or not all(isinstance(n, bytes | str) for n in names):
        raise ValueError(f"{where}: '{key}' must be a list of names")
    if len(names) != count:
        raise ValueError(f"{where}: expected {count} names in '{key}', found {len(names)}")
    return [n.decode("utf-8") if isinstance(n, bytes) else n for n in names]


def _class_names(store, prefix: str, layout: _Layout, label_mode: str) -> list[str]:
    count = _CLASS_COUNTS[layout.variant, label_mode]
    if layout.binary:
        name = "batches.meta.txt" if layout.variant == "cifar10" else f"{label_mode}_label_names.txt"
        return _names_from_text(store.read(prefix + name), store.where(prefix + name), count)
    name = layout.meta[0]
    key = "label_names" if layout.variant == "cifar10" else f"{label_mode}_label_names"
    return _names_from_pickle(store.read(prefix + name), store.where(prefix + name), key, count)


def _records(size: int, where: str, layout: _Layout, label_mode: str) -> tuple[int, int, int]:
    """(label bytes, record bytes, the label's column) of a binary batch of `size` bytes, checked."""
    label_bytes = 1 if layout.variant == "cifar10" else 2
    record = label_bytes + _PIXELS
    what = "1 label byte" if label_bytes == 1 else "2 label bytes (coarse, fine)"
    if size == 0 or size % record:
        raise ValueError(f"{where}: {size} bytes is not a whole, non-zero number of {record}-byte records "
                         f"({what} + {_PIXELS} pixel bytes): truncated or not a {layout.title()} batch")
    return label_bytes, record, 1 if label_mode == "fine" and label_bytes == 2 else 0


def _binary_batch(data: bytes, where: str, layout: _Layout, label_mode: str) -> tuple[numpy.ndarray, numpy.ndarray]:
    label_bytes, record, column = _records(len(data), where, layout, label_mode)
    records = numpy.frombuffer(data, numpy.uint8).reshape(-1, record)
    return records[:, label_bytes:].reshape(-1, 3, 32, 32), records[:, column].astype(numpy.int64)


def _mapped_binary_batch(path: Path, layout: _Layout, label_mode: str) -> tuple[numpy.ndarray, numpy.ndarray]:
    """As _binary_batch, from a file on disk: the pixels memory-mapped read-only (a strided view
    of the records, read page by page as rows are indexed), the labels, which sit between the
    records, read in one streaming pass of the file that keeps no copy of the pixels."""
    where = str(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        _check_size(where, path.name, size)
        label_bytes, record, column = _records(size, where, layout, label_mode)
        count = size // record
        records = numpy.asarray(numpy.memmap(f, numpy.uint8, mode="r", shape=(count, record)))
        labels = numpy.empty(count, numpy.int64)
        f.seek(0)  # mapping moved the position
        step = max(1, _READ_BYTES // record)
        for start in range(0, count, step):
            wanted = min(step, count - start)
            block = f.read(wanted * record)
            if len(block) != wanted * record:
                raise ValueError(f"{where}: shorter than its {size:,} bytes: changed while it was read")
            labels[start:start + wanted] = numpy.frombuffer(block, numpy.uint8)[column::record]
    return records[:, label_bytes:].reshape(-1, 3, 32, 32), labels


def _pickle_batch(data: bytes, where: str, layout: _Layout, label_mode: str) -> tuple[numpy.ndarray, numpy.ndarray]:
    entries = _pickled_dict(data, where)
    what = f"{layout.title()} batch"
    pixels = _entry(entries, "data", where, what)
    if not isinstance(pixels, numpy.ndarray) or pixels.dtype != numpy.uint8 or pixels.ndim != 2 \
            or pixels.shape[1] != _PIXELS:
        got = f"shape {pixels.shape} of {pixels.dtype}" if isinstance(pixels, numpy.ndarray) else type(pixels).__name__
        raise ValueError(f"{where}: 'data' must be a uint8 array of shape (N, {_PIXELS}), got {got}")
    key = "labels" if layout.variant == "cifar10" else f"{label_mode}_labels"
    raw = _entry(entries, key, where, what)
    labels = numpy.asarray(raw) if isinstance(raw, list | tuple | numpy.ndarray) else numpy.asarray(None)
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != len(pixels):
        raise ValueError(f"{where}: '{key}' must be {len(pixels)} integers, one per image, "
                         f"got {labels.size} values of {labels.dtype}")
    return pixels.reshape(-1, 3, 32, 32), labels.astype(numpy.int64)


def default_cache_dir() -> Path:
    """$CONVPOOL_CACHE/cifar-arrays, or ~/.cache/convpool/cifar-arrays."""
    return cache_root() / "cifar-arrays"


def _folder_fingerprint(store: _Folder, layout: _Layout, prefix: str, split: str) -> str:
    """The layout found, and the size, times and inode of each of the split's files and names files."""
    lines = [f"folder\0{layout.folder}\0{layout.binary}\0{prefix}"]
    lines += [f"{name}\0{file_stamp(store.path(prefix + name).stat())}" for name in layout.files(split)]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _decode(store, prefix: str, layout: _Layout, split: str,
            label_mode: str) -> tuple[numpy.ndarray, numpy.ndarray, list[str]]:
    """The split's images, labels and class names, read and checked file by file."""
    classes = _class_names(store, prefix, layout, label_mode)
    read_batch = _binary_batch if layout.binary else _pickle_batch
    images, labels = [], []
    for name in layout.train if split == "train" else layout.test:
        where = store.where(prefix + name)
        x, y = read_batch(store.read(prefix + name), where, layout, label_mode)
        _check_labels(y, where, classes, label_mode)
        images.append(x)
        labels.append(y)
    if len(images) == 1:  # one file read: no copy
        return images[0], labels[0], classes
    return numpy.concatenate(images), numpy.concatenate(labels), classes


def _check_labels(y: numpy.ndarray, where: str, classes: list[str], label_mode: str) -> None:
    if y.size and (y.min() < 0 or y.max() >= len(classes)):
        raise ValueError(f"{where}: label values must be in [0, {len(classes)}) for the {len(classes)} "
                         f"{label_mode} classes, found values in [{y.min()}, {y.max()}]")


def load_cifar(path: str | os.PathLike, split: str = "train", variant: str | None = None,
               label_mode: str = "fine", transform: Transform | None = None,
               cache_dir: str | os.PathLike | None = None) -> ArrayDataset:
    """CIFAR-10 or CIFAR-100 as an ArrayDataset: uint8 images (N, 3, 32, 32), int64 labels, and
    `classes` from the data's own meta file.

    variant ("cifar10", "cifar100") is detected when None. label_mode picks CIFAR-100's 100 fine
    or 20 coarse classes (CIFAR-10 has fine only). Binary files are preferred when both forms
    are present. The images come back memory-mapped, read-only: straight from a split's one
    binary file in a folder, otherwise from the decoded cache in cache_dir (default
    `default_cache_dir()`), built on the first load (see the module doc)."""
    if split not in ("train", "test"):
        raise ValueError(f"CIFAR split must be 'train' or 'test', got {split!r}")
    if variant not in (None, "cifar10", "cifar100"):
        raise ValueError(f"CIFAR variant must be 'cifar10', 'cifar100' or None (detect), got {variant!r}")
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f"CIFAR label_mode must be 'fine' or 'coarse', got {label_mode!r}")
    path = Path(path).expanduser()
    base = (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()).resolve()
    key = folder = None
    if path.is_file():  # an archive: its cache is looked up before any of it is decompressed
        path = path.resolve()
        key = {"format": _CACHE_FORMAT, "source": str(path), "split": split, "variant": variant,
               "label_mode": label_mode, "fingerprint": f"archive\0{file_stamp(path.stat())}"}
        folder = cache_folder(base, str(path), split, variant, label_mode)
        cached = read_cache(folder, key, _WHAT)
        if cached is not None:
            return ArrayDataset(cached[0], cached[1], transform, cached[2])
    store = _open(path, split)
    layout, prefix = _locate(store, path, variant)
    if layout.variant == "cifar10" and label_mode == "coarse":
        raise ValueError("CIFAR-10 has no coarse labels: label_mode='coarse' is for CIFAR-100")
    missing = [name for name in layout.files(split) if not store.has(prefix + name)]
    if missing:
        raise FileNotFoundError(f"{store.where(prefix)}: {layout.title()} files incomplete for the {split} split: "
                                f"missing {', '.join(missing)}")
    names = layout.train if split == "train" else layout.test
    if isinstance(store, _Folder):
        if layout.binary and len(names) == 1:  # mapped as it is
            classes = _class_names(store, prefix, layout, label_mode)
            with contextlib.suppress(OSError):  # a file system that cannot map files: read it
                x, y = _mapped_binary_batch(store.path(prefix + names[0]), layout, label_mode)
                _check_labels(y, store.where(prefix + names[0]), classes, label_mode)
                return ArrayDataset(x, y, transform, classes)
            x, y, classes = _decode(store, prefix, layout, split, label_mode)
            return ArrayDataset(x, y, transform, classes)
        source = path.resolve()
        key = {"format": _CACHE_FORMAT, "source": str(source), "split": split, "variant": variant,
               "label_mode": label_mode, "fingerprint": _folder_fingerprint(store, layout, prefix, split)}
        folder = cache_folder(base, str(source), split, variant, label_mode)
        cached = read_cache(folder, key, _WHAT)
        if cached is not None:
            return ArrayDataset(cached[0], cached[1], transform, cached[2])
    images, labels, classes = _decode(store, prefix, layout, split, label_mode)
    del store  # an archive's members: the decoded arrays are all that is kept
    if write_cache(folder, key, images, labels, classes, _WHAT):
        cached = read_cache(folder, key, _WHAT)  # mapped, as on every later load; the decoded copy goes
        if cached is not None:
            return ArrayDataset(cached[0], cached[1], transform, cached[2])
    return ArrayDataset(images, labels, transform, classes)
