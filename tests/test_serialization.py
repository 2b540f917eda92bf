"""convpool.save / convpool.load: round trips of every value kind (tensors of each dtype and
shape, Parameters, shared tensors, dicts in order, lists, tuples, numbers with nan and inf,
strings, bools, None, NumPy arrays and scalars, dtypes, devices), state dicts into a model,
file objects; tensors on the strict stand-in GPU with every form of map_location; objects
that cannot be saved; and files that are not convpool's, each named: empty, truncated,
pickles, torch.save's zip and legacy files, zips, .npz, .npy, JSON, checkpoint folders; any
safetensors file loads as a dict of tensors. Never pickle: the file is safetensors."""

from __future__ import annotations

import io
import json
import math
import pickle
import zipfile
from collections import OrderedDict

import numpy
import pytest
import safetensors.numpy
from reference import needs_torch, torch

import convpool
from convpool import backend, nn, serialization
from convpool.serialization import SerializationError


def _equal(a, b) -> None:
    """Deep equality with types: tensors by dtype, shape, device and values."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, convpool.Tensor):
        assert (a.dtype, a.shape, a.device, a.requires_grad) == (b.dtype, b.shape, b.device, b.requires_grad)
        numpy.testing.assert_array_equal(backend.to_host(a.data), backend.to_host(b.data))
    elif isinstance(a, numpy.ndarray | numpy.generic):
        assert a.dtype == b.dtype and numpy.shape(a) == numpy.shape(b)
        numpy.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            _equal(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _equal(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def _every_kind():
    rng = numpy.random.default_rng(0)
    return {
        "float32": convpool.tensor(rng.standard_normal((2, 3)).astype(numpy.float32)),
        "float64": convpool.tensor(rng.standard_normal(4)),
        "int64": convpool.tensor(numpy.arange(6).reshape(2, 3)),
        "uint8": convpool.tensor(numpy.arange(5, dtype=numpy.uint8)),
        "bool": convpool.tensor(numpy.array([True, False])),
        "float16": convpool.tensor(numpy.ones(3, dtype=numpy.float16)),
        "scalar_tensor": convpool.tensor(3.5),
        "empty": convpool.zeros(0, 3),
        "transposed": convpool.tensor(rng.standard_normal((3, 2))).T,
        "grad": convpool.randn(2, requires_grad=True),
        "param": nn.Parameter(convpool.randn(3)),
        "frozen": nn.Parameter(convpool.randn(1), requires_grad=False),
        "array": numpy.arange(4, dtype=numpy.int32).reshape(2, 2),
        "numpy_scalar": numpy.float32(2.5),
        "numbers": [0, -7, 2 ** 70, 1.5, float("inf"), float("-inf"), float("nan"), True, False, None],
        "strings": ("plain", "ünïcødé ✓", ""),
        "nested": {"a": [{"b": (1, [2, {"c": None}])}], 3: "int key", 2.5: "float key", None: "none key",
                   True: "bool key"},
        "ordered": OrderedDict([("z", 1), ("a", 2)]),
        "empty_containers": [[], (), {}, OrderedDict()],
        "dtype": numpy.dtype("float64"),
        "dtype_class": numpy.float32,
        "device": convpool.device("cpu"),
    }


def test_every_value_kind_round_trips(tmp_path):
    obj = _every_kind()
    path = tmp_path / "all.pt"
    convpool.save(obj, path)
    back = convpool.load(path)
    expected = dict(obj)
    expected["dtype_class"] = numpy.dtype("float32")  # a dtype class comes back as the dtype
    _equal(expected, back)
    assert isinstance(back["param"], nn.Parameter) and back["param"].requires_grad
    assert isinstance(back["frozen"], nn.Parameter) and not back["frozen"].requires_grad
    assert back["float32"].data.flags.writeable
    blob = path.read_bytes()  # a safetensors file: 8-byte header length, then JSON; no pickle
    header = json.loads(blob[8:8 + int.from_bytes(blob[:8], "little")])
    document = json.loads(header["__metadata__"]["convpool"])
    assert document["format"] == "convpool-save" and document["format_version"] == 1


def test_a_tensor_held_twice_is_stored_once_and_comes_back_shared(tmp_path):
    shared = convpool.randn(1000)
    convpool.save({"a": shared, "b": [shared], "c": shared.data}, tmp_path / "s.pt")
    back = convpool.load(tmp_path / "s.pt")
    assert back["a"] is back["b"][0]
    assert (tmp_path / "s.pt").stat().st_size < 2 * 1000 * 4 + 2000  # the tensor and its array: twice at most


def test_state_dict_round_trip_into_a_model_and_a_file_object():
    convpool.manual_seed(0)
    model = convpool.models.build("article-cnn")
    buffer = io.BytesIO()
    convpool.save({"model": model.state_dict(), "epoch": 2}, buffer)
    buffer.seek(0)
    state = convpool.load(buffer)
    assert isinstance(state["model"], OrderedDict) and list(state["model"]) == list(model.state_dict())
    convpool.manual_seed(1)
    other = convpool.models.build("article-cnn")
    other.load_state_dict(state["model"])
    x = convpool.randn(2, 1, 28, 28)
    model.eval()
    other.eval()
    numpy.testing.assert_array_equal(model(x).detach().numpy(), other(x).detach().numpy())
    with pytest.raises(TypeError, match="binary mode"):
        convpool.load(io.StringIO("text"))


def test_device_tensors_are_saved_from_the_host_and_placed_by_map_location(tmp_path):
    strict = convpool.device("strict")
    obj = {"w": convpool.randn(3, 2).to(strict), "b": convpool.randn(2), "n": 4}
    path = tmp_path / "d.pt"
    convpool.save(obj, path)
    back = convpool.load(path)  # default: where they were saved from
    assert back["w"].device.type == "strict" and back["b"].device.type == "cpu"
    _equal(obj, back)
    on_cpu = convpool.load(path, map_location="cpu")
    assert on_cpu["w"].device == "cpu"
    numpy.testing.assert_array_equal(on_cpu["w"].numpy(), obj["w"].numpy())
    saved_name = str(obj["w"].device)
    assert convpool.load(path, map_location={saved_name: "cpu"})["w"].device == "cpu"
    assert convpool.load(path, map_location={"cuda:0": "cpu"})["w"].device.type == "strict"  # not in the dict
    everything = convpool.load(path, map_location=strict)
    assert everything["b"].device.type == "strict"
    seen = []
    kept = convpool.load(path, map_location=lambda tensor, location: seen.append(location) or tensor)
    assert sorted(seen) == sorted([saved_name, "cpu"]) and kept["w"].device == "cpu"
    default = convpool.load(path, map_location=lambda tensor, location: None)
    assert default["w"].device.type == "strict"
    with pytest.raises(TypeError, match="should return a Tensor"):
        convpool.load(path, map_location=lambda tensor, location: "cpu")
    with pytest.raises(TypeError, match="map_location must be"):
        convpool.load(path, map_location=3)


@pytest.mark.skipif(backend.cuda_is_available(), reason="this machine has a GPU: the tensor would load there")
def test_a_tensor_saved_on_an_absent_gpu_asks_for_map_location(tmp_path):
    document = {"format": "convpool-save", "format_version": 1, "object": {"tensor": "0", "device": "cuda:0"}}
    path = tmp_path / "gpu.pt"
    path.write_bytes(safetensors.numpy.save({"0": numpy.ones(2)}, metadata={"convpool": json.dumps(document)}))
    with pytest.raises(SerializationError, match="saved on cuda:0 cannot go to cuda:0.*map_location='cpu'"):
        convpool.load(path)
    assert convpool.load(path, map_location="cpu").tolist() == [1.0, 1.0]


def test_objects_that_cannot_be_saved_are_named_and_the_old_file_is_kept(tmp_path):
    path = tmp_path / "keep.pt"
    convpool.save({"old": 1}, path)
    loop: list = []
    loop.append(loop)
    for obj, message in (({"x": {"y": {1, 2}}}, r"cannot store a set at obj\['x'\]\['y'\]"),
                         ({(1, 2): 3}, "has a key of type tuple"),
                         (loop, r"the list at obj\[0\] contains itself"),
                         ({"c": numpy.ones(2, dtype=complex)}, r"complex128 array at obj\['c'\]"),
                         (object(), "cannot store a object at obj; convpool.save stores Tensors")):
        with pytest.raises(SerializationError, match=message):
            convpool.save(obj, path)
    assert convpool.load(path) == {"old": 1}
    with pytest.raises(FileNotFoundError, match="does not exist"):
        convpool.save(1, tmp_path / "missing" / "x.pt")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        convpool.save(1, tmp_path)


# ----- files that are not convpool's ---------------------------------------------------------
def test_empty_truncated_and_foreign_files_are_named(tmp_path):
    good = tmp_path / "good.pt"
    convpool.save({"w": convpool.randn(100)}, good)
    blob = good.read_bytes()
    cases = {
        "empty": (b"", "is empty"),
        "cut_data": (blob[:-50], "is truncated: its header describes"),
        "cut_header": (blob[:40], "is truncated: its safetensors header says"),
        "tiny": (blob[:5], "has only 5 bytes"),
        "pickle": (pickle.dumps({"a": 1}), "is a Python pickle .protocol"),
        "npy": (_npy_bytes(), r"NumPy \.npy array file"),
        "json": (b'{"a": 1}', "JSON text file"),
        "random": (bytes(range(40, 90)), "is not a file convpool.save wrote"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(SerializationError, match=message):
            convpool.load(path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        convpool.load(tmp_path / "absent.pt")


def _npy_bytes() -> bytes:
    buffer = io.BytesIO()
    numpy.save(buffer, numpy.ones(3))
    return buffer.getvalue()


def test_zip_archives_and_folders_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(serialization, "_torch_reader", lambda: None)
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("notes.txt", "hello")
    npz = tmp_path / "arrays.npz"
    numpy.savez(npz, a=numpy.ones(2))
    fake_torch = tmp_path / "fake_torch.pt"
    with zipfile.ZipFile(fake_torch, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("archive/version", "3")
    for path, message in ((plain, r"a zip archive \(1 entries\)"), (npz, r"NumPy \.npz archive"),
                          (fake_torch, "a PyTorch checkpoint .*convpool.interop.torch_checkpoint")):
        with pytest.raises(SerializationError, match=message):
            convpool.load(path)
    run = tmp_path / "run"
    (run / "epoch-0001").mkdir(parents=True)
    (run / "latest").write_text("epoch-0001\n")
    (run / "epoch-0001" / "checkpoint.json").write_text("{}")
    for folder in (run, run / "epoch-0001"):
        with pytest.raises(SerializationError, match="convpool training-checkpoint folder.*load_checkpoint"):
            convpool.load(folder)
    with pytest.raises(IsADirectoryError, match="is a folder, not a file"):
        convpool.load(tmp_path)


def test_torch_checkpoints_go_to_the_pytorch_reader_when_it_is_there(tmp_path, monkeypatch):
    path = tmp_path / "model.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/data.pkl", b"\x80\x02}q\x00.")
    calls = []

    class Reader:
        @staticmethod
        def is_torch_checkpoint(p):
            return zipfile.is_zipfile(p)

        @staticmethod
        def read_torch_checkpoint(p):
            calls.append(p)
            return {"weight": convpool.ones(2), "meta": [convpool.zeros(1)]}

    monkeypatch.setattr(serialization, "_torch_reader", lambda: Reader)
    result = convpool.load(path, map_location="strict")
    assert calls == [path]
    assert result["weight"].device.type == "strict" and result["meta"][0].device.type == "strict"
    assert convpool.load(path)["weight"].device == "cpu"


@needs_torch
def test_files_written_by_torch_save_are_recognised(tmp_path):
    current, legacy = tmp_path / "zip.pt", tmp_path / "legacy.pt"
    torch.save({"w": torch.ones(2, 3)}, current)
    torch.save({"w": torch.ones(2, 3)}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(SerializationError, match="is a Python pickle"):
        convpool.load(legacy)
    try:
        result = convpool.load(current)
    except SerializationError as error:  # convpool's PyTorch reader is not in this installation
        assert "a PyTorch checkpoint (torch.save's zip format)" in str(error)
        assert serialization._torch_reader() is None
    else:  # read through convpool's PyTorch reader
        assert serialization._torch_reader() is not None
        numpy.testing.assert_array_equal(numpy.asarray(result["w"].numpy()), numpy.ones((2, 3), numpy.float32))


def test_any_safetensors_file_loads_as_an_ordered_dict_of_tensors(tmp_path):
    foreign = tmp_path / "foreign.safetensors"
    safetensors.numpy.save_file({"b": numpy.ones(2), "a": numpy.arange(3)}, foreign)
    back = convpool.load(foreign)
    assert isinstance(back, OrderedDict) and sorted(back) == ["a", "b"]
    assert back["a"].tolist() == [0, 1, 2] and back["b"].dtype == numpy.float64
    assert convpool.load(foreign, map_location="strict")["a"].device.type == "strict"
    convpool.manual_seed(0)
    model = convpool.models.build("lenet5")
    from convpool.checkpoint import save_checkpoint

    folder = save_checkpoint(tmp_path / "run", model, model_name="lenet5", model_config={}, epoch=1, history=[])
    weights = convpool.load(folder / "weights.safetensors")
    assert list(weights) == list(model.state_dict())  # the state dict's order, from the header's keys
    for key, value in model.state_dict().items():
        numpy.testing.assert_array_equal(weights[key].numpy(), value.numpy())


def test_a_damaged_structure_header_is_an_error(tmp_path):
    path = tmp_path / "bad.pt"
    for metadata, message in (({"convpool": "{not json"}, "not readable JSON"),
                              ({"convpool": json.dumps({"format": "other"})}, "not a convpool-save document"),
                              ({"convpool": json.dumps({"format": "convpool-save", "format_version": 9})},
                               "format version 9"),
                              ({"convpool": json.dumps({"format": "convpool-save", "format_version": 1,
                                                        "object": {"tensor": "7"}})}, "array '7'"),
                              ({"convpool": json.dumps({"format": "convpool-save", "format_version": 1,
                                                        "object": {"weird": 1}})}, "unknown entry")):
        path.write_bytes(safetensors.numpy.save({"0": numpy.ones(1)}, metadata=metadata))
        with pytest.raises(SerializationError, match=message):
            convpool.load(path)
