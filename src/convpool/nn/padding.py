"""Padding layers: constant (ZeroPad, ConstantPad), reflect, replicate and circular padding
of the last 1, 2 or 3 dims, through F.pad. `padding` is an int (every side) or PyTorch's
tuple (left, right[, top, bottom[, front, back]]); negative values crop."""

from __future__ import annotations

from .. import functional as F
from ..tensor import Tensor
from .module import Module


class _PadNd(Module):
    _nd = 0
    _mode = "constant"

    def __init__(self, padding, value: float = 0.0) -> None:
        super().__init__()
        sides = 2 * self._nd
        if isinstance(padding, int) and not isinstance(padding, bool):
            padding = (padding,) * sides
        padding = tuple(padding)
        if len(padding) != sides or any(isinstance(p, bool) or not isinstance(p, int) for p in padding):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of {sides} ints, "
                             f"got {padding!r}")
        self.padding = padding
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        if self._mode == "constant":
            return F.pad(input, self.padding, "constant", self.value)
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}, value={self.value}" if self._mode == "constant" else f"{self.padding}"


class ConstantPad1d(_PadNd):
    """Pad the last dim with a constant value."""

    _nd = 1

    def __init__(self, padding, value: float) -> None:
        super().__init__(padding, value)


class ConstantPad2d(ConstantPad1d):
    """Pad the last two dims with a constant value."""

    _nd = 2


class ConstantPad3d(ConstantPad1d):
    """Pad the last three dims with a constant value."""

    _nd = 3


class ZeroPad1d(_PadNd):
    """Pad the last dim with zeros."""

    _nd = 1

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)


class ZeroPad2d(ZeroPad1d):
    """Pad the last two dims with zeros."""

    _nd = 2


class ZeroPad3d(ZeroPad1d):
    """Pad the last three dims with zeros."""

    _nd = 3


class ReflectionPad1d(ZeroPad1d):
    """Mirror the last dim at its edges (the edge pixel is not repeated)."""

    _mode = "reflect"


class ReflectionPad2d(ReflectionPad1d):
    """Mirror the last two dims at their edges."""

    _nd = 2


class ReflectionPad3d(ReflectionPad1d):
    """Mirror the last three dims at their edges."""

    _nd = 3


class ReplicationPad1d(ZeroPad1d):
    """Repeat the edge pixel of the last dim."""

    _mode = "replicate"


class ReplicationPad2d(ReplicationPad1d):
    """Repeat the edge pixels of the last two dims."""

    _nd = 2


class ReplicationPad3d(ReplicationPad1d):
    """Repeat the edge pixels of the last three dims."""

    _nd = 3


class CircularPad1d(ZeroPad1d):
    """Wrap the last dim around."""

    _mode = "circular"


class CircularPad2d(CircularPad1d):
    """Wrap the last two dims around."""

    _nd = 2


class CircularPad3d(CircularPad1d):
    """Wrap the last three dims around."""

    _nd = 3
