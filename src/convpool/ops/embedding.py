"""Lookup tables: F.embedding (rows of a weight matrix picked by integer index) and
F.one_hot (the indicator vectors of class indices).

embedding's backward scatters the upstream rows into a zero gradient of the weight's
shape, adding rows whose index repeats (`add.at`); the padding_idx row gets no gradient,
and scale_grad_by_freq divides each row's gradient by how often its index occurs in the
batch, as PyTorch does. The gradient is dense even when sparse=True is passed (convpool
has no sparse tensors); its values are the same.
"""

from __future__ import annotations

import numbers

import numpy

from ..backend import array_module
from ..tensor import Tensor, no_grad
from .basic import as_tensor


def embedding(input, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """weight[input]: input holds indices into the rows of weight (num_embeddings, dim); the
    output has shape input.shape + (dim,). max_norm renormalises, in place, each looked-up
    row whose norm_type-norm exceeds it, as PyTorch does."""
    indices = as_tensor(input)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding: input must hold integer indices, got dtype {indices.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    rows = weight.shape[0]
    xp = array_module(weight.data)
    index = indices.data.astype(numpy.int64, copy=False)
    if index.size and (int(index.min()) < 0 or int(index.max()) >= rows):
        bad = int(index.min()) if int(index.min()) < 0 else int(index.max())
        raise IndexError(f"embedding: index {bad} is out of range for a weight with {rows} rows "
                         f"(expected 0 <= index < {rows})")
    padding_idx = _padding_index(padding_idx, rows)
    if max_norm is not None:
        _renormalize(weight, index, float(max_norm), float(norm_type))
    y = weight.data[index]

    def grad_fn(g):
        gw = xp.zeros(weight.shape, dtype=g.dtype)
        flat_index = index.reshape(-1)
        flat_g = g.reshape(-1, weight.shape[1])
        if scale_grad_by_freq and flat_index.size:
            counts = xp.bincount(flat_index, minlength=rows)
            flat_g = flat_g / counts[flat_index][:, None].astype(g.dtype)
        xp.add.at(gw, flat_index, flat_g)
        if padding_idx is not None:
            gw[padding_idx] = 0
        return (gw,)

    return Tensor.from_op(y, (weight,), grad_fn, "embedding")


def _padding_index(padding_idx, rows: int) -> int | None:
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral) or \
            not -rows <= padding_idx < rows:
        raise ValueError(f"embedding: padding_idx must be an int in [{-rows}, {rows}) for a weight with {rows} "
                         f"rows, got padding_idx={padding_idx!r}")
    return int(padding_idx) % rows


def _renormalize(weight: Tensor, index, max_norm: float, norm_type: float) -> None:
    """Scale the looked-up rows with norm > max_norm down to max_norm (+1e-7 guard), in place."""
    xp = array_module(weight.data)
    with no_grad():
        unique = xp.unique(index.reshape(-1))
        rows = weight.data[unique]
        norms = (xp.abs(rows) ** norm_type).sum(axis=1) ** (1 / norm_type)
        over = norms > max_norm
        scale = max_norm / (norms[over] + 1e-7)
        weight.data[unique[over]] = rows[over] * scale[:, None].astype(weight.dtype)


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """int64 indicator vectors: shape tensor.shape + (num_classes,), 1 at each index. With
    num_classes=-1 the class count is the largest index + 1."""
    indices = as_tensor(tensor)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"one_hot: tensor must hold integer class indices, got dtype {indices.dtype}")
    xp = array_module(indices.data)
    index = indices.data.astype(numpy.int64, copy=False)
    if num_classes == -1:
        if index.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; pass num_classes")
        num_classes = int(index.max()) + 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be a positive int or -1, got num_classes={num_classes!r}")
    if index.size and (int(index.min()) < 0 or int(index.max()) >= num_classes):
        raise ValueError(f"one_hot: class values must lie in [0, {num_classes}), got values from "
                         f"{int(index.min())} to {int(index.max())}")
    return Tensor(xp.arange(num_classes) == index[..., None]).long()
