"""ONNX's window geometry in convpool's terms: auto_pad and explicit (possibly asymmetric)
pads as per-axis (before, after) lists, pooling output sizes with ceil mode, and the list
order of F.pad (last axis first). Pure shape arithmetic on ints."""

from __future__ import annotations

from collections.abc import Sequence


def torch_pad(lo: Sequence[int], hi: Sequence[int]) -> list[int]:
    """Per-axis (before, after) pads, first spatial axis first, as F.pad's list (last axis first)."""
    out: list[int] = []
    for b, a in zip(reversed(lo), reversed(hi), strict=True):
        out += [b, a]
    return out


def auto_pads(auto_pad: str, sizes, kernel, strides, dilations) -> tuple[list[int], list[int]]:
    """(lo, hi) for SAME_UPPER/SAME_LOWER (output = ceil(size / stride); the odd pixel at the end
    for SAME_UPPER, at the beginning for SAME_LOWER) or VALID (no padding)."""
    if auto_pad == "VALID":
        return [0] * len(sizes), [0] * len(sizes)
    lo, hi = [], []
    for n, k, s, d in zip(sizes, kernel, strides, dilations, strict=True):
        out = -(-n // s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - n)
        small, large = total // 2, total - total // 2
        lo.append(small if auto_pad == "SAME_UPPER" else large)
        hi.append(large if auto_pad == "SAME_UPPER" else small)
    return lo, hi


def explicit_pads(attrs: dict, nd: int, sizes, kernel, strides, dilations, where: str) -> tuple[list[int], list[int]]:
    """The node's pads as (lo, hi) lists, from auto_pad or from `pads` (x1_begin, x2_begin, ..., x1_end, ...)."""
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER", "VALID"):
        return auto_pads(auto_pad, sizes, kernel, strides, dilations)
    if auto_pad != "NOTSET":
        raise ValueError(f"{where}: unknown auto_pad={auto_pad!r} (NOTSET, SAME_UPPER, SAME_LOWER or VALID)")
    pads = list(attrs.get("pads", [0] * 2 * nd))
    if len(pads) != 2 * nd:
        raise ValueError(f"{where}: pads={pads} must hold 2 values per spatial axis ({2 * nd}) for input "
                         f"spatial size {tuple(sizes)}")
    return pads[:nd], pads[nd:]


def pool_output(sizes, kernel, strides, dilations, lo, hi, ceil: bool) -> list[int]:
    """Pooling output sizes; with ceil mode the last window must start inside the input or the left padding."""
    out = []
    for n, k, s, d, b, a in zip(sizes, kernel, strides, dilations, lo, hi, strict=True):
        span = n + b + a - d * (k - 1) - 1
        o = (-(-span // s) if ceil else span // s) + 1
        if ceil and (o - 1) * s >= n + b:
            o -= 1
        out.append(o)
    return out


def native_padding(kernel, lo, hi) -> bool:
    """Symmetric pads of at most half the kernel: what a pooling op's own `padding` argument takes."""
    return list(lo) == list(hi) and all(p <= k // 2 for p, k in zip(lo, kernel, strict=True))
