"""Convolution and transposed convolution: against PyTorch on randomly drawn shapes and
arguments (forward and the gradient of input, weight and bias), against central
differences, the article's worked numbers, the pinned edge rules, every error message, and
the memory budget's chunking."""

from __future__ import annotations

import tracemalloc

import numpy
import pytest
from reference import check_grad, compare, needs_torch, torch

import convpool
from convpool.ops import conv_paths, conv_window
from convpool.ops.conv import (
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
)
from convpool.ops.pad import pad

if torch is not None:
    import torch.nn.functional as TF

CONV = {1: conv1d, 2: conv2d, 3: conv3d}
CONV_T = {1: conv_transpose1d, 2: conv_transpose2d, 3: conv_transpose3d}
TORCH_CONV = {1: "conv1d", 2: "conv2d", 3: "conv3d"}
TORCH_CONV_T = {1: "conv_transpose1d", 2: "conv_transpose2d", 3: "conv_transpose3d"}

N_CONV_SEEDS = 120
N_CONV_T_SEEDS = 80
N_PADDING_MODE_SEEDS = 24


def _dtype(seed: int) -> str:
    return "float64" if seed % 2 == 0 else "float32"


def _channels(rng, kind: str):
    """(groups, in_channels, out_channels) for one kind of grouping."""
    if kind == "plain":
        return 1, int(rng.integers(1, 4)), int(rng.integers(1, 4))
    if kind == "groups":
        g = int(rng.integers(2, 4))
        return g, g * int(rng.integers(1, 3)), g * int(rng.integers(1, 3))
    if kind == "depthwise":  # groups == in == out channels
        g = int(rng.integers(2, 5))
        return g, g, g
    g = int(rng.integers(2, 4))  # depthwise with a channel multiplier
    return g, g, g * int(rng.integers(2, 4))


def draw_conv(seed: int) -> dict:
    """One random conv configuration; every draw is valid for both libraries."""
    rng = numpy.random.default_rng(1000 + seed)
    nd = 1 + seed % 3
    kind = ("plain", "groups", "depthwise", "multiplier")[(seed // 3) % 4]
    groups, cin, cout = _channels(rng, kind)
    kmax = 3 if nd == 3 else 4
    kernel = tuple(int(k) for k in rng.integers(1, kmax + 1, nd))
    dilation = tuple(int(d) for d in rng.integers(1, 3 if nd == 3 else 4, nd))
    pad_kind = ("int", "tuple", "same", "valid")[int(rng.integers(0, 4))]
    if pad_kind == "same":
        stride = (1,) * nd
        padding = "same"
        pads = (0,) * nd  # the padded size is then size + extent - 1 >= extent
    else:
        stride = tuple(int(s) for s in rng.integers(1, 5, nd))
        if pad_kind == "valid":
            padding, pads = "valid", (0,) * nd
        elif pad_kind == "int":
            padding = int(rng.integers(0, 3))
            pads = (padding,) * nd
        else:
            pads = tuple(int(p) for p in rng.integers(0, 3, nd))
            padding = pads
    extents = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    extra = 2 if nd == 3 else 6
    sizes = tuple(max(1, e - 2 * p + int(rng.integers(0, extra + 1)))
                  for e, p in zip(extents, pads, strict=True))
    unbatched = rng.random() < 0.2
    batch = () if unbatched else (int(rng.integers(1, 3)),)
    dtype = _dtype(seed)
    x = rng.standard_normal(batch + (cin,) + sizes).astype(dtype)
    w = (rng.standard_normal((cout, cin // groups) + kernel) * 0.5).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype) if rng.random() < 0.7 else None
    return dict(nd=nd, kind=kind, groups=groups, kernel=kernel, stride=stride, padding=padding,
                dilation=dilation, unbatched=unbatched, x=x, w=w, b=b)


def draw_conv_transpose(seed: int) -> dict:
    rng = numpy.random.default_rng(5000 + seed)
    nd = 1 + seed % 3
    kind = ("plain", "groups", "depthwise", "multiplier")[(seed // 3) % 4]
    groups, cin, cout = _channels(rng, kind)
    kmax = 3 if nd == 3 else 4
    kernel = tuple(int(k) for k in rng.integers(1, kmax + 1, nd))
    stride = tuple(int(s) for s in rng.integers(1, 4, nd))
    dilation = tuple(int(d) for d in rng.integers(1, 3, nd))
    output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation, strict=True))
    sizes = tuple(int(n) for n in rng.integers(1, 4 if nd == 3 else 6, nd))
    padding = []
    for n, k, s, d, op in zip(sizes, kernel, stride, dilation, output_padding, strict=True):
        full = (n - 1) * s + d * (k - 1) + op + 1
        padding.append(min(int(rng.integers(0, 3)), (full - 1) // 2))
    padding = tuple(padding)
    unbatched = rng.random() < 0.2
    batch = () if unbatched else (int(rng.integers(1, 3)),)
    dtype = _dtype(seed)
    x = rng.standard_normal(batch + (cin,) + sizes).astype(dtype)
    w = (rng.standard_normal((cin, cout // groups) + kernel) * 0.5).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype) if rng.random() < 0.7 else None
    return dict(nd=nd, kind=kind, groups=groups, kernel=kernel, stride=stride, padding=padding,
                dilation=dilation, output_padding=output_padding, unbatched=unbatched, x=x, w=w, b=b)


def _arrays(c):
    return (c["x"], c["w"]) + ((c["b"],) if c["b"] is not None else ())


# ----- against PyTorch ---------------------------------------------------------------------
@needs_torch
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("seed", range(N_CONV_SEEDS))
def test_conv_matches_torch(seed):
    c = draw_conv(seed)
    kwargs = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"], groups=c["groups"])
    ours, theirs = CONV[c["nd"]], getattr(TF, TORCH_CONV[c["nd"]])
    compare(lambda *a: ours(*a, **kwargs), lambda *a: theirs(*a, **kwargs), *_arrays(c), seed=seed)


@needs_torch
@pytest.mark.parametrize("seed", range(N_CONV_T_SEEDS))
def test_conv_transpose_matches_torch(seed):
    c = draw_conv_transpose(seed)
    ours, theirs = CONV_T[c["nd"]], getattr(TF, TORCH_CONV_T[c["nd"]])

    def run(fn):
        def call(x, w, b=None):
            return fn(x, w, b, c["stride"], c["padding"], c["output_padding"], c["groups"], c["dilation"])
        return call

    compare(run(ours), run(theirs), *_arrays(c), seed=seed)


def test_random_draws_cover_every_case():
    """The seed ranges above must reach every feature the issue lists."""
    convs = [draw_conv(s) for s in range(N_CONV_SEEDS)]
    transposed = [draw_conv_transpose(s) for s in range(N_CONV_T_SEEDS)]
    for nd in (1, 2, 3):
        for kind in ("plain", "groups", "depthwise", "multiplier"):
            assert any(c["nd"] == nd and c["kind"] == kind for c in convs), (nd, kind)
            assert any(c["nd"] == nd and c["kind"] == kind for c in transposed), (nd, kind)
    assert any(c["padding"] == "same" and any(k % 2 == 0 for k in c["kernel"]) and max(c["dilation"]) > 1
               for c in convs)
    assert any(c["padding"] == "valid" for c in convs)
    assert any(isinstance(c["padding"], tuple) and len(set(c["padding"])) > 1 for c in convs)
    assert any(any(s > k for s, k in zip(c["stride"], c["kernel"], strict=True)) for c in convs)
    # stride beyond the dilated kernel: input pixels that no window reads
    assert any(any(s > d * (k - 1) + 1
                   for s, k, d in zip(c["stride"], c["kernel"], c["dilation"], strict=True)) for c in convs)
    assert any(c["unbatched"] for c in convs) and any(c["unbatched"] for c in transposed)
    assert any(c["b"] is None for c in convs) and any(c["b"] is not None for c in convs)
    assert any(max(c["output_padding"]) > 0 and max(c["dilation"]) > 1 for c in transposed)
    assert any(max(c["output_padding"]) > 0 and c["groups"] > 1 for c in transposed)
    assert {c["x"].dtype.name for c in convs} == {"float32", "float64"}


@needs_torch
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "zeros"])
@pytest.mark.parametrize("seed", range(N_PADDING_MODE_SEEDS // 4))
def test_conv_padding_mode_through_pad_matches_torch_module(mode, seed):
    """A conv layer's padding_mode = F.pad with that mode, then an unpadded conv; checked
    against torch.nn.Conv{1,2,3}d(padding_mode=...) with its weight and bias as inputs."""
    rng = numpy.random.default_rng(9000 + seed)
    nd = 1 + seed % 3
    groups = int(rng.integers(1, 3))
    cin, cout = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    kernel = tuple(int(k) for k in rng.integers(2, 4, nd))
    padding = tuple(int(p) for p in rng.integers(1, 3, nd))
    stride = tuple(int(s) for s in rng.integers(1, 3, nd))
    dilation = tuple(int(d) for d in rng.integers(1, 3, nd))
    sizes = tuple(max(p + 1, d * (k - 1) + 1) + int(rng.integers(0, 3))
                  for p, k, d in zip(padding, kernel, dilation, strict=True))
    dtype = _dtype(seed)
    x = rng.standard_normal((2, cin) + sizes).astype(dtype)
    w = rng.standard_normal((cout, cin // groups) + kernel).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    module = getattr(torch.nn, f"Conv{nd}d")(cin, cout, kernel, stride=stride, padding=padding,
                                             dilation=dilation, groups=groups, padding_mode=mode,
                                             dtype=getattr(torch, dtype))
    pad_arg = tuple(v for p in reversed(padding) for v in (p, p))

    def ours(x, w, b):
        mode_ = "constant" if mode == "zeros" else mode
        return CONV[nd](pad(x, pad_arg, mode=mode_), w, b, stride=stride, dilation=dilation, groups=groups)

    def theirs(x, w, b):
        return torch.func.functional_call(module, {"weight": w, "bias": b}, (x,))

    compare(ours, theirs, x, w, b, seed=seed)


# ----- central differences (no torch) -------------------------------------------------------
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("groups", [1, 2])
def test_conv_gradients_by_central_differences(nd, groups):
    rng = numpy.random.default_rng(nd * 10 + groups)
    sizes = (6, 5, 4)[:nd] if nd < 3 else (4, 3, 4)
    x = rng.standard_normal((2, 2) + sizes)
    w = rng.standard_normal((2, 2 // groups) + (2,) * nd)
    b = rng.standard_normal(2)
    assert check_grad(lambda x, w, b: CONV[nd](x, w, b, stride=(2,) + (1,) * (nd - 1), padding=1,
                                               dilation=(1,) * (nd - 1) + (2,), groups=groups), x, w, b)


@pytest.mark.parametrize("nd, padding, dilation", [(2, 1, 1), (2, "same", 1), (2, (0, 2), (1, 2)), (3, 1, 1)])
def test_stride_1_input_gradient_is_a_convolution_not_col2im(nd, padding, dilation, monkeypatch):
    """On the window-matrix path, a stride-1 input gradient is the convolution of gy with the
    flipped, channel-swapped kernel; col2im's scattered adds are not used (and stride 2 still
    uses them)."""
    rng = numpy.random.default_rng(40 + nd)
    sizes = (3, 4, 3)[:nd]
    x = rng.standard_normal((3, 2) + sizes)
    w = rng.standard_normal((3, 2) + (3,) * (nd - 1) + (2,))
    b = rng.standard_normal(3)
    calls = []
    original = conv_window.col2im
    monkeypatch.setattr(conv_window, "col2im", lambda *a, **k: calls.append(1) or original(*a, **k))
    dilation = dilation if isinstance(dilation, tuple) else (dilation,) * nd
    dilation = dilation[:nd] + (1,) * (nd - len(dilation))
    with conv_paths.forced("window_matrix"):
        assert check_grad(lambda x, w, b: CONV[nd](x, w, b, padding=padding, dilation=dilation), x, w, b)
        assert calls == []
        assert check_grad(lambda x, w: CONV[nd](x, w, stride=2, padding=1), x, w)
    assert calls


@pytest.mark.parametrize("nd", [1, 2])
def test_conv_same_even_kernel_and_depthwise_gradients_by_central_differences(nd):
    rng = numpy.random.default_rng(nd)
    x = rng.standard_normal((1, 3) + (5,) * nd)
    w = rng.standard_normal((3, 1) + (2,) * nd)  # depthwise (shift-and-accumulate path)
    assert check_grad(lambda x, w: CONV[nd](x, w, padding="same", dilation=2, groups=3), x, w)
    w2 = rng.standard_normal((6, 1) + (2,) * nd)  # depthwise multiplier 2
    assert check_grad(lambda x, w: CONV[nd](x, w, stride=2, groups=3), x, w2)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_transpose_gradients_by_central_differences(nd):
    rng = numpy.random.default_rng(40 + nd)
    sizes = (4, 3, 2)[:nd]
    x = rng.standard_normal((1, 2) + sizes)
    w = rng.standard_normal((2, 2) + (2,) * nd)
    b = rng.standard_normal(4)
    assert check_grad(lambda x, w, b: CONV_T[nd](x, w, b, stride=2, padding=1, output_padding=1, groups=2,
                                                 dilation=(2,) + (1,) * (nd - 1)), x, w, b)


def test_unbatched_conv_gradients_by_central_differences():
    rng = numpy.random.default_rng(7)
    x, w = rng.standard_normal((2, 5, 4)), rng.standard_normal((3, 2, 2, 3))
    out = conv2d(convpool.tensor(x), convpool.tensor(w), padding=(1, 0))
    assert out.shape == (3, 6, 2)
    assert check_grad(lambda x, w: conv2d(x, w, padding=(1, 0)), x, w)


# ----- the article's numbers and the pinned edge rules -----------------------------------
def test_article_output_size_256_kernel_3_stride_3_is_85():
    assert convpool.output_size(256, 3, stride=3) == 85


def test_article_conv2d_256x256_kernel_3_stride_3_gives_85x85():
    x = convpool.tensor(numpy.arange(256 * 256, dtype=numpy.float64).reshape(1, 1, 256, 256))
    w = convpool.tensor(numpy.ones((1, 1, 3, 3)))
    y = conv2d(x, w, stride=3)
    assert y.shape == (1, 1, 85, 85)
    # the window at output (i, j) covers rows 3i..3i+2 and columns 3j..3j+2 of the ramp
    i, j = 10, 40
    expected = sum(256 * r + c for r in range(3 * i, 3 * i + 3) for c in range(3 * j, 3 * j + 3))
    assert y.numpy()[0, 0, i, j] == expected


def test_conv2d_by_hand():
    x = convpool.tensor([[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]])
    w = convpool.tensor([[[[1.0, 0.0], [0.0, -1.0]]]])
    y = conv2d(x, w, convpool.tensor([10.0]))
    assert y.tolist() == [[[[6.0, 6.0], [6.0, 6.0]]]]  # x[i,j] - x[i+1,j+1] + 10 = -4 + 10


def test_same_padding_puts_the_odd_pixel_on_the_right():
    x = convpool.tensor([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    y = conv1d(x, convpool.tensor([[[0.0, 1.0]]]), padding="same")
    assert y.tolist() == [[[2.0, 3.0, 4.0, 5.0, 0.0]]]


def test_same_padding_with_dilation_keeps_the_size():
    x = convpool.tensor([[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]])
    y = conv1d(x, convpool.tensor([[[1.0, 1.0]]]), padding="same", dilation=3)
    # total padding 3: one before, two after; y[i] = x[i-1] + x[i+2]
    assert y.tolist() == [[[2.0, 3.0, 5.0, 7.0, 9.0, 4.0, 5.0]]]


def test_conv_transpose_is_the_adjoint_of_conv():
    rng = numpy.random.default_rng(3)
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((6, 2, 3, 2))
    y = conv2d(convpool.tensor(x), convpool.tensor(w), stride=2, padding=1, dilation=(1, 2), groups=2)
    g = rng.standard_normal(y.shape)
    gt = conv_transpose2d(convpool.tensor(g), convpool.tensor(w), stride=2, padding=1, groups=2,
                          dilation=(1, 2), output_padding=(0, 1))
    assert gt.shape == x.shape
    numpy.testing.assert_allclose((y.numpy() * g).sum(), (x * gt.numpy()).sum(), rtol=1e-12)


def test_conv_transpose_output_size_by_hand():
    x = convpool.tensor(numpy.ones((1, 1, 3)))
    y = conv_transpose1d(x, convpool.tensor(numpy.ones((1, 1, 2))), stride=3, output_padding=2)
    # (3-1)*3 + (2-1) + 2 + 1 = 10: each input spreads to two pixels, gaps of one, two extra zeros
    assert y.tolist() == [[[1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0]]]


def test_float32_stays_float32():
    x = convpool.tensor(numpy.ones((1, 2, 4, 4), numpy.float32))
    w = convpool.tensor(numpy.ones((3, 2, 3, 3), numpy.float32))
    assert conv2d(x, w).dtype == numpy.float32
    wt = convpool.tensor(numpy.ones((2, 1, 3, 3), numpy.float32))
    assert conv_transpose2d(x, wt).dtype == numpy.float32


# ----- error messages -----------------------------------------------------------------------
def _t(*shape, dtype="float64"):
    return convpool.tensor(numpy.zeros(shape, dtype=dtype))


def test_wrong_rank_is_reported():
    with pytest.raises(ValueError, match=r"conv2d: input must be 4-D .* or 3-D .*got 5-D with shape "
                                         r"\(1, 1, 1, 4, 4\)"):
        conv2d(_t(1, 1, 1, 4, 4), _t(1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"conv1d: input must be 3-D .*got 1-D"):
        conv1d(_t(4), _t(1, 1, 3))
    with pytest.raises(ValueError, match=r"conv2d: weight must be 4-D .*got shape \(1, 1, 3\)"):
        conv2d(_t(1, 1, 4, 4), _t(1, 1, 3))
    with pytest.raises(ValueError, match=r"conv_transpose3d: input must be 5-D"):
        conv_transpose3d(_t(1, 4, 4), _t(1, 1, 3, 3, 3))


def test_channel_count_not_matching_the_weight_is_reported():
    with pytest.raises(ValueError, match=r"conv2d: input has 3 channels but the weight expects 4 "
                                         r"\(weight.shape\[1\] \* groups = 4 \* 1\)"):
        conv2d(_t(1, 3, 5, 5), _t(2, 4, 3, 3))
    with pytest.raises(ValueError, match=r"conv_transpose2d: input has 3 channels but the weight expects 2 "
                                         r"\(weight.shape\[0\]\)"):
        conv_transpose2d(_t(1, 3, 5, 5), _t(2, 4, 3, 3))


def test_groups_not_dividing_channels_is_reported():
    with pytest.raises(ValueError, match=r"conv2d: groups=2 does not divide the input's 3 channels"):
        conv2d(_t(1, 3, 5, 5), _t(2, 1, 3, 3), groups=2)
    with pytest.raises(ValueError, match=r"conv2d: groups=2 does not divide weight.shape\[0\]=3"):
        conv2d(_t(1, 4, 5, 5), _t(3, 2, 3, 3), groups=2)
    with pytest.raises(ValueError, match=r"conv1d: groups must be a positive int, got groups=0"):
        conv1d(_t(1, 2, 5), _t(2, 2, 3), groups=0)


@pytest.mark.parametrize("name, value", [("stride", 0), ("stride", (1, -1)), ("dilation", 0),
                                         ("dilation", (0, 1))])
def test_non_positive_stride_or_dilation_is_reported(name, value):
    with pytest.raises(ValueError, match=rf"conv2d: {name} must be positive, got {name}={value!r}".replace(
            "(", r"\(").replace(")", r"\)")):
        conv2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3), **{name: value})
    with pytest.raises(ValueError, match=rf"conv_transpose2d: {name} must be positive"):
        conv_transpose2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3), **{name: value})


def test_zero_size_kernel_is_reported():
    with pytest.raises(ValueError, match=r"conv2d: kernel larger than the padded input|kernel_size"):
        conv2d(_t(1, 1, 5, 5), _t(1, 1, 0, 3))


def test_negative_padding_is_reported():
    with pytest.raises(ValueError, match=r"conv2d: padding must be non-negative, got padding=-1"):
        conv2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3), padding=-1)
    with pytest.raises(ValueError, match=r"conv_transpose1d: padding must be non-negative, got "
                                         r"padding=\(-2,\)"):
        conv_transpose1d(_t(1, 1, 5), _t(1, 1, 3), padding=(-2,))
    with pytest.raises(ValueError, match=r"conv_transpose1d: output_padding must be non-negative"):
        conv_transpose1d(_t(1, 1, 5), _t(1, 1, 3), output_padding=-1)


def test_bad_padding_string_is_reported():
    with pytest.raises(ValueError, match=r"conv2d: padding must be an int, a tuple, 'same' or 'valid', "
                                         r"got 'full'"):
        conv2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3), padding="full")


def test_kernel_larger_than_the_padded_input_is_reported():
    with pytest.raises(ValueError, match=r"conv2d: kernel larger than the padded input: kernel_size=5 with "
                                         r"dilation=1 spans 5 but the input has size 3 with padding "
                                         r"\(0, 0\)"):
        conv2d(_t(1, 1, 3, 8), _t(1, 1, 5, 3))
    with pytest.raises(ValueError, match=r"conv1d: kernel larger than the padded input: kernel_size=3 with "
                                         r"dilation=3 spans 7"):
        conv1d(_t(1, 1, 4), _t(1, 1, 3), padding=1, dilation=3)


def test_same_padding_with_stride_is_reported():
    with pytest.raises(ValueError, match=r"conv2d: padding='same' needs stride 1, got stride=\(2, 2\)"):
        conv2d(_t(1, 1, 5, 5), _t(1, 1, 3, 3), stride=2, padding="same")


def test_transposed_output_padding_too_large_is_reported():
    with pytest.raises(ValueError, match=r"conv_transpose2d: output_padding must be smaller than stride or "
                                         r"dilation, got output_padding=\(2, 2\)"):
        conv_transpose2d(_t(1, 1, 3, 3), _t(1, 1, 3, 3), stride=2, output_padding=2)


def test_transposed_non_positive_output_is_reported():
    with pytest.raises(ValueError, match=r"conv_transpose1d: transposed convolution gives a "
                                         r"non-positive output "
                                         r"size -2 for input size 1, kernel_size=2, stride=1, padding=2"):
        conv_transpose1d(_t(1, 1, 1), _t(1, 1, 2), padding=2)


def test_mismatched_dtypes_are_reported():
    with pytest.raises(TypeError, match=r"conv2d: dtypes must match, got input float32, weight float64"):
        conv2d(_t(1, 1, 5, 5, dtype="float32"), _t(1, 1, 3, 3))
    with pytest.raises(TypeError, match=r"conv1d: dtypes must match, got input float64, weight float64, "
                                        r"bias float32"):
        conv1d(_t(1, 1, 5), _t(1, 1, 3), _t(1, dtype="float32"))


def test_integer_input_is_reported():
    with pytest.raises(TypeError, match=r"conv2d: input must be floating point .* got int64"):
        conv2d(convpool.tensor(numpy.zeros((1, 1, 4, 4), numpy.int64)), _t(1, 1, 3, 3))


def test_bad_bias_shape_is_reported():
    with pytest.raises(ValueError, match=r"conv2d: bias must have shape \(2,\) to match the weight's output "
                                         r"channels, got \(3,\)"):
        conv2d(_t(1, 1, 5, 5), _t(2, 1, 3, 3), _t(3))
    with pytest.raises(ValueError, match=r"conv_transpose2d: bias must have shape \(6,\).*got \(2, 3\)"):
        conv_transpose2d(_t(1, 2, 5, 5), _t(2, 3, 3, 3), _t(2, 3), groups=2)


def test_non_tensor_arguments_are_reported():
    with pytest.raises(TypeError, match=r"conv2d: input must be a convpool.Tensor, got ndarray"):
        conv2d(numpy.zeros((1, 1, 4, 4)), _t(1, 1, 3, 3))
    with pytest.raises(TypeError, match=r"conv2d: weight must be a convpool.Tensor, got list"):
        conv2d(_t(1, 1, 4, 4), [[[[1.0]]]])
    with pytest.raises(TypeError, match=r"conv2d: stride must be an int or a tuple of 2 ints, got 1.5"):
        conv2d(_t(1, 1, 4, 4), _t(1, 1, 3, 3), stride=1.5)


# ----- the memory budget ----------------------------------------------------------------------
@pytest.fixture
def budget():
    """Set the memory budget for one test; the default comes back afterwards. These tests are
    about the batch-wide window matrix, so every conv is forced onto the window-matrix path
    (the grid path never builds one; the others are sized by it too)."""
    old = convpool.memory_budget()
    with conv_paths.forced("window_matrix"):
        yield convpool.set_memory_budget
    convpool.set_memory_budget(old)


def _run(fn, x, w, b):
    xs = [convpool.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = fn(*xs)
    g = numpy.random.default_rng(0).standard_normal(y.shape)
    y.backward(convpool.tensor(g))
    return [y.detach().numpy()] + [t.grad.numpy() for t in xs]


def _pieces(x_shape, w_shape, out):
    channels, kernel = x_shape[1], w_shape[2:]
    return list(conv_window.chunks(x_shape[0], out, channels * int(numpy.prod(kernel)) * 8))


CHUNK_CASES = {
    # name: (op, x shape, w shape, kwargs, output spatial size, how the budget must split)
    "conv2d-batch": (conv2d, (6, 4, 12, 12), (5, 4, 3, 3), dict(padding=0), (10, 10), "batch"),
    "conv2d-rows": (conv2d, (2, 4, 40, 33), (6, 2, 3, 3),
                    dict(stride=(2, 1), padding=1, dilation=(2, 1), groups=2), (19, 33), "rows"),
    "conv1d-batch": (conv1d, (8, 4, 100), (3, 4, 5), dict(padding=2), (100,), "batch"),
    "conv1d-rows": (conv1d, (2, 6, 1810), (4, 6, 4), dict(stride=3, dilation=2), (602,), "rows"),
}


@pytest.mark.parametrize("name", sorted(CHUNK_CASES))
def test_small_budget_gives_the_same_conv(name, budget):
    op, x_shape, w_shape, kwargs, out, how = CHUNK_CASES[name]
    rng = numpy.random.default_rng(11)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    full = _run(lambda x, w, b: op(x, w, b, **kwargs), x, w, b)
    budget(64 * 1024)
    pieces = _pieces(x_shape, w_shape, out)
    assert len(pieces) > 1
    if how == "batch":
        assert all(rows == slice(0, out[0]) for _, rows in pieces) and pieces[0][0].stop > 1
    else:
        assert all(batch.stop - batch.start == 1 for batch, _ in pieces) and pieces[0][1] != slice(0, out[0])
    chunked = _run(lambda x, w, b: op(x, w, b, **kwargs), x, w, b)
    for a, c, what in zip(full, chunked, ("output", "input grad", "weight grad", "bias grad"), strict=True):
        numpy.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-12, err_msg=what)


@pytest.mark.parametrize("x_shape, kwargs", [((6, 4, 10, 10), dict(stride=2, padding=1)),
                                             ((1, 4, 40, 40), dict(stride=1, padding=2, dilation=2))],
                         ids=["batch", "rows"])
def test_small_budget_gives_the_same_conv_transpose(x_shape, kwargs, budget):
    rng = numpy.random.default_rng(12)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(3)
    full = _run(lambda x, w, b: conv_transpose2d(x, w, b, **kwargs), x, w, b)
    budget(64 * 1024)
    # the transposed forward chunks over x (playing the output gradient of a conv)
    assert len(list(conv_window.chunks(x_shape[0], x_shape[2:], 3 * 9 * 8))) > 1
    chunked = _run(lambda x, w, b: conv_transpose2d(x, w, b, **kwargs), x, w, b)
    for a, c in zip(full, chunked, strict=True):
        numpy.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-12)


def test_budget_lowered_between_forward_and_backward(budget):
    """The window matrix kept by a one-piece forward must not be reused by a chunked backward."""
    rng = numpy.random.default_rng(13)
    x, w, b = rng.standard_normal((2, 4, 20, 20)), rng.standard_normal((3, 4, 3, 3)), rng.standard_normal(3)
    expected = _run(lambda x, w, b: conv2d(x, w, b), x, w, b)
    xs = [convpool.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = conv2d(*xs)
    budget(4096)
    y.backward(convpool.tensor(numpy.random.default_rng(0).standard_normal(y.shape)))
    for a, t in zip(expected[1:], xs, strict=True):
        numpy.testing.assert_allclose(t.grad.numpy(), a, rtol=1e-12, atol=1e-12)


def _traced_peak(fn):
    """Peak bytes allocated (beyond what was live before) while fn runs, and its result."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = fn()
        return tracemalloc.get_traced_memory()[1] - before, result
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("x_shape, small", [((1, 8, 64, 64), 64 * 1024), ((8, 8, 18, 18), 300 * 1024)],
                         ids=["rows", "batch"])
def test_small_budget_bounds_conv2d_forward_peak_memory(x_shape, small, budget):
    rng = numpy.random.default_rng(14)
    x = convpool.tensor(rng.standard_normal(x_shape))
    w = convpool.tensor(rng.standard_normal((4, 8, 3, 3)))
    n, _, h, w_ = x_shape
    out_bytes = n * 4 * (h - 2) * (w_ - 2) * 8
    im2col_bytes = n * 8 * 9 * (h - 2) * (w_ - 2) * 8  # what one un-chunked window matrix takes
    assert im2col_bytes > 3 * small

    default_peak, y_full = _traced_peak(lambda: conv2d(x, w))
    assert default_peak > im2col_bytes  # the measurement sees the window matrix
    budget(small)
    small_peak, y_small = _traced_peak(lambda: conv2d(x, w))
    numpy.testing.assert_allclose(y_small.numpy(), y_full.numpy(), rtol=1e-12, atol=1e-12)
    # the output, one budget-sized window chunk, and small per-chunk products
    assert small_peak <= 1.2 * (small + out_bytes), (small_peak, small, out_bytes)
    assert small_peak < im2col_bytes / 3


@pytest.mark.parametrize("nd, shape, kernel, stride, dilation, padding", [
    (1, (3, 1, 50), 8, 4, 1, 0),
    (1, (2, 1, 33), 5, 2, 2, 3),
    (2, (2, 1, 11, 9), 3, 2, 1, 1),
])
def test_single_channel_inference_path_equals_the_training_path(nd, shape, kernel, stride, dilation, padding):
    """Without a weight gradient a one-channel conv takes its own (per-sample) path: same numbers."""
    rng = numpy.random.default_rng(21)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((4, 1) + (kernel,) * nd)
    b = rng.standard_normal(4)
    fn = CONV[nd]
    with convpool.no_grad():
        fast = fn(convpool.tensor(x), convpool.tensor(w), convpool.tensor(b), stride, padding, dilation)
    general = fn(convpool.tensor(x), convpool.tensor(w, requires_grad=True), convpool.tensor(b), stride, padding,
                 dilation)
    assert fast.shape == general.shape
    numpy.testing.assert_allclose(fast.numpy(), general.detach().numpy(), rtol=1e-12, atol=1e-12)
    if torch is not None:
        expected = getattr(TF, TORCH_CONV[nd])(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride, padding,
                                                dilation)
        numpy.testing.assert_allclose(fast.numpy(), expected.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("budget_bytes", [256 * 2**10, 64 * 2**10])
def test_the_budget_bounds_the_window_buffer_beyond_the_padded_copy_and_the_output(budget, budget_bytes):
    """What set_memory_budget promises, measured: a window-matrix convolution's peak is its
    padded input copy plus its output plus at most one budget of window buffer (the whole
    window matrix here would be 4.5 MiB)."""
    import tracemalloc

    rng = numpy.random.default_rng(0)
    x, w = convpool.tensor(rng.standard_normal((2, 8, 64, 64))), convpool.tensor(rng.standard_normal((8, 8, 3, 3)))
    budget(budget_bytes)
    with convpool.no_grad():
        conv2d(x, w, padding=1)  # warm: first-call allocations are not the convolution's
        tracemalloc.start()
        try:
            y = conv2d(x, w, padding=1)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    padded_copy = 2 * 8 * 66 * 66 * 8
    assert peak <= padded_copy + y.data.nbytes + budget_bytes + 64 * 2**10, peak
