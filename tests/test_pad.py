"""F.pad in every mode: against PyTorch on random shapes and pads (forward and gradient),
against central differences, by hand, and every error message."""

from __future__ import annotations

import numpy
import pytest
from reference import check_grad, compare, needs_torch, torch

import convpool
from convpool.ops.pad import MODES, pad

if torch is not None:
    import torch.nn.functional as TF

N_PAD_SEEDS = 64


def draw_pad(seed: int) -> dict:
    rng = numpy.random.default_rng(8000 + seed)
    mode = MODES[seed % 4]
    n_axes = 1 + (seed // 4) % 3
    if mode == "constant":
        lead = int(rng.integers(0, 3))
        pads = tuple(int(p) for p in rng.integers(-1, 4, 2 * n_axes))
        sizes = tuple(int(rng.integers(max(1, -min(0, pads[2 * i]) - min(0, pads[2 * i + 1])), 5))
                      for i in reversed(range(n_axes)))
        value = None if rng.random() < 0.5 else float(rng.standard_normal())
    else:
        lead = int(rng.integers(1, 3))  # torch pads (C, *spatial) or (N, C, *spatial) in these modes
        pads = tuple(int(p) for p in rng.integers(0, 4, 2 * n_axes))
        extra = 1 if mode == "reflect" else 0
        sizes = tuple(max(1, pads[2 * i] + extra, pads[2 * i + 1] + extra) + int(rng.integers(0, 3))
                      for i in reversed(range(n_axes)))
        value = None
    shape = tuple(int(n) for n in rng.integers(1, 4, lead)) + sizes
    dtype = "float64" if (seed // 12) % 2 == 0 else "float32"
    return dict(mode=mode, pads=pads, value=value, x=rng.standard_normal(shape).astype(dtype))


@needs_torch
@pytest.mark.parametrize("seed", range(N_PAD_SEEDS))
def test_pad_matches_torch(seed):
    c = draw_pad(seed)
    compare(lambda x: pad(x, c["pads"], mode=c["mode"], value=c["value"]),
            lambda x: TF.pad(x, c["pads"], mode=c["mode"], value=c["value"]), c["x"], seed=seed)


def test_random_draws_cover_every_case():
    draws = [draw_pad(s) for s in range(N_PAD_SEEDS)]
    for mode in MODES:
        for n_axes in (1, 2, 3):
            assert any(c["mode"] == mode and len(c["pads"]) == 2 * n_axes for c in draws), (mode, n_axes)
        for dtype in ("float32", "float64"):
            assert any(c["mode"] == mode and c["x"].dtype == dtype for c in draws), (mode, dtype)
    assert any(c["mode"] == "constant" and min(c["pads"]) < 0 for c in draws)  # cropping
    assert any(c["mode"] == "constant" and c["value"] is not None for c in draws)
    for mode in ("reflect", "circular", "replicate"):  # padding at the mode's limit
        limit = 1 if mode == "reflect" else 0
        assert any(c["mode"] == mode and
                   any(c["x"].shape[-1 - i // 2] - p == limit for i, p in enumerate(c["pads"]))
                   for c in draws), mode


@needs_torch
def test_replicate_padding_wider_than_the_input_matches_torch():
    """PyTorch repeats the edge pixel as often as asked; replicate has no size limit."""
    x = numpy.array([[[1.0, 2.0]]])
    compare(lambda x: pad(x, (5, 3), mode="replicate"), lambda x: TF.pad(x, (5, 3), mode="replicate"), x)


def test_replicate_padding_wider_than_the_input_by_hand():
    x = convpool.tensor(numpy.array([[[1.0, 2.0]]]))
    assert pad(x, (3, 2), mode="replicate").tolist() == [[[1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0]]]


# ----- central differences (no torch) -------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_pad_gradients_by_central_differences(mode):
    x = numpy.random.default_rng(1).standard_normal((1, 2, 3, 4))
    assert check_grad(lambda x: pad(x, (3, 2, 2, 1), mode=mode), x)  # at each mode's size limit
    assert check_grad(lambda x: pad(x, (1, 2, 0, 1, 1, 0), mode=mode), x)


def test_negative_constant_pad_gradient_by_central_differences():
    x = numpy.random.default_rng(2).standard_normal((2, 3, 5))
    assert check_grad(lambda x: pad(x, (-1, 2, 1, -2), value=1.5), x)


# ----- by hand --------------------------------------------------------------------------------
ROW = [[[1.0, 2.0, 3.0, 4.0]]]


@pytest.mark.parametrize("mode, expected", [
    ("constant", [0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0]),
    ("reflect", [3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0, 1.0]),
    ("replicate", [1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 4.0, 4.0, 4.0]),
    ("circular", [3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0]),
])
def test_pad_modes_by_hand(mode, expected):
    assert pad(convpool.tensor(ROW), (2, 3), mode=mode).tolist() == [[expected]]


def test_constant_pad_value_and_cropping_by_hand():
    x = convpool.tensor(ROW)
    assert pad(x, (1, 1), value=9.0).tolist() == [[[9.0, 1.0, 2.0, 3.0, 4.0, 9.0]]]
    assert pad(x, (-1, -2)).tolist() == [[[2.0]]]
    assert pad(x, (0, 0, 1, 0)).tolist() == [[[0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0]]]


def test_pad_two_axes_by_hand():
    x = convpool.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    assert pad(x, (1, 0, 0, 1), mode="replicate").tolist() == [[[[1.0, 1.0, 2.0], [3.0, 3.0, 4.0],
                                                                 [3.0, 3.0, 4.0]]]]
    assert pad(x, (1, 1, 1, 1), mode="circular").tolist() == [[[[4.0, 3.0, 4.0, 3.0], [2.0, 1.0, 2.0, 1.0],
                                                                [4.0, 3.0, 4.0, 3.0], [2.0, 1.0, 2.0, 1.0]]]]


def test_reflect_gradient_sums_repeated_pixels_by_hand():
    x = convpool.tensor(ROW, requires_grad=True)
    pad(x, (2, 1), mode="reflect").sum().backward()
    # padded: 3 2 | 1 2 3 4 | 3: pixel 2 and 3 appear twice
    assert x.grad.tolist() == [[[1.0, 2.0, 3.0, 1.0]]]


def test_pad_keeps_the_dtype():
    x = convpool.tensor(numpy.ones((1, 2, 3), numpy.float32))
    for mode in MODES:
        assert pad(x, (1, 1), mode=mode).dtype == numpy.float32


# ----- error messages -------------------------------------------------------------------------
def _t(*shape):
    return convpool.tensor(numpy.zeros(shape))


def test_bad_mode_is_reported():
    with pytest.raises(ValueError, match=r"pad: mode must be one of \('constant', 'reflect', 'replicate', "
                                         r"'circular'\), got mode='wrap'"):
        pad(_t(1, 1, 4), (1, 1), mode="wrap")
    with pytest.raises(ValueError, match=r"pad: mode must be one of .*got mode='zeros'"):
        pad(_t(1, 1, 4), (1, 1), mode="zeros")


def test_reflect_pad_too_large_is_reported():
    with pytest.raises(ValueError, match=r"pad: reflect padding must be smaller than the input size "
                                         r"along the "
                                         r"padded dimension, got pad=\(4, 0\) for input shape \(1, 1, 4\) "
                                         r"\(dimension 2 has size 4\)"):
        pad(_t(1, 1, 4), (4, 0), mode="reflect")
    with pytest.raises(ValueError, match=r"pad: reflect padding must be smaller .*pad=\(0, 0, 0, 3\) "
                                         r"for input "
                                         r"shape \(1, 3, 5\) \(dimension 1 has size 3\)"):
        pad(_t(1, 3, 5), (0, 0, 0, 3), mode="reflect")


def test_circular_pad_too_large_is_reported():
    with pytest.raises(ValueError, match=r"pad: circular padding must be at most the input size .*got "
                                         r"pad=\(0, 5\) for input shape \(1, 1, 4\)"):
        pad(_t(1, 1, 4), (0, 5), mode="circular")


def test_bad_pad_tuple_is_reported():
    with pytest.raises(ValueError, match=r"pad: pad must hold an even number of ints.*got pad=\(1, 1, 1\)"):
        pad(_t(1, 1, 4), (1, 1, 1))
    with pytest.raises(ValueError, match=r"pad: pad must hold .*\(shape \(4,\)\), got pad=\(1, 1, 1, 1\)"):
        pad(_t(4), (1, 1, 1, 1))
    with pytest.raises(ValueError, match=r"pad: pad must hold .*got pad=\(1.5, 1\)"):
        pad(_t(1, 1, 4), (1.5, 1))


NEGATIVE_CASES = [(mode, before, after) for mode in ("reflect", "replicate", "circular")
                  for before in range(-3, 4) for after in range(-3, 4) if min(before, after) < 0]


@needs_torch
@pytest.mark.parametrize("mode,before,after", NEGATIVE_CASES)
@pytest.mark.parametrize("size", [3, 5])
def test_negative_pad_crops_like_torch_in_every_mode(mode, before, after, size):
    """Negative padding crops in reflect, replicate and circular modes too, as PyTorch's does
    (reflect and replicate index the whole input, circular wraps the part left)."""
    x = numpy.random.default_rng(size).standard_normal((2, 3, size))
    kept = size - max(-before, 0) - max(-after, 0)
    if size + before + after <= 0 or (mode == "circular" and kept <= 0):
        with pytest.raises(ValueError, match=rf"pad: {mode} padding .* would leave dimension 2"):
            pad(convpool.tensor(x), (before, after), mode=mode)
        return
    if (mode == "reflect" and max(before, after) >= size) or (mode == "circular" and max(before, after) > kept):
        return
    compare(lambda a: pad(a, (before, after), mode=mode), lambda a: TF.pad(a, (before, after), mode=mode), x)


@needs_torch
def test_negative_pad_on_two_axes_matches_torch():
    x = numpy.random.default_rng(3).standard_normal((1, 2, 5, 6))
    for mode in ("reflect", "replicate", "circular"):
        compare(lambda a, m=mode: pad(a, (-1, 2, 3, -2), mode=m), lambda a, m=mode: TF.pad(a, (-1, 2, 3, -2), mode=m),
                x)


def test_circular_pad_wider_than_the_cropped_part_repeats_it():
    x = convpool.tensor(numpy.arange(8.0).reshape(2, 4))
    numpy.testing.assert_array_equal(pad(x, (-1, 4), mode="circular").numpy()[0], [1, 2, 3, 1, 2, 3, 1])
    numpy.testing.assert_array_equal(pad(x, (4, -1), mode="circular").numpy()[0], [2, 0, 1, 2, 0, 1, 2])


def test_negative_pad_gradient_matches_central_differences():
    x = numpy.random.default_rng(4).standard_normal((1, 1, 5))
    for mode in ("reflect", "replicate", "circular"):
        check_grad(lambda a, m=mode: pad(a, (-2, 3), mode=m), x)


def test_constant_pad_cropping_below_zero_is_reported():
    with pytest.raises(ValueError, match=r"pad: padding \(-3, -2\) would leave dimension 2 of input shape "
                                         r"\(1, 1, 4\) with negative size"):
        pad(_t(1, 1, 4), (-3, -2))


def test_value_with_a_non_constant_mode_is_reported():
    with pytest.raises(ValueError, match=r"pad: value=2.0 is only meaningful with mode='constant', got "
                                         r"mode='reflect'"):
        pad(_t(1, 1, 4), (1, 1), mode="reflect", value=2.0)


def test_non_tensor_input_is_reported():
    with pytest.raises(TypeError, match=r"pad: input must be a convpool.Tensor, got ndarray"):
        pad(numpy.zeros((1, 4)), (1, 1))
