"""convpool ops as ONNX nodes, for `convpool.onnx.export`: one emitter per recorded op.

An emitter gets the graph being written, the op's bound arguments (as the function was
called, defaults filled in) and its output, writes the nodes that compute the same thing
with the op's attributes (stride, padding, dilation, groups, ceil mode, ...) and binds the
output tensor(s) to the produced value names. Eval-mode semantics: batch norm uses the
running statistics, dropout is the identity, RReLU the leaky ReLU of its mean slope. An op
with no emitter (the losses: training only), or arguments with no ONNX equivalent (an
adaptive max pooling's indices, Embedding's max_norm), raise UnmappedOpError naming the op and the layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy

from ..ops.args import ntuple
from ..shapes import adaptive_windows, same_padding
from ..tensor import Tensor

INT64_MAX, INT64_MIN = 2 ** 63 - 1, -(2 ** 63)


class UnmappedOpError(ValueError):
    """A recorded op (or its arguments) has no ONNX equivalent."""


Emitter = Callable[[Any, dict, Any], None]
EMITTERS: dict[str, Emitter] = {}


def emits(*names: str):
    def register(fn: Emitter) -> Emitter:
        for name in names:
            EMITTERS[name] = fn
        return fn
    return register


def _spatial(graph, op: str, x: Tensor, nd: int) -> None:
    if x.ndim != nd + 2:
        graph.unmapped(op, f"only batched input (N, C, {'spatial, ' * nd}) exports, got shape {x.shape}")


# ----- convolutions ------------------------------------------------------------------------
def _conv(nd: int):
    def emit(graph, a: dict, out: Tensor) -> None:
        op = f"conv{nd}d"
        x, w = a["input"], a["weight"]
        _spatial(graph, op, x, nd)
        kernel = w.shape[2:]
        stride = ntuple("stride", a["stride"], nd, 1, op)
        dilation = ntuple("dilation", a["dilation"], nd, 1, op)
        padding = a["padding"]
        if padding == "valid":
            pairs = [(0, 0)] * nd
        elif padding == "same":
            pairs = [same_padding(k, d) for k, d in zip(kernel, dilation, strict=True)]
        else:
            pairs = [(p, p) for p in ntuple("padding", padding, nd, 0, op)]
        inputs = [x, w] + ([a["bias"]] if a["bias"] is not None else [])
        graph.node("Conv", inputs, out, kernel_shape=list(kernel), strides=list(stride), dilations=list(dilation),
                   pads=[p[0] for p in pairs] + [p[1] for p in pairs], group=int(a["groups"]))
    return emit


def _conv_transpose(nd: int):
    def emit(graph, a: dict, out: Tensor) -> None:
        op = f"conv_transpose{nd}d"
        x, w = a["input"], a["weight"]
        _spatial(graph, op, x, nd)
        padding = list(ntuple("padding", a["padding"], nd, 0, op))
        inputs = [x, w] + ([a["bias"]] if a["bias"] is not None else [])
        graph.node("ConvTranspose", inputs, out, kernel_shape=list(w.shape[2:]),
                   strides=list(ntuple("stride", a["stride"], nd, 1, op)),
                   dilations=list(ntuple("dilation", a["dilation"], nd, 1, op)), pads=padding + padding,
                   output_padding=list(ntuple("output_padding", a["output_padding"], nd, 0, op)),
                   group=int(a["groups"]))
    return emit


for _nd in (1, 2, 3):
    EMITTERS[f"conv{_nd}d"] = _conv(_nd)
    EMITTERS[f"conv_transpose{_nd}d"] = _conv_transpose(_nd)


# ----- pooling -----------------------------------------------------------------------------
def _pool_attributes(op: str, a: dict, nd: int) -> dict:
    kernel = ntuple("kernel_size", a["kernel_size"], nd, 1, op)
    stride = kernel if a.get("stride") in (None, ()) else ntuple("stride", a["stride"], nd, 1, op)
    padding = list(ntuple("padding", a.get("padding", 0), nd, 0, op))
    return {"kernel_shape": list(kernel), "strides": list(stride), "pads": padding + padding,
            "ceil_mode": int(bool(a.get("ceil_mode", False)))}


def _max_pool(nd: int):
    def emit(graph, a: dict, out) -> None:
        op = f"max_pool{nd}d"
        _spatial(graph, op, a["input"], nd)
        attrs = _pool_attributes(op, a, nd)
        attrs["dilations"] = list(ntuple("dilation", a["dilation"], nd, 1, op))
        if not a["return_indices"]:
            graph.node("MaxPool", [a["input"]], out, **attrs)
            return
        # ONNX's indices are flat over the whole (N, C, *spatial) input; convpool's (PyTorch's) over one plane
        values, indices = out
        value_name, flat = graph.node_outputs("MaxPool", [a["input"]], 2, **attrs)
        graph.alias_name(values, value_name)
        plane = graph.constant(numpy.array(math.prod(a["input"].shape[2:]), numpy.int64))
        graph.node("Mod", [flat, plane], indices)
    return emit


def _avg_pool(nd: int):
    def emit(graph, a: dict, out) -> None:
        op = f"avg_pool{nd}d"
        _spatial(graph, op, a["input"], nd)
        if a.get("divisor_override") is not None:
            graph.unmapped(op, f"divisor_override={a['divisor_override']}")
        attrs = _pool_attributes(op, a, nd)
        attrs["count_include_pad"] = int(bool(a["count_include_pad"]))
        graph.node("AveragePool", [a["input"]], out, **attrs)
    return emit


def _lp_pool(nd: int):
    def emit(graph, a: dict, out) -> None:
        """convpool's (and PyTorch's) definition: (window sum of x**p) ** (1/p)."""
        op = f"lp_pool{nd}d"
        x, p = a["input"], float(a["norm_type"])
        _spatial(graph, op, x, nd)
        attrs = _pool_attributes(op, a, nd)
        attrs["count_include_pad"] = 1
        powered = graph.node("Pow", [x, graph.scalar(p, x)])
        mean = graph.node("AveragePool", [powered], **attrs)
        total = graph.node("Mul", [mean, graph.scalar(float(math.prod(attrs["kernel_shape"])), x)])
        graph.node("Pow", [total, graph.scalar(1.0 / p, x)], out)
    return emit


def _adaptive(kind: str, nd: int):
    def emit(graph, a: dict, out) -> None:
        op = f"adaptive_{kind}_pool{nd}d"
        x = a["input"]
        _spatial(graph, op, x, nd)
        if kind == "max" and a.get("return_indices"):
            graph.unmapped(op, "return_indices=True")
        sizes = x.shape[2:]
        target = (out[0] if isinstance(out, tuple) else out).shape[2:]
        if all(o == 1 for o in target):
            graph.node("GlobalAveragePool" if kind == "avg" else "GlobalMaxPool", [x], out)
            return
        if any(n % o for n, o in zip(sizes, target, strict=True)):
            graph.alias_name(out[0] if isinstance(out, tuple) else out, _adaptive_by_axis(graph, kind, x, target))
            return
        kernel = [n // o for n, o in zip(sizes, target, strict=True)]
        graph.node("AveragePool" if kind == "avg" else "MaxPool", [x], out, kernel_shape=kernel, strides=kernel)
    return emit


def _adaptive_by_axis(graph, kind: str, x: Tensor, target) -> str:
    """Windows of unequal length (floor(i n / o) to ceil((i + 1) n / o)), one spatial axis at a time: a mean
    or max over a box is the mean or max along each of its axes in turn. One Slice and Reduce per window."""
    reduce = "ReduceMean" if kind == "avg" else "ReduceMax"
    y: Any = x
    for axis, (size, count) in enumerate(zip(x.shape[2:], target, strict=True), start=2):
        windows = adaptive_windows(size, count)
        if all(end - start == 1 for start, end in windows) and count == size:
            continue
        parts = [_reduce(graph, reduce, graph.node("Slice", [y, graph.constant(numpy.array([start], numpy.int64)),
                                                             graph.constant(numpy.array([end], numpy.int64)),
                                                             graph.constant(numpy.array([axis], numpy.int64))]),
                         [axis], True, None) for start, end in windows]
        y = graph.node("Concat", parts, axis=axis) if len(parts) > 1 else parts[0]
    return y if isinstance(y, str) else graph.node("Identity", [y])


for _nd in (1, 2, 3):
    EMITTERS[f"max_pool{_nd}d"] = _max_pool(_nd)
    EMITTERS[f"avg_pool{_nd}d"] = _avg_pool(_nd)
for _nd in (1, 2):
    EMITTERS[f"lp_pool{_nd}d"] = _lp_pool(_nd)
    EMITTERS[f"adaptive_avg_pool{_nd}d"] = _adaptive("avg", _nd)
    EMITTERS[f"adaptive_max_pool{_nd}d"] = _adaptive("max", _nd)


# ----- activations -----------------------------------------------------------------------
def _simple(op_type: str):
    def emit(graph, a: dict, out) -> None:
        graph.node(op_type, [a["input"] if "input" in a else a["a"]], out)
    return emit


for _name, _op in (("relu", "Relu"), ("sigmoid", "Sigmoid"), ("tanh", "Tanh"), ("neg", "Neg"), ("abs", "Abs"),
                   ("exp", "Exp"), ("log", "Log"), ("sqrt", "Sqrt")):
    EMITTERS[_name] = _simple(_op)


@emits("leaky_relu")
def _leaky_relu(graph, a: dict, out) -> None:
    graph.node("LeakyRelu", [a["input"]], out, alpha=float(a["negative_slope"]))


@emits("elu")
def _elu(graph, a: dict, out) -> None:
    graph.node("Elu", [a["input"]], out, alpha=float(a["alpha"]))


@emits("silu")
def _silu(graph, a: dict, out) -> None:
    graph.node("Mul", [a["input"], graph.node("Sigmoid", [a["input"]])], out)


@emits("gelu")
def _gelu(graph, a: dict, out) -> None:
    x = a["input"]
    if a["approximate"] == "tanh":  # x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = graph.node("Mul", [graph.node("Mul", [x, x]), x])
        inner = graph.node("Add", [x, graph.node("Mul", [cube, graph.scalar(0.044715, x)])])
        t = graph.node("Tanh", [graph.node("Mul", [inner, graph.scalar(math.sqrt(2 / math.pi), x)])])
    else:  # x/2 (1 + erf(x / sqrt 2))
        t = graph.node("Erf", [graph.node("Mul", [x, graph.scalar(1 / math.sqrt(2), x)])])
    one_plus = graph.node("Add", [t, graph.scalar(1.0, x)])
    graph.node("Mul", [graph.node("Mul", [x, graph.scalar(0.5, x)]), one_plus], out)


@emits("softmax", "log_softmax")
def _softmax(graph, a: dict, out) -> None:
    op_type = "Softmax" if graph.current_op == "softmax" else "LogSoftmax"
    graph.node(op_type, [a["input"]], out, axis=int(a["dim"]) % a["input"].ndim)


@emits("dropout", "dropout1d", "dropout2d")
def _dropout(graph, a: dict, out) -> None:
    if a["training"] and a["p"] != 0:
        graph.unmapped(graph.current_op, "dropout in training mode (export runs the model in eval mode)")
    graph.alias(out, a["input"])


# ----- linear and normalisation ----------------------------------------------------------
@emits("linear")
def _linear(graph, a: dict, out) -> None:
    x, w, b = a["input"], a["weight"], a["bias"]
    if x.ndim == 2:
        graph.node("Gemm", [x, w] + ([b] if b is not None else []), out, transB=1)
        return
    product = graph.node("MatMul", [x, graph.node("Transpose", [w], perm=[1, 0])])
    if b is None:
        graph.alias_name(out, product)
    else:
        graph.node("Add", [product, b], out)


@emits("batch_norm")
def _batch_norm(graph, a: dict, out) -> None:
    x = a["input"]
    if a["training"] or a["running_mean"] is None:
        graph.unmapped("batch_norm", "batch statistics (training=True or no running statistics); export runs in "
                                     "eval mode with running statistics")
    channels = x.shape[1]
    weight = a["weight"] if a["weight"] is not None else graph.constant(numpy.ones(channels, x.dtype))
    bias = a["bias"] if a["bias"] is not None else graph.constant(numpy.zeros(channels, x.dtype))
    graph.node("BatchNormalization", [x, weight, bias, a["running_mean"], a["running_var"]], out,
               epsilon=float(a["eps"]))


@emits("layer_norm")
def _layer_norm(graph, a: dict, out) -> None:
    x = a["input"]
    shape = (a["normalized_shape"],) if isinstance(a["normalized_shape"], int) else tuple(a["normalized_shape"])
    if graph.opset < 17:  # LayerNormalization is opset 17: (x - mean) / sqrt(var + eps) * weight + bias
        axes = list(range(x.ndim - len(shape), x.ndim))
        centred = graph.node("Sub", [x, _reduce(graph, "ReduceMean", x, axes, True, None)])
        variance = _reduce(graph, "ReduceMean", graph.node("Mul", [centred, centred]), axes, True, None)
        y = graph.node("Div", [centred, graph.node("Sqrt", [graph.node("Add", [variance,
                                                                                graph.scalar(float(a["eps"]), x)])])])
        if a["weight"] is not None:
            y = graph.node("Mul", [y, a["weight"]])
        if a["bias"] is not None:
            y = graph.node("Add", [y, a["bias"]])
        graph.alias_name(out, y)
        return
    weight = a["weight"] if a["weight"] is not None else graph.constant(numpy.ones(shape, x.dtype))
    bias = a["bias"] if a["bias"] is not None else graph.constant(numpy.zeros(shape, x.dtype))
    graph.node("LayerNormalization", [x, weight, bias], out, axis=-len(shape), epsilon=float(a["eps"]))


@emits("group_norm")
def _group_norm(graph, a: dict, out) -> None:
    """(N, C, *) -> (N, G, -1), instance norm per group, back to the input's shape, then the per-channel affine."""
    x, groups = a["input"], int(a["num_groups"])
    grouped = graph.node("Reshape", [x, graph.constant(numpy.array([0, groups, -1], numpy.int64))])
    normed = graph.node("InstanceNormalization", [grouped, graph.constant(numpy.ones(groups, x.dtype)),
                                                  graph.constant(numpy.zeros(groups, x.dtype))],
                        epsilon=float(a["eps"]))
    y = graph.node("Reshape", [normed, graph.node("Shape", [x])])
    per_channel = numpy.array([-1] + [1] * (x.ndim - 2), numpy.int64)
    if a["weight"] is not None:
        y = graph.node("Mul", [y, graph.node("Reshape", [a["weight"], graph.constant(per_channel)])])
    if a["bias"] is not None:
        y = graph.node("Add", [y, graph.node("Reshape", [a["bias"], graph.constant(per_channel)])])
    graph.alias_name(out, y)


@emits("pad")
def _pad(graph, a: dict, out) -> None:
    x, pad = a["input"], list(a["pad"])
    mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[a["mode"]]
    if mode == "wrap" and graph.opset < 19:
        graph.unmapped("pad", f"circular padding needs opset 19 (Pad mode 'wrap'), exporting opset {graph.opset}")
    begins, ends = [0] * x.ndim, [0] * x.ndim
    for i in range(len(pad) // 2):
        axis = x.ndim - 1 - i
        begins[axis], ends[axis] = pad[2 * i], pad[2 * i + 1]
    inputs = [x, graph.constant(numpy.array(begins + ends, numpy.int64))]
    if mode == "constant":
        value = 0.0 if a["value"] is None else float(a["value"])
        inputs.append(graph.constant(numpy.array(value, x.dtype)))
    graph.node("Pad", inputs, out, mode=mode)


# ----- arithmetic --------------------------------------------------------------------------
def _binary(op_type: str):
    def emit(graph, a: dict, out) -> None:
        left, right = a["a"], a["b"]
        like = left if isinstance(left, Tensor) else right
        graph.node(op_type, [graph.operand(left, like), graph.operand(right, like)], out)
    return emit


for _name, _op in (("add", "Add"), ("sub", "Sub"), ("mul", "Mul"), ("div", "Div"), ("pow", "Pow"),
                   ("matmul", "MatMul")):
    EMITTERS[_name] = _binary(_op)


@emits("compare")
def _compare(graph, a: dict, out) -> None:
    left, right = a["a"], a["b"]
    like = left if isinstance(left, Tensor) else right
    inputs = [graph.operand(left, like), graph.operand(right, like)]
    how = a["how"]
    if how == "ne":
        graph.node("Not", [graph.node("Equal", inputs)], out)
    else:
        graph.node({"eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual"}[how],
                   inputs, out)


@emits("where")
def _where(graph, a: dict, out) -> None:
    like = a["a"] if isinstance(a["a"], Tensor) else a["b"]
    condition = a["condition"]
    if not isinstance(condition, Tensor):
        condition = graph.constant(numpy.asarray(condition, dtype=bool))
    elif condition.dtype != numpy.bool_:
        condition = graph.node("Cast", [condition], to=9)
    graph.node("Where", [condition, graph.operand(a["a"], like), graph.operand(a["b"], like)], out)


@emits("clamp")
def _clamp(graph, a: dict, out) -> None:
    x = a["a"]
    low = "" if a["min"] is None else graph.constant(numpy.array(a["min"], out.dtype))
    high = "" if a["max"] is None else graph.constant(numpy.array(a["max"], out.dtype))
    graph.node("Clip", [x, low, high], out)


@emits("cast")
def _cast(graph, a: dict, out) -> None:
    import onnx

    if out is a["a"]:
        graph.alias(out, a["a"])
        return
    graph.node("Cast", [a["a"]], out, to=onnx.helper.np_dtype_to_tensor_dtype(out.dtype))


# ----- reductions --------------------------------------------------------------------------
def _axes(dim, ndim: int) -> list[int] | None:
    if dim is None:
        return None
    dims = [dim] if isinstance(dim, int | numpy.integer) else list(dim)
    return sorted({int(d) % ndim for d in dims})


def _reduce(graph, op_type: str, x: Tensor, axes: list[int] | None, keep: bool, out) -> str:
    attrs: dict[str, Any] = {"keepdims": int(keep)}
    inputs: list[Any] = [x]
    if axes is not None:
        axes_input = op_type == "ReduceSum" or graph.opset >= 18
        if axes_input:
            inputs.append(graph.constant(numpy.array(axes, numpy.int64)))
        else:
            attrs["axes"] = axes
    return graph.node(op_type, inputs, out, **attrs)


@emits("sum", "mean")
def _sum_mean(graph, a: dict, out) -> None:
    x = a["a"]
    _reduce(graph, "ReduceSum" if graph.current_op == "sum" else "ReduceMean", x, _axes(a["dim"], x.ndim),
            bool(a["keepdim"]), out)


@emits("max", "min")
def _max_min(graph, a: dict, out) -> None:
    x, largest = a["a"], graph.current_op == "max"
    if a["dim"] is None:
        _reduce(graph, "ReduceMax" if largest else "ReduceMin", x, None, False, out)
        return
    axis = int(a["dim"]) % x.ndim
    values, indices = out
    _reduce(graph, "ReduceMax" if largest else "ReduceMin", x, [axis], bool(a["keepdim"]), values)
    graph.node("ArgMax" if largest else "ArgMin", [x], indices, axis=axis, keepdims=int(bool(a["keepdim"])))


@emits("argmax")
def _argmax(graph, a: dict, out) -> None:
    x = a["a"]
    if a["dim"] is None:
        flat = graph.node("Reshape", [x, graph.constant(numpy.array([-1], numpy.int64))])
        graph.node("ArgMax", [flat], out, axis=0, keepdims=0)
        return
    graph.node("ArgMax", [x], out, axis=int(a["dim"]) % x.ndim, keepdims=int(bool(a["keepdim"])))


# ----- shapes ------------------------------------------------------------------------------
def _target_shape(graph, x: Tensor, shape) -> numpy.ndarray:
    """The Reshape target; with a dynamic batch a kept leading batch dimension becomes 0 (copy it)."""
    target = [int(n) for n in shape]
    if graph.dynamic_batch and x.ndim and target and target[0] == x.shape[0] and graph.is_batched(x):
        target[0] = 0
    return numpy.array(target, numpy.int64)


@emits("reshape")
def _reshape(graph, a: dict, out) -> None:
    graph.node("Reshape", [a["a"], graph.constant(_target_shape(graph, a["a"], out.shape))], out)


@emits("flatten")
def _flatten(graph, a: dict, out) -> None:
    x = a["a"]
    if x.ndim == 0:
        graph.node("Reshape", [x, graph.constant(numpy.array([1], numpy.int64))], out)
        return
    start, end = int(a["start_dim"]) % x.ndim, int(a["end_dim"]) % x.ndim
    if end == x.ndim - 1 and start >= 1:
        shape = [0] * start + [-1]
    elif end == x.ndim - 1:
        shape = [-1]
    else:
        shape = [0] * start + [-1] + list(x.shape[end + 1:])
    graph.node("Reshape", [x, graph.constant(numpy.array(shape, numpy.int64))], out)


@emits("permute")
def _permute(graph, a: dict, out) -> None:
    graph.node("Transpose", [a["a"]], out, perm=[int(d) % a["a"].ndim for d in a["dims"]])


@emits("transpose")
def _transpose(graph, a: dict, out) -> None:
    perm = list(range(a["a"].ndim))
    d0, d1 = int(a["dim0"]) % a["a"].ndim, int(a["dim1"]) % a["a"].ndim
    perm[d0], perm[d1] = perm[d1], perm[d0]
    graph.node("Transpose", [a["a"]], out, perm=perm)


@emits("unsqueeze")
def _unsqueeze(graph, a: dict, out) -> None:
    axis = int(a["dim"]) % out.ndim
    graph.node("Unsqueeze", [a["a"], graph.constant(numpy.array([axis], numpy.int64))], out)


@emits("squeeze")
def _squeeze(graph, a: dict, out) -> None:
    x = a["a"]
    axes = [i for i, n in enumerate(x.shape) if n == 1] if a["dim"] is None else _axes(a["dim"], x.ndim)
    axes = [i for i in axes if x.shape[i] == 1]
    if not axes:
        graph.alias(out, x)
        return
    graph.node("Squeeze", [x, graph.constant(numpy.array(axes, numpy.int64))], out)


@emits("expand")
def _expand(graph, a: dict, out) -> None:
    x = a["a"]
    lead = out.ndim - x.ndim
    shape = [1 if i >= lead and x.shape[i - lead] == n else n for i, n in enumerate(out.shape)]
    graph.node("Expand", [x, graph.constant(numpy.array(shape, numpy.int64))], out)


@emits("cat")
def _cat(graph, a: dict, out) -> None:
    tensors = list(a["tensors"])
    graph.node("Concat", [graph.operand(t, out) for t in tensors], out, axis=int(a["dim"]) % out.ndim)


@emits("stack")
def _stack(graph, a: dict, out) -> None:
    axis = int(a["dim"]) % out.ndim
    axes = graph.constant(numpy.array([axis], numpy.int64))
    parts = [graph.node("Unsqueeze", [graph.operand(t, out), axes]) for t in a["tensors"]]
    graph.node("Concat", parts, out, axis=axis)


@emits("getitem")
def _getitem(graph, a: dict, out) -> None:
    x, index = a["a"], a["index"]
    index = index if isinstance(index, tuple) else (index,)
    if any(i is Ellipsis for i in index):
        at = index.index(Ellipsis)
        fill = x.ndim - (len(index) - 1 - sum(i is None for i in index))
        index = index[:at] + (slice(None),) * fill + index[at + 1:]
    starts, ends, axes, steps, squeeze, unsqueeze, gathers = [], [], [], [], [], [], []
    axis = 0  # axis of x
    position = 0  # axis of the result before squeezing
    for item in index:
        if item is None:
            unsqueeze.append(position)
            position += 1
            continue
        if isinstance(item, bool) or isinstance(item, Tensor) and item.dtype == numpy.bool_:
            graph.unmapped("getitem", "boolean-mask indexing")
        if isinstance(item, int | numpy.integer):
            i = int(item) % x.shape[axis]
            starts, ends, axes, steps = starts + [i], ends + [i + 1], axes + [axis], steps + [1]
            squeeze.append(axis)
        elif isinstance(item, slice):
            if item != slice(None):
                start, stop, step = item.indices(x.shape[axis])
                if step < 0 and stop < 0:
                    stop = INT64_MIN
                starts, ends, axes, steps = starts + [start], ends + [stop], axes + [axis], steps + [step]
            position += 1
        else:
            gathers.append((axis, numpy.asarray(item.data if isinstance(item, Tensor) else item, numpy.int64)))
            position += 1
        axis += 1
    if len(gathers) > 1 or (gathers and (squeeze or unsqueeze)):
        graph.unmapped("getitem", "advanced indexing with more than one index array (or mixed with ints or None)")
    y: Any = x
    if axes:
        y = graph.node("Slice", [x, graph.constant(numpy.array(starts, numpy.int64)),
                                 graph.constant(numpy.array(ends, numpy.int64)),
                                 graph.constant(numpy.array(axes, numpy.int64)),
                                 graph.constant(numpy.array(steps, numpy.int64))])
    for g_axis, indices in gathers:
        y = graph.node("Gather", [y, graph.constant(indices)], axis=g_axis)
    if squeeze:
        y = graph.node("Squeeze", [y, graph.constant(numpy.array(squeeze, numpy.int64))])
    if unsqueeze:
        y = graph.node("Unsqueeze", [y, graph.constant(numpy.array(unsqueeze, numpy.int64))])
    if y is x:
        graph.alias(out, x)
    else:
        graph.alias_name(out, y)


# ----- more activations, normalisations and resampling ------------------------------------------
@emits("relu6", "hardtanh")
def _clip_activation(graph, a: dict, out) -> None:
    x = a["input"]
    low, high = (0.0, 6.0) if graph.current_op == "relu6" else (float(a["min_val"]), float(a["max_val"]))
    graph.node("Clip", [x, graph.scalar(low, x), graph.scalar(high, x)], out)


@emits("hardsigmoid")
def _hardsigmoid(graph, a: dict, out) -> None:
    graph.node("HardSigmoid", [a["input"]], out, alpha=1 / 6, beta=0.5)


@emits("hardswish")
def _hardswish(graph, a: dict, out) -> None:
    x = a["input"]
    if graph.opset < 14:  # HardSwish is opset 14: x * hardsigmoid(x)
        graph.node("Mul", [x, graph.node("HardSigmoid", [x], alpha=1 / 6, beta=0.5)], out)
        return
    graph.node("HardSwish", [x], out)


@emits("prelu")
def _prelu(graph, a: dict, out) -> None:
    x, w = a["input"], a["weight"]
    slope = w
    if w.numel() > 1 and x.ndim > 2:  # (C,) against (N, C, *): one slope per channel
        slope = graph.node("Reshape", [w, graph.constant(numpy.array([-1] + [1] * (x.ndim - 2), numpy.int64))])
    graph.node("PRelu", [x, slope], out)


@emits("selu")
def _selu(graph, a: dict, out) -> None:
    graph.node("Selu", [a["input"]], out)  # ONNX's default alpha and gamma are PyTorch's constants


@emits("celu")
def _celu(graph, a: dict, out) -> None:
    graph.node("Celu", [a["input"]], out, alpha=float(a["alpha"]))


def _softplus_of(graph, x: Tensor, beta: float, threshold: float) -> str:
    """PyTorch's softplus: log(1 + exp(beta x)) / beta, x itself where beta x > threshold."""
    scaled = x if beta == 1.0 else graph.node("Mul", [x, graph.scalar(beta, x)])
    smooth = graph.node("Softplus", [scaled])
    if beta != 1.0:
        smooth = graph.node("Div", [smooth, graph.scalar(beta, x)])
    linear = graph.node("Greater", [scaled, graph.scalar(threshold, x)])
    return graph.node("Where", [linear, x, smooth])


@emits("softplus")
def _softplus(graph, a: dict, out) -> None:
    graph.alias_name(out, _softplus_of(graph, a["input"], float(a["beta"]), float(a["threshold"])))


@emits("mish")
def _mish(graph, a: dict, out) -> None:
    x = a["input"]
    graph.node("Mul", [x, graph.node("Tanh", [_softplus_of(graph, x, 1.0, 20.0)])], out)


@emits("logsigmoid")
def _logsigmoid(graph, a: dict, out) -> None:  # -softplus(-x), stable for large |x|
    graph.node("Neg", [graph.node("Softplus", [graph.node("Neg", [a["input"]])])], out)


@emits("softsign")
def _softsign(graph, a: dict, out) -> None:
    graph.node("Softsign", [a["input"]], out)


@emits("softmin")
def _softmin(graph, a: dict, out) -> None:
    x = a["input"]
    if a["dim"] is None:
        graph.unmapped("softmin", "dim=None (give the dimension)")
    graph.node("Softmax", [graph.node("Neg", [x])], out, axis=int(a["dim"]) % x.ndim)


@emits("threshold")
def _threshold(graph, a: dict, out) -> None:
    x = a["input"]
    above = graph.node("Greater", [x, graph.scalar(float(a["threshold"]), x)])
    graph.node("Where", [above, x, graph.scalar(float(a["value"]), x)], out)


@emits("glu")
def _glu(graph, a: dict, out) -> None:
    x = a["input"]
    axis = int(a["dim"]) % x.ndim
    half = x.shape[axis] // 2

    def part(start: int, stop: int) -> str:
        return graph.node("Slice", [x, graph.constant(numpy.array([start], numpy.int64)),
                                    graph.constant(numpy.array([stop], numpy.int64)),
                                    graph.constant(numpy.array([axis], numpy.int64))])
    graph.node("Mul", [part(0, half), graph.node("Sigmoid", [part(half, 2 * half)])], out)


for _name in ("dropout3d", "alpha_dropout", "feature_alpha_dropout"):
    EMITTERS[_name] = _dropout
EMITTERS["adaptive_avg_pool3d"] = _adaptive("avg", 3)
EMITTERS["adaptive_max_pool3d"] = _adaptive("max", 3)


@emits("instance_norm")
def _instance_norm(graph, a: dict, out) -> None:
    x = a["input"]
    channels = x.shape[1]
    weight = a["weight"] if a["weight"] is not None else graph.constant(numpy.ones(channels, x.dtype))
    bias = a["bias"] if a["bias"] is not None else graph.constant(numpy.zeros(channels, x.dtype))
    if a["use_input_stats"]:
        graph.node("InstanceNormalization", [x, weight, bias], out, epsilon=float(a["eps"]))
    elif a["running_mean"] is not None and a["running_var"] is not None:
        graph.node("BatchNormalization", [x, weight, bias, a["running_mean"], a["running_var"]], out,
                   epsilon=float(a["eps"]))
    else:
        graph.unmapped("instance_norm", "use_input_stats=False without running statistics")


@emits("local_response_norm")
def _local_response_norm(graph, a: dict, out) -> None:
    size = int(a["size"])
    if size % 2 == 0:
        graph.unmapped("local_response_norm", f"an even size ({size}): PyTorch and ONNX centre its window differently")
    graph.node("LRN", [a["input"]], out, size=size, alpha=float(a["alpha"]), beta=float(a["beta"]),
               bias=float(a["k"]))


@emits("normalize")
def _normalize(graph, a: dict, out) -> None:
    x, p = a["input"], float(a["p"])
    axis = int(a["dim"]) % x.ndim
    axes = graph.constant(numpy.array([axis], numpy.int64))
    if p in (1.0, 2.0):
        reduce = "ReduceL1" if p == 1.0 else "ReduceL2"
        if graph.opset >= 18:
            norm = graph.node(reduce, [x, axes], keepdims=1)
        else:
            norm = graph.node(reduce, [x], axes=[axis], keepdims=1)
    else:
        powered = graph.node("Pow", [graph.node("Abs", [x]), graph.scalar(p, x)])
        norm = graph.node("Pow", [graph.node("ReduceSum", [powered, axes], keepdims=1), graph.scalar(1 / p, x)])
    graph.node("Div", [x, graph.node("Max", [norm, graph.scalar(float(a["eps"]), x)])], out)


@emits("pixel_shuffle")
def _pixel_shuffle(graph, a: dict, out) -> None:
    if a["input"].ndim != 4:
        graph.unmapped("pixel_shuffle", f"only (N, C, H, W) input, got shape {a['input'].shape}")
    graph.node("DepthToSpace", [a["input"]], out, blocksize=int(a["upscale_factor"]), mode="CRD")


@emits("pixel_unshuffle")
def _pixel_unshuffle(graph, a: dict, out) -> None:
    x, r = a["input"], int(a["downscale_factor"])
    if x.ndim != 4:
        graph.unmapped("pixel_unshuffle", f"only (N, C, H, W) input, got shape {x.shape}")
    _, c, h, w = x.shape
    split = graph.node("Reshape", [x, graph.constant(numpy.array([0, c, h // r, r, w // r, r], numpy.int64))])
    moved = graph.node("Transpose", [split], perm=[0, 1, 3, 5, 2, 4])
    graph.node("Reshape", [moved, graph.constant(numpy.array([0, c * r * r, h // r, w // r], numpy.int64))], out)


@emits("interpolate", "upsample")
def _interpolate(graph, a: dict, out) -> None:
    """Resize: nearest (floor of x / scale), nearest-exact, and (bi/tri)linear with or without align_corners."""
    x, mode = a["input"], a["mode"]
    if mode in ("nearest", "nearest-exact"):
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
        if mode == "nearest-exact":
            attrs.update(coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil")
    elif mode in ("linear", "bilinear", "trilinear"):
        transform = "align_corners" if a["align_corners"] else "pytorch_half_pixel"
        attrs = {"mode": "linear", "coordinate_transformation_mode": transform}
    else:
        graph.unmapped(graph.current_op, f"mode={mode!r} (nearest, nearest-exact and linear modes export)")
    spatial = x.shape[2:]
    scale_factor = a["scale_factor"]
    recompute = bool(a.get("recompute_scale_factor"))
    if scale_factor is not None and not recompute:  # PyTorch maps coordinates with 1 / scale_factor then
        factors = scale_factor if isinstance(scale_factor, list | tuple) else [scale_factor] * len(spatial)
        scales = numpy.array([1.0, 1.0] + [float(f) for f in factors], numpy.float32)
        graph.node("Resize", [x, "", graph.constant(scales)], out, **attrs)
        return
    sizes = list(out.shape[2:])
    if graph.opset >= 18:
        graph.node("Resize", [x, "", "", graph.constant(numpy.array(sizes, numpy.int64))], out,
                   axes=list(range(2, x.ndim)), **attrs)
    else:
        graph.node("Resize", [x, "", "", graph.node("Concat", [graph.node("Slice", [
            graph.node("Shape", [x]), graph.constant(numpy.array([0], numpy.int64)),
            graph.constant(numpy.array([2], numpy.int64))]), graph.constant(numpy.array(sizes, numpy.int64))],
            axis=0)], out, **attrs)


# ----- shrinks, embedding, bilinear, RMS norm, channel shuffle, distances -------------------------
@emits("tanhshrink")
def _tanhshrink(graph, a: dict, out) -> None:
    graph.node("Sub", [a["input"], graph.node("Tanh", [a["input"]])], out)


@emits("softshrink", "hardshrink")
def _shrink(graph, a: dict, out) -> None:
    """ONNX Shrink: x - bias above lambd, x + bias below -lambd, 0 between (bias = lambd: soft; 0: hard)."""
    lambd = float(a["lambd"])
    graph.node("Shrink", [a["input"]], out, lambd=lambd, bias=lambd if graph.current_op == "softshrink" else 0.0)


@emits("rrelu")
def _rrelu(graph, a: dict, out) -> None:
    if a["training"]:
        graph.unmapped("rrelu", "training=True draws a random slope per element (export runs in eval mode)")
    graph.node("LeakyRelu", [a["input"]], out, alpha=(float(a["lower"]) + float(a["upper"])) / 2)


@emits("embedding")
def _embedding(graph, a: dict, out) -> None:
    if a["max_norm"] is not None:
        graph.unmapped("embedding", "max_norm renormalises the weight in place during the forward pass")
    indices = a["input"]
    if not isinstance(indices, Tensor):
        graph.unmapped("embedding", "indices that are not a tensor")
    graph.node("Gather", [a["weight"], indices], out, axis=0)


@emits("bilinear")
def _bilinear(graph, a: dict, out) -> None:
    """y_k = x1^T W_k x2 + b_k as one Einsum over the shared leading dims."""
    product = graph.node("Einsum", [a["input1"], a["weight"], a["input2"]], equation="...i,oij,...j->...o")
    if a["bias"] is None:
        graph.alias_name(out, product)
    else:
        graph.node("Add", [product, a["bias"]], out)


@emits("rms_norm")
def _rms_norm(graph, a: dict, out) -> None:
    """x / sqrt(mean(x^2 over the trailing normalized_shape dims) + eps), times weight."""
    x = a["input"]
    shape = a["normalized_shape"]
    k = 1 if isinstance(shape, int | numpy.integer) else len(tuple(shape))
    eps = float(numpy.finfo(x.dtype).eps) if a["eps"] is None else float(a["eps"])
    mean_square = _reduce(graph, "ReduceMean", graph.node("Mul", [x, x]), list(range(x.ndim - k, x.ndim)), True,
                          None)
    root = graph.node("Sqrt", [graph.node("Add", [mean_square, graph.scalar(eps, x)])])
    if a["weight"] is None:
        graph.node("Div", [x, root], out)
    else:
        graph.node("Mul", [graph.node("Div", [x, root]), a["weight"]], out)


@emits("channel_shuffle")
def _channel_shuffle(graph, a: dict, out) -> None:
    x, g = a["input"], int(a["groups"])
    _, c, *rest = x.shape
    split = graph.node("Reshape", [x, graph.constant(numpy.array([0, g, c // g, *rest], numpy.int64))])
    moved = graph.node("Transpose", [split], perm=[0, 2, 1, *range(3, 3 + len(rest))])
    graph.node("Reshape", [moved, graph.constant(numpy.array([0, c, *rest], numpy.int64))], out)


def _broadcast_to_both(graph, x: Tensor, other: Tensor) -> Any:
    """x expanded to the broadcast shape of x and other (a norm along a broadcast axis needs it)."""
    shape = numpy.broadcast_shapes(x.shape, other.shape)
    if tuple(x.shape) == tuple(shape):
        return x
    return graph.node("Expand", [x, graph.node("Shape", [graph.node("Add", [x, other])])])


def _p_norm(graph, x: Any, p: float, axis: int, keep: bool, like: Tensor) -> str:
    axes = [axis]
    if p == 2.0:
        return _reduce(graph, "ReduceL2", x, axes, keep, None)
    if p == 1.0:
        return _reduce(graph, "ReduceL1", x, axes, keep, None)
    if math.isinf(p) and p > 0:
        return _reduce(graph, "ReduceMax", graph.node("Abs", [x]), axes, keep, None)
    if not p > 0:
        graph.unmapped(graph.current_op, f"p={p} (positive p and inf export)")
    powered = graph.node("Pow", [graph.node("Abs", [x]), graph.scalar(p, like)])
    return graph.node("Pow", [_reduce(graph, "ReduceSum", powered, axes, keep, None), graph.scalar(1 / p, like)])


@emits("cosine_similarity")
def _cosine_similarity(graph, a: dict, out) -> None:
    """sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps)) along dim, as convpool and PyTorch compute it."""
    x1, x2 = a["x1"], a["x2"]
    if not isinstance(x1, Tensor) or not isinstance(x2, Tensor):
        graph.unmapped("cosine_similarity", "inputs that are not tensors")
    ndim = max(len(numpy.broadcast_shapes(x1.shape, x2.shape)), 1)
    axis = int(a["dim"]) % ndim
    units = []
    for x, other in ((x1, x2), (x2, x1)):
        full = _broadcast_to_both(graph, x, other)
        norm = _p_norm(graph, full, 2.0, axis, True, x)
        units.append(graph.node("Div", [full, graph.node("Max", [norm, graph.scalar(float(a["eps"]), x)])]))
    _reduce(graph, "ReduceSum", graph.node("Mul", units), [axis], False, out)


@emits("pairwise_distance")
def _pairwise_distance(graph, a: dict, out) -> None:
    """||x1 - x2 + eps||_p over the last dim."""
    x1, x2 = a["x1"], a["x2"]
    if not isinstance(x1, Tensor) or not isinstance(x2, Tensor) or not numpy.broadcast_shapes(x1.shape, x2.shape):
        graph.unmapped("pairwise_distance", "0-d inputs (give vectors)")
    difference = graph.node("Add", [graph.node("Sub", [x1, x2]), graph.scalar(float(a["eps"]), x1)])
    ndim = len(numpy.broadcast_shapes(x1.shape, x2.shape))
    graph.alias_name(out, _p_norm(graph, difference, float(a["p"]), ndim - 1, bool(a["keepdim"]), x1))


# ----- ops refused with a reason -----------------------------------------------------------------
LOSSES = ("cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
          "binary_cross_entropy_with_logits", "kl_div", "soft_margin_loss", "multilabel_soft_margin_loss",
          "margin_ranking_loss", "hinge_embedding_loss", "cosine_embedding_loss", "triplet_margin_loss",
          "poisson_nll_loss", "gaussian_nll_loss")
REFUSED = {name: "a training loss, not part of a deployed graph (export the network that feeds it)"
           for name in LOSSES}


def _refuse(graph, a: dict, out) -> None:
    graph.unmapped(graph.current_op, REFUSED[graph.current_op])


for _name in REFUSED:
    EMITTERS[_name] = _refuse


# ----- unfold and fold: a grouped (transposed) convolution with one-hot kernels -------------------
def _one_hot_kernels(channels: int, kernel: tuple[int, ...], dtype) -> numpy.ndarray:
    """(C * kh * kw, 1, kh, kw): output channel c * kh * kw + k picks kernel position k (unfold's column order)."""
    per_window = math.prod(kernel)
    eye = numpy.eye(per_window, dtype=dtype).reshape(per_window, 1, *kernel)
    return numpy.tile(eye, (channels, 1, 1, 1))


def _window_settings(op: str, a: dict) -> tuple:
    return (ntuple("kernel_size", a["kernel_size"], 2, 1, op), ntuple("dilation", a["dilation"], 2, 1, op),
            ntuple("padding", a["padding"], 2, 0, op), ntuple("stride", a["stride"], 2, 1, op))


@emits("unfold")
def _unfold(graph, a: dict, out) -> None:
    """Each window as a column: Conv with one-hot kernels, groups=C, then (N, C * kh * kw, L)."""
    x = a["input"]
    if x.ndim != 4:
        graph.unmapped("unfold", f"only batched (N, C, H, W) input exports, got shape {x.shape}")
    kernel, dilation, padding, stride = _window_settings("unfold", a)
    channels = x.shape[1]
    weight = graph.constant(_one_hot_kernels(channels, kernel, x.dtype))
    windows = graph.node("Conv", [x, weight], kernel_shape=list(kernel), strides=list(stride),
                         dilations=list(dilation), pads=list(padding) * 2, group=channels)
    graph.node("Reshape", [windows, graph.constant(numpy.array([0, out.shape[-2], -1], numpy.int64))], out)


@emits("fold")
def _fold(graph, a: dict, out) -> None:
    """The adjoint of unfold: ConvTranspose with the same one-hot kernels, overlapping windows adding up."""
    x = a["input"]
    if x.ndim != 3:
        graph.unmapped("fold", f"only batched (N, C * kh * kw, L) input exports, got shape {x.shape}")
    kernel, dilation, padding, stride = _window_settings("fold", a)
    sizes = ntuple("output_size", a["output_size"], 2, 1, "fold")
    channels = out.shape[1]
    blocks, extra = [], []
    for n, k, d, p, s in zip(sizes, kernel, dilation, padding, stride, strict=True):
        span = n + 2 * p - d * (k - 1) - 1
        blocks.append(span // s + 1)
        extra.append(span - (blocks[-1] - 1) * s)  # rows and columns no window reaches: output_padding
    grid = graph.node("Reshape", [x, graph.constant(numpy.array([0, x.shape[1], *blocks], numpy.int64))])
    weight = graph.constant(_one_hot_kernels(channels, kernel, x.dtype))
    graph.node("ConvTranspose", [grid, weight], out, kernel_shape=list(kernel), strides=list(stride),
               dilations=list(dilation), pads=list(padding) * 2, output_padding=extra, group=channels)


def _max_unpool(nd: int):
    def emit(graph, a: dict, out) -> None:
        """Each plane's values scattered to their per-plane indices in zeros: ScatterElements on (N, C, H * W)."""
        op = f"max_unpool{nd}d"
        x, indices = a["input"], a["indices"]
        _spatial(graph, op, x, nd)
        index = graph.value(indices)
        if indices.dtype != numpy.int64:
            index = graph.node("Cast", [index], to=7)
        per_plane = numpy.array([0, 0, -1], numpy.int64)
        planes = graph.node("Slice", [graph.node("Shape", [x]), graph.constant(numpy.array([0], numpy.int64)),
                                      graph.constant(numpy.array([2], numpy.int64))])
        size = graph.constant(numpy.array([math.prod(out.shape[2:])], numpy.int64))
        zeros = graph.node("ConstantOfShape", [graph.node("Concat", [planes, size], axis=0)],
                           value=_tensor_value(numpy.zeros(1, x.dtype)))
        scattered = graph.node("ScatterElements", [zeros, graph.node("Reshape", [index, graph.constant(per_plane)]),
                                                   graph.node("Reshape", [x, graph.constant(per_plane)])], axis=2)
        graph.node("Reshape", [scattered, graph.constant(numpy.array([0, 0, *out.shape[2:]], numpy.int64))], out)
    return emit


def _tensor_value(array: numpy.ndarray):
    from onnx import numpy_helper

    return numpy_helper.from_array(array)


for _nd in (1, 2, 3):
    EMITTERS[f"max_unpool{_nd}d"] = _max_unpool(_nd)
