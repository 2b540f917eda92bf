"""The audio front end against formulas written out plainly here (a direct DFT sum, the mel
formula), against torch.stft when torch is installed, and the resampler on sines."""

import json
import math

import numpy
import pytest

from convpool.data import AudioFrontEnd, fix_length, log_mel_spectrogram, mel_filter_bank, resample
from convpool.data.audio import power_spectrogram


def _reference_log_mel(x, sample_rate, n_fft, hop, win_length, n_mels, eps, center):
    """log-mel by the textbook: explicit frames, a direct DFT sum, triangles from the mel formula."""
    x = numpy.asarray(x, numpy.float64)
    if center:  # reflect padding by n_fft // 2, without repeating the edge sample
        p = n_fft // 2
        x = numpy.concatenate([x[p:0:-1], x, x[-2:-p - 2:-1]])
    window = numpy.zeros(n_fft)
    left = (n_fft - win_length) // 2
    for n in range(win_length):
        window[left + n] = 0.5 - 0.5 * math.cos(2 * math.pi * n / win_length)
    n_freqs = n_fft // 2 + 1
    n_frames = 1 + (len(x) - n_fft) // hop
    power = numpy.zeros((n_freqs, n_frames))
    n = numpy.arange(n_fft)
    for t in range(n_frames):
        frame = x[t * hop:t * hop + n_fft]
        for k in range(n_freqs):
            value = numpy.sum(frame * window * numpy.exp(-2j * math.pi * k * n / n_fft))
            power[k, t] = abs(value) ** 2
    mel = lambda f: 2595 * math.log10(1 + f / 700)  # noqa: E731
    hz = lambda m: 700 * (10 ** (m / 2595) - 1)  # noqa: E731
    top = mel(sample_rate / 2)
    points = [hz(top * i / (n_mels + 1)) for i in range(n_mels + 2)]
    bank = numpy.zeros((n_mels, n_freqs))
    for m in range(n_mels):
        lo, mid, hi = points[m], points[m + 1], points[m + 2]
        for k in range(n_freqs):
            f = k * sample_rate / n_fft
            if lo < f <= mid:
                bank[m, k] = (f - lo) / (mid - lo)
            elif mid < f < hi:
                bank[m, k] = (hi - f) / (hi - mid)
    return numpy.log(bank @ power + eps)


@pytest.mark.parametrize("center, win_length", [(True, None), (True, 40), (False, None), (False, 51)])
def test_log_mel_matches_the_direct_formula(center, win_length):
    x = numpy.random.default_rng(0).standard_normal(300)
    got = log_mel_spectrogram(x, 8000, n_fft=64, hop_length=16, win_length=win_length, n_mels=12,
                              eps=1e-6, center=center)
    want = _reference_log_mel(x, 8000, 64, 16, win_length or 64, 12, 1e-6, center)
    assert got.dtype == numpy.float32 and got.shape == want.shape
    numpy.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_log_mel_is_batched_and_default_shape():
    rng = numpy.random.default_rng(1)
    x = rng.standard_normal((2, 3, 8000)).astype(numpy.float32)
    out = log_mel_spectrogram(x, 8000)
    assert out.shape == (2, 3, 40, 101) and out.dtype == numpy.float32
    numpy.testing.assert_allclose(out[1, 2], log_mel_spectrogram(x[1, 2], 8000), rtol=1e-6, atol=1e-6)
    assert numpy.all(log_mel_spectrogram(numpy.zeros(800), 8000) == numpy.float32(math.log(1e-6)))


def test_spectrogram_refuses_clips_too_short():
    with pytest.raises(ValueError, match="too few to reflect-pad"):
        log_mel_spectrogram(numpy.zeros(128), 8000, n_fft=256)
    with pytest.raises(ValueError, match="fewer than one frame"):
        log_mel_spectrogram(numpy.zeros(200), 8000, n_fft=256, center=False)
    with pytest.raises(ValueError, match="f_max"):
        log_mel_spectrogram(numpy.zeros(800), 8000, f_max=5000)


def _mel(f):
    return 2595 * numpy.log10(1 + numpy.asarray(f, float) / 700)


def test_mel_filters_are_unit_triangles_on_the_htk_scale():
    sample_rate, n_fft, n_mels, f_min, f_max = 8000, 4096, 20, 100.0, 3800.0
    bank = mel_filter_bank(n_mels, n_fft, sample_rate, f_min, f_max)
    assert bank.shape == (n_mels, n_fft // 2 + 1)
    bins = numpy.arange(n_fft // 2 + 1) * sample_rate / n_fft
    mels = numpy.linspace(_mel(f_min), _mel(f_max), n_mels + 2)
    edges = 700 * (10 ** (mels / 2595) - 1)
    numpy.testing.assert_allclose(_mel(edges), mels)  # the points really are evenly spaced in mel
    for m, row in enumerate(bank):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        assert row.max() <= 1.0
        peak = numpy.argmax(row)
        assert abs(bins[peak] - mid) <= sample_rate / n_fft  # the peak is at the centre frequency
        assert row[peak] > 0.95  # ... and reaches 1 there up to the bin spacing
        inside = numpy.flatnonzero(row > 0)
        assert bins[inside[0]] > lo and bins[inside[-1]] < hi
        assert numpy.all(numpy.diff(inside) == 1)  # one contiguous support
        up, down = bins <= mid, bins > mid
        numpy.testing.assert_allclose(row[up & (bins > lo)], ((bins - lo) / (mid - lo))[up & (bins > lo)])
        numpy.testing.assert_allclose(row[down & (bins < hi)], ((hi - bins) / (hi - mid))[down & (bins < hi)])
        assert numpy.all(row[(bins <= lo) | (bins >= hi)] == 0)
    between = (bins >= edges[1]) & (bins <= edges[-2])  # neighbouring triangles sum to 1
    numpy.testing.assert_allclose(bank[:, between].sum(0), 1.0, atol=1e-12)


def test_mel_filter_bank_checks_its_range():
    with pytest.raises(ValueError, match="f_min < f_max"):
        mel_filter_bank(10, 256, 8000, f_min=3000, f_max=2000)
    with pytest.raises(ValueError, match="n_mels"):
        mel_filter_bank(0, 256, 8000)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_fft, hop, win_length, center", [(256, 80, None, True), (64, 16, 40, True),
                                                              (128, 50, None, False), (255, 64, 200, True)])
def test_power_spectrogram_matches_torch_stft(dtype, n_fft, hop, win_length, center):
    torch = pytest.importorskip("torch")
    x = numpy.random.default_rng(2).standard_normal((2, 1000)).astype(dtype)
    win = n_fft if win_length is None else win_length
    want = torch.stft(torch.from_numpy(x), n_fft, hop_length=hop, win_length=win,
                      window=torch.hann_window(win, dtype=getattr(torch, dtype)), center=center,
                      pad_mode="reflect", return_complex=True).abs() ** 2
    got = power_spectrogram(x, n_fft, hop, win_length, center)
    assert got.dtype == numpy.dtype(dtype) and got.shape == tuple(want.shape)
    scale = float(want.max())
    numpy.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-5 * scale if dtype == "float32" else 1e-9)


def test_fix_length_crops_and_pads_on_the_right_or_centred():
    x = numpy.arange(1, 6, dtype=numpy.int16)  # 1 2 3 4 5
    assert fix_length(x, 3).tolist() == [1, 2, 3]
    assert fix_length(x, 7).tolist() == [1, 2, 3, 4, 5, 0, 0]
    assert fix_length(x, 2, center=True).tolist() == [2, 3]
    assert fix_length(x, 8, center=True).tolist() == [0, 1, 2, 3, 4, 5, 0, 0]
    assert fix_length(x, 5).tolist() == x.tolist() and fix_length(x, 0).shape == (0,)
    assert fix_length(x, 3).dtype == numpy.int16
    batch = numpy.ones((2, 1, 4), numpy.float32)
    out = fix_length(batch, 6)
    assert out.shape == (2, 1, 6) and out[..., 4:].sum() == 0 and out[..., :4].sum() == 8
    crop = fix_length(batch, 2)
    crop[...] = 7
    assert batch.max() == 1  # a new array, never a view of the input
    with pytest.raises(ValueError, match="non-negative integer"):
        fix_length(x, -1)


def test_front_end_makes_log_mel_and_waveforms_of_its_shape():
    x = numpy.random.default_rng(3).standard_normal((4, 1, 6000)).astype(numpy.float32)
    front = AudioFrontEnd(sample_rate=8000, length=8000)
    out = front(x)
    assert out.shape == (4,) + front.output_shape() == (4, 1, 40, 101) and out.dtype == numpy.float32
    numpy.testing.assert_allclose(out[2, 0], log_mel_spectrogram(fix_length(x[2, 0], 8000), 8000), rtol=1e-6)
    wave = AudioFrontEnd(length=5000, features="waveform")
    out = wave(x.astype(numpy.float64))
    assert out.shape == (4,) + wave.output_shape() == (4, 1, 5000) and out.dtype == numpy.float32
    numpy.testing.assert_array_equal(out, x[..., :5000])
    short = AudioFrontEnd(length=1000, n_fft=128, hop_length=64, n_mels=16, center=False)
    assert short(x).shape == (4,) + short.output_shape() == (4, 1, 16, 14)
    with pytest.raises(ValueError, match=r"\(N, C, L\)"):
        front(x[:, 0])


def test_front_end_config_round_trips_through_json():
    for front in (AudioFrontEnd(), AudioFrontEnd(sample_rate=16000, length=16000, n_fft=512, hop_length=160,
                                                 win_length=400, n_mels=64, f_min=20.0, f_max=7600.0, eps=1e-5),
                  AudioFrontEnd(length=4000, features="waveform")):
        config = json.loads(json.dumps(front.to_config()))
        assert AudioFrontEnd.from_config(config) == front
    assert AudioFrontEnd(length=4000, features="waveform").to_config() == {
        "sample_rate": 8000, "length": 4000, "features": "waveform"}
    assert AudioFrontEnd().to_config() == {
        "sample_rate": 8000, "length": 8000, "features": "log-mel", "n_fft": 256, "hop_length": 80,
        "win_length": None, "n_mels": 40, "f_min": 0.0, "f_max": None, "eps": 1e-6, "center": True}
    numpy_ints = AudioFrontEnd(sample_rate=numpy.int64(8000), length=numpy.int32(800), f_min=numpy.float32(0))
    assert type(numpy_ints.to_config()["length"]) is int  # plain numbers, so json.dumps works
    json.dumps(numpy_ints.to_config())


@pytest.mark.parametrize("bad, match", [({"features": "mfcc"}, "features"), ({"length": 0}, "length"),
                                        ({"f_max": 9000.0}, "f_max"), ({"win_length": 300}, "win_length"),
                                        ({"colour": 1}, "unknown keys"), ({"center": "yes"}, "center"),
                                        ({"length": 100}, "too short")])
def test_front_end_rejects_bad_settings(bad, match):
    with pytest.raises(ValueError, match=match):
        AudioFrontEnd.from_config(bad)


def _tone(frequency, rate, seconds=1.0):
    return numpy.sin(2 * numpy.pi * frequency * numpy.arange(round(rate * seconds)) / rate)


@pytest.mark.parametrize("from_rate, to_rate, frequency", [(16000, 8000, 440.0), (8000, 16000, 1000.0),
                                                          (44100, 8000, 2500.0), (11025, 8000, 3000.0),
                                                          (8000, 22050, 3000.0)])
def test_resample_keeps_a_sine_frequency_and_amplitude(from_rate, to_rate, frequency):
    y = resample(_tone(frequency, from_rate), from_rate, to_rate)
    want = _tone(frequency, to_rate)
    assert y.shape == want.shape
    inner = slice(len(y) // 10, -len(y) // 10)  # away from the clip's edges, where the signal stops
    amplitude = numpy.sqrt(2 * numpy.mean(y[inner] ** 2))
    assert abs(amplitude - 1) < 0.01
    numpy.testing.assert_allclose(y[inner], want[inner], atol=0.01)  # same frequency, same phase


def test_resample_removes_what_the_new_rate_cannot_hold():
    y = resample(_tone(6000.0, 16000), 16000, 8000)  # 6 kHz would alias to 2 kHz at 8 kHz
    assert numpy.abs(y[800:-800]).max() < 1e-3


def test_resample_lengths_dtypes_and_batches():
    rng = numpy.random.default_rng(4)
    for n in (0, 1, 2, 3, 7, 99, 1001):
        for a, b in ((16000, 8000), (8000, 16000), (44100, 8000), (8000, 11025), (48000, 44100)):
            assert resample(numpy.zeros(n), a, b).shape == (round(n * b / a),)
    x = rng.standard_normal((2, 3, 500)).astype(numpy.float32)
    y = resample(x, 16000, 12000)
    assert y.dtype == numpy.float32 and y.shape == (2, 3, 375)
    numpy.testing.assert_allclose(y[1, 2], resample(x[1, 2], 16000, 12000), rtol=1e-6)
    assert resample(x, 8000, 8000).dtype == numpy.float32
    assert resample(numpy.arange(4), 8000, 8000).dtype == numpy.float64
    numpy.testing.assert_allclose(resample(numpy.ones(4000), 8000, 16000)[1000:-1000], 1.0, atol=1e-3)
    with pytest.raises(ValueError, match="positive integer"):
        resample(x, 0, 8000)
    with pytest.raises(ValueError, match="positive integer"):
        resample(x, 8000, 8000.5)
