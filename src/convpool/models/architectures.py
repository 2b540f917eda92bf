"""The named networks: the article's CNN, LeNet-5, and a deeper VGG-style net with batch norm.

Each builder takes the input's channels and size and the number of classes, so the same
names serve grey 28x28 images now and colour photos later. Flattened sizes come from one
traced forward pass of the feature layers (`nn.summary.traced_output_shape`), never from a
hand-computed number.
"""

from __future__ import annotations

from .. import nn
from ..nn.summary import traced_output_shape


def _flat_features(features: nn.Module, in_channels: int, image_size: int) -> int:
    shape = traced_output_shape(features, (1, in_channels, image_size, image_size))
    count = 1
    for n in shape[1:]:
        count *= n
    return count


class Classifier(nn.Module):
    """features (conv blocks) -> flatten -> head (fully connected): the article's picture."""

    def __init__(self, features: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.flatten = nn.Flatten()
        self.head = head

    def forward(self, x):
        return self.head(self.flatten(self.features(x)))


def article_cnn(in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> Classifier:
    """The article's CNN: CONV-RELU-CONV-RELU-POOL blocks, dropout, a fully connected layer
    whose scores name the class."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
    )
    head = nn.Sequential(
        nn.Linear(_flat_features(features, in_channels, image_size), 128), nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(128, num_classes),
    )
    return Classifier(features, head)


def lenet5(in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> Classifier:
    """LeNet-5 (LeCun et al., 1998) with ReLU and max pooling; padding 2 keeps 28x28 inputs
    at the 32x32 geometry of the original."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
    )
    head = nn.Sequential(
        nn.Linear(_flat_features(features, in_channels, image_size), 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_classes),
    )
    return Classifier(features, head)


def _vgg_block(in_channels: int, out_channels: int, convs: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1, bias=False),
                   nn.BatchNorm2d(out_channels), nn.ReLU()]
    return layers + [nn.MaxPool2d(2)]


def vgg_bn(in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> Classifier:
    """A deeper VGG-style net: 3x3 convs with batch norm in three blocks (32, 64, 128)."""
    features = nn.Sequential(
        *_vgg_block(in_channels, 32, 2),
        *_vgg_block(32, 64, 2),
        *_vgg_block(64, 128, 1),
    )
    head = nn.Sequential(
        nn.Dropout(0.3),
        nn.Linear(_flat_features(features, in_channels, image_size), 256, bias=False),
        nn.BatchNorm1d(256), nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(256, num_classes),
    )
    return Classifier(features, head)
