"""Checkpoints: a model's weights, its optimizer and schedule, the RNG and data-loader
positions and the metric history, saved so that a crash never leaves a broken one. No
pickle anywhere: arrays go to safetensors files, everything else to JSON.

Layout of a run folder::

    run/
      latest                  one line: the name of the newest complete checkpoint folder
      epoch-0003/
        weights.safetensors   the model's state_dict (parameters and persistent buffers);
                              its header metadata repeats the model name and config (and the
                              key order), so the file alone is enough to rebuild the network
        optimizer.safetensors the optimizer's state arrays (momentum, moments), if any
        checkpoint.json       everything else, written last; it names the two files with
                              their sizes and SHA-256
      epoch-0002/             older checkpoints, pruned to the newest `keep`

Why a crash cannot break a checkpoint. Each save makes a *new* folder that nothing points to
yet. Every file in it is written to a temporary file in the same folder, flushed, fsynced
and renamed into place (`os.replace`, atomic on POSIX and Windows); checkpoint.json comes
last. Only then is `latest` switched, by the same temp-file-and-rename, and the run folder
fsynced. Whenever the process dies, `latest` names either the previous complete checkpoint
or the new complete one, never a mixture, and the previous one is never written to. A
failed save removes its unfinished folder; one left by a hard crash is ignored (nothing
points to it) and removed by the next save, with any temporary files a crash left. Each
checkpoint.json names the checkpoint that was `latest` before it ("previous"), so pruning
follows that chain back from the new one: a complete folder that never became `latest` (a
kill between its checkpoint.json and the switch) is an orphan and is removed, never kept in
place of the real previous checkpoint. The hashes in the JSON also catch files copied
together from different saves. One writer per run folder.

`checkpoint.json` (format version 1)::

    {"format": "convpool-checkpoint", "format_version": 1, "convpool_version": ..., "created": ...,
     "model": {"name": "article-cnn", "config": {"in_channels": 1, "num_classes": 10, ...}},
     "epoch": 3,                                    # epochs completed
     "files": {"weights": {"name", "bytes", "sha256"}, "optimizer": {...} or null},
     "optimizer": {"class": "AdamW", "state": <JSON part of split_state_dict>} or null,
     "scheduler": {"class": "OneCycleLR", "state": <scheduler.state_dict()>} or null,
     "rng_state": <backend.get_rng_state()>, "loader_state": {"seed", "epoch"} or null,
     "history": [{"epoch": 1, "train_loss": ..., ...}, ...], "extra": {...},
     "previous": "epoch-0002" or null}              # the checkpoint `latest` named before this one

Model config keys by convention: in_channels, num_classes, image_size (what
`convpool.models.build` takes), classes (names), mean and std (the input normalisation).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy
import safetensors
import safetensors.numpy

from . import backend
from .files import atomic_write
from .nn.module import Module, StateDictError
from .optim.optimizer import Optimizer, merge_state_dict, split_state_dict
from .tensor import Tensor

FORMAT = "convpool-checkpoint"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
WEIGHTS_FILE = "weights.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
JSON_FILE = "checkpoint.json"
LATEST_FILE = "latest"
_FOLDER = re.compile(r"^epoch-(\d+)(?:-(\d+))?$")

PathLike = str | os.PathLike


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not fit: damaged or mismatched files, an
    unknown format version, weights with other names or shapes than the model's."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No checkpoint where one was expected; the message names the path."""


# ----- saving ------------------------------------------------------------------------------------
def save_checkpoint(folder: PathLike, model: Module, *, model_name: str, model_config: Mapping[str, Any],
                    optimizer: Optimizer | None = None, scheduler: Any = None, epoch: int,
                    history: list[dict[str, Any]], extra: Mapping[str, Any] | None = None,
                    loader: Any = None, keep: int | None = None) -> Path:
    """Save a checkpoint into the run folder `folder` and make it the `latest`; returns the
    new checkpoint's own folder (`folder/epoch-0003`).

    epoch counts the epochs completed. loader: anything with `state_dict()` (the training
    DataLoader: its seed and next epoch). keep: how many checkpoint folders to keep, newest
    first (None keeps all). The global RNG state is always saved. Everything is serialised
    in memory first, so a value JSON cannot hold fails before any file is touched."""
    if isinstance(epoch, bool) or not isinstance(epoch, int | numpy.integer) or epoch < 0:
        raise ValueError(f"save_checkpoint: epoch must be a non-negative int, got {epoch!r}")
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
        raise ValueError(f"save_checkpoint: keep must be a positive int or None, got {keep!r}")
    if not isinstance(model_name, str) or not model_name:
        raise ValueError(f"save_checkpoint: model_name must be a non-empty string, got {model_name!r}")
    config = _json_roundtrip(dict(model_config), "model_config")
    epoch = int(epoch)

    weights = {name: _contiguous(value) for name, value in model.state_dict().items()}
    weights_blob = safetensors.numpy.save(weights, metadata={
        "format": FORMAT, "format_version": str(FORMAT_VERSION), "model_name": model_name,
        "model_config": json.dumps(config), "epoch": str(epoch), "keys": json.dumps(list(weights))})
    files: dict[str, Any] = {"weights": _describe(WEIGHTS_FILE, weights_blob), "optimizer": None}
    optimizer_entry = optimizer_blob = None
    if optimizer is not None:
        meta, arrays = split_state_dict(optimizer.state_dict())
        optimizer_entry = {"class": type(optimizer).__name__, "state": meta}
        if arrays:
            optimizer_blob = safetensors.numpy.save({k: _contiguous(v) for k, v in arrays.items()})
            files["optimizer"] = _describe(OPTIMIZER_FILE, optimizer_blob)
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "convpool_version": _version(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "model": {"name": model_name, "config": config},
        "epoch": epoch,
        "files": files,
        "optimizer": optimizer_entry,
        "scheduler": None if scheduler is None else {"class": type(scheduler).__name__,
                                                     "state": scheduler.state_dict()},
        "rng_state": backend.get_rng_state(),
        "loader_state": None if loader is None else loader.state_dict(),
        "history": list(history),
        "extra": dict(extra or {}),
        "previous": None,
    }
    run = Path(folder)
    previous = _read_latest(run) if run.is_dir() else None
    if previous is not None and (run / previous / JSON_FILE).is_file():
        document["previous"] = previous
    try:
        text = json.dumps(document, indent=1, default=_json_default)
    except (TypeError, ValueError) as error:
        raise TypeError(f"save_checkpoint: the checkpoint data is not JSON-serialisable: {error}") from None

    try:
        run.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _naming(error, run) from None
    _tidy(run, previous)  # a crash's leftovers go before this save needs the room
    target = _new_folder(run, epoch)
    try:
        _write(target / WEIGHTS_FILE, weights_blob)
        if optimizer_blob is not None:
            _write(target / OPTIMIZER_FILE, optimizer_blob)
        _write(target / JSON_FILE, text.encode())  # last: a folder without it is unfinished
        _write(run / LATEST_FILE, f"{target.name}\n".encode())  # the commit point
    except BaseException:
        if _read_latest(run) != target.name:  # not committed: nothing may point at it
            shutil.rmtree(target, ignore_errors=True)
        raise
    _prune(run, keep, target.name)
    return target


def check_room(folder: PathLike, model: Module, optimizer: Optimizer | None = None, keep: int | None = 2) -> None:
    """Before training: the run folder can be made and written, and its disk has room for the
    checkpoints to come (keep + 1 of them at once during a save; the optimizer's state
    counted as two copies of the weights). An OSError naming the folder otherwise, so a full
    or read-only disk is found before an epoch of work, not after it."""
    run = Path(folder)
    try:
        run.mkdir(parents=True, exist_ok=True)
        probe = run / f".convpool-write-test-{os.getpid()}.tmp"
        probe.write_bytes(b"convpool")
        probe.unlink()
    except OSError as error:
        raise OSError(error.errno, f"cannot write checkpoints to {run}: {error.strerror or error}") from None
    weights = sum(int(p.data.nbytes) for p in model.parameters()) + sum(
        int(getattr(b, "data", b).nbytes) for _, b in model.named_buffers())
    per_checkpoint = weights * (1 + (2 if optimizer is not None else 0)) + (1 << 16)
    needed = per_checkpoint * ((keep or 1) + 1)
    free = shutil.disk_usage(run).free
    if free < needed:
        raise OSError(errno.ENOSPC, f"not enough free space for checkpoints in {run}: {_size(free)} free, "
                                    f"about {_size(needed)} needed ({(keep or 1) + 1} checkpoints of "
                                    f"{_size(per_checkpoint)})")


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return str(count)


def _write(path: Path, blob: bytes) -> None:
    try:
        atomic_write(path, blob)
    except OSError as error:
        raise _naming(error, path) from None


def _naming(error: OSError, path: Path) -> OSError:
    """The error again, its message naming the path ("No space left on device" alone does not)."""
    return OSError(error.errno, f"save_checkpoint: cannot write {path}: {error.strerror or error}")


def latest_checkpoint(folder: PathLike) -> Path | None:
    """The folder `folder/latest` names, or None when the run has no checkpoint yet."""
    run = Path(folder)
    name = _read_latest(run)
    return None if name is None else run / name


def _new_folder(run: Path, epoch: int) -> Path:
    """A fresh, empty folder for this save: epoch-0003, or epoch-0003-2 if that name is taken
    (the previous checkpoint is never written into)."""
    base = f"epoch-{epoch:04d}"
    for n in range(1, 10_000):
        target = run / (base if n == 1 else f"{base}-{n}")
        try:
            target.mkdir()
            return target
        except FileExistsError:
            continue
    raise CheckpointError(f"save_checkpoint: no free folder name for epoch {epoch} in {run}")


def _read_latest(run: Path) -> str | None:
    try:
        name = (run / LATEST_FILE).read_text().strip()
    except FileNotFoundError:
        return None
    return name or None


def _tidy(run: Path, latest: str | None) -> None:
    """What a crash can leave in a run folder: temporary files of atomic_write (in the run
    folder and in its checkpoint folders), and checkpoint folders without checkpoint.json.
    Never the folder `latest` names. Failures here never fail the save."""
    for entry in list(run.iterdir()):
        if entry.name.startswith(".") and entry.name.endswith(".tmp") and entry.is_file():
            with contextlib.suppress(OSError):
                entry.unlink()
        elif entry.is_dir() and _FOLDER.match(entry.name):
            if not (entry / JSON_FILE).is_file() and entry.name != latest:
                shutil.rmtree(entry, ignore_errors=True)
                continue
            for leftover in entry.glob(".*.tmp"):
                with contextlib.suppress(OSError):
                    leftover.unlink()


def _prune(run: Path, keep: int | None, current: str) -> None:
    """Keep the current checkpoint and the keep - 1 before it along the chain of "previous"
    names (all of the chain with keep None); delete the other checkpoint folders, orphans of a
    crash among them. Checkpoints written before the chain was recorded (no "previous" entry)
    continue it newest first by when their JSON was written. Failures never fail the save."""
    folders = {entry.name for entry in run.iterdir() if entry.is_dir() and _FOLDER.match(entry.name)}
    chain, name = [current], current
    while keep is None or len(chain) < keep:
        try:
            document = json.loads((run / name / JSON_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            break
        if not isinstance(document, dict):
            break
        if "previous" not in document:  # older checkpoints: the newest written before this one
            older = sorted(((_json_mtime(run / other), other) for other in folders - set(chain)
                            if _json_mtime(run / other) < _json_mtime(run / name)), reverse=True)
            chain += [other for _, other in older][:None if keep is None else keep - len(chain)]
            break
        name = document["previous"]
        if not isinstance(name, str) or name not in folders or name in chain:
            break
        chain.append(name)
    for doomed in folders - set(chain):
        shutil.rmtree(run / doomed, ignore_errors=True)


def _json_mtime(folder: Path) -> int:
    try:
        return folder.joinpath(JSON_FILE).stat().st_mtime_ns
    except OSError:
        return -1


def _contiguous(value: Any) -> numpy.ndarray:
    array = backend.to_host(value.data if isinstance(value, Tensor) else value)  # GPU arrays are saved from the host
    # not ascontiguousarray: it turns 0-d arrays (num_batches_tracked) into 1-d ones
    return array if array.flags.c_contiguous else array.copy(order="C")


def _describe(name: str, blob: bytes) -> dict[str, Any]:
    return {"name": name, "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}


def _json_default(value: Any) -> Any:
    """NumPy scalars and arrays as plain JSON values (history entries are often numpy floats)."""
    if isinstance(value, numpy.generic):
        return value.item()
    if isinstance(value, numpy.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} value {value!r} cannot be stored in JSON")


def _json_roundtrip(value: Any, what: str) -> Any:
    """value as it will read back from JSON (tuples become lists), or a TypeError now."""
    try:
        return json.loads(json.dumps(value, default=_json_default))
    except (TypeError, ValueError) as error:
        raise TypeError(f"save_checkpoint: {what} must be JSON-serialisable: {error}") from None


def _version() -> str:
    from . import __version__

    return __version__


# ----- loading -----------------------------------------------------------------------------------
@dataclass
class Checkpoint:
    """Everything a checkpoint holds. `weights` are NumPy arrays by state_dict key;
    `optimizer_state` is ready for `optimizer.load_state_dict`. A bare weights file gives
    only the model fields (the rest is None or empty)."""

    path: Path
    model_name: str
    model_config: dict[str, Any]
    weights: dict[str, numpy.ndarray]
    epoch: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    optimizer_class: str | None = None
    optimizer_state: dict[str, Any] | None = None
    scheduler_class: str | None = None
    scheduler_state: dict[str, Any] | None = None
    rng_state: dict[str, Any] | None = None
    loader_state: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    convpool_version: str | None = None
    created: str | None = None

    def load_weights(self, model: Module, strict: bool = True) -> Module:
        """Copy the weights into model (all or nothing); a mismatch names every key and shape.
        Refused first: an integer or boolean array where the model holds floating point, and
        any NaN or infinite value (a network that can only answer NaN)."""
        own = model.state_dict()
        for key, array in self.weights.items():
            target = own.get(key)
            if target is None:
                continue
            target = target.data if isinstance(target, Tensor) else numpy.asarray(target)
            if numpy.issubdtype(target.dtype, numpy.floating):
                if not numpy.issubdtype(array.dtype, numpy.floating):
                    raise CheckpointError(f"{self.path}: {key} holds {array.dtype} values where the "
                                          f"{type(model).__name__} holds {target.dtype}: the weights are damaged")
                if not numpy.isfinite(array).all():
                    bad = int(array.size - numpy.isfinite(array).sum())
                    raise CheckpointError(f"{self.path}: {key} holds {bad} NaN or infinite value(s) of {array.size}: "
                                          f"the weights are damaged")
        try:
            model.load_state_dict(self.weights, strict=strict)
        except StateDictError as error:
            raise CheckpointError(f"the weights in {self.path} do not fit this {type(model).__name__} "
                                  f"(checkpoint model {self.model_name!r}):\n{error}") from error
        return model

    def restore(self, model: Module, optimizer: Optimizer | None = None, scheduler: Any = None,
                loader: Any = None, *, rng: bool = True) -> None:
        """Put a training run back where it was saved: weights, optimizer and scheduler state,
        the loader's seed and epoch, and (rng=True) the global RNG. Classes are checked first."""
        for kind, obj, saved_class, state in (("optimizer", optimizer, self.optimizer_class, self.optimizer_state),
                                              ("scheduler", scheduler, self.scheduler_class, self.scheduler_state)):
            if obj is None:
                continue
            if state is None:
                raise CheckpointError(f"{self.path} holds no {kind} state to restore a {type(obj).__name__} from")
            if saved_class != type(obj).__name__:
                raise CheckpointError(f"{self.path} holds the state of a {saved_class} {kind}, "
                                      f"not of a {type(obj).__name__}")
        if loader is not None and self.loader_state is None:
            raise CheckpointError(f"{self.path} holds no data-loader state")
        if rng and self.rng_state is None:
            raise CheckpointError(f"{self.path} holds no RNG state")
        self.load_weights(model)
        if optimizer is not None:
            optimizer.load_state_dict(self.optimizer_state)  # before the scheduler: it holds param_groups
        if scheduler is not None:
            scheduler.load_state_dict(self.scheduler_state)
        if loader is not None:
            loader.load_state_dict(self.loader_state)
        if rng:
            backend.set_rng_state(self.rng_state)


def load_checkpoint(path: PathLike) -> Checkpoint:
    """Read a checkpoint from a run folder (follows `latest`), a checkpoint folder, its
    checkpoint.json, or a .safetensors weights file (with or without the JSON beside it).

    Sizes and SHA-256 of the files are checked against the JSON. Errors name the path."""
    path = Path(path)
    if not path.exists():
        raise CheckpointNotFoundError(f"no checkpoint at {path}: the path does not exist")
    if path.is_dir():
        if (path / LATEST_FILE).is_file():
            return _load_folder(_follow_latest(path))
        if (path / JSON_FILE).is_file():
            return _load_folder(path)
        raise CheckpointNotFoundError(f"no checkpoint in {path}: it holds neither a '{LATEST_FILE}' "
                                      f"pointer nor {JSON_FILE}")
    if path.name == LATEST_FILE:
        return _load_folder(_follow_latest(path.parent))
    if path.suffix == ".json":
        return _load_folder(path.parent, path.name)
    if path.suffix == ".safetensors":
        sibling = path.parent / JSON_FILE
        if sibling.is_file():
            document = _read_json(sibling)
            if _entry_name(document, "weights", sibling) == path.name:
                return _from_document(path.parent, document, sibling)
        return _load_weights_file(path)
    raise CheckpointError(f"{path} is not a checkpoint: expected a run folder, a checkpoint folder, "
                          f"{JSON_FILE} or a .safetensors weights file")


def _follow_latest(run: Path) -> Path:
    name = _read_latest(run)
    if name is None:
        raise CheckpointError(f"{run / LATEST_FILE} is empty: it should name a checkpoint folder")
    if Path(name).name != name or name in (".", ".."):
        raise CheckpointError(f"{run / LATEST_FILE} names {name!r}, which is not a folder inside {run}")
    folder = run / name
    if not (folder / JSON_FILE).is_file():
        raise CheckpointNotFoundError(f"{run / LATEST_FILE} names {name!r}, but {folder / JSON_FILE} does not exist")
    return folder


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckpointNotFoundError(f"no checkpoint at {path}: the file does not exist") from None
    except UnicodeDecodeError as error:
        raise CheckpointError(f"{path} is not a text file ({error}): the checkpoint is damaged") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is not valid JSON ({error.msg} at line {error.lineno}, column "
                              f"{error.colno}): the checkpoint is damaged") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a convpool checkpoint (no \"format\": \"{FORMAT}\" entry)")
    version = document.get("format_version")
    if version not in SUPPORTED_VERSIONS:
        raise CheckpointError(f"{path} has checkpoint format version {version!r}; this convpool "
                              f"{_version()} reads version(s) {', '.join(map(str, SUPPORTED_VERSIONS))}")
    return document


def _entry_name(document: dict[str, Any], kind: str, json_path: Path) -> str | None:
    files = _field(document, "files", json_path)
    if not isinstance(files, dict):
        raise CheckpointError(f"{json_path}: \"files\" must be an object naming the weights file, got {files!r:.80}")
    entry = files.get(kind)
    if entry is None:
        return None
    name = entry.get("name") if isinstance(entry, dict) else None
    if not isinstance(name, str) or Path(name).name != name:
        raise CheckpointError(f"{json_path}: files.{kind} must name a file in the same folder, got {entry!r}")
    return name


def _field(document: dict[str, Any], key: str, json_path: Path) -> Any:
    if key not in document:
        raise CheckpointError(f"{json_path} has no {key!r} entry: the checkpoint is damaged")
    return document[key]


def _typed(document: dict[str, Any], json_path: Path, **kinds: type) -> None:
    """Each named entry, when present and not null, has its JSON type (epoch is required)."""
    _field(document, "epoch", json_path)
    for key, kind in kinds.items():
        value = document.get(key)
        if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            wanted = {int: "a whole number", list: "a list", dict: "an object"}[kind]
            raise CheckpointError(f"{json_path}: \"{key}\" must be {wanted}, got {type(value).__name__} "
                                  f"{value!r:.60}: the checkpoint is damaged")
    for key in ("optimizer", "scheduler"):
        value = document.get(key)
        if isinstance(value, dict) and not isinstance(value.get("class"), str):
            raise CheckpointError(f"{json_path}: \"{key}\" must name its class, got {value!r:.80}")


def _load_folder(folder: Path, json_name: str = JSON_FILE) -> Checkpoint:
    json_path = folder / json_name
    return _from_document(folder, _read_json(json_path), json_path)


def _read_arrays(folder: Path, document: dict[str, Any], kind: str, json_path: Path) -> dict[str, numpy.ndarray]:
    """The arrays of files.<kind>, after checking the file's size and hash against the JSON."""
    name = _entry_name(document, kind, json_path)
    if name is None:
        return {}
    path = folder / name
    entry = document["files"][kind]
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointNotFoundError(f"{json_path} lists {name}, but {path} does not exist") from None
    if len(blob) != entry.get("bytes") or hashlib.sha256(blob).hexdigest() != entry.get("sha256"):
        raise CheckpointError(f"{path} is not the file {json_path} was written with (size or SHA-256 differs): "
                              f"the files come from different saves or are damaged")
    return _parse_safetensors(blob, path)[0]


def _from_document(folder: Path, document: dict[str, Any], json_path: Path) -> Checkpoint:
    model = _field(document, "model", json_path)
    if not isinstance(model, dict) or not isinstance(model.get("name"), str) or \
            not isinstance(model.get("config"), dict):
        raise CheckpointError(f"{json_path}: \"model\" must hold a name and a config, got {model!r}")
    if _entry_name(document, "weights", json_path) is None:
        raise CheckpointError(f"{json_path} lists no weights file: the checkpoint is damaged")
    _typed(document, json_path, epoch=int, history=list, extra=dict, optimizer=dict, scheduler=dict,
           rng_state=dict, loader_state=dict)
    if isinstance(document["epoch"], bool) or document["epoch"] < 0:
        raise CheckpointError(f"{json_path}: \"epoch\" must be a non-negative whole number, got {document['epoch']!r}")
    weights = _read_arrays(folder, document, "weights", json_path)
    optimizer = document.get("optimizer")
    optimizer_state = None
    if optimizer is not None:
        arrays = _read_arrays(folder, document, "optimizer", json_path)
        try:
            optimizer_state = merge_state_dict(optimizer["state"], arrays)
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"{json_path}: the optimizer state cannot be read back: {error!r}") from None
    scheduler = document.get("scheduler")
    return Checkpoint(
        path=folder,
        model_name=model["name"],
        model_config=model["config"],
        weights=weights,
        epoch=_field(document, "epoch", json_path),
        history=document.get("history") or [],
        optimizer_class=None if optimizer is None else optimizer.get("class"),
        optimizer_state=optimizer_state,
        scheduler_class=None if scheduler is None else scheduler.get("class"),
        scheduler_state=None if scheduler is None else scheduler.get("state"),
        rng_state=document.get("rng_state"),
        loader_state=document.get("loader_state"),
        extra=document.get("extra") or {},
        format_version=document["format_version"],
        convpool_version=document.get("convpool_version"),
        created=document.get("created"),
    )


def _load_weights_file(path: Path) -> Checkpoint:
    """A weights file on its own: the model name and config come from its header."""
    weights, metadata = _parse_safetensors(path.read_bytes(), path)
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not a convpool checkpoint: its header has no "
                              f"model name and config (load its arrays with safetensors.numpy.load_file)")
    version = metadata.get("format_version")
    if version not in [str(v) for v in SUPPORTED_VERSIONS]:
        raise CheckpointError(f"{path} has checkpoint format version {version}; this convpool reads "
                              f"version(s) {', '.join(map(str, SUPPORTED_VERSIONS))}")
    try:
        config = json.loads(metadata["model_config"])
        name = metadata["model_name"]
        epoch = int(metadata["epoch"]) if "epoch" in metadata else None
    except (KeyError, ValueError) as error:
        raise CheckpointError(f"{path}: the model name or config in its header cannot be read ({error!r})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: the model config in its header must be a JSON object, got "
                              f"{type(config).__name__} {config!r:.60}")
    return Checkpoint(path=path, model_name=name, model_config=config, weights=weights, epoch=epoch,
                      format_version=int(version))


def _parse_safetensors(blob: bytes, path: Path) -> tuple[dict[str, numpy.ndarray], dict[str, str]]:
    """(arrays, header metadata) of a safetensors file's bytes. The arrays come in the order
    the header's "keys" entry gives (the state_dict's), not the file's storage order."""
    try:
        arrays = safetensors.numpy.load(blob)
        # the format: an 8-byte little-endian header length, then the JSON header
        header = json.loads(blob[8:8 + int.from_bytes(blob[:8], "little")])
    except (safetensors.SafetensorError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable safetensors file: {error}") from None
    metadata = header.get("__metadata__") or {}
    try:
        order = json.loads(metadata.get("keys", "[]"))
    except ValueError:
        order = []
    if sorted(order) == sorted(arrays):
        arrays = {key: arrays[key] for key in order}
    return arrays, metadata


__all__ = [
    "Checkpoint", "CheckpointError", "CheckpointNotFoundError", "save_checkpoint", "load_checkpoint",
    "latest_checkpoint", "check_room", "FORMAT_VERSION",
]
