"""A cache of decoded data sets: uint8 images and int64 labels as .npy files beside a meta.json
of the class names, the key they belong to (the source, its options and a fingerprint of its
files) and the arrays' checksums, under $CONVPOOL_CACHE (default ~/.cache/convpool).

Sources that cannot be memory-mapped as they are (folders of image files, CIFAR archives and
pickles) are decoded once into it; every later load checks the key and the checksums and maps
the images read-only, so a process holds only the pages of the rows it indexes and K training
processes sharing one cache each read their own shard. A changed source, or a damaged or
half-written cache, is rebuilt, never trusted. Writes are atomic (convpool.files.atomic_write),
meta.json last, so a run cut short leaves no cache rather than a mixed one.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy

from ..files import atomic_write


def cache_root() -> Path:
    """$CONVPOOL_CACHE, or ~/.cache/convpool."""
    return Path(os.environ.get("CONVPOOL_CACHE") or Path.home() / ".cache" / "convpool")


def cache_folder(base: Path, *parts) -> Path:
    """The sub-folder of `base` for one source and its options (JSON-able `parts`)."""
    return base / hashlib.sha256(json.dumps([str(p) if isinstance(p, Path) else p for p in parts])
                                 .encode()).hexdigest()[:16]


def file_stamp(stat: os.stat_result) -> str:
    """A file's size, modification and change times and inode, as one fingerprint line's fields.
    The change time cannot be set back by a program (unlike the modification time), so an edit
    in place that keeps the size and restores the mtime still changes the stamp."""
    return f"{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ctime_ns}\0{stat.st_ino}"


def load_npy(path: Path, sha256: str, dtype: numpy.dtype) -> numpy.ndarray:
    """The .npy file's array of `dtype`, checksum checked, memory-mapped read-only: the checksum
    streams the file once (through the OS's page cache, no copy kept), then only the pages of
    the rows indexed are read. The file that was checked is the one mapped, and its header is
    trusted no further than the bytes behind it."""
    with open(path, "rb") as f:
        if hashlib.file_digest(f, "sha256").hexdigest() != sha256:
            raise ValueError(f"{path.name} does not match its checksum")
        f.seek(0)
        npy = numpy.lib.format
        read_header = npy.read_array_header_1_0 if npy.read_magic(f) == (1, 0) else npy.read_array_header_2_0
        shape, fortran, stored = read_header(f)  # a literal parse, at most 10,000 bytes: no pickle
        offset = f.tell()
        if stored != dtype or fortran or not shape:
            raise ValueError(f"{path.name} holds {'Fortran-order ' if fortran else ''}{stored} of shape {shape}, "
                             f"expected a C-order {dtype} array")
        size = os.fstat(f.fileno()).st_size
        if offset + math.prod(shape) * dtype.itemsize != size:
            raise ValueError(f"{path.name}: its header says shape {shape} of {dtype} after {offset} bytes, "
                             f"the file holds {size} bytes")
        if math.prod(shape) == 0:  # nothing to map
            return numpy.zeros(shape, dtype)
        try:
            return numpy.asarray(numpy.memmap(f, dtype=dtype, mode="r", offset=offset, shape=shape))
        except OSError:  # a file system that cannot map files: read it
            f.seek(offset)
            return numpy.fromfile(f, dtype, math.prod(shape)).reshape(shape)


def read_cache(folder: Path, key: dict, what: str) -> tuple[numpy.ndarray, numpy.ndarray, list[str]] | None:
    """(images mapped, labels in memory, classes) when the cache in `folder` belongs to `key`
    and passes every check; None otherwise, with a warning ("damaged `what`", pointing at the
    caller of the function that calls this one) when it is damaged rather than just stale."""
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if any(meta[k] != v for k, v in key.items()):
            return None  # the source changed: rebuild quietly
        images = load_npy(folder / "images.npy", meta["images_sha256"], numpy.dtype(numpy.uint8))
        labels = numpy.array(load_npy(folder / "labels.npy", meta["labels_sha256"], numpy.dtype(numpy.int64)))
        classes = meta["classes"]
        if images.dtype != numpy.uint8 or list(images.shape) != meta["shape"] or images.ndim != 4 \
                or labels.dtype != numpy.int64 or labels.shape != images.shape[:1] \
                or not all(isinstance(c, str) for c in classes) \
                or (labels.size and (labels.min() < 0 or labels.max() >= len(classes))):
            raise ValueError("arrays disagree with meta.json")
    except (OSError, EOFError, ValueError, KeyError, TypeError) as e:
        warnings.warn(f"{folder}: damaged {what} ({e}); rebuilding it", stacklevel=3)
        return None
    return images, labels, classes


def write_cache(folder: Path, key: dict, images: numpy.ndarray, labels: numpy.ndarray, classes: list[str],
                what: str, write: Callable[[Path, bytes], None] = atomic_write) -> bool:
    """Write the arrays and meta.json (key, classes, shape, checksums), each file through `write`
    (atomic): meta.json goes first and comes back last, so a run cut short leaves no cache rather
    than a mixed one. False (with a warning) when it could not be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "meta.json").unlink(missing_ok=True)
        meta = dict(key, classes=classes, shape=list(images.shape))
        for name, array in (("images", images), ("labels", labels)):
            buffer = io.BytesIO()
            numpy.save(buffer, array, allow_pickle=False)
            meta[f"{name}_sha256"] = hashlib.sha256(buffer.getbuffer()).hexdigest()
            write(folder / f"{name}.npy", buffer.getvalue())
        write(folder / "meta.json", json.dumps(meta, indent=1).encode())
    except OSError as e:
        warnings.warn(f"could not write the {what} in {folder} ({e}); the images will be decoded again "
                      f"next time", stacklevel=3)
        return False
    return True
