"""ONNX both ways: `convpool.onnx.load(path)` builds a trainable convpool Module from an ONNX
CNN; `convpool.onnx.export(model, example_input, path)` writes a convpool Module as ONNX.

Needs the `onnx` package (the `onnx` extra)."""

from .classifier import load_classifier
from .export import DEFAULT_OPSET, ExportedModel, export
from .load import OnnxModule, UnsupportedOnnxError, from_model, load
from .ops_in import OPS as IMPORTED_OPS
from .ops_out import EMITTERS as EXPORTED_OPS
from .ops_out import UnmappedOpError

__all__ = ["load", "from_model", "OnnxModule", "UnsupportedOnnxError", "IMPORTED_OPS", "export", "ExportedModel",
           "UnmappedOpError", "EXPORTED_OPS", "DEFAULT_OPSET",
           "load_classifier"]
