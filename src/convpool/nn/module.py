"""Parameter, Module, Sequential and ModuleList: the bookkeeping under every layer.

A `Module` keeps three ordered registries, filled by plain attribute assignment as in
PyTorch: `self.weight = Parameter(...)` registers a parameter, `self.block = Conv2d(...)` a
submodule, and `register_buffer` a tensor that is state but not trained (BatchNorm's
running statistics). Everything else (`named_parameters`, `state_dict`, `train`, `to`,
`__repr__`) walks those registries, so a layer only writes `__init__` and `forward`, and a
residual block is a plain Python `forward` over its children.
"""

from __future__ import annotations

import numbers
import warnings
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy

from .. import backend
from ..hooks import RemovableHandle
from ..tensor import Tensor, is_grad_enabled, to_arguments

_HOOK_DICTS = ("_forward_pre_hooks", "_forward_hooks", "_backward_hooks")
_HOOK_SETS = ("_forward_pre_hooks_with_kwargs", "_forward_hooks_with_kwargs", "_forward_hooks_always_called")

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class StateDictError(RuntimeError, ValueError):
    """A state dict that does not fit the module: missing or unexpected keys, a shape or
    dtype that does not match. A RuntimeError as in PyTorch, and a ValueError as every
    bad argument in convpool."""


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable; requires_grad=True by default.

    Built from a Tensor it shares that tensor's array (as torch.nn.Parameter does)."""

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = numpy.empty((0,), dtype=numpy.float32)
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


def _check_name(kind: str, name: Any, owner: Module) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name must be a string, got {type(name).__name__}")
    if not name or "." in name:
        raise KeyError(f'{kind} name must be a non-empty string without ".", got {name!r}')
    registered = name in owner._parameters or name in owner._buffers or name in owner._modules
    if not registered and (name in owner.__dict__ or hasattr(type(owner), name)):
        raise KeyError(f"attribute {name!r} already exists on {type(owner).__name__}")


class Module:
    """Base class of every layer and network: subclass it, assign layers and Parameters as
    attributes in `__init__`, and write `forward`. Call the module, not `forward`."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        for registry in _HOOK_DICTS:
            object.__setattr__(self, registry, OrderedDict())
        for registry in _HOOK_SETS:
            object.__setattr__(self, registry, set())

    # ----- registration ----------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name, "_parameters")
            params[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(convpool.nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            if self.__dict__.get("_modules") is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name, "_modules")
            self._modules[name] = value
        elif "_modules" in self.__dict__ and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(convpool.nn.Module or None expected)")
            self._modules[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(convpool.Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str) -> None:
        """Drop name from the instance and from every registry but `keep` (re-registering
        in the same registry keeps the name's place in the order)."""
        self.__dict__.pop(name, None)
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry != keep:
                self.__dict__[registry].pop(name, None)
        if keep != "_buffers":
            self._non_persistent_buffers.discard(name)

    def __getattr__(self, name: str) -> Any:
        # only called when ordinary lookup fails: look in the registries
        for registry in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(registry)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register a Parameter (or None: a declared but absent parameter, like bias=False)."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name("parameter", name, self)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(convpool.nn.Parameter or None required)")
        self._forget(name, "_parameters")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register state that is not trained (running statistics, counters); it is saved in
        state_dict unless persistent=False, and follows `to(dtype)` when floating."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name("buffer", name, self)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(convpool.Tensor or None required)")
        self._forget(name, "_buffers")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a child module under name (what attribute assignment does)."""
        if "_modules" not in self.__dict__:
            raise AttributeError("cannot assign module before Module.__init__() call")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f'module name must be a non-empty string without ".", got {name!r}')
        self._forget(name, "_modules")
        self._modules[name] = module

    register_module = add_module

    # ----- traversal -------------------------------------------------------------------
    def named_modules(self, memo: set[int] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(qualified name, module) for this module and every descendant, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool,
                       persistent_only: bool = False) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        owners = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for owner_prefix, owner in owners:
            for name, value in owner.__dict__[registry].items():
                if value is None or (persistent_only and name in owner._non_persistent_buffers):
                    continue
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield (f"{owner_prefix}.{name}" if owner_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """("features.0.weight", Parameter) pairs; a parameter shared by two layers comes once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)  # type: ignore[misc]

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """fn(module) for every descendant, children first, then self (custom initialisation)."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def get_submodule(self, target: str) -> Module:
        """The module at a dotted path such as "features.0"."""
        module: Module = self
        for part in target.split(".") if target else []:
            child = module._modules.get(part)
            if child is None:
                raise AttributeError(f"{type(module).__name__} has no submodule {part!r} (path {target!r})")
            module = child
        return module

    # ----- modes and gradients ---------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch statistics) on this module and all below."""
        if not isinstance(mode, bool):
            raise ValueError(f"training mode is expected to be boolean, got {mode!r}")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: dropout off, BatchNorm uses its running statistics."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze every parameter."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter (to None, or zero-filled arrays)."""
        for param in self.parameters():
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad.data[...] = 0

    # ----- calling ---------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        own = self.__dict__
        if own.get("_forward_pre_hooks") or own.get("_forward_hooks") or own.get("_backward_hooks"):
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    # ----- hooks -------------------------------------------------------------------------
    def _hook_registry(self, name: str) -> Any:
        """The hook dict or id set `name`, made on first use (for modules built without it)."""
        if name not in self.__dict__:
            object.__setattr__(self, name, set() if name in _HOOK_SETS else OrderedDict())
        return self.__dict__[name]

    def _add_hook(self, registry: str, hook: Callable, prepend: bool, flags: dict[str, bool]) -> RemovableHandle:
        if not callable(hook):
            raise TypeError(f"{registry.strip('_').replace('_', ' ')[:-1]}: expected a callable, "
                            f"got {type(hook).__name__}")
        hooks = self._hook_registry(registry)
        id_sets = [self._hook_registry(name) for name in flags]
        handle = RemovableHandle(hooks, *id_sets)
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        for id_set, wanted in zip(id_sets, flags.values(), strict=True):
            if wanted:
                id_set.add(handle.id)
        return handle

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """hook(module, args) runs before forward in `module(...)`; returning a value
        replaces args (a non-tuple becomes a 1-tuple). With with_kwargs it is
        hook(module, args, kwargs) and returns None or (args, kwargs)."""
        return self._add_hook("_forward_pre_hooks", hook, prepend,
                              {"_forward_pre_hooks_with_kwargs": with_kwargs})

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """hook(module, args, output) runs after forward in `module(...)`; returning a value
        replaces the output. With with_kwargs it is hook(module, args, kwargs, output); with
        always_call it runs even when forward raised (the error then goes on)."""
        return self._add_hook("_forward_hooks", hook, prepend,
                              {"_forward_hooks_with_kwargs": with_kwargs,
                               "_forward_hooks_always_called": always_call})

    def register_full_backward_hook(self, hook: Callable) -> RemovableHandle:
        """hook(module, grad_input, grad_output) runs when the gradients with respect to the
        module's inputs have been computed; both are tuples (one entry per positional input,
        per output): Tensors (zeros for a tensor that gets no gradient), None for the
        inputs that are not tensors. Returning a tuple replaces
        grad_input. Set up in `module(...)` while grad is enabled."""
        return self._add_hook("_backward_hooks", hook, False, {})

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        """forward with the pre-hooks, forward hooks and backward hooks around it, in
        PyTorch's order: pre-hooks, backward-hook inputs, forward, forward hooks, outputs."""
        own = self.__dict__
        with_kwargs = own.get("_forward_pre_hooks_with_kwargs", set())
        for hook_id, hook in list(own.get("_forward_pre_hooks", {}).items()):
            if hook_id in with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, new_kwargs), "
                                           f"but got {type(result).__name__}")
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        backward_hook = None
        if own.get("_backward_hooks") and is_grad_enabled():
            from .backward_hook import BackwardHook

            backward_hook = BackwardHook(self, list(own["_backward_hooks"].values()))
            args = backward_hook.wrap_inputs(args)
        forward_hooks = list(own.get("_forward_hooks", {}).items())
        hook_kwargs = own.get("_forward_hooks_with_kwargs", set())
        called: set[int] = set()
        try:
            output = self.forward(*args, **kwargs)
            for hook_id, hook in forward_hooks:
                called.add(hook_id)
                result = hook(self, args, kwargs, output) if hook_id in hook_kwargs else hook(self, args, output)
                if result is not None:
                    output = result
        except Exception:
            always = own.get("_forward_hooks_always_called", set())
            for hook_id, hook in forward_hooks:
                if hook_id in always and hook_id not in called:
                    try:
                        hook(self, args, kwargs, None) if hook_id in hook_kwargs else hook(self, args, None)
                    except Exception as error:  # the forward's error is the one to report
                        warnings.warn(f"forward hook with always_call=True raised {error!r} while handling "
                                      "an error in forward", stacklevel=2)
            raise
        if backward_hook is not None:
            output = backward_hook.wrap_outputs(output)
        return output

    def summary(self, input_shape: tuple[int, ...], batch_size: int = 1, dtype: Any = None) -> Any:
        """The layer table (name, type, output shape, parameters, multiply-adds), traced from
        one forward pass: a `convpool.nn.Summary`, whose repr and str are the table.
        input_shape leaves out the batch axis. `print(model.summary((1, 28, 28)))`."""
        from .summary import summarize

        return summarize(self, input_shape, batch_size, dtype)

    # ----- state -----------------------------------------------------------------------
    def state_dict(self, *, destination: OrderedDict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """name -> tensor for every parameter and persistent buffer, with PyTorch's key names
        ("features.0.weight", "bn.running_mean", "bn.num_batches_tracked"). The tensors are
        detached host tensors: they share memory with a module on the CPU, and are copies of a
        module's GPU arrays, so a state dict saves and loads the same on every machine.
        With keep_vars, the module's own tensors (on their device)."""
        if destination is None:
            destination = OrderedDict()
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else Tensor(backend.to_host(param.data))
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent_buffers:
                destination[prefix + name] = buffer if keep_vars else Tensor(backend.to_host(buffer.data))
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=f"{prefix}{name}.", keep_vars=keep_vars)
        return destination

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values (convpool Tensors, NumPy arrays, anything numpy.asarray reads) into the
        existing arrays, so optimisers holding the parameters see the new values.

        Floating values are cast to the parameter's dtype. With strict, missing and unexpected
        keys are an error; a shape mismatch is always one. All problems are listed in one
        StateDictError; nothing is copied unless everything fits."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a mapping (dict), got {type(state_dict).__name__}")
        targets = self.state_dict(keep_vars=True)
        missing = [key for key in targets if key not in state_dict]
        unexpected = [key for key in state_dict if key not in targets]
        problems: list[str] = []
        if strict:
            if missing:
                problems.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
            if unexpected:
                problems.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
        copies = []
        for key, target in targets.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            source = backend.to_host(value.data) if isinstance(value, Tensor) else numpy.asarray(value)
            if tuple(source.shape) != target.shape:
                problems.append(f"size mismatch for {key}: copying a param with shape {tuple(source.shape)} from "
                                f"checkpoint, the shape in current model is {target.shape}.")
            elif not _castable(source, target.dtype):
                problems.append(f"dtype mismatch for {key}: cannot copy {source.dtype} values into a "
                                f"{target.dtype} tensor of the current model.")
            else:
                copies.append((target, source))
        if problems:
            raise StateDictError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                                 + "\n\t".join(problems))
        for target, source in copies:
            target.data[...] = backend.asarray(source.astype(target.dtype, copy=False), like=target.data)
        return IncompatibleKeys(missing, unexpected)

    # ----- device and dtype ------------------------------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> Module:
        """`to(device)`, `to(dtype)`, `to(device, dtype)` or keywords, as in PyTorch: moves
        parameters, their gradients and buffers to the device, and casts the floating ones to
        the dtype, in place (the Parameter objects stay the same, so optimisers keep working).
        Integer buffers such as num_batches_tracked keep their dtype."""
        target, dtype, _ = to_arguments(args, kwargs)
        if dtype is not None and dtype.kind != "f":
            raise TypeError(f"to: only floating dtypes can be given to a module, got {dtype}")
        for tensor in list(self.parameters()) + list(self.buffers()):
            for holder in (tensor, tensor.grad):
                if holder is None:
                    continue
                if target is not None:
                    holder.data = backend.to_device(holder.data, target)
                if dtype is not None and holder.dtype.kind == "f":
                    holder.data = holder.data.astype(dtype, copy=False)
        return self

    def cpu(self) -> Module:
        return self.to(backend.CPU)

    def cuda(self, device: int | str | None = None) -> Module:
        return self.to(backend.device("cuda" if device is None else f"cuda:{device}" if isinstance(device, int)
                                      else device))

    def double(self) -> Module:
        return self.to(numpy.float64)

    def float(self) -> Module:
        return self.to(numpy.float32)

    # ----- printing ----------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The layer's own settings, shown inside the parentheses of its repr."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _addindent(repr(module), 2) for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                body = extra_lines[0]
            else:
                body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))


def _castable(source: numpy.ndarray, dtype: numpy.dtype) -> bool:
    """Real numbers go into floating tensors; integer tensors take integers (or floats that
    are whole numbers, as a counter saved as a float would be)."""
    if dtype.kind == "f":
        return source.dtype.kind in "fiu"
    if dtype.kind in "iu":
        return source.dtype.kind in "iu" or (source.dtype.kind == "f" and bool(numpy.all(numpy.mod(source, 1) == 0)))
    return source.dtype == dtype


class Sequential(Module):
    """Modules applied one after the other; children are named "0", "1", ... (or by the
    keys of an OrderedDict). Indexable, sliceable, iterable."""

    def __init__(self, *args: Module | OrderedDict) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(args):
                self.add_module(str(index), module)

    def _index(self, index: int) -> str:
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"{type(self).__name__} indices must be integers or slices, got {type(index).__name__}")
        size = len(self)
        if not -size <= index < size:
            raise IndexError(f"index {index} is out of range for {type(self).__name__} of length {size}")
        return list(self._modules)[index % size]

    def __getitem__(self, index: int | slice) -> Module:
        if isinstance(index, slice):
            return type(self)(OrderedDict(list(self._modules.items())[index]))
        return self._modules[self._index(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        self.add_module(self._index(index), module)

    def __delitem__(self, index: int | slice) -> None:
        names = list(self._modules)[index] if isinstance(index, slice) else [self._index(index)]
        for name in names:
            del self._modules[name]
        if all(name.isdigit() for name in self._modules):  # keep "0", "1", ... contiguous, as torch
            kept = list(self._modules.values())
            self._modules.clear()
            for i, module in enumerate(kept):
                self._modules[str(i)] = module

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def forward(self, input: Any) -> Any:
        for module in self:
            input = module(input)
        return input


class ModuleList(Module):
    """A list of modules that registers them (children "0", "1", ...); it has no forward of
    its own: the owner's forward decides how they are used."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, index: int) -> str:
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"ModuleList indices must be integers or slices, got {type(index).__name__}")
        size = len(self)
        if not -size <= index < size:
            raise IndexError(f"index {index} is out of range for ModuleList of length {size}")
        return str(index % size)

    def __getitem__(self, index: int | slice) -> Module | ModuleList:
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return self._modules[self._index(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        self.add_module(self._index(index), module)

    def __delitem__(self, index: int | slice) -> None:
        kept = list(self._modules.values())
        del kept[index]
        self._modules.clear()
        self.extend(kept)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        self.extend(items)

    def __repr__(self) -> str:
        """PyTorch's compressed form: runs of identical layers print once as "(0-2): 3 x ..."."""
        reprs = [repr(module) for module in self]
        if not reprs:
            return "ModuleList()"
        blocks: list[list[Any]] = []
        for i, text in enumerate(reprs):
            if blocks and blocks[-1][2] == text:
                blocks[-1][1] = i
            else:
                blocks.append([i, i, text])
        lines = []
        for start, end, text in blocks:
            label = f"({start}): {text}" if start == end else f"({start}-{end}): {end - start + 1} x {text}"
            lines.append(_addindent(label, 2))
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"
