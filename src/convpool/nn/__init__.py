"""convpool.nn: layers and containers with PyTorch's names, arguments and defaults.

`Module` registers Parameters, buffers and submodules by attribute assignment; layers call
`convpool.functional` in their forward; `convpool.nn.init` holds the initialisers,
`convpool.nn.utils` gradient clipping; `Module.summary(input_shape)` traces the layer table.
"""

from . import functional, init, utils
from .activation import GELU, LeakyReLU, ReLU, Sigmoid, SiLU, Tanh
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .dropout import Dropout, Dropout1d, Dropout2d
from .flatten import Flatten
from .linear import Identity, Linear
from .module import IncompatibleKeys, Module, ModuleList, Parameter, Sequential, StateDictError
from .norm import BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm, LayerNorm
from .pool import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
)
from .summary import Summary, summarize

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "StateDictError", "IncompatibleKeys",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
    "ReLU", "LeakyReLU", "GELU", "Sigmoid", "Tanh", "SiLU",
    "Dropout", "Dropout1d", "Dropout2d", "Linear", "Identity", "Flatten",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm",
    "init", "functional", "utils", "summarize", "Summary",
]
