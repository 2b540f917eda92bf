"""convpool.autograd.grad against torch.autograd.grad (several outputs and inputs, non-leaf
inputs, grad_outputs, unused inputs, the graph freed or retained) with every .grad left
alone; Tensor.register_hook (seeing and replacing gradients, on leaves and non-leaves,
removable) and Tensor.retain_grad against torch; central differences in float64."""

from __future__ import annotations

import numpy
import pytest
from reference import REFERENCE_DEVICES, needs_torch, torch

import convpool
from convpool import autograd, nn
from convpool import functional as F


def _graph(lib, a, b):
    """Two outputs of two inputs through a non-leaf h."""
    h = (a * b).tanh() + a.exp()
    return h, (h * h).sum(), (h * b).mean()


@needs_torch
@pytest.mark.parametrize("device", REFERENCE_DEVICES)
def test_grad_matches_torch_for_two_outputs_and_leaves_every_grad_alone(device):
    rng = numpy.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ca, cb = (convpool.tensor(v, device=device).requires_grad_() for v in (a, b))
    cb.grad = convpool.tensor(numpy.ones((3, 4)), device=device)  # must stay as it is
    _, t1, t2 = _graph(torch, ta, tb)
    _, c1, c2 = _graph(convpool, ca, cb)
    expected = torch.autograd.grad([t1, t2], [ta, tb], grad_outputs=[torch.tensor(2.0, dtype=torch.float64), None])
    got = autograd.grad([c1, c2], [ca, cb], grad_outputs=[convpool.tensor(2.0, dtype="float64"), None])
    assert len(got) == 2
    for g, e in zip(got, expected, strict=True):
        assert g.device.type == device and g.dtype == numpy.float64
        numpy.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-12)
    assert ca.grad is None and numpy.array_equal(cb.grad.numpy(), numpy.ones((3, 4)))


@needs_torch
def test_grad_with_respect_to_a_non_leaf_and_an_unused_input():
    rng = numpy.random.default_rng(1)
    a, b = rng.standard_normal(5), rng.standard_normal(5)
    ta, tb, tc = (torch.tensor(v, requires_grad=True) for v in (a, b, a))
    ca, cb, cc = (convpool.tensor(v, dtype="float64", requires_grad=True) for v in (a, b, a))
    th, tout, _ = _graph(torch, ta, tb)
    ch, cout, _ = _graph(convpool, ca, cb)
    e_h, e_a, e_c = torch.autograd.grad(tout, [th, ta, tc], allow_unused=True, retain_graph=True)
    g_h, g_a, g_c = autograd.grad(cout, [ch, ca, cc], allow_unused=True, retain_graph=True)
    numpy.testing.assert_allclose(g_h.numpy(), e_h.numpy(), rtol=1e-12)
    numpy.testing.assert_allclose(g_a.numpy(), e_a.numpy(), rtol=1e-12)
    assert g_c is None and e_c is None
    zeros = autograd.grad(cout, [cc], materialize_grads=True, retain_graph=True)[0]
    assert numpy.array_equal(zeros.numpy(), numpy.zeros(5))
    with pytest.raises(RuntimeError, match=r"inputs\[0\] \(shape \(5,\)\) was not used"):
        autograd.grad(cout, cc, retain_graph=True)
    (again,) = autograd.grad(cout, ca)  # retained above, freed now
    numpy.testing.assert_allclose(again.numpy(), e_a.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="a second time"):
        autograd.grad(cout, ca)


def test_grad_of_a_model_equals_backward_and_central_differences():
    convpool.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)).double()
    x = convpool.randn(5, 4, dtype="float64", requires_grad=True)
    params = list(model.parameters())
    grads = autograd.grad(F.mse_loss(model(x), convpool.zeros(5, 2, dtype="float64")), [x, *params])
    assert all(p.grad is None for p in params) and x.grad is None
    F.mse_loss(model(x), convpool.zeros(5, 2, dtype="float64")).backward()
    for g, t in zip(grads, [x, *params], strict=True):
        numpy.testing.assert_allclose(g.numpy(), t.grad.numpy(), rtol=1e-12)
    # d/dx of sum(tanh(x * w)) against float64 central differences, through a non-leaf input
    base, w = numpy.random.default_rng(3).standard_normal((2, 3)), numpy.random.default_rng(4).standard_normal(3)
    leaf = convpool.tensor(base, requires_grad=True)
    scaled = leaf * convpool.tensor(w)
    (g,) = autograd.grad((scaled.tanh()).sum(), scaled)
    eps, numeric = 1e-6, numpy.zeros_like(base)
    for index in numpy.ndindex(base.shape):
        step = numpy.zeros_like(base)
        step[index] = eps
        numeric[index] = (numpy.tanh((base + step) * w).sum() - numpy.tanh((base - step) * w).sum()) / (2 * eps)
    numpy.testing.assert_allclose(g.numpy() * w, numeric, rtol=1e-7, atol=1e-9)
    assert leaf.grad is None


def test_grad_refuses_what_it_cannot_do():
    x = convpool.randn(3, requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(NotImplementedError, match="create_graph=True"):
        autograd.grad(y, x, create_graph=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        autograd.grad(y, convpool.randn(3))
    with pytest.raises(RuntimeError, match="one-element output"):
        autograd.grad(x * 2, x)
    with pytest.raises(ValueError, match=r"grad_outputs\[0\] has shape \(2,\) but outputs\[0\] has shape \(3,\)"):
        autograd.grad(x * 2, x, grad_outputs=convpool.ones(2))
    with pytest.raises(TypeError, match=r"inputs\[0\] is a list"):
        autograd.grad(y, [[x]])
    assert convpool.autograd.grad is autograd.grad


@needs_torch
def test_register_hook_sees_and_replaces_gradients_as_torch():
    rng = numpy.random.default_rng(4)
    a = rng.standard_normal((2, 3))
    results = []
    for lib in (torch, convpool):
        x = lib.tensor(a, requires_grad=True)
        seen = []
        h = x * 3
        h.register_hook(lambda g, seen=seen: seen.append(("h", g.detach().numpy().copy())))
        h.register_hook(lambda g: g * 10)  # replaces what flows on to x
        handle = x.register_hook(lambda g, seen=seen: seen.append(("x", g.detach().numpy().copy())))
        (h * h).sum().backward(retain_graph=True)
        handle.remove()
        (h * h).sum().backward()
        results.append((seen, x.grad.numpy()))
    (seen_t, grad_t), (seen_c, grad_c) = results
    assert [k for k, _ in seen_c] == [k for k, _ in seen_t] == ["h", "x", "h"]
    for (_, gc), (_, gt) in zip(seen_c, seen_t, strict=True):
        numpy.testing.assert_allclose(gc, gt, rtol=1e-12)
    numpy.testing.assert_allclose(grad_c, grad_t, rtol=1e-12)
    numpy.testing.assert_allclose(grad_c, 2 * 2 * 9 * a * 10, rtol=1e-12)


def test_leaf_hook_changes_what_is_accumulated_and_bad_hooks_are_refused():
    x = convpool.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    x.register_hook(lambda g: g * 0)
    (x * x).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        convpool.ones(2).register_hook(lambda g: g)
    y = convpool.ones(2, requires_grad=True)
    y.register_hook(lambda g: convpool.ones(3))
    with pytest.raises(RuntimeError, match=r"shape \(2,\), got Tensor of shape \(3,\)"):
        (y * 2).sum().backward()


@needs_torch
def test_retain_grad_keeps_a_non_leaf_gradient_as_torch():
    a = numpy.random.default_rng(5).standard_normal(4)
    grads = []
    for lib in (torch, convpool):
        x = lib.tensor(a, requires_grad=True)
        h = x.exp()
        h.retain_grad()
        h.register_hook(lambda g: g * 2)
        x.retain_grad()  # a leaf: nothing changes
        out = (h * x).sum()
        out.backward(retain_graph=True)
        out.backward()  # accumulates, as .grad of a leaf does
        assert h.retains_grad and not x.retains_grad
        grads.append((h.grad.numpy(), x.grad.numpy()))
    numpy.testing.assert_allclose(grads[1][0], grads[0][0], rtol=1e-12)
    numpy.testing.assert_allclose(grads[1][1], grads[0][1], rtol=1e-12)
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        convpool.ones(2).retain_grad()
    unretained = convpool.ones(2, requires_grad=True) * 2
    unretained.sum().backward()
    assert unretained.grad is None
