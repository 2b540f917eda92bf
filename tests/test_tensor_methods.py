"""PyTorch's tensor methods and top-level functions (convpool.functions, ops/select.py,
ops/inplace.py) against torch: forward, every input's gradient (through reference.compare,
on the CPU and the stand-in GPU), central differences, and the named results."""

from __future__ import annotations

import numpy
import pytest
from reference import check_grad, compare, needs_torch, tie_free, torch

import convpool

DTYPES = ["float64", "float32"]


def _x(shape, dtype="float64", seed=0):
    return tie_free(numpy.random.default_rng(seed), shape, dtype)


# (name, convpool function, torch function, input shapes): each takes the tensors positionally
UNARY = [
    ("flatten", lambda x: convpool.flatten(x, 1), lambda x: torch.flatten(x, 1), (2, 3, 4)),
    ("sort", lambda x: x.sort(dim=1)[0], lambda x: x.sort(dim=1)[0], (3, 5)),
    ("sort-descending", lambda x: convpool.sort(x, 0, descending=True).values,
     lambda x: torch.sort(x, 0, descending=True).values, (4, 3)),
    ("topk", lambda x: x.topk(2, dim=1).values, lambda x: x.topk(2, dim=1).values, (3, 6)),
    ("topk-smallest", lambda x: convpool.topk(x, 3, 0, largest=False)[0],
     lambda x: torch.topk(x, 3, 0, largest=False)[0], (5, 2)),
    ("max-dim", lambda x: convpool.max(x, 1).values, lambda x: torch.max(x, 1).values, (3, 4)),
    ("min-dim-keepdim", lambda x: x.min(0, keepdim=True)[0], lambda x: x.min(0, keepdim=True)[0], (3, 4)),
    ("std", lambda x: x.std(), lambda x: x.std(), (3, 4)),
    ("std-dim", lambda x: convpool.std(x, 1, keepdim=True), lambda x: torch.std(x, 1, keepdim=True), (3, 4)),
    ("norm", lambda x: x.norm(), lambda x: x.norm(), (3, 4)),
    ("norm-1-dim", lambda x: x.norm(1, dim=1), lambda x: x.norm(1, dim=1), (3, 4)),
    ("norm-3", lambda x: convpool.norm(x, 3), lambda x: torch.norm(x, 3), (3, 4)),
    ("norm-inf", lambda x: x.norm(float("inf")), lambda x: x.norm(float("inf")), (3, 4)),
    ("chunk", lambda x: x.chunk(3, 1)[1], lambda x: x.chunk(3, 1)[1], (2, 7)),
    ("split", lambda x: x.split(2)[-1], lambda x: x.split(2)[-1], (5, 2)),
    ("split-sizes", lambda x: convpool.split(x, [1, 3], 1)[1], lambda x: torch.split(x, [1, 3], 1)[1], (2, 4)),
    ("repeat", lambda x: x.repeat(2, 1, 3), lambda x: x.repeat(2, 1, 3), (2, 3)),
    ("t", lambda x: x.t(), lambda x: x.t(), (2, 3)),
    ("clone", lambda x: x.clone() * 2, lambda x: x.clone() * 2, (2, 3)),
    ("contiguous", lambda x: x.t().contiguous(), lambda x: x.t().contiguous(), (2, 3)),
    ("softmax-method", lambda x: x.softmax(1), lambda x: x.softmax(1), (2, 5)),
    ("log_softmax", lambda x: convpool.log_softmax(x, 0), lambda x: torch.log_softmax(x, 0), (4, 3)),
    ("softmax-dtype", lambda x: convpool.softmax(x, -1, dtype=convpool.float64),
     lambda x: torch.softmax(x, -1, dtype=torch.float64), (2, 3)),
    ("masked_fill", lambda x: x.masked_fill(x > 0.3, -1.5), lambda x: x.masked_fill(x > 0.3, -1.5), (3, 4)),
    ("sum", lambda x: convpool.sum(x, (0, 2)), lambda x: torch.sum(x, (0, 2)), (2, 3, 4)),
    ("mean", lambda x: convpool.mean(x, 1, keepdim=True), lambda x: torch.mean(x, 1, keepdim=True), (2, 3)),
    ("exp-log", lambda x: convpool.log(convpool.exp(x) + 1), lambda x: torch.log(torch.exp(x) + 1), (3,)),
    ("clamp", lambda x: convpool.clamp(x, -0.5, 0.7), lambda x: torch.clamp(x, -0.5, 0.7), (3, 4)),
    ("add-alpha", lambda x: x.add(x * x, alpha=0.5), lambda x: x.add(x * x, alpha=0.5), (3,)),
    ("sub-mul-div-pow", lambda x: x.sub(1).mul(2).div(3).pow(2), lambda x: x.sub(1).mul(2).div(3).pow(2), (4,)),
    ("maximum", lambda x: convpool.maximum(x, 0.3 - x), lambda x: torch.maximum(x, 0.3 - x), (2, 3)),
    ("max-elementwise", lambda x: convpool.max(x, 0.3 - x), lambda x: torch.max(x, 0.3 - x), (2, 3)),
    ("minimum", lambda x: convpool.minimum(x, 0.3 - x), lambda x: torch.minimum(x, 0.3 - x), (2, 3)),
]


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", UNARY, ids=[c[0] for c in UNARY])
def test_methods_and_functions_match_torch(case, dtype):
    _, ours, theirs, shape = case
    compare(ours, theirs, _x(shape, dtype))


@pytest.mark.parametrize("case", UNARY, ids=[c[0] for c in UNARY])
def test_methods_and_functions_pass_central_differences(case):
    _, ours, _, shape = case
    assert check_grad(ours, _x(shape))


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_gather_matmul_and_expand_as_match_torch(dtype):
    rng = numpy.random.default_rng(3)
    index = rng.integers(0, 4, (3, 2))
    compare(lambda x, i: x.gather(1, i), lambda x, i: x.gather(1, i), _x((3, 4), dtype), index)
    compare(lambda x, i: convpool.gather(x, 0, i), lambda x, i: torch.gather(x, 0, i), _x((4, 2), dtype),
            numpy.array([[0, 0], [3, 1], [0, 0]]))  # repeated indices: their gradients add up
    compare(lambda a, b: a.matmul(b), lambda a, b: a.matmul(b), _x((2, 3), dtype), _x((3, 4), dtype, 1))
    compare(lambda a, b: convpool.matmul(a, b), lambda a, b: torch.matmul(a, b), _x((5, 2, 3), dtype),
            _x((3, 2), dtype, 1))
    compare(lambda a, b: a.expand_as(b) * b, lambda a, b: a.expand_as(b) * b, _x((1, 3), dtype), _x((4, 3), dtype, 1))
    compare(lambda a, b: a.view_as(b) + b, lambda a, b: a.view_as(b) + b, _x((6,), dtype), _x((2, 3), dtype, 1))


@needs_torch
def test_maximum_shares_the_gradient_on_ties_and_propagates_nan():
    compare(lambda a, b: convpool.maximum(a, b), lambda a, b: torch.maximum(a, b),
            numpy.array([1.0, 2.0, 3.0, numpy.nan]), numpy.array([1.0, 5.0, 0.0, 1.0]))


@needs_torch
def test_named_results_and_indices_match_torch():
    x = _x((4, 6))
    for ours, theirs in ((convpool.tensor(x).max(1), torch.tensor(x).max(1)),
                         (convpool.min(convpool.tensor(x), 0), torch.min(torch.tensor(x), 0)),
                         (convpool.tensor(x).sort(1, descending=True), torch.tensor(x).sort(1, descending=True)),
                         (convpool.tensor(x).topk(3), torch.tensor(x).topk(3))):
        values, indices = ours  # unpacks like a tuple ...
        assert ours.values is values and ours.indices is indices  # ... and names its fields
        numpy.testing.assert_array_equal(values.numpy(), theirs.values.numpy())
        numpy.testing.assert_array_equal(indices.numpy(), theirs.indices.numpy())
        assert indices.dtype == numpy.int64
    numpy.testing.assert_array_equal(convpool.argmin(convpool.tensor(x), 1).numpy(), torch.argmin(torch.tensor(x), 1))
    numpy.testing.assert_array_equal(convpool.tensor(x).argsort(0).numpy(), torch.tensor(x).argsort(0).numpy())


def test_sort_keeps_ties_in_order_and_topk_checks_k():
    x = convpool.tensor([3.0, 1.0, 3.0, 1.0])
    assert x.sort().indices.tolist() == [1, 3, 0, 2]
    assert x.sort(descending=True).indices.tolist() == [0, 2, 1, 3]
    with pytest.raises(ValueError, match=r"topk: k must be an int in \[0, 4\].*k=5"):
        x.topk(5)


def test_predicates_and_small_facts():
    a = convpool.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert convpool.equal(a, a.clone()) and not convpool.equal(a, a + 1) and not convpool.equal(a, a[0])
    assert convpool.allclose(a, a + 1e-9) and not convpool.allclose(a, a + 1e-3)
    assert convpool.is_tensor(a) and not convpool.is_tensor(a.numpy())
    assert convpool.numel(a) == 4 and a.dim() == 2 and a.numel() == 4
    assert a.is_contiguous() and not a.t().data.flags.c_contiguous and a.t().contiguous().is_contiguous()
    assert a.long().dtype == numpy.int64 and a.int().dtype == numpy.int32 and a.bool().dtype == numpy.bool_
    assert a.double().dtype == numpy.float64 and a.float().dtype == numpy.float32
    labels = ["plane", "car", "bird"]
    assert labels[convpool.tensor([2, 0])[0]] == "bird"  # __index__
    with pytest.raises(TypeError, match="integer tensors can be used as an index"):
        labels[convpool.tensor(1.0)]
    assert a.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert (a.eq(1) | a.gt(3)).tolist() == [[True, False], [False, True]]
    assert (a.ne(1) & a.le(3)).tolist() == [[False, True], [True, False]]


def test_grad_mode_switches():
    x = convpool.ones(2, requires_grad=True)
    with convpool.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    with convpool.inference_mode():
        assert not (x * 2).requires_grad
    convpool.set_grad_enabled(False)
    try:
        assert not convpool.is_grad_enabled()
    finally:
        convpool.set_grad_enabled(True)
    assert convpool.is_grad_enabled()


# ----- in place and item assignment ---------------------------------------------------------
@needs_torch
def test_item_assignment_is_recorded_as_in_pytorch():
    rng = numpy.random.default_rng(5)
    x0, v0 = rng.standard_normal((3, 4)), rng.standard_normal(3)

    def ours(x, v):
        y = x * 2
        y[:, 0] = v
        y[y > 1] = 0.0
        return y * x

    def theirs(x, v):
        y = x * 2
        y[:, 0] = v
        y[y > 1] = 0.0
        return y * x

    compare(ours, theirs, x0, v0)


@needs_torch
def test_in_place_arithmetic_matches_torch_and_records_gradients():
    rng = numpy.random.default_rng(6)
    x0 = rng.standard_normal((2, 3))

    def run(lib, x):
        y = x * 1.0
        y.add_(x, alpha=2).mul_(x).sub_(0.5).div_(2.0).clamp_(-1.0, 1.0)
        return y.masked_fill_(x > 1.5, 0.0)

    compare(lambda x: run(convpool, x), lambda x: run(torch, x), x0)


def test_in_place_on_parameters_under_no_grad_writes_the_shared_buffer():
    p = convpool.nn.Parameter(convpool.zeros(3))
    buffer = p.data
    with convpool.no_grad():
        p.copy_(convpool.tensor([1.0, 2.0, 3.0]))
        p.add_(1).mul_(2)
        p[0] = -1.0
    assert p.data is buffer  # optimisers and state dicts holding the array see the change
    assert p.tolist() == [-1.0, 6.0, 8.0] and p.requires_grad and p.is_leaf
    p.grad = convpool.ones(3)
    p.grad.zero_()
    assert p.grad.tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        p.add_(1)
    with pytest.raises(RuntimeError, match="a leaf Variable"):
        p[0] = 2.0
    host = numpy.zeros(2, dtype="float32")
    convpool.from_numpy(host).fill_(7)
    assert host.tolist() == [7.0, 7.0]


def test_in_place_refuses_a_shape_or_dtype_it_cannot_hold():
    x = convpool.zeros(3)
    with pytest.raises(RuntimeError, match=r"shape \(2, 3\).*\(3,\)"):
        x.add_(convpool.zeros(2, 3))
    with pytest.raises(TypeError, match="can't be cast"):
        convpool.zeros(3, dtype=convpool.int64).add_(0.5)
    with pytest.raises(RuntimeError, match=r"copy_: the source's shape \(4,\) does not broadcast"):
        x.copy_(convpool.zeros(4))


def test_copy_moves_between_devices_and_sends_the_gradient_back():
    target = convpool.zeros(3, device="strict")
    target.copy_(convpool.tensor([1.0, 2.0, 3.0]))
    assert target.device.type == "strict" and target.tolist() == [1.0, 2.0, 3.0]
    source = convpool.tensor([1.0, 2.0], requires_grad=True)
    y = convpool.zeros(2)
    y.copy_(source * 3)
    (y * convpool.tensor([1.0, 10.0])).sum().backward()
    assert source.grad.tolist() == [3.0, 30.0]
