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
branch, to 1e-9 in the parameter.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from ._checks import as_array, as_int
from ._newton import newton
from .meanfield import MeanField, StationaryState

__all__ = ["bifurcation_diagram", "BifurcationDiagram", "Branch", "BifurcationEvent"]

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
    """Branches and events of ``bifurcation_diagram``."""

    parameter_name: str
    values: np.ndarray
    branches: list
    events: list

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

    def __init__(self, build: Callable, values: np.ndarray, n_starts, seed):
        self.build = build
        self.values = values
        self.n_starts = n_starts
        self.seed = seed

    def model(self, value: float) -> tuple[MeanField, np.ndarray | None]:
        out = self.build(float(value))
        mf, inputs = out if isinstance(out, tuple) else (out, None)
        if not isinstance(mf, MeanField):
            raise TypeError(
                f"build must return a MeanField (or (MeanField, inputs)), got {type(mf).__name__}"
            )
        return mf, inputs

    def solve(self, value: float, guess: StationaryState) -> StationaryState | None:
        mf, inputs = self.model(value)
        return mf.solve_near(guess, inputs)

    def predict(self, states: list, params: list, value: float) -> StationaryState:
        """Secant predictor from the last two states of a branch."""
        last = states[-1]
        if len(states) < 2 or params[-1] == params[-2]:
            return last
        slope = (last.unknowns - states[-2].unknowns) / (params[-1] - params[-2])
        return dataclasses.replace(last, unknowns=last.unknowns + slope * (value - params[-1]))

    def continue_branch(self, states: list, params: list, indices, others) -> None:
        """Extend (states, params) over ``indices`` until Newton fails or meets another branch."""
        for i in indices:
            value = self.values[i]
            guess = self.predict(states, params, value)
            new = self.solve(value, guess)
            if (
                new is None and guess is not states[-1]
            ):  # the predictor overshot: retry from the last state
                guess = states[-1]
                new = self.solve(value, guess)
            if new is None or new.chaotic != states[-1].chaotic:
                return
            # reject jumps to another branch (past a fold the predictor can land anywhere)
            last = states[-1].unknowns
            allowed = 3.0 * np.max(np.abs(guess.unknowns - last)) + 0.3 * (
                1.0 + np.max(np.abs(last))
            )
            if np.max(np.abs(new.unknowns - last)) > allowed:
                return
            if any(_same(new, other) for other in others(i)):
                return
            states.append(new)
            params.append(value)


def bifurcation_diagram(
    build: Callable[[float], MeanField],
    parameter: str,
    values,
    discover_every: int | None = None,
    n_starts: int | None = None,
    seed=0,
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

    Returns
    -------
    BifurcationDiagram
        ``branches`` and ``events`` (each located to 1e-9 in the parameter, or, for folds, to the
        Newton tolerance of the extended system); ``plot()`` draws it.

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
    values = as_array(values, "values", ndim=1)
    if values.size < 2 or not (np.all(np.diff(values) > 0) or np.all(np.diff(values) < 0)):
        raise ValueError("values must hold at least two strictly monotonic parameter values")
    n = values.size
    every = (
        max(1, n // 8)
        if discover_every is None
        else as_int(discover_every, "discover_every", minimum=1)
    )
    discover = sorted(set(range(0, n, every)) | {n - 1})
    cont = _Continuation(build, values, n_starts, seed)

    branches: list[tuple[list, list, list]] = []  # (states, params, indices)

    def states_at(i, exclude=None):
        out = []
        for b, (states, _, idx) in enumerate(branches):
            if b is not exclude and i in idx:
                out.append(states[idx.index(i)])
        return out

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
        found = mf.stationary_states(inputs, n_starts=n_starts, seed=seed)
        for state in found:
            if any(_same(state, s) for s in states_at(i)):
                continue
            states, params, idx = [state], [values[i]], [i]
            branches.append((states, params, idx))
            b = len(branches) - 1
            # backwards to where the branch appears
            back_states, back_params = [state], [values[i]]
            cont.continue_branch(
                back_states,
                back_params,
                range(i - 1, -1, -1),
                lambda j, b=b: states_at(j, exclude=b),
            )
            states[:0] = back_states[:0:-1]
            params[:0] = back_params[:0:-1]
            idx[:0] = list(range(i - len(back_states) + 1, i))
            active.append(b)

    result = [Branch(np.array(p), s, s[0].chaotic) for s, p, _ in branches]
    events = _locate_events(cont, result, branches, values)
    return BifurcationDiagram(parameter, values, result, events)


def _locate_events(cont: _Continuation, result: list, raw: list, values: np.ndarray) -> list:
    events: list[BifurcationEvent] = []
    flow = cont.model(values[0])[0].time == "continuous"
    for b, branch in enumerate(result):
        tests = [_test_functions(s, flow) for s in branch.states]
        p = branch.parameter
        for i in range(len(p) - 1):
            for kind in ("branch_point", "hopf", "chaos_onset"):
                a, c = tests[i][kind], tests[i + 1][kind]
                if np.isfinite(a) and np.isfinite(c) and (a < 0) != (c < 0):
                    event = _refine_sign_change(cont, branch, i, kind, flow, b)
                    if event is not None:
                        events.append(event)
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
                event = _refine_fold(cont, state, values[end], values[nxt], b, result)
                if event is not None:
                    events.append(event)
    return _dedup_events(events)


def _refine_sign_change(cont, branch: Branch, i: int, kind: str, flow: bool, b: int):
    p0, p1 = branch.parameter[i], branch.parameter[i + 1]
    s0, s1 = branch.states[i], branch.states[i + 1]
    cache = {}

    def state_at(p):
        if p not in cache:
            guess = s0 if abs(p - p0) <= abs(p - p1) else s1
            cache[p] = cont.solve(p, guess)
        return cache[p]

    def f(p):
        if p == p0:
            return _test_functions(s0, flow)[kind]
        if p == p1:
            return _test_functions(s1, flow)[kind]
        st = state_at(p)
        return np.nan if st is None else _test_functions(st, flow)[kind]

    try:
        root = brentq(f, p0, p1, xtol=1e-10, rtol=1e-12, maxiter=200)
    except ValueError:  # NaN on the way (branch lost): not a clean crossing
        return None
    state = state_at(root) if root not in (p0, p1) else (s0 if root == p0 else s1)
    if state is None:
        return None
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
        res = newton(H_with_jacobian, z0, tol=1e-11, max_iter=25, loose_tol=1e-8)
    lo, hi = sorted((p_last, p_next))
    margin = 0.5 * (hi - lo)
    if not res.converged or not (lo - margin <= res.x[-1] <= hi + margin):
        return None
    p_star = float(res.x[-1])
    at = cont.solve(p_star, dataclasses.replace(state, unknowns=res.x[:-1]))
    if at is None:
        return None
    # a branch that ends on another branch passing through p_star meets it at a branch point;
    # at a fold the two branches that meet both end there
    on_other = False
    for o, br in enumerate(branches):
        near = np.argmin(np.abs(br.parameter - p_star))
        if o == b or not (br.parameter.min() < p_star < br.parameter.max()):
            continue
        other = cont.solve(p_star, br.states[near])
        if other is not None and _same(at, other, tol=1e-4):
            on_other = True
            break
    return BifurcationEvent("branch_point" if on_other else "fold", p_star, at, b)


def _dedup_events(events: list) -> list:
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
