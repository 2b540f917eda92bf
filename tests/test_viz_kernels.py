"""viz/kernels.py: the built-in kernels' values and kernels written as text."""

import numpy
import pytest

from convpool.viz.kernels import KERNELS, builtin, format_kernel, listing, parse_kernel, resolve_kernel


def test_every_issue_kernel_is_built_in_and_3x3():
    assert list(KERNELS) == ["identity", "box-blur", "gaussian", "sharpen", "edge", "sobel-x", "sobel-y", "emboss"]
    for name in KERNELS:
        assert builtin(name).shape == (3, 3)


@pytest.mark.parametrize("name, values", [
    ("identity", [[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    ("box-blur", numpy.ones((3, 3)) / 9),
    ("gaussian", numpy.outer([1, 2, 1], [1, 2, 1]) / 16),
    ("sharpen", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    ("edge", [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    ("sobel-x", [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    ("sobel-y", [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    ("emboss", [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
])
def test_builtin_values(name, values):
    numpy.testing.assert_allclose(builtin(name), values, rtol=0, atol=1e-15)


def test_picture_kernels_sum_to_one_and_detectors_to_zero():
    for name in ("identity", "box-blur", "gaussian", "sharpen", "emboss"):
        assert builtin(name).sum() == pytest.approx(1.0)
    for name in ("edge", "sobel-x", "sobel-y"):
        assert builtin(name).sum() == 0.0


@pytest.mark.parametrize("text, expected", [
    ("0,-1,0;-1,5,-1;0,-1,0", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    ("1,2", [[1, 2]]),
    ("1;2;3", [[1], [2], [3]]),
    (" 0.5 , -1e-1 ; 2 , 3 ", [[0.5, -0.1], [2, 3]]),
    ("7", [[7]]),
])
def test_parse_kernel_reads_any_rectangle(text, expected):
    kernel = parse_kernel(text)
    assert kernel.dtype == numpy.float64
    numpy.testing.assert_array_equal(kernel, expected)


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("   ", "is empty"),
    ("1,2;3", "ragged"),
    ("1,a;3,4", "'a' is not a number"),
    ("1,,2", "'' is not a number"),
    ("1,2;;3,4", "empty row"),
    ("1,nan", "not finite"),
    ("inf", "not finite"),
])
def test_parse_kernel_errors_name_the_text(text, message):
    with pytest.raises(ValueError, match=message) as error:
        parse_kernel(text)
    assert repr(text) in str(error.value)


def test_resolve_kernel_takes_names_and_text():
    name, kernel = resolve_kernel("Sobel-X")
    assert name == "sobel-x" and kernel[1, 2] == 2
    name, kernel = resolve_kernel("1,0;0,-1")
    assert name == "custom" and kernel.shape == (2, 2)
    with pytest.raises(ValueError, match="unknown kernel 'blurry'.*identity, box-blur"):
        resolve_kernel("blurry")
    with pytest.raises(ValueError, match="'x' is not a number"):
        resolve_kernel("1,x")


def test_listing_shows_every_kernel_with_its_values():
    text = listing()
    for name in KERNELS:
        assert f"{name}:" in text
    assert "1 2 1   (x 1/16)" in text  # the gaussian, as integers over a common denominator
    assert format_kernel(numpy.array([[0.5, -1.25]])) == "  0.5 -1.25"  # right-aligned columns
