"""The matrix products behind the window-matrix convolutions: a product per group in one call
(on convpool's threads, `backend.matmul`), and the weight gradient in the orientation BLAS runs
fastest."""

from __future__ import annotations

from .. import backend


def grouped_matmul(a, b, groups: int, transpose_a: bool = False, transpose_b: bool = False, out=None):
    """a @ b per group, groups stacked along rows: one (batched) product on convpool's
    threads (`backend.matmul`), optionally written into `out` (a buffer of the result's
    shape that can be reused)."""
    if groups == 1:
        return backend.matmul(a.T if transpose_a else a, b.T if transpose_b else b, out=out)
    ag = a.reshape(groups, a.shape[0] // groups, -1)
    bg = b.reshape(groups, b.shape[0] // groups, -1)
    ag = ag.transpose(0, 2, 1) if transpose_a else ag
    bg = bg.transpose(0, 2, 1) if transpose_b else bg
    rows = ag.shape[1]
    y = backend.matmul(ag, bg, out=None if out is None else out.reshape(groups, rows, -1))
    return y.reshape(groups * rows, -1)


def weight_grad(gy_mat, cols, groups: int):
    """gW = gy @ cols^T per group, as (O, C/groups * K).

    OpenBLAS is up to 10x slower on this product when the short output-channel
    dimension comes first and the shared dimension (N * out) is long, so when the window
    dimension is the larger one it computes (cols @ gy^T)^T instead: same numbers."""
    n_out, n_window = gy_mat.shape[0] // groups, cols.shape[0] // groups
    if n_window < n_out:
        return grouped_matmul(gy_mat, cols, groups, transpose_b=True)
    flipped = grouped_matmul(cols, gy_mat, groups, transpose_b=True)  # (groups * n_window, n_out)
    return flipped.reshape(groups, n_window, n_out).transpose(0, 2, 1).reshape(groups * n_out, n_window)
