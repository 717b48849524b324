"""Following the stationary states of the mean field along a parameter.

:func:`stationary_states_along` returns the static and chaotic states of the mean-field theory
of Mastrogiuseppe & Ostojic 2018 (Neuron 99:609; ``MeanField.stationary_states``) at every value
of a parameter (e.g. the bulk strength g, or an input): the states of one value are continued by
Newton to the next, and the full multi-start search of ``MeanField.stationary_states`` runs only
where a test says their number may have changed (a state that cannot be continued, a sign change
of a Jacobian's determinant, a bulk radius crossing 1, a change of stability, a jump between
branches; see the function's docstring), after each such search filling in by continuation what
the steps since the previous search missed.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Callable

import numpy as np

from ._checks import as_array, as_float, as_int
from .dynamics import STABILITY_TOL, SolverReport, warn_report
from .dynamics.solve import newton
from .meanfield import DEFLATED_MIN_STEP, SAME_ATOL, SAME_RTOL, MeanField, _by_kappa
from .meanfield_results import StationaryState, StationaryStates, StationarySweep

__all__ = ["stationary_states_along", "StationarySweep"]

#: Newton iterations of one continuation step of ``stationary_states_along``
FOLLOW_ITER = 12
#: default ``search_every`` of ``stationary_states_along``: at most this many values between two
#: multi-start searches
SEARCH_EVERY = 20
#: in one step of ``stationary_states_along``, Newton may end at most this fraction of the distance
#: between a state and its nearest neighbour (max-norm, before the step) from its prediction
FOLLOW_STEP = 0.25


@dataclasses.dataclass(slots=True)
class _Track:
    """A state followed by ``stationary_states_along``: the state, its unknowns, the sign of the
    determinant of its residual Jacobian, its bulk radius and the parameter value; the unknowns,
    value and ``_signature`` one step before (for the secant predictor; None when unknown); and
    (i, s) when it is the image s x of the i-th state under a symmetry of the equations (its
    predictor); the coordinates in which states are compared (``_signature``); the unknowns,
    value and signature two steps before (for the quadratic predictor; None when unknown); and
    whether the state was continued by Newton from ``previous`` (else ``previous`` is only the
    nearest state of the step before, as after a search)."""

    state: StationaryState
    x: np.ndarray
    sign: float
    bulk_radius: float
    value: float
    previous: tuple | None = None
    mirror: tuple | None = None
    sig: list = dataclasses.field(default=None, repr=False)
    earlier: tuple | None = None
    continued: bool = False

    def __post_init__(self) -> None:
        if self.sig is None:
            self.sig = _signature(self.x, self.state.chaotic)


def _invariants(track: _Track) -> tuple:
    """What must not change along a branch between two searches: kind, stability, the sign of
    the Jacobian's determinant and the side of bulk radius 1."""
    return (track.state.chaotic, track.state.stability, track.sign, track.bulk_radius > 1.0)


def _signature(x: np.ndarray, chaotic: bool) -> list:
    """The coordinates in which states are compared, as floats: the unknowns of a static state,
    (kappa, D_0, D_inf) of a chaotic one (``MeanField._chaotic_signature``)."""
    values = x.tolist()
    if chaotic:
        values[-1] = values[-2] - math.exp(values[-1])
    return values


def _distance(a: list, b: list) -> float:
    """Max-norm distance of two points given as lists of floats of one length."""
    return max(map(abs, map(operator.sub, a, b)))


def _room(points: list) -> list:
    """For each point (list of floats), the max-norm distance to its nearest neighbour, at most
    1 + max |point|."""
    room = [1.0 + max(map(abs, p)) for p in points]
    for i in range(len(points)):
        for j in range(i + 1, len(points)):
            gap = _distance(points[i], points[j])
            room[i], room[j] = min(room[i], gap), min(room[j], gap)
    return room


def _merged(points: list) -> bool:
    """Whether two of the points (lists of floats) are one state: within SAME_ATOL + SAME_RTOL
    max |point| of each other (the relation of ``unique_points``; fewer groups than points
    exactly then)."""
    if len(points) < 2:
        return False
    radius = SAME_ATOL + SAME_RTOL * max(abs(v) for p in points for v in p)
    return any(_distance(p, q) <= radius for i, p in enumerate(points) for q in points[i + 1 :])


def _tracks(mf: MeanField, found: list, symmetries: dict, value: float, old: list) -> list:
    """The tracks of the states of a search at ``value``: each with the mirror relation to an
    earlier one, and, for the secant predictor, the nearest state of the previous value with the
    same kind, stability, sign of the Jacobian's determinant and side of bulk radius 1 (a wrong
    pick only costs a search: Newton then ends far from the prediction)."""
    tracks: list[_Track] = []
    points: list[list] = []  # the unknowns of each track, as floats (a few: no numpy calls)
    flips = {kind: [(f, f.tolist()) for f in fs] for kind, fs in symmetries.items()}
    for state, res in found:
        chaotic = state.chaotic
        track = _Track(state, res.x.copy(), _det_sign(res.jacobian), state.bulk_radius, value)
        x = track.x.tolist()
        radius = SAME_ATOL + SAME_RTOL * max(map(abs, x))
        for i, other in enumerate(tracks):
            if other.state.chaotic != chaotic:
                continue
            for flip, signs in flips[chaotic]:
                if _distance(list(map(operator.mul, signs, points[i])), x) <= radius:
                    track.mirror = (i, flip)
                    break
            if track.mirror is not None:
                break
        tracks.append(track)
        points.append(x)
    old = [(_invariants(t), t) for t in old if t.value != value]
    for track in tracks:  # the predictor: the nearest old state with the same invariants
        invariants = _invariants(track)
        alike = [t for kept, t in old if kept == invariants]
        if alike:
            dist = [_distance(t.sig, track.sig) for t in alike]
            nearest = alike[int(np.argmin(dist))]
            track.previous = (nearest.x, nearest.value, nearest.sig)
    return tracks


def _det_sign(matrix: np.ndarray) -> float:
    """Sign of det(matrix): +1, -1, or 0 (singular, or not finite)."""
    if matrix.shape == (2, 2):
        (a, b), (c, d) = matrix.tolist()
        det = a * d - b * c
    elif matrix.shape == (3, 3):
        (a, b, c), (d, e, f), (g, h, i) = matrix.tolist()
        det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    else:
        sign, logdet = np.linalg.slogdet(matrix)
        return float(sign) if np.isfinite(logdet) else 0.0
    if not math.isfinite(det):
        return 0.0
    return 1.0 if det > 0.0 else (-1.0 if det < 0.0 else 0.0)


def _where(state: StationaryState) -> str:
    """'the static (chaotic) state at kappa = [...]', for messages."""
    kind = "chaotic" if state.chaotic else "static"
    return f"the {kind} state at kappa = {np.round(state.kappa, 4).tolist()}"


def _same_structure(mf: MeanField, other: MeanField) -> bool:
    """Whether ``other``'s states are states of the same systems as ``mf``'s: same rank,
    inputs, populations, nonlinearity, time and presence of a bulk."""
    return (mf.rank, mf.n_inputs, mf.n_populations, mf.phi.key, mf.time) == (
        other.rank,
        other.n_inputs,
        other.n_populations,
        other.phi.key,
        other.time,
    ) and (mf.g > 0) == (other.g > 0)


def _follow(
    mf: MeanField,
    tracks: list[_Track],
    u: np.ndarray,
    value: float,
    tol: float,
    max_iter: int,
    stability_tol: float,
) -> tuple[list[_Track] | None, str, int, int]:
    """Continue the states of a neighbouring parameter value to ``mf`` by Newton, and test
    whether their number may have changed in between (``stationary_states_along``).

    Each state starts from a secant or quadratic predictor along its branch (``_secant``), or
    from its mirror image under a symmetry, when it has a partner. Returns (tracks, "", nit,
    nfev) when every test passed, else (None, reason, nit, nfev).
    """
    funs = {False: mf._residual("static", u)}
    if any(t.state.chaotic for t in tracks):
        funs[True] = mf._residual("chaotic", u)
    stops = {kind: getattr(fun, "collapse_rule", None) for kind, fun in funs.items()}
    iterations = min(max_iter, FOLLOW_ITER)
    new: list[_Track] = []
    misses: list[float] = []
    nit = nfev = 0
    for t in tracks:
        chaotic = t.state.chaotic
        fun = funs[chaotic]
        if t.mirror is not None:
            i, flip = t.mirror
            guesses = (flip * new[i].x, t.x)
        elif t.previous is not None:
            guesses = (_secant(t, value), t.x)
        else:  # the tangent predictor: one Newton step of ``mf`` from the old state
            guesses = (t.x,)
            F, J, _ = fun(t.x)
            nfev += 1
            if np.all(np.isfinite(J)) and np.all(np.isfinite(F)):
                try:
                    guesses = (t.x - np.linalg.solve(J, F), t.x)
                except np.linalg.LinAlgError:  # singular: no tangent
                    pass
        for y0 in guesses:  # (newton copies its start)
            if not chaotic and mf.g == 0:
                y0 = y0.copy()
                y0[-1] = 0.0
            res = newton(fun, y0, tol=tol, max_iter=iterations, stop=stops[chaotic])
            nit, nfev = nit + res.iterations, nfev + res.nfev
            admissible = mf._chaotic_admissible(res) if chaotic else res.x[-1] >= -1e-12
            if res.converged and admissible:
                break
        else:
            return None, f"{_where(t.state)} could not be continued", nit, nfev
        sign = _det_sign(res.jacobian)
        if sign != t.sign:
            reason = f"the Jacobian at {_where(t.state)} changed sign (fold or branch point)"
            return None, reason, nit, nfev
        state = (
            mf._make_chaotic(res, stability_tol) if chaotic else mf._make_static(res, stability_tol)
        )
        if state.stability != t.state.stability:
            return None, f"{_where(t.state)} changed stability", nit, nfev
        if not chaotic and mf.g > 0 and (state.bulk_radius > 1.0) != (t.bulk_radius > 1.0):
            reason = f"the bulk radius at {_where(t.state)} crossed 1 (onset of chaos)"
            return None, reason, nit, nfev
        after = _signature(res.x, chaotic)
        misses.append(_distance(after, _signature(y0, chaotic)))
        # the point before t is trusted (for the quadratic predictor) only where t itself was
        # continued: a search's ``previous`` is only the nearest state of the step before it
        earlier = t.previous if t.continued else None
        new.append(
            _Track(
                state,
                res.x,
                sign,
                state.bulk_radius,
                value,
                (t.x, t.value, t.sig),
                t.mirror,
                after,
                earlier,
                True,
            )
        )
    for chaotic in (False, True):
        index = [j for j, t in enumerate(tracks) if t.state.chaotic == chaotic]
        if not index:
            continue
        room = _room([tracks[j].sig for j in index])
        if any(misses[j] > FOLLOW_STEP * r for j, r in zip(index, room, strict=True)):
            return (
                None,
                "Newton ended farther from a state's prediction than a quarter of the distance "
                "to its nearest neighbour (a possible jump between branches)",
                nit,
                nfev,
            )
        if _merged([new[j].sig for j in index]):
            return None, "two continued states merged", nit, nfev
    return new, "", nit, nfev


def _secant(t: _Track, value: float) -> np.ndarray:
    """Predictor of a followed state at ``value``: the line (secant) through its last two
    values, or the parabola through its last three when known (error O(step^3) instead of
    O(step^2) on a smooth branch: Newton then often converges one step sooner), in (kappa, D)
    for a static state and in (kappa, D_0, D_inf) for a chaotic one (the gap of a chaotic state
    born at a static one grows linearly, its logarithm does not)."""
    _, p1, last = t.previous
    p0, now = t.value, t.sig
    if p1 == p0:
        return t.x.copy()
    if t.earlier is None or t.earlier[1] in (p0, p1):
        w0 = (value - p1) / (p0 - p1)
        w1 = 1.0 - w0
        guess = [w0 * a + w1 * b for a, b in zip(now, last, strict=True)]
    else:  # Lagrange interpolation through the three points
        _, p2, earlier = t.earlier
        w0 = (value - p1) * (value - p2) / ((p0 - p1) * (p0 - p2))
        w1 = (value - p0) * (value - p2) / ((p1 - p0) * (p1 - p2))
        w2 = (value - p0) * (value - p1) / ((p2 - p0) * (p2 - p1))
        guess = [w0 * a + w1 * b + w2 * c for a, b, c in zip(now, last, earlier, strict=True)]
    if t.state.chaotic:
        gap = guess[-2] - guess[-1]
        if not gap > 0.0:
            return t.x.copy()
        guess[-1] = math.log(gap)
    return np.array(guess)


class _Filler:
    """Fills in the states missed between two multi-start searches of
    ``stationary_states_along`` (values ``lo`` .. ``hi``, the latter the new search): every state
    found at one value is continued by Newton to its neighbours, in both directions, until Newton
    fails (the state does not exist there: a fold) or reaches a known state; where it fails, its
    partner at the fold (the other state that meets it there) is looked for by Newton deflated
    by the known states, from both sides of the state along the null direction of its Jacobian,
    and filled in the same way. So a pair of states born at a fold of a branch that no search saw
    is found from either end of its life that a search saw. Values where a filled state crosses
    a test of ``_follow`` or ends are collected in ``events`` (the caller searches
    there)."""

    def __init__(self, models, found_at, grid, lo, hi, tol, stability_tol, fruitless=None):
        self.models, self.found_at, self.grid = models, found_at, grid
        self.lo, self.hi, self.tol, self.stability_tol = lo, hi, tol, stability_tol
        self.funs: dict = {}
        self.nit = self.nfev = 0
        self.events: set[int] = set()
        # partner searches that found nothing (``partner``), shared by the fillers of a sweep
        self.fruitless: set[tuple] = set() if fruitless is None else fruitless

    def _fun(self, j: int, chaotic: bool):
        if (j, chaotic) not in self.funs:
            mf, u = self.models[j]
            self.funs[j, chaotic] = mf._residual("chaotic" if chaotic else "static", u)
        return self.funs[j, chaotic]

    def _solve(self, j: int, chaotic: bool, x: np.ndarray, roots=None):
        """A new admissible state at value j from x (None if Newton fails or it is known)."""
        mf = self.models[j][0]
        fun = self._fun(j, chaotic)
        res = newton(
            fun,
            x,
            tol=self.tol,
            max_iter=2 * FOLLOW_ITER,
            roots=roots,
            min_step=1e-8 if roots is None else DEFLATED_MIN_STEP,
            stop=getattr(fun, "collapse_rule", None),
        )
        self.nit, self.nfev = self.nit + res.iterations, self.nfev + res.nfev
        admissible = mf._chaotic_admissible(res) if chaotic else res.x[-1] >= -1e-12
        return res if res.converged and admissible else None

    def _known(self, j: int, chaotic: bool, x: np.ndarray) -> bool:
        point = _signature(x, chaotic)
        radius = SAME_ATOL + SAME_RTOL * max(map(abs, point))
        return any(
            _distance(t.sig, point) <= radius
            for t in self.found_at[j]
            if t.state.chaotic == chaotic
        )

    def _add(self, j: int, res) -> _Track:
        mf = self.models[j][0]
        chaotic = res.x.size == mf.rank + 2
        state = (
            mf._make_chaotic(res, self.stability_tol)
            if chaotic
            else mf._make_static(res, self.stability_tol)
        )
        track = _Track(state, res.x, _det_sign(res.jacobian), state.bulk_radius, self.grid[j])
        self.found_at[j].append(track)
        return track

    def partner(self, j: int, chaotic: bool, x: np.ndarray) -> list:
        """New states near x at value j along the null direction of the Jacobian (the partner of
        a fold at x), found by Newton deflated by the known states there. A search that found
        nothing is not repeated while the known states at j stay the same (it would find
        nothing again: the same Newton runs)."""
        known = sum(t.state.chaotic == chaotic for t in self.found_at[j])
        key = (j, chaotic, x.tobytes(), known)
        if key in self.fruitless:
            return []
        found = self._partner(j, chaotic, x)
        if not found:
            self.fruitless.add(key)
        return found

    def _partner(self, j: int, chaotic: bool, x: np.ndarray) -> list:
        """``partner``, searched."""
        F, J, _ = self._fun(j, chaotic)(x)
        self.nfev += 1
        if not (np.all(np.isfinite(J)) and np.all(np.isfinite(F))):
            return []
        direction = np.linalg.svd(J)[2][-1]
        roots = np.array([t.x for t in self.found_at[j] if t.state.chaotic == chaotic])
        found = []
        for sign in (1.0, -1.0):
            start = x + sign * 0.05 * (1.0 + np.max(np.abs(x))) * direction
            res = self._solve(j, chaotic, start, roots=roots if len(roots) else None)
            if res is not None and not self._known(j, chaotic, res.x):
                found.append((j, self._add(j, res)))
                roots = np.vstack([roots, res.x]) if len(roots) else res.x[None, :]
        return found

    def fill(self, seeds: list) -> None:
        """Continue every seed (j, track) over lo .. hi (class docstring). Where a filled state
        changes the sign of its Jacobian's determinant, its stability or its side of bulk radius
        1 between two values, states may be born there: the later value joins ``events``; so
        does the value a filled state could not be continued to."""
        queue = list(seeds)
        while queue:
            j0, track = queue.pop()
            chaotic = track.state.chaotic
            for step in (-1, 1):
                j, current = j0, track
                while self.lo <= j + step <= self.hi:
                    res = self._solve(j + step, chaotic, current.x)
                    if res is None:  # a fold, or a step too long: search there as well
                        queue += self.partner(j, chaotic, current.x)
                        self.events.add(j + step)
                        break
                    if self._known(j + step, chaotic, res.x):
                        break
                    new = self._add(j + step, res)
                    if _invariants(new) != _invariants(current):
                        self.events.add(max(j, j + step))
                    j, current = j + step, new


def stationary_states_along(
    build: Callable[[float], MeanField],
    values,
    *,
    search_every: int = SEARCH_EVERY,
    n_starts: int | None = None,
    seed=0,
    tol: float = 1e-10,
    max_iter: int = 60,
    stability_tol: float = STABILITY_TOL,
) -> StationarySweep:
    """The stationary states of ``build(p)`` at every value p of a parameter (e.g. g): multi-start
    searches where the number of states may change, Newton continuation in between.

    The static states of Mastrogiuseppe & Ostojic 2018 (Neuron 99:609) solve
    kappa = G(kappa, D), D = g^2 sum_p alpha_p [phi^2]_p, and the chaotic ones the dynamic
    mean-field equations for (kappa, D_0, D_inf) (``MeanField.stationary_states``). At the first
    value the multi-start search of ``MeanField.stationary_states`` runs; at each next value the
    states of the previous one are continued by Newton (from a secant predictor along each
    branch, quadratic once it has been followed over three values, or the mirror image of a
    symmetric partner; a chaotic iterate that slides onto the static states is stopped there,
    ``MeanField._collapse_rule``: it has not been continued), and the search runs again, with the
    continued states as extra starts, when a test says that the number of states may have
    changed in between, or after ``search_every`` values without a search:

    - a state could not be continued (it met a partner at a fold, a chaotic state collapsed onto
      a static one as its gap D_0 - D_inf closed, or the step was too long);
    - the determinant of a state's residual Jacobian changed sign: an eigenvalue crossed 0, as at
      a fold, a pitchfork or a transcritical point (where states are created or destroyed);
    - the bulk radius g sqrt(sum_p alpha_p [phi'^2]_p) of a static state crossed 1: there
      chaotic states branch off it (Mastrogiuseppe & Ostojic 2018; the onset of chaos);
    - a state changed stability (stable / unstable / marginal);
    - Newton ended farther from a state's prediction than a quarter of the distance to its
      nearest neighbour (a possible jump between branches), two states merged, or the chaos
      exclusion (``MeanField.chaos_excluded``) or the model's structure changed.

    On a smooth branch the number of states changes only where one of these tests fires. A pair
    of states can also be born away from every known branch (at a fold of a branch no search has
    seen, as in the hysteresis of an input sweep). So after each search every state it found is
    continued back over the values since the previous search, and where a continued state ends
    at a fold its partner there is looked for (Newton deflated by the known states, along the
    null direction of the Jacobian) and continued in turn; where a state so filled in crosses one
    of the tests above, or ends, the search runs at that value too. A state that lives at a
    searched value, or meets one that does at a fold, is reported at every value of its life.
    What can still be missed: states whose whole life, fold partners included, falls between
    two searches (at most ``search_every`` values), and two eigenvalues crossing 0 within one
    step. The per-value results say how they were obtained: ``searched``, ``reasons``, and
    ``StationaryStates.search`` ("multistart" or "continuation"; a continuation is never
    ``complete``).

    Parameters
    ----------
    build : callable
        ``build(value)`` returns a MeanField, or a tuple (MeanField, inputs) when inputs vary.
    values : array_like (n,)
        Parameter values, in the order to visit them; consecutive values should be close (the
        steps are continued).
    search_every : int
        At most this many values between two multi-start searches (default 20; 1: a search at
        every value, the plain loop over ``stationary_states``).
    n_starts, seed, tol, max_iter, stability_tol
        As in ``MeanField.stationary_states``; a continuation step makes at most
        ``min(max_iter, 12)`` Newton iterations.

    Returns
    -------
    StationarySweep
        ``states`` (one StationaryStates per value), ``searched``, ``reasons``, ``counts`` and
        ``report``; ``complete`` when every multi-start search was complete.

    Raises
    ------
    TypeError, ValueError
        On bad arguments, naming the argument.

    Warns
    -----
    ConvergenceWarning
        (a RuntimeWarning) once, when a multi-start search had starts that did not converge; the
        message lists the values.

    Examples
    --------
    The Mastrogiuseppe & Ostojic 2018 Fig. 1 law (M_m = 1.1, M_n = 2): chaos sets in at g = 1.

    >>> from lowrank import GaussianLoadings
    >>> law = GaussianLoadings([1.1, 2.0], np.eye(2), rank=1)
    >>> sweep = stationary_states_along(lambda g: MeanField(law, g=g), np.linspace(0.5, 1.5, 11))
    >>> sweep.n_chaotic.tolist()  # doctest: +SKIP
    [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    """
    if not callable(build):
        raise TypeError(f"build must be callable (value -> MeanField), got {type(build).__name__}")
    values = as_array(values, "values", ndim=1)
    if values.size == 0:
        raise ValueError("values must hold at least one parameter value")
    search_every = as_int(search_every, "search_every", minimum=1)
    tol = as_float(tol, "tol", positive=True)
    max_iter = as_int(max_iter, "max_iter", minimum=1)
    stability_tol = as_float(stability_tol, "stability_tol", minimum=0.0)
    if n_starts is not None:
        n_starts = as_int(n_starts, "n_starts", minimum=1)
    models: list[tuple[MeanField, np.ndarray]] = []
    found_at: list[list[_Track]] = []  # the states at each value
    reports: list[SolverReport | None] = []  # the search's report, None where continued
    reasons: list[str] = []
    tracks: list[_Track] = []
    nit = nfev = total_starts = 0
    last_search = 0
    fruitless: set[tuple] = set()  # ``_Filler.partner``
    grid = values.tolist()
    for k, p in enumerate(grid):
        out = build(p)
        mf, inputs = out if isinstance(out, tuple) else (out, None)
        if not isinstance(mf, MeanField):
            raise TypeError(
                f"build must return a MeanField (or (MeanField, inputs)), got {type(mf).__name__}"
            )
        u = mf._inputs(inputs)
        previous = models[-1][0] if models else None
        models.append((mf, u))
        if k == 0:
            reason = "first value"
        elif k - last_search >= search_every:
            reason = f"{search_every} values since the last search (search_every)"
        elif not _same_structure(mf, previous):
            reason = "the model's structure changed"
        elif mf.chaos_excluded != previous.chaos_excluded:
            reason = "chaotic states " + (
                "became impossible" if mf.chaos_excluded else "became possible (g sup|phi'| > 1)"
            )
        else:
            followed, reason, n_it, n_fev = _follow(mf, tracks, u, p, tol, max_iter, stability_tol)
            nit, nfev = nit + n_it, nfev + n_fev
        if not reason:
            tracks, report = followed, None
        else:
            same = k > 0 and _same_structure(mf, previous)
            count = 20 * mf.rank if n_starts is None else n_starts
            found, report, symmetries = mf._search_states(
                u,
                count,
                seed,
                tol,
                max_iter,
                stability_tol,
                [t.state for t in tracks] if same else [],
            )
            tracks = _tracks(mf, found, symmetries, p, tracks if same else [])
            nit, nfev = nit + report.nit, nfev + report.nfev
            total_starts += report.n_starts
            if same:  # fill in what the continuation since the last search missed
                found_at.append(tracks)
                filler = _Filler(
                    models, found_at, grid, last_search, k, tol, stability_tol, fruitless
                )
                seeds = [(k, t) for t in tracks]
                for t in found_at[k - 1]:  # states lost since k - 1: look for fold partners
                    if filler._solve(k, t.state.chaotic, t.x) is None:
                        seeds += filler.partner(k - 1, t.state.chaotic, t.x)
                filler.fill(seeds)
                while filler.events:  # a filled state crossed a test: search there too
                    e = min(filler.events)
                    filler.events.discard(e)
                    if e == k or reports[e] is not None:
                        continue
                    mf_e, u_e = models[e]
                    found, reports[e], symmetries = mf_e._search_states(
                        u_e,
                        count,
                        seed,
                        tol,
                        max_iter,
                        stability_tol,
                        [t.state for t in found_at[e]],
                    )
                    reasons[e] = "a state filled in after a later search crossed a test here"
                    nit, nfev = nit + reports[e].nit, nfev + reports[e].nfev
                    total_starts += reports[e].n_starts
                    new = [
                        t
                        for t in _tracks(mf_e, found, symmetries, grid[e], [])
                        if not filler._known(e, t.state.chaotic, t.x)
                    ]
                    found_at[e] += new
                    filler.fill([(e, t) for t in new])
                nit, nfev = nit + filler.nit, nfev + filler.nfev
                tracks = found_at.pop()
            last_search = k
        found_at.append(list(tracks))
        reports.append(report)
        reasons.append(reason)
    results = []
    for states, report in zip(found_at, reports, strict=True):
        points = sorted((t.state for t in states if not t.state.chaotic), key=_by_kappa)
        points += sorted((t.state for t in states if t.state.chaotic), key=_by_kappa)
        kind = "continuation" if report is None else "multistart"
        if report is None:
            report = SolverReport(
                True,
                0,
                f"{len(points)} states continued by Newton from the neighbouring values; no "
                "multi-start search here (no fold, branch point, stability change or "
                "bulk-radius crossing detected on them)",
                residual=max((t.residual for t in points), default=0.0),
                n_starts=len(points),
                tol=tol,
            )
        results.append(
            StationaryStates(
                points,
                report.n_starts,
                report.n_failed,
                report.failed_residual,
                report,
                stability_tol,
                kind,
            )
        )
    searched = [r.search == "multistart" for r in results]
    incomplete = [
        p
        for p, r in zip(values.tolist(), results, strict=True)
        if r.search == "multistart" and not r.complete
    ]
    n_search = sum(searched)
    what = (
        f"stationary_states_along: multi-start searches at {n_search} of {values.size} values, "
        f"states continued at the other {values.size - n_search}"
    )
    if incomplete:
        listed = ", ".join(f"{p:.6g}" for p in incomplete[:8])
        summary = SolverReport(
            False,
            1,
            f"{what}; the searches at {len(incomplete)} values ({listed}"
            f"{', ...' if len(incomplete) > 8 else ''}) had starts that did not converge: states "
            "may be missing there and at the values continued from them; raise max_iter or "
            "n_starts",
            nit=nit,
            nfev=nfev,
            n_starts=total_starts,
            n_failed=sum(r.n_failed for r in results),
            failed_residual=min(r.failed_residual for r in results),
            tol=tol,
        )
    else:
        summary = SolverReport(
            True,
            0,
            f"{what}; every search was complete",
            nit=nit,
            nfev=nfev,
            n_starts=total_starts,
            tol=tol,
        )
    warn_report(summary, stacklevel=2)
    return StationarySweep(values, results, np.array(searched, dtype=bool), reasons, summary)
