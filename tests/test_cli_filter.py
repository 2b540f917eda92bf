"""`convpool filter` end to end through a subprocess, on small images made here with Pillow."""

import re
import subprocess
import sys

import numpy
import pytest
from PIL import Image

import convpool
from convpool import functional as F
from convpool.viz.kernels import KERNELS, builtin
from convpool.viz.style import SIGNED_CMAP


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "convpool", "filter", *map(str, args)], capture_output=True,
                          text=True, timeout=60, cwd=cwd)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """A 20x24 colour image and a 15x17 grey one with structure (gradients, a square) and noise."""
    folder = tmp_path_factory.mktemp("pictures")
    rng = numpy.random.default_rng(0)
    colour = rng.integers(0, 60, (20, 24, 3)).astype(numpy.uint8)
    colour[:, :, 0] += numpy.linspace(0, 150, 24).astype(numpy.uint8)
    colour[5:14, 8:18] = (240, 200, 30)
    grey = rng.integers(0, 50, (15, 17)).astype(numpy.uint8)
    grey[:, 9:] += 180
    Image.fromarray(colour).save(folder / "colour.png")
    Image.fromarray(grey).save(folder / "grey.png")
    (folder / "notes.txt").write_text("not an image\n")
    return folder


def _read(path) -> numpy.ndarray:
    with Image.open(path) as picture:
        return numpy.asarray(picture)


def _correlate(plane, kernel, stride=1, padding=0):
    plane = numpy.pad(plane, padding)
    kh, kw = kernel.shape
    out = numpy.zeros(((plane.shape[0] - kh) // stride + 1, (plane.shape[1] - kw) // stride + 1))
    for a in range(kh):
        for b in range(kw):
            out += kernel[a, b] * plane[a:a + stride * (out.shape[0] - 1) + 1:stride,
                                        b:b + stride * (out.shape[1] - 1) + 1:stride]
    return out


def test_identity_writes_the_input_back(pictures, tmp_path):
    result = _run(pictures / "grey.png", "--kernel", "identity", "--padding", "1", "-o", tmp_path / "grey.png")
    assert result.returncode == 0, result.stderr
    numpy.testing.assert_array_equal(_read(tmp_path / "grey.png"), _read(pictures / "grey.png"))
    result = _run(pictures / "colour.png", "-k", "identity", "--padding", "1", "--per-channel",
                  "-o", tmp_path / "colour.png")
    assert result.returncode == 0, result.stderr
    numpy.testing.assert_array_equal(_read(tmp_path / "colour.png"), _read(pictures / "colour.png"))


def test_sobel_x_equals_a_direct_numpy_computation(pictures, tmp_path):
    out = tmp_path / "sobel.png"
    result = _run(pictures / "grey.png", "--kernel", "sobel-x", "--stride", "2", "--padding", "1", "-o", out)
    assert result.returncode == 0, result.stderr
    values = _correlate(_read(pictures / "grey.png") / 255.0, builtin("sobel-x"), stride=2, padding=1)
    # drawn as the command documents: the diverging map, symmetric, ending at the 99.5th percentile of |value|
    from matplotlib import colormaps

    bound = numpy.percentile(numpy.abs(values), 99.5)
    expected = numpy.round(colormaps[SIGNED_CMAP](numpy.clip(0.5 + values / (2 * bound), 0, 1))[..., :3] * 255)
    drawn = _read(out).astype(numpy.float64)
    assert drawn.shape == values.shape + (3,)
    assert numpy.abs(drawn - expected).max() <= 1
    assert f"{SIGNED_CMAP} colour map" in result.stdout


def test_printed_shapes_and_formula_equal_conv2d_and_output_size(pictures, tmp_path):
    args = dict(stride=2, padding=3, dilation=2)
    result = _run(pictures / "colour.png", "-k", "0,1,0;1,-4,1;0,1,0", "--stride", args["stride"], "--padding",
                  args["padding"], "--dilation", args["dilation"], "--pool", "max:3:2", "-o", tmp_path / "out.png")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    conv = F.conv2d(convpool.Tensor(numpy.zeros((1, 3, 20, 24))), convpool.Tensor(numpy.zeros((1, 3, 3, 3))),
                    **args)
    conv_h, conv_w = convpool.output_size((20, 24), 3, **args)
    assert conv.shape[2:] == (conv_h, conv_w)
    pooled = convpool.output_size((conv_h, conv_w), 3, 2)
    assert "input shape (3, 20, 24)" in text
    assert f"conv output shape (1, {conv_h}, {conv_w})" in text
    assert f"output shape (1, {pooled[0]}, {pooled[1]})" in text
    equations = re.findall(r"floor\(\((\d+) \+ 2\*(\d+) - (\d+)\*\((\d+)-1\) - 1\)/(\d+)\) \+ 1 = (\d+)", text)
    assert len(equations) == 4  # height and width, for the conv and for the pool
    for size, padding, dilation, kernel, stride, out in equations:
        assert int(out) == convpool.output_size(int(size), int(kernel), int(stride), int(padding), int(dilation))
    assert [int(e[-1]) for e in equations] == [conv_h, conv_w, *pooled]
    assert _read(tmp_path / "out.png").shape[:2] == pooled


def test_png_sizes_follow_the_output_shape_and_scale(pictures, tmp_path):
    result = _run(pictures / "colour.png", "-k", "gaussian", "--pool", "avg:2", "--per-channel", "--scale", "3",
                  "-o", tmp_path / "blur.png")
    assert result.returncode == 0, result.stderr
    picture = _read(tmp_path / "blur.png")
    assert picture.shape == (9 * 3, 11 * 3, 3)  # 20x24 -> conv 18x22 -> pool 9x11, then 3x larger
    assert picture.std() > 0
    assert "wrote" in result.stdout and "33x27 pixels" in result.stdout


def test_the_default_output_is_image_kernel_png_here(pictures, tmp_path):
    result = _run(pictures / "colour.png", "-k", "emboss", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    picture = _read(tmp_path / "colour-emboss.png")
    assert picture.shape == (18, 22) and picture.std() > 0  # summed over the channels: one grey channel


def test_list_prints_the_kernels_without_an_image():
    result = _run("--list")
    assert result.returncode == 0, result.stderr
    for name in KERNELS:
        assert f"{name}:" in result.stdout
    assert "-1  0  1\n    -2  0  2\n    -1  0  1" in result.stdout  # sobel-x's values


@pytest.mark.parametrize("args, message", [
    (("notes.txt", "-k", "edge"), "not an image Pillow can read"),
    (("missing.png", "-k", "edge"), "missing.png: no such image file"),
    (("grey.png", "-k", "1,2;3,x"), "'x' is not a number"),
    (("grey.png", "-k", "1,2;3"), "ragged"),
    (("grey.png", "-k", "blurry"), "unknown kernel 'blurry'"),
    (("grey.png", "-k", "edge", "--stride", "0"), "--stride must be a positive whole number, got 0"),
    (("grey.png", "-k", "edge", "--stride", "-2"), "--stride must be a positive whole number, got -2"),
    (("grey.png", "-k", "edge", "--padding", "-1"), "--padding must be a non-negative whole number"),
    (("grey.png", "-k", "edge", "--dilation", "0"), "--dilation must be a positive whole number"),
    (("grey.png", "-k", "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1"), "kernel larger than the padded input"),
    (("grey.png", "-k", "edge", "--pool", "max:20"), "kernel larger than the padded input"),
    (("grey.png", "-k", "edge", "--pool", "min:2"), "pooling 'min:2' does not parse"),
    (("grey.png",), "give an IMAGE and --kernel"),
])
def test_bad_input_is_one_line_and_exit_code_2(pictures, args, message):
    result = _run(*args, cwd=pictures)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
