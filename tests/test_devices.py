"""Devices: convpool.device, Tensor.to / .cpu / .numpy, Module.to, factories' device=,
cross-device errors, per-device generators, and training and checkpoints on a device.

The 'strict' stand-in GPU (tests/strict_device.py) plays the GPU here: it refuses every
implicit host conversion, so anything that passes on it keeps its arrays on the device.
"""

from __future__ import annotations

import importlib.util

import numpy
import pytest
from strict_device import ImplicitHostConversion, StrictArray

import convpool
from convpool import backend, nn
from convpool import functional as F
from convpool.checkpoint import load_checkpoint, save_checkpoint

HAS_CUPY = importlib.util.find_spec("cupy") is not None


# ----- convpool.device --------------------------------------------------------------------
def test_device_parses_and_compares_like_torch():
    assert str(convpool.device("cpu")) == "cpu" and convpool.device("cpu").index is None
    assert convpool.device("cuda:1") == convpool.device("cuda", 1)
    assert convpool.device("cuda:1").type == "cuda" and convpool.device("cuda:1").index == 1
    assert convpool.device("cuda") != convpool.device("cuda:0")  # as torch: no index is not index 0
    assert convpool.device("cpu") == "cpu"
    assert repr(convpool.device("cuda", 2)) == "device(type='cuda', index=2)"
    assert len({convpool.device("cpu"), convpool.device("cpu")}) == 1


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "cpu:3", "cuda:-1"])
def test_device_refuses_unknown_names(bad):
    with pytest.raises(ValueError, match="device"):
        convpool.device(bad)


@pytest.mark.skipif(HAS_CUPY, reason="CuPy is installed: the missing-CuPy message cannot show")
def test_cuda_without_cupy_says_what_is_missing_and_how_to_install():
    assert convpool.cuda.is_available() is False
    assert convpool.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match=r"CuPy is not installed.*pip install \"convpool\[gpu\]\""):
        convpool.ones(2).to("cuda")
    with pytest.raises(RuntimeError, match="CuPy is not installed"):
        nn.Linear(2, 2).to("cuda")
    with pytest.raises(RuntimeError, match="CuPy is not installed"):
        convpool.zeros(3, device="cuda")


# ----- Tensor.to, .cpu, .numpy --------------------------------------------------------------
def test_tensor_to_device_dtype_and_both():
    x = convpool.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.device == convpool.device("cpu") and x.to("cpu") is x
    on = x.to("strict")
    assert on.device.type == "strict" and isinstance(on.data, StrictArray)
    assert on.to(convpool.float64).dtype == numpy.float64
    both = x.to("strict", convpool.float64)
    assert both.device.type == "strict" and both.dtype == numpy.float64
    keywords = x.to(device="strict", dtype="float64")
    assert keywords.device.type == "strict" and keywords.dtype == numpy.float64
    assert x.to(both).device.type == "strict" and x.to(both).dtype == numpy.float64  # to(other)
    back = on.cpu()
    assert back.device == "cpu" and isinstance(back.data, numpy.ndarray)
    numpy.testing.assert_array_equal(back.numpy(), x.numpy())
    with pytest.raises(TypeError, match="to: expected a device"):
        x.to(object())


def test_numpy_copies_to_the_host_and_refuses_grad_with_torchs_hint():
    x = convpool.randn(3, 2, device="strict")
    host = x.numpy()
    assert isinstance(host, numpy.ndarray) and host.shape == (3, 2)
    host[...] = 0  # a copy: the device tensor is untouched
    assert float(x.abs().sum().item()) > 0
    with pytest.raises(RuntimeError, match=r"Can't call numpy\(\) on Tensor that requires grad\. "
                                           r"Use tensor\.detach\(\)\.numpy\(\) instead\."):
        convpool.ones(2, requires_grad=True).numpy()
    assert convpool.tensor([1.5], device="strict").item() == 1.5
    assert convpool.tensor([[1, 2]], device="strict").tolist() == [[1, 2]]
    assert "device='strict:0'" in repr(x)


def test_the_gradient_flows_back_through_to():
    x = convpool.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = (x.to("strict") * convpool.tensor([2.0, 3.0, 4.0], device="strict")).sum()
    y.backward()
    assert x.grad.device == "cpu"
    numpy.testing.assert_array_equal(x.grad.numpy(), [2.0, 3.0, 4.0])


def test_the_stand_in_device_really_refuses_numpy():
    x = convpool.ones(3, device="strict")
    with pytest.raises(ImplicitHostConversion):
        numpy.asarray(x.data)
    with pytest.raises(ImplicitHostConversion):
        x.data + numpy.ones(3)
    with pytest.raises((ImplicitHostConversion, TypeError)):
        numpy.exp(x.data)


# ----- cross-device errors ------------------------------------------------------------------
def test_an_op_on_two_devices_names_both_and_the_op():
    x = convpool.randn(1, 2, 5, 5, device="strict")
    w = convpool.randn(3, 2, 3, 3)
    with pytest.raises(RuntimeError, match=r"conv2d: expected all tensors on one device, got input on strict:0, "
                                           r"weight on cpu"):
        F.conv2d(x, w)
    with pytest.raises(RuntimeError, match=r"on one device.*strict:0.*cpu"):
        convpool.randn(3, device="strict") + convpool.randn(3)
    with pytest.raises(RuntimeError, match=r"cat: expected all tensors on one device"):
        convpool.cat([convpool.randn(2, device="strict"), convpool.randn(2)])
    with pytest.raises(RuntimeError, match=r"linear: .*one device"):
        F.linear(convpool.randn(2, 3, device="strict"), convpool.randn(4, 3))


def test_cpu_scalars_mix_with_device_tensors_as_in_pytorch():
    x = convpool.tensor([1.0, 2.0], device="strict")
    y = x * convpool.tensor(3.0) + 1  # a 0-d CPU tensor and a Python number
    assert y.device.type == "strict"
    numpy.testing.assert_array_equal(y.numpy(), [4.0, 7.0])


# ----- factories ----------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: convpool.zeros(2, 3, device="strict"), lambda: convpool.ones(2, device="strict"),
    lambda: convpool.full((2,), 1.5, device="strict"), lambda: convpool.empty(4, device="strict"),
    lambda: convpool.randn(2, 2, device="strict"), lambda: convpool.rand(3, device="strict"),
    lambda: convpool.randint(0, 5, (4,), device="strict"), lambda: convpool.arange(5, device="strict"),
    lambda: convpool.linspace(0, 1, 5, device="strict"), lambda: convpool.eye(3, device="strict"),
    lambda: convpool.randperm(6, device="strict"), lambda: convpool.tensor([1, 2], device="strict"),
    lambda: convpool.zeros_like(convpool.ones(2, device="strict")),
    lambda: convpool.ones_like(convpool.ones(2), device="strict"),
])
def test_factories_make_tensors_on_the_device(make):
    assert make().device.type == "strict"


def test_manual_seed_repeats_draws_on_every_device():
    convpool.manual_seed(3)
    a_cpu, a_dev = convpool.randn(5), convpool.randn(5, device="strict")
    convpool.manual_seed(3)
    b_cpu, b_dev = convpool.randn(5), convpool.randn(5, device="strict")
    numpy.testing.assert_array_equal(a_cpu.numpy(), b_cpu.numpy())
    numpy.testing.assert_array_equal(a_dev.numpy(), b_dev.numpy())
    convpool.manual_seed(3)
    drop_a = F.dropout(convpool.ones(100, device="strict"), 0.5)
    convpool.manual_seed(3)
    drop_b = F.dropout(convpool.ones(100, device="strict"), 0.5)
    numpy.testing.assert_array_equal(drop_a.numpy(), drop_b.numpy())
    assert drop_a.device.type == "strict" and 0 < float((drop_a == 0).sum().item()) < 100


# ----- modules, training and checkpoints on a device ----------------------------------------
def _small_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Dropout(0.1), nn.Linear(4 * 4 * 4, 3))


def test_module_to_moves_parameters_buffers_and_gradients_in_place():
    net = _small_net()
    weight = net[0].weight
    net(convpool.randn(2, 1, 8, 8)).sum().backward()
    assert net.to("strict") is net
    assert net[0].weight is weight  # the same Parameter objects: optimisers keep working
    for tensor in list(net.parameters()) + list(net.buffers()):
        assert tensor.device.type == "strict"
    assert weight.grad.device.type == "strict"
    assert net[1].num_batches_tracked.dtype == numpy.int64  # integer buffers keep their dtype
    net.to("cpu", convpool.float64)
    assert weight.device == "cpu" and weight.dtype == numpy.float64
    assert net[1].num_batches_tracked.dtype == numpy.int64


def test_training_on_the_device_equals_training_on_the_cpu(tmp_path):
    """Five SGD steps with momentum, dropout and batch norm on 'strict' and on the CPU from
    the same seed give the same weights; the checkpoint holds host arrays and loads on the CPU."""
    rng = numpy.random.default_rng(0)
    images = rng.standard_normal((16, 1, 8, 8)).astype("float32")
    labels = rng.integers(0, 3, 16)
    results = {}
    for device in ("cpu", "strict"):
        convpool.manual_seed(0)
        net = _small_net().to(device)
        optimizer = convpool.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
        for step in range(5):
            x = convpool.tensor(images[step * 3:step * 3 + 8], device=device)
            y = convpool.tensor(labels[step * 3:step * 3 + 8], device=device)
            optimizer.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            optimizer.step()
        assert all(p.device.type == device for p in net.parameters())
        results[device] = net.state_dict()
        if device == "strict":
            path = save_checkpoint(tmp_path / "run", net, model_name="small", model_config={}, optimizer=optimizer,
                                   epoch=1, history=[])
            assert all(isinstance(v.data, numpy.ndarray) for v in results[device].values())
    for key, value in results["cpu"].items():
        numpy.testing.assert_allclose(results["strict"][key].numpy(), value.numpy(), rtol=1e-5, atol=1e-6,
                                      err_msg=key)
    on_cpu = _small_net()
    load_checkpoint(path).restore(on_cpu)
    for key, value in on_cpu.state_dict().items():
        numpy.testing.assert_array_equal(value.numpy(), results["strict"][key].numpy())
    back_on_device = _small_net().to("strict")
    back_on_device.load_state_dict(results["cpu"])  # and the reverse: host arrays onto the device
    assert back_on_device[0].weight.device.type == "strict"


def test_fit_trains_a_model_on_the_device_with_host_batches():
    from convpool.train import evaluate, fit

    rng = numpy.random.default_rng(1)
    batches = [(rng.standard_normal((8, 1, 8, 8)).astype("float32"), rng.integers(0, 3, 8)) for _ in range(3)]
    convpool.manual_seed(0)
    net = _small_net().to("strict")
    optimizer = convpool.optim.SGD(net.parameters(), lr=0.05)
    history = fit(net, batches, batches, optimizer=optimizer, epochs=2, model_name="small", model_config={},
                  progress=False)
    assert len(history) == 2 and all(numpy.isfinite(r["train_loss"]) for r in history)
    assert all(p.device.type == "strict" for p in net.parameters())
    result = evaluate(net, batches)
    assert result["n"] == 24 and 0 <= result["accuracy"] <= 1


def test_array_module_looks_at_the_arrays():
    assert backend.array_module(numpy.ones(2)) is numpy
    assert backend.array_module(1.0, None) is numpy
    strict = convpool.ones(2, device="strict").data
    assert backend.array_module(numpy.ones(2), strict) is backend.module_for("strict")
    assert backend.on_cpu(numpy) and not backend.on_cpu(backend.module_for("strict"))


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is not installed")
def test_every_layer_that_takes_device_in_pytorch_takes_it_here_and_builds_there():
    import inspect

    import torch

    checked = 0
    for name in nn.__all__:
        ours, theirs = getattr(nn, name), getattr(torch.nn, name, None)
        if not isinstance(ours, type) or theirs is None or not isinstance(theirs, type):
            continue
        if "device" in inspect.signature(theirs.__init__).parameters:
            assert "device" in inspect.signature(ours.__init__).parameters, f"nn.{name} takes no device="
            checked += 1
    assert checked >= 20
    layers = [nn.Conv2d(3, 4, 3, device="strict"), nn.Linear(4, 2, device="strict"),
              nn.BatchNorm2d(4, device="strict"), nn.Embedding(5, 3, device="strict"), nn.PReLU(device="strict")]
    for layer in layers:
        assert all(t.device.type == "strict" for t in list(layer.parameters()) + list(layer.buffers())), layer
