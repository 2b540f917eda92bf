"""Flatten merges dims start_dim..end_dim into one (by default all but the batch); Unflatten
splits one dim into several."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..tensor import Tensor
from .module import Module


class Flatten(Module):
    """(N, C, H, W) -> (N, C*H*W) with the defaults start_dim=1, end_dim=-1."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim into unflattened_size (one entry may be -1): (N, 12) -> (N, 3, 4)."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        sizes = tuple(unflattened_size)
        if not sizes or any(isinstance(n, bool) or not isinstance(n, int) for n in sizes) or \
                sum(1 for n in sizes if n == -1) > 1:
            raise ValueError(f"Unflatten: unflattened_size must be a non-empty tuple of ints with at most one -1, "
                             f"got {unflattened_size!r}")
        self.dim = dim
        self.unflattened_size = sizes

    def forward(self, input: Tensor) -> Tensor:
        n = input.ndim
        if not -n <= self.dim < n:
            raise IndexError(f"Unflatten: dim={self.dim} is out of range for input shape {input.shape}")
        dim = self.dim % n
        sizes = self.unflattened_size
        known = math.prod(s for s in sizes if s != -1)
        size = input.shape[dim]
        if -1 in sizes:
            if known == 0 or size % known:
                raise ValueError(f"Unflatten: dim {self.dim} of input shape {input.shape} (size {size}) cannot be "
                                 f"split into {sizes}")
            sizes = tuple(size // known if s == -1 else s for s in sizes)
        elif known != size:
            raise ValueError(f"Unflatten: unflattened_size {sizes} has {known} elements, but dim {self.dim} of "
                             f"input shape {input.shape} has size {size}")
        return input.reshape(input.shape[:dim] + sizes + input.shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
