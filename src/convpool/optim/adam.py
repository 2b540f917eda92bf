"""Adam and AdamW with torch.optim's formulas (bias corrections, amsgrad, maximize).

For each parameter p with gradient g (negated when maximize), at step t = 1, 2, ...:

    p = p * (1 - lr * weight_decay)                   (AdamW: decoupled decay, first)
    g = g + weight_decay * p                          (Adam: L2 penalty in the gradient)
    m = lerp(m, g, 1 - beta1)                         (torch's lerp, both of its branches)
    v = beta2 * v + (1 - beta2) * g * g
    v_max = max(v_max, v)                             (amsgrad; v_max replaces v below)
    denom = sqrt(v) / sqrt(1 - beta2**t) + eps
    p = p - lr / (1 - beta1**t) * m / denom

The arithmetic follows torch's single-tensor CPU path operation by operation, so float64
results agree to rounding. Every update is whole-array and in place on p.data; float32
parameters keep float32 buffers and stay float32.
"""

from __future__ import annotations

from typing import Any

from .optimizer import Optimizer, ParamsT, _check_number, _lerp_


class Adam(Optimizer):
    """Adam (Kingma & Ba), optionally AMSGrad, as torch.optim.Adam."""

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "maximize": maximize}
        super().__init__(params, defaults)

    @classmethod
    def _validate(cls, hyper: dict[str, Any]) -> None:
        owner = cls.__name__
        _check_number(owner, "lr", hyper["lr"], lambda v: v >= 0, ">= 0")
        _check_number(owner, "eps", hyper["eps"], lambda v: v >= 0, ">= 0")
        betas = hyper["betas"]
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}")
        for i, beta in enumerate(betas):
            _check_number(owner, f"betas[{i}]", beta, lambda v: 0 <= v < 1, "in [0, 1)")
        _check_number(owner, "weight_decay", hyper["weight_decay"], lambda v: v >= 0, ">= 0")
        if isinstance(betas, list):
            hyper["betas"] = tuple(betas)

    def _update(self, group: dict[str, Any], p, g, data, xp) -> None:
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        amsgrad = group["amsgrad"]
        state = self.state.setdefault(p, {})
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(data)
            state["exp_avg_sq"] = xp.zeros_like(data)
            if amsgrad:
                state["max_exp_avg_sq"] = xp.zeros_like(data)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        state["step"] += 1
        step = float(state["step"])

        if self._decoupled_weight_decay and weight_decay != 0:
            data *= 1 - lr * weight_decay  # the L2 form (Adam) is already in g

        _lerp_(exp_avg, g, 1 - beta1)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * g * g

        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5

        if amsgrad:
            max_exp_avg_sq = state.get("max_exp_avg_sq")
            if max_exp_avg_sq is None:  # amsgrad switched on after some steps
                max_exp_avg_sq = state["max_exp_avg_sq"] = xp.zeros_like(data)
            xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
            denom = xp.sqrt(max_exp_avg_sq) / bias_correction2_sqrt
        else:
            denom = xp.sqrt(exp_avg_sq) / bias_correction2_sqrt
        denom += eps
        update = -step_size * exp_avg
        update /= denom
        data += update


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW:
    parameters shrink by lr * weight_decay before the Adam update."""

    _decoupled_weight_decay = True

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
