"""IDX files: round trips raw and gzip for every type code, and a clear error naming the file
for each way a file can disagree with its header."""

import gzip
import struct

import numpy
import pytest
from hostile import traced_peak

from convpool.data import load_idx_pair, read_idx, write_idx
from convpool.data.idx import IDX_DTYPES


def _write_raw(path, data: bytes, compress: bool = False):
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_round_trip_every_type_code(tmp_path, dtype, compress):
    rng = numpy.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    write_idx(path, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    back = read_idx(path)
    assert back.dtype == numpy.dtype(dtype) and back.dtype.isnative
    numpy.testing.assert_array_equal(back, array)
    back[0] = 0  # a writable array, not a view of immutable bytes


def test_reads_hand_made_big_endian_file_whatever_its_name(tmp_path):
    # magic 0x00000C02: int32, 2 dims (2, 2); values big-endian; gzip told apart by content
    data = bytes([0, 0, 0x0C, 2]) + struct.pack(">2I", 2, 2) + struct.pack(">4i", 1, -2, 300, 70000)
    for path, compress in ((tmp_path / "plain.gz", False), (tmp_path / "packed", True)):
        _write_raw(path, data, compress)
        numpy.testing.assert_array_equal(read_idx(path), [[1, -2], [300, 70000]])


def test_header_matches_the_mnist_layout(tmp_path):
    write_idx(tmp_path / "labels", numpy.array([7, 2, 1], numpy.uint8))
    assert (tmp_path / "labels").read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])


@pytest.mark.parametrize("compress", [False, True])
def test_bad_magic_names_the_file(tmp_path, compress):
    path = _write_raw(tmp_path / "bad-magic", b"\x01\x02\x08\x01" + struct.pack(">I", 1) + b"\x00", compress)
    with pytest.raises(ValueError, match=r"bad-magic.*bad magic number 0x01020801"):
        read_idx(path)


def test_unsupported_dtype_code(tmp_path):
    path = _write_raw(tmp_path / "code", bytes([0, 0, 0x0A, 1]) + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match=r"code.*unsupported IDX dtype code 0x0a"):
        read_idx(path)
    assert 0x0A not in IDX_DTYPES


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_data_names_the_file_and_sizes(tmp_path, compress):
    full = bytes([0, 0, 8, 2]) + struct.pack(">2I", 3, 4) + bytes(range(12))
    path = _write_raw(tmp_path / "short.idx", full[:-5], compress)
    with pytest.raises(ValueError, match=r"short\.idx: truncated IDX data.*\(3, 4\).*12 bytes.*holds 7"):
        read_idx(path)


def test_truncated_header_and_tiny_files(tmp_path):
    with pytest.raises(ValueError, match=r"hdr.*truncated IDX header"):
        read_idx(_write_raw(tmp_path / "hdr", bytes([0, 0, 8, 3]) + struct.pack(">I", 5)))
    with pytest.raises(ValueError, match=r"tiny.*shorter than the 4-byte magic"):
        read_idx(_write_raw(tmp_path / "tiny", b"\x00\x00"))


def test_trailing_data_is_a_size_mismatch(tmp_path):
    path = _write_raw(tmp_path / "long", bytes([0, 0, 8, 1]) + struct.pack(">I", 2) + b"\x01\x02\x03")
    with pytest.raises(ValueError, match=r"long: size mismatch"):
        read_idx(path)


def test_cut_off_gzip_stream_is_a_clear_error(tmp_path):
    write_idx(tmp_path / "whole.gz", numpy.arange(5000, dtype=numpy.int32))
    cut = tmp_path / "cut.gz"
    cut.write_bytes((tmp_path / "whole.gz").read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"cut\.gz"):
        read_idx(cut)


def test_huge_header_fails_as_truncated_without_allocating(tmp_path):
    path = _write_raw(tmp_path / "huge", bytes([0, 0, 0x0E, 3]) + struct.pack(">3I", 2**31, 2**31, 2**31))
    with pytest.raises(ValueError, match="truncated IDX data"):
        read_idx(path)


def test_load_idx_pair(tmp_path):
    images = numpy.arange(3 * 2 * 2, dtype=numpy.uint8).reshape(3, 2, 2)
    write_idx(tmp_path / "img.gz", images)
    write_idx(tmp_path / "lab", numpy.array([0, 9, 4], numpy.uint8))
    x, y = load_idx_pair(tmp_path / "img.gz", tmp_path / "lab", num_classes=10)
    numpy.testing.assert_array_equal(x, images)
    numpy.testing.assert_array_equal(y, [0, 9, 4])


def test_load_idx_pair_count_mismatch_names_both_files(tmp_path):
    write_idx(tmp_path / "img", numpy.zeros((3, 2, 2), numpy.uint8))
    write_idx(tmp_path / "lab", numpy.zeros(4, numpy.uint8))
    with pytest.raises(ValueError, match=r"count mismatch: .*img holds 3 images but .*lab holds 4 labels"):
        load_idx_pair(tmp_path / "img", tmp_path / "lab")


def test_load_idx_pair_label_checks(tmp_path):
    write_idx(tmp_path / "img", numpy.zeros((3, 2, 2), numpy.uint8))
    write_idx(tmp_path / "lab", numpy.array([0, 10, 3], numpy.uint8))
    with pytest.raises(ValueError, match=r"lab: label values must be \[0, 10\).*\[0, 10\]"):
        load_idx_pair(tmp_path / "img", tmp_path / "lab", num_classes=10)
    write_idx(tmp_path / "neg", numpy.array([0, -1, 3], numpy.int8))
    with pytest.raises(ValueError, match=r"neg: label values must be non-negative"):
        load_idx_pair(tmp_path / "img", tmp_path / "neg")
    write_idx(tmp_path / "flt", numpy.zeros(3, numpy.float32))
    with pytest.raises(ValueError, match=r"flt: labels must be a 1-D integer"):
        load_idx_pair(tmp_path / "img", tmp_path / "flt")
    # images and labels swapped: the labels file is 3-D
    with pytest.raises(ValueError, match=r"img: labels must be a 1-D integer"):
        load_idx_pair(tmp_path / "lab", tmp_path / "img")


def test_write_idx_refuses_types_without_a_code(tmp_path):
    with pytest.raises(ValueError, match="no IDX type code"):
        write_idx(tmp_path / "x", numpy.zeros(2, numpy.int64))


def _gzip_images(path, count: int, *chunks: bytes):
    """A gzip IDX file whose header declares `count` 28x28 uint8 images, chunks behind it."""
    with gzip.open(path, "wb") as f:
        f.write(_images_header(count))
        for chunk in chunks:
            f.write(chunk)
    return path


def _images_header(count: int) -> bytes:
    return bytes([0, 0, 8, 3]) + struct.pack(">3I", count, 28, 28)


def _peak_of_refusal(path, match: str) -> int:
    """The peak bytes traced while read_idx(path) raises the ValueError matching `match`."""
    def refuse():
        with pytest.raises(ValueError, match=match):
            read_idx(path)
    return traced_peak(refuse)


def test_a_gzip_declaring_5e6_images_is_refused_before_decompressing(tmp_path):
    # 5e6 28x28 images declared (3.9 GB), 20 MB of zeros behind it in 20 kB of gzip
    path = _gzip_images(tmp_path / "train-images-idx3-ubyte.gz", 5_000_000, *[bytes(2**20)] * 20)
    peak = _peak_of_refusal(path, r"train-images-idx3-ubyte\.gz: the IDX header declares shape \(5000000, 28, "
                                  r"28\) of uint8 \(3,920,000,000 bytes\), more than")
    assert peak < 2_000_000


def test_a_gzip_bomb_within_the_size_limit_is_refused_by_its_ratio(tmp_path):
    path = _gzip_images(tmp_path / "bomb.gz", 60_000, bytes(60_000 * 28 * 28))  # 47 MB of zeros: 46 kB of gzip
    peak = _peak_of_refusal(path, r"bomb\.gz: the IDX header declares .* in [\d,]+ bytes of gzip, more than "
                                  r"200 times as many")
    assert peak < 2_000_000


def test_gzip_data_short_of_its_header_costs_only_the_bytes_there(tmp_path):
    path = tmp_path / "short.gz"
    rng = numpy.random.default_rng(0)
    # 78 MB declared, 3 MiB there, incompressible
    _gzip_images(path, 100_000, rng.integers(0, 256, 3 * 2**20, dtype=numpy.uint8).tobytes())
    peak = _peak_of_refusal(path, r"short\.gz: truncated IDX data: .* the file holds 3145728 bytes")
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_a_raw_file_shorter_than_its_header_is_refused_before_reading(tmp_path):
    path = tmp_path / "raw"
    path.write_bytes(_images_header(5_000_000) + bytes(2**20))
    peak = traced_peak(lambda: pytest.raises(ValueError, read_idx, path))
    assert peak < 500_000
