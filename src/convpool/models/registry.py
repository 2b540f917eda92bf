"""The named architectures and what each reads: `build(name, ...)` makes a fresh network."""

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
