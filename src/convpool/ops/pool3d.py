"""3-D adaptive pooling and max-unpooling: the 1-D and 2-D versions' rules over (N, C, D, H, W).

They reuse the pooling engine's primitives (`max_pool`, `avg_pool`, `adaptive_max`,
`max_unpool` in ops/pool.py), so forward and backward are the ones the 1-D and 2-D layers
use: equal windows go through plain pooling, unequal ones through the separable averaging
matrices or the per-window argmax.
"""

from __future__ import annotations

from ..backend import array_module
from ..shapes import adaptive_windows
from ..tensor import Tensor
from .args import check_input, ntuple
from .basic import matmul
from .pool import _max_unpool, adaptive_max, avg_pool, max_pool

_ND = 3


def _output_size(op: str, x: Tensor, output_size) -> tuple[int, ...]:
    """output_size as 3 ints; an int is repeated, None keeps the input's size on that axis."""
    if isinstance(output_size, int) and not isinstance(output_size, bool):
        output_size = (output_size,) * _ND
    if not isinstance(output_size, tuple | list) or len(output_size) != _ND:
        raise TypeError(f"{op}: output_size must be an int or a tuple of {_ND} ints (or None), "
                        f"got {output_size!r}")
    output_size = tuple(x.shape[2 + i] if o is None else o for i, o in enumerate(output_size))
    return ntuple("output_size", output_size, _ND, 1, op)


def _equal_windows(sizes, out) -> tuple[int, ...] | None:
    """The kernel when every window has the same size (the input divides evenly), else None."""
    if all(n % o == 0 for n, o in zip(sizes, out, strict=True)):
        return tuple(n // o for n, o in zip(sizes, out, strict=True))
    return None


def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:
    """Average pooling of (N, C, D, H, W) (or unbatched (C, D, H, W)) to a fixed output size."""
    op = "adaptive_avg_pool3d"
    x, unbatched = check_input(op, input, _ND)
    out = _output_size(op, x, output_size)
    sizes = x.shape[2:]
    kernel = _equal_windows(sizes, out)
    if kernel is not None:
        y = avg_pool(x, kernel, kernel, ((0, 0),) * _ND, out, True, None)
    else:  # separable: average along each axis with a small (out, size) matrix
        xp = array_module(x.data)
        y = x
        for axis in range(_ND):
            matrix = xp.zeros((out[axis], sizes[axis]), dtype=x.dtype)
            for i, (start, end) in enumerate(adaptive_windows(sizes[axis], out[axis])):
                matrix[i, start:end] = 1.0 / (end - start)
            moved = y.transpose(2 + axis, y.ndim - 1)
            y = matmul(moved, Tensor(matrix.T.copy())).transpose(2 + axis, y.ndim - 1)
    return y.squeeze(0) if unbatched else y


def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling of (N, C, D, H, W) to a fixed output size; indices are flat within each
    (D, H, W) plane, as PyTorch's."""
    op = "adaptive_max_pool3d"
    x, unbatched = check_input(op, input, _ND)
    out = _output_size(op, x, output_size)
    kernel = _equal_windows(x.shape[2:], out)
    if kernel is not None:
        y, indices = max_pool(x, kernel, kernel, (1,) * _ND, ((0, 0),) * _ND, out, return_indices)
    else:
        y, indices = adaptive_max(x, out)
    if unbatched:
        y = y.squeeze(0)
        indices = Tensor(indices.data[0]) if indices is not None else None
    return (y, indices) if return_indices else y


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """Inverse of max_pool3d: values back at their argmax positions, zeros elsewhere."""
    return _max_unpool("max_unpool3d", _ND, input, indices, kernel_size, stride, padding, output_size)
