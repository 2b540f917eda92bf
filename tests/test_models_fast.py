"""fast-cnn (convpool/models/fast.py): the whitening layer's arithmetic, its frozen kernels,
shapes from the shared shape code, and the whole network against PyTorch."""

from __future__ import annotations

import numpy
import pytest
from reference import needs_torch, torch

import convpool
import convpool.functional as F
from convpool import models, optim
from convpool.models.fast import FastCNN, Whitening


def _images(n=64, c=3, size=12, seed=0):
    rng = numpy.random.default_rng(seed)
    base = rng.standard_normal((n, c, size, size))
    # neighbouring pixels and channels correlated, as in photos: something to whiten
    smooth = base + numpy.roll(base, 1, axis=2) + numpy.roll(base, 1, axis=3) + base.mean(axis=1, keepdims=True)
    return smooth.astype(numpy.float64)


def test_whitened_patches_have_unit_covariance():
    images = _images()
    layer = Whitening(3, kernel_size=2, eps=0.0)
    layer.weight.data = layer.weight.data.astype(numpy.float64)
    layer.fit(images)
    out = layer(convpool.tensor(images)).numpy()  # (N, 24, 11, 11)
    half = out[:, :12].transpose(0, 2, 3, 1).reshape(-1, 12)
    half = half - half.mean(axis=0)
    covariance = half.T @ half / len(half)
    numpy.testing.assert_allclose(covariance, numpy.eye(12), atol=1e-8)
    numpy.testing.assert_allclose(out[:, 12:], -out[:, :12])  # the negatives keep both signs through a ReLU


def test_whitening_kernels_are_a_frozen_buffer_saved_with_the_model():
    model = models.build("fast-cnn", in_channels=3, num_classes=10, image_size=16)
    assert "features.0.weight" in model.state_dict()
    assert all(p is not model.whiten.weight for p in model.parameters())
    model.initialise_from_data(_images(size=16).astype(numpy.float32))
    kernels = model.whiten.weight.numpy().copy()
    assert numpy.abs(kernels).max() > 0
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = convpool.tensor(_images(8, size=16, seed=1).astype(numpy.float32))
    F.cross_entropy(model(x), convpool.tensor(numpy.arange(8) % 10)).backward()
    opt.step()
    numpy.testing.assert_array_equal(model.whiten.weight.numpy(), kernels)
    clone = models.build("fast-cnn", in_channels=3, num_classes=10, image_size=16)
    clone.load_state_dict(model.state_dict())
    numpy.testing.assert_array_equal(clone.whiten.weight.numpy(), kernels)


def test_shapes_come_from_the_shared_output_size_and_match_forward():
    for channels, size in ((3, 32), (1, 28), (3, 9)):
        model = models.build("fast-cnn", in_channels=channels, num_classes=7, image_size=size)
        model.eval()
        assert model.summary((channels, size, size), batch_size=2).output_shape == (2, 7)
        out = model(convpool.tensor(numpy.zeros((2, channels, size, size), numpy.float32)))
        assert out.shape == (2, 7)
    table = str(models.build("fast-cnn", in_channels=3, image_size=32).summary((3, 32, 32)))
    assert "[1, 24, 31, 31]" in table and "Whitening" in table and "276,768" in table  # 31*31*24 outputs x 3*2*2 taps
    assert "Total MACs: 33,066,272" in table


def test_bad_sizes_and_channels_are_refused_by_name():
    with pytest.raises(ValueError, match="fast-cnn needs images of at least 9x9.*got 8"):
        models.build("fast-cnn", image_size=8)
    with pytest.raises(ValueError, match=r"expected images \(N, 3, H, W\), got shape \(4, 1, 8, 8\)"):
        Whitening(3).fit(numpy.zeros((4, 1, 8, 8)))
    with pytest.raises(ValueError, match="smaller than the 2x2 kernel"):
        Whitening(1).fit(numpy.zeros((4, 1, 1, 5)))


@needs_torch
def test_forward_and_every_gradient_match_pytorch_in_float64():
    convpool.manual_seed(3)
    model = FastCNN(in_channels=3, num_classes=5, widths=(4, 6, 8))
    images = _images(6, size=16, seed=2)
    model.initialise_from_data(images)
    for p in list(model.parameters()) + list(model.buffers()):
        p.data = p.data.astype(numpy.float64)
    tnn = torch.nn

    def group(i, o):
        return [tnn.Conv2d(i, o, 3, padding=1, bias=False), tnn.MaxPool2d(2), tnn.BatchNorm2d(o), tnn.ReLU(),
                tnn.Conv2d(o, o, 3, padding=1, bias=False), tnn.BatchNorm2d(o), tnn.ReLU()]

    twin = tnn.Sequential(*(tnn.Sequential(*group(i, o)) for i, o in ((24, 4), (4, 6), (6, 8)))).double()
    head = tnn.Linear(8, 5, bias=False).double()
    ours = model.state_dict()
    renumbered = {}
    for key, value in ours.items():
        part, index, rest = key.split(".", 2)
        if part == "features" and int(index) >= 2:  # features.0 is the whitening, features.1 its ReLU
            renumbered[f"{int(index) - 2}.{rest}"] = torch.tensor(value.numpy())
    twin.load_state_dict(renumbered, strict=True)
    head.weight.data = torch.tensor(ours["head.0.weight"].numpy())
    whiten = torch.tensor(ours["features.0.weight"].numpy())

    def theirs(x):
        features = twin(torch.relu(torch.nn.functional.conv2d(x, whiten)))
        return head(features.amax(dim=(2, 3))) / 9

    x_ours = convpool.tensor(images, requires_grad=True)
    x_theirs = torch.tensor(images, requires_grad=True)
    out_ours, out_theirs = model(x_ours), theirs(x_theirs)
    numpy.testing.assert_allclose(out_ours.detach().numpy(), out_theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    upstream = numpy.random.default_rng(4).standard_normal(out_ours.shape)
    (out_ours * convpool.tensor(upstream)).sum().backward()
    (out_theirs * torch.tensor(upstream)).sum().backward()
    numpy.testing.assert_allclose(x_ours.grad.numpy(), x_theirs.grad.numpy(), rtol=1e-8, atol=1e-10)
    named = dict(model.named_parameters())
    for name, param in twin.named_parameters():
        index, rest = name.split(".", 1)
        ours_grad = named[f"features.{int(index) + 2}.{rest}"].grad.numpy()
        numpy.testing.assert_allclose(ours_grad, param.grad.numpy(), rtol=1e-8, atol=1e-10)
    numpy.testing.assert_allclose(named["head.0.weight"].grad.numpy(), head.weight.grad.numpy(), rtol=1e-8,
                                  atol=1e-10)
