"""What `--data` names, opened as a data set: one place that turns a word or a path into the
split asked for, so `train`, `evaluate` and `predict` agree.

    sample              the built-in Fashion-MNIST sample (no files needed)
    fashion-mnist       the full set, found on disk (--data-dir, ~/.cache/convpool, /usr/share/datasets)
    cifar10, cifar100   the official archives, found in --data-dir or ~/.cache/convpool/NAME
    fsdd                the spoken digits, a folder or zip found in --data-dir or ~/.cache/convpool/fsdd
    PATH                a folder of IDX files; a CIFAR archive (.tar.gz) or its extracted folder;
                        a folder or .zip of class folders of images; a folder or .zip of WAV files

A source with `train/` and `test/` inside gives each split its own part; a source without
them is one pool of data: `train` holds out its validation share from it, and `evaluate`
measures on all of it.

Where the format allows, the images come back memory-mapped (raw IDX files, preferred to
their .gz; one-file CIFAR binary splits; the CIFAR and image-folder caches, decoded once from
archives, pickles, five-file splits and images), so a process reads only the rows it
indexes; labels are always read whole (they are small, and checked here).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy

from .dataset import ArrayDataset
from .download import cache_root

NAMED = ("sample", "fashion-mnist", "cifar10", "cifar100", "fsdd")
IDX_NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


class SplitMissing(FileNotFoundError):
    """The source has no such split (a train-only folder asked for its test split)."""


def kind_of(source: str) -> str:
    """'idx', 'cifar', 'sound' or 'images': what a --data value holds, without reading it all."""
    if source in ("sample", "fashion-mnist"):
        return "idx"
    if source in ("cifar10", "cifar100"):
        return "cifar"
    if source == "fsdd":
        return "sound"
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"--data {source!r}: no such file or folder, and not one of: {', '.join(NAMED)}")
    if path.is_file():
        name = path.name.lower()
        if name.endswith((".tar.gz", ".tgz", ".tar")):
            return "cifar"
        if not zipfile.is_zipfile(path):
            raise ValueError(f"--data {source!r}: a file must be a .zip of images or WAVs or a CIFAR .tar.gz")
        with zipfile.ZipFile(path) as archive:
            names = [n.lower() for n in archive.namelist()]
        return "sound" if any(n.endswith(".wav") for n in names) else "images"
    entries = {p.name for p in path.iterdir()}
    if any(n.startswith(("train-images-idx3", "t10k-images-idx3")) for n in entries):
        return "idx"
    if entries & {"data_batch_1", "data_batch_1.bin", "train.bin", "cifar-10-batches-py", "cifar-10-batches-bin",
                  "cifar-100-python", "cifar-100-binary"} or {"train", "meta"} <= entries:
        return "cifar"
    for _, _, files in os.walk(path):
        if any(f.lower().endswith(".wav") for f in files):
            return "sound"
    return "images"


def _named_folder(name: str, data_dir: str | None) -> Path:
    candidates = ([Path(data_dir)] if data_dir else []) + [cache_root() / name]
    for folder in candidates:
        if folder.exists():
            return folder
    raise FileNotFoundError(f"--data {name}: not found in {' or '.join(str(c) for c in candidates)}; "
                            f"`convpool data download {name}` fetches it, or give --data-dir")


def _idx_paths(folder: Path, split: str) -> list[Path]:
    paths = []
    for name in IDX_NAMES[split]:
        found = [p for p in (folder / name, folder / f"{name}.gz") if p.is_file()]  # raw first: it is mapped
        if not found:
            raise SplitMissing(f"{folder}: no {name} or {name}.gz for the {split} split")
        paths.append(found[0])
    return paths


def idx_class_count(labels: numpy.ndarray, where: str) -> int:
    """The classes of an IDX folder's training labels, which carry no names: 0..N-1, each of
    them present. A label far beyond the rest (200 among 0..9) would otherwise make a model
    of 201 classes, 191 of them never seen; it is refused, naming the file."""
    if labels.size == 0:
        raise ValueError(f"{where}: no labels")
    present = numpy.unique(labels)
    count = int(present[-1]) + 1
    if len(present) < count:
        missing = sorted(set(range(count)) - set(present.tolist()))
        shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        raise ValueError(f"{where}: labels run up to {count - 1}, but {len(missing)} of the classes 0..{count - 1} "
                         f"have no image ({shown}); an IDX folder's classes are 0..N-1, each one present")
    return count


def _idx_folder(folder: Path, split: str) -> ArrayDataset:
    from .idx import load_idx_pair, read_idx

    images_path, labels_path = _idx_paths(folder, split)
    images, labels = load_idx_pair(images_path, labels_path)
    if images.ndim == 3:
        images = images[:, None]
    try:
        train_labels_path = labels_path if split == "train" else _idx_paths(folder, "train")[1]
    except SplitMissing:  # a folder with a test split alone: its own labels say the classes
        train_labels_path = labels_path
    train_labels = labels if train_labels_path == labels_path else read_idx(train_labels_path)
    count = idx_class_count(train_labels, str(train_labels_path))
    if labels.size and int(labels.max()) >= count:
        raise ValueError(f"{labels_path}: label values must be in [0, {count}) for the {count} classes of "
                         f"{train_labels_path.name}, found {int(labels.max())}")
    classes = [str(i) for i in range(count)]  # an IDX folder carries no class names
    return ArrayDataset(images, labels.astype(numpy.int64), classes=classes)


def _split_folder(source: Path, split: str) -> str | None:
    """'train'/'test' when the source (folder or zip, possibly inside one top folder) is split
    that way; None for an unsplit pool; SplitMissing for a split source without this split."""
    if source.is_dir():
        tops = [p for p in source.iterdir() if p.is_dir()]
        names = [{p.name for p in tops}]
        if len(tops) == 1:  # one top folder: look inside it too
            names.append({p.name for p in tops[0].iterdir() if p.is_dir()})
    else:
        with zipfile.ZipFile(source) as archive:
            parts = [n.split("/") for n in archive.namelist()]
        names = [{p[0] for p in parts if len(p) > 1}]
        tops = names[0]
        if len(tops) == 1:
            names.append({p[1] for p in parts if len(p) > 2})
    for found in names:
        if "train" in found or "test" in found:
            if split not in found:
                raise SplitMissing(f"{source}: has no {split}/ part")
            return split
    return None


def open_split(source: str, split: str, data_dir: str | None = None, *, pool: str = "all",
               size: int | None = None, progress: bool = False) -> ArrayDataset:
    """The `split` ('train' or 'test') of a --data value. For an unsplit source, pool='all'
    returns all of it for either split, pool='train-only' raises SplitMissing for 'test'.
    `size` resizes a folder of images to size x size (a network's input size)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if source == "sample":
        from .sample import load_fashion_mnist_sample

        return load_fashion_mnist_sample(split)
    if source == "fashion-mnist":
        from .fashion_mnist import load_fashion_mnist

        return load_fashion_mnist(split, data_dir)
    kind = kind_of(source)
    path = _named_folder(source, data_dir) if source in NAMED else Path(source)
    if kind == "idx":
        return _idx_folder(path, split)
    if kind == "cifar":
        from .cifar import load_cifar

        return load_cifar(_cifar_archive(path), split=split,
                          variant=source if source in ("cifar10", "cifar100") else None)
    part = _split_folder(path, split)
    if part is None and split == "test" and pool == "train-only":
        raise SplitMissing(f"{source}: one pool of data with no test/ part")
    if kind == "sound":
        from .spoken_digits import load_spoken_digits

        dataset = load_spoken_digits(path if part is None else _subsource(path, part), progress=progress)
        return dataset
    from .image_folder import load_image_folder

    return load_image_folder(path, split=part, size=None if size is None else (size, size), progress=progress)


def _cifar_archive(path: Path) -> Path:
    """A folder that holds only the official archive (what `convpool data download` leaves)
    is read through the archive; an extracted folder as it is."""
    if path.is_dir() and not any(p.is_dir() for p in path.iterdir()):
        archives = sorted(p for p in path.iterdir() if p.name.endswith((".tar.gz", ".tgz")))
        if archives:
            return archives[0]
    return path


def _subsource(path: Path, part: str) -> Path:
    """The train/ or test/ folder of a split sound folder (zips are read whole by name)."""
    if path.is_dir():
        for candidate in (path / part, *(p / part for p in path.iterdir() if p.is_dir())):
            if candidate.is_dir():
                return candidate
    raise ValueError(f"{path}: a zip of WAVs split into train/ and test/ is not read by part; "
                     f"unpack it and give --data the {part}/ folder")
