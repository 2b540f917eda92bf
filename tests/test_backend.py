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
