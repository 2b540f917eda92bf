"""Datasets: a length and indexed (image, label) pairs; in-memory arrays; subsets and seeded splits.

`ArrayDataset` keeps the whole set as two NumPy arrays so the loader can gather a batch with
one fancy index instead of a Python call per image. Subsets of it keep that fast path. The
images may be a memory-mapped file (the readers map raw IDX files, CIFAR binary files and the
image-folder cache): it is kept mapped, never copied, so a process reads only the pages of
the rows it gathers (each of K processes its own shard).
"""

from __future__ import annotations

import math
import mmap
import operator
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy

from .. import backend
from .transforms import Transform


class Dataset(ABC):
    """A sized collection of (image, label) pairs, as torch.utils.data.Dataset."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __getitem__(self, index: int): ...

    def __add__(self, other: Dataset) -> Dataset:
        """`a + b`: a ConcatDataset of both, as torch's."""
        from .torch_datasets import ConcatDataset  # it builds on this module

        return ConcatDataset([self, other])


def is_mapped(array) -> bool:
    """Whether `array` views a memory-mapped file (numpy.memmap, numpy.load(mmap_mode=...)):
    such an array is read page by page as it is indexed, so it must not be copied whole."""
    while array is not None:
        if isinstance(array, numpy.memmap | mmap.mmap):
            return True
        array = getattr(array, "base", None)
    return False


def _check_index(index, n: int) -> int:
    index = operator.index(index)
    if not -n <= index < n:
        raise IndexError(f"index {index} is out of range for a dataset of {n} items")
    return index % n


class ArrayDataset(Dataset):
    """Samples (N, C, H, W) images, or (N, C, L) signals such as sound, uint8 or float, and
    integer labels (N,), held in memory, or memory-mapped from a file (see `is_mapped`).

    `transform` is a batch transform (see `transforms`); the DataLoader applies it to whole
    batches with its own seeded generator, while `dataset[i]` applies it to one image with the
    library's generator. `classes` optionally names the labels."""

    def __init__(self, images, labels, transform: Transform | None = None,
                 classes: Sequence[str] | None = None):
        images, labels = numpy.asarray(images), numpy.asarray(labels)
        if images.ndim not in (3, 4, 5):
            raise ValueError(f"ArrayDataset: images must be (N, C, L), (N, C, H, W) or (N, C, D, H, W), "
                             f"got shape {images.shape}")
        if images.dtype.kind not in "uif":
            raise ValueError(f"ArrayDataset: images must be integer or floating, got {images.dtype}")
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise ValueError(f"ArrayDataset: labels must be a 1-D integer array, got shape {labels.shape} "
                             f"of {labels.dtype}")
        if len(images) != len(labels):
            raise ValueError(f"ArrayDataset: {len(images)} images but {len(labels)} labels")
        # one fancy index gathers a batch; a mapped file stays mapped (its rows may be strided)
        self.images = images if is_mapped(images) else numpy.ascontiguousarray(images)
        self.labels = labels
        self.transform = transform
        self.classes = list(classes) if classes is not None else None

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[numpy.ndarray, int]:
        index = _check_index(index, len(self))
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image[None], backend.rng())[0]
        return image, int(self.labels[index])

    def with_transform(self, transform: Transform | None) -> ArrayDataset:
        """The same arrays (shared, not copied) with another transform: e.g. augmentation for
        training but not for validation."""
        return ArrayDataset(self.images, self.labels, transform, self.classes)

    def __repr__(self) -> str:
        return (f"ArrayDataset({len(self)} images of shape {self.images.shape[1:]} {self.images.dtype}, "
                f"transform={self.transform!r})")


class Subset(Dataset):
    """The items of `dataset` at `indices`, in that order."""

    def __init__(self, dataset: Dataset, indices):
        indices = numpy.asarray(indices)
        if indices.size == 0:
            indices = indices.astype(numpy.int64)
        if indices.ndim != 1 or indices.dtype.kind not in "iu":
            raise ValueError(f"Subset: indices must be a 1-D integer array, got shape {indices.shape} "
                             f"of {indices.dtype}")
        n = len(dataset)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise IndexError(f"Subset: indices must be in [0, {n}), got values in "
                             f"[{indices.min()}, {indices.max()}]")
        self.dataset = dataset
        self.indices = indices.astype(numpy.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return self.dataset[int(self.indices[_check_index(index, len(self))])]

    def __repr__(self) -> str:
        return f"Subset({len(self)} of {self.dataset!r})"


def resolve_arrays(dataset: Dataset) -> tuple[ArrayDataset, numpy.ndarray | None] | None:
    """(the ArrayDataset underneath, indices into it or None) for an ArrayDataset or nested
    Subsets of one; None for any other dataset. This is the loader's fast path."""
    indices = None
    while isinstance(dataset, Subset):
        indices = dataset.indices if indices is None else dataset.indices[indices]
        dataset = dataset.dataset
    if isinstance(dataset, ArrayDataset):
        return dataset, indices
    return None


def dataset_labels(dataset: Dataset) -> numpy.ndarray:
    """Every label of a dataset as int64, without touching images when it is array-backed."""
    resolved = resolve_arrays(dataset)
    if resolved is not None:
        base, indices = resolved
        labels = base.labels if indices is None else base.labels[indices]
        return labels.astype(numpy.int64)
    return numpy.asarray([int(dataset[i][1]) for i in range(len(dataset))], dtype=numpy.int64)


def _seed_or_draw(seed: int | None) -> int:
    return int(backend.rng().integers(2**63)) if seed is None else seed


def random_split(dataset: Dataset, lengths: Sequence[int | float], seed: int | None = None) -> list[Subset]:
    """Split into non-overlapping random subsets of the given sizes, or fractions summing to 1.

    As torch.utils.data.random_split: fractions are floored and the remainder handed out one
    by one from the first subset. The same seed gives the same split (None draws one from the
    library generator, so manual_seed fixes it too)."""
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths is empty")
    if all(isinstance(v, int | numpy.integer) and not isinstance(v, bool) for v in lengths):
        counts = [int(v) for v in lengths]
        if min(counts) < 0 or sum(counts) != n:
            raise ValueError(f"random_split: lengths {counts} must be non-negative and sum to {n}")
    else:
        fractions = [float(v) for v in lengths]
        if min(fractions) < 0 or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
            raise ValueError(f"random_split: fractions {fractions} must be non-negative and sum to 1")
        counts = [math.floor(n * f) for f in fractions]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
    order = numpy.random.default_rng(_seed_or_draw(seed)).permutation(n)
    bounds = numpy.cumsum([0] + counts)
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def train_val_split(dataset: Dataset, val_fraction: float = 0.1, seed: int | None = None,
                    stratify: bool = False) -> tuple[Subset, Subset]:
    """(train, validation) subsets holding round(val_fraction * N) validation items.

    With stratify, each class gives the same share to validation (largest-remainder rounding,
    so the total is still exact). Indices inside each subset are sorted, which makes gathers
    cache-friendly; the loader shuffles anyway."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"train_val_split: val_fraction must be in (0, 1), got {val_fraction}")
    n = len(dataset)
    n_val = round(n * val_fraction)
    rng = numpy.random.default_rng(_seed_or_draw(seed))
    if not stratify:
        val = rng.permutation(n)[:n_val]
    else:
        labels = dataset_labels(dataset)
        classes, counts = numpy.unique(labels, return_counts=True)
        exact = counts * (n_val / n) if n else counts * 0.0
        take = numpy.floor(exact).astype(numpy.int64)
        extra = n_val - int(take.sum())
        if extra > 0:  # largest remainders first, ties to the lower class
            order = numpy.lexsort((classes, -(exact - take)))
            take[order[:extra]] += 1
        val = numpy.concatenate([rng.permutation(numpy.flatnonzero(labels == c))[:k]
                                 for c, k in zip(classes, take, strict=True)] or [numpy.empty(0, numpy.int64)])
    is_val = numpy.zeros(n, bool)
    is_val[val] = True
    return Subset(dataset, numpy.flatnonzero(~is_val)), Subset(dataset, numpy.flatnonzero(is_val))
