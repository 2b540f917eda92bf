"""shapes.py: the output-size formula, ceil mode, 'same' padding, transposed lengths and
adaptive windows, checked by hand on the article's examples and against the shapes that
PyTorch's own pooling and convolution functions produce."""

from __future__ import annotations

import re

import numpy
import pytest
from reference import needs_torch, torch

import convpool
from convpool.shapes import (
    adaptive_windows,
    output_length,
    output_size,
    same_padding,
    transposed_output_length,
    window_touches_input,
)

if torch is not None:
    import torch.nn.functional as F


# ----- the formula by hand ---------------------------------------------------------------
def test_article_worked_example_256_kernel_3_stride_3_gives_85():
    assert output_size(256, 3, stride=3) == 85
    assert convpool.output_size(256, 3, stride=3) == 85  # re-exported at the top level


def test_ceil_mode_32x32_kernel_1_stride_2_gives_16():
    assert output_size((32, 32), 1, stride=2, ceil_mode=True) == (16, 16)
    assert output_size(32, 1, stride=2, ceil_mode=True) == 16


@pytest.mark.parametrize(
    "args, kwargs, expected",
    [
        ((28, 5), {}, 24),  # LeNet: 28 - 5 + 1
        ((32, 3), {"padding": 1}, 32),  # 'same' with padding 1
        ((32, 3), {"stride": 2, "padding": 1}, 16),
        ((7, 3), {"dilation": 2}, 3),  # kernel spans 5 pixels
        ((224, 7), {"stride": 2, "padding": 3}, 112),  # ResNet stem
        ((112, 3), {"stride": 2, "padding": 1}, 56),  # ResNet max pool
        ((5, 2), {"stride": 2}, 2),  # floor drops the last pixel
        ((5, 2), {"stride": 2, "ceil_mode": True}, 3),  # ceil keeps it
        ((6, 2), {"stride": 2, "ceil_mode": True}, 3),  # even split: ceil == floor
        ((1, 1), {}, 1),
        ((0, 1), {"padding": 1}, 2),  # empty input, padding alone
        ((10, 3), {"padding": (0, 2)}, 10),  # (before, after) padding
        ((10, 3), {"padding": (2, 0)}, 10),
    ],
)
def test_output_length_by_hand(args, kwargs, expected):
    assert output_size(*args, **kwargs) == expected


def test_ceil_mode_drops_a_window_that_would_start_in_the_right_padding():
    # size 5, kernel 2, stride 2, padding 1: floor gives 3; rounding up would give 4, but
    # that window would start at 6 = size + left padding, i.e. in the right padding.
    assert output_length(5, 2, stride=2, padding=1) == 3
    assert output_length(5, 2, stride=2, padding=1, ceil_mode=True) == 3
    # size 6, same settings: the fourth window starts at 6 < 6 + 1, inside: kept
    assert output_length(6, 2, stride=2, padding=1, ceil_mode=False) == 4
    assert output_length(4, 2, stride=3, padding=0, ceil_mode=True) == 2


def test_output_size_tuple_forms():
    assert output_size((28, 32), 5) == (24, 28)
    assert output_size((28, 32), (5, 3)) == (24, 30)
    assert output_size((28, 32), (5, 3), stride=(1, 2)) == (24, 15)
    assert output_size((28, 32), 3, stride=(2,), padding=(1,)) == (14, 16)  # length-1 tuples spread
    assert output_size([10, 11, 12], 3, padding=(0, 1, 2), dilation=(1, 2, 3)) == (8, 9, 10)
    assert output_size((9,), 3) == (7,)
    assert isinstance(output_size((9,), 3), tuple)
    assert isinstance(output_size(9, 3), int)


def test_output_size_tuple_of_wrong_length_is_an_error():
    with pytest.raises(ValueError, match="kernel_size must be one value or 2 values"):
        output_size((8, 8), (3, 3, 3))
    with pytest.raises(ValueError, match="stride must be one value or 3 values"):
        output_size((8, 8, 8), 3, stride=(1, 2))


def test_output_size_matches_the_closed_form_for_many_settings():
    rng = numpy.random.default_rng(7)
    for _ in range(300):
        w, k, s, p, d = (int(v) for v in (rng.integers(1, 64), rng.integers(1, 8), rng.integers(1, 6),
                                         rng.integers(0, 4), rng.integers(1, 4)))
        if w + 2 * p < d * (k - 1) + 1:
            continue
        expected = (w + 2 * p - d * (k - 1) - 1) // s + 1
        assert output_size(w, k, stride=s, padding=p, dilation=d) == expected, (w, k, s, p, d)
        ceil = output_size(w, k, stride=s, padding=p, dilation=d, ceil_mode=True)
        if p < d * (k - 1) + 1:  # else the last floor window may start in the right padding
            assert ceil in (expected, expected + 1), (w, k, s, p, d)


# ----- errors ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kernel_size": 0}, "kernel_size must be a positive int, got 0"),
        ({"kernel_size": -2}, "kernel_size must be a positive int, got -2"),
        ({"kernel_size": 2.0}, "kernel_size must be a positive int"),
        ({"kernel_size": True}, "kernel_size must be a positive int"),
        ({"stride": 0}, "stride must be a positive int, got 0"),
        ({"stride": -1}, "stride must be a positive int, got -1"),
        ({"dilation": 0}, "dilation must be a positive int, got 0"),
        ({"dilation": -3}, "dilation must be a positive int, got -3"),
        ({"padding": -1}, "padding must be a non-negative int, got -1"),
        ({"padding": (1, -1)}, "padding must be a non-negative int, got -1"),
        ({"size": -1}, "size must be a non-negative int, got -1"),
    ],
)
def test_bad_arguments_are_named_in_the_error(kwargs, message):
    args = {"size": 10, "kernel_size": 3, "stride": 1, "padding": 0, "dilation": 1} | kwargs
    with pytest.raises(ValueError, match=re.escape(message)):
        output_length(**args)


def test_bad_arguments_in_tuple_form_are_errors_too():
    with pytest.raises(ValueError, match="stride must be a positive int"):
        output_size((8, 8), 3, stride=(1, 0))
    with pytest.raises(ValueError, match="kernel_size must be a positive int"):
        output_size((8, 8), (0, 3))


@pytest.mark.parametrize(
    "size, kernel, padding, dilation, ceil_mode",
    [(4, 5, 0, 1, False), (4, 5, 0, 1, True), (2, 3, 0, 2, False), (3, 8, 2, 1, False), (0, 2, 0, 1, False)],
)
def test_kernel_larger_than_padded_input_is_an_error(size, kernel, padding, dilation, ceil_mode):
    with pytest.raises(ValueError, match="kernel larger than the padded input") as info:
        output_length(size, kernel, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    text = str(info.value)
    assert f"kernel_size={kernel}" in text and f"dilation={dilation}" in text
    assert f"spans {dilation * (kernel - 1) + 1}" in text and f"size {size}" in text


def test_kernel_exactly_filling_the_padded_input_gives_one_output():
    assert output_length(4, 6, padding=1) == 1
    assert output_length(3, 2, dilation=2) == 1


# ----- 'same' padding --------------------------------------------------------------------
@pytest.mark.parametrize(
    "kernel, dilation, expected",
    [(1, 1, (0, 0)), (2, 1, (0, 1)), (3, 1, (1, 1)), (4, 1, (1, 2)), (5, 1, (2, 2)),
     (3, 2, (2, 2)), (2, 3, (1, 2)), (4, 3, (4, 5))],
)
def test_same_padding_puts_the_odd_pixel_after(kernel, dilation, expected):
    assert same_padding(kernel, dilation) == expected
    before, after = same_padding(kernel, dilation)
    assert output_length(17, kernel, padding=(before, after), dilation=dilation) == 17


def test_same_padding_article_example():
    # conv1d of [1..5] with kernel [0, 1] and 'same' padding gives [2, 3, 4, 5, 0]
    x = numpy.arange(1, 6, dtype=numpy.float64)
    before, after = same_padding(2)
    padded = numpy.pad(x, (before, after))
    out = numpy.array([padded[i:i + 2] @ numpy.array([0.0, 1.0]) for i in range(len(x))])
    numpy.testing.assert_array_equal(out, [2, 3, 4, 5, 0])


@needs_torch
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("kernel, dilation", [(1, 1), (2, 1), (3, 1), (4, 1), (5, 2), (2, 3), (4, 2), (6, 1)])
def test_same_padding_matches_torch_padding_same(kernel, dilation):
    rng = numpy.random.default_rng(kernel * 10 + dilation)
    x = torch.tensor(rng.standard_normal((1, 1, 13)))
    w = torch.tensor(rng.standard_normal((1, 1, kernel)))
    expected = F.conv1d(x, w, padding="same", dilation=dilation)
    got = F.conv1d(F.pad(x, same_padding(kernel, dilation)), w, dilation=dilation)
    numpy.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)


# ----- transposed convolution ------------------------------------------------------------
def test_transposed_output_length_by_hand():
    assert transposed_output_length(3, 3) == 5
    assert transposed_output_length(4, 4, stride=2, padding=1) == 8  # DCGAN doubling
    assert transposed_output_length(7, 3, stride=2, padding=1, output_padding=1) == 14
    assert transposed_output_length(5, 3, dilation=2) == 9
    assert convpool.transposed_output_length(1, 1) == 1


def test_transposed_output_length_inverts_output_length():
    rng = numpy.random.default_rng(3)
    for _ in range(200):
        w, k, s, p = (int(v) for v in (rng.integers(1, 40), rng.integers(1, 6), rng.integers(1, 4),
                                      rng.integers(0, 3)))
        if w + 2 * p < k:
            continue
        out = output_length(w, k, s, p)
        if (out - 1) * s - 2 * p + k <= 0:  # padding eats the whole output: nothing to invert
            continue
        back = transposed_output_length(out, k, s, p)
        assert back <= w < back + s, (w, k, s, p)  # output_padding recovers the remainder
        assert transposed_output_length(out, k, s, p, output_padding=(w - back)) == w


def test_transposed_output_length_non_positive_is_an_error():
    with pytest.raises(ValueError, match="non-positive output size -1"):
        transposed_output_length(1, 1, padding=1)
    with pytest.raises(ValueError, match="non-positive output size 0"):
        transposed_output_length(2, 1, padding=1)


@needs_torch
def test_transposed_output_length_matches_torch_conv_transpose1d():
    rng = numpy.random.default_rng(11)
    checked = 0
    while checked < 60:
        w, k, s, p, d = (int(v) for v in (rng.integers(1, 12), rng.integers(1, 5), rng.integers(1, 4),
                                         rng.integers(0, 3), rng.integers(1, 3)))
        op = int(rng.integers(0, max(s, d)))  # torch: output_padding < stride or < dilation
        expected_len = (w - 1) * s - 2 * p + d * (k - 1) + op + 1
        if expected_len <= 0:
            with pytest.raises(ValueError):
                transposed_output_length(w, k, s, p, d, op)
            continue
        y = F.conv_transpose1d(torch.zeros(1, 1, w), torch.zeros(1, 1, k), stride=s, padding=p,
                               output_padding=op, dilation=d)
        assert transposed_output_length(w, k, s, p, d, op) == y.shape[-1], (w, k, s, p, d, op)
        checked += 1


# ----- adaptive windows ------------------------------------------------------------------
def test_adaptive_windows_by_hand():
    assert adaptive_windows(5, 3) == [(0, 2), (1, 4), (3, 5)]
    assert adaptive_windows(6, 3) == [(0, 2), (2, 4), (4, 6)]
    assert adaptive_windows(4, 1) == [(0, 4)]
    assert adaptive_windows(3, 6) == [(0, 1), (0, 1), (1, 2), (1, 2), (2, 3), (2, 3)]


def test_adaptive_windows_cover_the_input_and_are_never_empty():
    for size in range(1, 20):
        for out in range(1, 25):
            windows = adaptive_windows(size, out)
            assert len(windows) == out
            assert windows[0][0] == 0 and windows[-1][1] == size
            for (s0, e0), (s1, e1) in zip(windows, windows[1:], strict=False):
                assert s0 <= s1 and e0 <= e1 and s1 <= e0  # monotone, no gaps
            assert all(0 <= s < e <= size for s, e in windows)


def test_adaptive_windows_non_positive_output_is_an_error():
    with pytest.raises(ValueError, match="output_size must be a positive int, got 0"):
        adaptive_windows(4, 0)


@needs_torch
@pytest.mark.parametrize("size, out", [(5, 3), (7, 7), (10, 4), (3, 5), (13, 1), (16, 5), (9, 2)])
def test_adaptive_windows_match_torch_adaptive_pools(size, out):
    x = numpy.random.default_rng(size * 31 + out).standard_normal(size)
    windows = adaptive_windows(size, out)
    t = torch.tensor(x).reshape(1, 1, size)
    avg = F.adaptive_avg_pool1d(t, out).reshape(-1).numpy()
    mx = F.adaptive_max_pool1d(t, out).reshape(-1).numpy()
    numpy.testing.assert_allclose([x[s:e].mean() for s, e in windows], avg, rtol=1e-12)
    numpy.testing.assert_array_equal([x[s:e].max() for s, e in windows], mx)


# ----- window_touches_input --------------------------------------------------------------
def test_window_touches_input():
    assert window_touches_input(4, 3, 1, 1, 1, output_length(4, 3, 1, 1))
    # kernel 1 with padding 1: the first and last windows see only padding
    assert not window_touches_input(4, 1, 1, 1, 1, output_length(4, 1, 1, 1))
    # dilation 3 steps over a one-pixel input: the first window's taps are at -2 and 1
    assert not window_touches_input(1, 2, 1, 2, 3, output_length(1, 2, 1, 2, 3))
    assert window_touches_input(3, 2, 1, 2, 2, output_length(3, 2, 1, 2, 2))
    assert window_touches_input(5, 2, 2, 0, 1, output_length(5, 2, 2, 0, 1, ceil_mode=True))


# ----- against torch's actual output shapes on random configurations ---------------------
def _random_config(seed: int):
    rng = numpy.random.default_rng(1000 + seed)
    size = int(rng.integers(1, 40))
    kernel = int(rng.integers(1, 8))
    stride = int(rng.integers(1, 6))
    padding = int(rng.integers(0, kernel // 2 + 1))  # torch pools allow at most half the kernel
    dilation = int(rng.integers(1, 4))
    ceil_mode = bool(rng.integers(0, 2))
    return size, kernel, stride, padding, dilation, ceil_mode


def _check_against(torch_fn, size, kernel, stride, padding, dilation, ceil_mode):
    extent = dilation * (kernel - 1) + 1
    if size + 2 * padding < extent:  # ours refuses; torch only without ceil_mode
        with pytest.raises(ValueError, match="kernel larger than the padded input"):
            output_size(size, kernel, stride, padding, dilation, ceil_mode)
        if not ceil_mode:
            with pytest.raises(RuntimeError):
                torch_fn()
        return
    expected = torch_fn().shape[-1]
    got = output_size(size, kernel, stride, padding, dilation, ceil_mode)
    assert got == expected, dict(size=size, kernel=kernel, stride=stride, padding=padding,
                                 dilation=dilation, ceil_mode=ceil_mode)
    # the tuple form says the same thing per axis
    assert output_size((size, size), kernel, stride, padding, dilation, ceil_mode) == (got, got)


@needs_torch
@pytest.mark.parametrize("seed", range(120))
def test_output_size_matches_torch_max_pool1d(seed):
    size, kernel, stride, padding, dilation, ceil_mode = _random_config(seed)
    x = torch.zeros(1, 1, size)
    _check_against(lambda: F.max_pool1d(x, kernel, stride, padding, dilation, ceil_mode),
                   size, kernel, stride, padding, dilation, ceil_mode)


@needs_torch
@pytest.mark.parametrize("seed", range(100))
def test_output_size_matches_torch_avg_pool1d(seed):
    size, kernel, stride, padding, _, ceil_mode = _random_config(seed + 500)
    x = torch.zeros(1, 1, size)
    _check_against(lambda: F.avg_pool1d(x, kernel, stride, padding, ceil_mode),
                   size, kernel, stride, padding, 1, ceil_mode)


@needs_torch
@pytest.mark.parametrize("seed", range(100))
def test_output_size_matches_torch_conv1d(seed):
    rng = numpy.random.default_rng(5000 + seed)
    size, kernel, stride, padding, dilation = (int(v) for v in (
        rng.integers(1, 40), rng.integers(1, 8), rng.integers(1, 6), rng.integers(0, 6), rng.integers(1, 4)))
    x, w = torch.zeros(1, 1, size), torch.zeros(1, 1, kernel)
    _check_against(lambda: F.conv1d(x, w, stride=stride, padding=padding, dilation=dilation),
                   size, kernel, stride, padding, dilation, False)


@needs_torch
def test_output_size_matches_torch_max_pool2d_with_tuples():
    rng = numpy.random.default_rng(99)
    for _ in range(40):
        size = tuple(int(v) for v in rng.integers(3, 20, 2))
        kernel = tuple(int(v) for v in rng.integers(1, 4, 2))
        stride = tuple(int(v) for v in rng.integers(1, 4, 2))
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
        ceil_mode = bool(rng.integers(0, 2))
        y = F.max_pool2d(torch.zeros(1, 1, *size), kernel, stride, padding, ceil_mode=ceil_mode)
        assert output_size(size, kernel, stride, padding, ceil_mode=ceil_mode) == tuple(y.shape[-2:])
