"""convpool: convolutional neural networks from the ground up on NumPy.

PyTorch-shaped: `convpool.Tensor`, `convpool.functional as F`. See the README for a tour.
"""

from . import (
    backend,
    functional,
)
from .backend import bool_ as bool  # noqa: A001  (torch.bool)
from .backend import (
    device,
    float32,
    float64,
    get_rng_state,
    int64,
    manual_seed,
    memory_budget,
    set_default_dtype,
    set_memory_budget,
    set_rng_state,
)
from .factories import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from .functions import (
    abs,
    allclose,
    argmax,
    argmin,
    argsort,
    chunk,
    clamp,
    clip,
    equal,
    exp,
    flatten,
    gather,
    inference_mode,
    is_floating_point,
    is_tensor,
    isclose,
    log,
    log_softmax,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    norm,
    numel,
    permute,
    relu,
    reshape,
    set_grad_enabled,
    sigmoid,
    softmax,
    sort,
    split,
    sqrt,
    squeeze,
    std,
    sum,
    tanh,
    topk,
    transpose,
    unsqueeze,
    var,
)
from .ops.basic import cat, stack, where
from .serialization import load, save
from .shapes import output_size, same_padding, transposed_output_length
from .tensor import Tensor, enable_grad, is_grad_enabled, no_grad

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "as_tensor", "from_numpy", "device", "cuda", "empty", "empty_like", "full_like", "eye",
    "linspace", "rand_like", "randn_like", "randperm",
    "zeros", "ones", "full", "zeros_like", "ones_like", "randn", "rand",
    "randint", "arange", "cat", "stack", "where", "manual_seed", "get_rng_state", "set_rng_state",
    "no_grad", "enable_grad", "is_grad_enabled", "output_size", "same_padding", "transposed_output_length",
    "float32", "float64", "int64", "bool", "set_default_dtype", "memory_budget", "set_memory_budget",
    "backend", "functional", "nn", "optim", "data", "models", "utils", "save", "load", "autograd",
    "abs", "allclose", "argmax", "argmin", "argsort", "chunk", "clamp", "clip", "equal", "exp", "flatten", "gather",
    "inference_mode", "is_floating_point", "is_tensor", "isclose", "log", "log_softmax", "matmul", "max", "maximum",
    "mean", "min", "minimum", "norm", "numel", "permute", "relu", "reshape", "set_grad_enabled", "sigmoid", "softmax",
    "sort", "split", "sqrt", "squeeze", "std", "sum", "tanh", "topk", "transpose", "unsqueeze", "var",
]

from . import autograd, cuda, data, models, nn, optim, utils  # noqa: E402  (built on the names above)
