"""Linear (fully connected) layer, Bilinear, and Identity."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy

from .. import backend
from .. import functional as F
from ..tensor import Tensor
from . import init
from .module import Module, Parameter
from .placement import place


def _make_parameters(module: Module, weight_shape: tuple[int, ...], bias: bool, device, dtype) -> None:
    """weight of weight_shape and bias of (weight_shape[0],) (or None) in dtype, filled by
    module.reset_parameters(), then the module moved to device."""
    dtype = backend.default_dtype() if dtype is None else numpy.dtype(dtype)
    module.weight = Parameter(numpy.empty(weight_shape, dtype=dtype))
    if bias:
        module.bias = Parameter(numpy.empty(weight_shape[:1], dtype=dtype))
    else:
        module.register_parameter("bias", None)
    module.reset_parameters()
    place(module, device)


class Identity(Module):
    """Returns its input; arguments are accepted and ignored (a placeholder, as in torch)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """y = x @ weight.T + bias over the last dim; weight (out_features, in_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Linear: {name} must be a non-negative int, got {value!r}")
        self.in_features = in_features
        self.out_features = out_features
        _make_parameters(self, (out_features, in_features), bias, device, dtype)

    def reset_parameters(self) -> None:
        """PyTorch's default: weight ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)),
        bias ~ U(-1/sqrt(in), 1/sqrt(in))."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def macs(self, input_shape: Sequence[int], output_shape: Sequence[int]) -> int:
        """in_features * out_features per row (rows: every leading index, the batch included)."""
        return math.prod(tuple(output_shape)[:-1]) * self.in_features * self.out_features

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Bilinear(Module):
    """y = x1^T W x2 + b per output feature; weight (out, in1, in2) and bias ~ U(-1/sqrt(in1),
    1/sqrt(in1)), as PyTorch initialises them."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__()
        for name, value in (("in1_features", in1_features), ("in2_features", in2_features),
                            ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"Bilinear: {name} must be a positive int, got {value!r}")
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        _make_parameters(self, (out_features, in1_features, in2_features), bias, device, dtype)

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.in1_features)
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
