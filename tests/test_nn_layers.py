"""convpool.nn layers against the torch.nn layer of the same configuration: torch's
state_dict is copied into ours through load_state_dict (as NumPy arrays), then the forward,
the input gradient and the gradient of every parameter are compared, float64 to 1e-10 and
float32 to 1e-4, on randomly drawn configurations. Also: BatchNorm's running statistics
over several training steps, the summary's traced shape of every layer against a real forward,
dropout's statistics, reprs, and constructor errors."""

from __future__ import annotations

import copy

import numpy
import pytest
from reference import REFERENCE_DEVICES, TOLERANCE, needs_torch, tie_free, torch

import convpool
from convpool import nn
from convpool.shapes import output_length, transposed_output_length, window_touches_input

if torch is not None:  # torch's OpenMP threads spin after each op and starve convpool's thread pool
    torch.set_num_threads(1)  # on small machines (5x slower tests); one thread is plenty for references

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")

DTYPES = ["float64", "float32"]
PADDING_MODES = ["zeros", "reflect", "replicate", "circular"]


# ----- the comparison ------------------------------------------------------------------------
def torch_state_as_numpy(theirs) -> dict:
    return {key: value.detach().numpy().copy() for key, value in theirs.state_dict().items()}


def randomize_torch(theirs, seed: int) -> None:
    """Random values in every torch parameter, so affine weights are not just ones/zeros."""
    rng = numpy.random.default_rng(seed + 12345)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape)) * 0.5))


def compare_module(ours: nn.Module, theirs, x: numpy.ndarray, *, seed: int = 0, randomize: bool = True,
                   check_output_shape: bool = True, args=(), kwargs=None):
    """Copy torch's state into ours, run both on x, backpropagate the same upstream gradient,
    and compare outputs, the input gradient, every parameter's gradient and the buffers."""
    kwargs = kwargs or {}
    dtype = numpy.dtype(x.dtype)
    rtol, atol = TOLERANCE[dtype]
    theirs.to(getattr(torch, dtype.name))
    ours.to(dtype)
    if randomize:
        randomize_torch(theirs, seed)
    initial = copy.deepcopy(theirs)
    result = None
    for run, device in enumerate(REFERENCE_DEVICES):  # torch's own module runs first, fresh copies after
        theirs_run = theirs if run == 0 else copy.deepcopy(initial)
        where = f" (convpool on {device})"
        ours.load_state_dict(torch_state_as_numpy(theirs_run))
        ours.to(device)
        ours.train(theirs_run.training)
        for (_, mine), (_, reference) in zip(ours.named_parameters(), theirs_run.named_parameters(), strict=True):
            mine.grad = None if reference.grad is None else convpool.tensor(reference.grad.numpy(), device=device)
        x_ours = convpool.tensor(x.copy(), device=device, requires_grad=True)
        x_theirs = torch.tensor(x.copy(), requires_grad=True)
        y_ours = ours(x_ours, *args, **kwargs)
        y_theirs = theirs_run(x_theirs, *args, **kwargs)
        if isinstance(y_theirs, tuple):  # (output, indices)
            numpy.testing.assert_array_equal(y_ours[1].numpy(), y_theirs[1].numpy(), err_msg="indices differ" + where)
            y_ours, y_theirs = y_ours[0], y_theirs[0]
        assert y_ours.shape == tuple(y_theirs.shape), \
            f"shape: convpool {y_ours.shape}, torch {tuple(y_theirs.shape)}{where}"
        assert y_ours.dtype == dtype and y_ours.device.type == device
        if check_output_shape and run == 0 and not args and not kwargs and x.ndim and x.size:
            traced = nn.summarize(ours, x.shape[1:], x.shape[0], dtype=dtype).output_shape
            assert traced == y_ours.shape, "the summary's traced output shape differs from a real forward"
        numpy.testing.assert_allclose(y_ours.detach().numpy(), y_theirs.detach().numpy(), rtol=rtol, atol=atol,
                                      err_msg="forward differs from torch" + where)
        upstream = numpy.random.default_rng(seed).standard_normal(y_ours.shape).astype(dtype)
        y_ours.backward(convpool.tensor(upstream, device=device))
        y_theirs.backward(torch.tensor(upstream))
        numpy.testing.assert_allclose(x_ours.grad.numpy(), x_theirs.grad.numpy(), rtol=rtol, atol=atol,
                                      err_msg="input gradient differs from torch" + where)
        ours_params = dict(ours.named_parameters())
        theirs_params = dict(theirs_run.named_parameters())
        assert list(ours_params) == list(theirs_params)
        for name, p in theirs_params.items():
            assert ours_params[name].grad is not None, f"no gradient for {name}"
            assert ours_params[name].grad.device.type == device, f"gradient of {name} on another device"
            numpy.testing.assert_allclose(ours_params[name].grad.numpy(), p.grad.numpy(), rtol=rtol, atol=atol,
                                          err_msg=f"gradient of {name} differs from torch{where}")
        compare_state(ours, theirs_run, dtype)
        ours.to("cpu")
        result = y_ours if result is None else result
    return result


def compare_state(ours: nn.Module, theirs, dtype) -> None:
    rtol, atol = TOLERANCE[numpy.dtype(dtype)]
    theirs_state = theirs.state_dict()
    ours_state = ours.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key, value in theirs_state.items():
        assert ours_state[key].dtype == numpy.dtype(str(value.dtype).replace("torch.", "")), key
        numpy.testing.assert_allclose(ours_state[key].numpy(), value.numpy(), rtol=rtol, atol=atol,
                                      err_msg=f"{key} differs from torch")


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


# ----- convolution ------------------------------------------------------------------------
def conv_case(seed: int, nd: int):
    """A random, valid convolution configuration and a matching input shape."""
    rng = numpy.random.default_rng(seed)
    groups = int(rng.choice([1, 1, 2, 3]))
    in_channels = groups * int(rng.integers(1, 3))
    out_channels = groups * int(rng.integers(1, 3))
    kernel = tuple(int(k) for k in rng.integers(1, 4 if nd == 3 else 5, size=nd))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=nd))
    padding_mode = PADDING_MODES[seed % 4]
    choice = rng.integers(0, 4)
    if choice == 0:
        stride, padding = 1, "same"
    elif choice == 1:
        stride, padding = tuple(int(s) for s in rng.integers(1, 3, size=nd)), "valid"
    else:
        stride = tuple(int(s) for s in rng.integers(1, 4, size=nd))
        padding = tuple(int(p) for p in rng.integers(0, 3, size=nd)) if choice == 2 else int(rng.integers(0, 3))
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    sizes = tuple(int(rng.integers(e + 2, e + 6)) if nd < 3 else e + int(rng.integers(2, 4)) for e in extent)
    batched = seed % 5 != 4
    shape = ((2,) if batched else ()) + (in_channels,) + sizes
    config = dict(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel if seed % 3 else kernel[0],
                  stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bool(seed % 4 != 1),
                  padding_mode=padding_mode)
    if seed % 3 == 0:
        config["kernel_size"] = kernel[0]
        extent0 = dilation[0] * (kernel[0] - 1) + 1
        shape = shape[:len(shape) - nd] + tuple(max(n, extent0 + 2) for n in sizes)
    return config, shape


N_CONV = {1: 16, 2: 24, 3: 6}


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nd,seed", [(nd, s) for nd in (1, 2, 3) for s in range(N_CONV[nd])])
def test_conv_matches_torch(nd, seed, dtype):
    config, shape = conv_case(seed, nd)
    ours = getattr(nn, f"Conv{nd}d")(**config)
    theirs = getattr(torch.nn, f"Conv{nd}d")(**config)
    x = _rand(numpy.random.default_rng(seed + 1), shape, dtype)
    compare_module(ours, theirs, x, seed=seed, randomize=False)


@needs_torch
@pytest.mark.parametrize("mode", PADDING_MODES)
def test_conv_same_padding_with_even_kernel_and_padding_mode(mode):
    """'same' with an even kernel puts the odd pixel after, also through F.pad, as torch."""
    config = dict(in_channels=2, out_channels=3, kernel_size=(2, 4), padding="same", dilation=(1, 2),
                  padding_mode=mode)
    x = _rand(numpy.random.default_rng(0), (2, 2, 7, 9), "float64")
    y = compare_module(nn.Conv2d(**config), torch.nn.Conv2d(**config), x)
    assert y.shape == (2, 3, 7, 9)


def conv_transpose_case(seed: int, nd: int):
    rng = numpy.random.default_rng(1000 + seed)
    groups = int(rng.choice([1, 1, 2]))
    in_channels = groups * int(rng.integers(1, 3))
    out_channels = groups * int(rng.integers(1, 3))
    kernel = tuple(int(k) for k in rng.integers(1, 4, size=nd))
    stride = tuple(int(s) for s in rng.integers(1, 4, size=nd))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=nd))
    padding = tuple(int(p) for p in rng.integers(0, 2, size=nd))
    output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation, strict=True))
    sizes = tuple(int(n) for n in rng.integers(2, 5 if nd < 3 else 3, size=nd))
    for n, k, s, p, d, o in zip(sizes, kernel, stride, padding, dilation, output_padding, strict=True):
        if (n - 1) * s - 2 * p + d * (k - 1) + o + 1 <= 0:
            padding = (0,) * nd
    batched = seed % 4 != 3
    shape = ((2,) if batched else ()) + (in_channels,) + sizes
    config = dict(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel, stride=stride,
                  padding=padding, output_padding=output_padding, groups=groups, bias=bool(seed % 3 != 1),
                  dilation=dilation)
    return config, shape


N_CONV_T = {1: 6, 2: 16, 3: 4}


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nd,seed", [(nd, s) for nd in (1, 2, 3) for s in range(N_CONV_T[nd])])
def test_conv_transpose_matches_torch(nd, seed, dtype):
    config, shape = conv_transpose_case(seed, nd)
    ours = getattr(nn, f"ConvTranspose{nd}d")(**config)
    theirs = getattr(torch.nn, f"ConvTranspose{nd}d")(**config)
    x = _rand(numpy.random.default_rng(seed + 7), shape, dtype)
    compare_module(ours, theirs, x, seed=seed, randomize=False)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose2d_output_size_argument_matches_torch(dtype):
    config = dict(in_channels=2, out_channels=3, kernel_size=3, stride=2, padding=1)
    x = _rand(numpy.random.default_rng(3), (2, 2, 4, 5), dtype)
    for output_size in ([7, 9], [8, 10], (2, 3, 8, 9)):
        ours, theirs = nn.ConvTranspose2d(**config), torch.nn.ConvTranspose2d(**config)
        y = compare_module(ours, theirs, x, kwargs={"output_size": output_size})
        assert y.shape[2:] == tuple(output_size[-2:])
    with pytest.raises(ValueError, match="valid sizes range from 7 to 8"):
        nn.ConvTranspose2d(**config)(convpool.tensor(x), output_size=[9, 9])


# ----- pooling ----------------------------------------------------------------------------
def pool_case(seed: int, nd: int, kind: str):
    """A random pooling configuration whose windows all touch the input."""
    rng = numpy.random.default_rng(2000 + seed)
    while True:
        kernel = tuple(int(k) for k in rng.integers(1, 5, size=nd))
        stride = None if rng.random() < 0.3 else tuple(int(s) for s in rng.integers(1, 4, size=nd))
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
        dilation = tuple(int(d) for d in rng.integers(1, 3, size=nd)) if kind == "max" else (1,) * nd
        ceil_mode = bool(rng.random() < 0.5)
        sizes = tuple(int(n) for n in rng.integers(3, 10, size=nd))
        strides = stride or kernel
        try:
            outs = [output_length(n, k, s, p, d, ceil_mode)
                    for n, k, s, p, d in zip(sizes, kernel, strides, padding, dilation, strict=True)]
        except ValueError:
            continue
        if all(window_touches_input(n, k, s, p, d, o) for n, k, s, p, d, o in
               zip(sizes, kernel, strides, padding, dilation, outs, strict=True)):
            break
    config = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
    if kind == "max":
        config.update(dilation=dilation, return_indices=bool(seed % 3 == 0))
    else:
        config["count_include_pad"] = bool(seed % 2)
        if nd == 2 and seed % 4 == 3:
            config["divisor_override"] = int(rng.integers(1, 5))
    shape = ((3,) if seed % 5 != 4 else ()) + (2,) + sizes
    return config, shape


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,nd,seed", [(k, nd, s) for k in ("max", "avg") for nd in (1, 2) for s in range(10)])
def test_pool_matches_torch(kind, nd, seed, dtype):
    config, shape = pool_case(seed, nd, kind)
    name = f"{'Max' if kind == 'max' else 'Avg'}Pool{nd}d"
    ours, theirs = getattr(nn, name)(**config), getattr(torch.nn, name)(**config)
    x = tie_free(numpy.random.default_rng(seed), shape, dtype)
    compare_module(ours, theirs, x, seed=seed)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output_size,shape", [(1, (2, 3, 7, 6)), ((3, 2), (2, 3, 7, 6)), ((None, 4), (1, 2, 5, 9)),
                                               (5, (2, 7, 7)), ((2, 3), (1, 1, 4, 6))])
def test_adaptive_avg_pool2d_matches_torch(output_size, shape, dtype):
    x = _rand(numpy.random.default_rng(5), shape, dtype)
    compare_module(nn.AdaptiveAvgPool2d(output_size), torch.nn.AdaptiveAvgPool2d(output_size), x)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_avg_pool1d_matches_torch(dtype):
    x = _rand(numpy.random.default_rng(6), (2, 3, 11), dtype)
    compare_module(nn.AdaptiveAvgPool1d(4), torch.nn.AdaptiveAvgPool1d(4), x)


# ----- element-wise layers, linear, flatten -------------------------------------------------
ELEMENTWISE = [
    ("ReLU", {}), ("LeakyReLU", {}), ("LeakyReLU", {"negative_slope": 0.2}), ("GELU", {}),
    ("GELU", {"approximate": "tanh"}), ("Sigmoid", {}), ("Tanh", {}), ("SiLU", {}), ("Identity", {}),
]


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,config", ELEMENTWISE, ids=[f"{n}{c}" for n, c in ELEMENTWISE])
def test_elementwise_layers_match_torch(name, config, dtype):
    x = _rand(numpy.random.default_rng(0), (2, 3, 4, 5), dtype) * 3
    compare_module(getattr(nn, name)(**config), getattr(torch.nn, name)(**config), x)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(6))
def test_linear_matches_torch(seed, dtype):
    rng = numpy.random.default_rng(seed)
    in_features, out_features = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    lead = tuple(int(n) for n in rng.integers(1, 4, size=seed % 3 + 1))
    config = dict(in_features=in_features, out_features=out_features, bias=seed % 2 == 0)
    x = _rand(rng, lead + (in_features,), dtype)
    compare_module(nn.Linear(**config), torch.nn.Linear(**config), x, seed=seed, randomize=False)


@needs_torch
@pytest.mark.parametrize("start_dim,end_dim", [(1, -1), (0, -1), (1, 2), (2, 3), (-3, -2), (0, 0)])
def test_flatten_matches_torch(start_dim, end_dim):
    x = _rand(numpy.random.default_rng(0), (2, 3, 4, 5), "float64")
    compare_module(nn.Flatten(start_dim, end_dim), torch.nn.Flatten(start_dim, end_dim), x)


# ----- normalisation ----------------------------------------------------------------------
BATCH_NORM_CASES = [
    ("BatchNorm1d", (6, 3), {}),
    ("BatchNorm1d", (4, 3, 5), {"momentum": 0.3}),
    ("BatchNorm1d", (5, 2, 3), {"momentum": None}),
    ("BatchNorm2d", (3, 4, 5, 6), {}),
    ("BatchNorm2d", (2, 3, 4, 4), {"momentum": None, "eps": 1e-3}),
    ("BatchNorm2d", (2, 3, 4, 4), {"affine": False}),
    ("BatchNorm2d", (2, 3, 4, 4), {"bias": False}),
    ("BatchNorm2d", (2, 3, 4, 4), {"track_running_stats": False}),
    ("BatchNorm3d", (2, 2, 3, 3, 4), {"momentum": 0.5}),
]


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,shape,config", BATCH_NORM_CASES,
                         ids=[f"{n}-{len(s)}d-{c}" for n, s, c in BATCH_NORM_CASES])
def test_batch_norm_training_steps_then_eval_match_torch(name, shape, config, dtype):
    """Four training steps (outputs, all gradients, running stats and num_batches_tracked
    after each), then evaluation with the running statistics."""
    channels = shape[1]
    ours, theirs = getattr(nn, name)(channels, **config), getattr(torch.nn, name)(channels, **config)
    randomize_torch(theirs, 0)
    ours.load_state_dict(torch_state_as_numpy(theirs))
    rng = numpy.random.default_rng(11)
    for step in range(4):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(dtype)
        compare_module(ours, theirs, x, seed=step, randomize=False)
    if config.get("track_running_stats", True):
        assert int(ours.num_batches_tracked.item()) == 4
    ours.eval()
    theirs.eval()
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    compare_module(ours, theirs, x, randomize=False)


@needs_torch
def test_batch_norm_eval_uses_running_stats_not_the_batch():
    ours = nn.BatchNorm2d(2).double()
    ours.running_mean.data[...] = [1.0, -2.0]
    ours.running_var.data[...] = [4.0, 0.25]
    ours.eval()
    x = convpool.tensor(numpy.full((3, 2, 2, 2), 5.0))
    y = ours(x).detach().numpy()
    numpy.testing.assert_allclose(y[:, 0], (5 - 1) / numpy.sqrt(4 + 1e-5))
    numpy.testing.assert_allclose(y[:, 1], (5 + 2) / numpy.sqrt(0.25 + 1e-5))
    assert int(ours.num_batches_tracked.item()) == 0


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("normalized_shape,shape,config", [
    (5, (3, 5), {}), ((4, 5), (2, 3, 4, 5), {}), ([5], (2, 5), {"elementwise_affine": False}),
    (6, (2, 3, 6), {"bias": False, "eps": 1e-3})])
def test_layer_norm_matches_torch(normalized_shape, shape, config, dtype):
    x = _rand(numpy.random.default_rng(2), shape, dtype) * 2 + 1
    compare_module(nn.LayerNorm(normalized_shape, **config), torch.nn.LayerNorm(normalized_shape, **config), x)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("groups,channels,config", [(1, 4, {}), (2, 4, {"bias": False}), (4, 4, {"affine": False}),
                                                    (3, 6, {"eps": 0.1})])
def test_group_norm_matches_torch(groups, channels, config, dtype):
    x = _rand(numpy.random.default_rng(3), (2, channels, 3, 4), dtype)
    compare_module(nn.GroupNorm(groups, channels, **config), torch.nn.GroupNorm(groups, channels, **config), x)


def test_batch_norm_rejects_wrong_rank_and_channels():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D input \(got 3D input\)"):
        nn.BatchNorm2d(3)(convpool.randn(2, 3, 4))
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.BatchNorm1d(3)(convpool.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"running_mean must have shape \(4,\).*got \(3,\)"):
        nn.BatchNorm2d(3)(convpool.randn(2, 4, 5, 5))


# ----- dropout ----------------------------------------------------------------------------
def test_dropout_train_zeroes_a_fraction_p_and_scales_the_rest():
    convpool.manual_seed(0)
    layer = nn.Dropout(0.3)
    x = convpool.ones(200, 500, dtype="float64", requires_grad=True)
    y = layer(x)
    values = numpy.unique(y.detach().numpy())
    numpy.testing.assert_allclose(values, [0.0, 1 / 0.7])
    dropped = float((y.detach().numpy() == 0).mean())
    assert abs(dropped - 0.3) < 0.01  # 100,000 draws: std of the fraction ~ 0.0015
    y.sum().backward()
    numpy.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())  # gradient is the scaled mask


def test_dropout2d_zeroes_whole_channels():
    convpool.manual_seed(1)
    y = nn.Dropout2d(0.5)(convpool.ones(8, 16, 3, 3, dtype="float64")).numpy()
    per_channel = y.reshape(8, 16, 9)
    assert numpy.all((per_channel == 0).all(axis=2) | (per_channel == 2.0).all(axis=2))
    assert 0.3 < float((per_channel[:, :, 0] == 0).mean()) < 0.7


@needs_torch
@pytest.mark.parametrize("name", ["Dropout", "Dropout1d", "Dropout2d"])
def test_dropout_eval_is_identity_like_torch(name):
    shape = (2, 3, 4) if name == "Dropout1d" else (2, 3, 4, 5)
    x = _rand(numpy.random.default_rng(0), shape, "float64")
    ours, theirs = getattr(nn, name)(0.4), getattr(torch.nn, name)(0.4)
    ours.eval()
    theirs.eval()
    compare_module(ours, theirs, x)
    assert numpy.array_equal(ours(convpool.tensor(x)).numpy(), x)


def test_dropout_reproducible_with_manual_seed_and_rejects_bad_p():
    convpool.manual_seed(5)
    a = nn.Dropout()(convpool.ones(50, 50)).numpy()
    convpool.manual_seed(5)
    b = nn.Dropout()(convpool.ones(50, 50)).numpy()
    numpy.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)


# ----- the summary's traced shapes against a real forward ----------------------------------
SHAPE_CASES = [
    (lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 9, 8)),
    (lambda: nn.Conv2d(3, 4, (2, 5), padding="same", padding_mode="reflect"), (1, 3, 6, 7)),
    (lambda: nn.Conv2d(3, 6, 3, groups=3, dilation=2, padding="valid"), (3, 7, 7)),
    (lambda: nn.Conv1d(2, 4, 4, stride=3, padding=2, padding_mode="circular"), (2, 2, 11)),
    (lambda: nn.Conv3d(1, 2, (1, 2, 3), stride=(1, 2, 1)), (1, 1, 3, 5, 6)),
    (lambda: nn.ConvTranspose2d(2, 3, 4, stride=3, padding=1, output_padding=2, dilation=2), (1, 2, 3, 4)),
    (lambda: nn.ConvTranspose1d(2, 2, 3, stride=2), (2, 4)),
    (lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), (1, 2, 8, 9)),
    (lambda: nn.MaxPool1d(2, dilation=2, ceil_mode=True), (1, 2, 9)),
    (lambda: nn.AvgPool2d((2, 3), stride=(1, 2), padding=(1, 1), ceil_mode=True), (2, 1, 5, 8)),
    (lambda: nn.AvgPool1d(3, padding=1), (1, 3, 10)),
    (lambda: nn.AdaptiveAvgPool2d((None, 2)), (1, 3, 5, 7)),
    (lambda: nn.Flatten(), (2, 3, 4, 5)),
    (lambda: nn.Flatten(0, 2), (2, 3, 4, 5)),
    (lambda: nn.Linear(5, 7), (2, 3, 5)),
    (lambda: nn.BatchNorm1d(3), (4, 3)),
    (lambda: nn.LayerNorm((4, 5)), (2, 3, 4, 5)),
    (lambda: nn.Dropout2d(), (2, 3, 4, 4)),
    (lambda: nn.GELU(), (2, 3)),
]


@pytest.mark.parametrize("index", range(len(SHAPE_CASES)))
def test_summary_shape_equals_the_shape_of_a_real_forward(index):
    make, shape = SHAPE_CASES[index]
    layer = make()
    summary = nn.summarize(layer, shape[1:], shape[0])
    assert summary.output_shape == summary.rows[0].output_shape == layer(convpool.randn(*shape)).shape
    assert summary.rows[0].input_shape == shape and layer.training  # traced in eval mode, the mode put back


def test_summary_of_a_wrong_input_raises_the_layers_error():
    for layer, shape, message in ((nn.Conv2d(3, 4, 3), (1, 2, 8, 8), "input has 2 channels but the weight expects 3"),
                                  (nn.Conv2d(3, 4, 3), (1, 1, 3, 8, 8), "input must be 4-D"),
                                  (nn.Conv2d(3, 4, 5), (1, 3, 4, 8), "kernel larger than the padded input"),
                                  (nn.Linear(5, 2), (1, 4), "expects in_features=5")):
        with pytest.raises(ValueError, match=message) as caught:
            nn.summarize(layer, shape[1:], shape[0])
        assert f"input of shape {shape}" in caught.value.__notes__[0]


# ----- repr and constructor checks ------------------------------------------------------------
REPR_CASES = [
    ("Conv2d", (1, 6, 5), {}),
    ("Conv2d", (2, 4, 3), {"padding": "same", "padding_mode": "reflect", "bias": False, "groups": 2}),
    ("Conv1d", (2, 4, 2), {"stride": 2, "padding": 1, "dilation": 2}),
    ("Conv3d", (1, 2, (1, 2, 3)), {"padding": "valid"}),
    ("ConvTranspose2d", (2, 3, 3), {"stride": 2, "output_padding": 1}),
    ("MaxPool2d", (2,), {}), ("MaxPool1d", (3, 1, 1), {"ceil_mode": True}),
    ("AvgPool1d", (3,), {}), ("AvgPool2d", ((2, 3),), {"padding": 1}),
    ("AdaptiveAvgPool2d", ((None, 3),), {}),
    ("ReLU", (), {}), ("LeakyReLU", (0.2,), {}), ("GELU", (), {"approximate": "tanh"}),
    ("Dropout", (), {}), ("Dropout2d", (0.2,), {}),
    ("Linear", (2, 3), {"bias": False}), ("Flatten", (), {}), ("Identity", (), {}),
    ("BatchNorm1d", (3,), {"momentum": None}), ("BatchNorm2d", (3,), {"affine": False}),
    ("LayerNorm", ([3, 4],), {}), ("GroupNorm", (2, 4), {}),
]


@needs_torch
@pytest.mark.parametrize("name,args,kwargs", REPR_CASES, ids=[c[0] + str(i) for i, c in enumerate(REPR_CASES)])
def test_repr_matches_torch(name, args, kwargs):
    assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **kwargs))


@pytest.mark.parametrize("make,message", [
    (lambda: nn.Conv2d(3, 4, 3, groups=2), "in_channels must be divisible by groups"),
    (lambda: nn.Conv2d(4, 3, 3, groups=2), "out_channels must be divisible by groups"),
    (lambda: nn.Conv2d(4, 4, 3, groups=0), "groups must be a positive integer"),
    (lambda: nn.Conv2d(4, 4, 3, padding="full"), "Invalid padding string 'full'"),
    (lambda: nn.Conv2d(4, 4, 3, stride=2, padding="same"), "not supported for strided convolutions"),
    (lambda: nn.Conv2d(4, 4, 3, padding_mode="mirror"), "padding_mode must be one of"),
    (lambda: nn.ConvTranspose2d(4, 4, 3, padding_mode="reflect"), 'Only "zeros" padding mode'),
    (lambda: nn.GELU("fast"), "approximate must be 'none' or 'tanh'"),
    (lambda: nn.GroupNorm(3, 4), r"num_channels \(4\) must be divisible by num_groups \(3\)"),
])
def test_constructor_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_layers_use_the_default_dtype_or_the_one_given():
    assert nn.Conv2d(1, 2, 3).weight.dtype == numpy.float32
    assert nn.Linear(2, 3, dtype="float64").bias.dtype == numpy.float64
    convpool.set_default_dtype(convpool.float64)
    try:
        bn = nn.BatchNorm2d(2)
        assert bn.weight.dtype == numpy.float64 and bn.running_var.dtype == numpy.float64
        assert bn.num_batches_tracked.dtype == numpy.int64
    finally:
        convpool.set_default_dtype(convpool.float32)


def test_conv_transposed_shape_formula_is_the_one_in_shapes():
    layer = nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1)
    expected = transposed_output_length(5, 3, 2, 1, 1, 1)
    assert layer(convpool.randn(1, 1, 5, 5)).shape == (1, 1, expected, expected) == (1, 1, 10, 10)
