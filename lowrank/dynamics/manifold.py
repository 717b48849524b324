"""Continuous families of solutions (manifolds of fixed points): detection, tracing, stability.

A square system F(x) = 0, F: R^n -> R^n, can have a whole d-dimensional manifold of solutions
instead of isolated ones: the ring attractor of a rank-two network with overlap matrix 2 I
(Mastrogiuseppe & Ostojic 2018, Neuron 99:609; Beiran et al. 2021, Neural Comput. 33:1572) is a
circle of fixed points, d = 1. At every point of such a manifold the Jacobian dF/dx has d null
directions, tangent to it. Multi-start Newton then lands on scattered points of the manifold, as
many as there are starts; this module turns them into one object.

API
---
``find_manifold(fun, x0, *, time="continuous", tol=1e-10, null_tol=1e-6, step=None, bound=None,
max_points=2000, max_iter=20, stability_tol=STABILITY_TOL, coordinates=None) -> Manifold | None``
    ``x0`` is a solution of F (residual <= ``tol``). If dF/dx(x0) has d >= 1 null directions
    (singular values <= ``null_tol`` max(1, largest singular value)) *and* they are tangent to a
    family of solutions, the manifold through ``x0`` is returned; otherwise None (an isolated
    degenerate solution, such as a pitchfork point, whose null direction is not a family).

    d = 1: pseudo-arclength predictor-corrector (Keller 1977; Allgower & Georg, *Introduction to
    Numerical Continuation Methods*, 2003, ch. 2). Predictor: a step of length h along the unit null
    vector t. Corrector: Gauss-Newton on the bordered system [F(x); t.(x - x_pred)] = 0 (n + 1
    equations, n unknowns, consistent on the curve), i.e. Newton restricted to the hyperplane
    orthogonal to the tangent (each step a constrained least-squares solve, its KKT system).
    The step halves when the corrector fails or the tangent turns by more than 0.2 rad, and
    grows by 1.5 when it turns by less than 0.05 rad. The curve is traced until it closes
    (``closed=True``), leaves the box |x - x0|_inf <= ``bound``, or cannot be continued (step
    below 1e-6 of the initial step); an open curve is traced in both directions.
    The first step must succeed at no less than a quarter of the initial step: at a degenerate
    isolated root |F(x0 + h t)| ~ h^3, so a tiny step would "verify" a manifold that is not there.

    d >= 2: the null directions are verified (one corrected point at +-h along each of the d
    basis vectors of the null space); the manifold is reported with its dimension and this sample
    of 2 d + 1 points; it is not traced further.

``find_slow_manifold(fun, x0, speed_tol, *, time="continuous", coordinates=None, step=None,
bound=None, max_points=200, ...) -> Manifold``
    A finite network breaks a ring into isolated fixed points joined by a curve on which the
    dynamics are slow. The same predictor-corrector traces it, with the tangent the slowest
    right singular vector of J and a corrector that converges min |F|_2 on the plane orthogonal
    to the tangent (instead of requiring F = 0), for as long as max |F| <= ``speed_tol``. The
    result states the largest speed found on it (``speed``) and the band (``speed_tol``); it is
    an approximate continuous attractor at that speed, open when the band ends.

``null_space(jacobian, null_tol) -> ndarray (n, d)``
    Orthonormal basis of the numerical null space (SVD).

``Manifold``
    ``dimension``, ``points`` (k, n) samples (for d = 1 in order along the curve), ``center``,
    ``radius`` (mean distance of the samples to the center: the radius of a ring; NaN when the
    samples do not lie on a sphere about the center, or for an open curve), ``closed``,
    ``stability`` of the transverse directions ("stable", "unstable", "marginal", the worst over
    the samples), ``transverse_eigenvalues`` (k, n - d), ``residual`` (largest |F| over the
    samples), ``spacing`` (largest distance between neighbouring samples), ``speed`` and
    ``speed_tol`` (largest speed on it and the tolerance it was traced under), and
    ``contains(x, atol)`` (does the solution x lie on the sampled manifold).

Conventions
-----------
``fun(x) -> (F, J, extra)`` exactly as for :func:`lowrank.dynamics.solve.newton`: F the residual
whose zeros are the fixed points, J = dF/dx, ``extra`` anything (ignored). For a flow
dx/dt = F(x) the residual is the vector field and the linearised dynamics is J; for a map
x' = G(x) the residual must be F = G(x) - x, so that the map's Jacobian is J + I
(``time="discrete"``). Stability follows :mod:`lowrank.dynamics.stability`: the d neutral
eigenvalues along the manifold (those with smallest |eigenvalue of J|) are left out and the
others classified with ``stability_tol``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from .stability import STABILITY_TOL, classify, sort_eigenvalues

__all__ = ["Manifold", "find_manifold", "find_slow_manifold", "null_space"]

Fun = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]

#: largest turn of the tangent per step (rad) before the step is halved
_MAX_TURN = 0.2
#: turn below which the step grows
_SMALL_TURN = 0.05


@dataclass
class Manifold:
    """A d-dimensional manifold of solutions, sampled (see the module docstring).

    Attributes
    ----------
    dimension : int
        d, the number of null directions tangent to the family of solutions.
    points : ndarray (k, n)
        Samples; for d = 1 in order along the curve (and, when ``closed``, the last one is a
        step away from the first).
    center : ndarray (n,) or (r,)
        Centre of the least-squares sphere through the samples within their affine hull for a
        closed curve or d >= 2; the mean of the samples for an open curve. In ``coordinates``
        when they were given.
    radius : float
        Mean distance of the samples to ``center`` (the radius of a ring); NaN for an open curve,
        when the samples are not on a sphere about the centre (relative spread above 1e-6)
        for d >= 2, and for a slow manifold without ``coordinates``.
    closed : bool
        d = 1: the traced curve returned to its start. Always False for d >= 2 (not traced).
    stability : str
        "stable", "unstable" or "marginal": classification of the transverse eigenvalues, the
        worst over the samples (unstable before marginal before stable).
    transverse_eigenvalues : ndarray (k, n - d) complex
        At each sample, the eigenvalues of the linearised dynamics without the d neutral ones,
        least stable first.
    residual : float
        Largest max |F| over the samples.
    spacing : float
        Largest distance between neighbouring samples (d = 1), or the sampling step (d >= 2).
    stability_tol : float
        Tolerance used to classify ``stability``.
    speed : float
        Largest speed max_i |F_i| on the manifold: for a family of roots the residual over the
        samples (0 up to ``speed_tol`` = the root tolerance); for a slow manifold the largest
        over the samples and the midpoints of the chords between them.
    speed_tol : float
        The tolerance ``speed`` was traced under: the root tolerance of a family of roots, the
        stated band of a slow manifold (an approximate continuous attractor at that speed).
    coordinates : ndarray (k, r) or None
        The samples in the low-dimensional coordinates ``center`` and ``radius`` refer to, when
        such coordinates were given (None: ``center`` is in x-space).
    """

    dimension: int
    points: np.ndarray
    center: np.ndarray
    radius: float
    closed: bool
    stability: str
    transverse_eigenvalues: np.ndarray
    residual: float
    spacing: float
    stability_tol: float = STABILITY_TOL
    speed: float = 0.0
    speed_tol: float = 0.0
    coordinates: np.ndarray | None = None

    def __repr__(self) -> str:
        return (
            f"Manifold(dimension={self.dimension}, radius={self.radius:.6g}, "
            f"closed={self.closed}, stability={self.stability!r}, samples={len(self.points)}, "
            f"residual={self.residual:.2g}, speed={self.speed:.3g} <= {self.speed_tol:.3g})"
        )

    @property
    def stable(self) -> bool:
        """Strictly stable in every transverse direction: an attractor (a ring attractor)."""
        return self.stability == "stable"

    @property
    def marginal(self) -> bool:
        return self.stability == "marginal"

    def contains(self, x, atol: float = 1e-6) -> bool:
        """Whether the solution ``x`` lies on the sampled manifold.

        Within ``atol`` (1 + |x|) of a sample; for d = 1 also within that plus 5% of the local
        spacing of the polygon through the samples (the sag of a chord of a curve turning by at
        most 0.2 rad per step is below 2.5% of the chord); for d >= 2 on a sphere (finite
        ``radius``) also at distance ``radius`` from ``center`` in the samples' affine hull.
        ``x`` is assumed to be a solution: the test is geometric.
        """
        x = np.asarray(x, dtype=float)
        P = self.points
        eps = float(atol) * (1.0 + float(np.max(np.abs(x))))
        if np.min(np.max(np.abs(P - x), axis=1)) <= eps:
            return True
        if self.dimension == 1 and len(P) > 1:
            a, b = P[:-1], P[1:]
            if self.closed:
                a, b = np.vstack([a, P[-1:]]), np.vstack([b, P[:1]])
            ab = b - a
            s = np.clip(np.sum((x - a) * ab, axis=1) / np.maximum(np.sum(ab * ab, axis=1), 1e-300),
                        0.0, 1.0)
            dist = np.linalg.norm(a + s[:, None] * ab - x, axis=1)
            return bool(np.any(dist <= 0.05 * np.linalg.norm(ab, axis=1) + eps))
        if self.dimension >= 2 and np.isfinite(self.radius):
            mean = P.mean(axis=0)
            basis = _affine_basis(P)
            off = (x - mean) - basis.T @ (basis @ (x - mean))
            on_sphere = abs(np.linalg.norm(x - self.center) - self.radius)
            return bool(np.linalg.norm(off) <= eps and on_sphere <= eps * (1.0 + self.radius))
        return False


def null_space(jacobian, null_tol: float = 1e-6) -> np.ndarray:
    """Orthonormal basis (n, d) of the right null space of ``jacobian``.

    The right singular vectors whose singular values are <= ``null_tol`` max(1, largest singular
    value); d = 0 gives an (n, 0) array.
    """
    J = np.asarray(jacobian, dtype=float)
    if not np.all(np.isfinite(J)):
        return np.zeros((J.shape[1], 0))
    _, s, vt = np.linalg.svd(J)
    cut = float(null_tol) * max(1.0, float(s[0]) if s.size else 0.0)
    return vt[s <= cut].T.copy()


def _affine_basis(points: np.ndarray) -> np.ndarray:
    """Orthonormal basis (m, n) of the directions spanned by the points about their mean."""
    X = points - points.mean(axis=0)
    if X.shape[0] < 2:
        return np.zeros((0, points.shape[1]))
    _, s, vt = np.linalg.svd(X, full_matrices=False)
    return vt[s > 1e-9 * max(float(s[0]), 1e-300)]


def _sphere(points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(centre, mean radius, relative spread of the radii) of the least-squares sphere.

    Kasa fit |y|^2 = 2 c.y + (r^2 - |c|^2) in the coordinates y of the points' affine hull, so
    that a circle in R^n (a hull of dimension 2) has a unique centre.
    """
    mean = points.mean(axis=0)
    basis = _affine_basis(points)
    y = (points - mean) @ basis.T
    A = np.hstack([2.0 * y, np.ones((len(y), 1))])
    sol = np.linalg.lstsq(A, np.sum(y * y, axis=1), rcond=None)[0]
    center = mean + basis.T @ sol[:-1]
    dist = np.linalg.norm(points - center, axis=1)
    r = float(np.mean(dist))
    spread = float(np.max(np.abs(dist - r))) / max(r, 1e-300)
    return center, r, spread


def _correct(fun: Fun, x_pred: np.ndarray, basis: np.ndarray, tol: float | None,
             max_iter: int):
    """Gauss-Newton for min |F(x)|_2 on the plane basis^T (x - x_pred) = 0, from ``x_pred``.

    Each step solves the constrained linear least-squares problem
    min |F + J dx|_2 subject to basis^T dx = 0 through its KKT system
    [[J^T J, B], [B^T, 0]] [dx; mu] = [-J^T F; 0]. Where the plane meets a family of solutions
    (``tol`` given) the problem is consistent and this is Newton's method on the bordered system
    [F(x); B^T (x - x_pred)] = 0, converging quadratically to a root; the point is accepted at
    max |F| <= ``tol``. Off a family (``tol`` None) it converges to the point of least |F| on the
    plane, accepted once the step has stalled. Returns (x, F, J), or None.
    """
    x = x_pred.copy()
    n, d = basis.shape
    scale = 1.0 + float(np.max(np.abs(x_pred)))
    kkt = np.zeros((n + d, n + d))
    kkt[:n, n:], kkt[n:, :n] = basis, basis.T
    rhs = np.zeros(n + d)
    last = np.inf  # size of the last step: accept only once it is small (quadratic convergence)
    for _ in range(max_iter + 1):
        F, J, _ = fun(x)
        if not (np.all(np.isfinite(F)) and np.all(np.isfinite(J))):
            return None
        if last <= 1e-6 * scale and (tol is None or float(np.max(np.abs(F))) <= tol):
            return x, F, J
        kkt[:n, :n] = J.T @ J
        rhs[:n] = -(J.T @ F)
        try:
            dx = np.linalg.solve(kkt, rhs)[:n]
        except np.linalg.LinAlgError:
            dx = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:n]
        if not np.all(np.isfinite(dx)) or np.max(np.abs(dx)) > 10.0 * scale:
            return None
        x = x + dx
        last = float(np.max(np.abs(dx)))
    return None


def _tangent(J: np.ndarray, previous: np.ndarray, null_tol: float | None) -> np.ndarray | None:
    """Unit tangent at a point with Jacobian J, oriented along ``previous``.

    Exact family (``null_tol`` given): the null vector of J, None unless there is exactly one.
    Slow manifold (``null_tol`` None): the slowest right singular vector of J, the direction in
    which F changes least (Allgower & Georg 2003, ch. 2, for the exact case)."""
    if null_tol is None:
        t = np.linalg.svd(J)[2][-1]
    else:
        basis = null_space(J, null_tol)
        if basis.shape[1] != 1:
            return None
        t = basis[:, 0]
    return t if float(t @ previous) >= 0 else -t


@dataclass(frozen=True)
class _Rule:
    """What a curve traced by ``_trace`` is: a family of roots (``tol``, ``null_tol``) or a slow
    manifold (``speed_tol``; ``tol`` and ``null_tol`` None)."""

    tol: float | None
    null_tol: float | None
    speed_tol: float | None
    min_first: float  # smallest first step, relative to the initial one
    min_step: float  # smallest step before tracing stops, relative to the initial one

    def in_band(self, F: np.ndarray) -> bool:
        return self.speed_tol is None or float(np.max(np.abs(F))) <= self.speed_tol


def _trace(fun, x0, t0, h0, rule: _Rule, bound, max_points, max_iter):
    """Trace the curve from x0 along t0 (pseudo-arclength predictor-corrector).

    Returns (samples, closed, verified): samples (x, F(x), J(x)) after x0, whether the curve
    closed, and whether the first step succeeded.
    """
    samples = []
    x, t, h = x0, t0, h0
    arc, first = 0.0, True
    while len(samples) < max_points:
        step = None
        while h >= rule.min_step * h0 and not (first and h < rule.min_first * h0):
            out = _correct(fun, x + h * t, t[:, None], rule.tol, max_iter)
            if out is not None and rule.in_band(out[1]):
                t_new = _tangent(out[2], t, rule.null_tol)
                if t_new is not None:
                    turn = float(np.arccos(np.clip(abs(t_new @ t), 0.0, 1.0)))
                    if turn <= _MAX_TURN and np.linalg.norm(out[0] - x) <= 2.0 * h:
                        step = (out, t_new, turn)
                        break
            h *= 0.5
        if step is None:
            return samples, False, not first
        out, t_new, turn = step
        first = False
        seg = out[0] - x
        # closed: the new chord passes the start (after the curve has gone round)
        s = float(np.clip((x0 - x) @ seg / max(float(seg @ seg), 1e-300), 0.0, 1.0))
        if arc > 3.0 * h0 and np.linalg.norm(x + s * seg - x0) <= 0.25 * np.linalg.norm(seg):
            return samples, True, True
        samples.append(out)
        arc += float(np.linalg.norm(seg))
        if np.max(np.abs(out[0] - x0)) > bound:
            break
        x, t = out[0], t_new
        if turn < _SMALL_TURN:
            h = min(1.5 * h, 8.0 * h0)
    return samples, False, True


def _curve(fun, x0, t0, h0, rule: _Rule, bound, max_points, max_iter):
    """Trace both ways from x0 (one way when the curve closes): (samples, closed) or None when
    the first step fails both ways."""
    origin = fun(x0)[:2]
    ahead, closed, ok = _trace(fun, x0, t0, h0, rule, bound, max_points, max_iter)
    if closed:
        return [(x0, *origin)] + ahead, True
    back, _, ok_back = _trace(fun, x0, -t0, h0, rule, bound, max_points, max_iter)
    if not (ok or ok_back):
        return None
    return back[::-1] + [(x0, *origin)] + ahead, False


def _manifold(samples, d, closed, spacing, time, stability_tol, coordinates, fit_x, speed,
              speed_tol) -> Manifold:
    """Assemble a Manifold from samples (x, F, J): centre and radius (in ``coordinates`` if
    given; in x-space only if ``fit_x``), transverse stability (the d eigenvalues of least
    modulus left out)."""
    P = np.array([x for x, _, _ in samples])
    Y = P if coordinates is None else np.asarray(coordinates(P), dtype=float).reshape(len(P), -1)
    if (closed or d >= 2) and (fit_x or coordinates is not None):
        center, radius, spread = _sphere(Y)
        if d >= 2 and spread > 1e-6:
            radius = float("nan")
    else:
        center, radius = Y.mean(axis=0), float("nan")
    transverse = []
    for _, _, J in samples:
        ev = np.linalg.eigvals(J).astype(complex)
        keep = np.sort(np.argsort(np.abs(ev), kind="stable")[d:])
        ev = ev[keep] + (1.0 if time == "discrete" else 0.0)
        transverse.append(sort_eigenvalues(ev, time))
    transverse = np.array(transverse).reshape(len(P), -1)
    classes = classify(transverse, time, stability_tol)
    stability = next((c for c in ("unstable", "marginal") if np.any(classes == c)), "stable")
    return Manifold(
        dimension=d,
        points=P,
        center=center,
        radius=float(radius),
        closed=bool(closed),
        stability=stability,
        transverse_eigenvalues=transverse,
        residual=max(float(np.max(np.abs(F))) for _, F, _ in samples),
        spacing=spacing,
        stability_tol=float(stability_tol),
        speed=float(speed),
        speed_tol=float(speed_tol),
        coordinates=None if coordinates is None else Y,
    )


def _gaps(P: np.ndarray, closed: bool) -> np.ndarray:
    """Chords between neighbouring samples (and back to the first one when closed)."""
    return np.diff(np.vstack([P, P[:1]]) if closed else P, axis=0)


def _check(time, fun, x0, step, bound):
    if time not in ("continuous", "discrete"):
        raise ValueError(f"time must be 'continuous' or 'discrete', got {time!r}")
    x0 = np.array(x0, dtype=float)
    if x0.ndim != 1 or not np.all(np.isfinite(x0)):
        raise ValueError("x0 must be a finite vector")
    F0, J0, _ = fun(x0)
    h0 = 0.05 * max(1.0, float(np.linalg.norm(x0))) if step is None else float(step)
    if not h0 > 0:
        raise ValueError(f"step must be positive, got {step!r}")
    bound = 10.0 * (1.0 + float(np.max(np.abs(x0)))) if bound is None else float(bound)
    return x0, np.asarray(F0, dtype=float), np.asarray(J0, dtype=float), h0, bound


def find_manifold(
    fun: Fun,
    x0,
    *,
    time: str = "continuous",
    tol: float = 1e-10,
    null_tol: float = 1e-6,
    step: float | None = None,
    bound: float | None = None,
    max_points: int = 2000,
    max_iter: int = 20,
    stability_tol: float = STABILITY_TOL,
    coordinates: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Manifold | None:
    """The manifold of solutions of F(x) = 0 through the solution ``x0``, or None.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (F, dF/dx, extra)`` (module docstring, Conventions).
    x0 : array_like (n,)
        A solution (max |F(x0)| <= ``tol``).
    time : {"continuous", "discrete"}
        Flow (linearised dynamics J) or map with F = G - x (linearised dynamics J + I).
    tol : float
        Residual every sample must reach.
    null_tol : float
        Relative singular-value threshold of a null direction.
    step : float, optional
        Initial predictor step (default 0.05 max(1, |x0|_2)).
    bound : float, optional
        Tracing stops beyond |x - x0|_inf > bound (default 10 (1 + |x0|_inf)).
    max_points : int
        Most samples per direction of a curve.
    max_iter : int
        Gauss-Newton iterations per corrector.
    stability_tol : float
        Tolerance of the transverse stability (:func:`lowrank.dynamics.stability.classify`).
    coordinates : callable, optional
        ``coordinates(points (k, n)) -> (k, r)``: low-dimensional coordinates (e.g. the latent
        kappa = N^T phi(x) / N) in which ``center`` and ``radius`` are computed.

    Returns
    -------
    Manifold or None
        None when dF/dx(x0) has no null direction, or when the null directions are not tangent
        to solutions (an isolated degenerate root). ``speed`` is the residual max |F| over the
        samples and ``speed_tol`` is ``tol``.
    """
    x0, F0, J0, h0, bound = _check(time, fun, x0, step, bound)
    basis = null_space(J0, null_tol)
    d = basis.shape[1]
    if d == 0:
        return None
    if d == 1:
        rule = _Rule(tol, null_tol, None, min_first=0.25, min_step=1e-6)
        curve = _curve(fun, x0, basis[:, 0], h0, rule, bound, max_points, max_iter)
        if curve is None:
            return None
        samples, closed = curve
        gaps = np.linalg.norm(_gaps(np.array([x for x, _, _ in samples]), closed), axis=1)
        spacing = float(np.max(gaps)) if gaps.size else 0.0
    else:
        samples = [(x0, F0, J0)]
        for j in range(d):
            for sign in (1.0, -1.0):
                h, out = h0, None
                while out is None and h >= 0.25 * h0:
                    out = _correct(fun, x0 + sign * h * basis[:, j], basis, tol, max_iter)
                    h *= 0.5
                if out is None or null_space(out[2], null_tol).shape[1] != d:
                    return None
                samples.append(out)
        spacing, closed = h0, False
    speed = max(float(np.max(np.abs(F))) for _, F, _ in samples)
    return _manifold(samples, d, closed, spacing, time, stability_tol, coordinates, True, speed,
                     tol)


def find_slow_manifold(
    fun: Fun,
    x0,
    speed_tol: float,
    *,
    time: str = "continuous",
    coordinates: Callable[[np.ndarray], np.ndarray] | None = None,
    step: float | None = None,
    bound: float | None = None,
    max_points: int = 200,
    max_iter: int = 30,
    tol: float = 1e-10,
    null_tol: float = 1e-6,
    stability_tol: float = STABILITY_TOL,
) -> Manifold:
    """The slow manifold through ``x0`` on which the speed max |F| stays below ``speed_tol``.

    A finite network breaks a continuous attractor (a ring, a line) into isolated fixed points,
    stable and saddles, joined by a curve along which the dynamics are slow: an approximate
    continuous attractor (Sussillo & Barak 2013, Neural Comput. 25:626, "slow points"). It is
    traced as in :func:`find_manifold`
    with two changes: the tangent is the slowest right singular vector of J, and the corrector
    minimises |F|_2 on the plane through the predicted point orthogonal to the tangent (the
    valley floor of q = |F|^2 / 2, which passes through every fixed point on it). Tracing goes on
    while max |F| <= ``speed_tol`` at the samples; it stops at the edge of that band (within
    1/64 of the step) and the curve is then open (``closed=False``), or when the curve closes.

    If ``x0`` lies on an exact family of roots (max |F(x0)| <= ``tol`` and dF/dx has a null
    direction tangent to one), that family is returned (:func:`find_manifold`, speed ~ tol).

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (F, dF/dx, extra)`` (module docstring, Conventions).
    x0 : array_like (n,)
        A point of the manifold, usually a fixed point; max |F(x0)| <= ``speed_tol``.
    speed_tol : float
        Largest speed max_i |F_i| allowed on the manifold.
    time : {"continuous", "discrete"}
        Flow or map (F = G - x), as in :func:`find_manifold`.
    coordinates : callable, optional
        ``coordinates(points (k, n)) -> (k, r)``, e.g. kappa = N^T phi(x) / N: ``center`` and
        ``radius`` are computed there. Without it ``radius`` is NaN: the samples of a slow
        manifold do not lie in a low-dimensional subspace of x-space, where a sphere fit is
        meaningless.
    step : float, optional
        Initial predictor step (default 0.05 max(1, |x0|_2)); steps grow to 8 times it.
    bound : float, optional
        Tracing stops beyond |x - x0|_inf > bound (default 10 (1 + |x0|_inf)).
    max_points : int
        Most samples per direction (the curve is then reported open).
    max_iter : int
        Gauss-Newton iterations per corrector.
    tol, null_tol : float
        Residual and null-direction threshold of an exact family (see above).
    stability_tol : float
        Tolerance of the transverse stability: the eigenvalues of J at the samples, the slowest
        (least modulus) left out, classified by :func:`lowrank.dynamics.stability.classify`.

    Returns
    -------
    Manifold
        ``dimension`` 1; ``speed`` the largest max |F| over the samples and over the midpoints
        of the chords between neighbours (the speed on the polygon the samples define; its
        value depends on the sampling), never above ``speed_tol`` at the samples; ``speed_tol``
        as given. A single sample when the band around ``x0`` is narrower than the first step.
    """
    x0, F0, J0, h0, bound = _check(time, fun, x0, step, bound)
    speed_tol = float(speed_tol)
    if not speed_tol > 0:
        raise ValueError(f"speed_tol must be positive, got {speed_tol!r}")
    if float(np.max(np.abs(F0))) > speed_tol:
        raise ValueError(
            f"x0 moves at max|F| = {np.max(np.abs(F0)):.3g} > speed_tol = {speed_tol:g}"
        )
    with threadpool_limits(1):  # many small dense solves: threads only contend
        if float(np.max(np.abs(F0))) <= tol and null_space(J0, null_tol).shape[1] == 1:
            exact = find_manifold(
                fun, x0, time=time, tol=tol, null_tol=null_tol, step=step, bound=bound,
                max_points=max_points, max_iter=max_iter, stability_tol=stability_tol,
                coordinates=coordinates,
            )
            if exact is not None:
                return exact
        rule = _Rule(None, None, speed_tol, min_first=0.0, min_step=1.0 / 64.0)
        t0 = _tangent(J0, np.ones(len(x0)), None)
        curve = _curve(fun, x0, t0, h0, rule, bound, max_points, max_iter)
        samples, closed = curve if curve is not None else ([(x0, F0, J0)], False)
        P = np.array([x for x, _, _ in samples])
        chords = _gaps(P, closed) if len(P) > 1 else np.zeros((0, len(x0)))
        middles = [fun(x + 0.5 * c)[0] for x, c in zip(P[: len(chords)], chords, strict=True)]
        speed = max(float(np.max(np.abs(F))) for F in [s[1] for s in samples] + middles)
        spacing = float(np.max(np.linalg.norm(chords, axis=1))) if len(chords) else 0.0
        return _manifold(samples, 1, closed, spacing, time, stability_tol, coordinates, False,
                         speed, speed_tol)
