"""Networks rebuilt from saved weights: a checkpoint (run folder, checkpoint folder or weights
file) or weights shipped in the package. The saved configuration is checked (types, ranges,
and against the shapes of the saved arrays) before a network is built, and the weights are
checked (floating point where the network has floating point, no NaN or infinity) before
they are loaded."""

from __future__ import annotations

from importlib import resources

from .. import nn
from ..checkpoint import Checkpoint, CheckpointError, PathLike, load_checkpoint
from .config import ModelConfig, ModelConfigError
from .registry import BUILDERS, build, names

PRETRAINED = {"fashion-mnist": "article-cnn-fashion-mnist.safetensors", "fsdd": "audio-cnn2d-fsdd.safetensors",
              "cifar10": "fast-cnn-cifar10.safetensors"}


def build_from_checkpoint(path: PathLike) -> tuple[nn.Module, Checkpoint]:
    """(the network rebuilt by `convpool.models.build` with the saved name and config and
    loaded with the saved weights, in eval mode; the Checkpoint with everything else).
    `checked_config(checkpoint)` gives its configuration as a ModelConfig."""
    checkpoint = load_checkpoint(path)
    if checkpoint.model_name not in BUILDERS:
        raise CheckpointError(f"{checkpoint.path} holds a {checkpoint.model_name!r} model, which "
                              f"convpool.models does not know ({', '.join(names())}); build the network "
                              f"yourself and call load_checkpoint(path).load_weights(model)")
    config = checked_config(checkpoint)
    model = build(checkpoint.model_name, **config.build_arguments())
    checkpoint.load_weights(model)
    model.eval()
    return model, checkpoint


def checked_config(checkpoint: Checkpoint) -> ModelConfig:
    """The checkpoint's model configuration, checked on its own and against the saved arrays:
    the classifier's outputs must be num_classes and the first layer's inputs in_channels (so
    a damaged number never sizes a network far past the file's own bytes)."""
    try:
        config = ModelConfig.from_dict(checkpoint.model_config, str(checkpoint.path))
    except ModelConfigError as error:
        raise CheckpointError(str(error)) from None
    matrices = [(key, array.shape) for key, array in checkpoint.weights.items()
                if key.endswith("weight") and getattr(array, "ndim", 0) >= 2]
    if matrices:
        last_key, last_shape = matrices[-1]
        if last_shape[0] != config.num_classes:
            raise CheckpointError(f"{checkpoint.path}: num_classes is {config.num_classes}, but the last layer "
                                  f"{last_key} has {last_shape[0]} outputs (shape {tuple(last_shape)})")
        first_key, first_shape = matrices[0]
        if len(first_shape) >= 3 and first_shape[1] != config.in_channels:
            raise CheckpointError(f"{checkpoint.path}: in_channels is {config.in_channels}, but the first layer "
                                  f"{first_key} reads {first_shape[1]} (shape {tuple(first_shape)})")
    return config


def pretrained(name: str) -> tuple[nn.Module, ModelConfig]:
    """(a network with weights shipped in the package, in eval mode; its config: class names,
    normalisation, input size). `pretrained("fashion-mnist")` is the article's CNN."""
    if name not in PRETRAINED:
        raise ValueError(f"no pretrained weights named {name!r}; shipped: {', '.join(sorted(PRETRAINED))}")
    with resources.as_file(resources.files("convpool.models") / "weights" / PRETRAINED[name]) as path:
        if not path.is_file():
            raise FileNotFoundError(f"pretrained weights {PRETRAINED[name]} are not in this installation")
        model, checkpoint = build_from_checkpoint(path)
    return model, checked_config(checkpoint)
