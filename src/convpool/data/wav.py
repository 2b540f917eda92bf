"""WAV files, read by walking their RIFF chunks, and a band-limited resampler.

`read_wav` gives mono float32 samples in [-1, 1] from integer PCM (8-bit unsigned, 16-, 24- or
32-bit signed; several channels are averaged). Anything else (IEEE float, A-law, mu-law,
ADPCM, or a file that is not a WAV at all) raises one ValueError that names the file and says
what it found, so a bad file is caught when the data is loaded rather than as noise in training.

`resample` is a windowed-sinc interpolator evaluated at each output sample's exact position
(see its docstring for why not an FFT). NumPy only: scipy is not a dependency.
"""

from __future__ import annotations

import io
import math
import os
import struct
from pathlib import Path
from typing import BinaryIO

import numpy
from numpy.lib.stride_tricks import sliding_window_view

# WAVE format tags other than integer PCM, by name (from the RIFF specification and mmreg.h)
_FORMAT_NAMES = {
    0x0002: "Microsoft ADPCM", 0x0003: "IEEE float", 0x0006: "A-law", 0x0007: "mu-law",
    0x0011: "IMA ADPCM", 0x0031: "GSM 6.10", 0x0055: "MPEG layer 3", 0xFFFE: "WAVE_FORMAT_EXTENSIBLE",
}
MIN_RATE, MAX_RATE = 1_000, 384_000  # Hz: telephone speech to the fastest studio converters
MAX_WAV_BYTES = 256 * 2**20  # about 11 minutes of 48 kHz 16-bit stereo; far beyond any clip a model reads
_SCALE = {1: 128.0, 2: 32768.0, 3: 2.0**31, 4: 2.0**31}  # 24-bit is decoded into the top of an int32

# resampler design: the kernel spans this many zero crossings of the low-pass sinc on each
# side, the cut-off sits at this fraction of the lower Nyquist frequency, and a Kaiser window
# of this beta tapers it (side lobes below -95 dB)
_ZERO_CROSSINGS = 32
_ROLLOFF = 0.94
_KAISER_BETA = 9.0


def _unsupported(tag: int) -> str:
    name = _FORMAT_NAMES.get(tag, "an unknown encoding")
    return (f"unsupported WAV encoding: format tag {tag} (0x{tag:04x}, {name}); "
            f"only integer PCM (format tag 1) is read")


def _open_bytes(path_or_file: str | os.PathLike | BinaryIO, max_bytes: int) -> tuple[BinaryIO, str, int]:
    """A seekable binary file, a name for messages, and how many bytes it holds from here on."""
    if isinstance(path_or_file, str | os.PathLike):
        path = Path(path_or_file)
        f = open(path, "rb")
        return f, str(path), os.fstat(f.fileno()).st_size
    name = str(getattr(path_or_file, "name", "<file>"))
    if not (hasattr(path_or_file, "seekable") and path_or_file.seekable()):
        f = io.BytesIO(path_or_file.read(max_bytes + 1))  # never more than the limit and one byte
        return f, name, len(f.getbuffer())
    start = path_or_file.tell()
    size = path_or_file.seek(0, os.SEEK_END) - start
    path_or_file.seek(start)
    return path_or_file, name, size


def _chunks(f: BinaryIO, name: str, size: int) -> tuple[bytes, int, int]:
    """(the fmt chunk's bytes, the data chunk's declared size, the bytes that really follow its
    header), walking the RIFF chunks; every size is checked against the bytes left in the file."""
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise ValueError(f"{name}: not a WAV file: it starts with {bytes(head[:12])!r}, "
                         f"a WAV file starts with b'RIFF', a size and b'WAVE'")
    position, fmt = 12, None
    while True:
        header = f.read(8)
        if len(header) < 8:
            missing = "fmt" if fmt is None else "data"
            raise ValueError(f"{name}: truncated WAV header: the file ends after {position} bytes "
                             f"without a {missing} chunk")
        chunk, declared = struct.unpack("<4sI", header)
        position += 8
        left = size - position
        if chunk == b"data":
            if fmt is None:
                raise ValueError(f"{name}: not a readable WAV file: its data chunk comes before any fmt chunk")
            return fmt, declared, left
        if declared > left:
            raise ValueError(f"{name}: damaged WAV header: the {chunk.decode('latin-1')!r} chunk declares "
                             f"{declared} bytes but only {left} follow it in the file")
        if chunk == b"fmt ":
            if declared < 16:
                raise ValueError(f"{name}: damaged WAV header: a fmt chunk of {declared} bytes, fewer than "
                                 f"the 16 a PCM format takes")
            fmt = f.read(declared)
        else:
            f.seek(declared, os.SEEK_CUR)
        if declared & 1:  # chunks are padded to an even size
            f.seek(1, os.SEEK_CUR)
        position += declared + (declared & 1)


def _pcm_format(fmt: bytes, name: str) -> tuple[int, int, int]:
    """(channels, bytes per sample, sample rate) of an integer PCM fmt chunk; refuses the rest."""
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == 0xFFFE and len(fmt) >= 40:  # WAVE_FORMAT_EXTENSIBLE: the real tag leads the sub-format GUID
        tag = struct.unpack_from("<H", fmt, 24)[0]
    if tag != 1:
        raise ValueError(f"{name}: {_unsupported(tag)}")
    width = (bits + 7) // 8
    if width not in _SCALE:
        raise ValueError(f"{name}: unsupported WAV sample width: {bits}-bit PCM (8, 16, 24 and 32-bit are read)")
    if channels < 1:
        raise ValueError(f"{name}: WAV header gives {channels} channels")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"{name}: WAV header gives a sample rate of {rate} Hz, outside the "
                         f"{MIN_RATE:,} to {MAX_RATE:,} Hz that recordings use")
    return channels, width, rate


def _decode(raw: bytes, width: int, channels: int) -> numpy.ndarray:
    """Interleaved little-endian PCM bytes -> float32 mono in [-1, 1]."""
    if width == 1:
        values = numpy.frombuffer(raw, numpy.uint8).astype(numpy.float32) - 128.0
    elif width == 3:
        triples = numpy.frombuffer(raw, numpy.uint8).reshape(-1, 3)
        wide = numpy.zeros((len(triples), 4), numpy.uint8)
        wide[:, 1:] = triples  # the 24 bits become the top of a little-endian int32
        values = wide.view("<i4").ravel().astype(numpy.float32)
    else:
        values = numpy.frombuffer(raw, f"<i{width}").astype(numpy.float32)
    values /= numpy.float32(_SCALE[width])
    if channels > 1:
        values = values.reshape(-1, channels).mean(axis=1, dtype=numpy.float32)
    return values


def read_wav(path_or_file: str | os.PathLike | BinaryIO, name: str | None = None,
             max_bytes: int = MAX_WAV_BYTES) -> tuple[numpy.ndarray, int]:
    """(samples, sample_rate): a WAV file's samples as float32 mono in [-1, 1].

    `path_or_file` is a path or a binary file object (e.g. a member opened from a zip);
    `name` labels it in error messages (default: the path or the object's name). 8-bit is
    unsigned ((x - 128) / 128), 16/24/32-bit signed (x / 2**(bits - 1)); channels are averaged.
    No header is trusted beyond the bytes behind it: a file over `max_bytes`, a chunk running
    past the end, a data chunk shorter than it says (a truncated download), no frames at all, or
    a rate outside MIN_RATE..MAX_RATE (1 kHz to 384 kHz) is a ValueError naming the file."""
    f, default, size = _open_bytes(path_or_file, max_bytes)
    name = default if name is None else name
    try:
        if size > max_bytes:
            raise ValueError(f"{name}: larger than the {max_bytes:,} bytes a WAV file may have here")
        fmt, declared, left = _chunks(f, name, size)
        channels, width, rate = _pcm_format(fmt, name)
        frame = width * channels
        frames = declared // frame
        if frames == 0:
            raise ValueError(f"{name}: the WAV file holds no samples (its data chunk declares {declared} bytes)")
        raw = f.read(min(frames * frame, left))
    finally:
        if f is not path_or_file:
            f.close()
    if len(raw) < frames * frame:
        raise ValueError(f"{name}: truncated WAV data: the header says {frames} frames of {channels} x "
                         f"{8 * width}-bit, the file holds {len(raw) // frame}")
    return _decode(raw, width, channels), rate


def _kernel(offsets: numpy.ndarray, cutoff: float, half_width: float) -> numpy.ndarray:
    """Kaiser-windowed low-pass sinc at `offsets` (in input samples), cut-off as a fraction of
    the input Nyquist frequency; unit gain at DC."""
    x = numpy.clip(offsets / half_width, -1.0, 1.0)
    window = numpy.i0(_KAISER_BETA * numpy.sqrt(1.0 - x * x)) / numpy.i0(_KAISER_BETA)
    return cutoff * numpy.sinc(cutoff * offsets) * window * (numpy.abs(offsets) < half_width)


def resample(samples: numpy.ndarray, from_rate: int, to_rate: int, length: int | None = None) -> numpy.ndarray:
    """Samples at `from_rate` Hz resampled to `to_rate` Hz along the last axis (batched on the
    leading ones); round(L * to_rate / from_rate) samples come out, or only the first `length`
    of them when given: the work is proportional to the samples that come out, so a clip that
    is cut afterwards is never computed in full.

    Band-limited interpolation: output sample m lies at input time t = m * from_rate / to_rate
    (exact integer arithmetic), and is the sum of the input around t weighted by a low-pass sinc
    cut at 0.94 of the lower Nyquist frequency (so downsampling does not alias), spanning 32 zero
    crossings each side, tapered by a Kaiser window (beta 9): flat to within 0.1% up to 0.75 of
    the lower Nyquist frequency, -6 dB at 0.94, below -95 dB from 1.0 on. It runs polyphase:
    with up/down the rates over their gcd, outputs m0, m0 + up, m0 + 2 up, ... share one set of
    weights and read the input at a stride of down, so each phase is one matrix-vector product
    over a strided view.
    This is a windowed sinc rather than an FFT resampler because an FFT treats the clip as one
    period of a loop, which bleeds its end into its start; here the signal is zero outside it.
    float32 in, float32 out; anything else comes back float64."""
    x = numpy.asarray(samples)
    for label, rate in (("from_rate", from_rate), ("to_rate", to_rate)):
        if not isinstance(rate, int | numpy.integer) or isinstance(rate, bool) or rate <= 0:
            raise ValueError(f"resample: {label} must be a positive integer number of Hz, got {rate!r}")
    if x.ndim == 0:
        raise ValueError("resample: expected samples of shape (..., L), got a scalar")
    if length is not None and (not isinstance(length, int | numpy.integer) or isinstance(length, bool) or length < 0):
        raise ValueError(f"resample: length must be a non-negative integer or None, got {length!r}")
    out_dtype = numpy.float32 if x.dtype == numpy.float32 else numpy.float64
    n_in = x.shape[-1]
    n_out = round(n_in * to_rate / from_rate) if length is None else min(round(n_in * to_rate / from_rate), length)
    if from_rate == to_rate:
        return x[..., :n_out].astype(out_dtype, copy=True)
    if x.size == 0:
        return numpy.zeros(x.shape[:-1] + (n_out,), out_dtype)
    g = math.gcd(int(from_rate), int(to_rate))
    up, down = int(to_rate) // g, int(from_rate) // g
    cutoff = _ROLLOFF * min(1.0, up / down)
    half_width = _ZERO_CROSSINGS / cutoff
    half = math.ceil(half_width)
    taps = numpy.arange(-half + 1, half + 1)  # input offsets from floor(t)
    flat = x.reshape(-1, n_in).astype(numpy.float64)
    windows = sliding_window_view(numpy.pad(flat, ((0, 0), (half, half))), len(taps), axis=-1)
    starts = numpy.arange(min(up, n_out), dtype=numpy.int64)
    bases, phases = numpy.divmod(starts * down, up)  # floor(t), and t's fraction in units of 1 / up
    table = _kernel(phases[:, None] / up - taps[None, :], cutoff, half_width)  # one row per phase
    out = numpy.empty((flat.shape[0], n_out), numpy.float64)
    for m0, base, weights in zip(starts.tolist(), bases.tolist(), table, strict=True):
        count = len(range(m0, n_out, up))
        first = base + 1  # window j covers inputs j - half .. j + half - 1, so this one starts at base - half + 1
        out[:, m0::up] = windows[:, first:first + (count - 1) * down + 1:down] @ weights
    return out.reshape(*x.shape[:-1], n_out).astype(out_dtype, copy=False)
