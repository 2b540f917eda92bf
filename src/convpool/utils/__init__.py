"""Utilities under torch.utils' names: `convpool.utils.data` (Dataset, DataLoader, ...)."""

from . import data

__all__ = ["data"]
