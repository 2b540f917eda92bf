"""A folder of images with one sub-folder per class, or a .zip of one, as an ArrayDataset.

Which folder holds the classes: starting at the top of the folder or zip, step into the
sub-folder named `split` when one is given and found; stop at the first level where some
sub-folder holds images directly (those sub-folders are the classes); otherwise step into
the only sub-folder, if there is exactly one. So `cat/1.png`, `photos/cat/1.png` and
`photos/train/cat/1.png` all work, and `train/` beside `test/` needs split="train". Hidden
files and folders (a leading ".") and `__MACOSX` are skipped, as are loose files beside the
class folders.

Images are decoded once (two threads; Pillow releases the GIL while it decodes) into one
uint8 (N, C, H, W) array, then cached as .npy files with a JSON of the class names, a
fingerprint of the source (sizes, modification and change times, inodes) and checksums of
the arrays, under $CONVPOOL_CACHE/image-folders (default ~/.cache/convpool/image-folders). A
changed source, or a damaged or half-written cache, is rebuilt, never trusted. The cached
images come back memory-mapped, read-only, after their checksum is checked (one streaming
pass), so a process holds only the pages of the rows it indexes: K training processes
sharing one cache each read their own shard. The source itself is only ever read, through
`convpool.data.images.open_image` and its limits; each file's size is checked before it is
read: against that limit and, unless size= resizes, against what an image of the first one's
size can take.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import warnings
import zipfile
import zlib
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy
from PIL import Image
from tqdm import tqdm

from ..files import atomic_write
from .array_cache import cache_folder, cache_root, file_stamp, read_cache, write_cache
from .dataset import ArrayDataset
from .images import MAX_IMAGE_BYTES, open_image
from .transforms import Transform

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_FORMATS = ("JPEG", "PNG", "BMP", "GIF")  # Pillow tries no other decoder on these files
_GREY = ("1", "L", "LA", "La")
_WORKERS = 2
_CHUNK = 256  # images per task: the progress bar moves this many at a time
_CACHE_FORMAT = 2  # 2: the fingerprint holds change times and inodes
_WHAT = "image cache"  # as warnings name it
MAX_DATASET_BYTES = 2**34  # 16 GiB of decoded pixels: beyond it, ask for a smaller size


def default_cache_dir() -> Path:
    """$CONVPOOL_CACHE/image-folders, or ~/.cache/convpool/image-folders."""
    return cache_root() / "image-folders"


def _skipped(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


class _Source:
    """The files of a folder or zip by relative path ("a/b.png"), its folders, and a fingerprint."""

    def __init__(self, path: Path):
        self.path = path
        self.files: list[str] = []
        self.dirs: set[str] = set()
        self.fingerprint = ""

    def _add(self, rel: str, is_dir: bool) -> None:
        parts = rel.split("/")
        for i in range(1, len(parts) + is_dir):  # every folder above, and the folder itself
            self.dirs.add("/".join(parts[:i]))
        if not is_dir:
            self.files.append(rel)

    def where(self, rel: str) -> str:
        raise NotImplementedError

    def read(self, rel: str) -> bytes:
        raise NotImplementedError

    def size(self, rel: str) -> int:
        """The file's size on disk, or the size its zip declares: known before reading it."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class _FolderSource(_Source):
    """Fingerprint: the sorted (relative path, size, mtime_ns, ctime_ns, inode) of every file, and
    every folder name. The change time cannot be set back by a program (unlike the modification
    time), so an edit in place that keeps the size and restores the mtime still changes it."""

    def __init__(self, path: Path):
        super().__init__(path)
        lines, seen, stack = [], set(), [("", path)]
        while stack:
            prefix, folder = stack.pop()
            stat = folder.stat()
            if (stat.st_dev, stat.st_ino) in seen:  # a linked folder met twice
                continue
            seen.add((stat.st_dev, stat.st_ino))
            with os.scandir(folder) as entries:
                for entry in entries:
                    if _skipped(entry.name):
                        continue
                    rel = prefix + entry.name
                    if entry.is_dir():
                        self._add(rel, True)
                        stack.append((rel + "/", Path(entry.path)))
                        lines.append(f"{rel}/")
                    elif entry.is_file():
                        self._add(rel, False)
                        lines.append(f"{rel}\0{file_stamp(entry.stat())}")
        self.fingerprint = hashlib.sha256("\n".join(["folder"] + sorted(lines)).encode()).hexdigest()

    def where(self, rel: str) -> str:
        return str(self.path / rel) if rel else str(self.path)

    def read(self, rel: str) -> bytes:
        return (self.path / rel).read_bytes()

    def size(self, rel: str) -> int:
        return (self.path / rel).stat().st_size


class _ZipSource(_Source):
    """Fingerprint: the zip's size, mtime_ns, ctime_ns and inode, and each central-directory
    entry's name, size and CRC."""

    def __init__(self, path: Path):
        super().__init__(path)
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path}: not a folder nor a zip archive; expected a folder of class folders of "
                             f"images, or a .zip of one")
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise ValueError(f"{path}: a damaged zip archive ({e})") from None
        self.members: dict[str, zipfile.ZipInfo] = {}
        digest = hashlib.sha256(f"zip\0{file_stamp(path.stat())}\n".encode())
        for info in self.zip.infolist():
            digest.update(f"{info.filename}\0{info.file_size}\0{info.CRC}\n".encode())
            parts = [p for p in info.filename.split("/") if p not in ("", ".")]
            if not parts or any(_skipped(p) for p in parts):
                continue
            rel = "/".join(parts)
            self._add(rel, info.is_dir())
            if not info.is_dir():
                self.members[rel] = info
        self.fingerprint = digest.hexdigest()

    def where(self, rel: str) -> str:
        if not rel:
            return str(self.path)
        return f"{self.path}:{self.members[rel].filename}" if rel in self.members else f"{self.path}:{rel}/"

    def read(self, rel: str) -> bytes:
        try:
            return self.zip.read(self.members[rel])  # ZipFile serialises reads itself: safe from threads
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as e:
            raise ValueError(f"{self.where(rel)}: cannot be read from the zip ({e})") from None

    def size(self, rel: str) -> int:
        return self.members[rel].file_size

    def close(self) -> None:
        self.zip.close()


def _join(level: str, name: str) -> str:
    return f"{level}/{name}" if level else name


def _find_classes(source: _Source, split: str | None) -> tuple[list[str], list[list[str]]]:
    """The class names (sorted) and each class's image files (sorted), by the rule in the module doc."""
    subdirs: dict[str, set[str]] = defaultdict(set)
    images: dict[str, list[str]] = defaultdict(list)
    for d in source.dirs:
        parent, _, name = d.rpartition("/")
        subdirs[parent].add(name)
    for f in source.files:
        if f.lower().endswith(IMAGE_SUFFIXES):
            images[f.rpartition("/")[0]].append(f)
    level, want_split = "", split
    while True:
        names = sorted(subdirs[level])
        if want_split is not None and want_split in names:
            level, want_split = _join(level, want_split), None
            continue
        if any(images[_join(level, n)] for n in names):
            if want_split is not None:
                raise ValueError(f"{source.where(level)}: no sub-folder named {split!r} above the class folders "
                                 f"({', '.join(names)})")
            break
        if len(names) == 1:
            level = _join(level, names[0])
            continue
        example = "(cat/1.png, dog/2.png, ...)"
        if names:
            hint = ("; if they are splits, pass split= one of them" if split is None
                    else f", and none is named {split!r}")
            why = f"none of its sub-folders ({', '.join(names)}) holds images directly{hint}"
        elif images[level]:
            why = f"its images sit directly in it: put them in one sub-folder per class {example}"
        else:
            why = f"expected one sub-folder of .jpg, .jpeg, .png, .bmp or .gif images per class {example}"
        raise ValueError(f"{source.where(level)}: no class folders: {why}")
    files = []
    for name in names:
        found = sorted(images[_join(level, name)])
        if not found:
            raise ValueError(f"{source.where(_join(level, name))}: empty class folder: no .jpg, .jpeg, .png, .bmp "
                             f"or .gif images directly inside")
        files.append(found)
    return names, files


class _NeedColour(Exception):
    """A colour image turned up while decoding as grey: decode again as RGB."""


def _open_image(data: bytes, where: str, check=None) -> Image.Image:
    """The decoded image; its mode, and `check` (e.g. its size), are looked at before decoding."""
    def checked(image: Image.Image) -> None:
        if image.mode in ("I", "F") or image.mode.startswith("I;"):
            raise ValueError(f"{where}: mode {image.mode} (16-bit or floating-point pixels) is not supported; "
                             f"save it with 8 bits per channel")
        if check is not None:
            check(image)

    return open_image(data, where, formats=_FORMATS, kinds="JPEG, PNG, BMP or GIF", check=checked)


class _Decoder:
    """Decodes files[i] into images[i]: converted to `mode`, checked against (or resized to) hw."""

    def __init__(self, source: _Source, files: list[str], mode: str, hw: tuple[int, int], resize: bool):
        self.source, self.files, self.mode, self.hw, self.resize = source, files, mode, hw, resize
        shape = (len(files), 1 if mode == "L" else 3, *hw)
        if math.prod(shape) > MAX_DATASET_BYTES:
            raise ValueError(f"{source.path}: {len(files):,} images of {hw[0]}x{hw[1]} pixels (the first one's size) "
                             f"would take {math.prod(shape):,} bytes, more than {MAX_DATASET_BYTES:,}; "
                             f"pass size=(H, W) to make them smaller")
        self.images = numpy.empty(shape, numpy.uint8)
        # a file may take some times its pixels' bytes (BMP, PNG with metadata), not a thousand times
        self.most_bytes = MAX_IMAGE_BYTES if resize else min(MAX_IMAGE_BYTES, 12 * hw[0] * hw[1] + 2**20)
        self.stop = threading.Event()

    def one(self, i: int) -> bool:
        """Decode image i; True when it had to be resized."""
        where = self.source.where(self.files[i])
        image = _open_image(_read_checked(self.source, self.files[i], self.most_bytes, self.hw), where,
                            None if self.resize else lambda header: self.same_size(header, where))
        if self.mode == "L" and image.mode not in _GREY:
            raise _NeedColour
        if image.mode != self.mode:
            image = image.convert(self.mode)
        resized = (image.height, image.width) != self.hw
        if resized:  # only with self.resize: same_size refused the others before decoding
            image = image.resize((self.hw[1], self.hw[0]), Image.Resampling.BILINEAR)
        pixels = numpy.asarray(image)
        self.images[i] = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
        return resized

    def same_size(self, image: Image.Image, where: str) -> None:
        """Refuse an image of another size than the first one's, from its header alone."""
        if (image.height, image.width) != self.hw:
            first = self.source.where(self.files[0])
            raise ValueError(f"{where}: {image.height}x{image.width} pixels (height x width), but the first "
                             f"image, {first}, is {self.hw[0]}x{self.hw[1]}; pass size=(H, W) to resize all")

    def chunk(self, start: int, end: int) -> tuple[int, int]:
        resized = 0
        for i in range(start, end):
            if self.stop.is_set():
                break
            resized += self.one(i)
        return end - start, resized

    def run(self, progress: bool) -> int:
        """Decode everything with _WORKERS threads; the number of images resized."""
        resized = 0
        with tqdm(total=len(self.files), desc=f"decoding {self.source.path.name}", unit="image",
                  disable=not progress) as bar, ThreadPoolExecutor(_WORKERS) as pool:
            tasks = [pool.submit(self.chunk, a, min(a + _CHUNK, len(self.files)))
                     for a in range(0, len(self.files), _CHUNK)]
            try:
                for task in as_completed(tasks):
                    done, r = task.result()
                    bar.update(done)
                    resized += r
            except BaseException:
                self.stop.set()
                for task in tasks:
                    task.cancel()
                raise
        return resized


def _read_checked(source: _Source, rel: str, most: int, hw: tuple[int, int] | None) -> bytes:
    """A file's bytes, its size (on disk, or as its zip declares) checked first against `most`."""
    declared = source.size(rel)
    if declared > most:
        why = f"the {most:,} bytes an image file may have here" if hw is None or most == MAX_IMAGE_BYTES else (
            f"the {most:,} bytes a {hw[0]}x{hw[1]} image (the first one's size) can take; pass size=(H, W) "
            f"if the images differ in size")
        raise ValueError(f"{source.where(rel)}: {declared:,} bytes, more than {why}")
    return source.read(rel)


def _decode(source: _Source, files: list[str], size: tuple[int, int] | None, progress: bool) -> numpy.ndarray:
    """All images as uint8 (N, C, H, W): grey (C=1) when every image is grey, else RGB."""
    first = _open_image(_read_checked(source, files[0], MAX_IMAGE_BYTES, None), source.where(files[0]))
    hw = size or (first.height, first.width)
    mode = "L" if first.mode in _GREY else "RGB"
    try:
        decoder = _Decoder(source, files, mode, hw, size is not None)
        resized = decoder.run(progress)
    except _NeedColour:
        decoder = _Decoder(source, files, "RGB", hw, size is not None)
        resized = decoder.run(progress)
    if resized:
        warnings.warn(f"load_image_folder: resized {resized} of {len(files)} images in {source.path} to "
                      f"{hw[0]}x{hw[1]} (height x width)", stacklevel=3)
    return decoder.images


def _size(size) -> tuple[int, int] | None:
    if size is None:
        return None
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair):
        raise ValueError(f"load_image_folder: size must be a positive int or (height, width), got {size!r}")
    return pair


def load_image_folder(source: str | os.PathLike, split: str | None = None, size: int | tuple[int, int] | None = None,
                      cache_dir: str | os.PathLike | None = None, progress: bool = False,
                      transform: Transform | None = None) -> ArrayDataset:
    """Images in class sub-folders (a folder or a .zip) as uint8 (N, C, H, W) with int64 labels;
    `classes` are the sorted class folder names, and labels index them.

    split picks a sub-folder such as train/ (see the module doc). Every image must have the
    first one's size unless size=(H, W) is given, which resizes them (bilinear). Images are grey
    (C=1) only when all are; otherwise RGB (C=3), converting palette, alpha and grey images.
    cache_dir holds one sub-folder per source and options (default: `default_cache_dir()`);
    progress shows a progress bar while decoding."""
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder (expected a folder of class folders of images, "
                                f"or a .zip of one)")
    path = path.resolve()
    size = _size(size)
    base = (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()).resolve()
    if path.is_dir() and base.is_relative_to(path):
        raise ValueError(f"cache folder {base} is inside the source {path}; the source is never written to")
    src = _FolderSource(path) if path.is_dir() else _ZipSource(path)
    try:
        classes, per_class = _find_classes(src, split)
        files = [f for group in per_class for f in group]
        labels = numpy.repeat(numpy.arange(len(classes), dtype=numpy.int64), [len(g) for g in per_class])
        key = {"format": _CACHE_FORMAT, "source": str(path), "split": split,
               "size": None if size is None else list(size), "fingerprint": src.fingerprint}
        folder = cache_folder(base, str(path), split, key["size"])
        cached = read_cache(folder, key, _WHAT)
        if cached is not None and cached[2] == classes and numpy.array_equal(cached[1], labels):
            return ArrayDataset(cached[0], cached[1], transform, classes)
        images = _decode(src, files, size, progress)
    finally:
        src.close()
    if write_cache(folder, key, images, labels, classes, _WHAT, atomic_write):
        cached = read_cache(folder, key, _WHAT)  # mapped, as on every later load; the decoded copy goes
        if cached is not None:
            images = cached[0]
    return ArrayDataset(images, labels, transform, classes)
