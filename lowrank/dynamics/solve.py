"""Newton's method for square systems, plain or deflated, shared by every solver of lowrank.

``newton`` is a damped Newton iteration with a backtracking line search on max |F|.
``pseudo_transient`` follows the flow dx/dt = F(x) past the minima of |F| where Newton stalls.
``RootSearch`` (and its one-call form ``deflated_newton``) finds many roots from many starts.
``deflated_newton`` finds a root *other* than the known ones (Farrell, Birkisson & Funke 2015,
SIAM J. Sci. Comput. 37:A2026): Newton is applied to the deflated residual

    G(x) = M(x) F(x),   M(x) = prod_i ( ||x - r_i||^-p + s ),

which keeps the roots of F other than the r_i and pushes the iteration away from the r_i. Its
Newton step is the Newton step d of F rescaled, d_G = d / (1 - d . grad log M(x)), so no Jacobian of
G is formed. Convergence is always judged on the undeflated residual F.

Pseudo-transient continuation (Kelley & Keyes 1998, SIAM J. Numer. Anal. 35:508) takes implicit
Euler steps of dx/dt = F(x) with a growing step, so that it ends on an attracting root of the flow
and then hands over to Newton.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .dedup import unique_points

__all__ = ["NewtonResult", "newton", "pseudo_transient", "RootSearch", "deflated_newton"]

Fun = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass
class NewtonResult:
    """Outcome of ``newton``: the last iterate and how the iteration ended.

    Attributes
    ----------
    x : ndarray
        Last iterate.
    value, jacobian, extra : ndarray
        Residual, its Jacobian and the auxiliary outputs at ``x``.
    residual : float
        max |value|.
    iterations : int
    converged : bool
    nfev : int
        Evaluations of ``fun``.
    """

    x: np.ndarray
    value: np.ndarray
    jacobian: np.ndarray
    extra: np.ndarray
    residual: float
    iterations: int
    converged: bool
    nfev: int = 0


#: vectors and matrices up to this size are handled as Python floats in ``newton``: numpy's
#: per-call overhead (several microseconds) dominates for them
_SMALL = 8
#: ``newton``'s defaults: the residual accepted when the iteration stalls at round-off, the
#: relative step below which it has converged, and the smallest line-search step
LOOSE_TOL, XTOL, MIN_STEP = 1e-7, 1e-9, 1e-8
#: ``pseudo_transient``'s pseudo-time step is at least this times (1 + |x|) / |F|: a step moves
#: the state by about this fraction of its scale where the flow is slow (measured on a slow ring
#: of a fitted mixture law: 0.05 passed its ghost in 9 steps, 0.01 in 35, none in ~1400)
TRANSIENT_ARC = 0.05


def _norm(v: np.ndarray) -> float:
    """max |v| (0 for an empty v), or inf when some entry is not finite."""
    if v.size <= _SMALL:
        values = v.ravel().tolist()
        if all(map(math.isfinite, values)):
            return max(map(abs, values), default=0.0)
        return np.inf
    r = float(np.max(np.abs(v)))
    return r if np.isfinite(r) else np.inf


def _finite(a: np.ndarray) -> bool:
    """Whether every entry of ``a`` is finite."""
    if a.size <= _SMALL * _SMALL:
        return all(map(math.isfinite, a.ravel().tolist()))
    return bool(np.isfinite(a).all())


def _solve(J: np.ndarray, b: np.ndarray) -> np.ndarray:
    """J^-1 b by Gaussian elimination with partial pivoting (LAPACK's gesv for large systems);
    the least-squares solution when J is exactly singular (a zero pivot)."""
    n = b.size
    if n > _SMALL:
        try:
            return np.linalg.solve(J, b)
        except np.linalg.LinAlgError:
            return np.linalg.lstsq(J, b, rcond=None)[0]
    A, v = J.tolist(), b.tolist()
    for k in range(n):
        p = k
        for i in range(k + 1, n):
            if abs(A[i][k]) > abs(A[p][k]):
                p = i
        pivot = A[p][k]
        if pivot == 0.0:
            return np.linalg.lstsq(J, b, rcond=None)[0]
        if p != k:
            A[k], A[p], v[k], v[p] = A[p], A[k], v[p], v[k]
        row = A[k]
        for i in range(k + 1, n):
            m = A[i][k] / pivot
            if m != 0.0:
                other = A[i]
                for j in range(k + 1, n):
                    other[j] -= m * row[j]
                v[i] -= m * v[k]
    out = [0.0] * n
    for k in range(n - 1, -1, -1):
        row = A[k]
        out[k] = (v[k] - sum(row[j] * out[j] for j in range(k + 1, n))) / row[k]
    return np.array(out)


def _gap(a: list, b: list) -> float:
    """max |a - b| of two lists of finite floats of one length."""
    gap = 0.0
    for p, q in zip(a, b, strict=True):
        d = abs(p - q)
        if d > gap:
            gap = d
    return gap


def _closest_pair(rows: list) -> float:
    """Smallest max-norm distance between two of ``rows`` (inf for fewer than two), NaN when
    some entry is not finite."""
    if not all(math.isfinite(v) for r in rows for v in r):
        return math.nan
    return min(
        (_gap(rows[i], rows[j]) for i in range(len(rows)) for j in range(i + 1, len(rows))),
        default=math.inf,
    )


def _deflation_factor(x: np.ndarray, roots: list, power: float, shift: float) -> float:
    """M(x) = prod_i (||x - r_i||^-p + s) (``roots`` as lists of floats); inf at a known root."""
    xs, M = x.tolist(), 1.0
    for root in roots:
        dist2 = sum((a - b) * (a - b) for a, b in zip(xs, root, strict=True))
        if dist2 == 0.0:
            return np.inf
        M *= dist2 ** (-power / 2.0) + shift
    return M


def _deflation(x: np.ndarray, roots: np.ndarray, power: float, shift: float):
    """(M(x), grad log M(x)) of the deflation operator; M = inf at a known root."""
    if roots.shape[0] == 0:
        return 1.0, np.zeros_like(x)
    diff = x[None, :] - roots
    dist2 = np.sum(diff**2, axis=1)
    if np.any(dist2 == 0.0):
        return np.inf, np.zeros_like(x)
    inv = dist2 ** (-power / 2.0)  # ||x - r||^-p
    factors = inv + shift
    # d/dx log(||x - r||^-p + s) = -p ||x - r||^(-p-2) (x - r) / (||x - r||^-p + s)
    grad = np.sum((-power * inv / dist2 / factors)[:, None] * diff, axis=0)
    return float(np.prod(factors)), grad


def newton(
    fun: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
    x0: np.ndarray,
    tol: float = 1e-10,
    max_iter: int = 60,
    loose_tol: float = LOOSE_TOL,
    xtol: float = XTOL,
    roots: Sequence[np.ndarray] | np.ndarray | None = None,
    power: float = 2.0,
    shift: float = 1.0,
    stop: Callable[[np.ndarray, np.ndarray], bool] | None = None,
    min_step: float = MIN_STEP,
) -> NewtonResult:
    """Solve fun(x)[0] = 0 by Newton's method with a backtracking line search.

    ``fun(x)`` returns (residual, Jacobian, extra). Converged when max |residual| <= tol and the
    next Newton step is below xtol (1 + |x|), so that slowly converging degenerate roots (at a
    pitchfork) are not accepted early at scattered points; or when the iteration has stalled at
    round-off (a step below 1e-13 (1 + |x|), or no step along the Newton direction decreasing the
    residual: the line search halves the step from 1 down to ``min_step``) with max |residual| <=
    loose_tol, since residuals computed with cancellation cannot reach ``tol``. A NaN residual
    (outside the domain, e.g. a negative variance) makes the line search shorten the step; a
    singular Jacobian falls back to the least-squares step.

    With ``roots`` (known solutions, shape (k, n)), the iteration is deflated (module docstring)
    with exponent ``power`` and shift ``shift``: it converges to a root of F other than those.

    ``stop(x, extra) -> bool``, when given, is asked after every step: True ends the iteration
    there, unconverged (the caller knows where such an iterate is heading, e.g. onto a family of
    solutions it does not want, and accounts for it).

    ``fun`` may carry a compiled form of this whole iteration as an attribute
    ``fun.newton_kernel(x0, tol, max_iter, loose_tol, xtol, roots, power, shift, stop, min_step)``
    returning the NewtonResult, or None where it cannot run this ``stop`` (then the iteration
    runs here); the mean-field residuals do (:mod:`lowrank.meanfield_kernels`).
    """
    x = np.array(x0, dtype=np.float64)
    known = np.zeros((0, x.size)) if roots is None else np.asarray(roots, dtype=float)
    known = known.reshape(-1, x.size)
    kernel = getattr(fun, "newton_kernel", None)
    if kernel is not None:
        res = kernel(x, tol, max_iter, loose_tol, xtol, known, power, shift, stop, min_step)
        if res is not None:
            return res
    deflated = known.shape[0] > 0
    known_rows = known.tolist()
    f, J, extra = fun(x)
    nfev = 1
    r = _norm(f)
    M = _deflation_factor(x, known_rows, power, shift) if deflated else 1.0
    it = 0
    for it in range(max_iter + 1):
        if not (r < np.inf and _finite(J)):
            break
        dx = _solve(J, -f)
        ndx = _norm(dx)
        if not ndx < np.inf:
            break
        nx = _norm(x)
        if r <= tol and ndx <= xtol * (1.0 + nx):
            return NewtonResult(x, f, J, extra, r, it, True, nfev)
        if it == max_iter:  # the last iterate was checked above
            break
        if deflated:
            # the dot product summed in order, as in the compiled kernels of
            # lowrank.meanfield_kernels (BLAS may sum or fuse differently)
            grad = _deflation(x, known, power, shift)[1].tolist()
            denom = 1.0 - sum(a * b for a, b in zip(dx.tolist(), grad, strict=True))
            if denom != 0.0 and np.isfinite(denom):
                dx = dx / denom
                ndx = _norm(dx)
        merit = M * r
        step = 1.0
        while step >= min_step:
            x_new = x + step * dx
            f_new, J_new, extra_new = fun(x_new)
            nfev += 1
            r_new = _norm(f_new)
            M_new = _deflation_factor(x_new, known_rows, power, shift) if deflated else 1.0
            if M_new * r_new <= (1.0 - 1e-4 * step) * merit:
                break
            step *= 0.5
        else:  # no step decreases the residual: round-off floor, or a minimum of |f| (no root)
            return NewtonResult(x, f, J, extra, r, it, r <= loose_tol, nfev)
        stalled = step * ndx <= 1e-13 * (1.0 + nx)
        x, f, J, extra, r, M = x_new, f_new, J_new, extra_new, r_new, M_new
        if stalled:
            return NewtonResult(x, f, J, extra, r, it + 1, r <= loose_tol, nfev)
        if stop is not None and stop(x, extra):
            return NewtonResult(x, f, J, extra, r, it + 1, False, nfev)
    return NewtonResult(x, f, J, extra, r, it, False, nfev)


def pseudo_transient(
    fun: Fun, x0: np.ndarray, tol: float = 1e-10, max_iter: int = 60
) -> NewtonResult:
    """Pseudo-transient continuation, then Newton: a root of F reached along the flow dx/dt = F.

    Implicit Euler steps (I / dt - J) dx = F with the step grown by switched evolution relaxation,
    dt <- dt |F_old| / |F_new| (Kelley & Keyes 1998, SIAM J. Numer. Anal. 35:508), at least
    ``TRANSIENT_ARC`` (1 + |x|) / |F| (a step that moves the state by about that much where the
    flow is slow) and kept below 1 / (2 max Re eig J) where J has growing directions. Once
    |F| < 1e-3 (1 + |x|), ``newton`` takes over; where it stalls there, the flow goes on until |F|
    is below 1e-2 times the residual it stalled at, and Newton is tried again (at most
    ``max_iter`` pseudo-time steps in all). It follows the flow past the minima of |F| that are
    not roots (the ghost of a saddle-node, or the slowest point of a slow ring), where Newton's
    line search stalls, and reaches an attracting root of the flow dx/dt = F. A ghost with |F|
    below the switching level needs both rules: the step's floor, because the flow there is as
    slow as |F| (switched evolution relaxation alone took ~1400 steps past a ghost with
    |F| ~ 4e-4 on a fitted law's slow ring), and the retry, because the flow reaches the
    switching level before the ghost.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (F, dF/dx, extra)``.
    x0 : ndarray
    tol, max_iter : float, int
        Tolerance of the final Newton iteration; at most ``max_iter`` pseudo-time steps and as many
        Newton iterations.

    Returns
    -------
    NewtonResult
        The final Newton result, with the iterations and evaluations of both stages.
    """
    x = np.array(x0, dtype=float)
    F, J, _ = fun(x)
    nfev, it, nit, dt = 1, 0, 0, 0.5
    r = _norm(F)
    eye = np.eye(x.size)
    level = 1e-3 * (1.0 + _norm(x))  # |F| below which Newton takes over
    res = None
    while it < max_iter and np.isfinite(r):
        if r < level:
            res = newton(fun, x, tol=tol, max_iter=max_iter)
            nit, nfev = nit + res.iterations, nfev + res.nfev
            if res.converged:
                break
            # Newton stalled below the level (a ghost, the slowest point of a slow ring): on
            # along the flow until |F| is well below where it stalled
            level = 1e-2 * r
        it += 1
        dt = max(dt, TRANSIENT_ARC * (1.0 + _norm(x)) / max(r, 1e-300))
        # a step longer than 1 / (largest growth rate of J) would cross an unstable direction of
        # the flow and turn into a Newton step towards a minimum of |F|
        growth = float(np.max(np.linalg.eigvals(J).real))
        step = min(dt, 0.5 / growth) if growth > 0 else dt
        try:
            dx = np.linalg.solve(eye / step - J, F)
        except np.linalg.LinAlgError:
            break
        F_new, J_new, _ = fun(x + dx)
        nfev += 1
        r_new = _norm(F_new)
        if not np.isfinite(r_new):
            dt *= 0.25
            continue
        x, F, J = x + dx, F_new, J_new
        dt = min(max(dt * r / max(r_new, 1e-300), 1e-3), 1e12)
        r = r_new
        res = None  # the state moved: Newton has not been tried from it
    if res is None:
        res = newton(fun, x, tol=tol, max_iter=max_iter)
        nit, nfev = nit + res.iterations, nfev + res.nfev
    res.iterations, res.nfev = nit + it, nfev
    return res


class RootSearch:
    """Multi-start deflated Newton on one residual that keeps every converged root.

    From each start: plain Newton, whose outcome decides whether the start failed and adds to the
    multiplicity (``counts``) of the root it reaches. A start has not failed when it converged,
    when it ended on a root that ``accept`` refuses (a residual <= tol at a singular Jacobian), or
    when ``collapsed(result, start)`` accounts for it. With ``transient``, a start whose Newton
    iteration stalls otherwise is continued along the flow dx/dt = F(x) (``pseudo_transient``,
    Kelley & Keyes 1998), which passes the minima of |F| that are not roots; only if that fails
    too has the start failed (meant for residuals that are velocities, F = dx/dt).

    A start that converged is then retried with Newton deflated by every root known so far
    (Farrell, Birkisson & Funke 2015, SIAM J. Sci. Comput. 37:A2026, algorithm 1 with several
    initial guesses), while that finds new roots (at most ``max_deflations`` times), until
    ``patience`` deflated attempts in a row have found nothing new (the known roots are then taken
    to be all that deflation reaches from these starts) or ``max_roots`` are known. Converged
    points that ``accept`` refuses are deflated but not reported.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (F, dF/dx, extra)``.
    tol, max_iter : float, int
        As in ``newton`` (and ``pseudo_transient``).
    accept : callable, optional
        ``accept(result) -> bool`` for converged results (e.g. nonnegative variances).
    collapsed : callable, optional
        ``collapsed(result, start) -> bool``: a start that did not converge but is accounted for.
    signature : callable, optional
        Coordinates in which two roots are compared (default: x itself).
    atol, rtol : float
        Two roots whose signatures differ by at most atol + rtol * scale in every coordinate are
        one (``unique_points``).
    same : callable, optional
        ``same(x, y) -> bool``, replacing the comparison above.
    manifold : callable, optional
        ``manifold(result) -> family or None``, called on every new root: a family (an object with
        ``contains(x)``, ``points`` and ``residual``, e.g. ``lowrank.dynamics.manifold.Manifold``)
        replaces the roots it contains, and later roots on it are not listed again.
    transient : bool
        Continue stalled starts by ``pseudo_transient``.
    stop : callable, optional
        ``stop(x, extra) -> bool``, ending a Newton iteration early (``newton``); a start so ended
        has failed unless ``collapsed`` accounts for it.
    deflated_min_step : float
        ``min_step`` of the deflated attempts' line search (``newton``): a larger one gives up
        sooner on attempts that wander between minima of the deflated residual.
    patience, max_deflations, max_roots : int or float
        Stopping rules of the deflation (above).
    roots : sequence of ndarray, optional
        Roots known beforehand: deflated from the start, never reported.
    power, shift : float
        Of the deflation operator (``newton``).

    Attributes
    ----------
    found : list of NewtonResult
        The roots, in the order found.
    counts : list of int
        Starts whose plain Newton iteration reached each root.
    manifolds : list
        Families found by ``manifold``.
    failed : list of NewtonResult
        The final result of every start that failed.
    n_starts, nit, nfev : int
        Starts run, Newton iterations and evaluations of ``fun`` spent.
    """

    def __init__(
        self,
        fun: Fun,
        tol: float = 1e-10,
        max_iter: int = 60,
        *,
        accept: Callable[[NewtonResult], bool] | None = None,
        collapsed: Callable[[NewtonResult, np.ndarray], bool] | None = None,
        signature: Callable[[np.ndarray], np.ndarray] | None = None,
        atol: float = 1e-5,
        rtol: float = 1e-5,
        same: Callable[[np.ndarray, np.ndarray], bool] | None = None,
        manifold: Callable[[NewtonResult], object] | None = None,
        transient: bool = True,
        stop: Callable[[np.ndarray, np.ndarray], bool] | None = None,
        deflated_min_step: float = 1e-8,
        patience: float = 8,
        max_deflations: int = 8,
        max_roots: int = 1000,
        roots: Sequence[np.ndarray] | None = None,
        power: float = 2.0,
        shift: float = 1.0,
    ):
        self.fun, self.tol, self.max_iter, self.transient = fun, tol, max_iter, transient
        self.patience, self.idle = patience, 0
        self.max_deflations, self.max_roots = int(max_deflations), int(max_roots)
        self.accept = accept or (lambda res: True)
        self.collapsed = collapsed or (lambda res, start: False)
        self.signature = signature or (lambda x: x)
        self.atol, self.rtol, self.same = atol, rtol, same
        self.manifold, self.stop = manifold, stop
        self.deflated_min_step = deflated_min_step
        self.power, self.shift = power, shift
        self.given = [np.asarray(r, dtype=float) for r in (roots if roots is not None else [])]
        self.found: list[NewtonResult] = []
        self.counts: list[int] = []
        self.refused: list[np.ndarray] = []
        self.manifolds: list = []
        self.failed: list[NewtonResult] = []
        self.n_starts = self.nit = self.nfev = 0
        # ``_match``'s cache: ids of the known points; their signatures, closest pair, largest
        # |entry|, and the points themselves (held, so that no id is reused while cached)
        self._small_known: list = []
        self._small_rows: tuple = ()

    @property
    def n_failed(self) -> int:
        """Number of starts that failed."""
        return len(self.failed)

    @property
    def failed_residual(self) -> float:
        """Smallest residual reached by a failed start (inf when none failed)."""
        return min((r.residual for r in self.failed), default=np.inf)

    def _newton(self, x0: np.ndarray, roots=None) -> NewtonResult:
        res = newton(self.fun, x0, tol=self.tol, max_iter=self.max_iter, roots=roots,
                     power=self.power, shift=self.shift, stop=self.stop,
                     min_step=MIN_STEP if roots is None else self.deflated_min_step)
        self.nit += res.iterations
        self.nfev += res.nfev
        return res

    def _match(self, x: np.ndarray, known: list[np.ndarray]) -> int:
        """Index of the point of ``known`` that ``x`` equals, else -1."""
        if not known:
            return -1
        if self.same is not None:
            return next((i for i, k in enumerate(known) if self.same(x, k)), -1)
        sig = self.signature(x)
        if sig.size <= _SMALL and len(known) <= _SMALL:
            values = sig.tolist()
            if not all(map(math.isfinite, values)):
                return -1
            if self._small_known != list(map(id, known)):  # the known points changed
                rows = [self.signature(k).tolist() for k in known]
                top = max((abs(v) for r in rows for v in r), default=0.0)
                self._small_known = list(map(id, known))
                self._small_rows = (rows, _closest_pair(rows), top, list(known))
            return self._match_small(values, *self._small_rows[:3])
        if not np.all(np.isfinite(sig)):
            return -1
        return self._match_rows(np.array([self.signature(k) for k in known] + [sig]))

    def _match_rows(self, rows: np.ndarray) -> int:
        """``_match`` on the signatures of the known points and, last, of x."""
        known = rows[:-1]
        sig = rows[-1]
        # the "same" relation of ``unique_points`` (max-norm within atol + rtol * scale) checked
        # directly; its single linkage matters only when known points are linked to each other
        radius = self.atol + self.rtol * float(np.max(np.abs(rows)))
        near = np.max(np.abs(rows[:-1] - sig), axis=1) <= radius
        if not near.any():
            return -1
        linked = np.max(np.abs(rows[:-1, None] - rows[None, :-1]), axis=2) <= radius
        if np.count_nonzero(linked) == len(known):  # only the diagonal
            return int(np.argmax(near))
        _, labels, _ = unique_points(rows, atol=self.atol, rtol=self.rtol)
        hits = np.flatnonzero(labels[:-1] == labels[-1])
        return int(hits[0]) if hits.size else -1

    def _match_small(self, sig: list, rows: list, closest: float, top: float) -> int:
        """``_match`` on a few short signatures (lists of floats) whose closest pair is
        ``closest`` apart and largest |entry| is ``top``, without numpy's per-call overhead; the
        general path where known points are linked to each other."""
        if math.isnan(closest):
            return self._match_rows(np.array([*rows, sig]))
        scale = max(top, max(map(abs, sig), default=0.0))
        radius = self.atol + self.rtol * scale
        for i, row in enumerate(rows):
            if _gap(row, sig) <= radius:
                return self._match_rows(np.array([*rows, sig])) if closest <= radius else i
        return -1

    def index(self, x: np.ndarray) -> int:
        """Index of the found root that ``x`` equals, else -1."""
        return self._match(x, [r.x for r in self.found])

    def on_manifold(self, x: np.ndarray) -> bool:
        """Whether ``x`` lies on a family found so far."""
        return any(m.contains(x) for m in self.manifolds)

    def add(self, res: NewtonResult, from_start: bool) -> bool:
        """Record a converged result; True when it is a new root (or a new family)."""
        if not self.accept(res):
            self.refused.append(res.x.copy())
            return False
        if self.on_manifold(res.x) or self._match(res.x, self.given) >= 0:
            return False
        i = self.index(res.x)
        if i >= 0:
            self.counts[i] += int(from_start)
            return False
        if self.manifold is not None:
            family = self.manifold(res)
            if family is not None:
                self.manifolds.append(family)
                keep = [i for i, r in enumerate(self.found) if not family.contains(r.x)]
                self.found = [self.found[i] for i in keep]
                self.counts = [self.counts[i] for i in keep]
                return True
        self.found.append(res)
        self.counts.append(int(from_start))
        return True

    def _refused_root(self, res: NewtonResult) -> bool:
        """A root (residual <= tol, at a singular Jacobian) that ``accept`` refuses."""
        return res.residual <= self.tol and not self.accept(res)

    def run(self, starts: Sequence[np.ndarray]) -> RootSearch:
        """Plain, then deflated Newton from every start; returns self."""
        for x0 in starts:
            self.n_starts += 1
            res = self._newton(x0)
            accounted = self._refused_root(res) or self.collapsed(res, x0)
            if not (res.converged or accounted) and self.transient:
                res = pseudo_transient(self.fun, x0, self.tol, self.max_iter)
                self.nit += res.iterations
                self.nfev += res.nfev
                accounted = self._refused_root(res) or self.collapsed(res, x0)
            if not res.converged:
                if self._refused_root(res):
                    self.refused.append(res.x.copy())
                elif not accounted:
                    self.failed.append(res)
                continue
            self.add(res, True)
            for _ in range(self.max_deflations):
                if (self.idle >= self.patience
                        or len(self.found) + len(self.given) >= self.max_roots):
                    break
                known = np.array([r.x for r in self.found] + self.refused + self.given)
                res = self._newton(x0, roots=known)
                if not (res.converged and (self.add(res, False) or not self.accept(res))):
                    self.idle += 1
                    break
                self.idle = 0
        return self

    def mirror(self, flips: Sequence[np.ndarray]) -> RootSearch:
        """Add the image s x of every root x under each symmetry s (elementwise signs, F(s x) =
        s F(x)), after Newton from it, and of one point of every family (which traces the
        mirrored family if new); returns self."""
        queue = [r.x for r in self.found] + [m.points[0] for m in self.manifolds]
        while queue and flips:
            x = queue.pop()
            for s in flips:
                y = s * x
                if self.index(y) >= 0 or self.on_manifold(y):
                    continue
                res = self._newton(y)
                if res.converged and self.add(res, False):
                    queue.append(res.x)
        return self


def deflated_newton(
    fun: Fun,
    starts: Sequence[np.ndarray],
    tol: float = 1e-10,
    max_iter: int = 60,
    roots: Sequence[np.ndarray] | None = None,
    accept: Callable[[NewtonResult], bool] | None = None,
    same: Callable[[np.ndarray, np.ndarray], bool] | None = None,
    max_roots: int = 1000,
    power: float = 2.0,
    shift: float = 1.0,
) -> tuple[list[NewtonResult], list[NewtonResult]]:
    """Find many roots of F from several starts by deflation: ``RootSearch`` in one call.

    From each start plain Newton, then Newton deflated by every root known so far, retried while
    it finds new roots (Farrell et al. 2015, algorithm 1 with several initial guesses), with no
    pseudo-transient continuation and no patience rule.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (F, dF/dx, extra)``.
    starts : sequence of ndarray
    tol, max_iter : float, int
        As in ``newton``.
    roots : sequence of ndarray, optional
        Roots known beforehand (deflated from the start, not returned).
    accept : callable, optional
        ``accept(result) -> bool`` for converged results (e.g. nonnegative variances).
    same : callable, optional
        ``same(x, y) -> bool``; default: max |x - y| <= 1e-6 (1 + max |x|) over the roots.
    max_roots : int
        Stop once this many roots are known.
    power, shift : float
        Of the deflation operator.

    Returns
    -------
    found : list of NewtonResult
        The new roots, in the order found.
    failed : list of NewtonResult
        One per start whose plain Newton iteration did not converge (and did not end on a root
        that ``accept`` refuses).
    """
    search = RootSearch(
        fun, tol, max_iter, accept=accept, same=same, atol=1e-6, rtol=1e-6, transient=False,
        patience=np.inf, max_deflations=max_roots, max_roots=max_roots, roots=roots,
        power=power, shift=shift,
    )
    search.run(starts)
    return search.found, search.failed
