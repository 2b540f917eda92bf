"""`convpool tour`: the article, step by step, computed live by convpool's own operators on a
photo: numbered PNG figures and one self-contained HTML page that explains each step with
the actual numbers.

1. the photo, zoomed until pixels show, and its red, green and blue channels;
2. one 3x3 kernel at one position: pixels, weights, products, sum plus bias, where it lands;
3. blur, sharpen and edge kernels, per channel and summed;
4. stride 1, 2, 3 and zero padding drawn over a pixel grid;
5. the output-size formula for the photo's own size and the article's 256 -> 85;
6. 2x2 max and average pooling on a small matrix and on the photo;
7. a trained CNN's feature maps, layer by layer, and its class scores;
8. an interactive output-size explorer in the page.

The built-in photo (`assets/car.png`, a red car on a road, 160x120) was drawn for convpool with
Pillow's ImageDraw plus a little noise; it is self-made and in the public domain."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy

from ..shapes import output_size
from . import explorer, tour_folder
from . import tour_figures as figures
from . import tour_network as network
from . import tour_numbers as numbers
from .page import Page

BUILT_IN = "car.png"
MAX_SIDE = 160  # a larger photo is scaled down so every pixel-level picture stays legible
MIN_SIDE = 8
FILES = {
    "photo": "01-photo.png",
    "channels": "01-channels.png",
    "window": "02-one-window.png",
    "kernels": "03-three-kernels.png",
    "strides": "04-stride-and-padding.png",
    "output_size": "05-output-size.png",
    "pooling": "06-pooling.png",
    "feature_maps": "07-feature-maps.png",
    "scores": "07-class-scores.png",
}
PAGE = "index.html"
STEP5_SETTING = (2, 1)  # (stride, padding) of the photo example printed on the command line
GRID = 7  # the pixel grid of step 4
WIDE = "body { max-width: 1240px; } p, pre { max-width: 54em; }"  # room for wide figures, short lines of text


def figure_size_pixels(key: str) -> tuple[int, int]:
    """(width, height) in pixels of the figure FILES[key]."""
    if key in network.SIZES:
        return network.figure_size_pixels(key)
    return figures.figure_size_pixels(key)


def load_photo(path: str | Path) -> tuple[numpy.ndarray, str]:
    """(an (H, W, 3) uint8 RGB array, what was done to it): converted to RGB, and scaled down
    (keeping its shape) when a side is longer than MAX_SIDE."""
    from ..data.images import read_image

    array, notes = read_image(path, 3, max_side=MAX_SIDE)
    array = array.transpose(1, 2, 0)
    if min(array.shape[:2]) < MIN_SIDE:
        raise ValueError(f"{path}: {array.shape[1]}x{array.shape[0]} pixels is too small; the tour needs "
                         f"at least {MIN_SIDE}x{MIN_SIDE}")
    return array, notes


@dataclass
class Tour:
    """What a run wrote and the numbers it printed."""

    folder: Path
    page: Path
    files: list[Path] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _fmt(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def run_tour(image: str | None = None, out: str | None = None, log: Callable[[str], None] = print) -> Tour:
    """Walk through the article on image (the built-in photo when None); write the figures and
    the page into out (see `tour_folder`); log one line per step."""
    start = time.perf_counter()
    folder = tour_folder.choose(out, [*FILES.values(), PAGE])  # before any work: a bad --out fails at once
    with contextlib.ExitStack() as stack:
        if image is None:
            source = stack.enter_context(resources.as_file(resources.files("convpool.viz") / "assets" / BUILT_IN))
            label = f"{BUILT_IN} (built in)"
        else:
            source, label = Path(image), str(image)
        photo, notes = load_photo(source)
        model_name, model, config = network.load_model()
        view = network.look(str(source), model_name, model, config)
    folder.mkdir(parents=True, exist_ok=True)
    tour = Tour(folder, folder / PAGE)
    rows, columns = photo.shape[:2]

    def emit(line: str) -> None:
        tour.lines.append(line)
        log(line)

    def write(key: str, png: bytes) -> bytes:
        path = folder / FILES[key]
        path.write_bytes(png)
        tour.files.append(path)
        return png

    emit(f"convpool tour on {label}: {columns}x{rows} pixels" + (f" ({notes})" if notes else ""))
    page = Page("Convolution and pooling, step by step",
                f"Every picture and number on this page was computed by convpool's own operators "
                f"(F.conv2d, F.max_pool2d, F.avg_pool2d, convpool.output_size and a trained network) "
                f"on {label}, {columns}x{rows} pixels" + (f" ({notes})" if notes else "") + ". "
                "It follows the article 'A short introduction to convolution and pooling'.")
    page.style(WIDE + explorer.STYLE)

    # 1. the photo and its channels
    red = photo[..., 0].astype(numpy.float64)
    window = numbers.one_window(red)
    k = window.weights.shape[0]
    centre = (window.row + k // 2, window.column + k // 2)
    page.heading("1. A photo is three grids of numbers", "step-1")
    page.paragraph(f"The photo is {columns} pixels wide and {rows} high. Zoom in far enough and it is a grid of "
                   "squares, each one colour made of three numbers from 0 to 255: how much red, green and blue. "
                   f"As a tensor it is 3x{rows}x{columns} (channels, rows, columns), the layout convpool and "
                   "PyTorch use. A convolution runs over each of the three channels.")
    page.figure(write("photo", figures.photo_figure(photo, centre)),
                "The photo, a zoom until single pixels show (the yellow square), and four pixels as numbers.")
    page.figure(write("channels", figures.channels_figure(photo)),
                "The same photo as its red, green and blue channels: three grey images, tinted here.")
    emit(f"  1. the photo, zoomed and split into red, green and blue: {FILES['photo']}, {FILES['channels']}")

    # 2. one kernel at one position
    page.heading("2. One 3x3 kernel at one position", "step-2")
    out_rows, out_columns = output_size((rows, columns), k)
    page.paragraph(f"A kernel is a small grid of weights. Here it is the edge kernel (8 in the middle, -1 around) "
                   f"with a bias of {_fmt(window.bias)}, on the red channel, placed at rows {window.row}-"
                   f"{window.row + k - 1} and columns {window.column}-{window.column + k - 1}: where the "
                   "red channel has its strongest edge. Each pixel under the kernel is multiplied by the weight "
                   "over it, the 9 products are added, and the bias is added to the sum.")
    width = max(len(_fmt(v)) for v in window.pixels.ravel())
    weight_width = max(len(_fmt(v)) for v in window.weights.ravel())
    terms = [" + ".join(f"{_fmt(window.pixels[i, j]):>{width}} * ({_fmt(window.weights[i, j]):>{weight_width}})"
                        for j in range(k)) for i in range(k)]
    page.preformatted("    " + "\n  + ".join(terms) + f"\n  = {_fmt(window.products.sum())}\n  + {_fmt(window.bias)} "
                      f"(the bias)\n  = {_fmt(window.by_hand)}")
    page.paragraph(f"F.conv2d computes the whole output at once; at output[{window.row}, {window.column}] it gives "
                   f"{_fmt(window.conv2d)}, the same number. Every position of the kernel gives one output pixel, "
                   f"so without padding the output is {out_columns}x{out_rows}: two smaller than the photo, since "
                   "a 3x3 window fits one pixel short of each border.")
    page.figure(write("window", figures.window_figure(red, window)),
                "Pixels times weights, summed, plus the bias: one number, which lands at the window's position "
                "in the output (right, blue negative, red positive).")
    emit(f"  2. edge kernel on the red channel at output[{window.row}, {window.column}]: sum of the 9 products "
         f"{_fmt(window.products.sum())} + bias {_fmt(window.bias)} = {_fmt(window.by_hand)} "
         f"(F.conv2d: {_fmt(window.conv2d)})")

    # 3. three kernels
    page.heading("3. Three kernels, three pictures", "step-3")
    page.paragraph("The same photo through three kernels. Blur (every weight 1/9) replaces each pixel by the mean "
                   "of its 3x3 neighbourhood. Sharpen (5 in the middle, -1 beside) adds each pixel's difference "
                   "from its neighbours. Edge (8 in the middle, -1 around) keeps only that difference: its weights "
                   "add up to 0, so a flat region gives 0 and only places where the colour changes stand out, "
                   "which is why its map is the clearest. A conv layer with three input channels adds the three "
                   "per-channel results into one output channel (the 'summed' column).")
    page.figure(write("kernels", figures.kernels_figure(photo)),
                "Rows: blur, sharpen, edge. Columns: the kernel, its output on each channel, the sum over the "
                "channels, and the three per-channel outputs shown together as colours (clipped to 0-255).")
    emit(f"  3. blur, sharpen and edge, per channel and summed: {FILES['kernels']}")

    # 4. stride and padding
    page.heading("4. Stride and padding", "step-4")
    sizes = {s: output_size(GRID, 3, stride=s) for s in (1, 2, 3)}
    padded = output_size(GRID, 3, stride=3, padding=1)
    page.paragraph(f"The stride is how far the kernel moves between two outputs. On a {GRID}x{GRID} image a 3x3 "
                   f"kernel at stride 1 visits every position, and its windows overlap ({sizes[1]}x{sizes[1]} "
                   f"outputs); at stride 2 it skips every other one ({sizes[2]}x{sizes[2]}); at stride 3 the "
                   f"windows no longer overlap ({sizes[3]}x{sizes[3]}) and the last column and row are never read. "
                   f"Zero padding adds a border of zeros so the kernel can cover every region: with padding 1 "
                   f"the stride-3 kernel reads every pixel ({padded}x{padded}).")
    page.figure(write("strides", figures.strides_figure(GRID)),
                "Window positions over a pixel grid; the shading counts how many windows read each pixel.")
    emit(f"  4. stride 1, 2 and 3 and zero padding on a {GRID}x{GRID} grid: {FILES['strides']}")

    # 5. the formula
    page.heading("5. The output size: (W - K + 2P) / S + 1", "step-5")
    page.paragraph("W is the input size, K the kernel size, P the padding on each side and S the stride. When the "
                   "division leaves a remainder it is rounded down: the pixels left over at the end are not read. "
                   "For this photo, with a 3x3 kernel (each row's result is convpool.output_size's; the last "
                   "column is the shape of F.conv2d's actual output):")
    rows_table = []
    for height, width in numbers.photo_size_examples(rows, columns):
        actual = numbers.conv2d_shape(rows, columns, 3, height.stride, height.padding)
        rows_table.append([height.stride, height.padding, width.formula(short=True), height.formula(short=True),
                           f"{width.out}x{height.out}", f"{actual[1]}x{actual[0]}"])
    page.table(["S", "P", f"width (W = {columns})", f"height (W = {rows})", "output", "F.conv2d"], rows_table)
    article = numbers.ARTICLE_EXAMPLE
    page.paragraph(f"The article's example: a 256x256 image, a 3x3 kernel and stride 3 give {article.formula()}, "
                   f"so the output is {article.out}x{article.out}.")
    dilated, ceiled, dropped = numbers.FOOTNOTE_EXAMPLES
    page.paragraph(f"Footnotes. Dilation D spreads the kernel's taps D pixels apart, so it spans D(K-1)+1 pixels "
                   f"and that takes K's place: with D={dilated.dilation}, {dilated.formula()}. Pooling layers "
                   f"also have a ceil mode that rounds up instead, keeping a last, partial window: "
                   f"{ceiled.formula()}; but as in PyTorch a last window that would start in the right padding "
                   f"is dropped: W={dropped.size}, K={dropped.kernel}, S={dropped.stride}, P={dropped.padding} "
                   f"gives {dropped.formula()}. The explorer in step 8 tries any combination.")
    page.figure(write("output_size", figures.output_size_figure()),
                "The right end of the article's 256-pixel row: rounding down, ceil mode and dilation.")
    stride, padding = STEP5_SETTING
    for height, width in numbers.photo_size_examples(rows, columns):
        if (height.stride, height.padding) == STEP5_SETTING:
            emit(f"  5. output size of the {columns}x{rows} photo, 3x3 kernel, stride {stride}, padding {padding}: "
                 f"width {width.formula()}, height {height.formula()}")
    emit(f"     the article's 256x256 image, 3x3 kernel, stride 3: {article.formula()}")

    # 6. pooling
    page.heading("6. Pooling", "step-6")
    max_pooled, avg_pooled = numbers.pool(numbers.POOL_MATRIX, "max"), numbers.pool(numbers.POOL_MATRIX, "avg")
    pooled_rows, pooled_columns = output_size((rows, columns), 2, stride=2)
    page.paragraph("Pooling shrinks a feature map by summarising each window with one number; its stride equals "
                   "its size, so the windows do not overlap. 2x2 max pooling keeps the largest value of each "
                   f"window ({', '.join(_fmt(v) for v in max_pooled.ravel())} here), average pooling the mean "
                   f"({', '.join(_fmt(v) for v in avg_pooled.ravel())}). On the photo, each channel is pooled on "
                   f"its own: {columns}x{rows} becomes {pooled_columns}x{pooled_rows}. Max pooling keeps the "
                   "brightest value of each channel separately, which can mix colours along edges.")
    page.figure(write("pooling", figures.pooling_figure(photo)),
                "2x2 max and average pooling on a 4x4 matrix (each colour one window) and on the photo.")
    emit(f"  6. 2x2 max and average pooling: {FILES['pooling']}")

    # 7. a trained network
    page.heading("7. A trained CNN looks at the photo", "step-7")
    fallback = model_name != network.PREFERRED_MODELS[0]
    about = (f"This installation has no CIFAR-10 weights yet, so this is the article's CNN trained on "
             f"Fashion-MNIST ({len(view.class_names)} kinds of clothing; no cars), reading a grey "
             f"{config.image_size}x{config.image_size} version of the photo. Its answer is the nearest "
             "thing it knows." if fallback else
             f"This is the network trained on CIFAR-10 (10 classes of small photos, cars among them), reading "
             f"the photo at {config.image_size}x{config.image_size}.")
    page.paragraph(f"{about} The photo is read and scored exactly as convpool predict does it "
                   f"({view.notes or 'read as is'}; the scores are of {view.scored()}). "
                   "Each column below is one layer, as in the article's last figure: a CONV layer's maps can be "
                   "negative, RELU sets the negatives to zero, POOL halves the size. The last layer's scores, one "
                   "per class, become probabilities through softmax.")
    layer_rows = [[layer.label, "x".join(str(n) for n in layer.maps.shape), _fmt(float(layer.maps.min())),
                   _fmt(float(layer.maps.max()))] for layer in view.layers]
    page.table(["layer", "output (channels x rows x columns)", "min", "max"], layer_rows)
    page.figure(write("feature_maps", network.feature_maps_figure(view)),
                "Every layer's first feature maps, one column per layer.")
    page.figure(write("scores", network.scores_figure(view)), "The class scores as probabilities.")
    order = numpy.argsort(-view.probabilities)
    best = ", ".join(f"{view.class_names[i]} {view.probabilities[i]:.1%}" for i in order[:3])
    emit(f"  7. the {model_name} network" + (" (no CIFAR-10 weights shipped yet)" if fallback else "")
         + f" says: {best}")

    # 8. the explorer
    page.heading("8. Try it: the output-size explorer", "step-8")
    page.paragraph("Move the sliders: the grid shows every window of the kernel over the padded input, and the "
                   "output size follows the formula of step 5 (the same rule as convpool.output_size, ceil mode's "
                   "last-window rule included). Where the kernel does not fit, there is no output: "
                   "convpool.output_size raises an error, and the explorer says why.")
    page.raw(explorer.markup())
    page.script(explorer.script())
    emit("  8. the output-size explorer: in the page")

    page.write(tour.page)
    tour_folder.record(folder, [*FILES.values(), PAGE])
    tour.seconds = time.perf_counter() - start
    emit(f"wrote {len(tour.files)} figures and {tour.page} in {tour.seconds:.1f} s")
    return tour
