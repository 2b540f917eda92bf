"""safe_load: plain data and NumPy arrays come back; every way a pickle could run code is refused
before it runs, and a damaged pickle is a clear error naming the file."""

import builtins
import copyreg
import io
import os
import pickle
import struct
import subprocess

import numpy
import pytest
from hostile import traced_peak
from py2pickle import py2_pickle

from convpool.data import UnsafePickleError, safe_load


class _Reduce:
    """Pickles as a call of func(*args): the classic __reduce__ attack."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _legit():
    return {b"batch_label": b"training batch 1 of 5", b"labels": [0, 9, 3],
            b"data": numpy.arange(3 * 12, dtype=numpy.uint8).reshape(3, 12),
            b"floats": numpy.linspace(0, 1, 6, dtype=numpy.float32).reshape(2, 3),
            b"fortran": numpy.asfortranarray(numpy.arange(6, dtype=numpy.int64).reshape(2, 3)),
            b"nested": ([1.5, -2], (b"x", "y"), {b"k": None, b"t": True})}


def _check_legit(back):
    want = _legit()
    assert set(back) == set(want)
    for key in (b"data", b"floats", b"fortran"):
        assert back[key].dtype == want[key].dtype
        numpy.testing.assert_array_equal(back[key], want[key])
    assert back[b"labels"] == [0, 9, 3] and back[b"batch_label"] == b"training batch 1 of 5"
    assert back[b"nested"] == ([1.5, -2], (b"x", "y"), {b"k": None, b"t": True})


def test_python2_style_protocol_2_round_trip(tmp_path):
    data = py2_pickle(_legit())
    assert b"numpy.core.multiarray" in data and b"_codecs" not in data  # as the official files
    _check_legit(safe_load(_write(tmp_path / "batch", data)))


@pytest.mark.parametrize("protocol", [3, 4])
def test_python3_protocols_round_trip(tmp_path, protocol):
    _check_legit(safe_load(_write(tmp_path / "batch", pickle.dumps(_legit(), protocol=protocol))))


def test_open_file_and_name_for_errors(tmp_path):
    with open(_write(tmp_path / "batch", pickle.dumps(_legit(), protocol=4)), "rb") as f:
        _check_legit(safe_load(f, "archive.tar.gz:batch"))
    with pytest.raises(UnsafePickleError, match=r"^archive\.tar\.gz:batch: refused"):
        safe_load(io.BytesIO(pickle.dumps(_Reduce(print, "hi"), protocol=2)), "archive.tar.gz:batch")


_ATTACKS = {
    "os.system": lambda cmd, marker: _Reduce(os.system, cmd),
    "subprocess": lambda cmd, marker: _Reduce(subprocess.call, ["sh", "-c", cmd]),
    "exec": lambda cmd, marker: _Reduce(builtins.exec, f"open({str(marker)!r}, 'w').close()"),
    "eval": lambda cmd, marker: _Reduce(builtins.eval, f"open({str(marker)!r}, 'w')"),
    "getattr": lambda cmd, marker: _Reduce(getattr, "text", "upper"),
    "copyreg": lambda cmd, marker: _Reduce(copyreg._reconstructor, _Reduce, object, None),
    "nested-in-data": lambda cmd, marker: {b"data": numpy.zeros((1, 3), numpy.uint8), b"x": [_Reduce(os.system, cmd)]},
}


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
@pytest.mark.parametrize("attack", sorted(_ATTACKS))
def test_code_running_pickles_are_refused_before_running(tmp_path, attack, protocol):
    marker = tmp_path / "MARKER"
    payload = _ATTACKS[attack](f"touch {marker}", marker)
    path = _write(tmp_path / "evil", pickle.dumps(payload, protocol=protocol))
    with pytest.raises(UnsafePickleError, match=r"evil: refused to unpickle the global \S+"):
        safe_load(path)
    assert not marker.exists()


def test_the_refused_global_is_named(tmp_path):
    path = _write(tmp_path / "evil", pickle.dumps(_Reduce(builtins.eval, "1"), protocol=4))
    with pytest.raises(UnsafePickleError, match=r"the global builtins\.eval"):
        safe_load(path)
    # Python 2 names, as a hand-made protocol-0 pickle would write them
    with pytest.raises(UnsafePickleError, match=r"the global __builtin__\.eval"):
        safe_load(io.BytesIO(b"c__builtin__\neval\n(S'1'\ntR."), "p0")
    with pytest.raises(UnsafePickleError, match=r"the global copy_reg\._reconstructor"):
        safe_load(io.BytesIO(b"ccopy_reg\n_reconstructor\n(tR."), "p0")


@pytest.mark.parametrize("name", [b"numpy\nload", b"numpy\nfrombuffer", b"numpy._core.multiarray\nscalar",
                                  b"numpy._core.numeric\n_frombuffer", b"numpy.core.multiarray\n_reconstructx"])
def test_other_numpy_globals_are_refused(name):
    with pytest.raises(UnsafePickleError, match="refused"):
        safe_load(io.BytesIO(b"\x80\x02c" + name + b"\n."), "x")


def test_protocol_5_arrays_are_refused():
    with pytest.raises(UnsafePickleError, match="_frombuffer"):
        safe_load(io.BytesIO(pickle.dumps(numpy.zeros(3), protocol=5)), "p5")


@pytest.mark.parametrize("array", [numpy.array([1, "a", None], dtype=object),
                                   numpy.zeros(2, dtype=[("a", "O"), ("b", "u1")]),
                                   numpy.zeros((2, 2), dtype=[("a", "O", (2,))])],
                         ids=["object", "structured", "subarray"])
@pytest.mark.parametrize("protocol", [2, 4])
def test_object_arrays_are_refused(tmp_path, array, protocol):
    data = py2_pickle({b"data": array}) if protocol == 2 else pickle.dumps({b"data": array}, protocol=protocol)
    path = _write(tmp_path / "obj", data)
    with pytest.raises(UnsafePickleError, match=r"obj: refused to unpickle an array of dtype"):
        safe_load(path)


def test_arrays_only_through_reconstruct(tmp_path):
    direct = _write(tmp_path / "direct", pickle.dumps(_Reduce(numpy.ndarray, (2,), "O"), protocol=2))
    with pytest.raises(UnsafePickleError, match="direct call of numpy.ndarray"):
        safe_load(direct)
    # _reconstruct with a type other than numpy.ndarray (here numpy.dtype)
    data = py2_pickle(numpy.zeros(2)).replace(b"cnumpy\nndarray\n", b"cnumpy\ndtype\n")
    with pytest.raises(UnsafePickleError, match="an array of type"):
        safe_load(io.BytesIO(data), "swapped")


@pytest.mark.parametrize("cut", [1, 10, 100, -300, -2])
def test_truncated_pickle_names_the_file(tmp_path, cut):
    data = py2_pickle(_legit())
    path = _write(tmp_path / "data_batch_1", data[:cut])
    with pytest.raises(ValueError, match=r"data_batch_1: truncated or not a valid pickle") as info:
        safe_load(path)
    assert not isinstance(info.value, UnsafePickleError)


def test_not_a_pickle_and_empty_file(tmp_path):
    with pytest.raises(ValueError, match=r"junk: truncated or not a valid pickle"):
        safe_load(_write(tmp_path / "junk", b"<html>not found</html>"))
    with pytest.raises(ValueError, match=r"empty: truncated or not a valid pickle"):
        safe_load(_write(tmp_path / "empty", b""))


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        safe_load(tmp_path / "nope")


def _reconstruct_without_build(count: int) -> bytes:
    """_reconstruct(ndarray, (count,), b'b') and nothing after: an uninitialised array of `count` bytes."""
    return (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + b"J" + struct.pack("<i", count)
            + b"\x85C\x01b\x87R.")


def test_an_array_shape_without_bytes_behind_it_is_refused(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(_reconstruct_without_build(1_140_000_000) + bytes(400_000))  # 400 kB asking for 1.14 GB
    peak = traced_peak(lambda: pytest.raises(UnsafePickleError, safe_load, path))
    with pytest.raises(UnsafePickleError, match=r"data_batch_1: refused an array rebuilt with shape \(1140000000,\)"):
        safe_load(path)
    assert peak < 4_000_000


def test_a_build_state_whose_bytes_do_not_fill_the_shape_is_refused(tmp_path):
    good = pickle.dumps(numpy.arange(6, dtype=numpy.uint8), protocol=3)
    bad = good.replace(b"K\x06\x85", b"J" + struct.pack("<i", 10**9) + b"\x85")  # the BUILD shape, not the data
    assert bad != good
    (tmp_path / "x").write_bytes(bad)
    with pytest.raises(ValueError, match=r"x: truncated or not a valid pickle \(ValueError: buffer size does not "
                                         r"match array size\)"):
        safe_load(tmp_path / "x")


@pytest.mark.parametrize("opcode, what", [(b"\x8e" + struct.pack("<Q", 28 * 2**30), "bytes8"),
                                          (b"B" + struct.pack("<I", 2**31), "bytes4"),
                                          (b"\x8d" + struct.pack("<Q", 28 * 2**30), "unicodestring8"),
                                          (b"\x95" + struct.pack("<Q", 28 * 2**30), "frame")])
def test_a_declared_length_past_the_file_is_refused_before_allocating(tmp_path, opcode, what):
    path = tmp_path / "batch"
    path.write_bytes(b"\x80\x04" + opcode + bytes(10 * 2**20))  # 10 MB asking for 28 GiB
    peak = traced_peak(lambda: pytest.raises(ValueError, safe_load, path))
    with pytest.raises(ValueError, match=r"batch: truncated or not a valid pickle"):
        safe_load(path)
    assert peak < 40 * 2**20, f"{what}: peak {peak / 2**20:.0f} MiB"
