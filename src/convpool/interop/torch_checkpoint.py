"""Reading PyTorch checkpoints (`torch.save` of a state_dict, zip format) without PyTorch.

A `.pt` file is a zip archive: `<prefix>/data.pkl` is a pickle of the saved object whose
tensors refer, by persistent id `('storage', storage_type, key, location, numel)`, to raw
storages stored as `<prefix>/data/<key>`; `<prefix>/byteorder` says "little" or "big".
`pickle.load` would call whatever function the pickle names, so this unpickler resolves only
the names a state_dict needs, as PyTorch's own `weights_only=True` does: OrderedDict, the
storage classes, `torch._utils._rebuild_tensor_v2` and `_rebuild_parameter`. Any other
global is refused with its name when the unpickler reaches it, before anything is called,
and a REDUCE can only call one of those few functions. Plain containers, numbers and strings
need no lookup.

Each tensor is rebuilt from its storage with its offset and strides, after checking that
every element it reads lies inside the storage, and that the storage's bytes are all in the
zip. Values come back as convpool Tensors on the host; bfloat16 becomes float32 (NumPy has
no bfloat16; the widening is exact).
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy

from ..tensor import Tensor

# storage class name -> (NumPy dtype of the stored items, little-endian)
_STORAGES = {
    "DoubleStorage": "<f8", "FloatStorage": "<f4", "HalfStorage": "<f2", "BFloat16Storage": "<u2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}
_PICKLE_NAMES = ("data.pkl",)


class UnsafeCheckpointError(ValueError):
    """The checkpoint's pickle names a global or a call that is not allowed."""


class TorchCheckpointError(ValueError):
    """The file is not a PyTorch zip checkpoint this reader understands, or it is damaged."""


def is_torch_checkpoint(path: str | os.PathLike) -> bool:
    """True when path is a zip archive holding a `<prefix>/data.pkl` (PyTorch's format since 1.6)."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as archive:
            return _pickle_entry(archive) is not None
    except (OSError, zipfile.BadZipFile):
        return False


def _pickle_entry(archive: zipfile.ZipFile) -> str | None:
    for name in archive.namelist():
        parts = name.split("/")
        if len(parts) == 2 and parts[1] in _PICKLE_NAMES:
            return name
    return None


def _is_legacy(path: Path) -> bool:
    """The pre-1.6 format is a bare pickle stream: it starts with the PROTO opcode 0x80."""
    with open(path, "rb") as f:
        return f.read(1) == b"\x80"


class _StorageType:
    """Stands for torch.<Name>Storage in the pickle: only persistent ids may name it; calling it is refused."""

    def __init__(self, name: str, where: str):
        self.name, self.where, self.dtype = name, where, numpy.dtype(_STORAGES[name])

    def __call__(self, *args, **kwargs):
        raise _refuse(self.where, f"a call of torch.{self.name}")


class _Storage:
    """A storage read from the zip: a flat array of its items."""

    __slots__ = ("array", "kind")

    def __init__(self, array: numpy.ndarray, kind: str):
        self.array, self.kind = array, kind


def _refuse(where: str, what: str) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(
        f"{where}: refused to unpickle {what}: only ordered dicts, lists, tuples, numbers, strings and tensors "
        f"are allowed in a PyTorch checkpoint (as with torch.load(weights_only=True)); nothing was run")


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, archive: zipfile.ZipFile, prefix: str, byteorder: str, where: str):
        super().__init__(file, encoding="utf-8")
        self.archive, self.prefix, self.byteorder, self.where = archive, prefix, byteorder, where
        self.storages: dict[str, _Storage] = {}
        self.made: set[int] = set()  # ids of the tensors _rebuild_tensor returned

    def find_class(self, module: str, name: str):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return self._rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return self._rebuild_parameter
        if module == "torch" and name in _STORAGES:
            return _StorageType(name, self.where)
        raise _refuse(self.where, f"the global {module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str) and isinstance(pid[4], int)):
            raise _refuse(self.where, f"the persistent id {pid!r:.80}")
        _, kind, key, _location, numel = pid
        if key in self.storages:
            return self.storages[key]
        entry = f"{self.prefix}/data/{key}"
        try:
            info = self.archive.getinfo(entry)
        except KeyError:
            raise TorchCheckpointError(f"{self.where}: storage {key!r} is missing from the archive "
                                       f"(no entry {entry})") from None
        dtype = kind.dtype.newbyteorder("<" if self.byteorder == "little" else ">")
        need = numel * dtype.itemsize
        if numel < 0 or info.file_size != need:
            raise TorchCheckpointError(f"{self.where}: storage {key!r} ({kind.name}) should hold {numel} items "
                                       f"({need} bytes), the archive has {info.file_size} bytes")
        if info.compress_type != zipfile.ZIP_STORED and need > max(100 * info.compress_size, 1 << 20):
            raise TorchCheckpointError(f"{self.where}: storage {key!r} is compressed ({info.compress_size} bytes for "
                                       f"{need}); torch.save stores storages uncompressed, refusing to inflate it")
        blob = self.archive.read(entry)
        array = numpy.frombuffer(blob, dtype=dtype).astype(dtype.newbyteorder("="))
        if kind.name == "BFloat16Storage":
            array = (array.astype(numpy.uint32) << 16).view(numpy.float32)
        storage = _Storage(array, kind.name)
        self.storages[key] = storage
        return storage

    def _rebuild_tensor(self, storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                        metadata=None):
        if not isinstance(storage, _Storage):
            raise _refuse(self.where, f"a tensor built from a {type(storage).__name__}, not a storage")
        if not (isinstance(storage_offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)
                and len(size) == len(stride) and all(isinstance(v, int) for v in size + stride)):
            raise TorchCheckpointError(f"{self.where}: malformed tensor record (offset {storage_offset!r}, "
                                       f"size {size!r}, stride {stride!r})")
        if storage_offset < 0 or any(n < 0 for n in size) or any(s < 0 for s in stride):
            raise TorchCheckpointError(f"{self.where}: negative offset, size or stride in a tensor record "
                                       f"(offset {storage_offset}, size {size}, stride {stride})")
        data = storage.array
        if type(data) is not numpy.ndarray or data.dtype.hasobject or data.ndim != 1:
            raise _refuse(self.where, "a storage whose items were replaced")
        if 0 in size:
            return self._made(Tensor(numpy.zeros(size, dtype=data.dtype)))
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
        if last >= data.size:
            raise TorchCheckpointError(f"{self.where}: a tensor of size {size}, stride {stride}, offset "
                                       f"{storage_offset} reads item {last} of a storage of {data.size} items")
        if numpy.prod(size, dtype=numpy.int64) > data.size:
            raise TorchCheckpointError(f"{self.where}: a tensor of size {size} (stride {stride}) has more elements "
                                       f"than its storage of {data.size} items (overlapping strides are not supported)")
        item = data.itemsize
        view = numpy.lib.stride_tricks.as_strided(data[storage_offset:], shape=size,
                                                  strides=tuple(s * item for s in stride), writeable=False)
        return self._made(Tensor(numpy.array(view, copy=True)))

    def _made(self, tensor: Tensor) -> Tensor:
        self.made.add(id(tensor))
        return tensor

    def _rebuild_parameter(self, data, requires_grad=False, backward_hooks=None):
        if not isinstance(data, Tensor):
            raise _refuse(self.where, f"a parameter built from a {type(data).__name__}")
        return data


def read_torch_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The object `torch.save` wrote to path (a state_dict: {name: Tensor}), read without PyTorch.

    Raises UnsafeCheckpointError when the pickle names anything outside a state_dict's
    vocabulary, TorchCheckpointError for the legacy format or a damaged archive."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise FileNotFoundError(f"{where}: no such file")
    if not zipfile.is_zipfile(path):
        if _is_legacy(path):
            raise TorchCheckpointError(f"{where}: PyTorch's legacy (pre-1.6, non-zip) checkpoint format is not "
                                       f"supported; re-save it with torch.save in a current PyTorch")
        raise TorchCheckpointError(f"{where}: not a PyTorch checkpoint (not a zip archive)")
    try:
        with zipfile.ZipFile(path) as archive:
            entry = _pickle_entry(archive)
            if entry is None:
                raise TorchCheckpointError(f"{where}: a zip archive but not a PyTorch checkpoint (no <name>/data.pkl)")
            prefix = entry.split("/")[0]
            byteorder = "little"
            if f"{prefix}/byteorder" in archive.namelist():
                byteorder = archive.read(f"{prefix}/byteorder").decode("ascii", "replace").strip()
                if byteorder not in ("little", "big"):
                    raise TorchCheckpointError(f"{where}: unknown byteorder record {byteorder!r}")
            unpickler = _Unpickler(io.BytesIO(archive.read(entry)), archive, prefix, byteorder, where)
            try:
                value = unpickler.load()
            except (UnsafeCheckpointError, TorchCheckpointError, MemoryError):
                raise
            except Exception as e:  # a damaged pickle raises many types
                raise TorchCheckpointError(f"{where}: damaged pickle in {entry} ({type(e).__name__}: {e})") from None
    except zipfile.BadZipFile as e:
        raise TorchCheckpointError(f"{where}: damaged zip archive ({e})") from None
    return _plain(value, where, unpickler.made)


def _plain(value: Any, where: str, made: set[int], active: set[int] | None = None) -> Any:
    """A fresh copy of the result made only of containers, numbers, strings, None and Tensors
    this reader built (their arrays checked again: a BUILD opcode could have set attributes)."""
    active = set() if active is None else active
    if isinstance(value, Tensor):
        data = value.data
        if id(value) not in made or type(data) is not numpy.ndarray or data.dtype.hasobject:
            raise _refuse(where, "a tensor not rebuilt from a storage")
        return Tensor(data)
    if isinstance(value, bool | int | float | str | bytes | type(None)):
        return value
    if not isinstance(value, dict | list | tuple):
        raise _refuse(where, f"an object of type {type(value).__name__}")
    if id(value) in active:
        raise TorchCheckpointError(f"{where}: the pickle holds a container that contains itself")
    active.add(id(value))
    try:
        if isinstance(value, dict):
            return {_plain(k, where, made, active): _plain(v, where, made, active) for k, v in value.items()}
        items = [_plain(v, where, made, active) for v in value]
        return items if isinstance(value, list) else tuple(items)
    finally:
        active.discard(id(value))
