"""Where a layer's parameters live: layer constructors take PyTorch's `device=` and create
their parameters on the host, then move the whole layer there with `Module.to(device)`."""

from __future__ import annotations

from typing import Any

from .module import Module


def place(module: Module, device: Any) -> None:
    """Move module to device unless it is None or the CPU (where parameters are made)."""
    if device is None or str(device) == "cpu":
        return
    module.to(device)
