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
- **matrix-free** (dense W, N > 32): Jacobian-vector products only, one GEMM per product over
  all the descents of a batch (both initial dampings of every start together). Each
  Levenberg-Marquardt step is taken in the Krylov space of J from R, built by Arnoldi to the
  GMRES accuracy of an inexact Newton step (Eisenstat-Walker forcing), and a rejected step is
  retried at a larger damping in the same space without new products (a Newton-Krylov
  hookstep); descents that met ``tol`` at the same point are polished once, and the second
  round descends once from each midpoint (``_descend_krylov``). Eigenvalues: all
  of them from one N x N Jacobian at a time up to N = 1000; above, the least stable ones by a
  batched Arnoldi iteration over all points, stopped once the Ritz values that converged span
  an invariant subspace away from which the rest of the spectrum is certified stable (a
  randomised power bound on the spectral radius, ``_remainder_bound``), so that a bulk of
  eigenvalues, whose edge Krylov methods resolve only slowly, need not be resolved; ARPACK
  (``scipy.sparse.linalg.eigs``) where this does not happen.

Every descent ends in one of four ways, and the result counts each:

- at a fixed point: max_i |R_i| < ``tol``;
- (matrix-free path) next to a fixed point p another descent has reached, within
  1e-3 (1 + max|p|) in every coordinate: it is stopped there (``n_joined``), as the iterations
  to reach p again would find nothing new. This presumes that no second fixed point lies that
  close to p (points closer than ``dedup_radius`` are counted as one anyway);
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
from ._kernels.products import rows_times_transpose
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
_N_EIGS = 2  # least stable eigenvalues returned at least (ARPACK: doubled while all are unstable)
_JOIN = 1e-3  # a matrix-free descent this close to a fixed point already found has joined it
_BOUND_PROBES, _BOUND_T = 3, 0.04  # certificate of the rest of a spectrum: probes, ...
_BOUND_CHECKS = (4, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64)  # ... and powers at which it is tried
_ARNOLDI_MAX = 200  # largest Krylov space of the batched Arnoldi iteration
_EXPLORE_NEURONS = 4096  # latent descents first run on a subsample of this many neurons
_CHUNK_BYTES = 32 * 1024**2  # working arrays of one chunk of latent starts (and 4x: of Arnoldi)
_KRYLOV_MAX = 40  # largest Krylov space of a matrix-free step
_KRYLOV_RTOL = 1e-12  # most accurate Krylov solve of a matrix-free step (relative residual)
_KRYLOV_BYTES = 256 * 1024**2  # Krylov bases of one batch of matrix-free descents
_EPS = np.finfo(float).eps


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
        the least stable ones (k >= 2 columns, NaN after the last one computed at a point):
        either those of batched Arnoldi, relative accuracy 1e-10, whose invariant subspace
        holds every eigenvalue that is not certified stable (every other one has modulus below
        b < 1 - stability_tol, for a flow eigenvalues of dR/dx + I, with probability at least
        1 - 5e-4: ``_remainder_bound``), or ARPACK's k least stable, up to the first that is not
        unstable; ``n_unstable_directions`` and ``stability`` count NaN as stable.
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
        second (two per midpoint; one on the matrix-free path) (below ``tol``: a fixed point).
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
    n_joined : int
        Descents (matrix-free path) stopped within 1e-3 (1 + max|p|) in every coordinate of a
        fixed point p another descent had reached: accounted for, neither a fixed point of
        their own (their ``residuals`` stay >= ``tol``) nor a failure.
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
    n_joined: int = 0

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

    each a GEMM over all the rows of a batch. The steps live in the Krylov space of J from R
    (``_krylov``): one product per Krylov vector, and one space serves every damping tried."""

    def __init__(self, system: Dynamics, c, rows: int):
        self.system, self.c, self.rows = system, c, max(1, int(rows))
        self.W = system.W

    def _gain(self, X):
        return self.system._gain(X, self.c)

    def _jvp(self, D, V):
        if self.system.time == "continuous":
            return rows_times_transpose(D * V, self.W) - V
        return D * rows_times_transpose(V, self.W) - V

    def _vjp(self, D, U):
        if self.system.time == "continuous":
            return D * (U @ self.W) - U
        return (D * U) @ self.W - U

    def _chunks(self, n: int):
        return (slice(s, s + self.rows) for s in range(0, n, self.rows))

    def model(self, X, F, rtol) -> _KrylovModel:
        """The Gauss-Newton model of q at each row restricted to its Krylov space of J from R,
        built to the GMRES relative residual ``rtol`` (per row)."""
        D = self._gain(X)
        return _krylov(lambda rows, V: self._jvp(D[rows], V), F, rtol)

    def newton(self, X, F):
        step = np.empty_like(X)
        for sl in self._chunks(len(X)):
            rows = np.arange(len(X[sl]))
            model = self.model(X[sl], F[sl], _forcing(X[sl], F[sl]))
            step[sl] = model.step(rows, np.zeros(len(rows)))[0]
        return step

    def flat(self, X, F, slow_tol: float) -> np.ndarray:
        out = np.zeros(len(X), dtype=bool)
        if not len(X):
            return out
        # |J|_F^2 = sum_j phi'_j^2 |W_:j|^2 - 2 sum_j W_jj phi'_j + N (flow; rows of W for a map)
        W = self.W if self.system.time == "continuous" else self.W.T
        norms2, diagonal = np.einsum("ij,ij->j", W, W), np.diagonal(W)
        for sl in self._chunks(len(X)):
            D = self._gain(X[sl])
            gradient = np.linalg.norm(self._vjp(D, F[sl]), axis=1)
            frobenius = np.sqrt(np.maximum(
                D**2 @ norms2 - 2.0 * D @ diagonal + X.shape[1], 0.0
            ))
            out[sl] = gradient <= slow_tol * (1.0 + frobenius) * np.linalg.norm(F[sl], axis=1)
        return out


def _krylov(apply, F, rtol) -> _KrylovModel:
    """Arnoldi on J from v_1 = F / |F| for every row at once: J V_m = V_{m+1} H_m, each step one
    call ``apply(rows, V) = J V`` for the rows still running (Gram-Schmidt twice). A row stops at
    the first m where the GMRES residual min_y |H_m y + |F| e_1| (Saad & Schultz 1986, SIAM J.
    Sci. Stat. Comput. 7:856; tracked by Givens rotations) is at most rtol |F|, at an invariant
    subspace, or at ``_KRYLOV_MAX``."""
    rows, N = F.shape
    m_max = min(N, _KRYLOV_MAX)
    V = np.zeros((rows, m_max + 1, N))
    H = np.zeros((rows, m_max + 1, m_max))
    beta = np.linalg.norm(F, axis=1)
    V[:, 0] = F / np.where(beta > 0, beta, 1.0)[:, None]
    cs, sn = np.zeros((rows, m_max)), np.zeros((rows, m_max))
    g = np.zeros((rows, m_max + 1))
    g[:, 0] = beta
    m = np.zeros(rows, dtype=int)
    active = np.flatnonzero(beta > 0)
    for j in range(m_max):
        if not active.size:
            break
        w = apply(active, V[active, j])
        basis = V[active, : j + 1]
        h = np.einsum("rkn,rn->rk", basis, w)
        w -= np.einsum("rk,rkn->rn", h, basis)
        again = np.einsum("rkn,rn->rk", basis, w)
        w -= np.einsum("rk,rkn->rn", again, basis)
        h += again
        b = np.linalg.norm(w, axis=1)
        H[active, : j + 1, j], H[active, j + 1, j] = h, b
        V[active, j + 1] = w / np.where(b > 0, b, 1.0)[:, None]
        m[active] = j + 1
        column = H[active, : j + 2, j].copy()
        for i in range(j):
            c, s = cs[active, i], sn[active, i]
            column[:, i], column[:, i + 1] = (c * column[:, i] + s * column[:, i + 1],
                                              c * column[:, i + 1] - s * column[:, i])
        rho = np.hypot(column[:, j], column[:, j + 1])
        c = np.where(rho > 0, column[:, j] / np.where(rho > 0, rho, 1.0), 1.0)
        s = np.where(rho > 0, column[:, j + 1] / np.where(rho > 0, rho, 1.0), 0.0)
        cs[active, j], sn[active, j] = c, s
        g[active, j + 1], g[active, j] = -s * g[active, j], c * g[active, j]
        keep = (np.abs(g[active, j + 1]) > rtol[active] * beta[active]) & (
            b > 1e-14 * np.maximum(1.0, np.abs(h).max(axis=1))
        )
        active = active[keep]
    return _KrylovModel(V, H, beta, m)


class _KrylovModel:
    """Linear models |J s + F| with s = V_m y in the Krylov space of each row (``_krylov``).

    ``step(rows, damping)`` is the Levenberg-Marquardt step of the model restricted to the
    space, argmin_y |H y + beta e_1|^2 + damping |y|^2, from the singular value decomposition
    H = U diag(sigma) Q^T computed once: y = -Q diag(sigma / (sigma^2 + damping)) U^T beta e_1,
    so that a rejected step is retried with a larger damping without new products (the
    hookstep of Newton-Krylov solvers: Dennis & Schnabel 1996, sec. 6.4; Viswanath 2007,
    J. Fluid Mech. 580:339). It also returns the decrease of q the linear model predicts,
    (|F|^2 - |F + J s|^2) / 2 = sum_i (1 - (damping / (sigma_i^2 + damping))^2) (U^T beta e_1)_i^2
    / 2."""

    def __init__(self, V, H, beta, m):
        rows, width = len(H), int(m.max(initial=0))
        self.V = V[:, :width]
        self.sigma, self.b = np.zeros((rows, width)), np.zeros((rows, width))
        self.Qt = np.zeros((rows, width, width))
        for size in np.unique(m[m > 0]):  # one batched SVD per Krylov dimension
            same = np.flatnonzero(m == size)
            U, sigma, Qt = np.linalg.svd(H[same, : size + 1, :size], full_matrices=False)
            # singular values below the rounding error of the largest are zero (numpy's lstsq)
            self.sigma[same, :size] = np.where(sigma > size * _EPS * sigma[:, :1], sigma, 0.0)
            self.Qt[same, :size, :size] = Qt
            self.b[same, :size] = beta[same, None] * U[:, 0, :]  # U^T beta e_1

    def step(self, rows, damping):
        sigma, b = self.sigma[rows], self.b[rows]
        denominator = sigma**2 + damping[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            filt = np.where(sigma > 0, sigma / np.where(denominator > 0, denominator, 1.0), 0.0)
            kept = np.where(sigma > 0, damping[:, None] / np.where(denominator > 0, denominator,
                                                                   1.0), 1.0)
        y = -np.einsum("rji,rj->ri", self.Qt[rows], filt * b)
        s = np.einsum("rk,rkn->rn", y, self.V[rows])
        predicted = 0.5 * np.sum((1.0 - kept**2) * b**2, axis=1)
        return s, predicted


@dataclass
class _Descents:
    """End states of a batch of descents and how each ended."""

    x: np.ndarray
    residual: np.ndarray  # max_i |R_i|
    slow: np.ndarray  # ended at a slow point
    nit: int
    nfev: int
    joined: np.ndarray | None = None  # stopped next to a fixed point already found (_hookstep)

    def __post_init__(self):
        if self.joined is None:
            self.joined = np.zeros(len(self.residual), dtype=bool)

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
            np.concatenate([p.joined for p in parts]),
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


def _forcing(X, F) -> np.ndarray:
    """Relative accuracy of the Krylov solve of a step, min(1e-2, max|F|) per row: quadratic
    convergence near a root (Eisenstat & Walker 1996, SIAM J. Sci. Comput. 17:16); never below
    the rounding error of R itself, 10 eps sqrt(N) (1 + max|x|) in norm. (Looser far from a root,
    up to 0.3, took a third fewer products, but descents from far-off random starts then
    collapsed onto a few points: 1-4 of the 9 of tests/test_fixedpoints_scale.py instead of 9.)"""
    norm = np.linalg.norm(F, axis=1)
    floor = 10.0 * _EPS * np.sqrt(F.shape[1]) * (1.0 + np.max(np.abs(X), axis=1))
    rtol = np.clip(np.max(np.abs(F), axis=1), _KRYLOV_RTOL, 1e-2)
    return np.maximum(rtol, floor / np.where(norm > 0, norm, 1.0))


def _hookstep(system, algebra: _MatrixFree, X, c, max_iter: int, tol: float, damping, known):
    """Batched Levenberg-Marquardt on q = |R|^2 / 2 in Krylov spaces (``_KrylovModel``), from the
    initial damping of each row (``damping``).

    Each round builds the Krylov space of J from R at every row still running (one product per
    Krylov vector, all rows in one GEMM) and tries the restricted step; a row whose step is
    rejected (gain ratio below ``_MIN_GAIN``) retries at four times the damping in the same space,
    at the cost of one evaluation of R and no product with J; an accepted one divides the damping
    by 10 (not 3: a step too bold for the next space costs one evaluation of R, a space built for
    a too cautious step costs its products). Every trial counts as an
    iteration (at most ``max_iter`` per row). A row that comes within ``_JOIN`` (1 + max|p|) in
    every coordinate of a fixed point p already found (``known``, or a row of the batch that met
    ``tol``) is stopped there: it has joined p, whose Newton basin it is deep inside, and the
    iterations to reach p again would find nothing new. Returns the end states, whether each
    stalled (the damping reached ``_MAX_DAMPING``), whether each joined a known point, the
    iterations, the evaluations of R and R at the end states."""
    damping = np.array(damping, dtype=float)
    known = [np.asarray(known, dtype=float).reshape(-1, X.shape[1])]
    joined = np.zeros(len(X), dtype=bool)
    F = system.residual(X, c)
    cost = 0.5 * np.sum(F**2, axis=1)
    trials = np.zeros(len(X), dtype=int)
    active = np.max(np.abs(F), axis=1) >= tol
    nfev = 0
    while True:
        idx = np.flatnonzero(active & (trials < max_iter))
        if not idx.size:
            break
        model = algebra.model(X[idx], F[idx], _forcing(X[idx], F[idx]))
        pending = np.arange(len(idx))
        while pending.size:
            rows = idx[pending]
            step, predicted = model.step(pending, damping[rows])
            trial = X[rows] + step
            F_trial = system.residual(trial, c)
            trials[rows] += 1
            nfev += len(rows)
            cost_trial = 0.5 * np.sum(F_trial**2, axis=1)
            # gain ratio (Madsen, Nielsen & Tingleff 2004, eq. 3.14), as in _levenberg_marquardt
            better = cost[rows] - cost_trial > _MIN_GAIN * predicted
            good = rows[better]
            X[good], F[good], cost[good] = trial[better], F_trial[better], cost_trial[better]
            damping[good] = np.maximum(damping[good] / 10.0, 1e-12)
            damping[rows[~better]] *= 4.0
            pending = pending[~better & (damping[rows] < _MAX_DAMPING)
                              & (trials[rows] < max_iter)]
        met = np.max(np.abs(F[idx]), axis=1) < tol
        known.append(X[idx[met]])
        active[idx] = ~met & (damping[idx] < _MAX_DAMPING)
        running = np.flatnonzero(active)
        for p in np.concatenate(known):
            near = np.max(np.abs(X[running] - p), axis=1) <= _JOIN * (1.0 + np.max(np.abs(p)))
            joined[running[near]], active[running[near]] = True, False
            running = running[~near]
    return X, damping >= _MAX_DAMPING, joined, int(trials.sum()), nfev + len(X), F


def _descend_krylov(system, algebra: _MatrixFree, X, c, max_iter: int, tol: float,
                    slow_tol: float, radius: float, known) -> _Descents:
    """``_descend`` for the matrix-free path: both initial dampings of every start in one batch
    of Krylov descents (``_hookstep``; chunks of ``algebra.rows`` rows), then Newton polish of
    one representative of each group of descents that met ``tol`` within ``radius``
    (``unique_points``) and of every descent that did not. A descent grouped with another one
    ends at its representative's polished state and keeps the residual it reached itself.

    With fixed points already ``known`` (the second round, from midpoints of pairs of them, where
    the saddles between attractors lie) each start descends once, from the small damping: a
    Newton-like descent to the root the midpoint leads to. (On 10 searches of trained 3-bit
    flip-flop networks and on the N = 3000 benchmark network it found every point that both
    dampings found, at two thirds of the cost.)

    A descent that neither met ``tol`` nor joined a point is continued by exact
    Levenberg-Marquardt steps from formed Jacobians (``_Direct``) where the memory of one batch
    of Krylov descents holds at least one Jacobian (N up to about 1500): near the ghost of a
    fold q has a narrow curved valley along which restricted Krylov steps crawl (a trained
    2-bit flip-flop network on the path between two checkpoints: 42 of 134 descents at
    max|F| ~ 5e-3 after 2000 iterations; all converge with exact steps)."""
    dampings = (1e-2,) if len(known) else (1e-2, 1e2)
    starts = np.concatenate([X] * len(dampings))
    damping = np.repeat(dampings, len(X))
    ends, stalled, joined, values, nit, nfev = [], [], [], [], 0, 0
    for s in range(0, len(starts), algebra.rows):
        part = slice(s, s + algebra.rows)
        x, stall, join, it, fev, F = _hookstep(system, algebra, starts[part].copy(), c,
                                               max_iter, tol, damping[part], known)
        ends.append(x)
        stalled.append(stall)
        joined.append(join)
        values.append(F)
        nit, nfev = nit + it, nfev + fev
        known = np.concatenate([known, x[np.max(np.abs(F), axis=1) < tol]])
    X, stalled, joined = np.concatenate(ends), np.concatenate(stalled), np.concatenate(joined)
    F = np.concatenate(values)
    residual = np.max(np.abs(F), axis=1)
    rest = np.flatnonzero((residual >= tol) & ~joined)
    # formed Jacobians in the memory one batch of Krylov descents had
    exact_rows = algebra.rows * (_KRYLOV_MAX + 8) // (4 * system.dim)
    if rest.size and exact_rows >= 1:
        # descents the Krylov steps left crawling along a narrow valley of q (near the ghost of
        # a fold): exact Levenberg-Marquardt steps from formed Jacobians, from where they stopped
        X[rest], stalled[rest], it, fev = _levenberg_marquardt(
            system, _Direct(system, c, exact_rows), X[rest], c, max_iter, tol, 1e-2
        )
        F[rest] = system.residual(X[rest], c)
        nit, nfev = nit + it, nfev + fev + rest.size
        residual[rest] = np.max(np.abs(F[rest]), axis=1)
    met = np.flatnonzero(residual < tol)
    first, labels, _ = unique_points(X[met], radius, radius)
    todo = np.r_[met[first], np.flatnonzero((residual >= tol) & ~joined)]
    X[todo], F[todo], fev = _newton_polish(system, algebra, X[todo], c, F[todo])
    residual[todo] = np.max(np.abs(F[todo]), axis=1) if todo.size else 0.0
    X[met] = X[met[first]][labels]
    slow = (residual >= tol) & stalled & ~joined
    idx = np.flatnonzero(slow)
    slow[idx] = algebra.flat(X[idx], F[idx], slow_tol)
    return _Descents(X, residual, slow, nit, nfev + fev, joined)


def _newton_polish(system, algebra, X, c, F=None, max_steps: int = _POLISH_STEPS):
    """Undamped Newton steps x <- x - (dR/dx)^{-1} R on every row while they reduce |R|.

    A regular root needs one or two; a degenerate one (a pitchfork, where R ~ x^3) converges only
    linearly, and stopping it at |R| < tol would leave points scattered around the root (at
    |x| ~ tol^(1/3)), to be counted as several. ``F``: R at X, when known."""
    nfev = 0
    if F is None:
        F, nfev = system.residual(X, c), len(X)
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


def _search(descend: Callable[..., _Descents], X, tol, rng, n_starts, unique):
    """Descents from the starts, then from midpoints of pairs of the points found (saddles sit
    between attractors; ``descend(starts, known points)``); returns the distinct points and all
    descents."""
    rounds = [descend(X, np.zeros((0, X.shape[1])))]
    points = unique(rounds[0].x[rounds[0].converged(tol)])
    if len(points) > 1:
        pairs = np.array([(i, j) for i in range(len(points)) for j in range(i)])
        pairs = pairs[rng.permutation(len(pairs))[:n_starts]]
        middle = 0.5 * (points[pairs[:, 0]] + points[pairs[:, 1]])
        rounds.append(descend(middle, points))
        points = unique(np.concatenate([points, rounds[1].x[rounds[1].converged(tol)]]))
    return points, _Descents.concatenate(rounds)


def _report(descents: _Descents, n_points: int, tol: float, residual: float) -> SolverReport:
    """One SolverReport for all descents: success iff each reached a fixed point or a slow
    point."""
    converged = descents.converged(tol)
    failed = ~converged & ~descents.slow & ~descents.joined
    n, n_failed = len(descents.residual), int(np.count_nonzero(failed))
    n_joined = int(np.count_nonzero(descents.joined))
    best = float(descents.residual[failed].min()) if n_failed else np.inf
    report = SolverReport.from_starts(
        "find_fixed_points", n, n_failed, best, tol, residual=residual,
        nit=descents.nit, nfev=descents.nfev, advice="raise max_iter or n_starts",
    )
    if not n_failed:
        message = (
            f"find_fixed_points: all {n} descents reached a fixed point "
            f"({int(np.count_nonzero(converged))}, tol {tol:g}) or a slow point "
            f"({int(np.count_nonzero(descents.slow))})"
            + (f" or joined one found by another ({n_joined}, within {_JOIN:g} (1 + max|x|))"
               if n_joined else "")
            + f"; {n_points} distinct fixed points"
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
    """(V, rows) -> (dF/dx) V (flow) or (dG/dh) V (map) at the points ``rows`` (all by default),
    V of shape (len(rows), N): one GEMM with W, the gains of each point precomputed."""
    D = system._gain(points, c)
    W = system.W
    if system.time == "continuous":  # W (phi'(x) v) - v
        return lambda V, rows=slice(None): rows_times_transpose(D[rows] * V, W) - V
    return lambda V, rows=slice(None): D[rows] * rows_times_transpose(V, W)  # phi'(a) (W v)


class _Certificate:
    """Random probes for the bound on the spectral radius of the linearisation M at one point
    away from an invariant subspace (``_remainder_bound``), advanced by one power of M at a time
    so that their products share the GEMMs of other work (``_arnoldi_eigenvalues``).

    ``values``: the eigenvalues the subspace holds, returned once the rest is certified stable.
    """

    def __init__(self, point: int, basis, values, N: int, flow: bool, seed):
        self.point, self.basis, self.values, self.flow = point, basis, values, flow
        Z = self._project(np.random.default_rng(seed).standard_normal((_BOUND_PROBES, N)))
        self.Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
        self.log_growth = np.zeros(_BOUND_PROBES)
        self.constant = np.log(np.sqrt(N) / _BOUND_T)
        self.k, self.bound = 0, np.inf

    def _project(self, Z):
        return Z - (Z @ self.basis) @ self.basis.T

    def advance(self, Y) -> None:
        """One power: Y holds the field products of the probes (dF/dx Z for a flow, whose M is
        dF/dx + I; dG/dh Z for a map); ``bound`` is updated at the powers ``_BOUND_CHECKS``."""
        Y = self._project(Y + self.Z if self.flow else Y)
        norm = np.linalg.norm(Y, axis=1)
        self.log_growth += np.log(np.maximum(norm, 1e-300))
        self.Z = Y / np.where(norm > 0, norm, 1.0)[:, None]
        self.k += 1
        if self.k in _BOUND_CHECKS:
            self.bound = float(np.exp((self.log_growth.max() + self.constant) / self.k))

    @property
    def finished(self) -> bool:
        return self.k >= _BOUND_CHECKS[-1]


def _advance(apply, certificates: list, V=None, rows=None):
    """One GEMM for the field products of ``V`` (rows ``rows`` of the points; optional) and of
    the probes of every certificate, which are advanced; returns the products of ``V``."""
    blocks = [] if V is None else [V]
    owners = [] if rows is None else [np.asarray(rows)]
    for z in certificates:
        blocks.append(z.Z)
        owners.append(np.full(_BOUND_PROBES, z.point))
    Y = apply(np.concatenate(blocks), np.concatenate(owners))
    start = 0 if V is None else len(V)
    for z in certificates:
        z.advance(Y[start : start + _BOUND_PROBES])
        start += _BOUND_PROBES
    return None if V is None else Y[: len(V)]


def _remainder_bound(system: Dynamics, points, c, bases: list, target: float) -> np.ndarray:
    """A bound, per point, on the spectral radius of the linearisation M (the map's Jacobian,
    or dF/dx + I for a flow) away from the invariant subspace spanned by ``bases[p]`` (N x d,
    orthonormal): with probability at least 1 - c (0.8 t)^s > 1 - 5e-4 (s = ``_BOUND_PROBES``
    random unit probes z_i orthogonal to it, t = ``_BOUND_T``, c = 11 powers k tried), every
    eigenvalue of M outside it has modulus at most

        b = (sqrt(N) max_i |P M^k z_i| / t)^(1 / k),   P = I - B B^T,

    since rho <= |(P M P)^k|_2^(1/k) (Gelfand) and |A z| >= |A|_2 |v_1 . z| with v_1 . z of a
    random unit z below t / sqrt(N) with probability at most 0.8 t (Kuczynski & Wozniakowski
    1992, SIAM J. Matrix Anal. Appl. 13:1094). b < 1 - stability_tol makes every such
    eigenvalue stable: |lambda| < 1 (map) or Re lambda = Re mu - 1 < 0 (flow). k grows through
    ``_BOUND_CHECKS`` until b < ``target`` (the first such b is returned; else the last)."""
    P, N = points.shape
    apply = _field_products(system, points, c)
    flow = system.time == "continuous"
    running = [_Certificate(p, bases[p], None, N, flow, (1, p)) for p in range(P)]
    bound = np.full(P, np.inf)
    while running:
        _advance(apply, running)
        for z in running:
            bound[z.point] = z.bound
        running = [z for z in running if z.bound >= target and not z.finished]
    return bound


def _check_interval(points: int, m: int, N: int) -> int:
    """Arnoldi steps between two looks at the Ritz values: every step while the eigenproblems
    of the Hessenberg matrices (~ points m^3) cost far less than one product with the N x N
    weights, up to every 8 steps."""
    return int(min(8, max(1, np.ceil(32 * points * m**3 / N**2))))


def _arnoldi_eigenvalues(system: Dynamics, points, c, stability_tol: float):
    """The least stable eigenvalues of the field Jacobian at all points by one batched Arnoldi
    iteration (every matrix-vector product of the points not yet done one GEMM; classical
    Gram-Schmidt, twice). A Ritz value counts once its residual |h_{m+1,m} y_m| is below
    1e-10 max(1, |lambda|) (the criterion of ARPACK, Lehoucq, Sorensen & Yang 1998). A point is
    done when its leading Ritz values that count (at least one) span an invariant subspace away
    from which every eigenvalue is certified stable (``_remainder_bound``, started when the
    first Ritz value that does not count is stable and more count than at the last start, in
    place of that one; its probes ride along in the GEMMs of the Arnoldi steps, which go on
    meanwhile): they then hold all its unstable eigenvalues, and the rest of its spectrum,
    typically a bulk whose edge Krylov methods resolve only slowly, need not be resolved. The
    Ritz values are looked at every ``_check_interval`` steps. Returns, per point, the leading
    Ritz values that count (least stable first; None where it was not done) and which points
    were done (the others are left to ARPACK)."""
    P, N = points.shape
    apply = _field_products(system, points, c)
    flow = system.time == "continuous"
    target = 1.0 - stability_tol
    m_max = min(N - 1, _ARNOLDI_MAX)
    V = np.zeros((P, m_max + 1, N))
    H = np.zeros((P, m_max + 1, m_max))
    v = np.random.default_rng(0).standard_normal((P, N))
    V[:, 0] = v / np.linalg.norm(v, axis=1, keepdims=True)
    done = np.zeros(P, dtype=bool)
    found: list = [None] * P
    tried = np.zeros(P, dtype=int)  # leading Ritz values that count at the last certificate
    certificates: list[_Certificate] = []
    m = last = 0  # Krylov dimension, and at the last look at the Ritz values
    while True:
        act = np.flatnonzero(~done) if m < m_max else np.zeros(0, dtype=int)
        if not act.size and not certificates:
            break
        w = _advance(apply, certificates, V[act, m] if act.size else None, act)
        for z in certificates:
            if z.bound < target:
                found[z.point], done[z.point] = z.values, True
        certificates = [z for z in certificates if not done[z.point] and not z.finished]
        if not act.size:
            continue
        basis = V[act, : m + 1]
        h = np.zeros((len(act), m + 1))
        for _ in range(2):
            more = np.matmul(basis, w[:, :, None])  # (P, m + 1, 1)
            w -= np.matmul(more.transpose(0, 2, 1), basis)[:, 0]
            h += more[:, :, 0]
        beta = np.linalg.norm(w, axis=1)
        H[act, : m + 1, m], H[act, m + 1, m] = h, beta
        V[act, m + 1] = w / np.where(beta > 0, beta, 1.0)[:, None]
        m += 1
        if m - last < _check_interval(act.size, m, N) and m < m_max and np.all(beta > 0):
            continue
        last = m
        for p in act[~done[act]]:
            values, vectors = np.linalg.eig(H[p, :m, :m])
            residual = np.abs(H[p, m, m - 1] * vectors[-1])
            order = np.argsort(-growth_rates(values, system.time), kind="stable")
            values, vectors, residual = values[order], vectors[:, order], residual[order]
            good = residual <= 1e-10 * np.maximum(1.0, np.abs(values))
            lead = int(np.argmin(np.r_[good, False]))
            if lead == m:  # an invariant subspace: the whole spectrum is known
                found[p], done[p] = values, True
                continue
            if lead > tried[p] and growth_rates(values, system.time)[lead] < -stability_tol:
                tried[p] = lead  # a certificate of the larger subspace replaces the last one
                Y = V[p, :m].T @ vectors[:, :lead]
                Q, R = np.linalg.qr(np.concatenate([Y.real, Y.imag], axis=1))
                keep = np.abs(np.diagonal(R)) > 1e-8 * np.abs(R).max()
                certificates = [z for z in certificates if z.point != p]
                certificates.append(_Certificate(p, Q[:, keep], values[:lead], N, flow,
                                                 (1, p, lead)))
        certificates = [z for z in certificates if not done[z.point]]
    return found, done


def _least_stable_eigenvalues(system: Dynamics, points, c, stability_tol: float,
                              max_memory: float) -> np.ndarray:
    """The least stable eigenvalues of the field Jacobian at each point, matrix-free: batched
    Arnoldi (``_arnoldi_eigenvalues``), then ARPACK (largest real part for a flow, largest
    modulus for a map) at the points where it was not done, k >= ``_N_EIGS`` doubled until
    one that is not unstable is among them. (P, k), least stable first, NaN after the last
    eigenvalue computed at a point (k: the most computed at any point)."""
    N = system.dim
    found, done = [], np.zeros(0, dtype=bool)
    budget = min(4 * _CHUNK_BYTES, max_memory / 2)  # Krylov bases of one chunk of points
    size = max(1, int(budget // (8 * N * (min(N - 1, _ARNOLDI_MAX) + 1))))
    for s in range(0, len(points), size):  # Krylov bases of a chunk of points at a time
        part, ok = _arnoldi_eigenvalues(system, points[s : s + size], c, stability_tol)
        found, done = found + part, np.r_[done, ok]
    which = "LR" if system.time == "continuous" else "LM"
    left, k = np.flatnonzero(~done), _N_EIGS
    while left.size:  # the same k at every point left to ARPACK
        for p in left:
            product = _field_products(system, points[p][None], c)
            op = LinearOperator((N, N), matvec=lambda v, f=product: f(v.reshape(1, -1))[0],
                                dtype=float)
            try:
                values = eigs(op, k=k, which=which, ncv=min(N - 1, max(2 * k + 1, 40)),
                              return_eigenvectors=False, maxiter=50 * N, tol=1e-10)
            except ArpackNoConvergence:
                values = np.linalg.eigvals(system.field_jacobian(points[p], c))
            found[p] = sort_eigenvalues(values, system.time)[:k]
        rates = np.array([growth_rates(found[p], system.time) for p in left])
        if k >= N - 2 or not np.any(np.all(rates > stability_tol, axis=1)):
            break
        k = min(2 * k, N - 2)
    k = max(_N_EIGS, max((len(f) for f in found), default=0))
    out = np.full((len(points), k), np.nan, dtype=complex)
    for p, values in enumerate(found):
        out[p, : len(values)] = values
    return out


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
            per_start = (_KRYLOV_MAX + 8) * 8 * N  # Krylov basis, gains, trials of one descent
            # one point's Arnoldi basis and certificate probes, or one dense eigenproblem
            eig_bytes = 8 * N * (_ARNOLDI_MAX + 4) if N > _DENSE_EIG_MAX_N else 3 * 8 * N**2
            _refuse(state + per_start + eig_bytes, max_memory,
                    "the starts, one matrix-free step and the eigenvalues", N)
            budget = min(max_memory - state - eig_bytes, _KRYLOV_BYTES)
            rows = int(max(1, min(2 * n_starts, budget // per_start)))
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
    initial_states=None,
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
    initial_states : array_like (S, N), optional
        States to start the descents from (states of the network: x for a flow, h for a map),
        used as given instead of sampling ``n_starts`` states along trajectories, e.g. the
        states of the user's own simulations (as FixedPointFinder takes them, Golub & Sussillo
        2018, J. Open Source Softw. 3:1003); ``n_starts`` is then S. For a network with exact
        low-rank factors the latent search starts from their projections kappa.

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
    if initial_states is not None:
        initial_states = as_array(initial_states, "initial_states", shape=(None, system.dim))
        n_starts = len(initial_states)
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
            if initial_states is None:
                K = explorer.trajectories(rng, n_starts, trajectory_steps)
                K += 1e-3 * rng.standard_normal(K.shape)
            else:
                K = system.project(initial_states)
            kappa, descents = _search(
                lambda K0, _: _descend_latent(latent, explorer, K0, max_iter, tol, slow_tol),
                K, tol, rng, n_starts, unique,
            )
            points = latent.lift(kappa)
            eigenvalues = latent.eigenvalues(kappa)
        else:
            algebra = (_Direct if method == "direct" else _MatrixFree)(system, c, rows)
            if initial_states is None:
                X = system.trajectory_states(rng, n_starts, c, trajectory_steps)
                X += 1e-3 * rng.standard_normal(X.shape)
            else:
                X = initial_states.copy()
            if method == "direct":
                def descend(X0, known):
                    return _descend(system, algebra, X0, c, max_iter, tol, slow_tol)
            else:
                def descend(X0, known):
                    return _descend_krylov(system, algebra, X0, c, max_iter, tol, slow_tol,
                                           dedup_radius, known)
            points, descents = _search(descend, X, tol, rng, n_starts, unique)
            if method == "matrix-free" and system.dim > _DENSE_EIG_MAX_N:
                eigenvalues = _least_stable_eigenvalues(system, points, c, stability_tol,
                                                        max_memory)
            else:  # one N x N Jacobian and its eigen-decomposition per point of a chunk
                eig_rows = max(1, int(max_memory // (3 * 8 * system.dim**2)))
                eigenvalues = _dense_eigenvalues(system, points, c, eig_rows)
        F = system.residual(points, c)
    accepted = float(np.max(np.abs(F))) if F.size else 0.0
    report = _report(descents, len(points), tol, accepted)
    warn_report(report, stacklevel=3)
    # eigenvalues not computed (NaN) are certified stable (_arnoldi_eigenvalues)
    known = np.where(np.isnan(eigenvalues), -np.inf if system.time == "continuous" else 0.0,
                     eigenvalues)
    stability = classify(known, system.time, stability_tol).reshape(len(points))
    unstable = np.count_nonzero(growth_rates(known, system.time) > stability_tol, axis=1)
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
        n_joined=int(np.count_nonzero(descents.joined)),
    )
