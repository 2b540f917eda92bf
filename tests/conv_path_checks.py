"""Checks every convolution path's tests run (test_conv_grid.py, test_conv_batch_last.py):
random shapes and their arrays, the output and all gradients of one backward, a retained graph
run twice, and only the wanted gradients computed."""

from __future__ import annotations

import numpy

import convpool
from convpool.ops.conv import conv2d


def draw_geometry(rng, nd: int, max_size: int) -> tuple[tuple, tuple, tuple]:
    """(sizes, kernel, dilation) on nd spatial axes of 3 to max_size - 1 pixels (3-D: smaller),
    kernels up to 4 that fit their dilated span in the image."""
    sizes = tuple(int(s) for s in rng.integers(3, max_size if nd < 3 else max_size // 2 + 1, nd))
    kernel = tuple(int(rng.integers(1, min(4, s) + 1)) for s in sizes)
    dilation = tuple(int(rng.integers(1, 3)) if rng.random() < 0.3 else 1 for _ in range(nd))
    kernel = tuple(k if (k - 1) * d + 1 <= s else 1 for k, d, s in zip(kernel, dilation, sizes, strict=True))
    return sizes, kernel, dilation


def arrays(c: dict, seed: int):
    """x, w and (if c["bias"]) b for a drawn case c, in its dtype."""
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((c["batch"], c["channels"]) + c["sizes"]).astype(c["dtype"])
    w = rng.standard_normal((c["out_channels"], c["channels"]) + c["kernel"]).astype(c["dtype"])
    b = rng.standard_normal(c["out_channels"]).astype(c["dtype"])
    return (x, w, b) if c["bias"] else (x, w)


def output_and_gradients(conv, data, seed: int, **kwargs) -> list:
    """conv(*data, **kwargs) and the gradients of every input, from a random output gradient."""
    tensors = [convpool.tensor(a, requires_grad=True) for a in data]
    y = conv(*tensors, **kwargs)
    y.backward(convpool.tensor(numpy.random.default_rng(seed).standard_normal(y.shape)))
    return [y.detach().numpy()] + [t.grad.numpy() for t in tensors]


def check_backward_twice(size: int) -> None:
    """A contiguous output, and a second backward over a retained graph doubles the gradients."""
    rng = numpy.random.default_rng(4)
    x = convpool.tensor(rng.standard_normal((5, 2, size, size)), requires_grad=True)
    w = convpool.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    y = conv2d(x, w, padding=1)
    assert y.data.flags.c_contiguous and y.shape == (5, 3, size, size)
    y.sum().backward(retain_graph=True)
    first = x.grad.numpy().copy(), w.grad.numpy().copy()
    y.sum().backward()
    numpy.testing.assert_allclose(x.grad.numpy(), 2 * first[0], rtol=1e-12)
    numpy.testing.assert_allclose(w.grad.numpy(), 2 * first[1], rtol=1e-12)


def check_only_needed_gradients(size: int) -> None:
    """An image needs no gradient; frozen kernels (fast-cnn's whitening) need none either."""
    rng = numpy.random.default_rng(5)
    x = convpool.tensor(rng.standard_normal((4, 2, size, size)))
    w = convpool.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    conv2d(x, w, padding=1).sum().backward()
    assert x.grad is None and w.grad is not None
    x = convpool.tensor(rng.standard_normal((4, 2, size, size)), requires_grad=True)
    w = convpool.tensor(rng.standard_normal((3, 2, 3, 3)))
    conv2d(x, w, padding=1).sum().backward()
    assert w.grad is None and x.grad is not None
