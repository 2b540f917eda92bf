"""Tensor: an array plus the graph that made it, and reverse-mode differentiation over it.

As in micrograd, each op builds its output together with a closure that maps the output's
gradient to its inputs' gradients (`Tensor.from_op`). `backward()` orders the graph
topologically and runs the closures in reverse, summing the gradients of a tensor that is
used more than once. Leaves that require grad keep theirs in `.grad`, accumulating across
calls as in PyTorch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy

from . import backend
from .hooks import RemovableHandle

GradFn = Callable[[object], Sequence[object | None]]

_state = threading.local()


def is_grad_enabled() -> bool:
    """False inside `no_grad()`."""
    return getattr(_state, "grad_enabled", True)


@contextmanager
def _grad_mode(enabled: bool):
    previous = is_grad_enabled()
    _state.grad_enabled = enabled
    try:
        yield
    finally:
        _state.grad_enabled = previous


def no_grad():
    """Context manager (or decorator via `with`) that records no graph: for evaluation."""
    return _grad_mode(False)


def enable_grad():
    """Turn graph recording back on inside a `no_grad()` block."""
    return _grad_mode(True)


def _as_array(data, dtype=None, device=None):
    """An array from data; Python floats become the default dtype, as torch.tensor does.
    A device array (CuPy) stays on its device unless `device` says where to put it."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        dtype = numpy.dtype(dtype)
    if backend.array_module(data) is not numpy:
        array = data if dtype is None or data.dtype == dtype else data.astype(dtype)
        return array if device is None else backend.to_device(array, device)
    if isinstance(data, numpy.ndarray | numpy.generic):
        array = data
    else:
        array = numpy.asarray(data)
        if array.dtype == numpy.float64 and dtype is None:
            array = array.astype(backend.default_dtype())
        elif array.dtype.kind == "i" and dtype is None:
            array = array.astype(numpy.int64)
    if dtype is not None and array.dtype != dtype:
        array = array.astype(dtype)
    array = numpy.asarray(array)
    return array if device is None else backend.to_device(array, device)


class Tensor:
    """An n-dimensional array that records the operations that made it."""

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_grad_fn", "_name", "_hooks", "_retains_grad",
                 "_grad_hooks", "__weakref__")
    __array_priority__ = 1000  # numpy scalars on the left defer to Tensor's operators

    def __init__(self, data, dtype=None, requires_grad: bool = False, device=None):
        self.data = _as_array(data, dtype, device)
        self.grad: Tensor | None = None
        self._parents: tuple[Tensor, ...] = ()
        self._grad_fn: GradFn | None = None
        self._name = ""
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # ----- the graph -------------------------------------------------------------------
    @staticmethod
    def from_op(data, parents: Sequence[Tensor], grad_fn: GradFn, name: str) -> Tensor:
        """Wrap an op's output; record `grad_fn` only when a parent needs a gradient."""
        out = Tensor.__new__(Tensor)
        out.data = data
        out.grad = None
        out._name = name
        if is_grad_enabled() and any(p.requires_grad for p in parents):
            out.requires_grad = True
            out._parents = tuple(parents)
            out._grad_fn = grad_fn
        else:
            out.requires_grad = False
            out._parents = ()
            out._grad_fn = None
        return out

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def grad_fn(self) -> str | None:
        """Name of the op that made this tensor, or None for a leaf."""
        return self._name if self._grad_fn is not None else None

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {self.data.dtype}"
            )
        if not self.is_leaf:
            raise RuntimeError("requires_grad_ can only change leaf tensors")
        self.requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad`.

        `gradient` is the upstream gradient; it may be left out for a one-element tensor.
        The graph is freed afterwards unless `retain_graph` is set.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad (no input had requires_grad=True, "
                "or it was made under no_grad())"
            )
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: gradient can be left out only for a one-element tensor, "
                    f"this one has shape {self.shape}"
                )
            seed = backend.array_module(self.data).ones_like(self.data)
        else:
            seed = _as_array(gradient, self.data.dtype, self.device)
            if seed.shape != self.data.shape:
                raise ValueError(
                    f"backward: gradient has shape {seed.shape} but the tensor has shape {self.shape}"
                )
        run_backward([self], [seed], retain_graph)

    def register_hook(self, hook: Callable) -> RemovableHandle:
        """hook(grad) runs when the gradient with respect to this tensor has been computed;
        returning a Tensor replaces that gradient (for a leaf, before it goes into .grad).
        Returns a handle whose remove() takes the hook off."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that doesn't require gradient")
        if getattr(self, "_hooks", None) is None:
            self._hooks = {}
        handle = RemovableHandle(self._hooks)
        self._hooks[handle.id] = hook
        return handle

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in .grad after backward (a leaf keeps its own)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: can't retain_grad on Tensor that has requires_grad=False")
        if not self.is_leaf:
            self._retains_grad = True

    @property
    def retains_grad(self) -> bool:
        return bool(getattr(self, "_retains_grad", False))

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> Callable[[], None]:
        """Call hook(self) in backward() each time this leaf's `.grad` has been accumulated
        (PyTorch's name); returns a function that removes the hook. DistributedDataParallel
        uses it to start reducing a bucket of gradients as soon as they are complete."""
        if not self.is_leaf:
            raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors accumulate gradients")
        hooks = getattr(self, "_grad_hooks", None)
        if hooks is None:
            hooks = self._grad_hooks = []
        hooks.append(hook)
        return lambda: hook in hooks and hooks.remove(hook)

    def _topological_order(self) -> list[Tensor]:
        return _topological_order([self])

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def zero_grad_(self) -> None:
        self.grad = None

    # ----- plain facts -----------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> numpy.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def dim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    def numpy(self) -> numpy.ndarray:
        """The data as a NumPy array: shared for a CPU tensor, copied to the host from a GPU.
        Refused for a tensor that requires grad, as in PyTorch."""
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return backend.to_host(self.data)

    def tolist(self):
        return backend.to_host(self.data).tolist()

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors convert to a number, shape is {self.shape}")
        return backend.to_host(self.data).item()

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        body = numpy.array2string(backend.to_host(self.data), separator=", ", prefix="tensor(")
        extra = f", dtype={self.dtype}, shape={self.shape}"
        if self.device.type != "cpu":
            extra += f", device='{self.device}'"
        if self.requires_grad:
            extra += f", grad_fn={self._name}" if self._grad_fn is not None else ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __bool__(self) -> bool:
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __hash__(self) -> int:
        return id(self)

    # ----- device and dtype --------------------------------------------------------------
    @property
    def device(self) -> backend.device:
        """Where the data lives: device('cpu'), device('cuda', 0), ..."""
        return backend.device_of(self.data)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def to(self, *args, **kwargs) -> Tensor:
        """`to(device)`, `to(dtype)`, `to(device, dtype)`, `to(other)` or keywords `device=`,
        `dtype=`, as in PyTorch; `non_blocking` and `copy` are accepted. Differentiable: the
        gradient goes back to this tensor's device and dtype."""
        target, dtype, copy = to_arguments(args, kwargs)
        out = self
        if target is not None:
            out = _moved(out, target)
        if dtype is not None and numpy.dtype(dtype) != out.dtype:
            out = _ops.cast(out, dtype)
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self) -> Tensor:
        return _moved(self, backend.CPU)

    def cuda(self, device=None) -> Tensor:
        """This tensor on a GPU (`device` an index or 'cuda:N'; the first GPU by default)."""
        if device is None:
            device = "cuda"
        elif isinstance(device, int):
            device = f"cuda:{device}"
        return _moved(self, backend.device(device))

    def float(self) -> Tensor:
        return _ops.cast(self, backend.float32)

    def double(self) -> Tensor:
        return _ops.cast(self, backend.float64)

    def long(self) -> Tensor:
        return _ops.cast(self, backend.int64)

    def int(self) -> Tensor:
        return _ops.cast(self, "int32")

    def bool(self) -> Tensor:
        return _ops.cast(self, backend.bool_)

    def type(self, dtype=None):
        """The dtype's name with no argument; a cast with one."""
        return f"convpool.{self.dtype}" if dtype is None else _ops.cast(self, dtype)

    def is_floating_point(self) -> bool:
        return self.data.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        return bool(self.data.flags.c_contiguous)

    def contiguous(self) -> Tensor:
        return self if self.is_contiguous() else self.clone()

    def clone(self) -> Tensor:
        """A copy in a new buffer; the gradient passes straight through."""
        return Tensor.from_op(self.data.copy(), (self,), lambda g: (g,), "clone")

    # ----- arithmetic (ops/basic.py holds forward and backward) --------------------------
    def __add__(self, other): return _ops.add(self, other)
    def __radd__(self, other): return _ops.add(other, self)
    def __sub__(self, other): return _ops.sub(self, other)
    def __rsub__(self, other): return _ops.sub(other, self)
    def __mul__(self, other): return _ops.mul(self, other)
    def __rmul__(self, other): return _ops.mul(other, self)
    def __truediv__(self, other): return _ops.div(self, other)
    def __rtruediv__(self, other): return _ops.div(other, self)
    def __pow__(self, other): return _ops.pow(self, other)
    def __rpow__(self, other): return _ops.pow(other, self)
    def __matmul__(self, other): return _ops.matmul(self, other)
    def __rmatmul__(self, other): return _ops.matmul(other, self)
    def __neg__(self): return _ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _ops.abs(self)

    def __eq__(self, other): return _ops.compare(self, other, "eq")  # type: ignore[override]
    def __ne__(self, other): return _ops.compare(self, other, "ne")  # type: ignore[override]
    def __lt__(self, other): return _ops.compare(self, other, "lt")
    def __le__(self, other): return _ops.compare(self, other, "le")
    def __gt__(self, other): return _ops.compare(self, other, "gt")
    def __ge__(self, other): return _ops.compare(self, other, "ge")

    def __getitem__(self, index): return _ops.getitem(self, index)
    def __setitem__(self, index, value): _inplace().setitem(self, index, value)

    def __index__(self) -> int:
        """A one-element integer tensor as a Python index: `classes[predicted[j]]`."""
        if self.data.size != 1 or self.data.dtype.kind not in "iu":
            raise TypeError(f"only one-element integer tensors can be used as an index, got dtype {self.dtype} "
                            f"and shape {self.shape}")
        return int(self.item())

    # ----- the same operations as methods, with PyTorch's names ---------------------------
    def add(self, other, alpha=1): return _ops.add(self, other if alpha == 1 else other * alpha)
    def sub(self, other, alpha=1): return _ops.sub(self, other if alpha == 1 else other * alpha)
    def mul(self, other): return _ops.mul(self, other)
    def div(self, other): return _ops.div(self, other)
    def pow(self, exponent): return _ops.pow(self, exponent)
    def matmul(self, other): return _ops.matmul(self, other)
    def neg(self): return _ops.neg(self)
    def eq(self, other): return _ops.compare(self, other, "eq")
    def ne(self, other): return _ops.compare(self, other, "ne")
    def lt(self, other): return _ops.compare(self, other, "lt")
    def le(self, other): return _ops.compare(self, other, "le")
    def gt(self, other): return _ops.compare(self, other, "gt")
    def ge(self, other): return _ops.compare(self, other, "ge")
    def __invert__(self): return Tensor(~self.data) if self.dtype.kind in "biu" else _not_logical(self)
    def __and__(self, other): return _logical(self, other, "__and__")
    def __or__(self, other): return _logical(self, other, "__or__")
    def __xor__(self, other): return _logical(self, other, "__xor__")
    def t(self):
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor with at most 2 dims, got shape {self.shape}; use transpose")
        return self if self.ndim < 2 else _ops.transpose(self, 0, 1)
    def expand_as(self, other): return _ops.expand(self, other.shape)
    def view_as(self, other): return _ops.reshape(self, other.shape)
    def reshape_as(self, other): return _ops.reshape(self, other.shape)
    def type_as(self, other): return _ops.cast(self, other.dtype)
    def argmin(self, dim=None, keepdim=False): return _functions().argmin(self, dim, keepdim)
    def std(self, dim=None, unbiased=True, keepdim=False): return _select().std(self, dim, unbiased, keepdim)
    def norm(self, p=2, dim=None, keepdim=False): return _select().norm(self, p, dim, keepdim)
    def topk(self, k, dim=-1, largest=True, sorted=True): return _select().topk(self, k, dim, largest, sorted)
    def sort(self, dim=-1, descending=False, stable=False): return _select().sort(self, dim, descending, stable)
    def argsort(self, dim=-1, descending=False, stable=False):
        return _select().argsort(self, dim, descending, stable)
    def chunk(self, chunks, dim=0): return _select().chunk(self, chunks, dim)
    def split(self, split_size, dim=0): return _select().split(self, split_size, dim)
    def repeat(self, *repeats): return _select().repeat(self, _shape_args(repeats))
    def masked_fill(self, mask, value): return _select().masked_fill(self, mask, value)
    def gather(self, dim, index): return _select().gather(self, dim, index)
    def softmax(self, dim): return _activation().softmax(self, dim)
    def log_softmax(self, dim): return _activation().log_softmax(self, dim)

    # ----- in place (ops/inplace.py says when the buffer itself changes) -----------------
    def add_(self, other, alpha=1): return _inplace().apply(self, lambda x: x.add(other, alpha), "add_")
    def sub_(self, other, alpha=1): return _inplace().apply(self, lambda x: x.sub(other, alpha), "sub_")
    def mul_(self, other): return _inplace().apply(self, lambda x: _ops.mul(x, other), "mul_")
    def div_(self, other): return _inplace().apply(self, lambda x: _ops.div(x, other), "div_")
    def clamp_(self, min=None, max=None): return _inplace().apply(self, lambda x: _ops.clamp(x, min, max), "clamp_")
    def masked_fill_(self, mask, value):
        return _inplace().apply(self, lambda x: _select().masked_fill(x, mask, value), "masked_fill_")
    def copy_(self, source, non_blocking=False): return _inplace().copy_(self, source)
    def fill_(self, value): return _inplace().fill_(self, value)
    def zero_(self): return _inplace().fill_(self, 0)

    def exp(self): return _ops.exp(self)
    def log(self): return _ops.log(self)
    def sqrt(self): return _ops.sqrt(self)
    def abs(self): return _ops.abs(self)
    def sum(self, dim=None, keepdim=False): return _ops.sum(self, dim, keepdim)
    def mean(self, dim=None, keepdim=False): return _ops.mean(self, dim, keepdim)
    def max(self, dim=None, keepdim=False): return _functions().max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return _functions().min(self, dim, keepdim)
    def argmax(self, dim=None, keepdim=False): return _ops.argmax(self, dim, keepdim)
    def var(self, dim=None, unbiased=True, keepdim=False): return _ops.var(self, dim, unbiased, keepdim)
    def reshape(self, *shape): return _ops.reshape(self, _shape_args(shape))
    def view(self, *shape): return _ops.reshape(self, _shape_args(shape))
    def flatten(self, start_dim=0, end_dim=-1): return _ops.flatten(self, start_dim, end_dim)
    def transpose(self, dim0, dim1): return _ops.transpose(self, dim0, dim1)
    def permute(self, *dims): return _ops.permute(self, _shape_args(dims))
    def unsqueeze(self, dim): return _ops.unsqueeze(self, dim)
    def squeeze(self, dim=None): return _ops.squeeze(self, dim)
    def expand(self, *shape): return _ops.expand(self, _shape_args(shape))
    def relu(self): return _activation().relu(self)
    def sigmoid(self): return _activation().sigmoid(self)
    def tanh(self): return _activation().tanh(self)
    def clamp(self, min=None, max=None): return _ops.clamp(self, min, max)

    @property
    def T(self):
        return _ops.permute(self, tuple(reversed(range(self.ndim))))


def run_backward(roots: Sequence[Tensor], seeds: Sequence[object], retain_graph: bool = False,
                 inputs: Sequence[Tensor] | None = None) -> dict[int, object]:
    """Backpropagate seeds (arrays shaped as roots) through the graph, running every node's
    closure once with the sum of the gradients that reach it, after the tensor's hooks.

    Without `inputs`: leaves that require grad accumulate into `.grad` (and non-leaves that
    retain_grad() keep theirs). With `inputs` (autograd.grad): no `.grad` changes; only the
    part of the graph that leads to an input runs, and the gradients of the inputs are
    returned by id. The closures are freed afterwards unless retain_graph is set."""
    order = _topological_order(roots)
    wanted = None if inputs is None else {id(x) for x in inputs}
    needed: set[int] = set()
    if wanted is not None:  # parents come before children in the reversed order
        for node in reversed(order):
            if id(node) in wanted or any(id(p) in needed for p in node._parents):
                needed.add(id(node))
    grads: dict[int, object] = {}
    for root, seed in zip(roots, seeds, strict=True):
        key = id(root)
        grads[key] = seed if key not in grads else grads[key] + seed
    captured: dict[int, object] = {}
    for node in order:
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if getattr(node, "_hooks", None):
            g = _run_hooks(node, g)
        if wanted is not None:
            if id(node) in wanted:
                captured[id(node)] = g
            if node._grad_fn is None or not any(id(p) in needed for p in node._parents):
                continue
        elif node._grad_fn is None:
            if node.grad is None:  # a private, writable copy: g may be shared or a broadcast view
                node.grad = Tensor(backend.array_module(g).array(g, dtype=node.data.dtype, copy=True))
            else:
                node.grad = Tensor((node.grad.data + g).astype(node.data.dtype, copy=False))
            for hook in getattr(node, "_grad_hooks", None) or ():  # register_post_accumulate_grad_hook
                hook(node)
            continue
        elif getattr(node, "_retains_grad", False):
            node.grad = Tensor(backend.array_module(g).array(g, dtype=node.data.dtype, copy=True)) \
                if node.grad is None else Tensor((node.grad.data + g).astype(node.data.dtype, copy=False))
        parent_grads = node._grad_fn(g)
        for parent, pg in zip(node._parents, parent_grads, strict=True):
            if pg is None or not parent.requires_grad or (wanted is not None and id(parent) not in needed):
                continue
            key = id(parent)
            grads[key] = pg if key not in grads else grads[key] + pg
        if not retain_graph:
            node._grad_fn = _freed
    return captured


def _run_hooks(node: Tensor, g):
    """The gradient after node's register_hook hooks (each may return a replacement)."""
    for hook in list(node._hooks.values()):
        result = hook(Tensor(g))
        if result is not None:
            if not isinstance(result, Tensor) or result.shape != node.shape:
                raise RuntimeError(f"a tensor hook must return None or a Tensor of the tensor's shape {node.shape}, "
                                   f"got {type(result).__name__}"
                                   + (f" of shape {result.shape}" if isinstance(result, Tensor) else ""))
            g = result.data
    return g


def _topological_order(roots: Sequence[Tensor]) -> list[Tensor]:
    """Nodes that need a gradient, outputs first (iterative: deep graphs are fine)."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False) for root in reversed(roots)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node._parents:
            if parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    order.reverse()
    return order


def _moved(x: Tensor, target) -> Tensor:
    """x on `target` (itself when already there); the gradient flows back to x's device."""
    target = backend.device(target)
    source = x.device
    data = backend.to_device(x.data, target)
    if data is x.data:
        return x
    return Tensor.from_op(data, (x,), lambda g: (backend.to_device(g, source),), "to")


def to_arguments(args, kwargs):
    """(device or None, dtype or None, copy) from the arguments of Tensor.to and Module.to:
    a device, a dtype, both, a tensor to match, or the keywords, as in PyTorch."""
    unknown = set(kwargs) - {"device", "dtype", "non_blocking", "copy", "memory_format"}
    if unknown:
        raise TypeError(f"to: unexpected keyword argument(s) {sorted(unknown)}")
    target, dtype = kwargs.get("device"), kwargs.get("dtype")
    for arg in args:
        if isinstance(arg, Tensor):
            target, dtype = arg.device, arg.dtype
        elif isinstance(arg, backend.device):
            target = arg
        elif isinstance(arg, str) and _looks_like_device(arg):
            target = backend.device(arg)
        elif isinstance(arg, bool):  # to(device, dtype, non_blocking): accepted, ignored
            continue
        else:
            try:
                dtype = numpy.dtype(arg)
            except TypeError:
                raise TypeError(f"to: expected a device ('cpu', 'cuda', 'cuda:N'), a dtype or a tensor, "
                                f"got {arg!r}") from None
    if target is not None:
        target = backend.device(target)
    if dtype is not None:
        try:
            dtype = numpy.dtype(dtype)
        except TypeError:
            raise TypeError(f"to: expected a dtype such as convpool.float64, got dtype={dtype!r}") from None
    return target, dtype, bool(kwargs.get("copy", False))


def _looks_like_device(name: str) -> bool:
    try:
        backend.device(name)
    except ValueError:
        return False
    return True


def _freed(_g):
    raise RuntimeError(
        "backward through a graph a second time: its saved values were freed; "
        "pass retain_graph=True to the first backward()"
    )


def _activation():
    from .ops import activation
    return activation


def _select():
    from .ops import select
    return select


def _inplace():
    from .ops import inplace
    return inplace


def _functions():
    from . import functions
    return functions


def _logical(a: Tensor, other, how: str) -> Tensor:
    other = _ops.as_tensor(other, a)
    if a.dtype.kind not in "biu" or other.dtype.kind not in "biu":
        raise TypeError(f"{how.strip('_')}: bitwise and logical operators take bool or integer tensors, "
                        f"got {a.dtype} and {other.dtype}")
    return Tensor(getattr(a.data, how)(other.data))


def _not_logical(a: Tensor) -> Tensor:
    raise TypeError(f"~ takes bool or integer tensors, got {a.dtype}")


def _shape_args(args) -> tuple[int, ...]:
    if len(args) == 1 and not isinstance(args[0], int | numpy.integer):
        return tuple(args[0])
    return tuple(args)


from .ops import basic as _ops  # noqa: E402  (the ops import Tensor from this module)
