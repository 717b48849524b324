"""One scale-aware deduplication of solutions, through a k-d tree (``scipy.spatial.cKDTree``).

Two points are the same solution when they differ by at most ``atol + rtol * scale`` in every
coordinate (the max-norm; or in root-mean-square over the coordinates), with ``scale`` the largest
|coordinate| over all points. Points are grouped by single linkage (the connected components of the
"same" relation), so a chain of near-duplicates collapses into one solution whatever the order in
which they were found: the result does not depend on the order of the starts, unlike a greedy pass.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

__all__ = ["unique_points"]

#: up to this many points the pairs are compared densely (faster than building a tree)
_SMALL = 64


def unique_points(points, atol: float = 1e-6, rtol: float = 1e-6, norm: str = "max"):
    """Group points that are the same solution.

    Parameters
    ----------
    points : array_like (n, d)
    atol, rtol : float
        Absolute and relative (to the largest |coordinate|) tolerance.
    norm : {"max", "rms"}
        Distance between two points: the largest |difference| of a coordinate, or the
        root-mean-square difference over the d coordinates.

    Returns
    -------
    first : ndarray (k,) int
        Index of the first point of each group, in increasing order (so groups keep the order
        in which their first member was found).
    labels : ndarray (n,) int
        Group of each point (0..k-1, numbered like ``first``).
    counts : ndarray (k,) int
        Number of points in each group.
    """
    X = np.asarray(points, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"points must be a 2-d array (n, d), got shape {X.shape}")
    n = X.shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=int)
        return empty, empty, empty
    if not np.all(np.isfinite(X)):
        raise ValueError("points must be finite")
    scale = float(np.max(np.abs(X))) if X.size else 0.0
    radius = float(atol) + float(rtol) * scale
    if norm not in ("max", "rms"):
        raise ValueError(f"norm must be 'max' or 'rms', got {norm!r}")
    if n <= _SMALL:  # the same relation by dense comparison: no tree, no sparse graph
        diff = np.abs(X[:, None, :] - X[None, :, :])
        if norm == "max":
            near = np.max(diff, axis=2, initial=0.0) <= radius
        else:
            near = np.sqrt(np.sum(diff**2, axis=2)) <= radius * np.sqrt(X.shape[1])
        raw = np.arange(n)
        while True:  # smallest index reachable: the connected components
            new = np.min(np.where(near, raw[None, :], n), axis=1)
            if np.array_equal(new, raw):
                break
            raw = new
        raw = np.unique(raw, return_inverse=True)[1]
    else:
        if norm == "max":
            pairs = cKDTree(X).query_pairs(radius, p=np.inf, output_type="ndarray")
        else:
            pairs = cKDTree(X).query_pairs(
                radius * np.sqrt(X.shape[1]), p=2, output_type="ndarray"
            )
        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        _, raw = connected_components(graph, directed=False)
    # renumber groups by their first member
    first_of_raw = np.full(raw.max() + 1, n, dtype=int)
    np.minimum.at(first_of_raw, raw, np.arange(n))
    order = np.argsort(first_of_raw, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    labels = rank[raw]
    first = first_of_raw[order]
    counts = np.bincount(labels, minlength=first.size)
    return first, labels, counts
