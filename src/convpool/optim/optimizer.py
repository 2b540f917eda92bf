"""Optimizer: the base class that holds parameter groups and per-parameter state.

Shaped like `torch.optim.Optimizer`: `param_groups` is a list of dicts, each with a
`"params"` list and its hyper-parameters (`optimizer.param_groups[0]["lr"]`); `state` maps a
parameter to its buffers. `step()` walks every parameter that has a gradient and hands it to
the subclass's `_update()`, which changes `p.data` in place, outside the autograd graph.

State dict format (what `state_dict()` returns and `load_state_dict()` takes)::

    {
        "param_groups": [{"lr": 0.01, "betas": (0.9, 0.999), ..., "params": [0, 1, 2]}, ...],
        "state": {0: {"step": 3, "exp_avg": <array>, "exp_avg_sq": <array>}, ...},
    }

Parameters are referred to by index, counted through the groups in order, as in torch.
Everything is plain JSON data (int, float, bool, str, None, lists, tuples) except the leaves
of `state` that are arrays (momentum buffers, moment estimates). `split_state_dict` cuts such
a dict into a JSON-ready part and a flat `{name: array}` mapping (names like
`"state.0.exp_avg"`) for a checkpoint writer; `merge_state_dict` puts them back together.
`load_state_dict` accepts state keys as ints or as the strings JSON turns them into, and
lists where a hyper-parameter is a tuple (betas).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from typing import Any

from ..backend import array_module
from ..tensor import Tensor, enable_grad

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]


def _is_array(value: object) -> bool:
    """True for the array leaves of a state dict (NumPy today, CuPy later)."""
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, Tensor)


class Optimizer:
    """Base class: parameter groups, per-parameter state, zero_grad, state dicts.

    `params` is an iterable of Tensors or of dicts (one per group, each with a "params" key
    and optional per-group hyper-parameters); `defaults` fills in what a group leaves out.
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        if isinstance(params, Tensor) or isinstance(params, dict):
            raise TypeError(
                f"{name}: params must be an iterable of Tensors or of dicts, got a single {type(params).__name__}"
            )
        self._validate(defaults)
        self.defaults: dict[str, Any] = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if len(groups) == 0:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ----- hooks for subclasses -----------------------------------------------------------
    @classmethod
    def _validate(cls, hyper: dict[str, Any]) -> None:
        """Raise ValueError naming the argument and its value if a hyper-parameter is invalid."""

    def _update(self, group: dict[str, Any], p: Tensor, g: Any, data: Any, xp: Any) -> None:
        """Update one parameter in place: `data` is p's writable array, `g` its gradient
        (negated when the group maximizes, with the L2 weight decay added unless the
        subclass decouples it), `xp` their array module."""
        raise NotImplementedError

    _decoupled_weight_decay = False  # True: _update applies weight_decay itself (AdamW)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns closure()'s loss if given."""
        loss = self._evaluate(closure)
        name = type(self).__name__
        for group in self.param_groups:
            maximize, weight_decay = group.get("maximize", False), group.get("weight_decay", 0)
            l2 = weight_decay != 0 and not self._decoupled_weight_decay
            for p in group["params"]:
                g = self._grad_of(p, name)
                if g is None:
                    continue
                data = self._writable_data(p)
                if maximize:
                    g = -g
                if l2:
                    g = g + weight_decay * data
                self._update(group, p, g, data, array_module(data))
        return loss

    # ----- groups -------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (a dict with "params") with its own hyper-parameters."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a parameter group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}: a parameter group needs a 'params' entry")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(f"{name}: parameters must be in an ordered collection (a list), not a set")
        params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, but parameter {i} is a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor (parameter {i}, made by {p.grad_fn})")
            if p.dtype.kind != "f":
                raise TypeError(f"{name}: can only optimize floating-point Tensors, parameter {i} is {p.dtype}")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter group holds the same parameter twice")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        group["params"] = params
        for key, default in self.defaults.items():
            group.setdefault(key, default)
        self._validate(group)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient: drop it (default) or fill it with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    xp = array_module(p.grad.data)
                    p.grad.data = xp.zeros_like(p.grad.data)

    # ----- state dicts --------------------------------------------------------------------
    def _indexed_params(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict[str, Any]:
        """Hyper-parameters per group (parameters as indices) and copies of the state arrays.

        See the module docstring for the layout; arrays are copies, so later steps do not
        change a dict already taken."""
        index = {id(p): i for i, p in enumerate(self._indexed_params())}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state: dict[int, dict[str, Any]] = {}
        for p, entries in self.state.items():
            if id(p) not in index:
                continue
            state[index[id(p)]] = {
                k: (array_module(v).array(v, copy=True) if _is_array(v) else copy.deepcopy(v))
                for k, v in entries.items()
            }
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyper-parameters and state saved by `state_dict()` (for the same parameters,
        grouped the same way). Arrays are copied and cast to their parameter's dtype."""
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the saved state has {len(saved_groups)} parameter group(s), "
                f"this optimizer has {len(self.param_groups)}"
            )
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: parameter group {i} has {len(saved['params'])} parameters in the "
                    f"saved state but {len(group['params'])} here"
                )
        params = self._indexed_params()
        saved_index = [int(j) for saved in saved_groups for j in saved["params"]]
        by_saved_index = dict(zip(saved_index, params, strict=True))
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, entries in state_dict["state"].items():
            j = int(key)
            if j not in by_saved_index:
                raise ValueError(f"{name}.load_state_dict: state for parameter {j}, which no group holds")
            p = by_saved_index[j]
            restored: dict[str, Any] = {}
            for k, v in entries.items():
                if _is_array(v):
                    xp = array_module(p.data)
                    if tuple(v.shape) != p.shape:
                        raise ValueError(
                            f"{name}.load_state_dict: state '{k}' of parameter {j} has shape {tuple(v.shape)}, "
                            f"the parameter has shape {p.shape}"
                        )
                    restored[k] = xp.array(v, dtype=p.dtype, copy=True)
                else:
                    restored[k] = copy.deepcopy(v)
            new_state[p] = restored
        groups = []
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            new_group = {}
            for k, v in saved.items():
                if k == "params":
                    continue
                if isinstance(v, list) and isinstance(self.defaults.get(k), tuple):
                    v = tuple(v)  # JSON turned the tuple (betas) into a list
                new_group[k] = copy.deepcopy(v)
            new_group["params"] = group["params"]
            self._validate(new_group)
            groups.append(new_group)
        self.param_groups[:] = groups  # in place: schedulers hold this list
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {group[k]}" for k in sorted(group) if k != "params")
        lines.append(")")
        return "\n".join(lines)

    # ----- helpers for subclasses ---------------------------------------------------------
    def _evaluate(self, closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with enable_grad():
            return closure()

    @staticmethod
    def _grad_of(p: Tensor, name: str):
        """p's gradient as an array of p's dtype and shape (checked), or None."""
        if p.grad is None:
            return None
        g = p.grad.data if isinstance(p.grad, Tensor) else p.grad
        if tuple(g.shape) != p.shape:
            raise ValueError(f"{name}.step: a gradient has shape {tuple(g.shape)}, its parameter has shape {p.shape}")
        if g.dtype != p.dtype:
            g = g.astype(p.dtype)
        return g

    @staticmethod
    def _writable_data(p: Tensor):
        """p.data, first replaced by a writable copy if it is read-only, so updates go in place."""
        data = p.data
        flags = getattr(data, "flags", None)
        if flags is not None and not getattr(flags, "writeable", True):
            p.data = data = array_module(data).array(data, copy=True)
        return data


def split_state_dict(state_dict: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Cut an optimizer state dict into (JSON-ready dict, {name: array}).

    Array names are "state.<param index>.<key>"; the JSON part keeps every non-array entry,
    with string state keys as JSON has them."""
    meta_state: dict[str, dict[str, Any]] = {}
    arrays: dict[str, Any] = {}
    for index, entries in state_dict["state"].items():
        kept = {}
        for key, value in entries.items():
            if _is_array(value):
                arrays[f"state.{int(index)}.{key}"] = value
            else:
                kept[key] = value
        meta_state[str(int(index))] = kept
    groups = [
        {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items()} for group in state_dict["param_groups"]
    ]
    return {"param_groups": groups, "state": meta_state}, arrays


def merge_state_dict(meta: dict[str, Any], arrays: dict[str, Any]) -> dict[str, Any]:
    """Inverse of split_state_dict: a state dict that load_state_dict takes."""
    state: dict[int, dict[str, Any]] = {int(k): dict(v) for k, v in meta["state"].items()}
    for name, value in arrays.items():
        prefix, index, key = name.split(".", 2)
        if prefix != "state":
            raise ValueError(f"merge_state_dict: array name {name!r} does not start with 'state.'")
        state.setdefault(int(index), {})[key] = value
    return {"param_groups": copy.deepcopy(meta["param_groups"]), "state": state}


def _check_number(owner: str, name: str, value: object, ok: Callable[[float], bool], want: str) -> None:
    """ValueError naming the argument and its value unless value is a real number (not NaN,
    not a bool) for which ok() holds; `want` says what was expected, e.g. ">= 0"."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name} must be a number {want}, got {value!r}") from None
    if isinstance(value, bool) or math.isnan(v) or not ok(v):
        raise ValueError(f"{owner}: {name} must be {want}, got {value!r}")


def _check_torch_flags(owner: str, *, differentiable: bool = False) -> None:
    """Refuse torch's differentiable=True (autograd through the update), which convpool's
    in-place steps do not record; torch's kernel choices (foreach, fused, capturable) need
    no check, they do not change the result."""
    if differentiable:
        raise ValueError(f"{owner}: differentiable=True (autograd through the step) is not supported, got True")


def _lerp_(start, end, weight: float) -> None:
    """start <- lerp(start, end, weight) in place, with both branches of torch's CPU lerp
    (the formula from the nearer end), so the result agrees with torch's to the last bit."""
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)


__all__ = ["Optimizer", "split_state_dict", "merge_state_dict"]
