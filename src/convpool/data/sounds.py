"""The one sound reader every command and data set uses: a WAV file (a path or an open binary
file) as a clip of a fixed number of samples at a fixed rate, with a note of what was done.

Every limit of `read_wav` applies (file size, sample rate range, chunks checked against the
bytes behind them, no empty recordings), and resampling computes only the samples the clip
keeps, so a header declaring a strange rate can cost no more than the clip itself.
"""

from __future__ import annotations

import os
from typing import BinaryIO, NamedTuple

import numpy

from .audio import fix_length
from .wav import MAX_WAV_BYTES, read_wav, resample


class Sound(NamedTuple):
    """samples: float32 (length,) mono in [-1, 1]; rate: the file's own sample rate; notes:
    what was done to it ("resampled 16000 Hz to 8000 Hz; cut 16000 samples to 8000"), or ""."""

    samples: numpy.ndarray
    rate: int
    notes: str


def read_sound(source: str | os.PathLike | BinaryIO, sample_rate: int, length: int, name: str | None = None,
               max_bytes: int = MAX_WAV_BYTES) -> Sound:
    """A WAV file resampled to `sample_rate` when its rate differs, then cut or zero-padded on
    the right to `length` samples. Errors are ValueErrors naming the file (`name`, default the
    path or the file object's name)."""
    samples, rate = read_wav(source, name=name, max_bytes=max_bytes)
    notes = []
    full = len(samples)
    if rate != sample_rate:
        full = round(len(samples) * sample_rate / rate)
        samples = resample(samples, rate, sample_rate, length=length)
        notes.append(f"resampled {rate} Hz to {sample_rate} Hz")
    if full != length:
        notes.append(f"{'cut' if full > length else 'padded'} {full} samples to {length}")
    return Sound(fix_length(samples.astype(numpy.float32, copy=False), length), rate, "; ".join(notes))
