"""Networks for sound: a 1-D CNN that reads the raw waveform (after Dai et al., 2017, "Very
deep convolutional neural networks for raw waveforms", their M5), and a 2-D CNN that reads a
log-mel spectrogram as a one-channel picture of frequency against time. Both end in global
average pooling, so they take clips of any length."""

from __future__ import annotations

from .. import nn
from .architectures import Classifier


def _conv1d_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2 if stride == 1
                      else 0, bias=False), nn.BatchNorm1d(out_channels), nn.ReLU()]


def audio_cnn1d(in_channels: int = 1, num_classes: int = 10, image_size: int = 8000) -> Classifier:
    """M5 on the waveform: a wide first kernel (80 samples = 10 ms at 8 kHz) with stride 4
    learns a filter bank; then 3-tap convolutions with 4x max pooling; global average."""
    if image_size < 1024:
        raise ValueError(f"audio-cnn1d needs clips of at least 1024 samples, got {image_size}")
    features = nn.Sequential(
        *_conv1d_bn(in_channels, 32, 80, stride=4), nn.MaxPool1d(4),
        *_conv1d_bn(32, 32, 3), nn.MaxPool1d(4),
        *_conv1d_bn(32, 64, 3), nn.MaxPool1d(4),
        *_conv1d_bn(64, 64, 3), nn.AdaptiveAvgPool1d(1),
    )
    head = nn.Sequential(nn.Dropout(0.2), nn.Linear(64, num_classes))
    return Classifier(features, head)


def _conv2d_bn(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU()]


def audio_cnn2d(in_channels: int = 1, num_classes: int = 10, image_size: int = 40) -> Classifier:
    """Conv-BN-ReLU-pool blocks over a (mels x frames) log-mel spectrogram, global average."""
    if image_size < 8:
        raise ValueError(f"audio-cnn2d needs spectrograms with at least 8 mel bands, got {image_size}")
    features = nn.Sequential(
        *_conv2d_bn(in_channels, 32), nn.MaxPool2d(2),
        *_conv2d_bn(32, 64), nn.MaxPool2d(2),
        *_conv2d_bn(64, 128), nn.MaxPool2d(2),
        *_conv2d_bn(128, 128), nn.AdaptiveAvgPool2d(1),
    )
    head = nn.Sequential(nn.Dropout(0.3), nn.Linear(128, num_classes))
    return Classifier(features, head)
