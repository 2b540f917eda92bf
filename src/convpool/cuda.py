"""`convpool.cuda`: PyTorch's `torch.cuda` questions, answered through CuPy.

`is_available()` is False (never an error) without CuPy or without an NVIDIA GPU, so
device-agnostic code can write `device = "cuda" if convpool.cuda.is_available() else "cpu"`.
"""

from __future__ import annotations

from . import backend
from .gpu import allow_tf32, tf32_allowed


def is_available() -> bool:
    """True when CuPy is installed and sees at least one NVIDIA GPU."""
    return backend.cuda_is_available()


def device_count() -> int:
    """Number of GPUs (0 without CuPy or a GPU)."""
    return backend.cuda_device_count()


def manual_seed(seed: int) -> None:
    """Seed every generator, the GPUs' included (the same as convpool.manual_seed)."""
    backend.manual_seed(seed)


manual_seed_all = manual_seed


def synchronize() -> None:
    """Wait until the GPU has finished its queued work (for timing); no-op without a GPU."""
    if is_available():
        import cupy

        cupy.cuda.get_current_stream().synchronize()


__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all", "synchronize", "allow_tf32",
           "tf32_allowed"]
