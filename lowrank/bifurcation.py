"""Bifurcation diagrams of the mean-field theory in one parameter, by pseudo-arclength continuation.

``bifurcation_diagram(build, parameter, values)`` finds the stationary states of ``build(p)``
(static and chaotic, :meth:`lowrank.MeanField.stationary_states`) by multi-start solves at a few
of the ``values`` and follows each one, in both directions, by pseudo-arclength continuation in
z = (y, p) (Keller 1977, in Applications of Bifurcation Theory, Academic Press; Kuznetsov 2004,
Elements of Applied Bifurcation Theory, 3rd ed., sec. 10.2):

    tangent     t, the unit null vector of [F_y, F_p](z), oriented like the previous tangent;
    predictor   z_pred = z_k + h t_k;
    corrector   Newton on  F(y, p) = 0,  t_k . (z - z_pred) = 0;

with an adaptive step h (on chaotic branches measured with the gap D_0 - D_inf in place of the
unknown log(D_0 - D_inf)). F is ``MeanField.residual_function`` and F_p a central difference of
``build(p +- delta)``. The bordered system is regular at folds, so a branch goes round them and its
parameter need not be monotonic. Every sample of a branch is a full :class:`StationaryState`,
solved again at its parameter by ``MeanField.newton_from``. Along each branch, between
consecutive points, the events are located on their test functions (Kuznetsov 2004, sec. 10.2):

``fold``          t_p, the parameter component of the tangent, changes sign;
``branch_point``  det [[F_y, F_p], [t^T]] changes sign (a simple branch point), or the number of
                  eigenvalues of F_y in the right half plane changes with no fold, branch point or
                  Hopf point to explain it and two or more eigenvalues vanish where it does (a
                  branch point of a symmetric system, such as the O(2)-symmetric birth of a ring
                  of fixed points, where det F_y ~ (p - p*)^2 keeps its sign);
``hopf``          the largest real part (flows), or modulus minus one (maps: Neimark-Sacker), of
                  the state's complex eigenvalue pairs changes sign;
``chaos_onset``   the bulk radius g sqrt(<phi'^2>) of a static state crosses 1
                  (Mastrogiuseppe & Ostojic 2018, Neuron 99:609).

Each is located to 1e-10 in the arclength by Brent's method (bisection on the eigenvalue count
for symmetric branch points), on points of the branch computed where the hyperplane normal to it
(to the cubic Hermite interpolant between two continuation points) cuts it, so that Newton does
not leave for a branch crossing this one; a fold or branch point is accepted only where F_y is
singular (an eigenvalue below 1e-6 of its largest entry). New branches start *at* each located
branch point, along the null directions of [F_y, F_p] other than the branch's own direction
(both signs; Keller 1977): a pitchfork gives two side branches, one per sign. A symmetric branch
point whose bifurcating solutions form a continuous family (a ring) gives one branch, a curve on
that family, whose states are marginal (``Branch.manifold_dimension`` = 1). A state found by a
multi-start solve that lies on a known branch (or on the ring of one) is not continued again.
A branch that reaches an end of the parameter range is solved there, at that parameter (``build``
may raise beyond it), so that a multi-start solve at the end finds its states known.

A chaotic branch ends where it meets the static solutions (D_0 - D_inf -> 0, a chaos onset). Its
equations in log(D_0 - D_inf) become singular there, so folds and branch points are not searched
where the gap is below 5% of 1 + D_0, and the branch stops once it is below 0.1%.

What is detected but cannot be resolved (an event whose Newton solves fail, a branch that stops
inside the range, a multi-start solve that found nothing or says it is incomplete) is listed in
``BifurcationDiagram.unresolved`` with the residual reached, and reported by a
:class:`ConvergenceWarning`.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq

from ._checks import ConvergenceWarning, as_array, as_float, as_int, seed_sequence
from .dynamics.stability import classify
from .meanfield import MeanField, StationaryState

__all__ = [
    "bifurcation_diagram",
    "BifurcationDiagram",
    "Branch",
    "BifurcationEvent",
    "Continuation",
    "Unresolved",
]

EVENT_KINDS = ("fold", "branch_point", "hopf", "chaos_onset")
#: kinds of ``Unresolved`` items besides the event kinds
UNRESOLVED_KINDS = EVENT_KINDS + ("discovery", "continuation", "branch_switching")

_NULL_TOL = 1e-9  # singular values of [F_y, F_p] below this (relative) span a null space
_SINGULAR_TOL = 1e-7  # the same, at a located singular point (within ~1e-12 of it)
_SAME = 1e-6  # two solutions at one parameter are the same within this (relative, max-norm)
_XTOL = 1e-12  # location of events in the arclength
_GAP_END = 1e-3  # a chaotic branch ends once D_0 - D_inf < _GAP_END (1 + D_0)
_GAP_MERGE = 0.05  # and may stop there, where its equations become singular, once below this
_COMPLEX = 1e-7  # eigenvalues with |Im| below this (relative) are real
_LOOSE = 1e-7  # a corrector stalled at round-off with a residual below this has converged


@dataclass
class Branch:
    """One continued family of stationary states, in the order of the arclength.

    Attributes
    ----------
    parameter : ndarray (n,)
        Parameter of each sample; not monotonic past a fold.
    states : list of StationaryState
        The state at each sample (each solved by Newton at its parameter).
    chaotic : bool
    manifold_dimension : int
        Dimension of the family of solutions that each state belongs to at fixed parameter: 0 for
        isolated states, 1 on a ring of fixed points (every state then has a neutral direction
        and is marginal).
    origin : str
        "discovery" (continued from a multi-start solution) or "branch_point" (started at a
        located branch point, which is then its first sample).
    time : str
        "continuous" or "discrete" (what stability means).
    """

    parameter: np.ndarray
    states: list
    chaotic: bool
    manifold_dimension: int = 0
    origin: str = "discovery"
    time: str = "continuous"

    def __repr__(self) -> str:
        """A summary (samples, range, stability counts), not the states."""
        counts = dict(zip(*np.unique(self.stability, return_counts=True), strict=True))
        classes = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("stable", "unstable", "marginal"))
        span = (
            f"{np.min(self.parameter):.4g}..{np.max(self.parameter):.4g}"
            if len(self.parameter)
            else "empty"
        )
        return (
            f"Branch({len(self.states)} samples, parameter {span}, "
            f"{'chaotic' if self.chaotic else 'static'}, {classes}, "
            f"manifold_dimension={self.manifold_dimension}, origin={self.origin!r})"
        )

    @property
    def kappa(self) -> np.ndarray:
        """(n, R) latent variables."""
        return np.array([s.kappa for s in self.states])

    @property
    def stable(self) -> np.ndarray:
        """(n,) bool: ``StationaryState.stable`` of each sample."""
        return np.array([s.stable for s in self.states], dtype=bool)

    @property
    def stability(self) -> np.ndarray:
        """(n,) "stable" / "unstable" / "marginal" of each sample (see
        :func:`lowrank.dynamics.stability.classify`)."""
        return np.array([_stability(s, self.time) for s in self.states], dtype="<U8")

    @property
    def marginal(self) -> np.ndarray:
        """(n,) bool: samples whose linearisation cannot decide stability (a bifurcation point,
        or a neutral direction along a ring)."""
        return self.stability == "marginal"

    @property
    def delta0(self) -> np.ndarray:
        """(n, P) total variance of each population's input."""
        return np.array([s.delta0 for s in self.states])

    @property
    def residual(self) -> np.ndarray:
        """(n,) Newton residuals of the states (each within the solver's tolerance)."""
        return np.array([s.residual for s in self.states], dtype=float)


@dataclass
class Unresolved:
    """Something ``bifurcation_diagram`` detected but could not resolve.

    Attributes
    ----------
    kind : str
        An event kind (``EVENT_KINDS``) whose test function changed sign but that could not be
        located; "discovery": a multi-start solve that found no state or reported itself
        incomplete; "continuation": a branch that stopped inside the parameter range;
        "branch_switching": a branch point from which a new branch could not be started.
    interval : tuple of float
        The parameter interval (lo, hi) where it happened (lo == hi at a single value).
    branch : int
        Index of the branch (-1 for "discovery").
    residual : float
        Smallest residual reached by the Newton solves that failed (NaN when unknown).
    """

    kind: str
    interval: tuple
    branch: int
    residual: float


@dataclass
class BifurcationEvent:
    """A located bifurcation.

    Attributes
    ----------
    kind : str
        One of ``EVENT_KINDS``.
    parameter : float
    state : StationaryState
        The state at the event.
    branch : int
        Index of the branch it was found on.
    kernel_dimension : int
        Dimension of the kernel of the residual Jacobian F_y there: 1 at folds and simple branch
        points, 2 or more at symmetric branch points (the onset of a ring), 0 for Hopf points and
        chaos onsets.
    """

    kind: str
    parameter: float
    state: StationaryState
    branch: int
    kernel_dimension: int = 1

    def __repr__(self) -> str:
        kappa = np.asarray(self.kappa, dtype=float).ravel()
        shown = np.array2string(kappa[:4], precision=4, separator=", ")
        if kappa.size > 4:
            shown = shown[:-1] + ", ...]"
        return (
            f"BifurcationEvent({self.kind!r}, parameter={self.parameter:.6g}, "
            f"branch={self.branch}, kernel_dimension={self.kernel_dimension}, kappa={shown})"
        )

    @property
    def kappa(self) -> np.ndarray:
        return self.state.kappa


@dataclass
class BifurcationDiagram:
    """Branches and events of ``bifurcation_diagram``.

    Attributes
    ----------
    parameter_name : str
    values : ndarray (n,)
        The values given: the parameter range [min, max] and where multi-start solves ran.
    branches : list of Branch
    events : list of BifurcationEvent
        Sorted by parameter; one per point (an event seen from several branches is kept once).
    unresolved : list of Unresolved
        What was detected but not resolved (empty when the diagram is complete).
    """

    parameter_name: str
    values: np.ndarray
    branches: list
    events: list
    unresolved: list = field(default_factory=list)

    def __repr__(self) -> str:
        """A summary (range, branches, events by kind, unresolved), not the states."""
        values = np.asarray(self.values, dtype=float)
        span = f"{values.min():.4g}..{values.max():.4g}" if values.size else "empty"
        events = []
        for kind in EVENT_KINDS:
            at = [f"{e.parameter:.4g}" for e in self.events_of(kind)]
            if at:
                more = f", ... ({len(at)} in all)" if len(at) > 5 else ""
                events.append(f"{kind} at {', '.join(at[:5])}{more}")
        unresolved = ", ".join(sorted({u.kind for u in self.unresolved}))
        return (
            f"BifurcationDiagram({self.parameter_name} in {span}, "
            f"{len(self.branches)} branches, {len(self.events)} events"
            f"{': ' + '; '.join(events) if events else ''}, "
            f"unresolved={len(self.unresolved)}{' (' + unresolved + ')' if unresolved else ''})"
        )

    def events_of(self, kind: str) -> list:
        """The events of one kind, sorted by parameter."""
        return sorted((e for e in self.events if e.kind == kind), key=lambda e: e.parameter)

    def plot(self, ax=None, observable: str = "kappa", component: int = 0):
        """Draw the diagram: stable branches solid, unstable dashed, chaotic in red, events marked;
        the legend names every line style and marker used.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        observable : {"kappa", "delta0"}
        component : int
            Which latent variable (or population) to plot.

        Returns
        -------
        matplotlib Axes
        """
        import matplotlib.pyplot as plt

        if observable not in ("kappa", "delta0"):
            raise ValueError(f"unknown observable {observable!r}; expected 'kappa' or 'delta0'")
        if ax is None:
            ax = plt.figure(figsize=(5, 3.5)).gca()
        for branch in self.branches:
            y = getattr(branch, observable)[:, component]
            color = "C3" if branch.chaotic else "C0"
            stable = branch.stable
            for i in range(len(y) - 1):
                style = "-" if stable[i] and stable[i + 1] else "--"
                ax.plot(branch.parameter[i : i + 2], y[i : i + 2], style, color=color, lw=1.5)
        styles = {  # (chaotic, stable segment) of every segment drawn, for the legend
            (b.chaotic, bool(b.stable[i] and b.stable[i + 1]))
            for b in self.branches
            for i in range(len(b.parameter) - 1)
        }
        for chaotic, stable in sorted(styles):
            state = f"{'chaotic' if chaotic else 'static'}, {'stable' if stable else 'unstable'}"
            ax.plot([], [], "-" if stable else "--", color="C3" if chaotic else "C0", label=state)
        markers = {"fold": "s", "branch_point": "o", "hopf": "D", "chaos_onset": "*"}
        for kind in EVENT_KINDS:
            events = self.events_of(kind)
            if events:
                ys = [getattr(e.state, observable)[component] for e in events]
                ax.plot(
                    [e.parameter for e in events],
                    ys,
                    markers[kind],
                    color="k",
                    ms=7,
                    mfc="w",
                    label=kind.replace("_", " "),
                    linestyle="none",
                )
        ax.set_xlabel(self.parameter_name)
        if observable == "kappa":
            ax.set_ylabel(rf"$\kappa_{{{component + 1}}}$")
        else:
            several = any(np.shape(b.delta0)[-1] > 1 for b in self.branches)
            ax.set_ylabel(r"$\Delta_0$" + (f" (population {component + 1})" if several else ""))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(frameon=False, fontsize=7)
        return ax


def _stability(state: StationaryState, time: str) -> str:
    """stable / unstable / marginal of a state: its own ``stability`` field when it has one, else
    :func:`classify` of its eigenvalues (a static state with bulk radius above 1 is unstable)."""
    own = getattr(state, "stability", None)
    if own is not None:
        return str(getattr(own, "value", own))
    label = str(classify(state.eigenvalues, time))
    if label == "stable" and not state.stable:
        return "unstable"
    return label


def _signature(state: StationaryState) -> np.ndarray:
    return np.concatenate([state.kappa, state.delta0, state.delta_inf])


def _same_state(a: StationaryState, b: StationaryState, tol: float = 1e-3) -> bool:
    sa, sb = _signature(a), _signature(b)
    return a.chaotic == b.chaotic and bool(
        np.max(np.abs(sa - sb)) <= tol * (1.0 + np.max(np.abs(sa)))
    )


def _close(a: np.ndarray, b: np.ndarray, tol: float = _SAME) -> bool:
    return bool(np.max(np.abs(a - b)) <= tol * (1.0 + np.max(np.abs(b))))


def _natural(kind: str, y: np.ndarray) -> np.ndarray:
    """The unknowns with a chaotic state's log(D_0 - D_inf) replaced by D_0 - D_inf, which Newton
    determines to the tolerance even where the gap, and with it dF/dlog(gap), vanishes."""
    if kind != "chaotic":
        return y
    out = np.array(y, dtype=float)
    out[-1] = np.exp(out[-1])
    return out


def _between(kind: str, za: np.ndarray, zb: np.ndarray, p: float) -> np.ndarray:
    """The point z = (y, p) at parameter p of the chord from za to zb in the natural unknowns
    (``_natural``): on a chaotic branch D_0 - D_inf is interpolated, not its logarithm, which the
    last steps to a chaos onset change by several units at once."""
    f = (p - za[-1]) / (zb[-1] - za[-1])
    ya, yb = _natural(kind, za[:-1]), _natural(kind, zb[:-1])
    y = ya + f * (yb - ya)
    if kind == "chaotic":
        y[-1] = np.log(y[-1])
    return np.append(y, p)


def _null_space(matrix: np.ndarray, tol: float) -> np.ndarray:
    """Orthonormal basis (rows) of the numerical null space of an (n, n + k) matrix: the right
    singular vectors whose singular values are below ``tol`` times the largest, and the k
    directions a wide matrix lacks."""
    _, s, vt = np.linalg.svd(matrix)
    rank = int(np.sum(s > tol * s[0])) if s.size and s[0] > 0 else 0
    return vt[rank:]


def _tangent(null: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The unit vector of the null space closest to ``reference`` (its projection, normalised);
    on a one-dimensional null space the null vector oriented like ``reference``."""
    t = null.T @ (null @ reference)
    norm = np.linalg.norm(t)
    if norm < 1e-3 * np.linalg.norm(reference):  # reference orthogonal to the null space
        t, norm = null[-1], 1.0
    t = t / norm
    return t if t @ reference >= 0 else -t


class _Lost(Exception):
    """A point of a segment could not be computed (Newton failed)."""


@dataclass
class _Point:
    """One point z = (y, p) of a branch with its unit tangent and what the tests need."""

    z: np.ndarray
    t: np.ndarray
    state: StationaryState | None
    Fy: np.ndarray
    DH: np.ndarray
    null: np.ndarray
    tests: dict

    @property
    def p(self) -> float:
        return float(self.z[-1])


@dataclass
class _Curve:
    """A branch under construction."""

    kind: str
    template: StationaryState
    points: list
    manifold: int = 0
    origin: str = "discovery"


@dataclass
class _Switch:
    """A located branch point to start new branches from."""

    point: _Point
    curve: int
    directions: np.ndarray


class _Segment:
    """The arc of a branch between two consecutive points A and B, parametrised by s in [0, h],
    h = t_A . (z_B - z_A), through the cubic Hermite interpolant of A and B (``cubic``)."""

    def __init__(self, cont: Continuation, curve: _Curve, a: _Point, b: _Point):
        self.cont, self.curve, self.a, self.b = cont, curve, a, b
        self.h = float(a.t @ (b.z - a.z))
        self.cache = {0.0: a, self.h: b}
        self.failed = np.inf

    def at(self, s: float) -> _Point:
        """The point of the branch at s: where the hyperplane normal to the cubic through A and
        B (Hermite, with their tangents) at s, through its point there, cuts the branch. Near a
        branch point a branch crossing this one meets that hyperplane far from the point sought
        (unlike t_A . (z - z_A) = s, which it cuts right beside it). Newton starts from the
        points already computed on either side of s, and polishes to round-off. Raises _Lost
        when Newton fails or ends further from the cubic than B is from A."""
        if s not in self.cache:
            a, b = self.a, self.b
            anchor, normal = self.cubic(s)
            known = [(v, q) for v, q in self.cache.items() if q is not None]
            s0, z0 = max(((v, q.z) for v, q in known if v < s), key=lambda item: item[0])
            s1, z1 = min(((v, q.z) for v, q in known if v > s), key=lambda item: item[0])
            start = z0 + (s - s0) / (s1 - s0) * (z1 - z0)
            start += (normal @ (anchor - start)) * normal
            z, residual = self.cont._correct(self.curve.kind, start, normal, anchor, polish=True)
            point = None if z is None else self.cont._point(self.curve, z, a.t, False)
            if point is not None and np.max(np.abs(point.z - anchor)) > np.max(np.abs(b.z - a.z)):
                point = None  # another branch
            if point is None:
                self.failed = min(self.failed, residual)
            self.cache[s] = point
        if self.cache[s] is None:
            raise _Lost
        return self.cache[s]

    def cubic(self, s: float) -> tuple:
        """(z, unit tangent) at s of the cubic Hermite interpolant of the branch between A and
        B (dz/ds = t / (t_A . t) at both): the branch's direction there, which the tangent
        computed at a point near a branch point (from the null space of [F_y, F_p], then
        two-dimensional) does not give."""
        a, b, h = self.a, self.b, self.h
        u = s / h
        d0, d1 = (q.t / (a.t @ q.t) for q in (a, b))
        z = (
            (2 * u**3 - 3 * u**2 + 1) * a.z
            + (u**3 - 2 * u**2 + u) * h * d0
            + (-2 * u**3 + 3 * u**2) * b.z
            + (u**3 - u**2) * h * d1
        )
        slope = (
            (6 * u**2 - 6 * u) * (a.z - b.z) / h
            + (3 * u**2 - 4 * u + 1) * d0
            + (3 * u**2 - 2 * u) * d1
        )
        return z, slope / np.linalg.norm(slope)

    def with_state(self, s: float) -> _Point:
        """The point at s if Newton at its parameter gives its state, else the nearest such
        point within 1e-6 h of it (raises _Lost when there is none)."""
        for step in (0.0, *(self.h * 10.0**-k for k in range(12, 5, -1))):
            for sign in (1.0, -1.0):
                at = min(max(s + sign * step, 0.0), self.h)
                try:
                    point = self.at(at)
                except _Lost:
                    continue
                if point.state is not None:
                    return point
        raise _Lost

    def locate(self, test: Callable[[_Point], float], lo: float, hi: float) -> float:
        """Root in [lo, hi] of test(point(s)) by Brent's method."""

        def f(s):
            value = test(self.at(s))
            if not np.isfinite(value):
                raise _Lost
            return value

        return brentq(f, lo, hi, xtol=_XTOL, rtol=4 * np.finfo(float).eps, maxiter=200)

    def bisect(self, count: Callable[[_Point], int], lo: float, hi: float) -> float:
        """Where an integer test changes from its value at lo (bisection to _XTOL)."""
        left = count(self.at(lo))
        while hi - lo > _XTOL * max(1.0, self.h):
            mid = 0.5 * (lo + hi)
            if count(self.at(mid)) == left:
                lo = mid
            else:
                hi = mid
        return hi


def _changed(a: float, b: float) -> bool:
    return bool(np.isfinite(a) and np.isfinite(b) and (a < 0) != (b < 0))


class Continuation:
    """Pseudo-arclength continuation of every stationary state of ``build`` over a parameter
    range, with event location and branch switching; the engine behind
    :func:`bifurcation_diagram` (see the module docstring for the method).

    Parameters
    ----------
    build : callable
        ``build(p)`` returns a MeanField, or a tuple (MeanField, inputs).
    values : ndarray (n,)
        Strictly monotonic parameter values: the range [min, max], where multi-start solves run
        (``discover``), and where every branch is sampled as it crosses them.
    discover : list of int
        Indices of ``values`` where multi-start solves run, in order.
    n_starts, seed, tol, max_iter
        As in :meth:`MeanField.stationary_states`; ``tol`` and ``max_iter`` also bound each
        Newton solve of the continuation (at most 10 corrector iterations per step).
    max_steps : int
        Continuation steps per direction of a branch.

    Attributes
    ----------
    branches : list of Branch
    events : list of BifurcationEvent
    unresolved : list of Unresolved
        Filled by :meth:`run`.
    """

    def __init__(
        self,
        build: Callable,
        values: np.ndarray,
        discover: list,
        n_starts: int | None = None,
        seed=0,
        tol: float = 1e-10,
        max_iter: int = 60,
        max_steps: int = 1000,
    ):
        self.build = build
        self.values = np.asarray(values, dtype=float)
        self.discover = list(discover)
        self.n_starts, self.seed, self.tol, self.max_iter = n_starts, seed, tol, max_iter
        self.max_steps = max_steps
        self.lo, self.hi = float(self.values.min()), float(self.values.max())
        span = self.hi - self.lo
        self.h_max = max(span, 0.2) / 20.0
        self.h_min = 1e-7 * self.h_max
        self.corrector_iter = min(max_iter, 10)
        self.branches: list[Branch] = []
        self.events: list[BifurcationEvent] = []
        self.unresolved: list[Unresolved] = []
        self._curves: list[_Curve] = []
        self._switches: list[_Switch] = []
        self._models: dict = {}
        self._traces: dict = {}
        self._inadmissible = False
        self.time = self._model(self.values[0])[0].time

    # --- the system F(y, p) ------------------------------------------------------------------
    def _model(self, p: float):
        """(MeanField, inputs, residual functions by kind) at p, cached."""
        key = float(p)
        if key not in self._models:
            out = self.build(key)  # a ValueError: p outside the parameter's domain
            mf, inputs = out if isinstance(out, tuple) else (out, None)
            if not isinstance(mf, MeanField):
                raise TypeError(
                    "build must return a MeanField (or (MeanField, inputs)), "
                    f"got {type(mf).__name__}"
                )
            if len(self._models) >= 256:
                self._models.clear()
            self._models[key] = (mf, inputs, {})
        return self._models[key]

    def _without_bulk(self, p: float) -> bool:
        """Whether the MeanField at p has g = 0 (False outside the parameter's domain)."""
        try:
            return self._model(p)[0].g == 0
        except ValueError:
            return False

    def _residual(self, kind: str, y: np.ndarray, p: float):
        """(F, F_y) at (y, p); NaN outside the domain of the parameter (``build(p)`` raises
        ValueError) or of the unknowns (a negative variance)."""
        try:
            mf, inputs, functions = self._model(p)
        except ValueError:
            return np.full(y.size, np.nan), np.full((y.size, y.size), np.nan)
        if kind not in functions:
            functions[kind] = mf.residual_function(kind, inputs)
        F, J, _ = functions[kind](y)
        return F, J

    def _residual_or_none(self, kind: str, y: np.ndarray, p: float):
        """F at (y, p), or None outside the parameter's or the unknowns' domain."""
        F = self._residual(kind, y, p)[0]
        return F if np.all(np.isfinite(F)) else None

    def _parameter_derivative(self, kind: str, y: np.ndarray, p: float, F: np.ndarray):
        """dF/dp by a central difference (one-sided at the edge of the parameter's domain)."""
        d = 1e-6 * (1.0 + abs(p))
        up = self._residual_or_none(kind, y, p + d)
        down = self._residual_or_none(kind, y, p - d)
        if up is not None and down is not None:
            return (up - down) / (2 * d)
        if up is not None:
            return (up - F) / d
        if down is not None:
            return (F - down) / d
        return np.full_like(F, np.nan)

    def _correct(
        self,
        kind: str,
        z0: np.ndarray,
        t: np.ndarray | None = None,
        anchor: np.ndarray | None = None,
        free_p: bool = True,
        polish: bool = False,
    ):
        """Newton on F(y, p) = 0 from z0 = (y0, p0), with the constraint t . (z - anchor) = 0
        when t is given, for (y, p) (``free_p``) or for y at fixed p = p0. Least-squares steps, so
        that it also converges where the system is rank deficient (on a ring of solutions).
        ``polish``: once within the tolerance, iterate on to round-off (the error of z is the
        residual over the smallest singular value of the system, which vanishes at a branch
        point: near one a residual of ``tol`` leaves z off the branch by ~tol / distance).
        Returns (z or None, residual reached); the residual is NaN outside the domain."""
        z = np.array(z0, dtype=float)
        Fp = None
        last_step = np.inf
        residual = np.inf
        for it in range(self.corrector_iter + 1):
            if kind == "static" and self._without_bulk(z[-1]):
                z[-2] = 0.0  # no bulk: its variance D is 0 (and round-off must not make it < 0)
            F, Fy = self._residual(kind, z[:-1], z[-1])
            if not (np.all(np.isfinite(F)) and np.all(np.isfinite(Fy))):
                return None, np.nan
            G, A = F, Fy
            if free_p:
                if Fp is None:  # a chord in the parameter direction: dF/dp from the first iterate
                    Fp = self._parameter_derivative(kind, z[:-1], z[-1], F)
                    if not np.all(np.isfinite(Fp)):
                        return None, np.nan
                A = np.column_stack([Fy, Fp])
            if t is not None:
                G = np.append(F, t @ (z - anchor))
                A = np.vstack([A, t if free_p else t[:-1]])
            previous, residual = residual, float(np.max(np.abs(G)))
            scale = 1 + np.max(np.abs(z))
            if polish:
                if residual <= self.tol and (
                    last_step <= 1e-14 * scale
                    or residual > 0.5 * previous
                    or it == self.corrector_iter
                ):
                    return z, residual
            elif residual <= self.tol and (it == 0 or last_step <= 1e-6 * scale):
                return z, residual
            if it >= 2 and residual <= _LOOSE and residual > 0.5 * previous:
                return z, residual  # stalled at the round-off of the residual (as in newton)
            if it == self.corrector_iter:
                break
            step = np.linalg.lstsq(A, -G, rcond=1e-10)[0]
            if free_p:
                z += step
            else:
                z[:-1] += step
            last_step = float(np.max(np.abs(step)))
        return None, residual

    def _point(
        self, curve: _Curve, z: np.ndarray, reference: np.ndarray, need_state: bool = True
    ) -> _Point | None:
        """The branch point at a corrected z: tangent, state (Newton at its parameter) and test
        functions; None when the state cannot be solved there, unless ``need_state`` is False
        (then its state is None: near a branch point Newton at fixed parameter may leave for the
        other branch, while the tests of singular points need no state)."""
        y, p = z[:-1], float(z[-1])
        F, Fy = self._residual(curve.kind, y, p)
        Fp = self._parameter_derivative(curve.kind, y, p, F)
        if not np.all(np.isfinite(Fp)):
            return None
        DH = np.column_stack([Fy, Fp])
        null = _null_space(DH, _NULL_TOL)
        t = _tangent(null, reference)
        mf, inputs, _ = self._model(p)
        start = dataclasses.replace(curve.template, unknowns=y.copy())
        state, residual = mf.newton_from(start, inputs, tol=self.tol, max_iter=self.max_iter)
        # Newton converged, but not to a state the MeanField admits (e.g. D_inf < 0)
        self._inadmissible = state is None and residual <= _LOOSE
        if state is None or not _close(
            _natural(curve.kind, state.unknowns), _natural(curve.kind, y), 1e-3
        ):  # None, or another solution
            if need_state:
                return None
            state = None
        return _Point(z.copy(), t, state, Fy, DH, null, self._tests(state, Fy, DH, t))

    def _tests(self, state, Fy: np.ndarray, DH: np.ndarray, t: np.ndarray) -> dict:
        """Test functions at a point (those of the state NaN when it has none)."""
        eig = np.zeros(0) if state is None else state.eigenvalues
        pairs = eig[np.abs(eig.imag) > _COMPLEX * (1.0 + np.abs(eig))]
        if not pairs.size:
            hopf = np.nan
        elif self.time == "continuous":
            hopf = float(np.max(pairs.real))
        else:
            hopf = float(np.max(np.abs(pairs)) - 1.0)
        chaos = np.nan if state is None or state.chaotic else float(state.bulk_radius) - 1.0
        return {
            "fold": float(t[-1]),
            "branch_point": float(np.linalg.det(np.vstack([DH, t]))),
            "hopf": hopf,
            "chaos_onset": chaos,
            "count": int(np.sum(np.linalg.eigvals(Fy).real > 0)),
        }

    # --- following a branch ------------------------------------------------------------------
    @staticmethod
    def _metric(curve: _Curve, a: _Point) -> float:
        """Length of the tangent in the metric of the steps: Euclidean in z, except that a
        chaotic branch measures log(D_0 - D_inf) by D_0 - D_inf (relative to 1 + D_0), so that it
        reaches the static solutions, where the gap vanishes, in a few steps."""
        if curve.kind != "chaotic":
            return 1.0
        weight = np.ones_like(a.t)
        weight[-2] = min(1.0, np.exp(a.z[-2]) / (1.0 + abs(a.z[-3])))
        return float(np.linalg.norm(weight * a.t))

    @staticmethod
    def _merging(curve: _Curve, a: _Point, gap: float) -> bool:
        """Whether a chaotic branch has come within ``gap`` (relative to 1 + D_0) of the static
        solutions, where D_0 - D_inf vanishes and the system for log(D_0 - D_inf) is singular:
        the end of the branch, at a chaos onset (Mastrogiuseppe & Ostojic 2018)."""
        return curve.kind == "chaotic" and bool(np.exp(a.z[-2]) < gap * (1 + abs(a.z[-3])))

    def _step(self, curve: _Curve, a: _Point, h: float):
        """The next point from a, halving h until Newton converges without jumping:
        (point, step used, None) or (None, h, residual reached: NaN outside the domain)."""
        reached, domain = np.inf, True
        end = self._landing(curve, a, h / self._metric(curve, a))
        if end is not None:
            return end, h, None
        while h >= self.h_min:
            length = h / self._metric(curve, a)
            predicted = a.z + length * a.t
            z, residual = self._correct(curve.kind, predicted, a.t, predicted)
            if z is not None:
                b = self._point(curve, z, a.t)
                if (
                    b is not None
                    and np.max(np.abs(z - predicted)) <= length
                    and b.t @ a.t >= 0.9
                ):
                    return b, h, None
                if b is None and self._inadmissible:
                    residual = np.nan  # the branch leaves the admissible states: a domain edge
            if np.isfinite(residual):
                domain = False
                reached = min(reached, residual)
            h *= 0.5
        return None, h, (np.nan if domain else reached)

    def _landing(self, curve: _Curve, a: _Point, length: float) -> _Point | None:
        """The point of the branch at the end of the parameter range, when the step of this
        length from a would leave the range there: solved at that parameter (the range's ends
        are among the ``values``, and ``build`` may raise beyond them), accepted as a step is.
        None where the step stays inside, or the branch turns before the end."""
        if a.t[-1] == 0.0:
            return None
        end = self.hi if a.t[-1] > 0 else self.lo
        reach = (end - a.p) / a.t[-1]
        if not 0.0 < reach <= length:
            return None
        guess = a.z + reach * a.t
        guess[-1] = end
        z, _ = self._correct(curve.kind, guess, free_p=False)
        if z is None or np.max(np.abs(z - guess)) > reach:
            return None
        b = self._point(curve, z, a.t)
        return b if b is not None and b.t @ a.t >= 0.9 else None

    def _leaving(self, a: _Point) -> bool:
        """Whether a lies at an end of the parameter range with its tangent pointing out."""
        return (a.p == self.hi and a.t[-1] > 0) or (a.p == self.lo and a.t[-1] < 0)

    def _follow(self, index: int, start: _Point, direction: np.ndarray) -> tuple[list, bool]:
        """Points after ``start`` along ``direction`` until the branch leaves the parameter range,
        closes, ends at the domain's edge or fails (then listed in ``unresolved``). Returns
        (points, closed)."""
        curve = self._curves[index]
        t = _tangent(start.null, direction)
        if t @ direction < 0.5:  # a singular start: leave along the direction itself
            t = direction / np.linalg.norm(direction)
        a = dataclasses.replace(start, t=t, tests=self._tests(start.state, start.Fy, start.DH, t))
        points: list[_Point] = []
        if self._leaving(a):
            return points, False
        h = self.h_max / 4
        for n in range(self.max_steps):
            b, h, failed = self._step(curve, a, h)
            if b is None:
                if not (np.isnan(failed) or self._merging(curve, a, _GAP_MERGE)):
                    self.unresolved.append(Unresolved("continuation", (a.p, a.p), index, failed))
                return points, False
            if n == 0 and not curve.manifold:
                curve.manifold = max(0, b.null.shape[0] - 1)
            inside = self._scan(index, a, b)
            points += [q for q in inside if self.lo <= q.p <= self.hi]
            if not self.lo <= b.p <= self.hi:
                return points, False
            points.append(b)
            if self._leaving(b):
                return points, False
            if n >= 3 and np.max(np.abs(b.z - start.z)) <= h and b.t @ start.t > 0:
                return points, True  # back at the start: a closed branch
            if self._merging(curve, b, _GAP_END):
                return points, False
            a = b
            h = min(1.5 * h, self.h_max)
        self.unresolved.append(Unresolved("continuation", (a.p, a.p), index, np.nan))
        return points, False

    def _scan(self, index: int, a: _Point, b: _Point) -> list:
        """Events located between consecutive points a and b of a branch, and the branch's
        samples at the ``values`` it crosses there, in the order of the arclength."""
        curve = self._curves[index]
        seg = _Segment(self, curve, a, b)
        found: list = []  # (s, point)
        singular: list = []  # s of the located fold and branch points
        turns: list = []  # s where t_p changes sign (p is monotonic between them)
        # near the end of a chaotic branch its equations are singular (module docstring)
        merging = self._merging(curve, a, _GAP_MERGE) and self._merging(curve, b, _GAP_MERGE)
        turn = not merging and _changed(a.tests["fold"], b.tests["fold"])
        crossed = not (curve.manifold or merging) and _changed(
            a.tests["branch_point"], b.tests["branch_point"]
        )
        if turn or crossed:
            # det changes at a branch point (t_p too where a pitchfork is met from its side
            # branch), t_p alone at a fold
            kind = "branch_point" if crossed else "fold"
            located = None
            for test in ("branch_point",) * crossed + ("fold",) * turn:
                try:
                    s = seg.locate(lambda q, test=test: q.tests[test], 0.0, seg.h)
                    candidate = seg.with_state(s)
                except (_Lost, ValueError, RuntimeError):
                    continue
                if self._kernel_dimension(candidate):  # F_y is singular at folds and branch points
                    located = candidate
                    break
            if located is None:
                lo, hi = sorted((a.p, b.p))
                self.unresolved.append(Unresolved(kind, (lo, hi), index, seg.failed))
                singular.append(np.nan)  # accounts for the change of the eigenvalue count
            else:
                if not crossed:
                    kind = self._fold_or_ring_onset(curve, located)
                kernel = self._kernel_dimension(located)
                singular.append(s)
                turns += [s] * turn
                found.append((s, located))
                self._record(kind, located, index, kernel)
                if kind == "branch_point":
                    self._queue(index, located, kernel, seg.cubic(s)[1])
        for kind in ("hopf", "chaos_onset"):
            if not _changed(a.tests[kind], b.tests[kind]):
                continue
            try:
                s = seg.locate(lambda q, kind=kind: q.tests[kind], 0.0, seg.h)
                point = seg.with_state(s)
            except (_Lost, ValueError, RuntimeError):
                lo, hi = sorted((a.p, b.p))
                self.unresolved.append(Unresolved(kind, (lo, hi), index, seg.failed))
                continue
            found.append((s, point))
            self._record(kind, point, index, 0)
        if not (curve.manifold or merging):
            self._symmetric_branch_point(index, seg, singular, found)
        found += self._crossings(seg, [0.0, *turns, seg.h])
        return [q for _, q in sorted(found, key=lambda item: item[0])]

    def _symmetric_branch_point(self, index: int, seg: _Segment, singular: list, found: list):
        """A change of the number of unstable eigenvalues of F_y not explained by the located
        folds, branch points and Hopf points: bisection on the count, and a branch point where
        two or more eigenvalues vanish."""
        a, b = seg.a, seg.b
        change = abs(b.tests["count"] - a.tests["count"])
        hopf = 2 * _changed(a.tests["hopf"], b.tests["hopf"]) * (self.time == "continuous")
        if change <= len(singular) + hopf:
            return
        try:
            s = seg.bisect(lambda q: q.tests["count"], 0.0, seg.h)
            point = seg.with_state(s)
        except _Lost:
            lo, hi = sorted((a.p, b.p))
            self.unresolved.append(Unresolved("branch_point", (lo, hi), index, seg.failed))
            return
        kernel = self._kernel_dimension(point)
        if kernel == 0 or any(abs(s - other) <= 1e-8 * max(1.0, seg.h) for other in singular):
            return  # a complex pair crossed (a Hopf point of F_y, not of the dynamics)
        singular.append(s)
        found.append((s, point))
        self._record("branch_point", point, index, kernel)
        self._queue(index, point, kernel, seg.cubic(s)[1])

    def _crossings(self, seg: _Segment, cuts: list) -> list:
        """(s, point) where the branch crosses one of ``values`` (p monotonic between cuts)."""
        out = []
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=False):
            try:
                za, zb = seg.at(lo).z, seg.at(hi).z
            except _Lost:
                continue
            pa, pb = za[-1], zb[-1]
            for v in self.values:
                if not min(pa, pb) < v < max(pa, pb):
                    continue
                guess = _between(seg.curve.kind, za, zb, v)
                z, _ = self._correct(seg.curve.kind, guess, free_p=False)
                point = None if z is None else self._point(seg.curve, z, seg.a.t)
                if point is not None:
                    out.append((lo + (v - pa) / (pb - pa) * (hi - lo), point))
        return out

    def _kernel_dimension(self, point: _Point) -> int:
        eig = np.linalg.eigvals(point.Fy)
        return int(np.sum(np.abs(eig) <= 1e-6 * max(1.0, np.max(np.abs(point.Fy)))))

    def _fold_or_ring_onset(self, curve: _Curve, point: _Point) -> str:
        """Where t_p changes sign on a ring branch (whose branch point test is void): a fold,
        or its end at the branch point where the ring is born, where [F_y, F_p] loses rank
        beyond the ring's neutral direction."""
        null = _null_space(point.DH, _SINGULAR_TOL).shape[0]
        return "branch_point" if curve.manifold and null - 1 > curve.manifold else "fold"

    def _record(self, kind: str, point: _Point, index: int, kernel: int) -> None:
        self.events.append(BifurcationEvent(kind, point.p, point.state, index, kernel))

    def _queue(self, index: int, point: _Point, kernel: int, t: np.ndarray) -> None:
        """Remember a branch point: the null directions of [F_y, F_p] other than the branch's
        own direction t (kernel + 1 of them, F_p lying in the range of F_y, with ``kernel`` =
        dim ker F_y)."""
        null = np.linalg.svd(point.DH)[2][-(kernel + 1) :]
        others = null.T - np.outer(t, t @ null.T)
        u, s, _ = np.linalg.svd(others, full_matrices=False)
        directions = u[:, s > 0.5].T
        self._switches.append(_Switch(point, index, directions))

    # --- branches ----------------------------------------------------------------------------
    def _new_curve(self, kind: str, template: StationaryState, origin: str) -> int:
        self._curves.append(_Curve(kind, template, [], 0, origin))
        return len(self._curves) - 1

    def _continue_state(self, state: StationaryState, p: float) -> None:
        """A new branch through a discovered state, followed both ways."""
        kind = "chaotic" if state.chaotic else "static"
        index = self._new_curve(kind, state, "discovery")
        curve = self._curves[index]
        z = np.append(state.unknowns, p)
        e_p = np.zeros(z.size)
        e_p[-1] = 1.0
        start = self._point(curve, z, e_p)
        if start is None:
            self._curves.pop()
            self.unresolved.append(Unresolved("continuation", (p, p), -1, state.residual))
            return
        forward, closed = self._follow(index, start, start.t)
        backward = [] if closed else self._follow(index, start, -start.t)[0]
        curve.points = backward[::-1] + [start] + forward

    def _switch(self, switch: _Switch) -> None:
        """New branches from a located branch point, along each null direction (both signs),
        unless their first point lies on a known branch."""
        point = switch.point
        kind = self._curves[switch.curve].kind
        template = self._curves[switch.curve].template
        for direction in switch.directions:
            for sign in (1.0, -1.0):
                d = sign * direction
                first, reached = None, np.inf
                h = self.h_max / 8
                while first is None and h >= self.h_max / 512:
                    predicted = point.z + h * d
                    z, residual = self._correct(kind, predicted, d, predicted)
                    if z is None:
                        reached = min(reached, residual) if np.isfinite(residual) else reached
                    else:
                        probe = _Curve(kind, template, [])
                        first = self._point(probe, z, d)
                    h /= 2
                if first is None:
                    if np.isfinite(reached):
                        self.unresolved.append(
                            Unresolved("branch_switching", (point.p, point.p), switch.curve,
                                       reached)
                        )
                    continue
                # known, or its state (solved again at its parameter, within 1e-3 of it) is
                again = np.append(first.state.unknowns, first.p)
                if not self.lo <= first.p <= self.hi or any(
                    self._known(kind, z) for z in (first.z, again)
                ):
                    continue
                index = self._new_curve(kind, template, "branch_point")
                curve = self._curves[index]
                start = dataclasses.replace(point, t=d)
                curve.manifold = max(0, first.null.shape[0] - 1)
                rest, _ = self._follow(index, first, first.t)
                curve.points = [start, first] + rest

    def _known(self, kind: str, z: np.ndarray) -> bool:
        """Whether the solution z = (y, p) lies on a known branch, or on the ring of one."""
        y, p = z[:-1], float(z[-1])
        for index, curve in enumerate(self._curves):
            if curve.kind != kind or not curve.points:
                continue
            for w in self._at_parameter(curve, p):
                if _close(_natural(kind, w), _natural(kind, y)):
                    return True
                if curve.manifold and self._on_ring(index, w, y, p):
                    return True
        return False

    def _at_parameter(self, curve: _Curve, p: float) -> list:
        """The unknowns y of a branch where it crosses the parameter p."""
        out = []
        zs = [q.z for q in curve.points]
        for i, z in enumerate(zs):
            if abs(z[-1] - p) <= 1e-12 * (1 + abs(p)):
                out.append(z[:-1])
            elif i + 1 < len(zs) and min(z[-1], zs[i + 1][-1]) < p < max(z[-1], zs[i + 1][-1]):
                guess = _between(curve.kind, z, zs[i + 1], p)
                corrected, _ = self._correct(curve.kind, guess, free_p=False)
                if corrected is not None:
                    out.append(corrected[:-1])
        return out

    def _on_ring(self, index: int, w: np.ndarray, y: np.ndarray, p: float) -> bool:
        """Whether y lies on the closed curve of solutions at fixed p through w: the curve is
        traced (and cached), and y projected on it from the nearest traced point."""
        kind = self._curves[index].kind
        key = (index, float(p), tuple(np.round(w, 9)))
        if key not in self._traces:
            self._traces[key] = self._trace(kind, w, p)
        points, tangents, h = self._traces[key]
        if not len(points):
            return False
        distance = np.max(np.abs(points - y), axis=1)
        nearest = int(np.argmin(distance))
        if distance[nearest] > 2 * h:
            return False
        u, t = points[nearest], tangents[nearest]
        target = np.append(u + (t @ (y - u)) * t, p)
        z, _ = self._correct(kind, target, np.append(t, 0.0), target, free_p=False)
        return z is not None and _close(_natural(kind, z[:-1]), _natural(kind, y))

    def _trace(self, kind: str, w: np.ndarray, p: float) -> tuple:
        """(points, neutral directions, step) of the one-dimensional family of solutions at
        fixed p through w, traced by pseudo-arclength along the null vector of F_y until it
        closes (at most 400 steps); empty where F_y has no one-dimensional kernel."""
        null = _null_space(self._residual(kind, w, p)[1], _NULL_TOL)
        h = 0.05 * (1e-3 + np.max(np.abs(w)))
        if null.shape[0] != 1:
            return np.zeros((0, w.size)), np.zeros((0, w.size)), h
        u, t = w.copy(), null[0]
        points, tangents = [u], [t]
        for n in range(400):
            predicted = np.append(u + h * t, p)
            z, _ = self._correct(kind, predicted, np.append(t, 0.0), predicted, False)
            if z is None:
                break
            null = _null_space(self._residual(kind, z[:-1], p)[1], _NULL_TOL)
            if null.shape[0] != 1:
                break
            t = null[0] if null[0] @ t >= 0 else -null[0]
            u = z[:-1]
            points.append(u)
            tangents.append(t)
            if n > 3 and np.max(np.abs(u - w)) < h:
                break
        return np.array(points), np.array(tangents), h

    # --- the whole diagram -------------------------------------------------------------------
    def run(self) -> Continuation:
        """Discover, follow and switch until every state found lies on a branch; fills
        ``branches``, ``events`` and ``unresolved``."""
        with np.errstate(all="ignore"):
            for i in self.discover:
                value = float(self.values[i])
                mf, inputs, _ = self._model(value)
                with warnings.catch_warnings():  # reported once, through ``unresolved``
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    found = mf.stationary_states(
                        inputs,
                        n_starts=self.n_starts,
                        seed=self.seed,
                        tol=self.tol,
                        max_iter=self.max_iter,
                    )
                if not len(found) or getattr(found, "complete", True) is False:
                    self.unresolved.append(
                        Unresolved("discovery", (value, value), -1, found.failed_residual)
                    )
                for state in found:
                    kind = "chaotic" if state.chaotic else "static"
                    if not self._known(kind, np.append(state.unknowns, value)):
                        self._continue_state(state, value)
                    while self._switches:
                        self._switch(self._switches.pop(0))
        self._finish()
        return self

    def _finish(self) -> None:
        keep = [i for i, c in enumerate(self._curves) if c.points]
        renumber = {old: new for new, old in enumerate(keep)}
        self.branches = [
            Branch(
                np.array([q.p for q in c.points]),
                [q.state for q in c.points],
                c.kind == "chaotic",
                c.manifold,
                c.origin,
                self.time,
            )
            for c in (self._curves[i] for i in keep)
        ]
        events = []
        for e in sorted(self.events, key=lambda e: (e.kind, e.parameter)):
            if not self.lo - 1e-9 <= e.parameter <= self.hi + 1e-9:
                continue
            same = [
                k
                for k in events
                if k.kind == e.kind
                and abs(k.parameter - e.parameter) <= 1e-6 * (1 + abs(e.parameter))
                and _same_state(k.state, e.state)
            ]
            if same:
                same[0].kernel_dimension = max(same[0].kernel_dimension, e.kernel_dimension)
            else:
                events.append(dataclasses.replace(e, branch=renumber.get(e.branch, -1)))
        self.events = sorted(events, key=lambda e: e.parameter)
        for u in self.unresolved:
            u.branch = renumber.get(u.branch, -1)


def bifurcation_diagram(
    build: Callable[[float], MeanField],
    parameter: str,
    values,
    discover_every: int | None = None,
    n_starts: int | None = None,
    seed=0,
    tol: float = 1e-10,
    max_iter: int = 60,
) -> BifurcationDiagram:
    """Continue every stationary state of ``build(p)`` over the range of ``values`` and locate
    its bifurcations (pseudo-arclength continuation; module docstring).

    Parameters
    ----------
    build : callable
        ``build(value)`` returns a MeanField, or a tuple (MeanField, inputs) when the inputs vary.
    parameter : str
        Name of the parameter (axis label).
    values : array_like (n,)
        Strictly monotonic parameter values. Their range [min, max] is the range continued
        (``build`` may raise ValueError outside it); multi-start solves run at some of them;
        every branch is sampled where it crosses them, the ends of the range included (besides
        its own continuation steps, which go round folds).
    discover_every : int, optional
        Multi-start solves (``stationary_states``) run at every ``discover_every``-th value and at
        the last one (default: about 8 over the range).
    n_starts : int, optional
        Starts per multi-start solve (MeanField default if None).
    seed : int
        Seed of the multi-start solves.
    tol : float
        Residual tolerance of every Newton solve.
    max_iter : int
        Newton iterations per solve (at most 10 per continuation step).

    Returns
    -------
    BifurcationDiagram
        ``branches``, ``events`` (located to 1e-10 in the arclength, so to better than 1e-6 in
        the parameter), ``unresolved`` (what could not be resolved) and ``plot()``.

    Raises
    ------
    TypeError, ValueError
        On bad arguments, naming the argument.

    Warns
    -----
    ConvergenceWarning
        (a RuntimeWarning) when ``unresolved`` is not empty; the message gives the residuals.

    Examples
    --------
    The pitchfork of a rank-one network at overlap 1:

    >>> from lowrank import GaussianLoadings, MeanField
    >>> law = lambda s: GaussianLoadings([0, 0], [[1, s], [s, 1 + s * s]], rank=1)
    >>> d = bifurcation_diagram(lambda s: MeanField(law(s)), "overlap", np.linspace(0.5, 1.5, 11))
    >>> round(d.events_of("branch_point")[0].parameter, 6)  # doctest: +SKIP
    1.0
    """
    if not callable(build):
        raise TypeError(f"build must be callable, got {type(build).__name__}")
    if not isinstance(parameter, str):
        raise TypeError(
            f"parameter must be a string (the parameter's name), got {type(parameter).__name__}"
        )
    values = as_array(values, "values", ndim=1, allow_empty=True)
    if values.size < 2 or not (np.all(np.diff(values) > 0) or np.all(np.diff(values) < 0)):
        raise ValueError(
            f"values must hold at least two strictly monotonic parameter values, got {values}"
        )
    n = values.size
    every = (
        max(1, n // 8)
        if discover_every is None
        else as_int(discover_every, "discover_every", minimum=1)
    )
    if n_starts is not None:
        n_starts = as_int(n_starts, "n_starts", minimum=1)
    seed_sequence(seed)  # validates now rather than at the first multi-start solve
    tol = as_float(tol, "tol", positive=True)
    max_iter = as_int(max_iter, "max_iter", minimum=1)
    discover = sorted(set(range(0, n, every)) | {n - 1})
    cont = Continuation(build, values, discover, n_starts, seed, tol, max_iter).run()
    if cont.unresolved:
        worst = ", ".join(
            f"{u.kind} in [{u.interval[0]:.6g}, {u.interval[1]:.6g}] (residual {u.residual:.3g})"
            for u in cont.unresolved[:5]
        )
        more = f" and {len(cont.unresolved) - 5} more" if len(cont.unresolved) > 5 else ""
        warnings.warn(
            f"bifurcation_diagram: {len(cont.unresolved)} item(s) unresolved: {worst}{more}; see "
            "BifurcationDiagram.unresolved (raise max_iter or refine values)",
            ConvergenceWarning,
            stacklevel=2,
        )
    return BifurcationDiagram(parameter, values, cont.branches, cont.events, cont.unresolved)
