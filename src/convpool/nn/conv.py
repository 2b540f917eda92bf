"""Convolution layers: Conv1d/2d/3d and ConvTranspose1d/2d/3d holding weight and bias.

The arithmetic is `convpool.functional`'s; a layer stores the settings with PyTorch's names
and defaults, and creates the parameters with PyTorch's default initialisation.

Padding modes other than 'zeros' pad first with F.pad (reflect, replicate, circular), using
PyTorch's `_reversed_padding_repeated_twice` (last axis first, (before, after) per axis;
'same' puts the odd pixel after), then convolve with padding 0, as torch does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy

from .. import backend
from .. import functional as F
from ..shapes import same_padding, transposed_output_length
from ..tensor import Tensor
from . import init
from .module import Module, Parameter
from .placement import place

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(value: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * n
    values = tuple(value)
    if len(values) == 1:
        values = values * n
    if len(values) != n or any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        raise TypeError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    return values


class _ConvNd(Module):
    """What convolution and transposed convolution layers share: settings, parameters, init."""

    _nd = 0
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride, padding, dilation,
                 output_padding, groups: int, bias: bool, padding_mode: str, device=None, dtype=None) -> None:
        super().__init__()
        nd = self._nd
        if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
            raise ValueError("groups must be a positive integer")
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        kernel_size = _ntuple(kernel_size, nd, "kernel_size")
        stride = _ntuple(stride, nd, "stride")
        dilation = _ntuple(dilation, nd, "dilation")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'same', 'valid'}}")
            if self._transposed:
                raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple, got {padding!r}")
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        else:
            padding = _ntuple(padding, nd, "padding")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {set(PADDING_MODES)}, but got padding_mode='{padding_mode}'")
        if self._transposed and padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = self._transposed
        self.output_padding = _ntuple(output_padding, nd, "output_padding")
        self.groups = groups
        self.padding_mode = padding_mode
        self._reversed_padding_repeated_twice = self._pad_for_f_pad()
        dtype = backend.default_dtype() if dtype is None else numpy.dtype(dtype)
        if self._transposed:
            shape = (in_channels, out_channels // groups, *kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *kernel_size)
        self.weight = Parameter(numpy.empty(shape, dtype=dtype))
        if bias:
            self.bias = Parameter(numpy.empty((out_channels,), dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        place(self, device)

    def _pad_for_f_pad(self) -> list[int]:
        """F.pad's argument for this layer's padding: last axis first, (before, after) each."""
        nd = self._nd
        if isinstance(self.padding, str):
            pairs = [same_padding(k, d) if self.padding == "same" else (0, 0)
                     for k, d in zip(self.kernel_size, self.dilation, strict=True)]
        else:
            pairs = [(p, p) for p in self.padding]
        return [p for axis in reversed(range(nd)) for p in pairs[axis]]

    def reset_parameters(self) -> None:
        """PyTorch's default: weight ~ kaiming_uniform(a=sqrt(5)), i.e. U(-1/sqrt(fan_in),
        1/sqrt(fan_in)); bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in from the weight."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def _padding_pairs(self) -> list[tuple[int, int]]:
        """(before, after) per spatial axis, in axis order."""
        pad = self._reversed_padding_repeated_twice
        return [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(self._nd))]

    def macs(self, input_shape: Sequence[int], output_shape: Sequence[int]) -> int:
        """Multiply-adds: each output element sums in_channels/groups * prod(kernel) products."""
        return math.prod(output_shape) * (self.in_channels // self.groups) * math.prod(self.kernel_size)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, 0, groups, bias,
                         padding_mode, device, dtype)

    def _conv_forward(self, fn, input: Tensor) -> Tensor:
        if self.padding_mode != "zeros":
            return fn(F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode), self.weight,
                      self.bias, self.stride, 0, self.dilation, self.groups)
        return fn(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv1d(_Conv):
    """1-D convolution over (N, C, L); weight (out_channels, in_channels/groups, k)."""

    _nd = 1

    def forward(self, input: Tensor) -> Tensor:
        return self._conv_forward(F.conv1d, input)


class Conv2d(_Conv):
    """2-D convolution over (N, C, H, W); weight (out_channels, in_channels/groups, kH, kW).

    padding: int, tuple, 'same' or 'valid'; padding_mode: 'zeros', 'reflect', 'replicate' or
    'circular'."""

    _nd = 2

    def forward(self, input: Tensor) -> Tensor:
        return self._conv_forward(F.conv2d, input)


class Conv3d(_Conv):
    """3-D convolution over (N, C, D, H, W)."""

    _nd = 3

    def forward(self, input: Tensor) -> Tensor:
        return self._conv_forward(F.conv3d, input)


class _ConvTransposeNd(_ConvNd):
    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, output_padding, groups,
                         bias, padding_mode, device, dtype)

    def _output_padding(self, input_shape: Sequence[int], output_size: Sequence[int] | None) -> tuple[int, ...]:
        """output_padding, or the one that makes the output output_size (as torch's forward
        accepts: output_size may include the batch and channel dims)."""
        if output_size is None:
            return self.output_padding
        nd = self._nd
        sizes = tuple(output_size)
        lead = len(input_shape) - nd
        if len(sizes) == lead + nd:
            sizes = sizes[lead:]
        if len(sizes) != nd:
            raise ValueError(f"ConvTranspose{nd}D: for {len(input_shape)}D input, output_size must have {nd} or "
                             f"{lead + nd} elements (got {len(tuple(output_size))})")
        spatial = tuple(input_shape)[lead:]
        result = []
        for axis in range(nd):
            smallest = transposed_output_length(spatial[axis], self.kernel_size[axis], self.stride[axis],
                                                self.padding[axis], self.dilation[axis], 0)
            largest = smallest + self.stride[axis] - 1
            if not smallest <= sizes[axis] <= largest:
                raise ValueError(f"requested an output size of {list(sizes)}, but valid sizes range from "
                                 f"{smallest} to {largest} along spatial axis {axis} (for an input of "
                                 f"{list(spatial)})")
            result.append(sizes[axis] - smallest)
        return tuple(result)

    def macs(self, input_shape: Sequence[int], output_shape: Sequence[int]) -> int:
        """Multiply-adds: each input element is scattered through out_channels/groups * prod(kernel) weights."""
        return math.prod(input_shape) * (self.out_channels // self.groups) * math.prod(self.kernel_size)


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-D convolution (upsampling); weight (in_channels, out_channels/groups, k)."""

    _nd = 1

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        return F.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input.shape, output_size), self.groups, self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-D convolution; weight (in_channels, out_channels/groups, kH, kW).
    forward(input, output_size) picks the output_padding that gives output_size."""

    _nd = 2

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input.shape, output_size), self.groups, self.dilation)


class ConvTranspose3d(_ConvTransposeNd):
    """Transposed 3-D convolution."""

    _nd = 3

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        return F.conv_transpose3d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input.shape, output_size), self.groups, self.dilation)
