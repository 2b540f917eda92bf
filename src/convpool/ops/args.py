"""Argument checks shared by the conv and pooling wrappers: every bad value is reported with
the argument's name, the value and the shapes involved."""

from __future__ import annotations

from ..tensor import Tensor


def ntuple(name: str, value, n: int, minimum: int, op: str) -> tuple[int, ...]:
    """value as n ints, each >= minimum; one int is repeated, as PyTorch does."""
    values = (value,) * n if isinstance(value, int) else tuple(value) if isinstance(value, tuple | list) else None
    if values is not None and len(values) == 1 and n > 1:
        values = values * n
    if values is None or len(values) != n or any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    for v in values:
        if v < minimum:
            kind = "positive" if minimum == 1 else "non-negative"
            raise ValueError(f"{op}: {name} must be {kind}, got {name}={value!r}")
    return values


def check_input(op: str, input, spatial: int) -> tuple[Tensor, bool]:
    """Accept (N, C, *spatial) or unbatched (C, *spatial); returns the batched tensor and
    whether a batch axis was added."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a convpool.Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating point (float32 or float64), got {input.dtype}")
    if input.ndim == spatial + 2:
        return input, False
    if input.ndim == spatial + 1:
        return input.unsqueeze(0), True
    raise ValueError(
        f"{op}: input must be {spatial + 2}-D (N, C, {spatial_names(spatial)}) or {spatial + 1}-D "
        f"(C, {spatial_names(spatial)}), got {input.ndim}-D with shape {input.shape}"
    )


def spatial_names(spatial: int) -> str:
    return ", ".join(("L",) if spatial == 1 else ("H", "W") if spatial == 2 else ("D", "H", "W"))


def check_same_device(op: str, **tensors) -> None:
    """One clear error when an op's tensors live on different devices."""
    named = {k: t for k, t in tensors.items() if isinstance(t, Tensor)}
    devices = {t.device for t in named.values()}
    if len(devices) > 1:
        listing = ", ".join(f"{k} on {t.device}" for k, t in named.items())
        raise RuntimeError(f"{op}: expected all tensors on one device, got {listing}; move them with .to(device)")


def check_same_dtype(op: str, **tensors) -> None:
    check_same_device(op, **tensors)
    named = {k: t for k, t in tensors.items() if t is not None}
    dtypes = {t.dtype for t in named.values()}
    if len(dtypes) > 1:
        listing = ", ".join(f"{k} {t.dtype}" for k, t in named.items())
        raise TypeError(f"{op}: dtypes must match, got {listing}; convert with .to(dtype)")
