"""Test helpers: compare a convpool function with PyTorch (forward and every gradient), and
check gradients against float64 central differences.

`compare(ours, theirs, *arrays)` feeds the same arrays to both, compares shape, dtype and
values of the outputs, then backpropagates the same random upstream gradient and compares
the gradient of every floating input. Tolerances depend on the dtype: float64 to 1e-10
relative, float32 to 1e-4.
"""

from __future__ import annotations

import os

import numpy
import pytest

import convpool
from convpool.gradcheck import gradcheck

try:
    import torch
except ImportError:  # the torch-compared tests skip cleanly without it
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (pip install torch==2.13.0)")

# Every comparison runs on each of these devices: the CPU, and the 'strict' stand-in GPU
# (tests/strict_device.py), which fails any op that hands a device array to NumPy. On a GPU
# machine, CONVPOOL_REFERENCE_DEVICES=cpu,cuda runs the same suite on CuPy.
REFERENCE_DEVICES = tuple(d for d in os.environ.get("CONVPOOL_REFERENCE_DEVICES", "cpu,strict").split(",") if d)

TOLERANCE = {numpy.dtype("float64"): (1e-10, 1e-12), numpy.dtype("float32"): (1e-4, 1e-5)}


def _first(out):
    return out[0] if isinstance(out, tuple | list) else out


def compare(ours, theirs, *arrays, grad: bool = True, rtol: float | None = None, atol: float | None = None,
            seed: int = 0, grad_inputs: tuple[int, ...] | None = None, devices: tuple[str, ...] | None = None):
    """Run ours(*convpool tensors) and theirs(*torch tensors) on copies of `arrays`, once per
    device in `devices` (REFERENCE_DEVICES by default) with our inputs on that device.

    Floating arrays require grad (all of them, or those listed in grad_inputs); others
    (integer targets, indices) are passed as plain tensors. Returns our output on the CPU.
    """
    arrays = [numpy.asarray(a) for a in arrays]
    float_dtypes = {a.dtype for a in arrays if a.dtype.kind == "f"}
    dtype = max(float_dtypes, key=lambda d: d.itemsize) if float_dtypes else numpy.dtype("float64")
    default_rtol, default_atol = TOLERANCE[dtype]
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol

    def wants_grad(i, a):
        return grad and a.dtype.kind == "f" and (grad_inputs is None or i in grad_inputs)

    theirs_in = [torch.tensor(a.copy(), requires_grad=wants_grad(i, a)) for i, a in enumerate(arrays)]
    y_theirs = theirs(*theirs_in)
    y2 = _first(y_theirs)
    upstream = None
    if grad and y2.requires_grad:
        upstream = numpy.random.default_rng(seed).standard_normal(tuple(y2.shape)).astype(
            str(y2.dtype).replace("torch.", ""))
        y2.backward(torch.tensor(upstream))
    result = None
    for device in REFERENCE_DEVICES if devices is None else devices:
        ours_in = [convpool.tensor(a.copy(), device=device, requires_grad=wants_grad(i, a))
                   for i, a in enumerate(arrays)]
        y_ours = ours(*ours_in)
        y1 = _first(y_ours)
        where = f" (convpool on {device})"
        assert y1.shape == tuple(y2.shape), f"shape: convpool {y1.shape}, torch {tuple(y2.shape)}{where}"
        assert str(y1.dtype) == str(y2.dtype).replace("torch.", ""), f"dtype: {y1.dtype} vs {y2.dtype}{where}"
        assert y1.device.type == convpool.device(device).type, f"output on {y1.device}, input on {device}"
        numpy.testing.assert_allclose(y1.detach().numpy(), y2.detach().numpy(), rtol=rtol, atol=atol,
                                      err_msg="forward differs from torch" + where)
        if isinstance(y_ours, tuple | list) and len(y_ours) > 1:  # e.g. pooling indices
            numpy.testing.assert_array_equal(y_ours[1].numpy(), y_theirs[1].numpy(), err_msg="indices differ" + where)
        if grad:
            assert y1.requires_grad == y2.requires_grad, (
                f"requires_grad: convpool {y1.requires_grad}, torch {y2.requires_grad} (a detached output?){where}")
        if upstream is not None and y1.requires_grad:
            y1.backward(convpool.tensor(upstream, device=device))
            for i, (a, b) in enumerate(zip(ours_in, theirs_in, strict=True)):
                if b.requires_grad:
                    expected = numpy.zeros(a.shape, a.dtype) if b.grad is None else b.grad.numpy()
                    got = numpy.zeros(a.shape, a.dtype) if a.grad is None else a.grad.numpy()
                    if a.grad is not None:
                        assert a.grad.device == a.device, f"gradient of input {i} on {a.grad.device}{where}"
                    numpy.testing.assert_allclose(got, expected, rtol=rtol, atol=atol,
                                                  err_msg=f"gradient of input {i} differs from torch{where}")
        if result is None:
            result = y_ours
    return result


def check_grad(fn, *arrays, rtol: float = 1e-5, atol: float = 1e-7, eps: float = 1e-6, seed: int = 0):
    """float64 central differences against autograd for every floating input."""
    inputs = [convpool.tensor(numpy.asarray(a, dtype=numpy.float64), requires_grad=True) for a in arrays]
    return gradcheck(fn, inputs, eps=eps, rtol=rtol, atol=atol, seed=seed)


def tie_free(rng: numpy.random.Generator, shape, dtype="float64") -> numpy.ndarray:
    """Distinct values (a shuffled ramp plus noise), so max-pool gradients are unambiguous."""
    n = int(numpy.prod(shape))
    values = rng.permutation(n).astype(numpy.float64) / max(n, 1) * 4 - 2
    return values.reshape(shape).astype(dtype)
