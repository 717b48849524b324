"""Bifurcation diagrams of the mean-field theory in one parameter.

``bifurcation_diagram(build, parameter, values)`` follows every stationary state (static and
chaotic, :meth:`lowrank.MeanField.stationary_states`) across the parameter values by warm-started
Newton continuation with a secant predictor, discovers new branches by multi-start solves at a
subset of the values (continued backwards to where they appear), and locates events:

``fold``          a branch ends (saddle-node): solved as the extended system
                  {residual(y, p) = 0, det J(y, p) = 0} for (y, p);
``branch_point``  a real eigenvalue crosses the stability boundary on a branch that continues
                  (pitchfork or transcritical), or a branch ends on another branch;
``hopf``          a complex pair crosses the boundary (Neimark-Sacker for maps);
``chaos_onset``   the bulk radius g sqrt(<phi'^2>) of a static state crosses 1
                  (Mastrogiuseppe & Ostojic 2018; THEORY.md section 3).

Sign-change events are located by Brent's method on the test function along the continued
branch, to 1e-9 in the parameter. An event that is detected but cannot be located (Newton fails
on the way), and a multi-start solve that finds no state at all, are listed in
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
from ._newton import newton
from .meanfield import MeanField, StationaryState

__all__ = [
    "bifurcation_diagram",
    "BifurcationDiagram",
    "Branch",
    "BifurcationEvent",
    "Unresolved",
]

EVENT_KINDS = ("fold", "branch_point", "hopf", "chaos_onset")


@dataclass
class Branch:
    """One continued family of stationary states.

    Attributes
    ----------
    parameter : ndarray (n,)
        Parameter values where the branch was solved.
    states : list of StationaryState
    chaotic : bool
    """

    parameter: np.ndarray
    states: list
    chaotic: bool

    @property
    def kappa(self) -> np.ndarray:
        return np.array([s.kappa for s in self.states])

    @property
    def stable(self) -> np.ndarray:
        return np.array([s.stable for s in self.states], dtype=bool)

    @property
    def delta0(self) -> np.ndarray:
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
        An event kind (``EVENT_KINDS``) that was detected (a sign change of its test function, or
        a branch ending inside the range) but not located, or "discovery": a multi-start solve
        that found no stationary state at all.
    interval : tuple of float
        The parameter interval (lo, hi) where it happened (lo == hi for "discovery").
    branch : int
        Index of the branch (-1 for "discovery").
    residual : float
        Smallest residual reached by the Newton solves that failed (NaN when none failed and the
        located point fell outside the interval).
    """

    kind: str
    interval: tuple
    branch: int
    residual: float


@dataclass
class BifurcationEvent:
    """A located bifurcation: ``kind`` (one of EVENT_KINDS), ``parameter``, the ``state`` there
    and the index of the ``branch`` it was found on."""

    kind: str
    parameter: float
    state: StationaryState
    branch: int

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
    branches : list of Branch
    events : list of BifurcationEvent
        Sorted by parameter.
    unresolved : list of Unresolved
        Events detected but not located and discovery solves that found nothing (empty when the
        diagram is complete).
    """

    parameter_name: str
    values: np.ndarray
    branches: list
    events: list
    unresolved: list = field(default_factory=list)

    def events_of(self, kind: str) -> list:
        """The events of one kind, sorted by parameter."""
        return sorted((e for e in self.events if e.kind == kind), key=lambda e: e.parameter)

    def plot(self, ax=None, observable: str = "kappa", component: int = 0):
        """Draw the diagram: stable branches solid, unstable dashed, chaotic in red, events marked.

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
        ax.set_ylabel(f"{observable}[{component}]")
        if self.events:
            ax.legend(frameon=False, fontsize=8)
        return ax


def _signature(state: StationaryState) -> np.ndarray:
    return np.concatenate([state.kappa, state.delta0, state.delta_inf])


def _same(a: StationaryState, b: StationaryState, tol: float = 1e-5) -> bool:
    sa, sb = _signature(a), _signature(b)
    return a.chaotic == b.chaotic and bool(
        np.max(np.abs(sa - sb)) <= tol * (1.0 + np.max(np.abs(sa)))
    )


def _test_functions(state: StationaryState, flow: bool) -> dict[str, float]:
    """Test functions whose sign changes mark events (NaN when not applicable)."""
    eig = state.eigenvalues
    complex_pairs = eig[np.abs(eig.imag) > 1e-9]
    if flow:
        real = float(np.prod(eig).real) if eig.size else np.nan
        hopf = float(np.max(complex_pairs.real)) if complex_pairs.size else np.nan
    else:
        real = float(np.prod(eig - 1.0).real) if eig.size else np.nan
        hopf = float(np.max(np.abs(complex_pairs)) - 1.0) if complex_pairs.size else np.nan
    chaos = state.bulk_radius - 1.0 if not state.chaotic else np.nan
    return {"branch_point": real, "hopf": hopf, "chaos_onset": chaos}


class _Continuation:
    """Shared state of one diagram computation."""

    def __init__(self, build: Callable, values: np.ndarray, tol: float, max_iter: int):
        self.build = build
        self.values = values
        self.tol = tol
        self.max_iter = max_iter

    def model(self, value: float) -> tuple[MeanField, np.ndarray | None]:
        out = self.build(float(value))
        mf, inputs = out if isinstance(out, tuple) else (out, None)
        if not isinstance(mf, MeanField):
            raise TypeError(
                f"build must return a MeanField (or (MeanField, inputs)), got {type(mf).__name__}"
            )
        return mf, inputs

    def solve(self, value: float, guess: StationaryState) -> tuple[StationaryState | None, float]:
        """Newton at ``value`` from ``guess``: (state or None, residual reached)."""
        mf, inputs = self.model(value)
        return mf.newton_from(guess, inputs, tol=self.tol, max_iter=self.max_iter)

    def predict(self, states: list, params: list, value: float) -> StationaryState:
        """Secant predictor from the last two states of a branch."""
        last = states[-1]
        if len(states) < 2 or params[-1] == params[-2]:
            return last
        slope = (last.unknowns - states[-2].unknowns) / (params[-1] - params[-2])
        return dataclasses.replace(last, unknowns=last.unknowns + slope * (value - params[-1]))

    def step(self, states: list, params: list, value: float, halvings: int = 3):
        """The state at ``value`` continued from the end of a branch, or None.

        Newton from the secant prediction, else from the last state; when both fail (or jump
        to another branch), the step is halved up to ``halvings`` times, the intermediate states
        serving only as starts.
        """
        last = states[-1]
        for guess in (self.predict(states, params, value), last):
            new, _ = self.solve(value, guess)
            if new is not None and new.chaotic == last.chaotic and not _jumped(new, guess, last):
                return new
            if guess is last:
                break
        if halvings == 0:
            return None
        mid = 0.5 * (params[-1] + value)
        half = self.step(states, params, mid, halvings - 1)
        if half is None:
            return None
        return self.step(states + [half], params + [mid], value, halvings - 1)

    def continue_branch(self, states: list, params: list, indices, others):
        """Extend (states, params) over ``indices`` until Newton fails or meets another branch;
        return the other branch's state it met (None if it stopped otherwise)."""
        for i in indices:
            new = self.step(states, params, self.values[i])
            if new is None:
                return None
            met = [other for other in others(i) if _same(new, other)]
            if met:
                return met[0]
            states.append(new)
            params.append(self.values[i])
        return None


def _live(branches: list) -> list:
    """(index, branch) of the branches not merged into another."""
    return [(b, raw) for b, raw in enumerate(branches) if raw is not None]


def _jumped(new: StationaryState, guess: StationaryState, last: StationaryState) -> bool:
    """Whether ``new`` lies too far from ``last`` to continue its branch (past a fold the
    predictor can land on another branch)."""
    allowed = 3.0 * np.max(np.abs(guess.unknowns - last.unknowns)) + 0.3 * (
        1.0 + np.max(np.abs(last.unknowns))
    )
    return bool(np.max(np.abs(new.unknowns - last.unknowns)) > allowed)


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
    """Continue every stationary state of ``build(value)`` over ``values`` and locate bifurcations.

    Parameters
    ----------
    build : callable
        ``build(value)`` returns a MeanField, or a tuple (MeanField, inputs) when the inputs vary.
    parameter : str
        Name of the parameter (axis label).
    values : array_like (n,)
        Strictly monotonic parameter values.
    discover_every : int, optional
        Multi-start solves (``stationary_states``) run at every ``discover_every``-th value and at
        both ends (default: about 8 over the range).
    n_starts : int, optional
        Starts per multi-start solve (MeanField default if None).
    seed : int
        Seed of the multi-start solves.
    tol : float
        Residual tolerance of every Newton solve on a branch.
    max_iter : int
        Newton iterations per solve (see ``MeanField.stationary_states``).

    Returns
    -------
    BifurcationDiagram
        ``branches`` and ``events`` (each located to 1e-9 in the parameter, or, for folds, to the
        Newton tolerance of the extended system); ``unresolved`` lists what could not be located;
        ``plot()`` draws it.

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
    cont = _Continuation(build, values, tol, max_iter)
    unresolved: list[Unresolved] = []

    branches: list = []  # (states, params, indices), None once merged into another

    def states_at(i, exclude=None):
        return [
            states[idx.index(i)]
            for b, (states, _, idx) in _live(branches)
            if b is not exclude and i in idx
        ]

    active: list[int] = []
    for i in range(n):
        # continue the active branches one step
        still = []
        for b in active:
            states, params, idx = branches[b]
            before = len(states)
            cont.continue_branch(states, params, [i], lambda j, b=b: states_at(j, exclude=b))
            if len(states) > before:
                idx.append(i)
                still.append(b)
        active = still
        if i not in discover:
            continue
        mf, inputs = cont.model(values[i])
        with warnings.catch_warnings():  # reported once, through ``unresolved``
            warnings.simplefilter("ignore", ConvergenceWarning)
            found = mf.stationary_states(
                inputs, n_starts=n_starts, seed=seed, tol=tol, max_iter=max_iter
            )
        if not len(found):
            value = float(values[i])
            unresolved.append(Unresolved("discovery", (value, value), -1, found.failed_residual))
        for state in found:
            if any(_same(state, s) for s in states_at(i)):
                continue
            states, params, idx = [state], [values[i]], [i]
            branches.append((states, params, idx))
            b = len(branches) - 1
            # backwards to where the branch appears
            back_states, back_params = [state], [values[i]]
            met = cont.continue_branch(
                back_states,
                back_params,
                range(i - 1, -1, -1),
                lambda j, b=b: states_at(j, exclude=b),
            )
            states[:0] = back_states[:0:-1]
            params[:0] = back_params[:0:-1]
            idx[:0] = list(range(i - len(back_states) + 1, i))
            active.append(b)
            # met the end of a branch whose forward continuation failed: one branch, joined
            for o, (o_states, o_params, o_idx) in _live(branches):
                if met is not None and o_states[-1] is met and o_idx[-1] == idx[0] - 1:
                    states[:0], params[:0], idx[:0] = o_states, o_params, o_idx
                    branches[o] = None

    result = [Branch(np.array(p), s, s[0].chaotic) for _, (s, p, _) in _live(branches)]
    branches = [raw for _, raw in _live(branches)]
    events = _locate_events(cont, result, branches, values)
    events, lost = (
        _dedup_events([e for e in events if isinstance(e, BifurcationEvent)]),
        [e for e in events if isinstance(e, Unresolved)],
    )
    unresolved += [u for u in lost if not _explained(u, events)]
    if unresolved:
        worst = ", ".join(
            f"{u.kind} in [{u.interval[0]:.6g}, {u.interval[1]:.6g}] (residual {u.residual:.3g})"
            for u in unresolved[:5]
        )
        more = f" and {len(unresolved) - 5} more" if len(unresolved) > 5 else ""
        warnings.warn(
            f"bifurcation_diagram: {len(unresolved)} item(s) unresolved: {worst}{more}; see "
            "BifurcationDiagram.unresolved (raise max_iter or refine values)",
            ConvergenceWarning,
            stacklevel=2,
        )
    return BifurcationDiagram(parameter, values, result, events, unresolved)


def _locate_events(cont: _Continuation, result: list, raw: list, values: np.ndarray) -> list:
    """Events and ``Unresolved`` items of every branch, in one list."""
    events: list = []
    flow = cont.model(values[0])[0].time == "continuous"
    for b, branch in enumerate(result):
        tests = [_test_functions(s, flow) for s in branch.states]
        p = branch.parameter
        for i in range(len(p) - 1):
            for kind in ("branch_point", "hopf", "chaos_onset"):
                a, c = tests[i][kind], tests[i + 1][kind]
                if np.isfinite(a) and np.isfinite(c) and (a < 0) != (c < 0):
                    events.append(_refine_sign_change(cont, branch, i, kind, flow, b))
        # branch ends strictly inside the range: folds (or ends on another branch); a chaotic
        # branch whose gap D_0 - D_inf vanishes at its end meets a static one at a chaos onset
        idx = raw[b][2]
        for end, step in ((idx[0], -1), (idx[-1], 1)):
            nxt = end + step
            if 0 <= nxt < len(values):
                state = branch.states[0] if step < 0 else branch.states[-1]
                if state.chaotic and np.max(state.delta0 - state.delta_inf) < 0.05 * (
                    1 + np.max(state.delta0)
                ):
                    continue
                events.append(_refine_fold(cont, state, values[end], values[nxt], b, result))
    return events


def _refine_sign_change(cont, branch: Branch, i: int, kind: str, flow: bool, b: int):
    """Locate a sign change of a test function between two states of a branch by Brent's
    method: a BifurcationEvent, or Unresolved when Newton fails on the way."""
    p0, p1 = branch.parameter[i], branch.parameter[i + 1]
    s0, s1 = branch.states[i], branch.states[i + 1]
    cache = {}
    failed = [np.inf]  # smallest residual of the solves that failed

    def state_at(p):
        if p not in cache:
            guess = s0 if abs(p - p0) <= abs(p - p1) else s1
            cache[p], residual = cont.solve(p, guess)
            if cache[p] is None:
                failed[0] = min(failed[0], residual)
        return cache[p]

    def f(p):
        if p == p0:
            return _test_functions(s0, flow)[kind]
        if p == p1:
            return _test_functions(s1, flow)[kind]
        st = state_at(p)
        return np.nan if st is None else _test_functions(st, flow)[kind]

    lost = Unresolved(kind, (float(min(p0, p1)), float(max(p0, p1))), b, failed[0])
    try:
        root = brentq(f, p0, p1, xtol=1e-10, rtol=1e-12, maxiter=200)
    except (ValueError, RuntimeError):  # NaN on the way (branch lost), or Brent's limit
        return dataclasses.replace(lost, residual=failed[0])
    state = state_at(root) if root not in (p0, p1) else (s0 if root == p0 else s1)
    if state is None:
        return dataclasses.replace(lost, residual=failed[0])
    return BifurcationEvent(kind, float(root), state, b)


def _refine_fold(
    cont, state: StationaryState, p_last: float, p_next: float, b: int, branches: list
):
    """Solve {residual(y, p) = 0, det J(y, p) = 0} from the last point of a branch that ends."""
    kind = "chaotic" if state.chaotic else "static"

    def H(z):
        y, p = z[:-1], z[-1]
        mf, inputs = cont.model(p)
        r, J, _ = mf.residual_function(kind, inputs)(y)
        scale = max(np.max(np.abs(np.diag(J))), 1.0) ** len(y)
        return np.append(r, np.linalg.det(J) / scale)

    def H_with_jacobian(z):
        h0 = H(z)
        J = np.empty((z.size, z.size))
        for k in range(z.size):
            step = 1e-7 * (1.0 + abs(z[k]))
            e = np.zeros_like(z)
            e[k] = step
            up, down = H(z + e), H(z - e)
            if np.all(
                np.isfinite(down)
            ):  # central difference, or one-sided at a domain edge (D = 0)
                J[:, k] = (
                    (up - down) / (2 * step) if np.all(np.isfinite(up)) else (h0 - down) / step
                )
            else:
                J[:, k] = (up - h0) / step
        return h0, J, np.zeros(0)

    z0 = np.append(state.unknowns, p_last)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = newton(
            H_with_jacobian, z0, tol=1e-11, max_iter=min(25, cont.max_iter), loose_tol=1e-8
        )
    lo, hi = sorted((float(p_last), float(p_next)))
    margin = 0.5 * (hi - lo)
    if not res.converged:
        return Unresolved("fold", (lo, hi), b, res.residual)
    if not lo - margin <= res.x[-1] <= hi + margin:  # a singular point, but elsewhere
        return Unresolved("fold", (lo, hi), b, np.nan)
    p_star = float(res.x[-1])
    at, residual = cont.solve(p_star, dataclasses.replace(state, unknowns=res.x[:-1]))
    if at is None:
        return Unresolved("fold", (lo, hi), b, residual)
    # a branch that ends on another branch passing through p_star meets it at a branch point;
    # at a fold the two branches that meet both end there
    on_other = False
    for o, br in enumerate(branches):
        near = np.argmin(np.abs(br.parameter - p_star))
        if o == b or not (br.parameter.min() < p_star < br.parameter.max()):
            continue
        other, _ = cont.solve(p_star, br.states[near])
        if other is not None and _same(at, other, tol=1e-4):
            on_other = True
            break
    return BifurcationEvent("branch_point" if on_other else "fold", p_star, at, b)


def _explained(item: Unresolved, events: list) -> bool:
    """A branch end whose fold was not located, but where a branch point or fold was located
    on another branch (the end of the side branches of a pitchfork, where the extended system
    is singular)."""
    lo, hi = item.interval
    return item.kind == "fold" and any(
        e.kind in ("branch_point", "fold") and lo <= e.parameter <= hi for e in events
    )


def _dedup_events(events: list) -> list:
    """Drop repeats (same kind, parameter and state) and sort by parameter."""
    kept: list[BifurcationEvent] = []
    for e in sorted(events, key=lambda e: (e.kind, e.parameter)):
        if not any(
            k.kind == e.kind
            and abs(k.parameter - e.parameter) <= 1e-6 * (1 + abs(e.parameter))
            and _same(k.state, e.state, tol=1e-3)
            for k in kept
        ):
            kept.append(e)
    return sorted(kept, key=lambda e: e.parameter)
