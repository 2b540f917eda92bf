"""The one sound reader on hostile WAV files written here: rates outside 1 kHz..384 kHz, empty
recordings, chunks running past the file, data chunks declaring gigabytes, zip members declaring
gigabytes; each refused in one line naming the file, with memory bounded by the real bytes."""

import io
import struct
import time
import tracemalloc
import wave
import zipfile

import numpy
import pytest
from hostile import forge_zip_size

from convpool.data import load_spoken_digits, read_wav
from convpool.data.sounds import read_sound


def _wav(samples, rate=8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(numpy.asarray(samples, "<i2").tobytes())
    return buffer.getvalue()


def _riff(*chunks: tuple[bytes, int, bytes]) -> bytes:
    """A RIFF/WAVE file of (chunk id, declared size, bytes) chunks, sizes as given (they may lie)."""
    body = b"WAVE" + b"".join(cid + struct.pack("<I", size) + data for cid, size, data in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _fmt(rate=8000, channels=1, bits=16) -> bytes:
    width = bits // 8
    return struct.pack("<HHIIHH", 1, channels, rate, (rate * width * channels) % 2**32, width * channels, bits)


def _peak(call) -> tuple[int, float]:
    """(peak bytes traced, seconds) while call() runs."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        call()
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, seconds


@pytest.mark.parametrize("rate", [1, 999, 384_001, 4_000_000_000])
def test_a_rate_outside_1khz_to_384khz_is_refused_naming_the_file(tmp_path, rate):
    path = tmp_path / "odd.wav"
    path.write_bytes(_riff((b"fmt ", 16, _fmt(rate)), (b"data", 40_000, bytes(40_000))))  # a 39 kB file
    peak, seconds = _peak(lambda: pytest.raises(ValueError, read_wav, path))
    with pytest.raises(ValueError, match=rf"odd\.wav: WAV header gives a sample rate of {rate} Hz, outside the "
                                         r"1,000 to 384,000 Hz"):
        read_sound(path, 8000, 8000)
    assert peak < 1_000_000 and seconds < 1.0


def test_resampling_costs_the_output_kept_not_the_whole_file(tmp_path):
    path = tmp_path / "slow.wav"
    path.write_bytes(_wav(numpy.zeros(100_000), rate=1000))  # 100 s at 1 kHz: 4.8 M samples at 48 kHz (38 MB)
    peak, seconds = _peak(lambda: read_sound(path, 48_000, 8000))
    sound = read_sound(path, 48_000, 8000)
    assert sound.samples.shape == (8000,) and sound.samples.dtype == numpy.float32
    assert sound.notes == "resampled 1000 Hz to 48000 Hz; cut 4800000 samples to 8000"
    assert peak < 8_000_000, f"peak {peak / 1e6:.1f} MB"


def test_resample_with_length_gives_the_start_of_the_full_result():
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal(3000)
    from convpool.data import resample
    for a, b in ((8000, 16000), (44100, 8000), (1000, 48000), (8000, 8000)):
        full = resample(x, a, b)
        numpy.testing.assert_allclose(resample(x, a, b, length=700), full[:700], atol=1e-12)
        assert resample(x, a, b, length=10**9).shape == full.shape
    with pytest.raises(ValueError, match="length must be a non-negative integer"):
        resample(x, 8000, 16000, length=-1)


def test_a_wav_with_no_frames_is_refused(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(_wav([]))
    with pytest.raises(ValueError, match=r"empty\.wav: the WAV file holds no samples"):
        read_sound(path, 8000, 8000)


@pytest.mark.parametrize("chunks, match", [
    (((b"fmt ", 1 << 30, _fmt()),), r"the 'fmt ' chunk declares 1073741824 bytes but only 16 follow"),
    (((b"fmt ", 8, _fmt()[:8]),), r"a fmt chunk of 8 bytes, fewer than the 16"),
    (((b"LIST", 99_999, b"x" * 10), (b"data", 4, bytes(4))), r"the 'LIST' chunk declares 99999 bytes"),
    (((b"fmt ", 16, _fmt()),), r"truncated WAV header: the file ends after 36 bytes without a data chunk"),
    (((b"data", 4, bytes(4)),), r"its data chunk comes before any fmt chunk"),
])
def test_chunks_running_past_the_file_are_named_with_the_file(tmp_path, chunks, match):
    path = tmp_path / "bad.wav"
    path.write_bytes(_riff(*chunks))
    with pytest.raises(ValueError, match=r"bad\.wav: .*" + match):
        read_wav(path)


def test_a_data_chunk_declaring_4_gib_reads_only_the_bytes_there(tmp_path):
    path = tmp_path / "liar.wav"
    path.write_bytes(_riff((b"fmt ", 16, _fmt()), (b"data", 0xFFFF_FFFE, bytes(2000))))
    peak, _ = _peak(lambda: pytest.raises(ValueError, read_wav, path))
    with pytest.raises(ValueError, match=r"liar\.wav: truncated WAV data: the header says 2147483647 frames"):
        read_wav(path)
    assert peak < 1_000_000


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path):
    path = tmp_path / "long.wav"
    path.write_bytes(_wav(numpy.zeros(5000)))
    with pytest.raises(ValueError, match=r"long\.wav: larger than the 10,000 bytes"):
        read_wav(path, max_bytes=10_000)
    # an unseekable stream is read up to the limit and one byte
    with pytest.raises(ValueError, match=r"named: larger than the 10,000 bytes"):
        read_wav(_Unseekable(path.read_bytes()), name="named", max_bytes=10_000)


class _Unseekable(io.RawIOBase):
    def __init__(self, data):
        self.data = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, buffer):
        return self.data.readinto(buffer)


def test_a_zip_member_declaring_2_gib_is_refused_before_it_is_read(tmp_path):
    archive = tmp_path / "digits.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("recordings/1_ann_0.wav", _wav(numpy.zeros(800)))
        z.writestr("recordings/2_ann_0.wav", _wav(numpy.zeros(800)))
    forge_zip_size(archive, "recordings/2_ann_0.wav", 2**31)
    assert zipfile.ZipFile(archive).getinfo("recordings/2_ann_0.wav").file_size == 2**31
    peak, _ = _peak(lambda: pytest.raises(ValueError, load_spoken_digits, archive))
    with pytest.raises(ValueError, match=r"digits\.zip:recordings/2_ann_0\.wav: the zip declares 2,147,483,648 "
                                         r"bytes for it, more than the"):
        load_spoken_digits(archive)
    assert peak < 2_000_000


def test_spoken_digits_refuse_an_odd_rate_naming_the_recording(tmp_path):
    (tmp_path / "3_bob_0.wav").write_bytes(_riff((b"fmt ", 16, _fmt(1)), (b"data", 400, bytes(400))))
    with pytest.raises(ValueError, match=r"3_bob_0\.wav: WAV header gives a sample rate of 1 Hz"):
        load_spoken_digits(tmp_path)
