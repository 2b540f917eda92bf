"""F.pad: constant (zero by default), reflect, replicate and circular padding.

The article pads with zeros so the kernel can cover the border; the other modes let a
layer continue the image instead (`padding_mode` of the conv layers goes through here).
Non-constant modes are a gather along each padded axis (`take` with an index map); the
backward is the adjoint of that gather, a product with the map's one-hot matrix, so
repeated source pixels sum their gradients without np.add.at.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..backend import array_module
from ..tensor import Tensor

MODES = ("constant", "reflect", "replicate", "circular")


def _index_map(size: int, before: int, after: int, mode: str, xp):
    """Source index for every position of the padded axis. Negative padding crops, as in
    PyTorch: reflect and replicate map positions -before .. size + after - 1 of the input,
    circular wraps around the part that is left after cropping (repeating it when the pad is
    wider than that part; PyTorch's copy then reads memory it is writing, and its left pad
    is undefined)."""
    if mode == "circular":
        start = max(-before, 0)
        kept = size - start - max(-after, 0)
        return start + xp.arange(-max(before, 0), kept + max(after, 0)) % kept
    positions = xp.arange(-before, size + after)
    if mode == "replicate":
        return xp.clip(positions, 0, size - 1)
    period = 2 * (size - 1)  # reflect without repeating the edge pixel
    folded = xp.abs(positions) % period if period else xp.zeros_like(positions)
    return xp.where(folded >= size, period - folded, folded)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last len(pad)//2 axes; pad is (last_before, last_after, second_last_before, ...),
    as in torch.nn.functional.pad. Negative padding crops, in every mode."""
    if not isinstance(input, Tensor):
        raise TypeError(f"pad: input must be a convpool.Tensor, got {type(input).__name__}")
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim or any(isinstance(p, bool) or not isinstance(p, int)
                                                         for p in pad):
        raise ValueError(f"pad: pad must hold an even number of ints, at most 2 per dimension of the "
                         f"input (shape {input.shape}), got pad={pad}")
    if mode not in MODES:
        raise ValueError(f"pad: mode must be one of {MODES}, got mode={mode!r}")
    if mode != "constant" and value not in (None, 0):
        raise ValueError(f"pad: value={value} is only meaningful with mode='constant', got mode={mode!r}")
    xp = array_module(input.data)
    n_axes = len(pad) // 2
    axes = [input.ndim - 1 - i for i in range(n_axes)]
    pairs = [(pad[2 * i], pad[2 * i + 1]) for i in range(n_axes)]
    if mode == "constant":
        return _constant(input, axes, pairs, 0.0 if value is None else value, xp)
    for axis, (before, after) in zip(axes, pairs, strict=True):
        size = input.shape[axis]
        kept = size - max(-before, 0) - max(-after, 0)  # what is left after negative padding crops
        if size == 0 or size + before + after <= 0 or (mode == "circular" and kept <= 0):
            raise ValueError(f"pad: {mode} padding {pad} would leave dimension {axis} of input shape "
                             f"{input.shape} empty (dimension {axis} has size {size})")
        # reflect reads the input itself; circular wraps at most once; replicate any width
        limit = {"reflect": size - 1, "circular": size}.get(mode, max(before, after))
        if max(before, after) > limit:
            rule = "smaller than" if mode == "reflect" else "at most"
            raise ValueError(f"pad: {mode} padding must be {rule} the input size along the padded dimension, "
                             f"got pad={pad} for input shape {input.shape} (dimension {axis} has size {size})")
    y = input
    for axis, (before, after) in zip(axes, pairs, strict=True):
        y = _gather(y, axis, _index_map(y.shape[axis], before, after, mode, xp), xp)
    return y


def _gather(x: Tensor, axis: int, index, xp) -> Tensor:
    y = xp.take(x.data, index, axis=axis)

    def grad_fn(g):
        one_hot = (index[:, None] == xp.arange(x.shape[axis])[None, :]).astype(g.dtype)
        moved = xp.moveaxis(g, axis, -1) @ one_hot
        return (xp.moveaxis(moved, -1, axis),)

    return Tensor.from_op(y, (x,), grad_fn, "pad")


def _constant(x: Tensor, axes, pairs, value, xp) -> Tensor:
    shape = list(x.shape)
    source = [slice(None)] * x.ndim
    target = [slice(None)] * x.ndim
    for axis, (before, after) in zip(axes, pairs, strict=True):
        size = x.shape[axis]
        shape[axis] = size + before + after
        if shape[axis] < 0:
            raise ValueError(f"pad: padding {(before, after)} would leave dimension {axis} of input shape "
                             f"{x.shape} with negative size")
        start, stop = max(0, -before), size - max(0, -after)
        source[axis] = slice(start, max(start, stop))
        target[axis] = slice(max(0, before), max(0, before) + max(0, stop - start))
    y = xp.full(tuple(shape), value, dtype=x.dtype)
    y[tuple(target)] = x.data[tuple(source)]

    def grad_fn(g):
        gx = xp.zeros(x.shape, dtype=g.dtype)
        gx[tuple(source)] = g[tuple(target)]
        return (gx,)

    return Tensor.from_op(y, (x,), grad_fn, "pad")
