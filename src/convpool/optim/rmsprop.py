"""RMSprop with torch.optim.RMSprop's rule (momentum, centered, weight decay, maximize).

For each parameter p with gradient g (negated when maximize):

    g = g + weight_decay * p                          (if weight_decay != 0)
    v = alpha * v + (1 - alpha) * g * g
    m = lerp(m, g, 1 - alpha);  avg = sqrt(v - m * m) (centered)   or   avg = sqrt(v)
    avg = avg + eps
    b = momentum * b + g / avg;  p = p - lr * b       (momentum > 0)
    p = p - lr * g / avg                              (otherwise)

The buffers start at zero, as torch's; the arithmetic follows torch's single-tensor CPU
path operation by operation, so float64 results agree to rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..backend import array_module
from .optimizer import Optimizer, ParamsT, _check_number, _check_torch_flags, _lerp_


class RMSprop(Optimizer):
    """RMSprop (Hinton), optionally centered and with momentum, as torch.optim.RMSprop.

    `capturable` and `foreach` are accepted for torch's signature and change nothing here
    (they choose torch's kernels, not the result); `differentiable=True` is refused."""

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False) -> None:
        _check_torch_flags("RMSprop", differentiable=differentiable)
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                    "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    @classmethod
    def _validate(cls, hyper: dict[str, Any]) -> None:
        for name in ("lr", "eps", "momentum", "weight_decay", "alpha"):
            _check_number("RMSprop", name, hyper[name], lambda v: v >= 0, ">= 0")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns closure()'s loss if given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            weight_decay, momentum = group["weight_decay"], group["momentum"]
            centered, maximize = group["centered"], group["maximize"]
            for p in group["params"]:
                g = self._grad_of(p, "RMSprop")
                if g is None:
                    continue
                xp = array_module(p.data)
                data = self._writable_data(p)
                state = self.state.setdefault(p, {})
                if not state:
                    state["step"] = 0
                    state["square_avg"] = xp.zeros_like(data)
                    if momentum > 0:
                        state["momentum_buffer"] = xp.zeros_like(data)
                    if centered:
                        state["grad_avg"] = xp.zeros_like(data)
                state["step"] += 1
                if maximize:
                    g = -g
                if weight_decay != 0:
                    g = g + weight_decay * data
                square_avg = state["square_avg"]
                square_avg *= alpha
                square_avg += (1 - alpha) * g * g
                if centered:
                    grad_avg = state.setdefault("grad_avg", xp.zeros_like(data))
                    _lerp_(grad_avg, g, 1 - alpha)
                    avg = xp.sqrt(square_avg + -1 * grad_avg * grad_avg)
                else:
                    avg = xp.sqrt(square_avg)
                avg += eps
                if momentum > 0:
                    buf = state.setdefault("momentum_buffer", xp.zeros_like(data))
                    buf *= momentum
                    buf += g / avg
                    data += -lr * buf
                else:
                    data += (-lr * g) / avg  # torch: addcdiv_ is self + (value * t1) / t2
        return loss
