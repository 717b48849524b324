"""Dynamical Similarity Analysis (DSA): compare the dynamics of two systems up to an orthogonal map.

Ostrow, Eisen, Kozachkov & Fiete (NeurIPS 2023), used by Huang et al. (2024) to measure the
degeneracy of task-trained RNNs:

1. delay embedding: the Hankel matrix H with rows [x_{t+(d-1)k}, ..., x_{t+k}, x_t] (d = n_delays,
   k = delay_interval), one block of rows per trial;
2. reduced-rank DMD with ridge (HAVOK): H = V S U^T, keep the first r columns of V (the
   eigen-time-delay coordinates; computed from the leading eigenpairs of the Gram matrix H^T H,
   assembled from lagged products of the data, when H has many more rows than columns and the kept
   singular values are well above rounding, else by the SVD of H), and regress each row on the
   previous one within a trial,

       A = [(V_-^T V_- + lambda I)^{-1} V_-^T V_+]^T     (r x r);

3. Procrustes over the orthogonal group between the two DMD matrices (``orthogonal_similarity``):
   min_{C in O(r)} |a - C b C^T|_F on unit-norm a, b, reported as an angular and a Euclidean score
   with a certified lower bound (Hoffman-Wielandt / Mirsky); the search starts from eigenbasis
   alignments that contain the exact answer when the two DMD matrices are orthogonally similar.

The DMD matrix of x_t -> Q x_t (Q orthogonal) is that of x_t up to the signs of the singular
vectors, an orthogonal similarity; so the distance is zero between a system and a rotated or
reflected copy of it. This follows the ``dsa-metric`` package (v2) step by step (its ``DMD`` with
``reduced_rank_reg=False``) except for the optimiser of step 3.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh

from .._checks import ConvergenceWarning, as_array, as_float, as_int, choose
from .._repr import compact_repr
from .procrustes import ProcrustesResult, _one_thread, orthogonal_similarity

__all__ = ["PairwiseDSA", "delay_embedding", "dmd_matrix", "dsa_distance", "pairwise_dsa"]

_SCORES = ("angular", "euclidean")
_LAG_GRAM_DELAYS = 6  # above this many delays the Gram matrix is built from lagged products


def _trials(X, name: str) -> np.ndarray:
    """(time, units) or (trials, time, units) -> (trials, time, units)."""
    X = as_array(X, name, ndim=(2, 3))
    return X[None] if X.ndim == 2 else X


def delay_embedding(X, n_delays: int, delay_interval: int = 1) -> np.ndarray:
    """Hankel (delay) embedding of a trajectory.

    Parameters
    ----------
    X : array_like (time, units) or (trials, time, units)
    n_delays : int
        Number of delays d (d = 1 returns the data itself).
    delay_interval : int
        Steps k between delays.

    Returns
    -------
    ndarray (trials, time - (d-1) k, units * d)
        Row t holds [x_{t+(d-1)k}, x_{t+(d-2)k}, ..., x_t] (most recent first, as in
        ``dsa-metric``).
    """
    return _embed(X, n_delays, delay_interval, "X")


def _embed(X, n_delays, delay_interval, name: str) -> np.ndarray:
    X = _trials(X, name)
    n_delays = as_int(n_delays, "n_delays", minimum=1)
    delay_interval = as_int(delay_interval, "delay_interval", minimum=1)
    span = (n_delays - 1) * delay_interval
    T = X.shape[1]
    if T - span < 2:
        raise ValueError(
            f"n_delays={n_delays} with delay_interval={delay_interval} needs more than "
            f"{span + 1} time "
            f"points, {name} has {T}"
        )
    blocks = [X[:, span - d * delay_interval : T - d * delay_interval] for d in range(n_delays)]
    return np.concatenate(blocks, axis=2)


def dmd_matrix(
    X, n_delays: int, rank: int, *, delay_interval: int = 1, lamb: float = 0.0
) -> np.ndarray:
    """The HAVOK DMD matrix of a trajectory in its first ``rank`` eigen-time-delay coordinates.

    Parameters
    ----------
    X : array_like (time, units) or (trials, time, units)
    n_delays : int
        Number of delays of the Hankel matrix.
    rank : int
        Number r of singular vectors kept (at most units * n_delays).
    delay_interval : int
        Steps between delays.
    lamb : float
        Ridge parameter lambda >= 0 of the regression.

    Returns
    -------
    ndarray (rank, rank)
        A with v_{t+1} ~ A v_t, v_t the first r right singular coordinates of the Hankel matrix.
    """
    return _dmd(X, n_delays, rank, delay_interval, lamb, "X")


def _dmd(X, n_delays, rank, delay_interval, lamb, name: str) -> np.ndarray:
    """``dmd_matrix`` with errors naming the trajectory ``name``."""
    X = _trials(X, name)
    H = _embed(X, n_delays, delay_interval, name)
    rank = as_int(rank, "rank", minimum=1)
    lamb = as_float(lamb, "lamb", minimum=0.0)
    n_trials, T, width = H.shape
    if rank > min(width, n_trials * T):
        raise ValueError(
            "rank must be <= min(units * n_delays, rows of the Hankel matrix) = "
            f"{min(width, n_trials * T)}, "
            f"got {rank}"
        )
    if lamb == 0 and rank > n_trials * (T - 1):
        raise ValueError(
            f"rank={rank} exceeds the {n_trials * (T - 1)} transitions of {name} after delay "
            "embedding: the DMD regression is underdetermined; lower rank or give lamb > 0"
        )
    with _one_thread():
        return _regression(X, H, rank, n_delays, delay_interval, lamb, name)


def _regression(X, H, rank, n_delays, delay_interval, lamb, name: str) -> np.ndarray:
    """Steps 2-3 of ``_dmd`` (the HAVOK regression), under the caller's thread limit."""
    n_trials, T, _ = H.shape
    V, S = _leading_time_modes(X, H, rank, n_delays, delay_interval)
    if S[0] == 0:
        raise ValueError(f"{name} is zero everywhere: it has no dynamics to compare")
    if S[rank - 1] <= 1e-12 * S[0]:
        warnings.warn(
            f"dmd_matrix: singular value {rank} of the Hankel matrix of {name} is "
            f"{S[rank - 1] / S[0]:.1e} of the "
            "largest; the data have lower rank and the extra coordinates are noise",
            RuntimeWarning,
            stacklevel=4,
        )
    V = V.reshape(n_trials, T, rank)
    V_minus = V[:, :-1].reshape(-1, rank)
    V_plus = V[:, 1:].reshape(-1, rank)
    cross = V_minus.T @ V_plus  # |cross| <= sqrt(rank): V has orthonormal columns
    if np.linalg.norm(cross) <= 1e-10:
        raise ValueError(
            f"the rank-{rank} DMD matrix of {name} is zero: no coordinate of its delay embedding "
            "predicts the next one (e.g. a period-2 signal seen by one mode), so DSA, which "
            "compares A / |A|, is undefined; raise rank or n_delays"
        )
    try:
        gram = V_minus.T @ V_minus + lamb * np.eye(rank)
        return np.linalg.solve(gram, cross).T
    except np.linalg.LinAlgError as exc:
        raise ValueError(
            f"the DMD regression of {name} is singular at rank={rank}; lower rank or give lamb > 0"
        ) from exc


def _hankel_gram(X: np.ndarray, n_delays: int, delay_interval: int) -> np.ndarray:
    """H^T H of the delay embedding of X (trials, time, units) from lagged products of X.

    Block (i, j), j >= i, of H^T H is sum_{u = s_j}^{s_j + T' - 1} x_{u + l} x_u^T with shifts
    s_i = (d - 1 - i) k, lag l = s_i - s_j and T' rows per trial: a difference of two prefix sums
    of the lag-l products. With the prefix sums taken only at the 2d points s_j, s_j + T', the
    cost is O(d T N^2) per trial instead of the O(d^2 T N^2) of the product of H with itself.
    """
    N = X.shape[2]
    span = (n_delays - 1) * delay_interval
    rows = X.shape[1] - span
    shifts = [span - i * delay_interval for i in range(n_delays)]
    G = np.empty((n_delays * N, n_delays * N))
    for m in range(n_delays):
        lag = m * delay_interval
        points = sorted({shifts[j] for j in range(m, n_delays)} | {s + rows for s in shifts[m:]})
        prefix = {points[0]: np.zeros((N, N))}
        for lo, hi in zip(points[:-1], points[1:], strict=True):
            ahead = X[:, lo + lag : hi + lag].reshape(-1, N)
            prefix[hi] = prefix[lo] + ahead.T @ X[:, lo:hi].reshape(-1, N)
        for i in range(n_delays - m):
            j = i + m
            block = prefix[shifts[j] + rows] - prefix[shifts[j]]
            G[i * N : (i + 1) * N, j * N : (j + 1) * N] = block
            G[j * N : (j + 1) * N, i * N : (i + 1) * N] = block.T
    return G


def _leading_time_modes(X, H, rank, n_delays, delay_interval):
    """The first ``rank`` left singular vectors V (rows x rank) and all singular values S of the
    Hankel matrix H (trials, rows, width) flattened to (trials * rows, width).

    With many more rows than columns, from the eigendecomposition of the Gram matrix H^T H = W
    S^2 W^T (only its ``rank`` leading eigenpairs, LAPACK ``syevr``): V = H W S^{-1}. The Gram
    matrix squares the condition number, so this route is taken only when the kept singular
    values are above 1e-5 of the largest and the V it gives is orthonormal to 1e-9; otherwise,
    and for short data, the SVD of H itself.
    """
    n_trials, T, width = H.shape
    flat = H.reshape(n_trials * T, width)
    if n_trials * T >= 2 * width:
        if n_delays > _LAG_GRAM_DELAYS:
            G = _hankel_gram(X, n_delays, delay_interval)
        else:
            G = flat.T @ flat
        evals, W = eigh(G, subset_by_index=[width - rank, width - 1])
        evals, W = evals[::-1], W[:, ::-1]
        largest = float(evals[0])
        if largest > 0 and evals[-1] > 1e-10 * largest:
            S = np.sqrt(evals)
            V = flat @ (W / S)
            if np.abs(V.T @ V - np.eye(rank)).max() <= 1e-9:
                return V, S
    V, S, _ = np.linalg.svd(flat, full_matrices=False)
    return V[:, :rank], S


def dsa_distance(
    X,
    Y,
    n_delays: int,
    rank: int,
    *,
    delay_interval: int = 1,
    lamb: float = 0.0,
    score: str = "angular",
    n_starts: int = 1,
    seed=0,
    gtol: float = 1e-6,
    maxiter: int = 5000,
    tol: float = 1e-6,
    max_starts: int = 20,
    futility: float = 0.05,
    full_output: bool = False,
) -> float | ProcrustesResult:
    """Dynamical Similarity Analysis distance between two trajectories (Ostrow et al. 2023).

    d(X, Y) = min_{C in O(r)} |A_X / |A_X| - C A_Y C^T / |A_Y| |, A the rank-r HAVOK DMD matrices of
    the delay-embedded data (see the module docstring).

    Parameters
    ----------
    X, Y : array_like (time, units) or (trials, time, units)
        The two systems' trajectories; the numbers of units may differ.
    n_delays : int
        Number of delays of the Hankel matrices.
    rank : int
        Rank r of the DMD models (the same for both).
    delay_interval : int
        Steps between delays.
    lamb : float
        Ridge parameter of the DMD regression.
    score : {"angular", "euclidean"}
        arccos tr(a^T C b C^T) in [0, pi] or |a - C b C^T|_F in [0, 2].
    n_starts : int
        Random starts per component of O(r) in the Procrustes search (see
        ``orthogonal_similarity``).
    seed : int or numpy.random.Generator
        Seeds the random starts.
    gtol, maxiter : float, int
        Convergence tolerance on the Riemannian gradient and iteration budget of each Procrustes
        start (see ``orthogonal_similarity``).
    tol, max_starts, futility : float, int, float
        Tolerance of the global check (gap to the certified lower bound, agreement of starts),
        the most local searches of the Procrustes search, and the estimated chance of confirming
        the best score below which it stops adding random starts (see
        ``orthogonal_similarity``).
    full_output : bool
        Return the whole ``ProcrustesResult`` (both scores, C, lower bound, convergence) instead
        of one score.

    Returns
    -------
    float or ProcrustesResult

    Warns
    -----
    ConvergenceWarning
        A RuntimeWarning: when the Procrustes search did not converge, locally or globally (the
        score is then an upper bound; the ``ProcrustesResult`` carries ``converged``,
        ``grad_norm``, ``lower_bound`` and ``certified``).
    """
    score = choose(score, "score", _SCORES)
    A = _dmd(X, n_delays, rank, delay_interval, lamb, "X")
    B = _dmd(Y, n_delays, rank, delay_interval, lamb, "Y")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        result = orthogonal_similarity(
            A,
            B,
            n_starts=n_starts,
            seed=seed,
            gtol=gtol,
            maxiter=maxiter,
            tol=tol,
            max_starts=max_starts,
            futility=futility,
        )
    for w in caught:
        warnings.warn(f"dsa_distance: {w.message}", w.category, stacklevel=2)
    return result if full_output else getattr(result, score)


@dataclass
class PairwiseDSA:
    """All pairwise DSA distances with the convergence of each Procrustes search.

    Attributes
    ----------
    distances : ndarray (n, n)
        Symmetric, zero diagonal.
    grad_norm : ndarray (n, n)
        Riemannian gradient norm at the returned C of each pair (0 on the diagonal).
    converged : ndarray (n, n) of bool
        ``ProcrustesResult.converged`` of each pair: a stationary point that is certified or
        reached by two starts; where False the distance is an upper bound.
    lower_bound : ndarray (n, n)
        Certified lower bound on each distance, in the same score (0 on the diagonal).
    certified : ndarray (n, n) of bool
        Whether each distance is within ``tol`` of its lower bound (a proven global minimum).
    """

    __repr__ = compact_repr

    distances: np.ndarray
    grad_norm: np.ndarray
    converged: np.ndarray
    lower_bound: np.ndarray
    certified: np.ndarray


def pairwise_dsa(
    trajectories: Sequence,
    n_delays: int,
    rank: int,
    *,
    delay_interval: int = 1,
    lamb: float = 0.0,
    score: str = "angular",
    n_starts: int = 1,
    seed=0,
    gtol: float = 1e-6,
    maxiter: int = 5000,
    tol: float = 1e-6,
    max_starts: int = 20,
    futility: float = 0.05,
    full_output: bool = False,
) -> np.ndarray | PairwiseDSA:
    """Symmetric matrix of DSA distances between all pairs of trajectories.

    Each DMD model is fitted once; the Procrustes search runs for every pair i < j, each from the
    same ``seed`` (so entry (i, j) equals ``dsa_distance(trajectories[i], trajectories[j])``).
    Parameters as in ``dsa_distance``.

    Returns
    -------
    ndarray (n, n) or PairwiseDSA
        Zero diagonal, entry (i, j) = d(trajectories[i], trajectories[j]); with ``full_output``
        the distances together with each pair's convergence.

    Warns
    -----
    ConvergenceWarning
        (a RuntimeWarning) once, naming the pairs whose Procrustes search did not converge.
    """
    if isinstance(trajectories, np.ndarray) or not isinstance(trajectories, Sequence):
        raise TypeError(f"trajectories must be a list of arrays, got {type(trajectories).__name__}")
    if len(trajectories) < 2:
        raise ValueError(
            f"trajectories must hold at least two trajectories, got {len(trajectories)}"
        )
    score = choose(score, "score", _SCORES)
    models = [
        _dmd(X, n_delays, rank, delay_interval, lamb, f"trajectories[{k}]")
        for k, X in enumerate(trajectories)
    ]
    n = len(models)
    D, grad, lower = np.zeros((n, n)), np.zeros((n, n)), np.zeros((n, n))
    converged, certified = np.ones((n, n), dtype=bool), np.ones((n, n), dtype=bool)
    reasons = {}
    for i in range(n):
        for j in range(i + 1, n):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # reported once below
                result = orthogonal_similarity(
                    models[i],
                    models[j],
                    n_starts=n_starts,
                    seed=seed,
                    gtol=gtol,
                    maxiter=maxiter,
                    tol=tol,
                    max_starts=max_starts,
                    futility=futility,
                )
            D[i, j] = D[j, i] = getattr(result, score)
            grad[i, j] = grad[j, i] = result.grad_norm
            converged[i, j] = converged[j, i] = result.converged
            certified[i, j] = certified[j, i] = result.certified
            lower[i, j] = lower[j, i] = (
                result.angular_lower_bound if score == "angular" else result.lower_bound
            )
            if not result.converged:
                reasons[i, j] = result.grad_norm > gtol
    if reasons:
        pairs = list(reasons)
        local = sum(reasons.values())
        warnings.warn(
            f"pairwise_dsa: the Procrustes search of {len(pairs)} of {n * (n - 1) // 2} pairs did "
            f"not converge ({local} stopped at maxiter with Riemannian gradient up to "
            f"{grad.max():.2e} > gtol={gtol:.1e} - raise maxiter; {len(pairs) - local} reached no "
            f"certified or agreed global minimum - raise n_starts or max_starts; pairs "
            f"{pairs[:5]}{' ...' if len(pairs) > 5 else ''}); those distances are upper bounds",
            ConvergenceWarning,
            stacklevel=2,
        )
    return PairwiseDSA(D, grad, converged, lower, certified) if full_output else D
