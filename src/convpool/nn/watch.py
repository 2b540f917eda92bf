"""Looking inside a network while it runs: forward hooks on chosen layers for one block.

`watch(layers, hook)` registers hook(name, module, args, output) as a forward hook on every
(name, module) pair while the `with` block runs and removes it afterwards, so the model's
own forward decides the order and the layers run exactly as they always do (a Sequential,
a residual block, any plain Python forward). The hook may return a replacement output.
`leaves(model)` names the layers without children, the usual ones to watch. The summary,
the live view, saliency and Grad-CAM, and the tour all look inside this way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from .module import Module

WatchHook = Callable[[str, Module, tuple, Any], Any]


def leaves(model: Module) -> list[tuple[str, Module]]:
    """(qualified name, module) of every module without children, in definition order; a
    model that is itself a leaf is named "model"."""
    return [(name or "model", m) for name, m in model.named_modules() if next(m.children(), None) is None]


@contextmanager
def watch(layers: Iterable[tuple[str, Module]], hook: WatchHook) -> Iterator[None]:
    """hook(name, module, args, output) after each call of each named layer inside the block."""
    handles = []
    try:
        for name, module in layers:
            handles.append(module.register_forward_hook(
                lambda m, args, output, name=name: hook(name, m, args, output)))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def modes_kept(model: Module) -> Iterator[None]:
    """Put every module's training flag back on leaving the block (which may call eval())."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training
