"""Adagrad with torch.optim.Adagrad's rule (lr_decay, initial accumulator, weight decay, maximize).

For each parameter p with gradient g (negated when maximize), at step t = 1, 2, ...:

    g = g + weight_decay * p                          (if weight_decay != 0)
    clr = lr / (1 + (t - 1) * lr_decay)
    s = s + g * g                                     (s starts at initial_accumulator_value)
    p = p - clr * g / (sqrt(s) + eps)

As in torch, every parameter's state (step 0 and the accumulator) exists from construction,
so a state dict taken before the first step already holds it.
"""

from __future__ import annotations

from typing import Any

from ..backend import array_module
from .optimizer import Optimizer, ParamsT, _check_number, _check_torch_flags


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), as torch.optim.Adagrad (dense gradients).

    `foreach` and `fused` are accepted for torch's signature and change nothing here (they
    choose torch's kernels, not the result); `differentiable=True` is refused."""

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None) -> None:
        _check_torch_flags("Adagrad", differentiable=differentiable)
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "maximize": maximize}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    @classmethod
    def _validate(cls, hyper: dict[str, Any]) -> None:
        for name in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            _check_number("Adagrad", name, hyper[name], lambda v: v >= 0, ">= 0")

    def _init_state(self, p) -> dict[str, Any]:
        """Step 0 and an accumulator full of the constructor's initial_accumulator_value
        (torch reads it from the defaults, not from the group)."""
        xp = array_module(p.data)
        state = self.state.setdefault(p, {})
        if not state:
            state["step"] = 0
            state["sum"] = xp.full_like(p.data, self.defaults["initial_accumulator_value"])
        return state

    def _update(self, group: dict[str, Any], p, g, data, xp) -> None:
        state = self._init_state(p)
        state["step"] += 1
        step = float(state["step"])
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        state_sum = state["sum"]
        state_sum += 1 * g * g
        std = xp.sqrt(state_sum)
        std += group["eps"]
        data += (-clr * g) / std  # torch: addcdiv_ is self + (value * t1) / t2
