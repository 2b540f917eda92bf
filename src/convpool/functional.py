"""convpool.functional, imported as F: PyTorch's function names, arguments and defaults.

Each function lives beside its forward and backward in `convpool.ops`; this module is the
one public list of them.
"""

from .ops.activation import elu, gelu, leaky_relu, log_softmax, relu, sigmoid, silu, softmax, tanh
from .ops.conv import conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d
from .ops.dropout import dropout, dropout1d, dropout2d
from .ops.linear import linear
from .ops.loss import binary_cross_entropy_with_logits, cross_entropy, mse_loss, nll_loss
from .ops.norm import batch_norm, group_norm, layer_norm
from .ops.pad import pad
from .ops.pool import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    lp_pool1d,
    lp_pool2d,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    max_unpool1d,
    max_unpool2d,
)

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d",
    "lp_pool1d", "lp_pool2d", "max_unpool1d", "max_unpool2d",
    "relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax",
    "dropout", "dropout1d", "dropout2d", "linear", "pad", "batch_norm", "layer_norm", "group_norm",
    "cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy_with_logits",
]
