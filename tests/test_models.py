"""Named architectures: buildable by name, shapes from shape arithmetic equal real forwards."""

import numpy
import pytest

import convpool
from convpool import models

IMAGE_MODELS = [name for name in models.names() if models.input_kind(name) == "image"]


@pytest.mark.parametrize("name", IMAGE_MODELS)
@pytest.mark.parametrize("in_channels, image_size", [(1, 28), (3, 32)])
def test_each_model_classifies_a_batch_and_its_summary_matches_the_forward(name, in_channels, image_size):
    convpool.manual_seed(0)
    model = models.build(name, in_channels=in_channels, num_classes=10, image_size=image_size)
    model.eval()
    x = convpool.randn(3, in_channels, image_size, image_size)
    with convpool.no_grad():
        y = model(x)
    assert y.shape == (3, 10)
    assert numpy.isfinite(y.numpy()).all()
    assert model.summary((in_channels, image_size, image_size), batch_size=3).output_shape == (3, 10)
    table = repr(model.summary((in_channels, image_size, image_size)))
    total = sum(p.numel() for p in model.parameters())
    assert f"Total params: {total:,}" in table


def test_the_article_cnn_is_conv_relu_pool_blocks_then_a_fully_connected_layer():
    model = models.build("article-cnn")
    kinds = [type(m).__name__ for m in model.features]
    assert kinds[:5] == ["Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d"]
    assert "Dropout" in kinds
    assert type(list(model.head)[-1]).__name__ == "Linear"


def test_a_model_trains_its_gradients_reach_every_parameter():
    convpool.manual_seed(1)
    model = models.build("vgg-bn")
    x = convpool.randn(4, 1, 28, 28)
    loss = convpool.functional.cross_entropy(model(x), convpool.tensor([0, 1, 2, 3]))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and numpy.abs(p.grad.numpy()).sum() > 0, name


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown model 'resnet'.*article-cnn"):
        models.build("resnet")


def test_pretrained_fashion_mnist_weights_classify_the_built_in_sample():
    from convpool.data import Compose, DataLoader, Normalize, ToFloat, load_fashion_mnist_sample
    from convpool.train import evaluate

    model, config = models.pretrained("fashion-mnist")
    assert config["class_names"][0] == "T-shirt/top" and config["image_size"] == 28
    assert not model.training
    sample = load_fashion_mnist_sample("test")  # drawn from the test split: never trained on
    normalise = Compose([ToFloat(), Normalize(config["mean"], config["std"])])
    loader = DataLoader(sample, batch_size=100, transform=normalise)
    assert evaluate(model, loader)["accuracy"] >= 0.85


def test_unknown_pretrained_name_is_refused():
    shipped = "cifar10, fashion-mnist, fsdd"
    with pytest.raises(ValueError, match=f"no pretrained weights named 'imagenet'; shipped: {shipped}"):
        models.pretrained("imagenet")


@pytest.mark.parametrize("name, shape", [("audio-cnn1d", (1, 8000)), ("audio-cnn1d", (1, 5000)),
                                         ("audio-cnn2d", (1, 40, 101)), ("audio-cnn2d", (1, 64, 33))])
def test_sound_models_take_clips_of_any_length(name, shape):
    convpool.manual_seed(0)
    model = models.build(name, in_channels=1, image_size=shape[1]).eval()
    with convpool.no_grad():
        y = model(convpool.randn(2, *shape))
    assert y.shape == (2, 10) == model.summary(shape, batch_size=2).output_shape
    assert "Total params" in str(model.summary(shape))


def test_sound_models_refuse_inputs_too_small_for_their_pooling():
    with pytest.raises(ValueError, match="at least 1024 samples, got 500"):
        models.build("audio-cnn1d", image_size=500)
    with pytest.raises(ValueError, match="at least 8x8"):
        models.build("resnet-cifar", image_size=6)


def test_resnet_residual_blocks_and_global_max_pool_have_exact_gradients():
    from convpool.gradcheck import gradcheck
    from convpool.models.resnet import GlobalMaxPool, Residual

    convpool.manual_seed(2)
    block = Residual(3).double()
    rng = numpy.random.default_rng(0)
    x = convpool.tensor(rng.standard_normal((2, 3, 5, 5)), requires_grad=True)
    gradcheck(lambda x: block(x), [x])
    # distinct values so the maximum is unique and the finite differences do not cross a tie
    x = convpool.tensor(rng.permutation(2 * 3 * 4 * 4).reshape(2, 3, 4, 4) / 7.0, requires_grad=True)
    gradcheck(lambda x: GlobalMaxPool()(x), [x])
    assert numpy.array_equal(GlobalMaxPool()(x).detach().numpy(), x.detach().numpy().max(axis=(2, 3)))
