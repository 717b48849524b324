"""Weight-space distance between networks, invariant to relabelling the neurons.

Huang, Ostrow, Fiete et al. (2024), "Measuring and controlling solution degeneracy across
task-trained recurrent neural networks", compare trained weights up to a permutation of the units:

    d(W_1, W_2) = min_P |W_1 - P^T W_2 P|_F / N^2,

the minimum over N x N permutation matrices P, normalised by the number of entries N^2. Expanding
the norm, the minimiser maximises tr(W_1^T P^T W_2 P): a quadratic assignment problem (NP-hard).
Small networks (N <= 8 by default) are solved exactly by enumerating all N! permutations; larger
ones by the Fast Approximate QAP algorithm (Vogelstein et al. 2015, ``scipy.optimize.
quadratic_assignment``, method "faq") started from the barycentre, the identity and random doubly
stochastic matrices, keeping the best. The heuristic returns a feasible permutation, so its distance
is an upper bound on the exact one.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import quadratic_assignment

from .._checks import ConvergenceWarning, as_array, as_int, as_rng, choose
from .._repr import compact_repr

__all__ = ["PermutationDistance", "permutation_invariant_distance"]

_EXACT_MAX_N = 8
_CHUNK = 5040  # permutations evaluated per batch by the exact solver (7!)


@dataclass
class PermutationDistance:
    """Result of ``permutation_invariant_distance``.

    Attributes
    ----------
    distance : float
        |W_1 - W_2[p][:, p]|_F / N^2 for the best permutation found.
    permutation : ndarray (N,)
        p, with (P^T W_2 P)_ij = W_2[p_i, p_j]: unit i of network 1 is unit p_i of network 2.
    exact : bool
        True when every permutation was enumerated (the distance is the minimum).
    converged : bool
        True for the exact search; for the heuristic, whether the Frank-Wolfe iteration of the best
        start stopped on its tolerance before ``maxiter`` (either way the distance is an upper
        bound on the minimum).
    iterations : int
        Frank-Wolfe iterations of the best start (0 for the exact search).
    """

    __repr__ = compact_repr

    distance: float
    permutation: np.ndarray
    exact: bool
    converged: bool = True
    iterations: int = 0


def _permuted(W: np.ndarray, p: np.ndarray) -> np.ndarray:
    return W[np.ix_(p, p)]


def _exact(W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
    """The permutation maximising sum_ij W1_ij W2[p_i, p_j], by enumeration (N! candidates)."""
    N = len(W1)
    best_value, best = -np.inf, None
    perms = itertools.permutations(range(N))
    while True:
        chunk = np.array(list(itertools.islice(perms, _CHUNK)), dtype=np.intp).reshape(-1, N)
        if len(chunk) == 0:
            return best
        values = np.einsum("ij,kij->k", W1, W2[chunk[:, :, None], chunk[:, None, :]])
        k = int(np.argmax(values))
        if values[k] > best_value:
            best_value, best = values[k], chunk[k]


def _faq(W1: np.ndarray, W2: np.ndarray, n_restarts: int, rng, maxiter: int):
    """Best FAQ permutation over the barycentre, identity and random starts, and the number of
    Frank-Wolfe iterations that start took."""
    N = len(W1)
    starts = ["barycenter", np.eye(N)] + ["randomized"] * n_restarts
    best_value, best, iterations = -np.inf, None, 0
    for P0 in starts:
        res = quadratic_assignment(
            W1,
            W2,
            method="faq",
            options={"maximize": True, "P0": P0, "rng": rng, "maxiter": maxiter},
        )
        p = res.col_ind
        value = np.sum(W1 * _permuted(W2, p))
        if value > best_value:
            best_value, best, iterations = value, p, int(res.nit)
    return best, iterations


def permutation_invariant_distance(
    W1,
    W2,
    *,
    method: str = "auto",
    n_restarts: int = 8,
    seed=0,
    maxiter: int = 100,
    full_output: bool = False,
) -> float | PermutationDistance:
    """Distance between two weight matrices, minimised over relabellings of the neurons.

    d = min_P |W_1 - P^T W_2 P|_F / N^2 (Huang et al. 2024); see the module docstring.

    Parameters
    ----------
    W1, W2 : array_like (N, N)
        Recurrent weight matrices of two networks of the same size.
    method : {"auto", "exact", "faq"}
        "exact" enumerates all N! permutations (N <= 10 accepted); "faq" runs the Fast Approximate
        QAP heuristic (an upper bound); "auto" is "exact" for N <= 8, "faq" above.
    n_restarts : int
        Random starts of the heuristic, on top of the barycentre and identity starts.
    seed : int or numpy.random.Generator
        Seeds the random starts.
    maxiter : int
        Frank-Wolfe iterations per start of the heuristic.
    full_output : bool
        Return a ``PermutationDistance`` (distance, permutation, exact, convergence) instead of the
        distance.

    Returns
    -------
    float or PermutationDistance

    Warns
    -----
    ConvergenceWarning
        When the best start of the heuristic stopped at ``maxiter`` without meeting its tolerance.
    """
    W1 = as_array(W1, "W1", ndim=2)
    W2 = as_array(W2, "W2", ndim=2)
    if W1.shape[0] != W1.shape[1] or W1.shape != W2.shape:
        raise ValueError(
            f"W1 and W2 must be square and of the same shape, got {W1.shape} and {W2.shape}"
        )
    method = choose(method, "method", ("auto", "exact", "faq"))
    n_restarts = as_int(n_restarts, "n_restarts", minimum=0)
    maxiter = as_int(maxiter, "maxiter", minimum=1)
    N = len(W1)
    if method == "auto":
        method = "exact" if N <= _EXACT_MAX_N else "faq"
    if method == "exact" and N > 10:
        raise ValueError(
            f"method='exact' enumerates N! permutations; N = {N} is too large (N <= 10)"
        )
    exact = method == "exact" or N == 1
    if exact:
        p, iterations = _exact(W1, W2), 0
    else:
        p, iterations = _faq(W1, W2, n_restarts, as_rng(seed), maxiter)
    converged = exact or iterations < maxiter
    distance = float(np.linalg.norm(W1 - _permuted(W2, p))) / N**2
    if not converged:
        warnings.warn(
            f"permutation_invariant_distance: the best FAQ start stopped at maxiter={maxiter} "
            "before its tolerance; the distance is an upper bound - raise maxiter or n_restarts",
            ConvergenceWarning,
            stacklevel=2,
        )
    if not full_output:
        return distance
    return PermutationDistance(
        distance=distance,
        permutation=np.asarray(p),
        exact=exact,
        converged=converged,
        iterations=iterations,
    )
