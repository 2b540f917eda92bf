"""Window extraction and its adjoint: `windows` equals a naive loop, and `col2im` is the
adjoint of `windows` (<windows(x), c> == <x, col2im(c)>), on the strided path, the tiling
fast path, with dilation and with strides that skip pixels."""

from __future__ import annotations

import itertools

import numpy
import pytest

from convpool.ops.im2col import col2im, crop_spatial, pad_spatial, tiles, windows
from convpool.shapes import output_length

N_SEEDS = 40


def draw(seed: int) -> dict:
    """Random geometry; every fourth draw tiles (stride == kernel, no dilation)."""
    rng = numpy.random.default_rng(seed)
    nd = 1 + seed % 3
    kmax = 3 if nd == 3 else 4
    kernel = tuple(int(k) for k in rng.integers(1, kmax + 1, nd))
    if seed % 4 == 0:
        stride, dilation = kernel, (1,) * nd
    else:
        stride = tuple(int(s) for s in rng.integers(1, 5, nd))
        dilation = tuple(int(d) for d in rng.integers(1, 4, nd))
    sizes = tuple(d * (k - 1) + 1 + int(rng.integers(0, 5 if nd < 3 else 3))
                  for k, d in zip(kernel, dilation, strict=True))
    out = tuple(output_length(n, k, s, 0, d)
                for n, k, s, d in zip(sizes, kernel, stride, dilation, strict=True))
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 3))) + sizes
    return dict(kernel=kernel, stride=stride, dilation=dilation, out=out, shape=shape, rng=rng)


def naive_windows(x, kernel, stride, dilation, out):
    nd = len(kernel)
    result = numpy.zeros(x.shape[:2] + tuple(out) + tuple(kernel), x.dtype)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o in itertools.product(*(range(v) for v in out)):
            for k in itertools.product(*(range(v) for v in kernel)):
                position = tuple(o[i] * stride[i] + k[i] * dilation[i] for i in range(nd))
                result[(n, c) + o + k] = x[(n, c) + position]
    return result


def naive_col2im(cols, shape, kernel, stride, dilation):
    nd = len(kernel)
    out = cols.shape[2:2 + nd]
    result = numpy.zeros(shape, cols.dtype)
    for n, c in itertools.product(range(shape[0]), range(shape[1])):
        for o in itertools.product(*(range(v) for v in out)):
            for k in itertools.product(*(range(v) for v in kernel)):
                position = tuple(o[i] * stride[i] + k[i] * dilation[i] for i in range(nd))
                result[(n, c) + position] += cols[(n, c) + o + k]
    return result


@pytest.mark.parametrize("seed", range(N_SEEDS))
def test_windows_equals_a_naive_loop(seed):
    g = draw(seed)
    x = g["rng"].standard_normal(g["shape"])
    view = windows(x, g["kernel"], g["stride"], g["dilation"], g["out"])
    assert view.shape == g["shape"][:2] + g["out"] + g["kernel"]
    expected = naive_windows(x, g["kernel"], g["stride"], g["dilation"], g["out"])
    numpy.testing.assert_array_equal(view, expected)


@pytest.mark.parametrize("seed", range(N_SEEDS))
def test_col2im_is_the_adjoint_of_windows(seed):
    g = draw(seed)
    x = g["rng"].standard_normal(g["shape"])
    cols = g["rng"].standard_normal(g["shape"][:2] + g["out"] + g["kernel"])
    view = windows(x, g["kernel"], g["stride"], g["dilation"], g["out"])
    back = col2im(cols, g["shape"], g["kernel"], g["stride"], g["dilation"])
    assert back.shape == g["shape"]
    numpy.testing.assert_allclose((view * cols).sum(), (x * back).sum(), rtol=1e-12, atol=1e-12)
    expected = naive_col2im(cols, g["shape"], g["kernel"], g["stride"], g["dilation"])
    numpy.testing.assert_allclose(back, expected, rtol=1e-12, atol=1e-12)


def test_random_draws_cover_every_path():
    draws = [draw(s) for s in range(N_SEEDS)]
    assert any(tiles(g["kernel"], g["stride"], g["dilation"]) and max(g["kernel"]) > 1 for g in draws)
    assert any(not tiles(g["kernel"], g["stride"], g["dilation"]) for g in draws)
    assert any(max(g["dilation"]) > 1 for g in draws)
    # tiling windows that leave a remainder uncovered, and strides that skip pixels
    assert any(tiles(g["kernel"], g["stride"], g["dilation"]) and
               any(n > o * k for n, o, k in zip(g["shape"][2:], g["out"], g["kernel"], strict=True))
               for g in draws)
    assert any(any(s > d * (k - 1) + 1
                   for s, k, d in zip(g["stride"], g["kernel"], g["dilation"], strict=True)) for g in draws)
    assert {len(g["kernel"]) for g in draws} == {1, 2, 3}


def test_windows_by_hand():
    x = numpy.arange(7.0).reshape(1, 1, 7)
    assert windows(x, (2,), (2,), (1,), (3,)).tolist() == [[[[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]]]  # tiles
    assert windows(x, (2,), (3,), (2,), (2,)).tolist() == [[[[0.0, 2.0], [3.0, 5.0]]]]
    assert windows(x, (3,), (1,), (1,), (5,))[0, 0, 4].tolist() == [4.0, 5.0, 6.0]


def test_windows_is_a_read_only_view_without_a_copy():
    x = numpy.arange(36.0).reshape(1, 1, 6, 6)
    strided = windows(x, (3, 3), (1, 1), (1, 1), (4, 4))
    tiled = windows(x, (2, 2), (2, 2), (1, 1), (3, 3))
    assert numpy.shares_memory(strided, x) and numpy.shares_memory(tiled, x)
    assert not strided.flags.writeable


def test_col2im_by_hand_sums_overlaps():
    cols = numpy.ones((1, 1, 3, 2))  # three windows of two pixels at stride 1 over four pixels
    assert col2im(cols, (1, 1, 4), (2,), (1,), (1,)).tolist() == [[[1.0, 2.0, 2.0, 1.0]]]
    # tiling path: stride == kernel, a trailing pixel no window reads stays zero
    assert col2im(numpy.arange(1.0, 5.0).reshape(1, 1, 2, 2), (1, 1, 5), (2,), (2,), (1,)).tolist() == \
        [[[1.0, 2.0, 3.0, 4.0, 0.0]]]
    # dilation 2, stride 3 over seven pixels: windows (0, 2) and (3, 5); 1, 4 and 6 untouched
    assert col2im(numpy.array([[[[1.0, 2.0], [3.0, 4.0]]]]), (1, 1, 7), (2,), (3,), (2,)).tolist() == \
        [[[1.0, 0.0, 2.0, 3.0, 0.0, 4.0, 0.0]]]


def test_pad_spatial_and_crop_spatial_are_inverse():
    x = numpy.random.default_rng(0).standard_normal((2, 3, 4, 5))
    pads = ((1, 2), (0, 3))
    padded = pad_spatial(x, pads, value=-7.0)
    assert padded.shape == (2, 3, 7, 8)
    assert (padded[:, :, 0] == -7.0).all() and (padded[:, :, :, -3:] == -7.0).all()
    numpy.testing.assert_array_equal(crop_spatial(padded, pads, (4, 5)), x)
    assert pad_spatial(x, ((0, 0), (0, 0))) is x  # no padding, no copy


@pytest.mark.parametrize("seed", range(30))
def test_clipped_tap_reads_exactly_the_non_padding_part_of_a_padded_tap(seed):
    """Skipping padding (clipped_tap on the raw input) sees the same pixels as a tap on the
    zero-padded input, and everything it skips is padding."""
    from convpool.ops.im2col import clipped_tap, kernel_offsets, pad_spatial, tap
    from convpool.shapes import output_length

    rng = numpy.random.default_rng(seed)
    while True:  # redraw until the kernel fits the padded input
        nd = int(rng.integers(1, 4))
        sizes = tuple(int(v) for v in rng.integers(1, 7, nd))
        kernel = tuple(int(v) for v in rng.integers(1, 4, nd))
        stride = tuple(int(v) for v in rng.integers(1, 4, nd))
        dilation = tuple(int(v) for v in rng.integers(1, 3, nd))
        pads = tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in range(nd))
        extents = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
        if all(n + lo + hi >= e for n, (lo, hi), e in zip(sizes, pads, extents, strict=True)):
            break
    out = tuple(output_length(n, k, s, p, d) for n, k, s, p, d in zip(sizes, kernel, stride, pads, dilation,
                                                                          strict=True))
    x = rng.standard_normal((2, 3) + sizes) + 10.0  # never zero: zeros below can only be padding
    x_pad = pad_spatial(x, pads)
    for offset in kernel_offsets(kernel):
        full = x_pad[tap(offset, stride, dilation, out)]
        clipped = clipped_tap(offset, stride, dilation, pads, sizes, out)
        if clipped is None:
            assert not full.any()
            continue
        out_index, in_index = clipped
        numpy.testing.assert_array_equal(full[out_index], x[in_index])
        rest = full.copy()
        rest[out_index] = 0
        assert not rest.any()
