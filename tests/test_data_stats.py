"""channel_stats: the same figures as numpy's mean and std over whole arrays, in chunks whose
memory does not grow with the data set."""

import tracemalloc

import numpy
import pytest

from convpool.data.stats import channel_stats


def _reference(images):
    scaled = images.astype(numpy.float64) / (255.0 if images.dtype == numpy.uint8 else 1.0)
    axes = tuple(i for i in range(images.ndim) if i != 1)
    return scaled.mean(axis=axes), numpy.maximum(scaled.std(axis=axes), 1e-8)


@pytest.mark.parametrize("shape, dtype", [((37, 3, 9, 7), numpy.uint8), ((20, 1, 28, 28), numpy.uint8),
                                          ((11, 1, 40, 101), numpy.float32), ((9, 2, 300), numpy.float32)])
def test_matches_numpy_over_the_whole_array(monkeypatch, shape, dtype):
    rng = numpy.random.default_rng(0)
    images = (rng.integers(0, 256, shape) if dtype == numpy.uint8 else rng.normal(-4, 3, shape)).astype(dtype)
    monkeypatch.setattr("convpool.data.stats.CHUNK_BYTES", 8 * 2 * images[0].size + 8)  # two images a chunk
    mean, std = channel_stats(images)
    want_mean, want_std = _reference(images)
    numpy.testing.assert_allclose(mean, want_mean, rtol=1e-12)
    numpy.testing.assert_allclose(std, want_std, rtol=1e-10)
    picked = [4, 0, 4, 7]
    numpy.testing.assert_allclose(channel_stats(images, picked)[1], _reference(images[picked])[1], rtol=1e-10)


def test_a_constant_channel_gets_a_std_of_1e_8_and_bad_input_is_refused():
    assert channel_stats(numpy.full((3, 2, 4, 4), 51, numpy.uint8)) == ([0.2, 0.2], [1e-8, 1e-8])
    with pytest.raises(ValueError, match="no images"):
        channel_stats(numpy.zeros((0, 3, 4, 4), numpy.uint8))
    with pytest.raises(ValueError, match=r"expected images \(N, C, \.\.\.\)"):
        channel_stats(numpy.zeros(5))


def test_memory_is_bounded_by_the_chunk_not_the_data_set():
    images = numpy.random.default_rng(1).integers(0, 256, (3000, 3, 32, 32), dtype=numpy.uint8)  # 9.2 MB
    tracemalloc.start()
    try:
        channel_stats(images, numpy.arange(3000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2.5 * 16 * 2**20, f"peak {peak / 2**20:.0f} MiB"  # the whole set as float64 is 74 MB, twice
