"""The convpool.nn layers that wrap the newer functions, each against the torch.nn layer of
the same configuration through test_nn_layers' compare_module (state copied from torch,
forward, input and parameter gradients, buffers; float64 to 1e-10, float32 to 1e-4); the
loss classes against torch's; containers; device= and dtype= on constructors."""

from __future__ import annotations

import numpy
import pytest
from reference import TOLERANCE, needs_torch, tie_free, torch
from test_nn_layers import compare_module

import convpool
from convpool import nn

DTYPES = ["float64", "float32"]


def _rand(seed: int, shape, dtype: str, scale: float = 2.0):
    return (numpy.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


# (layer name, constructor arguments, input shape)
LAYERS = [
    ("ReLU6", {}, (2, 3, 4)), ("Hardswish", {}, (2, 3, 4)), ("Hardsigmoid", {}, (2, 3, 4)), ("Mish", {}, (2, 5)),
    ("SELU", {}, (2, 5)), ("ELU", {"alpha": 0.7}, (2, 5)), ("CELU", {"alpha": 1.3}, (2, 5)),
    ("Hardtanh", {"min_val": -0.5, "max_val": 2.0}, (3, 4)), ("Threshold", {"threshold": 0.1, "value": -2.0}, (3, 4)),
    ("Softplus", {"beta": 2.0, "threshold": 3.0}, (3, 4)), ("Softsign", {}, (3, 4)), ("LogSigmoid", {}, (3, 4)),
    ("PReLU", {}, (2, 3, 4)), ("PReLU", {"num_parameters": 3, "init": 0.1}, (2, 3, 4)), ("GLU", {"dim": 1}, (2, 4, 3)),
    ("Softmax", {"dim": 1}, (2, 3, 4)), ("LogSoftmax", {"dim": -1}, (2, 3, 4)), ("Softmin", {"dim": 0}, (2, 3)),
    ("Softmax2d", {}, (2, 3, 4, 4)),
    ("Upsample", {"scale_factor": 2}, (1, 2, 3, 4)),
    ("Upsample", {"size": (5, 7), "mode": "bilinear", "align_corners": False}, (1, 2, 3, 4)),
    ("Upsample", {"scale_factor": 1.5, "mode": "bicubic", "align_corners": True}, (1, 2, 3, 4)),
    ("Upsample", {"size": 7, "mode": "linear"}, (2, 2, 5)),
    ("UpsamplingNearest2d", {"scale_factor": 3}, (1, 2, 3, 2)),
    ("UpsamplingBilinear2d", {"size": (4, 6)}, (1, 2, 3, 2)),
    ("PixelShuffle", {"upscale_factor": 2}, (2, 8, 3, 3)), ("PixelUnshuffle", {"downscale_factor": 2}, (2, 2, 4, 6)),
    ("Unfold", {"kernel_size": (2, 3), "padding": 1, "stride": 2}, (2, 3, 5, 6)),
    ("Fold", {"output_size": (4, 5), "kernel_size": 2}, (2, 12, 12)),
    ("InstanceNorm1d", {"num_features": 3}, (2, 3, 5)),
    ("InstanceNorm2d", {"num_features": 3, "affine": True}, (2, 3, 4, 4)),
    ("InstanceNorm2d", {"num_features": 3, "affine": True}, (3, 4, 4)),
    ("InstanceNorm3d", {"num_features": 2, "affine": True}, (2, 2, 3, 3, 3)),
    ("LocalResponseNorm", {"size": 3, "alpha": 0.1}, (2, 5, 3, 3)),
    ("GroupNorm", {"num_groups": 2, "num_channels": 4}, (2, 4, 3)),
    ("AdaptiveAvgPool3d", {"output_size": (2, 1, 3)}, (2, 3, 4, 3, 5)),
    ("AdaptiveMaxPool1d", {"output_size": 3}, (2, 3, 7)),
    ("AdaptiveMaxPool2d", {"output_size": (2, 3), "return_indices": True}, (2, 3, 5, 7)),
    ("AdaptiveMaxPool3d", {"output_size": 2}, (1, 2, 4, 5, 3)),
    ("LPPool1d", {"norm_type": 2, "kernel_size": 3, "stride": 2}, (2, 3, 7)),
    ("LPPool2d", {"norm_type": 3, "kernel_size": 2}, (2, 3, 4, 6)),
    ("ZeroPad2d", {"padding": (1, 2, 0, 3)}, (2, 3, 4, 4)), ("ZeroPad1d", {"padding": 2}, (2, 3, 4)),
    ("ConstantPad2d", {"padding": 1, "value": 3.5}, (2, 3, 4, 4)),
    ("ConstantPad3d", {"padding": (1, 0, 0, 2, 1, 1), "value": -1.0}, (1, 2, 3, 3, 3)),
    ("ReflectionPad2d", {"padding": (1, 2, 2, 1)}, (2, 3, 4, 4)), ("ReflectionPad1d", {"padding": 2}, (2, 3, 4)),
    ("ReplicationPad2d", {"padding": 2}, (2, 3, 4, 4)), ("ReplicationPad3d", {"padding": 1}, (1, 2, 3, 3, 3)),
    ("CircularPad2d", {"padding": (1, 1, 2, 0)}, (2, 3, 4, 4)),
    ("ZeroPad2d", {"padding": (-1, 2, 1, -2)}, (2, 3, 4, 4)),
    ("Unflatten", {"dim": 1, "unflattened_size": (3, 4)}, (2, 12)),
    ("Unflatten", {"dim": -1, "unflattened_size": (2, -1)}, (2, 3, 8)),
    ("Tanhshrink", {}, (3, 4)), ("Softshrink", {"lambd": 0.3}, (3, 4)), ("Hardshrink", {"lambd": 0.4}, (3, 4)),
    ("RReLU", {"lower": 0.1, "upper": 0.2}, (3, 4)), ("ChannelShuffle", {"groups": 2}, (2, 4, 3, 3)),
    ("RMSNorm", {"normalized_shape": (3, 4)}, (2, 3, 4)), ("RMSNorm", {"normalized_shape": 4, "eps": 1e-3}, (2, 4)),
    ("Embedding", None, None),
]


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,config,shape", [c for c in LAYERS if c[1] is not None],
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(LAYERS) if c[1] is not None])
def test_layer_matches_torch(name, config, shape, dtype):
    ours, theirs = getattr(nn, name)(**config), getattr(torch.nn, name)(**config)
    if name == "RReLU":  # the eval-mode slope; training draws differ between libraries
        ours.eval()
        theirs.eval()
    x = tie_free(numpy.random.default_rng(len(name)), shape, dtype) * 2 if "Max" in name else \
        _rand(len(name), shape, dtype)
    if name.startswith("LPPool"):  # odd powers of negative sums are NaN in both libraries
        x = numpy.abs(x) + numpy.asarray(0.1, dtype=dtype)
    compare_module(ours, theirs, x, check_output_shape=False)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear_layer_matches_torch(bias, dtype):
    ours, theirs = nn.Bilinear(3, 4, 2, bias=bias, dtype=dtype), torch.nn.Bilinear(3, 4, 2, bias=bias,
                                                                                   dtype=getattr(torch, dtype))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x1, x2 = _rand(1, (2, 5, 3), dtype), _rand(2, (2, 5, 4), dtype)
    a, b = convpool.tensor(x1, requires_grad=True), convpool.tensor(x2, requires_grad=True)
    ta, tb = torch.tensor(x1, requires_grad=True), torch.tensor(x2, requires_grad=True)
    y, expected = ours(a, b), theirs(ta, tb)
    rtol, atol = TOLERANCE[numpy.dtype(dtype)]
    numpy.testing.assert_allclose(y.detach().numpy(), expected.detach().numpy(), rtol=rtol, atol=atol)
    upstream = numpy.random.default_rng(0).standard_normal(y.shape).astype(dtype)
    y.backward(convpool.tensor(upstream))
    expected.backward(torch.tensor(upstream))
    for mine, reference in [(a.grad, ta.grad), (b.grad, tb.grad), (ours.weight.grad, theirs.weight.grad)] + (
            [(ours.bias.grad, theirs.bias.grad)] if bias else []):
        numpy.testing.assert_allclose(mine.numpy(), reference.numpy(), rtol=rtol, atol=atol)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", [{}, {"padding_idx": 2}, {"scale_grad_by_freq": True}])
def test_embedding_layer_matches_torch(config, dtype):
    ours, theirs = nn.Embedding(7, 4, **config, dtype=dtype), torch.nn.Embedding(7, 4, **config,
                                                                                    dtype=getattr(torch, dtype))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    index = numpy.array([[0, 2, 2], [6, 1, 2]])
    y, expected = ours(convpool.tensor(index)), theirs(torch.tensor(index))
    rtol, atol = TOLERANCE[numpy.dtype(dtype)]
    numpy.testing.assert_allclose(y.detach().numpy(), expected.detach().numpy(), rtol=rtol, atol=atol)
    upstream = numpy.random.default_rng(0).standard_normal(y.shape).astype(dtype)
    y.backward(convpool.tensor(upstream))
    expected.backward(torch.tensor(upstream))
    numpy.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=rtol, atol=atol)
    if "padding_idx" in config:
        assert not nn.Embedding(7, 4, **config).weight.detach().numpy()[2].any()  # the padding row starts at zero


def test_embedding_from_pretrained_shares_and_freezes():
    table = convpool.tensor(numpy.arange(12.0).reshape(4, 3))
    layer = nn.Embedding.from_pretrained(table)
    assert not layer.weight.requires_grad
    numpy.testing.assert_array_equal(layer(convpool.tensor([3, 0])).numpy(), [[9, 10, 11], [0, 1, 2]])
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad


@needs_torch
@pytest.mark.parametrize("name,config,shape", [
    ("MaxUnpool1d", {"kernel_size": 2}, (2, 3, 8)), ("MaxUnpool2d", {"kernel_size": 2, "stride": 2}, (2, 3, 4, 6)),
    ("MaxUnpool3d", {"kernel_size": 2}, (1, 2, 4, 4, 2)),
])
def test_max_unpool_layers_invert_max_pool_like_torch(name, config, shape):
    nd = int(name[-2])
    x = tie_free(numpy.random.default_rng(nd), shape)
    pool_ours = getattr(nn, f"MaxPool{nd}d")(**config, return_indices=True)
    pool_theirs = getattr(torch.nn, f"MaxPool{nd}d")(**config, return_indices=True)
    pooled, indices = pool_ours(convpool.tensor(x))
    _, theirs_indices = pool_theirs(torch.tensor(x))
    ours = getattr(nn, name)(**config)(convpool.tensor(pooled.numpy()), indices, output_size=shape)
    theirs = getattr(torch.nn, name)(**config)(torch.tensor(pooled.numpy()), theirs_indices, output_size=shape)
    numpy.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@needs_torch
@pytest.mark.parametrize("name", ["Dropout3d", "AlphaDropout", "FeatureAlphaDropout"])
def test_dropout_layers_are_identities_in_eval_and_random_in_training(name):
    layer = getattr(nn, name)(0.5)
    x = convpool.randn(4, 3, 2, 2, 2)
    assert (layer.eval()(x).numpy() == x.numpy()).all()
    assert not (layer.train()(x).numpy() == x.numpy()).all()
    assert repr(layer) == repr(getattr(torch.nn, name)(0.5))


# ----- distances -----------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_distance_layers_match_torch(dtype):
    x1, x2 = _rand(1, (4, 5), dtype), _rand(2, (4, 5), dtype)
    rtol, atol = TOLERANCE[numpy.dtype(dtype)]
    for ours, theirs in ((nn.CosineSimilarity(dim=1), torch.nn.CosineSimilarity(dim=1)),
                         (nn.PairwiseDistance(p=3.0, keepdim=True), torch.nn.PairwiseDistance(p=3.0, keepdim=True))):
        numpy.testing.assert_allclose(ours(convpool.tensor(x1), convpool.tensor(x2)).numpy(),
                                      theirs(torch.tensor(x1), torch.tensor(x2)).numpy(), rtol=rtol, atol=atol)


# ----- losses --------------------------------------------------------------------------------
def _loss_inputs(name: str, dtype: str):
    rng = numpy.random.default_rng(len(name))
    x = rng.standard_normal((4, 3)).astype(dtype)
    if name in ("CrossEntropyLoss", "NLLLoss"):
        return x, rng.integers(0, 3, 4)
    if name == "BCELoss":
        return 1 / (1 + numpy.exp(-x)), rng.random((4, 3)).astype(dtype)
    if name == "KLDivLoss":
        return x - numpy.log(numpy.exp(x).sum(1, keepdims=True)), rng.dirichlet(numpy.ones(3), 4).astype(dtype)
    if name == "BCEWithLogitsLoss":
        return x, rng.random((4, 3)).astype(dtype)
    if name in ("SoftMarginLoss", "HingeEmbeddingLoss"):
        return numpy.abs(x), rng.choice([-1.0, 1.0], (4, 3)).astype(dtype)
    if name == "MultiLabelSoftMarginLoss":
        return x, rng.integers(0, 2, (4, 3)).astype(dtype)
    if name == "PoissonNLLLoss":
        return x, (rng.poisson(2.0, (4, 3)) + 1).astype(dtype)
    return x, rng.standard_normal((4, 3)).astype(dtype)


LOSSES = [
    ("CrossEntropyLoss", {}), ("CrossEntropyLoss", {"label_smoothing": 0.1, "reduction": "sum"}),
    ("CrossEntropyLoss", {"weight": "class", "ignore_index": 1}), ("NLLLoss", {"reduction": "none"}),
    ("NLLLoss", {"weight": "class"}), ("MSELoss", {}), ("L1Loss", {"reduction": "sum"}),
    ("SmoothL1Loss", {"beta": 0.5}), ("HuberLoss", {"delta": 0.7}), ("BCELoss", {}),
    ("BCELoss", {"weight": "class"}), ("BCEWithLogitsLoss", {"pos_weight": "class"}),
    ("KLDivLoss", {"reduction": "batchmean"}), ("KLDivLoss", {"reduction": "sum", "log_target": False}),
    ("MSELoss", {"size_average": False}), ("SoftMarginLoss", {}), ("MultiLabelSoftMarginLoss", {"weight": "class"}),
    ("HingeEmbeddingLoss", {"margin": 0.5}), ("PoissonNLLLoss", {"full": True}),
]


@needs_torch
@pytest.mark.filterwarnings("ignore:size_average and reduce args will be deprecated")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,config", LOSSES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(LOSSES)])
def test_loss_layer_matches_torch(name, config, dtype):
    x, target = _loss_inputs(name, dtype)
    weight = numpy.array([0.5, 2.0, 1.0], dtype=dtype)
    ours_config = {k: convpool.tensor(weight) if v == "class" else v for k, v in config.items()}
    theirs_config = {k: torch.tensor(weight) if v == "class" else v for k, v in config.items()}
    ours, theirs = getattr(nn, name)(**ours_config), getattr(torch.nn, name)(**theirs_config)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x_ours, x_theirs = convpool.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, expected = ours(x_ours, convpool.tensor(target)), theirs(x_theirs, torch.tensor(target))
    rtol, atol = TOLERANCE[numpy.dtype(dtype)]
    numpy.testing.assert_allclose(y.detach().numpy(), expected.detach().numpy(), rtol=rtol, atol=atol)
    upstream = numpy.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    y.backward(convpool.tensor(upstream))
    expected.backward(torch.tensor(upstream))
    numpy.testing.assert_allclose(x_ours.grad.numpy(), x_theirs.grad.numpy(), rtol=rtol, atol=atol)


@needs_torch
def test_multi_input_loss_layers_match_torch():
    rng = numpy.random.default_rng(4)
    a, p, n = (rng.standard_normal((5, 4)) for _ in range(3))
    y = rng.choice([-1.0, 1.0], 5)
    mean, target, var = rng.standard_normal((5, 4)), rng.standard_normal((5, 4)), rng.random((5, 4)) + 0.1
    cases = [
        (nn.TripletMarginLoss(margin=0.7, swap=True), torch.nn.TripletMarginLoss(margin=0.7, swap=True), (a, p, n)),
        (nn.MarginRankingLoss(margin=0.2), torch.nn.MarginRankingLoss(margin=0.2), (a[:, 0], p[:, 0], y)),
        (nn.CosineEmbeddingLoss(margin=0.1), torch.nn.CosineEmbeddingLoss(margin=0.1), (a, p, y)),
        (nn.GaussianNLLLoss(full=True), torch.nn.GaussianNLLLoss(full=True), (mean, target, var)),
    ]
    for ours, theirs, arrays in cases:
        got = ours(*(convpool.tensor(x) for x in arrays)).item()
        assert got == pytest.approx(theirs(*(torch.tensor(x) for x in arrays)).item(), rel=1e-12), type(ours)


# ----- containers ----------------------------------------------------------------------------
def test_module_dict_registers_its_modules_like_torch():
    ours = nn.ModuleDict({"conv": nn.Conv2d(1, 2, 3), "act": nn.ReLU()})
    ours["head"] = nn.Linear(4, 2)
    theirs = torch.nn.ModuleDict({"conv": torch.nn.Conv2d(1, 2, 3), "act": torch.nn.ReLU()}) if torch else None
    assert list(ours.keys()) == ["conv", "act", "head"] and "act" in ours and len(ours) == 3
    assert list(ours.state_dict()) == ["conv.weight", "conv.bias", "head.weight", "head.bias"]
    if theirs is not None:
        theirs["head"] = torch.nn.Linear(4, 2)
        assert list(ours.state_dict()) == list(theirs.state_dict())
    assert isinstance(ours.pop("act"), nn.ReLU) and list(ours) == ["conv", "head"]
    ours.update([("act", nn.Tanh())])
    assert [type(m).__name__ for m in ours.values()] == ["Conv2d", "Linear", "Tanh"]


def test_parameter_list_and_dict_register_parameters_and_train():
    holder = nn.Module()
    holder.weights = nn.ParameterList([convpool.randn(2, 3), nn.Parameter(convpool.randn(3))])
    holder.named = nn.ParameterDict({"scale": convpool.ones(3)})
    holder.named["shift"] = convpool.zeros(3)
    assert [name for name, _ in holder.named_parameters()] == ["weights.0", "weights.1", "named.scale", "named.shift"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in holder.parameters())
    loss = ((holder.weights[0] @ holder.weights[1]) * holder.named["scale"][:2] + holder.named["shift"][:2]).sum()
    loss.backward()
    assert all(p.grad is not None for p in holder.parameters())
    assert len(holder.weights[0:1]) == 1 and holder.weights[-1] is holder.weights[1]
    assert list(holder.named.keys()) == ["scale", "shift"] and "scale" in holder.named
    state = holder.state_dict()
    assert list(state) == ["weights.0", "weights.1", "named.scale", "named.shift"]


# ----- device= and dtype= ----------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda **kw: nn.Linear(3, 2, **kw), lambda **kw: nn.Conv2d(1, 2, 3, **kw),
    lambda **kw: nn.ConvTranspose1d(1, 2, 3, **kw),
    lambda **kw: nn.BatchNorm2d(3, **kw), lambda **kw: nn.LayerNorm(4, **kw), lambda **kw: nn.GroupNorm(1, 2, **kw),
    lambda **kw: nn.InstanceNorm2d(2, affine=True, **kw), lambda **kw: nn.PReLU(**kw),
    lambda **kw: nn.Embedding(5, 2, **kw), lambda **kw: nn.Bilinear(2, 3, 4, **kw), lambda **kw: nn.RMSNorm(3, **kw),
])
def test_layers_accept_device_and_dtype_like_torch(make):
    layer = make(device="cpu", dtype=convpool.float64)
    assert all(p.dtype == numpy.float64 for p in layer.parameters())
    assert all(p.dtype == numpy.float32 for p in make(device=None).parameters())


def test_unflatten_errors():
    with pytest.raises(ValueError, match=r"Unflatten: unflattened_size \(3, 5\) has 15 elements, but dim 1"):
        nn.Unflatten(1, (3, 5))(convpool.zeros(2, 12))
    with pytest.raises(ValueError, match=r"at most one -1"):
        nn.Unflatten(1, (-1, -1))
