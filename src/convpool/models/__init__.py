"""Named architectures, buildable by name: `convpool.models.build("article-cnn")`."""

from __future__ import annotations

from collections.abc import Callable

from .. import nn
from .architectures import article_cnn, lenet5, vgg_bn

BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "article-cnn": article_cnn,
    "lenet5": lenet5,
    "vgg-bn": vgg_bn,
}


def names() -> list[str]:
    """The model names `build` knows."""
    return sorted(BUILDERS)


def build(name: str, in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> nn.Module:
    """A freshly initialised network by name."""
    if name not in BUILDERS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(names())}")
    return BUILDERS[name](in_channels=in_channels, num_classes=num_classes, image_size=image_size)


PRETRAINED = {"fashion-mnist": "article-cnn-fashion-mnist.safetensors"}


def pretrained(name: str) -> tuple[nn.Module, dict]:
    """(a network with weights shipped in the package, in eval mode; its config: class names,
    normalisation, input size). `pretrained("fashion-mnist")` is the article's CNN."""
    from importlib import resources

    from ..checkpoint import build_from_checkpoint

    if name not in PRETRAINED:
        raise ValueError(f"no pretrained weights named {name!r}; shipped: {', '.join(sorted(PRETRAINED))}")
    with resources.as_file(resources.files("convpool.models") / "weights" / PRETRAINED[name]) as path:
        if not path.is_file():
            raise FileNotFoundError(f"pretrained weights {PRETRAINED[name]} are not in this installation")
        model, checkpoint = build_from_checkpoint(path)
    return model, dict(checkpoint.model_config)


__all__ = ["build", "names", "pretrained", "BUILDERS", "PRETRAINED", "article_cnn", "lenet5", "vgg_bn"]
