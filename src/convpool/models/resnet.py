"""A compact ResNet for 32x32 colour photos, after the fast CIFAR-10 recipes (Page's ResNet-9
and its successors): a few wide 3x3 conv-BN-ReLU stages with max pooling, two residual
blocks, global max pooling and a scaled linear head. Its width is one number, so the same
design trades accuracy for time on a small CPU."""

from __future__ import annotations

from .. import nn
from ..tensor import Tensor


def conv_bn(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 conv (no bias: batch norm has one), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU())


class Residual(nn.Module):
    """x + block(x): the identity shortcut of He et al. (2016), written as plain Python."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


class GlobalMaxPool(nn.Module):
    """(N, C, H, W) -> (N, C): the largest response of each channel anywhere in the image."""

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(2).max(2)[0]


class Scale(nn.Module):
    """Multiply by a constant: tempers the logits of the final linear layer."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


class ResNet(nn.Module):
    """prep conv -> [conv, pool, residual] -> [conv, pool] -> [conv, pool, residual] ->
    global max pool -> linear. Widths w, 2w, 4w, 8w."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            conv_bn(in_channels, w),
            conv_bn(w, 2 * w), nn.MaxPool2d(2), Residual(2 * w),
            conv_bn(2 * w, 4 * w), nn.MaxPool2d(2),
            conv_bn(4 * w, 8 * w), nn.MaxPool2d(2), Residual(8 * w),
        )
        self.pool = GlobalMaxPool()
        self.head = nn.Sequential(nn.Linear(8 * w, num_classes, bias=False), Scale(0.125))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.pool(self.features(x)))


def resnet_cifar(in_channels: int = 3, num_classes: int = 10, image_size: int = 32, width: int = 16) -> ResNet:
    """The compact ResNet; any image size that survives three 2x2 poolings (8 and up)."""
    if image_size < 8:
        raise ValueError(f"resnet-cifar needs images of at least 8x8 (three 2x2 poolings), got {image_size}")
    return ResNet(in_channels, num_classes, width)
