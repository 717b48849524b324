"""Result types of :mod:`lowrank.meanfield`: fixed points, stationary states, latent trajectories.

A ``FixedPoint`` solves the latent dynamics without a bulk (Beiran et al. 2021, Neural Comput.
33:1572); a ``StationaryState`` is a static or chaotic solution of the mean-field theory with a
random bulk (Mastrogiuseppe & Ostojic 2018, Neuron 99:609). Their collections
(``LatentFixedPoints``, ``StationaryStates``) carry the convergence report of the search. All are
importable from :mod:`lowrank.meanfield`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ._repr import compact_repr
from .dynamics import STABILITY_TOL, SolverReport, Stability
from .dynamics.manifold import Manifold

__all__ = [
    "FixedPoint",
    "LatentFixedPoints",
    "StationaryState",
    "StationaryStates",
    "StationarySweep",
    "LatentTrajectory",
]


#: the values of ``Stability``, as plain strings
_STABILITIES = frozenset(s.value for s in Stability)


def _settle_stability(point) -> None:
    """Make ``stability``, ``stable`` and ``marginal`` of a solution agree (``stability`` wins)."""
    if point.stability is None:
        point.stability = (
            "stable" if point.stable else ("marginal" if point.marginal else "unstable")
        )
    if not (type(point.stability) is str and point.stability in _STABILITIES):
        point.stability = Stability(point.stability).value  # checked (ValueError if unknown)
    point.stable = point.stability == "stable"
    point.marginal = point.stability == "marginal"


@dataclass
class FixedPoint:
    """A fixed point of the latent dynamics (g = 0).

    Attributes
    ----------
    kappa : ndarray (R,)
    eigenvalues : ndarray (R,) complex
        Of the Jacobian of the flow (-1 + dG/dkappa) or of the map (dG/dkappa), least stable first
        (largest real part for the flow, largest modulus for the map).
    stable : bool
        Strictly stable: largest growth rate (Re lambda for flows, |lambda| - 1 for maps) below
        -``stability_tol``.
    residual : float
        max |velocity| at ``kappa``.
    iterations : int
        Newton iterations of the start that found it.
    multiplicity : int
        Number of starts whose (undeflated) Newton iteration converged to it; 0 for a point found
        only by deflation or as the mirror image of another under a symmetry of the equations.
    stability : str
        "stable", "unstable" or "marginal" (:func:`lowrank.dynamics.stability.classify`): marginal
        when the largest growth rate is within ``stability_tol`` of 0 (a pitchfork point, a point of
        a continuous attractor), where the linearisation cannot decide.
    marginal : bool
        ``stability == "marginal"``.
    stability_tol : float
        The tolerance of the classification.
    """

    __repr__ = compact_repr

    kappa: np.ndarray
    eigenvalues: np.ndarray
    stable: bool
    residual: float
    iterations: int
    multiplicity: int = 1
    stability: str | None = None
    marginal: bool = False
    stability_tol: float = STABILITY_TOL

    def __post_init__(self) -> None:
        _settle_stability(self)


@dataclass
class StationaryState:
    """A static or chaotic solution of the mean-field theory with a random bulk.

    Attributes
    ----------
    kappa : ndarray (R,)
    mu : ndarray (P,)
        Mean input of each population, mu_p = mu_{m,p}.kappa + mu_{I,p}.u.
    delta0 : ndarray (P,)
        Total variance Delta_0 of each population's input (structure plus bulk).
    delta_inf : ndarray (P,)
        Its long-time autocovariance; equal to ``delta0`` for a static state.
    chaotic : bool
    stable : bool
        Strictly stable (``stability == "stable"``). Static state: every outlier strictly inside
        the stability region and bulk radius strictly below 1 (both by more than
        ``stability_tol``). Chaotic state: the latent variables are strictly stable to slow
        perturbations (the Schur complement of the residual Jacobian that eliminates the
        variances; an adiabatic criterion).
    eigenvalues : ndarray complex
        Static: the R + 1 outlier eigenvalues of the linearised dynamics, -1 + eig(dF/d(kappa, D))
        for flows (eig(dF) for maps); R of them when g = 0. Chaotic: the R eigenvalues of the
        reduced latent dynamics described above.
    bulk_radius : float
        g sqrt(sum_p alpha_p [phi'^2]_p): radius of the bulk of J diag(phi'(x*)); the static state
        turns chaotic when it exceeds 1 (NaN for chaotic states).
    residual : float
    iterations : int
    unknowns : ndarray
        The solver's unknowns: (kappa, D) for static states, (kappa, D_0, log(D_0 - D_inf)) for
        chaotic ones (D the bulk part of the variance).
    stability : str
        "stable", "unstable" or "marginal" (:func:`lowrank.dynamics.stability.classify`). For a
        static state the bulk counts as one more eigenvalue, -1 + bulk_radius for flows and
        bulk_radius for maps: a bulk radius within ``stability_tol`` of 1 is marginal.
    marginal : bool
        ``stability == "marginal"``.
    stability_tol : float
        The tolerance of the classification.
    """

    __repr__ = compact_repr

    kappa: np.ndarray
    mu: np.ndarray
    delta0: np.ndarray
    delta_inf: np.ndarray
    chaotic: bool
    stable: bool
    eigenvalues: np.ndarray
    bulk_radius: float
    residual: float
    iterations: int
    unknowns: np.ndarray = field(repr=False, default=None)
    stability: str | None = None
    marginal: bool = False
    stability_tol: float = STABILITY_TOL

    def __post_init__(self) -> None:
        _settle_stability(self)


@dataclass
class _Collection(Sequence):
    """Solutions from ``n_starts`` Newton starts, with array views of their main fields.

    ``n_failed`` starts did not converge; ``failed_residual`` is the smallest residual they reached;
    ``report`` says how the search ended and ``complete`` whether nothing is known to be missing.
    """

    points: list
    n_starts: int
    n_failed: int
    failed_residual: float = np.inf
    report: SolverReport | None = None
    stability_tol: float = STABILITY_TOL

    @property
    def complete(self) -> bool:
        """Every start converged or was accounted for (``report.success``): when False, some
        solutions may be missing (a ConvergenceWarning said so)."""
        return self.report is None or bool(self.report.success)

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, index):
        return self.points[index]

    def __iter__(self) -> Iterator:
        return iter(self.points)

    @property
    def kappa(self) -> np.ndarray:
        """(n, R) array of the solutions' kappa."""
        return np.array([p.kappa for p in self.points]).reshape(len(self.points), -1)

    @property
    def stable(self) -> np.ndarray:
        """(n,) bool: strictly stable (``stability == "stable"``)."""
        return np.array([p.stable for p in self.points], dtype=bool)

    @property
    def marginal(self) -> np.ndarray:
        """(n,) bool: ``stability == "marginal"``."""
        return np.array([p.marginal for p in self.points], dtype=bool)

    @property
    def stability(self) -> np.ndarray:
        """(n,) str: "stable", "unstable" or "marginal"."""
        return np.array([p.stability for p in self.points], dtype="<U8")

    @property
    def residual(self) -> np.ndarray:
        """(n,) array of the solutions' residuals (each <= the solver's tolerance)."""
        return np.array([p.residual for p in self.points], dtype=float)


@dataclass
class LatentFixedPoints(_Collection):
    """All fixed points found by ``MeanField.fixed_points``.

    Attributes
    ----------
    points : list of FixedPoint
        The isolated fixed points, sorted by |kappa|, then by kappa. Points of a continuous
        attractor are not listed here: they belong to ``manifolds``.
    n_starts : int
        Number of Newton starts.
    n_failed : int
        Starts whose Newton iteration did not converge (each makes the result possibly incomplete
        and ``complete`` False).
    failed_residual : float
        Smallest residual reached by a start that did not converge (inf if none failed).
    report : SolverReport
        How the search ended (``success``, ``message``, ``nit``, ``nfev``, ...).
    stability_tol : float
        Tolerance of the stable / unstable / marginal classification.
    manifolds : list of Manifold
        Continuous families of fixed points (a ring attractor: ``dimension`` 1, ``closed``), each
        reported once with samples, centre, radius and transverse stability
        (:mod:`lowrank.dynamics.manifold`).
    """

    __repr__ = compact_repr

    manifolds: list[Manifold] = field(default_factory=list)

    @property
    def eigenvalues(self) -> np.ndarray:
        return np.array([p.eigenvalues for p in self.points])

    @property
    def n_attractors(self) -> int:
        """Number of attractors: strictly stable isolated points plus transversally stable
        manifolds, each manifold counted once (a ring attractor is one attractor)."""
        return int(np.count_nonzero(self.stable)) + sum(m.stable for m in self.manifolds)


@dataclass
class StationaryStates(_Collection):
    """All static and chaotic solutions found by ``MeanField.stationary_states``.

    Attributes
    ----------
    points : list of StationaryState
        Static states first, then chaotic ones, each sorted by |kappa|.
    n_starts, n_failed : int
        Newton starts (static and chaotic), and those whose Newton iteration did not converge.
        A chaotic start whose gap D_0 - D_inf collapses (it runs onto a static state: below the
        onset of chaos there is no chaotic state to find) has not failed.
    failed_residual : float
        Smallest residual reached by a start that did not converge (inf if none failed).
    report : SolverReport
        How the search ended.
    stability_tol : float
        Tolerance of the stable / unstable / marginal classification.
    search : str
        "multistart": a multi-start search (``MeanField.stationary_states``); "continuation":
        the states of a neighbouring parameter value followed by Newton, with no multi-start
        search (values of :func:`lowrank.stationary_states_along` between searches).
        A continuation is never ``complete``: states born away from the known ones are not
        looked for.
    """

    __repr__ = compact_repr

    search: str = "multistart"

    @property
    def complete(self) -> bool:
        """A multi-start search in which every start converged or was accounted for
        (``report.success``): when False, some solutions may be missing (a ConvergenceWarning
        said so), or the states come from a continuation (``search``), not a search."""
        return self.search == "multistart" and (self.report is None or bool(self.report.success))

    @property
    def chaotic(self) -> np.ndarray:
        return np.array([p.chaotic for p in self.points], dtype=bool)

    @property
    def delta0(self) -> np.ndarray:
        return np.array([p.delta0 for p in self.points]).reshape(len(self.points), -1)

    @property
    def delta_inf(self) -> np.ndarray:
        return np.array([p.delta_inf for p in self.points]).reshape(len(self.points), -1)

    @property
    def mu(self) -> np.ndarray:
        return np.array([p.mu for p in self.points]).reshape(len(self.points), -1)


@dataclass
class StationarySweep(Sequence):
    """The stationary states at every value of a parameter, from
    :func:`lowrank.stationary_states_along`.

    Attributes
    ----------
    values : ndarray (n,)
        The parameter values, in the order given.
    states : list of StationaryStates
        The states at each value: from a multi-start search where ``searched``, else continued
        from the previous value (``StationaryStates.search``).
    searched : ndarray (n,) bool
        Where a multi-start search ran.
    reasons : list of str
        Why the search ran at each value ("" where the states were continued): the first value,
        a test that the number of states may have changed since the previous value, or the
        schedule ``search_every``.
    report : SolverReport
        Over the whole sweep: ``success`` when every multi-start search was complete.
    """

    __repr__ = compact_repr

    values: np.ndarray
    states: list
    searched: np.ndarray
    reasons: list
    report: SolverReport | None = None

    @property
    def complete(self) -> bool:
        """Every multi-start search of the sweep was complete, and the states between them were
        continued without any sign that their number changed (see
        :func:`lowrank.stationary_states_along` for what is and is not detected)."""
        return self.report is None or bool(self.report.success)

    def __len__(self) -> int:
        return len(self.states)

    def __getitem__(self, index):
        return self.states[index]

    def __iter__(self) -> Iterator:
        return iter(self.states)

    @property
    def counts(self) -> np.ndarray:
        """(n,) int: number of states at each value."""
        return np.array([len(s) for s in self.states], dtype=int)

    @property
    def n_chaotic(self) -> np.ndarray:
        """(n,) int: number of chaotic states at each value."""
        return np.array([int(np.count_nonzero(s.chaotic)) for s in self.states], dtype=int)

    @property
    def n_stable(self) -> np.ndarray:
        """(n,) int: number of strictly stable states at each value."""
        return np.array([int(np.count_nonzero(s.stable)) for s in self.states], dtype=int)


@dataclass
class LatentTrajectory:
    """Latent trajectories of :meth:`MeanField.simulate`.

    Continuous time: the state is x(t) = m.v(t) + I.w(t) (+ a part orthogonal to span(m, I)
    that decays as e^{-t} and is taken to be 0), and kappa(t) = G(v(t), w(t)) = <n phi(m.v + I.w)>
    (Beiran et al. 2021, Neural Comput. 33:1572; Dubreuil et al. 2022, Nat. Neurosci. 25:783).
    Discrete time: v = kappa, the map's state, and w = u, the input applied at each step.

    Attributes
    ----------
    t : ndarray (T,)
        Times (flow) or step numbers (map).
    kappa : ndarray (batch, T, R)
        Latent variables kappa_r = <n_r phi(x)>.
    v : ndarray (batch, T, R)
        Coordinates of the state along m (equal to kappa at fixed points and for the map).
    w : ndarray (batch, T, K)
        Coordinates of the state along I: the low-pass filtered inputs (flow) or the inputs (map).
    """

    __repr__ = compact_repr

    t: np.ndarray
    kappa: np.ndarray
    v: np.ndarray | None = None
    w: np.ndarray | None = None
