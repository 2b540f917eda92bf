"""Tensor and the autograd engine: requires_grad, .grad, backward, detach, numpy, no_grad,
accumulation, shared subgraphs, deep graphs; factories, repr and the dtype rules."""

from __future__ import annotations

import threading

import numpy
import pytest
from reference import check_grad, compare, needs_torch, torch

import convpool
from convpool import Tensor

F64, F32 = numpy.float64, numpy.float32


@pytest.fixture(autouse=True)
def _restore_default_dtype():
    yield
    convpool.set_default_dtype(convpool.float32)


# ----- requires_grad and .grad -------------------------------------------------------------
def test_requires_grad_defaults_to_false_and_can_be_set():
    x = convpool.tensor([1.0, 2.0])
    assert x.requires_grad is False and x.grad is None and x.is_leaf
    assert x.requires_grad_() is x and x.requires_grad is True
    x.requires_grad_(False)
    assert x.requires_grad is False
    assert convpool.tensor([1.0], requires_grad=True).requires_grad
    assert Tensor([1.0], requires_grad=True).requires_grad
    assert convpool.zeros(2, requires_grad=True).requires_grad


def test_only_floating_tensors_can_require_grad():
    with pytest.raises((TypeError, RuntimeError), match="floating"):
        convpool.tensor([1, 2], requires_grad=True)
    with pytest.raises((TypeError, RuntimeError), match="floating"):
        convpool.arange(3).requires_grad_()


def test_requires_grad_propagates_through_ops():
    x = convpool.tensor([1.0, 2.0], requires_grad=True)
    c = convpool.tensor([3.0, 4.0])
    assert (x * c).requires_grad and not (c * c).requires_grad
    y = x * c
    assert not y.is_leaf and y.grad_fn == "mul"
    assert x.grad_fn is None and (c + c).grad_fn is None
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)


def test_grad_is_a_tensor_of_the_leaf_shape_and_dtype():
    x = convpool.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    (x * x).sum().backward()
    assert isinstance(x.grad, Tensor)
    assert x.grad.shape == (1, 3) and x.grad.dtype == F32
    assert not x.grad.requires_grad
    numpy.testing.assert_array_equal(x.grad.numpy(), [[2.0, 4.0, 6.0]])


def test_gradients_are_kept_only_on_leaves():
    x = convpool.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    (y * y).sum().backward()
    assert y.grad is None
    numpy.testing.assert_array_equal(x.grad.numpy(), [18.0, 36.0])


def test_leaves_without_requires_grad_get_no_gradient():
    x = convpool.tensor([1.0, 2.0], requires_grad=True)
    c = convpool.tensor([3.0, 4.0])
    (x * c).sum().backward()
    assert c.grad is None
    numpy.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


# ----- backward ----------------------------------------------------------------------------
def test_backward_of_a_scalar():
    x = convpool.tensor(3.0, dtype=F64, requires_grad=True)
    y = x * x * x + 2 * x
    y.backward()
    assert x.grad.item() == pytest.approx(3 * 9 + 2)


def test_backward_of_a_one_element_tensor_needs_no_gradient():
    x = convpool.tensor([[2.0]], requires_grad=True)
    (x * 5).backward()
    assert x.grad.tolist() == [[5.0]]


def test_backward_on_a_leaf():
    x = convpool.tensor(2.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


@pytest.mark.parametrize("kind", ["numpy", "tensor", "list"])
def test_backward_with_an_upstream_gradient(kind):
    x = convpool.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    upstream = {"numpy": numpy.array([1.0, 0.5, -1.0]), "tensor": convpool.tensor([1.0, 0.5, -1.0]),
                "list": [1.0, 0.5, -1.0]}[kind]
    y.backward(upstream)
    numpy.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, -6.0])
    assert x.grad.dtype == F32


def test_backward_of_a_non_scalar_without_gradient_is_an_error():
    x = convpool.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"only for a one-element tensor, this one has shape \(2,\)"):
        (x * 2).backward()
    assert x.grad is None


def test_backward_with_a_gradient_of_the_wrong_shape_is_an_error():
    x = convpool.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\) but the tensor has shape \(2,\)"):
        (x * 2).backward(numpy.ones(3))


def test_backward_without_requires_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        convpool.tensor(1.0).backward()
    with convpool.no_grad():
        y = convpool.tensor(1.0, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_backward_twice_through_a_freed_graph_is_an_error():
    x = convpool.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward_that_accumulates():
    x = convpool.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    numpy.testing.assert_allclose(x.grad.numpy(), 2 * first)
    numpy.testing.assert_allclose(first, numpy.exp(x.data) * (1 + x.data))


# ----- accumulation ------------------------------------------------------------------------
def test_gradients_accumulate_across_backward_calls():
    x = convpool.tensor([1.0, -2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    numpy.testing.assert_array_equal(x.grad.numpy(), [3 + 2.0, 3 - 4.0])
    for _ in range(3):
        x.sum().backward()
    numpy.testing.assert_array_equal(x.grad.numpy(), [8.0, 2.0])
    x.zero_grad_()
    assert x.grad is None
    (x * 2).sum().backward()
    numpy.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_leaf_gradients_are_independent_writable_arrays():
    # torch gives every leaf its own gradient; an optimiser or clip_grad may write into it
    x = convpool.tensor([1.0, 2.0], requires_grad=True)
    w = convpool.tensor([3.0, 4.0], requires_grad=True)
    (x + w).sum().backward()
    assert not numpy.shares_memory(x.grad.data, w.grad.data)
    assert x.grad.data.flags.writeable and w.grad.data.flags.writeable
    x.grad.data[0] = 10.0
    assert w.grad.tolist() == [1.0, 1.0]


def test_leaf_gradient_does_not_alias_the_callers_upstream_array():
    x = convpool.tensor([[1.0, 2.0]], requires_grad=True)
    upstream = numpy.array([5.0, 6.0], dtype=F32)
    x.reshape(2).backward(upstream)
    upstream[:] = 0.0
    assert x.grad.tolist() == [[5.0, 6.0]]


# ----- shared subgraphs ----------------------------------------------------------------------
def test_tensor_used_twice():
    x = convpool.tensor([1.0, -3.0, 0.5], dtype=F64, requires_grad=True)
    (x * x).sum().backward()
    numpy.testing.assert_allclose(x.grad.numpy(), 2 * x.data)
    x.grad = None
    (x + x + x).sum().backward()
    numpy.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0, 3.0])


def test_diamond_graph():
    # x -> a, b -> c: both paths' gradients add up at x, and a shared middle node (h)
    # must send its gradient only once all of its users have reported
    x = convpool.tensor([0.5, -1.0, 2.0], dtype=F64, requires_grad=True)
    h = x * 2
    a = h.exp()
    b = h * h
    c = (a * b + h).sum()
    c.backward()
    hv = 2 * x.data
    expected = (numpy.exp(hv) * hv ** 2 + numpy.exp(hv) * 2 * hv + 1) * 2
    numpy.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def _diamond(x):
    h = x * 1.5 - 0.2
    left = (h * h).exp()
    right = h / (1 + h * h)
    mid = left * right + h
    return (mid * h).sum() + mid.mean()


def test_diamond_graph_gradcheck():
    assert check_grad(_diamond, numpy.random.default_rng(0).uniform(-1, 1, (3, 2)))


@needs_torch
@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
def test_diamond_graph_against_torch(dtype):
    x = numpy.random.default_rng(1).uniform(-1, 1, (3, 2)).astype(dtype)
    compare(_diamond, _diamond, x)


@needs_torch
def test_shared_node_with_two_leaves_against_torch():
    def fn(a, b):
        s = a @ b
        return (s * s.exp()).sum(0) + s.mean(1).unsqueeze(0) * a.sum()
    rng = numpy.random.default_rng(2)
    compare(fn, fn, rng.standard_normal((3, 4)), rng.standard_normal((4, 3)))


def test_the_same_leaf_reached_by_many_paths():
    x = convpool.tensor(1.5, dtype=F64, requires_grad=True)
    y = x
    for _ in range(20):
        y = y * x  # x**21
    y.backward()
    assert x.grad.item() == pytest.approx(21 * 1.5 ** 20, rel=1e-12)


# ----- deep graphs -------------------------------------------------------------------------
def test_deep_chain_has_no_recursion_error():
    x = convpool.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    y = x
    n = 3000
    for _ in range(n):
        y = y * 1.001 + 0.001
    y.sum().backward()
    numpy.testing.assert_allclose(x.grad.numpy(), [1.001 ** n] * 2, rtol=1e-10)
    del y  # freeing the chain must not overflow the C stack either


def test_deep_chain_of_mixed_ops():
    x = convpool.tensor([[0.3, -0.2]], dtype=F64, requires_grad=True)
    y = x
    for _ in range(1500):
        y = (y.reshape(2, 1).transpose(0, 1) * 0.999)[..., :]
    y.sum().backward()
    numpy.testing.assert_allclose(x.grad.numpy(), [[0.999 ** 1500] * 2], rtol=1e-10)


def test_deep_chain_with_the_leaf_used_at_every_step():
    x = convpool.tensor(0.5, dtype=F64, requires_grad=True)
    y = convpool.tensor(0.0, dtype=F64)
    for _ in range(2000):
        y = y * 0.5 + x
    y.backward()
    # d/dx of sum_k x * 0.5**k, k = 0..1999
    assert x.grad.item() == pytest.approx(sum(0.5 ** k for k in range(2000)), rel=1e-12)


# ----- detach, numpy -----------------------------------------------------------------------
def test_detach_cuts_the_graph_and_shares_data():
    x = convpool.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    assert d.tolist() == [2.0, 4.0]
    y = x * d  # d acts as a constant
    y.sum().backward()
    numpy.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    plain = x.detach()
    assert numpy.shares_memory(plain.data, x.data)


def test_numpy_returns_an_ndarray_sharing_memory():
    x = convpool.tensor([1.0, 2.0])
    a = x.numpy()
    assert isinstance(a, numpy.ndarray) and a.dtype == F32
    a[0] = 7.0
    assert x.tolist() == [7.0, 2.0]


def test_numpy_on_a_tensor_that_requires_grad_is_an_error():
    x = convpool.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0]


# ----- no_grad -----------------------------------------------------------------------------
def test_no_grad_records_nothing():
    x = convpool.tensor([1.0, 2.0], requires_grad=True)
    assert convpool.is_grad_enabled()
    with convpool.no_grad():
        assert not convpool.is_grad_enabled()
        y = x * 2 + 1
        z = y.sum()
    assert convpool.is_grad_enabled()
    assert not y.requires_grad and not z.requires_grad and y.grad_fn is None
    assert y.tolist() == [3.0, 5.0]
    assert x.requires_grad  # leaves keep their flag


def test_no_grad_nests_and_enable_grad_reopens():
    x = convpool.tensor([1.0], requires_grad=True)
    with convpool.no_grad():
        with convpool.no_grad():
            pass
        assert not convpool.is_grad_enabled()
        with convpool.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad


def test_no_grad_is_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError), convpool.no_grad():
        1 / 0  # noqa: B018
    assert convpool.is_grad_enabled()


def test_no_grad_as_a_decorator():
    x = convpool.tensor([1.0], requires_grad=True)

    @convpool.no_grad()
    def evaluate(t):
        return t * 2

    assert not evaluate(x).requires_grad
    assert not evaluate(x).requires_grad  # usable more than once
    assert (x * 2).requires_grad


def test_no_grad_is_per_thread():
    x = convpool.tensor([1.0], requires_grad=True)
    seen = []
    with convpool.no_grad():
        thread = threading.Thread(target=lambda: seen.append((x * 2).requires_grad))
        thread.start()
        thread.join()
    assert seen == [True]


# ----- plain facts ---------------------------------------------------------------------------
def test_shape_size_and_conversions():
    x = convpool.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.ndim == 3 and x.dim() == 3 and x.numel() == 24 and len(x) == 2
    s = convpool.tensor(2.5)
    assert s.item() == 2.5 and float(s) == 2.5 and int(s) == 2 and bool(s)
    assert not bool(convpool.tensor(0.0))
    assert isinstance(convpool.tensor(3).item(), int)
    with pytest.raises(ValueError, match="one-element"):
        x.item()
    with pytest.raises(TypeError, match="0-d"):
        len(s)
    assert convpool.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert convpool.tensor([[1, 2], [3, 4]]).T.tolist() == [[1, 3], [2, 4]]


def test_repr_shows_dtype_and_shape():
    text = repr(convpool.tensor([1.0, 2.0]))
    assert text.startswith("tensor(") and "dtype=float32" in text and "shape=(2,)" in text
    assert "dtype=float64" in repr(convpool.zeros(2, 2, dtype=F64))
    assert "shape=(2, 2)" in repr(convpool.zeros(2, 2))
    assert "dtype=int64" in repr(convpool.arange(3)) and "shape=()" in repr(convpool.tensor(1.0))
    x = convpool.tensor([1.0], requires_grad=True)
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=mul" in repr(x * 2)
    assert "requires_grad" not in repr(convpool.tensor([1.0]))
    assert "1.5" in repr(convpool.tensor([1.5, 2.0]))


def test_tensors_hash_by_identity():
    a, b = convpool.tensor([1.0]), convpool.tensor([1.0])
    assert len({a, b, a}) == 2
    assert (a == b).tolist() == [True]  # == compares elementwise, as in torch


# ----- dtype rules -----------------------------------------------------------------------------
def test_python_floats_make_float32_and_ints_make_int64():
    assert convpool.tensor([1.0, 2.0]).dtype == F32
    assert convpool.tensor(1.5).dtype == F32
    assert convpool.tensor([1, 2]).dtype == numpy.int64
    assert convpool.tensor([1, 2.5]).dtype == F32
    assert convpool.tensor([True, False]).dtype == numpy.bool_
    assert convpool.tensor([1.0], dtype=F64).dtype == F64
    assert convpool.tensor([1.0], dtype=convpool.float64).dtype == F64
    assert convpool.tensor([1, 2], dtype=F32).dtype == F32
    assert convpool.tensor(numpy.zeros(2)).dtype == F64  # NumPy arrays keep their dtype, as in torch
    assert convpool.tensor(numpy.zeros(2, dtype=numpy.int32)).dtype == numpy.int32


def test_scalars_keep_the_tensor_dtype():
    x = convpool.tensor([1.0, 2.0])
    for y in (x * 2, 2 * x, x * 2.5, x + 1, x - 0.5, x / 3, 3 / x, x ** 2, 2 ** x, -x, x.clamp(0.5, 1.5),
              convpool.where(x > 1, x, 0.0)):
        assert y.dtype == F32, y
    x64 = convpool.tensor([1.0, 2.0], dtype=F64)
    assert (x64 * 2).dtype == F64 and (x64 * 2.5).dtype == F64
    assert (convpool.arange(3) * 2).dtype == numpy.int64
    assert (convpool.tensor([True]) + 1).dtype == numpy.int64


PROMOTIONS = [
    ("int*float", lambda t, lib: t(lib.arange(4)) * 2.5),
    ("int/int", lambda t, lib: t(lib.arange(4)) / 2),
    ("int/int-tensor", lambda t, lib: t(lib.arange(1, 4)) / t(lib.arange(1, 4))),
    ("int+float", lambda t, lib: t(lib.arange(4)) + 0.5),
    ("f32+f64", lambda t, lib: t(lib.ones(2)) + t(lib.ones(2, dtype=lib.float64))),
    ("f32*int", lambda t, lib: t(lib.ones(2)) * t(lib.arange(2))),
    ("bool+int", lambda t, lib: t(lib.tensor([True, False])) + 1),
    ("int-sum", lambda t, lib: t(lib.arange(4)).sum()),
    ("int-exp", lambda t, lib: t(lib.arange(4)).exp()),
    ("int-sqrt", lambda t, lib: t(lib.arange(4)).sqrt()),
    ("int-log", lambda t, lib: t(lib.arange(1, 4)).log()),
    ("int-clamp-float", lambda t, lib: t(lib.arange(4)).clamp(0.5, 2)),
    ("int-clamp-int", lambda t, lib: t(lib.arange(4)).clamp(1, 2)),
    ("int**float", lambda t, lib: t(lib.arange(4)) ** 0.5),
    ("float**int-tensor", lambda t, lib: t(lib.ones(3) * 2) ** t(lib.arange(3))),
    ("int-where-float", lambda t, lib: lib.where(t(lib.arange(3)) > 0, t(lib.arange(3)), 0.5)),
]


@needs_torch
@pytest.mark.parametrize("name, fn", PROMOTIONS, ids=[p[0] for p in PROMOTIONS])
def test_type_promotion_matches_torch(name, fn):
    ours = fn(lambda v: v, convpool)
    theirs = fn(lambda v: v, torch)
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    numpy.testing.assert_allclose(ours.numpy(), theirs.numpy())


def test_dtype_conversions():
    x = convpool.tensor([1.7, -2.2])
    assert x.double().dtype == F64 and x.double().float().dtype == F32
    assert x.long().dtype == numpy.int64 and x.long().tolist() == [1, -2]
    assert x.to(F64).dtype == F64 and x.to(convpool.float64).dtype == F64


def test_set_default_dtype():
    convpool.set_default_dtype(convpool.float64)
    assert convpool.tensor([1.0]).dtype == F64
    assert convpool.zeros(2).dtype == F64 and convpool.randn(2).dtype == F64
    assert convpool.arange(0.0, 1.0, 0.5).dtype == F64
    convpool.set_default_dtype(convpool.float32)
    assert convpool.tensor([1.0]).dtype == F32
    with pytest.raises(TypeError, match="float32 or float64"):
        convpool.set_default_dtype(numpy.int64)


# ----- factories -------------------------------------------------------------------------------
@pytest.mark.parametrize("factory, value", [(convpool.zeros, 0.0), (convpool.ones, 1.0)])
def test_zeros_ones(factory, value):
    for args in [(2, 3), ((2, 3),), ([2, 3],)]:
        t = factory(*args)
        assert t.shape == (2, 3) and t.dtype == F32 and (t.numpy() == value).all()
    assert factory().shape == ()
    assert factory(0, 4).shape == (0, 4)
    assert factory(3, dtype=F64).dtype == F64
    assert factory(3, dtype=convpool.int64).dtype == numpy.int64
    assert factory(2, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="non-negative ints"):
        factory(2, -1)
    with pytest.raises((TypeError, ValueError)):
        factory(2.0)


def test_full_and_like_factories():
    t = convpool.full((2, 3), 1.5)
    assert t.shape == (2, 3) and t.dtype == F32 and (t.numpy() == 1.5).all()
    x = convpool.arange(6).reshape(2, 3)
    assert convpool.zeros_like(x).dtype == numpy.int64 and convpool.zeros_like(x).tolist() == [[0] * 3] * 2
    y = convpool.ones_like(convpool.zeros(2, dtype=F64), requires_grad=True)
    assert y.dtype == F64 and y.requires_grad and y.tolist() == [1.0, 1.0]


def test_tensor_copies_and_from_numpy_shares():
    a = numpy.array([1.0, 2.0])
    t, s = convpool.tensor(a), convpool.from_numpy(a)
    a[0] = 9.0
    assert t.tolist() == [1.0, 2.0] and s.tolist() == [9.0, 2.0]
    src = convpool.tensor([1.0, 2.0], requires_grad=True)
    copy = convpool.tensor(src)
    assert not copy.requires_grad and not numpy.shares_memory(copy.data, src.data)


def test_randn_and_rand():
    convpool.manual_seed(0)
    n = convpool.randn(200, 50)
    assert n.shape == (200, 50) and n.dtype == F32
    assert abs(float(n.mean())) < 0.05 and abs(float(n.var()) - 1) < 0.05
    u = convpool.rand(2, 5000)
    assert u.dtype == F32 and u.min().item() >= 0.0 and u.max().item() < 1.0
    assert abs(float(u.mean()) - 0.5) < 0.02
    assert convpool.randn((3, 4), dtype=F64).dtype == F64
    assert convpool.rand(3, requires_grad=True).requires_grad


def test_manual_seed_reproducibility():
    convpool.manual_seed(123)
    a, b = convpool.randn(4, 3), convpool.rand(5)
    convpool.manual_seed(123)
    numpy.testing.assert_array_equal(convpool.randn(4, 3).numpy(), a.numpy())
    numpy.testing.assert_array_equal(convpool.rand(5).numpy(), b.numpy())
    convpool.manual_seed(124)
    assert not numpy.array_equal(convpool.randn(4, 3).numpy(), a.numpy())
    state = convpool.get_rng_state()
    c = convpool.randn(6)
    convpool.set_rng_state(state)
    numpy.testing.assert_array_equal(convpool.randn(6).numpy(), c.numpy())
    with pytest.raises(ValueError, match="non-negative int"):
        convpool.manual_seed(-1)


def test_randint():
    convpool.manual_seed(5)
    r = convpool.randint(0, 4, (1000,))
    assert r.dtype == numpy.int64 and r.shape == (1000,)
    assert set(r.tolist()) == {0, 1, 2, 3}


@needs_torch
@pytest.mark.parametrize("args, kwargs", [
    ((5,), {}), ((2, 7), {}), ((1, 10, 3), {}), ((10, 0, -3), {}), ((5.0,), {}), ((0, 1, 0.25), {}),
    ((0.5, 3), {}), ((-1, 1, 0.5), {}), ((4,), {"dtype": "float64"}), ((0, 3), {"dtype": "float32"}),
])
def test_arange_matches_torch(args, kwargs):
    ours = convpool.arange(*args, **{k: numpy.dtype(v) for k, v in kwargs.items()})
    theirs = torch.arange(*args, **{k: getattr(torch, v) for k, v in kwargs.items()})
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    numpy.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_arange_dtypes_without_torch():
    assert convpool.arange(5).dtype == numpy.int64 and convpool.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert convpool.arange(numpy.int64(3)).dtype == numpy.int64
    assert convpool.arange(3.0).dtype == F32
    assert convpool.arange(0, 1, 0.5).tolist() == [0.0, 0.5]
    assert convpool.arange(3, dtype=F64).dtype == F64
    assert convpool.arange(3.0, requires_grad=True).requires_grad
