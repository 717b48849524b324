"""Products V W^T of a few rows V (k x N) with a large dense matrix W (M x N).

A BLAS dgemm with so few rows spends most of its time packing W into panels (OpenBLAS 0.3.29,
N = 3000, one thread: 2-4 rows take 2.2-2.5 times as long as one row, a dgemv), though the
product only needs to stream W through the cache once. ``rows_times_transpose`` does that for
2 <= k <= ``MAX_ROWS``: a tile of two rows of W times four rows of V (two for k = 2; V padded
with zero rows to a multiple of four), the inner loop over N vectorised. It reads W once
(CPU time, N = 800-3000: 1.5-2.5 times as fast as dgemm at 2-4 rows, about as fast at 8-12):
the products of the matrix-free fixed-point search (``lowrank.fixedpoints``: every Krylov step
of a few descents, every Arnoldi step of a few points). Other shapes go to BLAS.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Most rows of V for which the tiled kernel is used (beyond, dgemm's packing pays off).
MAX_ROWS = 12
#: Smallest M N for which it is used (below, W is in cache and BLAS is as fast).
MIN_SIZE = 512 * 512

_JIT = {"cache": True, "error_model": "numpy", "fastmath": {"contract", "reassoc"}}


@njit(**_JIT)
def _tile(V, r, width, w0, w1, out, i, pair):
    """out[r : r + width, i] (and i + 1 when ``pair``) = V[r : r + width] . w0 (w1)."""
    N = V.shape[1]
    if width == 4:
        v0, v1, v2, v3 = V[r], V[r + 1], V[r + 2], V[r + 3]
        a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = 0.0
        for j in range(N):
            x, y = w0[j], w1[j]
            p0, p1, p2, p3 = v0[j], v1[j], v2[j], v3[j]
            a0 += p0 * x
            a1 += p1 * x
            a2 += p2 * x
            a3 += p3 * x
            b0 += p0 * y
            b1 += p1 * y
            b2 += p2 * y
            b3 += p3 * y
        out[r, i], out[r + 1, i], out[r + 2, i], out[r + 3, i] = a0, a1, a2, a3
        if pair:
            out[r, i + 1], out[r + 1, i + 1], out[r + 2, i + 1], out[r + 3, i + 1] = b0, b1, b2, b3
    elif width == 2:
        v0, v1 = V[r], V[r + 1]
        a0 = a1 = b0 = b1 = 0.0
        for j in range(N):
            x, y = w0[j], w1[j]
            p0, p1 = v0[j], v1[j]
            a0 += p0 * x
            a1 += p1 * x
            b0 += p0 * y
            b1 += p1 * y
        out[r, i], out[r + 1, i] = a0, a1
        if pair:
            out[r, i + 1], out[r + 1, i + 1] = b0, b1
    else:
        v0 = V[r]
        a0 = b0 = 0.0
        for j in range(N):
            p0 = v0[j]
            a0 += p0 * w0[j]
            b0 += p0 * w1[j]
        out[r, i] = a0
        if pair:
            out[r, i + 1] = b0


@njit(**_JIT)
def _rows_times_transpose(V, W, out):
    k = V.shape[0]
    M = W.shape[0]
    for i in range(0, M, 2):
        pair = i + 1 < M
        w0 = W[i]
        w1 = W[i + 1] if pair else W[i]
        r = 0
        while r < k:
            width = 4 if r + 4 <= k else (2 if r + 2 <= k else 1)
            _tile(V, r, width, w0, w1, out, i, pair)
            r += width
    return out


def _padded(V: np.ndarray) -> np.ndarray:
    """V with zero rows appended up to a multiple of four rows (two rows stay two): a tile of
    four rows costs about what one of three does, since both stream the same rows of W."""
    k = V.shape[0]
    rows = k if k <= 2 or k % 4 == 0 else k + 4 - k % 4
    if rows == k:
        return np.ascontiguousarray(V)
    out = np.zeros((rows, V.shape[1]))
    out[:k] = V
    return out


def rows_times_transpose(V: np.ndarray, W: np.ndarray) -> np.ndarray:
    """V @ W.T for V (k, N) and W (M, N), float64 (rounded like any dgemm: sums reordered)."""
    if (
        V.ndim == 2 and W.ndim == 2 and 2 <= V.shape[0] <= MAX_ROWS
        and V.shape[1] == W.shape[1] and W.shape[0] * W.shape[1] >= MIN_SIZE
        and V.dtype == np.float64 and W.dtype == np.float64 and W.flags.c_contiguous
    ):
        padded = _padded(V)
        out = np.empty((padded.shape[0], W.shape[0]))
        return _rows_times_transpose(padded, W, out)[: V.shape[0]]
    return V @ W.T
