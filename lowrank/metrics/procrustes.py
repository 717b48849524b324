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
2. Local searches from those, from the identity (and a reflection) and from Haar-random starts
   on both components of O(n), det C = +1 and det C = -1 (for odd n, -C gives the same transform
   as C and lies in the other component, so one component covers both): Riemannian L-BFGS with
   the Cayley retraction C <- C (I - W/2)^{-1} (I + W/2), W skew-symmetric, and the closed-form
   gradient skew(C^T G), G = a C b^T + a^T C b; all starts of a stage advance together
   (vectorised). The structural starts run first, and nothing else runs when they are certified.
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
from scipy.linalg import schur
from scipy.stats import ortho_group
from threadpoolctl import threadpool_limits

from .._checks import ConvergenceWarning, as_array, as_float, as_int, as_rng
from .._repr import compact_repr
from ..dynamics.result import SolverReport

__all__ = ["ProcrustesResult", "orthogonal_similarity"]

_MEMORY = 10  # curvature pairs kept by L-BFGS
_ARMIJO = 1e-4  # sufficient-decrease constant of the line search
_MAX_BACKTRACKS = 40
_FIRST_STEP = 0.1  # length of the first (gradient) step
_PRECONDITIONER_FLOOR = 1e-2  # delta of the preconditioner, relative to its largest gap
_PRECONDITION_FROM = 16  # n from which L-BFGS is preconditioned (fewer iterations above)
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


def _skew_upper(M: np.ndarray, iu) -> np.ndarray:
    """sqrt(2) times the strictly upper entries of skew(M) = (M - M^T)/2, for a batch (k, n, n).

    The map is an isometry from skew-symmetric matrices (Frobenius norm) to vectors; ``iu`` holds
    the flat indices of the strictly upper and the mirrored lower entries.
    """
    flat = M.reshape(len(M), -1)
    return (flat[:, iu[0]] - flat[:, iu[1]]) / np.sqrt(2.0)


def _evaluate(a: np.ndarray, b: np.ndarray, C: np.ndarray, iu):
    """-s(C) and its left-trivialised gradient for a batch of C (k, n, n).

    d/dt -s(C cay(t W)) at t = 0 is -<skew(C^T G), W> with G = a C b^T + a^T C b the Euclidean
    gradient of s; the gradient is returned as a vector by ``_skew_upper``.
    """
    # with M = C^T a C: s(C) = <M, b> and C^T G = M b^T + M^T b (four products, not five)
    M = np.matmul(np.swapaxes(C, 1, 2), np.matmul(a, C))
    f = -np.einsum("kij,ij->k", M, b)
    return f, -_skew_upper(np.matmul(M, b.T) + np.swapaxes(np.matmul(b.T, M), 1, 2), iu)


def _retract(C: np.ndarray, p: np.ndarray, iu) -> np.ndarray:
    """C cay(W), cay(W) = (I - W/2)^{-1} (I + W/2), for the skew W of each row of p
    (``_skew_upper`` form) and each C of a batch (k, n, n).

    cay(W) = 2 (I - W/2)^{-1} - I, and (I - W/2)^{-T} = (I + W/2)^{-1}, so
    C cay(W) = 2 X^T - C with (I + W/2) X = C^T: one solve and no product.
    """
    k, n, _ = C.shape
    half = np.zeros((k, n * n))
    half[:, iu[0]] = p / np.sqrt(8.0)
    half[:, iu[1]] = -p / np.sqrt(8.0)
    half = half.reshape(k, n, n)
    half[:, np.arange(n), np.arange(n)] = 1.0
    return 2.0 * np.swapaxes(np.linalg.solve(half, np.swapaxes(C, 1, 2)), 1, 2) - C


def _rowwise_dot(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Dot products of the rows of two real (k, m) arrays (numpy < 2 lacks the vecdot ufunc)."""
    return np.einsum("km,km->k", X, Y)


_dot = getattr(np, "vecdot", _rowwise_dot)  # the ufunc: a third of einsum's call overhead


def _preconditioner(b: np.ndarray, iu):
    """Approximate inverse Hessian of -s(C cay(W)) near a minimum, as a map on ``_skew_upper``
    vectors.

    Near a minimum C^T a C ~ b, and the Hessian quadratic form <[W, C^T a C], [W, b]> is close to
    |[W, b]|^2. In the complex Schur basis Z of b (b = Z T Z^H, Z unitary) the commutator of
    What = Z^H W Z with T has diagonal part What_ij (t_jj - t_ii), so the map
    W -> Z [(Z^H W Z)_ij / (|t_ii - t_jj|^2 + delta)] Z^H, symmetric positive definite on real skew
    matrices, approximates the inverse Hessian; delta = 1e-2 max |t_ii - t_jj|^2 bounds it where
    eigenvalues of b (nearly) coincide (directions that commute with b cost nothing). It removes
    most of the ill-conditioning that clustered DMD eigenvalues cause.
    """
    n = len(b)
    T, Z = schur(b, output="complex")
    lam = np.diag(T)
    gaps = np.abs(lam[:, None] - lam[None, :]) ** 2
    weight = 1.0 / (gaps + _PRECONDITIONER_FLOOR * gaps.max() + 1e-300)
    Zh = Z.conj().T

    def apply(v: np.ndarray) -> np.ndarray:
        W = np.zeros((len(v), n * n))
        W[:, iu[0]], W[:, iu[1]] = v, -v
        R = (Z @ ((Zh @ W.reshape(len(v), n, n) @ Z) * weight) @ Zh).real
        return R.reshape(len(v), -1)[:, iu[0]]

    return apply


def _local_searches(a, b, C0: np.ndarray, gtol: float, maxiter: int):
    """Maximise s(C) from each start C0[k] by Riemannian L-BFGS on O(n), all starts at once.

    Limited-memory BFGS (Nocedal & Wright 2006, alg. 7.4) in the left-trivialised coordinates
    C <- C cay(W), W skew (Absil, Mahony & Sepulchre 2008, ch. 4 and 8.1; the Cayley map is a
    retraction that keeps C exactly orthogonal without expm), with an Armijo backtracking line
    search; curvature pairs with s^T y <= 0 are skipped. The initial inverse Hessian of each
    update is gamma P with P = ``_preconditioner(b)`` for n >= 16 (measured: 2-5x fewer iterations
    at n = 20-50, more at n = 8), else the identity, and gamma = s^T y / y^T P y of the latest
    pair; P q in the two-loop recursion is P g minus the stored P y of the pairs (P is linear), so
    P is applied once per iteration. The first step has length ``_FIRST_STEP``.
    A start stops when its Riemannian gradient |skew(C^T G)| is below ``gtol``, after ``maxiter``
    iterations, or when the line search finds no decrease (then its gradient, above ``gtol``,
    reports the failure).
    Returns (C, Riemannian gradient norms, iterations, function evaluations), one entry per start.
    """
    k, n, _ = C0.shape
    upper = np.triu_indices(n, 1)
    iu = (upper[0] * n + upper[1], upper[1] * n + upper[0])  # flat indices
    C = C0.copy()
    precondition = _preconditioner(b, iu) if n >= _PRECONDITION_FROM else None
    f, g = _evaluate(a, b, C, iu)
    gnorm = np.linalg.norm(g, axis=1)
    out_C, out_g = C.copy(), gnorm.copy()
    nit, nfev = np.zeros(k, dtype=int), np.ones(k, dtype=int)
    idx = np.arange(k)  # the starts still running
    S = np.zeros((_MEMORY, k, g.shape[1]))
    Y = np.zeros_like(S)
    PY = np.zeros_like(S)  # P y of each pair (P linear)
    rho = np.zeros((_MEMORY, k))  # 0 marks an empty or skipped pair
    Pg = g if precondition is None else precondition(g)
    gamma = _FIRST_STEP / np.maximum(np.linalg.norm(Pg, axis=1), 1e-300)
    head = 0
    while True:
        done = (gnorm <= gtol) | (nit[idx] >= maxiter)
        if done.any():
            out_C[idx[done]], out_g[idx[done]] = C[done], gnorm[done]
            keep = ~done
            idx, C, f, g, Pg, gnorm, gamma = (v[keep] for v in (idx, C, f, g, Pg, gnorm, gamma))
            S, Y, PY, rho = S[:, keep], Y[:, keep], PY[:, keep], rho[:, keep]
        if len(idx) == 0:
            break
        # two-loop recursion: p = -H g
        # P q is carried along by linearity, P q = P g - sum_j alpha_j P y_j: no product with P
        q, Pq = g.copy(), Pg.copy()
        alpha = np.zeros((_MEMORY, len(idx)))
        order = [(head - 1 - j) % _MEMORY for j in range(_MEMORY)]
        for j in order:
            alpha[j] = rho[j] * _dot(S[j], q)
            q -= alpha[j][:, None] * Y[j]
            if precondition is not None:
                Pq -= alpha[j][:, None] * PY[j]
        r = gamma[:, None] * Pq
        for j in reversed(order):
            r += (alpha[j] - rho[j] * _dot(Y[j], r))[:, None] * S[j]
        p = -r
        slope = _dot(g, p)
        uphill = slope >= 0
        if uphill.any():  # forget the curvature pairs and take a gradient step
            rho[:, uphill] = 0.0
            p[uphill] = -gamma[uphill, None] * g[uphill]
            slope[uphill] = _dot(g[uphill], p[uphill])
        t = np.ones(len(idx))
        todo = np.ones(len(idx), dtype=bool)
        C_new, f_new, g_new = C.copy(), f.copy(), g.copy()
        for _ in range(_MAX_BACKTRACKS):
            sel = np.flatnonzero(todo)
            C_try = _retract(C[sel], t[sel, None] * p[sel], iu)
            f_try, g_try = _evaluate(a, b, C_try, iu)
            nfev[idx[sel]] += 1
            # Armijo, with a rounding allowance of a few ulps of f
            ok = f_try <= f[sel] + _ARMIJO * t[sel] * slope[sel] + 1e-15 * np.abs(f[sel])
            accepted = sel[ok]
            C_new[accepted], f_new[accepted], g_new[accepted] = C_try[ok], f_try[ok], g_try[ok]
            todo[accepted] = False
            t[sel[~ok]] *= 0.5
            if not todo.any():
                break
        s, y = t[:, None] * p, g_new - g
        sy = _dot(s, y)
        good = (sy > 1e-12 * np.sqrt(_dot(s, s) * _dot(y, y))) & ~todo
        S[head], Y[head] = s, y
        rho[head] = np.where(good, 1.0 / np.where(good, sy, 1.0), 0.0)
        # H0 = gamma P, P the preconditioner (the identity without one), with Nocedal & Wright's
        # scaling gamma = s^T y / y^T P y (eq. 7.20 for P = I; measured median gamma 0.12 at n = 20,
        # 0.25 at n = 50: with gamma = 1 most iterations needed a backtrack)
        Pg_new = g_new if precondition is None else precondition(g_new)
        PY[head] = Pg_new - Pg
        scale = sy / np.maximum(_dot(y, PY[head]), 1e-300)
        gamma = np.where(good, scale, gamma)
        head = (head + 1) % _MEMORY
        C, f, g, Pg = C_new, f_new, g_new, Pg_new
        gnorm = np.linalg.norm(g, axis=1)
        nit[idx] += 1
        nit[idx[todo]] = max(maxiter, 1)  # no decrease found: stop there
    return out_C, out_g, nit, nfev


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
        Cs, grads, its, evs = _local_searches(a, b, np.array(new), gtol, maxiter)
        nit, nfev = nit + int(its.sum()), nfev + int(evs.sum())
        for C, g in zip(Cs, grads, strict=True):
            runs.append((_distance(a, b, C), float(g), int(np.sign(np.linalg.det(C))), C))

    with threadpool_limits(1):
        if n == 1:  # O(1) = {+1, -1}: C b C^T = b, nothing to optimise
            runs.append((_distance(a, b, np.eye(1)), 0.0, 1, np.eye(1)))
        else:
            # the structural starts first: when they are certified nothing else runs
            search(_structural_starts(a, b, rng, components))
            if not certified():
                search(
                    [np.eye(n) if c > 0 else _flip(n) for c in components]
                    + [_haar(n, c, rng) for c in components for _ in range(n_starts)]
                )
            while not certified() and agreeing() < 2 and len(tried) < max_starts:
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
