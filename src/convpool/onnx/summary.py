"""`convpool summary model.onnx`: an ONNX file's nodes with their output shapes and parameters."""

from __future__ import annotations

import os
from collections.abc import Sequence

from .load import load


def onnx_summary(path: str | os.PathLike, input_shape: Sequence[int] | None = None) -> str:
    """The node table of the ONNX model at path for one input of input_shape (C, H, W; default:
    the static shape the graph declares)."""
    module = load(path)
    name, shape, _ = module.input_specs[0]
    if input_shape is None:
        if not all(isinstance(d, int) and d > 0 for d in shape[1:]):
            raise ValueError(f"{path}: input {name!r} has shape {shape}; give --input-shape C,H,W")
        input_shape = tuple(shape[1:])
    header = f"{path}: ONNX opset {module.opset}, input {name!r} {tuple(shape)}, for one input of shape " \
             f"{tuple(input_shape)}"
    return header + "\n" + module.node_table(input_shape)
