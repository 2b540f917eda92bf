"""ONNX in: `convpool.onnx.load(path)` builds a trainable convpool Module from an ONNX CNN.

Needs the `onnx` package (the `onnx` extra)."""

from .load import OnnxModule, UnsupportedOnnxError, from_model, load
from .ops_in import OPS as IMPORTED_OPS

__all__ = ["load", "from_model", "OnnxModule", "UnsupportedOnnxError", "IMPORTED_OPS"]
