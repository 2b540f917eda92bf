"""Shape arithmetic, once: the output-size formula, 'same' padding, ceil mode, transposed
convolution and adaptive pooling windows. Ops, layers, summaries and pictures all call here.

The article's formula is out = (W - K + 2P) / S + 1. With dilation D the kernel spans
D(K-1)+1 pixels, and a stride that does not divide evenly drops the remainder:

    out = floor((W + 2P - D(K-1) - 1) / S) + 1

so a 256-pixel image with a 3-pixel kernel and stride 3 gives floor(253/3) + 1 = 85.
"""

from __future__ import annotations

from collections.abc import Sequence

IntOrTuple = int | Sequence[int]


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _non_negative(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return value


def output_length(
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Output length along one axis. `padding` is one int or a (before, after) pair.

    Ceil mode follows PyTorch: round up, but drop a last window that would start in the
    right padding (it must start inside the input or the left padding).
    """
    _non_negative("size", size)
    _positive("kernel_size", kernel_size)
    _positive("stride", stride)
    _positive("dilation", dilation)
    before, after = (padding, padding) if isinstance(padding, int) else tuple(padding)
    _non_negative("padding", before)
    _non_negative("padding", after)
    extent = dilation * (kernel_size - 1) + 1
    span = size + before + after - extent
    if span < 0:
        raise ValueError(
            f"kernel larger than the padded input: kernel_size={kernel_size} with dilation={dilation} "
            f"spans {extent} but the input has size {size} with padding ({before}, {after})"
        )
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + before:
        out -= 1
    return out


def _expand(name: str, value: IntOrTuple, n: int) -> tuple:
    if isinstance(value, int | str) or value is None:
        return (value,) * n
    value = tuple(value)
    if len(value) == 1:
        return value * n
    if len(value) != n:
        raise ValueError(f"{name} must be one value or {n} values, got {value!r}")
    return value


def output_size(
    size: IntOrTuple,
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
) -> int | tuple[int, ...]:
    """floor((W + 2P - D(K-1) - 1) / S) + 1 for each spatial axis.

    >>> output_size(256, 3, stride=3)
    85
    >>> output_size((32, 32), 1, stride=2, ceil_mode=True)
    (16, 16)
    """
    if isinstance(size, int):
        return output_length(size, kernel_size, stride, padding, dilation, ceil_mode)
    size = tuple(size)
    n = len(size)
    ks, ss, ps, ds = (_expand(name, v, n) for name, v in
                      (("kernel_size", kernel_size), ("stride", stride), ("padding", padding),
                       ("dilation", dilation)))
    return tuple(output_length(*args, ceil_mode) for args in zip(size, ks, ss, ps, ds, strict=True))


def same_padding(kernel_size: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding that keeps the size at stride 1; the odd pixel goes after,
    as in PyTorch (conv1d of [1..5] with kernel [0, 1] and 'same' gives [2, 3, 4, 5, 0])."""
    total = dilation * (kernel_size - 1)
    return total // 2, total - total // 2


def transposed_output_length(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1,
    output_padding: int = 0,
) -> int:
    """Length produced by a transposed convolution: (W-1)S - 2P + D(K-1) + output_padding + 1."""
    out = (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
    if out <= 0:
        raise ValueError(
            f"transposed convolution gives a non-positive output size {out} for input size {size}, "
            f"kernel_size={kernel_size}, stride={stride}, padding={padding}, dilation={dilation}, "
            f"output_padding={output_padding}"
        )
    return out


def adaptive_windows(size: int, out: int) -> list[tuple[int, int]]:
    """[start, end) of each adaptive-pooling window: floor(i*W/out) to ceil((i+1)*W/out)."""
    _positive("output_size", out)
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def window_touches_input(size: int, kernel_size: int, stride: int, before: int, dilation: int,
                         out: int) -> bool:
    """True when every window has at least one tap inside [0, size)."""
    for i in range(out):
        start = i * stride - before
        if not any(0 <= start + j * dilation < size for j in range(kernel_size)):
            return False
    return True


def padded_length(size: int, padding: int | tuple[int, int]) -> int:
    """Length along one axis after padding: one int for both sides or a (before, after) pair."""
    before, after = (padding, padding) if isinstance(padding, int) else tuple(padding)
    return size + before + after
