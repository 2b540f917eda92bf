"""The autograd node every convolution path shares.

Each path in `conv_paths.PATHS` computes its output and, given the output gradient, the
input's and the weight's gradients; so does a transposed convolution, through them. This
adds the bias's gradient (the output gradient summed over batch and space) and records the
op."""

from __future__ import annotations

from collections.abc import Callable

from ..tensor import Tensor


def conv_node(y, x: Tensor, w: Tensor, b: Tensor | None, gradients: Callable, name: str) -> Tensor:
    """A Tensor for y whose backward returns gradients(gy) = (gx, gw), plus gb when there is a bias."""
    space = tuple(range(2, y.ndim))

    def grad_fn(gy):
        gx, gw = gradients(gy)
        if b is None:
            return gx, gw
        return gx, gw, (gy.sum(axis=(0,) + space) if b.requires_grad else None)

    return Tensor.from_op(y, (x, w) + ((b,) if b is not None else ()), grad_fn, name)
