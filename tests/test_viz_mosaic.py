"""The one mosaic routine every figure uses: tiles in rows with a gap, empty cells apart."""

import numpy
import pytest

from convpool.viz.mosaic import mosaic


def test_tiles_are_laid_out_in_rows_with_a_gap_and_no_trailing_gap():
    tiles = numpy.arange(5 * 2 * 3, dtype=numpy.float64).reshape(5, 2, 3)
    grid = mosaic(tiles, 3, gap=2)
    assert grid.shape == (2 * 2 + 2, 3 * 3 + 2 * 2)
    numpy.testing.assert_array_equal(grid[0:2, 5:8], tiles[1])
    numpy.testing.assert_array_equal(grid[4:6, 0:3], tiles[3])
    assert numpy.isnan(grid[2:4]).all() and numpy.isnan(grid[4:6, 10:]).all()


def test_integer_tiles_keep_their_dtype_and_empty_cells_their_own_value():
    tiles = numpy.ones((3, 2, 2), dtype=numpy.uint8)
    grid = mosaic(tiles, 2, gap=1, fill=7, empty=9)
    assert grid.dtype == numpy.uint8 and grid.shape == (5, 5)
    assert (grid[2] == 7).all() and (grid[:, 2] == 7).all()  # the gap lines
    assert (grid[3:, 3:] == 9).all() and (grid[3:, :2] == 1).all()  # the empty cell, the third tile


def test_colour_tiles_and_a_single_column():
    tiles = numpy.zeros((2, 3, 4, 3))
    assert mosaic(tiles, 1, gap=1).shape == (7, 4, 3)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="mosaic: needs tiles"):
        mosaic(numpy.zeros((2, 3)), 1)
