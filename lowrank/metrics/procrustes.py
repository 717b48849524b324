"""Procrustes analysis over vector fields: the orthogonal similarity distance between two matrices.

Ostrow, Eisen, Kozachkov & Fiete (NeurIPS 2023), "Beyond geometry: comparing the temporal structure
of computation in neural circuits with dynamical similarity analysis", eq. 4:

    d(A, B) = min_{C in O(n)} || A - C B C^T ||_F,

computed on matrices normalised to unit Frobenius norm. With a = A / |A|, b = B / |B| and
s(C) = tr(a^T C b C^T), the two scores are

    euclidean = |a - C b C^T|_F = sqrt(2 - 2 s(C)),   angular = arccos s(C) = 2 arcsin(euclidean/2).

The problem is not convex and has many local minima. Three things make the answer honest:

1. Structural starts, which contain the answer for orthogonally similar matrices. If b = Q a Q^T,
   every symmetric matrix built covariantly from a, a^T (here (a + a^T)/2, a a^T and a^T a) obeys
   M(b) = Q M(a) Q^T, so their eigenvector bases satisfy U_b = Q U_a D for a diagonal sign matrix
   D (distinct eigenvalues), and Q = U_a D U_b^T. The signs maximise the quadratic form
   s(U_a D U_b^T) = sigma^T [(U_a^T a U_a) * (U_b^T b U_b)] sigma, found exactly over all 2^(n-1)
   sign patterns (sigma and -sigma give the same transform) for n <= 12, and by the sign of the
   Perron vector plus single-flip ascent from random patterns above (where only the best of the
   three bases, by s(C), is kept on each component).
2. Local searches from those, from the identity (and a reflection) and from Haar-random starts
   on both components of O(n), det C = +1 and det C = -1 (for odd n, -C gives the same transform
   as C and lies in the other component, so one component covers both): Riemannian L-BFGS with
   the Cayley retraction C <- C (I - W/2)^{-1} (I + W/2), W skew-symmetric, and the closed-form
   gradient skew(C^T G), G = a C b^T + a^T C b, compiled (numba), preconditioned for n >= 16 by
   blocks of the Gauss-Newton matrix |[W, T]|^2 in the real Schur basis b = Z T Z^T (one block
   per diagonal block of T: the unknowns W_rj of its rows). The structural starts run first,
   and nothing else runs when they are certified.
3. A certificate: a lower bound on the global minimum. Writing S, K for the symmetric and
   antisymmetric parts, |a - C b C^T|^2 = |S_a - C S_b C^T|^2 + |K_a - C K_b C^T|^2, and
   Hoffman & Wielandt (1953) for the symmetric part and Mirsky (1960) for the antisymmetric part
   (C K_b C^T has the singular values of K_b) give

       min_C |a - C b C^T|_F >= sqrt(|lambda(S_a) - lambda(S_b)|^2 + |sv(K_a) - sv(K_b)|^2)

   (eigenvalues and singular values sorted); Mirsky also gives |sv(a) - sv(b)|, and the larger of
   the two is ``lower_bound``. It is zero for orthogonally similar matrices, and exact for n = 2.

``converged`` means: the best start reached a stationary point (Riemannian gradient below
``gtol``) and that point is either *certified* global (its Euclidean score is within ``tol`` of the
lower bound) or *agreed* (at least two distinct starts reached the same best score within ``tol``;
evidence, not proof, of a global minimum: ``certified`` tells the two apart). Random starts are
added, up to ``max_starts`` local searches in all, until one of the two holds; otherwise a
ConvergenceWarning reports the gap and the score is only an upper bound on the distance. Where
the landscape has many local minima (DMD matrices of rank 50: most starts end at their own
minimum, 1e-5 to 1e-3 apart), the added starts stop early once a capture-recapture estimate
(``_chance_to_confirm``) puts the chance that the remaining ones reach the best score again
below ``futility`` (5%); that search is reported as not converged, with the estimate, like
any other that ends without a certified or agreed optimum.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from numba import njit
from scipy.linalg import schur
from scipy.stats import ortho_group
from threadpoolctl import ThreadpoolController

from .._checks import ConvergenceWarning, as_array, as_float, as_int, as_rng
from .._repr import compact_repr
from ..dynamics.result import SolverReport

__all__ = ["ProcrustesResult", "orthogonal_similarity"]

_MEMORY = 7  # curvature pairs kept by L-BFGS
_ARMIJO = 1e-4  # sufficient-decrease constant of the line search
_MAX_BACKTRACKS = 40
_BLOCK_FROM = 32  # matrix size from which inverses are blocked (matrix products)
_RESYNC = 50  # iterations between forming C^T a C afresh from C
_FIRST_STEP = 0.1  # length of the first (gradient) step
_PRECONDITIONER_FLOOR = 1e-2  # delta of the preconditioner, relative to its largest gap
_PRECONDITION_FROM = 16  # n from which L-BFGS is preconditioned (fewer iterations above)
_EXHAUSTIVE_SIGNS = 12  # enumerate all 2^(n-1) sign patterns up to this size
_SIGN_SAMPLES = 32  # random sign patterns (then single-flip ascent) above it
_SAME_START = 1e-8  # two starts closer than this (up to the sign of C) are one start
# reassociation (vectorised sums) and fused multiply-adds; NaN and inf keep their IEEE meaning, so
# a failing step still fails visibly
_FAST = {"reassoc", "contract"}
_CONTROLLER: list[ThreadpoolController] = []  # created on first use, then reused


def _one_thread():
    """Context manager: the BLAS and OpenMP pools of numpy, scipy and numba at one thread.

    ``threadpool_limits(1)`` scans every loaded shared library on each call (1-15 ms, more
    with torch loaded: up to a tenth of a rank-50 DSA distance); the controller made on the first
    call is reused (the libraries these modules call are loaded with scipy, before it).
    """
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1)


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
        component, once the score is certified.
    converged : bool
        The best start is a stationary point (``grad_norm`` <= gtol) and it is certified or agreed
        (see ``certified`` and ``n_agree``). When False the scores are upper bounds on the
        distance.
    grad_norm : float
        |skew(C^T grad s)|_F at C.
    lower_bound : float
        Certified lower bound on the Euclidean distance min_C |a - C b C^T|_F (see the module
        docstring); ``angular_lower_bound`` = 2 arcsin(lower_bound / 2) bounds the angular score.
    certified : bool
        ``euclidean - lower_bound <= tol``: the score is the global minimum to within ``tol``.
    n_agree : int
        Number of distinct starts whose local search ended within ``tol`` (Euclidean) of the best
        score.
    report : SolverReport
        ``success`` = ``converged``; status 0 converged, 1 the global minimum is not established,
        3 the best start hit ``maxiter``; ``residual`` = ``grad_norm``; ``n_starts`` local
        searches made, ``n_failed`` of them not stationary.
    """

    __repr__ = compact_repr

    angular: float
    euclidean: float
    C: np.ndarray
    component_angular: dict
    converged: bool
    grad_norm: float
    lower_bound: float = 0.0
    certified: bool = False
    n_agree: int = 0
    report: SolverReport | None = field(default=None, repr=False)

    @property
    def angular_lower_bound(self) -> float:
        """Lower bound on the angular score, 2 arcsin(lower_bound / 2)."""
        return _angular(self.lower_bound)

    @property
    def gap(self) -> float:
        """``euclidean - lower_bound`` (>= 0 up to rounding): how far from certified."""
        return self.euclidean - self.lower_bound


def _angular(euclidean: float) -> float:
    """arccos(1 - d^2 / 2) = 2 arcsin(d / 2), accurate near d = 0 (unlike arccos)."""
    return float(2.0 * np.arcsin(min(euclidean / 2.0, 1.0)))


def _unit_pair(A, B) -> tuple[np.ndarray, np.ndarray]:
    A = as_array(A, "A", ndim=2)
    B = as_array(B, "B", ndim=2)
    if A.shape[0] != A.shape[1] or A.shape != B.shape:
        raise ValueError(
            f"A and B must be square and of the same shape, got {A.shape} and {B.shape}"
        )
    norm_a, norm_b = np.linalg.norm(A), np.linalg.norm(B)
    if norm_a == 0 or norm_b == 0:
        raise ValueError("A and B must be nonzero (the scores compare unit-norm matrices)")
    return A / norm_a, B / norm_b


def _lower_bound(a: np.ndarray, b: np.ndarray) -> float:
    """Certified lower bound on min_{C in O(n)} |a - C b C^T|_F (unit-norm a, b), in [0, 2].

    The larger of sqrt(|lambda(S_a) - lambda(S_b)|^2 + |sv(K_a) - sv(K_b)|^2) (symmetric parts S:
    Hoffman & Wielandt 1953; antisymmetric parts K: Mirsky 1960, as C K_b C^T has the singular
    values of K_b; the two parts are orthogonal in the Frobenius inner product) and
    |sv(a) - sv(b)| (Mirsky 1960), eigenvalues and singular values sorted.
    """
    with _one_thread():
        sym = np.linalg.norm(
            np.linalg.eigvalsh(0.5 * (a + a.T)) - np.linalg.eigvalsh(0.5 * (b + b.T))
        )
        skew = np.linalg.norm(
            np.linalg.svd(0.5 * (a - a.T), compute_uv=False)
            - np.linalg.svd(0.5 * (b - b.T), compute_uv=False)
        )
        mirsky = np.linalg.norm(
            np.linalg.svd(a, compute_uv=False) - np.linalg.svd(b, compute_uv=False)
        )
    return float(min(max(np.hypot(sym, skew), mirsky), 2.0))


def _distance(a: np.ndarray, b: np.ndarray, C: np.ndarray) -> float:
    """|a - C b C^T|_F, computed directly (sqrt(2 - 2 s) loses half the digits near 0)."""
    return float(np.linalg.norm(a - C @ b @ C.T))


def _flip(n: int) -> np.ndarray:
    """diag(-1, 1, ..., 1): a reflection, the base point of the det = -1 component."""
    D = np.eye(n)
    D[0, 0] = -1.0
    return D


def _ascend_signs(W: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Single sign flips that increase sigma^T W sigma, best first, for every row of sigma at
    once, until none does."""
    sigma = sigma.copy()
    rows = np.arange(len(sigma))
    for _ in range(4 * W.shape[0]):
        # change of sigma^T W sigma when sigma_i flips: -4 sigma_i sum_{j != i} W_ij sigma_j
        gain = -4.0 * sigma * (sigma @ W - np.diag(W) * sigma)
        best = np.argmax(gain, axis=1)
        up = gain[rows, best] > 1e-15
        if not up.any():
            break
        sigma[rows[up], best[up]] *= -1.0
    return sigma


def _sign_candidates(W: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sign patterns (rows) to try: all with sigma_0 = +1 for small n, else good ones."""
    n = len(W)
    if n <= _EXHAUSTIVE_SIGNS:
        bits = (np.arange(2 ** (n - 1))[:, None] >> np.arange(n - 1)) & 1
        return np.hstack([np.ones((len(bits), 1)), 1.0 - 2.0 * bits])
    # W = D |W| D for similar matrices: the Perron vector of W has the signs of D
    perron = np.linalg.eigh(W)[1][:, -1]
    seeds = np.vstack(
        [np.where(perron >= 0, 1.0, -1.0), np.ones(n), rng.choice([-1.0, 1.0], (_SIGN_SAMPLES, n))]
    )
    return _ascend_signs(W, seeds)


def _structural_starts(a, b, rng, components) -> list[np.ndarray]:
    """C = U_a diag(sigma) U_b^T from eigenbases of covariant symmetric matrices (module doc).

    For each of (a + a^T)/2, a a^T and a^T a and each component of O(n) searched, the sign
    pattern sigma maximising s(C) = sigma^T [(U_a^T a U_a) * (U_b^T b U_b)] sigma. Above
    ``_EXHAUSTIVE_SIGNS`` only the start of each component with the largest s(C) is kept: for
    orthogonally similar matrices a basis with the right signs gives s(C) = 1, the largest value
    there is, and for others the three bases are starts like any other (each costs a local
    search of hundreds of iterations at n = 50).
    """
    n = len(a)
    starts = []
    for f in (lambda m: 0.5 * (m + m.T), lambda m: m @ m.T, lambda m: m.T @ m):
        _, Ua = np.linalg.eigh(f(a))
        _, Ub = np.linalg.eigh(f(b))
        W = (Ua.T @ a @ Ua) * (Ub.T @ b @ Ub)
        W = 0.5 * (W + W.T)
        signs = _sign_candidates(W, rng)
        values = np.einsum("pi,ij,pj->p", signs, W, signs)
        det = np.sign(np.linalg.det(Ua) * np.linalg.det(Ub)) * np.prod(signs, axis=1)
        for component in components:
            # odd n: sigma and -sigma have opposite determinants and give the same transform
            mask = det == component if n % 2 == 0 else np.ones(len(signs), dtype=bool)
            if not mask.any():  # only when sampling: flip the cheapest sign of the best pattern
                sigma = signs[int(np.argmax(values))].copy()
                loss = 4.0 * sigma * (W @ sigma - np.diag(W) * sigma)
                sigma[int(np.argmin(loss))] *= -1.0
            else:
                sigma = signs[mask][int(np.argmax(values[mask]))]
            C0 = (Ua * sigma) @ Ub.T
            starts.append(C0 if np.linalg.det(C0) * component > 0 else -C0)
    if n <= _EXHAUSTIVE_SIGNS:
        return starts
    value = [np.sum(a * (C @ b @ C.T)) for C in starts]
    m = len(components)  # starts[i] lies on components[i % m]
    return [starts[c + m * int(np.argmax(value[c::m]))] for c in range(m)]


@njit(cache=True, fastmath=_FAST)
def _objective(M, b, bT):
    """-s and its left-trivialised gradient as a vector, from M = C^T a C (bT = b^T).

    d/dt -s(C cay(t W)) at t = 0 is -<skew(C^T G), W> with G = a C b^T + a^T C b the Euclidean
    gradient of s, and C^T G = M b^T + M^T b = M b^T + (b^T M)^T (two products). The skew matrix
    is stored as sqrt(2) times its strictly upper entries, an isometry from skew-symmetric
    matrices (Frobenius norm) to vectors.
    """
    n = len(M)
    E = M @ bT - bT @ M  # C^T G - (C^T G)^T = E - E^T, since M^T b = (b^T M)^T
    g = np.empty(n * (n - 1) // 2)
    s = 0.0
    scale = 1.0 / np.sqrt(2.0)
    k = 0
    for i in range(n):
        for j in range(n):
            s += M[i, j] * b[i, j]
        for j in range(i + 1, n):  # the order of np.triu_indices(n, 1)
            g[k] = (E[j, i] - E[i, j]) * scale
            k += 1
    return -s, g


@njit(cache=True)
def _evaluate(a, b, C):
    """-s(C) and its gradient (``_objective``), with M = C^T a C formed from C."""
    M = np.ascontiguousarray(C.T) @ (a @ C)
    return _objective(M, b, np.ascontiguousarray(b.T))


@njit(cache=True, fastmath=_FAST)
def _eliminate(B):
    """B^{-1} by Gauss-Jordan elimination without pivoting, for B with a positive definite
    symmetric part (``_inverse``). The right-hand side I stays lower triangular during the
    forward sweep, so the inverse costs about n^3 multiply-adds. B is overwritten."""
    n = len(B)
    R = np.eye(n)
    for k in range(n):  # forward elimination; row k of R is zero right of column k
        pivot = 1.0 / B[k, k]
        for i in range(k + 1, n):
            factor = B[i, k] * pivot
            if factor != 0.0:
                for j in range(k + 1, n):
                    B[i, j] -= factor * B[k, j]
                for j in range(k + 1):
                    R[i, j] -= factor * R[k, j]
    for k in range(n - 1, -1, -1):  # back substitution
        pivot = 1.0 / B[k, k]
        for j in range(n):
            R[k, j] *= pivot
        for i in range(k):
            factor = B[i, k]
            for j in range(n):
                R[i, j] -= factor * R[k, j]
    return R


@njit(cache=True)
def _inverse(B):
    """B^{-1} for B with a positive definite symmetric part, without pivoting.

    Gaussian elimination without pivoting is stable for such matrices (Golub & Van Loan 1979,
    "Unsymmetric positive definite linear systems", Linear Algebra Appl. 28: the growth is
    bounded in terms of |I + K^T S^{-1} K|_2 for B = S + K). From ``_BLOCK_FROM`` rows on, the
    2 x 2 block inverse (most of the work in five matrix products), with the inverses of the
    diagonal blocks again by ``_inverse``: X = B11^{-1}, L = B21 X, U = X B12, S = B22 - B21 U
    (the Schur complement, whose symmetric part is again positive definite), and

        B^{-1} = [[X + U S^{-1} L, -U S^{-1}], [-S^{-1} L, S^{-1}]].

    B may be overwritten.
    """
    n = len(B)
    if n < _BLOCK_FROM:
        return _eliminate(B)
    h = n // 2
    X = _inverse(np.ascontiguousarray(B[:h, :h]))
    B12, B21 = np.ascontiguousarray(B[:h, h:]), np.ascontiguousarray(B[h:, :h])
    L, U = B21 @ X, X @ B12
    Si = _inverse(np.ascontiguousarray(B[h:, h:]) - B21 @ U)
    R21 = Si @ L
    R = np.empty((n, n))
    R[:h, h:] = -(U @ Si)
    R[h:, :h] = -R21
    R[:h, :h] = X + U @ R21
    R[h:, h:] = Si
    return R


@njit(cache=True)
def _cayley(n, p):
    """cay(W) = (I - W/2)^{-1} (I + W/2) = 2 (I - W/2)^{-1} - I, W the n x n skew matrix of p.

    One inverse of I - W/2, whose symmetric part is the identity (``_inverse``).
    """
    B = np.empty((n, n))  # I - W/2
    half = 1.0 / np.sqrt(8.0)  # p holds sqrt(2) W_ij
    k = 0
    for i in range(n):
        B[i, i] = 1.0
        for j in range(i + 1, n):  # the order of np.triu_indices(n, 1)
            B[i, j] = -p[k] * half
            k += 1
    for i in range(n):
        for j in range(i):
            B[i, j] = -B[j, i]
    Q = _inverse(B)
    for i in range(n):
        for j in range(n):
            Q[i, j] *= 2.0
        Q[i, i] -= 1.0
    return Q


@njit(cache=True, fastmath=_FAST)
def _apply(bounds, data, v):
    """P v for the block-diagonal matrix P of ``_preconditioner`` (blocks on the entries
    bounds[k]:bounds[k + 1] of v, stored one after the other, row-major, in data; one
    matrix-vector product each, as explicit loops: a BLAS call per block costs more than its
    arithmetic); v itself when P is empty."""
    if len(bounds) == 0:
        return v.copy()
    out = np.empty_like(v)
    at = 0
    for k in range(len(bounds) - 1):
        lo, size = bounds[k], bounds[k + 1] - bounds[k]
        block = data[at : at + size * size].reshape((size, size))
        part = v[lo : lo + size]
        for i in range(size):
            acc = 0.0
            for j in range(size):
                acc += block[i, j] * part[j]
            out[lo + i] = acc
        at += size * size
    return out


@njit(cache=True, fastmath=_FAST)
def _direction(g, Pg, S, Y, PY, rho, head, gamma):
    """L-BFGS two-loop recursion: -H g with H0 = gamma P, from Pg = P g and PY[i] = P Y[i].

    In the first loop q = g - sum_i alpha_i y_i, so H0 q = gamma (P g - sum_i alpha_i P y_i):
    with P y_i stored beside y_i, P is applied once per iteration (to the new gradient) and not
    inside the recursion. Pairs with rho = 0 are empty or skipped; the newest pair sits before
    ``head`` (cyclic). Explicit loops (no temporaries), compiled with reassociation so that the
    sums vectorise.
    """
    memory, m = S.shape
    alpha = np.zeros(memory)
    q = g.copy()
    r = Pg.copy()
    for j in range(memory):
        slot = (head - 1 - j) % memory
        if rho[slot] != 0.0:
            acc = 0.0
            for k in range(m):
                acc += S[slot, k] * q[k]
            alpha[slot] = rho[slot] * acc
            for k in range(m):
                q[k] -= alpha[slot] * Y[slot, k]
                r[k] -= alpha[slot] * PY[slot, k]
    for k in range(m):
        r[k] *= gamma
    for j in range(memory - 1, -1, -1):
        slot = (head - 1 - j) % memory
        if rho[slot] != 0.0:
            acc = 0.0
            for k in range(m):
                acc += Y[slot, k] * r[k]
            step = alpha[slot] - rho[slot] * acc
            for k in range(m):
                r[k] += step * S[slot, k]
    return -r


@njit(cache=True)
def _lbfgs(a, b, C, gtol, maxiter, bounds, data):
    """Riemannian L-BFGS from one start (see ``_local_searches``): (C, |grad|, nit, nfev).

    The iterate is carried as C and M = C^T a C: a trial point C cay(W) needs only
    M' = cay(W)^T M cay(W) (two products) for its value and gradient, and C itself is updated
    on acceptance. M is formed again from C every ``_RESYNC`` iterations and before the
    gradient test that ends the search, so rounding cannot accumulate and the returned gradient
    norm is that of the returned C.
    """
    n = len(a)
    bT = np.ascontiguousarray(b.T)
    M = np.ascontiguousarray(C.T) @ (a @ C)
    f, g = _objective(M, b, bT)
    nfev, nit = 1, 0
    S = np.zeros((_MEMORY, len(g)))
    Y = np.zeros_like(S)
    PY = np.zeros_like(S)
    rho = np.zeros(_MEMORY)  # 0 marks an empty or skipped pair
    Pg = _apply(bounds, data, g)
    gamma = _FIRST_STEP / max(np.sqrt(np.dot(Pg, Pg)), 1e-300)
    head = 0
    gnorm = np.sqrt(np.dot(g, g))
    fresh = True  # M, f, g formed from C (not updated through cay(W)) since the last step
    stuck = False
    while nit < maxiter:
        if gnorm <= gtol or nit % _RESYNC == 0:
            if not fresh:
                M = np.ascontiguousarray(C.T) @ (a @ C)
                f, g = _objective(M, b, bT)
                Pg = _apply(bounds, data, g)
                gnorm = np.sqrt(np.dot(g, g))
                fresh = True
            if gnorm <= gtol:
                break
        p = _direction(g, Pg, S, Y, PY, rho, head, gamma)
        slope = np.dot(g, p)
        if slope >= 0.0:  # forget the curvature pairs and take a gradient step
            rho[:] = 0.0
            p = -gamma * Pg
            slope = np.dot(g, p)
        t = 1.0
        accepted = False
        for _ in range(_MAX_BACKTRACKS):
            Q = _cayley(n, t * p)
            M_try = np.ascontiguousarray(Q.T) @ (M @ Q)
            f_try, g_try = _objective(M_try, b, bT)
            nfev += 1
            # Armijo, with a rounding allowance of a few ulps of f
            if f_try <= f + _ARMIJO * t * slope + 1e-15 * abs(f):
                accepted = True
                break
            t *= 0.5
        if not accepted:  # no decrease found: stop there, the gradient reports the failure
            stuck = True
            break
        s, y = t * p, g_try - g
        Pg_try = _apply(bounds, data, g_try)
        sy = np.dot(s, y)
        rho[head] = 0.0
        if sy > 1e-12 * np.sqrt(np.dot(s, s) * np.dot(y, y)):
            S[head] = s
            Y[head] = y
            PY[head] = Pg_try - Pg
            rho[head] = 1.0 / sy
            # Nocedal & Wright's scaling gamma = s^T y / y^T P y (measured median gamma 0.12 at
            # n = 20, 0.25 at n = 50: with gamma = 1 most iterations needed a backtrack)
            gamma = sy / max(np.dot(y, PY[head]), 1e-300)
        head = (head + 1) % _MEMORY
        C = C @ Q
        M, f, g, Pg = M_try, f_try, g_try, Pg_try
        gnorm = np.sqrt(np.dot(g, g))
        fresh = False
        nit += 1
    if not fresh:  # stopped by maxiter or the line search: the gradient of the returned C
        f, g = _evaluate(a, b, C)
        gnorm = np.sqrt(np.dot(g, g))
    return C, gnorm, max(maxiter, 1) if stuck else nit, nfev


def _schur_blocks(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First index and size (1 or 2) of each diagonal block of a real Schur form T."""
    first, size = [], []
    i = 0
    while i < len(T):
        two = i + 1 < len(T) and T[i + 1, i] != 0.0
        first.append(i)
        size.append(2 if two else 1)
        i += 2 if two else 1
    return np.array(first), np.array(size)


@njit(cache=True)
def _gauss_newton_block(T, K, first, last, delta):
    """The block of G + delta I on the unknowns W_rj (first <= r < last, j > r, in the order of
    np.triu_indices), G_(ij),(kl) = <[E_ij, T], [E_kl, T]> for the unit skew matrices
    E_ij = (e_i e_j^T - e_j e_i^T) / sqrt(2): with K = T T^T + T^T T (given),

        G_(ij),(kl) = (d_ik K_jl - d_il K_jk - d_jk K_il + d_jl K_ik) / 2
                      + T_il T_jk - T_ik T_jl + T_li T_kj - T_ki T_lj

    (the sixteen inner products of the rank-one terms of [E, T] = E T - T E)."""
    n = len(T)
    size = 0
    for r in range(first, last):
        size += n - 1 - r
    ri, ci = np.empty(size, np.int64), np.empty(size, np.int64)
    u = 0
    for r in range(first, last):
        for j in range(r + 1, n):
            ri[u], ci[u] = r, j
            u += 1
    G = np.empty((size, size))
    for u in range(size):
        i, j = ri[u], ci[u]
        for w in range(size):
            k, l = ri[w], ci[w]
            g = T[i, l] * T[j, k] - T[i, k] * T[j, l] + T[l, i] * T[k, j] - T[k, i] * T[l, j]
            if i == k:
                g += 0.5 * K[j, l]
            if i == l:
                g -= 0.5 * K[j, k]
            if j == k:
                g -= 0.5 * K[i, l]
            if j == l:
                g += 0.5 * K[i, k]
            G[u, w] = g
        G[u, u] += delta
    return G


def _preconditioner(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Approximate inverse Hessian of -s(C cay(W)) near a minimum, a block-diagonal symmetric
    matrix acting on the vectors of skew matrices (``_objective``), for b = T in real Schur form
    (quasi-upper-triangular).

    Near a minimum C^T a C ~ T, and the Hessian quadratic form <[W, C^T a C], [W, T]> is close to
    the Gauss-Newton form |[W, T]|^2 = w^T G w (entries of G: ``_gauss_newton_block``). The
    preconditioner is (G_B + delta I)^{-1}, G_B the blocks of G that couple the unknowns W_rj
    (j > r) of the rows r of one diagonal block of T (1 or 2 rows; contiguous in the vector),
    and delta = 1e-2 max |lambda_i - lambda_j|^2 over the eigenvalues of T, which bounds it where
    eigenvalues (nearly) coincide (directions that commute with T cost nothing). The whole of T
    enters G, not only its diagonal blocks: the non-normal part of DMD matrices (their strictly
    upper Schur part) shapes the landscape (measured at n = 50: a third fewer iterations than
    with the blocks of W_IJ alone and the diagonal blocks of T). One application costs the sum
    of the squared block sizes, about 2 n^3 / 3 multiply-adds (block matrix-vector products).
    Returns (bounds, data) for ``_apply``.
    """
    n = len(T)
    first, size = _schur_blocks(T)
    blocks = [T[f : f + s, f : f + s] for f, s in zip(first, size, strict=True)]
    lam = np.concatenate([np.linalg.eigvals(block) for block in blocks])
    gap = np.max(np.abs(lam[:, None] - lam[None, :]) ** 2)
    delta = _PRECONDITIONER_FLOOR * gap if gap > 0 else 1.0
    start = np.concatenate([[0], np.cumsum(np.arange(n - 1, 0, -1))])  # vector index of W_r,r+1
    K = T @ T.T + T.T @ T
    bounds, data = [0], []
    for f, s in zip(first, size, strict=True):
        if f == n - 1:  # the last row has no unknowns
            continue
        data.append(np.linalg.inv(_gauss_newton_block(T, K, f, f + s, delta)).ravel())
        bounds.append(start[f + s] if f + s < n else n * (n - 1) // 2)
    return np.array(bounds, dtype=np.int64), np.concatenate(data)


def _search_setup(b: np.ndarray):
    """(b in the search's basis, that basis or None, the preconditioner (``_apply``)): for
    n >= ``_PRECONDITION_FROM`` the real Schur form T of b = Z T Z^T, Z and
    ``_preconditioner(T)``, else b itself, no basis and an empty matrix (no preconditioner).
    Computed once per pair."""
    if len(b) < _PRECONDITION_FROM:
        return np.ascontiguousarray(b), None, (np.zeros(0, dtype=np.int64), np.zeros(0))
    T, basis = schur(b, output="real")
    T = np.ascontiguousarray(T)
    return T, basis, _preconditioner(T)


def _local_searches(a, b, C0: np.ndarray, gtol: float, maxiter: int, setup=None):
    """Maximise s(C) from each start C0[k] by Riemannian L-BFGS on O(n).

    Limited-memory BFGS (Nocedal & Wright 2006, alg. 7.4) in the left-trivialised coordinates
    C <- C cay(W), W skew (Absil, Mahony & Sepulchre 2008, ch. 4 and 8.1; the Cayley map is a
    retraction that keeps C exactly orthogonal without expm), with an Armijo backtracking line
    search; curvature pairs with s^T y <= 0 are skipped. The initial inverse Hessian of each
    update is gamma P with P = ``_preconditioner`` for n >= 16 (measured: 2-5x fewer iterations
    at n = 20-50, more at n = 8), else the identity, and gamma = s^T y / y^T P y of the latest
    pair (Nocedal & Wright eq. 7.20 for P = I). With P the problem is solved in the real Schur
    basis of b = Z T Z^T: s(C) = tr(a^T C' T C'^T) with C' = C Z, where P is block-diagonal
    (one block per diagonal block of T); the Cayley steps of C' are those of C in the rotated
    coordinates Z W Z^T, so gradient norms (and ``gtol``) are unchanged. The first step has
    length ``_FIRST_STEP``. Each start runs in a compiled loop (``_lbfgs``) that carries
    M = C^T a C with C: per trial step one inverse of I - W/2 (``_cayley``, mostly in matrix
    products), M' = cay(W)^T M cay(W), b^T M' and M' b^T (four products), one product C cay(W)
    when the step is accepted, one application of P and O(n^2) vector work, no interpreter
    overhead.
    A start stops when its Riemannian gradient |skew(C^T G)| is below ``gtol``, after ``maxiter``
    iterations, or when the line search finds no decrease (then its gradient, above ``gtol``,
    reports the failure).
    ``setup`` is ``_search_setup(b)`` when the caller has it already.
    Returns (C, Riemannian gradient norms, iterations, function evaluations), one entry per start.
    """
    k = len(C0)
    b, basis, prec = _search_setup(b) if setup is None else setup
    if basis is not None:
        C0 = C0 @ basis
    a = np.ascontiguousarray(a)
    out_C = np.empty_like(C0)
    out_g = np.empty(k)
    nit, nfev = np.zeros(k, dtype=int), np.zeros(k, dtype=int)
    for i in range(k):
        out_C[i], out_g[i], nit[i], nfev[i] = _lbfgs(
            a, b, np.ascontiguousarray(C0[i]), gtol, maxiter, *prec
        )
    return (out_C if basis is None else out_C @ basis.T), out_g, nit, nfev


def _distinct(runs, tol: float) -> int:
    """Number of distinct scores among the local searches (sorted scores more than tol apart)."""
    d = np.sort([run[0] for run in runs])
    return int(1 + np.sum(np.diff(d) > tol))


def _chance_to_confirm(distances, tol: float, remaining: int) -> float:
    """Estimated probability that ``remaining`` more random starts reach the best score again.

    A capture-recapture (birthday) estimate over k local searches: if the landscape had N local
    minima with equal basins, the expected number of pairs of searches ending at the same
    minimum would be k (k - 1) / (2 N); with c such pairs (scores within ``tol``),
    N ~ k (k - 1) / (2 max(c, 1)) (with c = 0, the N at which one coincidence is expected: a
    conservative, small estimate). The best score found is the global one with probability
    about min(1, k / N), and each new start reaches a given minimum with probability 1 / N, so

        P ~ min(1, k / N) [1 - (1 - 1/N)^remaining].

    It is a stopping heuristic for the random extension of the search, never a convergence
    criterion: when it stops the search, the result is reported as not converged.
    """
    d = np.asarray(distances)
    k = len(d)
    coincident = (np.sum(np.abs(d[:, None] - d[None, :]) <= tol) - k) / 2
    minima = max(k * (k - 1) / (2.0 * max(coincident, 1.0)), 1.0)
    return min(1.0, k / minima) * (1.0 - (1.0 - 1.0 / minima) ** remaining)


def _haar(n: int, component: int, rng: np.random.Generator) -> np.ndarray:
    Q = ortho_group.rvs(n, random_state=rng)
    return Q if np.sign(np.linalg.det(Q)) == component else Q @ _flip(n)


def orthogonal_similarity(
    A,
    B,
    *,
    n_starts: int = 1,
    seed=0,
    gtol: float = 1e-6,
    maxiter: int = 5000,
    tol: float = 1e-6,
    max_starts: int = 20,
    futility: float = 0.05,
) -> ProcrustesResult:
    """Procrustes distance over the orthogonal group between two square matrices.

    Solves min_{C in O(n)} |a - C b C^T|_F for a = A / |A|_F, b = B / |B|_F (Ostrow et al. 2023,
    eq. 4), over both components det C = +1 and det C = -1, with a certified lower bound and a
    global check (see the module docstring).

    Parameters
    ----------
    A, B : array_like (n, n)
        The matrices to compare (e.g. DMD matrices); neither may be zero.
    n_starts : int
        Haar-random starts per component, on top of the structural starts and the identity (or
        reflection).
    seed : int or numpy.random.Generator
        Seeds the random starts.
    gtol : float
        Tolerance on the Riemannian gradient norm for local convergence.
    maxiter : int
        Riemannian L-BFGS iterations per start.
    tol : float
        Tolerance on the Euclidean score of the global check: the gap to the lower bound that
        certifies a global minimum, and the spread within which two starts agree.
    max_starts : int
        The planned starts (structural, identity, ``n_starts`` random) all run unless one is
        certified; when they give neither a certified nor an agreed best score, Haar-random starts
        (one per component at a time) are added until one of the two holds, ``max_starts`` local
        searches have been made, or the estimated chance that the remaining ones reach the best
        score again falls below ``futility`` (many local minima; see the module docstring).
    futility : float
        In [0, 1): the added random starts stop when the capture-recapture estimate of the chance
        that the remaining ones (up to ``max_starts``) reach the best score again is below this;
        such a search is reported as not converged. 0 runs all ``max_starts`` local searches
        (more starts can still lower the upper bound).

    Returns
    -------
    ProcrustesResult
        Angular and Euclidean scores, the best C, the lower bound and convergence.

    Warns
    -----
    ConvergenceWarning
        (a RuntimeWarning) when not ``converged``: the best start hit ``maxiter`` before its
        Riemannian gradient fell below ``gtol``, or its score is neither certified nor reached by
        a second start; the message gives the gap to the lower bound. The scores are then upper
        bounds on the distance.
    """
    a, b = _unit_pair(A, B)
    n_starts = as_int(n_starts, "n_starts", minimum=0)
    gtol = as_float(gtol, "gtol", positive=True)
    maxiter = as_int(maxiter, "maxiter", minimum=1)
    tol = as_float(tol, "tol", positive=True)
    max_starts = as_int(max_starts, "max_starts", minimum=1)
    futility = as_float(futility, "futility", minimum=0.0)
    if futility >= 1.0:
        raise ValueError(f"futility must be in [0, 1), got {futility}")
    rng = as_rng(seed)
    n = len(a)
    components = (1, -1) if n % 2 == 0 else (1,)
    lower = _lower_bound(a, b)

    runs = []  # (distance, grad, component, C) of every local search

    def certified() -> bool:
        return min(run[0] for run in runs) - lower <= tol

    def agreeing() -> int:
        best = min(run[0] for run in runs)
        return sum(run[0] <= best + tol for run in runs)

    tried = []
    nit = nfev = 0
    futile = None  # the estimated chance of confirming the best, when the extension gave up

    def search(batch) -> None:
        """Local searches from the new starts of ``batch``, all at once."""
        nonlocal nit, nfev
        new = []
        for C0 in batch:
            if not any(
                min(np.abs(C0 - T).max(), np.abs(C0 + T).max()) < _SAME_START for T in tried + new
            ):
                new.append(C0)  # else the same start again
        if not new:
            return
        tried.extend(new)
        Cs, grads, its, evs = _local_searches(a, b, np.array(new), gtol, maxiter, setup)
        nit, nfev = nit + int(its.sum()), nfev + int(evs.sum())
        for C, g in zip(Cs, grads, strict=True):
            runs.append((_distance(a, b, C), float(g), int(np.sign(np.linalg.det(C))), C))

    with _one_thread():
        if n == 1:  # O(1) = {+1, -1}: C b C^T = b, nothing to optimise
            runs.append((_distance(a, b, np.eye(1)), 0.0, 1, np.eye(1)))
        else:
            setup = _search_setup(b)  # Schur form and preconditioner, once per pair
            # the structural starts first: when they are certified nothing else runs
            search(_structural_starts(a, b, rng, components))
            if not certified():
                search(
                    [np.eye(n) if c > 0 else _flip(n) for c in components]
                    + [_haar(n, c, rng) for c in components for _ in range(n_starts)]
                )
            while not certified() and agreeing() < 2 and len(tried) < max_starts:
                chance = _chance_to_confirm([run[0] for run in runs], tol, max_starts - len(tried))
                if chance < futility:
                    futile = chance
                    break
                # one start per component between checks: the rule is checked after every
                # round, so no start runs once its estimate has fallen below futility
                extra = min(len(components), max_starts - len(tried))
                search(
                    [
                        _haar(n, components[(len(tried) + i) % len(components)], rng)
                        for i in range(extra)
                    ]
                )

    d, g, _, C = min(runs, key=lambda run: run[0])
    is_certified = d - lower <= tol
    n_agree = agreeing()
    per_component = {}
    for run in runs:
        key = run[2] if n % 2 == 0 else 1
        per_component[key] = min(per_component.get(key, np.inf), run[0])
    failed = [run[1] for run in runs if run[1] > gtol]
    if g > gtol:
        status = 3
        message = (
            f"orthogonal_similarity: Riemannian gradient {g:.2e} above gtol={gtol:.1e} after "
            f"maxiter={maxiter}; the score is an upper bound (Euclidean {d:.6g}, "
            f"gap {d - lower:.2e} to the lower bound {lower:.6g}) - raise maxiter"
        )
    elif is_certified or n_agree >= 2:
        status = 0
        how = (
            f"certified global: gap {d - lower:.2e} <= tol={tol:.1e} to the lower bound"
            if is_certified
            else f"{n_agree} of {len(runs)} starts agree; the gap {d - lower:.2e} to the lower "
            f"bound {lower:.6g} is not closed, so global optimality is not certified"
        )
        message = f"orthogonal_similarity: converged ({how})"
    else:
        status = 1
        others = sorted(run[0] for run in runs)[1:2]
        message = (
            f"orthogonal_similarity: global minimum not established: the best Euclidean score "
            f"{d:.6g} exceeds the lower bound {lower:.6g} by gap {d - lower:.2e} > tol="
            f"{tol:.1e} and no other of the {len(runs)} starts reached it"
            + (f" (next best {others[0]:.6g})" if others else "")
            + (
                f"; they ended at {_distinct(runs, tol)} distinct local minima, so the chance "
                f"that the {max_starts - len(runs)} further starts max_starts allows reach the "
                f"best again is estimated at {futile:.1%} < futility={futility:g} and they were "
                "not run (futility=0 runs them)"
                if futile is not None
                else ""
            )
            + "; the score is an upper bound - raise n_starts or max_starts"
        )
    report = SolverReport(
        success=status == 0,
        status=status,
        message=message,
        nit=nit,
        nfev=nfev,
        residual=g,
        n_starts=len(runs),
        n_failed=len(failed),
        failed_residual=min(failed, default=np.inf),
        tol=gtol,
    )
    if status:
        warnings.warn(message, ConvergenceWarning, stacklevel=2)
    return ProcrustesResult(
        angular=_angular(d),
        euclidean=d,
        C=C,
        component_angular={det: _angular(v) for det, v in per_component.items()},
        converged=status == 0,
        grad_norm=g,
        lower_bound=lower,
        certified=bool(is_certified),
        n_agree=int(n_agree),
        report=report,
    )
