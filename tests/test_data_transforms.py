"""Batch transforms checked by hand on tiny arrays, and reproducible from a seed."""

import numpy
import pytest

import convpool
from convpool.data import Compose, Normalize, RandomCrop, RandomHorizontalFlip, ToFloat


def _rng(seed=0):
    return numpy.random.default_rng(seed)


def test_to_float_scales_uint8_and_keeps_floats():
    x = numpy.array([0, 51, 255], numpy.uint8).reshape(1, 1, 1, 3)
    out = ToFloat()(x, _rng())
    assert out.dtype == numpy.float32
    numpy.testing.assert_array_equal(out.ravel(), numpy.array([0, 51, 255], numpy.float32) / numpy.float32(255))
    f = numpy.full((1, 1, 1, 2), 3.5)
    assert ToFloat()(f).dtype == numpy.float32 and ToFloat()(f).ravel().tolist() == [3.5, 3.5]
    with pytest.raises(TypeError, match="uint8 or floating"):
        ToFloat()(numpy.zeros((1, 1, 1, 1), numpy.int32))


def test_normalize_per_channel_by_hand():
    x = numpy.array([[[[1.0, 2.0]], [[3.0, 5.0]]]], numpy.float32)  # (1, 2, 1, 2)
    out = Normalize(mean=[1.0, 1.0], std=[0.5, 2.0])(x)
    numpy.testing.assert_array_equal(out, [[[[0.0, 2.0]], [[1.0, 2.0]]]])
    assert out.dtype == numpy.float32
    numpy.testing.assert_array_equal(Normalize(1.0, 2.0)(x), (x - 1) / 2)  # one value for every channel
    assert x[0, 0, 0, 0] == 1.0  # input untouched


def test_normalize_refuses_uint8_and_wrong_channel_count():
    with pytest.raises(TypeError, match="ToFloat"):
        Normalize(0.5, 0.5)(numpy.zeros((1, 1, 2, 2), numpy.uint8))
    with pytest.raises(ValueError, match="3 mean values for 2 channels"):
        Normalize([0, 0, 0], [1, 1, 1])(numpy.zeros((1, 2, 2, 2), numpy.float32))
    with pytest.raises(ValueError, match="positive"):
        Normalize(0, 0)


def _reference_crop(x, size, pad, rows, cols):
    padded = numpy.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    return numpy.stack([padded[i, :, r:r + size, c:c + size] for i, (r, c) in enumerate(zip(rows, cols, strict=True))])


def test_random_crop_matches_a_per_image_loop_with_its_documented_draws():
    x = numpy.arange(5 * 2 * 4 * 4, dtype=numpy.uint8).reshape(5, 2, 4, 4)
    out = RandomCrop(3, padding=1)(x, _rng(3))
    draw = _rng(3)
    rows, cols = draw.integers(0, 4 + 2 - 3 + 1, 5), draw.integers(0, 4 + 2 - 3 + 1, 5)
    assert out.shape == (5, 2, 3, 3) and out.dtype == numpy.uint8 and out.flags.c_contiguous
    numpy.testing.assert_array_equal(out, _reference_crop(x, 3, 1, rows, cols))


def test_random_crop_by_hand_on_one_image():
    x = numpy.array([[[[1, 2], [3, 4]]]], numpy.uint8)  # padded by 1: a 4x4 with the 2x2 in the middle
    crop = RandomCrop(2, padding=1)
    seen = {tuple(crop(x, _rng(s)).ravel()) for s in range(200)}
    expected = {(0, 0, 0, 1), (0, 0, 1, 2), (0, 0, 2, 0),
                (0, 1, 0, 3), (1, 2, 3, 4), (2, 0, 4, 0),
                (0, 3, 0, 0), (3, 4, 0, 0), (4, 0, 0, 0)}
    assert seen == expected  # every offset in [0, 2] x [0, 2] occurs, nothing else


def test_random_crop_without_padding_and_size_checks():
    x = numpy.arange(2 * 1 * 3 * 5, dtype=numpy.float32).reshape(2, 1, 3, 5)
    out = RandomCrop((3, 5))(x, _rng())
    numpy.testing.assert_array_equal(out, x)
    with pytest.raises(ValueError, match="larger than the padded image"):
        RandomCrop(4)(x, _rng())
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        RandomCrop(2)(x[0], _rng())


def test_horizontal_flip_by_hand():
    x = numpy.array([[[[1, 2, 3]]], [[[4, 5, 6]]]], numpy.uint8)
    numpy.testing.assert_array_equal(RandomHorizontalFlip(p=1.0)(x), [[[[3, 2, 1]]], [[[6, 5, 4]]]])
    numpy.testing.assert_array_equal(RandomHorizontalFlip(p=0.0)(x), x)
    flip = _rng(5).random(2) < 0.5
    out = RandomHorizontalFlip(0.5)(x, _rng(5))
    for i in range(2):
        numpy.testing.assert_array_equal(out[i], x[i, ..., ::-1] if flip[i] else x[i])
    assert x[0, 0, 0, 0] == 1  # input untouched


def test_flip_rate_is_about_p():
    x = numpy.zeros((4000, 1, 1, 2), numpy.uint8)
    x[..., 0] = 1
    flipped = RandomHorizontalFlip(0.3)(x, _rng(1))[:, 0, 0, 1].mean()
    assert 0.27 < flipped < 0.33


def test_compose_is_reproducible_from_a_seed():
    x = numpy.random.default_rng(0).integers(0, 256, (8, 3, 6, 6), dtype=numpy.uint8)
    t = Compose([RandomCrop(6, padding=2), RandomHorizontalFlip(), ToFloat(), Normalize([0.5] * 3, [0.25] * 3)])
    a, b, c = t(x, _rng(7)), t(x, _rng(7)), t(x, _rng(8))
    assert a.dtype == numpy.float32 and a.shape == x.shape
    numpy.testing.assert_array_equal(a, b)
    assert not numpy.array_equal(a, c)
    convpool.manual_seed(3)
    d = t(x)
    convpool.manual_seed(3)
    numpy.testing.assert_array_equal(d, t(x))  # without a generator: the library's, seeded by manual_seed
    assert "RandomCrop" in repr(t)
