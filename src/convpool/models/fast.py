"""A fast CNN for small images, after Keller Jordan's airbench CIFAR-10 speed-runs (2024):
a fixed whitening layer, then three groups of conv -> max pool -> batch norm -> ReLU ->
conv -> batch norm -> ReLU, global max pooling and a scaled linear head.

Why it is fast on a CPU: each group halves the image before its second conv, so most of
the arithmetic runs on wide layers at 15x15 and smaller (large matrix products, little
window copying), and the whitening layer is fixed rather than learned.

The whitening layer is a 2x2 convolution whose kernels decorrelate the 2x2 patches of the
training images: the eigenvectors of the patches' covariance, each divided by the square
root of its eigenvalue, and their negatives (so the ReLU after it keeps both signs). It is
computed once from the data before training (`initialise_from_data`) and never trained;
with no trainable weight in front of it, the first conv group also skips its input gradient.
"""

from __future__ import annotations

from math import prod

import numpy

from .. import functional as F
from .. import nn
from ..backend import array_module
from ..tensor import Tensor
from .resnet import GlobalMaxPool, Scale


class Whitening(nn.Module):
    """A frozen k x k convolution (C -> 2*C*k*k channels), set by `fit(images)`. Its kernels
    are a buffer: saved with the model, never touched by an optimizer."""

    def __init__(self, in_channels: int, kernel_size: int = 2, eps: float = 5e-4) -> None:
        super().__init__()
        self.in_channels, self.kernel_size, self.eps = in_channels, kernel_size, eps
        size = in_channels * kernel_size * kernel_size
        self.register_buffer("weight", Tensor(numpy.zeros((2 * size, in_channels, kernel_size, kernel_size),
                                                               dtype="float32")))

    @property
    def out_channels(self) -> int:
        return self.weight.shape[0]

    def fit(self, images) -> None:
        """Set the kernels from a batch of (already normalised) images (N, C, H, W)."""
        xp = array_module(images)
        images = xp.asarray(images, dtype=xp.float64)
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"Whitening.fit: expected images (N, {self.in_channels}, H, W), got shape {images.shape}")
        k = self.kernel_size
        if images.shape[2] < k or images.shape[3] < k:
            raise ValueError(f"Whitening.fit: images of {images.shape[2]}x{images.shape[3]} are smaller than the "
                             f"{k}x{k} kernel")
        windows = xp.lib.stride_tricks.sliding_window_view(images, (k, k), axis=(2, 3))  # (N, C, H', W', k, k)
        patches = windows.transpose(0, 2, 3, 1, 4, 5).reshape(-1, self.in_channels * k * k)
        patches = patches - patches.mean(axis=0)
        covariance = patches.T @ patches / len(patches)
        values, vectors = xp.linalg.eigh(covariance)
        kernels = (vectors.T / xp.sqrt(xp.maximum(values, 0.0) + self.eps)[:, None]).reshape(
            -1, self.in_channels, k, k)
        self.weight.data[...] = xp.concatenate([kernels, -kernels]).astype(self.weight.data.dtype)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight)

    def macs(self, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> int:
        return prod(output_shape) * self.in_channels * self.kernel_size ** 2

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, frozen"


def conv_group(in_channels: int, out_channels: int) -> nn.Sequential:
    """conv -> 2x2 max pool -> BN -> ReLU -> conv -> BN -> ReLU: half the size, out_channels wide."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.MaxPool2d(2),
        nn.BatchNorm2d(out_channels), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(),
    )


class FastCNN(nn.Module):
    """features (whitening -> ReLU -> three conv groups) -> global max pool -> linear / 9."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, widths: tuple[int, int, int] = (32, 128, 128)):
        super().__init__()
        whiten = Whitening(in_channels)
        w1, w2, w3 = widths
        self.features = nn.Sequential(whiten, nn.ReLU(), conv_group(whiten.out_channels, w1), conv_group(w1, w2),
                                      conv_group(w2, w3))
        self.pool = GlobalMaxPool()
        self.head = nn.Sequential(nn.Linear(w3, num_classes, bias=False), Scale(1 / 9))

    @property
    def whiten(self) -> Whitening:
        return self.features[0]

    def initialise_from_data(self, images) -> None:
        """Set the data-dependent weights (the whitening kernels) from normalised training images."""
        self.whiten.fit(images)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.pool(self.features(x)))


def fast_cnn(in_channels: int = 3, num_classes: int = 10, image_size: int = 32) -> FastCNN:
    """The fast CNN, widths 32, 128, 128 (33 M multiply-adds per 32x32 image, 0.5 M weights), for
    images of 9x9 and up (a 2x2 whitening conv, then three 2x2 poolings)."""
    if image_size < 9:
        raise ValueError(f"fast-cnn needs images of at least 9x9 (a 2x2 conv, then three 2x2 poolings), "
                         f"got {image_size}")
    return FastCNN(in_channels, num_classes)

