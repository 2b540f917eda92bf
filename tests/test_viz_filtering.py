"""viz/filtering.py: a kernel through F.conv2d and pooling, its shapes, formula and display."""

import numpy
import pytest

import convpool
from convpool import functional as F
from convpool.viz.filtering import Pool, display, filter_image, formula, parse_pool
from convpool.viz.kernels import KERNELS, builtin
from convpool.viz.style import SIGNED_CMAP


def _image(channels=3, height=11, width=14, seed=0):
    return numpy.random.default_rng(seed).integers(0, 256, (channels, height, width)) / 255.0


def _correlate(plane, kernel, stride=1, padding=0, dilation=1):
    """Direct cross-correlation of one plane, as a CNN computes it (the kernel is not flipped)."""
    plane = numpy.pad(plane, padding)
    kh, kw = kernel.shape
    out_h = (plane.shape[0] - dilation * (kh - 1) - 1) // stride + 1
    out_w = (plane.shape[1] - dilation * (kw - 1) - 1) // stride + 1
    out = numpy.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            for a in range(kh):
                for b in range(kw):
                    out[i, j] += kernel[a, b] * plane[i * stride + a * dilation, j * stride + b * dilation]
    return out


def test_identity_gives_the_image_back():
    image = _image(channels=1)
    result = filter_image(image, builtin("identity"), padding=1)
    numpy.testing.assert_array_equal(result.output, image)
    colour = _image()
    numpy.testing.assert_array_equal(filter_image(colour, builtin("identity"), padding=1, per_channel=True).output,
                                     colour)


@pytest.mark.parametrize("stride, padding, dilation", [(1, 0, 1), (2, 1, 1), (3, 2, 2), (1, 0, 3)])
def test_sobel_x_equals_a_direct_computation(stride, padding, dilation):
    image = _image(channels=1)
    kernel = builtin("sobel-x")
    result = filter_image(image, kernel, stride=stride, padding=padding, dilation=dilation)
    numpy.testing.assert_allclose(result.output[0], _correlate(image[0], kernel, stride, padding, dilation),
                                  rtol=1e-12, atol=1e-12)


def test_summed_is_one_conv_filter_over_all_channels_and_per_channel_keeps_them():
    image = _image()
    kernel = builtin("sharpen")
    per_channel = filter_image(image, kernel, per_channel=True)
    summed = filter_image(image, kernel)
    assert per_channel.output.shape == (3, 9, 12) and summed.output.shape == (1, 9, 12)
    for c in range(3):
        numpy.testing.assert_allclose(per_channel.output[c], _correlate(image[c], kernel), atol=1e-12)
    numpy.testing.assert_allclose(summed.output[0], per_channel.output.sum(axis=0), atol=1e-12)
    assert (summed.summed, per_channel.summed) == (3, 1)
    assert summed.gain == pytest.approx(3.0) and per_channel.gain == pytest.approx(1.0)


def test_a_rectangular_kernel():
    image = _image(channels=1, height=6, width=9)
    kernel = numpy.array([[1.0, -2.0, 0.5]])
    result = filter_image(image, kernel, stride=2)
    assert result.output.shape == (1,) + convpool.output_size((6, 9), (1, 3), 2)
    numpy.testing.assert_allclose(result.output[0], _correlate(image[0], kernel, 2), atol=1e-12)


@pytest.mark.parametrize("pool, function", [(Pool("max", 2, 2), F.max_pool2d), (Pool("avg", 3, 2), F.avg_pool2d)])
def test_pooling_after_the_conv(pool, function):
    image = _image(height=13, width=16)
    result = filter_image(image, builtin("edge"), padding=1, pool=pool)
    weight = numpy.broadcast_to(builtin("edge"), (1, 3, 3, 3)).copy()
    conv = F.conv2d(convpool.Tensor(image[None]), convpool.Tensor(weight), padding=1)
    expected = function(conv, pool.kernel_size, stride=pool.stride).numpy()[0]
    numpy.testing.assert_allclose(result.output, expected, atol=1e-12)
    assert result.conv_shape == tuple(conv.shape[1:]) == (1, 13, 16)
    assert result.output_shape == (1,) + convpool.output_size((13, 16), pool.kernel_size, pool.stride)


def test_the_lines_carry_the_shapes_and_the_formula_with_its_numbers():
    image = _image(height=40, width=30)
    result = filter_image(image, builtin("gaussian"), stride=3, padding=2, dilation=2, pool=Pool("max", 2, 2))
    conv_h, conv_w = convpool.output_size((40, 30), 3, 3, 2, 2)
    text = "\n".join(result.lines)
    assert "input shape (3, 40, 30)" in text
    assert f"height: out = floor((H + 2P - D(K-1) - 1)/S) + 1 = floor((40 + 2*2 - 2*(3-1) - 1)/3) + 1 = {conv_h}" \
        in text
    assert f"width:  out = floor((W + 2P - D(K-1) - 1)/S) + 1 = floor((30 + 2*2 - 2*(3-1) - 1)/3) + 1 = {conv_w}" \
        in text
    assert f"conv output shape (1, {conv_h}, {conv_w})" in text
    assert f"floor(({conv_h} + 2*0 - 1*(2-1) - 1)/2) + 1 = {convpool.output_size(conv_h, 2, 2)}" in text
    assert text.endswith(f"output shape {result.output_shape}")


def test_formula_agrees_with_output_size_including_the_articles_example():
    assert formula("W", 256, 3, 3).endswith("= floor((256 + 2*0 - 1*(3-1) - 1)/3) + 1 = 85")
    for size, kernel, stride, padding, dilation in [(7, 3, 1, 0, 1), (28, 5, 2, 2, 1), (9, 2, 4, 3, 3)]:
        expected = convpool.output_size(size, kernel, stride, padding, dilation)
        assert formula("H", size, kernel, stride, padding, dilation).endswith(f" = {expected}")


def test_a_kernel_larger_than_the_padded_image_is_refused():
    with pytest.raises(ValueError, match="kernel larger than the padded input"):
        filter_image(_image(height=4, width=4), numpy.ones((5, 5)), padding=0)
    with pytest.raises(ValueError, match="kernel larger than the padded input"):
        filter_image(_image(height=8, width=8), builtin("edge"), dilation=4)
    with pytest.raises(ValueError, match="kernel larger than the padded input"):
        filter_image(_image(height=6, width=6), builtin("edge"), pool=Pool("max", 5, 5))


@pytest.mark.parametrize("text, pool", [("max:2", Pool("max", 2, 2)), ("avg:2", Pool("avg", 2, 2)),
                                        ("MAX:3:2", Pool("max", 3, 2))])
def test_parse_pool(text, pool):
    assert parse_pool(text) == pool


@pytest.mark.parametrize("text", ["max", "min:2", "max:x", "avg:2:2:2", "max:0", "avg:2:-1"])
def test_parse_pool_refuses_what_it_cannot_read(text):
    with pytest.raises(ValueError, match="pooling"):
        parse_pool(text)


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("per_channel", [False, True])
def test_every_built_in_kernel_gives_a_picture_that_is_not_blank(name, per_channel):
    image = _image(height=16, width=18)
    image[:, 4:10, 5:12] = 0.9
    pixels, _ = display(filter_image(image, builtin(name), per_channel=per_channel))
    assert pixels.dtype == numpy.uint8 and pixels.shape[:2] == (14, 16) and pixels.std() > 0


def test_display_of_a_picture_kernel_divides_by_the_gain():
    image = (numpy.arange(3 * 5 * 6).reshape(3, 5, 6) % 256) / 255.0
    pixels, note = display(filter_image(image, builtin("identity"), padding=1, per_channel=True))
    assert pixels.dtype == numpy.uint8 and pixels.shape == (5, 6, 3)
    numpy.testing.assert_array_equal(pixels, numpy.round(image * 255).transpose(1, 2, 0))
    grey, note = display(filter_image(image, builtin("identity"), padding=1))  # summed: R+G+B, over 3
    numpy.testing.assert_array_equal(grey, numpy.round(image.mean(axis=0) * 255))
    assert "divided by 3" in note


def test_display_of_signed_values():
    image = numpy.zeros((1, 6, 6))
    image[:, :, 3:] = 1.0  # a vertical edge, bright on the right
    pixels, note = display(filter_image(image, builtin("sobel-x")))
    assert pixels.shape == (4, 4, 3) and SIGNED_CMAP in note
    assert tuple(pixels[0, 0]) == tuple(pixels[0, 3])  # the flat parts: zero, one colour (the map's white)
    assert pixels[0, 0].min() > 240
    assert pixels[0, 1, 0] > pixels[0, 1, 2]  # brighter to the right: positive, red
    colour = numpy.concatenate([image, -image, image])
    pixels, note = display(filter_image(colour, builtin("sobel-x"), per_channel=True))
    assert pixels.shape == (4, 4, 3) and "mid-grey 0" in note
    assert tuple(pixels[0, 0]) == (128, 128, 128)
    assert pixels[0, 1, 0] == 255 and pixels[0, 1, 1] == 0
