"""viz/saliency.py: the saliency map and Grad-CAM against direct float64 computations."""

import numpy
import pytest

import convpool
from convpool import nn
from convpool.models.architectures import Classifier
from convpool.viz.saliency import conv_layers, grad_cam, last_conv_features, saliency_map, tap


def _tiny(bias=True, seed=0):
    """Conv-ReLU-pool-conv-ReLU on 2x8x8 inputs, three classes, in float64."""
    convpool.manual_seed(seed)
    features = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, bias=bias), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(3, 4, 3, bias=bias), nn.ReLU())
    return Classifier(features, nn.Sequential(nn.Linear(16, 3, bias=bias))).double().eval()


def _score(model, x, target):
    with convpool.no_grad():
        return model(convpool.Tensor(x[None])).numpy()[0, target]


def _input(seed=1):
    return numpy.random.default_rng(seed).normal(size=(2, 8, 8))


@pytest.mark.parametrize("target", [0, 2])
def test_saliency_is_the_finite_difference_gradient_of_the_class_score(target):
    model, x = _tiny(), _input()
    step = 1e-6
    gradient = numpy.zeros_like(x)
    for index in numpy.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += step
        down[index] -= step
        gradient[index] = (_score(model, up, target) - _score(model, down, target)) / (2 * step)
    saliency = saliency_map(model, x, target)
    assert saliency.shape == (8, 8)
    numpy.testing.assert_allclose(saliency, numpy.abs(gradient).max(axis=0), rtol=1e-6, atol=1e-8)


def test_saliency_is_zero_outside_the_region_the_output_depends_on():
    convpool.manual_seed(0)
    model = Classifier(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1)), nn.Linear(2 * 8 * 8, 3)).double().eval()
    mask = numpy.zeros((2, 8, 8))
    mask[:, :3, :3] = 1.0  # the head reads feature positions (0..2, 0..2) only
    model.head.weight.data *= mask.reshape(1, -1)
    saliency = saliency_map(model, _input()[:1], 1)
    # a 3x3 kernel with padding 1 reaches one pixel further: input rows and columns 0..3
    assert saliency[:4, :4].min() > 0
    assert numpy.all(saliency[4:, :] == 0) and numpy.all(saliency[:, 4:] == 0)


@pytest.mark.parametrize("index", [0, 1, 3, 4])
def test_grad_cam_weights_are_the_spatially_averaged_gradients(index):
    model, x, target = _tiny(), _input(), 1
    result = grad_cam(model, x, target, f"features.{index}")
    # direct: run the layers up to `index`, restart from a leaf holding the activation, backward
    with convpool.no_grad():
        activation = model.features[:index + 1](convpool.Tensor(x[None]))
    leaf = convpool.Tensor(activation.numpy(), requires_grad=True)
    score = model.head(model.flatten(model.features[index + 1:](leaf)))[0, target]
    score.backward()
    gradient = leaf.grad.numpy()[0]
    numpy.testing.assert_allclose(result.activation, activation.numpy()[0], rtol=1e-12)
    numpy.testing.assert_allclose(result.gradient, gradient, rtol=1e-12, atol=1e-15)
    numpy.testing.assert_allclose(result.weights, gradient.mean(axis=(1, 2)), rtol=1e-12, atol=1e-15)
    expected = numpy.maximum((gradient.mean(axis=(1, 2))[:, None, None] * activation.numpy()[0]).sum(axis=0), 0)
    numpy.testing.assert_allclose(result.cam, expected, rtol=1e-12, atol=1e-15)
    numpy.testing.assert_allclose(result.product, numpy.maximum((gradient * activation.numpy()[0]).sum(axis=0), 0),
                                  rtol=1e-12, atol=1e-15)


def test_grad_cam_gradient_agrees_with_finite_differences_on_the_activation():
    model, x, target = _tiny(), _input(), 2
    result = grad_cam(model, x, target, "features.2")
    rest = model.features[3:]

    def score(a):
        with convpool.no_grad():
            return model.head(model.flatten(rest(convpool.Tensor(a[None])))).numpy()[0, target]

    step = 1e-6
    for index in [(0, 0, 0), (1, 2, 3), (2, 3, 1)]:
        up, down = result.activation.copy(), result.activation.copy()
        up[index] += step
        down[index] -= step
        assert result.gradient[index] == pytest.approx((score(up) - score(down)) / (2 * step), abs=1e-7)


def test_without_biases_gradient_times_activation_adds_up_to_the_score():
    model, x = _tiny(bias=False, seed=3), _input(seed=4)
    result = grad_cam(model, x, 0, "features.4")
    assert (result.gradient * result.activation).sum() == pytest.approx(_score(model, x, 0), rel=1e-10)


def test_the_default_layer_is_the_last_convs_rectified_output():
    model = _tiny()
    assert last_conv_features(model)[0] == "features.4"
    assert grad_cam(model, _input(), 0).layer == "features.4"
    plain = Classifier(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 3)), nn.Linear(8, 2))
    assert last_conv_features(plain)[0] == "features.1"
    batch_norm = Classifier(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU()), nn.Linear(8, 2))
    assert last_conv_features(batch_norm)[0] == "features.2"
    assert [name for name, _ in conv_layers(model)] == ["features.0", "features.3"]


def test_layers_are_given_by_module_or_name_and_unknown_ones_refused():
    model = _tiny()
    by_module = grad_cam(model, _input(), 0, model.features[3])
    assert by_module.layer == "features.3" and by_module.cam.shape == (2, 2)
    with pytest.raises(ValueError, match="no layer named 'features.9'"):
        grad_cam(model, _input(), 0, "features.9")
    with pytest.raises(ValueError, match="not a layer of the model"):
        grad_cam(model, _input(), 0, nn.ReLU())
    with pytest.raises(ValueError, match="target class 3 is out of range"):
        saliency_map(model, _input(), 3)


def test_the_model_is_left_as_it_was():
    model = _tiny()
    grad_cam(model, _input(), 0)
    saliency_map(model, _input(), 0)
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    assert all("forward" not in m.__dict__ for m in model.modules())


def test_tap_records_outputs_and_puts_forward_back():
    model = _tiny()
    layers = dict(conv_layers(model))
    with convpool.no_grad(), tap(layers) as outputs:
        model(convpool.Tensor(_input()[None]))
    assert {name: out.shape for name, out in outputs.items()} == {"features.0": (1, 3, 8, 8),
                                                                   "features.3": (1, 4, 2, 2)}
    assert all("forward" not in layer.__dict__ for layer in layers.values())
