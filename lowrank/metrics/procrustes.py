"""Procrustes analysis over vector fields: the orthogonal similarity distance between two matrices.

Ostrow, Eisen, Kozachkov & Fiete (NeurIPS 2023), "Beyond geometry: comparing the temporal structure
of computation in neural circuits with dynamical similarity analysis", eq. 4:

    d(A, B) = min_{C in O(n)} || A - C B C^T ||_F,

computed on matrices normalised to unit Frobenius norm. With a = A / |A|, b = B / |B| and
s(C) = tr(a^T C b C^T), the two scores are

    euclidean = |a - C b C^T|_F = sqrt(2 - 2 s(C)),      angular = arccos s(C)  (in [0, pi]).

O(n) has two components, det C = +1 and det C = -1; for even n each is searched separately (for
odd n, -C gives the same transform as C and lies in the other component, so one search covers
both). The problem is not convex: each start is a local trust-region Newton search on the Cayley
chart C = C_0 (I - S)^{-1} (I + S) over skew-symmetric S (re-centred when needed), and the best of
several starts is kept (the alignment of the eigenvectors of the symmetric parts with greedily
chosen signs, the identity, and Haar-random rotations). Convergence means the Riemannian gradient
|skew(C^T grad s)|_F at the returned C is below ``gtol``; it certifies a stationary point, not the
global minimum.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.stats import ortho_group
from threadpoolctl import threadpool_limits

from .._checks import ConvergenceWarning, as_array, as_float, as_int, as_rng

__all__ = ["ProcrustesResult", "orthogonal_similarity"]

_MAX_RECENTRES = 20
_EXACT = 1e-13  # s within this of 1: the distance is zero to rounding


@dataclass
class ProcrustesResult:
    """Optimal orthogonal similarity transform between two matrices.

    Attributes
    ----------
    angular : float
        arccos tr(a^T C b C^T) for the unit-norm matrices a, b, in [0, pi].
    euclidean : float
        |a - C b C^T|_F, in [0, 2].
    C : ndarray (n, n)
        The best orthogonal matrix found.
    component_angular : dict
        Best angular score on each component of O(n) searched, keys +1 and -1 (det C); for odd n
        only +1 (it covers both), and the search stops early, possibly before the second
        component, once the distance is zero to rounding.
    converged : bool
        Whether the Riemannian gradient at C is below the tolerance.
    grad_norm : float
        |skew(C^T grad s)|_F at C.
    """

    angular: float
    euclidean: float
    C: np.ndarray
    component_angular: dict
    converged: bool
    grad_norm: float


def _flip(n: int) -> np.ndarray:
    """diag(-1, 1, ..., 1): a reflection, the base point of the det = -1 component."""
    D = np.eye(n)
    D[0, 0] = -1.0
    return D


def _riemannian_grad(a: np.ndarray, b: np.ndarray, C: np.ndarray) -> np.ndarray:
    """skew(C^T G) with G = a C b^T + a^T C b the Euclidean gradient of s(C)."""
    M = C.T @ (a @ C @ b.T + a.T @ C @ b)
    return 0.5 * (M - M.T)


def _spectral_start(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C_0 = U_a diag(sigma) U_b^T aligning the eigenvectors of the symmetric parts.

    With a~ = U_a^T a U_a and b~ = U_b^T b U_b, s(C_0) = sigma^T (a~ * b~) sigma, a quadratic form
    in the signs sigma, improved greedily by single flips.
    """
    _, Ua = np.linalg.eigh(0.5 * (a + a.T))
    _, Ub = np.linalg.eigh(0.5 * (b + b.T))
    K = (Ua.T @ a @ Ua) * (Ub.T @ b @ Ub)
    K = 0.5 * (K + K.T)
    sigma = np.ones(len(a))
    for _ in range(len(a)):
        # gain of flipping sign i: -4 sigma_i sum_{j != i} K_ij sigma_j
        gain = -4.0 * sigma * (K @ sigma - np.diag(K) * sigma)
        i = int(np.argmax(gain))
        if gain[i] <= 1e-15:
            break
        sigma[i] = -sigma[i]
    return (Ua * sigma) @ Ub.T


def _local_search(a, b, C0, gtol: float, maxiter: int):
    """Maximise s(C) from C0 by a trust-region Newton method on the Cayley chart.

    C = C_c (2K - I), K = (I - S)^{-1}, S skew: dC = 2 C_c K dS K, so the gradient in S is the skew
    part of M = 2 K^T C_c^T G K^T with G = a C b^T + a^T C b, and the Hessian-vector product is its
    directional derivative. The chart is re-centred at the result until the Riemannian gradient is
    below ``gtol`` (a chart cannot reach rotations by pi from its centre).
    Returns (C, s, Riemannian gradient norm).
    """
    n = len(a)
    iu = np.triu_indices(n, 1)
    eye = np.eye(n)

    def skew(p):
        S = np.zeros((n, n))
        S[iu] = p
        return S - S.T

    C, iterations = C0, 0
    for _ in range(_MAX_RECENTRES):
        Cc = C

        cache = {}

        def parts(p, Cc=Cc, cache=cache):
            key = p.tobytes()
            if key not in cache:  # the trust-region solver asks for many products at one point
                cache.clear()
                K = np.linalg.inv(eye - skew(p))
                Cp = Cc @ (2.0 * K - eye)
                cache[key] = K, Cp, a @ Cp @ b.T + a.T @ Cp @ b
            return cache[key]

        def fun(p):
            _, Cp, _ = parts(p)
            return -np.sum(a * (Cp @ b @ Cp.T))

        def jac(p, Cc=Cc):
            K, _, G = parts(p)
            M = 2.0 * K.T @ Cc.T @ G @ K.T
            return -(M - M.T)[iu]

        def hessp(p, v, Cc=Cc):
            K, _, G = parts(p)
            dK = K @ skew(v) @ K
            dC = 2.0 * Cc @ dK
            dG = a @ dC @ b.T + a.T @ dC @ b
            CtG = Cc.T @ G
            dM = 2.0 * (dK.T @ CtG @ K.T + K.T @ Cc.T @ dG @ K.T + K.T @ CtG @ dK.T)
            return -(dM - dM.T)[iu]

        res = minimize(
            fun,
            np.zeros(len(iu[0])),
            jac=jac,
            hessp=hessp,
            method="trust-ncg",
            options={"maxiter": max(maxiter - iterations, 1), "gtol": 0.1 * gtol},
        )
        iterations += res.nit
        C = parts(res.x)[1]
        grad = float(np.linalg.norm(_riemannian_grad(a, b, C)))
        if grad <= gtol or iterations >= maxiter:
            break
    return C, float(np.sum(a * (C @ b @ C.T))), grad


def orthogonal_similarity(
    A,
    B,
    *,
    n_starts: int = 1,
    seed=0,
    gtol: float = 1e-6,
    maxiter: int = 500,
) -> ProcrustesResult:
    """Procrustes distance over the orthogonal group between two square matrices.

    Solves min_{C in O(n)} |a - C b C^T|_F for a = A / |A|_F, b = B / |B|_F (Ostrow et al. 2023,
    eq. 4), over both components det C = +1 and det C = -1.

    Parameters
    ----------
    A, B : array_like (n, n)
        The matrices to compare (e.g. DMD matrices); neither may be zero.
    n_starts : int
        Haar-random starts per component, on top of the identity (or reflection) and the spectral
        start.
    seed : int or numpy.random.Generator
        Seeds the random starts.
    gtol : float
        Tolerance on the Riemannian gradient norm for convergence.
    maxiter : int
        Trust-region Newton iterations per start.

    Returns
    -------
    ProcrustesResult
        Angular and Euclidean scores, the optimal C and convergence. Warns (ConvergenceWarning, a
        RuntimeWarning) when the best start did not converge.
    """
    A = as_array(A, "A", ndim=2)
    B = as_array(B, "B", ndim=2)
    if A.shape[0] != A.shape[1] or A.shape != B.shape:
        raise ValueError(
            f"A and B must be square and of the same shape, got {A.shape} and {B.shape}"
        )
    n_starts = as_int(n_starts, "n_starts", minimum=0)
    gtol = as_float(gtol, "gtol", positive=True)
    maxiter = as_int(maxiter, "maxiter", minimum=1)
    rng = as_rng(seed)
    norm_a, norm_b = np.linalg.norm(A), np.linalg.norm(B)
    if norm_a == 0 or norm_b == 0:
        raise ValueError("A and B must be nonzero (the scores compare unit-norm matrices)")
    a, b = A / norm_a, B / norm_b
    n = len(a)

    spectral = _spectral_start(a, b)
    sign = 1 if np.linalg.det(spectral) > 0 else -1
    # the spectral start first: for orthogonally similar matrices it ends the search at once
    starts = {sign: [spectral], -sign: [spectral @ _flip(n)]}
    starts[+1].append(np.eye(n))
    starts[-1].append(_flip(n))
    if n % 2:  # -C gives the same transform as C and has the other determinant
        starts = {+1: [C0 if np.linalg.det(C0) > 0 else -C0 for C0 in starts[sign] + starts[-sign]]}
    for det in starts:
        for _ in range(n_starts if n > 1 else 0):
            Q = ortho_group.rvs(n, random_state=rng) if n > 1 else np.eye(1)
            if np.sign(np.linalg.det(Q)) != det:
                Q = Q @ _flip(n)
            starts[det].append(Q)

    best, per_component = None, {}
    with threadpool_limits(1):
        for det, component in starts.items():
            for C0 in component:
                if n == 1:  # O(1) = {+1, -1}: nothing to optimise
                    C, s, g = C0, float(np.sum(a * b)), 0.0
                else:
                    C, s, g = _local_search(a, b, C0, gtol, maxiter)
                per_component[det] = max(per_component.get(det, -np.inf), s)
                if best is None or s > best[1]:
                    best = (C, s, g)
                if best[1] >= 1.0 - _EXACT:  # s <= 1: a global minimum, nothing left to search
                    break
            if best[1] >= 1.0 - _EXACT:
                break
    C, s, g = best
    s = float(np.clip(s, -1.0, 1.0))
    converged = g <= gtol
    if not converged:
        warnings.warn(
            f"orthogonal_similarity: Riemannian gradient {g:.2e} above gtol={gtol:.1e} after "
            f"maxiter={maxiter}; the score is an upper bound",
            ConvergenceWarning,
            stacklevel=2,
        )
    return ProcrustesResult(
        angular=float(np.arccos(s)),
        euclidean=float(np.sqrt(max(2.0 - 2.0 * s, 0.0))),
        C=C,
        component_angular={
            det: float(np.arccos(np.clip(v, -1.0, 1.0))) for det, v in per_component.items()
        },
        converged=bool(converged),
        grad_norm=g,
    )
