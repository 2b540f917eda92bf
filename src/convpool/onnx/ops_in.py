"""ONNX operators as convpool ops, for `convpool.onnx.load`.

Each translation takes (context, node, inputs) and returns the node's outputs. A value is a
convpool Tensor (data that flows from the graph input or from a Parameter, so gradients
reach the Parameters) or a NumPy array (a constant: an integer initializer, a Constant node,
the output of Shape and what Gather/Slice/Concat/... compute from it). Arithmetic on two
constants stays in NumPy, so Shape -> Gather -> Concat -> Reshape chains give static shapes
for whatever batch size runs. Translations follow the ONNX operator specification (opsets 7
to 21), including auto_pad and asymmetric pads (F.pad, then the op without padding).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy

from .. import functional as F
from ..ops import basic
from ..tensor import Tensor
from .geometry import explicit_pads, native_padding, pool_output, torch_pad


@dataclass
class Node:
    """A parsed ONNX node: its op type, name, attributes (decoded) and input/output names."""

    op_type: str
    name: str
    attrs: dict[str, Any]
    inputs: list[str]
    outputs: list[str]
    opset: int = 13
    where: str = field(default="")


@dataclass
class Context:
    training: bool = False


Translation = Callable[[Context, Node, list], list]
OPS: dict[str, Translation] = {}
# inputs read as constants (shapes, axes, scales, pads, bounds): float initializers there stay NumPy, not Parameters
STATIC_INPUTS: dict[str, set[int]] = {
    "Reshape": {1}, "Resize": {1, 2, 3}, "Upsample": {1}, "Pad": {1, 2, 3}, "Clip": {1, 2}, "Slice": {1, 2, 3, 4},
    "Squeeze": {1}, "Unsqueeze": {1}, "Dropout": {1, 2}, "Gather": {1}, "ConstantOfShape": {0}, "Expand": {1},
    "ReduceMean": {1}, "ReduceSum": {1}, "ReduceMax": {1}, "Range": {0, 1, 2}, "Tile": {1}, "Split": {1},
}
# inputs that hold running statistics: buffers, not Parameters
BUFFER_INPUTS: dict[str, set[int]] = {"BatchNormalization": {3, 4}}


def op(*names: str):
    def register(fn: Translation) -> Translation:
        for name in names:
            OPS[name] = fn
        return fn
    return register


# ----- value helpers -----------------------------------------------------------------------
def is_static(v) -> bool:
    return isinstance(v, numpy.ndarray | numpy.generic)


def static(v, node: Node, what: str) -> numpy.ndarray:
    """A constant's array (a Tensor's data for a Parameter read as a constant)."""
    if v is None:
        raise ValueError(f"{node.where}: input {what} is missing")
    return numpy.asarray(v.data if isinstance(v, Tensor) else v)


def tensor(v) -> Tensor:
    return v if isinstance(v, Tensor) else Tensor(numpy.asarray(v))


def ints(v, node: Node, what: str) -> list[int]:
    return [int(i) for i in static(v, node, what).reshape(-1)]


def _optional(inputs: list, i: int):
    return inputs[i] if len(inputs) > i else None


def _axis(axis: int, ndim: int, node: Node) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"{node.where}: axis {axis} is out of range for a {ndim}-d input")
    return axis % ndim


# ----- convolutions --------------------------------------------------------------------------
@op("Conv")
def _conv(ctx: Context, node: Node, inputs: list) -> list:
    x, w, b = tensor(inputs[0]), tensor(inputs[1]), _optional(inputs, 2)
    nd = x.ndim - 2
    if nd not in (1, 2, 3):
        raise ValueError(f"{node.where}: Conv input must be 3-, 4- or 5-d, got shape {x.shape}")
    kernel = list(w.shape[2:])
    strides = list(node.attrs.get("strides", [1] * nd))
    dilations = list(node.attrs.get("dilations", [1] * nd))
    lo, hi = explicit_pads(node.attrs, nd, x.shape[2:], kernel, strides, dilations, node.where)
    if lo == hi:
        padding = tuple(lo)
    else:
        x, padding = F.pad(x, torch_pad(lo, hi)), 0
    conv = getattr(F, f"conv{nd}d")
    return [conv(x, w, None if b is None else tensor(b), stride=tuple(strides), padding=padding,
                 dilation=tuple(dilations), groups=int(node.attrs.get("group", 1)))]


@op("ConvTranspose")
def _conv_transpose(ctx: Context, node: Node, inputs: list) -> list:
    x, w, b = tensor(inputs[0]), tensor(inputs[1]), _optional(inputs, 2)
    attrs = node.attrs
    nd = x.ndim - 2
    kernel = list(w.shape[2:])
    strides = list(attrs.get("strides", [1] * nd))
    dilations = list(attrs.get("dilations", [1] * nd))
    output_padding = list(attrs.get("output_padding", [0] * nd))
    auto_pad = attrs.get("auto_pad", "NOTSET")
    sizes = x.shape[2:]
    if "output_shape" in attrs or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        # total = s (n - 1) + output_padding + d (k - 1) + 1 - output_shape; SAME_UPPER puts the larger half
        # at the end, otherwise at the beginning; SAME's output_shape is n * s
        target = list(attrs["output_shape"])[-nd:] if "output_shape" in attrs else [n * s for n, s in
                                                                                    zip(sizes, strides, strict=True)]
        lo, hi = [], []
        for n, s, opad, k, d, o in zip(sizes, strides, output_padding, kernel, dilations, target, strict=True):
            total = s * (n - 1) + opad + d * (k - 1) + 1 - o
            small, large = total // 2, total - total // 2
            lo.append(small if auto_pad == "SAME_UPPER" else large)
            hi.append(large if auto_pad == "SAME_UPPER" else small)
    else:
        lo, hi = explicit_pads(attrs, nd, sizes, kernel, strides, dilations, node.where)
    # the symmetric part -> padding; a negative end pad (a longer output) -> output_padding where PyTorch's
    # rule allows it; the rest is cropped or zero-extended with F.pad
    padding, rest_lo, rest_hi, out_pad = [], [], [], []
    for b_, a_, opad, s, d in zip(lo, hi, output_padding, strides, dilations, strict=True):
        common = max(0, min(b_, a_))
        b_, a_ = b_ - common, a_ - common
        if a_ < 0 and (opad - a_ < s or opad - a_ < d):
            opad, a_ = opad - a_, 0
        padding.append(common)
        rest_lo.append(b_)
        rest_hi.append(a_)
        out_pad.append(opad)
    cropping = any(rest_lo) or any(rest_hi)
    bias = None if b is None else tensor(b)
    conv = getattr(F, f"conv_transpose{nd}d")
    y = conv(x, w, None if cropping else bias, stride=tuple(strides), padding=tuple(padding),
             output_padding=tuple(out_pad), groups=int(attrs.get("group", 1)), dilation=tuple(dilations))
    if cropping:
        y = F.pad(y, torch_pad([-v for v in rest_lo], [-v for v in rest_hi]))
        if bias is not None:
            y = y + bias.reshape((1, -1) + (1,) * nd)
    return [y]


# ----- pooling -------------------------------------------------------------------------------
def _pool_geometry(x: Tensor, node: Node):
    nd = x.ndim - 2
    if nd not in (1, 2, 3):
        raise ValueError(f"{node.where}: {node.op_type} input must be 3-, 4- or 5-d, got shape {x.shape}")
    kernel = list(node.attrs["kernel_shape"])
    strides = list(node.attrs.get("strides", [1] * nd))  # ONNX's default stride is 1, not the kernel
    dilations = list(node.attrs.get("dilations", [1] * nd))
    ceil = bool(node.attrs.get("ceil_mode", 0))
    lo, hi = explicit_pads(node.attrs, nd, x.shape[2:], kernel, strides, dilations, node.where)
    out = pool_output(x.shape[2:], kernel, strides, dilations, lo, hi, ceil)
    return nd, kernel, strides, dilations, ceil, lo, hi, out


def _crop(y: Tensor, out) -> Tensor:
    """The first `out` windows of a pooling over pre-padded input (there ceil mode may keep one more)."""
    if tuple(y.shape[2:]) == tuple(out):
        return y
    return y[(slice(None), slice(None)) + tuple(slice(0, o) for o in out)]


def _window_sum(x: Tensor, kernel, strides, dilations, lo, hi, out) -> Tensor:
    """Sum over each (dilated) window of x, zeros outside: a depthwise conv with a ones kernel."""
    nd = len(kernel)
    channels = x.shape[1]
    geometry = zip(out, strides, dilations, kernel, x.shape[2:], lo, hi, strict=True)
    end = [a + max(0, (o - 1) * s + d * (k - 1) + 1 - (n + b + a)) for o, s, d, k, n, b, a in geometry]
    weight = Tensor(numpy.ones((channels, 1, *kernel), dtype=x.dtype))
    conv = getattr(F, f"conv{nd}d")
    y = conv(F.pad(x, torch_pad(lo, end)), weight, None, stride=tuple(strides), dilation=tuple(dilations),
             groups=channels)
    return _crop(y, out)


@op("MaxPool")
def _max_pool(ctx: Context, node: Node, inputs: list) -> list:
    if len(node.outputs) > 1 and node.outputs[1]:
        raise ValueError(f"{node.where}: MaxPool's Indices output is not supported")
    x = tensor(inputs[0])
    nd, kernel, strides, dilations, ceil, lo, hi, out = _pool_geometry(x, node)
    pool = getattr(F, f"max_pool{nd}d")
    if native_padding(kernel, lo, hi):
        return [pool(x, tuple(kernel), stride=tuple(strides), padding=tuple(lo), dilation=tuple(dilations),
                     ceil_mode=ceil)]
    y = pool(F.pad(x, torch_pad(lo, hi), value=-math.inf), tuple(kernel), stride=tuple(strides), padding=0,
             dilation=tuple(dilations), ceil_mode=ceil)
    return [_crop(y, out)]


@op("AveragePool")
def _average_pool(ctx: Context, node: Node, inputs: list) -> list:
    x = tensor(inputs[0])
    nd, kernel, strides, dilations, ceil, lo, hi, out = _pool_geometry(x, node)
    include_pad = bool(node.attrs.get("count_include_pad", 0))
    if any(d != 1 for d in dilations):  # no dilated avg_pool: window sum / taps counted
        counted = numpy.zeros((1, 1) + tuple(n + b + a for n, b, a in zip(x.shape[2:], lo, hi, strict=True)),
                              x.dtype)
        inside = tuple(slice(None) if include_pad else slice(b, b + n) for n, b in zip(x.shape[2:], lo, strict=True))
        counted[(0, 0) + inside] = 1
        zeros = [0] * nd
        count = _window_sum(Tensor(counted), kernel, strides, dilations, zeros, zeros, out)
        return [_window_sum(x, kernel, strides, dilations, lo, hi, out) / count]
    pool = getattr(F, f"avg_pool{nd}d")
    if native_padding(kernel, lo, hi):
        return [pool(x, tuple(kernel), stride=tuple(strides), padding=tuple(lo), ceil_mode=ceil,
                     count_include_pad=include_pad)]
    pads = torch_pad(lo, hi)
    y = pool(F.pad(x, pads), tuple(kernel), stride=tuple(strides), padding=0, ceil_mode=ceil)
    if not include_pad:  # mean over the window / the fraction of it inside the input
        ones = Tensor(numpy.ones(x.shape, dtype=x.dtype))
        y = y / pool(F.pad(ones, pads), tuple(kernel), stride=tuple(strides), padding=0, ceil_mode=ceil)
    return [_crop(y, out)]


@op("LpPool")
def _lp_pool(ctx: Context, node: Node, inputs: list) -> list:
    x = tensor(inputs[0])
    nd, kernel, strides, dilations, ceil, lo, hi, out = _pool_geometry(x, node)
    p = node.attrs.get("p", 2)
    x = x.abs()  # ONNX: (sum |x|^p)^(1/p); convpool, as PyTorch: (sum x^p)^(1/p)
    if nd == 3 or any(d != 1 for d in dilations):
        return [_window_sum(x ** p, kernel, strides, dilations, lo, hi, out) ** (1.0 / p)]
    if any(lo) or any(hi):
        x = F.pad(x, torch_pad(lo, hi))
    pool = getattr(F, f"lp_pool{nd}d")
    return [_crop(pool(x, p, tuple(kernel), stride=tuple(strides), ceil_mode=ceil), out)]


@op("GlobalAveragePool")
def _global_average_pool(ctx: Context, node: Node, inputs: list) -> list:
    x = tensor(inputs[0])
    return [x.mean(tuple(range(2, x.ndim)), keepdim=True)]


@op("GlobalMaxPool")
def _global_max_pool(ctx: Context, node: Node, inputs: list) -> list:
    x = tensor(inputs[0])
    y = x.flatten(2).max(2, keepdim=True)[0]
    return [y.reshape(x.shape[:2] + (1,) * (x.ndim - 2))]


# ----- normalisation -------------------------------------------------------------------------
@op("BatchNormalization")
def _batch_norm(ctx: Context, node: Node, inputs: list) -> list:
    if any(node.outputs[1:]) or node.attrs.get("training_mode", 0):
        raise ValueError(f"{node.where}: BatchNormalization in training mode (extra outputs) is not supported; "
                         f"an inference graph is imported and call .train() on the module instead")
    x, scale, bias, mean, var = (tensor(v) for v in inputs[:5])
    eps = float(node.attrs.get("epsilon", 1e-5))
    momentum = float(node.attrs.get("momentum", 0.9))  # ONNX: running = momentum * running + (1 - momentum) * batch
    return [F.batch_norm(x, mean, var, scale, bias, training=ctx.training, momentum=1 - momentum, eps=eps)]


@op("InstanceNormalization")
def _instance_norm(ctx: Context, node: Node, inputs: list) -> list:
    x, scale, bias = (tensor(v) for v in inputs[:3])
    return [F.group_norm(x, x.shape[1], scale, bias, eps=float(node.attrs.get("epsilon", 1e-5)))]


# ----- linear algebra and elementwise --------------------------------------------------------
@op("Gemm")
def _gemm(ctx: Context, node: Node, inputs: list) -> list:
    a, b, c = tensor(inputs[0]), tensor(inputs[1]), _optional(inputs, 2)
    alpha, beta = float(node.attrs.get("alpha", 1.0)), float(node.attrs.get("beta", 1.0))
    trans_a, trans_b = node.attrs.get("transA", 0), node.attrs.get("transB", 0)
    if trans_b and not trans_a and alpha == 1.0 and beta == 1.0 and (c is None or tensor(c).ndim == 1):
        return [F.linear(a, b, None if c is None else tensor(c))]
    a = a.T if trans_a else a
    b = b.T if trans_b else b
    y = a @ b
    if alpha != 1.0:
        y = y * alpha
    if c is not None:
        y = y + (tensor(c) * beta if beta != 1.0 else tensor(c))
    return [y]


@op("MatMul")
def _matmul(ctx: Context, node: Node, inputs: list) -> list:
    a, b = inputs[:2]
    if is_static(a) and is_static(b):
        return [numpy.matmul(a, b)]
    return [tensor(a) @ tensor(b)]


def _binary(numpy_fn, tensor_fn):
    def translate(ctx: Context, node: Node, inputs: list) -> list:
        a, b = inputs[:2]
        if is_static(a) and is_static(b):
            return [numpy.asarray(numpy_fn(a, b))]
        return [tensor_fn(a if isinstance(a, Tensor) else tensor(a), b)]
    return translate


def _divide(a, b):
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":  # ONNX integer division truncates
        return numpy.trunc(a / b).astype(a.dtype)
    return a / b


OPS["Add"] = _binary(numpy.add, lambda a, b: a + b)
OPS["Sub"] = _binary(numpy.subtract, lambda a, b: a - b)
OPS["Mul"] = _binary(numpy.multiply, lambda a, b: a * b)
def _tensor_divide(a: Tensor, b) -> Tensor:
    b = tensor(b)
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":  # integer tensors: no gradient, truncated quotient
        return Tensor(_divide(a.numpy(), b.numpy()))
    return a / b


OPS["Div"] = _binary(_divide, _tensor_divide)
OPS["Pow"] = _binary(numpy.power, lambda a, b: a ** (float(b) if is_static(b) and numpy.ndim(b) == 0 else b))


def _unary(numpy_fn, tensor_fn):
    def translate(ctx: Context, node: Node, inputs: list) -> list:
        x = inputs[0]
        return [numpy.asarray(numpy_fn(x))] if is_static(x) else [tensor_fn(x)]
    return translate


OPS["Neg"] = _unary(numpy.negative, lambda x: -x)
OPS["Sqrt"] = _unary(numpy.sqrt, lambda x: x.sqrt())
OPS["Exp"] = _unary(numpy.exp, lambda x: x.exp())
OPS["Log"] = _unary(numpy.log, lambda x: x.log())
OPS["Abs"] = _unary(numpy.abs, lambda x: x.abs())
OPS["Relu"] = _unary(lambda x: numpy.maximum(x, 0), F.relu)
OPS["Sigmoid"] = _unary(lambda x: 1 / (1 + numpy.exp(-x)), F.sigmoid)
OPS["Tanh"] = _unary(numpy.tanh, F.tanh)
OPS["Identity"] = lambda ctx, node, inputs: [inputs[0]]


@op("LeakyRelu")
def _leaky_relu(ctx: Context, node: Node, inputs: list) -> list:
    return [F.leaky_relu(tensor(inputs[0]), negative_slope=float(node.attrs.get("alpha", 0.01)))]


@op("PRelu")
def _prelu(ctx: Context, node: Node, inputs: list) -> list:
    x, slope = tensor(inputs[0]), tensor(inputs[1])
    return [F.relu(x) - slope * F.relu(-x)]


def _bound(v, node: Node, what: str):
    return None if v is None else float(static(v, node, what).reshape(-1)[0])


@op("Clip")
def _clip(ctx: Context, node: Node, inputs: list) -> list:
    if node.opset < 11:
        low, high = node.attrs.get("min"), node.attrs.get("max")
    else:
        low, high = _bound(_optional(inputs, 1), node, "min"), _bound(_optional(inputs, 2), node, "max")
    x = inputs[0]
    if is_static(x):
        return [numpy.clip(x, low, high)]
    return [tensor(x).clamp(low, high)]


@op("HardSigmoid")
def _hard_sigmoid(ctx: Context, node: Node, inputs: list) -> list:
    alpha, beta = float(node.attrs.get("alpha", 0.2)), float(node.attrs.get("beta", 0.5))
    return [(tensor(inputs[0]) * alpha + beta).clamp(0.0, 1.0)]


@op("HardSwish")
def _hard_swish(ctx: Context, node: Node, inputs: list) -> list:
    x = tensor(inputs[0])
    return [x * (x * (1.0 / 6.0) + 0.5).clamp(0.0, 1.0)]


def _softmax(fn):
    def translate(ctx: Context, node: Node, inputs: list) -> list:
        x = tensor(inputs[0])
        if node.opset >= 13:  # one axis, default the last
            return [fn(x, dim=_axis(node.attrs.get("axis", -1), x.ndim, node))]
        axis = _axis(node.attrs.get("axis", 1), x.ndim, node)  # before 13: the input seen as 2-D, split at axis
        rows = math.prod(x.shape[:axis])
        return [fn(x.reshape(rows, -1), dim=1).reshape(x.shape)]
    return translate


OPS["Softmax"] = _softmax(F.softmax)
OPS["LogSoftmax"] = _softmax(F.log_softmax)


@op("Dropout")
def _dropout(ctx: Context, node: Node, inputs: list) -> list:
    if len(node.outputs) > 1 and node.outputs[1]:
        raise ValueError(f"{node.where}: Dropout's mask output is not supported")
    ratio = node.attrs.get("ratio", 0.5)
    if node.opset >= 12 and _optional(inputs, 1) is not None:
        ratio = float(static(inputs[1], node, "ratio").reshape(-1)[0])
    x = tensor(inputs[0])
    return [F.dropout(x, float(ratio), training=ctx.training) if ctx.training else x]


# ----- shapes ----------------------------------------------------------------------------------
@op("Flatten")
def _flatten(ctx: Context, node: Node, inputs: list) -> list:
    x = inputs[0]
    axis = node.attrs.get("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    shape = (math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))
    return [x.reshape(shape) if is_static(x) else tensor(x).reshape(shape)]


@op("Reshape")
def _reshape(ctx: Context, node: Node, inputs: list) -> list:
    x = inputs[0]
    shape = ints(inputs[1], node, "shape")
    if not node.attrs.get("allowzero", 0):
        shape = [x.shape[i] if n == 0 else n for i, n in enumerate(shape)]
    return [x.reshape(shape) if is_static(x) else tensor(x).reshape(tuple(shape))]


@op("Transpose")
def _transpose(ctx: Context, node: Node, inputs: list) -> list:
    x = inputs[0]
    perm = list(node.attrs.get("perm", range(x.ndim)[::-1]))
    return [numpy.transpose(x, perm) if is_static(x) else tensor(x).permute(*perm)]


def _axes_of(node: Node, inputs: list) -> list[int] | None:
    if "axes" in node.attrs:
        return list(node.attrs["axes"])
    v = _optional(inputs, 1)
    return None if v is None else ints(v, node, "axes")


@op("Squeeze")
def _squeeze(ctx: Context, node: Node, inputs: list) -> list:
    x = inputs[0]
    axes = _axes_of(node, inputs)
    if axes is None:
        axes = [i for i, n in enumerate(x.shape) if n == 1]
    axes = [_axis(a, x.ndim, node) for a in axes]
    shape = [n for i, n in enumerate(x.shape) if i not in axes]
    return [x.reshape(shape) if is_static(x) else tensor(x).reshape(tuple(shape))]


@op("Unsqueeze")
def _unsqueeze(ctx: Context, node: Node, inputs: list) -> list:
    x = inputs[0]
    axes = _axes_of(node, inputs) or []
    rank = x.ndim + len(axes)
    axes = sorted(_axis(a, rank, node) for a in axes)
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return [x.reshape(shape) if is_static(x) else tensor(x).reshape(tuple(shape))]


@op("Concat")
def _concat(ctx: Context, node: Node, inputs: list) -> list:
    parts = [v for v in inputs if v is not None]
    axis = _axis(node.attrs["axis"], parts[0].ndim, node)
    if all(is_static(v) for v in parts):
        return [numpy.concatenate(parts, axis=axis)]
    return [basic.cat([tensor(v) for v in parts], axis)]


@op("Shape")
def _shape(ctx: Context, node: Node, inputs: list) -> list:
    shape = list(inputs[0].shape)
    start, end = node.attrs.get("start", 0), node.attrs.get("end", len(shape))
    return [numpy.array(shape[slice(start, end)], dtype=numpy.int64)]


@op("Gather")
def _gather(ctx: Context, node: Node, inputs: list) -> list:
    x, indices = inputs[0], static(inputs[1], node, "indices").astype(numpy.int64)
    axis = _axis(node.attrs.get("axis", 0), x.ndim, node)
    indices = numpy.where(indices < 0, indices + x.shape[axis], indices)
    if is_static(x):
        return [numpy.take(x, indices, axis=axis)]
    if indices.ndim == 0:
        return [tensor(x)[(slice(None),) * axis + (int(indices),)]]
    return [tensor(x)[(slice(None),) * axis + (indices,)]]


@op("Slice")
def _slice(ctx: Context, node: Node, inputs: list) -> list:
    x = inputs[0]
    if node.opset < 10:
        starts, ends = list(node.attrs["starts"]), list(node.attrs["ends"])
        axes, steps = list(node.attrs.get("axes", range(len(starts)))), [1] * len(starts)
    else:
        starts, ends = ints(inputs[1], node, "starts"), ints(inputs[2], node, "ends")
        axes = ints(inputs[3], node, "axes") if _optional(inputs, 3) is not None else list(range(len(starts)))
        steps = ints(inputs[4], node, "steps") if _optional(inputs, 4) is not None else [1] * len(starts)
    index: list[Any] = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        index[_axis(axis, x.ndim, node)] = slice(start, end, step)
    if is_static(x):
        return [x[tuple(index)]]
    return [tensor(x)[tuple(index)]]


@op("Cast")
def _cast(ctx: Context, node: Node, inputs: list) -> list:
    import onnx

    dtype = onnx.helper.tensor_dtype_to_np_dtype(node.attrs["to"])
    x = inputs[0]
    return [numpy.asarray(x).astype(dtype) if is_static(x) else tensor(x).to(dtype)]


@op("Constant")
def _constant(ctx: Context, node: Node, inputs: list) -> list:
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in node.attrs:
            value = numpy.asarray(node.attrs[key])
            if key.startswith("value_float"):
                value = value.astype(numpy.float32)
            elif key.startswith("value_int"):
                value = value.astype(numpy.int64)
            return [value]
    raise ValueError(f"{node.where}: Constant without a value, value_float(s) or value_int(s) attribute")


@op("ConstantOfShape")
def _constant_of_shape(ctx: Context, node: Node, inputs: list) -> list:
    value = node.attrs.get("value", numpy.zeros(1, dtype=numpy.float32))
    return [numpy.full(ints(inputs[0], node, "shape"), numpy.asarray(value).reshape(-1)[0])]


@op("Expand")
def _expand(ctx: Context, node: Node, inputs: list) -> list:
    x, shape = inputs[0], ints(inputs[1], node, "shape")
    target = numpy.broadcast_shapes(tuple(x.shape), tuple(shape))
    if is_static(x):
        return [numpy.broadcast_to(x, target).copy()]
    x = tensor(x)
    return [x.reshape((1,) * (len(target) - x.ndim) + x.shape).expand(*target)]


@op("ReduceMean", "ReduceSum", "ReduceMax")
def _reduce(ctx: Context, node: Node, inputs: list) -> list:
    x = inputs[0]
    axes = _axes_of(node, inputs)
    keep = bool(node.attrs.get("keepdims", 1))
    if axes is None or axes == []:
        if axes == [] and node.attrs.get("noop_with_empty_axes", 0):
            return [x]
        axes = list(range(x.ndim))
    axes = tuple(_axis(a, x.ndim, node) for a in axes)
    kind = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max"}[node.op_type]
    if is_static(x):
        return [getattr(numpy, kind)(x, axis=axes, keepdims=keep)]
    x = tensor(x)
    if kind == "max":
        for a in sorted(axes, reverse=True):
            x = x.max(a, keepdim=True)[0]
        return [x if keep else x.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))]
    return [getattr(x, kind)(axes, keepdim=keep)]


@op("Pad")
def _pad(ctx: Context, node: Node, inputs: list) -> list:
    x = tensor(inputs[0])
    mode = node.attrs.get("mode", "constant")
    if node.opset < 11:
        pads, value, axes = list(node.attrs["pads"]), float(node.attrs.get("value", 0.0)), None
    else:
        pads = ints(inputs[1], node, "pads")
        v = _optional(inputs, 2)
        value = 0.0 if v is None else float(static(v, node, "constant_value").reshape(-1)[0])
        axes = ints(inputs[3], node, "axes") if _optional(inputs, 3) is not None else None
    axes = list(range(x.ndim)) if axes is None else [_axis(a, x.ndim, node) for a in axes]
    n = len(axes)
    lo, hi = [0] * x.ndim, [0] * x.ndim
    for i, a in enumerate(axes):
        lo[a], hi[a] = pads[i], pads[i + n]
    first = next((i for i in range(x.ndim) if lo[i] or hi[i]), x.ndim)
    if first == x.ndim:
        return [x]
    torch_mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}.get(mode)
    if torch_mode is None:
        raise ValueError(f"{node.where}: Pad mode {mode!r} is not supported (constant, reflect, edge, wrap)")
    return [F.pad(x, torch_pad(lo[first:], hi[first:]), mode=torch_mode,
                  value=value if torch_mode == "constant" else None)]


# ----- resizing --------------------------------------------------------------------------------
def _source_coordinates(mode: str, out: int, size: int, scale: float, node: Node) -> numpy.ndarray:
    """Where each output position samples the input, per ONNX's coordinate_transformation_mode
    (align_corners divides by the unrounded output length, size * scale, as the reference does)."""
    x = numpy.arange(out, dtype=numpy.float64)
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if out > 1 else numpy.zeros(out)
    if mode == "align_corners":
        return x * (size - 1) / (size * scale - 1) if out > 1 else numpy.zeros(out)
    if mode == "asymmetric":
        return x / scale
    if mode == "tf_half_pixel_for_nn":
        return (x + 0.5) / scale
    raise ValueError(f"{node.where}: Resize coordinate_transformation_mode {mode!r} is not supported")


def _nearest(coords: numpy.ndarray, rule: str, node: Node) -> numpy.ndarray:
    if rule == "round_prefer_floor":
        return numpy.ceil(coords - 0.5)
    if rule == "round_prefer_ceil":
        return numpy.floor(coords + 0.5)
    if rule == "floor":
        return numpy.floor(coords)
    if rule == "ceil":
        return numpy.ceil(coords)
    raise ValueError(f"{node.where}: Resize nearest_mode {rule!r} is not supported")


def _take(x: Tensor, axis: int, index: numpy.ndarray) -> Tensor:
    return x[(slice(None),) * axis + (index,)]


@op("Resize", "Upsample")
def _resize(ctx: Context, node: Node, inputs: list) -> list:
    x = tensor(inputs[0])
    attrs = node.attrs
    mode = attrs.get("mode", "nearest")
    if mode not in ("nearest", "linear", "bilinear"):
        raise ValueError(f"{node.where}: {node.op_type} mode {mode!r} is not supported (nearest, linear)")
    if attrs.get("antialias", 0) or attrs.get("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise ValueError(f"{node.where}: Resize antialias / keep_aspect_ratio_policy are not supported")
    scales = sizes = None
    if node.op_type == "Upsample" or node.opset < 11:
        scales = list(attrs["scales"]) if "scales" in attrs else list(static(inputs[1], node, "scales").reshape(-1))
        transform = "asymmetric"
        rule = "floor" if node.op_type == "Upsample" or node.opset < 11 else attrs.get("nearest_mode")
    else:
        transform = attrs.get("coordinate_transformation_mode", "half_pixel")
        rule = attrs.get("nearest_mode", "round_prefer_floor")
        s, z = _optional(inputs, 2), _optional(inputs, 3)
        if s is not None and static(s, node, "scales").size:
            scales = list(static(s, node, "scales").reshape(-1))
        elif z is not None:
            sizes = ints(z, node, "sizes")
        else:
            raise ValueError(f"{node.where}: Resize needs scales or sizes")
    axes = list(attrs.get("axes", range(x.ndim)))
    values = scales if scales is not None else sizes
    full_scales, full_sizes = [1.0] * x.ndim, list(x.shape)
    for a, v in zip(axes, values, strict=True):
        a = _axis(a, x.ndim, node)
        if scales is not None:
            full_scales[a], full_sizes[a] = float(v), int(math.floor(x.shape[a] * float(v)))
        else:
            full_scales[a], full_sizes[a] = int(v) / x.shape[a], int(v)
    y = x
    for axis, (size, out, scale) in enumerate(zip(x.shape, full_sizes, full_scales, strict=True)):
        if out == size and scale == 1.0:
            continue
        coords = _source_coordinates(transform, out, size, scale, node)
        if mode == "nearest":
            index = numpy.clip(_nearest(coords, rule, node), 0, size - 1).astype(numpy.int64)
            y = _take(y, axis, index)
            continue
        coords = numpy.clip(coords, 0, size - 1)
        low = numpy.floor(coords).astype(numpy.int64)
        high = numpy.minimum(low + 1, size - 1)
        shape = [1] * x.ndim
        shape[axis] = out
        frac = Tensor((coords - low).astype(x.dtype).reshape(shape))
        a, b = _take(y, axis, low), _take(y, axis, high)
        y = a + (b - a) * frac
    return [y]


@op("ArgMax", "ArgMin")
def _arg_extreme(ctx: Context, node: Node, inputs: list) -> list:
    x = static(inputs[0], node, "data")
    if node.attrs.get("select_last_index", 0):
        raise ValueError(f"{node.where}: select_last_index=1 is not supported")
    axis = _axis(node.attrs.get("axis", 0), x.ndim, node)
    fn = numpy.argmax if node.op_type == "ArgMax" else numpy.argmin
    return [fn(x, axis=axis, keepdims=bool(node.attrs.get("keepdims", 1))).astype(numpy.int64)]
