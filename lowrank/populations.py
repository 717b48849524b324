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
   ``MixtureLoadings.fit``);
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
P whose draws pass is returned (else the P whose draws agreed most often), not accepted, with a
warning. As evidence each P also records the count of one network drawn at ``large_N`` (cheap:
``find_fixed_points`` solves a network without bulk in its R latent dimensions), which separates
finite-size effects from the error of the fitted law. The mean-field and large-N checks need
g = 0 (with a bulk the latent dynamics are not closed); with a bulk the draws alone decide.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
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
from .loadings import GaussianLoadings, MixtureLoadings
from .network import LowRankNetwork

__all__ = ["PopulationChoice", "choose_populations", "count_attractors", "fit_populations"]


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
        disagrees, else the one whose draws agreed most often). Always True for "bic" and
        "fixed".
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
        matched points away from the origin) and ``positions_agree`` (that error within
        ``position_tol``, True when not computed).
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
            f"P={e['P']}: {e['resampled_stable']}"
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


def _fit(rows: np.ndarray, rank: int, n_inputs: int, P: int, seed) -> tuple:
    """The law with P populations and whether its EM converged (True for P = 1)."""
    if P == 1:
        return GaussianLoadings.fit(rows, rank, n_inputs), True
    law = MixtureLoadings.fit(rows, rank, n_inputs, n_components=P, seed=seed)
    return law, bool(law.fit_report.converged)


def _population_sizes(law, N: int) -> np.ndarray:
    return law.population_sizes(N) if isinstance(law, MixtureLoadings) else np.array([N])


def _evaluate(law, N, g, u, time, observed, task, accuracy, accuracy_tol, n_networks, large_N,
              n_starts, slow_manifold_tol, seeds, observed_kappa, position_tol) -> dict:
    """Resampled counts (and scores) of one fitted law, with the mean-field and large-N checks."""
    from .fixedpoints import find_fixed_points
    from .meanfield import MeanField

    counts, scores, complete = [], [], True
    meanfield_seed, large_seed, *draws = seeds.spawn(n_networks + 2)
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


def choose_populations(
    rows,
    rank: int,
    n_inputs: int,
    *,
    observed_stable: int,
    time: str,
    g: float = 0.0,
    max_populations: int = 6,
    n_networks: int = 4,
    large_N: int | None = 2000,
    task: Callable[[LowRankNetwork], float] | None = None,
    accuracy: float | None = None,
    seed=0,
    progress: bool = False,
    inputs=None,
    n_starts: int = 32,
    slow_manifold_tol: float | None = None,
    accuracy_tol: float = 0.05,
    observed_kappa=None,
    position_tol: float = 0.1,
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
        Largest P tried.
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
            law, converged = _fit(rows, rank, n_inputs, P, fit_seed)
            smallest = int(_population_sizes(law, N).min())
            if smallest <= law.dim:
                entry = {
                    "resampled_stable": [], "large_N_stable": None, "meanfield_stable": None,
                    "accuracy": None, "agreement": 0.0, "complete": True,
                    "resampled_accepted": False, "meanfield_agrees": False, "accepted": False,
                    "meanfield_position_error": None, "positions_agree": False,
                    "skipped": f"a population of {smallest} neurons is too small to match its "
                               f"{law.dim}-dimensional statistics",
                }
            else:
                entry = _evaluate(law, N, g, u, time, observed, task, accuracy, accuracy_tol,
                                  n_networks, large_N, n_starts, slow_manifold_tol, draw_seed,
                                  observed_kappa, position_tol)
        evidence.append({"P": P, **entry, "fit_converged": converged})
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
    else:
        best = max(range(len(evidence)), key=lambda i: (evidence[i]["agreement"], -i))
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
            law = _fit(rows, rank, n_inputs, P, seed)[0]
    return PopulationChoice(law.n_populations, law, method, True, fitted=[law])
