"""convpool.nn.init: gains and fans against torch, the initialisers' distributions tested
statistically on large tensors (bounds, mean, std), reproducibility under manual_seed, and
every layer's default initialisation (PyTorch's rules)."""

from __future__ import annotations

import math

import numpy
import pytest
from reference import needs_torch, torch

import convpool
from convpool import nn
from convpool.nn import init

if torch is not None:
    torch.set_num_threads(1)

BIG = (256, 64, 3, 3)  # 147,456 samples: the relative std error of a std estimate is ~0.2%


def big(dtype="float32") -> convpool.Tensor:
    return convpool.zeros(*BIG, dtype=dtype)


def std_of(t) -> float:
    return float(numpy.asarray(t.data, dtype=numpy.float64).std())


# ----- gains and fans ---------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("nonlinearity,param", [
    ("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None), ("conv_transpose2d", None),
    ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
    ("leaky_relu", math.sqrt(5)), ("leaky_relu", 0), ("selu", None)])
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15)


def test_calculate_gain_rejects_unknown_input():
    with pytest.raises(ValueError, match="Unsupported nonlinearity softsign"):
        init.calculate_gain("softsign")
    with pytest.raises(ValueError, match="negative_slope True not a valid number"):
        init.calculate_gain("leaky_relu", True)


@needs_torch
@pytest.mark.parametrize("shape", [(3, 5), (4, 2, 3), (8, 3, 5, 5), (2, 6, 1, 3, 2), (6, 1, 3, 3)])
def test_fan_in_and_fan_out_match_torch(shape):
    assert init._calculate_fan_in_and_fan_out(convpool.zeros(*shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


def test_fan_needs_two_dims_and_mode_is_checked():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(convpool.zeros(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(convpool.zeros(3, 3), mode="fan_avg")


# ----- distributions ------------------------------------------------------------------------
@pytest.mark.parametrize("a,mode,nonlinearity", [
    (0, "fan_in", "leaky_relu"), (math.sqrt(5), "fan_in", "leaky_relu"), (0, "fan_out", "relu"),
    (0.1, "fan_out", "leaky_relu"), (0, "fan_in", "tanh")])
def test_kaiming_uniform_bounds_and_std(a, mode, nonlinearity):
    convpool.manual_seed(0)
    t = init.kaiming_uniform_(big(), a=a, mode=mode, nonlinearity=nonlinearity)
    fan = 64 * 9 if mode == "fan_in" else 256 * 9
    bound = init.calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    values = t.numpy()
    assert values.min() >= -bound and values.max() <= bound
    assert values.max() > 0.999 * bound and values.min() < -0.999 * bound  # the whole range is used
    assert std_of(t) == pytest.approx(bound / math.sqrt(3), rel=0.01)
    assert abs(values.mean()) < 0.01 * bound


@pytest.mark.parametrize("a,mode,nonlinearity", [(0, "fan_in", "relu"), (0, "fan_out", "relu"),
                                                 (0.2, "fan_in", "leaky_relu"), (0, "fan_in", "linear")])
def test_kaiming_normal_std(a, mode, nonlinearity):
    convpool.manual_seed(1)
    t = init.kaiming_normal_(big("float64"), a=a, mode=mode, nonlinearity=nonlinearity)
    fan = 64 * 9 if mode == "fan_in" else 256 * 9
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    assert std_of(t) == pytest.approx(std, rel=0.01)
    assert abs(float(t.numpy().mean())) < 0.01 * std
    assert abs(t.numpy()).max() > 3.5 * std  # a normal's tails, not a uniform's box


@pytest.mark.parametrize("gain", [1.0, init.calculate_gain("relu"), 0.5])
def test_xavier_uniform_and_normal(gain):
    convpool.manual_seed(2)
    std = gain * math.sqrt(2.0 / (64 * 9 + 256 * 9))
    t = init.xavier_uniform_(big(), gain=gain)
    bound = math.sqrt(3) * std
    assert t.numpy().min() >= -bound and t.numpy().max() <= bound and t.numpy().max() > 0.999 * bound
    assert std_of(t) == pytest.approx(std, rel=0.01)
    t = init.xavier_normal_(big(), gain=gain)
    assert std_of(t) == pytest.approx(std, rel=0.01)


def test_uniform_normal_constant_ones_zeros():
    convpool.manual_seed(3)
    t = init.uniform_(big("float64"), -2.0, 6.0)
    assert t.numpy().min() >= -2 and t.numpy().max() < 6
    assert float(t.numpy().mean()) == pytest.approx(2.0, abs=0.03)
    assert std_of(t) == pytest.approx(8 / math.sqrt(12), rel=0.01)
    t = init.normal_(big("float64"), mean=1.5, std=0.3)
    assert float(t.numpy().mean()) == pytest.approx(1.5, abs=0.003)
    assert std_of(t) == pytest.approx(0.3, rel=0.01)
    assert init.constant_(convpool.zeros(3), 0.25).tolist() == [0.25] * 3
    assert init.ones_(convpool.zeros(2, 2)).tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert init.zeros_(convpool.ones(2)).tolist() == [0.0, 0.0]


def test_initialisers_keep_dtype_and_identity_and_record_no_graph():
    p = nn.Parameter(convpool.zeros(4, 5))
    assert init.kaiming_uniform_(p) is p and p.dtype == numpy.float32 and p.is_leaf and p.grad is None
    q = convpool.zeros(4, 5, dtype="float64")
    init.xavier_normal_(q)
    assert q.dtype == numpy.float64
    with pytest.raises(TypeError, match="floating point"):
        init.normal_(convpool.arange(3))
    with pytest.raises(TypeError, match="expected a convpool.Tensor"):
        init.normal_(numpy.zeros(3))
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        init.kaiming_normal_(convpool.zeros(0, 3))


def test_manual_seed_makes_initialisation_reproducible():
    results = []
    for seed in (7, 7, 8):
        convpool.manual_seed(seed)
        results.append(init.kaiming_normal_(convpool.zeros(10, 10)).numpy().copy())
    numpy.testing.assert_array_equal(results[0], results[1])
    assert not numpy.array_equal(results[0], results[2])
    a = init.uniform_(convpool.zeros(5), generator=numpy.random.default_rng(3)).numpy()
    b = init.uniform_(convpool.zeros(5), generator=numpy.random.default_rng(3)).numpy()
    numpy.testing.assert_array_equal(a, b)
    convpool.manual_seed(4)
    first = [p.detach().numpy().copy() for p in nn.Conv2d(3, 8, 3).parameters()]
    convpool.manual_seed(4)
    second = [p.detach().numpy().copy() for p in nn.Conv2d(3, 8, 3).parameters()]
    for x, y in zip(first, second, strict=True):
        numpy.testing.assert_array_equal(x, y)


# ----- layers' default initialisation ---------------------------------------------------------
LAYERS = [
    ("Conv2d", (64, 128, 3), 64 * 9),
    ("Conv1d", (32, 64, 5), 32 * 5),
    ("Conv2d", (64, 128, 3, 1, 0, 1, 4), 16 * 9),  # groups=4: fan_in = 64/4 * 9
    ("ConvTranspose2d", (128, 32, 4), 32 * 16),  # weight (in, out/groups, k, k): fan_in = out * k * k
    ("Linear", (300, 400), 300),
]


@pytest.mark.parametrize("name,args,fan_in", LAYERS)
def test_layer_default_init_is_uniform_one_over_sqrt_fan_in(name, args, fan_in):
    convpool.manual_seed(5)
    layer = getattr(nn, name)(*args)
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)): gain sqrt(1/3) * sqrt(3/fan_in)
    assert init._calculate_fan_in_and_fan_out(layer.weight)[0] == fan_in
    w = layer.weight.detach().numpy()
    assert w.min() >= -bound and w.max() <= bound and w.max() > 0.99 * bound
    assert std_of(layer.weight) == pytest.approx(bound / math.sqrt(3), rel=0.02)
    b = layer.bias.detach().numpy()
    assert b.min() >= -bound and b.max() <= bound and b.std() > 0.3 * bound


@needs_torch
@pytest.mark.parametrize("name,args,fan_in", LAYERS)
def test_layer_default_init_has_torchs_range_and_spread(name, args, fan_in):
    """The same statistics for torch's layer of the same configuration (so the rule is torch's)."""
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(*args)
    convpool.manual_seed(0)
    ours = getattr(nn, name)(*args)
    bound = 1 / math.sqrt(torch.nn.init._calculate_fan_in_and_fan_out(theirs.weight)[0])
    for key, value in theirs.state_dict().items():
        t = value.numpy()
        o = ours.state_dict()[key].numpy()
        assert o.shape == t.shape and o.dtype == t.dtype
        assert abs(o).max() <= bound and abs(t).max() <= bound
        if t.size >= 1000:  # enough samples for the spread to agree closely
            assert abs(o).max() == pytest.approx(abs(t).max(), rel=0.01)
            assert o.std() == pytest.approx(t.std(), rel=0.05)


def test_norm_layers_start_at_ones_and_zeros():
    bn = nn.BatchNorm2d(3)
    assert bn.weight.tolist() == [1.0] * 3 and bn.bias.tolist() == [0.0] * 3
    assert bn.running_mean.tolist() == [0.0] * 3 and bn.running_var.tolist() == [1.0] * 3
    bn.running_mean.data[...] = 5
    bn.num_batches_tracked.data[...] = 9
    bn.reset_parameters()
    assert bn.running_mean.tolist() == [0.0] * 3 and int(bn.num_batches_tracked.item()) == 0
    ln = nn.LayerNorm((2, 3))
    assert ln.weight.detach().numpy().tolist() == [[1.0] * 3] * 2 and not ln.bias.detach().numpy().any()


# ----- trunc_normal_, orthogonal_, eye_, dirac_ ----------------------------------------------------
def test_trunc_normal_stays_within_the_bounds_with_the_truncated_moments():
    t = nn.init.trunc_normal_(convpool.zeros(400, 500), mean=0.5, std=1.0, a=-0.5, b=2.0,
                              generator=numpy.random.default_rng(0))
    values = t.numpy()
    assert values.min() >= -0.5 and values.max() <= 2.0
    # the mean of N(0.5, 1) truncated to [-0.5, 2]: 0.5 + (phi(-1) - phi(1.5)) / (Phi(1.5) - Phi(-1))
    phi = [math.exp(-z * z / 2) / math.sqrt(2 * math.pi) for z in (-1.0, 1.5)]
    cdf = [0.5 * math.erfc(-z / math.sqrt(2)) for z in (-1.0, 1.5)]
    assert abs(values.mean() - (0.5 + (phi[0] - phi[1]) / (cdf[1] - cdf[0]))) < 0.005


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 2, 3, 3), (6, 6)])
def test_orthogonal_gives_orthonormal_rows_or_columns(shape):
    t = nn.init.orthogonal_(convpool.zeros(*shape, dtype="float64"), gain=2.0, generator=numpy.random.default_rng(1))
    flat = t.numpy().reshape(shape[0], -1) / 2.0
    small = min(flat.shape)
    gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    numpy.testing.assert_allclose(gram, numpy.eye(small), atol=1e-12)


@needs_torch
def test_eye_and_dirac_match_torch():
    numpy.testing.assert_array_equal(nn.init.eye_(convpool.zeros(3, 5)).numpy(),
                                     torch.nn.init.eye_(torch.empty(3, 5)).numpy())
    for shape, groups in (((4, 2, 3), 1), ((6, 3, 3, 3), 2), ((2, 4, 1, 3, 3), 1)):
        numpy.testing.assert_array_equal(nn.init.dirac_(convpool.zeros(*shape), groups).numpy(),
                                         torch.nn.init.dirac_(torch.empty(*shape), groups).numpy())


def test_dirac_makes_a_convolution_the_identity():
    conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)
    nn.init.dirac_(conv.weight)
    x = convpool.randn(2, 3, 5, 5)
    numpy.testing.assert_allclose(conv(x).detach().numpy(), x.numpy(), rtol=1e-6)
