"""The audio front end in NumPy: fixed-length clips, power and log-mel spectrograms, and
`AudioFrontEnd`, which turns a batch of waveforms into a model's input and records how.

The spectrogram follows torch.stft's conventions (reflect padding of n_fft // 2 when
centred, a periodic Hann window centred in the frame, one-sided rfft) and the filter bank
torchaudio's MelScale with mel_scale="htk", norm=None, so features made here match features
made there. Everything is batched on leading axes and vectorised: frames are a strided view,
and one rfft covers all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy
from numpy.lib.stride_tricks import sliding_window_view

from .transforms import Transform

FEATURES: tuple[str, ...] = ("waveform", "log-mel")
_CHUNK = 1 << 24  # frame values windowed at once, to bound memory on a large batch


def fix_length(samples: numpy.ndarray, length: int, center: bool = False) -> numpy.ndarray:
    """Samples (..., L) cropped or zero-padded to (..., length), always a new array.

    By default the clip keeps its start: the end is cut off or zeros are added after it. With
    center=True the cut or the padding is shared between both ends (the odd sample goes to the
    end), which keeps a word that sits in the middle of a long recording."""
    x = numpy.asarray(samples)
    if x.ndim == 0:
        raise ValueError("fix_length: expected samples of shape (..., L), got a scalar")
    if not isinstance(length, int | numpy.integer) or isinstance(length, bool) or length < 0:
        raise ValueError(f"fix_length: length must be a non-negative integer, got {length!r}")
    n = x.shape[-1]
    if n >= length:
        start = (n - length) // 2 if center else 0
        return x[..., start:start + length].copy()
    out = numpy.zeros(x.shape[:-1] + (int(length),), x.dtype)
    start = (length - n) // 2 if center else 0
    out[..., start:start + n] = x
    return out


def hz_to_mel(hz):
    """The HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * numpy.log10(1.0 + numpy.asarray(hz, numpy.float64) / 700.0)


def mel_to_hz(mel):
    """The inverse of `hz_to_mel`: 700 (10^(m / 2595) - 1)."""
    return 700.0 * (10.0 ** (numpy.asarray(mel, numpy.float64) / 2595.0) - 1.0)


def mel_filter_bank(n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0,
                    f_max: float | None = None) -> numpy.ndarray:
    """Triangular mel filters (n_mels, n_fft // 2 + 1), float64, to multiply a power spectrum by.

    n_mels + 2 points are spaced evenly on the HTK mel scale from f_min to f_max (default
    sample_rate / 2); filter i rises linearly from point i to a peak of 1 at point i + 1 and
    falls back to 0 at point i + 2, evaluated at the FFT bin frequencies k * sample_rate / n_fft
    (torchaudio takes linspace(0, sample_rate // 2, n_fft // 2 + 1): the same for an even n_fft
    and an even rate).
    Peaks are 1, not area-normalised: torchaudio's MelScale(norm=None, mel_scale="htk"). A filter
    narrower than the bin spacing can fall between bins and come out all zero (too many mels for
    n_fft); its log-mel row is then log(eps), constant and harmless."""
    f_max = sample_rate / 2 if f_max is None else f_max
    _check_mel(n_mels, n_fft, sample_rate, f_min, f_max, "mel_filter_bank")
    bins = numpy.arange(n_fft // 2 + 1) * (sample_rate / n_fft)
    points = mel_to_hz(numpy.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lower, centre, upper = points[:-2, None], points[1:-1, None], points[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return numpy.maximum(0.0, numpy.minimum(rising, falling))


def _check_mel(n_mels, n_fft, sample_rate, f_min, f_max, name: str) -> None:
    if n_mels < 1 or n_fft < 2 or sample_rate <= 0:
        raise ValueError(f"{name}: n_mels must be >= 1, n_fft >= 2 and sample_rate positive, "
                         f"got n_mels={n_mels}, n_fft={n_fft}, sample_rate={sample_rate}")
    if not 0.0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"{name}: need 0 <= f_min < f_max <= sample_rate / 2 = {sample_rate / 2}, "
                         f"got f_min={f_min}, f_max={f_max}")


def hann_window(length: int) -> numpy.ndarray:
    """The periodic Hann window 0.5 - 0.5 cos(2 pi n / length), as torch.hann_window(length)."""
    return 0.5 - 0.5 * numpy.cos(2.0 * numpy.pi * numpy.arange(length) / length)


def power_spectrogram(samples: numpy.ndarray, n_fft: int = 256, hop_length: int = 80,
                      win_length: int | None = None, center: bool = True) -> numpy.ndarray:
    """|STFT|^2 of samples (..., L) as (..., n_fft // 2 + 1, frames), as
    torch.stft(x, n_fft, hop_length, win_length, torch.hann_window(win_length), center,
    pad_mode="reflect", return_complex=True).abs() ** 2.

    With center, the signal is reflect-padded by n_fft // 2 on both sides, so frame t is centred
    on sample t * hop_length; a window shorter than n_fft sits in the middle of the frame.
    float32 input is computed in float32, anything else in float64."""
    x = numpy.asarray(samples)
    if x.ndim == 0:
        raise ValueError("power_spectrogram: expected samples of shape (..., L), got a scalar")
    win_length = n_fft if win_length is None else win_length
    if n_fft < 2 or hop_length < 1 or not 1 <= win_length <= n_fft:
        raise ValueError(f"power_spectrogram: need n_fft >= 2, hop_length >= 1 and 1 <= win_length <= n_fft, "
                         f"got n_fft={n_fft}, hop_length={hop_length}, win_length={win_length}")
    dtype = numpy.float32 if x.dtype == numpy.float32 else numpy.float64
    x = x.astype(dtype, copy=False)
    n = x.shape[-1]
    if center and n <= n_fft // 2:
        raise ValueError(f"power_spectrogram: {n} samples are too few to reflect-pad by n_fft // 2 = {n_fft // 2} "
                         f"(pad or crop the clip first, e.g. with fix_length)")
    if not center and n < n_fft:
        raise ValueError(f"power_spectrogram: {n} samples are fewer than one frame of n_fft = {n_fft}")
    window = numpy.zeros(n_fft, dtype)
    left = (n_fft - win_length) // 2
    window[left:left + win_length] = hann_window(win_length)
    flat = x.reshape(-1, n)
    if center:
        flat = numpy.pad(flat, ((0, 0), (n_fft // 2, n_fft // 2)), mode="reflect")
    frames = sliding_window_view(flat, n_fft, axis=-1)[:, ::hop_length]  # (B, frames, n_fft), a view
    out = numpy.empty((flat.shape[0], n_fft // 2 + 1, frames.shape[1]), dtype)
    step = max(1, _CHUNK // (frames.shape[1] * n_fft))
    for s in range(0, len(frames), step):
        spectrum = numpy.fft.rfft(frames[s:s + step] * window, axis=-1)
        out[s:s + step] = (spectrum.real ** 2 + spectrum.imag ** 2).transpose(0, 2, 1)
    return out.reshape(x.shape[:-1] + out.shape[1:])


def log_mel_spectrogram(samples: numpy.ndarray, sample_rate: int, n_fft: int = 256, hop_length: int = 80,
                        win_length: int | None = None, n_mels: int = 40, f_min: float = 0.0,
                        f_max: float | None = None, eps: float = 1e-6, center: bool = True) -> numpy.ndarray:
    """log(mel filter bank @ |STFT|^2 + eps): samples (..., L) -> float32 (..., n_mels, frames).

    The defaults suit 8 kHz speech: 32 ms frames every 10 ms, 40 mels up to 4 kHz. The power
    spectrogram is `power_spectrogram`, the filters `mel_filter_bank`; the log is natural and
    eps keeps silence finite."""
    if eps <= 0:
        raise ValueError(f"log_mel_spectrogram: eps must be positive, got {eps}")
    power = power_spectrogram(samples, n_fft, hop_length, win_length, center)
    bank = mel_filter_bank(n_mels, n_fft, sample_rate, f_min, f_max).astype(power.dtype)
    mel = numpy.matmul(bank, power)  # (n_mels, freqs) @ (..., freqs, frames)
    mel += eps
    return numpy.log(mel).astype(numpy.float32, copy=False)


def _whole(value, name: str, low: int) -> int:
    if not isinstance(value, int | numpy.integer) or isinstance(value, bool) or value < low:
        raise ValueError(f"AudioFrontEnd: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _real(value, name: str) -> float:
    if not isinstance(value, int | float | numpy.integer | numpy.floating) or isinstance(value, bool):
        raise ValueError(f"AudioFrontEnd: {name} must be a number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class AudioFrontEnd(Transform):
    """Waveforms (N, C, L) -> a model's input: each clip cut or zero-padded on the right to
    `length` samples, then kept as the waveform (N, C, length) float32 or turned into a log-mel
    spectrogram (N, C, n_mels, frames) float32 with the parameters below.

    A batch transform (`__call__(batch, rng)`, rng unused), so a DataLoader can apply it.
    `to_config()` is a JSON-safe dict, and `from_config` rebuilds the front end from it, so a
    checkpoint can record exactly how its input was made. `sample_rate` is the rate the clips
    must already have (resample at load time); it places the mel filters."""

    sample_rate: int = 8000
    length: int = 8000
    features: str = "log-mel"
    n_fft: int = 256
    hop_length: int = 80
    win_length: int | None = None
    n_mels: int = 40
    f_min: float = 0.0
    f_max: float | None = None
    eps: float = 1e-6
    center: bool = True

    def __post_init__(self):
        if self.features not in FEATURES:
            raise ValueError(f"AudioFrontEnd: features must be one of {FEATURES}, got {self.features!r}")
        clean = {"sample_rate": _whole(self.sample_rate, "sample_rate", 1), "length": _whole(self.length, "length", 1),
                 "n_fft": _whole(self.n_fft, "n_fft", 2), "hop_length": _whole(self.hop_length, "hop_length", 1),
                 "n_mels": _whole(self.n_mels, "n_mels", 1), "f_min": _real(self.f_min, "f_min"),
                 "eps": _real(self.eps, "eps"),
                 "win_length": None if self.win_length is None else _whole(self.win_length, "win_length", 1),
                 "f_max": None if self.f_max is None else _real(self.f_max, "f_max")}
        if not isinstance(self.center, bool | numpy.bool_):
            raise ValueError(f"AudioFrontEnd: center must be a bool, got {self.center!r}")
        clean["center"] = bool(self.center)
        for key, value in clean.items():
            object.__setattr__(self, key, value)  # plain Python numbers, so to_config is JSON-safe
        if self.features == "log-mel":
            f_max = self.sample_rate / 2 if self.f_max is None else self.f_max
            _check_mel(self.n_mels, self.n_fft, self.sample_rate, self.f_min, f_max, "AudioFrontEnd")
            if self.win_length is not None and self.win_length > self.n_fft:
                raise ValueError(f"AudioFrontEnd: win_length {self.win_length} is longer than n_fft {self.n_fft}")
            if self.eps <= 0:
                raise ValueError(f"AudioFrontEnd: eps must be positive, got {self.eps}")
            if self.length <= (self.n_fft // 2 if self.center else self.n_fft - 1):
                raise ValueError(f"AudioFrontEnd: length {self.length} is too short for n_fft {self.n_fft}")

    def frames(self) -> int:
        """The number of spectrogram frames a clip of `length` samples gives."""
        padded = self.length + (2 * (self.n_fft // 2) if self.center else 0)
        return 1 + (padded - self.n_fft) // self.hop_length

    def output_shape(self, channels: int = 1) -> tuple[int, ...]:
        """The shape of one output item: (channels, length) or (channels, n_mels, frames)."""
        if self.features == "waveform":
            return (channels, self.length)
        return (channels, self.n_mels, self.frames())

    def __call__(self, waveforms: numpy.ndarray, rng: numpy.random.Generator | None = None) -> numpy.ndarray:
        x = numpy.asarray(waveforms)
        if x.ndim != 3 or x.dtype.kind != "f":
            raise ValueError(f"AudioFrontEnd: expected floating waveforms (N, C, L), got shape {x.shape} of {x.dtype}")
        x = fix_length(x, self.length)
        if self.features == "waveform":
            return x.astype(numpy.float32, copy=False)
        return log_mel_spectrogram(x, self.sample_rate, self.n_fft, self.hop_length, self.win_length, self.n_mels,
                                   self.f_min, self.f_max, self.eps, self.center)

    def to_config(self) -> dict[str, Any]:
        """The front end as a JSON-safe dict: sample_rate, length and features, plus the
        spectrogram's parameters when features is "log-mel"."""
        config = dataclasses.asdict(self)
        if self.features == "waveform":
            config = {key: config[key] for key in ("sample_rate", "length", "features")}
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AudioFrontEnd:
        """The front end `to_config` described; missing parameters take their defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"AudioFrontEnd.from_config: unknown keys {unknown} (known: {sorted(known)})")
        return cls(**config)
