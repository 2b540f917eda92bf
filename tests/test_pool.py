"""Pooling: max (with indices), average, adaptive, power-average and max-unpooling, against
PyTorch on randomly drawn shapes and arguments (forward, indices and the input gradient),
against central differences, by hand, the pinned edge rules and every error message."""

from __future__ import annotations

import numpy
import pytest
from reference import check_grad, compare, needs_torch, tie_free, torch

import convpool
from convpool.ops.pool import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    lp_pool1d,
    lp_pool2d,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    max_unpool1d,
    max_unpool2d,
)
from convpool.shapes import output_length, window_touches_input

if torch is not None:
    import torch.nn.functional as TF

MAX = {1: max_pool1d, 2: max_pool2d, 3: max_pool3d}
AVG = {1: avg_pool1d, 2: avg_pool2d, 3: avg_pool3d}
ADAPTIVE_AVG = {1: adaptive_avg_pool1d, 2: adaptive_avg_pool2d}
ADAPTIVE_MAX = {1: adaptive_max_pool1d, 2: adaptive_max_pool2d}
LP = {1: lp_pool1d, 2: lp_pool2d}
UNPOOL = {1: max_unpool1d, 2: max_unpool2d}

N_MAX, N_AVG, N_ADAPTIVE, N_LP, N_UNPOOL = 60, 60, 40, 24, 24


def _dtype(seed: int) -> str:
    return "float64" if seed % 2 == 0 else "float32"


def _valid(sizes, kernel, stride, padding, dilation, ceil_mode) -> bool:
    """Both libraries accept it and no window lies wholly in padding."""
    for n, k, s, p, d in zip(sizes, kernel, stride, padding, dilation, strict=True):
        if n + 2 * p < d * (k - 1) + 1:
            return False
        o = output_length(n, k, s, p, d, ceil_mode)
        if o < 1 or not window_touches_input(n, k, s, p, d, o):
            return False
    return True


def _batch(rng, nd):
    unbatched = rng.random() < 0.2
    return unbatched, (() if unbatched else (int(rng.integers(1, 3)),)) + (int(rng.integers(1, 4)),)


def draw_pool(seed: int, kind: str) -> dict:
    """A random max or avg pooling configuration that both libraries accept."""
    rng = numpy.random.default_rng((2000 if kind == "max" else 3000) + seed)
    nd = 1 + seed % 3
    kmax = 3 if nd == 3 else 4
    while True:
        kernel = tuple(int(k) for k in rng.integers(1, kmax + 1, nd))
        stride_is_default = rng.random() < 0.15
        stride = kernel if stride_is_default else tuple(int(s) for s in rng.integers(1, 5, nd))
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
        dilation = (1,) * nd
        if kind == "max":
            dilation = tuple(int(d) for d in rng.integers(1, 3 if nd == 3 else 4, nd))
        ceil_mode = bool(rng.random() < 0.5)
        sizes = tuple(max(1, d * (k - 1) + 1 - 2 * p + int(rng.integers(0, 6 if nd < 3 else 3)))
                      for k, d, p in zip(kernel, dilation, padding, strict=True))
        if kind == "avg" and nd == 3 and min(n - k for n, k in zip(sizes, kernel, strict=True)) < 0:
            continue  # torch's avg_pool3d wants the unpadded input to hold a kernel (1-D and 2-D do not)
        if _valid(sizes, kernel, stride, padding, dilation, ceil_mode):
            break
    unbatched, lead = _batch(rng, nd)
    c = dict(nd=nd, kernel=kernel, stride=None if stride_is_default else stride, padding=padding,
             dilation=dilation, ceil_mode=ceil_mode, unbatched=unbatched, sizes=sizes)
    if kind == "max":
        c["return_indices"] = bool(rng.random() < 0.5)
        c["x"] = tie_free(rng, lead + sizes, _dtype(seed))
    else:
        c["count_include_pad"] = bool(rng.random() < 0.5)
        c["divisor_override"] = int(rng.integers(1, 10)) if nd > 1 and rng.random() < 0.25 else None
        c["x"] = rng.standard_normal(lead + sizes).astype(_dtype(seed))
    return c


def draw_adaptive(seed: int) -> dict:
    rng = numpy.random.default_rng(4000 + seed)
    nd = 1 + seed % 2
    sizes = tuple(int(n) for n in rng.integers(1, 10, nd))
    how = ("divisible", "any", "larger")[(seed // 2) % 3]
    if how == "divisible":
        out = tuple(int(rng.choice([d for d in range(1, n + 1) if n % d == 0])) for n in sizes)
    elif how == "any":
        out = tuple(int(rng.integers(1, n + 1)) for n in sizes)
    else:  # more outputs than inputs: windows overlap
        out = tuple(int(n + rng.integers(0, 3)) for n in sizes)
    unbatched, lead = _batch(rng, nd)
    output_size = out
    if nd == 2 and rng.random() < 0.25:
        output_size = (None, out[1])
        out = (sizes[0], out[1])
    return dict(nd=nd, sizes=sizes, out=out, output_size=output_size[0] if nd == 1 else output_size,
                divisible=all(n % o == 0 for n, o in zip(sizes, out, strict=True)),
                return_indices=bool(rng.random() < 0.5), unbatched=unbatched,
                x=tie_free(rng, lead + sizes, _dtype(seed)))


# ----- against PyTorch ---------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("seed", range(N_MAX))
def test_max_pool_matches_torch(seed):
    c = draw_pool(seed, "max")
    kwargs = dict(kernel_size=c["kernel"], stride=c["stride"], padding=c["padding"], dilation=c["dilation"],
                  ceil_mode=c["ceil_mode"], return_indices=c["return_indices"])
    theirs = getattr(TF, f"max_pool{c['nd']}d")
    compare(lambda x: MAX[c["nd"]](x, **kwargs), lambda x: theirs(x, **kwargs), c["x"], seed=seed)


@needs_torch
@pytest.mark.parametrize("seed", range(N_AVG))
def test_avg_pool_matches_torch(seed):
    c = draw_pool(seed, "avg")
    kwargs = dict(kernel_size=c["kernel"], stride=c["stride"], padding=c["padding"], ceil_mode=c["ceil_mode"],
                  count_include_pad=c["count_include_pad"])
    if c["nd"] > 1:
        kwargs["divisor_override"] = c["divisor_override"]
    theirs = getattr(TF, f"avg_pool{c['nd']}d")
    compare(lambda x: AVG[c["nd"]](x, **kwargs), lambda x: theirs(x, **kwargs), c["x"], seed=seed)


@needs_torch
@pytest.mark.parametrize("seed", range(N_ADAPTIVE))
def test_adaptive_avg_pool_matches_torch(seed):
    c = draw_adaptive(seed)
    theirs = getattr(TF, f"adaptive_avg_pool{c['nd']}d")
    y = compare(lambda x: ADAPTIVE_AVG[c["nd"]](x, c["output_size"]), lambda x: theirs(x, c["output_size"]),
                c["x"], seed=seed)
    assert y.shape[-c["nd"]:] == c["out"]


@needs_torch
@pytest.mark.parametrize("seed", range(N_ADAPTIVE))
def test_adaptive_max_pool_matches_torch(seed):
    c = draw_adaptive(seed)
    theirs = getattr(TF, f"adaptive_max_pool{c['nd']}d")
    ri = c["return_indices"]
    compare(lambda x: ADAPTIVE_MAX[c["nd"]](x, c["output_size"], ri),
            lambda x: theirs(x, c["output_size"], ri), c["x"], seed=seed)


@needs_torch
@pytest.mark.parametrize("seed", range(N_LP))
def test_lp_pool_matches_torch(seed):
    rng = numpy.random.default_rng(6000 + seed)
    nd = 1 + seed % 2
    norm_type = (1, 2, 3, 1.5, 4.0, 2.5)[(seed // 2) % 6]
    while True:
        kernel = tuple(int(k) for k in rng.integers(1, 4, nd))
        stride = None if rng.random() < 0.3 else tuple(int(s) for s in rng.integers(1, 4, nd))
        ceil_mode = bool(rng.random() < 0.5)
        sizes = tuple(int(k + rng.integers(0, 5)) for k in kernel)
        if _valid(sizes, kernel, stride or kernel, (0,) * nd, (1,) * nd, ceil_mode):
            break
    _, lead = _batch(rng, nd)
    x = rng.uniform(0.2, 2.0, lead + sizes).astype(_dtype(seed))  # positive: x**p is smooth
    k_arg = kernel[0] if nd == 1 else kernel
    s_arg = stride if stride is None or nd > 1 else stride[0]
    theirs = getattr(TF, f"lp_pool{nd}d")
    compare(lambda x: LP[nd](x, norm_type, k_arg, s_arg, ceil_mode),
            lambda x: theirs(x, norm_type, k_arg, s_arg, ceil_mode), x, seed=seed)


@needs_torch
@pytest.mark.parametrize("seed", range(N_UNPOOL))
def test_max_unpool_round_trip_matches_torch(seed):
    """Pool with torch, then unpool its values at torch's indices with both libraries."""
    rng = numpy.random.default_rng(7000 + seed)
    nd = 1 + seed % 2
    while True:
        kernel = tuple(int(k) for k in rng.integers(1, 4, nd))
        stride = tuple(int(s) for s in rng.integers(1, 4, nd))
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
        sizes = tuple(int(k + rng.integers(0, 5)) for k in kernel)
        if _valid(sizes, kernel, stride, padding, (1,) * nd, False):
            break
    unbatched, lead = _batch(rng, nd)
    dtype = _dtype(seed)
    source = torch.tensor(tie_free(rng, lead + sizes, dtype))
    values, indices = getattr(TF, f"max_pool{nd}d")(source, kernel, stride, padding, return_indices=True)
    default = tuple((o - 1) * s - 2 * p + k for o, s, p, k in
                    zip(values.shape[-nd:], stride, padding, kernel, strict=True))
    # the pooled input's size (often != default), or the default when every index fits in it
    fits = int(indices.max()) < numpy.prod(default)
    output_size = None if fits and (seed // 2) % 2 else sizes
    kwargs = dict(kernel_size=kernel, stride=stride, padding=padding, output_size=output_size)
    theirs = getattr(TF, f"max_unpool{nd}d")
    y = compare(lambda v, i: UNPOOL[nd](v, i, **kwargs), lambda v, i: theirs(v, i, **kwargs),
                values.numpy(), indices.numpy(), seed=seed)
    assert y.shape[-nd:] == (default if output_size is None else sizes)


def test_random_draws_cover_every_case():
    maxes = [draw_pool(s, "max") for s in range(N_MAX)]
    avgs = [draw_pool(s, "avg") for s in range(N_AVG)]
    adaptives = [draw_adaptive(s) for s in range(N_ADAPTIVE)]
    for nd in (1, 2, 3):
        assert any(c["nd"] == nd and c["return_indices"] for c in maxes), nd
        assert any(c["nd"] == nd and c["ceil_mode"] and max(c["padding"]) > 0 for c in maxes), nd
        assert any(c["nd"] == nd and c["ceil_mode"] and max(c["padding"]) > 0 for c in avgs), nd
        assert any(c["nd"] == nd and max(c["dilation"]) > 1 for c in maxes), nd
        for cip in (True, False):
            assert any(c["nd"] == nd and c["count_include_pad"] is cip and max(c["padding"]) > 0
                       for c in avgs)
    for cs in (maxes, avgs):
        assert any(c["stride"] is None for c in cs)
        assert any(c["stride"] is not None and
                   any(s > k for s, k in zip(c["stride"], c["kernel"], strict=True)) for c in cs)
        assert any(c["unbatched"] for c in cs)
        assert any(min(c["sizes"]) % 2 == 1 for c in cs)
    assert any(c["divisor_override"] is not None and c["nd"] == 2 for c in avgs)
    assert any(c["divisor_override"] is not None and c["nd"] == 3 for c in avgs)
    for nd in (1, 2):
        assert any(c["nd"] == nd and c["divisible"] for c in adaptives)
        assert any(c["nd"] == nd and not c["divisible"] for c in adaptives)
        assert any(c["nd"] == nd and any(o > n for o, n in zip(c["out"], c["sizes"], strict=True))
                   for c in adaptives)
    assert any(c["nd"] == 2 and None in c["output_size"] for c in adaptives)


# ----- central differences (no torch) -------------------------------------------------------
def _tf(shape, seed=0):
    return tie_free(numpy.random.default_rng(seed), shape)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_pool_gradients_by_central_differences(nd):
    sizes = (7, 6, 5)[:nd] if nd < 3 else (4, 5, 3)
    x = _tf((2, 2) + sizes, nd)
    assert check_grad(lambda x: MAX[nd](x, 3, stride=2, padding=1, dilation=(1,) * (nd - 1) + (2,),
                                        ceil_mode=True), x)
    assert check_grad(lambda x: MAX[nd](x, 2), x)  # windows tile the input


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool_gradients_by_central_differences(nd, count_include_pad):
    rng = numpy.random.default_rng(nd)
    sizes = (7, 6, 5)[:nd] if nd < 3 else (4, 5, 3)
    x = rng.standard_normal((1, 2) + sizes)
    assert check_grad(lambda x: AVG[nd](x, 3, stride=2, padding=1, ceil_mode=True,
                                        count_include_pad=count_include_pad), x)
    assert check_grad(lambda x: AVG[nd](x, 2, count_include_pad=count_include_pad), x)


@pytest.mark.parametrize("nd", [2, 3])
def test_avg_pool_divisor_override_gradient_by_central_differences(nd):
    x = numpy.random.default_rng(5).standard_normal((1, 1) + (5,) * nd)
    assert check_grad(lambda x: AVG[nd](x, 2, stride=1, padding=1, divisor_override=3), x)


@pytest.mark.parametrize("nd", [1, 2])
@pytest.mark.parametrize("out", [2, 3, 7])  # divisible, overlapping, more outputs than inputs
def test_adaptive_pool_gradients_by_central_differences(nd, out):
    sizes = (6, 5)[:nd]
    x = _tf((1, 2) + sizes, out)
    assert check_grad(lambda x: ADAPTIVE_AVG[nd](x, out), x)
    assert check_grad(lambda x: ADAPTIVE_MAX[nd](x, out), x)


@pytest.mark.parametrize("nd", [1, 2])
@pytest.mark.parametrize("norm_type", [1, 2, 3.5])
def test_lp_pool_gradients_by_central_differences(nd, norm_type):
    x = numpy.random.default_rng(nd).uniform(0.5, 2.0, (1, 2) + (5,) * nd)
    assert check_grad(lambda x: LP[nd](x, norm_type, 2, stride=2, ceil_mode=True), x)
    assert check_grad(lambda x: LP[nd](x, norm_type, 3, stride=1), x)


@pytest.mark.parametrize("nd", [1, 2])
def test_max_unpool_gradient_by_central_differences(nd):
    x = convpool.tensor(_tf((1, 2) + (5,) * nd, 9))
    values, indices = MAX[nd](x, 2, stride=2, return_indices=True)
    assert check_grad(lambda v: UNPOOL[nd](v, indices, 2, output_size=(5,) * nd), values.numpy())


# ----- by hand, and the pinned edge rules ----------------------------------------------------
ARTICLE = [[1.0, 1.0, 2.0, 4.0], [5.0, 6.0, 7.0, 8.0], [3.0, 2.0, 1.0, 0.0], [1.0, 2.0, 3.0, 4.0]]


def test_article_4x4_max_pooling_by_hand():
    y = max_pool2d(convpool.tensor([[ARTICLE]]), 2)
    assert y.tolist() == [[[[6.0, 8.0], [3.0, 4.0]]]]


def test_article_4x4_average_pooling_by_hand():
    y = avg_pool2d(convpool.tensor([[ARTICLE]]), 2)
    # (1+1+5+6)/4, (2+4+7+8)/4, (3+2+1+2)/4, (1+0+3+4)/4
    assert y.tolist() == [[[[3.25, 5.25], [2.0, 2.0]]]]


def test_max_pool_gradient_goes_to_the_largest_pixel_by_hand():
    x = convpool.tensor([[ARTICLE]], requires_grad=True)
    max_pool2d(x, 2).sum().backward()
    assert x.grad.tolist() == [[[[0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 1.0],
                                 [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]]]


def test_ceil_mode_drops_a_last_window_starting_in_the_right_padding():
    x = numpy.arange(32 * 32, dtype=numpy.float64).reshape(1, 1, 32, 32)
    y = max_pool2d(convpool.tensor(x), 1, stride=2, ceil_mode=True)
    assert y.shape == (1, 1, 16, 16)
    numpy.testing.assert_array_equal(y.numpy(), x[:, :, ::2, ::2])
    assert avg_pool2d(convpool.tensor(x), 1, stride=2, ceil_mode=True).shape == (1, 1, 16, 16)


def test_count_include_pad_true_in_ceil_mode():
    x = convpool.tensor(numpy.arange(1.0, 17.0).reshape(1, 1, 4, 4))
    y = avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=True)
    # the last row/column of windows overhangs the padding: divide by the size clipped to input + padding
    expected = [14 / 9, 30 / 9, 2.0, 57 / 9, 11.0, 6.0, 4.5, 7.5, 4.0]
    numpy.testing.assert_allclose(y.numpy().ravel(), expected, rtol=1e-12)
    issue = [1.556, 3.333, 2.0, 6.333, 11, 6, 4.5, 7.5, 4.0]  # the issue's rounded numbers
    numpy.testing.assert_allclose(y.numpy().ravel(), issue, atol=1e-3)


def test_count_include_pad_false_in_ceil_mode():
    x = convpool.tensor(numpy.arange(1.0, 17.0).reshape(1, 1, 4, 4))
    y = avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    numpy.testing.assert_allclose(y.numpy().ravel(), [3.5, 5, 6, 9.5, 11, 12, 13.5, 15, 16], rtol=1e-12)


def test_return_indices_are_flat_within_each_plane():
    ramp = numpy.arange(16.0).reshape(4, 4)
    x = numpy.stack([numpy.stack([ramp + 100 * n + 20 * c for c in range(3)]) for n in range(2)])
    y, indices = max_pool2d(convpool.tensor(x), 2, return_indices=True)
    assert indices.dtype == numpy.int64
    # the bottom-right pixel of each window wins; its index counts from the plane's start,
    # not from the start of the batch or of the window
    numpy.testing.assert_array_equal(indices.numpy(), numpy.broadcast_to([[5, 7], [13, 15]], (2, 3, 2, 2)))
    picked = numpy.take_along_axis(x.reshape(2, 3, 16), indices.numpy().reshape(2, 3, 4), axis=-1)
    numpy.testing.assert_array_equal(picked.reshape(2, 3, 2, 2), y.numpy())


def test_return_indices_with_padding_and_dilation_point_into_the_unpadded_plane():
    x = numpy.array([[[5.0, 1.0, 2.0, 9.0, 3.0, 4.0, 0.0]]])
    y, indices = max_pool1d(convpool.tensor(x), 2, stride=2, padding=1, dilation=2, return_indices=True)
    # windows read pixels (-1, 1), (1, 3), (3, 5), (5, 7): -1 and 7 are padding
    assert y.tolist() == [[[1.0, 9.0, 9.0, 4.0]]]
    assert indices.tolist() == [[[1, 3, 3, 5]]]


def test_max_pool3d_and_unbatched_indices():
    x = numpy.arange(2 * 2 * 2 * 2, dtype=numpy.float64).reshape(2, 2, 2, 2)  # (C, D, H, W)
    y, indices = max_pool3d(convpool.tensor(x), 2, return_indices=True)
    assert y.shape == (2, 1, 1, 1) and indices.shape == (2, 1, 1, 1)
    assert indices.numpy().ravel().tolist() == [7, 7]
    assert y.numpy().ravel().tolist() == [7.0, 15.0]


def test_max_unpool_puts_values_back_by_hand():
    x = convpool.tensor([[ARTICLE]])
    y, indices = max_pool2d(x, 2, return_indices=True)
    z = max_unpool2d(y, indices, 2)
    assert z.tolist() == [[[[0.0, 0.0, 0.0, 0.0], [0.0, 6.0, 0.0, 8.0],
                            [3.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 4.0]]]]
    assert max_unpool2d(y, indices, 2, output_size=(5, 5)).shape == (1, 1, 5, 5)


def test_adaptive_pooling_by_hand():
    x = convpool.tensor(numpy.array([[[1.0, 5.0, 2.0, 4.0, 3.0]]]))
    # windows [0, 2), [1, 4), [3, 5): floor(i*5/3) to ceil((i+1)*5/3)
    numpy.testing.assert_allclose(adaptive_avg_pool1d(x, 3).numpy(), [[[3.0, 11 / 3, 3.5]]], rtol=1e-12)
    y, indices = adaptive_max_pool1d(x, 3, return_indices=True)
    assert y.tolist() == [[[5.0, 5.0, 4.0]]] and indices.tolist() == [[[1, 1, 3]]]
    assert adaptive_avg_pool2d(convpool.tensor([[ARTICLE]]), 1).tolist() == [[[[50.0 / 16]]]]


def test_lp_pool_by_hand():
    x = convpool.tensor(numpy.array([[[3.0, 4.0, 1.0, 1.0]]]))
    numpy.testing.assert_allclose(lp_pool1d(x, 2, 2).numpy(), [[[5.0, 2 ** 0.5]]], rtol=1e-12)
    numpy.testing.assert_allclose(lp_pool1d(x, 1, 2).numpy(), [[[7.0, 2.0]]], rtol=1e-12)


def test_window_wholly_in_padding_raises():
    x = convpool.tensor(numpy.arange(7.0).reshape(1, 1, 1, 7))
    with pytest.raises(ValueError, match=r"max_pool2d: a pooling window along spatial axis 0 lies wholly in "
                                         r"the padding .*PyTorch returns -inf there"):
        max_pool2d(x, 2, padding=1, dilation=2)


@needs_torch
def test_torch_returns_minus_inf_for_a_window_wholly_in_padding():
    """The divergence recorded: PyTorch 2.13 returns -inf where convpool raises."""
    y = TF.max_pool2d(torch.arange(7.0).reshape(1, 1, 1, 7), 2, padding=1, dilation=2)
    assert torch.isinf(y).all() and (y < 0).all()


@needs_torch
def test_torch_ceil_mode_and_count_include_pad_agree_with_the_pinned_numbers():
    x = torch.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    y = TF.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True)
    expected = [14 / 9, 30 / 9, 2.0, 57 / 9, 11, 6, 4.5, 7.5, 4.0]
    numpy.testing.assert_allclose(y.numpy().ravel(), expected, rtol=1e-6)
    assert TF.max_pool2d(torch.zeros(1, 1, 32, 32), 1, stride=2, ceil_mode=True).shape == (1, 1, 16, 16)


# ----- error messages -----------------------------------------------------------------------
def _t(*shape, dtype="float64"):
    return convpool.tensor(numpy.zeros(shape, dtype=dtype))


def test_wrong_rank_is_reported():
    with pytest.raises(ValueError, match=r"max_pool2d: input must be 4-D \(N, C, H, W\) or 3-D \(C, H, "
                                         r"W\), got 2-D"):
        max_pool2d(_t(4, 4), 2)
    with pytest.raises(ValueError, match=r"avg_pool1d: input must be 3-D .*got 4-D"):
        avg_pool1d(_t(1, 1, 4, 4), 2)
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: input must be 4-D"):
        adaptive_avg_pool2d(_t(4), 2)
    with pytest.raises(ValueError, match=r"max_unpool1d: input must be 3-D"):
        max_unpool1d(_t(1, 1, 1, 4), convpool.tensor(numpy.zeros((1, 1, 1, 4), numpy.int64)), 2)


@pytest.mark.parametrize("name, value", [("kernel_size", 0), ("kernel_size", (2, -1)), ("stride", 0),
                                         ("stride", (0, 1)), ("dilation", 0)])
def test_non_positive_kernel_stride_dilation_is_reported(name, value):
    kwargs = dict(kernel_size=2)
    kwargs[name] = value
    escaped = repr(value).replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(ValueError, match=rf"max_pool2d: {name} must be positive, got {name}={escaped}"):
        max_pool2d(_t(1, 1, 6, 6), **kwargs)
    if name != "dilation":
        with pytest.raises(ValueError, match=rf"avg_pool2d: {name} must be positive, got {name}={escaped}"):
            avg_pool2d(_t(1, 1, 6, 6), **kwargs)


def test_negative_padding_is_reported():
    with pytest.raises(ValueError, match=r"max_pool1d: padding must be non-negative, got padding=-1"):
        max_pool1d(_t(1, 1, 6), 3, padding=-1)
    with pytest.raises(ValueError, match=r"avg_pool2d: padding must be non-negative, got padding=\(0, -1\)"):
        avg_pool2d(_t(1, 1, 6, 6), 3, padding=(0, -1))


def test_padding_larger_than_half_the_kernel_is_reported():
    with pytest.raises(ValueError, match=r"max_pool2d: padding should be at most half of the kernel "
                                         r"size, got "
                                         r"padding=\(2, 2\) with kernel_size=\(3, 3\)"):
        max_pool2d(_t(1, 1, 6, 6), 3, padding=2)
    with pytest.raises(ValueError, match=r"avg_pool1d: padding should be at most half of the kernel "
                                         r"size, got "
                                         r"padding=\(1,\) with kernel_size=\(1,\)"):
        avg_pool1d(_t(1, 1, 6), 1, padding=1)


def test_kernel_larger_than_the_padded_input_is_reported():
    with pytest.raises(ValueError, match=r"max_pool2d: kernel larger than the padded input: "
                                         r"kernel_size=5 with "
                                         r"dilation=2 spans 9 but the input has size 3 with padding "
                                         r"\(2, 2\)"):
        max_pool2d(_t(1, 1, 3, 8), 5, padding=2, dilation=(2, 1))
    with pytest.raises(ValueError, match=r"avg_pool3d: kernel larger than the padded input: kernel_size=4"):
        avg_pool3d(_t(1, 1, 4, 4, 3), 4)
    with pytest.raises(ValueError, match=r"lp_pool1d: kernel larger than the padded input: kernel_size=3"):
        lp_pool1d(_t(1, 1, 2), 2, 3)


def test_bad_divisor_override_and_norm_type_are_reported():
    with pytest.raises(ValueError, match=r"avg_pool2d: divisor_override must be a non-zero int or None, "
                                         r"got 0"):
        avg_pool2d(_t(1, 1, 4, 4), 2, divisor_override=0)
    with pytest.raises(ValueError, match=r"lp_pool2d: norm_type must be a non-zero number, got 0"):
        lp_pool2d(_t(1, 1, 4, 4), 0, 2)


def test_bad_adaptive_output_size_is_reported():
    with pytest.raises(ValueError, match=r"adaptive_max_pool2d: output_size must be positive, got "
                                         r"output_size=\(0, 2\)"):
        adaptive_max_pool2d(_t(1, 1, 4, 4), (0, 2))


def test_unpool_indices_out_of_range_are_reported():
    values = convpool.tensor(numpy.ones((1, 1, 2, 2)))
    indices = convpool.tensor(numpy.array([[[[0, 3], [9, 16]]]], numpy.int64))
    with pytest.raises(ValueError, match=r"max_unpool2d: indices must lie in \[0, 16\) for output size "
                                         r"\(4, 4\), "
                                         r"got values from 0 to 16"):
        max_unpool2d(values, indices, 2)
    negative = convpool.tensor(numpy.array([[[-1, 2]]], numpy.int64))
    with pytest.raises(ValueError, match=r"max_unpool1d: indices must lie in \[0, 4\).*from -1 to 2"):
        max_unpool1d(convpool.tensor(numpy.ones((1, 1, 2))), negative, 2)


def test_unpool_bad_indices_and_output_size_are_reported():
    values = convpool.tensor(numpy.ones((1, 1, 2, 2)))
    with pytest.raises(ValueError, match=r"max_unpool2d: indices shape \(1, 1, 2\) must equal the input "
                                         r"shape "
                                         r"\(1, 1, 2, 2\)"):
        max_unpool2d(values, convpool.tensor(numpy.zeros((1, 1, 2), numpy.int64)), 2)
    with pytest.raises(TypeError, match=r"max_unpool2d: indices must be an integer convpool.Tensor"):
        max_unpool2d(values, convpool.tensor(numpy.zeros((1, 1, 2, 2))), 2)
    with pytest.raises(ValueError, match=r"max_unpool2d: output_size \(6, 4\) must be within the stride "
                                         r"of the "
                                         r"default size \(4, 4\)"):
        max_unpool2d(values, convpool.tensor(numpy.zeros((1, 1, 2, 2), numpy.int64)), 2, output_size=(6, 4))


@needs_torch
@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 1)])
def test_max_pool_nan_windows_match_torch(kernel, stride):
    """NaN wins its window (value and index), the last NaN when several, as in PyTorch."""
    rng = numpy.random.default_rng(3)
    x = tie_free(rng, (2, 3, 6, 6))
    x[0, 0, 1, 1] = x[0, 0, 1, 0] = x[1, 2, 4, 5] = numpy.nan
    ours, ours_idx = max_pool2d(convpool.tensor(x), kernel, stride, return_indices=True)
    theirs, theirs_idx = torch.nn.functional.max_pool2d(torch.tensor(x), kernel, stride, return_indices=True)
    numpy.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    numpy.testing.assert_array_equal(ours_idx.numpy(), theirs_idx.numpy())
    assert numpy.isnan(ours.numpy()).any()


# ----- the threaded passes against the one-range form a device runs ---------------------------
@pytest.mark.parametrize("op, kwargs", [(max_pool2d, dict(kernel_size=2)),
                                        (max_pool2d, dict(kernel_size=3, stride=2, padding=1)),
                                        (avg_pool2d, dict(kernel_size=2)),
                                        (avg_pool2d, dict(kernel_size=3, stride=2, padding=1))])
def test_pooling_split_over_threads_equals_one_range(op, kwargs):
    """Max and average pooling split their passes over the batch on CPU threads; for a device
    `parallel_for` runs them as one range, which a single thread reproduces. Same output and
    gradient, bit for bit (the batch is big enough to be split)."""
    rng = numpy.random.default_rng(8)
    x = tie_free(rng, (8, 8, 32, 32))
    g = rng.standard_normal(op(convpool.tensor(x), **kwargs).shape)
    threads = convpool.backend.num_threads()
    results = []
    try:
        for n in (1, 3):
            convpool.backend.set_num_threads(n)
            xt = convpool.tensor(x, requires_grad=True)
            y = op(xt, **kwargs)
            y.backward(convpool.tensor(g))
            results.append((y.detach().numpy().copy(), xt.grad.numpy().copy()))
    finally:
        convpool.backend.set_num_threads(threads)
    for one, split in zip(*results, strict=True):
        numpy.testing.assert_array_equal(one, split)
