"""The array-module switch: RNG, default dtype, memory budget and the element-wise threads."""

import threading

import numpy
import pytest

import convpool
from convpool import backend


@pytest.fixture
def threads():
    previous = backend.num_threads()
    yield backend.set_num_threads
    backend.set_num_threads(previous)


@pytest.mark.parametrize("n_threads, n", [(1, 10), (2, 1), (2, 7), (3, 100), (4, 3)])
def test_parallel_for_covers_every_index_once(threads, n_threads, n):
    threads(n_threads)
    seen = numpy.zeros(n, dtype=int)
    names = set()

    def part(start, stop):
        names.add(threading.current_thread().name)
        seen[start:stop] += 1

    backend.parallel_for(n, part, min_size=1)
    numpy.testing.assert_array_equal(seen, 1)
    if n_threads > 1 and n > 1:
        assert any(name.startswith("convpool") for name in names)  # work really went to a worker


def test_parallel_for_inside_a_worker_runs_serially_instead_of_deadlocking(threads):
    threads(2)
    total = numpy.zeros(8, dtype=int)

    def outer(start, stop):
        backend.parallel_for(stop - start, lambda a, b: total.__setitem__(slice(start + a, start + b), 1),
                             min_size=1)

    backend.parallel_for(8, outer, min_size=1)
    numpy.testing.assert_array_equal(total, 1)


def test_parallel_for_passes_worker_exceptions_on(threads):
    threads(2)

    def part(start, stop):
        if start > 0:
            raise RuntimeError("boom in the second half")

    with pytest.raises(RuntimeError, match="boom"):
        backend.parallel_for(10, part, min_size=1)


def test_parallel_copy_is_a_fresh_contiguous_copy(threads):
    threads(2)
    source = numpy.arange(2 * 5 * 3, dtype=numpy.float32).reshape(2, 5, 3).transpose(1, 2, 0)
    copy = backend.parallel_copy(source)
    numpy.testing.assert_array_equal(copy, source)
    assert copy.flags.c_contiguous and not numpy.shares_memory(copy, source)
    short = numpy.arange(12.0).reshape(1, 12)  # too short along axis 0: split along axis 1
    numpy.testing.assert_array_equal(backend.parallel_copy(short), short)


def test_settings_reject_bad_values():
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        backend.set_num_threads(0)
    with pytest.raises(ValueError, match="nbytes must be a positive int, got -1"):
        convpool.set_memory_budget(-1)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        convpool.manual_seed(-3)
    with pytest.raises(TypeError, match="float32 or float64"):
        convpool.set_default_dtype("int32")


def test_conv_gives_the_same_numbers_with_one_thread_and_with_several(threads):
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((4, 3, 9, 9))
    w = rng.standard_normal((5, 3, 3, 3))
    results = []
    for n in (1, 3):
        threads(n)
        xs = convpool.tensor(x, requires_grad=True)
        ws = convpool.tensor(w, requires_grad=True)
        y = convpool.functional.conv2d(xs, ws, padding=1)
        y.backward(numpy.ones(y.shape))
        results.append((y.detach().numpy(), xs.grad.numpy(), ws.grad.numpy()))
    for a, b in zip(*results, strict=True):
        numpy.testing.assert_allclose(a, b, rtol=1e-12)


def _blas_threads():
    from threadpoolctl import threadpool_info
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("shapes", [((7, 5), (5, 4)), ((300, 200), (200, 90)), ((2, 300, 150), (2, 150, 80)),
                                    ((5, 120, 100), (5, 100, 70)), ((1, 400, 60), (1, 60, 200))])
def test_matmul_equals_numpys_split_or_not(threads, n_threads, shapes):
    threads(n_threads)
    rng = numpy.random.default_rng(1)
    a, b = (rng.standard_normal(s) for s in shapes)
    expected = numpy.matmul(a, b)
    numpy.testing.assert_allclose(backend.matmul(a, b), expected, rtol=1e-12, atol=1e-12)
    out = numpy.full(expected.shape, numpy.nan)
    assert backend.matmul(a, b, out=out) is out
    numpy.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    if a.ndim == 2:  # transposed views, as the convolutions pass them
        numpy.testing.assert_allclose(backend.matmul(b.T, a.T), expected.T, rtol=1e-12, atol=1e-12)


def test_matmul_splits_a_large_product_and_keeps_a_small_one_whole(threads, monkeypatch):
    threads(2)
    calls = []
    real = numpy.matmul

    def spy(a, b, out=None):
        calls.append(a.shape)
        return real(a, b, out=out)

    monkeypatch.setattr(numpy, "matmul", spy)
    rng = numpy.random.default_rng(2)
    backend.matmul(rng.standard_normal((8, 8)), rng.standard_normal((8, 8)))
    assert calls == [(8, 8)]
    calls.clear()
    backend.matmul(rng.standard_normal((256, 128)), rng.standard_normal((128, 128)))
    assert sorted(calls) == [(128, 128), (128, 128)]


def test_matmul_rejects_mismatched_operands():
    with pytest.raises(ValueError, match=r"backend.matmul: .* got shapes \(2, 3, 4\) and \(3, 4, 5\)"):
        backend.matmul(numpy.zeros((2, 3, 4)), numpy.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match=r"got shapes \(3, 4\) and \(2, 4, 5\)"):
        backend.matmul(numpy.zeros((3, 4)), numpy.zeros((2, 4, 5)))


@pytest.fixture
def blas_seen(threads, monkeypatch):
    """BLAS set to 2 threads and numpy.matmul watched: yields the list of BLAS thread counts
    that each product saw (convpool's own threads: 2)."""
    if not _blas_threads():
        pytest.skip("no BLAS library that threadpoolctl can see")
    from threadpoolctl import threadpool_limits
    threads(2)
    seen = []
    real = numpy.matmul

    def spy(a, b, out=None):
        seen.append(max(_blas_threads()))
        return real(a, b, out=out)

    with threadpool_limits(limits=2, user_api="blas"):
        monkeypatch.setattr(numpy, "matmul", spy)
        yield seen
        monkeypatch.undo()


def test_a_training_step_never_lets_blas_start_its_own_threads(blas_seen):
    """Every product convpool runs keeps BLAS at one thread (its spinning workers would slow
    the element-wise work on convpool's threads), and BLAS's own setting is back afterwards."""
    from convpool import models, optim
    model = models.build("fast-cnn", in_channels=1, image_size=28)
    rng = numpy.random.default_rng(3)
    model.initialise_from_data(rng.standard_normal((16, 1, 28, 28)))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = convpool.tensor(rng.standard_normal((32, 1, 28, 28)).astype(numpy.float32))
    y = convpool.tensor(rng.integers(0, 10, 32))
    loss = convpool.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    assert max(_blas_threads()) == 2
    assert blas_seen and set(blas_seen) == {1}, f"BLAS ran with {sorted(set(blas_seen))} threads"


def test_the_matmul_op_on_two_matrices_keeps_blas_at_one_thread(blas_seen):
    rng = numpy.random.default_rng(4)
    a = convpool.tensor(rng.standard_normal((300, 200)), requires_grad=True)
    b = convpool.tensor(rng.standard_normal((200, 100)), requires_grad=True)
    (a @ b).sum().backward()
    assert len(blas_seen) >= 3 and set(blas_seen) == {1}, f"BLAS ran with {sorted(set(blas_seen))} threads"
    numpy.testing.assert_allclose(a.grad.numpy(), numpy.ones((300, 100)) @ b.detach().numpy().T, rtol=1e-12)
