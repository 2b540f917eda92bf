"""An ONNX image classifier with the config `convpool predict` and `summary` need.

A file written by `convpool export` carries the network's config (class names, input size,
normalisation) in its metadata under CONFIG_KEY. With preprocessing baked in, the module
comes wrapped in `RawPixels`, which turns the normalised input predict feeds back into
pixel values, so predict (its test-time augmentation included, whose shifted copies are
zero-filled in normalised space) sees exactly the original network. A file from elsewhere gets
a config read off its graph: channels and image size from the input's static shape, the
class count from the output, and no normalisation (mean 0, std 1), said in a note."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy

from ..nn.module import Module
from ..tensor import Tensor
from .load import OnnxModule, load

CONFIG_KEY = "convpool.config"
PREPROCESSING_KEY = "convpool.preprocessing"


class RawPixels(Module):
    """(z * std + mean) * 255 into a graph that takes raw pixels: normalised input in, as for the original network."""

    def __init__(self, graph: OnnxModule, mean, std) -> None:
        super().__init__()
        self.graph = graph
        shape = (1, -1, 1, 1)
        self.register_buffer("mean", Tensor(numpy.asarray(mean, numpy.float32).reshape(shape)), persistent=False)
        self.register_buffer("std", Tensor(numpy.asarray(std, numpy.float32).reshape(shape)), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.graph((x * self.std + self.mean) * 255.0)

    def output_shape(self, input_shape):
        return self.graph.output_shape(input_shape)


def classifier_metadata(config: dict[str, Any], baked_preprocessing: bool) -> dict[str, str]:
    """The metadata_props that `load_classifier` reads back."""
    return {CONFIG_KEY: json.dumps(config), PREPROCESSING_KEY: "baked" if baked_preprocessing else "none"}


def _typed(config: dict[str, Any], path) -> Any:
    """The config as the checkpoint code gives it: a checked ModelConfig where convpool has one, else the dict."""
    try:
        from ..models.config import ModelConfig
    except ImportError:
        return config
    return ModelConfig.from_dict(config, str(path))


def load_classifier(path: str | os.PathLike) -> tuple[Module, Any]:
    """(the imported module in eval mode, its config) for an ONNX image classifier (N, C, H, W) -> (N, classes)."""
    import onnx

    module = load(path)
    model = onnx.load(os.fspath(path), load_external_data=False)
    props = {p.key: p.value for p in model.metadata_props}
    if len(module.input_specs) != 1:
        raise ValueError(f"{path}: a classifier takes one input, this graph takes {len(module.input_specs)}")
    name, shape, _ = module.input_specs[0]
    if CONFIG_KEY in props:
        config = dict(json.loads(props[CONFIG_KEY]))
        if props.get(PREPROCESSING_KEY) == "baked":
            return RawPixels(module, config["mean"], config["std"]).eval(), _typed(config, path)
        return module, _typed(config, path)
    if len(shape) != 4 or not all(isinstance(d, int) and d > 0 for d in shape[1:]):
        raise ValueError(f"{path}: input {name!r} has shape {shape}; a classifier needs (N, C, H, W) with static "
                         f"C, H and W")
    channels, height, width = shape[1:]
    if height != width:
        raise ValueError(f"{path}: input {name!r} is {height}x{width}; predict reads square images")
    output = module.output_shape((channels, height, width))
    if len(output) != 1:
        raise ValueError(f"{path}: the output has shape (N, {', '.join(map(str, output))}); a classifier gives "
                         f"(N, classes)")
    config = {"in_channels": channels, "image_size": height, "num_classes": output[0], "mean": [0.0] * channels,
              "std": [1.0] * channels, "input": {"kind": "image"},
              "note": "no convpool metadata: pixels / 255 go in unnormalised, classes are numbered"}
    return module, _typed(config, path)
