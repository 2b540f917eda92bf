"""The numbers behind the tour, computed by convpool's own operators: one convolution window
worked out by hand and checked against `F.conv2d`, the output-size formula worked for given
sizes (the result always from `convpool.output_size`), and pooling.

Kept apart from the figures so that tests can check every number without drawing anything."""

from __future__ import annotations

from dataclasses import dataclass

import numpy

from .. import functional as F
from ..factories import tensor
from ..shapes import output_size

# The three kernels of the article's third figure. Blur averages, sharpen adds the pixel's
# difference from its neighbours, edge keeps only that difference (zero on flat regions).
KERNELS: dict[str, numpy.ndarray] = {
    "blur": numpy.full((3, 3), 1 / 9),
    "sharpen": numpy.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=numpy.float64),
    "edge": numpy.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=numpy.float64),
}

# Step 2's kernel and bias: the edge kernel, and a bias small enough to leave the sum readable.
WINDOW_KERNEL = "edge"
WINDOW_BIAS = 0.5

# A 4x4 matrix for 2x2 pooling (the classic cs231n example).
POOL_MATRIX = numpy.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=numpy.float64)


def conv_channel(channel: numpy.ndarray, weights: numpy.ndarray, bias: float = 0.0, stride: int = 1,
                 padding: int = 0) -> numpy.ndarray:
    """One (H, W) channel through one kernel with F.conv2d, in float64: (H', W')."""
    x = tensor(numpy.asarray(channel, dtype=numpy.float64)[None, None])
    w = tensor(numpy.asarray(weights, dtype=numpy.float64)[None, None])
    return F.conv2d(x, w, tensor([float(bias)], dtype="float64"), stride=stride, padding=padding).numpy()[0, 0]


def conv_photo(photo: numpy.ndarray, weights: numpy.ndarray, padding: int = 0) -> tuple[numpy.ndarray, numpy.ndarray]:
    """An (H, W, 3) photo through the same kernel on every channel: (the per-channel outputs
    (3, H', W') from a depthwise F.conv2d, their sum (H', W') from an ordinary F.conv2d with one
    output channel, as a conv layer computes it). No padding by default: zero padding would
    draw a frame of false edges around the picture."""
    x = tensor(numpy.asarray(photo, dtype=numpy.float64).transpose(2, 0, 1)[None])
    w = numpy.asarray(weights, dtype=numpy.float64)
    per_channel = F.conv2d(x, tensor(numpy.stack([w] * 3)[:, None]), padding=padding, groups=3).numpy()[0]
    summed = F.conv2d(x, tensor(numpy.stack([w] * 3)[None]), padding=padding).numpy()[0, 0]
    return per_channel, summed


@dataclass(frozen=True)
class Window:
    """One kernel at one position: output[row, column] = sum(pixels * weights) + bias."""

    row: int
    column: int
    pixels: numpy.ndarray
    weights: numpy.ndarray
    products: numpy.ndarray
    bias: float
    by_hand: float  # the sum of the 9 products plus the bias, computed here
    conv2d: float  # the same output pixel as F.conv2d computes it
    output: numpy.ndarray  # the whole output map


def one_window(channel: numpy.ndarray, weights: numpy.ndarray = KERNELS[WINDOW_KERNEL],
               bias: float = WINDOW_BIAS, position: tuple[int, int] | None = None) -> Window:
    """The kernel at one position of a channel (padding 0, stride 1, so output[r, c] reads the
    window whose top-left pixel is [r, c]). Without a position, the strongest response: the
    output pixel with the largest magnitude (the first one on a tie)."""
    channel = numpy.asarray(channel, dtype=numpy.float64)
    weights = numpy.asarray(weights, dtype=numpy.float64)
    output = conv_channel(channel, weights, bias)
    if position is None:
        position = numpy.unravel_index(int(numpy.argmax(numpy.abs(output))), output.shape)
    row, column = (int(p) for p in position)
    if not (0 <= row < output.shape[0] and 0 <= column < output.shape[1]):
        raise ValueError(f"position ({row}, {column}) is outside the {output.shape[0]}x{output.shape[1]} output")
    k_rows, k_columns = weights.shape
    pixels = channel[row:row + k_rows, column:column + k_columns]
    products = pixels * weights
    return Window(row, column, pixels, weights, products, float(bias), float(products.sum() + bias),
                  float(output[row, column]), output)


@dataclass(frozen=True)
class SizeExample:
    """The article's formula for one axis: out = (W - K + 2P) / S + 1, rounded down (or up in
    ceil mode); `out` is what `convpool.output_size` returns, or None where it refuses."""

    size: int
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    ceil_mode: bool = False

    @property
    def out(self) -> int | None:
        try:
            return output_size(self.size, self.kernel, stride=self.stride, padding=self.padding,
                               dilation=self.dilation, ceil_mode=self.ceil_mode)
        except ValueError:
            return None

    @property
    def extent(self) -> int:
        """Pixels one window spans: D(K-1)+1."""
        return self.dilation * (self.kernel - 1) + 1

    def formula(self, short: bool = False) -> str:
        """The formula with the numbers in, '(256 - 3 + 2*0)/3 + 1 = 253/3 + 1 = 85.33 -> 85'
        (short: without the middle step). K is the span D(K-1)+1 of a dilated kernel."""
        numerator = self.size - self.extent + 2 * self.padding
        exact = numerator / self.stride + 1
        text = f"({self.size} - {self.extent} + 2*{self.padding})/{self.stride} + 1 = "
        text += f"{numerator}/{self.stride} + 1 = " if self.stride != 1 and not short else ""
        text += f"{exact:.2f}".rstrip("0").rstrip(".")
        if self.out is None:
            return text + " -> the kernel does not fit: no output"
        if exact != int(exact) or self.out != exact:
            text += f" -> {self.out}"
        return text


def photo_size_examples(height: int, width: int) -> list[tuple[SizeExample, SizeExample]]:
    """(height, width) examples for a photo: a 3x3 kernel at strides 1-3, with and without
    padding."""
    settings = [(1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)]
    return [(SizeExample(height, 3, s, p), SizeExample(width, 3, s, p)) for s, p in settings]


def conv2d_shape(height: int, width: int, kernel: int, stride: int, padding: int) -> tuple[int, int]:
    """The (H, W) of F.conv2d's actual output on a zero image of that size: the check that the
    formula is what the operator does."""
    x = tensor(numpy.zeros((1, 1, height, width)))
    w = tensor(numpy.zeros((1, 1, kernel, kernel)))
    return tuple(F.conv2d(x, w, stride=stride, padding=padding).shape[2:])


ARTICLE_EXAMPLE = SizeExample(256, 3, stride=3)
FOOTNOTE_EXAMPLES = [
    SizeExample(256, 3, stride=3, dilation=2),  # a dilated kernel spans 5 pixels
    SizeExample(256, 3, stride=3, ceil_mode=True),  # ceil mode keeps a last, partial window
    SizeExample(5, 2, stride=2, padding=1, ceil_mode=True),  # ... unless it would start in the padding
]


def pool(image: numpy.ndarray, kind: str, size: int = 2) -> numpy.ndarray:
    """(H, W) or (H, W, C) values through F.max_pool2d or F.avg_pool2d with size x size windows
    and stride = size, as the article pools."""
    values = numpy.asarray(image, dtype=numpy.float64)
    x = values[None, None] if values.ndim == 2 else values.transpose(2, 0, 1)[None]
    function = {"max": F.max_pool2d, "avg": F.avg_pool2d}[kind]
    y = function(tensor(x), size).numpy()[0]
    return y[0] if values.ndim == 2 else y.transpose(1, 2, 0)
