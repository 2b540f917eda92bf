"""PyTorch zip checkpoints read without PyTorch (convpool.interop.read_torch_checkpoint).

The files come from torch.save where PyTorch is installed, and from `write_checkpoint` below
otherwise: a writer of the same format (zip of data.pkl, data/<key>, byteorder) that needs
no torch; `test_hand_written_format_is_what_torch_reads` checks it against torch.load.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
import types
import zipfile
from collections import OrderedDict

import numpy
import pytest
from reference import needs_torch, torch

import convpool
from convpool.interop import TorchCheckpointError, UnsafeCheckpointError, is_torch_checkpoint, read_torch_checkpoint
from convpool.models.torchvision_resnet import resnet18

# Stand-ins pickled under fake module names, renamed to torch's in the bytes (GLOBAL opcodes
# of protocol 2 are "c<module>\n<name>\n"), so that the file names exactly what torch writes.
_FAKE_UTILS, _FAKE_TORCH = "cpfake_torch_utils", "cpfake_torch"
_utils = types.ModuleType(_FAKE_UTILS)
_torch = types.ModuleType(_FAKE_TORCH)
sys.modules.setdefault(_FAKE_UTILS, _utils)
sys.modules.setdefault(_FAKE_TORCH, _torch)


def _rebuild_tensor_v2(*args):  # never called: only its name is pickled
    raise AssertionError


_rebuild_tensor_v2.__module__ = _FAKE_UTILS
_utils._rebuild_tensor_v2 = _rebuild_tensor_v2
_STORAGE_NAMES = {numpy.dtype("float32"): "FloatStorage", numpy.dtype("float64"): "DoubleStorage",
                  numpy.dtype("int64"): "LongStorage", numpy.dtype("float16"): "HalfStorage"}
for _name in _STORAGE_NAMES.values():
    setattr(_torch, _name, type(_name, (), {"__module__": _FAKE_TORCH}))


class _Stored:
    """A tensor to pickle as torch does: a view (offset, size, stride) of a flat storage."""

    def __init__(self, key: str, storage: numpy.ndarray, offset: int, size: tuple, stride: tuple):
        self.key, self.storage, self.offset, self.size, self.stride = key, storage, offset, size, stride

    def __reduce__(self):
        return (_rebuild_tensor_v2, (self, self.offset, self.size, self.stride, False, OrderedDict()))


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Stored) and getattr(obj, "_as_storage", False):
            return ("storage", getattr(_torch, _STORAGE_NAMES[obj.storage.dtype]), obj.key, "cpu", obj.storage.size)
        return None

    def reducer_override(self, obj):
        if isinstance(obj, _Stored) and not getattr(obj, "_as_storage", False):
            storage_ref = _Stored(obj.key, obj.storage, 0, (), ())
            storage_ref._as_storage = True
            return (_rebuild_tensor_v2, (storage_ref, obj.offset, obj.size, obj.stride, False, OrderedDict()))
        return NotImplemented


def write_checkpoint(path, state: dict, byteorder: str = "little", pickle_bytes: bytes | None = None,
                     truncate: dict | None = None, compression: int = zipfile.ZIP_STORED) -> None:
    """A PyTorch-format zip of state ({name: _Stored | plain value}) without torch."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=2).dump(OrderedDict(state))
    data = buffer.getvalue().replace(f"c{_FAKE_UTILS}\n".encode(), b"ctorch._utils\n")
    data = data.replace(f"c{_FAKE_TORCH}\n".encode(), b"ctorch\n")
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("archive/data.pkl", pickle_bytes if pickle_bytes is not None else data)
        archive.writestr("archive/byteorder", byteorder)
        written = set()
        for value in state.values():
            if isinstance(value, _Stored) and value.key not in written:
                written.add(value.key)
                raw = value.storage.astype(value.storage.dtype.newbyteorder("<" if byteorder == "little" else ">"))
                blob = raw.tobytes()
                if truncate and value.key in truncate:
                    blob = blob[:truncate[value.key]]
                archive.writestr(f"archive/data/{value.key}", blob)
        archive.writestr("archive/version", "3\n")


def _sample_state() -> tuple[dict, dict]:
    storage = numpy.arange(24, dtype=numpy.float32)
    state = {
        "whole": _Stored("0", storage, 0, (4, 6), (6, 1)),
        "transposed": _Stored("0", storage, 0, (6, 4), (1, 6)),
        "offset": _Stored("0", storage, 7, (2, 3), (6, 1)),
        "double": _Stored("1", numpy.linspace(-1, 1, 5), 0, (5,), (1,)),
        "count": _Stored("2", numpy.array([7], dtype=numpy.int64), 0, (), ()),
        "plain": [1, 2.5, "text", (3, None)],
    }
    grid = storage.reshape(4, 6)
    expected = {"whole": grid, "transposed": grid.T, "offset": grid[1:3, 1:4], "double": numpy.linspace(-1, 1, 5),
                "count": numpy.array(7, dtype=numpy.int64)}
    return state, expected


@pytest.mark.parametrize("byteorder", ["little", "big"])
def test_rebuilds_views_dtypes_and_byte_order(tmp_path, byteorder):
    state, expected = _sample_state()
    path = tmp_path / "state.pt"
    write_checkpoint(path, state, byteorder)
    assert is_torch_checkpoint(path)
    loaded = read_torch_checkpoint(path)
    assert list(loaded) == list(state)
    for key, want in expected.items():
        assert isinstance(loaded[key], convpool.Tensor)
        assert loaded[key].dtype == want.dtype and loaded[key].shape == want.shape, key
        numpy.testing.assert_array_equal(loaded[key].numpy(), want, err_msg=key)
    assert loaded["plain"] == [1, 2.5, "text", (3, None)]


@needs_torch
def test_hand_written_format_is_what_torch_reads(tmp_path):
    state, expected = _sample_state()
    write_checkpoint(tmp_path / "state.pt", state, "big")
    theirs = torch.load(tmp_path / "state.pt", weights_only=True)
    for key, want in expected.items():
        numpy.testing.assert_array_equal(theirs[key].numpy(), want, err_msg=key)


def test_tensor_reading_past_its_storage_is_refused(tmp_path):
    storage = numpy.arange(6, dtype=numpy.float32)
    path = tmp_path / "past.pt"
    write_checkpoint(path, {"w": _Stored("0", storage, 2, (2, 3), (3, 1))})  # reads items 2..7 of 6
    with pytest.raises(TorchCheckpointError, match=r"reads item 7 of a storage of 6 items"):
        read_torch_checkpoint(path)


def test_a_broadcast_view_larger_than_its_storage_is_refused(tmp_path):
    path = tmp_path / "expanded.pt"
    write_checkpoint(path, {"w": _Stored("0", numpy.arange(2, dtype=numpy.float32), 0, (10 ** 9, 2), (0, 1))})
    with pytest.raises(TorchCheckpointError, match=r"more elements than its storage of 2 items"):
        read_torch_checkpoint(path)


def test_a_highly_compressed_storage_is_not_inflated(tmp_path):
    path = tmp_path / "bomb.pt"
    write_checkpoint(path, {"w": _Stored("0", numpy.zeros(1 << 20, dtype=numpy.float32), 0, (1 << 20,), (1,))},
                     compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 100_000
    with pytest.raises(TorchCheckpointError, match=r"compressed \(\d+ bytes for 4194304\).*refusing to inflate"):
        read_torch_checkpoint(path)


def test_storage_shorter_than_declared_is_refused(tmp_path):
    path = tmp_path / "short.pt"
    write_checkpoint(path, {"w": _Stored("0", numpy.arange(6, dtype=numpy.float32), 0, (6,), (1,))},
                     truncate={"0": 10})
    with pytest.raises(TorchCheckpointError, match=r"should hold 6 items \(24 bytes\), the archive has 10 bytes"):
        read_torch_checkpoint(path)


class _RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _malicious_pickle(marker) -> bytes:
    return pickle.dumps(OrderedDict(weight=[1.0], payload=_RunsACommand(marker)), protocol=2)


def test_a_global_that_runs_a_command_is_refused(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    write_checkpoint(path, {}, pickle_bytes=_malicious_pickle(marker))
    with pytest.raises(UnsafeCheckpointError, match=r"the global (posix|os)\.system"):
        read_torch_checkpoint(path)
    assert not marker.exists()


@needs_torch
def test_torch_save_of_a_command_object_is_refused(tmp_path):
    marker = tmp_path / "marker"
    torch.save({"weight": torch.zeros(2), "payload": _RunsACommand(marker)}, tmp_path / "evil.pt")
    assert not marker.exists()
    with pytest.raises(UnsafeCheckpointError, match=r"the global (posix|os)\.system"):
        read_torch_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()


def test_other_globals_are_refused_by_name(tmp_path):
    path = tmp_path / "eval.pt"
    payload = b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1\x85R."
    write_checkpoint(path, {}, pickle_bytes=payload)
    with pytest.raises(UnsafeCheckpointError, match=r"builtins\.eval"):
        read_torch_checkpoint(path)


def test_legacy_format_is_not_supported(tmp_path):
    path = tmp_path / "legacy.pt"
    path.write_bytes(pickle.dumps({"weight": [1.0]}, protocol=2))
    assert not is_torch_checkpoint(path)
    with pytest.raises(TorchCheckpointError, match="legacy .* not supported"):
        read_torch_checkpoint(path)


def test_a_zip_without_a_pickle_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert not is_torch_checkpoint(path)
    with pytest.raises(TorchCheckpointError, match="no <name>/data.pkl"):
        read_torch_checkpoint(path)


@needs_torch
def test_torch_save_dtypes_views_and_parameters(tmp_path):
    x = torch.arange(24.0).reshape(4, 6)
    saved = {"t": x.t(), "s": x[1:, 2:], "half": x.half(), "bf16": (x / 7).bfloat16(), "long": torch.arange(3),
             "bool": x > 5, "param": torch.nn.Parameter(x.clone()), "scalar": torch.tensor(2.5, dtype=torch.float64)}
    torch.save(saved, tmp_path / "misc.pt")
    loaded = read_torch_checkpoint(tmp_path / "misc.pt")
    for key, value in saved.items():
        want = value.detach().float().numpy() if key == "bf16" else value.detach().numpy()
        assert loaded[key].dtype == want.dtype, key
        numpy.testing.assert_array_equal(loaded[key].numpy(), want, err_msg=key)


@needs_torch
def test_torchvision_resnet18_state_dict_gives_the_same_logits(tmp_path):
    from torch_models import randomize_batch_norm
    from torch_models import resnet18 as torch_resnet18

    torch.manual_seed(0)
    theirs = randomize_batch_norm(torch_resnet18()).eval()
    torch.save(theirs.state_dict(), tmp_path / "resnet18.pt")
    ours = resnet18()
    result = ours.load_state_dict(read_torch_checkpoint(tmp_path / "resnet18.pt"))
    assert not result.missing_keys and not result.unexpected_keys
    ours.eval()
    x = numpy.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(numpy.float32)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    with convpool.no_grad():
        got = ours(convpool.tensor(x)).numpy()
    assert got.shape == (2, 1000)
    numpy.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@needs_torch
def test_convpool_load_reads_a_torch_save_file_and_refuses_a_malicious_one(tmp_path):
    """The top-level convpool.load takes PyTorch checkpoints through this reader, the way
    PyTorch code calls torch.load: the state dict loads into the matching convpool layer."""
    theirs = torch.nn.Conv2d(3, 4, 3)
    torch.save(theirs.state_dict(), tmp_path / "conv.pt")
    state = convpool.load(tmp_path / "conv.pt", map_location="cpu", weights_only=True)
    ours = convpool.nn.Conv2d(3, 4, 3)
    ours.load_state_dict(state)
    x = numpy.random.default_rng(0).standard_normal((1, 3, 6, 6)).astype("float32")
    numpy.testing.assert_allclose(ours(convpool.tensor(x)).detach().numpy(),
                                  theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    marker = tmp_path / "marker"
    torch.save({"payload": _RunsACommand(marker)}, tmp_path / "evil.pt")
    with pytest.raises(UnsafeCheckpointError, match=r"the global (posix|os)\.system"):
        convpool.load(tmp_path / "evil.pt")
    assert not marker.exists()
