"""Named architectures, buildable by name: `convpool.models.build("article-cnn")`."""

from __future__ import annotations

from collections.abc import Callable

from .. import nn
from .architectures import article_cnn, lenet5, vgg_bn
from .audio import audio_cnn1d, audio_cnn2d
from .fast import fast_cnn
from .resnet import resnet_cifar

BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "article-cnn": article_cnn,
    "lenet5": lenet5,
    "vgg-bn": vgg_bn,
    "resnet-cifar": resnet_cifar,
    "fast-cnn": fast_cnn,
    "audio-cnn1d": audio_cnn1d,
    "audio-cnn2d": audio_cnn2d,
}


# what each network reads: an image (N, C, H, W), a waveform (N, 1, L) or a spectrogram (N, 1, mels, frames)
INPUT_KINDS: dict[str, str] = {"audio-cnn1d": "waveform", "audio-cnn2d": "spectrogram"}


def input_kind(name: str) -> str:
    """'image', 'waveform' or 'spectrogram': the input the named network reads."""
    return INPUT_KINDS.get(name, "image")


def names() -> list[str]:
    """The model names `build` knows."""
    return sorted(BUILDERS)


def build(name: str, in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> nn.Module:
    """A freshly initialised network by name."""
    if name not in BUILDERS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(names())}")
    return BUILDERS[name](in_channels=in_channels, num_classes=num_classes, image_size=image_size)


PRETRAINED = {"fashion-mnist": "article-cnn-fashion-mnist.safetensors", "fsdd": "audio-cnn2d-fsdd.safetensors",
              "cifar10": "fast-cnn-cifar10.safetensors"}


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


__all__ = ["build", "names", "input_kind", "INPUT_KINDS", "pretrained", "BUILDERS", "PRETRAINED",
           "article_cnn", "lenet5", "vgg_bn", "resnet_cifar", "fast_cnn", "audio_cnn1d", "audio_cnn2d"]
