"""Module bookkeeping: Parameter, registration by attribute, traversal and naming,
train/eval, zero_grad, state_dict and load_state_dict (strict keys, shapes, dtypes, copying
in place), to(dtype), repr, Sequential and ModuleList, and a residual block written as plain
Python forward, against torch."""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy
import pytest
from reference import needs_torch, torch
from test_nn_layers import compare_module, torch_state_as_numpy

import convpool
from convpool import nn
from convpool.nn import Parameter

if torch is not None:
    torch.set_num_threads(1)


def build_block(block, cin: int, cout: int, library) -> None:
    """The same layers for our block and torch's (library is convpool.nn or torch.nn)."""
    block.conv1 = library.Conv2d(cin, cout, 3, padding=1, bias=False)
    block.bn1 = library.BatchNorm2d(cout)
    block.conv2 = library.Conv2d(cout, cout, 3, padding=1, bias=False)
    block.bn2 = library.BatchNorm2d(cout)
    block.shortcut = library.Conv2d(cin, cout, 1) if cin != cout else library.Identity()
    block.relu = library.ReLU()


def block_forward(block, x):
    out = block.relu(block.bn1(block.conv1(x)))
    out = block.bn2(block.conv2(out))
    return block.relu(out + block.shortcut(x))


class Block(nn.Module):
    """conv-bn-relu-conv-bn plus the input (a 1x1 conv when the channels change): plain Python forward."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        build_block(self, cin, cout, nn)

    forward = block_forward


def make_torch_block(cin: int, cout: int):
    class TorchBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            build_block(self, cin, cout, torch.nn)

        forward = block_forward

    return TorchBlock()


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(4 * 3 * 3, 5)
        self.scale = Parameter(convpool.ones(1))
        self.register_buffer("calls", convpool.zeros(1))

    def forward(self, x):
        return self.head(self.features(x).flatten(1)) * self.scale


# ----- Parameter and registration ---------------------------------------------------------
def test_parameter_is_a_tensor_that_requires_grad_and_shares_data():
    array = numpy.ones((2, 3), dtype=numpy.float32)
    p = Parameter(convpool.from_numpy(array))
    assert isinstance(p, convpool.Tensor) and p.requires_grad and p.is_leaf
    array[0, 0] = 7
    assert p.data[0, 0] == 7
    assert not Parameter(array, requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor(")
    (p * 2).sum().backward()
    numpy.testing.assert_array_equal(p.grad.numpy(), numpy.full((2, 3), 2.0))


def test_attribute_assignment_registers_parameters_buffers_and_modules_in_order():
    net = Net()
    assert [name for name, _ in net.named_parameters()] == [
        "scale", "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
        "head.weight", "head.bias"]
    assert [name for name, _ in net.named_buffers()] == [
        "calls", "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked"]
    assert [name for name, _ in net.named_children()] == ["features", "head"]
    assert [name for name, _ in net.named_modules()] == ["", "features", "features.0", "features.1", "features.2",
                                                         "features.3", "head"]
    assert len(list(net.modules())) == 7 and len(list(net.children())) == 2
    assert len(list(net.parameters(recurse=False))) == 1
    assert net.get_submodule("features.0") is net.features[0]
    assert net.features[0].weight is dict(net.named_parameters())["features.0.weight"]


def test_state_dict_keys_are_torchs():
    ours = Net()
    ours_keys = list(ours.state_dict())
    assert ours_keys == ["scale", "calls", "features.0.weight", "features.0.bias", "features.1.weight",
                         "features.1.bias", "features.1.running_mean", "features.1.running_var",
                         "features.1.num_batches_tracked", "head.weight", "head.bias"]
    if torch is not None:
        class TorchNet(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4),
                                                    torch.nn.ReLU(), torch.nn.MaxPool2d(2))
                self.head = torch.nn.Linear(36, 5)
                self.scale = torch.nn.Parameter(torch.ones(1))
                self.register_buffer("calls", torch.zeros(1))

        assert ours_keys == list(TorchNet().state_dict())
        assert [n for n, _ in ours.named_parameters()] == [n for n, _ in TorchNet().named_parameters()]


def test_reassigning_and_deleting_and_type_errors():
    layer = nn.Linear(2, 3)
    layer.bias = None
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert "bias" not in layer.state_dict() and layer.bias is None
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'weight'"):
        layer.weight = convpool.zeros(3, 2)
    seq = nn.Sequential(nn.ReLU())
    with pytest.raises(TypeError, match="as child module '0'"):
        setattr(seq, "0", 3)
    bn = nn.BatchNorm1d(2)
    with pytest.raises(TypeError, match="as buffer 'running_mean'"):
        bn.running_mean = numpy.zeros(2)
    bn.running_mean = convpool.ones(2)
    assert bn.state_dict()["running_mean"].tolist() == [1.0, 1.0]
    del layer.weight
    assert list(layer.named_parameters()) == []
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'weight'"):
        _ = layer.weight
    with pytest.raises(KeyError, match="attribute 'forward' already exists"):
        layer.register_buffer("forward", convpool.zeros(1))
    with pytest.raises(KeyError, match='without "."'):
        layer.register_parameter("a.b", None)

    class Forgetful(nn.Module):
        def __init__(self):
            self.w = Parameter(convpool.zeros(1))

    with pytest.raises(AttributeError, match=r"before Module.__init__\(\) call"):
        Forgetful()


def test_shared_parameters_and_modules_are_listed_once():
    shared = nn.Linear(3, 3)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(seq.parameters())) == 2
    assert [name for name, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(seq.named_parameters(remove_duplicate=False))) == 4


def test_non_persistent_buffer_is_not_saved():
    m = nn.Module()
    m.register_buffer("cache", convpool.zeros(2), persistent=False)
    m.register_buffer("kept", convpool.zeros(2))
    assert list(m.state_dict()) == ["kept"]
    assert [name for name, _ in m.named_buffers()] == ["cache", "kept"]


def test_forward_is_required_and_call_runs_forward():
    with pytest.raises(NotImplementedError, match='Module \\[Module\\] is missing the required "forward"'):
        nn.Module()(convpool.zeros(1))

    class Twice(nn.Module):
        def forward(self, x, factor=2):
            return x * factor

    assert Twice()(convpool.tensor([1.0]), factor=3).tolist() == [3.0]


# ----- modes and gradients ----------------------------------------------------------------
def test_train_and_eval_propagate_to_every_descendant():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.features.train()
    assert net.features[1].training and not net.training and not net.head.training
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="expected to be boolean"):
        net.train("no")


def test_eval_changes_dropout_and_batch_norm_behaviour():
    convpool.manual_seed(0)
    model = nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(4))
    x = convpool.randn(6, 4) + 3
    model.eval()
    y = model(x)  # identity dropout, running stats (0, 1): x / sqrt(1 + eps)
    numpy.testing.assert_allclose(y.detach().numpy(), x.numpy() / numpy.sqrt(1 + 1e-5), rtol=1e-6)
    model.train()
    assert not numpy.allclose(model(x).detach().numpy(), y.detach().numpy())


def test_zero_grad_sets_gradients_to_none():
    net = Net()
    net(convpool.randn(2, 1, 8, 8)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net(convpool.randn(2, 1, 8, 8)).sum().backward()
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in net.parameters())


def test_requires_grad_and_apply():
    net = Net()
    net.features.requires_grad_(False)
    assert [n for n, p in net.named_parameters() if p.requires_grad] == ["scale", "head.weight", "head.bias"]

    def fill(m):
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.weight, 0.5)

    net.apply(fill)
    assert numpy.all(net.head.weight.data == 0.5)


# ----- state dicts ------------------------------------------------------------------------
def test_state_dict_round_trip_reproduces_outputs_and_copies_values():
    convpool.manual_seed(1)
    source = Net()
    x = convpool.randn(3, 1, 8, 8)
    source(x)  # one training step moves the running statistics
    source.eval()
    expected = source(x).detach().numpy()
    state = {key: value.numpy().copy() for key, value in source.state_dict().items()}
    convpool.manual_seed(2)
    target = Net().eval()
    assert not numpy.allclose(target(x).detach().numpy(), expected)
    weight = target.head.weight
    result = target.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []
    numpy.testing.assert_array_equal(target(x).detach().numpy(), expected)
    assert target.head.weight is weight  # same Parameter object: optimisers keep working
    state["head.weight"][...] = 0  # copied, not aliased
    assert target.head.weight.data.any()
    assert int(target.features[1].num_batches_tracked.item()) == 1


def test_state_dict_shares_memory_and_keep_vars():
    layer = nn.Linear(2, 2)
    state = layer.state_dict()
    assert not state["weight"].requires_grad
    layer.weight.data[...] = 3
    assert numpy.all(state["weight"].numpy() == 3)
    assert layer.state_dict(keep_vars=True)["weight"] is layer.weight


def test_strict_loading_lists_missing_and_unexpected_keys_in_one_error():
    net = Net()
    state = {key: value.numpy() for key, value in net.state_dict().items()}
    del state["head.bias"], state["features.1.running_var"]
    state["head.extra"] = numpy.zeros(1)
    with pytest.raises(nn.StateDictError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert message.startswith("Error(s) in loading state_dict for Net:")
    assert 'Missing key(s) in state_dict: "features.1.running_var", "head.bias".' in message
    assert 'Unexpected key(s) in state_dict: "head.extra".' in message
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ValueError)
    result = net.load_state_dict(state, strict=False)
    assert result.missing_keys == ["features.1.running_var", "head.bias"]
    assert result.unexpected_keys == ["head.extra"]


def test_wrong_shape_names_the_key_and_both_shapes_and_nothing_is_copied():
    net = Net()
    before = net.head.bias.data.copy()
    state = {key: value.numpy().copy() for key, value in net.state_dict().items()}
    state["head.bias"] = numpy.full(5, 9.0, dtype=numpy.float32)
    state["head.weight"] = numpy.zeros((5, 35), dtype=numpy.float32)
    for strict in (True, False):  # a shape mismatch is an error even when not strict, as in torch
        with pytest.raises(nn.StateDictError,
                           match=r"size mismatch for head\.weight: copying a param with shape \(5, 35\) from "
                                 r"checkpoint, the shape in current model is \(5, 36\)"):
            net.load_state_dict(state, strict=strict)
    numpy.testing.assert_array_equal(net.head.bias.data, before)


def test_loading_casts_floats_to_the_parameters_dtype():
    layer = nn.BatchNorm1d(3)
    state = {"weight": numpy.array([1.5, 2.5, 3.5]), "bias": [0.0, 1.0, 2.0],
             "running_mean": convpool.tensor([1.0, 2.0, 3.0], dtype="float64"),
             "running_var": numpy.ones(3, dtype=numpy.int64), "num_batches_tracked": numpy.array(4.0)}
    layer.load_state_dict(state)
    assert layer.weight.dtype == numpy.float32 and layer.weight.tolist() == [1.5, 2.5, 3.5]
    assert layer.bias.tolist() == [0.0, 1.0, 2.0]
    assert layer.num_batches_tracked.dtype == numpy.int64 and int(layer.num_batches_tracked.item()) == 4
    state["num_batches_tracked"] = numpy.array(2.5)
    with pytest.raises(nn.StateDictError, match="dtype mismatch for num_batches_tracked: cannot copy float64"):
        layer.load_state_dict(state)
    with pytest.raises(TypeError, match="expected a mapping"):
        layer.load_state_dict([("weight", 1)])


@needs_torch
def test_load_from_torch_state_dict_with_numpy_values():
    theirs = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3))
    theirs(torch.randn(4, 2, 5, 5))
    ours = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3))
    ours.load_state_dict(torch_state_as_numpy(theirs))
    ours.load_state_dict(theirs.state_dict())  # torch tensors work too (numpy.asarray reads them)
    for key, value in theirs.state_dict().items():
        numpy.testing.assert_array_equal(ours.state_dict()[key].numpy(), value.numpy())


# ----- dtype ------------------------------------------------------------------------------
def test_to_double_and_float_cast_floating_state_and_keep_objects():
    net = Net()
    weight = net.head.weight
    net(convpool.randn(2, 1, 8, 8)).sum().backward()
    assert net.double() is net
    assert net.head.weight is weight and weight.dtype == numpy.float64 and weight.grad.dtype == numpy.float64
    assert net.features[1].running_mean.dtype == numpy.float64 and net.calls.dtype == numpy.float64
    assert net.features[1].num_batches_tracked.dtype == numpy.int64
    assert net(convpool.randn(2, 1, 8, 8, dtype="float64")).dtype == numpy.float64
    net.float()
    assert all(p.dtype == numpy.float32 for p in net.parameters())
    net.to(convpool.float64)
    assert all(p.dtype == numpy.float64 for p in net.parameters())
    with pytest.raises(TypeError, match="only floating dtypes"):
        net.to(convpool.int64)


# ----- printing, containers ---------------------------------------------------------------
@needs_torch
def test_nested_repr_matches_torch():
    ours = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.Sequential(nn.Linear(2, 3), nn.Dropout()),
                         nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Linear(2, 2)]))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 5), torch.nn.ReLU(),
                                 torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Dropout()),
                                 torch.nn.ModuleList([torch.nn.ReLU(), torch.nn.ReLU(), torch.nn.Linear(2, 2)]))
    assert repr(ours) == repr(theirs)
    assert repr(Block(2, 4)) == repr(make_torch_block(2, 4)).replace("TorchBlock", "Block")
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())


def test_sequential_indexing_slicing_iteration_and_names():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and list(seq) == [a, b, c]
    assert seq[0] is a and seq[-1] is c
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b, c]
    assert [name for name, _ in sub.named_children()] == ["1", "2"]
    with pytest.raises(IndexError, match="index 3 is out of range"):
        seq[3]
    named = nn.Sequential(OrderedDict([("fc", a), ("act", b)]))
    assert [name for name, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]
    assert named.fc is a
    seq.append(nn.Sigmoid())
    del seq[0]
    assert [name for name, _ in seq.named_children()] == ["0", "1", "2"] and seq[0] is b
    seq[0] = nn.Tanh()
    assert isinstance(seq[0], nn.Tanh)
    x = convpool.randn(4, 2)
    full = nn.Sequential(a, b, c)
    numpy.testing.assert_array_equal(full(x).detach().numpy(), c(b(a(x))).detach().numpy())


def test_module_list_registers_its_modules():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    layers.append(nn.Linear(2, 1))
    layers.extend([nn.ReLU()])
    layers.insert(0, nn.Identity())
    assert len(layers) == 6 and isinstance(layers[0], nn.Identity) and isinstance(layers[-1], nn.ReLU)
    assert [name for name, _ in layers.named_parameters()][:2] == ["1.weight", "1.bias"]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2

    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(3, 3), nn.Linear(3, 3)])

        def forward(self, x):
            for block in self.blocks:
                x = block(x).relu()
            return x

    stack = Stack()
    assert list(stack.state_dict()) == ["blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias"]
    assert stack(convpool.randn(2, 3)).shape == (2, 3)


def test_deepcopy_gives_an_independent_module():
    net = Net()
    clone = copy.deepcopy(net)
    clone.head.weight.data[...] = 0
    assert net.head.weight.data.any()
    assert [n for n, _ in clone.named_parameters()] == [n for n, _ in net.named_parameters()]


# ----- residual block against torch -------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cin,cout", [(3, 3), (2, 4)])
def test_residual_block_with_plain_python_forward_matches_torch(cin, cout, dtype):
    ours, theirs = Block(cin, cout), make_torch_block(cin, cout)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = numpy.random.default_rng(0).standard_normal((2, cin, 6, 5)).astype(dtype)
    for step in range(2):  # train mode: gradients and running statistics, twice
        compare_module(ours, theirs, x + step, seed=step, randomize=step == 0)
        ours.zero_grad()
        theirs.zero_grad()
    ours.eval()
    theirs.eval()
    compare_module(ours, theirs, x, randomize=False)


# ----- forward and backward hooks ------------------------------------------------------------
def test_forward_hooks_see_and_may_replace_input_and_output_and_run_in_call_only():
    layer, calls = nn.Linear(3, 2), []
    pre = layer.register_forward_pre_hook(lambda m, args: calls.append(("pre", m, args[0].shape)))
    post = layer.register_forward_hook(lambda m, args, out: calls.append(("post", args[0].shape, out.shape)))
    x = convpool.randn(4, 3)
    layer(x)
    assert calls == [("pre", layer, (4, 3)), ("post", (4, 3), (4, 2))]
    layer.forward(x)  # hooks run in __call__, not in forward
    assert len(calls) == 2
    pre.remove()
    post.remove()
    post.remove()  # a second remove does nothing
    layer(x)
    assert len(calls) == 2 and not layer._forward_hooks and not layer._forward_pre_hooks
    doubled = layer.register_forward_pre_hook(lambda m, args: args[0] * 2)  # a non-tuple becomes (value,)
    with layer.register_forward_hook(lambda m, args, out: out + 1):
        y = layer(x)
    numpy.testing.assert_allclose(y.data, layer.forward(x * 2).data + 1, rtol=1e-6)
    doubled.remove()
    numpy.testing.assert_allclose(layer(x).data, layer.forward(x).data)  # `with` removed the forward hook


def test_hook_order_prepend_and_kwargs():
    order = []

    class Scale(nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    m = Scale()
    m.register_forward_hook(lambda mod, a, out: order.append("first"))
    m.register_forward_hook(lambda mod, a, out: order.append("prepended"), prepend=True)
    m.register_forward_pre_hook(lambda mod, a, kw: (a, {"scale": kw.get("scale", 1.0) * 10}), with_kwargs=True)
    seen = []
    m.register_forward_hook(lambda mod, a, kw, out: seen.append(kw), with_kwargs=True)
    y = m(convpool.ones(2), scale=3.0)
    assert order == ["prepended", "first"] and seen == [{"scale": 30.0}]
    assert y.tolist() == [30.0, 30.0]
    m.register_forward_pre_hook(lambda mod, a, kw: "wrong", with_kwargs=True)
    with pytest.raises(RuntimeError, match="new_args, new_kwargs"):
        m(convpool.ones(2))
    with pytest.raises(TypeError, match="callable"):
        m.register_forward_hook(3)


def test_always_call_hook_runs_when_forward_raises():
    class Broken(nn.Module):
        def forward(self, x):
            raise ValueError("broken forward")

    m, seen = Broken(), []
    m.register_forward_hook(lambda mod, a, out: seen.append("plain"))
    m.register_forward_hook(lambda mod, a, out: seen.append(("always", out)), always_call=True)
    with pytest.raises(ValueError, match="broken forward"):
        m(convpool.ones(1))
    assert seen == [("always", None)]


def test_hooks_survive_deepcopy_and_nested_modules_all_fire():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    names = {m: n for n, m in net.named_modules()}
    seen = []
    handles = [m.register_forward_hook(lambda mod, a, out: seen.append((names[mod], out.shape)))
               for m in net.modules()]
    net(convpool.randn(5, 3))
    assert seen == [("0", (5, 4)), ("1", (5, 4)), ("2", (5, 2)), ("", (5, 2))]
    for handle in handles:
        handle.remove()
    seen.clear()
    net(convpool.randn(5, 3))
    assert seen == []


def _record_backward(module, store):
    def hook(mod, grad_input, grad_output):
        store.append(([None if g is None else numpy.asarray(g.detach().numpy() if hasattr(g, "detach") else g.data)
                       for g in grad_input],
                      [None if g is None else numpy.asarray(g.detach().numpy() if hasattr(g, "detach") else g.data)
                       for g in grad_output]))
    return module.register_full_backward_hook(hook)


@needs_torch
def test_full_backward_hook_gets_grad_input_and_grad_output_as_torch():
    rng = numpy.random.default_rng(1)
    x = rng.standard_normal((3, 2, 6, 6))
    ours, theirs = nn.Conv2d(2, 4, 3).double(), torch.nn.Conv2d(2, 4, 3).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    seen_ours, seen_theirs = [], []
    _record_backward(ours, seen_ours)
    _record_backward(theirs, seen_theirs)
    upstream = rng.standard_normal((3, 4, 4, 4))
    xo, xt = convpool.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours(xo).backward(upstream)
    theirs(xt).backward(torch.tensor(upstream))
    assert len(seen_ours) == len(seen_theirs) == 1
    (gi_o, go_o), (gi_t, go_t) = seen_ours[0], seen_theirs[0]
    assert len(gi_o) == len(gi_t) == 1 and len(go_o) == len(go_t) == 1
    numpy.testing.assert_allclose(gi_o[0], gi_t[0], rtol=1e-10)
    numpy.testing.assert_allclose(go_o[0], go_t[0], rtol=1e-10)
    numpy.testing.assert_allclose(xo.grad.data, xt.grad.numpy(), rtol=1e-10)
    numpy.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), rtol=1e-10)


@needs_torch
def test_full_backward_hook_with_two_inputs_may_replace_grad_input():
    class Mix(nn.Module):
        def forward(self, a, b, scale):
            return a * b * scale

    class TorchMix(torch.nn.Module):
        def forward(self, a, b, scale):
            return a * b * scale

    rng = numpy.random.default_rng(2)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    results = []
    for module, lib in ((Mix(), convpool), (TorchMix(), torch)):
        seen = []
        _record_backward(module, seen)
        module.register_full_backward_hook(lambda m, gi, go: (gi[0] * 3, None, None))
        ta, tb = lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=False)
        module(ta, tb, 2.0).sum().backward()
        grad_a = ta.grad.data if lib is convpool else ta.grad.numpy()
        results.append((seen, grad_a, tb.grad))
    (seen_o, ga_o, gb_o), (seen_t, ga_t, gb_t) = results
    assert [g is None for g in seen_o[0][0]] == [g is None for g in seen_t[0][0]] == [False, False, True]
    numpy.testing.assert_allclose(seen_o[0][0][0], seen_t[0][0][0], rtol=1e-12)
    numpy.testing.assert_array_equal(seen_o[0][0][1], seen_t[0][0][1])  # zeros for b, as torch
    numpy.testing.assert_allclose(ga_o, ga_t, rtol=1e-12)
    numpy.testing.assert_allclose(ga_o, 3 * 2 * b, rtol=1e-12)
    assert gb_o is None and gb_t is None


def test_full_backward_hook_when_no_input_requires_grad_and_bad_returns():
    layer = nn.Linear(3, 2)
    seen = []
    layer.register_full_backward_hook(lambda m, gi, go: seen.append((gi, go[0].shape)))
    layer(convpool.randn(4, 3)).sum().backward()
    assert seen == [((None,), (4, 2))]
    assert layer.weight.grad is not None
    bad = nn.Linear(3, 2)
    bad.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="returned 2 gradient"):
        bad(convpool.randn(4, 3, requires_grad=True)).sum().backward()
    wrong = nn.Linear(3, 2)
    wrong.register_full_backward_hook(lambda m, gi, go: (convpool.zeros(1, 3),))
    with pytest.raises(RuntimeError, match="shape"):
        wrong(convpool.randn(4, 3, requires_grad=True)).sum().backward()
    with convpool.no_grad():  # no graph: the hook is not set up, forward works
        assert wrong(convpool.randn(4, 3)).shape == (4, 2)


@needs_torch
def test_full_backward_hook_on_a_module_with_two_outputs_on_every_device():
    class Split(nn.Module):
        def forward(self, x):
            return x * 2, x.exp()

    class TorchSplit(torch.nn.Module):
        def forward(self, x):
            return x * 2, x.exp()

    a = numpy.random.default_rng(3).standard_normal((2, 3))
    up = numpy.random.default_rng(4).standard_normal((2, 3))
    seen_t = []
    theirs = TorchSplit()
    _record_backward(theirs, seen_t)
    xt = torch.tensor(a, requires_grad=True)
    first, second = theirs(xt)
    (first * torch.tensor(up)).sum().backward(retain_graph=True)
    for device in ("cpu", "strict"):
        seen_o = []
        ours = Split()
        ours.register_full_backward_hook(lambda m, gi, go, seen=seen_o: seen.append(
            ([g.numpy() for g in gi], [None if g is None else g.numpy() for g in go])))
        xo = convpool.tensor(a, device=device, requires_grad=True)
        f, s = ours(xo)
        (f * convpool.tensor(up, device=device)).sum().backward()
        assert len(seen_o) == 1
        numpy.testing.assert_allclose(seen_o[0][0][0], seen_t[0][0][0], rtol=1e-12)
        numpy.testing.assert_allclose(seen_o[0][1][0], seen_t[0][1][0], rtol=1e-12)
        assert seen_o[0][1][1] is None and seen_t[0][1][1] is None  # the second output got no gradient
        assert xo.grad.device.type == device


def test_watch_removes_its_hooks_even_when_forward_raises():
    from convpool.nn.watch import leaves, watch

    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2))  # the second layer does not fit
    seen = []
    with pytest.raises(ValueError, match="in_features"), watch(leaves(net), lambda *a: seen.append(a[0])):
        net(convpool.randn(2, 3))
    assert seen == ["0"] and not any(m._forward_hooks for m in net.modules())
