"""Optimisers against torch.optim: a grid of hyper-parameters on the same parameters and
gradient sequences (float64, 1e-10 relative after every step), a least-squares fit with real
backward passes, state-dict round trips through JSON, dtype preservation, in-place updates,
zero_grad and argument errors."""

from __future__ import annotations

import itertools
import json

import numpy
import pytest
from reference import needs_torch, torch

import convpool
import convpool.functional as F
from convpool import optim

SHAPES = [(), (3,), (4, 5), (2, 3, 4)]
STEPS = 20


def _sgd_grid():
    for momentum, dampening, nesterov, weight_decay, maximize in itertools.product(
        [0.0, 0.9], [0.0, 0.3], [False, True], [0.0, 0.1], [False, True]
    ):
        if nesterov and (momentum == 0 or dampening != 0):
            continue
        yield {"momentum": momentum, "dampening": dampening, "nesterov": nesterov, "weight_decay": weight_decay,
               "maximize": maximize}


def _adam_grid():
    # betas (0.3, 0.5): 1 - beta1 >= 0.5 takes the other branch of torch's lerp
    for betas, weight_decay, amsgrad, maximize in itertools.product(
        [(0.9, 0.999), (0.3, 0.5)], [0.0, 0.05], [False, True], [False, True]
    ):
        yield {"betas": betas, "weight_decay": weight_decay, "amsgrad": amsgrad, "maximize": maximize}


def _rmsprop_grid():
    # alpha 0.3: 1 - alpha >= 0.5 takes the other branch of torch's lerp (centered)
    for alpha, momentum, centered, weight_decay, maximize in itertools.product(
        [0.99, 0.3], [0.0, 0.9], [False, True], [0.0, 0.1], [False, True]
    ):
        yield {"alpha": alpha, "momentum": momentum, "centered": centered, "weight_decay": weight_decay,
               "maximize": maximize}


def _adagrad_grid():
    for lr_decay, weight_decay, initial, maximize in itertools.product(
        [0.0, 0.1], [0.0, 0.1], [0.0, 0.5], [False, True]
    ):
        yield {"lr_decay": lr_decay, "weight_decay": weight_decay, "initial_accumulator_value": initial,
               "maximize": maximize}


def _adadelta_grid():
    for rho, weight_decay, maximize in itertools.product([0.9, 0.5, 1.0], [0.0, 0.1], [False, True]):
        yield {"rho": rho, "weight_decay": weight_decay, "maximize": maximize}


CASES = ([("SGD", kw) for kw in _sgd_grid()] + [("Adam", kw) for kw in _adam_grid()]
         + [("AdamW", kw) for kw in _adam_grid()] + [("AdamW", {"eps": 1e-3})] + [("Adam", {"eps": 0.0})]
         + [("RMSprop", kw) for kw in _rmsprop_grid()] + [("RMSprop", {"eps": 1e-3, "lr": 0.1})]
         + [("Adagrad", kw) for kw in _adagrad_grid()] + [("Adagrad", {"eps": 1e-3, "lr": 0.1})]
         + [("Adadelta", kw) for kw in _adadelta_grid()] + [("Adadelta", {"eps": 1e-3, "lr": 1.0})])


def _case_id(case):
    name, kw = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


def _draw(seed: int, dtype="float64"):
    """Initial parameters and STEPS gradient lists; some gradients are None (skipped steps)."""
    rng = numpy.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = []
    for step in range(STEPS):
        row = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        if step % 7 == 3:
            row[1] = None  # no gradient this step: the parameter and its state stay untouched
        grads.append(row)
    return params, grads


def _groups(params, lib):
    """Two groups with different learning rates, as lists of lib's tensors."""
    return [{"params": params[:2], "lr": 0.05}, {"params": params[2:]}]


def _run_pair(name, kw, seed=0, dtype="float64", rtol=1e-10, atol=1e-12):
    kw = dict(kw)
    lr = kw.pop("lr", 0.01)
    initial, grads = _draw(seed, dtype)
    ours = [convpool.tensor(a.copy(), requires_grad=True) for a in initial]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in initial]
    opt_ours = getattr(optim, name)(_groups(ours, convpool), lr=lr, **kw)
    opt_theirs = getattr(torch.optim, name)(_groups(theirs, torch), lr=lr, **kw)
    for step, row in enumerate(grads):
        for p, q, g in zip(ours, theirs, row, strict=True):
            p.grad = None if g is None else convpool.tensor(g)
            q.grad = None if g is None else torch.tensor(g)
        opt_ours.step()
        opt_theirs.step()
        for i, (p, q) in enumerate(zip(ours, theirs, strict=True)):
            assert p.dtype == numpy.dtype(dtype)
            numpy.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=rtol, atol=atol,
                                          err_msg=f"{name} {kw}: parameter {i} after step {step + 1}")
    for p, a in zip(ours, initial, strict=True):  # the comparison is not vacuous: everything moved
        assert not numpy.array_equal(p.detach().numpy(), a)
    return opt_ours, opt_theirs


@needs_torch
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_matches_torch_float64(case):
    name, kw = case
    opt_ours, opt_theirs = _run_pair(name, kw)
    # the state holds the same buffers as torch's
    ours_state, theirs_state = opt_ours.state_dict()["state"], opt_theirs.state_dict()["state"]
    assert sorted(ours_state) == sorted(theirs_state)
    for index, entries in theirs_state.items():
        assert set(ours_state[index]) == set(entries), f"state keys of parameter {index}"
        for key, value in entries.items():
            if key == "step":
                assert ours_state[index]["step"] == int(value.item())
            else:
                numpy.testing.assert_allclose(ours_state[index][key], value.numpy(), rtol=1e-10, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("name,kw", [("SGD", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
                                     ("Adam", {"amsgrad": True, "weight_decay": 0.05}),
                                     ("AdamW", {"betas": (0.8, 0.99)}),
                                     ("RMSprop", {"momentum": 0.9, "centered": True, "weight_decay": 0.1}),
                                     ("Adagrad", {"lr_decay": 0.05, "initial_accumulator_value": 0.1}),
                                     ("Adadelta", {"rho": 0.8, "weight_decay": 0.1})])
def test_matches_torch_float32(name, kw):
    """float32 parameters stay float32 and follow torch's float32 run closely."""
    opt_ours, _ = _run_pair(name, kw, seed=1, dtype="float32", rtol=2e-5, atol=1e-6)
    for entries in opt_ours.state.values():
        for key, value in entries.items():
            if key != "step":
                assert value.dtype == numpy.float32, key


@needs_torch
@pytest.mark.parametrize("name,kw", [("SGD", {"lr": 0.05, "momentum": 0.9}),
                                     ("SGD", {"lr": 0.02, "momentum": 0.5, "nesterov": True, "weight_decay": 1e-3}),
                                     ("Adam", {"lr": 0.05}),
                                     ("Adam", {"lr": 0.05, "amsgrad": True, "weight_decay": 1e-2}),
                                     ("AdamW", {"lr": 0.05, "weight_decay": 0.1}),
                                     ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
                                     ("Adagrad", {"lr": 0.3, "lr_decay": 0.01}),
                                     ("Adadelta", {"lr": 1.0, "eps": 1e-2})])
def test_least_squares_fit_matches_torch(name, kw):
    """Linear regression through convpool's own forward and backward: the same losses as torch."""
    rng = numpy.random.default_rng(7)
    x = rng.standard_normal((32, 5))
    y = x @ rng.standard_normal((5, 3)) + 0.1 * rng.standard_normal((32, 3))
    w0, b0 = rng.standard_normal((3, 5)), rng.standard_normal(3)
    w, b = convpool.tensor(w0, requires_grad=True), convpool.tensor(b0, requires_grad=True)
    tw, tb = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    opt = getattr(optim, name)([w, b], **kw)
    topt = getattr(torch.optim, name)([tw, tb], **kw)
    xs, ys, txs, tys = convpool.tensor(x), convpool.tensor(y), torch.tensor(x), torch.tensor(y)
    losses, tlosses = [], []
    for _ in range(20):
        opt.zero_grad()
        loss = F.mse_loss(F.linear(xs, w, b), ys)
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = torch.nn.functional.mse_loss(torch.nn.functional.linear(txs, tw, tb), tys)
        tloss.backward()
        topt.step()
        losses.append(loss.item())
        tlosses.append(tloss.item())
    numpy.testing.assert_allclose(losses, tlosses, rtol=1e-6, atol=0)
    assert losses[-1] < 0.5 * losses[0], "the fit made no progress"
    numpy.testing.assert_allclose(w.detach().numpy(), tw.detach().numpy(), rtol=1e-8, atol=1e-10)


def test_closure_returns_loss():
    w = convpool.tensor(numpy.array([3.0, -2.0]), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 13.0
    numpy.testing.assert_allclose(w.detach().numpy(), [2.4, -1.6], rtol=1e-15)


# ----- state dicts ---------------------------------------------------------------------------------
def _json_round_trip(state_dict):
    meta, arrays = optim.split_state_dict(state_dict)
    assert all(isinstance(v, numpy.ndarray) for v in arrays.values())
    meta = json.loads(json.dumps(meta))  # fails if anything in it is not plain JSON
    return optim.merge_state_dict(meta, {k: v.copy() for k, v in arrays.items()})


@pytest.mark.parametrize("name,kw", [("SGD", {"momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
                                     ("SGD", {"momentum": 0.9, "nesterov": True}),
                                     ("Adam", {"amsgrad": True}),
                                     ("AdamW", {"betas": (0.8, 0.95), "weight_decay": 0.1}),
                                     ("RMSprop", {"momentum": 0.9, "centered": True}),
                                     ("Adagrad", {"lr_decay": 0.1, "initial_accumulator_value": 0.2}),
                                     ("Adadelta", {"rho": 0.8, "weight_decay": 0.01})])
def test_state_dict_round_trip_continues_identically(name, kw):
    initial, grads = _draw(3)
    grads = grads + _draw(4)[1]  # 40 gradient rows
    a_params = [convpool.tensor(v.copy(), requires_grad=True) for v in initial]
    opt_a = getattr(optim, name)(_groups(a_params, convpool), lr=0.01, **kw)

    def run(params, opt, rows):
        for row in rows:
            for p, g in zip(params, row, strict=True):
                p.grad = None if g is None else convpool.tensor(g)
            opt.step()

    run(a_params, opt_a, grads[:10])
    saved = opt_a.state_dict()
    b_params = [convpool.tensor(p.detach().numpy().copy(), requires_grad=True) for p in a_params]
    opt_b = getattr(optim, name)([{"params": b_params[:2]}, {"params": b_params[2:]}], lr=0.5)  # other hypers
    opt_b.load_state_dict(_json_round_trip(saved))
    assert opt_b.param_groups[0]["lr"] == 0.05 and opt_b.param_groups[1]["lr"] == 0.01
    assert opt_b.param_groups[0]["params"][0] is b_params[0]
    if "betas" in kw:
        assert opt_b.param_groups[0]["betas"] == kw["betas"]
    run(a_params, opt_a, grads[10:20])
    run(b_params, opt_b, grads[10:20])
    for p, q in zip(a_params, b_params, strict=True):
        numpy.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    # the saved dict is a snapshot: the steps since did not change it
    again = getattr(optim, name)([{"params": b_params[:2]}, {"params": b_params[2:]}], lr=0.5)
    again.load_state_dict(saved)
    first_array = next(k for k, v in saved["state"][0].items() if isinstance(v, numpy.ndarray))
    assert not numpy.array_equal(again.state[b_params[0]][first_array], opt_b.state[b_params[0]][first_array])


@needs_torch
def test_state_dict_layout_matches_torch():
    """Same groups (params as indices), same state keys per index as torch's state_dict."""
    opt_ours, opt_theirs = _run_pair("Adam", {"amsgrad": True})
    ours, theirs = opt_ours.state_dict(), opt_theirs.state_dict()
    assert [g["params"] for g in ours["param_groups"]] == [g["params"] for g in theirs["param_groups"]]
    for g_ours, g_theirs in zip(ours["param_groups"], theirs["param_groups"], strict=True):
        for key, value in g_ours.items():
            assert g_theirs[key] == value, key
    assert {k: set(v) for k, v in ours["state"].items()} == {k: set(v) for k, v in theirs["state"].items()}


def test_load_state_dict_rejects_mismatches():
    p, q = convpool.zeros(3, requires_grad=True), convpool.zeros(2, requires_grad=True)
    opt = optim.Adam([p, q])
    p.grad, q.grad = convpool.ones(3), convpool.ones(2)
    opt.step()
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="group 0 has 2 parameters in the saved state but 3 here"):
        optim.Adam([p, q, convpool.zeros(1, requires_grad=True)]).load_state_dict(saved)
    with pytest.raises(ValueError, match=r"saved state has 1 parameter group\(s\), this optimizer has 2"):
        optim.Adam([{"params": [p]}, {"params": [q]}]).load_state_dict(saved)
    with pytest.raises(ValueError, match=r"has shape \(3,\), the parameter has shape \(2,\)"):
        optim.Adam([q, p]).load_state_dict(saved)


# ----- behaviour ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"])
def test_float32_stays_float32_and_updates_in_place(name):
    p = convpool.tensor(numpy.ones((4, 3), numpy.float32), requires_grad=True)
    data = p.data
    opt = getattr(optim, name)([p], lr=0.1, **({"momentum": 0.9} if name == "SGD" else {}))
    for grad_dtype in ("float32", "float64"):  # a float64 gradient is cast, not promoted
        p.grad = convpool.tensor(numpy.full((4, 3), 0.5, grad_dtype))
        opt.step()
    assert p.data is data and p.dtype == numpy.float32
    assert not numpy.array_equal(p.detach().numpy(), numpy.ones((4, 3)))
    assert all(v.dtype == numpy.float32 for v in opt.state[p].values() if isinstance(v, numpy.ndarray))


def test_read_only_parameter_array_is_replaced_not_refused():
    array = numpy.ones(3)
    array.flags.writeable = False
    p = convpool.from_numpy(array).requires_grad_()
    p.grad = convpool.tensor(numpy.ones(3))
    optim.SGD([p], lr=0.5).step()
    numpy.testing.assert_array_equal(p.detach().numpy(), [0.5, 0.5, 0.5])
    numpy.testing.assert_array_equal(array, [1.0, 1.0, 1.0])


def test_gradient_shape_mismatch_is_an_error():
    p = convpool.zeros(3, requires_grad=True)
    p.grad = convpool.zeros(1)
    with pytest.raises(ValueError, match=r"gradient has shape \(1,\), its parameter has shape \(3,\)"):
        optim.Adam([p]).step()


def test_adagrad_state_exists_before_the_first_step():
    """As torch's: step 0 and an accumulator of initial_accumulator_value for every parameter,
    also one that never gets a gradient; a group added later starts from the same value."""
    p, q = convpool.zeros(3, requires_grad=True), convpool.zeros(2, requires_grad=True)
    opt = optim.Adagrad([p, q], initial_accumulator_value=0.25)
    saved = opt.state_dict()["state"]
    assert sorted(saved) == [0, 1] and saved[0]["step"] == 0
    numpy.testing.assert_array_equal(saved[1]["sum"], [0.25, 0.25])
    r = convpool.zeros(4, requires_grad=True)
    opt.add_param_group({"params": [r], "initial_accumulator_value": 9.0})
    r.grad = convpool.ones(4)
    opt.step()
    numpy.testing.assert_allclose(opt.state[r]["sum"], numpy.full(4, 1.25))
    assert opt.state[q]["step"] == 0 and opt.state[r]["step"] == 1


@pytest.mark.parametrize("name", ["RMSprop", "Adagrad", "Adadelta"])
def test_torch_only_flags_are_accepted(name):
    """foreach / capturable / fused pick torch's kernels; code passing them still runs."""
    extra = {"RMSprop": {"foreach": False, "capturable": False}, "Adagrad": {"foreach": None, "fused": None},
             "Adadelta": {"foreach": False, "capturable": False}}[name]
    p = convpool.ones(2, requires_grad=True)
    opt = getattr(optim, name)([p], **extra)
    p.grad = convpool.ones(2)
    opt.step()
    assert (p.detach().numpy() < 1).all()


def test_zero_grad():
    p, q = convpool.zeros(3, requires_grad=True), convpool.zeros((2, 2), requires_grad=True)
    opt = optim.SGD([p, q], lr=0.1)
    p.grad, q.grad = convpool.ones(3), convpool.ones((2, 2))
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and p.grad.shape == (3,) and not p.grad.numpy().any()
    opt.zero_grad()
    assert p.grad is None and q.grad is None


def test_param_groups_are_torch_shaped():
    p, q = convpool.zeros(3, requires_grad=True), convpool.zeros(2, requires_grad=True)
    opt = optim.SGD([{"params": [p]}, {"params": q, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert len(opt.param_groups[1]["params"]) == 1 and opt.param_groups[1]["params"][0] is q
    assert opt.param_groups[0]["momentum"] == 0 and opt.param_groups[1]["momentum"] == 0.9
    opt.param_groups[0]["lr"] = 1.0  # changing a group's lr changes the next step
    p.grad = convpool.ones(3)
    opt.step()
    numpy.testing.assert_array_equal(p.detach().numpy(), [-1.0, -1.0, -1.0])
    r = convpool.zeros(1, requires_grad=True)
    opt.add_param_group({"params": [r], "lr": 0.2})
    assert opt.param_groups[2]["nesterov"] is False and opt.param_groups[2]["lr"] == 0.2
    assert "Parameter Group 2" in repr(opt)


@pytest.mark.parametrize("make,match", [
    (lambda p: optim.SGD(p, lr=-0.1), r"SGD: lr must be >= 0, got -0\.1"),
    (lambda p: optim.SGD(p, lr=float("nan")), r"lr must be >= 0, got nan"),
    (lambda p: optim.SGD(p, momentum=-1), r"momentum must be >= 0, got -1"),
    (lambda p: optim.SGD(p, weight_decay=-1e-4), r"weight_decay must be >= 0, got -0\.0001"),
    (lambda p: optim.SGD(p, nesterov=True), r"nesterov=True requires momentum > 0 and dampening = 0, got momentum=0"),
    (lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True), r"dampening=0\.1"),
    (lambda p: optim.SGD(p, lr="fast"), r"lr must be a number >= 0, got 'fast'"),
    (lambda p: optim.Adam(p, lr=-1e-3), r"Adam: lr must be >= 0, got -0\.001"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"Adam: betas\[0\] must be in \[0, 1\), got 1\.0"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), r"betas\[1\] must be in \[0, 1\), got -0\.1"),
    (lambda p: optim.Adam(p, betas=(0.9,)), r"betas must be a pair \(beta1, beta2\), got \(0\.9,\)"),
    (lambda p: optim.Adam(p, eps=-1e-8), r"eps must be >= 0, got -1e-08"),
    (lambda p: optim.AdamW(p, weight_decay=-0.01), r"AdamW: weight_decay must be >= 0, got -0\.01"),
    (lambda p: optim.SGD([{"params": p, "lr": -2.0}], lr=0.1), r"lr must be >= 0, got -2\.0"),
    (lambda p: optim.RMSprop(p, alpha=-0.5), r"RMSprop: alpha must be >= 0, got -0\.5"),
    (lambda p: optim.RMSprop(p, momentum=-0.1), r"RMSprop: momentum must be >= 0, got -0\.1"),
    (lambda p: optim.RMSprop(p, eps=-1.0), r"RMSprop: eps must be >= 0, got -1\.0"),
    (lambda p: optim.RMSprop(p, differentiable=True), r"RMSprop: differentiable=True .* not supported"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), r"Adagrad: lr_decay must be >= 0, got -1"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-0.1),
     r"Adagrad: initial_accumulator_value must be >= 0, got -0\.1"),
    (lambda p: optim.Adagrad(p, weight_decay=float("nan")), r"Adagrad: weight_decay must be >= 0, got nan"),
    (lambda p: optim.Adadelta(p, rho=1.5), r"Adadelta: rho must be in \[0, 1\], got 1\.5"),
    (lambda p: optim.Adadelta(p, lr=-1.0), r"Adadelta: lr must be >= 0, got -1\.0"),
])
def test_bad_hyper_parameters_name_argument_and_value(make, match):
    with pytest.raises(ValueError, match=match):
        make([convpool.zeros(2, requires_grad=True)])


def test_bad_params():
    p = convpool.zeros(2, requires_grad=True)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="parameter 1 is a ndarray"):
        optim.Adam([p, numpy.zeros(2)])
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.Adam([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ValueError, match="non-leaf"):
        optim.Adam([p * 2])
    with pytest.raises(TypeError, match="floating-point"):
        optim.Adam([convpool.tensor([1, 2])])
