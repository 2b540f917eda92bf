"""The one image reader (convpool.data.images) and the image-folder loader on hostile files
written here: decompression bombs, truncated JPEGs, oversized files, zip members declaring
gigabytes, and an in-place edit that keeps a file's size and modification time."""

import io
import os
import subprocess
import sys
import time
import tracemalloc
import zipfile

import numpy
import pytest
from hostile import forge_zip_size
from PIL import Image

from convpool.data import load_image_folder
from convpool.data.images import open_image, read_image


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _photo(seed=0, h=12, w=10):
    return numpy.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=numpy.uint8)


def test_read_image_converts_resizes_scales_and_says_so(tmp_path):
    path = _png(tmp_path / "p.png", _photo(h=30, w=40))
    array, notes = read_image(path, 1, 12)
    assert array.shape == (1, 12, 12) and array.dtype == numpy.uint8
    assert notes == "converted RGB to grey; resized 40x30 to 12x12"
    array, notes = read_image(path, 3, max_side=20)
    assert array.shape == (3, 15, 20) and notes == "scaled 40x30 down to 20x15"
    array, notes = read_image(path)
    numpy.testing.assert_array_equal(array, _photo(h=30, w=40).transpose(2, 0, 1))
    assert notes == ""
    grey = _png(tmp_path / "g.png", numpy.full((5, 6), 7, numpy.uint8))
    assert read_image(grey)[0].shape == (1, 5, 6)
    with pytest.raises(ValueError, match="channels must be 1, 3 or None"):
        read_image(path, 2)


def test_a_truncated_jpeg_names_the_file(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(_photo(h=64, w=64)).save(buffer, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ValueError, match=r"cut\.jpg: not a readable image: damaged or truncated \(OSError: image "
                                         r"file is truncated"):
        read_image(path, 3, 32)


def test_missing_folder_text_and_oversized_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.png: no such image file"):
        read_image(tmp_path / "nothing.png")
    with pytest.raises(ValueError, match=r": a folder, not an image file"):
        read_image(tmp_path)
    (tmp_path / "t.png").write_text("hello")
    with pytest.raises(ValueError, match=r"t\.png: not an image Pillow can read"):
        read_image(tmp_path / "t.png")
    path = _png(tmp_path / "big.png", _photo(h=40, w=40))
    with pytest.raises(ValueError, match=rf"big\.png: {path.stat().st_size:,} bytes, more than the 100 an image"):
        open_image(path, max_bytes=100)


@pytest.mark.parametrize("side, pillow_says", [(40, "warning"), (50, "error")])
def test_pillow_s_decompression_bomb_limit_is_one_line_naming_the_file(tmp_path, monkeypatch, side, pillow_says):
    # 1,600 pixels is past a limit of 1,000 (Pillow warns); 2,500 past twice it (Pillow raises)
    path = _png(tmp_path / "bomb.png", numpy.zeros((side, side), numpy.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ValueError, match=rf"bomb\.png: refused as a possible decompression bomb: Image size "
                                         rf"\({side * side} pixels\) exceeds limit"):
        read_image(path, 3, 32)
    archive = tmp_path / "bombs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(_png(tmp_path / "ok.png", numpy.zeros((4, 4), numpy.uint8)), "a/0.png")
        z.write(path, "a/1.png")
    with pytest.raises(ValueError, match=r"bombs\.zip:a/1\.png: refused as a possible decompression bomb"):
        load_image_folder(archive, size=4, cache_dir=tmp_path / "cache")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak memory read from /proc (Linux)")
def test_a_real_decompression_bomb_is_refused_without_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (10_000, 10_000)).save(path)  # 100 M pixels in a few kB
    assert path.stat().st_size < 100_000
    code = ("import sys\nfrom convpool.data.images import read_image\n"
            "try:\n    read_image(sys.argv[1], 3, 32)\nexcept ValueError as e:\n    print(e)\n"
            "print(next(line for line in open('/proc/self/status') if line.startswith('VmHWM')).split()[1])")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    seconds = time.perf_counter() - start
    message, peak_kib = result.stdout.strip().splitlines()
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "bomb.png: refused as a possible decompression bomb" in message
    assert int(peak_kib) < 150_000, f"peak {int(peak_kib) / 1024:.0f} MiB"  # decoding would take 200 MB more
    assert seconds < 20


def _folder(root, count=3, h=8, w=8):
    for i in range(count):
        _png(root / "cats" / f"{i}.png", _photo(i, h, w))
        _png(root / "dogs" / f"{i}.png", _photo(10 + i, h, w))
    return root


def test_a_zip_member_declaring_2_gib_is_refused_before_it_is_read(tmp_path):
    source = _folder(tmp_path / "src")
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(source.rglob("*.png")):
            z.write(path, path.relative_to(source).as_posix())
    forge_zip_size(archive, "dogs/1.png", 2**31)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"photos\.zip:dogs/1\.png: 2,147,483,648 bytes, more than the "
                                             r"1,049,344 bytes a 8x8 image \(the first one's size\) can take"):
            load_image_folder(archive, cache_dir=tmp_path / "cache")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000
    with pytest.raises(ValueError, match=r"photos\.zip:dogs/1\.png: 2,147,483,648 bytes, more than the "
                                         r"268,435,456 bytes an image file may have here"):
        load_image_folder(archive, size=8, cache_dir=tmp_path / "cache")


def test_a_file_far_larger_than_the_first_image_s_size_is_refused_before_it_is_read(tmp_path):
    source = _folder(tmp_path / "src")
    with open(source / "dogs" / "2.png", "ab") as f:
        f.truncate(5 * 2**20)  # 5 MiB where an 8x8 image takes at most 1 MiB and a bit
    with pytest.raises(ValueError, match=r"dogs/2\.png: 5,242,880 bytes, more than the 1,049,344 bytes a 8x8 image "
                                         r"\(the first one's size\) can take; pass size=\(H, W\)"):
        load_image_folder(source, cache_dir=tmp_path / "cache")


def test_an_in_place_edit_keeping_size_and_mtime_rebuilds_the_cache(tmp_path):
    source = _folder(tmp_path / "src")
    cache = tmp_path / "cache"
    first = load_image_folder(source, cache_dir=cache)
    path = source / "cats" / "0.png"
    stat = path.stat()
    data = bytearray(path.read_bytes())
    edited = _photo(0, 8, 8)
    edited[0, 0] = 255 - edited[0, 0]  # one pixel changed; same size on disk once re-encoded below
    buffer = io.BytesIO()
    Image.fromarray(edited).save(buffer, "PNG")
    assert len(buffer.getvalue()) == len(data)
    time.sleep(0.02)
    with open(path, "r+b") as f:  # in place: same inode, same size
        f.write(buffer.getvalue())
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    second = load_image_folder(source, cache_dir=cache)
    numpy.testing.assert_array_equal(second.images[0], edited.transpose(2, 0, 1))
    assert not numpy.array_equal(first.images[0], second.images[0])


def test_an_image_of_another_size_is_refused_from_its_header_before_decoding(tmp_path):
    source = _folder(tmp_path / "src")
    buffer = io.BytesIO()
    Image.fromarray(numpy.zeros((3000, 3000, 3), numpy.uint8)).save(buffer, "PNG")
    (source / "dogs" / "2.png").write_bytes(buffer.getvalue()[:200])  # a 3000x3000 header, then nothing
    with pytest.raises(ValueError, match=r"dogs/2\.png: 3000x3000 pixels \(height x width\), but the first image, "
                                         r".*cats/0\.png, is 8x8; pass size=\(H, W\)"):
        load_image_folder(source, cache_dir=tmp_path / "cache")
