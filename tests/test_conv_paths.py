"""Every convolution path in `ops.conv_paths.PATHS`, forced in turn on the same random draws:
against PyTorch (output and the gradients of input, weight and bias), against float64 central
differences, a retained graph run twice, and only the wanted gradients computed. Then the
table itself: which path the automatic choice takes on the benchmark layers, that a device
gets only the paths that run there, and that forcing refuses a path that does not apply."""

from __future__ import annotations

import types

import numpy
import pytest
from reference import check_grad, compare, needs_torch, torch

import convpool
import convpool.functional as F
from convpool.ops import conv_paths
from convpool.ops.conv import conv1d, conv2d, conv3d
from convpool.ops.conv_geometry import Needs, geometry

if torch is not None:
    import torch.nn.functional as TF

CONV = {1: conv1d, 2: conv2d, 3: conv3d}
NAMES = [path.name for path in conv_paths.PATHS]
N_CASES = 90
MIN_CASES = 8  # a path must run on at least this many draws: no test passes by skipping everything


def draw(seed: int) -> dict:
    """One random convolution: 1-, 2- or 3-D; plain, one input channel, grouped or depthwise;
    stride 1 more often than not; padding 'same', within the kernel's reach or beyond it;
    small batches and, now and then, one long enough for the batch-last path's rule."""
    rng = numpy.random.default_rng(3000 + seed)
    nd = 1 + seed % 3
    kind = ("plain", "one-channel", "groups", "depthwise")[(seed // 3) % 4]
    if kind == "plain":
        groups, cin, cout = 1, int(rng.integers(2, 5)), int(rng.integers(1, 5))
    elif kind == "one-channel":
        groups, cin, cout = 1, 1, int(rng.integers(1, 4))
    elif kind == "groups":
        groups = 2
        cin, cout = 2 * int(rng.integers(1, 3)), 2 * int(rng.integers(1, 3))
    else:
        groups = cin = cout = int(rng.integers(2, 4))
    sizes = tuple(int(s) for s in rng.integers(3, 10 if nd < 3 else 6, nd))
    kernel = tuple(int(rng.integers(1, min(4, s) + 1)) for s in sizes)
    dilation = tuple(2 if rng.random() < 0.25 and (k - 1) * 2 + 1 <= s else 1 for k, s in zip(kernel, sizes,
                                                                                               strict=True))
    if rng.random() < 0.2:
        stride, padding = (1,) * nd, "same"
    else:
        stride = (1,) * nd if rng.random() < 0.6 else tuple(int(s) for s in rng.integers(1, 4, nd))
        padding = tuple(int(rng.integers(0, k // 2 + 2)) for k in kernel)  # sometimes beyond the reach
    batch = int(rng.integers(16, 19)) if rng.random() < 0.15 else int(rng.integers(1, 4))
    return dict(seed=seed, nd=nd, kind=kind, groups=groups, batch=batch, channels=cin, out_channels=cout,
                sizes=sizes, kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                bias=bool(rng.random() < 0.7), dtype="float64" if seed % 2 == 0 else "float32")


CASES = [draw(seed) for seed in range(N_CASES)]


def arrays(c: dict):
    rng = numpy.random.default_rng(c["seed"])
    x = rng.standard_normal((c["batch"], c["channels"]) + c["sizes"]).astype(c["dtype"])
    w = (rng.standard_normal((c["out_channels"], c["channels"] // c["groups"]) + c["kernel"]) * 0.5).astype(c["dtype"])
    b = rng.standard_normal(c["out_channels"]).astype(c["dtype"])
    return (x, w, b) if c["bias"] else (x, w)


def kwargs(c: dict) -> dict:
    return dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"], groups=c["groups"])


def geometry_of(c: dict):
    if c["padding"] == "same":
        pads = tuple(convpool.shapes.same_padding(k, d) for k, d in zip(c["kernel"], c["dilation"], strict=True))
    else:
        pads = tuple((p, p) for p in c["padding"])
    return geometry((c["batch"], c["channels"]) + c["sizes"], (c["out_channels"], c["channels"] // c["groups"])
                    + c["kernel"], c["stride"], pads, c["dilation"], c["groups"], numpy.dtype(c["dtype"]).itemsize)


def fits(c: dict) -> bool:
    """The kernel fits the padded input (every draw should; a few may not)."""
    try:
        geometry_of(c)
    except ValueError:
        return False
    return True


def gradients_for(name: str, c: dict):
    """Which inputs the test asks gradients of on this path: all of them where the path
    applies with every gradient, the input's and bias's where it serves only those
    (single_channel, inference of the weight), None where it does not apply at all."""
    g, path = geometry_of(c), conv_paths.BY_NAME[name]
    with_bias = (2,) if c["bias"] else ()
    if path.applies(g, numpy, Needs(input=True, weight=True, graph=True)):
        return (0, 1) + with_bias
    if path.applies(g, numpy, Needs(input=True, weight=False, graph=True)):
        return (0,) + with_bias
    return None


def applicable(name: str) -> list[tuple[dict, tuple]]:
    cases = [(c, gradients_for(name, c)) for c in CASES if fits(c)]
    return [(c, grads) for c, grads in cases if grads is not None]


def test_every_path_applies_to_enough_draws():
    for name in NAMES:
        assert len(applicable(name)) >= MIN_CASES, (name, len(applicable(name)))
    assert all(fits(c) for c in CASES)


def _compare_with_torch(name: str, c: dict, grads: tuple) -> None:
    """The convolution of draw c on the forced path against torch, with the gradients `grads`;
    fails unless that path computed the output."""
    ours, theirs = CONV[c["nd"]], getattr(TF, f"conv{c['nd']}d")
    path = conv_paths.BY_NAME[name]
    taken = []
    original = path.forward
    path.forward = lambda *a, **k: taken.append(1) or original(*a, **k)
    try:
        with conv_paths.forced(name):
            # a CPU-only path is refused on a device; the others also run on the stand-in GPU
            compare(lambda *a: ours(*a, **kwargs(c)), lambda *a: theirs(*a, **kwargs(c)), *arrays(c),
                    seed=c["seed"], grad_inputs=grads, devices=("cpu",) if path.cpu_only else None)
    except AssertionError as error:
        raise AssertionError(f"path {name}, draw {c}: {error}") from error
    finally:
        del path.forward
    assert taken, (name, c)


def test_cpu_only_paths_are_refused_on_a_device_and_the_choice_falls_back():
    x, w = convpool.randn(2, 3, 8, 8, device="strict"), convpool.randn(4, 3, 3, 3, device="strict")
    for path in conv_paths.PATHS:
        if path.cpu_only:
            with conv_paths.forced(path.name), pytest.raises(ValueError, match=f"conv path '{path.name}' does not "
                                                                               "apply.*on strict"):
                F.conv2d(x, w, padding=1)
    y = F.conv2d(x, w, padding=1)  # unforced: the generic path runs on the device
    assert y.device.type == "strict" and y.shape == (2, 4, 8, 8)


@needs_torch
@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note that it pads a copy for even kernels
@pytest.mark.parametrize("name", NAMES)
def test_path_matches_torch(name):
    cases = applicable(name)
    for c, grads in cases:
        _compare_with_torch(name, c, grads)
    assert len(cases) >= MIN_CASES


def small_cases(name: str, count: int = 3):
    """The path's smallest applicable draws (central differences cost two evaluations per value)."""
    cases = sorted(applicable(name), key=lambda cg: numpy.prod((cg[0]["batch"], cg[0]["channels"]) + cg[0]["sizes"]))
    return cases[:count]


@pytest.mark.parametrize("name", NAMES)
def test_path_gradients_against_central_differences(name):
    cases = small_cases(name)
    assert len(cases) == 3
    for c, grads in cases:
        data = arrays(c)
        fixed = [convpool.tensor(a.astype("float64")) for a in data]

        def fn(*free, c=c, grads=grads, fixed=fixed):
            args = list(fixed)
            for i, t in zip(grads, free, strict=True):
                args[i] = t
            with conv_paths.forced(name):
                return CONV[c["nd"]](*args, **kwargs(c))

        assert check_grad(fn, *[data[i] for i in grads]), (name, c)


@pytest.mark.parametrize("name", NAMES)
def test_path_backward_twice_and_only_the_needed_gradients(name):
    """A retained graph's second backward doubles the gradients (a path that consumed what
    it kept rebuilds it); an input without requires_grad gets no gradient."""
    c, grads = small_cases(name, 1)[0]
    data = arrays(c)
    tensors = [convpool.tensor(a.astype("float64"), requires_grad=i in grads) for i, a in enumerate(data)]
    with conv_paths.forced(name):
        y = CONV[c["nd"]](*tensors, **kwargs(c))
    if name != "single_channel":  # its (N, *out, O) buffer, read transposed, serves inference only
        assert y.data.flags.c_contiguous
    y.sum().backward(retain_graph=True)
    first = [t.grad.numpy().copy() for t in tensors if t.requires_grad]
    y.sum().backward()
    for t, g in zip([t for t in tensors if t.requires_grad], first, strict=True):
        numpy.testing.assert_allclose(t.grad.numpy(), 2 * g, rtol=1e-12, atol=1e-12)
    if 1 in grads:  # the input without a gradient, the weight with one
        x = convpool.tensor(data[0].astype("float64"))
        w = convpool.tensor(data[1].astype("float64"), requires_grad=True)
        with conv_paths.forced(name):
            CONV[c["nd"]](x, w, **kwargs(c)).sum().backward()
        assert x.grad is None and w.grad is not None


@pytest.mark.parametrize("name, stride, grads", [("per_sample_1d", 2, (0, 1, 2)), ("single_channel", 3, (0, 2))])
def test_per_sample_paths_share_the_batch_over_threads(name, stride, grads):
    """A batch large enough to be split over threads: the same output and gradients with one
    thread, with three, and on the window-matrix path."""
    rng = numpy.random.default_rng(17)
    channels = 4 if name == "per_sample_1d" else 1
    data = [rng.standard_normal((9, channels, 2000)), rng.standard_normal((5, channels, 3)), rng.standard_normal(5)]
    gy = None
    results = []
    threads = convpool.backend.num_threads()
    try:
        for path, n in ((name, 1), (name, 3), ("window_matrix", 1)):
            convpool.backend.set_num_threads(n)
            tensors = [convpool.tensor(a, requires_grad=i in grads) for i, a in enumerate(data)]
            with conv_paths.forced(path):
                y = conv1d(*tensors, stride=stride, padding=1)
            gy = rng.standard_normal(y.shape) if gy is None else gy
            y.backward(convpool.tensor(gy))
            results.append([y.detach().numpy()] + [tensors[i].grad.numpy() for i in grads])
    finally:
        convpool.backend.set_num_threads(threads)
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            numpy.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


# ----- the generic paths on another array module ----------------------------------------------
class DeviceArray(numpy.ndarray):
    """A stand-in device array: NumPy's memory under its own type, so a result that comes back
    as a plain ndarray shows that some step made it with NumPy instead of the array's module."""


def _on_device(value):
    if isinstance(value, numpy.ndarray) and not isinstance(value, DeviceArray):
        return value.view(DeviceArray)
    return value


class StandInModule:
    """An array module that is not NumPy (so `backend.on_cpu` is False) and hands back
    DeviceArrays, as CuPy hands back CuPy arrays."""

    __name__ = "stand-in"

    def __init__(self) -> None:
        self.lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(
            as_strided=lambda *a, **k: _on_device(numpy.lib.stride_tricks.as_strided(*a, **k))))

    def __getattr__(self, name):
        value = getattr(numpy, name)
        if not callable(value) or isinstance(value, type):
            return value
        return lambda *a, **k: _on_device(value(*a, **k))


@pytest.fixture
def stand_in():
    module = StandInModule()
    convpool.backend.register_device_kind(convpool.backend.DeviceKind(
        name="stand-in", module=module, array_type=DeviceArray, from_host=lambda a, index: a.view(DeviceArray),
        to_host=lambda a: a.view(numpy.ndarray)))
    try:
        yield module
    finally:
        convpool.backend.unregister_device_kind("stand-in")


@pytest.mark.parametrize("name", ["depthwise", "window_matrix"])
def test_the_generic_paths_run_on_another_array_module(name, stand_in):
    """Output and both gradients stay the module's arrays and equal the NumPy run's (which the
    tests above check against PyTorch): no step falls back to NumPy. A budget small enough to
    chunk the window matrix is part of it."""
    path = conv_paths.BY_NAME[name]
    cases = [c for c, grads in applicable(name) if 1 in grads]
    assert len(cases) >= MIN_CASES
    old = convpool.memory_budget()
    try:
        for budget in (old, 2048):
            convpool.set_memory_budget(budget)
            for c in cases:
                g = geometry_of(c)
                host = [a.astype("float64") for a in arrays(c)]
                bias = host[2] if c["bias"] else None
                gy = numpy.random.default_rng(c["seed"]).standard_normal((g.batch, g.out_channels) + g.out)
                needs = Needs(input=True, weight=True, graph=True)
                assert convpool.backend.array_module(host[0].view(DeviceArray)) is stand_in
                assert path.applies(g, stand_in, needs)
                assert conv_paths.choose(g, stand_in, needs).name in ("depthwise", "window_matrix")
                expected_y, saved = path.forward(host[0], host[1], bias, g, needs)
                expected = (expected_y,) + path.backward(gy, saved, needs)
                device = [_on_device(a) for a in (host[0], host[1], bias, gy)]
                y, saved = path.forward(device[0], device[1], device[2], g, needs)
                got = (y,) + path.backward(device[3], saved, needs)
                for what, a, b in zip(("output", "input gradient", "weight gradient"), got, expected, strict=True):
                    assert isinstance(a, DeviceArray), (name, what, type(a), c)
                    numpy.testing.assert_allclose(a.view(numpy.ndarray), b, rtol=1e-12, atol=1e-12,
                                                  err_msg=f"{name} {what} {c}")
    finally:
        convpool.set_memory_budget(old)


# ----- the table -----------------------------------------------------------------------------
def _choice(x_shape, w_shape, stride=None, pads=None, dilation=None, groups=1, needs=None, xp=numpy):
    nd = len(x_shape) - 2
    g = geometry(x_shape, w_shape, stride or (1,) * nd, pads or ((1, 1),) * nd, dilation or (1,) * nd, groups, 4)
    return conv_paths.choose(g, xp, needs or Needs(input=True, weight=True, graph=True)).name


def test_the_benchmark_layers_take_the_measured_paths():
    """The layers of benchmarks/bench_ops.py and the models, on the path each was measured on."""
    assert _choice((128, 64, 32, 32), (64, 64, 3, 3)) == "grid"  # stride 1, big images
    assert _choice((128, 3, 32, 32), (64, 3, 3, 3)) == "grid"  # one input channel, training
    assert _choice((256, 128, 3, 3), (128, 128, 3, 3)) == "batch_last"  # fast-cnn's last conv
    assert _choice((8, 128, 3, 3), (128, 128, 3, 3)) == "window_matrix"  # a short batch of small images
    assert _choice((128, 64, 32, 32), (128, 64, 3, 3), stride=(2, 2)) == "window_matrix"
    assert _choice((128, 64, 32, 32), (64, 1, 3, 3), groups=64) == "depthwise"
    assert _choice((64, 32, 1981), (64, 32, 3)) == "grid"  # 1-D at stride 1
    assert _choice((64, 32, 1981), (64, 32, 3), stride=(2,)) == "per_sample_1d"
    inference = Needs(input=False, weight=False, graph=False)
    assert _choice((64, 1, 8000), (32, 1, 80), stride=(4,), pads=((0, 0),), needs=inference) == "single_channel"
    assert _choice((64, 1, 8000), (32, 1, 80), stride=(4,), pads=((0, 0),)) == "window_matrix"  # training


def test_a_device_gets_only_the_paths_that_run_there():
    """An array module other than NumPy (CuPy, a test device): the CPU-only paths do not apply."""
    device = types.SimpleNamespace(__name__="device")
    cpu_only = {path.name for path in conv_paths.PATHS if path.cpu_only}
    assert cpu_only == {"grid", "batch_last", "per_sample_1d", "single_channel"}
    for c in CASES:
        g = geometry_of(c)
        for path in conv_paths.PATHS:
            for needs in (Needs(True, True, True), Needs(False, False, False)):
                if path.cpu_only:
                    assert not path.applies(g, device, needs), (path.name, c)
        assert conv_paths.choose(g, device, Needs(True, True, True)).name in {"depthwise", "window_matrix"}
    assert _choice((128, 64, 32, 32), (64, 64, 3, 3), xp=device) == "window_matrix"
    assert _choice((128, 64, 32, 32), (64, 1, 3, 3), groups=64, xp=device) == "depthwise"


def test_forcing_refuses_a_path_that_does_not_apply():
    x = convpool.tensor(numpy.zeros((2, 4, 6, 6)))
    w = convpool.tensor(numpy.zeros((3, 4, 3, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"conv path 'depthwise' does not apply to input \(2, 4, 6, 6\), "
                                         r"weight \(3, 4, 3, 3\), stride \(2, 2\)"):
        with conv_paths.forced("depthwise"):
            conv2d(x, w, stride=2)
    with pytest.raises(ValueError, match=r"conv path 'grid' does not apply"):
        with conv_paths.forced("grid"):
            conv2d(x, w, stride=2)  # stride 2
    with pytest.raises(ValueError, match=r"conv path 'single_channel' does not apply.*weight gradient True"):
        with conv_paths.forced("single_channel"):
            conv2d(convpool.tensor(numpy.zeros((2, 1, 6, 6))), convpool.tensor(numpy.zeros((3, 1, 3, 3)),
                                                                                requires_grad=True))
    with pytest.raises(ValueError, match=r"conv path: unknown path 'fft'; the paths are depthwise, grid"):
        with conv_paths.forced("fft"):
            pass
    with conv_paths.forced("window_matrix"):  # and the block ends cleanly
        conv2d(x, w, stride=2)
    assert conv_paths._forced.get() is None
