"""The real GPU: the same checks as tests/test_devices.py's stand-in, on CuPy arrays.

Skips cleanly without CuPy or without an NVIDIA GPU (CI has neither). The torch-reference
suite runs on the GPU too with CONVPOOL_REFERENCE_DEVICES=cpu,cuda (benchmarks/gpu/check.sh).
"""

from __future__ import annotations

import numpy
import pytest

import convpool
from convpool import functional as F
from convpool import nn

pytestmark = pytest.mark.skipif(not convpool.cuda.is_available(), reason="needs CuPy and an NVIDIA GPU")


def test_tensors_on_the_gpu_are_cupy_arrays_and_come_back():
    import cupy

    x = convpool.randn(3, 4, device="cuda")
    assert isinstance(x.data, cupy.ndarray) and x.device == convpool.device("cuda", 0) and x.is_cuda
    assert isinstance(x.cpu().data, numpy.ndarray)
    numpy.testing.assert_array_equal(x.numpy(), cupy.asnumpy(x.data))
    assert convpool.cuda.device_count() >= 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_training_step_on_the_gpu_equals_the_cpu(dtype):
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((8, 3, 16, 16)).astype(dtype)
    y = rng.integers(0, 5, 8)
    states = []
    for device in ("cpu", "cuda"):
        convpool.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(8, 8, 3, stride=2, groups=2), nn.AvgPool2d(2), nn.Flatten(),
                            nn.Linear(8, 5)).to(dtype=dtype)
        net.to(device)
        optimizer = convpool.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        for _ in range(3):
            optimizer.zero_grad()
            F.cross_entropy(net(convpool.tensor(x, device=device)), convpool.tensor(y, device=device)).backward()
            optimizer.step()
        states.append(net.state_dict())
    tolerance = 1e-10 if dtype == "float64" else 1e-4
    for key, value in states[0].items():
        numpy.testing.assert_allclose(states[1][key].numpy(), value.numpy(), rtol=tolerance, atol=tolerance,
                                      err_msg=key)


def test_tf32_is_off_unless_allowed():
    assert convpool.cuda.tf32_allowed() is False
