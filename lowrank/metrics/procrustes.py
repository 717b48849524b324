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
   Perron vector plus single-flip ascent from random patterns above.
2. Local trust-region Newton searches from those, from the identity (and a reflection) and from
   Haar-random starts on both components of O(n), det C = +1 and det C = -1 (for odd n, -C gives
   the same transform as C and lies in the other component, so one component covers both), each
   on the Cayley chart C = C_0 (I - S)^{-1} (I + S) over skew-symmetric S, re-centred when needed.
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
ConvergenceWarning reports the gap and the score is only an upper bound on the distance.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.stats import ortho_group
from threadpoolctl import threadpool_limits

from .._checks import ConvergenceWarning, as_array, as_float, as_int, as_rng
from .._repr import compact_repr
from ..dynamics.result import SolverReport

__all__ = ["ProcrustesResult", "orthogonal_similarity"]

_MAX_RECENTRES = 20
_EXHAUSTIVE_SIGNS = 12  # enumerate all 2^(n-1) sign patterns up to this size
_SIGN_SAMPLES = 32  # random sign patterns (then single-flip ascent) above it
_SAME_START = 1e-8  # two starts closer than this (up to the sign of C) are one start


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
    with threadpool_limits(1):
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


def _riemannian_grad(a: np.ndarray, b: np.ndarray, C: np.ndarray) -> np.ndarray:
    """skew(C^T G) with G = a C b^T + a^T C b the Euclidean gradient of s(C)."""
    M = C.T @ (a @ C @ b.T + a.T @ C @ b)
    return 0.5 * (M - M.T)


def _ascend_signs(W: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Single sign flips that increase sigma^T W sigma, best first, until none does."""
    sigma = sigma.copy()
    for _ in range(4 * len(W)):
        # change of sigma^T W sigma when sigma_i flips: -4 sigma_i sum_{j != i} W_ij sigma_j
        gain = -4.0 * sigma * (W @ sigma - np.diag(W) * sigma)
        i = int(np.argmax(gain))
        if gain[i] <= 1e-15:
            break
        sigma[i] = -sigma[i]
    return sigma


def _sign_candidates(W: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sign patterns (rows) to try: all with sigma_0 = +1 for small n, else good ones."""
    n = len(W)
    if n <= _EXHAUSTIVE_SIGNS:
        bits = (np.arange(2 ** (n - 1))[:, None] >> np.arange(n - 1)) & 1
        return np.hstack([np.ones((len(bits), 1)), 1.0 - 2.0 * bits])
    # W = D |W| D for similar matrices: the Perron vector of W has the signs of D
    perron = np.linalg.eigh(W)[1][:, -1]
    seeds = [np.where(perron >= 0, 1.0, -1.0), np.ones(n)]
    seeds += list(rng.choice([-1.0, 1.0], size=(_SIGN_SAMPLES, n)))
    return np.array([_ascend_signs(W, s) for s in seeds])


def _structural_starts(a, b, rng, components) -> list[np.ndarray]:
    """C = U_a diag(sigma) U_b^T from eigenbases of covariant symmetric matrices (module doc).

    For each of (a + a^T)/2, a a^T and a^T a and each component of O(n) searched, the sign
    pattern sigma maximising s(C) = sigma^T [(U_a^T a U_a) * (U_b^T b U_b)] sigma.
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
    return starts


def _local_search(a, b, C0, gtol: float, maxiter: int):
    """Maximise s(C) from C0 by a trust-region Newton method on the Cayley chart.

    C = C_c (2K - I), K = (I - S)^{-1}, S skew: dC = 2 C_c K dS K, so the gradient in S is the skew
    part of M = 2 K^T C_c^T G K^T with G = a C b^T + a^T C b, and the Hessian-vector product is its
    directional derivative. The chart is re-centred at the result until the Riemannian gradient is
    below ``gtol`` (a chart cannot reach rotations by pi from its centre).
    Returns (C, Riemannian gradient norm, iterations, function evaluations).
    """
    n = len(a)
    iu = np.triu_indices(n, 1)
    eye = np.eye(n)

    def skew(p):
        S = np.zeros((n, n))
        S[iu] = p
        return S - S.T

    C, iterations, evaluations = C0, 0, 0
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
        evaluations += res.nfev
        C = parts(res.x)[1]
        grad = float(np.linalg.norm(_riemannian_grad(a, b, C)))
        if grad <= gtol or iterations >= maxiter:
            break
    return C, grad, iterations, evaluations


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
    maxiter: int = 500,
    tol: float = 1e-6,
    max_starts: int = 20,
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
        Trust-region Newton iterations per start.
    tol : float
        Tolerance on the Euclidean score of the global check: the gap to the lower bound that
        certifies a global minimum, and the spread within which two starts agree.
    max_starts : int
        The planned starts (structural, identity, ``n_starts`` random) all run unless one is
        certified; when they give neither a certified nor an agreed best score, Haar-random starts
        (alternating components) are added until one of the two holds or ``max_starts`` local
        searches have been made.

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
    with threadpool_limits(1):
        if n == 1:  # O(1) = {+1, -1}: C b C^T = b, nothing to optimise
            runs.append((_distance(a, b, np.eye(1)), 0.0, 1, np.eye(1)))
            plan = []
        else:
            structural = _structural_starts(a, b, rng, components)
            structural.sort(key=lambda C0: _distance(a, b, C0))
            plan = structural + [np.eye(n) if c > 0 else _flip(n) for c in components]
            plan += [_haar(n, c, rng) for c in components for _ in range(n_starts)]
        k = 0
        while not (runs and certified()):
            if k < len(plan):
                C0 = plan[k]
            elif agreeing() < 2 and len(tried) < max_starts:
                C0 = _haar(n, components[len(tried) % len(components)], rng)
            else:
                break
            k += 1
            if any(min(np.abs(C0 - T).max(), np.abs(C0 + T).max()) < _SAME_START for T in tried):
                continue  # the same start again
            tried.append(C0)
            C, g, it, ev = _local_search(a, b, C0, gtol, maxiter)
            nit, nfev = nit + it, nfev + ev
            runs.append((_distance(a, b, C), g, int(np.sign(np.linalg.det(C))), C))

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
