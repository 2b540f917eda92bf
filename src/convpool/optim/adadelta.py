"""Adadelta with torch.optim.Adadelta's rule (weight decay, maximize).

For each parameter p with gradient g (negated when maximize):

    g = g + weight_decay * p                          (if weight_decay != 0)
    v = rho * v + (1 - rho) * g * g
    delta = sqrt(u + eps) / sqrt(v + eps) * g
    u = rho * u + (1 - rho) * delta * delta
    p = p - lr * delta

Both buffers start at zero; the arithmetic follows torch's single-tensor CPU path.
"""

from __future__ import annotations

from typing import Any

from .optimizer import Optimizer, ParamsT, _check_number, _check_torch_flags


class Adadelta(Optimizer):
    """Adadelta (Zeiler), as torch.optim.Adadelta.

    `foreach` and `capturable` are accepted for torch's signature and change nothing here
    (they choose torch's kernels, not the result); `differentiable=True` is refused."""

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False) -> None:
        _check_torch_flags("Adadelta", differentiable=differentiable)
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    @classmethod
    def _validate(cls, hyper: dict[str, Any]) -> None:
        _check_number("Adadelta", "lr", hyper["lr"], lambda v: v >= 0, ">= 0")
        _check_number("Adadelta", "rho", hyper["rho"], lambda v: 0 <= v <= 1, "in [0, 1]")
        _check_number("Adadelta", "eps", hyper["eps"], lambda v: v >= 0, ">= 0")
        _check_number("Adadelta", "weight_decay", hyper["weight_decay"], lambda v: v >= 0, ">= 0")

    def _update(self, group: dict[str, Any], p, g, data, xp) -> None:
        lr, rho, eps = group["lr"], group["rho"], group["eps"]
        state = self.state.setdefault(p, {})
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(data)
            state["acc_delta"] = xp.zeros_like(data)
        state["step"] += 1
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        square_avg *= rho
        square_avg += (1 - rho) * g * g
        std = xp.sqrt(square_avg + eps)
        delta = xp.sqrt(acc_delta + eps)
        delta /= std
        delta *= g
        acc_delta *= rho
        acc_delta += (1 - rho) * delta * delta
        data += -lr * delta
