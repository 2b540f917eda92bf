"""Batch transforms checked by hand on tiny arrays, and reproducible from a seed."""

import numpy
import pytest

import convpool
from convpool.data import Compose, Cutout, Normalize, RandomCrop, RandomHorizontalFlip, ToFloat


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


class _Draws:
    """A stand-in generator returning chosen values: random() all zeros, integers() from a queue."""

    def __init__(self, *integers):
        self.queue = [numpy.asarray(v) for v in integers]

    def random(self, n):
        return numpy.zeros(n)

    def integers(self, low, high, n):
        return self.queue.pop(0)


def _reference_cutout(x, size, apply, rows, cols):
    out = x.copy()
    for i in range(len(x)):
        if apply[i]:
            top, left = rows[i] - size // 2, cols[i] - size // 2
            out[i, :, max(top, 0):max(top + size, 0), max(left, 0):max(left + size, 0)] = 0
    return out


def test_cutout_by_hand_inside_and_clipped_at_the_borders():
    x = numpy.arange(1, 2 * 1 * 5 * 6 + 1, dtype=numpy.float32).reshape(2, 1, 5, 6)
    out = Cutout(3)(x, _Draws([2, 0], [3, 5]))  # image 0: centre (2, 3); image 1: centre (0, 5), a corner
    want = x.copy()
    want[0, 0, 1:4, 2:5] = 0  # a whole 3x3 square
    want[1, 0, 0:2, 4:6] = 0  # only the 2x2 that lies inside
    numpy.testing.assert_array_equal(out, want)
    even = Cutout(2)(x[:1], _Draws([0], [0]))  # even size: rows [r - 1, r + 1)
    assert (even[0, 0] == 0).sum() == 1 and even[0, 0, 0, 0] == 0


def test_cutout_matches_a_per_image_loop_with_its_documented_draws():
    x = numpy.random.default_rng(0).standard_normal((40, 3, 7, 9)).astype(numpy.float32)
    for size, p in ((3, 0.5), (4, 1.0), (20, 0.7)):
        out = Cutout(size, p)(x, _rng(4))
        draw = _rng(4)
        apply = draw.random(40) < p
        rows, cols = draw.integers(0, 7, 40), draw.integers(0, 9, 40)
        assert out.dtype == numpy.float32 and out.shape == x.shape
        numpy.testing.assert_array_equal(out, _reference_cutout(x, size, apply, rows, cols))
    assert numpy.isfinite(x).all() and (x != 0).all()  # input untouched


def test_cutout_zeroes_every_channel_in_the_same_square_and_keeps_dtype():
    x = numpy.full((200, 3, 8, 8), 7, numpy.uint8)
    out = Cutout(4)(x, _rng(1))
    assert out.dtype == numpy.uint8 and (x == 7).all()
    zero = out == 0
    assert (zero == zero[:, :1]).all()  # all channels alike
    counts = zero[:, 0].sum(axis=(1, 2))
    assert counts.max() == 16 and counts.min() >= 4  # a full square, or a corner's quarter of it
    hit = (Cutout(4, p=0.4)(x, _rng(2)) == 0).any(axis=(1, 2, 3)).mean()
    assert 0.3 < hit < 0.5
    numpy.testing.assert_array_equal(Cutout(4, p=0.0)(x, _rng(3)), x)


def test_cutout_is_reproducible_and_checks_its_arguments():
    x = numpy.random.default_rng(0).standard_normal((16, 2, 6, 6)).astype(numpy.float32)
    numpy.testing.assert_array_equal(Cutout(3)(x, _rng(9)), Cutout(3)(x, _rng(9)))
    assert not numpy.array_equal(Cutout(3)(x, _rng(9)), Cutout(3)(x, _rng(10)))
    convpool.manual_seed(5)
    a = Cutout(3)(x)
    convpool.manual_seed(5)
    numpy.testing.assert_array_equal(a, Cutout(3)(x))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="size must be a positive int"):
            Cutout(bad)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        Cutout(3, p=1.5)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        Cutout(3)(x[0])
    assert repr(Cutout(3, 0.5)) == "Cutout(size=3, p=0.5)"
