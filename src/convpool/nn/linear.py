"""Linear (fully connected) layer and Identity."""

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


class Identity(Module):
    """Returns its input; arguments are accepted and ignored (a placeholder, as in torch)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """y = x @ weight.T + bias over the last dim; weight (out_features, in_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Linear: {name} must be a non-negative int, got {value!r}")
        self.in_features = in_features
        self.out_features = out_features
        dtype = backend.default_dtype() if dtype is None else numpy.dtype(dtype)
        self.weight = Parameter(numpy.empty((out_features, in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(numpy.empty((out_features,), dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

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
