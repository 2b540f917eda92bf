"""One kernel applied to an image by convpool's own `F.conv2d`, then optional pooling, with the
shapes and the output-size formula behind them (every number from `convpool.output_size`).

A 2-D kernel meets a C-channel image in one of two ways:

- summed (the default): the kernel is copied onto every input channel and all products are
  added, exactly what one filter of a conv layer does: weight (1, C, kH, kW), one output
  channel. A colour photo becomes one grey map.
- per channel (`per_channel=True`): each channel is filtered on its own, a depthwise conv
  with groups=C: weight (C, 1, kH, kW), C output channels, so a colour photo stays in colour.

For a grey image (C = 1) the two are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy

from .. import functional as F
from ..shapes import output_size
from ..tensor import Tensor, no_grad
from .style import SIGNED_CMAP

FORMULA = "out = floor((W + 2P - D(K-1) - 1)/S) + 1"


@dataclass(frozen=True)
class Pool:
    """Pooling after the convolution: 'max' or 'avg', a square window and its stride."""

    kind: str
    kernel_size: int
    stride: int

    def __str__(self) -> str:
        return f"{self.kind} pool {self.kernel_size}x{self.kernel_size}, stride {self.stride}"


def parse_pool(text: str) -> Pool:
    """'max:2', 'avg:2' (stride = window, as the article's pooling) or 'max:3:2' (window 3, stride 2)."""
    usage = "write kind:window[:stride] with kind max or avg, e.g. max:2, avg:2 or max:3:2"
    parts = text.strip().lower().split(":")
    if len(parts) not in (2, 3) or parts[0] not in ("max", "avg"):
        raise ValueError(f"pooling {text!r} does not parse: {usage}")
    try:
        sizes = [int(p) for p in parts[1:]]
    except ValueError:
        raise ValueError(f"pooling {text!r} does not parse: {usage}") from None
    if min(sizes) <= 0:
        raise ValueError(f"pooling {text!r}: the window and stride must be positive whole numbers")
    return Pool(parts[0], sizes[0], sizes[-1])


def formula(axis: str, size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> str:
    """The output-size formula for one axis ('H' or 'W') with the numbers put in, e.g.
    'out = floor((W + 2P - D(K-1) - 1)/S) + 1 = floor((256 + 2*0 - 1*(3-1) - 1)/3) + 1 = 85'."""
    out = output_size(size, kernel, stride, padding, dilation)
    return (f"{FORMULA.replace('W', axis)} = floor(({size} + 2*{padding} - {dilation}*({kernel}-1) - 1)/{stride})"
            f" + 1 = {out}")


@dataclass
class Filtered:
    """The result of `filter_image`: the output (C, H, W), the shapes along the way, the
    lines that explain them, and the gain (what a flat region of brightness 1 becomes:
    the kernel's sum, times C when the channels are summed)."""

    output: numpy.ndarray
    input_shape: tuple[int, int, int]
    conv_shape: tuple[int, int, int]
    output_shape: tuple[int, int, int]
    lines: list[str]
    summed: int  # how many input channels each output value adds up: C, or 1 per channel
    kernel_sum: float
    kernel_abs_sum: float

    @property
    def gain(self) -> float:
        return self.kernel_sum * self.summed


def _axis_lines(height: int, width: int, kernel: tuple[int, int], stride: int, padding: int,
                dilation: int) -> list[str]:
    return [f"  height: {formula('H', height, kernel[0], stride, padding, dilation)}",
            f"  width:  {formula('W', width, kernel[1], stride, padding, dilation)}"]


def filter_image(image: numpy.ndarray, kernel: numpy.ndarray, stride: int = 1, padding: int = 0,
                 dilation: int = 1, per_channel: bool = False, pool: Pool | None = None,
                 kernel_name: str = "kernel") -> Filtered:
    """Convolve a (C, H, W) image (values in [0, 1]) with a 2-D kernel through F.conv2d in
    float64, then pool. Raises ValueError (from output_size) when the kernel, after
    dilation, is larger than the padded image."""
    image = numpy.asarray(image, dtype=numpy.float64)
    kernel = numpy.asarray(kernel, dtype=numpy.float64)
    if image.ndim != 3 or kernel.ndim != 2:
        raise ValueError(f"filter_image takes a (C, H, W) image and a 2-D kernel, got shapes {image.shape} "
                         f"and {kernel.shape}")
    channels, height, width = image.shape
    output_size((height, width), kernel.shape, stride, padding, dilation)  # a clear error before any work
    if per_channel:
        weight, groups, how = numpy.broadcast_to(kernel, (channels, 1) + kernel.shape), channels, "each channel alone"
    else:
        weight, groups = numpy.broadcast_to(kernel, (1, channels) + kernel.shape), 1
        how = f"summed over {channels} channel{'s' if channels > 1 else ''}"
    with no_grad():
        y = F.conv2d(Tensor(image[None]), Tensor(numpy.ascontiguousarray(weight)), stride=stride,
                     padding=padding, dilation=dilation, groups=groups)
        conv_shape = tuple(y.shape[1:])
        lines = [f"input shape {image.shape}  (channels, height, width)",
                 f"conv2d: {kernel_name} {kernel.shape[0]}x{kernel.shape[1]}, stride {stride}, padding {padding}, "
                 f"dilation {dilation}, {how} -> {conv_shape[0]} channel{'s' if conv_shape[0] > 1 else ''}",
                 *_axis_lines(height, width, kernel.shape, stride, padding, dilation),
                 f"conv output shape {conv_shape}"]
        if pool is not None:
            output_size(conv_shape[1:], pool.kernel_size, pool.stride)  # the same check for the pool
            pooling = F.max_pool2d if pool.kind == "max" else F.avg_pool2d
            y = pooling(y, pool.kernel_size, stride=pool.stride)
            lines += [f"{pool}:", *_axis_lines(*conv_shape[1:], (pool.kernel_size,) * 2, pool.stride, 0, 1)]
        output = y.numpy()[0]
    lines.append(f"output shape {output.shape}")
    return Filtered(output, image.shape, conv_shape, output.shape, lines, 1 if per_channel else channels,
                    float(kernel.sum()), float(numpy.abs(kernel).sum()))


def display(result: Filtered) -> tuple[numpy.ndarray, str]:
    """The output as 8-bit pixels ((H, W) grey or (H, W, 3) colour) and a sentence on how
    values became pixels. As image editors normalise a kernel:

    - a kernel with a positive sum keeps the picture: divide by the gain (so identity gives
      back the input exactly) and clip to [0, 1];
    - a kernel that sums to zero or less gives signed values: one channel through the
      diverging colour map, symmetric about zero (white 0, red +, blue -); several channels
      each as grey around mid-grey 0.5 (no colour map can show three signed channels). The
      scale ends at the 99.5th percentile of |value| so that one extreme pixel does not
      wash out every other edge."""
    out = result.output
    if result.kernel_sum > 1e-9 * result.kernel_abs_sum:
        pixels = numpy.clip(out / result.gain, 0.0, 1.0)
        times = f" times {result.summed} summed channels" if result.summed > 1 else ""
        note = f"values divided by {result.gain:g} (the kernel's sum{times}) and clipped to [0, 1]"
    else:
        # a few extreme pixels (a sharp corner) would wash every other edge out to white: the
        # colour scale ends at the 99.5th percentile of |value|, and stronger values saturate
        magnitude = numpy.abs(out)
        bound = float(numpy.percentile(magnitude, 99.5)) or float(magnitude.max()) or 1.0
        if out.shape[0] == 1:
            from matplotlib import colormaps

            rgb = colormaps[SIGNED_CMAP](numpy.clip(0.5 + out[0] / (2 * bound), 0.0, 1.0))[..., :3]
            pixels = rgb.transpose(2, 0, 1)
            note = f"signed values through the {SIGNED_CMAP} colour map: blue -{bound:.3g}, white 0, red +{bound:.3g}"
        else:
            pixels = numpy.clip(0.5 + out / (2 * bound), 0.0, 1.0)
            note = f"signed values per channel as grey: black -{bound:.3g}, mid-grey 0, white +{bound:.3g}"
        note += f" (the 99.5th percentile of |value|; {float(magnitude.max()):.3g} at most, beyond saturates)"
    pixels = numpy.round(pixels * 255).astype(numpy.uint8)
    return (pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0)), note
