"""What every convolution path is given: the geometry of one convolution, computed once, and
which gradients are wanted; the base every path in `conv_paths.PATHS` shares.

The geometry holds the sizes the paths all need (kernel, stride, dilation, (before, after)
pads, the input's, the padded and the output's sizes, channels, groups) and the facts
derived from them that more than one path reads: a stride-1 convolution with its padding
within the kernel's reach has an input gradient that is itself a convolution, of the output
gradient padded by d(K-1) - pad with the transposed kernel (`input_gradient`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..backend import array_module
from ..shapes import output_length, padded_length
from ..tensor import Tensor, is_grad_enabled
from .im2col import pad_spatial, prod

CACHE_BYTES = 2**20  # one core's L2 on the measured machine: the CPU-only paths size their buffers by it


@dataclass(frozen=True)
class Geometry:
    """One convolution of an (N, C, *spatial) input with an (O, C/groups, *kernel) weight."""

    batch: int
    channels: int
    out_channels: int
    groups: int
    spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    out: tuple[int, ...]
    itemsize: int

    @property
    def dims(self) -> int:
        return len(self.kernel)

    @property
    def padded(self) -> tuple[int, ...]:
        return tuple(padded_length(n, p) for n, p in zip(self.spatial, self.pads, strict=True))

    @property
    def x_shape(self) -> tuple[int, ...]:
        return (self.batch, self.channels) + self.spatial

    @property
    def padded_shape(self) -> tuple[int, ...]:
        return (self.batch, self.channels) + self.padded

    @property
    def w_shape(self) -> tuple[int, ...]:
        return (self.out_channels, self.channels // self.groups) + self.kernel

    @property
    def taps(self) -> int:
        """Kernel positions."""
        return prod(self.kernel)

    @property
    def stride_one(self) -> bool:
        return all(s == 1 for s in self.stride)

    @property
    def depthwise(self) -> bool:
        """One input and one output channel per group."""
        return self.groups > 1 and self.out_channels == self.groups and self.channels == self.groups

    @property
    def within_reach(self) -> bool:
        """Padding no wider than the dilated kernel's reach, d(K-1), on either side: then the
        stride-1 input gradient's own padding, d(K-1) - pad, is never negative."""
        return all(max(lo, hi) <= d * (k - 1) for (lo, hi), d, k in zip(self.pads, self.dilation, self.kernel,
                                                                          strict=True))

    @property
    def input_gradient_is_a_convolution(self) -> bool:
        return self.groups == 1 and self.stride_one and self.within_reach

    def input_gradient(self) -> Geometry:
        """The stride-1 convolution whose output is this one's input gradient: of gy (N, O,
        *out), padded by `full_pads`, with `transposed_kernel(w)` (C, O, *kernel)."""
        return geometry((self.batch, self.out_channels) + self.out, (self.channels, self.out_channels) + self.kernel,
                        self.stride, full_pads(self.pads, self.dilation, self.kernel), self.dilation, 1,
                        self.itemsize)

    def pad(self, x):
        """x (N, C, *spatial) zero padded to (N, C, *padded); x itself when there is no padding."""
        return pad_spatial(x, self.pads)


def geometry(x_shape, w_shape, stride, pads, dilation, groups: int, itemsize: int) -> Geometry:
    """The geometry of conv(x, w): output sizes from `shapes.output_length` (which raises a
    ValueError naming the sizes when the kernel does not fit)."""
    kernel = tuple(w_shape[2:])
    out = tuple(output_length(n, k, s, p, d)
                for n, k, s, p, d in zip(x_shape[2:], kernel, stride, pads, dilation, strict=True))
    return Geometry(batch=x_shape[0], channels=x_shape[1], out_channels=w_shape[0], groups=groups,
                    spatial=tuple(x_shape[2:]), kernel=kernel, stride=tuple(stride), dilation=tuple(dilation),
                    pads=tuple(tuple(p) for p in pads), out=out, itemsize=itemsize)


def transposed_kernel(w):
    """The kernel of a stride-1 convolution's input gradient: w flipped in space, its two
    channel axes swapped (gx[c] = sum over o, k of w[o, c, K-1-k] gy[o])."""
    xp = array_module(w)
    nd = w.ndim - 2
    return xp.ascontiguousarray(w.swapaxes(0, 1)[(slice(None), slice(None)) + (slice(None, None, -1),) * nd])


def full_pads(pads, dilation, kernel):
    """The padding of that input gradient's convolution: d(K-1) - pad on each side."""
    return tuple((d * (k - 1) - lo, d * (k - 1) - hi) for (lo, hi), d, k in zip(pads, dilation, kernel, strict=True))


@dataclass(frozen=True)
class Needs:
    """Which gradients a convolution's backward must produce, and whether a graph is recorded
    at all (without one, forward keeps nothing)."""

    input: bool
    weight: bool
    graph: bool

    @staticmethod
    def of(x: Tensor, w: Tensor, b: Tensor | None) -> Needs:
        graph = is_grad_enabled() and (x.requires_grad or w.requires_grad or (b is not None and b.requires_grad))
        return Needs(input=graph and x.requires_grad, weight=graph and w.requires_grad, graph=graph)


NOTHING = Needs(input=False, weight=False, graph=False)
INPUT_ONLY = Needs(input=True, weight=False, graph=True)
WEIGHT_ONLY = Needs(input=False, weight=True, graph=True)


@dataclass
class Saved:
    """What a path's backward reads, set explicitly by its forward: the geometry, the weight,
    the unpadded input (only when the weight gradient is needed) and what the path chose to
    keep besides (its padded input, a window matrix that backward may consume)."""

    geometry: Geometry
    w: Any
    x: Any = None
    x_pad: Any = None
    cols: Any = None

    def padded_input(self):
        """The padded input: kept by forward, or padded now (a transposed convolution's weight
        gradient hands in only the unpadded one)."""
        if self.x_pad is None and self.x is not None:
            self.x_pad = self.geometry.pad(self.x)
        return self.x_pad


class Path:
    """One way of computing a convolution. `applies` says whether it can compute this case on
    this array module (device, shapes, memory budget); `pays` says whether it is the fastest
    choice for it (rules measured on 2 cores, benchmarks/README.md). Forcing a path by name
    (`conv_paths.forced`) skips `pays`, never `applies`."""

    name = ""
    cpu_only = False

    def applies(self, g: Geometry, xp, needs: Needs) -> bool:
        raise NotImplementedError

    def pays(self, g: Geometry, needs: Needs) -> bool:
        return True

    def forward(self, x, w, bias, g: Geometry, needs: Needs) -> tuple[Any, Saved | None]:
        """(y (N, O, *out) with the bias added, what backward keeps or None without a graph)."""
        raise NotImplementedError

    def backward(self, gy, saved: Saved, needs: Needs) -> tuple[Any, Any]:
        """(gx (N, C, *spatial) or None, gw or None), each computed only when `needs` asks."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<conv path {self.name}>"
