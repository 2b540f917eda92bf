"""The functions of PyTorch's top-level namespace that CNN code reaches for (`torch.flatten`,
`torch.max(x, 1)`, `torch.softmax`, `torch.equal`, `torch.inference_mode`, ...), as thin
wrappers over the ops, with PyTorch's names, arguments and results."""

from __future__ import annotations

import builtins
from contextlib import contextmanager

from . import backend
from .ops import activation, basic, select
from .ops.select import values_indices
from .tensor import Tensor, _grad_mode, no_grad


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else basic.as_tensor(x)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return basic.flatten(input, start_dim, end_dim)


def matmul(input: Tensor, other: Tensor) -> Tensor:
    return basic.matmul(input, other)


def _extreme(input: Tensor, dim, keepdim: bool, largest: bool):
    """torch.max / torch.min: over everything, along dim ((values, indices)), or elementwise
    against a second tensor."""
    if isinstance(dim, Tensor):
        return maximum(input, dim) if largest else minimum(input, dim)
    result = basic.max(input, dim, keepdim) if largest else basic.min(input, dim, keepdim)
    return values_indices(*result) if dim is not None else result


def max(input: Tensor, dim=None, keepdim: bool = False):
    return _extreme(input, dim, keepdim, largest=True)


def min(input: Tensor, dim=None, keepdim: bool = False):
    return _extreme(input, dim, keepdim, largest=False)


def maximum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise larger of two tensors (NaN propagates; ties share the gradient)."""
    return basic.maximum(input, other)


def minimum(input: Tensor, other: Tensor) -> Tensor:
    return basic.maximum(input, other, largest=False)


def argmax(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return basic.argmax(input, dim, keepdim)


def argmin(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return basic.argmax(-input, dim, keepdim) if input.dtype.kind != "b" else basic.argmax(~input, dim, keepdim)


def sum(input: Tensor, dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    input = input if dtype is None else basic.cast(input, dtype)
    if input.dtype.kind in "biu" and dtype is None:  # torch sums integers and bools as int64
        input = basic.cast(input, backend.int64)
    return basic.sum(input, dim, keepdim)


def mean(input: Tensor, dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    input = input if dtype is None else basic.cast(input, dtype)
    if input.dtype.kind != "f":
        raise TypeError(f"mean: input dtype should be floating point, got {input.dtype} (give dtype=)")
    return basic.mean(input, dim, keepdim)


def exp(input: Tensor) -> Tensor:
    return basic.exp(input)


def log(input: Tensor) -> Tensor:
    return basic.log(input)


def sqrt(input: Tensor) -> Tensor:
    return basic.sqrt(input)


def abs(input: Tensor) -> Tensor:
    return basic.abs(input)


def softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    return activation.softmax(input if dtype is None else basic.cast(input, dtype), dim)


def log_softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    return activation.log_softmax(input if dtype is None else basic.cast(input, dtype), dim)


def sigmoid(input: Tensor) -> Tensor:
    return activation.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    return activation.tanh(input)


def relu(input: Tensor) -> Tensor:
    return activation.relu(input)


def clamp(input: Tensor, min=None, max=None) -> Tensor:
    return basic.clamp(input, min, max)


clip = clamp


def reshape(input: Tensor, shape) -> Tensor:
    return basic.reshape(input, tuple(shape))


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    return basic.transpose(input, dim0, dim1)


def permute(input: Tensor, dims) -> Tensor:
    return basic.permute(input, tuple(dims))


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    return basic.unsqueeze(input, dim)


def squeeze(input: Tensor, dim=None) -> Tensor:
    return basic.squeeze(input, dim)


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> values_indices:
    return select.sort(input, dim, descending, stable)


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    return select.argsort(input, dim, descending, stable)


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> values_indices:
    return select.topk(input, k, dim, largest, sorted)


def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:
    return select.gather(input, dim, index)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    return select.chunk(input, chunks, dim)


def split(input: Tensor, split_size_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    return select.split(input, split_size_or_sections, dim)


def std(input: Tensor, dim=None, unbiased: bool = True, keepdim: bool = False, correction=None) -> Tensor:
    return select.std(input, dim, unbiased, keepdim, correction)


def var(input: Tensor, dim=None, unbiased: bool = True, keepdim: bool = False) -> Tensor:
    return basic.var(input, dim, unbiased, keepdim)


def norm(input: Tensor, p=2, dim=None, keepdim: bool = False) -> Tensor:
    return select.norm(input, p, dim, keepdim)


def equal(input: Tensor, other: Tensor) -> bool:
    """True when both have the same shape and the same values."""
    input, other = _tensor(input), _tensor(other)
    if input.shape != other.shape:
        return False
    return builtins.bool(basic.compare(input, other, "eq").data.all())


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """|input - other| <= atol + rtol * |other| everywhere, as torch.allclose."""
    input, other = basic._pair(_tensor(input), _tensor(other))
    xp = backend.array_module(input.data)
    return builtins.bool(xp.allclose(input.data, other.data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    input, other = basic._pair(_tensor(input), _tensor(other))
    xp = backend.array_module(input.data)
    return Tensor(xp.isclose(input.data, other.data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def is_floating_point(input: Tensor) -> bool:
    return input.dtype.kind == "f"


def numel(input: Tensor) -> int:
    return input.numel()


def set_grad_enabled(mode: bool):
    """Turn graph recording on or off: as a context manager, or for the thread from now on
    when used as a plain call (as torch.set_grad_enabled)."""
    from .tensor import _state

    previous = getattr(_state, "grad_enabled", True)
    _state.grad_enabled = builtins.bool(mode)

    class _Restore:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            _state.grad_enabled = previous
            return False

    return _Restore()


@contextmanager
def inference_mode(mode: bool = True):
    """no_grad() for evaluation (PyTorch's faster variant; here the same thing)."""
    if mode:
        with no_grad():
            yield
    else:
        with _grad_mode(True):
            yield
