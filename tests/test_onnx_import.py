"""convpool.onnx.load: ONNX CNNs as trainable convpool Modules, checked against onnxruntime.

The networks are torchvision's architectures (tests/torch_models.py: the same modules and
names in plain torch.nn) with random weights, exported by torch.onnx.export (TorchScript
exporter, opset 17-20) into tmp_path at test time. Each must give onnxruntime's logits
within 1e-4 and, for fine-tuning, PyTorch's training-mode gradients. Every one-node case
that ONNX publishes for a supported op type runs too (auto_pad, asymmetric pads, ceil mode,
opset-specific semantics), except those listed in SKIPPED with the reason.
"""

from __future__ import annotations

import math
import warnings

import numpy
import pytest
from reference import needs_torch, torch

onnx = pytest.importorskip("onnx")
from onnx import helper  # noqa: E402

import convpool  # noqa: E402
import convpool.functional as F  # noqa: E402
import convpool.onnx as convpool_onnx  # noqa: E402

try:
    import onnxruntime
except ImportError:
    onnxruntime = None

needs_onnxruntime = pytest.mark.skipif(onnxruntime is None, reason="onnxruntime is not installed")


def _export(model, size: int, path, batch: int = 2, constant_folding: bool = False) -> numpy.ndarray:
    """Export model (eval) to path with a dynamic batch; the example input it was checked on."""
    model.eval()
    example = torch.randn(1, 3, size, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), dynamo=False, do_constant_folding=constant_folding,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return numpy.random.default_rng(1).standard_normal((batch, 3, size, size)).astype(numpy.float32)


def _onnxruntime(path, x: numpy.ndarray) -> numpy.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _architectures():
    from torch_models import densenet121, mobilenet_v2, resnet18, squeezenet1_1, vgg11_bn
    return {"resnet18": (resnet18, 64), "mobilenet_v2": (mobilenet_v2, 64), "squeezenet1_1": (squeezenet1_1, 64),
            "vgg11_bn": (lambda num_classes: vgg11_bn(num_classes, hidden=128), 224),
            "densenet121": (densenet121, 64)}


@needs_torch
@needs_onnxruntime
@pytest.mark.parametrize("name, constant_folding", [
    ("resnet18", False), ("mobilenet_v2", False), ("squeezenet1_1", False), ("vgg11_bn", False), ("densenet121", False),
    # folding merges batch norm into the convolutions (squeezenet has none, densenet's precede them)
    ("resnet18", True), ("mobilenet_v2", True), ("vgg11_bn", True)])
def test_exported_architecture_matches_onnxruntime(tmp_path, name, constant_folding):
    from torch_models import randomize_batch_norm

    build, size = _architectures()[name]
    torch.manual_seed(0)
    model = randomize_batch_norm(build(num_classes=10))
    path = tmp_path / f"{name}.onnx"
    x = _export(model, size, path, batch=1 if name == "vgg11_bn" else 2, constant_folding=constant_folding)
    imported = convpool_onnx.load(path)
    with convpool.no_grad():
        got = imported(x).numpy()
    want = _onnxruntime(path, x)
    with torch.no_grad():
        theirs = model(torch.from_numpy(x)).numpy()
    assert got.shape == want.shape == (x.shape[0], 10)
    assert numpy.abs(want).max() > 1e-3  # logits of a size where 1e-4 means something
    numpy.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    numpy.testing.assert_allclose(got, theirs, rtol=1e-4, atol=1e-4)


@needs_torch
def test_parameters_keep_pytorch_names_and_fine_tune_like_pytorch(tmp_path):
    """Without constant folding the initializers are PyTorch's parameters under their names;
    in training mode one SGD step gives PyTorch's gradients and updates (batch statistics),
    compared in float64 so that the tolerance is tight."""
    from torch_models import randomize_batch_norm, resnet18

    torch.manual_seed(0)
    theirs = randomize_batch_norm(resnet18(num_classes=10))
    x = _export(theirs, 32, tmp_path / "resnet18.onnx", batch=4)
    ours = convpool_onnx.load(tmp_path / "resnet18.onnx")
    params = dict(ours.named_parameters())
    torch_params = dict(theirs.named_parameters())
    assert set(params) == set(torch_params)
    assert {k for k in ours.state_dict() if "running" in k} == {k for k in theirs.state_dict() if "running" in k}
    target = numpy.array([1, 3, 5, 7])
    x = x.astype(numpy.float64)
    ours.to(convpool.float64).train()
    theirs.double().train()
    loss = F.cross_entropy(ours(convpool.tensor(x)), convpool.tensor(target))
    loss.backward()
    torch_loss = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(target))
    torch_loss.backward()
    numpy.testing.assert_allclose(loss.item(), torch_loss.item(), rtol=1e-10)
    for key in ("conv1.weight", "layer3.0.downsample.1.weight", "fc.weight", "fc.bias"):
        numpy.testing.assert_allclose(params[key].grad.numpy(), torch_params[key].grad.numpy(), rtol=1e-6, atol=1e-7,
                                      err_msg=key)
    before = params["fc.weight"].detach().numpy().copy()
    convpool.optim.SGD(ours.parameters(), lr=0.1).step()
    numpy.testing.assert_allclose(params["fc.weight"].detach().numpy(),
                                  before - 0.1 * torch_params["fc.weight"].grad.numpy(), rtol=1e-6, atol=1e-9)
    for key in ("bn1.running_mean", "layer4.1.bn2.running_var"):
        numpy.testing.assert_allclose(ours.state_dict()[key].numpy(), theirs.state_dict()[key].numpy(), rtol=1e-10,
                                      atol=1e-12, err_msg=key)


def _graph_model(nodes, inputs, outputs, initializers=(), opset: int = 17):
    graph = helper.make_graph(nodes, "test", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _float_input(name: str, shape):
    return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape)


def test_unsupported_operators_are_listed_with_a_node_name(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="ok"),
             helper.make_node("Einsum", ["a", "a"], ["b"], name="einsum_1", equation="ij,ij->ij"),
             helper.make_node("Einsum", ["b", "b"], ["c"], name="einsum_2", equation="ij,ij->ij"),
             helper.make_node("Erf", ["c"], ["y"], name="erf_node")]
    model = _graph_model(nodes, [_float_input("x", [2, 2])], [_float_input("y", [2, 2])])
    onnx.save(model, tmp_path / "unsupported.onnx")
    with pytest.raises(convpool_onnx.UnsupportedOnnxError) as error:
        convpool_onnx.load(tmp_path / "unsupported.onnx")
    message = str(error.value)
    assert "unsupported ONNX operator(s): Einsum (node 'einsum_1'), Erf (node 'erf_node')" in message
    assert "\n" not in message


def test_shape_chain_reshape_follows_the_batch_size():
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as exporters write flatten: static for each input."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus_one"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["y"])]
    w = numpy.random.default_rng(0).standard_normal((12, 3)).astype(numpy.float32)
    inits = [helper.make_tensor("zero", onnx.TensorProto.INT64, [], [0]),
             helper.make_tensor("axes", onnx.TensorProto.INT64, [1], [0]),
             helper.make_tensor("minus_one", onnx.TensorProto.INT64, [1], [-1]),
             onnx.numpy_helper.from_array(w, "w")]
    model = _graph_model(nodes, [_float_input("x", ["N", 3, 2, 2])], [_float_input("y", ["N", 3])], inits)
    module = convpool_onnx.from_model(model)
    assert [k for k, _ in module.named_parameters()] == ["w"]  # the integer initializers stay constants
    for batch in (1, 5):
        x = numpy.random.default_rng(batch).standard_normal((batch, 3, 2, 2)).astype(numpy.float32)
        numpy.testing.assert_allclose(module(x).detach().numpy(), x.reshape(batch, -1) @ w, rtol=1e-5)
    with pytest.raises(ValueError, match=r"input 'x' must have shape \('\?', 3, 2, 2\), got \(1, 3, 2\)"):
        module(numpy.zeros((1, 3, 2), dtype=numpy.float32))


# ----- ONNX's published one-node cases ----------------------------------------------------
_RANDOM = "ONNX draws the dropout mask from NumPy's generator; convpool's mask comes from its own RNG"
SKIPPED_PATTERNS = {
    "cubic": "Resize mode 'cubic' is not supported (nearest and linear are)",
    "tf_crop_and_resize": "Resize coordinate_transformation_mode 'tf_crop_and_resize' is not supported",
    "half_pixel_symmetric": "Resize coordinate_transformation_mode 'half_pixel_symmetric' is not supported",
    "antialias": "Resize antialias is not supported",
    "not_larger": "Resize keep_aspect_ratio_policy is not supported",
    "not_smaller": "Resize keep_aspect_ratio_policy is not supported",
    "_mask": "Dropout's mask output is not supported",
    "training_dropout": _RANDOM,
    "training_mode": "BatchNormalization's training outputs are not supported (an imported graph trains with "
                     ".train() instead)",
    "with_argmax": "MaxPool's Indices output is not supported",
    "uint8": "convpool's pooling takes floating-point input only",
    "identity_sequence": "sequence values are not tensors",
    "identity_opt": "optional values are not tensors",
    "empty_set": "reductions over empty axes are not supported",
    "ceil_last_window_starts_on_pad": "ONNX lists inputs and outputs to 4 decimals, the outputs computed from "
                                      "unrounded inputs (see test_onnx_cases.LOOSER)",
}
CASE_OPS = ("Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool",
            "BatchNormalization", "InstanceNormalization", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu",
            "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "Clip", "HardSigmoid", "HardSwish", "Softmax", "LogSoftmax",
            "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Pad", "Dropout", "Identity",
            "Constant", "Resize", "Upsample", "Shape", "Gather", "Slice")
MIN_CASES_RUN = 259  # what onnx 1.23 publishes for CASE_OPS, less SKIPPED


def _cases() -> dict:
    from onnx.backend.test.case import node as node_cases

    state = numpy.random.get_state()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cases = node_cases.collect_testcases()
    finally:
        numpy.random.set_state(state)
    found = {}
    for case in cases:
        nodes = case.model.graph.node
        if len(nodes) == 1 and nodes[0].op_type in CASE_OPS and nodes[0].domain in ("", "ai.onnx"):
            found[case.name] = case
    return found


CASES = _cases()


def _skip_reason(name: str) -> str | None:
    return next((why for pattern, why in SKIPPED_PATTERNS.items() if pattern in name), None)


def test_case_count():
    run = [name for name in CASES if _skip_reason(name) is None]
    assert len(run) >= MIN_CASES_RUN, f"{len(run)} node cases run, expected at least {MIN_CASES_RUN}"
    assert set(CASE_OPS) <= set(convpool_onnx.IMPORTED_OPS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_published_node_case(name):
    reason = _skip_reason(name)
    if reason:
        pytest.skip(reason)
    case = CASES[name]
    module = convpool_onnx.from_model(case.model, name)
    for inputs, outputs in case.data_sets:
        with convpool.no_grad():
            got = module(*inputs)
        got = got if isinstance(got, tuple) else (got,)
        for ours, want in zip(got, outputs, strict=True):
            ours = ours.numpy()
            assert ours.shape == want.shape, (ours.shape, want.shape)
            if want.dtype.kind == "f":
                rtol, atol = (1e-5, 1e-6) if want.dtype == numpy.float32 else (1e-10, 1e-12)
                numpy.testing.assert_allclose(ours, want, rtol=rtol, atol=atol)
            else:
                numpy.testing.assert_array_equal(ours, want)


def test_resize_linear_matches_pytorch_interpolate():
    """Resize(linear, half_pixel) is F.interpolate(bilinear, align_corners=False); align_corners likewise."""
    if torch is None:
        pytest.skip("PyTorch is not installed")
    x = numpy.random.default_rng(0).standard_normal((1, 2, 5, 7)).astype(numpy.float32)
    for transform, align in (("half_pixel", False), ("align_corners", True)):
        node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear",
                                coordinate_transformation_mode=transform)
        sizes = helper.make_tensor("sizes", onnx.TensorProto.INT64, [4], [1, 2, 9, 4])
        model = _graph_model([node], [_float_input("x", [1, 2, 5, 7])], [_float_input("y", [1, 2, 9, 4])], [sizes])
        got = convpool_onnx.from_model(model)(x).numpy()
        want = torch.nn.functional.interpolate(torch.from_numpy(x), size=(9, 4), mode="bilinear",
                                               align_corners=align).numpy()
        numpy.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=transform)
    assert math.isclose(float(got.mean()), float(want.mean()), rel_tol=1e-5)


@needs_torch
def test_predict_and_summary_on_a_pytorch_exported_classifier(tmp_path, capsys):
    """No convpool metadata: numbered classes, pixels / 255 unnormalised, the graph's static input size."""
    from pathlib import Path

    from PIL import Image
    from torch_models import squeezenet1_1

    from convpool.cli import main

    torch.manual_seed(0)
    model = squeezenet1_1(num_classes=5)
    _export(model, 48, tmp_path / "squeeze.onnx")
    photo = Path(__file__).parent / "data" / "pretrained" / "cifar10" / "frog" / "0.jpg"
    assert main(["predict", str(tmp_path / "squeeze.onnx"), str(photo), "--top-k", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    pixels = numpy.asarray(Image.open(photo).convert("RGB").resize((48, 48), Image.Resampling.LANCZOS), numpy.uint8)
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(pixels.transpose(2, 0, 1)[None].astype(numpy.float32) / 255))[0]
    probabilities = torch.softmax(logits, 0).numpy()
    for line in lines[1:6]:
        rank, label, probability = line.split()
        assert abs(float(probability) - probabilities[int(label)]) <= 1e-4, line
    assert sorted(int(line.split()[1]) for line in lines[1:6]) == [0, 1, 2, 3, 4]
    assert main(["summary", str(tmp_path / "squeeze.onnx")]) == 0
    table = capsys.readouterr().out
    assert "for one input of shape (3, 48, 48)" in table and "Concat" in table
    assert f"{sum(p.numel() for p in model.parameters()):,} trainable parameters" in table
