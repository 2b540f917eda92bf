"""Fully connected layer: y = x W^T + b over the last dim of x.

All leading dims of x are flattened into one batch of rows, so forward and both gradients
are single 2-D matrix products (no per-batch weight gradients summed afterwards):

    y  = x2 W^T + b        x2: (M, in), W: (out, in), y: (M, out)
    gx = gy W              (M, in)
    gW = gy^T x2           (out, in)
    gb = sum over rows of gy
"""

from __future__ import annotations

from .. import backend
from ..tensor import Tensor
from .args import check_same_dtype


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """input @ weight.T + bias, for input (*, in_features) and weight (out_features, in_features)."""
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    out_features, in_features = weight.shape
    if input.ndim == 0 or input.shape[-1] != in_features:
        got = "a 0-d input" if input.ndim == 0 else f"in_features={input.shape[-1]}"
        raise ValueError(
            f"linear: input has {got} (last dim of input shape {input.shape}) but weight of shape "
            f"{weight.shape} expects in_features={in_features}"
        )
    if bias is not None and bias.shape != (out_features,):
        raise ValueError(f"linear: bias must have shape ({out_features},) to match weight {weight.shape}, "
                         f"got {bias.shape}")
    check_same_dtype("linear", input=input, weight=weight, bias=bias)
    x2 = input.data.reshape(-1, in_features)
    w = weight.data
    y = backend.matmul(x2, w.T)
    if bias is not None:
        y += bias.data
    out_shape = input.shape[:-1] + (out_features,)

    def grad_fn(g):
        g2 = g.reshape(-1, out_features)
        gx = backend.matmul(g2, w).reshape(input.shape) if input.requires_grad else None
        gw = backend.matmul(g2.T, x2) if weight.requires_grad else None
        gb = g2.sum(axis=0) if bias is not None and bias.requires_grad else None
        return (gx, gw) if bias is None else (gx, gw, gb)

    parents = (input, weight) if bias is None else (input, weight, bias)
    return Tensor.from_op(y.reshape(out_shape), parents, grad_fn, "linear")


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y_k = x1^T W_k x2 + b_k for input1 (*, in1), input2 (*, in2), weight (out, in1, in2).
    Composed from matmul, mul and sum, so every gradient comes from them."""
    from .basic import add, matmul, mul, permute, reshape, sum

    if weight.ndim != 3:
        raise ValueError(f"bilinear: weight must be 3-D (out_features, in1_features, in2_features), got {weight.shape}")
    out_features, in1, in2 = weight.shape
    if input1.ndim == 0 or input1.shape[-1] != in1 or input2.shape[-1:] != (in2,) or \
            input1.shape[:-1] != input2.shape[:-1]:
        raise ValueError(f"bilinear: inputs {input1.shape} and {input2.shape} must share their leading dims and end "
                         f"with in1_features={in1} and in2_features={in2} of weight {weight.shape}")
    if bias is not None and bias.shape != (out_features,):
        raise ValueError(f"bilinear: bias must have shape ({out_features},), got {bias.shape}")
    check_same_dtype("bilinear", input1=input1, input2=input2, weight=weight, bias=bias)
    lead = input1.shape[:-1]
    x1 = reshape(input1, (-1, in1))
    x2 = reshape(input2, (-1, 1, in2))
    mixed = matmul(x1, reshape(permute(weight, (1, 0, 2)), (in1, out_features * in2)))  # (M, out * in2)
    y = sum(mul(reshape(mixed, (-1, out_features, in2)), x2), 2)
    if bias is not None:
        y = add(y, bias)
    return reshape(y, lead + (out_features,))
