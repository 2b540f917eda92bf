"""ops/basic.py: every op's forward and gradient against PyTorch (float64 to 1e-10, float32
to 1e-4) over seeded random shapes, and every gradient against float64 central differences
(those run without PyTorch too)."""

from __future__ import annotations

import operator

import numpy
import pytest
from reference import check_grad, compare, needs_torch, tie_free, torch

import convpool
from convpool.ops import basic

F64, F32 = numpy.float64, numpy.float32


# ----- seeded random shapes ----------------------------------------------------------------
def _broadcast_pair(rng: numpy.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two shapes that broadcast: a common shape with some dims set to 1 on either side and
    leading dims dropped from one of them."""
    ndim = int(rng.integers(1, 5))
    full = [int(n) for n in rng.integers(2, 5, ndim)]
    a, b = list(full), list(full)
    for i in range(ndim):
        r = rng.random()
        if r < 0.3:
            a[i] = 1
        elif r < 0.6:
            b[i] = 1
    drop = int(rng.integers(0, ndim + 1))
    if rng.random() < 0.5:
        a = a[drop:]
    else:
        b = b[drop:]
    return tuple(a), tuple(b)


_pair_rng = numpy.random.default_rng(2024)
BROADCAST_PAIRS = [
    ((), ()), ((3,), ()), ((), (4,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((4, 1, 3), (2, 1)),
    ((1,), (2, 3)), ((2, 3, 4), (2, 3, 4)),
] + [_broadcast_pair(_pair_rng) for _ in range(8)]
FLOAT32_PAIRS = BROADCAST_PAIRS[3:9]


def _data(shape, seed, kind="normal", dtype=F64):
    rng = numpy.random.default_rng(seed)
    if kind == "positive":
        x = rng.uniform(0.5, 2.0, shape)
    elif kind == "away":  # |x| in [0.5, 2]: safe to divide by
        x = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    elif kind == "small":
        x = rng.uniform(-1.5, 1.5, shape)
    else:
        x = rng.standard_normal(shape)
    return numpy.asarray(x, dtype=dtype)


# (name, our op, torch op, data kind of a, data kind of b)
BINARY = [
    ("add", operator.add, operator.add, "normal", "normal"),
    ("sub", operator.sub, operator.sub, "normal", "normal"),
    ("mul", operator.mul, operator.mul, "normal", "normal"),
    ("div", operator.truediv, operator.truediv, "normal", "away"),
    ("pow", operator.pow, operator.pow, "positive", "small"),
]


def _ids(pairs):
    return [f"{a}x{b}".replace(" ", "") for a, b in pairs]


# ----- binary arithmetic with broadcasting -------------------------------------------------
@needs_torch
@pytest.mark.parametrize("name, ours, theirs, ka, kb", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=_ids(BROADCAST_PAIRS))
def test_binary_float64_against_torch(name, ours, theirs, ka, kb, shapes):
    sa, sb = shapes
    y = compare(ours, theirs, _data(sa, 1, ka), _data(sb, 2, kb))
    assert y.shape == numpy.broadcast_shapes(sa, sb)


@needs_torch
@pytest.mark.parametrize("name, ours, theirs, ka, kb", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("shapes", FLOAT32_PAIRS, ids=_ids(FLOAT32_PAIRS))
def test_binary_float32_against_torch(name, ours, theirs, ka, kb, shapes):
    sa, sb = shapes
    y = compare(ours, theirs, _data(sa, 3, ka, F32), _data(sb, 4, kb, F32))
    assert y.dtype == F32


@pytest.mark.parametrize("name, ours, theirs, ka, kb", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=_ids(BROADCAST_PAIRS))
def test_binary_gradcheck(name, ours, theirs, ka, kb, shapes):
    sa, sb = shapes
    assert check_grad(ours, _data(sa, 5, ka), _data(sb, 6, kb))


@needs_torch
@pytest.mark.parametrize("ours, theirs", [
    (operator.add, operator.add), (operator.mul, operator.mul), (operator.truediv, operator.truediv),
])
def test_mixed_float32_float64_promotes_like_torch(ours, theirs):
    y = compare(ours, theirs, _data((2, 3), 7, dtype=F32), _data((3,), 8, "away"))
    assert y.dtype == F64


def test_same_tensor_on_both_sides():
    x = convpool.tensor([1.0, -2.0, 3.0], dtype=F64, requires_grad=True)
    (x * x + x / x - x).sum().backward()
    numpy.testing.assert_allclose(x.grad.numpy(), 2 * x.data - 1, rtol=1e-12)
    assert check_grad(lambda t: t ** t, _data((4,), 9, "positive"))
    assert check_grad(lambda t: t @ t, _data((3, 3), 10))


# ----- Python scalars on either side, unary minus ------------------------------------------
SCALAR_OPS = [
    ("x+2", lambda x: x + 2, "normal"),
    ("2+x", lambda x: 2 + x, "normal"),
    ("x-1.5", lambda x: x - 1.5, "normal"),
    ("1.5-x", lambda x: 1.5 - x, "normal"),
    ("x*3", lambda x: x * 3, "normal"),
    ("-0.5*x", lambda x: -0.5 * x, "normal"),
    ("x/4", lambda x: x / 4, "normal"),
    ("2/x", lambda x: 2 / x, "away"),
    ("x**2", lambda x: x ** 2, "normal"),
    ("x**3", lambda x: x ** 3, "normal"),
    ("x**0.5", lambda x: x ** 0.5, "positive"),
    ("x**-1", lambda x: x ** -1, "away"),
    ("2**x", lambda x: 2 ** x, "small"),
    ("1.5**x", lambda x: 1.5 ** x, "small"),
    ("-x", lambda x: -x, "normal"),
    ("+x", lambda x: +x, "normal"),
    ("-(x*x)", lambda x: -(x * x), "normal"),
]


@needs_torch
@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("name, fn, kind", SCALAR_OPS, ids=[s[0] for s in SCALAR_OPS])
def test_scalar_operands_against_torch(name, fn, kind, dtype):
    y = compare(fn, fn, _data((3, 4), 11, kind, dtype))
    assert y.dtype == dtype  # a Python scalar never changes the tensor's dtype


@pytest.mark.parametrize("name, fn, kind", SCALAR_OPS, ids=[s[0] for s in SCALAR_OPS])
def test_scalar_operands_gradcheck(name, fn, kind):
    assert check_grad(fn, _data((2, 3), 12, kind))


def test_numpy_scalar_on_the_left_defers_to_the_tensor():
    x = convpool.tensor([1.0, 2.0])
    for y in (numpy.float64(2.0) * x, numpy.float32(2.0) + x, numpy.int64(3) - x):
        assert isinstance(y, convpool.Tensor)
        assert y.dtype == F32
    numpy.testing.assert_array_equal((numpy.float64(2.0) * x).numpy(), [2.0, 4.0])
    numpy.testing.assert_array_equal((numpy.int64(3) - x).numpy(), [2.0, 1.0])


def test_pow_exponent_gradient_is_zero_where_the_base_is_zero():
    base = convpool.tensor([0.0, 2.0], dtype=F64)
    e = convpool.tensor([2.0, 3.0], dtype=F64, requires_grad=True)
    (base ** e).sum().backward()
    numpy.testing.assert_allclose(e.grad.numpy(), [0.0, 8.0 * numpy.log(2.0)])


# ----- unary elementwise ops ---------------------------------------------------------------
UNARY = [
    ("exp", lambda x: x.exp(), lambda t: t.exp(), "small"),
    ("log", lambda x: x.log(), lambda t: t.log(), "positive"),
    ("sqrt", lambda x: x.sqrt(), lambda t: t.sqrt(), "positive"),
    ("abs", lambda x: x.abs(), lambda t: t.abs(), "away"),
    ("builtin-abs", abs, abs, "away"),
    ("neg", lambda x: -x, lambda t: -t, "normal"),
    ("clamp-min", lambda x: x.clamp(min=-0.3), lambda t: t.clamp(min=-0.3), "normal"),
    ("clamp-max", lambda x: x.clamp(max=0.4), lambda t: t.clamp(max=0.4), "normal"),
    ("clamp-both", lambda x: x.clamp(-0.5, 0.5), lambda t: t.clamp(-0.5, 0.5), "normal"),
    ("basic.exp", basic.exp, torch.exp if torch else None, "small"),
    ("basic.log", basic.log, torch.log if torch else None, "positive"),
    ("basic.clamp", lambda x: basic.clamp(x, -1.0, 1.0), lambda t: torch.clamp(t, -1.0, 1.0), "normal"),
]
UNARY_SHAPES = [(), (7,), (3, 4), (2, 3, 4)]


@needs_torch
@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name, ours, theirs, kind", UNARY, ids=[u[0] for u in UNARY])
def test_unary_float64_against_torch(name, ours, theirs, kind, shape):
    compare(ours, theirs, _data(shape, 13, kind))


@needs_torch
@pytest.mark.parametrize("name, ours, theirs, kind", UNARY, ids=[u[0] for u in UNARY])
def test_unary_float32_against_torch(name, ours, theirs, kind):
    y = compare(ours, theirs, _data((4, 5), 14, kind, F32))
    assert y.dtype == F32


def _away_from(x: numpy.ndarray, points, margin=1e-3) -> numpy.ndarray:
    """Nudge values off kinks, where central differences mean nothing."""
    for p in points:
        x = numpy.where(numpy.abs(x - p) < margin, p + 2 * margin, x)
    return x


@pytest.mark.parametrize("name, ours, theirs, kind", UNARY, ids=[u[0] for u in UNARY])
def test_unary_gradcheck(name, ours, theirs, kind):
    x = _away_from(_data((3, 5), 15, kind), [-1.0, -0.5, -0.3, 0.0, 0.4, 0.5, 1.0])
    assert check_grad(ours, x)


@needs_torch
def test_clamp_gradient_at_the_bounds_and_abs_at_zero_match_torch():
    x = numpy.array([-1.0, -0.5, -0.2, 0.0, 0.5, 0.7])
    compare(lambda t: t.clamp(-0.5, 0.5), lambda t: t.clamp(-0.5, 0.5), x)
    compare(lambda t: t.abs(), lambda t: t.abs(), x)


def test_clamp_gradient_by_hand():
    x = convpool.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], requires_grad=True)
    y = x.clamp(-1.0, 1.0)
    numpy.testing.assert_array_equal(y.detach().numpy(), [-1, -1, 0, 1, 1])
    y.backward(numpy.ones(5))
    numpy.testing.assert_array_equal(x.grad.numpy(), [0, 1, 1, 1, 0])  # bounds pass, as in torch


# ----- matmul ------------------------------------------------------------------------------
MATMUL_SHAPES = [
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)), ((5, 1, 2, 3), (4, 3, 2)), ((3,), (5, 3, 4)),
    ((5, 2, 3), (3,)), ((1, 2, 3), (4, 3, 1)), ((2, 1, 1, 3), (3,)),
]


@needs_torch
@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=_ids(MATMUL_SHAPES))
def test_matmul_against_torch(shapes, dtype):
    sa, sb = shapes
    y = compare(operator.matmul, operator.matmul, _data(sa, 16, dtype=dtype), _data(sb, 17, dtype=dtype))
    assert y.shape == numpy.matmul(numpy.zeros(sa), numpy.zeros(sb)).shape
    assert y.dtype == dtype


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=_ids(MATMUL_SHAPES))
def test_matmul_gradcheck(shapes):
    assert check_grad(operator.matmul, _data(shapes[0], 18), _data(shapes[1], 19))


@needs_torch
def test_matmul_with_only_one_side_requiring_grad():
    a, b = _data((2, 3), 20), _data((3, 4), 21)
    compare(operator.matmul, operator.matmul, a, b, grad_inputs=(0,))
    compare(operator.matmul, operator.matmul, a, b, grad_inputs=(1,))


def test_matmul_errors():
    with pytest.raises(ValueError, match="do not line up"):
        convpool.zeros(2, 3) @ convpool.zeros(4, 2)
    with pytest.raises(ValueError, match="do not line up"):
        convpool.zeros(3) @ convpool.zeros(2)
    with pytest.raises(ValueError, match="at least one dimension"):
        convpool.zeros(3) @ 2.0
    with pytest.raises(TypeError, match="dtypes differ"):
        convpool.zeros(2, 3) @ convpool.zeros(3, 2, dtype=F64)


# ----- comparisons -------------------------------------------------------------------------
COMPARISONS = ["eq", "ne", "lt", "le", "gt", "ge"]


@needs_torch
@pytest.mark.parametrize("how", COMPARISONS)
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((2, 1, 4), (3, 1)), ((4,), ())], ids=str)
def test_comparisons_against_torch(how, shapes):
    rng = numpy.random.default_rng(22)
    a = rng.integers(-2, 3, shapes[0]).astype(F64)  # small integers: plenty of ties for eq/le/ge
    b = rng.integers(-2, 3, shapes[1]).astype(F64)
    fn = getattr(operator, how)
    y = compare(fn, fn, a, b)
    assert y.dtype == numpy.bool_ and not y.requires_grad


@needs_torch
@pytest.mark.parametrize("how", COMPARISONS)
def test_comparisons_with_a_scalar_against_torch(how):
    a = numpy.array([[-1.0, 0.0, 0.5], [1.0, 2.0, 0.0]], dtype=F32)
    fn = getattr(operator, how)
    compare(lambda t: fn(t, 0.0), lambda t: fn(t, 0.0), a)
    compare(lambda t: fn(1, t), lambda t: fn(1, t), a)


def test_comparison_results_are_outside_the_graph():
    x = convpool.tensor([1.0, 2.0, 3.0], requires_grad=True)
    mask = x > 1.5
    assert not mask.requires_grad and mask.grad_fn is None
    numpy.testing.assert_array_equal(mask.numpy(), [False, True, True])
    assert basic.compare(x, 2.0, "eq").tolist() == [False, True, False]


# ----- reductions --------------------------------------------------------------------------
REDUCE_DIMS = [None, 0, 1, -1, (0, 2), (-1, 0), [1, 2]]


@needs_torch
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", REDUCE_DIMS, ids=str)
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean_against_torch(op, dim, keepdim):
    x = _data((3, 4, 5), 23)
    torch_dim = tuple(dim) if isinstance(dim, list) else dim
    compare(lambda t: getattr(t, op)(dim, keepdim),
            lambda t: getattr(t, op)(dim=torch_dim, keepdim=keepdim), x)


@needs_torch
@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None, 1, (0, 2)], ids=str)
def test_var_against_torch(dim, keepdim, unbiased):
    compare(lambda t: t.var(dim, unbiased, keepdim),
            lambda t: t.var(dim=dim, correction=int(unbiased), keepdim=keepdim), _data((3, 4, 5), 24))


@needs_torch
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1, 2])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_along_a_dim_against_torch(op, dim, keepdim):
    x = tie_free(numpy.random.default_rng(25), (3, 4, 5))
    values, indices = compare(lambda t: getattr(t, op)(dim, keepdim),
                              lambda t: getattr(t, op)(dim=dim, keepdim=keepdim), x)
    assert indices.dtype == numpy.int64 and not indices.requires_grad


@needs_torch
@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_over_everything_against_torch(op, dtype):
    x = tie_free(numpy.random.default_rng(26), (4, 6), dtype)
    y = compare(lambda t: getattr(t, op)(), lambda t: getattr(t, op)(), x)
    assert y.shape == ()


@needs_torch
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean_float32_against_torch(op):
    x = _data((6, 7), 27, dtype=F32)
    y = compare(lambda t: getattr(t, op)(1), lambda t: getattr(t, op)(1), x)
    assert y.dtype == F32
    compare(lambda t: getattr(t, op)(), lambda t: getattr(t, op)(), x)


@needs_torch
@pytest.mark.parametrize("dim, keepdim", [(None, False), (0, False), (1, True), (-1, False)])
def test_argmax_against_torch(dim, keepdim):
    x = tie_free(numpy.random.default_rng(28), (4, 5))
    compare(lambda t: t.argmax(dim, keepdim), lambda t: t.argmax(dim=dim, keepdim=keepdim), x)


@pytest.mark.parametrize("dim", REDUCE_DIMS, ids=str)
@pytest.mark.parametrize("op", ["sum", "mean", "var"])
def test_reductions_gradcheck(op, dim):
    for keepdim in (False, True):
        assert check_grad(lambda t, k=keepdim: getattr(t, op)(dim, keepdim=k), _data((2, 3, 4), 29))


@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_gradcheck(op, dim):
    x = tie_free(numpy.random.default_rng(30), (3, 4))  # gaps of 1/3 >> eps: no ties under perturbation

    def fn(t):
        out = getattr(t, op)(dim)
        return out if dim is None else out[0]
    assert check_grad(fn, x)


def test_max_gradient_with_ties_goes_to_the_first_maximum():
    # documented choice; torch's full max() would split it evenly between the ties
    x = convpool.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], requires_grad=True)
    x.max().backward()
    numpy.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [0, 0, 0]])


def test_max_along_a_dim_with_ties_sends_the_gradient_to_the_returned_index():
    x = convpool.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], requires_grad=True)
    values, indices = x.max(1)
    assert indices.tolist() == [1, 0]
    values.sum().backward()
    numpy.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [1, 0, 0]])


def test_reductions_by_hand():
    x = convpool.arange(6).reshape(2, 3)
    assert x.sum().item() == 15 and x.sum().dtype == numpy.int64
    assert x.sum(0).tolist() == [3, 5, 7]
    assert x.sum(1, keepdim=True).shape == (2, 1)
    assert x.float().mean().item() == 2.5
    assert x.max().item() == 5 and x.min().item() == 0
    assert x.argmax().item() == 5
    assert convpool.tensor([1.0, 2.0, 3.0, 4.0]).var().item() == pytest.approx(5 / 3)


ZERO_D_REDUCTIONS = [
    ("sum(0)", lambda t: t.sum(0)),
    ("sum(-1,keepdim)", lambda t: t.sum(-1, keepdim=True)),
    ("mean(0)", lambda t: t.mean(0)),
    ("mean(-1)", lambda t: t.mean(-1)),
    ("max(0)", lambda t: t.max(0)[0]),
    ("min(-1)", lambda t: t.min(-1)[0]),
]


@pytest.mark.parametrize("name, fn", ZERO_D_REDUCTIONS, ids=[z[0] for z in ZERO_D_REDUCTIONS])
def test_reducing_a_0d_tensor_along_dim_0_or_minus_1(name, fn):
    # torch accepts dim 0 and -1 on a 0-d tensor and returns it unchanged
    x = convpool.tensor(2.5, dtype=F64, requires_grad=True)
    y = fn(x)
    assert y.shape == () and y.item() == 2.5
    y.backward()
    assert x.grad.item() == 1.0


@needs_torch
@pytest.mark.parametrize("name, fn", ZERO_D_REDUCTIONS, ids=[z[0] for z in ZERO_D_REDUCTIONS])
def test_reducing_a_0d_tensor_against_torch(name, fn):
    compare(fn, fn, numpy.array(-1.25))


def test_reduction_errors():
    # IndexError, as torch raises for a dim out of range
    with pytest.raises(IndexError, match="dim 3 is out of range for a tensor with 3 dimensions"):
        convpool.zeros(2, 3, 4).sum(3)
    with pytest.raises(IndexError, match="dim -4 is out of range"):
        convpool.zeros(2, 3, 4).mean(-4)
    with pytest.raises(IndexError, match="out of range"):
        convpool.zeros(2, 3).max(2)
    with pytest.raises(ValueError, match="empty"):
        convpool.zeros(0).max()


# ----- shape ops ---------------------------------------------------------------------------
SHAPE_OPS = [
    ("reshape(-1)", lambda t: t.reshape(-1)),
    ("reshape(4,-1)", lambda t: t.reshape(4, -1)),
    ("reshape((5,2,6))", lambda t: t.reshape((5, 2, 6))),
    ("view(2,30)", lambda t: t.view(2, 30)),
    ("view((60,))", lambda t: t.view((60,))),
    ("flatten()", lambda t: t.flatten()),
    ("flatten(1)", lambda t: t.flatten(1)),
    ("flatten(0,1)", lambda t: t.flatten(0, 1)),
    ("flatten(-2,-1)", lambda t: t.flatten(-2, -1)),
    ("transpose(0,2)", lambda t: t.transpose(0, 2)),
    ("transpose(-1,0)", lambda t: t.transpose(-1, 0)),
    ("transpose(1,1)", lambda t: t.transpose(1, 1)),
    ("permute(2,0,1)", lambda t: t.permute(2, 0, 1)),
    ("permute((1,0,2))", lambda t: t.permute((1, 0, 2))),
    ("permute(-1,-3,-2)", lambda t: t.permute(-1, -3, -2)),
    ("unsqueeze(0)", lambda t: t.unsqueeze(0)),
    ("unsqueeze(2)", lambda t: t.unsqueeze(2)),
    ("unsqueeze(-1)", lambda t: t.unsqueeze(-1)),
    ("unsqueeze(-2)", lambda t: t.unsqueeze(-2)),
    ("T-of-2d", lambda t: t.reshape(12, 5).T),
]


@needs_torch
@pytest.mark.parametrize("name, fn", SHAPE_OPS, ids=[s[0] for s in SHAPE_OPS])
def test_shape_ops_against_torch(name, fn):
    compare(fn, fn, _data((3, 4, 5), 31))


@pytest.mark.parametrize("name, fn", SHAPE_OPS, ids=[s[0] for s in SHAPE_OPS])
def test_shape_ops_gradcheck(name, fn):
    # multiply by a ramp so that a gradient sent to the wrong element is noticed
    ramp = numpy.arange(60.0).reshape(3, 4, 5)
    assert check_grad(lambda t: fn(t * convpool.tensor(ramp)), _data((3, 4, 5), 32))


SQUEEZE_EXPAND = [
    ("squeeze()", (1, 3, 1, 4), lambda t: t.squeeze()),
    ("squeeze(0)", (1, 3, 1, 4), lambda t: t.squeeze(0)),
    ("squeeze(2)", (1, 3, 1, 4), lambda t: t.squeeze(2)),
    ("squeeze(-2)", (1, 3, 1, 4), lambda t: t.squeeze(-2)),
    ("squeeze(1)-noop", (1, 3, 1, 4), lambda t: t.squeeze(1)),
    ("squeeze-all-ones", (1, 1), lambda t: t.squeeze()),
    ("expand(3,4)", (3, 1), lambda t: t.expand(3, 4)),
    ("expand(2,3,4)", (3, 1), lambda t: t.expand(2, 3, 4)),
    ("expand(-1,4)", (3, 1), lambda t: t.expand(-1, 4)),
    ("expand((5,))", (1,), lambda t: t.expand((5,))),
    ("expand(2,-1,3)", (1, 4, 1), lambda t: t.expand(2, -1, 3)),
    ("expand-scalar", (), lambda t: t.expand(2, 3)),
    ("expand-then-mul", (3, 1), lambda t: t.expand(3, 4) * t),
]


@needs_torch
@pytest.mark.parametrize("name, shape, fn", SQUEEZE_EXPAND, ids=[s[0] for s in SQUEEZE_EXPAND])
def test_squeeze_expand_against_torch(name, shape, fn):
    compare(fn, fn, _data(shape, 33))


@pytest.mark.parametrize("name, shape, fn", SQUEEZE_EXPAND, ids=[s[0] for s in SQUEEZE_EXPAND])
def test_squeeze_expand_gradcheck(name, shape, fn):
    assert check_grad(fn, _data(shape, 34))


def test_shape_ops_by_hand():
    x = convpool.arange(24).reshape(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.view(6, 4).shape == (6, 4)
    assert x.flatten().tolist() == list(range(24))
    assert x.flatten(1).shape == (2, 12)
    assert x.transpose(0, 2).shape == (4, 3, 2)
    assert x.permute(1, 2, 0)[2, 3, 1].item() == x[1, 2, 3].item()
    assert x.unsqueeze(1).shape == (2, 1, 3, 4)
    assert convpool.zeros(1, 2, 1).squeeze().shape == (2,)
    assert convpool.tensor(5.0).flatten().shape == (1,)
    assert convpool.tensor([[1], [2]]).expand(2, 3).tolist() == [[1, 1, 1], [2, 2, 2]]
    assert convpool.zeros(2, 3).T.shape == (3, 2)


def test_shape_op_errors():
    with pytest.raises(ValueError, match=r"cannot reshape a tensor of shape \(2, 3\) \(6 elements\) into"):
        convpool.zeros(2, 3).reshape(4, 2)
    with pytest.raises(ValueError, match="start_dim=2 comes after end_dim=1"):
        convpool.zeros(2, 3, 4).flatten(2, 1)
    with pytest.raises(ValueError, match="not a permutation"):
        convpool.zeros(2, 3, 4).permute(0, 0, 1)
    with pytest.raises(ValueError, match="not a permutation"):
        convpool.zeros(2, 3, 4).permute(0, 1)


OUT_OF_RANGE = [
    ("permute(0,3)", lambda x: x.permute(0, 3)),
    ("permute(0,-3)", lambda x: x.permute(0, -3)),
    ("unsqueeze(5)", lambda x: x.unsqueeze(5)),
    ("unsqueeze(-4)", lambda x: x.unsqueeze(-4)),
    ("squeeze(4)", lambda x: x.squeeze(4)),
    ("transpose(0,2)", lambda x: x.transpose(0, 2)),
    ("cat(dim=2)", lambda x: convpool.cat([x, x], 2)),
    ("stack(dim=3)", lambda x: convpool.stack([x, x], 3)),
]


@pytest.mark.parametrize("name, bad", OUT_OF_RANGE, ids=[o[0] for o in OUT_OF_RANGE])
def test_out_of_range_dims_are_errors_not_wrapped(name, bad):
    # torch raises IndexError ("Dimension out of range") for each of these on a (2, 3) tensor
    with pytest.raises((IndexError, ValueError)):
        bad(convpool.zeros(2, 3))


def test_reshape_accepts_numpy_integers():
    # sizes computed with NumPy (numpy.prod, array.shape of an int array) are ints to torch
    x = convpool.zeros(2, 3)
    assert x.reshape(numpy.int64(6)).shape == (6,)
    assert x.reshape(numpy.int64(3), 2).shape == (3, 2)
    assert convpool.zeros(numpy.int64(4)).shape == (4,)


# ----- indexing ----------------------------------------------------------------------------
def _idx(values):
    """The same integer index for both libraries."""
    return numpy.asarray(values), (torch.tensor(values) if torch is not None else None)


_MASK = numpy.random.default_rng(35).random((4, 5, 6)) > 0.5
_ROW_MASK = numpy.array([True, False, True, True])
INDEXING = [
    ("int", lambda t: t[1], None),
    ("negative-int", lambda t: t[-1], None),
    ("slice", lambda t: t[1:3], None),
    ("int-on-dim-1", lambda t: t[:, 2], None),
    ("ellipsis-int", lambda t: t[..., 1], None),
    ("none", lambda t: t[None], None),
    ("none-in-middle", lambda t: t[:, None, 1:4], None),
    ("int-ellipsis-none", lambda t: t[1, ..., None], None),
    ("steps", lambda t: t[::2, 1::2], None),
    ("three-ints", lambda t: t[1, 2, 3], None),
    ("negative-bounds", lambda t: t[-2:, :-1, ::3], None),
    ("ellipsis-slice", lambda t: t[..., 2:5], None),
    ("empty-slice", lambda t: t[2:2], None),
    ("reverse", lambda t: t[::-1], lambda t: t.flip(0)),
    ("reverse-last", lambda t: t[..., ::-1], lambda t: t.flip(-1)),
    ("negative-step-2", lambda t: t[:, 4:0:-2], lambda t: t[:, torch.tensor([4, 2])]),
    ("negative-step-3", lambda t: t[::-3, :, 5::-2], lambda t: t[[3, 0]][:, :, [5, 3, 1]]),
    ("bool-mask-full", lambda t: t[_MASK], lambda t: t[torch.tensor(_MASK)]),
    ("bool-mask-rows", lambda t: t[_ROW_MASK], lambda t: t[torch.tensor(_ROW_MASK)]),
    ("bool-mask-dim-1", lambda t: t[:, _ROW_MASK.tolist() + [True]],
     lambda t: t[:, torch.tensor(_ROW_MASK.tolist() + [True])]),
    ("int-list-repeated", lambda t: t[[0, 0, 2, 0]], lambda t: t[[0, 0, 2, 0]]),
    ("int-array-repeated", lambda t: t[numpy.array([3, 1, 3])], lambda t: t[torch.tensor([3, 1, 3])]),
    ("int-array-dim-1", lambda t: t[:, [4, 4, 0]], lambda t: t[:, [4, 4, 0]]),
    ("two-int-arrays", lambda t: t[[1, 1, 2], [0, 0, 4]], lambda t: t[[1, 1, 2], [0, 0, 4]]),
    ("2d-int-array", lambda t: t[numpy.array([[0, 1], [1, 1]])], lambda t: t[torch.tensor([[0, 1], [1, 1]])]),
    ("int-array-and-slice", lambda t: t[[2, 2], 1:3], lambda t: t[[2, 2], 1:3]),
    ("int-tensor", lambda t: t[convpool.tensor([0, 3, 0])], lambda t: t[torch.tensor([0, 3, 0])]),
    ("bool-tensor", lambda t: t[convpool.tensor(_ROW_MASK)], lambda t: t[torch.tensor(_ROW_MASK)]),
    ("int-tensor-in-tuple", lambda t: t[1, convpool.tensor([2, 2])], lambda t: t[1, torch.tensor([2, 2])]),
    ("numpy-int", lambda t: t[numpy.int64(2)], lambda t: t[2]),
    ("negative-int-array", lambda t: t[[-1, -1, 0]], lambda t: t[[-1, -1, 0]]),
]


@needs_torch
@pytest.mark.parametrize("name, ours, theirs", INDEXING, ids=[i[0] for i in INDEXING])
def test_indexing_against_torch(name, ours, theirs):
    compare(ours, theirs or ours, _data((4, 5, 6), 36))


@pytest.mark.parametrize("name, ours, theirs", INDEXING, ids=[i[0] for i in INDEXING])
def test_indexing_gradcheck(name, ours, theirs):
    assert check_grad(ours, _data((4, 5, 6), 37))


def test_repeated_indices_add_up_their_gradients():
    x = convpool.tensor([10.0, 20.0, 30.0], requires_grad=True)
    y = x[[0, 0, 2, 0]]
    assert y.tolist() == [10.0, 10.0, 30.0, 10.0]
    y.backward(numpy.array([1.0, 2.0, 3.0, 4.0]))
    numpy.testing.assert_array_equal(x.grad.numpy(), [7.0, 0.0, 3.0])


def test_indexing_values_match_numpy():
    a = numpy.arange(120.0).reshape(4, 5, 6)
    x = convpool.tensor(a)
    for index in [(1,), (slice(None, None, -1),), (Ellipsis, slice(4, 0, -2)), (None, 2, Ellipsis),
                  (_MASK,), ([0, 0, 3],), (slice(None), [1, 1], 2)]:
        numpy.testing.assert_array_equal(x[index].numpy(), a[index])


# ----- where -------------------------------------------------------------------------------
WHERE_SHAPES = [((3, 4), (3, 4), (3, 4)), ((4,), (3, 1), ()), ((2, 1, 4), (3, 1), (1, 4)),
                ((3, 4), (4,), (3, 1))]


@needs_torch
@pytest.mark.parametrize("shapes", WHERE_SHAPES, ids=str)
def test_where_against_torch(shapes):
    sc, sa, sb = shapes
    cond = numpy.random.default_rng(38).random(sc) > 0.4
    y = compare(lambda c, a, b: convpool.where(c, a, b), torch.where, cond, _data(sa, 39), _data(sb, 40))
    assert y.shape == numpy.broadcast_shapes(sc, sa, sb)


@needs_torch
def test_where_with_a_scalar_against_torch():
    x = _data((3, 4), 41, dtype=F32)
    y = compare(lambda t: convpool.where(t > 0, t, 0.0), lambda t: torch.where(t > 0, t, 0.0), x)
    assert y.dtype == F32
    compare(lambda t: convpool.where(t > 0, 1.0, t), lambda t: torch.where(t > 0, 1.0, t), x)


@pytest.mark.parametrize("shapes", WHERE_SHAPES, ids=str)
def test_where_gradcheck(shapes):
    sc, sa, sb = shapes
    cond = numpy.random.default_rng(42).random(sc) > 0.4
    assert check_grad(lambda a, b: convpool.where(cond, a, b), _data(sa, 43), _data(sb, 44))
    assert check_grad(lambda a, b: basic.where(convpool.tensor(cond), a, b), _data(sa, 43), _data(sb, 44))


# ----- cat and stack -----------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_cat_against_torch(dim):
    shapes = []
    for i, n in enumerate((2, 1, 3)):
        s = [3, 4, 2]
        s[dim] = n
        shapes.append(_data(tuple(s), 45 + i))
    y = compare(lambda *ts: convpool.cat(list(ts), dim), lambda *ts: torch.cat(ts, dim), *shapes)
    assert y.shape[dim] == 6


@needs_torch
@pytest.mark.parametrize("dim", [0, 1, 2, 3, -1, -2])
def test_stack_against_torch(dim):
    arrays = [_data((3, 4, 2), 48 + i) for i in range(3)]
    compare(lambda *ts: convpool.stack(ts, dim), lambda *ts: torch.stack(ts, dim), *arrays)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_stack_gradcheck(dim):
    a, b = _data((2, 3), 51), _data((2, 3), 52)
    assert check_grad(lambda x, y: convpool.cat([x, y, x], dim), a, b)
    assert check_grad(lambda x, y: convpool.stack([x, y, x], dim), a, b)


def test_cat_with_inputs_that_need_no_gradient():
    x = convpool.tensor([1.0, 2.0], requires_grad=True)
    y = convpool.cat([x, convpool.tensor([5.0]), x * 2], 0)
    assert y.tolist() == [1.0, 2.0, 5.0, 2.0, 4.0]
    y.backward(numpy.arange(5.0))
    numpy.testing.assert_array_equal(x.grad.numpy(), [0.0 + 2 * 3.0, 1.0 + 2 * 4.0])


def test_cat_stack_errors():
    with pytest.raises(ValueError, match="non-empty"):
        convpool.cat([])
    with pytest.raises(ValueError, match="non-empty"):
        convpool.stack([])
    with pytest.raises(ValueError, match=r"tensor 1 has shape \(2, 4\), which does not match \(2, 3\)"):
        convpool.cat([convpool.zeros(2, 3), convpool.zeros(2, 4)], 0)
    with pytest.raises(ValueError, match="does not match"):
        convpool.cat([convpool.zeros(2, 3), convpool.zeros(3)], 0)
    with pytest.raises(ValueError, match="same shape"):
        convpool.stack([convpool.zeros(2, 3), convpool.zeros(3, 2)])


# ----- cast, as_tensor, unbroadcast --------------------------------------------------------
@needs_torch
def test_cast_against_torch():
    compare(lambda t: t.float() * 3, lambda t: t.float() * 3, _data((2, 3), 53), rtol=1e-6, atol=1e-6)
    compare(lambda t: t.double() * 3, lambda t: t.double() * 3, _data((2, 3), 54, dtype=F32))
    compare(lambda t: t.to(numpy.float64).exp(), lambda t: t.to(torch.float64).exp(),
            _data((4,), 55, dtype=F32))


def test_cast_gradient_returns_to_the_source_dtype():
    x = convpool.tensor([1.0, 2.0], requires_grad=True)
    y = x.double()
    assert y.dtype == F64 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == F32
    numpy.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    assert x.float() is x  # a no-op cast returns the tensor itself


def test_cast_to_an_integer_dtype_leaves_the_graph():
    # torch: x.long() of a tensor that requires grad does not require grad
    x = convpool.tensor([1.5, 2.5], requires_grad=True)
    y = x.long()
    assert y.dtype == numpy.int64 and y.tolist() == [1, 2]
    assert not y.requires_grad


def test_as_tensor_takes_the_dtype_of_its_partner():
    like32 = convpool.zeros(2)
    assert basic.as_tensor(2.5, like32).dtype == F32
    assert basic.as_tensor(2, like32).dtype == F32
    assert basic.as_tensor(2.5, convpool.arange(3)).dtype == F32  # float scalar, int tensor
    assert basic.as_tensor(2, convpool.arange(3)).dtype == numpy.int64
    assert basic.as_tensor(2, convpool.tensor([True])).dtype == numpy.int64
    assert basic.as_tensor(numpy.ones(3), like32).dtype == F64  # arrays keep their own dtype
    assert basic.as_tensor(like32) is like32


def test_unbroadcast_sums_back_to_the_input_shape():
    g = numpy.arange(24.0).reshape(2, 3, 4)
    numpy.testing.assert_array_equal(basic.unbroadcast(g, (2, 3, 4)), g)
    numpy.testing.assert_array_equal(basic.unbroadcast(g, (4,)), g.sum((0, 1)))
    numpy.testing.assert_array_equal(basic.unbroadcast(g, (3, 1)), g.sum((0, 2))[:, None])
    numpy.testing.assert_array_equal(basic.unbroadcast(g, (2, 1, 4)), g.sum(1, keepdims=True))
    numpy.testing.assert_array_equal(basic.unbroadcast(g, ()), g.sum())
    assert basic.unbroadcast(g, (1, 1, 1)).shape == (1, 1, 1)
