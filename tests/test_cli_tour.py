"""`convpool tour` through the command line: on a small image of the test's own and on the
built-in photo, the numbers it prints for steps 2 and 5 are F.conv2d's and output_size's, and
bad input is one clear line with exit code 2."""

import os
import re
import subprocess
import sys

import numpy
import pytest
from PIL import Image

import convpool
from convpool import functional as F
from convpool.viz import tour
from convpool.viz.tour_numbers import KERNELS, WINDOW_BIAS


def _run(*args, cwd=None, env=None, timeout=240):
    return subprocess.run([sys.executable, "-m", "convpool", "tour", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


def _check_numbers(stdout: str, photo: numpy.ndarray) -> None:
    """Step 2's numbers are F.conv2d's at the printed position; step 5's are output_size's."""
    step2 = re.search(r"output\[(\d+), (\d+)\]: sum of the 9 products (-?[\d.]+) \+ bias ([\d.]+) = (-?[\d.]+) "
                      r"\(F\.conv2d: (-?[\d.]+)\)", stdout)
    assert step2, stdout
    row, column = int(step2[1]), int(step2[2])
    red = convpool.tensor(photo[None, None, :, :, 0].astype(numpy.float64))
    output = F.conv2d(red, convpool.tensor(KERNELS["edge"][None, None]),
                      convpool.tensor([WINDOW_BIAS], dtype="float64")).numpy()[0, 0]
    assert float(step2[6]) == pytest.approx(output[row, column], abs=0.005)
    assert float(step2[5]) == pytest.approx(output[row, column], abs=0.005)
    assert float(step2[3]) + float(step2[4]) == pytest.approx(float(step2[5]), abs=0.01)
    rows, columns = photo.shape[:2]
    stride, padding = tour.STEP5_SETTING
    step5 = re.search(r"width \(\d+ - 3 \+ 2\*\d\)/\d .*-> (\d+), height .*-> (\d+)\n", stdout)
    assert step5, stdout
    assert (int(step5[2]), int(step5[1])) == convpool.output_size((rows, columns), 3, stride=stride, padding=padding)
    assert f"-> {convpool.output_size(256, 3, stride=3)}\n" in stdout


def test_tour_on_a_small_image_writes_every_figure_and_opens_the_page(tmp_path):
    y, x = numpy.mgrid[0:36, 0:48]
    photo = numpy.stack([x * 5, y * 7, (x * y) % 256], axis=-1).astype(numpy.uint8)
    photo[10:20, 15:30] = (255, 255, 255)
    Image.fromarray(photo).save(tmp_path / "mine.png")
    env = dict(os.environ, BROWSER="true")  # `true URL` stands in for a web browser
    result = _run("--image", str(tmp_path / "mine.png"), "--out", str(tmp_path / "out"), "--open", env=env)
    assert result.returncode == 0, result.stderr
    _check_numbers(result.stdout, photo)
    for name in [*tour.FILES.values(), tour.PAGE]:
        assert (tmp_path / "out" / name).is_file(), name
    assert f"opened {(tmp_path / 'out' / 'index.html').resolve().as_uri()}" in result.stdout


def test_tour_on_the_built_in_photo_keeps_a_person_s_files(tmp_path):
    (tmp_path / "tour").mkdir()
    (tmp_path / "tour" / "index.html").write_text("someone's own page")
    result = _run(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "car.png (built in): 160x120 pixels" in result.stdout
    assert (tmp_path / "tour" / "index.html").read_text() == "someone's own page"
    assert (tmp_path / "tour-2" / "index.html").is_file()
    assert "tour-2/index.html in a browser" in result.stdout
    with Image.open(tmp_path / "tour-2" / tour.FILES["photo"]) as image:
        assert image.size == tour.figure_size_pixels("photo")
    photo = numpy.asarray(Image.open(tour.Path(tour.__file__).parent / "assets" / tour.BUILT_IN).convert("RGB"))
    _check_numbers(result.stdout, photo)
    seconds = float(re.search(r"in ([\d.]+) s\n", result.stdout)[1])
    assert seconds < 60  # about 10 s on the project's 2-core machine; the README's first command must be quick


@pytest.mark.parametrize("setup, args, message", [
    (lambda d: (d / "notes.png").write_text("not a picture"), ("--image", "notes.png"), "not an image"),
    (lambda d: None, ("--image", "missing.jpg"), "missing.jpg: no such image file"),
    (lambda d: Image.new("RGB", (4, 4)).save(d / "tiny.png"), ("--image", "tiny.png"), "too small"),
    (lambda d: (d / "busy").mkdir() or (d / "busy" / "index.html").write_text("x"), ("--out", "busy"),
     "busy already has index.html"),
])
def test_bad_input_is_one_clear_line_and_exit_code_2(tmp_path, setup, args, message):
    setup(tmp_path)
    result = _run(*args, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
