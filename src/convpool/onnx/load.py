"""`convpool.onnx.load(path)`: an ONNX CNN as a trainable convpool Module.

The graph is kept as a list of nodes and run in order by `OnnxModule.forward`, each node
through its translation in `ops_in` (convpool ops, so autograd works through the whole
graph). Floating initializers become Parameters (BatchNormalization's mean and variance
become buffers; constants read as shapes, scales or bounds stay arrays), named after the
initializer with its dots as module nesting, so `state_dict()` keys are the exporter's own
names (a network exported from PyTorch keeps PyTorch's parameter names).

The module starts in eval mode, as the inference graph is written; `.train()` switches
batch normalization to batch statistics (updating the running ones) and dropout on, for
fine-tuning.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import numpy

from ..nn.module import Module, Parameter
from ..tensor import Tensor, no_grad
from .ops_in import BUFFER_INPUTS, OPS, STATIC_INPUTS, Context, Node

_DOMAINS = ("", "ai.onnx")
MIN_OPSET, MAX_OPSET = 7, 25


class UnsupportedOnnxError(ValueError):
    """The ONNX file uses operators (or an opset) that convpool.onnx.load does not translate."""


def _require_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("convpool.onnx needs the onnx package: pip install onnx") from None
    return onnx


def _attributes(onnx, node) -> dict[str, Any]:
    attrs = {}
    for a in node.attribute:
        if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
            raise UnsupportedOnnxError(f"node {node.name or node.op_type!r} ({node.op_type}): subgraph attributes "
                                       f"(control flow) are not supported")
        value = onnx.helper.get_attribute_value(a)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, onnx.TensorProto):
            value = onnx.numpy_helper.to_array(value)
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode() for v in value]
        elif a.type == onnx.AttributeProto.FLOAT:  # float32 on file: its shortest decimal (0.9, not 0.8999999762)
            value = float(str(numpy.float32(value)))
        elif a.type == onnx.AttributeProto.FLOATS:
            value = [float(str(numpy.float32(v))) for v in value]
        attrs[a.name] = value
    return attrs


class _Holder(Module):
    """An empty module that groups Parameters by the dotted prefix of their names."""

    def forward(self, *args):  # pragma: no cover - never called
        raise RuntimeError("a parameter holder is not a layer")


class OnnxModule(Module):
    """An imported ONNX graph: call it with the graph's inputs (convpool Tensors or arrays);
    returns its output, or a tuple for several."""

    def __init__(self, nodes: list[Node], inputs: list[tuple[str, tuple, numpy.dtype]], outputs: list[str],
                 constants: dict[str, numpy.ndarray], opset: int, source: str) -> None:
        super().__init__()
        self.nodes, self.input_specs, self.output_names = nodes, inputs, outputs
        self.constants, self.opset, self.source = constants, opset, source
        self.slots: dict[str, tuple[str, str]] = {}  # initializer name -> (module path, attribute)

    def add_initializer(self, name: str, value: Tensor, kind: str) -> None:
        """Register an initializer as a Parameter or buffer under its own (dotted) name."""
        parts = [p for p in name.split(".")]
        if not all(parts) or any(p in ("training", "forward") or p.startswith("_") for p in parts):
            parts = [re.sub(r"\W", "_", name).strip("_") or "value"]
        owner: Module = self
        for p in parts[:-1]:
            child = owner._modules.get(p)
            if child is None:
                if p in owner.__dict__ or p in owner._parameters or p in owner._buffers or hasattr(type(owner), p):
                    return self.add_initializer(re.sub(r"\W", "_", name), value, kind)
                child = _Holder()
                owner.add_module(p, child)
            owner = child
        leaf = parts[-1]
        if (leaf in owner._modules or leaf in owner._parameters or leaf in owner._buffers
                or leaf in owner.__dict__ or hasattr(type(owner), leaf)):
            return self.add_initializer(f"{re.sub(chr(92) + 'W', '_', name)}_{len(self.slots)}", value, kind)
        if kind == "parameter":
            owner.register_parameter(leaf, Parameter(value.data))
        else:
            owner.register_buffer(leaf, value)
        self.slots[name] = (".".join(parts[:-1]), leaf)

    def _initializer(self, name: str) -> Tensor:
        path, leaf = self.slots[name]
        owner: Module = self
        for p in path.split(".") if path else []:
            owner = owner._modules[p]
        return owner._parameters.get(leaf) if leaf in owner._parameters else owner._buffers[leaf]

    def forward(self, *inputs):
        return self.run(inputs)

    def run(self, inputs: Sequence[Any], observer: Any = None):
        """The graph's outputs for inputs; observer(node, outputs), if given, sees every node as it runs."""
        if len(inputs) != len(self.input_specs):
            names = ", ".join(n for n, _, _ in self.input_specs)
            raise ValueError(f"{self.source}: the graph takes {len(self.input_specs)} input(s) ({names}), "
                             f"got {len(inputs)}")
        values: dict[str, Any] = dict(self.constants)
        for name in self.slots:
            values[name] = self._initializer(name)
        for (name, shape, dtype), value in zip(self.input_specs, inputs, strict=True):
            value = value if isinstance(value, Tensor) else Tensor(numpy.asarray(value, dtype=dtype))
            _check_input(self.source, name, shape, value)
            values[name] = value
        context = Context(training=self.training)
        for node in self.nodes:
            args = [values[n] if n else None for n in node.inputs]
            try:
                results = OPS[node.op_type](context, node, args)
            except (ValueError, TypeError, IndexError, KeyError) as error:
                message = str(error)
                if node.where not in message:
                    message = f"{node.where}: {message}"
                raise type(error)(message) from error
            for out, value in zip(node.outputs, results, strict=False):
                if out:
                    values[out] = value
            if observer is not None:
                observer(node, results)
        outputs = [values[n] if isinstance(values[n], Tensor) else Tensor(values[n]) for n in self.output_names]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """The output's shape for an input of input_shape (found by running zeros through the graph)."""
        name, shape, dtype = self.input_specs[0]
        input_shape = tuple(input_shape)
        if len(input_shape) == len(shape) - 1:
            input_shape = (1, *input_shape)
            with no_grad():
                y = self(Tensor(numpy.zeros(input_shape, dtype=dtype)))
            return tuple(y.shape[1:]) if isinstance(y, Tensor) else tuple(y[0].shape[1:])
        with no_grad():
            y = self(Tensor(numpy.zeros(input_shape, dtype=dtype)))
        return tuple(y.shape) if isinstance(y, Tensor) else tuple(y[0].shape)

    def node_table(self, input_shape: Sequence[int]) -> str:
        """One line per node: name, op type, output shape and the parameters it reads first, for one
        input of input_shape (without the batch axis)."""
        name, shape, dtype = self.input_specs[0]
        rows: list[tuple[str, str, str, int]] = []
        seen: set[str] = set()

        def observe(node: Node, results) -> None:
            count = 0
            for i in node.inputs:
                if i in self.slots and i not in seen:
                    seen.add(i)
                    count += self._initializer(i).numel()
            first = results[0] if results else None
            rows.append((node.name, node.op_type, str(tuple(first.shape)) if first is not None else "-", count))

        with no_grad():
            self.run([Tensor(numpy.zeros((1, *tuple(input_shape)), dtype=dtype))], observe)
        widths = [max(len(r[0]) for r in rows + [("node", "", "", 0)]), max(len(r[1]) for r in rows + [("", "op", "",
                                                                                                      0)])]
        lines = [f"{'node':<{widths[0]}}  {'op':<{widths[1]}}  {'output shape':<22} {'parameters':>10}"]
        lines += [f"{n:<{widths[0]}}  {o:<{widths[1]}}  {s:<22} {c:>10,}" for n, o, s, c in rows]
        total = sum(p.numel() for p in self.parameters())
        lines.append(f"{len(rows)} nodes, {total:,} trainable parameters")
        return "\n".join(lines)

    def extra_repr(self) -> str:
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
        ops = ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))
        return f"source={self.source!r}, opset={self.opset}, nodes={len(self.nodes)} ({ops})"


def _check_input(source: str, name: str, shape: tuple, value: Tensor) -> None:
    if len(shape) != value.ndim or any(isinstance(s, int) and s != n for s, n in zip(shape, value.shape,
                                                                                       strict=False)):
        want = tuple(s if isinstance(s, int) else "?" for s in shape)
        raise ValueError(f"{source}: input {name!r} must have shape {want}, got {value.shape}")


def _dims(value_info) -> tuple:
    dims = []
    for d in value_info.type.tensor_type.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?"))
    return tuple(dims)


def load(path: str | os.PathLike) -> OnnxModule:
    """Build a trainable convpool Module from the ONNX model at path (see the module docstring).

    Raises UnsupportedOnnxError naming every unsupported op type (with a node name) at once."""
    onnx = _require_onnx()
    source = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{source}: no such ONNX file")
    try:
        model = onnx.load(os.fspath(path))
    except Exception as e:  # a damaged protobuf raises several types
        raise ValueError(f"{source}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    return from_model(model, source)


def from_model(model, source: str = "<onnx model>") -> OnnxModule:
    """The Module for an in-memory onnx.ModelProto."""
    onnx = _require_onnx()
    from onnx import numpy_helper

    graph = model.graph
    opsets = {o.domain: o.version for o in model.opset_import}
    opset = opsets.get("", opsets.get("ai.onnx", 0))
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise UnsupportedOnnxError(f"{source}: opset {opset} is not supported (opsets {MIN_OPSET} to {MAX_OPSET})")
    unsupported: dict[str, str] = {}
    nodes: list[Node] = []
    for i, proto in enumerate(graph.node):
        name = proto.name or f"{proto.op_type}_{i}"
        if proto.domain not in _DOMAINS or proto.op_type not in OPS:
            key = proto.op_type if proto.domain in _DOMAINS else f"{proto.domain}.{proto.op_type}"
            unsupported.setdefault(key, name)
            continue
        try:
            attrs = _attributes(onnx, proto)
        except UnsupportedOnnxError:
            unsupported.setdefault(proto.op_type, name)
            continue
        nodes.append(Node(proto.op_type, name, attrs, list(proto.input), list(proto.output), opset,
                          f"{source}: node {name!r} ({proto.op_type})"))
    if unsupported:
        listed = ", ".join(f"{op} (node {name!r})" for op, name in sorted(unsupported.items()))
        raise UnsupportedOnnxError(f"{source}: unsupported ONNX operator(s): {listed}")

    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    static_uses, buffer_uses, tensor_uses = set(), set(), set()
    for node in nodes:
        for j, name in enumerate(node.inputs):
            if j in STATIC_INPUTS.get(node.op_type, ()):
                static_uses.add(name)
            elif j in BUFFER_INPUTS.get(node.op_type, ()):
                buffer_uses.add(name)
            else:
                tensor_uses.add(name)
    inputs = [(vi.name, _dims(vi), numpy.dtype(onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)))
              for vi in graph.input if vi.name not in initializers]
    constants: dict[str, numpy.ndarray] = {}
    module = OnnxModule(nodes, inputs, [o.name for o in graph.output], constants, opset, source)
    for name, array in initializers.items():
        floating = array.dtype.kind == "f"
        if floating and name in buffer_uses and name not in tensor_uses:
            module.add_initializer(name, Tensor(array.copy()), "buffer")
        elif floating and name in tensor_uses:
            module.add_initializer(name, Tensor(array.copy()), "parameter")
        else:
            constants[name] = array
    return module.eval()
