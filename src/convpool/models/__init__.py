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


__all__ = ["build", "names", "BUILDERS", "article_cnn", "lenet5", "vgg_bn"]
