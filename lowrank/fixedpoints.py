"""Empirical fixed points of a full network: q-minimisation, Newton refinement, classification.

Following Sussillo & Barak (2013, Neural Comput. 25:626), fixed points and slow points are the
minima of the speed q(x) = |R(x)|^2 / 2, where R is the velocity of a flow or the displacement of a
map (``lowrank.dynamics.systems``):

    flow (continuous time):  R(x) = -x + W tanh(x) + W_in u + b,   linearisation dR/dx;
    map (discrete time):     R(h) = tanh(W h + W_in u + b) - h,    linearisation of the map
                             diag(1 - tanh(W h + c)^2) W.

Starts are states visited by trajectories from random initial conditions (where the dynamics
actually go), perturbed slightly. All starts are minimised together by a batched Levenberg-Marquardt
iteration on q (Gauss-Newton with adaptive damping; it follows the gradient far from a root and
becomes Newton near one), twice - from a small and from a large initial damping, which end in
different basins of q - then polished by undamped Newton steps. A second round starts from the
midpoints of pairs of the points found, where the saddles between attractors lie (for a 3-bit
flip-flop this finds all 3^3 = 27 points, tests/test_fixedpoints.py).

Three ways to do the linear algebra, chosen by the structure and the size of the network:

- **low rank** (W = m n^T / N exactly: a ``LowRankNetwork`` without bulk, a rank-R ``lowrank.RNN``
  or weights with factors m, n; W is never formed). Every fixed point lies on x = m kappa + c
  (flow; c = W_in u + b) or h = tanh(m kappa + c) (map), with kappa a root of the R-dimensional
  latent equation

      f(kappa) = n^T tanh(m kappa + c) / N - kappa = 0

  (the finite-N form of the latent dynamics of Mastrogiuseppe & Ostojic 2018, Neuron 99:609),
  and conversely every root lifts to a fixed point: kappa -> x is a bijection between the two
  sets. The search runs in kappa (R x R linear algebra, O(N R) per evaluation), from uniform
  points of the box |kappa_r| <= sum_i |n_ir| / N that holds every root, moved along the exact
  latent dynamics; for N above 4096 the descents first run on the latent equation of a random
  subsample of 4096 neurons, and every end point is then descended again on the full equation.
  The residual of a descent is max_i |(m f(kappa))_i|: the network's max_i |R_i| at the lifted
  point for a flow, a bound on it for a map. Stability follows from the matrix determinant
  lemma: the field Jacobian -I + m n^T diag(phi') / N (flow) or diag(phi') m n^T / N (map) has
  the eigenvalues of the R x R matrix M = n^T diag(phi') m / N (minus one for a flow) and N - R
  eigenvalues -1 (flow) or 0 (map). Memory is O(N R) plus the (P, N) eigenvalues returned.
- **direct** (dense W, N <= 32): (chunk x N x N) Jacobian batches, chunk sized by
  ``max_memory``.
- **matrix-free** (dense W, N > 32): the same iterations with Jacobian-vector products only
  (one GEMM per product over a chunk of starts); the damped normal equations of each step are
  solved by conjugate gradients. Eigenvalues: all of them from one N x N Jacobian at a time up
  to N = 1000; above, the few least stable by a batched Arnoldi iteration over all points, with
  ARPACK (``scipy.sparse.linalg.eigs``) where it does not converge.

Every descent ends in one of three ways, and the result counts each:

- at a fixed point: max_i |R_i| < ``tol``;
- at a slow point: a local minimum of q that is not a root (the descent could not decrease q any
  more and the gradient of q is negligible, |J^T R| <= ``slow_tol`` (1 + |J|_F) |R|); such a
  descent is accounted for (``n_slow``). On the low-rank path this is judged on the latent
  equation (a minimum of |f| that is not a root);
- neither (it ran out of iterations, or stalled where the gradient of q is not negligible): a
  failure (``n_failed``), which makes ``converged`` False and warns with a ``ConvergenceWarning``
  giving the count and the smallest residual reached.

Fixed points are deduplicated (``lowrank.dynamics.unique_points``) and classified stable /
unstable / marginal with the stated ``stability_tol`` (``lowrank.dynamics.classify``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs
from threadpoolctl import threadpool_limits

from ._checks import as_array, as_bool, as_float, as_int, as_rng
from ._repr import compact_repr
from .dynamics import (
    STABILITY_TOL,
    SolverReport,
    classify,
    growth_rates,
    sort_eigenvalues,
    unique_points,
    warn_report,
)
from .dynamics.manifold import Manifold, find_manifold, find_slow_manifold
from .dynamics.systems import Dynamics

__all__ = ["Dynamics", "FixedPoints", "find_fixed_points"]

#: a descent stalled with |J^T R| below this fraction of (1 + |J|_F) |R| ended at a slow point
SLOW_TOL = 1e-6
#: default bound on the memory find_fixed_points allocates (bytes)
MAX_MEMORY = 2 * 1024**3
_MAX_DAMPING = 1e12  # Levenberg-Marquardt damping at which a descent has stalled
_MIN_GAIN = 1e-3  # smallest accepted ratio of actual to predicted decrease of q
_POLISH_STEPS = 60  # Newton steps at most after the descent (a cubic root gains 2/3 per step)
_DIRECT_MAX_N = 32  # dense networks above this size are handled matrix-free
_DENSE_EIG_MAX_N = 1000  # above this, only the least stable eigenvalues (ARPACK)
_N_EIGS = 2  # least stable eigenvalues computed at least (doubled while all are unstable)
_ARNOLDI_MAX = 200  # largest Krylov space of the batched Arnoldi iteration
_EXPLORE_NEURONS = 4096  # latent descents first run on a subsample of this many neurons
_CHUNK_BYTES = 32 * 1024**2  # working arrays of one chunk of starts (matrix-free, low rank)
_CG_RTOL, _CG_MAXITER = 1e-10, 200  # conjugate gradients of the matrix-free Newton steps
_CG_LM_MAXITER = 50  # ... and of its damped (Levenberg-Marquardt) steps


@dataclass
class FixedPoints:
    """Fixed points found in a network.

    Attributes
    ----------
    x : ndarray (P, N)
        The fixed points (states x for flows, activities h for maps).
    kappa : ndarray (P, R)
        Their projections on the network's n vectors (R = 0 when there are none).
    q : ndarray (P,)
        The speed |R(x)|^2 / 2 at each point (the residual).
    eigenvalues : ndarray (P, N) or (P, k) complex
        Eigenvalues of the linearisation (dR/dx for a flow, the map's Jacobian for a map), least
        stable first: all N of them, except for a dense network with N > 1000, where they are
        the k least stable (batched Arnoldi or ARPACK, relative accuracy 1e-10, the last one,
        the first that is not unstable, at least 1e-4 and known to be stable; k >= 2, so that
        every point has a non-unstable one among them and ``n_unstable_directions`` is exact).
    stable : ndarray (P,) bool
        Strictly stable: the largest growth rate (Re lambda for a flow, |lambda| - 1 for a map)
        is below -stability_tol.
    n_unstable_directions : ndarray (P,) int
        Number of growth rates above +stability_tol at each point (0 for stable and marginal
        points, 1 for index-1 saddles, ...).
    time : str
        The time convention used for stability.
    n_starts : int
        Starts of the first round (each descends twice).
    n_slow : int
        Descents (of both rounds) that ended at a slow point: a local minimum of q that is not a
        root. They are accounted for and do not make the search fail.
    residuals : ndarray (n_descents,)
        max_i |R_i| reached by every descent: the 2 n_starts of the first round, then those of the
        second (below ``tol``: a fixed point).
    tol : float
        The tolerance on max_i |R_i| a fixed point had to meet.
    stability : ndarray (P,) of str
        "stable", "unstable" or "marginal" (``lowrank.dynamics.classify`` with ``stability_tol``).
    marginal : ndarray (P,) bool
        The largest growth rate is within +-stability_tol of 0: the linearisation cannot decide
        (a bifurcation point, or a point of a continuous attractor).
    n_failed : int
        Descents that reached neither a fixed point nor a slow point (out of iterations, or
        stalled on a slope of q): failures.
    stability_tol : float
        The tolerance of the stability classification.
    report : SolverReport
        How the search ended; ``report.success`` is False when any descent failed.
    manifolds : list of Manifold
        Continuous families of fixed points (line or ring attractors) through the marginal
        points, traced by ``lowrank.dynamics.manifold.find_manifold`` (for a low-rank network in
        the latent coordinates kappa, which ``Manifold.coordinates``, ``center`` and ``radius``
        then refer to; ``points`` are lifted to the network's states): dimension, samples in
        order along the curve, centre, radius, closed, transverse stability, residual; then,
        with ``slow_manifold_tol``, slow manifolds joining fixed points (approximate continuous
        attractors, ``find_slow_manifold``; ``speed`` and ``speed_tol`` state how slow).
    on_manifold : ndarray (P,) int
        Index in ``manifolds`` of the family each point lies on, -1 for an isolated point.
    method : str
        "low rank", "direct" or "matrix-free" (module docstring).
    """

    __repr__ = compact_repr

    x: np.ndarray
    kappa: np.ndarray
    q: np.ndarray
    eigenvalues: np.ndarray
    stable: np.ndarray
    n_unstable_directions: np.ndarray
    time: str
    n_starts: int
    n_slow: int
    residuals: np.ndarray
    tol: float
    stability: np.ndarray
    marginal: np.ndarray
    n_failed: int
    stability_tol: float
    report: SolverReport
    manifolds: list[Manifold]
    on_manifold: np.ndarray
    method: str = "direct"

    @property
    def converged(self) -> bool:
        """``report.success``: every descent reached a fixed point or a slow point."""
        return bool(self.report.success)

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def n_stable(self) -> int:
        return int(np.count_nonzero(self.stable))

    @property
    def n_unstable(self) -> int:
        """Number of unstable fixed points (per point: ``n_unstable_directions``)."""
        return int(np.count_nonzero(self.stability == "unstable"))

    @property
    def n_marginal(self) -> int:
        return int(np.count_nonzero(self.marginal))

    @property
    def n_distinct(self) -> int:
        """Isolated fixed points plus manifolds of fixed points, each manifold counted once."""
        return int(np.count_nonzero(self.on_manifold < 0)) + len(self.manifolds)


# --- the latent equation of a low-rank network -------------------------------------------------
class _Latent:
    """f(kappa) = n^T tanh(m kappa + c) / N - kappa and its Jacobian n^T diag(phi') m / N - I.

    Duck-types the part of ``System`` the descents use (``residual``, ``jacobian``, ``dim``,
    ``newton_function``). Evaluations run over chunks of rows (O(chunk N) memory) and are cached
    row by row, since a descent asks for the residual and then the Jacobian at the same point.
    """

    def __init__(self, m: np.ndarray, n: np.ndarray, c: np.ndarray, time: str):
        self.m, self.n, self.c, self.time = m, n, c, time
        self.N, self.dim = m.shape
        self._nm = (n[:, :, None] * m[:, None, :]).reshape(self.N, -1) / self.N
        self._rows = max(1, _CHUNK_BYTES // (32 * self.N))
        self._cache: dict[bytes, tuple[np.ndarray, np.ndarray | None]] = {}

    def subsample(self, rng, size: int) -> _Latent:
        keep = np.sort(rng.choice(self.N, size, replace=False))
        return _Latent(self.m[keep], self.n[keep], self.c[keep], self.time)

    def bound(self) -> np.ndarray:
        """B with |n^T tanh(.) / N| <= B elementwise: every root lies in the box |kappa| <= B."""
        return np.sum(np.abs(self.n), axis=0) / self.N

    def _evaluate(self, K, jacobian: bool, cache: bool = True):
        K = np.asarray(K, dtype=float)
        if not cache:
            flat = K.reshape(-1, self.dim)
            F = np.empty_like(flat)
            for s in range(0, len(flat), self._rows):
                T = np.tanh(flat[s : s + self._rows] @ self.m.T + self.c)
                F[s : s + self._rows] = T @ self.n / self.N - flat[s : s + self._rows]
            return F.reshape(K.shape), None
        flat = K.reshape(-1, self.dim)
        F = np.empty_like(flat)
        J = np.empty((len(flat), self.dim, self.dim)) if jacobian else None
        keys = [row.tobytes() for row in flat]
        todo = []
        for i, key in enumerate(keys):
            hit = self._cache.get(key)
            if hit is None or (jacobian and hit[1] is None):
                todo.append(i)
            else:
                F[i] = hit[0]
                if jacobian:
                    J[i] = hit[1]
        todo = np.array(todo, dtype=int)
        if len(self._cache) > 100_000:
            self._cache.clear()
        eye = np.eye(self.dim)
        for s in range(0, len(todo), self._rows):
            rows = todo[s : s + self._rows]
            T = np.tanh(flat[rows] @ self.m.T + self.c)
            F[rows] = T @ self.n / self.N - flat[rows]
            if jacobian:
                np.square(T, out=T)
                J[rows] = ((1.0 - T) @ self._nm).reshape(-1, self.dim, self.dim) - eye
            for i in rows:
                self._cache[keys[i]] = (F[i].copy(), J[i].copy() if jacobian else None)
        F = F.reshape(K.shape)
        return F, (J.reshape(K.shape + (self.dim,)) if jacobian else None)

    def residual(self, K, c=None) -> np.ndarray:
        return self._evaluate(K, False)[0]

    def jacobian(self, K, c=None) -> np.ndarray:
        return self._evaluate(K, True)[1]

    def newton_function(self, c=None):
        def fun(kappa):
            F, J = self._evaluate(kappa, True)
            return F, J, np.asarray(kappa, dtype=float)

        return fun

    def network_residual(self, F) -> np.ndarray:
        """max_i |(m f)_i| for latent residuals f (rows): the network's max_i |R_i| at the lifted
        point for a flow (R(m kappa + c) = m f(kappa)), and a bound on it for a map
        (R(h) = tanh(m (kappa + f) + c) - tanh(m kappa + c), tanh being 1-Lipschitz)."""
        F = np.asarray(F, dtype=float).reshape(-1, self.dim)
        out = np.zeros(len(F))
        for s in range(0, len(F), self._rows):
            out[s : s + self._rows] = np.max(np.abs(F[s : s + self._rows] @ self.m.T), axis=1)
        return out

    def lift(self, K) -> np.ndarray:
        """The network state of each latent point: m kappa + c (flow), tanh(m kappa + c) (map)."""
        X = np.asarray(K, dtype=float) @ self.m.T + self.c
        return np.tanh(X, out=X) if self.time == "discrete" else X

    def eigenvalues(self, K) -> np.ndarray:
        """All N eigenvalues of the field Jacobian at the lifted points (module docstring)."""
        M = self.jacobian(K) + np.eye(self.dim)
        nontrivial = np.linalg.eigvals(M).astype(complex)
        trivial = 0.0
        if self.time == "continuous":
            nontrivial -= 1.0
            trivial = -1.0
        rest = np.full((len(M), self.N - self.dim), trivial, dtype=complex)
        return sort_eigenvalues(np.concatenate([nontrivial, rest], axis=1), self.time)

    def trajectories(self, rng, n_starts: int, steps: int) -> np.ndarray:
        """Latent states along trajectories of the restricted dynamics (x in the invariant set
        x = m kappa + c: d kappa / dt = f(kappa), Euler steps of 0.2; maps: kappa' = kappa +
        f(kappa)), from uniform points of the box |kappa| <= B, each stopped after a random
        number of steps in 0..steps."""
        K = rng.uniform(-1.0, 1.0, (n_starts, self.dim)) * self.bound()
        stop = rng.integers(0, steps + 1, n_starts)
        dt = 0.2 if self.time == "continuous" else 1.0
        for k in range(steps):
            moving = np.flatnonzero(stop > k)
            if not moving.size:
                break
            K[moving] += dt * self._evaluate(K[moving], False, cache=False)[0]
        return K


# --- linear algebra of the descents: Jacobians formed, or Jacobian-vector products only --------
class _Direct:
    """Steps from formed Jacobians, over chunks of ``rows`` starts."""

    def __init__(self, system, c, rows: int):
        self.system, self.c, self.rows = system, c, max(1, int(rows))

    def _chunks(self, n: int):
        return (slice(s, s + self.rows) for s in range(0, n, self.rows))

    def damped(self, X, F, damping):
        """Solve (J^T J + damping I) s = -g with g = J^T F; returns (s, g)."""
        step, g = np.empty_like(X), np.empty_like(X)
        eye = np.eye(X.shape[1])
        for sl in self._chunks(len(X)):
            J = self.system.jacobian(X[sl], self.c)
            JT = np.transpose(J, (0, 2, 1))
            g[sl] = np.einsum("sij,sj->si", JT, F[sl])
            A = JT @ J + damping[sl, None, None] * eye
            step[sl] = np.linalg.solve(A, -g[sl, :, None])[..., 0]
        return step, g

    def newton(self, X, F):
        step = np.empty_like(X)
        for sl in self._chunks(len(X)):
            J, rhs = self.system.jacobian(X[sl], self.c), -F[sl][..., None]
            try:
                step[sl] = np.linalg.solve(J, rhs)[..., 0]
            except np.linalg.LinAlgError:  # a singular Jacobian somewhere: row by row
                step[sl] = [
                    np.linalg.lstsq(a, b, rcond=None)[0][:, 0]
                    for a, b in zip(J, rhs, strict=True)
                ]
        return step

    def flat(self, X, F, slow_tol: float) -> np.ndarray:
        """|J^T F| <= slow_tol (1 + |J|_F) |F| at each row."""
        out = np.zeros(len(X), dtype=bool)
        for sl in self._chunks(len(X)):
            J = self.system.jacobian(X[sl], self.c)
            gradient = np.linalg.norm(np.einsum("sji,sj->si", J, F[sl]), axis=1)
            scale = (1.0 + np.linalg.norm(J, axis=(1, 2))) * np.linalg.norm(F[sl], axis=1)
            out[sl] = gradient <= slow_tol * scale
        return out


class _MatrixFree:
    """Steps from Jacobian-vector products of a dense network, J = dR/dx:

        flow  J v = W (phi'(x) v) - v,          J^T u = phi'(x) (W^T u) - u;
        map   J v = phi'(a) (W v) - v,          J^T u = W^T (phi'(a) u) - u,   a = W h + c;

    each a GEMM over a chunk of starts. Linear systems by conjugate gradients on the normal
    equations (Hestenes & Stiefel 1952), batched over the starts."""

    def __init__(self, system: Dynamics, c, rows: int):
        self.system, self.c, self.rows = system, c, max(1, int(rows))
        W = system.W
        self.W = W
        # |J|_F^2 = sum_j phi'_j^2 |W_:j|^2 - 2 sum_j W_jj phi'_j + N (flow; rows of W for a map)
        axis = 0 if system.time == "continuous" else 1
        self._norms2, self._diag = np.sum(W**2, axis=axis), np.diagonal(W).copy()

    def _gain(self, X):
        return self.system._gain(X, self.c)

    def _jvp(self, D, V):
        if self.system.time == "continuous":
            return (D * V) @ self.W.T - V
        return D * (V @ self.W.T) - V

    def _vjp(self, D, U):
        if self.system.time == "continuous":
            return D * (U @ self.W) - U
        return (D * U) @ self.W - U

    def _cg(self, D, b, damping, rtol, maxiter):
        """Solve (J^T J + damping I) s = b row by row to relative residual ``rtol`` in at most
        ``maxiter`` iterations (CG; every row its own system). A truncated solve is still a
        descent step whose predicted decrease is the exact one's formula (the CG iterate is a
        Galerkin solution on its Krylov space, s^T (J^T J + damping I) s = s^T b)."""
        s = np.zeros_like(b)
        r, p = b.copy(), b.copy()
        rs = np.einsum("si,si->s", r, r)
        target = rtol**2 * rs
        active = np.flatnonzero(rs > 0)
        for _ in range(maxiter):
            if not active.size:
                break
            Dp, pa = D[active], p[active]
            Ap = self._vjp(Dp, self._jvp(Dp, pa)) + damping[active, None] * pa
            pAp = np.einsum("si,si->s", pa, Ap)
            alpha = np.where(pAp > 0, rs[active] / np.where(pAp > 0, pAp, 1.0), 0.0)
            s[active] += alpha[:, None] * pa
            r[active] -= alpha[:, None] * Ap
            new = np.einsum("si,si->s", r[active], r[active])
            p[active] = r[active] + (new / np.maximum(rs[active], 1e-300))[:, None] * pa
            rs[active] = new
            active = active[(new > target[active]) & (pAp > 0)]
        return s

    def _chunks(self, n: int):
        return (slice(s, s + self.rows) for s in range(0, n, self.rows))

    def damped(self, X, F, damping, maxiter: int = _CG_LM_MAXITER):
        # inexact steps with the forcing term min(1e-2, max|F|) (Eisenstat & Walker 1996, SIAM J.
        # Sci. Comput. 17:16): loose far from a root, superlinear convergence near one
        rtol = np.clip(np.max(np.abs(F), axis=1), _CG_RTOL, 1e-2)
        step, g = np.empty_like(X), np.empty_like(X)
        for sl in self._chunks(len(X)):
            D = self._gain(X[sl])
            g[sl] = self._vjp(D, F[sl])
            step[sl] = self._cg(D, -g[sl], damping[sl], rtol[sl], maxiter)
        return step, g

    def newton(self, X, F):
        # least-squares Newton step: J^T J s = -J^T F, with a round-off-level damping
        return self.damped(X, F, np.full(len(X), 1e-14), _CG_MAXITER)[0]

    def flat(self, X, F, slow_tol: float) -> np.ndarray:
        out = np.zeros(len(X), dtype=bool)
        for sl in self._chunks(len(X)):
            D = self._gain(X[sl])
            gradient = np.linalg.norm(self._vjp(D, F[sl]), axis=1)
            frobenius = np.sqrt(np.maximum(
                D**2 @ self._norms2 - 2.0 * D @ self._diag + X.shape[1], 0.0
            ))
            out[sl] = gradient <= slow_tol * (1.0 + frobenius) * np.linalg.norm(F[sl], axis=1)
        return out


@dataclass
class _Descents:
    """End states of a batch of descents and how each ended."""

    x: np.ndarray
    residual: np.ndarray  # max_i |R_i|
    slow: np.ndarray  # ended at a slow point
    nit: int
    nfev: int

    def converged(self, tol: float) -> np.ndarray:
        return self.residual < tol

    @staticmethod
    def concatenate(parts: list[_Descents]) -> _Descents:
        return _Descents(
            np.concatenate([p.x for p in parts]),
            np.concatenate([p.residual for p in parts]),
            np.concatenate([p.slow for p in parts]),
            sum(p.nit for p in parts),
            sum(p.nfev for p in parts),
        )


def _levenberg_marquardt(system, algebra, X, c, max_iter: int, tol: float, damping: float):
    """Batched LM on q = |R|^2 / 2 from initial damping ``damping``.

    Returns the end states, whether each stalled (no step decreases q even with the largest
    damping), the iterations and the evaluations of R."""
    damping = np.full(X.shape[0], float(damping))
    F = system.residual(X, c)
    cost = 0.5 * np.sum(F**2, axis=1)
    active = np.max(np.abs(F), axis=1) >= tol
    nit = nfev = 0
    for _ in range(max_iter):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        step, g = algebra.damped(X[idx], F[idx], damping[idx])
        trial = X[idx] + step
        F_trial = system.residual(trial, c)
        nit, nfev = nit + len(idx), nfev + len(idx)
        cost_trial = 0.5 * np.sum(F_trial**2, axis=1)
        # gain ratio: accept a step only if q fell by a fair share of the decrease predicted by
        # the linear model, 0.5 s^T (lambda s - g) (Madsen, Nielsen & Tingleff 2004, eq. 3.14)
        predicted = 0.5 * np.einsum("si,si->s", step, damping[idx, None] * step - g)
        better = cost[idx] - cost_trial > _MIN_GAIN * predicted
        good = idx[better]
        X[good], F[good], cost[good] = trial[better], F_trial[better], cost_trial[better]
        damping[good] = np.maximum(damping[good] / 3.0, 1e-12)
        damping[idx[~better]] *= 4.0
        # stop where converged, or where the damping has exploded (no step decreases q)
        active[idx] = (np.max(np.abs(F[idx]), axis=1) >= tol) & (damping[idx] < _MAX_DAMPING)
    return X, damping >= _MAX_DAMPING, nit, nfev


def _newton_polish(system, algebra, X, c, max_steps: int = _POLISH_STEPS):
    """Undamped Newton steps x <- x - (dR/dx)^{-1} R on every row while they reduce |R|.

    A regular root needs one or two; a degenerate one (a pitchfork, where R ~ x^3) converges only
    linearly, and stopping it at |R| < tol would leave points scattered around the root (at
    |x| ~ tol^(1/3)), to be counted as several."""
    F = system.residual(X, c)
    nfev = len(X)
    active = np.ones(len(X), dtype=bool)
    for _ in range(max_steps):
        idx = np.flatnonzero(active)
        if not idx.size:
            break
        with np.errstate(all="ignore"):
            step = algebra.newton(X[idx], F[idx])
            trial = X[idx] + step
            F_trial = system.residual(trial, c)
        nfev += idx.size
        better = np.sum(F_trial**2, axis=1) < np.sum(F[idx] ** 2, axis=1)
        good = idx[better]
        X[good], F[good] = trial[better], F_trial[better]
        moved = np.max(np.abs(step), axis=1) > 1e-15 * (1.0 + np.max(np.abs(trial), axis=1))
        active[idx] = better & moved
    return X, F, nfev


def _descend(system, algebra, X: np.ndarray, c, max_iter: int, tol: float, slow_tol: float):
    """Minimise q from every start twice - a Gauss-Newton-like descent (small initial damping) and
    a gradient-like one (large damping), which end in different basins of q - then polish by
    Newton. A descent that stalled off a root with a negligible gradient of q is a slow point."""
    runs = [
        _levenberg_marquardt(system, algebra, X.copy(), c, max_iter, tol, d) for d in (1e-2, 1e2)
    ]
    X = np.concatenate([r[0] for r in runs])
    stalled = np.concatenate([r[1] for r in runs])
    X, F, nfev = _newton_polish(system, algebra, X, c)
    residual = np.max(np.abs(F), axis=1) if X.size else np.zeros(len(X))
    slow = (residual >= tol) & stalled
    idx = np.flatnonzero(slow)
    slow[idx] = algebra.flat(X[idx], F[idx], slow_tol)
    return _Descents(X, residual, slow, sum(r[2] for r in runs), sum(r[3] for r in runs) + nfev)


def _descend_latent(latent: _Latent, explorer: _Latent, X, max_iter: int, tol: float,
                    slow_tol: float) -> _Descents:
    """Descents on the latent equation (to the latent tolerance that guarantees ``tol``); with an
    explorer (a subsample of the neurons), first on it, then again on the full equation from the
    distinct end points. Residuals are the network's (``_Latent.network_residual``)."""
    latent_tol = tol / max(1.0, float(np.max(np.sum(np.abs(latent.m), axis=1))))

    def run(on: _Latent, K0):
        return _descend(on, _Direct(on, None, len(K0)), K0, None, max_iter, latent_tol, slow_tol)

    out = run(explorer, X)
    if explorer is not latent:
        first, labels, _ = unique_points(out.x, 1e-9, 1e-9)
        fine = run(latent, out.x[first])
        out = _Descents(fine.x[labels], fine.residual[labels], fine.slow[labels],
                        out.nit + fine.nit, out.nfev + fine.nfev)
    out.residual = latent.network_residual(latent.residual(out.x))
    out.slow &= out.residual >= tol
    return out


def _search(descend: Callable[[np.ndarray], _Descents], X, tol, rng, n_starts, unique):
    """Descents from the starts, then from midpoints of pairs of the points found (saddles sit
    between attractors); returns the distinct points and all descents."""
    rounds = [descend(X)]
    points = unique(rounds[0].x[rounds[0].converged(tol)])
    if len(points) > 1:
        pairs = np.array([(i, j) for i in range(len(points)) for j in range(i)])
        pairs = pairs[rng.permutation(len(pairs))[:n_starts]]
        middle = 0.5 * (points[pairs[:, 0]] + points[pairs[:, 1]])
        rounds.append(descend(middle))
        points = unique(np.concatenate([points, rounds[1].x[rounds[1].converged(tol)]]))
    return points, _Descents.concatenate(rounds)


def _report(descents: _Descents, n_points: int, tol: float, residual: float) -> SolverReport:
    """One SolverReport for all descents: success iff each reached a fixed point or a slow
    point."""
    converged = descents.converged(tol)
    failed = ~converged & ~descents.slow
    n, n_failed = len(descents.residual), int(np.count_nonzero(failed))
    best = float(descents.residual[failed].min()) if n_failed else np.inf
    report = SolverReport.from_starts(
        "find_fixed_points", n, n_failed, best, tol, residual=residual,
        nit=descents.nit, nfev=descents.nfev, advice="raise max_iter or n_starts",
    )
    if not n_failed:
        message = (
            f"find_fixed_points: all {n} descents reached a fixed point "
            f"({int(np.count_nonzero(converged))}, tol {tol:g}) or a slow point "
            f"({int(np.count_nonzero(descents.slow))}); {n_points} distinct fixed points"
        )
    else:
        lead = "no start converged to a fixed point; " if not converged.any() else ""
        message = (
            f"find_fixed_points: {lead}{n_failed} of {n} descents ended neither at a fixed point "
            f"nor at a slow point (smallest max|F| reached: {best:.3g} > tol {tol:g}); "
            f"{n_points} fixed points were found and more may be missing; raise max_iter or "
            "n_starts"
        )
    return dataclasses.replace(report, message=message)


# --- stability ---------------------------------------------------------------------------------
def _field_products(system: Dynamics, points, c):
    """V -> (dF/dx) V (flow) or (dG/dh) V (map) at every point at once, V of shape (P, N): one
    GEMM with W, the gains of each point precomputed."""
    D = system._gain(points, c)
    W = system.W
    if system.time == "continuous":  # W (phi'(x) v) - v
        return lambda V: (D * V) @ W.T - V
    return lambda V: D * (V @ W.T)  # phi'(a) (W v)


def _arnoldi_eigenvalues(system: Dynamics, points, c, stability_tol: float):
    """The least stable eigenvalues of the field Jacobian at all points by one batched Arnoldi
    iteration (every matrix-vector product of all points one GEMM; classical Gram-Schmidt,
    twice). A Ritz value counts once its residual |h_{m+1,m} y_m| is below 1e-10 max(1, |lambda|)
    (the criterion of ARPACK, Lehoucq, Sorensen & Yang 1998); at a point the leading ones before
    the first that is not unstable must all count (at least ``_N_EIGS`` values), and that one
    must be stable by more than its residual (below 1e-4 max(1, |lambda|)): it is reported to
    that accuracy. Returns, per point, the
    leading Ritz values that count (least stable first; None where it did not converge), which
    points converged (the others are left to ARPACK) and the k every point needs."""
    P, N = points.shape
    apply = _field_products(system, points, c)
    m_max = min(N - 1, _ARNOLDI_MAX)
    V = np.zeros((P, m_max + 1, N))
    H = np.zeros((P, m_max + 1, m_max))
    v = np.random.default_rng(0).standard_normal((P, N))
    V[:, 0] = v / np.linalg.norm(v, axis=1, keepdims=True)
    done = np.zeros(P, dtype=bool)
    found: list = [None] * P
    checks = {min(m_max, m) for m in (24, 48, 96, 192, m_max)}
    for j in range(m_max):
        w = apply(V[:, j])
        for _ in range(2):
            h = np.matmul(V[:, : j + 1], w[:, :, None])  # (P, j + 1, 1)
            w -= np.matmul(h.transpose(0, 2, 1), V[:, : j + 1])[:, 0]
            H[:, : j + 1, j] += h[:, :, 0]
        beta = np.linalg.norm(w, axis=1)
        H[:, j + 1, j] = beta
        V[:, j + 1] = w / np.where(beta > 0, beta, 1.0)[:, None]
        m = j + 1
        if m not in checks and not np.any(beta[~done] == 0):
            continue
        for p in np.flatnonzero(~done):
            values, vectors = np.linalg.eig(H[p, :m, :m])
            residual = np.abs(H[p, m, m - 1] * vectors[-1])
            order = np.argsort(-growth_rates(values, system.time), kind="stable")
            values, residual = values[order], residual[order]
            rates = growth_rates(values, system.time)
            stable_at = np.flatnonzero(rates <= stability_tol)
            k = max(_N_EIGS, (stable_at[0] + 1) if stable_at.size else m + 1)
            scale = np.maximum(1.0, np.abs(values))
            good = residual <= 1e-10 * scale
            # the first stable Ritz value only has to be known to be stable: within its residual
            # of a growth rate below -stability_tol (a bulk edge converges slowly)
            settled = good | ((residual <= 1e-4 * scale) & (rates + residual < -stability_tol))
            if k <= m and np.all(good[: k - 1]) and np.all(settled[:k]):
                found[p], done[p] = values[: max(k, np.argmin(np.r_[good, False]))], True
        if done.all():
            break
    k = max((_N_EIGS, *(1 + np.flatnonzero(growth_rates(f, system.time) <= stability_tol)[0]
                        for f in found if f is not None)))
    return found, done, k


def _least_stable_eigenvalues(system: Dynamics, points, c, stability_tol: float) -> np.ndarray:
    """The k least stable eigenvalues of the field Jacobian at each point, matrix-free: batched
    Arnoldi (``_arnoldi_eigenvalues``), then ARPACK (largest real part for a flow, largest
    modulus for a map) at the points where it did not converge, k >= ``_N_EIGS`` doubled until
    every point has one that is not unstable among them. (P, k), least stable first."""
    N = system.dim
    found, done, k = [], np.zeros(0, dtype=bool), _N_EIGS
    size = max(1, 4 * _CHUNK_BYTES // (8 * N * (min(N - 1, _ARNOLDI_MAX) + 1)))
    for s in range(0, len(points), size):  # Krylov bases of a chunk of points at a time
        part, ok, need = _arnoldi_eigenvalues(system, points[s : s + size], c, stability_tol)
        found, done, k = found + part, np.r_[done, ok], max(k, need)
    which = "LR" if system.time == "continuous" else "LM"
    while True:
        rows = []
        for p, x in enumerate(points):
            if done[p] and len(found[p]) >= k:
                rows.append(found[p][:k])
                continue
            product = _field_products(system, x[None], c)
            op = LinearOperator((N, N), matvec=lambda v, f=product: f(v.reshape(1, -1))[0],
                                dtype=float)
            try:
                values = eigs(op, k=k, which=which, ncv=min(N - 1, max(2 * k + 1, 40)),
                              return_eigenvectors=False, maxiter=50 * N, tol=1e-10)
            except ArpackNoConvergence:
                values = np.linalg.eigvals(system.field_jacobian(x, c))
            rows.append(sort_eigenvalues(values, system.time)[:k])
        ev = np.array(rows, dtype=complex).reshape(len(points), k)
        if k >= N - 2 or not np.any(np.all(growth_rates(ev, system.time) > stability_tol, 1)):
            return ev
        k = min(2 * k, N - 2)


def _dense_eigenvalues(system: Dynamics, points, c, rows: int) -> np.ndarray:
    out = np.empty((len(points), system.dim), dtype=complex)
    for s in range(0, len(points), rows):
        out[s : s + rows] = system.stability_eigenvalues(points[s : s + rows], c)
    return out


# --- memory --------------------------------------------------------------------------------------
def _refuse(needed: float, max_memory: float, what: str, N: int) -> None:
    if needed > max_memory:
        raise ValueError(
            f"max_memory = {max_memory / 1e9:.3g} GB is too small: find_fixed_points needs about "
            f"{needed / 1e9:.3g} GB for {what} (N = {N}); raise max_memory"
        )


def _plan(system: Dynamics, n_starts: int, max_memory: float, slow: bool) -> tuple[str, int]:
    """The method and the starts per chunk that keep the working memory under max_memory
    (ValueError when even one start at a time does not fit)."""
    N = system.dim
    state = 8 * N * 8 * n_starts  # states, residuals, trials, copies of both descents
    if system.factors is not None:
        rank = system.factors[0].shape[1]
        _refuse(8 * N * (4 * rank + rank**2 + 4) + _CHUNK_BYTES, max_memory,
                "the low-rank factors and one chunk of latent evaluations", N)
        method, rows = "low rank", n_starts
    else:
        per_start = 4 * 8 * N**2  # J, J^T J + lambda I, and the solver's copies
        rows = int((max_memory - state) // per_start)
        if N <= _DIRECT_MAX_N and rows >= 1:
            method = "direct"
        else:
            method = "matrix-free"
            per_start = 12 * 8 * N  # CG vectors and gains of one start
            eig_bytes = 8 * N * (_ARNOLDI_MAX + 1) if N > _DENSE_EIG_MAX_N else 3 * 8 * N**2
            _refuse(state + per_start + eig_bytes, max_memory,
                    "the starts, one matrix-free step and the eigenvalues", N)
            rows = int(max(1, min(n_starts, _CHUNK_BYTES // per_start)))
    if slow:
        _refuse(8 * 8 * N**2, max_memory, "slow manifolds (dense Jacobians along them)", N)
    return method, rows


# --- manifolds -----------------------------------------------------------------------------------
def _lifted(manifold: Manifold, latent: _Latent) -> Manifold:
    """A manifold of latent roots as one of network states (centre and radius stay in kappa)."""
    k = len(manifold.points)
    trivial = -1.0 if latent.time == "continuous" else 0.0
    rest = np.full((k, latent.N - latent.dim), trivial, dtype=complex)
    transverse = sort_eigenvalues(
        np.concatenate([manifold.transverse_eigenvalues, rest], axis=1), latent.time
    )
    return dataclasses.replace(
        manifold, points=latent.lift(manifold.points), coordinates=manifold.points,
        transverse_eigenvalues=transverse,
    )


def _manifolds(points, stability, exact, slow, atol):
    """Group the fixed points into manifolds.

    First an exact family of fixed points through each marginal point not yet on one
    (``exact(i)``: ``find_manifold`` returns None at a marginal point whose null directions are
    not tangent to solutions: a pitchfork point, an isolated degenerate root). Then, with
    ``slow``, the slow manifold through each remaining point, stable points first; it is kept
    when it closes or joins at least two fixed points."""
    manifolds: list[Manifold] = []
    label = np.full(len(points), -1)

    def group(manifold, i, keep_alone):
        on = np.array([label[j] < 0 and manifold.contains(x, atol) for j, x in enumerate(points)])
        on[i] = True
        if keep_alone or manifold.closed or np.count_nonzero(on) >= 2:
            label[on] = len(manifolds)
            manifolds.append(manifold)

    for i in np.flatnonzero(stability == "marginal"):
        if label[i] < 0:
            manifold = exact(i)
            if manifold is not None:
                group(manifold, i, True)
    if slow is not None:
        for i in range(len(points)):  # stable points first (find_fixed_points' order)
            if label[i] < 0:
                group(slow(i), i, False)
    return manifolds, label


def find_fixed_points(
    model_or_network,
    inputs=None,
    n_starts: int = 256,
    seed=0,
    time: str | None = None,
    tol: float = 1e-10,
    max_iter: int = 200,
    trajectory_steps: int = 100,
    dedup_radius: float = 1e-5,
    stability_tol: float = STABILITY_TOL,
    slow_tol: float = SLOW_TOL,
    trace_manifolds: bool = True,
    slow_manifold_tol: float | None = None,
    max_memory: float = MAX_MEMORY,
) -> FixedPoints:
    """Find the fixed points of a tanh network (Sussillo & Barak 2013, q-minimisation).

    Parameters
    ----------
    model_or_network : LowRankNetwork, lowrank.RNN, torch.nn.RNN, dict, tuple or ndarray (N, N)
        The network (``lowrank.dynamics.as_system``): also a torch ``nn.RNN`` / ``nn.RNNCell``
        (tanh, one layer), a module holding one, or its state dict (a map,
        h' = tanh(W_hh h + W_ih u + b_ih + b_hh)). A bare weight matrix W needs ``time``.
        A network with exact low-rank factors (no bulk) is solved in its latent space, O(N R)
        memory (module docstring).
    inputs : array_like (K,), optional
        A constant input u under which fixed points are sought (zero if omitted).
    n_starts : int
        Number of starting states, sampled along trajectories (for a low-rank network, latent
        trajectories from uniform points of the box that holds every root).
    seed : int or numpy.random.Generator
        Seeds the starts.
    time : {"continuous", "discrete"}, optional
        Time convention; a model carries its own, a LowRankNetwork defaults to "continuous".
    tol : float
        A point is a fixed point when max_i |R_i(x)| < tol.
    max_iter : int
        Levenberg-Marquardt iterations per descent.
    trajectory_steps : int
        Length of the trajectories the starts are sampled from.
    dedup_radius : float
        Points that differ by at most dedup_radius (1 + max |x|) in every coordinate are one
        point (``lowrank.dynamics.unique_points`` with atol = rtol = dedup_radius).
    stability_tol : float
        Growth rates (Re lambda for a flow, |lambda| - 1 for a map) within +-stability_tol of 0
        are marginal (``lowrank.dynamics.classify``); the default 1e-8 sits above the error of
        eigenvalues at a point converged to ``tol`` = 1e-10.
    slow_tol : float
        A descent that stalls off a root ends at a slow point when
        |J^T R| <= slow_tol (1 + |J|_F) |R|: the gradient of q, J^T R, vanishes to that relative
        precision (J = dR/dx is of order one or more: the leak alone gives -I).
    trace_manifolds : bool
        Trace the continuous families of fixed points (line or ring attractors) through the
        marginal points (``lowrank.dynamics.manifold.find_manifold``, residual ``tol``, null
        directions below 1e-6 of the largest singular value; in kappa for a low-rank network);
        the points found on one are grouped with it (``on_manifold``) and it is counted once
        (``n_distinct``). A finite network whose family is broken into isolated points with
        small but non-marginal eigenvalues has no manifold at this tolerance: see
        ``slow_manifold_tol``.
    slow_manifold_tol : float, optional
        With ``trace_manifolds``, also trace through every fixed point not on an exact family
        the slow manifold along which the speed max_i |R_i| stays below this value
        (``lowrank.dynamics.manifold.find_slow_manifold``, in the latent coordinates kappa);
        one that closes or joins at least two fixed points is kept, the fixed points on it are
        grouped with it and it is counted once. It is an *approximate* continuous attractor: the
        state drifts along it at up to ``Manifold.speed`` (<= this tolerance at the samples),
        towards its stable points. A finite-N ring of N = 200 neurons is broken into 4 stable
        points and 4 saddles joined at max|R| ~ 0.15. Off by default: no tolerance separates
        "slow" from "fast" for every network, so the speed stated must be the user's choice.
        It forms N x N Jacobians along the manifolds (refused when they exceed ``max_memory``).
    max_memory : float
        Bytes of working memory the search may allocate (default 2 GiB); starts are processed
        in chunks that fit. A ValueError is raised before the search when even one start at a
        time would need more (the estimate counts the arrays of the chosen method, not the
        network's own weights).

    Returns
    -------
    FixedPoints
        Deduplicated fixed points with kappa, q, eigenvalues, stability, the manifolds they lie
        on; ``converged`` and ``report`` say whether every descent was accounted for;
        ``method`` the linear algebra used.

    Raises
    ------
    ValueError
        Bad arguments, or a search that would need more than ``max_memory``.

    Warns
    -----
    ConvergenceWarning
        (a RuntimeWarning) when any descent reached neither a fixed point nor a slow point: the
        message gives their number and the smallest max_i |R_i| they reached; ``converged`` is
        then False (fixed points may be missing).
    """
    system = Dynamics.from_object(model_or_network, time)
    n_starts = as_int(n_starts, "n_starts", minimum=1)
    tol = as_float(tol, "tol", positive=True)
    max_iter = as_int(max_iter, "max_iter", minimum=1)
    trajectory_steps = as_int(trajectory_steps, "trajectory_steps", minimum=0)
    dedup_radius = as_float(dedup_radius, "dedup_radius", positive=True)
    stability_tol = as_float(stability_tol, "stability_tol", minimum=0.0)
    slow_tol = as_float(slow_tol, "slow_tol", positive=True)
    trace_manifolds = as_bool(trace_manifolds, "trace_manifolds")
    max_memory = as_float(max_memory, "max_memory", positive=True)
    if slow_manifold_tol is not None:
        slow_manifold_tol = as_float(slow_manifold_tol, "slow_manifold_tol", positive=True)
    rng = as_rng(seed)
    if inputs is not None:
        inputs = as_array(inputs, "inputs", shape=(system.n_inputs,), allow_empty=True)
    c = system.drive(inputs)
    slow_manifolds = trace_manifolds and slow_manifold_tol is not None
    method, rows = _plan(system, n_starts, max_memory, slow_manifolds)

    def unique(X):
        return X[unique_points(X, dedup_radius, dedup_radius)[0]]

    with threadpool_limits(1):
        if method == "low rank":
            latent = _Latent(*system.factors, c, system.time)
            explorer = latent
            if latent.N > _EXPLORE_NEURONS:
                explorer = latent.subsample(rng, _EXPLORE_NEURONS)
            K = explorer.trajectories(rng, n_starts, trajectory_steps)
            K += 1e-3 * rng.standard_normal(K.shape)
            kappa, descents = _search(
                lambda K0: _descend_latent(latent, explorer, K0, max_iter, tol, slow_tol),
                K, tol, rng, n_starts, unique,
            )
            points = latent.lift(kappa)
            eigenvalues = latent.eigenvalues(kappa)
        else:
            algebra = (_Direct if method == "direct" else _MatrixFree)(system, c, rows)
            X = system.trajectory_states(rng, n_starts, c, trajectory_steps)
            X += 1e-3 * rng.standard_normal(X.shape)
            points, descents = _search(
                lambda X0: _descend(system, algebra, X0, c, max_iter, tol, slow_tol),
                X, tol, rng, n_starts, unique,
            )
            if method == "matrix-free" and system.dim > _DENSE_EIG_MAX_N:
                eigenvalues = _least_stable_eigenvalues(system, points, c, stability_tol)
            else:  # one N x N Jacobian and its eigen-decomposition per point of a chunk
                eig_rows = max(1, int(max_memory // (3 * 8 * system.dim**2)))
                eigenvalues = _dense_eigenvalues(system, points, c, eig_rows)
        F = system.residual(points, c)
    accepted = float(np.max(np.abs(F))) if F.size else 0.0
    report = _report(descents, len(points), tol, accepted)
    warn_report(report, stacklevel=3)
    stability = classify(eigenvalues, system.time, stability_tol).reshape(len(points))
    unstable = np.count_nonzero(growth_rates(eigenvalues, system.time) > stability_tol, axis=1)
    # stable first, then marginal, then by number of unstable directions; larger |x| first
    order = np.lexsort((-np.linalg.norm(points, axis=1), stability == "marginal", unstable))
    points, F, eigenvalues = points[order], F[order], eigenvalues[order]
    stability, unstable = stability[order], unstable[order]
    families, on_manifold = [], np.full(len(points), -1)
    if trace_manifolds and (np.any(stability == "marginal") or slow_manifolds):
        atol = max(dedup_radius, 1e-6)
        if method == "low rank":
            fun, starts = latent.newton_function(), kappa[order]

            def exact(i):
                found = find_manifold(fun, starts[i], time=system.time, tol=tol,
                                      stability_tol=stability_tol)
                return None if found is None else _lifted(found, latent)
        else:

            def exact(i):
                return find_manifold(system.newton_function(c), points[i], time=system.time,
                                     tol=tol, stability_tol=stability_tol)

        def slow(i):
            return find_slow_manifold(
                system.newton_function(c), points[i], slow_manifold_tol, time=system.time,
                coordinates=system.project if system.readout.shape[1] else None, tol=tol,
                stability_tol=stability_tol,
            )

        with threadpool_limits(1):
            families, on_manifold = _manifolds(
                points, stability, exact, slow if slow_manifolds else None, atol
            )
    return FixedPoints(
        x=points,
        kappa=system.project(points),
        q=0.5 * np.sum(F**2, axis=1),
        eigenvalues=eigenvalues,
        stable=stability == "stable",
        n_unstable_directions=unstable,
        time=system.time,
        n_starts=n_starts,
        n_slow=int(np.count_nonzero(descents.slow)),
        residuals=descents.residual,
        tol=tol,
        stability=stability,
        marginal=stability == "marginal",
        n_failed=report.n_failed,
        stability_tol=stability_tol,
        report=report,
        manifolds=families,
        on_manifold=on_manifold,
        method=method,
    )
