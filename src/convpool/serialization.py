"""`convpool.save(obj, path)` and `convpool.load(path)`: torch.save / torch.load without pickle.

One file, in the safetensors format: the tensors and NumPy arrays of `obj` are its arrays
(named "0", "1", ... ; each stored once, however often it occurs), and the header's metadata
holds a small JSON document describing the structure around them, so loading never runs
code. What can be saved: Tensors (and Parameters), NumPy arrays and scalars, dicts
(OrderedDicts stay ordered; keys are str, int, float, bool or None), lists, tuples, ints,
floats (nan and inf included), strings, bools, None, dtypes and devices: a state dict, an
optimizer's state dict, a training checkpoint as a dict. A tensor on a GPU is copied to the
host and saved with its device's name.

    {"format": "convpool-save", "format_version": 1,
     "object": {"tensor": "0", "device": "cpu"} | {"dict": [[key, value], ...], "ordered": true}
               | {"list": [...]} | {"tuple": [...]} | {"int": 3} | {"float": 0.5 or "nan"}
               | {"str": "..."} | {"bool": true} | {"none": true} | {"ndarray": "1"} | ...}

`load(path, map_location=None)` puts every tensor back on the device it was saved from, or
where map_location says, as in torch: a device or its name ('cpu', 'cuda', 'cuda:1'), a dict
{saved device name: device name} (other devices stay as saved), or a callable
fn(tensor_on_the_host, saved_device_name) returning a Tensor, or None for the default.
`weights_only` is accepted for torch's signature; this format holds no code either way.

Any safetensors file loads too, as an OrderedDict of name -> Tensor (a convpool checkpoint's
weights.safetensors, a file from Hugging Face). Any other file is refused with one error
saying what it is: a PyTorch checkpoint (read through convpool's PyTorch reader when that
is installed), a pickle, a zip or .npz archive, a NumPy .npy file, an empty or truncated
file, a convpool training-checkpoint folder. Saving to a path writes a temporary file and
renames it into place (`files.atomic_write`), so the old file survives a crash.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy
import safetensors
import safetensors.numpy

from . import backend
from .files import atomic_write
from .tensor import Tensor

__all__ = ["save", "load", "SerializationError", "FORMAT", "FORMAT_VERSION"]

FORMAT = "convpool-save"
FORMAT_VERSION = 1
_METADATA_KEY = "convpool"
_KEY_TYPES = (str, int, float, bool, type(None))
_WHAT_FITS = ("convpool.save stores Tensors, NumPy arrays, dicts, lists, tuples, ints, floats, strings, bools, "
              "None, dtypes and devices")

PathLike = str | os.PathLike
MapLocation = str | backend.device | Mapping[str, Any] | Callable[[Tensor, str], Any] | None


class SerializationError(RuntimeError, ValueError):
    """A file that convpool.load cannot read, or an object convpool.save cannot store; the
    message names the file (or the place in the object) and what it is."""


class _FromPlacement(Exception):
    """Carries an error raised while placing a tensor (map_location's), past the handler
    that turns structural errors into 'damaged header' ones."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


# ----- saving --------------------------------------------------------------------------------
class _Writer:
    """Walks the object once, collecting the arrays and building the structure document."""

    def __init__(self) -> None:
        self.arrays: dict[str, numpy.ndarray] = {}
        self.seen: dict[int, str] = {}  # id(tensor or array) -> its array name
        self.keep_alive: list[Any] = []  # ids stay unique while the walk lasts
        self.open: set[int] = set()  # containers on the current path (a cycle is an error)

    def _array(self, owner: Any, data: Any, where: str) -> str:
        if id(owner) in self.seen:
            return self.seen[id(owner)]
        array = backend.to_host(data)
        if array.dtype.kind not in "biuf" or array.dtype.itemsize > 8:
            raise SerializationError(f"save: cannot store the {array.dtype} array at {where} (safetensors holds "
                                     "bool, integer and floating arrays)")
        array = numpy.require(array.astype(array.dtype.newbyteorder("<"), copy=False), requirements="C")
        name = str(len(self.arrays))
        self.arrays[name] = array
        self.seen[id(owner)] = name
        self.keep_alive.append(owner)
        return name

    def node(self, value: Any, where: str) -> dict[str, Any]:
        from .nn.module import Parameter

        if isinstance(value, Tensor):
            node: dict[str, Any] = {"tensor": self._array(value, value.data, where), "device": str(value.device)}
            if isinstance(value, Parameter):
                node["parameter"] = True
            if value.requires_grad:
                node["requires_grad"] = True
            return node
        if isinstance(value, numpy.ndarray):
            return {"ndarray": self._array(value, value, where)}
        if isinstance(value, numpy.generic):
            return {"ndarray": self._array(value, numpy.asarray(value), where), "scalar": True}
        if value is None:
            return {"none": True}
        if isinstance(value, bool):
            return {"bool": value}
        if isinstance(value, int):
            return {"int": value}
        if isinstance(value, float):
            return {"float": value if math.isfinite(value) else repr(value)}
        if isinstance(value, str):
            return {"str": value}
        if isinstance(value, backend.device):
            return {"device": str(value)}
        if isinstance(value, numpy.dtype) or (isinstance(value, type) and issubclass(value, numpy.generic)):
            return {"dtype": numpy.dtype(value).name}
        if isinstance(value, dict | list | tuple):
            if id(value) in self.open:
                raise SerializationError(f"save: the {type(value).__name__} at {where} contains itself")
            self.open.add(id(value))
            try:
                return self._container(value, where)
            finally:
                self.open.discard(id(value))
        raise SerializationError(f"save: cannot store a {type(value).__name__} at {where}; {_WHAT_FITS}")

    def _container(self, value: dict | list | tuple, where: str) -> dict[str, Any]:
        if isinstance(value, dict):
            items = []
            for key, item in value.items():
                if not isinstance(key, _KEY_TYPES):
                    raise SerializationError(f"save: the dict at {where} has a key of type {type(key).__name__} "
                                             f"({key!r}); keys must be str, int, float, bool or None")
                items.append([self.node(key, f"{where} (a key)"), self.node(item, f"{where}[{key!r}]")])
            node: dict[str, Any] = {"dict": items}
            if isinstance(value, OrderedDict):
                node["ordered"] = True
            return node
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [self.node(item, f"{where}[{i}]") for i, item in enumerate(value)]}


def save(obj: Any, f: PathLike | BinaryIO, pickle_module: Any = None, pickle_protocol: int | None = None,
         _use_new_zipfile_serialization: bool = True) -> None:
    """Write obj to f (a path, or a binary file opened for writing) as one safetensors file
    with the structure in its header. The pickle arguments are accepted for torch's
    signature and ignored: nothing is pickled."""
    writer = _Writer()
    document = {"format": FORMAT, "format_version": FORMAT_VERSION, "object": writer.node(obj, "obj")}
    blob = safetensors.numpy.save(writer.arrays, metadata={_METADATA_KEY: json.dumps(document)})
    if hasattr(f, "write"):
        f.write(blob)  # type: ignore[union-attr]
        return
    path = Path(os.fspath(f))  # type: ignore[arg-type]
    if path.is_dir():
        raise IsADirectoryError(f"save: {path} is a folder; give a file name such as {path / 'model.pt'}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"save: the folder {path.parent} does not exist (for {path})")
    atomic_write(path, blob)


# ----- loading -------------------------------------------------------------------------------
def load(f: PathLike | BinaryIO, map_location: MapLocation = None, pickle_module: Any = None, *,
         weights_only: bool | None = True, mmap: bool | None = None, **pickle_load_args: Any) -> Any:
    """What `save` wrote to f (a path or a binary file), tensors placed as map_location says
    (see the module docstring). Any safetensors file gives an OrderedDict of Tensors; any
    other file a SerializationError saying what it is."""
    if hasattr(f, "read"):
        name = getattr(f, "name", "the file object")
        blob = f.read()  # type: ignore[union-attr]
        path = None
    else:
        path = Path(os.fspath(f))  # type: ignore[arg-type]
        name = str(path)
        if path.is_dir():
            raise _folder_error(path)
        if not path.exists():
            raise FileNotFoundError(f"load: {path}: no such file")
        torch_result = _through_torch_reader(path)
        if torch_result is not None:
            return _relocate_tree(torch_result[0], _placement(map_location))
        blob = path.read_bytes()
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise TypeError(f"load: {name} must be opened in binary mode (read() gave {type(blob).__name__})")
    blob = bytes(blob)
    header = _safetensors_header(blob, name)
    try:
        arrays = safetensors.numpy.load(blob)
    except (safetensors.SafetensorError, ValueError) as error:
        raise SerializationError(f"load: {name} is a damaged safetensors file: {error}") from None
    place = _placement(map_location)
    metadata = header.get("__metadata__") or {}
    if _METADATA_KEY not in metadata:
        return _plain_safetensors(arrays, metadata, place)
    try:
        document = json.loads(metadata[_METADATA_KEY])
    except (ValueError, RecursionError):
        raise SerializationError(f"load: {name}: the structure in its header is not readable JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SerializationError(f"load: {name}: its header's {_METADATA_KEY!r} entry is not a convpool-save document")
    if document.get("format_version") != FORMAT_VERSION:
        raise SerializationError(f"load: {name} has format version {document.get('format_version')!r}; this "
                                 f"convpool reads version {FORMAT_VERSION}")
    reader = _Reader(arrays, place, name)
    try:
        return reader.value(document.get("object"))
    except _FromPlacement as wrapped:
        raise wrapped.error from None
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        if isinstance(error, SerializationError):
            raise
        raise SerializationError(f"load: {name}: the structure in its header is damaged ({error!r})") from None


class _Reader:
    """Rebuilds the object from the structure document and the arrays."""

    def __init__(self, arrays: dict[str, numpy.ndarray], place: Callable[[Tensor, str], Tensor], name: str) -> None:
        self.arrays, self.place, self.name = arrays, place, name
        self.made: dict[str, Any] = {}  # array name -> the object built from it (shared stays shared)

    def value(self, node: Any) -> Any:
        if not isinstance(node, dict) or len(node) == 0:
            raise SerializationError(f"load: {self.name}: the structure in its header is damaged ({node!r})")
        if "tensor" in node:
            return self._made(node["tensor"], lambda a: self._tensor(a, node))
        if "ndarray" in node:
            return self._made(node["ndarray"], lambda a: a[()] if node.get("scalar") else a)
        if "dict" in node:
            items = [(self.value(k), self.value(v)) for k, v in node["dict"]]
            return OrderedDict(items) if node.get("ordered") else dict(items)
        if "list" in node:
            return [self.value(item) for item in node["list"]]
        if "tuple" in node:
            return tuple(self.value(item) for item in node["tuple"])
        if "none" in node:
            return None
        for kind, make in (("bool", bool), ("int", int), ("str", str)):
            if kind in node:
                if not isinstance(node[kind], make) or (kind == "int" and isinstance(node[kind], bool)):
                    raise SerializationError(f"load: {self.name}: a {kind} in its header holds {node[kind]!r}")
                return node[kind]
        if "float" in node:
            return float(node["float"])
        if "device" in node:
            return backend.device(node["device"])
        if "dtype" in node:
            return numpy.dtype(node["dtype"])
        raise SerializationError(f"load: {self.name}: unknown entry {sorted(node)} in the structure in its header")

    def _made(self, key: str, build: Callable[[numpy.ndarray], Any]) -> Any:
        if key not in self.made:
            if key not in self.arrays:
                raise SerializationError(f"load: {self.name}: the structure names array {key!r}, which the file "
                                         "does not hold")
            self.made[key] = build(self.arrays[key])
        return self.made[key]

    def _tensor(self, array: numpy.ndarray, node: dict[str, Any]) -> Tensor:
        from .nn.module import Parameter

        saved = str(node.get("device", "cpu"))
        try:
            tensor = self.place(Tensor(array), saved)
        except Exception as error:
            raise _FromPlacement(error) from None
        if node.get("parameter"):
            return Parameter(tensor, requires_grad=bool(node.get("requires_grad")))
        if node.get("requires_grad"):
            tensor.requires_grad_(True)
        return tensor


def _plain_safetensors(arrays: dict[str, numpy.ndarray], metadata: Mapping[str, str],
                       place: Callable[[Tensor, str], Tensor]) -> OrderedDict[str, Tensor]:
    """A safetensors file written by anything else: name -> Tensor, in the order its
    header's "keys" entry gives (convpool checkpoints keep the state dict's order there)."""
    try:
        order = json.loads(metadata.get("keys", "[]"))
    except ValueError:
        order = []
    names = order if isinstance(order, list) and sorted(order) == sorted(arrays) else list(arrays)
    return OrderedDict((key, place(Tensor(arrays[key]), "cpu")) for key in names)


def _safetensors_header(blob: bytes, name: str) -> dict[str, Any]:
    """The JSON header of a safetensors file's bytes, or an error saying what the bytes are."""
    if len(blob) < 8:
        raise _not_ours(blob, name)
    length = int.from_bytes(blob[:8], "little")
    if blob[8:9] != b"{":
        raise _not_ours(blob, name)
    if length > len(blob) - 8:
        raise SerializationError(f"load: {name} is truncated: its safetensors header says {length:,} header bytes "
                                 f"but the file has {len(blob):,} bytes in all")
    try:
        header = json.loads(blob[8:8 + length])
    except (ValueError, RecursionError):
        raise SerializationError(f"load: {name} is not a readable safetensors file: its header is not JSON") from None
    if not isinstance(header, dict):
        raise SerializationError(f"load: {name} is not a readable safetensors file: its header is not a JSON object")
    end = max((entry["data_offsets"][1] for key, entry in header.items()
               if key != "__metadata__" and isinstance(entry, dict) and isinstance(entry.get("data_offsets"), list)
               and len(entry["data_offsets"]) == 2 and isinstance(entry["data_offsets"][1], int)), default=0)
    if 8 + length + end > len(blob):
        raise SerializationError(f"load: {name} is truncated: its header describes {8 + length + end:,} bytes but "
                                 f"the file has {len(blob):,}")
    return header


def _not_ours(blob: bytes, name: str) -> SerializationError:
    """The error for bytes that are not a safetensors file, naming what they are."""
    if not blob:
        return SerializationError(f"load: {name} is empty (0 bytes): nothing was saved to it, or the save did not "
                                  "finish")
    if blob[:4] == b"PK\x03\x04" or blob[:4] == b"PK\x05\x06":
        return SerializationError(f"load: {name} is {_describe_zip(blob)}")
    if len(blob) > 1 and blob[0] == 0x80 and 2 <= blob[1] <= 5:
        return SerializationError(
            f"load: {name} is a Python pickle (protocol {blob[1]}), such as torch.save's legacy format or "
            "pickle.dump writes; convpool.load never unpickles, since a pickle can run any code. Save it again "
            "with convpool.save, or with torch.save's default zip format, which convpool reads through its "
            "PyTorch reader (convpool.interop.torch_checkpoint)")
    if blob[:6] == b"\x93NUMPY":
        return SerializationError(f"load: {name} is a NumPy .npy array file; read it with numpy.load")
    if blob.lstrip()[:1] in (b"{", b"["):
        return SerializationError(f"load: {name} is a JSON text file, not a file convpool.save wrote")
    if len(blob) < 9:
        return SerializationError(f"load: {name} has only {len(blob)} bytes, too few for a file convpool.save "
                                  "wrote: it is truncated, or something else")
    return SerializationError(f"load: {name} is not a file convpool.save wrote (nor any safetensors file): it "
                              f"starts with the bytes {blob[:8]!r}")


def _describe_zip(blob: bytes) -> str:
    try:
        names = zipfile.ZipFile(io.BytesIO(blob)).namelist()
    except zipfile.BadZipFile:
        return "a damaged or truncated zip archive"
    if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
        if _torch_reader() is not None:
            return ("a PyTorch checkpoint (torch.save's zip format); convpool.load reads it through convpool's "
                    "PyTorch reader when given its path rather than an open file")
        return ("a PyTorch checkpoint (torch.save's zip format); convpool.load reads it through convpool's PyTorch "
                "reader, convpool.interop.torch_checkpoint, which this installation does not have: save the "
                "object again with convpool.save, or its state dict with safetensors")
    if names and all(n.endswith(".npy") for n in names):
        return "a NumPy .npz archive; read it with numpy.load"
    return f"a zip archive ({len(names)} entries), not a file convpool.save wrote"


def _folder_error(path: Path) -> Exception:
    if (path / "checkpoint.json").is_file() or (path / "latest").is_file():
        return SerializationError(f"load: {path} is a convpool training-checkpoint folder; read it with "
                                  "convpool.checkpoint.load_checkpoint (or build the model with "
                                  "convpool.checkpoint.build_from_checkpoint)")
    return IsADirectoryError(f"load: {path} is a folder, not a file")


def _torch_reader() -> Any:
    """convpool.interop.torch_checkpoint where this installation has it, else None."""
    try:
        from .interop import torch_checkpoint  # type: ignore[attr-defined]
    except ImportError:
        return None
    return torch_checkpoint


def _through_torch_reader(path: Path) -> tuple[Any] | None:
    """(object,) read by convpool's PyTorch reader when path is a torch checkpoint and the
    reader is installed; None otherwise (the file is then read, or refused, here)."""
    torch_checkpoint = _torch_reader()
    if torch_checkpoint is None or not torch_checkpoint.is_torch_checkpoint(path):
        return None
    return (torch_checkpoint.read_torch_checkpoint(path),)


# ----- where tensors go ----------------------------------------------------------------------
def _placement(map_location: MapLocation) -> Callable[[Tensor, str], Tensor]:
    """fn(host tensor, saved device name) -> the tensor where map_location puts it."""

    def restore(tensor: Tensor, saved: str) -> Tensor:
        return _to(tensor, saved, saved)

    if map_location is None:
        return restore
    if isinstance(map_location, str | backend.device):
        target = str(backend.device(map_location))
        return lambda tensor, saved: _to(tensor, target, saved)
    if isinstance(map_location, Mapping):
        table = {str(k): str(backend.device(v)) for k, v in map_location.items()}
        return lambda tensor, saved: _to(tensor, table.get(saved, saved), saved)
    if callable(map_location):
        def call(tensor: Tensor, saved: str) -> Tensor:
            result = map_location(tensor, saved)
            if result is None:
                return restore(tensor, saved)
            if not isinstance(result, Tensor):
                raise TypeError(f"load: map_location returned a {type(result).__name__} for a tensor saved on "
                                f"{saved}; it should return a Tensor (or None for the saved device)")
            return result
        return call
    raise TypeError(f"load: map_location must be a device, its name, a dict or a callable, got "
                    f"{type(map_location).__name__}")


def _to(tensor: Tensor, target: str, saved: str) -> Tensor:
    if target == "cpu":
        return tensor
    try:
        return Tensor(backend.to_device(tensor.data, target))
    except (RuntimeError, ValueError, ImportError) as error:
        raise SerializationError(f"load: a tensor saved on {saved} cannot go to {target} ({error}); pass "
                                 f"map_location='cpu' to load it on the CPU") from None


def _relocate_tree(value: Any, place: Callable[[Tensor, str], Tensor]) -> Any:
    """Apply place to every Tensor in what the PyTorch reader gave (read on the CPU)."""
    if isinstance(value, Tensor):
        return place(value, "cpu")
    if isinstance(value, dict):
        return type(value)((k, _relocate_tree(v, place)) for k, v in value.items())
    if isinstance(value, list | tuple) and not hasattr(value, "_fields"):
        return type(value)(_relocate_tree(v, place) for v in value)
    return value
