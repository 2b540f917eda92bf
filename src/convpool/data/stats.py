"""Per-channel statistics of a training set, computed in chunks: the mean and standard
deviation that `Normalize` takes, in memory bounded by the chunk rather than the data set."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy

CHUNK_BYTES = 16 * 2**20  # float64 values worked on at once


def _blocks(images: numpy.ndarray, indices: numpy.ndarray | None, step: int):
    count = len(images) if indices is None else len(indices)
    for start in range(0, count, step):
        part = images[start:start + step] if indices is None else images[indices[start:start + step]]
        yield part.astype(numpy.float64)


def channel_stats(images: numpy.ndarray, indices: Sequence[int] | numpy.ndarray | None = None
                  ) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of images (N, C, ...) (of images[indices] when given), uint8
    scaled to [0, 1], any other dtype as it is; so images and spectrograms alike.

    Two passes over chunks of CHUNK_BYTES as float64, the mean first and then the squared
    deviations from it, as numpy's mean and std compute them; a std below 1e-8 becomes 1e-8
    so normalising never divides by zero."""
    images = numpy.asarray(images)
    if images.ndim < 2:
        raise ValueError(f"channel_stats: expected images (N, C, ...), got shape {images.shape}")
    index = None if indices is None else numpy.asarray(indices, dtype=numpy.int64)
    count = len(images) if index is None else len(index)
    if count == 0:
        raise ValueError("channel_stats: no images")
    axes = (0, *range(2, images.ndim))
    per_item = max(1, math.prod(images.shape[1:]))
    step = max(1, CHUNK_BYTES // (8 * per_item))
    values = count * per_item // images.shape[1]  # per channel
    total = sum(block.sum(axis=axes) for block in _blocks(images, index, step))
    mean = total / values
    centre = mean.reshape((1, -1) + (1,) * (images.ndim - 2))
    squares = numpy.zeros_like(mean)
    for block in _blocks(images, index, step):
        block -= centre
        block *= block
        squares += block.sum(axis=axes)
    std = numpy.sqrt(squares / values)
    scale = 255.0 if images.dtype == numpy.uint8 else 1.0
    return (mean / scale).tolist(), [max(s, 1e-8) for s in (std / scale).tolist()]
