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
different basins of q - then polished by undamped Newton steps with the analytic Jacobian. A
second round starts from the midpoints of pairs of the points found, where the saddles between
attractors lie (for a 3-bit flip-flop this finds all 3^3 = 27 points, tests/test_fixedpoints.py).

Every descent ends in one of three ways, and the result counts each:

- at a fixed point: max_i |R_i| < ``tol``;
- at a slow point: a local minimum of q that is not a root (the descent could not decrease q any
  more and the gradient of q is negligible, |J^T R| <= ``slow_tol`` (1 + |J|_F) |R|); such a
  descent is accounted for (``n_slow``);
- neither (it ran out of iterations, or stalled where the gradient of q is not negligible): a
  failure (``n_failed``), which makes ``converged`` False and warns with a ``ConvergenceWarning``
  giving the count and the smallest residual reached.

Fixed points are deduplicated (``lowrank.dynamics.unique_points``) and classified stable /
unstable / marginal with the stated ``stability_tol`` (``lowrank.dynamics.classify``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from ._checks import as_array, as_bool, as_float, as_int, as_rng
from ._repr import compact_repr
from .dynamics import (
    STABILITY_TOL,
    SolverReport,
    classify,
    growth_rates,
    unique_points,
    warn_report,
)
from .dynamics.manifold import Manifold, find_manifold, find_slow_manifold
from .dynamics.systems import Dynamics

__all__ = ["Dynamics", "FixedPoints", "find_fixed_points"]

#: a descent stalled with |J^T R| below this fraction of (1 + |J|_F) |R| ended at a slow point
SLOW_TOL = 1e-6
_MAX_DAMPING = 1e12  # Levenberg-Marquardt damping at which a descent has stalled
_MIN_GAIN = 1e-3  # smallest accepted ratio of actual to predicted decrease of q
_POLISH_STEPS = 60  # Newton steps at most after the descent (a cubic root gains 2/3 per step)


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
    eigenvalues : ndarray (P, N) complex
        Eigenvalues of the linearisation (dR/dx for a flow, the map's Jacobian for a map), least
        stable first.
    stable : ndarray (P,) bool
        Strictly stable: the largest growth rate (Re lambda for a flow, |lambda| - 1 for a map)
        is below -stability_tol.
    n_unstable : ndarray (P,) int
        Number of growth rates above +stability_tol (0 for stable and marginal points, 1 for
        index-1 saddles, ...).
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
        points, traced by ``lowrank.dynamics.manifold.find_manifold``: dimension, samples in
        order along the curve, centre, radius, closed, transverse stability, residual; then,
        with ``slow_manifold_tol``, slow manifolds joining fixed points (approximate continuous
        attractors, ``find_slow_manifold``; ``speed`` and ``speed_tol`` state how slow).
    on_manifold : ndarray (P,) int
        Index in ``manifolds`` of the family each point lies on, -1 for an isolated point.
    """

    __repr__ = compact_repr

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
    stability: np.ndarray
    marginal: np.ndarray
    n_failed: int
    stability_tol: float
    report: SolverReport
    manifolds: list[Manifold]
    on_manifold: np.ndarray

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
    def n_marginal(self) -> int:
        return int(np.count_nonzero(self.marginal))

    @property
    def n_distinct(self) -> int:
        """Isolated fixed points plus manifolds of fixed points, each manifold counted once."""
        return int(np.count_nonzero(self.on_manifold < 0)) + len(self.manifolds)


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


def _levenberg_marquardt(system: Dynamics, X, c, max_iter: int, tol: float, damping: float):
    """Batched LM on q = |R|^2 / 2 from initial damping ``damping``.

    Returns the end states, whether each stalled (no step decreases q even with the largest
    damping), the iterations and the evaluations of R."""
    damping = np.full(X.shape[0], float(damping))
    F = system.residual(X, c)
    cost = 0.5 * np.sum(F**2, axis=1)
    eye = np.eye(system.dim)
    active = np.max(np.abs(F), axis=1) >= tol
    nit = nfev = 0
    for _ in range(max_iter):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        J = system.jacobian(X[idx], c)
        JT = np.transpose(J, (0, 2, 1))
        A = JT @ J + damping[idx, None, None] * eye
        g = np.einsum("sij,sj->si", JT, F[idx])
        step = np.linalg.solve(A, -g[..., None])[..., 0]
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


def _newton_polish(system: Dynamics, X, c, max_steps: int = _POLISH_STEPS):
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
        J, rhs = system.jacobian(X[idx], c), -F[idx][..., None]
        with np.errstate(all="ignore"):
            try:
                step = np.linalg.solve(J, rhs)[..., 0]
            except np.linalg.LinAlgError:  # a singular Jacobian somewhere: row by row
                step = np.array([
                    np.linalg.lstsq(a, b, rcond=None)[0][:, 0] for a, b in zip(J, rhs, strict=True)
                ])
            trial = X[idx] + step
            F_trial = system.residual(trial, c)
        nfev += idx.size
        better = np.sum(F_trial**2, axis=1) < np.sum(F[idx] ** 2, axis=1)
        good = idx[better]
        X[good], F[good] = trial[better], F_trial[better]
        moved = np.max(np.abs(step), axis=1) > 1e-15 * (1.0 + np.max(np.abs(trial), axis=1))
        active[idx] = better & moved
    return X, F, nfev


def _descend(system: Dynamics, X: np.ndarray, c, max_iter: int, tol: float, slow_tol: float):
    """Minimise q from every start twice - a Gauss-Newton-like descent (small initial damping) and
    a gradient-like one (large damping), which end in different basins of q - then polish by
    Newton. A descent that stalled off a root with a negligible gradient of q is a slow point."""
    runs = [_levenberg_marquardt(system, X.copy(), c, max_iter, tol, d) for d in (1e-2, 1e2)]
    X = np.concatenate([r[0] for r in runs])
    stalled = np.concatenate([r[1] for r in runs])
    X, F, nfev = _newton_polish(system, X, c)
    residual = np.max(np.abs(F), axis=1) if X.size else np.zeros(len(X))
    slow = (residual >= tol) & stalled
    idx = np.flatnonzero(slow)
    J = system.jacobian(X[idx], c)
    gradient = np.linalg.norm(np.einsum("sji,sj->si", J, F[idx]), axis=1)
    scale = (1.0 + np.linalg.norm(J, axis=(1, 2))) * np.linalg.norm(F[idx], axis=1)
    slow[idx] = gradient <= slow_tol * scale
    return _Descents(X, residual, slow, sum(r[2] for r in runs), sum(r[3] for r in runs) + nfev)


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


def _manifolds(system: Dynamics, points, stability, c, tol, stability_tol, atol, slow_tol):
    """Group the fixed points into manifolds.

    First an exact family of fixed points through each marginal point not yet on one
    (``find_manifold`` returns None at a marginal point whose null directions are not tangent to
    solutions: a pitchfork point, an isolated degenerate root). Then, with ``slow_tol``, the slow
    manifold (speed max|R| <= ``slow_tol``) through each remaining point, stable points first;
    it is kept when it closes or joins at least two fixed points."""
    fun = system.newton_function(c)
    manifolds: list[Manifold] = []
    label = np.full(len(points), -1)
    coordinates = system.project if system.readout.shape[1] else None

    def group(manifold, i, keep_alone):
        on = np.array([label[j] < 0 and manifold.contains(x, atol) for j, x in enumerate(points)])
        on[i] = True
        if keep_alone or manifold.closed or np.count_nonzero(on) >= 2:
            label[on] = len(manifolds)
            manifolds.append(manifold)

    for i in np.flatnonzero(stability == "marginal"):
        if label[i] < 0:
            manifold = find_manifold(
                fun, points[i], time=system.time, tol=tol, stability_tol=stability_tol
            )
            if manifold is not None:
                group(manifold, i, True)
    if slow_tol is not None:
        for i in range(len(points)):  # stable points first (find_fixed_points' order)
            if label[i] < 0:
                manifold = find_slow_manifold(
                    fun, points[i], slow_tol, time=system.time, coordinates=coordinates,
                    tol=tol, stability_tol=stability_tol,
                )
                group(manifold, i, False)
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
) -> FixedPoints:
    """Find the fixed points of a tanh network (Sussillo & Barak 2013, q-minimisation).

    Parameters
    ----------
    model_or_network : LowRankNetwork, lowrank.RNN, torch.nn.RNN, dict, tuple or ndarray (N, N)
        The network (``lowrank.dynamics.as_system``): also a torch ``nn.RNN`` / ``nn.RNNCell``
        (tanh, one layer), a module holding one, or its state dict (a map,
        h' = tanh(W_hh h + W_ih u + b_ih + b_hh)). A bare weight matrix W needs ``time``.
    inputs : array_like (K,), optional
        A constant input u under which fixed points are sought (zero if omitted).
    n_starts : int
        Number of starting states, sampled along trajectories.
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
        directions below 1e-6 of the largest singular value); the points found on one are
        grouped with it (``on_manifold``) and it is counted once (``n_distinct``). A finite
        network whose family is broken into isolated points with small but non-marginal
        eigenvalues has no manifold at this tolerance: see ``slow_manifold_tol``.
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

    Returns
    -------
    FixedPoints
        Deduplicated fixed points with kappa, q, eigenvalues, stability, the manifolds they lie
        on; ``converged`` and ``report`` say whether every descent was accounted for.

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
    if slow_manifold_tol is not None:
        slow_manifold_tol = as_float(slow_manifold_tol, "slow_manifold_tol", positive=True)
    rng = as_rng(seed)
    if inputs is not None:
        inputs = as_array(inputs, "inputs", shape=(system.n_inputs,), allow_empty=True)
    c = system.drive(inputs)

    def unique(X):
        return X[unique_points(X, dedup_radius, dedup_radius)[0]]

    with threadpool_limits(1):
        X = system.trajectory_states(rng, n_starts, c, trajectory_steps)
        X += 1e-3 * rng.standard_normal(X.shape)
        rounds = [_descend(system, X, c, max_iter, tol, slow_tol)]
        points = unique(rounds[0].x[rounds[0].converged(tol)])
        if len(points) > 1:
            # second round: saddles sit between attractors, so start again from midpoints of pairs
            pairs = np.array([(i, j) for i in range(len(points)) for j in range(i)])
            pairs = pairs[rng.permutation(len(pairs))[:n_starts]]
            middle = 0.5 * (points[pairs[:, 0]] + points[pairs[:, 1]])
            rounds.append(_descend(system, middle, c, max_iter, tol, slow_tol))
            points = unique(np.concatenate([points, rounds[1].x[rounds[1].converged(tol)]]))
        descents = _Descents.concatenate(rounds)
        F = system.residual(points, c)
        eigenvalues = system.stability_eigenvalues(points, c)
    accepted = float(np.max(np.abs(F))) if F.size else 0.0
    report = _report(descents, len(points), tol, accepted)
    warn_report(report, stacklevel=3)
    stability = classify(eigenvalues, system.time, stability_tol).reshape(len(points))
    n_unstable = np.count_nonzero(growth_rates(eigenvalues, system.time) > stability_tol, axis=1)
    # stable first, then marginal, then by number of unstable directions; larger |x| first
    order = np.lexsort((-np.linalg.norm(points, axis=1), stability == "marginal", n_unstable))
    points, F, eigenvalues = points[order], F[order], eigenvalues[order]
    stability, n_unstable = stability[order], n_unstable[order]
    families, on_manifold = [], np.full(len(points), -1)
    if trace_manifolds and (np.any(stability == "marginal") or slow_manifold_tol is not None):
        with threadpool_limits(1):
            families, on_manifold = _manifolds(
                system, points, stability, c, tol, stability_tol, max(dedup_radius, 1e-6),
                slow_manifold_tol,
            )
    return FixedPoints(
        x=points,
        kappa=system.project(points),
        q=0.5 * np.sum(F**2, axis=1),
        eigenvalues=eigenvalues,
        stable=stability == "stable",
        n_unstable=n_unstable,
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
    )
