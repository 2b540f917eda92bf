"""Module.summary / nn.summarize: output shapes traced from a forward pass (checked against
running the layers one by one), parameter counts (checked against torch's), multiply-adds
computed by hand, totals, the printed table (str and repr), modules with a custom forward,
the model's state left as it was (hooks, modes, running statistics, the global generator),
and a model on the strict stand-in GPU."""

from __future__ import annotations

import re

import numpy
import pytest
from reference import needs_torch, torch

import convpool
from convpool import nn
from convpool.nn import summarize

if torch is not None:
    torch.set_num_threads(1)


def lenet(library):
    """LeNet-5 on 28x28 inputs (padding 2 on the first conv), in convpool.nn or torch.nn."""
    return library.Sequential(
        library.Conv2d(1, 6, 5, padding=2), library.ReLU(), library.MaxPool2d(2),
        library.Conv2d(6, 16, 5), library.ReLU(), library.AvgPool2d(2),
        library.Flatten(), library.Linear(400, 120), library.ReLU(), library.Linear(120, 84), library.ReLU(),
        library.Linear(84, 10))


LENET_ROWS = [  # (name, type, output shape, params, MACs), worked out by hand
    ("0", "Conv2d", (1, 6, 28, 28), 6 * 25 + 6, 6 * 28 * 28 * (1 * 25)),  # 117,600
    ("1", "ReLU", (1, 6, 28, 28), 0, 0),
    ("2", "MaxPool2d", (1, 6, 14, 14), 0, 0),
    ("3", "Conv2d", (1, 16, 10, 10), 16 * 6 * 25 + 16, 16 * 10 * 10 * (6 * 25)),  # 240,000
    ("4", "ReLU", (1, 16, 10, 10), 0, 0),
    ("5", "AvgPool2d", (1, 16, 5, 5), 0, 0),
    ("6", "Flatten", (1, 400), 0, 0),
    ("7", "Linear", (1, 120), 400 * 120 + 120, 400 * 120),
    ("8", "ReLU", (1, 120), 0, 0),
    ("9", "Linear", (1, 84), 120 * 84 + 84, 120 * 84),
    ("10", "ReLU", (1, 84), 0, 0),
    ("11", "Linear", (1, 10), 84 * 10 + 10, 84 * 10),
]


def test_lenet_rows_and_totals_by_hand():
    s = summarize(lenet(nn), (1, 28, 28))
    assert [(r.name, r.type, r.output_shape, r.params, r.macs) for r in s.rows] == LENET_ROWS
    assert s.rows[0].macs == 117_600 and s.rows[3].macs == 240_000
    assert s.input_shape == (1, 1, 28, 28) and s.output_shape == (1, 10)
    assert s.total_params == s.trainable_params == 61_706 == sum(row[3] for row in LENET_ROWS)
    assert s.total_macs == 117_600 + 240_000 + 48_000 + 10_080 + 840 == 416_520


@needs_torch
def test_parameter_count_equals_torchs():
    model = lenet(nn)
    s = summarize(model, (1, 28, 28))
    assert s.total_params == sum(p.numel() for p in model.parameters())
    assert s.total_params == sum(p.numel() for p in lenet(torch.nn).parameters())


def test_output_shapes_equal_the_shapes_of_a_real_forward():
    model = lenet(nn)
    s = summarize(model, (1, 28, 28), batch_size=3)
    x = convpool.randn(3, 1, 28, 28)
    for layer, row in zip(model, s.rows, strict=True):
        x = layer(x)
        assert row.output_shape == x.shape, row.name
    assert s.output_shape == model(convpool.randn(3, 1, 28, 28)).shape == (3, 10)


def test_batch_size_scales_macs_not_params():
    one, four = summarize(lenet(nn), (1, 28, 28)), summarize(lenet(nn), (1, 28, 28), batch_size=4)
    assert four.total_macs == 4 * one.total_macs and four.total_params == one.total_params
    assert four.rows[0].output_shape == (4, 6, 28, 28)


def test_table_text():
    summary = lenet(nn).summary((1, 28, 28))
    text = str(summary)
    assert repr(summary) == text  # a REPL shows the table
    lines = text.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["Layer", "Type", "Output shape", "Params", "MACs"]
    assert re.split(r"\s{2,}", lines[2]) == ["0", "Conv2d", "[1, 6, 28, 28]", "156", "117,600"]
    assert re.split(r"\s{2,}", lines[9]) == ["7", "Linear", "[1, 120]", "48,120", "48,000"]
    for expected in ("Input shape: [1, 1, 28, 28]", "Output shape: [1, 10]", "Total params: 61,706",
                     "Trainable params: 61,706", "Non-trainable params: 0", "Total MACs: 416,520"):
        assert expected in lines
    assert len(lines) == 2 + 12 + 7


def test_grouped_and_transposed_convolution_macs():
    grouped = nn.Conv2d(8, 12, 3, groups=4, padding=1)
    s = summarize(grouped, (8, 10, 10))
    assert s.rows[0].macs == 12 * 10 * 10 * (8 // 4) * 9  # out elements * in/groups * kernel
    up = nn.ConvTranspose2d(4, 6, 2, stride=2, groups=2)
    s = summarize(up, (4, 5, 5))
    assert s.output_shape == (1, 6, 10, 10)
    assert s.rows[0].macs == 4 * 5 * 5 * (6 // 2) * 4  # in elements * out/groups * kernel
    conv1d = nn.Conv1d(3, 5, 4, stride=2, padding="valid")
    assert summarize(conv1d, (3, 20)).rows[0].macs == 5 * 9 * 3 * 4


def test_frozen_parameters_are_not_trainable():
    model = lenet(nn)
    model[0].requires_grad_(False)
    s = summarize(model, (1, 28, 28))
    assert s.total_params == 61_706 and s.trainable_params == 61_706 - 156 and s.non_trainable_params == 156


class Residual(nn.Module):
    """A residual block with a plain Python forward."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        build_residual(self, cin, cout, nn)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


def build_residual(block, cin, cout, library):
    block.conv1 = library.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)
    block.bn1 = library.BatchNorm2d(cout)
    block.conv2 = library.Conv2d(cout, cout, 3, padding=1, bias=False)
    block.bn2 = library.BatchNorm2d(cout)
    block.shortcut = library.Conv2d(cin, cout, 1, stride=2)
    block.relu = library.ReLU()


def residual_net(library):
    if library is nn:
        block = Residual(4, 8)
    else:
        block = torch.nn.Module()
        build_residual(block, 4, 8, torch.nn)
    return library.Sequential(library.Conv2d(3, 4, 3, padding=1), block, library.AdaptiveAvgPool2d(1),
                              library.Flatten(), library.Linear(8, 10))


def test_nested_residual_network_rows_names_and_shapes():
    model = residual_net(nn)
    s = summarize(model, (3, 16, 16), batch_size=2)
    assert [r.name for r in s.rows] == ["0", "1.conv1", "1.bn1", "1.relu", "1.conv2", "1.bn2", "1.shortcut",
                                        "1.relu", "2", "3", "4"]
    shapes = {r.name: r.output_shape for r in s.rows}
    assert shapes["1.conv1"] == (2, 8, 8, 8) and shapes["1.shortcut"] == (2, 8, 8, 8) and shapes["2"] == (2, 8, 1, 1)
    assert s.output_shape == model(convpool.randn(2, 3, 16, 16)).shape == (2, 10)
    assert s.rows[1].macs == 2 * 8 * 8 * 8 * 4 * 9
    assert s.rows[6].macs == 2 * 8 * 8 * 8 * 4
    assert s.total_params == sum(p.numel() for p in model.parameters())
    if torch is not None:
        assert s.total_params == sum(p.numel() for p in residual_net(torch.nn).parameters())


def test_summary_traces_in_eval_mode_and_leaves_the_model_as_it_was():
    model = residual_net(nn)
    model[1].bn1.eval()  # a mixed state: each module's own flag comes back
    calls = []
    model[1].bn1.register_forward_hook(lambda m, args, out: calls.append(m.training))
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    rng_state = convpool.get_rng_state()
    s = summarize(model, (3, 16, 16))
    assert calls == [False] and len(s.rows) == 11  # one forward, in eval mode; the user's hook stays
    assert [m.training for m in model.modules()] == [m is not model[1].bn1 for m in model.modules()]
    assert all(not m._forward_hooks for m in model.modules() if m is not model[1].bn1)
    assert len(model[1].bn1._forward_hooks) == 1
    assert all(numpy.array_equal(v.numpy(), before[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    after = convpool.randn(4).numpy()
    convpool.set_rng_state(rng_state)
    assert numpy.array_equal(after, convpool.randn(4).numpy())  # the global generator was not drawn from
    with pytest.raises(ValueError, match="input has 8 channels but the weight expects 16") as caught:
        summarize(nn.Sequential(nn.Conv2d(1, 8, 3), nn.Conv2d(16, 4, 3)), (1, 10, 10))
    assert "summary of Sequential on an input of shape (1, 1, 10, 10)" in caught.value.__notes__[0]


def test_custom_module_with_its_own_forward_is_summarised():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.scale = nn.Parameter(convpool.ones(3))  # held by the container itself: in the totals only

        def forward(self, x):
            return self.fc(x) * self.scale + x

    s = Custom().summary((3,), batch_size=5)
    assert [(r.name, r.input_shape, r.output_shape, r.params, r.macs) for r in s.rows] == \
        [("fc", (5, 3), (5, 3), 12, 5 * 9)]
    assert s.output_shape == (5, 3) and s.total_params == 15
    leaf = nn.ReLU().summary((2, 4))
    assert [(r.name, r.output_shape) for r in leaf.rows] == [("model", (1, 2, 4))]
    with pytest.raises(ValueError, match="positive ints"):
        summarize(lenet(nn), (1, 0, 28))
    with pytest.raises(TypeError, match="expected a convpool.nn.Module"):
        summarize(torch, (1,))


def test_summary_of_a_model_on_the_strict_device_and_in_float64():
    model = lenet(nn).double().to("strict")
    s = model.summary((1, 28, 28))
    assert [(r.name, r.output_shape, r.params, r.macs) for r in s.rows] == \
        [(name, shape, params, macs) for name, _, shape, params, macs in LENET_ROWS]
    assert model[0].weight.device.type == "strict"
