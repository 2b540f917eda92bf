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

from typing import Any

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

    def _update(self, group: dict[str, Any], p, g, data, xp) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        momentum, centered = group["momentum"], group["centered"]
        state = self.state.setdefault(p, {})
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(data)
            if momentum > 0:
                state["momentum_buffer"] = xp.zeros_like(data)
            if centered:
                state["grad_avg"] = xp.zeros_like(data)
        state["step"] += 1
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
