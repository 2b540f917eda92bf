"""convpool.onnx.export: every layer of convpool.nn, custom forwards and every shipped network,
checked by onnx.checker (inside export) and by onnxruntime on random inputs of another batch
size than the traced one (dynamic batch): max abs difference at most 1e-4 in float32."""

from __future__ import annotations

import math

import numpy
import pytest

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

import convpool  # noqa: E402
import convpool.functional as F  # noqa: E402
import convpool.onnx as convpool_onnx  # noqa: E402
from convpool import nn  # noqa: E402


def _randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial batch-norm statistics, so that eval-mode semantics are checked."""
    rng = numpy.random.default_rng(seed)
    for name, buffer in model.named_buffers():
        if name.endswith("running_mean"):
            buffer.data[...] = rng.standard_normal(buffer.shape) * 0.3
        elif name.endswith("running_var"):
            buffer.data[...] = rng.random(buffer.shape) + 0.5
    return model


class Ints(tuple):
    """An input of integer indices in [0, high) with the given shape (after the batch axis)."""

    def __new__(cls, high: int, *shape: int):
        made = super().__new__(cls, shape)
        made.high = high
        return made


def _inputs(spec, batch: int, rng) -> list[numpy.ndarray]:
    """One array per input: spec is a shape, Ints(high, *shape), or a list of those (several inputs)."""
    if isinstance(spec, list):
        return [array for item in spec for array in _inputs(item, batch, rng)]
    if isinstance(spec, Ints):
        return [rng.integers(0, spec.high, (batch, *spec)).astype(numpy.int64)]
    return [rng.standard_normal((batch, *spec)).astype(numpy.float32)]


def _check(model: nn.Module, shape, tmp_path, opset: int = convpool_onnx.DEFAULT_OPSET, trace_batch: int = 2,
           run_batch: int = 3, seed: int = 0):
    rng = numpy.random.default_rng(seed)
    example = _inputs(shape, trace_batch, rng)
    result = convpool_onnx.export(model, tuple(convpool.tensor(e) for e in example), tmp_path / "model.onnx",
                                  opset_version=opset)
    xs = _inputs(shape, run_batch, rng)
    model.eval()
    with convpool.no_grad():
        want = model(*(convpool.tensor(x) for x in xs)).numpy()
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, dict(zip([name for name, _ in result.inputs], xs, strict=True)))[0]
    assert got.shape == want.shape
    difference = float(numpy.abs(got - want).max())
    assert difference <= 1e-4, f"max abs difference {difference}"
    return result, difference


class _Unpooled(nn.Module):
    """MaxUnpool fed by the max pool that gives its indices (how the layer is used)."""

    def __init__(self, nd: int, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        self.pool = getattr(nn, f"MaxPool{nd}d")(kernel_size, stride, padding, return_indices=True)
        self.unpool = getattr(nn, f"MaxUnpool{nd}d")(kernel_size, stride, padding)

    def forward(self, x):
        return self.unpool(*self.pool(x))


class _UnpooledToSize(_Unpooled):
    def forward(self, x):
        return self.unpool(*self.pool(x), output_size=x.shape[2:])


LAYERS = {
    "conv1d": (lambda: nn.Conv1d(2, 4, 3, stride=2, padding=1), (2, 9)),
    "conv1d-same-dilated-groups": (lambda: nn.Conv1d(2, 4, 4, padding="same", dilation=2, groups=2), (2, 11)),
    "conv2d": (lambda: nn.Conv2d(3, 6, 3, stride=2, padding=(1, 2), dilation=(1, 2), groups=3), (3, 9, 10)),
    "conv2d-same-even-kernel": (lambda: nn.Conv2d(2, 3, 4, padding="same", bias=False), (2, 7, 6)),
    "conv2d-reflect": (lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), (2, 6, 6)),
    "conv2d-replicate": (lambda: nn.Conv2d(2, 3, 3, padding=2, padding_mode="replicate"), (2, 6, 6)),
    "conv3d": (lambda: nn.Conv3d(2, 3, 3, stride=(1, 2, 1), padding=1), (2, 4, 5, 6)),
    "conv-transpose1d": (lambda: nn.ConvTranspose1d(2, 3, 3, stride=2, padding=1, output_padding=1), (2, 5)),
    "conv-transpose2d": (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2,
                                                    dilation=1), (4, 5, 4)),
    "conv-transpose2d-dilated": (lambda: nn.ConvTranspose2d(2, 3, 3, stride=1, padding=2, dilation=2), (2, 5, 5)),
    "conv-transpose3d": (lambda: nn.ConvTranspose3d(2, 2, 2, stride=2), (2, 3, 3, 2)),
    "max-pool1d": (lambda: nn.MaxPool1d(3, stride=2, padding=1), (2, 9)),
    "max-pool2d": (lambda: nn.MaxPool2d(2), (3, 8, 8)),
    "max-pool2d-ceil-dilated": (lambda: nn.MaxPool2d(3, stride=2, padding=1, dilation=2, ceil_mode=True),
                                (2, 10, 9)),
    "max-pool3d": (lambda: nn.MaxPool3d(2, stride=(1, 2, 2)), (2, 4, 6, 6)),
    "avg-pool1d": (lambda: nn.AvgPool1d(3, stride=2, padding=1), (2, 9)),
    "avg-pool2d": (lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (2, 9, 8)),
    "avg-pool2d-ceil": (lambda: nn.AvgPool2d(2, ceil_mode=True), (2, 7, 7)),
    "avg-pool3d": (lambda: nn.AvgPool3d(2, padding=1), (2, 4, 4, 5)),
    "adaptive-avg-pool1d": (lambda: nn.AdaptiveAvgPool1d(1), (3, 7)),
    "adaptive-avg-pool2d-global": (lambda: nn.AdaptiveAvgPool2d(1), (3, 5, 6)),
    "adaptive-avg-pool2d-grid": (lambda: nn.AdaptiveAvgPool2d((2, 3)), (3, 4, 6)),
    "relu": (nn.ReLU, (3, 4)),
    "leaky-relu": (lambda: nn.LeakyReLU(0.2), (3, 4)),
    "gelu": (nn.GELU, (3, 4)),
    "gelu-tanh": (lambda: nn.GELU("tanh"), (3, 4)),
    "sigmoid": (nn.Sigmoid, (3, 4)),
    "tanh": (nn.Tanh, (3, 4)),
    "silu": (nn.SiLU, (3, 4)),
    "dropout": (lambda: nn.Dropout(0.5), (3, 4)),
    "dropout1d": (lambda: nn.Dropout1d(0.5), (3, 4)),
    "dropout2d": (lambda: nn.Dropout2d(0.5), (3, 4, 4)),
    "linear": (lambda: nn.Linear(5, 3), (5,)),
    "linear-3d-input": (lambda: nn.Linear(5, 3, bias=False), (4, 5)),
    "identity": (nn.Identity, (3, 4)),
    "flatten": (nn.Flatten, (2, 3, 4)),
    "flatten-middle": (lambda: nn.Flatten(1, 2), (2, 3, 4)),
    "batch-norm1d-2d-input": (lambda: nn.BatchNorm1d(5), (5,)),
    "batch-norm1d-3d-input": (lambda: nn.BatchNorm1d(3), (3, 6)),
    "batch-norm2d": (lambda: nn.BatchNorm2d(3, eps=1e-3), (3, 4, 5)),
    "batch-norm2d-no-affine": (lambda: nn.BatchNorm2d(3, affine=False), (3, 4, 5)),
    "batch-norm3d": (lambda: nn.BatchNorm3d(2), (2, 3, 4, 3)),
    "layer-norm": (lambda: nn.LayerNorm([4, 5]), (3, 4, 5)),
    "layer-norm-no-affine": (lambda: nn.LayerNorm(5, elementwise_affine=False), (3, 5)),
    "group-norm": (lambda: nn.GroupNorm(2, 6), (6, 4, 3)),
    "instance-norm1d": (lambda: nn.InstanceNorm1d(3), (3, 7)),
    "instance-norm2d-affine": (lambda: nn.InstanceNorm2d(3, affine=True), (3, 4, 5)),
    "instance-norm2d-running-stats": (lambda: nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
                                      (3, 4, 5)),
    "instance-norm3d": (lambda: nn.InstanceNorm3d(2, eps=1e-3), (2, 3, 4, 3)),
    "local-response-norm": (lambda: nn.LocalResponseNorm(3, alpha=0.1, beta=0.6, k=1.5), (5, 4, 4)),
    "rms-norm": (lambda: nn.RMSNorm([4, 5]), (3, 4, 5)),
    "rms-norm-eps": (lambda: nn.RMSNorm(5, eps=1e-3, elementwise_affine=False), (3, 5)),
    "relu6": (nn.ReLU6, (3, 4)),
    "prelu": (lambda: nn.PReLU(3), (3, 4, 5)),
    "prelu-shared": (nn.PReLU, (3, 4)),
    "elu": (lambda: nn.ELU(0.7), (3, 4)),
    "selu": (nn.SELU, (3, 4)),
    "celu": (lambda: nn.CELU(0.7), (3, 4)),
    "mish": (nn.Mish, (3, 4)),
    "hardtanh": (lambda: nn.Hardtanh(-0.5, 0.7), (3, 4)),
    "hardswish": (nn.Hardswish, (3, 4)),
    "hardsigmoid": (nn.Hardsigmoid, (3, 4)),
    "softplus": (lambda: nn.Softplus(beta=2.0, threshold=1.0), (3, 4)),
    "softsign": (nn.Softsign, (3, 4)),
    "logsigmoid": (nn.LogSigmoid, (3, 4)),
    "threshold": (lambda: nn.Threshold(0.1, -2.0), (3, 4)),
    "glu": (nn.GLU, (3, 4, 6)),
    "rrelu": (lambda: nn.RReLU(0.1, 0.3), (3, 4)),
    "tanhshrink": (nn.Tanhshrink, (3, 4)),
    "softshrink": (lambda: nn.Softshrink(0.3), (3, 4)),
    "hardshrink": (lambda: nn.Hardshrink(0.3), (3, 4)),
    "softmax": (lambda: nn.Softmax(1), (3, 4)),
    "log-softmax": (lambda: nn.LogSoftmax(-1), (3, 4)),
    "softmin": (lambda: nn.Softmin(1), (3, 4)),
    "softmax2d": (nn.Softmax2d, (3, 4, 5)),
    "dropout3d": (lambda: nn.Dropout3d(0.5), (3, 2, 2, 2)),
    "alpha-dropout": (lambda: nn.AlphaDropout(0.5), (3, 4)),
    "feature-alpha-dropout": (lambda: nn.FeatureAlphaDropout(0.5), (3, 4, 2)),
    "bilinear": (lambda: nn.Bilinear(4, 3, 5), [(4,), (3,)]),
    "bilinear-3d-input-no-bias": (lambda: nn.Bilinear(4, 3, 2, bias=False), [(2, 4), (2, 3)]),
    "unflatten": (lambda: nn.Unflatten(1, (3, 4)), (12, 2)),
    "unflatten-last": (lambda: nn.Unflatten(-1, (2, -1)), (3, 6)),
    "embedding": (lambda: nn.Embedding(10, 4, padding_idx=0), Ints(10, 5)),
    "embedding-2d-indices": (lambda: nn.Embedding(7, 3), Ints(7, 2, 3)),
    "cosine-similarity": (lambda: nn.CosineSimilarity(dim=1), [(5, 3), (5, 3)]),
    "cosine-similarity-last": (lambda: nn.CosineSimilarity(dim=-1, eps=1e-6), [(3, 5), (3, 5)]),
    "cosine-similarity-broadcast": (nn.CosineSimilarity, [(5, 3), (1, 3)]),  # along the broadcast axis
    "pairwise-distance": (nn.PairwiseDistance, [(5,), (5,)]),
    "pairwise-distance-broadcast-inf": (lambda: nn.PairwiseDistance(float("inf")), [(4, 5), (1, 5)]),
    "pairwise-distance-p1-keepdim": (lambda: nn.PairwiseDistance(1.0, keepdim=True), [(3, 5), (3, 5)]),
    "pairwise-distance-p3": (lambda: nn.PairwiseDistance(3.0), [(5,), (5,)]),
    "zero-pad1d": (lambda: nn.ZeroPad1d((1, 2)), (2, 5)),
    "zero-pad2d": (lambda: nn.ZeroPad2d((1, 0, 2, 1)), (2, 4, 5)),
    "zero-pad3d": (lambda: nn.ZeroPad3d(1), (2, 3, 3, 3)),
    "constant-pad1d": (lambda: nn.ConstantPad1d(2, 0.5), (2, 5)),
    "constant-pad2d": (lambda: nn.ConstantPad2d((1, 2, 0, 1), -1.5), (2, 4, 5)),
    "constant-pad3d": (lambda: nn.ConstantPad3d((1, 0, 0, 1, 2, 0), 2.0), (2, 3, 3, 3)),
    "reflection-pad1d": (lambda: nn.ReflectionPad1d((2, 1)), (2, 5)),
    "reflection-pad2d": (lambda: nn.ReflectionPad2d((1, 2, 2, 1)), (2, 4, 5)),
    "reflection-pad3d": (lambda: nn.ReflectionPad3d(1), (2, 3, 3, 3)),
    "replication-pad1d": (lambda: nn.ReplicationPad1d((2, 3)), (2, 5)),
    "replication-pad2d": (lambda: nn.ReplicationPad2d((1, 2, 3, 0)), (2, 4, 5)),
    "replication-pad3d": (lambda: nn.ReplicationPad3d(1), (2, 3, 3, 3)),
    "upsample-nearest": (lambda: nn.Upsample(scale_factor=2), (2, 3, 4)),
    "upsample-bilinear-size": (lambda: nn.Upsample(size=(5, 7), mode="bilinear"), (2, 3, 4)),
    "upsample-trilinear": (lambda: nn.Upsample(scale_factor=2, mode="trilinear"), (1, 2, 3, 2)),
    "upsampling-nearest2d": (lambda: nn.UpsamplingNearest2d(size=(6, 5)), (2, 3, 4)),
    "upsampling-bilinear2d": (lambda: nn.UpsamplingBilinear2d(scale_factor=2), (2, 3, 4)),
    "pixel-shuffle": (lambda: nn.PixelShuffle(2), (8, 3, 3)),
    "pixel-unshuffle": (lambda: nn.PixelUnshuffle(2), (2, 4, 6)),
    "channel-shuffle": (lambda: nn.ChannelShuffle(3), (6, 2, 3)),
    "unfold": (lambda: nn.Unfold(3, padding=1, stride=2), (2, 5, 6)),
    "unfold-dilated": (lambda: nn.Unfold((2, 3), dilation=(2, 1)), (3, 6, 5)),
    "fold": (lambda: nn.Fold((5, 6), 3, padding=1, stride=2), (2 * 9, 9)),
    "fold-overlapping": (lambda: nn.Fold((4, 5), (2, 3)), (2 * 6, 9)),
    "lp-pool1d": (lambda: nn.LPPool1d(2, 3, stride=2), (2, 9)),
    "lp-pool2d": (lambda: nn.LPPool2d(2.0, 3, stride=2, ceil_mode=False), (2, 7, 6)),
    "adaptive-avg-pool1d-uneven": (lambda: nn.AdaptiveAvgPool1d(3), (2, 7)),  # windows of 3, 3 and 3 overlapping
    "adaptive-avg-pool2d-uneven": (lambda: nn.AdaptiveAvgPool2d((3, 4)), (2, 5, 6)),
    "adaptive-max-pool2d-uneven": (lambda: nn.AdaptiveMaxPool2d((4, 2)), (2, 6, 5)),
    "adaptive-max-pool3d-uneven": (lambda: nn.AdaptiveMaxPool3d((2, 3, 3)), (1, 3, 4, 5)),
    "adaptive-avg-pool2d-larger": (lambda: nn.AdaptiveAvgPool2d((5, 3)), (2, 3, 3)),  # windows repeat inputs
    "adaptive-avg-pool3d": (lambda: nn.AdaptiveAvgPool3d((2, 1, 3)), (2, 4, 4, 6)),
    "adaptive-max-pool1d": (lambda: nn.AdaptiveMaxPool1d(3), (2, 9)),
    "adaptive-max-pool2d": (lambda: nn.AdaptiveMaxPool2d((2, 3)), (2, 4, 6)),
    "adaptive-max-pool2d-global": (lambda: nn.AdaptiveMaxPool2d(1), (2, 5, 3)),
    "adaptive-max-pool3d": (lambda: nn.AdaptiveMaxPool3d((2, 2, 1)), (2, 4, 4, 3)),
    "max-unpool1d": (lambda: _Unpooled(1, 2), (3, 8)),
    "max-unpool2d": (lambda: _Unpooled(2, 3, 2, 1), (2, 5, 7)),
    "max-unpool2d-output-size": (lambda: _UnpooledToSize(2, 2), (2, 5, 7)),
    "max-unpool3d": (lambda: _Unpooled(3, 2), (2, 4, 4, 2)),
    "circular-pad1d": (lambda: nn.CircularPad1d((2, 1)), (2, 5), 19),  # Pad mode 'wrap' is opset 19
    "circular-pad2d": (lambda: nn.CircularPad2d((1, 2, 2, 0)), (2, 4, 5), 19),
    "circular-pad3d": (lambda: nn.CircularPad3d(1), (2, 3, 3, 3), 19),
}
if hasattr(nn, "SyncBatchNorm"):  # data-parallel training's batch norm; in eval mode the plain one
    LAYERS["sync-batch-norm"] = (lambda: nn.SyncBatchNorm(3), (3, 4, 5))


# layers refused by export, each with why; test_refused_layer_names_op_and_layer checks the error
LOSS_REASON = "a training loss, not part of a deployed graph (export the network that feeds it)"
CONTAINER_REASON = "a container, not a layer: the layers and parameters it holds export (test_containers_export)"
NOT_EXPORTED = {
    **{name: LOSS_REASON for name in (
        "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss",
        "BCEWithLogitsLoss", "KLDivLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss", "MarginRankingLoss",
        "HingeEmbeddingLoss", "CosineEmbeddingLoss", "TripletMarginLoss", "PoissonNLLLoss", "GaussianNLLLoss")},
    **{name: CONTAINER_REASON for name in ("ModuleDict", "ParameterList", "ParameterDict")},
}


def _layer_classes() -> set[str]:
    return {name for name in nn.__all__ if isinstance(getattr(nn, name), type)
            and issubclass(getattr(nn, name), nn.Module)} - {"Module", "Sequential", "ModuleList"}


def test_every_layer_of_convpool_nn_is_covered():
    covered = {type(m).__name__ for entry in LAYERS.values() for m in entry[0]().modules()} - {
        "_Unpooled", "_UnpooledToSize"}
    missing = _layer_classes() - covered - set(NOT_EXPORTED)
    assert not missing, f"layers neither in LAYERS nor in NOT_EXPORTED: {sorted(missing)}"
    assert not covered & set(NOT_EXPORTED), f"layers both tested and refused: {sorted(covered & set(NOT_EXPORTED))}"
    assert set(NOT_EXPORTED) <= _layer_classes(), f"not layers of convpool.nn: {set(NOT_EXPORTED) - _layer_classes()}"


@pytest.mark.parametrize("opset", [None, 13, 21], ids=["default-opset", "opset13", "opset21"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_matches_onnxruntime(tmp_path, name, opset):
    build, shape, *opset_needed = LAYERS[name]
    opset = [max([opset, *opset_needed])] if opset is not None else opset_needed
    convpool.manual_seed(0)
    layer = _randomize(build())
    for p in layer.parameters():  # affine terms away from 1 and 0
        p.data[...] = p.data + numpy.random.default_rng(1).standard_normal(p.shape).astype(p.dtype) * 0.1
    _check(layer, shape, tmp_path, *opset)


def test_circular_padding_exports_at_opset_19(tmp_path):
    convpool.manual_seed(0)
    layer = nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular")
    _check(layer, (2, 5, 6), tmp_path, opset=19)
    with pytest.raises(convpool_onnx.UnmappedOpError, match=r"op 'pad' in layer <model> \(Conv2d\) .*opset 19"):
        convpool_onnx.export(layer, convpool.randn(1, 2, 5, 6), tmp_path / "old.onnx", opset_version=17)


class Custom(nn.Module):
    """Plain-Python forward: residual addition, concatenation, scalar arithmetic, reshape,
    transpose, slicing, reductions and functional calls."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.branch = nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU())
        self.head = nn.Linear(5 * 2 * 2, 4)

    def forward(self, x):
        y = x + self.conv(x)  # residual
        y = convpool.cat([y, self.branch(y)], 1)  # (N, 5, H, W)
        y = y * 0.5 - 1.0 / (1.0 + y.abs())
        y = F.max_pool2d(F.pad(y, (0, 1, 1, 0)), 2)  # asymmetric padding
        y = y[:, :, 1:, ::2]  # (N, 5, 2, 2)
        z = y.reshape(y.shape[0], -1)  # flatten by reshape
        z = self.head(z) + z.mean(1, keepdim=True) + z.max(1, keepdim=True)[0]
        w = z.permute(1, 0).transpose(0, 1)
        w = F.log_softmax(w, dim=1) + F.softmax(w ** 2, dim=-1).sqrt()
        return w.unsqueeze(1).squeeze(1) * 2


class Stacked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(convpool.ones(4) * 1.5)

    def forward(self, x):
        a = x.sum(2) * self.scale
        b = x[..., 0].clamp(-0.5, 0.5)
        c = convpool.where(x[:, :, 1] > 0, x[:, :, 1], -x[:, :, 1].exp())
        return convpool.stack([a, b, c], 1).flatten(1) + F.lp_pool1d(x.transpose(1, 2), 2.0, 2).flatten(1).sum(1,
                                                                                                                keepdim=True)


@pytest.mark.parametrize("build,shape", [(Custom, (3, 6, 6)), (Stacked, (4, 2))], ids=["custom", "stacked"])
def test_custom_forward_matches_onnxruntime(tmp_path, build, shape):
    convpool.manual_seed(0)
    _check(build(), shape, tmp_path)


def _model_input_shape(config) -> tuple[int, ...]:
    config = dict(config)  # a dict, or a ModelConfig (which dict() reads)
    spec = config.get("input", {})
    if spec.get("kind") == "spectrogram":
        front = spec["front_end"]
        return (1, front["n_mels"], front["length"] // front["hop_length"] + 1)
    if spec.get("kind") == "waveform":
        return (1, spec["front_end"]["length"] if "front_end" in spec else 8000)
    size = config["image_size"]
    return (config["in_channels"], size, size)


@pytest.mark.parametrize("name", sorted(convpool.models.PRETRAINED))
def test_shipped_pretrained_network_matches_onnxruntime(tmp_path, name):
    model, config = convpool.models.pretrained(name)
    result, _ = _check(model, _model_input_shape(config), tmp_path)
    assert result.outputs[0][1] == ("batch", dict(config)["num_classes"])


@pytest.mark.parametrize("name", convpool.models.names())
def test_every_architecture_matches_onnxruntime(tmp_path, name):
    convpool.manual_seed(0)
    kind = convpool.models.input_kind(name)
    if kind == "waveform":
        model, shape = convpool.models.build(name, in_channels=1, num_classes=10, image_size=8000), (1, 8000)
    elif kind == "spectrogram":
        model, shape = convpool.models.build(name, in_channels=1, num_classes=10, image_size=40), (1, 40, 101)
    else:
        in_channels, size = (3, 32) if name in ("resnet-cifar", "fast-cnn") else (1, 28)
        model = convpool.models.build(name, in_channels=in_channels, num_classes=10, image_size=size)
        shape = (in_channels, size, size)
    _check(_randomize(model), shape, tmp_path, trace_batch=1, run_batch=2)


def test_preprocessing_takes_raw_pixels(tmp_path):
    convpool.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten())
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    raw = numpy.random.default_rng(0).integers(0, 256, (2, 3, 5, 5)).astype(numpy.float32)
    convpool_onnx.export(model, convpool.tensor(raw), tmp_path / "pre.onnx",
                         preprocessing={"scale": 1 / 255, "mean": mean, "std": std})
    normalised = (raw / 255 - numpy.array(mean, numpy.float32).reshape(1, 3, 1, 1)) / numpy.array(
        std, numpy.float32).reshape(1, 3, 1, 1)
    with convpool.no_grad():
        want = model.eval()(convpool.tensor(normalised.astype(numpy.float32))).numpy()
    session = onnxruntime.InferenceSession(str(tmp_path / "pre.onnx"), providers=["CPUExecutionProvider"])
    numpy.testing.assert_allclose(session.run(None, {"input": raw})[0], want, atol=1e-4)


class _ReturnsIndices(nn.Module):
    """Max pooling's per-plane indices as an output (ONNX's are flat over the whole tensor: rebuilt)."""

    def __init__(self, padding: int = 0, dilation: int = 1) -> None:
        super().__init__()
        self.pool = nn.Sequential(nn.Conv2d(2, 2, 1))
        self.padding, self.dilation = padding, dilation

    def forward(self, x):
        values, indices = F.max_pool2d(self.pool(x), 3, 2, self.padding, self.dilation, return_indices=True)
        return values + indices.float()


@pytest.mark.parametrize("padding,dilation", [(0, 1), (1, 1), (1, 2)])
def test_max_pool_indices_match_onnxruntime(tmp_path, padding, dilation):
    convpool.manual_seed(0)
    _check(_ReturnsIndices(padding, dilation), (2, 7, 8), tmp_path)


class _AdaptiveIndices(nn.Module):
    def forward(self, x):
        return F.adaptive_max_pool2d(x, 2, return_indices=True)[1].float()


class _TrainingDropout(nn.Module):
    def forward(self, x):
        return F.dropout(x, 0.5, training=True)


def test_op_without_mapping_names_op_and_layer(tmp_path):
    with pytest.raises(convpool_onnx.UnmappedOpError,
                       match=r"op .adaptive_max_pool2d. in layer <model> \(_AdaptiveIndices\) has no ONNX mapping: "
                             r"return_indices=True"):
        convpool_onnx.export(_AdaptiveIndices(), convpool.randn(1, 1, 4, 4), tmp_path / "x.onnx")
    with pytest.raises(convpool_onnx.UnmappedOpError,
                       match=r"'dropout' in layer 1 \(_TrainingDropout\) .*training mode"):
        convpool_onnx.export(nn.Sequential(nn.Linear(2, 2), _TrainingDropout()), convpool.randn(1, 2),
                             tmp_path / "y.onnx")
    with pytest.raises(convpool_onnx.UnmappedOpError, match=r"'embedding' in layer <model> \(Embedding\) .*max_norm"):
        convpool_onnx.export(nn.Embedding(5, 2, max_norm=1.0), convpool.tensor([[1, 2]]), tmp_path / "z.onnx")
    assert not any((tmp_path / name).exists() for name in ("x.onnx", "y.onnx", "z.onnx"))


def _loss_inputs(name: str) -> tuple:
    """Example inputs each loss accepts: (2, 3) values in (0, 1) and a target of the kind it takes."""
    rng = numpy.random.default_rng(0)
    x = convpool.tensor(rng.random((2, 3)).astype(numpy.float32) * 0.8 + 0.1)
    y = convpool.tensor(rng.random((2, 3)).astype(numpy.float32) * 0.8 + 0.1)
    signs = convpool.tensor(numpy.array([[1.0, -1.0, 1.0], [-1.0, 1.0, 1.0]], numpy.float32))
    if name in ("CrossEntropyLoss", "NLLLoss"):
        return x, convpool.tensor(numpy.array([0, 2]))
    if name in ("MarginRankingLoss",):
        return x, y, signs
    if name == "CosineEmbeddingLoss":
        return x, y, convpool.tensor(numpy.array([1.0, -1.0], numpy.float32))
    if name in ("TripletMarginLoss", "GaussianNLLLoss"):
        return x, y, y * 0.5 + 0.2
    if name in ("SoftMarginLoss", "HingeEmbeddingLoss"):
        return x, signs
    if name == "MultiLabelSoftMarginLoss":
        return x, (signs + 1.0) * 0.5
    return x, y


@pytest.mark.parametrize("name", sorted(n for n, why in NOT_EXPORTED.items() if why != CONTAINER_REASON))
def test_refused_layer_names_op_and_layer(tmp_path, name):
    layer = getattr(nn, name)()
    with pytest.raises(convpool_onnx.UnmappedOpError) as refused:
        convpool_onnx.export(layer, _loss_inputs(name), tmp_path / "x.onnx")
    message = str(refused.value)
    assert message.startswith("convpool.onnx.export: op '") and f"in layer <model> ({name}) has no ONNX mapping: " \
        in message and message.endswith(NOT_EXPORTED[name]), message
    assert "\n" not in message and not (tmp_path / "x.onnx").exists()


class _Containers(nn.Module):
    """Layers in a ModuleDict, parameters in a ParameterList and a ParameterDict."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleDict({"conv": nn.Conv2d(2, 3, 3, padding=1), "act": nn.Hardswish()})
        self.scales = nn.ParameterList([nn.Parameter(convpool.randn(3, 1, 1)), nn.Parameter(convpool.randn(1))])
        self.shifts = nn.ParameterDict({"mean": nn.Parameter(convpool.randn(3, 1, 1))})

    def forward(self, x):
        y = self.blocks["act"](self.blocks["conv"](x))
        return y * self.scales[0] + self.scales[1] - self.shifts["mean"]


def test_containers_export(tmp_path):
    convpool.manual_seed(0)
    result, _ = _check(_Containers(), (2, 4, 5), tmp_path)
    model = onnx.load(str(result.path))
    assert {"blocks.conv.weight", "scales.0", "scales.1", "shifts.mean"} <= {i.name for i in model.graph.initializer}


def test_recording_restores_every_function(tmp_path):
    before = (F.conv2d, convpool.cat, convpool.ops.basic.add, convpool.Tensor.__add__, nn.Module.__call__)
    with pytest.raises(convpool_onnx.UnmappedOpError):
        convpool_onnx.export(_AdaptiveIndices(), convpool.randn(1, 1, 4, 4), tmp_path / "x.onnx")
    after = (F.conv2d, convpool.cat, convpool.ops.basic.add, convpool.Tensor.__add__, nn.Module.__call__)
    assert all(a is b for a, b in zip(before, after, strict=True))
    assert not hasattr(F.conv2d, "__wrapped__")


def test_export_then_import_round_trip(tmp_path):
    convpool.manual_seed(0)
    model = _randomize(convpool.models.build("vgg-bn", in_channels=1, num_classes=10, image_size=28))
    convpool_onnx.export(model, convpool.randn(2, 1, 28, 28), tmp_path / "vgg.onnx")
    imported = convpool_onnx.load(tmp_path / "vgg.onnx")
    x = convpool.randn(3, 1, 28, 28)
    with convpool.no_grad():
        numpy.testing.assert_allclose(imported(x).numpy(), model.eval()(x).numpy(), atol=1e-5)
    assert set(dict(imported.named_parameters())) == set(dict(model.named_parameters()))
    assert math.isfinite(float(imported(x).sum().item()))


def test_cli_export_prints_names_and_shapes(tmp_path, capsys):
    from convpool.cli import main

    assert main(["export", "pretrained:cifar10", "-o", str(tmp_path / "cifar10.onnx")]) == 0
    printed = capsys.readouterr().out
    assert "input input: float32[batch, 3, 32, 32]" in printed and "output logits: float32[batch, 10]" in printed
    model, _ = convpool.models.pretrained("cifar10")
    x = numpy.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(numpy.float32)
    session = onnxruntime.InferenceSession(str(tmp_path / "cifar10.onnx"), providers=["CPUExecutionProvider"])
    with convpool.no_grad():
        want = model(convpool.tensor(x)).numpy()
    assert float(numpy.abs(session.run(None, {"input": x})[0] - want).max()) <= 1e-4
    assert main(["export", "pretrained:nothing", "-o", str(tmp_path / "x.onnx")]) == 2
    assert "no pretrained weights named 'nothing'" in capsys.readouterr().err


def test_exported_network_with_preprocessing_scores_what_evaluate_scores(tmp_path, capsys):
    """Raw uint8 sample images into the ONNX graph: the same top-1 accuracy as `convpool evaluate`."""
    import json

    from convpool.cli import main
    from convpool.workflow import load_split

    assert main(["export", "pretrained:fashion-mnist", "-o", str(tmp_path / "fm.onnx"), "--with-preprocessing"]) == 0
    assert "input pixels: float32[batch, 1, 28, 28]" in capsys.readouterr().out
    assert main(["evaluate", "pretrained:fashion-mnist", "--data", "sample", "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    test_set = load_split("sample", "test", progress=False)
    images, labels = numpy.asarray(test_set.images), numpy.asarray(test_set.labels)
    assert images.dtype == numpy.uint8
    pixels = images.reshape(len(images), 1, 28, 28).astype(numpy.float32)
    session = onnxruntime.InferenceSession(str(tmp_path / "fm.onnx"), providers=["CPUExecutionProvider"])
    predicted = session.run(None, {"pixels": pixels})[0].argmax(1)
    assert len(predicted) == evaluated["n"]
    assert float((predicted == labels).mean()) == pytest.approx(evaluated["accuracy"], abs=1e-12)


SAMPLES = __import__("pathlib").Path(__file__).parent / "data" / "pretrained"


@pytest.mark.parametrize("baked", [False, True], ids=["normalised-input", "raw-pixels"])
def test_predict_and_summary_on_an_exported_cifar10_file(tmp_path, capsys, baked):
    """`convpool predict model.onnx image.jpg` prints what `predict pretrained:cifar10` prints (its
    test-time augmentation included)."""
    from convpool.cli import main

    path = tmp_path / "cifar10.onnx"
    assert main(["export", "pretrained:cifar10", "-o", str(path)] + (["--with-preprocessing"] if baked else [])) == 0
    capsys.readouterr()
    images = [str(SAMPLES / "cifar10" / "automobile" / "0.jpg"), str(SAMPLES / "cifar10" / "frog" / "0.jpg")]
    assert main(["predict", "pretrained:cifar10", *images, "--top-k", "3"]) == 0
    want = capsys.readouterr().out
    assert main(["predict", str(path), *images, "--top-k", "3"]) == 0
    got = capsys.readouterr().out
    assert got.splitlines()[1].split()[1] == want.splitlines()[1].split()[1] == "automobile"
    for ours, theirs in zip(got.splitlines(), want.splitlines(), strict=True):
        if ours.startswith("  "):  # rank, class, probability
            assert ours.split()[:2] == theirs.split()[:2]
            assert abs(float(ours.split()[2]) - float(theirs.split()[2])) <= 1e-4
    assert main(["summary", str(path)]) == 0
    table = capsys.readouterr().out
    assert "Conv" in table and "(1, 10)" in table
    total = sum(p.numel() for p in convpool.onnx.load(path).parameters())
    assert total >= sum(p.numel() for p in convpool.models.pretrained("cifar10")[0].parameters())
    assert f"{total:,} trainable parameters" in table


def test_exported_cifar10_scores_what_evaluate_scores_on_the_shipped_photos(tmp_path, capsys):
    import json

    from convpool.cli import main
    from convpool.workflow import load_split

    folder = SAMPLES / "cifar10"
    assert main(["export", "pretrained:cifar10", "-o", str(tmp_path / "c.onnx"), "--with-preprocessing"]) == 0
    assert main(["evaluate", "pretrained:cifar10", "--data", str(folder), "--json", "--no-tta"]) == 0
    evaluated = json.loads(capsys.readouterr().out.splitlines()[-1])
    test_set = load_split(str(folder), "test", size=32, progress=False)
    images, labels = numpy.asarray(test_set.images), numpy.asarray(test_set.labels)
    assert images.dtype == numpy.uint8 and images.shape[1:] == (3, 32, 32)
    session = onnxruntime.InferenceSession(str(tmp_path / "c.onnx"), providers=["CPUExecutionProvider"])
    predicted = session.run(None, {"pixels": images.astype(numpy.float32)})[0].argmax(1)
    assert len(predicted) == evaluated["n"] == 30
    assert float((predicted == labels).mean()) == pytest.approx(evaluated["accuracy"], abs=1e-12)


class _UnrecordedOp(nn.Module):
    """A forward that calls an op function export does not wrap (built here from Tensor.from_op)."""

    def forward(self, x):
        doubled = convpool.Tensor.from_op(x.data * 2, (x,), lambda g: (g * 2,), "my_double")
        return doubled + 1


def test_an_unrecorded_op_is_refused_not_baked_in(tmp_path):
    with pytest.raises(convpool_onnx.UnmappedOpError, match=r"op 'my_double' in layer <model> \(_UnrecordedOp\) .*"
                                                           r"not recorded"):
        convpool_onnx.export(_UnrecordedOp(), convpool.randn(2, 3), tmp_path / "x.onnx")


class _ConstantsInForward(nn.Module):
    """Tensors made in the forward from constants alone (and before export) are baked in."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = convpool.ones(3) * 0.5  # built by an op before export: a plain constant
        self.weight = nn.Parameter(convpool.randn(3))

    def forward(self, x):
        scale = self.weight.abs() + 1.0  # from a parameter only
        return x * scale + self.offset + convpool.tensor([1.0, 2.0, 3.0])


def test_constants_computed_in_the_forward_are_baked_in(tmp_path):
    convpool.manual_seed(0)
    _check(_ConstantsInForward(), (3,), tmp_path)


def _slopes():
    return convpool.tensor([0.1, -0.2, 0.3])


# functional ops some convpool versions have: each runs where F has it, and is skipped where it does not
FUNCTIONAL = {
    "relu6": ("relu6", lambda x: F.relu6(x * 4), (3, 4)),
    "hardtanh": ("hardtanh", lambda x: F.hardtanh(x, -0.5, 0.7), (3, 4)),
    "hardsigmoid": ("hardsigmoid", lambda x: F.hardsigmoid(x * 4), (3, 4)),
    "hardswish": ("hardswish", lambda x: F.hardswish(x * 4), (3, 4)),
    "prelu": ("prelu", lambda x: F.prelu(x, _slopes()), (3, 4, 5)),
    "selu": ("selu", lambda x: F.selu(x * 2), (3, 4)),
    "celu": ("celu", lambda x: F.celu(x * 2, 0.7), (3, 4)),
    "softplus": ("softplus", lambda x: F.softplus(x * 4, beta=2.0, threshold=3.0), (3, 4)),
    "mish": ("mish", lambda x: F.mish(x * 4), (3, 4)),
    "logsigmoid": ("logsigmoid", lambda x: F.logsigmoid(x * 10), (3, 4)),
    "softsign": ("softsign", lambda x: F.softsign(x), (3, 4)),
    "softmin": ("softmin", lambda x: F.softmin(x, dim=1), (3, 4)),
    "threshold": ("threshold", lambda x: F.threshold(x, 0.1, -2.0), (3, 4)),
    "glu": ("glu", lambda x: F.glu(x, dim=1), (4, 3)),
    "dropout3d": ("dropout3d", lambda x: F.dropout3d(x, 0.5, training=False), (3, 2, 2, 2)),
    "alpha-dropout": ("alpha_dropout", lambda x: F.alpha_dropout(x, 0.5, training=False), (3, 4)),
    "feature-alpha-dropout": ("feature_alpha_dropout", lambda x: F.feature_alpha_dropout(x, 0.5, training=False),
                              (3, 4, 2)),
    "adaptive-avg-pool3d": ("adaptive_avg_pool3d", lambda x: F.adaptive_avg_pool3d(x, 1), (2, 4, 4, 4)),
    "adaptive-max-pool3d": ("adaptive_max_pool3d", lambda x: F.adaptive_max_pool3d(x, (2, 2, 1)), (2, 4, 4, 3)),
    "instance-norm": ("instance_norm", lambda x: F.instance_norm(x, weight=_slopes() + 1, bias=_slopes()),
                      (3, 5, 6)),
    "local-response-norm": ("local_response_norm", lambda x: F.local_response_norm(x, 3, alpha=0.1), (5, 4, 4)),
    "normalize-l2": ("normalize", lambda x: F.normalize(x, 2.0, 1), (4, 3)),
    "normalize-l1": ("normalize", lambda x: F.normalize(x, 1.0, 2), (4, 3)),
    "normalize-p3": ("normalize", lambda x: F.normalize(x, 3.0, 1), (4, 3)),
    "pixel-shuffle": ("pixel_shuffle", lambda x: F.pixel_shuffle(x, 2), (8, 3, 3)),
    "pixel-unshuffle": ("pixel_unshuffle", lambda x: F.pixel_unshuffle(x, 2), (2, 4, 6)),
    "interpolate-nearest-scale": ("interpolate", lambda x: F.interpolate(x, scale_factor=2), (2, 3, 4)),
    "interpolate-nearest-size": ("interpolate", lambda x: F.interpolate(x, size=(5, 7)), (2, 3, 4)),
    "interpolate-nearest-exact": ("interpolate", lambda x: F.interpolate(x, size=(5, 7), mode="nearest-exact"),
                                  (2, 3, 4)),
    "interpolate-bilinear": ("interpolate", lambda x: F.interpolate(x, size=(7, 5), mode="bilinear"), (2, 3, 4)),
    "interpolate-bilinear-corners": ("interpolate", lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear",
                                                                            align_corners=True), (2, 4, 4)),
    "interpolate-linear": ("interpolate", lambda x: F.interpolate(x, scale_factor=2, mode="linear"), (2, 5)),
    "interpolate-trilinear": ("interpolate", lambda x: F.interpolate(x, size=(3, 4, 5), mode="trilinear"),
                              (1, 2, 3, 3)),
}


class _Call(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


@pytest.mark.parametrize("case", sorted(FUNCTIONAL))
@pytest.mark.parametrize("opset", [17, 18])
def test_functional_op_matches_onnxruntime(tmp_path, case, opset):
    name, fn, shape = FUNCTIONAL[case]
    if not hasattr(F, name):
        pytest.skip(f"this convpool has no F.{name}")
    _check(_Call(fn), shape, tmp_path, opset=opset)
