"""Learning-rate schedulers against torch.optim.lr_scheduler: 100 steps of learning rates
(1e-12 relative) over two parameter groups, OneCycle's momentum / beta1 cycling, SequentialLR
warm-up chains, ChainedScheduler, warm restarts at fractional epochs, ReduceLROnPlateau on a
seeded metric in every mode, JSON state-dict round trips and argument errors."""

from __future__ import annotations

import json
import warnings

import numpy
import pytest
from reference import needs_torch, torch

import convpool
from convpool import optim
from convpool.optim import lr_scheduler

STEPS = 100

# (optimizer name, optimizer kwargs, scheduler builder taking (module, optimizer))
SCHEDULES = {
    "step": ("SGD", {}, lambda m, o: m.StepLR(o, step_size=7, gamma=0.5)),
    "step-default-gamma": ("Adam", {}, lambda m, o: m.StepLR(o, 30)),
    "cosine": ("SGD", {}, lambda m, o: m.CosineAnnealingLR(o, T_max=30, eta_min=1e-4)),  # past T_max too
    "cosine-long": ("Adam", {}, lambda m, o: m.CosineAnnealingLR(o, T_max=STEPS)),
    "linear-default": ("SGD", {}, lambda m, o: m.LinearLR(o)),
    "linear-warmup": ("AdamW", {}, lambda m, o: m.LinearLR(o, start_factor=0.01, total_iters=20)),
    "linear-decay": ("SGD", {}, lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=60)),
    "onecycle-sgd": ("SGD", {"momentum": 0.9}, lambda m, o: m.OneCycleLR(o, max_lr=0.1, total_steps=STEPS)),
    "onecycle-adam-linear": ("Adam", {}, lambda m, o: m.OneCycleLR(
        o, max_lr=[0.01, 0.03], total_steps=STEPS, anneal_strategy="linear", pct_start=0.25)),
    "onecycle-three-phase": ("AdamW", {}, lambda m, o: m.OneCycleLR(
        o, max_lr=0.02, epochs=10, steps_per_epoch=10, three_phase=True, base_momentum=0.8, max_momentum=0.9,
        div_factor=10.0, final_div_factor=100.0)),
    "onecycle-no-momentum": ("SGD", {"momentum": 0.9}, lambda m, o: m.OneCycleLR(
        o, max_lr=0.1, total_steps=STEPS + 20, cycle_momentum=False)),
    "warmup-then-cosine": ("SGD", {"momentum": 0.9}, lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=95, eta_min=1e-5)],
        milestones=[5])),
    "three-stage": ("Adam", {}, lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.5, total_iters=10), m.StepLR(o, step_size=10, gamma=0.7),
            m.CosineAnnealingLR(o, T_max=40)], milestones=[10, 50])),
    "onecycle-rmsprop": ("RMSprop", {"momentum": 0.9}, lambda m, o: m.OneCycleLR(o, max_lr=0.05, total_steps=STEPS)),
    "exponential-adagrad": ("Adagrad", {}, lambda m, o: m.ExponentialLR(o, gamma=0.95)),
    "multistep-adadelta": ("Adadelta", {}, lambda m, o: m.MultiStepLR(o, milestones=[30, 60])),
    "multistep": ("SGD", {}, lambda m, o: m.MultiStepLR(o, milestones=[10, 25, 25, 60], gamma=0.5)),
    "multistep-default-gamma": ("Adam", {}, lambda m, o: m.MultiStepLR(o, [30, 80])),
    "exponential": ("SGD", {}, lambda m, o: m.ExponentialLR(o, gamma=0.97)),
    "lambda": ("Adam", {}, lambda m, o: m.LambdaLR(o, lr_lambda=_inverse_time)),
    "lambda-per-group": ("SGD", {}, lambda m, o: m.LambdaLR(o, lr_lambda=[_power_decay, _staircase])),
    "warm-restarts": ("SGD", {"momentum": 0.9}, lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=10, eta_min=1e-4)),
    "warm-restarts-mult": ("AdamW", {}, lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2)),
    "chained": ("SGD", {}, lambda m, o: m.ChainedScheduler(
        [m.ExponentialLR(o, gamma=0.98), m.MultiStepLR(o, milestones=[20, 50], gamma=0.5)])),
    "chained-warmup": ("Adam", {}, lambda m, o: m.ChainedScheduler(
        [m.LinearLR(o, start_factor=0.1, total_iters=10), m.ExponentialLR(o, gamma=0.99),
         m.CosineAnnealingWarmRestarts(o, T_0=30)], optimizer=o)),
}


def _inverse_time(epoch):
    return 1.0 / (1.0 + 0.1 * epoch)


def _power_decay(epoch):
    return 0.95**epoch


def _staircase(epoch):
    return 1.0 / (1 + epoch // 10)


def _optimizer(lib, name, kw):
    """An optimizer over two groups with different learning rates (lib: convpool or torch)."""
    make = convpool.zeros if lib is convpool else torch.zeros
    params = [make(2, requires_grad=True), make(3, requires_grad=True)]
    module = optim if lib is convpool else torch.optim
    return getattr(module, name)([{"params": params[:1]}, {"params": params[1:], "lr": 0.02}], lr=0.1, **kw)


def _momenta(opt):
    return [g["betas"][0] if "betas" in g else g.get("momentum", 0.0) for g in opt.param_groups]


@needs_torch
@pytest.mark.parametrize("key", list(SCHEDULES))
def test_matches_torch(key):
    name, kw, build = SCHEDULES[key]
    opt, topt = _optimizer(convpool, name, kw), _optimizer(torch, name, kw)
    sched, tsched = build(lr_scheduler, opt), build(torch.optim.lr_scheduler, topt)
    seen = set()
    for step in range(STEPS + 1):
        if step:
            opt.step()  # no gradients: nothing moves, but the order is the documented one
            topt.step()
            sched.step()
            tsched.step()
        lrs, tlrs = sched.get_last_lr(), tsched.get_last_lr()
        numpy.testing.assert_allclose(lrs, tlrs, rtol=1e-12, atol=0, err_msg=f"{key}: lr at step {step}")
        assert [g["lr"] for g in opt.param_groups] == lrs
        numpy.testing.assert_allclose(_momenta(opt), _momenta(topt), rtol=1e-12, atol=0,
                                      err_msg=f"{key}: momentum at step {step}")
        seen.add(round(lrs[0], 12))
    assert len(seen) > 2, "the schedule never changed the learning rate"


def test_onecycle_cycles_momentum_inversely():
    opt = _optimizer(convpool, "SGD", {"momentum": 0.9})
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=STEPS)
    lrs, momenta = [sched.get_last_lr()[0]], [opt.param_groups[0]["momentum"]]
    for _ in range(STEPS):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
        momenta.append(opt.param_groups[0]["momentum"])
    peak = int(numpy.argmax(lrs))
    assert peak == 29 and momenta[0] == 0.95 and momenta[peak] == pytest.approx(0.85)
    assert lrs[0] == pytest.approx(0.1 / 25) and lrs[99] == pytest.approx(0.1 / 25 / 1e4)
    assert momenta[99] == pytest.approx(0.95)
    assert all(a <= b for a, b in zip(lrs[:30], lrs[1:30], strict=False))  # up, then down
    assert all(a >= b for a, b in zip(lrs[29:99], lrs[30:100], strict=False))
    assert all(a >= b for a, b in zip(momenta[:30], momenta[1:30], strict=False))
    with pytest.raises(ValueError, match="stepped 101 times, but the schedule has total_steps=100"):
        sched.step()


def _run(opt, sched, steps):
    out = []
    for _ in range(steps):
        opt.step()
        sched.step()
        out.append((sched.get_last_lr(), _momenta(opt)))
    return out


@pytest.mark.parametrize("key", ["step", "cosine", "linear-warmup", "onecycle-adam-linear", "onecycle-three-phase",
                                 "warmup-then-cosine", "three-stage", "multistep", "exponential", "lambda",
                                 "lambda-per-group", "warm-restarts", "warm-restarts-mult", "chained",
                                 "chained-warmup"])
def test_state_dict_round_trip_through_json(key):
    """A runs 30 steps and is saved; B is built fresh, loads both states, and the next 70
    steps give A's learning rates and momenta exactly."""
    name, kw, build = SCHEDULES[key]
    opt_a = _optimizer(convpool, name, kw)
    sched_a = build(lr_scheduler, opt_a)
    _run(opt_a, sched_a, 30)
    opt_meta, opt_arrays = optim.split_state_dict(opt_a.state_dict())
    saved = json.loads(json.dumps({"optimizer": opt_meta, "scheduler": sched_a.state_dict()}))

    opt_b = _optimizer(convpool, name, kw)
    sched_b = build(lr_scheduler, opt_b)  # as torch advises: the scheduler first, then load
    opt_b.load_state_dict(optim.merge_state_dict(saved["optimizer"], opt_arrays))
    sched_b.load_state_dict(saved["scheduler"])
    assert sched_b.get_last_lr() == sched_a.get_last_lr()
    assert _run(opt_b, sched_b, 70) == _run(opt_a, sched_a, 70)


# ----- step(epoch), warm restarts at fractional epochs --------------------------------------------
@needs_torch
@pytest.mark.parametrize("T_0,T_mult,eta_min", [(10, 1, 0.0), (4, 2, 1e-3), (3, 3, 0.0)])
def test_warm_restarts_fractional_epochs_match_torch(T_0, T_mult, eta_min):
    """step(epoch + batch / batches) inside each epoch, as torch's docs show, then jumps back
    and forward: every rate equals torch's."""
    opt, topt = _optimizer(convpool, "SGD", {}), _optimizer(torch, "SGD", {})
    sched = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=T_0, T_mult=T_mult, eta_min=eta_min)
    tsched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=T_0, T_mult=T_mult, eta_min=eta_min)
    batches = 7
    epochs = [e + b / batches for e in range(40) for b in range(batches)] + [3.5, 0, 12.25, 100.0, 2]
    for epoch in epochs:
        opt.step()
        topt.step()
        sched.step(epoch)
        tsched.step(epoch)
        numpy.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12, atol=1e-15,
                                      err_msg=f"lr at epoch {epoch}")
        assert sched.T_i == tsched.T_i and sched.last_epoch == tsched.last_epoch
        assert sched.T_cur == pytest.approx(tsched.T_cur, rel=1e-12, abs=1e-12)


@needs_torch
@pytest.mark.parametrize("key", ["step", "multistep", "exponential", "lambda", "cosine"])
def test_step_with_epoch_matches_torch(key):
    """torch's deprecated step(epoch): the closed form where there is one."""
    name, kw, build = SCHEDULES[key]
    opt, topt = _optimizer(convpool, name, kw), _optimizer(torch, name, kw)
    sched, tsched = build(lr_scheduler, opt), build(torch.optim.lr_scheduler, topt)
    for epoch in [3, 4, 11, 26, 25, 61, 7, 90]:
        opt.step()
        topt.step()
        sched.step(epoch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tsched.step(epoch)
        numpy.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12, atol=0,
                                      err_msg=f"{key}: lr at epoch {epoch}")


# ----- ReduceLROnPlateau ---------------------------------------------------------------------------
def _metric_series(steps=120, seed=5):
    """A loss-like curve with noise, plateaus and ties (rounded), seeded."""
    rng = numpy.random.default_rng(seed)
    t = numpy.arange(steps)
    curve = 1.0 / (1.0 + t / 8.0) + 0.02 * rng.standard_normal(steps)
    curve[40:70] = curve[40]  # a flat stretch
    return numpy.round(curve, 3).tolist()


PLATEAU_CASES = [
    {},
    {"mode": "max"},
    {"patience": 0},
    {"patience": 3, "threshold": 0.05},
    {"patience": 2, "threshold": 0.01, "threshold_mode": "abs"},
    {"mode": "max", "threshold_mode": "abs", "threshold": 0.0, "patience": 1},
    {"patience": 2, "cooldown": 4, "factor": 0.5},
    {"patience": 1, "min_lr": [0.01, 1e-3], "factor": 0.3},
    {"patience": 1, "min_lr": 0.02},
    {"patience": 0, "factor": 0.9999999, "eps": 1e-8},  # reductions below eps are skipped
]


@needs_torch
@pytest.mark.parametrize("kw", PLATEAU_CASES, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_reduce_on_plateau_matches_torch(kw):
    opt, topt = _optimizer(convpool, "SGD", {}), _optimizer(torch, "SGD", {})
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kw)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    sign = -1.0 if kw.get("mode") == "max" else 1.0
    seen = set()
    for step, value in enumerate(_metric_series()):
        opt.step()
        topt.step()
        metric = convpool.tensor(sign * value, dtype=convpool.float64) if step % 2 else sign * value
        sched.step(metric)
        tsched.step(sign * value)
        assert sched.get_last_lr() == tsched.get_last_lr(), f"lr at step {step}"
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]
        assert (sched.best, sched.num_bad_epochs, sched.cooldown_counter, sched.last_epoch) == (
            tsched.best, tsched.num_bad_epochs, tsched.cooldown_counter, tsched.last_epoch), f"state at step {step}"
        seen.add(sched.get_last_lr()[0])
    if "eps" in kw:
        assert seen == {0.1}, "a reduction smaller than eps was applied"
    else:
        assert len(seen) > 1, "the learning rate was never reduced"


def test_reduce_on_plateau_state_dict_round_trip_through_json():
    opt = _optimizer(convpool, "SGD", {})
    sched = lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=2, cooldown=1)
    series = [-v for v in _metric_series()]
    for value in series[:50]:
        sched.step(value)
    saved = json.loads(json.dumps(sched.state_dict()))
    opt_b = _optimizer(convpool, "SGD", {})
    opt_b.load_state_dict(opt.state_dict())
    sched_b = lr_scheduler.ReduceLROnPlateau(opt_b)
    sched_b.load_state_dict(saved)
    assert sched_b.mode == "max" and sched_b.mode_worse == -float("inf")
    for value in series[50:]:
        sched.step(value)
        sched_b.step(value)
        assert sched_b.get_last_lr() == sched.get_last_lr()
    fresh = lr_scheduler.ReduceLROnPlateau(_optimizer(convpool, "SGD", {}))
    assert json.loads(json.dumps(fresh.state_dict()))["best"] == float("inf")


def test_multistep_state_dict_keeps_repeated_milestones():
    opt = _optimizer(convpool, "SGD", {})
    sched = lr_scheduler.MultiStepLR(opt, milestones=[3, 5, 5], gamma=0.5)
    saved = json.loads(json.dumps(sched.state_dict()))
    assert saved["milestones"] == [3, 5, 5]
    other = lr_scheduler.MultiStepLR(_optimizer(convpool, "SGD", {}), milestones=[1])
    other.load_state_dict(saved)
    for _ in range(5):
        other.step()
    assert other.get_last_lr() == pytest.approx([0.1 / 8, 0.02 / 8])


def test_lambda_state_dict_keeps_callable_objects_not_functions():
    class Warmup:
        def __init__(self, steps):
            self.steps = steps

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.steps)

    opt = _optimizer(convpool, "SGD", {})
    sched = lr_scheduler.LambdaLR(opt, [Warmup(4), _power_decay])
    saved = json.loads(json.dumps(sched.state_dict()))
    assert saved["lr_lambdas"] == [{"steps": 4}, None]
    target = Warmup(100)
    lr_scheduler.LambdaLR(_optimizer(convpool, "SGD", {}), [target, _power_decay]).load_state_dict(saved)
    assert target.steps == 4


def test_scheduler_writes_group_lr_and_keeps_initial_lr():
    opt = _optimizer(convpool, "SGD", {})
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.02]
    for _ in range(4):
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.025, 0.005])
    assert sched.base_lrs == [0.1, 0.02]


@pytest.mark.parametrize("make,error,match", [
    (lambda o: lr_scheduler.StepLR(o, step_size=0), ValueError, "step_size must be a positive int, got 0"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=-3), ValueError, "T_max must be a positive int, got -3"),
    (lambda o: lr_scheduler.LinearLR(o, start_factor=0.0), ValueError, r"start_factor must be in \(0, 1\], got 0\.0"),
    (lambda o: lr_scheduler.LinearLR(o, end_factor=1.5), ValueError, r"end_factor must be in \[0, 1\], got 1\.5"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1), ValueError, "give total_steps, or both epochs"),
    (lambda o: lr_scheduler.OneCycleLR(o, 0.1, total_steps=0), ValueError, "total_steps must be a positive int"),
    (lambda o: lr_scheduler.OneCycleLR(o, 0.1, epochs=2, steps_per_epoch=-1), ValueError,
     "steps_per_epoch must be a positive int, got -1"),
    (lambda o: lr_scheduler.OneCycleLR(o, 0.1, 10, pct_start=1.5), ValueError, r"pct_start must be .* got 1\.5"),
    (lambda o: lr_scheduler.OneCycleLR(o, 0.1, 10, anneal_strategy="exp"), ValueError,
     "anneal_strategy must be 'cos' or 'linear', got 'exp'"),
    (lambda o: lr_scheduler.OneCycleLR(o, [0.1, 0.2, 0.3], 10), ValueError, "got 3 values for 2 groups"),
    (lambda o: lr_scheduler.StepLR(object(), 3), TypeError, "object is not an Optimizer"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 3)], milestones=[2]), ValueError,
     "got 1 milestones for 1 schedulers"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(_optimizer(convpool, "SGD", {}), 3)], []),
     ValueError, r"schedulers\[0\] \(StepLR\) drives another optimizer"),
    (lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, 4.5]), ValueError,
     r"milestones\[1\] must be an int, got 4\.5"),
    (lambda o: lr_scheduler.LambdaLR(o, [_power_decay]), ValueError, "expected 2 lr_lambdas .* got 1"),
    (lambda o: lr_scheduler.LambdaLR(o, 0.5), TypeError, r"lr_lambda\[0\] must be callable, got float"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=0), ValueError, "T_0 must be a positive int, got 0"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=1.5), ValueError,
     r"T_mult must be an int >= 1, got 1\.5"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, 5, eta_min="0"), ValueError, "eta_min must be a number"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, 5).step(-1), ValueError,
     "epoch must be a number >= 0, got -1"),
    (lambda o: lr_scheduler.ChainedScheduler([]), ValueError, "at least one scheduler"),
    (lambda o: lr_scheduler.ChainedScheduler([lr_scheduler.ReduceLROnPlateau(o)]), ValueError,
     r"schedulers\[0\] is a ReduceLROnPlateau"),
    (lambda o: lr_scheduler.ChainedScheduler([lr_scheduler.ExponentialLR(o, 0.9),
                                              lr_scheduler.StepLR(_optimizer(convpool, "SGD", {}), 3)]),
     ValueError, r"schedulers\[1\] \(StepLR\) drives another optimizer"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), ValueError, r"factor must be a number < 1\.0, got 1\.0"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="lowest"), ValueError,
     "mode must be 'min' or 'max', got 'lowest'"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="pct"), ValueError,
     "threshold_mode must be 'rel' or 'abs', got 'pct'"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "got 1 values for 2 groups"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=-1), ValueError, "patience must be a non-negative int"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o).step("low"), TypeError, "metrics must be a number, got 'low'"),
])
def test_errors(make, error, match):
    with pytest.raises(error, match=match):
        make(_optimizer(convpool, "SGD", {}))


def test_onecycle_needs_momentum_or_betas():
    class Plain(optim.Optimizer):
        def step(self, closure=None):
            return None

    opt = Plain([convpool.zeros(1, requires_grad=True)], {"lr": 0.1})
    with pytest.raises(ValueError, match="needs an optimizer with momentum or betas, Plain has neither"):
        lr_scheduler.OneCycleLR(opt, 0.1, 10)
    lr_scheduler.OneCycleLR(opt, 0.1, 10, cycle_momentum=False).step()
    assert opt.param_groups[0]["lr"] > 0.1 / 25
