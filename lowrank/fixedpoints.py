"""Empirical fixed points of a full network: q-minimisation, Newton refinement, classification.

Following Sussillo & Barak (2013, Neural Comput. 25:626), fixed points and slow points are the
minima of the speed q(x) = |F(x)|^2 / 2, where F is the velocity of a flow or the step of a map:

    flow (continuous time):  F(x) = -x + W tanh(x) + W_in u + b,     stable iff max Re(lambda) < 0
                             for the eigenvalues of dF/dx = -1 + W diag(1 - tanh(x)^2);
    map (discrete time):     F(h) = tanh(W h + W_in u + b) - h,      stable iff max |lambda| < 1
                             for the eigenvalues of the map's Jacobian diag(1 - h'^2) W.

Starts are states visited by trajectories from random initial conditions (where the dynamics
actually go), perturbed slightly. All starts are minimised together by a batched Levenberg-Marquardt
iteration on q (Gauss-Newton with adaptive damping; it follows the gradient far from a root and
becomes Newton near one), twice - from a small and from a large initial damping, which end in
different basins of q - then polished by undamped Newton steps with the analytic Jacobian. A
second round starts from the midpoints of pairs of the points found, where the saddles between
attractors lie (for a 3-bit flip-flop this finds all 3^3 = 27 points, tests/test_fixedpoints.py).
Only points with |F|_inf below ``tol`` count as fixed points (slow points are reported by number,
with the residual every descent reached); they are deduplicated and classified by the stability
rule of their time convention. When no descent converges, a ConvergenceWarning gives the smallest
residual reached.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from ._checks import ConvergenceWarning, as_array, as_float, as_int, as_rng, choose
from .network import LowRankNetwork

__all__ = ["Dynamics", "FixedPoints", "find_fixed_points"]


@dataclass
class Dynamics:
    """A tanh network in a given time convention, as the fixed-point finder sees it.

    Attributes
    ----------
    W : ndarray (N, N)
        Recurrent weights (for a low-rank network, m n^T / N + g chi).
    W_in : ndarray (N, K)
        Input weights.
    bias : ndarray (N,)
        Constant input b.
    time : str
        "continuous" (a flow) or "discrete" (a map).
    readout : ndarray (N, R)
        Vectors n on which states are projected: kappa = n^T phi(x) / N (flow) or n^T h / N (map).
    """

    W: np.ndarray
    W_in: np.ndarray
    bias: np.ndarray
    time: str
    readout: np.ndarray

    @classmethod
    def from_object(cls, obj, time: str | None = None) -> Dynamics:
        """Build from a LowRankNetwork, a ``lowrank.RNN`` or a square weight matrix."""
        if time is not None:
            time = choose(time, "time", ("continuous", "discrete"))
        if isinstance(obj, Dynamics):
            if time is not None and time != obj.time:
                raise ValueError(
                    f"time={time!r} contradicts the dynamics' time convention {obj.time!r}"
                )
            return obj
        if isinstance(obj, LowRankNetwork):
            return cls(obj.dense(), obj.inputs, obj.bias, time or "continuous", obj.n)
        if hasattr(obj, "weights") and hasattr(obj, "time") and hasattr(obj, "recurrent_weights"):
            if time is not None and time != obj.time:
                raise ValueError(
                    f"time={time!r} contradicts the model's own time convention {obj.time!r}"
                )
            return cls.from_weights(obj.weights(), obj.time)
        if isinstance(obj, np.ndarray):
            W = as_array(obj, "model_or_network", ndim=2)
            if W.shape[0] != W.shape[1]:
                raise ValueError(
                    f"model_or_network as a weight matrix must be square, got shape {W.shape}"
                )
            if time is None:
                raise ValueError(
                    "time must be given ('continuous' or 'discrete') for a bare weight matrix"
                )
            N = W.shape[0]
            return cls(W, np.zeros((N, 0)), np.zeros(N), time, np.zeros((N, 0)))
        raise TypeError(
            "model_or_network must be a LowRankNetwork, a lowrank.RNN or a square numpy array, "
            f"got {type(obj).__name__}"
        )

    @classmethod
    def from_weights(cls, weights: dict, time: str) -> Dynamics:
        """Build from the parameters of a ``lowrank.RNN`` (as in ``RNN.weights()`` or a checkpoint).

        ``weight_rec`` (N, N) or ``m``, ``n`` (N, R) with W = m n^T / N; ``weight_in`` (N, K);
        optional ``bias`` (N,). The readout vectors are n when present.
        """
        time = choose(time, "time", ("continuous", "discrete"))
        if not isinstance(weights, dict):
            raise TypeError(f"weights must be a dict of arrays, got {type(weights).__name__}")
        w = {k: as_array(v, f"weights[{k!r}]", allow_empty=True) for k, v in weights.items()}
        if "weight_rec" in w:
            W = as_array(w["weight_rec"], "weights['weight_rec']", ndim=2)
            N = W.shape[0]
            W = as_array(W, "weights['weight_rec']", shape=(N, N))
            readout = np.zeros((N, 0))
        elif "m" in w and "n" in w:
            m = as_array(w["m"], "weights['m']", ndim=2)
            n = as_array(w["n"], "weights['n']", shape=m.shape)
            W = m @ n.T / m.shape[0]
            readout = n
        else:
            raise ValueError(f"weights must hold 'weight_rec' or 'm' and 'n', got keys {sorted(w)}")
        N = W.shape[0]
        W_in = as_array(
            w.get("weight_in", np.zeros((N, 0))),
            "weights['weight_in']",
            shape=(N, None),
            allow_empty=True,
        )
        bias = as_array(w.get("bias", np.zeros(N)), "weights['bias']", shape=(N,))
        return cls(W, W_in, bias, time, readout)

    @property
    def N(self) -> int:
        return self.W.shape[0]

    def drive(self, inputs) -> np.ndarray:
        """W_in u + b for a constant input u (None means u = 0)."""
        if inputs is None:
            return self.bias.copy()
        u = as_array(inputs, "inputs", shape=(self.W_in.shape[1],), allow_empty=True)
        return self.W_in @ u + self.bias

    def residual(self, X: np.ndarray, c: np.ndarray) -> np.ndarray:
        """F for a batch of states X (S, N)."""
        if self.time == "discrete":
            return np.tanh(X @ self.W.T + c) - X
        return -X + np.tanh(X) @ self.W.T + c

    def jacobian(self, X: np.ndarray, c: np.ndarray) -> np.ndarray:
        """dF/dx for a batch of states, shape (S, N, N)."""
        eye = np.eye(self.N)
        if self.time == "discrete":
            gain = 1.0 - np.tanh(X @ self.W.T + c) ** 2
            return gain[:, :, None] * self.W[None] - eye
        gain = 1.0 - np.tanh(X) ** 2
        return self.W[None] * gain[:, None, :] - eye

    def stability_eigenvalues(self, X: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Eigenvalues deciding stability: of dF/dx (flow) or of the map's Jacobian (map).

        Sorted with the least stable first: by decreasing real part (flow) or modulus (map).
        """
        J = self.jacobian(X, c)
        if self.time == "discrete":
            J = J + np.eye(self.N)
        values = np.linalg.eigvals(J)
        key = np.abs(values) if self.time == "discrete" else values.real
        return np.take_along_axis(values, np.argsort(-key, axis=1, kind="stable"), axis=1)

    def project(self, X: np.ndarray) -> np.ndarray:
        """kappa = n^T phi(x) / N (flow) or n^T h / N (map), shape (S, R)."""
        activity = X if self.time == "discrete" else np.tanh(X)
        return activity @ self.readout / self.N

    def trajectory_states(self, rng, n_starts: int, c: np.ndarray, steps: int) -> np.ndarray:
        """States visited along trajectories from random initial conditions (S, N)."""
        X = rng.uniform(-1.0, 1.0, (n_starts, self.N))
        if self.time == "continuous":
            X *= 2.0
        stop = rng.integers(0, steps + 1, n_starts)
        states = X.copy()
        for step in range(steps):
            X = X + (self.residual(X, c) if self.time == "discrete" else 0.2 * self.residual(X, c))
            states[stop == step + 1] = X[stop == step + 1]
        return states


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
        The speed |F(x)|^2 / 2 at each point (the residual).
    eigenvalues : ndarray (P, N) complex
        Stability eigenvalues, least stable first.
    stable : ndarray (P,) bool
        Max Re(lambda) < 0 (flow) or max |lambda| < 1 (map).
    n_unstable : ndarray (P,) int
        Number of unstable directions (0 for stable points, 1 for index-1 saddles, ...).
    time : str
        The time convention used for stability.
    n_starts, n_slow : int
        Starts used, and how many of the first round's 2 n_starts descents (two per start) ended
        at a slow point (a minimum of q that is not a root) or ran out of iterations.
    residuals : ndarray (2 n_starts,)
        max_i |F_i| reached by each descent of the first round (below ``tol``: converged).
    tol : float
        The tolerance on max_i |F_i| a fixed point had to meet.
    """

    x: np.ndarray
    kappa: np.ndarray
    q: np.ndarray
    eigenvalues: np.ndarray
    stable: np.ndarray
    n_unstable: np.ndarray
    time: str
    n_starts: int
    n_slow: int
    residuals: np.ndarray
    tol: float

    @property
    def converged(self) -> bool:
        """Whether at least one descent reached a fixed point (max_i |F_i| < tol)."""
        return bool(np.any(self.residuals < self.tol))

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def n_stable(self) -> int:
        return int(np.count_nonzero(self.stable))


def _levenberg_marquardt(dyn: Dynamics, X, c, max_iter: int, tol: float, damping: float):
    """Batched LM on q = |F|^2 / 2 from initial damping ``damping``; returns states and |F|_inf."""
    damping = np.full(X.shape[0], float(damping))
    F = dyn.residual(X, c)
    cost = 0.5 * np.sum(F**2, axis=1)
    eye = np.eye(dyn.N)
    active = np.max(np.abs(F), axis=1) > tol
    for _ in range(max_iter):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        J = dyn.jacobian(X[idx], c)
        JT = np.transpose(J, (0, 2, 1))
        A = JT @ J + damping[idx, None, None] * eye
        g = np.einsum("sij,sj->si", JT, F[idx])
        step = np.linalg.solve(A, -g[..., None])[..., 0]
        trial = X[idx] + step
        F_trial = dyn.residual(trial, c)
        cost_trial = 0.5 * np.sum(F_trial**2, axis=1)
        better = cost_trial < cost[idx]
        good = idx[better]
        X[good], F[good], cost[good] = trial[better], F_trial[better], cost_trial[better]
        damping[good] = np.maximum(damping[good] / 3.0, 1e-12)
        damping[idx[~better]] *= 4.0
        # stop where converged, or where the damping has exploded (a slow point: q's minimum > 0)
        active[idx] = (np.max(np.abs(F[idx]), axis=1) > tol) & (damping[idx] < 1e12)
    return X, np.max(np.abs(F), axis=1)


def _newton_polish(dyn: Dynamics, X, c, steps: int = 3):
    """Undamped Newton steps x <- x - (dF/dx)^{-1} F, kept only where they reduce |F|."""
    F = dyn.residual(X, c)
    for _ in range(steps):
        try:
            step = np.linalg.solve(dyn.jacobian(X, c), -F[..., None])[..., 0]
        except np.linalg.LinAlgError:
            break
        trial = X + step
        F_trial = dyn.residual(trial, c)
        better = np.sum(F_trial**2, axis=1) < np.sum(F**2, axis=1)
        X[better], F[better] = trial[better], F_trial[better]
    return X, np.max(np.abs(F), axis=1)


def _descend(dyn: Dynamics, X: np.ndarray, c: np.ndarray, max_iter: int, tol: float):
    """Minimise q from every start twice - a Gauss-Newton-like descent (small initial damping) and a
    gradient-like one (large damping), which end in different basins of q - then polish by Newton.
    Returns the 2S end states and their |F|_inf."""
    X = np.concatenate(
        [
            _levenberg_marquardt(dyn, X.copy(), c, max_iter, tol, damping)[0]
            for damping in (1e-2, 1e2)
        ]
    )
    return _newton_polish(dyn, X, c)


def _unique(X: np.ndarray, radius: float) -> np.ndarray:
    """The rows of X without near-duplicates (see ``_deduplicate``)."""
    return X[_deduplicate(X, radius)] if len(X) else X


def _deduplicate(X: np.ndarray, radius: float) -> np.ndarray:
    """Indices of a subset of rows with no two closer than ``radius`` * (1 + |x|) (greedy)."""
    keep: list[int] = []
    for i, x in enumerate(X):
        scale = radius * (1.0 + np.linalg.norm(x))
        if all(np.linalg.norm(x - X[j]) > scale for j in keep):
            keep.append(i)
    return np.array(keep, dtype=int)


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
) -> FixedPoints:
    """Find the fixed points of a tanh network (Sussillo & Barak 2013, q-minimisation).

    Parameters
    ----------
    model_or_network : LowRankNetwork, lowrank.RNN or ndarray (N, N)
        The network. A bare weight matrix W needs ``time``.
    inputs : array_like (K,), optional
        A constant input u under which fixed points are sought (zero if omitted).
    n_starts : int
        Number of starting states, sampled along trajectories.
    seed : int or numpy.random.Generator
        Seeds the starts.
    time : {"continuous", "discrete"}, optional
        Time convention; a model carries its own, a LowRankNetwork defaults to "continuous".
    tol : float
        A point is a fixed point when max_i |F_i(x)| < tol.
    max_iter : int
        Levenberg-Marquardt iterations per start.
    trajectory_steps : int
        Length of the trajectories the starts are sampled from.
    dedup_radius : float
        Points closer than dedup_radius * (1 + |x|) are one point.

    Returns
    -------
    FixedPoints
        Deduplicated fixed points (stable and unstable), with kappa, q, eigenvalues, stability.

    Warns
    -----
    ConvergenceWarning
        A RuntimeWarning: when no start converged to a fixed point (the message gives the smallest
        max_i |F_i| reached; ``FixedPoints.residuals`` holds every descent's, ``converged`` is
        False).
    """
    dyn = Dynamics.from_object(model_or_network, time)
    n_starts = as_int(n_starts, "n_starts", minimum=1)
    tol = as_float(tol, "tol", positive=True)
    max_iter = as_int(max_iter, "max_iter", minimum=1)
    trajectory_steps = as_int(trajectory_steps, "trajectory_steps", minimum=0)
    dedup_radius = as_float(dedup_radius, "dedup_radius", positive=True)
    rng = as_rng(seed)
    c = dyn.drive(inputs)
    with threadpool_limits(1):
        X = dyn.trajectory_states(rng, n_starts, c, trajectory_steps)
        X += 1e-3 * rng.standard_normal(X.shape)
        X, residual = _descend(dyn, X, c, max_iter, tol)
        converged = residual < tol
        points = _unique(X[converged], dedup_radius)
        if len(points) > 1:
            # second round: saddles sit between attractors, so start again from midpoints of pairs
            pairs = np.array([(i, j) for i in range(len(points)) for j in range(i)])
            pairs = pairs[rng.permutation(len(pairs))[:n_starts]]
            Y, res_pairs = _descend(
                dyn, 0.5 * (points[pairs[:, 0]] + points[pairs[:, 1]]), c, max_iter, tol
            )
            points = _unique(np.concatenate([points, Y[res_pairs < tol]]), dedup_radius)
        F = dyn.residual(points, c)
        eigenvalues = (
            dyn.stability_eigenvalues(points, c) if len(points) else np.zeros((0, dyn.N), complex)
        )
    if not converged.any():
        warnings.warn(
            "no start converged to a fixed point (smallest max|F| reached: "
            f"{residual.min():.3g} > tol {tol:g}); raise max_iter or n_starts",
            ConvergenceWarning,
            stacklevel=2,
        )
    if dyn.time == "discrete":
        unstable = np.abs(eigenvalues) > 1.0
    else:
        unstable = eigenvalues.real > 0.0
    n_unstable = unstable.sum(axis=1)
    order = (
        np.lexsort((-np.linalg.norm(points, axis=1), n_unstable))
        if len(points)
        else np.zeros(0, int)
    )
    return FixedPoints(
        x=points[order],
        kappa=dyn.project(points[order]),
        q=0.5 * np.sum(F[order] ** 2, axis=1),
        eigenvalues=eigenvalues[order],
        stable=n_unstable[order] == 0,
        n_unstable=n_unstable[order],
        time=dyn.time,
        n_starts=n_starts,
        n_slow=int(np.count_nonzero(~converged)),
        residuals=residual,
        tol=tol,
    )
