"""The tour's figures for steps 1-6, drawn from numbers that convpool's operators computed
(`tour_numbers`). One function per figure; each returns the PNG bytes. Every figure has a
fixed size (`SIZES`, inches at `style.DPI`), so its pixel size is known in advance."""

from __future__ import annotations

import numpy

from ..shapes import output_size
from . import tour_numbers as numbers
from .style import SIGNED_CMAP, color_limits, pyplot, save

SIZES: dict[str, tuple[float, float]] = {
    "photo": (12, 4),
    "channels": (12, 3.4),
    "window": (14, 3.4),
    "kernels": (14, 8),
    "strides": (9, 9.6),
    "output_size": (12, 5.4),
    "pooling": (12, 7.4),
}

ZOOM = 12  # pixels across the zoomed view of step 1
CHANNEL_NAMES = ("red", "green", "blue")
WINDOW_COLOURS = ("#f4a582", "#92c5de", "#b8e186", "#e3b4f0")  # pastel, one per 2x2 pooling window
FIRST_WINDOW, NEXT_WINDOW = "#e66101", "#5e3c99"


def figure_size_pixels(name: str) -> tuple[int, int]:
    """(width, height) in pixels of a figure's PNG."""
    from .style import DPI

    width, height = SIZES[name]
    return round(width * DPI), round(height * DPI)


def _figure(name: str, rows: int, columns: int, **options):
    return pyplot().subplots(rows, columns, figsize=SIZES[name], layout="constrained", squeeze=False, **options)


def channel_cmap(index: int):
    """Black to pure red, green or blue: how one channel looks on its own."""
    from matplotlib.colors import LinearSegmentedColormap

    top = [0.0, 0.0, 0.0]
    top[index] = 1.0
    return LinearSegmentedColormap.from_list(CHANNEL_NAMES[index], [(0, 0, 0), tuple(top)])


def _ink(rgba) -> str:
    """Black or white text, whichever reads on that background."""
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def _number(value: float) -> str:
    """At most two decimals, no trailing zeros: 742.5, 0.11, -3."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _matrix(ax, values: numpy.ndarray, limits: dict, fontsize: float = 11, texts=None) -> None:
    """A small matrix as coloured cells with its numbers written in."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    values = numpy.asarray(values, dtype=numpy.float64)
    ax.imshow(values, **limits)
    cmap, norm = colormaps[limits["cmap"]] if isinstance(limits["cmap"], str) else limits["cmap"], \
        Normalize(limits["vmin"], limits["vmax"])
    for (i, j), value in numpy.ndenumerate(values):
        text = _number(value) if texts is None else texts[i][j]
        ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, color=_ink(cmap(norm(value))))
    ax.set_xticks([])
    ax.set_yticks([])


def map_limits(values: numpy.ndarray) -> dict:
    """`color_limits`, but a signed map's bound is the 99.5th percentile of the magnitudes: a
    few extreme pixels would otherwise wash every edge out to white. Beyond it colours clip."""
    limits = color_limits(values)
    if limits["cmap"] == SIGNED_CMAP:
        bound = float(numpy.percentile(numpy.abs(values), 99.5)) or limits["vmax"]
        limits.update(vmin=-bound, vmax=bound)
    return limits


def _signed_limits(values: numpy.ndarray) -> dict:
    """Diverging and symmetric about zero, whatever the signs (kernel weights, products)."""
    bound = float(numpy.max(numpy.abs(values))) or 1.0
    return {"cmap": SIGNED_CMAP, "vmin": -bound, "vmax": bound}


def zoom_origin(shape: tuple[int, ...], centre: tuple[int, int], size: int = ZOOM) -> tuple[int, int]:
    """Top-left (row, column) of a size x size view around centre, kept inside the image."""
    rows, columns = shape[:2]
    top = min(max(centre[0] - size // 2, 0), max(rows - size, 0))
    left = min(max(centre[1] - size // 2, 0), max(columns - size, 0))
    return top, left


def _outline(ax, top: float, left: float, height: float, width: float, colour: str, **options) -> None:
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((left - 0.5, top - 0.5), width, height, fill=False, edgecolor=colour,
                           linewidth=options.pop("linewidth", 2), **options))


def photo_figure(photo: numpy.ndarray, centre: tuple[int, int]) -> bytes:
    """Step 1: the photo, a zoom until single pixels show, and four pixels as their numbers."""
    rows, columns = photo.shape[:2]
    figure, axes = _figure("photo", 1, 3, gridspec_kw={"width_ratios": [columns / rows, 1, 1]})
    top, left = zoom_origin(photo.shape, centre)
    size = min(ZOOM, rows, columns)
    ax = axes[0, 0]
    ax.imshow(photo, interpolation="nearest")
    _outline(ax, top, left, size, size, "yellow")
    ax.set_title(f"The photo: {columns}x{rows} pixels")
    ax.set_xlabel("column")
    ax.set_ylabel("row")

    ax = axes[0, 1]
    ax.imshow(photo[top:top + size, left:left + size], interpolation="nearest",
              extent=(left - 0.5, left + size - 0.5, top + size - 0.5, top - 0.5))
    ax.set_xticks(numpy.arange(left - 0.5, left + size, 1), minor=True)
    ax.set_yticks(numpy.arange(top - 0.5, top + size, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=0.4, alpha=0.6)
    ax.tick_params(which="minor", length=0)
    small = min(4, size)
    s_top, s_left = top + (size - small) // 2, left + (size - small) // 2
    _outline(ax, s_top, s_left, small, small, "yellow")
    ax.set_title(f"Zoomed to {size}x{size}: one square, one pixel")
    ax.set_xlabel("column")
    ax.set_ylabel("row")

    ax = axes[0, 2]
    patch = photo[s_top:s_top + small, s_left:s_left + small]
    ax.imshow(patch, interpolation="nearest")
    for (i, j), _ in numpy.ndenumerate(patch[..., 0]):
        r, g, b = (int(v) for v in patch[i, j])
        ax.text(j, i, f"R {r}\nG {g}\nB {b}", ha="center", va="center", fontsize=9, family="monospace",
                color=_ink(patch[i, j] / 255.0))
    ax.set_xticks(range(small), [str(s_left + j) for j in range(small)])
    ax.set_yticks(range(small), [str(s_top + i) for i in range(small)])
    ax.set_title(f"{small}x{small} pixels: three numbers each")
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    return save(figure)


def channels_figure(photo: numpy.ndarray) -> bytes:
    """Step 1: the red, green and blue channels, each a grey image of its own."""
    rows, columns = photo.shape[:2]
    figure, axes = _figure("channels", 1, 3)
    for index, ax in enumerate(axes[0]):
        image = ax.imshow(photo[..., index], cmap=channel_cmap(index), vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(f"{CHANNEL_NAMES[index]} channel: {columns}x{rows} numbers")
        ax.set_xlabel("column")
        if index == 0:
            ax.set_ylabel("row")
        figure.colorbar(image, ax=ax, shrink=0.85, label=f"{CHANNEL_NAMES[index]} value (0-255)")
    return save(figure)


def window_figure(channel: numpy.ndarray, window: numbers.Window, channel_index: int = 0) -> bytes:
    """Step 2: the 9 pixels under one 3x3 window, the 9 weights, their products, and where
    their sum plus the bias lands in the output."""
    rows, columns = channel.shape
    figure, axes = _figure("window", 1, 5, gridspec_kw={"width_ratios": [columns / rows, 1, 1, 1, columns / rows]})
    k = window.weights.shape[0]
    ax = axes[0, 0]
    ax.imshow(channel, cmap=channel_cmap(channel_index), vmin=0, vmax=255, interpolation="nearest")
    _outline(ax, window.row, window.column, k, k, "yellow", linewidth=1.5)
    ax.annotate("window", (window.column + 1, window.row - 0.5), (window.column + 1, max(window.row - 25, 8)),
                color="yellow", ha="center", arrowprops={"arrowstyle": "->", "color": "yellow"})
    ax.set_title(f"{CHANNEL_NAMES[channel_index]} channel, rows {window.row}-{window.row + k - 1}, "
                 f"columns {window.column}-{window.column + k - 1}", fontsize=10)
    ax.set_xlabel("column")
    ax.set_ylabel("row")

    _matrix(axes[0, 1], window.pixels, {"cmap": channel_cmap(channel_index), "vmin": 0, "vmax": 255})
    axes[0, 1].set_title("the 9 pixel values")
    _matrix(axes[0, 2], window.weights, _signed_limits(window.weights))
    axes[0, 2].set_title("x  the 9 weights")
    _matrix(axes[0, 3], window.products, _signed_limits(window.products), fontsize=10)
    axes[0, 3].set_title("=  the 9 products")
    axes[0, 3].set_xlabel(f"sum {_number(window.products.sum())} + bias {_number(window.bias)}\n"
                          f"= {_number(window.by_hand)}", fontsize=11)

    ax = axes[0, 4]
    ax.imshow(window.output, **map_limits(window.output), interpolation="nearest")
    ax.plot([window.column], [window.row], marker="s", markersize=9, markerfacecolor="none",
            markeredgecolor="black", markeredgewidth=2)
    out_rows, out_columns = window.output.shape
    ax.set_title(f"lands at output[{window.row}, {window.column}]\n(F.conv2d: {_number(window.conv2d)}; "
                 f"output {out_columns}x{out_rows})", fontsize=10)
    ax.set_xlabel("column")
    figure.suptitle("One 3x3 kernel at one position: multiply pixel by weight, add the 9 products and the bias")
    return save(figure)


def kernels_figure(photo: numpy.ndarray) -> bytes:
    """Step 3: the photo through blur, sharpen and edge, per channel and summed, and the three
    per-channel results shown together as a colour picture."""
    figure, axes = _figure("kernels", 3, 6, gridspec_kw={"width_ratios": [0.75, 1, 1, 1, 1, 1]})
    titles = ["kernel", "red channel", "green channel", "blue channel", "summed over channels",
              "as a colour picture"]
    for row, (name, weights) in enumerate(numbers.KERNELS.items()):
        per_channel, summed = numbers.conv_photo(photo, weights)
        texts = [[_number(w) if name != "blur" else "1/9" for w in line] for line in weights]
        _matrix(axes[row, 0], weights, _signed_limits(weights), texts=texts)
        axes[row, 0].set_ylabel(name, fontsize=13)
        limits = map_limits(per_channel)
        for index in range(3):
            image = axes[row, 1 + index].imshow(per_channel[index], **limits, interpolation="nearest")
        figure.colorbar(image, ax=axes[row, 1:4], shrink=0.9, aspect=15, pad=0.01, extend=_extend(limits))
        limits = map_limits(summed)
        image = axes[row, 4].imshow(summed, **limits, interpolation="nearest")
        figure.colorbar(image, ax=axes[row, 4], shrink=0.9, aspect=15, pad=0.01, extend=_extend(limits))
        axes[row, 5].imshow(numpy.clip(per_channel.transpose(1, 2, 0), 0, 255).astype(numpy.uint8),
                            interpolation="nearest")
        for ax in axes[row, 1:]:
            ax.set_xticks([])
            ax.set_yticks([])
    for ax, title in zip(axes[0], titles, strict=True):
        ax.set_title(title)
    rows, columns = photo.shape[:2]
    out_rows, out_columns = output_size((rows, columns), 3)
    figure.suptitle(f"The same photo through three 3x3 kernels: {columns}x{rows} in, {out_columns}x{out_rows} out "
                    "(no padding). Blue is negative, white zero, red positive; colours clip at the arrows")
    return save(figure)


def _extend(limits: dict) -> str:
    return "both" if limits["cmap"] == SIGNED_CMAP else "neither"


def _grid_panel(ax, size: int, kernel: int, stride: int, padding: int) -> None:
    """Every window position of a kernel over a size x size grid, padding drawn as zeros."""
    from matplotlib.patches import Rectangle

    out = output_size(size, kernel, stride=stride, padding=padding)
    cells = size + 2 * padding
    coverage = numpy.zeros((cells, cells), dtype=int)
    for i in range(out):
        for j in range(out):
            coverage[i * stride:i * stride + kernel, j * stride:j * stride + kernel] += 1
    cmap = pyplot().get_cmap("Blues")
    for (i, j), count in numpy.ndenumerate(coverage):
        inside = padding <= i < padding + size and padding <= j < padding + size
        if not inside:
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor="#d9d9d9", edgecolor="white"))
            ax.text(j + 0.5, i + 0.5, str(count), ha="center", va="center", fontsize=11, color="#555555")
        elif count == 0:
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor="white", edgecolor="#bbbbbb", hatch="///"))
        else:
            colour = cmap(0.15 + 0.75 * min(count, 9) / 9)
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor=colour, edgecolor="white"))
            ax.text(j + 0.5, i + 0.68, str(count), ha="center", va="center", fontsize=10, color=_ink(colour))
    centres = [i * stride + kernel / 2 for i in range(out)]
    xs, ys = numpy.meshgrid(centres, centres)
    ax.plot(xs.ravel(), ys.ravel() - 0.2, "o", color="black", markersize=5)
    ax.add_patch(Rectangle((0.06, 0.06), kernel - 0.12, kernel - 0.12, fill=False, edgecolor=FIRST_WINDOW,
                           linewidth=3))
    if out > 1:
        ax.add_patch(Rectangle((stride + 0.12, 0.12), kernel - 0.24, kernel - 0.24, fill=False,
                               edgecolor=NEXT_WINDOW, linewidth=2.5, linestyle="--"))
    ax.add_patch(Rectangle((padding, padding), size, size, fill=False, edgecolor="black", linewidth=1.5))
    ax.set_xlim(0, cells)
    ax.set_ylim(cells, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    example = numbers.SizeExample(size, kernel, stride, padding)
    ax.set_title(f"stride {stride}, padding {padding}: {out * out} windows", fontsize=13)
    ax.set_xlabel(f"{example.formula()}\noutput {out}x{out}", fontsize=12)


def strides_figure(size: int = 7) -> bytes:
    """Step 4: a 3x3 kernel at stride 1, 2 and 3 over a pixel grid, and zero padding."""
    figure, axes = _figure("strides", 2, 2)
    for ax, (stride, padding) in zip(axes.ravel(), [(1, 0), (2, 0), (3, 0), (3, 1)], strict=True):
        _grid_panel(ax, size, 3, stride, padding)
    figure.suptitle(f"A 3x3 kernel over a {size}x{size} image. Number: how many windows read that pixel.\n"
                    "Dots: window centres. Orange: the first window, purple dashed: the next.\n"
                    "Hatched: pixels no window reads. Grey: the zero padding around the image (its value is 0).",
                    fontsize=12)
    return save(figure)


def _strip(ax, example: numbers.SizeExample, first: int) -> None:
    """The last windows along one axis, from pixel `first` to the end, and past it."""
    from matplotlib.patches import Rectangle

    out = example.out
    last_end = (out - 1) * example.stride + example.extent - example.padding
    end = max(example.size, last_end)
    read = set()
    for i in range(out):
        start = i * example.stride - example.padding
        read.update(start + t * example.dilation for t in range(example.kernel))
    for x in range(first, end):
        inside = x < example.size
        style = {"facecolor": "white" if x in read else "#eeeeee", "edgecolor": "#888888",
                 "hatch": None if x in read or not inside else "///", "linestyle": "-" if inside else ":"}
        ax.add_patch(Rectangle((x, 0), 1, 1, **style))
        ax.text(x + 0.5, 0.5, str(x) if inside else "past\nend", ha="center", va="center",
                fontsize=8 if inside else 6.5)
    shown = [i for i in range(out) if i * example.stride - example.padding + example.extent > first]
    for n, i in enumerate(shown):
        start = i * example.stride - example.padding
        level = -0.45 - 0.4 * (n % 2)
        colour = FIRST_WINDOW if i == out - 1 else NEXT_WINDOW
        ax.plot([max(start, first) + 0.1, start + example.extent - 0.1], [level, level], color=colour, linewidth=2)
        taps = [start + t * example.dilation + 0.5 for t in range(example.kernel)]
        ax.plot([t for t in taps if t > first], [level] * len([t for t in taps if t > first]), "o", color=colour,
                markersize=6)
        ax.text(start + example.extent + 0.15, level, f"window {i + 1}", va="center", fontsize=8, color=colour)
    ax.set_xlim(first - 0.2, end + 2.6)
    ax.set_ylim(-1.2, 1.1)
    ax.invert_yaxis()
    ax.axis("off")


def output_size_figure() -> bytes:
    """Step 5: why the formula rounds down, and the footnotes: ceil mode and dilation."""
    examples = [
        (numbers.ARTICLE_EXAMPLE, "the article's example: the last pixel (255) is never read, so the result "
                                  "rounds down"),
        (numbers.FOOTNOTE_EXAMPLES[1], "ceil mode (pooling only) rounds up: one more window, starting inside "
                                       "the image and hanging past its end"),
        (numbers.FOOTNOTE_EXAMPLES[0], "dilation 2: the 3 taps of the kernel are 2 apart, so it spans 5 pixels "
                                       "(K becomes D(K-1)+1)"),
    ]
    figure, axes = _figure("output_size", 3, 1)
    for ax, (example, text) in zip(axes[:, 0], examples, strict=True):
        _strip(ax, example, first=example.size - 14)
        mode = ", ceil mode" if example.ceil_mode else ""
        dilation = f", dilation {example.dilation}" if example.dilation != 1 else ""
        ax.set_title(f"W={example.size}, K={example.kernel}, S={example.stride}, P={example.padding}{dilation}{mode}: "
                     f"{example.formula()} windows\n{text}", fontsize=10, loc="left")
    figure.suptitle("The right end of a 256-pixel row: each window drawn above the pixels it reads "
                    "(dots: its taps; hatched: pixels no window reads)", fontsize=11)
    return save(figure)


def pooling_figure(photo: numpy.ndarray) -> bytes:
    """Step 6: 2x2 max and average pooling on a 4x4 matrix and on the photo."""
    from matplotlib.colors import ListedColormap

    figure, axes = _figure("pooling", 2, 3)
    matrix = numbers.POOL_MATRIX
    windows = numpy.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
    window_map = {"cmap": ListedColormap(WINDOW_COLOURS), "vmin": -0.5, "vmax": 3.5}
    texts = [[_number(v) for v in line] for line in matrix]
    _matrix(axes[0, 0], windows, window_map, fontsize=14, texts=texts)
    axes[0, 0].set_title("a 4x4 matrix in four 2x2 windows")
    for ax, kind, label in [(axes[0, 1], "max", "max pooling keeps the largest"),
                            (axes[0, 2], "avg", "average pooling keeps the mean")]:
        pooled = numbers.pool(matrix, kind)
        _matrix(ax, numpy.array([[0, 1], [2, 3]]), window_map, fontsize=16,
                texts=[[_number(v) for v in line] for line in pooled])
        ax.set_title(f"{label}: 2x2")
    rows, columns = photo.shape[:2]
    axes[1, 0].imshow(photo, interpolation="nearest")
    axes[1, 0].set_title(f"the photo, {columns}x{rows}")
    for ax, kind, label in [(axes[1, 1], "max", "max pooled"), (axes[1, 2], "avg", "average pooled")]:
        pooled = numbers.pool(photo, kind)
        ax.imshow(numpy.clip(pooled, 0, 255).astype(numpy.uint8), interpolation="nearest")
        ax.set_title(f"{label} 2x2, stride 2: {pooled.shape[1]}x{pooled.shape[0]}")
    for ax in axes[1]:
        ax.set_xticks([])
        ax.set_yticks([])
    figure.suptitle("Pooling: each 2x2 window becomes one number, so the size halves (stride = pool size)")
    return save(figure)


__all__ = ["SIZES", "channels_figure", "figure_size_pixels", "kernels_figure",
           "output_size_figure", "photo_figure", "pooling_figure", "strides_figure", "window_figure"]
