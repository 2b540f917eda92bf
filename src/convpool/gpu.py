"""GPU policy for CuPy arrays: matrix products in true float32 unless TF32 is allowed.

Imported by `backend` the first time the `cuda` device is used; nothing here runs without
CuPy. NVIDIA's TF32 mode rounds float32 products' inputs to 10 mantissa bits, which is
faster on Ampere and later GPUs but no longer agrees with the CPU to float32 precision, so
it is off unless `allow_tf32(True)` is called (PyTorch's
`torch.backends.cuda.matmul.allow_tf32` plays the same role).
"""

from __future__ import annotations

import os

_tf32 = False


def allow_tf32(enabled: bool = True) -> None:
    """Let cuBLAS use TF32 for float32 matrix products (off by default)."""
    global _tf32
    _tf32 = bool(enabled)
    _apply()


def tf32_allowed() -> bool:
    return _tf32


def _apply() -> None:
    # CuPy reads CUPY_TF32 when it creates its cuBLAS handles; setting it before first use
    # decides the mode for the process.
    os.environ["CUPY_TF32"] = "1" if _tf32 else "0"


_apply()
