"""Numerical gradients by central differences, to check every op's backward (as Chainer's
`gradient_check` does). Use float64 inputs: float32 differences are too coarse."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy

from .tensor import Tensor


def numerical_grad(fn: Callable[..., Tensor], inputs: Sequence[Tensor], upstream: numpy.ndarray,
                   eps: float = 1e-6) -> list[numpy.ndarray]:
    """d(sum(fn(*inputs) * upstream))/d(input) for each input, by central differences."""
    grads = []
    for t in inputs:
        x = t.data
        g = numpy.zeros(x.shape, dtype=numpy.float64)
        flat = x.reshape(-1)  # a view: inputs are perturbed in place and restored
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + eps
            plus = float((numpy.asarray(fn(*inputs).data, dtype=numpy.float64) * upstream).sum())
            flat[i] = original - eps
            minus = float((numpy.asarray(fn(*inputs).data, dtype=numpy.float64) * upstream).sum())
            flat[i] = original
            g.reshape(-1)[i] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence[Tensor], eps: float = 1e-6,
              rtol: float = 1e-5, atol: float = 1e-7, seed: int = 0) -> bool:
    """Compare autograd's gradients of `fn` with central differences; raise on a mismatch.

    Every input must be a contiguous float64 tensor with requires_grad=True.
    """
    for i, t in enumerate(inputs):
        if t.dtype != numpy.float64:
            raise TypeError(f"gradcheck: input {i} must be float64, got {t.dtype}")
        if not t.data.flags.c_contiguous:
            t.data = numpy.ascontiguousarray(t.data)
    out = fn(*inputs)
    upstream = numpy.random.default_rng(seed).standard_normal(out.shape)
    for t in inputs:
        t.grad = None
    out.backward(upstream)
    expected = numerical_grad(fn, inputs, upstream, eps)
    for i, (t, numeric) in enumerate(zip(inputs, expected, strict=True)):
        analytic = numpy.zeros_like(numeric) if t.grad is None else t.grad.data
        if not numpy.allclose(analytic, numeric, rtol=rtol, atol=atol):
            worst = numpy.abs(analytic - numeric).max()
            raise AssertionError(
                f"gradcheck: gradient of input {i} (shape {t.shape}) differs from central "
                f"differences by up to {worst:.3g}\nautograd:\n{analytic}\nnumerical:\n{numeric}"
            )
    return True
