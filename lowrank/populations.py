"""How many Gaussian populations does a trained network's connectivity need? The resampling test.

Low-rank theory (Beiran et al. 2021, Neural Comput. 33:1572) describes a rank-R network by the
law of one neuron's row of loadings (m_1..m_R, n_1..n_R, I_1..I_K): a Gaussian, or a mixture of P
Gaussian populations. The number of populations is a modelling choice, and a likelihood criterion
(BIC) answers the wrong question: it asks how well the rows are described, not whether the
description keeps the network's dynamics. Dubreuil, Valente, Beiran, Mastrogiuseppe & Ostojic
(2022, Nat. Neurosci. 25:783) instead fit the law, *resample* networks from it and keep the
smallest P whose resampled networks still do what the trained one does. That is the test here:

for P = 1, 2, ..., ``max_populations``:

1. fit P populations to the rows (P = 1: the maximum-likelihood Gaussian; P > 1: EM,
   ``MixtureLoadings.fit``). Whitened draws need each population to hold more neurons than
   dimensions, and EM on few neurons in many dimensions (N = 100 rows of dimension 9-14, a
   trained 3-bit flip-flop) gives populations of 3-7 neurons: such a P could never be tested.
   When an EM population is smaller than ``min_population_size`` (default 2R + K + 2), the P
   populations are fitted instead by size-floored classification EM (:func:`floored_mixture`:
   every neuron in one population of at least that many neurons, each population its neurons'
   own mean and covariance). A P whose floor the N neurons cannot hold (P times the floor > N)
   keeps its EM fit, and is skipped when that cannot be whitened. The evidence records the fit
   of each P (``fit``, ``covariance``, ``population_sizes``);
2. draw ``n_networks`` networks at the trained N, each population with its fitted size and with
   its sample mean and covariance equal to the fitted ones (whitened draws,
   ``MixtureLoadings.sample(whiten=True)``), so that only what the law leaves out changes; with a
   bulk (g > 0) each draw gets a fresh chi;
3. count their attractors (``find_fixed_points``: strictly stable isolated fixed points, plus
   each transversally stable manifold of fixed points, or slow manifold with
   ``slow_manifold_tol``, as one), and, with a task, score them on it;
4. accept P when a strict majority of the draws has exactly ``observed_stable`` attractors (and
   a score no worse than the trained network's by more than ``accuracy_tol``), *and* the mean
   field of the fitted law (N -> infinity, ``MeanField.fixed_points``: the prediction that
   ``emergence`` reports) has ``observed_stable`` attractors too. Draws of the trained N can
   keep the attractors by finite-size luck (a ring that N neurons break into points, a fold that
   fluctuations cross) while the law itself predicts otherwise; requiring both keeps a P only
   when the theory's prediction is right.

With the observed attractors' positions (``observed_kappa``), "keep the attractors" also means
keeping them where they are: an accepted P whose mean-field attractors lie further than
``position_tol`` (median relative error after optimal matching) from the observed ones does not
end the search; the first P accepted with its positions within tolerance is the answer, else the
accepted P with the smallest position error. One Gaussian can hold the right number of
attractors in the wrong places (on a trained rank-2 1-bit flip-flop, N = 100: 20% off with
P = 1, 6% with P = 2, under 1% with P = 3).

The first accepted P is the answer. When no P up to ``max_populations`` is accepted, the smallest
P whose draws pass is returned (else the P whose draws agreed most often, among equals the one
whose mean-field count is nearest the observed one, then one whose mean-field positions agree,
then the smallest), not accepted, with a
warning: the reported prediction is then the least wrong of the mean fields tried, and a
bifurcation it misses by one attractor is not reported as a loss of all of them. As evidence
each P also records the count of one network drawn at ``large_N`` (cheap:
``find_fixed_points`` solves a network without bulk in its R latent dimensions), which separates
finite-size effects from the error of the fitted law. The mean-field and large-N checks need
g = 0 (with a bulk the latent dynamics are not closed); with a bulk the draws alone decide.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment
from threadpoolctl import threadpool_limits

from ._checks import (
    ConvergenceWarning,
    as_array,
    as_float,
    as_int,
    as_rng,
    choose,
    seed_sequence,
)
from ._repr import compact_repr
from .dynamics.systems import TIMES
from .loadings import EMReport, GaussianLoadings, MixtureLoadings
from .network import LowRankNetwork

__all__ = [
    "PopulationChoice",
    "choose_populations",
    "count_attractors",
    "fit_populations",
    "floored_mixture",
    "resampled_counts",
]

#: fixed-point search starts per drawn network (``choose_populations``, ``resampled_counts``)
RESAMPLE_STARTS = 32


@dataclass
class PopulationChoice:
    """The number of Gaussian populations chosen for a network's loadings, and why.

    Attributes
    ----------
    n_populations : int
        P, the number of populations chosen.
    loadings : GaussianLoadings or MixtureLoadings
        The law fitted with P populations (a GaussianLoadings when P = 1).
    method : str
        "resample" (the resampling test), "bic" (Bayesian information criterion) or "fixed"
        (P given by the caller).
    accepted : bool
        "resample": P passed the test, its draws and its mean field (False: no P up to the
        largest tried did; P is then the smallest whose draws passed though its mean field
        disagrees, else the one whose draws agreed most often, among equals the one whose
        mean-field count is nearest the observed count, then one whose mean-field positions
        agree, then the smallest). Always True for
        "bic" and "fixed".
    evidence : list of dict
        One entry per P tried (empty for "bic" and "fixed"), with keys ``P``,
        ``resampled_stable`` (attractors of each draw at the trained N), ``large_N_stable``
        (attractors of one draw at ``large_N``, None when not computed), ``meanfield_stable``
        (attractors of the mean field, None with a bulk), ``accuracy`` (task score of each draw,
        or None), ``agreement`` (fraction of draws that passed), ``complete`` (every fixed-point
        search of this P accounted for all its starts), ``fit_converged`` (EM converged),
        ``resampled_accepted`` (a strict majority of draws passed), ``meanfield_agrees`` (the
        mean field has the observed count, True when not computed), ``accepted`` (both),
        ``meanfield_position_error`` (median relative distance of the mean field's stable
        points to the observed ones after optimal matching; None without observed positions or
        matched points away from the origin), ``positions_agree`` (that error within
        ``position_tol``, True when not computed), ``fit`` (how the law was fitted: "gaussian"
        for P = 1, "EM", "size-floored CEM" when an EM population was below the floor, "too few
        neurons" when P floors do not fit in N), ``covariance`` ("full" or "tied", of the
        populations' laws), ``min_population_size`` (the floor), ``population_sizes`` (neurons
        per population in the draws) and, for a P that could not be tested, ``skipped`` (why).
    observed_stable : int or None
        The trained network's attractor count the test had to reproduce (None for "bic" and
        "fixed").
    fitted : list of GaussianLoadings or MixtureLoadings
        The law fitted for each P tried, in the order of ``evidence``.
    """

    __repr__ = compact_repr

    n_populations: int
    loadings: GaussianLoadings | MixtureLoadings
    method: str
    accepted: bool
    evidence: list[dict] = field(default_factory=list)
    observed_stable: int | None = None
    fitted: list = field(default_factory=list, repr=False)

    def summary(self) -> str:
        """One line: P, how it was chosen and the counts behind it."""
        if self.method != "resample":
            return f"P = {self.n_populations} ({self.method})"
        tried = "; ".join(
            f"P={e['P']}{' (size-floored)' if e.get('fit') == 'size-floored CEM' else ''}: "
            f"{e['resampled_stable']}"
            + (f" mf {e['meanfield_stable']}" if e["meanfield_stable"] is not None else "")
            for e in self.evidence
        )
        if self.accepted:
            verdict = "accepted"
        elif any(e.get("resampled_accepted") for e in self.evidence):
            verdict = "NOT accepted (its mean field disagrees)"
        else:
            verdict = "NOT accepted (best agreement)"
        return (
            f"P = {self.n_populations} by resampling, {verdict}: observed "
            f"{self.observed_stable} attractors; resampled {tried}"
        )


def count_attractors(found) -> int:
    """Attractors among fixed points found: each strictly stable isolated point and each
    transversally stable manifold (a ring, a line, a slow manifold) counted once.

    Parameters
    ----------
    found : FixedPoints or LatentFixedPoints
        A result of ``find_fixed_points`` or of ``MeanField.fixed_points``.
    """
    if hasattr(found, "n_attractors"):
        return int(found.n_attractors)
    isolated = np.asarray(found.stable, dtype=bool) & (np.asarray(found.on_manifold) < 0)
    return int(np.count_nonzero(isolated)) + sum(m.stability == "stable" for m in found.manifolds)


def _fit(rows: np.ndarray, rank: int, n_inputs: int, P: int, seed, min_size: int = 0,
         covariance: str = "full") -> tuple:
    """The law with P populations, whether its fit converged (True for P = 1) and how it was
    fitted: ``{"fit": "gaussian" | "EM" | "size-floored CEM" | "too few neurons",
    "covariance": "full" | "tied", "min_population_size": min_size}``.

    P > 1: EM with full covariances (``MixtureLoadings.fit``); when one of its populations
    (``population_sizes``) holds fewer than ``min_size`` neurons, the size-floored
    classification EM of :func:`floored_mixture` instead, with ``covariance`` (when
    P * min_size > N no fit can hold the floor: the EM fit is returned, "too few neurons").
    """
    how = {"fit": "gaussian", "covariance": "full", "min_population_size": int(min_size)}
    if P == 1:
        return GaussianLoadings.fit(rows, rank, n_inputs), True, how
    law = MixtureLoadings.fit(rows, rank, n_inputs, n_components=P, seed=seed)
    how["fit"] = "EM"
    if law.population_sizes(rows.shape[0]).min() < min_size:
        if P * min_size > rows.shape[0]:
            how["fit"] = "too few neurons"
        else:
            law = floored_mixture(rows, rank, n_inputs, P, min_size, covariance=covariance,
                                  seed=seed, start=law)
            how.update(fit="size-floored CEM", covariance=covariance)
    return law, bool(law.fit_report.converged), how


def _assign(cost: np.ndarray, min_size: int) -> np.ndarray:
    """Labels minimising sum_i cost[i, label_i] subject to every label holding at least
    ``min_size`` rows (exact).

    Each point not needed to fill a population goes to its cheapest one; filling P * min_size
    mandatory places is then a rectangular assignment problem on the excess costs
    cost[i, k] - min_k' cost[i, k'] (Bradley, Bennett & Demiriz 2000, constrained k-means).
    """
    labels = cost.argmin(axis=1)
    P = cost.shape[1]
    if np.bincount(labels, minlength=P).min() >= min_size:
        return labels
    columns = np.repeat(np.arange(P), min_size)
    excess = cost - cost.min(axis=1, keepdims=True)
    which, place = linear_sum_assignment(excess[:, columns])
    labels[which] = columns[place]
    return labels


def _classification_em(X: np.ndarray, labels: np.ndarray, P: int, min_size: int,
                       max_iter: int) -> tuple[np.ndarray, float, bool, int]:
    """Size-floored classification EM with one shared (tied) covariance: (labels, classification
    log-likelihood per neuron, converged, iterations).

    Alternates the means, fractions and pooled within-population covariance S of the current
    populations with the assignment of every row to the population of largest
    log pi_k + log N(x; mu_k, S) under the size floor (:func:`_assign`); the classification
    likelihood never decreases (Celeux & Govaert 1992), so the labels settle.
    """
    N, d = X.shape
    ridge = 1e-6 * max(float(np.trace(np.cov(X.T, bias=True).reshape(d, d))) / d, 1e-300)
    iteration = 0
    while True:
        iteration += 1
        counts = np.bincount(labels, minlength=P)
        means = np.stack([X[labels == k].mean(axis=0) for k in range(P)])
        resid = X - means[labels]
        chol = np.linalg.cholesky(resid.T @ resid / N + ridge * np.eye(d))
        z = np.linalg.solve(chol, (X[:, None, :] - means[None]).reshape(-1, d).T)
        cost = 0.5 * (z**2).sum(axis=0).reshape(N, P) - np.log(counts / N)
        new = _assign(cost, min_size)
        loglik = -(cost[np.arange(N), labels].mean() + np.log(np.diag(chol)).sum()
                   + 0.5 * d * np.log(2 * np.pi))
        settled = bool(np.array_equal(new, labels))
        if settled or iteration == max_iter:  # the labels whose likelihood this is
            return labels, float(loglik), settled, iteration
        labels = new


def _log_joint(weights, components, rows: np.ndarray) -> np.ndarray:
    """log w_k + log N(row_i; mu_k, Sigma_k), shape (N, P)."""
    from scipy.stats import multivariate_normal

    return np.stack([
        np.log(w) + multivariate_normal(c.mean, c.cov, allow_singular=True).logpdf(rows)
        for w, c in zip(weights, components, strict=True)
    ], axis=1).reshape(rows.shape[0], -1)


def floored_mixture(
    rows,
    rank: int,
    n_inputs: int,
    n_populations: int,
    min_size: int,
    *,
    covariance: str = "full",
    seed=0,
    start: MixtureLoadings | None = None,
    n_init: int = 8,
    max_iter: int = 200,
) -> MixtureLoadings:
    """A mixture of P populations of at least ``min_size`` neurons each, whose every population
    can be resampled with its statistics matched exactly (whitened draws need more neurons than
    dimensions).

    EM on few neurons in many dimensions (N = 100 rows of dimension 10-14) gives populations of
    a handful of neurons, which cannot be whitened, and a P with such a population cannot be
    tested by resampling. Here each neuron is assigned to one population by classification EM
    (Celeux & Govaert 1992, Comput. Stat. Data Anal. 14:315) with a shared within-population
    covariance, which a few neurons per population can afford, under the constraint that every
    population keeps at least ``min_size`` neurons (an exact constrained assignment at each
    step, Bradley, Bennett & Demiriz 2000, Microsoft Research TR-2000-65). The best of the
    starts (the hard labels of ``start``, e.g. an EM fit, and k-means++ on the standardised
    rows) by classification likelihood is kept. Each population's law is then its neurons'
    sample mean with their own sample covariance (``covariance="full"``) or the pooled
    within-population covariance (``"tied"``), and its weight is its share of the neurons, so
    that ``population_sizes(N)`` are the assigned sizes.

    Parameters
    ----------
    rows : array_like (N, 2R + K)
        One row per neuron, as for ``MixtureLoadings.fit``.
    rank, n_inputs : int
        R and K.
    n_populations : int
        P.
    min_size : int
        Fewest neurons per population (at least 1; P * min_size <= N).
    covariance : {"full", "tied"}
        Covariance of each population's law.
    seed : int or numpy.random.Generator
        Seeds the k-means++ starts.
    start : MixtureLoadings, optional
        A fit whose most probable population per neuron is one more start.
    n_init : int
        k-means++ starts.
    max_iter : int
        Classification-EM iterations per start.

    Returns
    -------
    MixtureLoadings
        With ``fit_report`` (``converged``: the labels of the best start settled; ``bic`` of
        the fitted mixture on ``rows``) and ``labels`` (N,), each neuron's population.
    """
    from scipy.special import logsumexp
    from sklearn.cluster import KMeans

    rank = as_int(rank, "rank", minimum=1)
    n_inputs = as_int(n_inputs, "n_inputs", minimum=0)
    rows = as_array(rows, "rows", ndim=2, shape=(None, 2 * rank + n_inputs))
    P = as_int(n_populations, "n_populations", minimum=1)
    min_size = as_int(min_size, "min_size", minimum=1)
    N, d = rows.shape
    if P * min_size > N:
        raise ValueError(
            f"min_size = {min_size} neurons in each of n_populations = {P} populations needs "
            f"at least {P * min_size} rows, got {N}"
        )
    covariance = choose(covariance, "covariance", ("full", "tied"))
    n_init = as_int(n_init, "n_init", minimum=0)
    max_iter = as_int(max_iter, "max_iter", minimum=1)
    starts = []
    if start is not None:
        logp = _log_joint(start.weights, start.components, rows)
        if logp.shape[1] == P and np.all(np.isfinite(logp)):
            starts.append(_assign(-logp, min_size))
    if n_init:
        scale = rows.std(axis=0)
        scaled = (rows - rows.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
        for child in seed_sequence(seed).spawn(n_init):
            km = KMeans(P, n_init=1, random_state=int(child.generate_state(1)[0])).fit(scaled)
            distance = ((scaled[:, None, :] - km.cluster_centers_[None]) ** 2).sum(axis=2)
            starts.append(_assign(distance, min_size))
    if not starts:
        raise ValueError("floored_mixture needs a start or n_init >= 1")
    best = max((_classification_em(rows, labels, P, min_size, max_iter) for labels in starts),
               key=lambda result: result[1])
    labels, loglik, converged, iterations = best
    counts = np.bincount(labels, minlength=P)
    parts = [GaussianLoadings.fit(rows[labels == k], rank, n_inputs) for k in range(P)]
    if covariance == "tied":
        pooled = sum(c * part.cov for c, part in zip(counts, parts, strict=True)) / N
        parts = [GaussianLoadings(part.mean, pooled, rank, n_inputs) for part in parts]
    law = MixtureLoadings(parts, counts / N)
    mixture = logsumexp(_log_joint(law.weights, parts, rows), axis=1).sum()
    n_cov = d * (d + 1) // 2 * (P if covariance == "full" else 1)
    n_params = P - 1 + P * d + n_cov
    law.fit_report = EMReport(
        converged=converged, iterations=iterations, lower_bound=loglik, residual=0.0,
        n_components=P, bic=float(-2.0 * mixture + n_params * np.log(N)),
    )
    law.labels = labels
    return law


def _population_sizes(law, N: int) -> np.ndarray:
    return law.population_sizes(N) if isinstance(law, MixtureLoadings) else np.array([N])


def _drawn(law, N, g, u, time, n_starts, slow_manifold_tol, draws, task=None):
    """(counts, scores, complete) of one network drawn per seed of ``draws``: whitened at size N
    with a fresh bulk g, its attractors counted (``count_attractors``) and, with a task, scored."""
    from .fixedpoints import find_fixed_points

    counts, scores, complete = [], [], True
    for child in draws:
        net_seed, search_seed = child.spawn(2)
        net = LowRankNetwork.sample(law, N, g=g, seed=net_seed, whiten=True)
        found = find_fixed_points(
            net, inputs=u, time=time, n_starts=n_starts, seed=as_rng(search_seed),
            slow_manifold_tol=slow_manifold_tol,
        )
        complete &= found.converged
        counts.append(count_attractors(found))
        if task is not None:
            scores.append(float(task(net)))
    return counts, scores, complete


def resampled_counts(
    law,
    N: int,
    *,
    time: str,
    g: float = 0.0,
    inputs=None,
    n_networks: int = 32,
    n_starts: int = RESAMPLE_STARTS,
    slow_manifold_tol: float | None = None,
    seed=0,
) -> tuple[list[int], bool]:
    """Stable attractors of ``n_networks`` networks drawn from one law at size N.

    Each network is drawn as the resampling test draws (Dubreuil et al. 2022, Nat. Neurosci.
    25:783; step 2 of the module docstring): every population with its size in N and its sample
    mean and covariance equal to the law's (whitened draws), a fresh bulk of strength g, and its
    attractors counted by ``find_fixed_points`` (a stable manifold, or a slow one with
    ``slow_manifold_tol``, as one). The spread of the counts is the finite-size variability of
    the law at N: where a trained network's count differs from the mean field's (N -> infinity),
    the fraction of draws with the network's count says how far that count is one the law itself
    gives at the network's size.

    Returns
    -------
    counts : list of int
        One per network, in the order of ``seed``'s children.
    complete : bool
        Every fixed-point search converged (else a count may miss attractors).

    Raises
    ------
    TypeError, ValueError
        On bad arguments, naming the argument (also when a population of the law holds fewer
        neurons at N than the law has dimensions: it cannot be whitened).
    """
    N = as_int(N, "N", minimum=1)
    n_networks = as_int(n_networks, "n_networks", minimum=1)
    n_starts = as_int(n_starts, "n_starts", minimum=1)
    g = as_float(g, "g", minimum=0.0)
    time = choose(time, "time", TIMES)
    sizes = _population_sizes(law, N)
    if sizes.min() <= law.dim:
        raise ValueError(
            f"N = {N} gives a population of {sizes.min()} neurons, too few to match its "
            f"{law.dim}-dimensional statistics (whitened draws need more neurons than dimensions)"
        )
    u = (np.zeros(law.n_inputs) if inputs is None
         else as_array(inputs, "inputs", shape=(law.n_inputs,), allow_empty=True))
    with threadpool_limits(1):  # many small solves: one BLAS thread (as choose_populations)
        counts, _, complete = _drawn(law, N, g, u, time, n_starts, slow_manifold_tol,
                                     seed_sequence(seed).spawn(n_networks))
    return counts, bool(complete)


def _evaluate(law, N, g, u, time, observed, task, accuracy, accuracy_tol, n_networks, large_N,
              n_starts, slow_manifold_tol, seeds, observed_kappa, position_tol) -> dict:
    """Resampled counts (and scores) of one fitted law, with the mean-field and large-N checks."""
    from .fixedpoints import find_fixed_points
    from .meanfield import MeanField

    meanfield_seed, large_seed, *draws = seeds.spawn(n_networks + 2)
    counts, scores, complete = _drawn(law, N, g, u, time, n_starts, slow_manifold_tol, draws,
                                      task)
    passed = [c == observed for c in counts]
    if task is not None:
        passed = [p and s >= accuracy - accuracy_tol for p, s in zip(passed, scores, strict=True)]
    meanfield = large = position_error = None
    if g == 0:
        predicted = MeanField(law, time=time).fixed_points(inputs=u, seed=as_rng(meanfield_seed))
        meanfield, complete = count_attractors(predicted), complete and predicted.complete
        if observed_kappa is not None:
            from .emergence_checkpoint import relative_errors

            kappa = np.asarray(predicted.kappa).reshape(-1, observed_kappa.shape[1])
            errors = relative_errors(kappa[np.asarray(predicted.stable, bool)], observed_kappa)[1]
            position_error = float(np.median(errors)) if errors.size else None
        # find_fixed_points traces slow manifolds in N dimensions: not at large N
        if large_N is not None and slow_manifold_tol is None:
            net_seed, search_seed = large_seed.spawn(2)
            net = LowRankNetwork.sample(law, large_N, seed=net_seed, whiten=True)
            found = find_fixed_points(
                net, inputs=u, time=time, n_starts=n_starts, seed=as_rng(search_seed)
            )
            large, complete = count_attractors(found), complete and found.converged
    resampled = 2 * sum(passed) > n_networks
    agrees = meanfield is None or meanfield == observed
    return {
        "resampled_stable": counts,
        "large_N_stable": large,
        "meanfield_stable": meanfield,
        "accuracy": scores if task is not None else None,
        "agreement": float(np.mean(passed)),
        "complete": bool(complete),
        "resampled_accepted": resampled,
        "meanfield_agrees": agrees,
        "accepted": resampled and agrees,
        "meanfield_position_error": position_error,
        "positions_agree": position_error is None or position_error <= position_tol,
    }


def _count_distance(entry: dict, observed: int) -> float:
    """|mean-field attractors - observed| of one P's evidence (inf without a mean-field count)."""
    count = entry["meanfield_stable"]
    return math.inf if count is None else abs(count - observed)


def choose_populations(
    rows,
    rank: int,
    n_inputs: int,
    *,
    observed_stable: int,
    time: str,
    g: float = 0.0,
    max_populations: int = 12,
    n_networks: int = 4,
    large_N: int | None = 2000,
    task: Callable[[LowRankNetwork], float] | None = None,
    accuracy: float | None = None,
    seed=0,
    progress: bool = False,
    inputs=None,
    n_starts: int = RESAMPLE_STARTS,
    slow_manifold_tol: float | None = None,
    accuracy_tol: float = 0.05,
    observed_kappa=None,
    position_tol: float = 0.1,
    min_population_size: int | None = None,
    floor_covariance: str = "full",
) -> PopulationChoice:
    """The smallest number of populations whose resampled networks and whose mean field keep the
    trained network's attractors (Dubreuil et al. 2022, Nat. Neurosci. 25:783; module docstring).

    Parameters
    ----------
    rows : array_like (N, 2R + K)
        One row per neuron of the trained network: m (R columns), n (R), then K input columns
        (input weights, a bias as a column held at input 1.0, ...), as ``MixtureLoadings.fit``
        takes them; W = m n^T / N.
    rank, n_inputs : int
        R and K.
    observed_stable : int
        Attractors of the trained network (``count_attractors(find_fixed_points(...))``:
        stable isolated points plus stable manifolds, each counted once).
    time : {"discrete", "continuous"}
        h' = tanh(W h + I u) (map) or dx/dt = -x + W tanh(x) + I u (flow).
    g : float
        Strength of the random bulk g chi of the trained network; each resampled network gets a
        fresh chi (then the mean-field and large-N checks are skipped: None).
    max_populations : int
        Largest P tried (default 12: trained 3-bit flip-flops of N = 100 keep their eight
        attractors only with P = 7-8 at some checkpoints, and rank-2 ring networks their four
        points only with P = 11 at some, ``benchmarks/bench_emergence.py``; with the rows
        ``emergence`` fits, (m, n, bias), the size floor allows 11-14 populations at N = 100).
    n_networks : int
        Networks drawn per P at the trained N; P is accepted when a strict majority passes and
        the mean field (g = 0) has ``observed_stable`` attractors.
    large_N : int or None
        Size of the network drawn for the finite-size check (None: skip it). It is skipped with
        a bulk, and with ``slow_manifold_tol`` (``find_fixed_points`` traces slow manifolds in
        N dimensions, minutes at N = 2000).
    task : callable, optional
        ``task(network) -> score`` for a resampled ``LowRankNetwork`` (its ``inputs`` are the K
        columns); a draw then passes only if its score is at least ``accuracy - accuracy_tol``.
    accuracy : float, optional
        The trained network's score; with ``task`` and without it, ``task`` is scored on the
        trained network rebuilt from ``rows`` (without bulk).
    seed : int or numpy.random.Generator
        Seeds the fits, the draws and the fixed-point searches.
    progress : bool
        Show a tqdm progress bar over P.
    inputs : array_like (K,), optional
        The constant input u under which attractors are counted (default: all ones, every
        extra column a bias).
    n_starts : int
        Starts of each fixed-point search.
    slow_manifold_tol : float, optional
        Count slow manifolds (approximate rings and lines) as one attractor each
        (``find_fixed_points``); needed for continuous-attractor tasks, where a finite network
        breaks the ring into a number of points that changes from draw to draw.
    accuracy_tol : float
        Loss of task score a draw may have and still pass.
    observed_kappa : array_like (points, R), optional
        The trained network's stable fixed points in the latent coordinates
        kappa = n^T tanh(x) / N of these rows. With them an accepted P must also place its
        mean-field attractors within ``position_tol`` of these (module docstring).
    position_tol : float
        Largest median relative position error (``emergence_report.relative_errors``) that
        ends the search.
    min_population_size : int, optional
        Fewest neurons per population (default 2R + K + 2, at least 2R + K + 1): a P whose EM
        fit has a smaller population is refitted by :func:`floored_mixture`.
    floor_covariance : {"full", "tied"}
        Covariance of the populations of a size-floored fit: each population's own ("full"),
        or the pooled within-population one ("tied": on trained 3-bit flip-flops, N = 100, it
        loses the populations' own overlaps and no P keeps the attractors).

    Returns
    -------
    PopulationChoice
        method "resample", with one evidence entry per P tried (the search stops at the first
        accepted P whose positions agree).

    Warns
    -----
    ConvergenceWarning
        When no P up to ``max_populations`` is accepted (``accepted`` False; the smallest P
        whose draws passed is returned, the warning saying its mean field disagrees, else the P
        whose draws agreed best), or when a fixed-point search of the chosen P did not
        account for every start (a count may be too low).
    """
    rank = as_int(rank, "rank", minimum=1)
    n_inputs = as_int(n_inputs, "n_inputs", minimum=0)
    rows = as_array(rows, "rows", ndim=2, shape=(None, 2 * rank + n_inputs))
    N = rows.shape[0]
    if N <= 2 * rank + n_inputs:
        raise ValueError(
            f"rows must hold more neurons than columns to resample them, got shape {rows.shape}"
        )
    observed = as_int(observed_stable, "observed_stable", minimum=0)
    time = choose(time, "time", TIMES)
    g = as_float(g, "g", minimum=0.0)
    max_populations = as_int(max_populations, "max_populations", minimum=1)
    n_networks = as_int(n_networks, "n_networks", minimum=1)
    if large_N is not None:
        large_N = as_int(large_N, "large_N", minimum=2 * rank + n_inputs + 1)
    n_starts = as_int(n_starts, "n_starts", minimum=1)
    accuracy_tol = as_float(accuracy_tol, "accuracy_tol", minimum=0.0)
    if slow_manifold_tol is not None:
        slow_manifold_tol = as_float(slow_manifold_tol, "slow_manifold_tol", positive=True)
    if observed_kappa is not None:
        observed_kappa = as_array(observed_kappa, "observed_kappa", ndim=2, shape=(None, rank),
                                  allow_empty=True)
    position_tol = as_float(position_tol, "position_tol", minimum=0.0)
    dim = 2 * rank + n_inputs
    min_size = dim + 2 if min_population_size is None else as_int(
        min_population_size, "min_population_size", minimum=dim + 1
    )
    floor_covariance = choose(floor_covariance, "floor_covariance", ("full", "tied"))
    u = np.ones(n_inputs) if inputs is None else as_array(
        inputs, "inputs", shape=(n_inputs,), allow_empty=True
    )
    if task is not None:
        if not callable(task):
            raise TypeError(f"task must be callable, got {type(task).__name__}")
        if accuracy is None:
            trained = LowRankNetwork(rows[:, :rank], rows[:, rank : 2 * rank], rows[:, 2 * rank :])
            accuracy = float(task(trained))
        accuracy = as_float(accuracy, "accuracy")
    elif accuracy is not None:
        raise ValueError("accuracy needs a task to score the resampled networks")
    children = seed_sequence(seed).spawn(max_populations)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_populations, desc="populations", unit="P")
    evidence, laws = [], []
    for P in range(1, max_populations + 1):
        fit_seed, draw_seed = children[P - 1].spawn(2)
        with threadpool_limits(1), warnings.catch_warnings():
            # an EM or search that did not converge is recorded in the evidence, not warned
            warnings.simplefilter("ignore", ConvergenceWarning)
            law, converged, how = _fit(rows, rank, n_inputs, P, fit_seed, min_size,
                                       floor_covariance)
            sizes = _population_sizes(law, N)
            how["population_sizes"] = sizes.tolist()
            if sizes.min() <= law.dim:
                entry = {
                    "resampled_stable": [], "large_N_stable": None, "meanfield_stable": None,
                    "accuracy": None, "agreement": 0.0, "complete": True,
                    "resampled_accepted": False, "meanfield_agrees": False, "accepted": False,
                    "meanfield_position_error": None, "positions_agree": False,
                    "skipped": f"a population of {sizes.min()} neurons is too small to match "
                               f"its {law.dim}-dimensional statistics",
                }
            else:
                entry = _evaluate(law, N, g, u, time, observed, task, accuracy, accuracy_tol,
                                  n_networks, large_N, n_starts, slow_manifold_tol, draw_seed,
                                  observed_kappa, position_tol)
        evidence.append({"P": P, **entry, "fit_converged": converged, **how})
        laws.append(law)
        if bar is not None:
            bar.update()
        if entry["accepted"] and entry["positions_agree"]:
            break
    if bar is not None:
        bar.close()
    finite = [i for i, e in enumerate(evidence) if e["resampled_accepted"]]
    accepted = [i for i, e in enumerate(evidence) if e["accepted"]]
    if accepted:  # the first within position_tol (the last tried), else the closest
        best = min(accepted, key=lambda i: (
            not evidence[i]["positions_agree"],
            evidence[i]["meanfield_position_error"] or 0.0,
        ))
    elif finite:  # the smallest P whose draws pass, though its mean field disagrees
        best = finite[0]
    else:  # the best draws; among equals, the mean field (the prediction) nearest the count,
        # then one that also places its attractors where the network has them
        best = max(range(len(evidence)), key=lambda i: (
            evidence[i]["agreement"], -_count_distance(evidence[i], observed),
            evidence[i]["positions_agree"], -i,
        ))
    choice = PopulationChoice(
        evidence[best]["P"], laws[best], "resample", evidence[best]["accepted"], evidence,
        observed, laws,
    )
    if finite and not choice.accepted:
        warnings.warn(
            f"choose_populations: no P <= {max_populations} reproduces the {observed} observed "
            "attractors both in a majority of draws and in its mean field: P = "
            f"{choice.n_populations} reproduces them in {evidence[best]['agreement']:.0%} of "
            f"{n_networks} draws of N = {N}, but its mean field disagrees "
            f"({evidence[best]['meanfield_stable']} attractors)",
            ConvergenceWarning,
            stacklevel=2,
        )
    elif not choice.accepted:
        warnings.warn(
            f"choose_populations: no P <= {max_populations} reproduces the {observed} observed "
            f"attractors in a majority of {n_networks} draws; P = {choice.n_populations} agreed "
            f"best ({evidence[best]['agreement']:.0%})",
            ConvergenceWarning,
            stacklevel=2,
        )
    elif not evidence[best]["complete"]:
        warnings.warn(
            f"choose_populations: a fixed-point search for P = {choice.n_populations} did not "
            "account for all its starts; attractors may be missing from the counts",
            ConvergenceWarning,
            stacklevel=2,
        )
    return choice


def fit_populations(
    rows, rank: int, n_inputs: int, populations, *, seed=0, **resample_kwargs
) -> PopulationChoice:
    """Fit the law of the rows with a number of populations given or chosen.

    Parameters
    ----------
    rows : array_like (N, 2R + K)
        As for :func:`choose_populations`.
    rank, n_inputs : int
        R and K.
    populations : int, "bic" or "resample"
        A fixed P (1: one Gaussian, the maximum-likelihood fit); "bic": P in 1..max_components
        by the Bayesian information criterion (``MixtureLoadings.fit``; ``covariance_type`` and
        ``max_components`` may be given); "resample": :func:`choose_populations`, which then
        needs its keywords (``observed_stable``, ``time``, ...) in ``resample_kwargs``.
    seed : int or numpy.random.Generator
        Seeds the fit (and the draws).

    Warns
    -----
    ConvergenceWarning
        When EM did not converge (a fixed P > 1, or "bic"), and as :func:`choose_populations`.
    """
    allowed: tuple[str, ...] = ()
    if isinstance(populations, str):
        method = choose(populations, "populations", ("resample", "bic"))
        if method == "resample":
            return choose_populations(rows, rank, n_inputs, seed=seed, **resample_kwargs)
        allowed = ("covariance_type", "max_components")
    elif isinstance(populations, bool) or not isinstance(populations, numbers.Integral):
        raise TypeError(
            f"populations must be an int, 'bic' or 'resample', got {type(populations).__name__}"
        )
    else:
        method = "fixed"
        P = as_int(populations, "populations", minimum=1)
    extra = sorted(set(resample_kwargs) - set(allowed))
    if extra:
        raise TypeError(f"populations={populations!r} takes no arguments {extra}")
    rank = as_int(rank, "rank", minimum=1)
    n_inputs = as_int(n_inputs, "n_inputs", minimum=0)
    rows = as_array(rows, "rows", ndim=2, shape=(None, 2 * rank + n_inputs))
    with threadpool_limits(1):
        if method == "bic":
            law = MixtureLoadings.fit(rows, rank, n_inputs, seed=seed, **resample_kwargs)
            if law.n_populations == 1:
                law = law.components[0]
        else:
            law = _fit(rows, rank, n_inputs, P, seed)[0]  # EM as fitted, no size floor
    return PopulationChoice(law.n_populations, law, method, True, fitted=[law])
