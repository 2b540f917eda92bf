"""Named architectures, buildable by name: `convpool.models.build("article-cnn")`; networks
rebuilt from checkpoints and shipped weights (`build_from_checkpoint`, `pretrained`), and
their typed configuration (`ModelConfig`)."""

from __future__ import annotations

from .architectures import article_cnn, lenet5, vgg_bn
from .audio import audio_cnn1d, audio_cnn2d
from .config import ModelConfig, ModelConfigError
from .fast import fast_cnn
from .loading import PRETRAINED, build_from_checkpoint, checked_config, pretrained
from .registry import BUILDERS, INPUT_KINDS, build, input_kind, names
from .resnet import resnet_cifar

__all__ = ["build", "names", "input_kind", "INPUT_KINDS", "pretrained", "BUILDERS", "PRETRAINED",
           "build_from_checkpoint", "checked_config", "ModelConfig", "ModelConfigError",
           "article_cnn", "lenet5", "vgg_bn", "resnet_cifar", "fast_cnn", "audio_cnn1d", "audio_cnn2d"]
