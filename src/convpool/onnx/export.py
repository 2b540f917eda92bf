"""`convpool.onnx.export(model, example_input, path)`: a convpool Module as an ONNX file.

The model runs once on the example input in eval mode while `trace.recording` reports each op
it calls; `ops_out` turns each into ONNX nodes. Parameters and buffers become initializers
under their state_dict names; other tensors the forward pass meets that do not come from the
input are baked in as constants. With dynamic_batch the first axis of inputs and outputs is
named "batch" and reshapes keep it (0 in the target shape), so any batch size runs.

`preprocessing={"scale": s, "mean": [...], "std": [...]}` puts ((x * s) - mean) / std in
front of the network, so a consumer feeds raw pixel values.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy

from ..nn.module import Module
from ..tensor import Tensor, no_grad
from .ops_out import EMITTERS, UnmappedOpError
from .trace import Recorder, recording

DEFAULT_OPSET = 17
MIN_EXPORT_OPSET, MAX_EXPORT_OPSET = 13, 21


@dataclass
class ExportedModel:
    """What export wrote: the file and the names and shapes ("batch" for a dynamic axis) of the graph's ends."""

    path: Path
    inputs: list[tuple[str, tuple]]
    outputs: list[tuple[str, tuple]]
    opset: int
    nodes: int


class _Graph(Recorder):
    def __init__(self, opset: int, dynamic_batch: bool, constant_names: dict[int, str]):
        self.opset, self.dynamic_batch = opset, dynamic_batch
        self.nodes: list[Any] = []
        self.initializers: dict[str, numpy.ndarray] = {}
        self.names: dict[int, str] = {}  # id(tensor) -> value name
        self.batched: set[int] = set()  # ids of tensors whose first axis is the batch
        self.keep: list[Tensor] = []  # every named tensor stays alive, so ids are not reused
        self.constant_names = constant_names
        self.constant_derived: set[int] = set()  # ids of op outputs computed from constants alone
        self.built: dict[int, weakref.ref] = {}  # tensors ops built during the recording
        self.counter = 0
        self.current_op, self.current_layer = "", ""
        self.batch = None

    # ----- names -----------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        self.counter += 1
        return f"{hint}_{self.counter}"

    def bind(self, tensor: Tensor, name: str, batched: bool = False) -> None:
        self.names[id(tensor)] = name
        self.keep.append(tensor)
        if batched:
            self.batched.add(id(tensor))

    def is_batched(self, tensor: Tensor) -> bool:
        return id(tensor) in self.batched

    def constant(self, array: numpy.ndarray, hint: str = "const") -> str:
        name = self.fresh(hint)
        self.initializers[name] = numpy.ascontiguousarray(array)
        return name

    def scalar(self, value: float, like: Tensor) -> str:
        return self.constant(numpy.array(value, dtype=like.dtype))

    def value(self, item: Any) -> str:
        """The value name of a node input: a recorded tensor, a parameter/buffer, a baked constant or a name."""
        if isinstance(item, str):
            return item
        if not isinstance(item, Tensor):
            raise TypeError(f"not a tensor: {type(item).__name__}")
        name = self.names.get(id(item))
        if name is None:
            self._refuse_unrecorded(item)
            name = self.constant_names.get(id(item)) or self.fresh("const")
            if name not in self.initializers:
                self.initializers[name] = numpy.ascontiguousarray(item.numpy() if not item.requires_grad
                                                                  else item.detach().numpy())
            self.bind(item, name)
        return name

    def operand(self, item: Any, like: Any) -> str:
        """A tensor, or a Python/NumPy number as a constant of `like`'s dtype (x * 0.5 stays float32)."""
        if isinstance(item, Tensor):
            return self.value(item)
        array = numpy.asarray(item)
        if isinstance(like, Tensor) and array.ndim == 0 and (like.dtype.kind == "f" or array.dtype.kind != "f"):
            array = array.astype(like.dtype)
        return self.constant(array)

    # ----- nodes -------------------------------------------------------------------------------
    def node(self, op_type: str, inputs: Sequence[Any], out: Any = None, **attrs) -> str:
        """Append a node; bind its (first) output to the tensor out, or to a fresh name. Returns that name."""
        from onnx import helper

        names = ["" if i is None or isinstance(i, str) and not i else self.value(i) for i in inputs]
        while names and names[-1] == "":
            names.pop()
        output = self.fresh(op_type.lower())
        if isinstance(out, Tensor):
            self.bind(out, output)
        self.nodes.append(helper.make_node(op_type, names, [output], name=self.fresh(f"{op_type}_node"), **attrs))
        return output

    def node_outputs(self, op_type: str, inputs: Sequence[Any], count: int, **attrs) -> list[str]:
        """Append a node with count outputs (MaxPool's values and indices); returns their fresh names."""
        first = self.node(op_type, inputs, None, **attrs)
        extra = [self.fresh(f"{op_type.lower()}_out") for _ in range(count - 1)]
        self.nodes[-1].output.extend(extra)
        return [first, *extra]

    def alias(self, out: Tensor, source: Tensor) -> None:
        self.bind(out, self.value(source))

    def alias_name(self, out: Tensor, name: str) -> None:
        self.bind(out, name)

    def unmapped(self, op: str, why: str) -> None:
        layer = f" in layer {self.current_layer}" if self.current_layer else ""
        raise UnmappedOpError(f"convpool.onnx.export: op {op!r}{layer} has no ONNX mapping: {why}")

    # ----- the recorder interface ------------------------------------------------------------
    def created(self, tensor: Tensor) -> None:
        self.built[id(tensor)] = weakref.ref(tensor)

    def record(self, op: str, arguments: dict[str, Any], output: Any, layer: str) -> None:
        self.current_op, self.current_layer = op, layer
        if not self._touches_traced(arguments):  # computed from constants only: baked in where it is used
            for item in output if isinstance(output, tuple) else (output,):
                if isinstance(item, Tensor):
                    self.constant_derived.add(id(item))
                    self.keep.append(item)
            return
        emitter = EMITTERS.get(op)
        if emitter is None:
            self.unmapped(op, "no exporter for this op")
        emitter(self, arguments, output)
        for item in output if isinstance(output, tuple) else (output,):
            if isinstance(item, Tensor) and id(item) in self.names:
                self._propagate_batch(arguments, item)

    def _propagate_batch(self, arguments: dict[str, Any], out: Tensor) -> None:
        """out's first axis is the batch when an input's is and the length is the batch size."""
        def batched(v):
            if isinstance(v, Tensor):
                return self.is_batched(v)
            return isinstance(v, list | tuple) and any(batched(i) for i in v)
        if any(batched(v) for v in arguments.values()) and out.ndim and out.shape[0] == self.batch:
            self.batched.add(id(out))

    def _refuse_unrecorded(self, item: Tensor) -> None:
        """An input that an op built during the recording, yet neither recorded nor made from constants."""
        ref = self.built.get(id(item))
        if ref is not None and ref() is item and id(item) not in self.constant_derived and id(item) not in self.names:
            self.unmapped(item._name, "the op that made this input was not recorded (export wraps the "
                                      "convpool.functional functions and the Tensor ops)")

    def _touches_traced(self, arguments: dict[str, Any]) -> bool:
        def traced(v):
            if isinstance(v, Tensor):
                self._refuse_unrecorded(v)
                return id(v) in self.names and self.names[id(v)] not in self.initializers
            if isinstance(v, list | tuple):
                return any(traced(i) for i in v)
            return False
        return any(traced(v) for v in arguments.values())



def _as_inputs(example_input) -> list[Tensor]:
    items = example_input if isinstance(example_input, tuple | list) else (example_input,)
    return [t if isinstance(t, Tensor) else Tensor(numpy.asarray(t)) for t in items]


def _dims(shape: tuple, dynamic: bool) -> tuple:
    return ("batch", *shape[1:]) if dynamic and shape else tuple(shape)


def export(model: Module, example_input, path: str | os.PathLike, opset_version: int = DEFAULT_OPSET,
           dynamic_batch: bool = True, input_names: Sequence[str] | None = None,
           output_names: Sequence[str] | None = None,
           preprocessing: Mapping[str, Any] | None = None,
           metadata: Mapping[str, str] | None = None) -> ExportedModel:
    """Write model as an ONNX file at path (see the module docstring); returns what was written.
    metadata: string pairs stored in the model's metadata_props (convpool export stores the
    network's config there, for `convpool predict model.onnx`)."""
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise ImportError("convpool.onnx.export needs the onnx package: pip install onnx") from None
    if not isinstance(model, Module):
        raise TypeError(f"export: model must be a convpool.nn.Module, got {type(model).__name__}")
    if not MIN_EXPORT_OPSET <= opset_version <= MAX_EXPORT_OPSET:
        raise ValueError(f"export: opset_version must be between {MIN_EXPORT_OPSET} and {MAX_EXPORT_OPSET}, "
                         f"got {opset_version}")
    inputs = _as_inputs(example_input)
    input_names = list(input_names) if input_names is not None else (
        ["input"] if len(inputs) == 1 else [f"input_{i}" for i in range(len(inputs))])
    if len(input_names) != len(inputs):
        raise ValueError(f"export: {len(input_names)} input_names for {len(inputs)} example inputs")
    constant_names = {id(t): name for name, t in model.state_dict(keep_vars=True).items() if t is not None}
    graph = _Graph(opset_version, dynamic_batch, constant_names)
    graph.batch = inputs[0].shape[0] if inputs[0].ndim else None
    feeds: list[Tensor] = []
    for name, t in zip(input_names, inputs, strict=True):
        graph.bind(t, name, batched=dynamic_batch and t.ndim > 0)
        feeds.append(t)
    if preprocessing is not None:
        feeds[0] = _preprocess(graph, inputs[0], input_names[0], preprocessing)
    module_names = {id(m): name or "<model>" for name, m in model.named_modules()}
    was_training = model.training
    model.eval()
    try:
        with no_grad(), recording(graph, module_names):
            result = model(*feeds)
    finally:
        model.train(was_training)
    results = list(result) if isinstance(result, tuple | list) else [result]
    output_names = list(output_names) if output_names is not None else (
        ["output"] if len(results) == 1 else [f"output_{i}" for i in range(len(results))])
    if len(output_names) != len(results):
        raise ValueError(f"export: {len(output_names)} output_names for {len(results)} outputs")
    for name, value in zip(output_names, results, strict=True):
        if not isinstance(value, Tensor) or id(value) not in graph.names:
            raise ValueError(f"export: output {name!r} does not depend on the input (a constant or not a tensor)")
        graph.nodes.append(helper.make_node("Identity", [graph.names[id(value)]], [name], name=f"{name}_identity"))

    graph.nodes = _live(graph.nodes, output_names)
    used = {i for node in graph.nodes for i in node.input}
    graph.initializers = {k: v for k, v in graph.initializers.items() if k in used}

    def info(name: str, t: Tensor, dynamic: bool):
        elem = helper.np_dtype_to_tensor_dtype(t.dtype)
        return helper.make_tensor_value_info(name, elem, list(_dims(t.shape, dynamic)))

    graph_inputs = [info(name, t, dynamic_batch) for name, t in zip(input_names, inputs, strict=True)]
    graph_outputs = [info(name, t, dynamic_batch and graph.is_batched(t)) for name, t in zip(output_names, results,
                                                                                            strict=True)]
    initializers = [numpy_helper.from_array(array, name) for name, array in graph.initializers.items()]
    onnx_graph = helper.make_graph(graph.nodes, type(model).__name__, graph_inputs, graph_outputs, initializers)
    onnx_model = helper.make_model_gen_version(onnx_graph, opset_imports=[helper.make_opsetid("", opset_version)],
                                               producer_name="convpool")
    for key, text in (metadata or {}).items():
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = str(key), str(text)
    onnx.checker.check_model(onnx_model)
    path = Path(path)
    _write_atomically(path, onnx_model.SerializeToString())
    return ExportedModel(path, [(n, _dims(t.shape, dynamic_batch)) for n, t in zip(input_names, inputs, strict=True)],
                         [(n, _dims(t.shape, dynamic_batch and graph.is_batched(t)))
                          for n, t in zip(output_names, results, strict=True)], opset_version,
                         len(graph.nodes))


def _preprocess(graph: _Graph, raw: Tensor, name: str, preprocessing: Mapping[str, Any]) -> Tensor:
    """((raw * scale) - mean) / std as nodes; returns the tensor the model runs on."""
    from onnx import helper

    scale = float(preprocessing.get("scale", 1.0))
    channels = raw.shape[1] if raw.ndim > 1 else 1
    shape = (1, channels) + (1,) * max(0, raw.ndim - 2)
    mean = numpy.asarray(preprocessing.get("mean", 0.0), raw.dtype).reshape(-1)
    std = numpy.asarray(preprocessing.get("std", 1.0), raw.dtype).reshape(-1)
    mean = numpy.broadcast_to(mean, (channels,)).reshape(shape).astype(raw.dtype)
    std = numpy.broadcast_to(std, (channels,)).reshape(shape).astype(raw.dtype)
    scaled = graph.fresh("scaled")
    centred = graph.fresh("centred")
    normalised = graph.fresh("normalised")
    graph.nodes += [helper.make_node("Mul", [name, graph.constant(numpy.array(scale, raw.dtype), "scale")], [scaled],
                                     name="preprocess_scale"),
                    helper.make_node("Sub", [scaled, graph.constant(mean, "mean")], [centred], name="preprocess_mean"),
                    helper.make_node("Div", [centred, graph.constant(std, "std")], [normalised], name="preprocess_std")]
    data = ((raw.numpy() * scale) - mean) / std
    model_input = Tensor(data.astype(raw.dtype))
    graph.bind(model_input, normalised, batched=graph.dynamic_batch)
    return model_input


def _live(nodes: list, outputs: list[str]) -> list:
    """The nodes the outputs depend on, in order (an unused ArgMax of a max(dim) call goes)."""
    needed, kept = set(outputs), []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    return kept[::-1]


def _write_atomically(path: Path, blob: bytes) -> None:
    """Write to a temporary file beside path and rename it into place: an existing file is replaced whole or kept."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"export: the folder {folder} does not exist (for {path})")
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


__all__ = ["export", "ExportedModel", "UnmappedOpError", "DEFAULT_OPSET"]
