"""ResNet-18 and ResNet-34 as torchvision defines them (He et al., 2016), with torchvision's
module names (conv1, bn1, layer1.0.conv1, ..., layer2.0.downsample.0, fc), so that a
state_dict saved by PyTorch from `torchvision.models.resnet18()` loads with `load_state_dict`
unchanged: `model.load_state_dict(convpool.interop.read_torch_checkpoint("resnet18.pt"))`."""

from __future__ import annotations

from collections.abc import Sequence

from .. import nn
from ..tensor import Tensor


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN pairs and the identity (or a 1x1 conv-BN projection) shortcut."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        return self.bn2.output_shape(self.conv2.output_shape(self.conv1.output_shape(input_shape)))


class TorchvisionResNet(nn.Module):
    """7x7/2 conv, BN, ReLU, 3x3/2 max pool, four stages of BasicBlocks (64, 128, 256, 512
    channels), global average pool, linear."""

    def __init__(self, layers: Sequence[int] = (2, 2, 2, 2), num_classes: int = 1000, in_channels: int = 3) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(64, layers[0], 1)
        self.layer2 = self._make_layer(128, layers[1], 2)
        self.layer3 = self._make_layer(256, layers[2], 2)
        self.layer4 = self._make_layer(512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        return (*tuple(input_shape)[:-3], self.fc.out_features)


def resnet18(num_classes: int = 1000, in_channels: int = 3) -> TorchvisionResNet:
    """torchvision.models.resnet18's architecture and parameter names."""
    return TorchvisionResNet((2, 2, 2, 2), num_classes, in_channels)


def resnet34(num_classes: int = 1000, in_channels: int = 3) -> TorchvisionResNet:
    """torchvision.models.resnet34's architecture and parameter names."""
    return TorchvisionResNet((3, 4, 6, 3), num_classes, in_channels)
