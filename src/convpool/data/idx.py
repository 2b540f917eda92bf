"""IDX files, the format of MNIST and Fashion-MNIST: read and write, raw or gzip.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), then each dimension as a big-endian uint32, then the values in C order,
big-endian. Every way a file can disagree with its header raises a ValueError that names
the file, so a bad download is found at load time rather than as a strange loss curve.
No pickle is involved anywhere.

A raw (uncompressed) file of one-byte values, such as MNIST's images, can be memory-mapped
(`read_idx(..., mmap=True)`, what `load_idx_pair` does for the images): the header is checked
against the file's size as for a read, and then only the pages of the rows indexed are read,
so each of K training processes reads its own shard. A gzip file cannot be mapped (its
bytes must be decompressed from the start), nor can multi-byte values, which are stored
big-endian and converted on reading: those are read whole.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy

# type code -> big-endian dtype, from the format's definition
IDX_DTYPES: dict[int, str] = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {numpy.dtype(v).newbyteorder("="): k for k, v in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 22
MAX_IDX_BYTES = 2**31  # 2 GiB of values: 40 times Fashion-MNIST's training images
MAX_RATIO = 200  # how much larger than its gzip file an IDX file may be (MNIST-like images: about 5)
_SLACK = 16 * 2**20  # ... beyond this many bytes, so small test files of zeros pass


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _read_upto(f, n: int) -> bytearray:
    """Up to n bytes, read in chunks: memory grows with the bytes that arrive, never with what a
    header asks for."""
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(_CHUNK, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def _parse(f, path: Path, stored: int, compressed: bool, max_bytes: int, mapped: bool = False) -> numpy.ndarray:
    """The array in an open IDX stream; `stored` is the file's size on disk, which bounds what
    the header may declare (exactly for a raw file, by MAX_RATIO for gzip). mapped: map a raw
    file of one-byte values read-only instead of reading it (see the module doc)."""
    header = _read_upto(f, 4)
    if len(header) < 4:
        raise ValueError(f"{path}: not an IDX file: {len(header)} bytes, shorter than the 4-byte magic number")
    if header[0] or header[1]:
        raise ValueError(f"{path}: not an IDX file: bad magic number 0x{bytes(header).hex()} "
                         f"(an IDX file starts with two zero bytes, a type code and a dimension count)")
    code, ndim = header[2], header[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in IDX_DTYPES)
        raise ValueError(f"{path}: unsupported IDX dtype code 0x{code:02x} (known codes: {known})")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions")
    raw_dims = _read_upto(f, 4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header: {ndim} dimensions declared, "
                         f"{len(raw_dims) // 4} present")
    dims = struct.unpack(f">{ndim}I", raw_dims)
    dtype = numpy.dtype(IDX_DTYPES[code])
    nbytes = math.prod(dims) * dtype.itemsize
    what = f"shape {dims} of {dtype.name} ({nbytes:,} bytes)"
    if not compressed and 4 + 4 * ndim + nbytes > stored:  # said before reading a byte of it
        raise ValueError(f"{path}: truncated IDX data: the header says {what}, the file holds "
                         f"{stored - 4 - 4 * ndim} bytes of data")
    if nbytes > max_bytes:
        raise ValueError(f"{path}: the IDX header declares {what}, more than the {max_bytes:,} bytes "
                         f"an IDX file may hold here")
    if compressed and nbytes > MAX_RATIO * stored + _SLACK:
        raise ValueError(f"{path}: the IDX header declares {what} in {stored:,} bytes of gzip, more than "
                         f"{MAX_RATIO} times as many (real images compress far less): damaged or a decompression bomb")
    if mapped and not compressed and dtype.itemsize == 1 and nbytes:
        if 4 + 4 * ndim + nbytes != stored:
            raise ValueError(f"{path}: size mismatch: more data than the header's shape {dims} of "
                             f"{dtype.name} ({nbytes} bytes) describes")
        try:  # the open file itself is mapped, so what was checked is what is read
            return numpy.asarray(numpy.memmap(f, dtype=dtype, mode="r", offset=4 + 4 * ndim, shape=dims))
        except OSError:  # a file system that cannot map files: read it
            f.seek(4 + 4 * ndim)
    data = _read_upto(f, nbytes)
    if len(data) < nbytes:
        raise ValueError(f"{path}: truncated IDX data: the header says {what}, the file holds "
                         f"{len(data)} bytes of data")
    if f.read(1):
        raise ValueError(f"{path}: size mismatch: more data than the header's shape {dims} of "
                         f"{dtype.name} ({nbytes} bytes) describes")
    array = numpy.frombuffer(data, dtype=dtype).reshape(dims)  # writable: it views a bytearray
    if dtype.byteorder == ">":
        array = array.astype(dtype.newbyteorder("="))
    return array


def read_idx(path: str | os.PathLike, max_bytes: int = MAX_IDX_BYTES, mmap: bool = False) -> numpy.ndarray:
    """The array stored in an IDX file, raw or gzip-compressed (told apart by content, not name).

    Values come back in native byte order; uint8 data stays uint8. The header's shape is checked
    before any data is read: against max_bytes, against the file's size (a raw file must hold
    exactly that much; gzip may expand at most MAX_RATIO times, plus 16 MiB), and the data is read in chunks,
    so memory follows the bytes that really arrive. mmap: a raw file of one-byte values comes
    back as a read-only memory map of the file, read page by page as it is indexed; any other
    file is read as without it."""
    path = Path(path)
    compressed = _is_gzip(path)
    try:
        with (gzip.open(path, "rb") if compressed else open(path, "rb")) as f:
            return _parse(f, path, path.stat().st_size, compressed, max_bytes, mmap)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise ValueError(f"{path}: corrupt or truncated gzip data ({e})") from e


def write_idx(path: str | os.PathLike, array: numpy.ndarray) -> None:
    """Write an array as IDX, gzip-compressed when the name ends in .gz (for tests and tools)."""
    path = Path(path)
    array = numpy.asarray(array)
    dtype = array.dtype.newbyteorder("=")
    if dtype not in _CODES:
        raise ValueError(f"write_idx: dtype {array.dtype} has no IDX type code")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx: IDX holds 1 to 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, _CODES[dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    body = numpy.ascontiguousarray(array, dtype=numpy.dtype(IDX_DTYPES[_CODES[dtype]])).tobytes()
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + body)


def load_idx_pair(images_path: str | os.PathLike, labels_path: str | os.PathLike,
                  num_classes: int | None = None, mmap: bool = True) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Images and their labels from two IDX files, checked against each other.

    Labels must be one integer per image, and in [0, num_classes) when num_classes is given.
    mmap: the images of a raw file of bytes are memory-mapped, read-only (see `read_idx`); the
    labels, small, are always read whole."""
    images, labels = read_idx(images_path, mmap=mmap), read_idx(labels_path)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"{labels_path}: labels must be a 1-D integer IDX array, "
                         f"got shape {labels.shape} of {labels.dtype}")
    if images.ndim < 2:
        raise ValueError(f"{images_path}: images must have a count and at least one more dimension, "
                         f"got shape {images.shape}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"count mismatch: {images_path} holds {images.shape[0]} images but "
                         f"{labels_path} holds {labels.shape[0]} labels")
    if labels.size:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or (num_classes is not None and high >= num_classes):
            limit = f"[0, {num_classes})" if num_classes is not None else "non-negative"
            raise ValueError(f"{labels_path}: label values must be {limit}, found values in [{low}, {high}]")
    return images, labels
