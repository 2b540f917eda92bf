"""SGD with momentum, dampening, Nesterov, weight decay and maximize: torch.optim.SGD's rule.

For each parameter p with gradient g (negated when maximize):

    g = g + weight_decay * p                          (if weight_decay != 0)
    b = g                    on the first step,       (if momentum != 0)
    b = momentum * b + (1 - dampening) * g  after;
    g = g + momentum * b  (nesterov)  or  g = b
    p = p - lr * g
"""

from __future__ import annotations

from typing import Any

from .optimizer import Optimizer, ParamsT, _check_number


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum, as torch.optim.SGD."""

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False) -> None:
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize}
        super().__init__(params, defaults)

    @classmethod
    def _validate(cls, hyper: dict[str, Any]) -> None:
        _check_number("SGD", "lr", hyper["lr"], lambda v: v >= 0, ">= 0")
        _check_number("SGD", "momentum", hyper["momentum"], lambda v: v >= 0, ">= 0")
        _check_number("SGD", "dampening", hyper["dampening"], lambda v: True, "a number")
        _check_number("SGD", "weight_decay", hyper["weight_decay"], lambda v: v >= 0, ">= 0")
        if hyper["nesterov"] and (hyper["momentum"] <= 0 or hyper["dampening"] != 0):
            raise ValueError(
                f"SGD: nesterov=True requires momentum > 0 and dampening = 0, "
                f"got momentum={hyper['momentum']!r}, dampening={hyper['dampening']!r}"
            )

    def _update(self, group: dict[str, Any], p, g, data, xp) -> None:
        momentum, dampening, nesterov = group["momentum"], group["dampening"], group["nesterov"]
        if momentum != 0:
            state = self.state.setdefault(p, {})
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = xp.array(g, copy=True)
            else:
                buf *= momentum
                buf += (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        data -= group["lr"] * g
