"""When during training attractors appear: bifurcations located between consecutive checkpoints.

Between two checkpoints with weights W_a (epoch e_a) and W_b (epoch e_b) training is replaced by
the straight path

    W(s) = (1 - s) W_a + s W_b,    epoch(s) = e_a + s (e_b - e_a),    0 <= s <= 1,

with every weight array (``weight_rec`` or ``m`` and ``n``, ``weight_in``, ``bias``, ...)
interpolated alike. Along it:

- :func:`locate_bifurcations` locates where a count of stable attractors changes, for the count
  predicted by the mean-field theory and the count observed in the network (two callables). The
  counts are evaluated on a grid of s (0 and 1 included) and every change between neighbours is
  bracketed by bisection until the bracket is shorter than ``tol`` in s. Where the midpoint's count
  differs from both ends, both halves are refined, so several changes inside one grid cell are all
  located; changes closer than ``tol`` to each other are reported as one. A pair of changes that
  cancel inside one grid cell (a count going 2 -> 4 -> 2) is not seen: refine the grid to look
  for them.
- :func:`continue_prediction` follows the mean-field states along the path between the two fitted
  laws of the loadings (:func:`interpolate_loadings`: means, covariances and population weights
  interpolated linearly, populations matched by the Hungarian algorithm) by pseudo-arclength
  continuation (:func:`lowrank.bifurcation.bifurcation_diagram`; Keller 1977; Kuznetsov 2004,
  sec. 10.2), which locates folds, branch points, Hopf points and chaos onsets to ~1e-10 in the
  arclength, hence to better than 1e-6 in s.
- :func:`pair_bifurcations` pairs each attractor the prediction gains (or loses) with the nearest
  one the network gains (loses), and says whether they lie within one checkpoint interval of
  each other. It pairs attractors, not events: a symmetric mean field creates two attractors in
  one event where the finite network, whose symmetry is broken, creates them one at a time.

A convex combination of positive semi-definite covariances is positive semi-definite, so every
interpolated law is a valid law. For a rank-one network with zero means, unit-variance m and
tanh, the origin loses stability in a pitchfork at overlap sigma_mn = 1 (Mastrogiuseppe & Ostojic
2018, Neuron 99:609); a path on which sigma_mn(s) = 0.5 + s therefore has its pitchfork at
s = 0.5 exactly (tests/test_emergence_timing.py).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from ._checks import ConvergenceWarning, as_array, as_float, as_int, choose, seed_sequence
from ._repr import compact_repr
from .loadings import GaussianLoadings, MixtureLoadings

__all__ = [
    "BifurcationTiming",
    "BifurcationPair",
    "locate_bifurcations",
    "continue_prediction",
    "pair_bifurcations",
    "interpolate_weights",
    "interpolate_loadings",
    "align_factors",
    "alignment",
    "rotate_loadings",
    "locate_law_bifurcations",
    "persistent_changes",
]

_SAME_EVENT = 1e-9  # continuation events closer than this in s share one position


@dataclass
class BifurcationTiming:
    """A change of the number of stable attractors along the path between two checkpoints.

    Attributes
    ----------
    kind : str
        "predicted" (mean-field theory) or "observed" (the network).
    s : float
        Position on the path W(s) = (1 - s) W_a + s W_b: the middle of ``bracket``.
    epoch : float
        Training time at s: e_a + s (e_b - e_a).
    count_before, count_after : int
        Stable attractors just before and just after s.
    located : bool
        Whether the position is known to the tolerance asked for: the bisection bracket is
        shorter than ``tol`` (up to 2 tol where two touching brackets were joined), or
        continuation located the event on its test function.
    bracket : tuple of float
        (s_lo, s_hi), the interval known to hold the change (s_lo == s_hi for a continuation
        event located to round-off).
    epochs : tuple of float
        (e_a, e_b), the checkpoint interval the path spans.
    event : str
        "count" (bisection on the count) or the continuation's event kind: "fold",
        "branch_point", "hopf", "chaos_onset" (kinds joined by "+" when events of several kinds
        coincide).
    n_events : int
        Continuation events at this position (within 1e-9 in s), such as the two symmetric
        folds that create a pair of attractors at once; the counts are those of all of them
        together (bisection sees them as one change). 1 for "count".
    """

    __repr__ = compact_repr

    kind: str
    s: float
    epoch: float
    count_before: int
    count_after: int
    located: bool
    bracket: tuple = (np.nan, np.nan)
    epochs: tuple = (0.0, 1.0)
    event: str = "count"
    n_events: int = 1

    @property
    def new_attractors(self) -> int:
        """count_after - count_before (negative when attractors disappear)."""
        return int(self.count_after - self.count_before)

    @property
    def interval(self) -> float:
        """Length e_b - e_a of the checkpoint interval (in epochs)."""
        return float(abs(self.epochs[1] - self.epochs[0]))


class BifurcationPair(NamedTuple):
    """One attractor gained or lost: the predicted event and the observed event that create (or
    remove) it (either None when unpaired; see ``pair_bifurcations``)."""

    predicted: BifurcationTiming | None
    observed: BifurcationTiming | None
    epoch_difference: float  # predicted epoch - observed epoch (NaN when unpaired)
    within_interval: bool  # |epoch_difference| <= one checkpoint interval


# --- paths -----------------------------------------------------------------------------------
def _fraction(s, name: str = "s") -> float:
    s = as_float(s, name)
    if not 0.0 <= s <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {s}")
    return s


def _weights(weights, name: str) -> dict:
    if not isinstance(weights, dict) or not weights:
        raise TypeError(
            f"{name} must be a non-empty dict of weight arrays, got {type(weights).__name__}"
        )
    return {k: as_array(v, f"{name}[{k!r}]", allow_empty=True) for k, v in weights.items()}


def _check_pair(weights_a: dict, weights_b: dict) -> None:
    if set(weights_a) != set(weights_b):
        raise ValueError(
            f"weights_a and weights_b must hold the same arrays, got {sorted(weights_a)} and "
            f"{sorted(weights_b)}"
        )
    for key, value in weights_a.items():
        if value.shape != weights_b[key].shape:
            raise ValueError(
                f"weights_a[{key!r}] has shape {value.shape}, weights_b[{key!r}] "
                f"{weights_b[key].shape}"
            )


def interpolate_weights(weights_a: dict, weights_b: dict, s: float) -> dict:
    """Every weight array on the straight path, (1 - s) W_a + s W_b (float64 copies).

    Parameters
    ----------
    weights_a, weights_b : dict of array_like
        The same names and shapes (as ``RNN.weights()`` or a checkpoint's weights).
    s : float
        Position in [0, 1].
    """
    a, b = _weights(weights_a, "weights_a"), _weights(weights_b, "weights_b")
    _check_pair(a, b)
    return _on_path(a, b, _fraction(s))


def _on_path(a: dict, b: dict, s: float) -> dict:
    return {k: (1.0 - s) * a[k] + s * b[k] for k in a}


def align_factors(reference, factors) -> tuple[np.ndarray, np.ndarray]:
    """Express factors (m, n) in the latent coordinates of ``reference`` (m_ref, n_ref).

    m n^T = (m Q)(n Q)^T for every orthogonal Q (R x R), so the factors of one W (a truncated SVD
    at each checkpoint, whose singular vectors may flip sign or rotate within a degenerate
    subspace) define the loadings only up to Q. Before the laws fitted at two checkpoints are
    interpolated (:func:`interpolate_loadings`) their factors must be aligned: Q minimises
    |[m; n] Q - [m_ref; n_ref]|_F (orthogonal Procrustes, Schoenemann 1966, Psychometrika 31:1).

    Parameters
    ----------
    reference, factors : tuple of array_like (N, R)
        (m_ref, n_ref) and (m, n), the same shapes.

    Returns
    -------
    (m Q, n Q) : tuple of ndarray (N, R)
    """
    def pair(value, name):
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise TypeError(f"{name} must be a tuple (m, n), got {type(value).__name__}")
        m = as_array(value[0], f"{name}[0]", ndim=2)
        return m, as_array(value[1], f"{name}[1]", shape=m.shape)

    m_ref, n_ref = pair(reference, "reference")
    m, n = pair(factors, "factors")
    if m.shape != m_ref.shape:
        raise ValueError(f"factors have shape {m.shape}, reference {m_ref.shape}")
    Q = alignment((m, n), (m_ref, n_ref))
    return m @ Q, n @ Q


def alignment(factors, reference) -> np.ndarray:
    """The orthogonal Q (R x R) of :func:`align_factors`: argmin |[m; n] Q - [m_ref; n_ref]|_F."""
    from scipy.linalg import orthogonal_procrustes

    return orthogonal_procrustes(np.vstack(factors), np.vstack(reference))[0]


def rotate_loadings(law, Q: np.ndarray):
    """The law of the rows (m Q, n Q, inputs) when (m, n, inputs) follow ``law``: means
    T^T mu and covariances T^T Sigma T with T = diag(Q, Q, identity), per population.

    With Q from :func:`align_factors` this expresses a law fitted in one checkpoint's latent
    coordinates in another's, before :func:`interpolate_loadings`.
    """
    comps, weights = _as_mixture(law, "law")
    R, K = comps[0].rank, comps[0].n_inputs
    Q = as_array(Q, "Q", shape=(R, R))
    T = np.zeros((2 * R + K, 2 * R + K))
    T[:R, :R] = T[R:2 * R, R:2 * R] = Q
    T[2 * R:, 2 * R:] = np.eye(K)
    moved = [GaussianLoadings(T.T @ c.mean, T.T @ c.cov @ T, R, K) for c in comps]
    return moved[0] if isinstance(law, GaussianLoadings) else MixtureLoadings(moved, weights)


def _as_mixture(law, name: str) -> tuple[list[GaussianLoadings], np.ndarray]:
    if isinstance(law, GaussianLoadings):
        return [law], np.ones(1)
    if isinstance(law, MixtureLoadings):
        return list(law.components), np.asarray(law.weights, dtype=float)
    raise TypeError(f"{name} must be GaussianLoadings or MixtureLoadings, got {type(law).__name__}")


def _aligned(law_a, law_b) -> tuple[list, np.ndarray, list, np.ndarray]:
    """Components and weights of both laws, those of law_b reordered to match law_a's: the
    assignment minimising sum |mu_a - mu_b|^2 + |Sigma_a - Sigma_b|_F^2 (Hungarian algorithm;
    the covariances separate populations with equal means)."""
    comps_a, w_a = _as_mixture(law_a, "law_a")
    comps_b, w_b = _as_mixture(law_b, "law_b")
    a0, b0 = comps_a[0], comps_b[0]
    if (a0.rank, a0.n_inputs) != (b0.rank, b0.n_inputs):
        raise ValueError(
            f"law_a has rank {a0.rank} and {a0.n_inputs} inputs, law_b rank {b0.rank} and "
            f"{b0.n_inputs}"
        )
    if len(comps_a) < len(comps_b):
        comps_a, w_a = _split(comps_a, w_a, comps_b)
    elif len(comps_b) < len(comps_a):
        comps_b, w_b = _split(comps_b, w_b, comps_a)
    _, order = linear_sum_assignment(_distances(comps_a, comps_b))
    return comps_a, w_a, [comps_b[j] for j in order], w_b[order]


def _distances(comps_a, comps_b) -> np.ndarray:
    """|mu_a - mu_b|^2 + |Sigma_a - Sigma_b|_F^2 between every pair of populations."""
    return np.array(
        [
            [np.sum((a.mean - b.mean) ** 2) + np.sum((a.cov - b.cov) ** 2) for b in comps_b]
            for a in comps_a
        ]
    )


def _split(comps, weights, target) -> tuple[list, np.ndarray]:
    """The same law with as many populations as ``target``: each population is matched to one
    of ``target``'s (Hungarian algorithm), every other population of ``target`` to its nearest
    one, and each population is split into identical copies, one per population matched to it,
    sharing its weight equally (a mixture of identical copies is the same law)."""
    cost = _distances(comps, target)
    rows, cols = linear_sum_assignment(cost)
    owner = np.empty(len(target), int)
    owner[cols] = rows
    rest = np.setdiff1d(np.arange(len(target)), cols)
    owner[rest] = np.argmin(cost[:, rest], axis=0)
    copies = np.bincount(owner, minlength=len(comps))
    return [comps[k] for k in owner], np.asarray(weights, float)[owner] / copies[owner]


def interpolate_loadings(law_a, law_b, s: float):
    """The law on the straight path between two fitted laws.

    Means and covariances of matched populations, and the population weights, are interpolated
    linearly: mu(s) = (1 - s) mu_a + s mu_b, Sigma(s) = (1 - s) Sigma_a + s Sigma_b (positive
    semi-definite as a convex combination of such), alpha(s) = (1 - s) alpha_a + s alpha_b.
    Populations are matched by the Hungarian algorithm on the distance between their means and
    covariances.

    Parameters
    ----------
    law_a, law_b : GaussianLoadings or MixtureLoadings
        The same rank and number of inputs, in the same latent coordinates. When their numbers
        of populations differ, the law with fewer is first written as the same law with as many
        (its populations split into identical copies, each matched to one of the other law's),
        so that the path starts at law_a and ends at law_b exactly.
    s : float
        Position in [0, 1].

    Returns
    -------
    GaussianLoadings (both laws Gaussian) or MixtureLoadings
    """
    s = _fraction(s)
    comps_a, w_a, comps_b, w_b = _aligned(law_a, law_b)
    return _interpolated(
        comps_a,
        w_a,
        comps_b,
        w_b,
        s,
        isinstance(law_a, GaussianLoadings) and isinstance(law_b, GaussianLoadings),
    )


def _interpolated(comps_a, w_a, comps_b, w_b, s: float, gaussian: bool):
    rank, n_inputs = comps_a[0].rank, comps_a[0].n_inputs
    comps = [
        GaussianLoadings(
            (1.0 - s) * a.mean + s * b.mean, (1.0 - s) * a.cov + s * b.cov, rank, n_inputs
        )
        for a, b in zip(comps_a, comps_b, strict=True)
    ]
    if gaussian:
        return comps[0]
    weights = (1.0 - s) * w_a + s * w_b
    return MixtureLoadings(comps, weights / weights.sum())


# --- counts along the weight path ------------------------------------------------------------
def _counter(fun, name: str, seed) -> Callable[[dict], int]:
    """``fun(weights)`` (with ``seed=seed`` when it takes a seed) checked to be a count."""
    if not callable(fun):
        raise TypeError(f"{name} must be callable (weights -> int), got {type(fun).__name__}")
    try:
        params = inspect.signature(fun).parameters
        takes_seed = "seed" in params or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
        )
    except (TypeError, ValueError):  # a builtin without a signature
        takes_seed = False

    def count(weights: dict) -> int:
        value = fun(weights, seed=seed) if takes_seed else fun(weights)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must return an int (a count), got {type(value).__name__}")
        if value < 0:
            raise ValueError(f"{name} must return a count >= 0, got {value}")
        return int(value)

    return count


def _refine(count, lo, c_lo, hi, c_hi, tol, budget) -> list[tuple[float, float, int, int]]:
    """Brackets (lo, hi, count_lo, count_hi) of every change of ``count`` between lo and hi seen
    by bisection: both halves are refined where the midpoint's count differs from both ends."""
    if c_lo == c_hi:
        return []
    if hi - lo <= tol or budget[0] <= 0:
        return [(lo, hi, c_lo, c_hi)]
    mid = 0.5 * (lo + hi)
    budget[0] -= 1
    c_mid = count(mid)
    return _refine(count, lo, c_lo, mid, c_mid, tol, budget) + _refine(
        count, mid, c_mid, hi, c_hi, tol, budget
    )


def _joined(brackets: list, tol: float) -> list[tuple[float, float, int, int, bool]]:
    """Brackets (lo, hi, before, after, located) with touching located brackets joined while
    their union is at most 2 tol long: changes closer than tol are not resolved from each other
    (as where the count at a single s, a marginal state on the bifurcation, differs from both
    sides)."""
    out: list = []
    for lo, hi, before, after in brackets:
        located = hi - lo <= tol
        if out and out[-1][4] and located and out[-1][1] == lo and hi - out[-1][0] <= 2 * tol:
            out[-1] = (out[-1][0], hi, out[-1][2], after, True)
        else:
            out.append((lo, hi, before, after, located))
    return out


def locate_bifurcations(
    weights_a: dict,
    weights_b: dict,
    epoch_a: float,
    epoch_b: float,
    *,
    time: str,
    predict: Callable[[dict], int] | None,
    observe: Callable[[dict], int],
    tol: float = 1e-3,
    seed=0,
    grid: int = 9,
    max_evaluations: int = 200,
) -> list[BifurcationTiming]:
    """Locate where the predicted and the observed numbers of stable attractors change between
    two checkpoints, on the straight path W(s) = (1 - s) W_a + s W_b of every weight array.

    Each count is evaluated at ``grid`` evenly spaced s (0 and 1 included); every change between
    neighbouring grid points is bisected until its bracket is shorter than ``tol`` (both halves
    are refined where the midpoint's count differs from both ends, so several changes in one grid
    cell are all found). Two changes that cancel inside one grid cell are not seen. Touching
    brackets whose union is at most 2 tol long are joined into one change (changes closer than
    tol are not resolved; this also covers a count that differs from both sides at the one s
    where a state is marginal, such as a grid point on the bifurcation): its ``bracket`` is then
    up to 2 tol long, and its position still within tol of the change.

    Parameters
    ----------
    weights_a, weights_b : dict of array_like
        The weights at the two checkpoints (same names and shapes), e.g.
        ``run.checkpoints[k].weights``.
    epoch_a, epoch_b : float
        Their training times; epoch(s) = epoch_a + s (epoch_b - epoch_a).
    time : {"continuous", "discrete"}
        The network's time convention; the weights are checked to form a network in it
        (:meth:`lowrank.dynamics.systems.Dynamics.from_weights`).
    predict, observe : callable
        ``predict(weights) -> int``: stable attractors predicted by the mean-field theory;
        ``observe(weights) -> int``: stable attractors of the network (e.g. from
        :func:`lowrank.find_fixed_points`). Each is called with ``seed=seed`` as well when it
        takes a ``seed`` argument, so that every s is searched from the same random starts.
        ``predict`` may be None (only the network's changes; the prediction's on the path
        between fitted laws: :func:`locate_law_bifurcations`).
    tol : float
        Length in s below which a bracket counts as located (the position's error is at most
        tol / 2, or tol for joined brackets).
    seed : int
        Passed to ``predict`` and ``observe`` when they take a seed.
    grid : int
        Grid points in s (at least 2).
    max_evaluations : int
        Bisection evaluations at most per count (beyond the grid); brackets not shrunk below
        ``tol`` when they run out are returned with ``located=False``.

    Returns
    -------
    list of BifurcationTiming
        Predicted events, then observed ones, each in order of s.

    Raises
    ------
    TypeError, ValueError
        On bad arguments, naming the argument (also when a callable returns no count).

    Warns
    -----
    ConvergenceWarning
        When a bracket could not be shrunk below ``tol`` within ``max_evaluations``.

    Examples
    --------
    Between two checkpoints of a rank-R run (``run = lowrank.load_run(path)``):

    >>> from lowrank import GaussianLoadings, MeanField, find_fixed_points
    >>> def observe(w, seed):  # doctest: +SKIP
    ...     return find_fixed_points(w, time="discrete", seed=seed).n_stable
    >>> def predict(w, seed):  # doctest: +SKIP
    ...     rows = np.hstack([w["m"], w["n"], w["weight_in"]])
    ...     law = GaussianLoadings.fit(rows, rank=2, n_inputs=2)
    ...     return MeanField(law, time="discrete").fixed_points(seed=seed).n_attractors
    >>> a, b = run.checkpoints[5], run.checkpoints[6]  # doctest: +SKIP
    >>> locate_bifurcations(a.weights, b.weights, a.epoch, b.epoch, time="discrete",
    ...                     predict=predict, observe=observe)  # doctest: +SKIP
    """
    from .dynamics.systems import Dynamics

    a, b = _weights(weights_a, "weights_a"), _weights(weights_b, "weights_b")
    _check_pair(a, b)
    epoch_a, epoch_b = as_float(epoch_a, "epoch_a"), as_float(epoch_b, "epoch_b")
    time = choose(time, "time", ("continuous", "discrete"))
    Dynamics.from_weights(a, time)  # the weights must form a network
    tol = as_float(tol, "tol", positive=True)
    grid = as_int(grid, "grid", minimum=2)
    max_evaluations = as_int(max_evaluations, "max_evaluations", minimum=0)
    seed_sequence(seed)
    counters = {"observed": _counter(observe, "observe", seed)}
    if predict is not None:
        counters = {"predicted": _counter(predict, "predict", seed), **counters}
    out: list[BifurcationTiming] = []
    for kind, counter in counters.items():
        out += _locate(
            kind, lambda s, counter=counter: counter(_on_path(a, b, s)), epoch_a, epoch_b,
            grid, tol, max_evaluations,
        )
    _warn_loose("locate_bifurcations", out, tol, max_evaluations)
    return out


def _locate(kind, count_at, epoch_a, epoch_b, grid, tol, max_evaluations) -> list:
    """The changes of ``count_at(s)`` on [0, 1]: counted on the grid, each change bisected
    (``_refine``), touching brackets joined (``_joined``)."""
    cache: dict[float, int] = {}

    def count(s: float) -> int:
        if s not in cache:
            cache[s] = count_at(s)
        return cache[s]

    points = np.linspace(0.0, 1.0, grid)
    counts = [count(float(s)) for s in points]
    budget = [max_evaluations]
    brackets = []
    for i in range(grid - 1):
        brackets += _refine(
            count, float(points[i]), counts[i], float(points[i + 1]), counts[i + 1], tol, budget
        )
    return [
        BifurcationTiming(
            kind, 0.5 * (lo + hi), epoch_a + 0.5 * (lo + hi) * (epoch_b - epoch_a), before, after,
            located, (lo, hi), (epoch_a, epoch_b), "count",
        )
        for lo, hi, before, after, located in _joined(brackets, tol)
    ]


def _warn_loose(where: str, events: list, tol: float, max_evaluations: int) -> None:
    loose = [t for t in events if not t.located]
    if loose:
        widths = ", ".join(f"{t.kind} [{t.bracket[0]:.4g}, {t.bracket[1]:.4g}]" for t in loose)
        warnings.warn(
            f"{where}: {len(loose)} change(s) not bracketed to tol={tol:g} within "
            f"max_evaluations={max_evaluations}: {widths}",
            ConvergenceWarning,
            stacklevel=3,
        )


def locate_law_bifurcations(
    law_a,
    law_b,
    epoch_a: float,
    epoch_b: float,
    *,
    time: str,
    inputs=None,
    tol: float = 1e-3,
    seed=0,
    grid: int = 9,
    max_evaluations: int = 200,
) -> list[BifurcationTiming]:
    """Locate where the mean field's number of stable attractors changes on the straight path
    between two fitted laws (:func:`interpolate_loadings`), by counting and bisection as in
    :func:`locate_bifurcations`.

    The path starts at law_a and ends at law_b exactly (also when their numbers of populations
    differ), so the predicted counts at its ends are those of the two checkpoints' predictions.

    Parameters
    ----------
    law_a, law_b : GaussianLoadings or MixtureLoadings
        The laws fitted at the two checkpoints, in the same latent coordinates
        (:func:`rotate_loadings`, :func:`alignment`).
    epoch_a, epoch_b : float
        Their training times; epoch(s) = epoch_a + s (epoch_b - epoch_a).
    time : {"continuous", "discrete"}
    inputs : array_like (K,), optional
        The constant input under which attractors are counted (default zeros).
    tol, seed, grid, max_evaluations
        As for :func:`locate_bifurcations`; every s is searched from the same seed.

    Returns
    -------
    list of BifurcationTiming
        kind "predicted", event "count", in order of s.
    """
    from .meanfield import MeanField

    comps_a, w_a, comps_b, w_b = _aligned(law_a, law_b)  # matched once for every s
    gaussian = isinstance(law_a, GaussianLoadings) and isinstance(law_b, GaussianLoadings)
    epoch_a, epoch_b = as_float(epoch_a, "epoch_a"), as_float(epoch_b, "epoch_b")
    time = choose(time, "time", ("continuous", "discrete"))
    tol = as_float(tol, "tol", positive=True)
    grid = as_int(grid, "grid", minimum=2)
    max_evaluations = as_int(max_evaluations, "max_evaluations", minimum=0)
    seed_sequence(seed)

    def count_at(s: float) -> int:
        law = _interpolated(comps_a, w_a, comps_b, w_b, s, gaussian)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a count, as the table's
            found = MeanField(law, time=time).fixed_points(inputs, seed=seed)
        return int(found.n_attractors)

    out = _locate("predicted", count_at, epoch_a, epoch_b, grid, tol, max_evaluations)
    _warn_loose("locate_law_bifurcations", out, tol, max_evaluations)
    return out


# --- continuation of the mean field between fitted laws --------------------------------------
def _attractors(meanfield, inputs, n_starts, seed) -> int:
    """Stable attractors of the mean field: stable fixed points plus stable manifolds (g = 0),
    stable stationary states (g > 0)."""
    if meanfield.g == 0:
        return meanfield.fixed_points(inputs, n_starts=n_starts, seed=seed).n_attractors
    states = meanfield.stationary_states(inputs, n_starts=n_starts, seed=seed)
    return int(np.count_nonzero(states.stable))


def continue_prediction(
    law_a,
    law_b,
    epoch_a: float = 0.0,
    epoch_b: float = 1.0,
    *,
    time: str,
    g: float = 0.0,
    inputs=None,
    phi="tanh",
    n_values: int = 11,
    n_starts: int | None = None,
    seed=0,
    tol: float = 1e-10,
) -> list[BifurcationTiming]:
    """Predicted bifurcations between two checkpoints by continuation of the mean field along the
    straight path between their fitted laws (:func:`interpolate_loadings`).

    The stationary states of MeanField(law(s), g, phi, time) are followed in s in [0, 1] by
    pseudo-arclength continuation (:func:`lowrank.bifurcation.bifurcation_diagram`), which locates
    folds, branch points (pitchforks, and the birth of rings), Hopf points and chaos onsets to
    better than 1e-6 in s. The numbers of stable attractors before and after each event are those
    of the mean field (``fixed_points().n_attractors`` for g = 0, the stable stationary states
    for g > 0) halfway between consecutive event positions (and the ends of the path).

    Parameters
    ----------
    law_a, law_b : GaussianLoadings or MixtureLoadings
        The laws fitted at the two checkpoints: the same rank, inputs and number of populations,
        in the same latent coordinates (factors from a truncated SVD at each checkpoint are
        defined up to an orthogonal R x R transform: align them with :func:`align_factors`
        before fitting).
    epoch_a, epoch_b : float
        Their training times.
    time : {"continuous", "discrete"}
    g : float
        Strength of the random bulk kept by the prediction.
    inputs : array_like (K,), optional
        Constant inputs u (zero if omitted).
    phi : str or sympy expression
        The nonlinearity (see :class:`lowrank.MeanField`).
    n_values : int
        Values of s (evenly spaced on [0, 1]) where branches are sampled; multi-start solves run
        at about 8 of them.
    n_starts : int, optional
        Starts of every multi-start solve (MeanField default if None).
    seed : int
        Seed of the multi-start solves.
    tol : float
        Residual tolerance of every Newton solve.

    Returns
    -------
    list of BifurcationTiming
        kind "predicted", ``event`` the continuation's event kind, in order of s, one record per
        position (coinciding events, such as symmetric folds, together: ``n_events``); events
        the continuation detected but could not locate (``BifurcationDiagram.unresolved``) have
        ``located=False`` and ``bracket`` the interval where they lie.

    Warns
    -----
    ConvergenceWarning
        When the continuation left something unresolved, or a multi-start count is incomplete.
    """
    from .bifurcation import EVENT_KINDS, bifurcation_diagram
    from .meanfield import MeanField

    comps_a, w_a, comps_b, w_b = _aligned(law_a, law_b)
    gaussian = isinstance(law_a, GaussianLoadings) and isinstance(law_b, GaussianLoadings)
    epoch_a, epoch_b = as_float(epoch_a, "epoch_a"), as_float(epoch_b, "epoch_b")
    time = choose(time, "time", ("continuous", "discrete"))
    g = as_float(g, "g", minimum=0.0)
    n_values = as_int(n_values, "n_values", minimum=2)
    if n_starts is not None:
        n_starts = as_int(n_starts, "n_starts", minimum=1)
    seed_sequence(seed)
    tol = as_float(tol, "tol", positive=True)
    K = comps_a[0].n_inputs
    u = np.zeros(K) if inputs is None else as_array(inputs, "inputs", shape=(K,), allow_empty=True)

    def meanfield(s: float) -> MeanField:
        law = _interpolated(comps_a, w_a, comps_b, w_b, min(max(s, 0.0), 1.0), gaussian)
        return MeanField(law, g=g, phi=phi, time=time)

    def build(s: float):
        if not 0.0 <= s <= 1.0:  # outside the path: no law (the continuation treats it as such)
            raise ValueError(f"s must lie in [0, 1], got {s}")
        return meanfield(s), u

    diagram = bifurcation_diagram(
        build, "s", np.linspace(0.0, 1.0, n_values), n_starts=n_starts, seed=seed, tol=tol
    )
    events = diagram.events
    found = [(e.parameter, e.parameter, e.parameter, e.kind, True) for e in events]
    found += [
        (0.5 * (v.interval[0] + v.interval[1]), v.interval[0], v.interval[1], v.kind, False)
        for v in diagram.unresolved
        if v.kind in EVENT_KINDS
    ]
    found.sort(key=lambda item: item[0])
    groups: list[list] = []  # events at one position (symmetric partners) share one record
    for item in found:
        if groups and item[0] - groups[-1][-1][0] <= _SAME_EVENT:
            groups[-1].append(item)
        else:
            groups.append([item])
    edges = [0.0, *(group[0][0] for group in groups), 1.0]
    counts = [
        _attractors(meanfield(0.5 * (lo + hi)), u, n_starts, seed)
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    ]
    out = []
    for k, group in enumerate(groups):
        s = float(np.mean([item[0] for item in group]))
        out.append(
            BifurcationTiming(
                "predicted",
                s,
                epoch_a + s * (epoch_b - epoch_a),
                counts[k],
                counts[k + 1],
                all(item[4] for item in group),
                (float(min(item[1] for item in group)), float(max(item[2] for item in group))),
                (epoch_a, epoch_b),
                "+".join(sorted({item[3] for item in group})),
                len(group),
            )
        )
    return out


# --- pairing ---------------------------------------------------------------------------------
def persistent_changes(events) -> tuple[list[BifurcationTiming], int]:
    """The changes of one kind on one path that persist to its end: an attractor gained and lost
    again (or lost and regained) on the path is a transient and is left out.

    The straight path between two checkpoints is not the path training took, so a transient on
    it is not an event of training; what persists to the next checkpoint is. The attractors the
    events gain (+1 each) and lose (-1 each) are taken in order of s, and each one cancels the
    latest uncancelled one of the opposite sign before it (as brackets match); what is left is
    the net change count_after(1) - count_before(0), attributed to the events that made it.

    Parameters
    ----------
    events : sequence of BifurcationTiming
        The events of one kind ("predicted" or "observed") on one path.

    Returns
    -------
    kept : list of BifurcationTiming
        The events that keep at least one attractor of the net change, with count_after set so
        that ``new_attractors`` is what they keep, in order of s.
    transients : int
        The attractors left out (gained and lost, or lost and regained, on the path).
    """
    if not all(isinstance(e, BifurcationTiming) for e in events):
        raise TypeError("events must be a sequence of BifurcationTiming")
    order = sorted(range(len(events)), key=lambda i: events[i].s)
    stack: list[tuple[int, int]] = []  # (event, sign) of uncancelled attractors
    for i in order:
        sign = 1 if events[i].new_attractors > 0 else -1
        for _ in range(abs(events[i].new_attractors)):
            if stack and stack[-1][1] == -sign:
                stack.pop()
            else:
                stack.append((i, sign))
    kept_units = np.bincount([i for i, _ in stack], minlength=len(events))
    transients = sum(abs(e.new_attractors) for e in events) - len(stack)
    kept = [
        replace(events[i], count_after=events[i].count_before
                + int(np.sign(events[i].new_attractors)) * int(kept_units[i]))
        for i in order if kept_units[i]
    ]
    return kept, int(transients)


def pair_bifurcations(predicted, observed, interval: float | None = None) -> list[BifurcationPair]:
    """Pair each attractor gained (or lost) by the prediction with one gained (lost) by the
    network, one to one, nearest in epochs (Hungarian algorithm on the epoch differences).

    An event changing the count by k stands for |k| attractors gained (k > 0) or lost (k < 0),
    each paired on its own: where the mean field of a symmetric law creates two attractors at
    once (two symmetric folds, or a pitchfork of a pair), the trained network, whose symmetry is
    broken at finite N, creates them in two events close together; each of them is paired with
    one attractor of the predicted event. Events that change no count (a branch point between
    unstable branches) are left out.

    Parameters
    ----------
    predicted, observed : sequence of BifurcationTiming
    interval : float, optional
        The checkpoint interval in epochs; default, per pair, the longer of the intervals its
        two events lie in (``BifurcationTiming.interval``): they may lie in different
        intervals, as when the prediction lags the network across a checkpoint.

    Returns
    -------
    list of BifurcationPair
        One per attractor gained or lost: (predicted event, observed event, predicted epoch -
        observed epoch, within one interval), in order of epoch; an event of |k| > 1 appears in
        up to |k| pairs; an attractor left unpaired appears with None on the other side, NaN and
        False.
    """
    for name, events in (("predicted", predicted), ("observed", observed)):
        if not all(isinstance(e, BifurcationTiming) for e in events):
            raise TypeError(f"{name} must be a sequence of BifurcationTiming")
    if interval is not None:
        interval = as_float(interval, "interval", positive=True)
    # one unit per attractor gained (+1) or lost (-1)
    pred = [e for e in predicted for _ in range(abs(e.new_attractors))]
    obs = [e for e in observed for _ in range(abs(e.new_attractors))]
    big = 1e300
    cost = np.array(
        [
            [
                abs(p.epoch - o.epoch)
                if np.sign(p.new_attractors) == np.sign(o.new_attractors) else big
                for o in obs
            ]
            for p in pred
        ]
    ).reshape(len(pred), len(obs))
    rows, cols = linear_sum_assignment(cost) if cost.size else (np.zeros(0, int),) * 2
    pairs, used_p, used_o = [], set(), set()
    for i, j in zip(rows, cols, strict=True):
        if cost[i, j] >= big:
            continue
        p, o = pred[i], obs[j]
        diff = p.epoch - o.epoch
        limit = max(p.interval, o.interval) if interval is None else interval
        pairs.append(BifurcationPair(p, o, diff, bool(abs(diff) <= limit)))
        used_p.add(i)
        used_o.add(j)
    pairs += [
        BifurcationPair(p, None, np.nan, False) for i, p in enumerate(pred) if i not in used_p
    ]
    pairs += [BifurcationPair(None, o, np.nan, False) for j, o in enumerate(obs) if j not in used_o]
    return sorted(pairs, key=lambda q: (q.predicted or q.observed).epoch)
