"""convpool.functional, imported as F: PyTorch's function names, arguments and defaults.

Each function lives beside its forward and backward in `convpool.ops`; this module is the
one public list of them. Where PyTorch takes `inplace=`, convpool accepts it and computes
out of place (the result is a new tensor; autograd keeps inputs intact).
"""

from .ops.activation import (
    celu,
    elu,
    gelu,
    glu,
    hardshrink,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    log_softmax,
    logsigmoid,
    mish,
    prelu,
    relu,
    relu6,
    rrelu,
    selu,
    sigmoid,
    silu,
    softmax,
    softmin,
    softplus,
    softshrink,
    softsign,
    tanh,
    tanhshrink,
    threshold,
)
from .ops.conv import conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d
from .ops.dropout import alpha_dropout, dropout, dropout1d, dropout2d, dropout3d, feature_alpha_dropout
from .ops.embedding import embedding, one_hot
from .ops.fold import fold, unfold
from .ops.grid_sample import affine_grid, grid_sample
from .ops.interpolate import interpolate, upsample, upsample_bilinear, upsample_nearest
from .ops.linear import bilinear, linear
from .ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cosine_embedding_loss,
    cross_entropy,
    gaussian_nll_loss,
    hinge_embedding_loss,
    huber_loss,
    kl_div,
    l1_loss,
    margin_ranking_loss,
    mse_loss,
    multilabel_soft_margin_loss,
    nll_loss,
    poisson_nll_loss,
    smooth_l1_loss,
    soft_margin_loss,
    triplet_margin_loss,
)
from .ops.norm import batch_norm, group_norm, instance_norm, layer_norm, local_response_norm, rms_norm
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
from .ops.pool3d import adaptive_avg_pool3d, adaptive_max_pool3d, max_unpool3d
from .ops.shuffle import channel_shuffle, pixel_shuffle, pixel_unshuffle
from .ops.vector import cosine_similarity, normalize, pairwise_distance

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "unfold", "fold",
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "lp_pool1d", "lp_pool2d", "max_unpool1d", "max_unpool2d", "max_unpool3d",
    "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish", "prelu",
    "hardtanh", "hardswish", "hardsigmoid", "softplus", "softsign", "logsigmoid", "threshold", "glu",
    "rrelu", "tanhshrink", "softshrink", "hardshrink",
    "sigmoid", "tanh", "softmax", "log_softmax", "softmin",
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
    "linear", "bilinear", "embedding", "one_hot", "pad",
    "interpolate", "upsample", "upsample_nearest", "upsample_bilinear",
    "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "affine_grid", "grid_sample",
    "batch_norm", "instance_norm", "layer_norm", "group_norm", "local_response_norm", "rms_norm",
    "normalize", "cosine_similarity", "pairwise_distance",
    "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "soft_margin_loss",
    "multilabel_soft_margin_loss", "margin_ranking_loss", "hinge_embedding_loss", "cosine_embedding_loss",
    "triplet_margin_loss", "poisson_nll_loss", "gaussian_nll_loss",
]
