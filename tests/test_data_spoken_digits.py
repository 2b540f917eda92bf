"""WAV reading and spoken-digit loading on small files written here with the `wave` module,
every error case, and the shared Free Spoken Digit Dataset when it is present."""

import io
import struct
import time
import wave
import zipfile
from pathlib import Path

import numpy
import pytest

from convpool.data import DIGIT_CLASSES, load_spoken_digits, read_wav

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _wav_bytes(values, rate=8000, width=2, channels=1) -> bytes:
    """Integer samples (frames,) or (frames, channels), stored as they are, as a WAV file."""
    values = numpy.asarray(values).reshape(-1, channels)
    if width == 3:
        raw = b"".join(int(v).to_bytes(3, "little", signed=True) for v in values.ravel())
    else:
        raw = values.astype({1: "u1", 2: "<i2", 4: "<i4"}[width]).tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)
    return buffer.getvalue()


def _odd_format_wav(tag: int) -> bytes:
    """A minimal WAV whose fmt chunk declares another encoding (3: IEEE float, 6: A-law)."""
    width = 4 if tag == 3 else 1
    data = bytes(8 * width)
    fmt = struct.pack("<HHIIHH", tag, 1, 8000, 8000 * width, width, 8 * width)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("recordings/", b"")  # a folder entry, as zip tools write them
        for name, data in files.items():
            z.writestr(name, data)
    return path


def test_read_wav_decodes_each_pcm_width_to_minus_one_one():
    cases = [(1, [0, 64, 128, 255], [-1.0, -0.5, 0.0, 127 / 128]),
             (2, [-32768, -16384, 0, 32767], [-1.0, -0.5, 0.0, 32767 / 32768]),
             (3, [-(2**23), 2**22, 0, 2**23 - 1], [-1.0, 0.5, 0.0, (2**23 - 1) / 2**23]),
             (4, [-(2**31), 2**30, 0, 2**31 - 1], [-1.0, 0.5, 0.0, (2**31 - 1) / 2**31])]
    for width, values, want in cases:
        samples, rate = read_wav(io.BytesIO(_wav_bytes(values, rate=11025, width=width)))
        assert rate == 11025 and samples.dtype == numpy.float32
        numpy.testing.assert_allclose(samples, want, rtol=1e-7)


def test_read_wav_averages_stereo_and_reads_paths(tmp_path):
    path = tmp_path / "s.wav"
    path.write_bytes(_wav_bytes([[1000, 3000], [-2000, 0]], channels=2))
    samples, rate = read_wav(path)
    numpy.testing.assert_allclose(samples, [2000 / 32768, -1000 / 32768])
    assert rate == 8000
    stereo8 = _wav_bytes([[128, 192], [0, 128]], width=1, channels=2)
    numpy.testing.assert_allclose(read_wav(io.BytesIO(stereo8))[0], [0.25, -0.5])


@pytest.mark.parametrize("data, match", [
    (b"hello, this is text", r"a\.wav: not a WAV file: it starts with b'hello, this '"),
    (b"", r"a\.wav: not a WAV file"),
    (_odd_format_wav(3), r"a\.wav: unsupported WAV encoding: format tag 3 \(0x0003, IEEE float\)"),
    (_odd_format_wav(6), r"a\.wav: unsupported WAV encoding: format tag 6 \(0x0006, A-law\)"),
    (_wav_bytes(numpy.zeros(100))[:-50], r"a\.wav: truncated WAV data: the header says 100 frames"),
])
def test_read_wav_errors_name_the_file_and_what_it_found(tmp_path, data, match):
    (tmp_path / "a.wav").write_bytes(data)
    with pytest.raises(ValueError, match=match):
        read_wav(tmp_path / "a.wav")
    with pytest.raises(ValueError, match=match.replace(r"a\.wav", "named")):
        read_wav(io.BytesIO(data), name="named")


def _digits_files():
    rng = numpy.random.default_rng(0)
    return {f"recordings/{d}_{who}_{i}.wav": _wav_bytes(rng.integers(-30000, 30000, 100 + 40 * d))
            for d in (0, 3, 7) for who in ("ann", "bob") for i in range(2)}


def _check_digits(dataset, files):
    names = sorted(files)
    assert dataset.names == names
    assert dataset.classes == list(DIGIT_CLASSES)
    assert dataset.labels.tolist() == [int(Path(n).name[0]) for n in names]
    assert dataset.speakers == [Path(n).name.split("_")[1] for n in names]
    assert dataset.images.shape == (len(names), 1, 300) and dataset.images.dtype == numpy.float32
    for image, name in zip(dataset.images, names, strict=True):
        samples = read_wav(io.BytesIO(files[name]))[0]
        n = min(len(samples), 300)
        numpy.testing.assert_array_equal(image[0, :n], samples[:n])  # cut or padded on the right
        assert not image[0, n:].any()


def test_loads_a_folder_and_a_zip_by_the_digit_pattern(tmp_path, capsys):
    files = _digits_files()
    folder = _write(tmp_path / "fsdd", files)
    (folder / "recordings" / "README.txt").write_text("not audio")
    (folder / "recordings" / ".hidden.wav").write_text("an editor's backup")
    _check_digits(load_spoken_digits(folder, length=300), files)
    archive = _zip(tmp_path / "fsdd.zip", files | {"README.md": b"x", "__MACOSX/recordings/._0_ann_0.wav": b"x"})
    _check_digits(load_spoken_digits(archive, length=300), files)
    assert capsys.readouterr().err == ""  # nothing resampled, nothing said


def test_other_rates_widths_and_channels_are_resampled_and_said_once(tmp_path, capsys):
    tone = numpy.sin(2 * numpy.pi * 500 * numpy.arange(1600) / 16000)
    files = {"1_ann_0.wav": _wav_bytes(numpy.round(tone * 20000), rate=16000),
             "2_ann_0.wav": _wav_bytes(numpy.round(numpy.stack([tone, tone], 1) * 100 + 128), rate=16000,
                                       width=1, channels=2),
             "3_bob_0.wav": _wav_bytes(numpy.round(tone[:1000] * 20000), rate=11025),
             "4_bob_0.wav": _wav_bytes(numpy.round(tone[:800] * 20000), rate=8000)}
    dataset = load_spoken_digits(_write(tmp_path, files), sample_rate=8000, length=1000)
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "resampled 3 of 4 files to 8000 Hz (1 from 11025 Hz, 2 from 16000 Hz)" in err
    assert dataset.images.shape == (4, 1, 1000)
    want = numpy.sin(2 * numpy.pi * 500 * numpy.arange(800) / 8000)
    numpy.testing.assert_allclose(dataset.images[0, 0, 100:700], want[100:700] * 20000 / 32768, atol=2e-3)
    numpy.testing.assert_allclose(dataset.images[1, 0, 100:700], want[100:700] * 100 / 128, atol=1e-2)
    assert not dataset.images[0, 0, 800:].any()  # 1600 samples at 16 kHz are 800 at 8 kHz, then zeros


def test_labels_from_class_folders_when_names_do_not_match(tmp_path):
    files = {"words/yes/a.wav": _wav_bytes([1] * 10), "words/no/b.wav": _wav_bytes([2] * 10),
             "words/yes/c.wav": _wav_bytes([3] * 10)}
    for source in (_write(tmp_path / "words", files), _zip(tmp_path / "words.zip", files)):
        dataset = load_spoken_digits(source, length=10)
        assert dataset.classes == ["no", "yes"]
        assert dataset.names == ["words/no/b.wav", "words/yes/a.wav", "words/yes/c.wav"]
        assert dataset.labels.tolist() == [0, 1, 1] and dataset.speakers is None
        assert dataset.images[:, 0, 0].tolist() == [2 / 32768, 1 / 32768, 3 / 32768]


@pytest.mark.parametrize("files, match", [
    ({"1_ann_0.wav": b"RIFX not a wave"}, r"1_ann_0\.wav: not a WAV file"),
    ({"1_ann_0.wav": _odd_format_wav(3)}, r"1_ann_0\.wav: unsupported WAV encoding: format tag 3"),
    ({"yes/a.wav": _wav_bytes([0]), "loose.wav": _wav_bytes([0])}, r"loose\.wav: .*not in a class sub-folder"),
    ({"1_ann_0.wav": _wav_bytes([0]), "x/hello.wav": _wav_bytes([0])},
     r"hello\.wav: the name does not match <digit>_<speaker>_<index>\.wav, while 1 of the 2 files do"),
    ({"notes.txt": b"no audio here"}, r"no \.wav files found"),
])
def test_errors_are_one_line_naming_the_file(tmp_path, files, match):
    folder = _write(tmp_path / "folder", files)
    with pytest.raises(ValueError, match=match) as caught:
        load_spoken_digits(folder)
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match=match):
        load_spoken_digits(_zip(tmp_path / "a.zip", files))


def test_missing_or_odd_sources(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .wav files found"):
        load_spoken_digits(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_spoken_digits(tmp_path / "nowhere")
    (tmp_path / "one.wav").write_bytes(_wav_bytes([0]))
    with pytest.raises(ValueError, match="not a folder or a .zip file"):
        load_spoken_digits(tmp_path / "one.wav")
    with pytest.raises(ValueError, match="length must be a positive integer"):
        load_spoken_digits(tmp_path / "empty", length=0)


def test_the_shared_free_spoken_digit_dataset():
    archive = SHARED / "fsdd-train-wav.zip"
    if not archive.is_file():
        pytest.skip(f"{archive} is not present")
    start = time.perf_counter()
    dataset = load_spoken_digits(archive)
    seconds = time.perf_counter() - start
    assert len(dataset) == 2700 and dataset.images.shape == (2700, 1, 8000)
    assert numpy.bincount(dataset.labels).tolist() == [270] * 10
    assert len(set(dataset.speakers)) == 6
    assert all(name.startswith("recordings/") for name in dataset.names)
    assert 0 < numpy.abs(dataset.images).max() <= 1
    assert seconds < 60, f"loading took {seconds:.1f} s"
