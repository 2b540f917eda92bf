"""ONNX's published operator cases as a second reference, beside PyTorch.

`onnx.backend.test.case.node.collect_testcases()` builds the node cases of the ONNX backend
test suite: a one-node model (op type, attributes, opset) with its input arrays and the
expected outputs. Every case of the op types in OP_TYPES is translated into
convpool.functional calls and each present output is compared (shape, dtype, values; MaxPool's
Indices too). The translation follows the ONNX operator spec:

* explicit `pads` that are symmetric (and, for pooling, at most half the kernel) go to the
  op's own `padding`; others go through F.pad (zeros; -inf for MaxPool) and the op runs
  with padding 0; `auto_pad` SAME_UPPER/SAME_LOWER/VALID become explicit pads (the odd
  pixel at the end for SAME_UPPER, at the beginning for SAME_LOWER);
* ONNX's LpPool is the p-norm of |x| (PyTorch's and convpool's lp_pool take x**p), so it
  gets |x|; convpool has no dilated average/Lp pooling and no lp_pool3d (nor has PyTorch a
  dilated avg_pool), so those cases are a window sum by a depthwise F.conv*d with a ones
  kernel, which is what those ops are;
* MaxPool indices, flat over the whole (N, C, *spatial) tensor (column-major over the
  spatial axes with storage_order=1), are rebuilt from convpool's per-plane indices;
* BatchNormalization's training outputs use momentum' = 1 - momentum, and ONNX's running
  variance mixes in the biased batch variance where convpool (as PyTorch) uses the unbiased
  one, so that term is scaled by (m - 1) / m;
* Dropout runs only where it is deterministic (inference, ratio 0); its mask output is the
  keep-mask of F.dropout applied to ones.

A case that cannot map is listed in SKIPPED with its reason; every other case must run and
pass, at float32's rtol 1e-5 / atol 1e-6 unless LOOSER names it with the reason (published
values rounded by hand). test_case_counts notices a change in what ONNX publishes.
"""

from __future__ import annotations

import math
import warnings

import numpy
import pytest

onnx = pytest.importorskip("onnx")
node_cases = pytest.importorskip("onnx.backend.test.case.node")

import convpool  # noqa: E402
import convpool.functional as F  # noqa: E402

OP_TYPES = ("Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool",
            "Relu", "LeakyRelu", "Softmax", "LogSoftmax", "Gemm", "Flatten", "BatchNormalization", "Dropout")

TOLERANCE = {numpy.dtype("float32"): (1e-5, 1e-6), numpy.dtype("float64"): (1e-10, 1e-12)}
# (rtol, atol, why) for a case whose published values are coarser than the dtype's tolerance.
LOOSER = {
    "test_averagepool_2d_ceil_last_window_starts_on_pad": (
        0, 1e-4, "ONNX lists inputs and outputs to 4 decimals, the outputs computed from unrounded inputs "
                 "(the exact mean of the listed inputs, 2.5564 / 9 = 0.284044, is published as 0.2841)"),
}

_RANDOM_DROPOUT = ("ONNX draws its dropout mask from NumPy's generator (seed 0); convpool's mask comes from "
                   "its own RNG, so a random mask cannot match")
SKIPPED = {
    "test_maxpool_2d_uint8": "convpool's pooling takes floating-point input only (uint8 is refused with a "
                             "TypeError)",
    "test_training_dropout": _RANDOM_DROPOUT,
    "test_training_dropout_mask": _RANDOM_DROPOUT,
    "test_training_dropout_default": _RANDOM_DROPOUT,
    "test_training_dropout_default_mask": _RANDOM_DROPOUT,
}

# What onnx 1.23 publishes for OP_TYPES (one-node cases; the "_expanded" function-body variants
# are graphs of other ops and are not collected); fewer means cases went missing.
MIN_CASES = {"Conv": 6, "ConvTranspose": 11, "MaxPool": 19, "AveragePool": 20, "LpPool": 8,
             "GlobalAveragePool": 2, "GlobalMaxPool": 2, "Relu": 1, "LeakyRelu": 3, "Softmax": 7,
             "LogSoftmax": 7, "Gemm": 11, "Flatten": 9, "BatchNormalization": 4, "Dropout": 12}
MIN_RUN = 117  # cases that run (collected minus SKIPPED) with onnx 1.23


def _collect() -> dict:
    """{case name: TestCase} for the one-node cases of OP_TYPES."""
    state = numpy.random.get_state()  # the case exporters reseed NumPy's global generator
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # overflow warnings of unrelated cases (Cast, Reduce*)
            cases = node_cases.collect_testcases()
    finally:
        numpy.random.set_state(state)
    found = {}
    for case in cases:
        nodes = case.model.graph.node
        if len(nodes) == 1 and nodes[0].op_type in OP_TYPES and nodes[0].domain in ("", "ai.onnx"):
            found[case.name] = case
    return found


CASES = _collect()


# ----- helpers -----------------------------------------------------------------------------
def _t(array) -> convpool.Tensor:
    return convpool.tensor(numpy.array(array))


def _np(t) -> numpy.ndarray:
    return t.detach().numpy() if isinstance(t, convpool.Tensor) else numpy.asarray(t)


def _attributes(node, allowed: set[str]) -> dict:
    """The node's attributes by name (strings decoded); an attribute the translation does not
    know is an error, never silently ignored."""
    attrs = {}
    for a in node.attribute:
        value = onnx.helper.get_attribute_value(a)
        attrs[a.name] = value.decode() if isinstance(value, bytes) else value
    unknown = set(attrs) - allowed
    if unknown:
        raise NotImplementedError(f"{node.op_type}: no translation for attributes {sorted(unknown)}")
    return attrs


def _torch_pad(lo, hi) -> list[int]:
    """Per-axis (before, after) pads, first spatial axis first, as F.pad's list (last axis first)."""
    out = []
    for b, a in zip(reversed(lo), reversed(hi), strict=True):
        out += [b, a]
    return out


def _auto_pads(auto_pad: str, sizes, kernel, strides, dilations):
    """(lo, hi) for SAME_UPPER/SAME_LOWER (output = ceil(size / stride)) or VALID."""
    if auto_pad == "VALID":
        return [0] * len(sizes), [0] * len(sizes)
    lo, hi = [], []
    for n, k, s, d in zip(sizes, kernel, strides, dilations, strict=True):
        out = -(-n // s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - n)
        small, large = total // 2, total - total // 2
        lo.append(small if auto_pad == "SAME_UPPER" else large)
        hi.append(large if auto_pad == "SAME_UPPER" else small)
    return lo, hi


def _explicit_pads(attrs, nd, sizes, kernel, strides, dilations):
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER", "VALID"):
        return _auto_pads(auto_pad, sizes, kernel, strides, dilations)
    if auto_pad != "NOTSET":
        raise NotImplementedError(f"auto_pad={auto_pad!r}")
    pads = list(attrs.get("pads", [0] * 2 * nd))
    return pads[:nd], pads[nd:]


def _pool_geometry(x, attrs):
    nd = x.ndim - 2
    kernel = list(attrs["kernel_shape"])
    strides = list(attrs.get("strides", [1] * nd))  # ONNX's default stride is 1, not the kernel
    dilations = list(attrs.get("dilations", [1] * nd))
    ceil = bool(attrs.get("ceil_mode", 0))
    lo, hi = _explicit_pads(attrs, nd, x.shape[2:], kernel, strides, dilations)
    out = []
    for n, k, s, d, b, a in zip(x.shape[2:], kernel, strides, dilations, lo, hi, strict=True):
        span = n + b + a - d * (k - 1) - 1
        o = (-(-span // s) if ceil else span // s) + 1
        if ceil and (o - 1) * s >= n + b:  # the last window must start inside input or left padding
            o -= 1
        out.append(o)
    return nd, kernel, strides, dilations, ceil, lo, hi, out


def _native_padding(kernel, lo, hi) -> bool:
    """Symmetric pads of at most half the kernel: the pooling op's own `padding` argument."""
    return lo == hi and all(p <= k // 2 for p, k in zip(lo, kernel, strict=True))


def _crop(y, out):
    """The first `out` windows of a pooling over pre-padded input: there, ceil mode's rule
    'the last window starts inside the input or the left padding' sees the right padding
    as input and may keep one window more."""
    if tuple(y.shape[2:]) == tuple(out):
        return y
    assert all(g >= o for g, o in zip(y.shape[2:], out, strict=True)), (y.shape, out)
    return y[(slice(None), slice(None)) + tuple(slice(0, o) for o in out)]


def _window_sum(x, kernel, strides, dilations, lo, hi, out):
    """Sum over each (dilated) pooling window of x (N, C, *spatial), zeros outside: a depthwise
    F.conv*d with a ones kernel over x padded with zeros to cover every window."""
    nd = len(kernel)
    channels = x.shape[1]
    geometry = zip(out, strides, dilations, kernel, x.shape[2:], lo, hi, strict=True)
    end = [a + max(0, (o - 1) * s + d * (k - 1) + 1 - (n + b + a)) for o, s, d, k, n, b, a in geometry]
    weight = convpool.ones(channels, 1, *kernel, dtype=x.dtype)
    conv = getattr(F, f"conv{nd}d")
    y = conv(F.pad(x, _torch_pad(lo, end)), weight, None, stride=tuple(strides), dilation=tuple(dilations),
             groups=channels)
    return _crop(y, out)


# ----- translations: (node inputs as arrays or None, attributes, opset, number of outputs) -> outputs
def _conv(node, inputs, opset, n_out):
    attrs = _attributes(node, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"})
    x, w, b = (inputs + [None])[:3]
    nd = x.ndim - 2
    kernel = list(w.shape[2:])
    assert list(attrs.get("kernel_shape", kernel)) == kernel
    strides = list(attrs.get("strides", [1] * nd))
    dilations = list(attrs.get("dilations", [1] * nd))
    lo, hi = _explicit_pads(attrs, nd, x.shape[2:], kernel, strides, dilations)
    xt = _t(x)
    if lo == hi:
        padding = tuple(lo)
    else:
        xt, padding = F.pad(xt, _torch_pad(lo, hi)), 0
    conv = getattr(F, f"conv{nd}d")
    y = conv(xt, _t(w), None if b is None else _t(b), stride=tuple(strides), padding=padding,
             dilation=tuple(dilations), groups=attrs.get("group", 1))
    return [y]


def _conv_transpose(node, inputs, opset, n_out):
    attrs = _attributes(node, {"auto_pad", "dilations", "group", "kernel_shape", "output_padding",
                               "output_shape", "pads", "strides"})
    x, w, b = (inputs + [None])[:3]
    nd = x.ndim - 2
    kernel = list(w.shape[2:])
    assert list(attrs.get("kernel_shape", kernel)) == kernel
    strides = list(attrs.get("strides", [1] * nd))
    dilations = list(attrs.get("dilations", [1] * nd))
    output_padding = list(attrs.get("output_padding", [0] * nd))
    auto_pad = attrs.get("auto_pad", "NOTSET")
    sizes = x.shape[2:]
    if "output_shape" in attrs or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        # The spec: total = s (n - 1) + output_padding + d (k - 1) + 1 - output_shape; SAME_UPPER puts the
        # larger half at the end, otherwise at the beginning. SAME's output_shape is n * s.
        if "output_shape" in attrs:
            target = list(attrs["output_shape"])[-nd:]
        else:
            target = [n * s for n, s in zip(sizes, strides, strict=True)]
        lo, hi = [], []
        for n, s, op, k, d, o in zip(sizes, strides, output_padding, kernel, dilations, target, strict=True):
            total = s * (n - 1) + op + d * (k - 1) + 1 - o
            small, large = total // 2, total - total // 2
            lo.append(small if auto_pad == "SAME_UPPER" else large)
            hi.append(large if auto_pad == "SAME_UPPER" else small)
    else:
        lo, hi = _explicit_pads(attrs, nd, sizes, kernel, strides, dilations)
    # Symmetric part -> padding; a negative end pad (a longer output) -> output_padding where
    # PyTorch's rule allows it; whatever is left is cropped or zero-extended with F.pad.
    padding, rest_lo, rest_hi, out_pad = [], [], [], []
    for b_, a_, op, s, d in zip(lo, hi, output_padding, strides, dilations, strict=True):
        common = max(0, min(b_, a_))
        b_, a_ = b_ - common, a_ - common
        if a_ < 0 and (op - a_ < s or op - a_ < d):
            op, a_ = op - a_, 0
        padding.append(common)
        rest_lo.append(b_)
        rest_hi.append(a_)
        out_pad.append(op)
    cropping = any(rest_lo) or any(rest_hi)
    bias = None if b is None else _t(b)
    conv = getattr(F, f"conv_transpose{nd}d")
    y = conv(_t(x), _t(w), None if cropping else bias, stride=tuple(strides), padding=tuple(padding),
             output_padding=tuple(out_pad), groups=attrs.get("group", 1), dilation=tuple(dilations))
    if cropping:
        y = F.pad(y, _torch_pad([-v for v in rest_lo], [-v for v in rest_hi]))
        if bias is not None:
            y = y + bias.reshape((1, -1) + (1,) * nd)
    return [y]


def _max_pool(node, inputs, opset, n_out):
    attrs = _attributes(node, {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order",
                               "strides"})
    x = inputs[0]
    nd, kernel, strides, dilations, ceil, lo, hi, out = _pool_geometry(x, attrs)
    xt = _t(x)
    native = _native_padding(kernel, lo, hi)
    if native:
        padding, shift = tuple(lo), [0] * nd
    else:
        xt, padding, shift = F.pad(xt, _torch_pad(lo, hi), value=-math.inf), 0, lo
    pool = getattr(F, f"max_pool{nd}d")
    result = pool(xt, tuple(kernel), stride=tuple(strides), padding=padding, dilation=tuple(dilations),
                  ceil_mode=ceil, return_indices=n_out > 1)
    y, indices = result if n_out > 1 else (result, None)
    if not native:
        y = _crop(y, out)
    outputs = [y]
    if indices is not None:
        if not native:
            indices = _crop(indices, out)
        # convpool: flat index within each (N, C) plane of the pooled (maybe pre-padded) input.
        # ONNX: flat over the whole (N, C, *spatial) input; storage_order=1 is column-major in space.
        coords = numpy.unravel_index(_np(indices), xt.shape[2:])
        coords = tuple(c - s for c, s in zip(coords, shift, strict=True))
        order = "F" if attrs.get("storage_order", 0) else "C"
        in_plane = numpy.ravel_multi_index(coords, x.shape[2:], order=order)
        planes = numpy.arange(x.shape[0] * x.shape[1]).reshape(x.shape[:2] + (1,) * nd)
        outputs.append(planes * math.prod(x.shape[2:]) + in_plane)
    return outputs


def _average_pool(node, inputs, opset, n_out):
    attrs = _attributes(node, {"auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape",
                               "pads", "strides"})
    x = inputs[0]
    nd, kernel, strides, dilations, ceil, lo, hi, out = _pool_geometry(x, attrs)
    include_pad = bool(attrs.get("count_include_pad", 0))
    xt = _t(x)
    if any(d != 1 for d in dilations):  # no dilated avg_pool: window sum / taps counted
        counted = numpy.zeros((1, 1) + tuple(n + b + a for n, b, a in zip(x.shape[2:], lo, hi, strict=True)),
                              x.dtype)
        inside = tuple(slice(None) if include_pad else slice(b, b + n)
                       for n, b in zip(x.shape[2:], lo, strict=True))
        counted[(0, 0) + inside] = 1  # taps that count: input (and padding with count_include_pad)
        zeros = [0] * nd
        count = _window_sum(_t(counted), kernel, strides, dilations, zeros, zeros, out)
        return [_window_sum(xt, kernel, strides, dilations, lo, hi, out) / count]
    pool = getattr(F, f"avg_pool{nd}d")
    if _native_padding(kernel, lo, hi):
        return [pool(xt, tuple(kernel), stride=tuple(strides), padding=tuple(lo), ceil_mode=ceil,
                     count_include_pad=include_pad)]
    pads = _torch_pad(lo, hi)
    y = pool(F.pad(xt, pads), tuple(kernel), stride=tuple(strides), padding=0, ceil_mode=ceil)
    if not include_pad:  # mean over the window / fraction of it inside the input = sum / count
        ones = convpool.ones(*x.shape, dtype=x.dtype)
        y = y / pool(F.pad(ones, pads), tuple(kernel), stride=tuple(strides), padding=0, ceil_mode=ceil)
    return [_crop(y, out)]


def _lp_pool(node, inputs, opset, n_out):
    attrs = _attributes(node, {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "p", "pads", "strides"})
    x = inputs[0]
    nd, kernel, strides, dilations, ceil, lo, hi, out = _pool_geometry(x, attrs)
    p = attrs.get("p", 2)
    xt = _t(x).abs()  # ONNX: (sum |x|^p)^(1/p); convpool, as PyTorch: (sum x^p)^(1/p)
    if nd == 3 or any(d != 1 for d in dilations):  # no lp_pool3d, no dilated lp_pool
        return [_window_sum(xt ** p, kernel, strides, dilations, lo, hi, out) ** (1.0 / p)]
    if any(lo) or any(hi):  # lp_pool has no padding; zeros add nothing to the sum
        xt = F.pad(xt, _torch_pad(lo, hi))
    pool = getattr(F, f"lp_pool{nd}d")
    return [_crop(pool(xt, p, tuple(kernel), stride=tuple(strides), ceil_mode=ceil), out)]


def _global_pool(kind: str):
    def translate(node, inputs, opset, n_out):
        _attributes(node, set())
        x = _t(inputs[0])
        nd = x.ndim - 2
        if nd <= 2:
            return [getattr(F, f"adaptive_{kind}_pool{nd}d")(x, 1)]
        return [getattr(F, f"{kind}_pool{nd}d")(x, x.shape[2:])]
    return translate


def _relu(node, inputs, opset, n_out):
    _attributes(node, set())
    return [F.relu(_t(inputs[0]))]


def _leaky_relu(node, inputs, opset, n_out):
    attrs = _attributes(node, {"alpha"})
    return [F.leaky_relu(_t(inputs[0]), negative_slope=attrs.get("alpha", 0.01))]


def _softmax(fn):
    def translate(node, inputs, opset, n_out):
        attrs = _attributes(node, {"axis"})
        x = _t(inputs[0])
        if opset >= 13:  # one axis, default the last
            return [fn(x, dim=attrs.get("axis", -1))]
        axis = attrs.get("axis", 1) % x.ndim  # before 13: the input seen as 2-D, split at axis
        rows = math.prod(x.shape[:axis])
        return [fn(x.reshape(rows, -1), dim=1).reshape(x.shape)]
    return translate


def _gemm(node, inputs, opset, n_out):
    attrs = _attributes(node, {"alpha", "beta", "transA", "transB"})
    a, b, c = (inputs + [None])[:3]
    at, bt = _t(a), _t(b)
    if attrs.get("transA", 0):
        at = at.T
    if attrs.get("transB", 0):
        bt = bt.T
    y = (at @ bt) * attrs.get("alpha", 1.0)
    if c is not None:
        y = y + _t(c) * attrs.get("beta", 1.0)
    return [y]


def _flatten(node, inputs, opset, n_out):
    attrs = _attributes(node, {"axis"})
    x = _t(inputs[0])
    axis = attrs.get("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    return [x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))]


def _batch_norm(node, inputs, opset, n_out):
    attrs = _attributes(node, {"epsilon", "momentum", "training_mode"})
    x, scale, bias, mean, var = inputs[:5]
    eps = attrs.get("epsilon", 1e-5)
    momentum = attrs.get("momentum", 0.9)
    if not attrs.get("training_mode", 0):
        return [F.batch_norm(_t(x), _t(mean), _t(var), _t(scale), _t(bias), training=False, eps=eps)]
    running_mean, running_var = _t(mean), _t(var)
    # ONNX: running = momentum * running + (1 - momentum) * batch statistic; PyTorch's momentum is
    # the other side
    y = F.batch_norm(_t(x), running_mean, running_var, _t(scale), _t(bias), training=True,
                     momentum=1 - momentum, eps=eps)
    # convpool mixed in the unbiased batch variance, ONNX the biased one: rescale that term by (m - 1) / m
    m = x.size // x.shape[1]
    old = momentum * var
    onnx_var = old + (_np(running_var) - old) * ((m - 1) / m)
    return [y, running_mean, onnx_var]


def _dropout(node, inputs, opset, n_out):
    if opset >= 12:  # ratio and training_mode are inputs
        _attributes(node, {"seed"})
        ratio = inputs[1] if len(inputs) > 1 and inputs[1] is not None else 0.5
        training = bool(inputs[2]) if len(inputs) > 2 and inputs[2] is not None else False
    else:  # opset 7-11: ratio attribute, always inference
        attrs = _attributes(node, {"ratio"})
        ratio, training = attrs.get("ratio", 0.5), False
    p = float(ratio)
    assert not training or p == 0, "a random dropout mask cannot be compared: list the case in SKIPPED"
    x = _t(inputs[0])
    outputs = [F.dropout(x, p=p, training=training)]
    if n_out > 1:  # the mask: which elements F.dropout keeps
        outputs.append(_np(F.dropout(convpool.ones(*x.shape, dtype=x.dtype), p=p, training=training)) != 0)
    return outputs


TRANSLATE = {
    "Conv": _conv, "ConvTranspose": _conv_transpose, "MaxPool": _max_pool, "AveragePool": _average_pool,
    "LpPool": _lp_pool, "GlobalAveragePool": _global_pool("avg"), "GlobalMaxPool": _global_pool("max"),
    "Relu": _relu, "LeakyRelu": _leaky_relu, "Softmax": _softmax(F.softmax),
    "LogSoftmax": _softmax(F.log_softmax),
    "Gemm": _gemm, "Flatten": _flatten, "BatchNormalization": _batch_norm, "Dropout": _dropout,
}


def _opset(model) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _array(value) -> numpy.ndarray:
    return onnx.numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else numpy.asarray(value)


# ----- the tests ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_onnx_case(name):
    if name in SKIPPED:
        pytest.skip(SKIPPED[name])
    case = CASES[name]
    node = case.model.graph.node[0]
    (data_in, data_out), = case.data_sets
    present_in = iter(_array(a) for a in data_in)
    inputs = [next(present_in) if input_name else None for input_name in node.input]
    got = TRANSLATE[node.op_type](node, inputs, _opset(case.model), len(node.output))
    expected = [_array(a) for a in data_out]
    present = [i for i, output_name in enumerate(node.output) if output_name]
    assert len(present) == len(expected)
    for i, want in zip(present, expected, strict=True):
        have = _np(got[i])
        what = f"{name}: output {i} ({node.output[i]})"
        assert have.shape == want.shape, f"{what}: shape {have.shape}, ONNX {want.shape}"
        assert have.dtype == want.dtype, f"{what}: dtype {have.dtype}, ONNX {want.dtype}"
        if want.dtype.kind == "f":
            rtol, atol = LOOSER[name][:2] if name in LOOSER else TOLERANCE[want.dtype]
            numpy.testing.assert_allclose(have, want, rtol=rtol, atol=atol, err_msg=what)
        else:
            numpy.testing.assert_array_equal(have, want, err_msg=what)


def test_case_counts():
    """A change in what ONNX publishes is noticed: no op type loses cases, every listed case
    exists, and at least MIN_RUN cases run."""
    counts = {op: 0 for op in OP_TYPES}
    for case in CASES.values():
        counts[case.model.graph.node[0].op_type] += 1
    short = {op: (counts[op], floor) for op, floor in MIN_CASES.items() if counts[op] < floor}
    assert not short, f"fewer ONNX cases than expected (found, floor): {short}"
    for listing in (SKIPPED, LOOSER):
        unknown = sorted(set(listing) - set(CASES))
        assert not unknown, f"cases listed here but not published by ONNX: {unknown}"
    run = len(set(CASES) - set(SKIPPED))
    assert run >= MIN_RUN, f"only {run} ONNX cases run, expected at least {MIN_RUN}"
