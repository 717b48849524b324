"""One checkpoint's analysis: predicted against observed attractors (``analyse_checkpoint``).

At one checkpoint of a training run (``emergence`` runs this at each), the weights are reduced to
rank-R factors (``lowrank.emergence_factors``) and:

- the prediction: the neurons' rows (m, n, input weights, bias; the rows of ``project``) are
  fitted by a Gaussian or a mixture of P Gaussian populations (Beiran et al. 2021, Neural Comput.
  33:1572), P chosen by resampling (Dubreuil et al. 2022, Nat. Neurosci. 25:783) unless given,
  and the attractors of the fitted law are the fixed points of its mean field at zero input (the
  bias an input channel held at 1), with a random bulk of strength g the static states of the
  theory with a bulk (Mastrogiuseppe & Ostojic 2018, Neuron 99:609); one :class:`Prediction` per
  way of building the factors ("truncated", "resolvent", "bulk", or a rank-R model's "own");
- the observation: the fixed points of the full network (``find_fixed_points``), projected on the
  same n vectors; a continuous family of fixed points (a ring) counts as one attractor;
- their agreement: the numbers of attractors, the distances between predicted and observed stable
  points in kappa space after optimal assignment (Hungarian algorithm), relative to |kappa|
  (``relative_errors``), and the finite-size check (``finite_size_check``): a network of large N
  drawn from the fitted law (whitened loadings) is run to its attractors, which separates the
  error of the fit from the finite-N error;
- the outlier eigenvalues of W: past the stability boundary of the origin, and outside the bulk.

:class:`CheckpointAnalysis` gathers them; ``lowrank.emergence_report`` compares them over a run.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment
from threadpoolctl import threadpool_limits

from ._checks import ConvergenceWarning
from ._repr import compact_repr
from .dynamics import unique_points
from .emergence_factors import FULL_RANK_PREDICTIONS, _Factors, _factors
from .fixedpoints import Dynamics, find_fixed_points
from .populations import count_attractors
from .projection import loading_rows

__all__ = [
    "KAPPA_FLOOR",
    "LARGE_N",
    "CheckpointAnalysis",
    "Prediction",
    "analyse_checkpoint",
    "finite_size_check",
    "relative_errors",
]

#: matched pairs whose observed attractor lies closer than this to the origin (in kappa) enter the
#: relative position error only through the other pairs (their relative error is undefined)
KAPPA_FLOOR = 0.05
#: default N of the finite-size check
LARGE_N = 2000


@dataclass
class Prediction:
    """One mean-field prediction of the attractors at one checkpoint.

    Attributes
    ----------
    method : str
        "bulk" (rank-R part of W - W0 with a random bulk of strength g), "truncated" (rank-R SVD of
        W, no bulk), "resolvent" (rank-R SVD of W with the rest of W through its response, no
        bulk) or "own" (a rank-R model's own m, n).
    kappa, stable, marginal : ndarray
        The predicted fixed points (static states with a bulk), (points, R), and their class.
    n_attractors : int
        Stable isolated points plus stable manifolds (a predicted ring is one attractor).
    n_manifolds : int
        Continuous families of predicted fixed points (rings, lines), whatever their stability.
    g : float
        Strength of the bulk the prediction keeps (0 without one).
    populations : int
        P, the number of Gaussian populations of the fitted law.
    population_method : str
        How P was chosen: "resample", "bic" or "fixed".
    population_evidence : list of dict
        What each P tried gave (resampled and large-N counts, see ``lowrank.populations``);
        empty when P was not chosen by resampling.
    observed_kappa : ndarray (points, R)
        The observed fixed points projected on this prediction's n vectors.
    distances : ndarray
        |kappa_pred - kappa_obs| of the matched stable points (Hungarian assignment).
    relative_errors : ndarray
        distances / |kappa_obs| of the pairs whose observed |kappa| >= ``KAPPA_FLOOR``.
    complete : bool
        Every start of the mean-field solver converged.
    fit_converged : bool
        The EM fit of the mixture converged (True for one Gaussian).
    populations_accepted : bool
        With P chosen by resampling: some P passed the test (its resampled networks and its mean
        field hold the observed attractor count); True for a given P or the BIC.
    fit_residual : float
        The last change of the EM lower bound (0 for one Gaussian).
    finite_size : dict or None
        The finite-size check: ``N``, ``stable`` (attractors the resampled network settles on),
        ``unsettled`` (runs that did not settle), or None when not run.
    settles : bool or None
        Checked only when no stable point is predicted (else None): whether the fitted law's own
        dynamics come to rest. False when its latent map or flow (``MeanField.simulate``, g = 0)
        keeps moving from some start, or its stationary states with a bulk are chaotic: the law
        then has a limit cycle or chaos, and its 0 predicted attractors are what the law does,
        not solutions the solver missed.
    loadings : GaussianLoadings or MixtureLoadings
        The fitted law of the rows (m, n, bias) (``rest_rows``: the input weights, which do not
        act at rest, are left out; a nonzero bias is its one input column, held at 1.0).
    """

    __repr__ = compact_repr

    method: str
    kappa: np.ndarray
    stable: np.ndarray
    marginal: np.ndarray
    n_attractors: int
    n_manifolds: int = 0
    g: float = 0.0
    populations: int = 1
    population_method: str = "fixed"
    population_evidence: list = field(default_factory=list)
    observed_kappa: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    distances: np.ndarray = field(default_factory=lambda: np.zeros(0))
    relative_errors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    complete: bool = True
    fit_converged: bool = True
    populations_accepted: bool = True
    fit_residual: float = 0.0
    finite_size: dict | None = None
    loadings: object = field(default=None, repr=False)
    settles: bool | None = None

    @property
    def position_error(self) -> float | None:
        """Median relative error of the matched attractors' positions (None without any pair
        away from the origin)."""
        return float(np.median(self.relative_errors)) if self.relative_errors.size else None

    @property
    def resampled_stable(self) -> list[int] | None:
        """Stable attractors of each network the resampling test drew from the chosen P's law at
        the trained network's own size (``lowrank.populations.choose_populations``); None when
        P was not chosen by resampling (or its law was too fine to draw at that size)."""
        for entry in self.population_evidence:
            if entry["P"] == self.populations and not entry.get("skipped"):
                return [int(count) for count in entry["resampled_stable"]]
        return None


def relative_errors(predicted: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances of optimally matched points and their errors relative to the observed |kappa|.

    The predicted and observed stable points are assigned one to one (Hungarian algorithm,
    ``scipy.optimize.linear_sum_assignment`` on Euclidean distances; min(counts) pairs). For each
    pair, e = |kappa_pred - kappa_obs| / |kappa_obs|; pairs with |kappa_obs| < ``KAPPA_FLOOR``
    have no relative error (an attractor at the origin) and count only in the distances.

    Returns
    -------
    distances : ndarray (pairs,)
    errors : ndarray (pairs away from the origin,)
    """
    pairs = _pairs(predicted, observed)
    if not pairs[0].size:
        return np.zeros(0), np.zeros(0)
    rows, cols = pairs
    distances = np.linalg.norm(predicted[rows] - observed[cols], axis=1)
    size = np.linalg.norm(observed[cols], axis=1)
    away = size >= KAPPA_FLOOR
    return distances, distances[away] / size[away]


def _pairs(predicted: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (rows in predicted, columns in observed) of the optimal one-to-one matching."""
    if not len(predicted) or not len(observed):
        return np.zeros(0, int), np.zeros(0, int)
    cost = np.linalg.norm(predicted[:, None, :] - observed[None, :, :], axis=2)
    return linear_sum_assignment(cost)


@dataclass
class CheckpointAnalysis:
    """Everything ``emergence`` found at one checkpoint.

    ``predictions`` maps each method ("bulk", "truncated", "own") to its :class:`Prediction`;
    ``prediction`` names the main one, which ``predicted_kappa``, ``predicted_stable``,
    ``observed_kappa``, ``populations``, ``distances`` and ``fit_converged`` refer to.
    ``outliers`` are the eigenvalues past the stability boundary (unit circle for maps,
    Re lambda = 1 for flows), ``outliers_bulk`` those outside the bulk, |lambda| > ``bulk_edge``.
    ``observed_x`` holds the observed fixed points themselves, (points, N).
    """

    __repr__ = compact_repr

    checkpoint: int
    epoch: int
    loss: float
    eigenvalues: np.ndarray
    outliers: np.ndarray
    predictions: dict
    prediction: str
    observed_stable: np.ndarray
    observed_attractors: int
    observed_manifolds: int = 0
    outliers_bulk: np.ndarray = field(default_factory=lambda: np.zeros(0, complex))
    bulk_edge: float = 0.0
    rank: int = 0
    observed_converged: bool = True
    observed_x: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    @property
    def main(self) -> Prediction:
        """The main prediction (``predictions[prediction]``)."""
        return self.predictions[self.prediction]

    @property
    def predicted_kappa(self) -> np.ndarray:
        return self.main.kappa

    @property
    def predicted_stable(self) -> np.ndarray:
        return self.main.stable

    @property
    def observed_kappa(self) -> np.ndarray:
        return self.main.observed_kappa

    @property
    def populations(self) -> int:
        return self.main.populations

    @property
    def distances(self) -> np.ndarray:
        return self.main.distances

    @property
    def fit_converged(self) -> bool:
        return self.main.fit_converged

    def row(self) -> dict:
        """The table row (JSON-ready): checkpoint, epoch, loss, the two outlier counts, the main
        prediction's and the observed attractor counts (stable points plus stable manifolds),
        P and how it was chosen, the match, the position error, the counts and errors of the
        "truncated", "bulk" and "resolvent" predictions (None where not made), the counts of
        the networks drawn from the chosen law at the trained size (``resampled_stable``) and
        the finite-size check at large N."""
        main = self.main
        finite = main.finite_size or {}
        beside = {}
        for method in FULL_RANK_PREDICTIONS:
            p = self.predictions.get(method)
            beside[f"{method}_stable"] = None if p is None else p.n_attractors
            beside[f"{method}_match"] = (
                None if p is None else p.n_attractors == self.observed_attractors
            )
            beside[f"{method}_position_error"] = None if p is None else p.position_error
        return {
            "checkpoint": self.checkpoint,
            "epoch": self.epoch,
            "loss": self.loss,
            "outliers": int(self.outliers.size),
            "outliers_bulk": int(self.outliers_bulk.size),
            "prediction": self.prediction,
            "rank": self.rank,
            "g": main.g,
            "predicted_stable": main.n_attractors,
            "observed_stable": self.observed_attractors,
            "predicted_points": int(main.stable.size),
            "observed_points": int(self.observed_stable.size),
            "predicted_manifolds": main.n_manifolds,
            "observed_manifolds": self.observed_manifolds,
            "populations": main.populations,
            "population_method": main.population_method,
            "population_evidence": _evidence(main.population_evidence),
            "match": main.n_attractors == self.observed_attractors,
            "max_distance": float(main.distances.max()) if main.distances.size else None,
            "position_error": main.position_error,
            **beside,
            "resampled_stable": main.resampled_stable,
            "finite_size_N": finite.get("N"),
            "finite_size_stable": finite.get("stable"),
            "fit_converged": main.fit_converged,
            "populations_accepted": main.populations_accepted,
            "meanfield_complete": main.complete,
            "predicted_settles": main.settles,
            "observed_converged": self.observed_converged,
        }


def _evidence(evidence: list) -> list:
    """The population evidence as plain JSON-ready values."""
    out = []
    for item in evidence:
        entry = {}
        for key, value in dict(item).items():
            if isinstance(value, np.ndarray):
                value = value.tolist()
            elif isinstance(value, np.generic):
                value = value.item()
            entry[key] = value
        out.append(entry)
    return out


def _leading_eigenvalues(values: np.ndarray, time: str, count: int, edge: float) -> np.ndarray:
    """The ``count`` least stable eigenvalues, by modulus (maps) or real part (flows), and every
    eigenvalue outside the bulk (|lambda| > edge)."""
    key = np.abs(values) if time == "discrete" else values.real
    order = np.argsort(-key, kind="stable")
    keep = np.zeros(values.size, bool)
    keep[order[:count]] = True
    keep |= np.abs(values) > max(edge, _zero(values))
    return values[order[keep[order]]]


def _eigenvalues(W: np.ndarray) -> np.ndarray:
    """All eigenvalues of W (one BLAS thread: multi-threaded OpenBLAS is slow on small matrices)."""
    with threadpool_limits(1):
        return np.linalg.eigvals(W)


def _zero(values: np.ndarray) -> float:
    """The modulus below which an eigenvalue is zero (round-off of a rank-deficient W)."""
    return 1e-9 * max(float(np.abs(values).max(initial=0.0)), 1.0)


def _outliers(values: np.ndarray, time: str) -> np.ndarray:
    """Eigenvalues of W past the boundary where the origin destabilises: |lambda| > 1 (map),
    Re lambda > 1 (flow dx/dt = -x + W tanh(x), whose Jacobian at 0 is W - 1)."""
    return values[(np.abs(values) if time == "discrete" else values.real) > 1.0]


def _beyond(values: np.ndarray, edge: float) -> np.ndarray:
    """Eigenvalues outside the bulk disk |lambda| <= edge (without a bulk: the nonzero ones)."""
    return values[np.abs(values) > max(edge, _zero(values))]


def _fit(rows, rank, n_inputs, populations, seed, *, observed, time, g, slow_manifold_tol, inputs,
         observed_kappa=None):
    """The law of the rows (``lowrank.populations.fit_populations``): (loadings, method,
    evidence, EM converged, P accepted, EM residual).

    ``populations``: an int (P fixed), "bic" (Bayesian information criterion over full and tied
    mixtures) or "resample" (the smallest P whose resampled networks keep the ``observed``
    attractors, Dubreuil et al. 2022). ``emergence`` re-issues a non-converged EM fit or an
    unaccepted choice with the checkpoint.
    """
    from .populations import fit_populations

    if populations == "resample":
        extra = {"observed_stable": observed, "time": time, "g": g,
                 "slow_manifold_tol": slow_manifold_tol, "inputs": inputs,
                 "observed_kappa": observed_kappa}
    else:
        extra = {"covariance_type": "best"} if populations == "bic" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ConvergenceWarning)  # reported by emergence
        choice = fit_populations(rows, rank, n_inputs, populations, seed=seed, **extra)
    report = getattr(choice.loadings, "fit_report", None)
    converged = report is None or bool(report.converged)
    residual = 0.0 if report is None else report.residual
    evidence = list(choice.evidence)
    return choice.loadings, choice.method, evidence, converged, bool(choice.accepted), residual


def finite_size_check(
    loadings,
    time: str,
    N: int = LARGE_N,
    g: float = 0.0,
    inputs=None,
    kappa_starts=None,
    n_starts: int = 24,
    max_steps: int = 3000,
    tol: float = 1e-8,
    seed=0,
) -> dict:
    """Attractors of a large network drawn from the fitted law: the finite-size check.

    A network of N neurons is drawn with whitened loadings (its sample statistics match the law
    exactly, ``LowRankNetwork.sample(..., whiten=True)``) and a fresh bulk g chi, and run from
    states on its low-rank plane, x0 = m kappa0 + I u (the map's h0 = tanh(x0)), with kappa0 the
    given starts (e.g. the predicted attractors) and ``n_starts`` uniform draws in a box of
    twice their extent, until every run settles (max |G(x) - x| < tol) or ``max_steps``.
    The settled states are merged when their kappa agree to 1e-4 (relative). A prediction that
    differs from the observed network but agrees with this count errs by the network's finite
    size, not by the fit (the mean field is exact as N -> infinity).

    Returns
    -------
    dict
        ``N``, ``stable`` (distinct attractors reached), ``kappa`` (their positions, list),
        ``unsettled`` (runs that had not settled after ``max_steps``).

    Warns
    -----
    ConvergenceWarning
        When some runs had not settled (the count may miss attractors).
    """
    from .network import LowRankNetwork

    net = LowRankNetwork.sample(loadings, N, g=g, seed=seed, whiten=True)
    u = np.zeros(net.n_inputs) if inputs is None else np.asarray(inputs, float)
    c = net.inputs @ u
    low = net.m @ net.n.T / N
    W = low + net.g * net.chi if net.has_bulk else low
    system = Dynamics(
        W, np.zeros((N, 0)), c, time, net.n, None if net.has_bulk else (net.m, net.n)
    )
    rng = np.random.default_rng(seed)
    known = np.zeros((0, net.rank)) if kappa_starts is None else np.asarray(kappa_starts, float)
    half = 2.0 * max(1.0, float(np.abs(known).max(initial=0.0)))
    k0 = np.concatenate([known, rng.uniform(-half, half, (n_starts, net.rank))])
    X = k0 @ net.m.T + c
    if time == "discrete":
        X = np.tanh(X)
    settled = np.zeros(len(X), bool)
    with threadpool_limits(1):
        for _ in range(0, max_steps, 10):
            for _ in range(10):
                G = system.target(X)
                X = G if time == "discrete" else X + 0.2 * (G - X)
            settled = np.max(np.abs(system.target(X) - X), axis=1) < tol
            if settled.all():
                break
    kappa = system.project(X[settled])
    first = unique_points(kappa, 1e-4, 1e-4)[0] if len(kappa) else np.zeros(0, int)
    if not settled.all():
        warnings.warn(
            f"finite_size_check: {np.count_nonzero(~settled)} of {len(X)} runs of the N = {N} "
            f"network had not settled after {max_steps} steps (slow or not a fixed point): "
            "attractors may be missing from the count",
            ConvergenceWarning,
            stacklevel=3,
        )
    return {
        "N": int(N),
        "stable": int(len(first)),
        "kappa": kappa[first].tolist(),
        "unsettled": int(np.count_nonzero(~settled)),
    }


def _law_settles(
    meanfield, inputs=None, n_starts: int = 8, steps: int = 2000, tol: float = 1e-7, seed=0
) -> bool:
    """Whether the latent dynamics of a closed mean field (g = 0) come to rest.

    The latent map kappa_{t+1} = G(kappa_t) (or the flow dv/dt = -v + G(v), RK4 with dt = 0.1 for
    ``steps`` / 10 time units; ``MeanField.simulate``) is run from ``n_starts`` points drawn
    uniformly in the ball of radius ``meanfield.kappa_scale()``; it settles when every run ends
    at rest, max |G(v) - v| < tol (1 + |v|). A law whose overlap matrix has complex eigenvalues
    of modulus > 1 / <phi'> (e.g. one Gaussian fitted to a rotation-like truncated W; Beiran et
    al. 2021, Neural Comput. 33:1572) has no fixed point but the unstable origin and runs on a
    limit cycle: False. A run that is still converging slowly after ``steps`` also reads False.
    """
    rng = np.random.default_rng(seed)
    R = meanfield.rank
    direction = rng.standard_normal((n_starts, R))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    radius = meanfield.kappa_scale() * rng.uniform(0.05, 1.0, (n_starts, 1)) ** (1 / R)
    discrete = meanfield.time == "discrete"
    dt = 1.0 if discrete else 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # a diverging run: not at rest
        trajectory = meanfield.simulate(
            direction * radius, t_max=steps * dt, dt=dt, inputs=inputs
        )
    v = np.asarray(trajectory.v)[:, -1]
    if not np.all(np.isfinite(v)):
        return False
    kappa = np.asarray(trajectory.kappa)
    # the map's last step, or the flow's velocity dv/dt = kappa - v
    speed = np.abs(kappa[:, -1] - (kappa[:, -2] if discrete else v))
    return bool(np.all(speed < tol * (1.0 + np.abs(v).max(axis=1, keepdims=True))))


def rest_rows(factors: _Factors) -> tuple[np.ndarray, np.ndarray]:
    """The neurons' rows of the loadings that the attractors at rest depend on, and that rest's
    input: (m_i, n_i, b_i) and u = (1.0,) when the bias b is nonzero (``loading_rows`` without
    the input weights), else (m_i, n_i) and an empty u.

    At zero external input the input weights multiply 0 and drop out of the fixed-point
    equations, so the law whose attractors are compared with the network's is the law of these
    rows (the marginal of the joint law of all loadings). Fitting it to them, not to
    (m, n, I, b), keeps K fewer dimensions per population: at N = 100 the populations' size
    floor (``lowrank.populations.choose_populations``) falls from 2R + K + 3 to 2R + 3 neurons,
    so more populations can be tested. Measured on ``benchmarks/bench_emergence.py`` (full-rank
    3-bit flip-flops and Turner & Barak's runs, K = 3): counts matched at 43 of 48 checkpoints
    instead of 40, bifurcations on time 36 of 48 instead of 28.
    """
    return loading_rows(factors.m, factors.n, np.zeros((len(factors.m), 0)), factors.bias)


def _predict(
    method, factors: _Factors, time, populations, seed, observed, finite_size,
    slow_manifold_tol=None, observed_kappa=None,
) -> Prediction:
    """The mean-field prediction from factors m, n (N, R), the input weights (N, K), the bias
    and a bulk of strength g: the law is fitted to ``rest_rows`` (m, n, the bias as an input
    column), the attractors are those at zero input (bias at 1)."""
    from .meanfield import MeanField

    m, g = factors.m, factors.g
    R = m.shape[1]
    failed_starts: list = []  # warnings of the g = 0 searches, passed on below
    rows, inputs = rest_rows(factors)
    loadings, how, evidence, converged, accepted, residual = _fit(
        rows, R, inputs.size, populations, seed, observed=observed, time=time, g=g,
        slow_manifold_tol=slow_manifold_tol, inputs=inputs, observed_kappa=observed_kappa,
    )
    meanfield = MeanField(loadings, g=g, time=time)
    if g > 0:  # static states of the theory with a bulk (chaotic ones are not fixed points)
        found = meanfield.stationary_states(inputs=inputs, seed=seed)
        static = [p for p in found if not p.chaotic]
        kappa = np.array([p.kappa for p in static]).reshape(-1, R)
        stable = np.array([p.stable for p in static], bool)
        marginal = np.array([p.marginal for p in static], bool)
        attractors, manifolds = int(stable.sum()), 0
        settles = None if attractors else not any(p.chaotic for p in found)
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            found = meanfield.fixed_points(inputs=inputs, seed=seed)
        failed_starts += caught
        kappa = np.array(found.kappa).reshape(-1, R)
        stable = np.array(found.stable, bool).reshape(-1)
        marginal = np.array(found.marginal, bool).reshape(-1)
        attractors, manifolds = found.n_attractors, len(found.manifolds)
        settles = None if attractors else _law_settles(meanfield, inputs, seed=seed)
    prediction = Prediction(
        method, kappa, stable, marginal, attractors, manifolds, float(g),
        getattr(loadings, "n_populations", 1), how, evidence,
        complete=bool(found.complete), fit_converged=converged, populations_accepted=accepted,
        fit_residual=residual, loadings=loadings, settles=settles,
    )
    if finite_size:
        with warnings.catch_warnings(record=True) as unsettled:
            warnings.simplefilter("always", ConvergenceWarning)
            prediction.finite_size = finite_size_check(
                loadings, time, finite_size, g, inputs, kappa[stable], seed=seed
            )
        failed_starts += unsettled
    # a law that never comes to rest explains why its solver's starts, and the runs of its
    # large network, did not settle: emergence says so once; else their warnings are passed on
    for caught in failed_starts:
        if settles is not False or not issubclass(caught.category, ConvergenceWarning):
            warnings.warn(caught.message, stacklevel=2)
    return prediction


def analyse_checkpoint(
    weights: dict,
    time: str,
    rank=None,
    populations="resample",
    n_starts: int = 64,
    seed=0,
    n_eigenvalues: int = 8,
    initial: np.ndarray | None = None,
    finite_size: int | None = None,
    slow_manifold_tol: float | None = None,
    bulk_margin: float | None = None,
    prediction: str = "resolvent",
    eigenvalues: np.ndarray | None = None,
) -> dict:
    """Outliers, predictions and observed fixed points of one set of weights (see ``emergence``).

    ``initial`` is W0 (a full-rank network's initial weights; ignored for a rank-R model's own
    m, n): with it both "bulk" and "truncated" are computed, ``prediction`` naming the main one.
    ``eigenvalues``: all eigenvalues of W when already computed (``emergence`` has them).
    """
    dyn = Dynamics.from_weights(weights, time)
    values = _eigenvalues(dyn.W) if eigenvalues is None else eigenvalues
    factors, edge = _factors(weights, dyn, rank, initial, bulk_margin)
    main = prediction if prediction in factors else "own" if "own" in factors else "truncated"
    if main != prediction and main != "own":
        warnings.warn(
            f"analyse_checkpoint: no {prediction!r} prediction here (1 - W_rest or the closing "
            "1 - B of its first-order response is singular, so the rest's response diverges; "
            "see lowrank.emergence_factors._through_rest); the main prediction is 'truncated'",
            ConvergenceWarning,
            stacklevel=2,
        )
    readout = factors[main][1]
    observed = find_fixed_points(
        Dynamics(dyn.W, dyn.W_in, dyn.bias, time, readout),
        n_starts=n_starts, seed=seed, slow_manifold_tol=slow_manifold_tol,
    )
    count = count_attractors(observed)
    predictions = {}
    for method in [main] + [k for k in factors if k != main]:
        observed_kappa = Dynamics(
            dyn.W, dyn.W_in, dyn.bias, time, factors[method].n
        ).project(observed.x)
        p = _predict(
            method, factors[method], time, populations, seed, count,
            finite_size if method == main else None, slow_manifold_tol,
            observed_kappa[observed.stable],
        )
        populations = p.populations  # the predictions beside the main one use the same P
        p.observed_kappa = observed_kappa
        p.distances, p.relative_errors = relative_errors(
            p.kappa[p.stable], p.observed_kappa[observed.stable]
        )
        predictions[method] = p
    return {
        "eigenvalues": _leading_eigenvalues(values, time, n_eigenvalues, edge),
        "outliers": _outliers(values, time),
        "outliers_bulk": _beyond(values, edge),
        "bulk_edge": edge,
        "predictions": predictions,
        "prediction": main,
        "rank": factors[main][0].shape[1],
        "observed_stable": observed.stable,
        "observed_attractors": count,
        "observed_manifolds": len(observed.manifolds),
        "observed_converged": observed.converged,
        "observed_x": observed.x,
    }
