"""Other frameworks' files: PyTorch checkpoints read without PyTorch."""

from .torch_checkpoint import (
    TorchCheckpointError,
    UnsafeCheckpointError,
    is_torch_checkpoint,
    read_torch_checkpoint,
)

__all__ = ["read_torch_checkpoint", "is_torch_checkpoint", "UnsafeCheckpointError", "TorchCheckpointError"]
