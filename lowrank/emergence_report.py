"""Predicted against observed attractors over training: ``emergence`` and ``EmergenceReport``.

For every checkpoint of a training run (Turner & Barak 2023 record one at each improvement of the
loss), whether a ``TrainingRun`` of lowrank or a list of checkpoints of a network trained with the
user's own torch code (``emergence``):

- the outlier eigenvalues of W: those beyond the stability boundary of the linearisation at the
  origin (|lambda| > 1 for maps, Re lambda > 1 for flows; Turner & Barak report that they cross
  one at a time, each crossing creating a new pair of stable fixed points), and those beyond the
  edge of the random bulk of the initial weights W0 (radius g = sqrt(N) std(W0) by the circular
  law, plus a stated margin; Schuessler et al. 2020, NeurIPS);
- the predictions. A full-rank network is predicted from the truncated SVD of W written as
  m n^T / N ("truncated"); when its initial weights W0 are known, also from the rank-R part of
  W - W0 plus a random bulk of the measured strength g, by the static states of the mean-field
  theory with a bulk (Mastrogiuseppe & Ostojic 2018, Neuron 99:609): "bulk"; and from the
  truncated SVD with the rest of W entering through its response,
  m = (1 - W_rest)^-1 m_R and n from the left resolvent: "resolvent" (exact at the origin's
  bifurcation, Schuessler et al. 2020, and to first order in the rest's nonlinearity); all are
  reported side by side (``emergence``'s ``prediction`` chooses the main one).
  A rank-R model has its own m, n and no bulk: "own". In each, the neurons' rows (m, n, input
  weights, bias; the rows of ``project``) are fitted by a Gaussian or a mixture of P Gaussian
  populations (Beiran et al. 2021), P chosen by resampling (Dubreuil et al. 2022) unless given,
  the bias entering as an input channel held at 1 and the attractors counted at zero input;
- the observation: the fixed points of the full network (``find_fixed_points``), projected on the
  same n vectors; a continuous family of fixed points (a ring) counts as one attractor;
- their agreement: the numbers of attractors, the distances between predicted and observed stable
  points in kappa space after optimal assignment (Hungarian algorithm), relative to |kappa|, and
  the finite-size check: a network of large N drawn from the fitted law (whitened loadings) is run
  to its attractors, which separates the error of the fit from the finite-N error.

The module is named ``emergence_report`` so that ``lowrank.emergence`` is always the function.
One checkpoint's analysis (predictions, observation, agreement) is
``lowrank.emergence_checkpoint``; the factors it predicts from, ``lowrank.emergence_factors``.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ._checks import ConvergenceWarning, as_array, as_float, as_int, choose
from ._repr import compact_repr
from .dynamics.systems import own_time

# KAPPA_FLOOR, finite_size_check and relative_errors: kept importable from here for
# lowrank.populations and for users of the former single module
from .emergence_checkpoint import (
    KAPPA_FLOOR,  # noqa: F401
    LARGE_N,
    CheckpointAnalysis,
    Prediction,
    _beyond,
    _eigenvalues,
    _leading_eigenvalues,
    _outliers,
    _predict,
    analyse_checkpoint,
    finite_size_check,  # noqa: F401
    relative_errors,  # noqa: F401
    rest_rows,
)
from .emergence_factors import (
    FULL_RANK_PREDICTIONS,
    _factors,
    _own_factors,
    bulk_edge,
    choose_rank_by_attractors,
)
from .fixedpoints import Dynamics, find_fixed_points
from .populations import count_attractors, resampled_counts

__all__ = ["CheckpointAnalysis", "EmergenceReport", "Prediction", "emergence"]


def _evidence_text(evidence: list) -> str:
    """ "P:counts of the draws" for each P tried, the accepted one starred, e.g.
    "1:2,2,2,2 2:4,4,4,4*"."""
    return " ".join(
        f"{e['P']}:{','.join(map(str, e['resampled_stable']))}{'*' if e['accepted'] else ''}"
        for e in evidence
    )


def _predicted_text(row: dict) -> str:
    """The predicted count, marked "cycle" where the fitted law's dynamics never come to rest."""
    moving = row.get("predicted_settles") is False
    return f"{row['predicted_stable']}" + (" cycle" if moving else "")


def _text(value) -> str:
    return "-" if value is None else str(value)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


@dataclass
class EmergenceReport:
    """Checkpoint-by-checkpoint comparison of predicted and observed attractors.

    ``spectra`` holds the leading eigenvalues of W at every checkpoint of the run (cheap, so always
    all of them, for exact crossings): at least 8, and all those outside the bulk; ``epochs`` the
    epoch of every checkpoint; ``analyses`` the full comparison at the analysed checkpoints;
    ``bulk_edge`` the modulus beyond which an eigenvalue is outside the bulk of W0
    (g + margin; 0 without a bulk, where every nonzero eigenvalue is outside it).
    """

    __repr__ = compact_repr

    analyses: list[CheckpointAnalysis]
    time: str
    rank: int
    spectra: list[np.ndarray]
    epochs: list[int] = field(default_factory=list)
    bulk_edge: float = 0.0
    g: float = 0.0
    settings: dict = field(default_factory=dict, repr=False)
    weights: list = field(default_factory=list, repr=False)
    _bifurcations: list | None = field(default=None, repr=False)
    _transients: dict | None = field(default=None, repr=False)

    def table(self) -> list[dict]:
        """One mapping per analysed checkpoint (``CheckpointAnalysis.row``), with keys
        ``checkpoint``, ``loss``, ``outliers``, ``outliers_bulk``, ``predicted_stable``,
        ``observed_stable``, ``populations``, ``match``, ``position_error``, ..."""
        return [a.row() for a in self.analyses]

    def outlier_counts(self) -> list[int]:
        """Number of eigenvalues of W past the stability boundary, at every checkpoint."""
        return [int(_outliers(values, self.time).size) for values in self.spectra]

    def outlier_counts_bulk(self) -> list[int]:
        """Number of eigenvalues of W outside the bulk (|lambda| > ``bulk_edge``), at every
        checkpoint."""
        return [int(_beyond(values, self.bulk_edge).size) for values in self.spectra]

    def crossings(self) -> list[int]:
        """Checkpoint at which the k-th outlier first crossed the stability boundary, k = 1, ..."""
        return _crossings(self.outlier_counts())

    def crossings_bulk(self) -> list[int]:
        """Checkpoint at which the k-th eigenvalue first left the bulk, k = 1, ..."""
        return _crossings(self.outlier_counts_bulk())

    def agreement(self, prediction: str | None = None) -> dict:
        """Counts matched and position errors over the analysed checkpoints.

        Parameters
        ----------
        prediction : str, optional
            "truncated", "bulk", "resolvent" or "own" (default: each checkpoint's main
            prediction).

        Returns
        -------
        dict
            ``matches`` (checkpoints whose predicted and observed attractor counts agree),
            ``checkpoints`` (those with that prediction), ``median_position_error`` (median over
            the checkpoints of their median relative error, None without any),
            ``last_position_error``, ``finite_size_matches`` (checkpoints whose large-N
            resampled network settles on the observed count), ``finite_size_checkpoints``, and,
            over the checkpoints whose counts differ and whose P was chosen by resampling,
            ``resampled_draws`` (networks drawn there from the chosen law at the trained size)
            and ``resampled_observed`` (those of them with the observed count: a count the law
            itself gives at this size, a finite-size effect rather than an error of the fit).
        """
        chosen = [
            (a, a.predictions[prediction or a.prediction])
            for a in self.analyses
            if (prediction or a.prediction) in a.predictions
        ]
        errors = [p.position_error for _, p in chosen if p.position_error is not None]
        checked = [(a, p.finite_size) for a, p in chosen if p.finite_size is not None]
        differ = [
            (a.observed_attractors, p.resampled_stable)
            for a, p in chosen
            if p.n_attractors != a.observed_attractors and p.resampled_stable is not None
        ]
        return {
            "prediction": prediction or (self.analyses[-1].prediction if self.analyses else None),
            "matches": sum(p.n_attractors == a.observed_attractors for a, p in chosen),
            "checkpoints": len(chosen),
            "median_position_error": float(np.median(errors)) if errors else None,
            "last_position_error": chosen[-1][1].position_error if chosen else None,
            "finite_size_matches": sum(f["stable"] == a.observed_attractors for a, f in checked),
            "finite_size_checkpoints": len(checked),
            "resampled_draws": sum(len(draws) for _, draws in differ),
            "resampled_observed": sum(draws.count(observed) for observed, draws in differ),
        }

    def summary(self) -> str:
        """One line: "counts match at k of n checkpoints; median position error x% ..."."""
        if not self.analyses:
            return "no checkpoint analysed"
        main = self.agreement()
        text = (
            f"counts match at {main['matches']} of {main['checkpoints']} checkpoints; "
            f"median position error {_percent(main['median_position_error'])} "
            f"({_describe(self)})"
        )
        for other in FULL_RANK_PREDICTIONS:
            if other == main["prediction"] or not any(
                other in a.predictions for a in self.analyses
            ):
                continue
            beside = self.agreement(other)
            text += (
                f"; {_WORDS[other]}: {beside['matches']} of {beside['checkpoints']}, "
                f"{_percent(beside['median_position_error'])}"
            )
        moving = sum(a.main.settles is False for a in self.analyses)
        if moving:
            text += (
                f"; at {moving} the fitted law's mean field has no stable point and never comes "
                "to rest (limit cycle or chaos)"
            )
        if main["finite_size_checkpoints"]:
            text += (
                f"; large-N resampled networks match at {main['finite_size_matches']} of "
                f"{main['finite_size_checkpoints']}"
            )
        if main["resampled_draws"]:
            text += (
                f"; where the counts differ, {main['resampled_observed']} of "
                f"{main['resampled_draws']} networks drawn from the fitted law at the trained "
                "size have the observed count"
            )
        return text

    def bifurcations(self, tol: float = 0.02, grid: int = 5, seed=0) -> list[dict]:
        """Predicted against observed epoch of each change of the attractor count.

        Between consecutive analysed checkpoints where the predicted or the observed count
        changes, the weights are interpolated, W(s) = (1 - s) W_a + s W_b, and the change is
        located on that path, for the prediction (the main method, with the P chosen at the later
        checkpoint held fixed, or the earlier one's where only it gives the table's counts at
        both ends) and for the network itself
        (``lowrank.emergence_timing.locate_bifurcations``); the located changes are paired
        attractor by attractor over the whole run (``pair_bifurcations``: a predicted event
        creating two attractors at once pairs with two observed events, and a prediction may
        lag the network across a checkpoint). On each path, for the prediction and the network
        alike, only the changes that persist to its end are paired: an attractor gained and
        lost again (or lost and regained) between two checkpoints is a transient of the straight
        path, which training need not follow (``persistent_changes``; their number is kept as
        ``to_json()["bifurcation_transients"]``). The result is kept for ``to_json``.

        Returns
        -------
        list of dict
            ``epoch_a``, ``epoch_b`` (the checkpoint interval of the observed event, else of the
            predicted one), ``predicted_epoch``, ``observed_epoch``
            (None when unpaired), ``new_attractors`` (+1: an attractor gained, -1: lost),
            ``difference`` (predicted - observed epoch) and ``within_interval`` (within one
            checkpoint interval: the longer of the two events' intervals), one per attractor
            gained or lost.

        Notes
        -----
        Each s evaluated costs a fit and a mean-field solve (predicted) or a fixed-point search
        of the network (observed): about ``grid`` + 2 log2(1 / tol) of each per interval.
        """
        from .emergence_timing import (
            locate_bifurcations,
            locate_law_bifurcations,
            pair_bifurcations,
            persistent_changes,
        )

        predicted, observed, transients = [], [], {"predicted": 0, "observed": 0}
        for k in range(1, len(self.analyses)):
            a, b = self.analyses[k - 1], self.analyses[k]
            pa, pb = a.main.n_attractors, b.main.n_attractors
            if pa == pb and a.observed_attractors == b.observed_attractors:
                continue
            path = self._law_path(k)
            predict, observe = self._counters(
                b, b.main.populations if path else self._path_populations(k)
            )
            found = locate_bifurcations(
                self.weights[k - 1], self.weights[k], a.epoch, b.epoch, time=self.time,
                predict=None if path else predict, observe=observe, tol=tol, seed=seed, grid=grid,
            )
            if path:
                law_a, law_b, inputs = path
                found += locate_law_bifurcations(
                    law_a, law_b, a.epoch, b.epoch, time=self.time, inputs=inputs, tol=tol,
                    seed=seed, grid=grid,
                )
            for kind, events in (("predicted", predicted), ("observed", observed)):
                kept, left_out = persistent_changes([t for t in found if t.kind == kind])
                events += kept
                transients[kind] += left_out
        self._transients = transients
        out = []
        for pair in pair_bifurcations(predicted, observed):  # across intervals
            event = pair.observed or pair.predicted
            out.append({
                "epoch_a": event.epochs[0],
                "epoch_b": event.epochs[1],
                "predicted_epoch": None if pair.predicted is None else pair.predicted.epoch,
                "observed_epoch": None if pair.observed is None else pair.observed.epoch,
                "new_attractors": 1 if event.new_attractors > 0 else -1,
                "difference": (
                    None if np.isnan(pair.epoch_difference) else pair.epoch_difference
                ),
                "within_interval": bool(pair.within_interval),
            })
        self._bifurcations = out
        return out

    def resampled_counts(self, index: int, n_networks: int = 32, seed=0) -> list[int]:
        """Stable attractors of ``n_networks`` networks drawn from the main prediction's fitted
        law at analysed checkpoint ``index`` (negative counts from the end), at the trained
        network's size.

        The draws are those of the resampling test (``lowrank.populations.resampled_counts``:
        every population's statistics matched, a fresh bulk of the prediction's g, at rest with
        the bias column at 1), as many as asked for instead of the test's four. Where the
        predicted count (the mean field, N -> infinity) differs from the observed one, the
        fraction of draws with the observed count measures how far the network's count is one
        that the law itself gives at its size: on the benchmark's rank-2 ring network (seed 1,
        epoch 35) the mean field has 2 stable points, the network 4, and 22 of 32 draws at
        N = 100 have 4.

        Warns
        -----
        ConvergenceWarning
            When a drawn network's fixed-point search did not converge (a count may be short).
        """
        count = len(self.analyses)
        if not count:
            raise ValueError("the report has no analysed checkpoint to draw from")
        index = as_int(index, "index", minimum=-count, maximum=count - 1) % count
        main = self.analyses[index].main
        if main.loadings is None:
            raise ValueError(f"the prediction at analysed checkpoint {index} has no fitted law")
        N = Dynamics.from_weights(self.weights[index], self.time).N
        counts, complete = resampled_counts(
            main.loadings, N, time=self.time, g=main.g,
            inputs=np.ones(main.loadings.n_inputs),  # rest_rows: the bias column, held at 1
            n_networks=n_networks, slow_manifold_tol=self.settings.get("slow_manifold_tol"),
            seed=seed,
        )
        if not complete:
            warnings.warn(
                f"resampled_counts: a fixed-point search of a network drawn at checkpoint {index} "
                "did not converge; its count may miss attractors",
                ConvergenceWarning,
                stacklevel=2,
            )
        return counts

    def _law_path(self, k: int):
        """(law_a, law_b, inputs) for the path between the fitted laws of analyses k - 1 and k,
        law_a in the latent coordinates of k (``rotate_loadings`` by the Procrustes alignment of
        the factors; none for a rank-R model's own m, n); None where that path does not apply
        (a prediction with a bulk, or laws of different inputs)."""
        from .emergence_timing import alignment, rotate_loadings

        a, b = self.analyses[k - 1], self.analyses[k]
        law_a, law_b = a.main.loadings, b.main.loadings
        if a.main.g > 0 or b.main.g > 0 or law_a is None or law_b is None:
            return None
        if (law_a.rank, law_a.n_inputs) != (law_b.rank, law_b.n_inputs):
            return None
        ends = []
        for weights in (self.weights[k - 1], self.weights[k]):
            dyn = Dynamics.from_weights(weights, self.time)
            factors = _factors(weights, dyn, b.rank, self.settings.get("initial"), None)[0]
            ends.append(factors.get(b.prediction))
        if ends[0] is None or ends[1] is None:
            return None
        (fa, fb), (ua, ub) = ends, [rest_rows(f)[1] for f in ends]
        if not np.array_equal(ua, ub):  # a bias column at one end only
            return None
        if b.prediction != "own":  # each checkpoint's SVD has its own latent coordinates
            law_a = rotate_loadings(law_a, alignment((fa.m, fa.n), (fb.m, fb.n)))
        return law_a, law_b, ub

    def _path_populations(self, k: int) -> int:
        """P held along the path from analysis k - 1 to k: the later checkpoint's P_b, unless
        its law at the earlier checkpoint's weights predicts another count than the table
        there while P_a's law at the later weights predicts the table's count there (then P_a:
        the path's predicted counts then agree with the table at both ends)."""
        a, b = self.analyses[k - 1], self.analyses[k]
        P_a, P_b = a.main.populations, b.main.populations
        if P_a == P_b:
            return P_b
        predict_b, _ = self._counters(b, P_b)
        if predict_b(self.weights[k - 1]) == a.main.n_attractors:
            return P_b
        predict_a, _ = self._counters(b, P_a)
        return P_a if predict_a(self.weights[k]) == b.main.n_attractors else P_b

    def _counters(self, analysis: CheckpointAnalysis, populations: int):
        """predict(weights) (P populations) and observe(weights) for the interpolated weights
        after ``analysis``."""
        s = self.settings

        def predict(weights):
            dyn = Dynamics.from_weights(weights, self.time)
            factors, _ = _factors(weights, dyn, analysis.rank, s.get("initial"), None)
            return _predict(
                analysis.prediction, factors[analysis.prediction], self.time, populations,
                s.get("seed", 0), None, None,
            ).n_attractors

        def observe(weights):
            dyn = Dynamics.from_weights(weights, self.time)
            found = find_fixed_points(
                dyn, n_starts=s.get("n_starts", 64), seed=s.get("seed", 0),
                slow_manifold_tol=s.get("slow_manifold_tol"),
            )
            return count_attractors(found)

        return predict, observe

    def to_json(self) -> dict:
        """A JSON-ready record: the table, the summary, both kinds of crossings and outlier
        counts, the outlier eigenvalues and (when computed) the bifurcation timings."""
        return {
            "time": self.time,
            "rank": self.rank,
            "rank_evidence": self.settings.get("rank_evidence", []),
            "rank_by_checkpoint": self.settings.get("rank_by_checkpoint", []),
            "summary": self.summary(),
            "prediction": self.analyses[-1].prediction if self.analyses else None,
            "g": self.g,
            "bulk_edge": self.bulk_edge,
            "table": self.table(),
            "epochs": [int(e) for e in self.epochs],
            "crossings": self.crossings(),
            "crossings_bulk": self.crossings_bulk(),
            "outliers": [
                [[v.real, v.imag] for v in _outliers(values, self.time)] for values in self.spectra
            ],
            "outlier_counts": self.outlier_counts(),
            "outlier_counts_bulk": self.outlier_counts_bulk(),
            "bifurcations": self._bifurcations,
            "bifurcation_transients": self._transients,
        }

    def format_table(self) -> str:
        """The table as aligned text (with columns for both the truncated-SVD and the bulk
        predictions when both were made, and the resampling evidence when P was chosen by it)."""
        both = any(r["bulk_stable"] is not None for r in self.table())
        header = (
            f"{'ckpt':>5} {'epoch':>6} {'loss':>10} {'outliers':>8} {'predicted':>9} "
            f"{'observed':>8} {'P':>2} {'match':>5} {'max dist':>9}"
        )
        header += f" {'bulk out':>8} {'pos err':>7} {'large N':>7} {'P by':>8} {'R':>2}"
        evidence = any(r["population_evidence"] for r in self.table())
        if both:
            header += f" {'trunc':>5} {'trunc err':>9} {'bulk':>4} {'bulk err':>8}"
        lines = [header]
        for r in self.table():
            dist = "-" if r["max_distance"] is None else f"{r['max_distance']:.3f}"
            large = _text(r["finite_size_stable"])
            line = (
                f"{r['checkpoint']:5d} {r['epoch']:6d} {r['loss']:10.2e} {r['outliers']:8d} "
                f"{_predicted_text(r):>9} {r['observed_stable']:8d} {r['populations']:2d} "
                f"{'yes' if r['match'] else 'no':>5} {dist:>9}"
                f" {r['outliers_bulk']:8d} {_percent(r['position_error']):>7} {large:>7}"
                f" {r['population_method']:>8} {r['rank']:2d}"
            )
            if both:
                line += (
                    f" {_text(r['truncated_stable']):>5} "
                    f"{_percent(r['truncated_position_error']):>9} {_text(r['bulk_stable']):>4} "
                    f"{_percent(r['bulk_position_error']):>8}"
                )
            if evidence:
                line += "  " + _evidence_text(r["population_evidence"])
            lines.append(line)
        if evidence:
            lines[0] += "  resampled attractors per P (* accepted)"
        if any(r.get("predicted_settles") is False for r in self.table()):
            lines.append("cycle: the fitted law's mean field never comes to rest (limit cycle or "
                         "chaos), so it predicts no attractor")
        return "\n".join(lines)

    def plot(self, portraits: int = 3):
        """The emergence figure (see ``lowrank.plotting.plot_emergence``)."""
        from .plotting import plot_emergence

        return plot_emergence(self, portraits=portraits)


_WORDS = {
    "bulk": "low rank of W - W0 + bulk",
    "truncated": "truncated SVD of W",
    "resolvent": "truncated SVD of W + response of the rest",
    "own": "the model's own m, n",
}


def _run_rank(weights: list, time, W0, prediction, **search) -> tuple[int, list, list]:
    """(R, evidence of the checkpoint that set it, each checkpoint's R) for a run: the largest of
    the analysed checkpoints' ``choose_rank_by_attractors`` among those some rank keeps the
    attractors of, else the last checkpoint's (see ``emergence``'s ``rank``)."""
    chosen = [choose_rank_by_attractors(w, time, W0, prediction, **search) for w in weights]
    kept = [
        (R, evidence) for R, evidence in chosen
        if any(e["attractors"] == evidence[0]["attractors"] for e in evidence[1:])
    ]
    rank, evidence = max(kept, key=lambda item: item[0]) if kept else chosen[-1]
    return rank, evidence, [R for R, _ in chosen]


def _describe(report: EmergenceReport) -> str:
    """The prediction in words: method, rank, P (and how chosen), g."""
    if not report.analyses:
        return ""
    last = report.analyses[-1]
    main = last.main
    ps = sorted({a.main.populations for a in report.analyses})
    p_text = str(ps[0]) if len(ps) == 1 else f"{ps[0]}-{ps[-1]}"
    words = _WORDS[last.prediction]
    bulk = f", g = {main.g:.2f}" if last.prediction == "bulk" else ""
    how = {"resample": "chosen by resampling", "bic": "chosen by BIC", "fixed": "given"}
    tried = report.settings.get("rank_evidence") or []
    kept = [e for e in tried[1:] if e["rank"] == report.rank]
    if kept and kept[0]["attractors"] == tried[0]["attractors"]:
        error = kept[0].get("position_error")
        placed = "" if error is None else f", {100 * error:.0f}% off"
        rank = f"rank {report.rank} (keeps the attractors{placed})"
    elif len(tried) > 1:
        rank = f"rank {report.rank} (gap; no rank <= {tried[-1]['rank']} keeps the attractors)"
    else:
        rank = f"rank {report.rank}"
    return f"{words}, {rank}, P = {p_text} ({how[main.population_method]}){bulk}"


def _crossings(counts: list[int]) -> list[int]:
    counts = np.array(counts)
    return [int(np.argmax(counts >= k)) for k in range(1, int(counts.max(initial=0)) + 1)]


class _Point(NamedTuple):
    """One checkpoint in the form ``emergence`` analyses (that of ``TrainingRun.checkpoints``)."""

    epoch: int
    loss: float
    weights: dict


_RUN_FORMS = (
    "run must be a TrainingRun with checkpoints, or a non-empty list of checkpoints "
    '{"epoch": int, "loss": float (optional), "state_dict": weights} or pairs '
    "(epoch, state_dict)"
)


def _user_checkpoints(run, time) -> tuple[list[_Point], str]:
    """A user's list of checkpoints (``emergence``) as lowrank weights, and its time convention."""
    points, weights = [], []
    for k, item in enumerate(run):
        if isinstance(item, Mapping) and "state_dict" in item and "epoch" in item:
            epoch, loss, state = item["epoch"], item.get("loss", np.nan), item["state_dict"]
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            (epoch, state), loss = item, np.nan
        else:
            raise TypeError(f"{_RUN_FORMS}; run[{k}] is a {type(item).__name__}")
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral):
            raise TypeError(f"run[{k}]'s epoch must be an int, got {epoch!r}")
        if isinstance(loss, bool) or not isinstance(loss, numbers.Real):
            raise TypeError(f"run[{k}]'s loss must be a real number, got {type(loss).__name__}")
        points.append((int(epoch), float(loss)))
        weights.append(state)
    if time is None:
        time = own_time(weights[0])
    if time is None:
        raise ValueError(
            "time must be given ('continuous' or 'discrete') for checkpoints of lowrank weights"
        )
    out = []
    for k, ((epoch, loss), state) in enumerate(zip(points, weights, strict=True)):
        system = Dynamics.from_object(state, time, name=f"run[{k}]'s state_dict")
        w = {"weight_rec": system.W, "weight_in": system.W_in, "bias": system.bias}
        if system.factors is not None:  # a rank-R model keeps its own m, n
            w["m"], w["n"] = system.factors
        out.append(_Point(epoch, loss, w))
    return out, time


def _initial_weights(initial, points: list, N: int) -> np.ndarray | None:
    """W0: ``initial`` (an (N, N) array or weights), else the first checkpoint's W when its
    epoch is 0; None when neither (no bulk prediction) or ``initial`` is False."""
    if initial is False:
        return None
    if initial is None:
        first = points[0]
        if int(first.epoch) != 0 or _own_factors(first.weights):
            return None
        return np.asarray(first.weights["weight_rec"], np.float64)
    if isinstance(initial, np.ndarray) or isinstance(initial, (list, tuple)):
        return as_array(initial, "initial", shape=(N, N))
    return Dynamics.from_object(initial, "discrete", name="initial").W


def emergence(
    run,
    rank: int | None = None,
    populations: int | str = "resample",
    checkpoints=None,
    n_starts: int = 64,
    seed=0,
    progress: bool = False,
    time: str | None = None,
    initial=None,
    finite_size: int | None = LARGE_N,
    slow_manifold_tol: float | None = None,
    bulk_margin: float | None = None,
    prediction: str = "resolvent",
) -> EmergenceReport:
    """Compare mean-field predicted with observed attractors at every checkpoint of a training run.

    Parameters
    ----------
    run : TrainingRun or list of checkpoints
        A run from ``lowrank.train`` / ``lowrank.load_run`` / ``lowrank.load_turner2023``, or the
        checkpoints of a network trained with one's own code, in order, each either a dict
        ``{"epoch": int, "loss": float, "state_dict": weights}`` (``loss`` optional) or a pair
        ``(epoch, weights)``, where ``weights`` is anything ``lowrank.dynamics.as_system`` reads:
        a ``torch.nn.RNN`` state dict (``weight_hh_l0``, ... under at most one prefix such as
        ``rnn.``, a map h' = tanh(W_hh h + W_ih u + b_ih + b_hh)), a torch module, a dict of
        lowrank's weights. Save them with e.g.
        ``{"epoch": e, "loss": loss, "state_dict": copy.deepcopy(model.state_dict())}``
        (a state dict shares the module's tensors: copy it). A missing loss is NaN.
    rank : int, optional
        Rank R of the low-rank part of full-rank models, the same at every checkpoint; rank-R
        models use their own m, n. Default: by the attractors, as P is chosen
        (``lowrank.emergence_factors.choose_rank_by_attractors``): at each analysed checkpoint,
        the smallest R <= 8 whose rank-R network of the main prediction, built at its own N (no
        fit, no mean field), has the network's attractor count, with its attractors within 10%
        of the network's (median relative distance; one rank above the smallest with the count
        at most), else the smallest with the count; R is the largest of these over the analysed
        checkpoints (a rank that loses one checkpoint's attractors cannot predict them: on the
        benchmark's full-rank ring network, seed 1, rank 3 keeps the last checkpoint's 2 points
        but turns the rotation at epoch 52 into 2 points, rank 4 keeps both). Where no rank up
        to 8 has a checkpoint's count, it does not take part; when none has (or for "bulk",
        whose bulk is redrawn), the singular-value gap of W - W0 at the last checkpoint, or of
        W without W0. ``settings["rank_by_checkpoint"]`` keeps each checkpoint's R.
    populations : "resample", "bic" or int
        Number P of Gaussian populations fitted to the loadings. "resample" (default): the
        smallest P whose networks resampled from the fitted law keep the observed attractors
        (``lowrank.populations.choose_populations``, Dubreuil et al. 2022; one population cannot
        hold the four attractors of a 2-bit flip-flop in rank two, Beiran et al. 2021); "bic":
        the Bayesian information criterion (full or tied covariances), which often settles on
        one population with ~100 neurons; an int: P fixed. The table reports P, how it was
        chosen and the evidence at every checkpoint; the prediction beside the main one uses
        the main one's P.
    checkpoints : sequence of int, optional
        Indices of the checkpoints to analyse (default: all; negative indices count from the end).
    n_starts : int
        Starts of the fixed-point finder.
    seed : int
        Seeds the fixed-point finders, the mixture fits and the finite-size networks.
    progress : bool
        Show a tqdm progress bar.
    time : {"continuous", "discrete"}, optional
        The time convention: a TrainingRun's own, and that of torch weights ("discrete"); needed
        only for a list of lowrank weight dicts. Must agree with the run's own.
    initial : array_like (N, N), weights, or False, optional
        The initial recurrent weights W0 of a full-rank network (default: the first checkpoint's
        when its epoch is 0). With W0 a third prediction is made, "bulk": the rank-R part
        U V^T / N of W - W0 plus an independent random bulk of strength g = sqrt(N) std(W0)
        (Schuessler et al. 2020; Mastrogiuseppe & Ostojic 2018). Ignored for rank-R models
        (their own m, n, no bulk). Without W0 (or with ``initial=False``) two predictions are
        made: "truncated", the rank-R truncated SVD m n^T / N of W, and "resolvent", the same
        with the rest W_rest = W - m n^T / N kept through its response: with A = (1 - W_rest)^-1,
        a fixed point x = m kappa + W_rest tanh(x) + W_in u + b is x = A (m kappa + W_in u + b)
        + (A - 1) (tanh(x) - x); keeping the last term to first order gives a rank-R network
        with m' = A m, n' = A^T n (1 - B)^-T (B = n^T (A - 1) A m / N), input weights and bias
        filtered alike, and no bulk (``lowrank.emergence_factors._through_rest``; the attractors
        carry the network's own cubic coefficient at a pitchfork). Its linearisation at the
        origin has an eigenvalue 1 exactly when n^T A m / N has, and so, since det(1 - W) =
        det(1 - W_rest) det(1 - n^T A m / N), when W has (the outlier equation of Schuessler et
        al. 2020 at lambda = 1): the origin's bifurcation is predicted where the network has it,
        and what the truncation drops still shapes the attractors.
    prediction : {"truncated", "bulk", "resolvent"}
        The main prediction of a full-rank network (the table's ``predicted_stable``, the
        summary, the figure), the others given beside it. "resolvent" by default, as measured
        (``benchmarks/bench_emergence.py``, 12 full-rank runs of N = 100 on the 1-, 2-, 3-bit
        flip-flops and the ring, 8 checkpoints each): the truncated SVD alone loses attractors
        that the rest of W holds with it (rank-2 truncations of 2-bit flip-flop networks keep 2
        of their 4 attractors), and "bulk" almost never matches (W - W0 has overlap eigenvalues
        below 1 at any rank: the outliers of W come from W0 and W - W0 together,
        n^T (lambda - W0)^-1 m (Schuessler et al. 2020), which a bulk drawn independently of
        m, n loses).
    finite_size : int or None
        N of the finite-size check of the main prediction (``finite_size_check``), None to skip.
    slow_manifold_tol : float, optional
        Passed to ``find_fixed_points``: also count slow manifolds (approximate rings) of the
        network as one attractor each.
    bulk_margin : float, optional
        An eigenvalue is outside the bulk when |lambda| > g + margin (default 4 g / sqrt(N)).

    Returns
    -------
    EmergenceReport

    Warns
    -----
    ConvergenceWarning
        A RuntimeWarning: when the EM fit of the loadings did not converge, or no P passed the
        resampling test, at a checkpoint, or the fixed-point finder found no fixed point there;
        the table records each (``fit_converged``, ``populations_accepted``,
        ``observed_converged``).
    """
    if time is not None:
        time = choose(time, "time", ("continuous", "discrete"))
    if hasattr(run, "checkpoints") and hasattr(run, "config") and run.checkpoints:
        own = choose(run.config["model"]["time"], "run's time", ("continuous", "discrete"))
        if time is not None and time != own:
            raise ValueError(f"time={time!r} contradicts the run's own time convention {own!r}")
        time, points = own, run.checkpoints
        N = int(run.config["model"]["n_hidden"])
    elif isinstance(run, (list, tuple)) and run:
        points, time = _user_checkpoints(run, time)
        N = points[0].weights["weight_rec"].shape[0]
    else:
        raise TypeError(f"{_RUN_FORMS}, got {type(run).__name__}")
    if not (isinstance(populations, str) and populations in ("bic", "resample")):
        if isinstance(populations, str) or not isinstance(populations, numbers.Integral):
            raise TypeError(
                f"populations must be a positive int, 'bic' or 'resample', got {populations!r}"
            )
        populations = as_int(populations, "populations", minimum=1)
    if rank is not None:
        rank = as_int(rank, "rank", minimum=1, maximum=N)
    n_starts = as_int(n_starts, "n_starts", minimum=1)
    if finite_size is not None:
        finite_size = as_int(finite_size, "finite_size", minimum=2)
    if slow_manifold_tol is not None:
        slow_manifold_tol = as_float(slow_manifold_tol, "slow_manifold_tol", positive=True)
    last = len(points) - 1
    if checkpoints is None:
        indices = range(last + 1)
    elif isinstance(checkpoints, (str, bytes)) or not isinstance(checkpoints, Iterable):
        raise TypeError(
            "checkpoints must be a sequence of checkpoint indices, "
            f"got {type(checkpoints).__name__}"
        )
    else:
        indices = [
            as_int(i, f"checkpoints[{k}]", minimum=-last - 1, maximum=last) % (last + 1)
            for k, i in enumerate(checkpoints)
        ]
    prediction = choose(prediction, "prediction", FULL_RANK_PREDICTIONS)
    W0 = _initial_weights(initial, points, N)
    if prediction == "bulk" and W0 is None and not _own_factors(points[0].weights):
        raise ValueError(
            "prediction='bulk' needs the initial weights W0: pass initial=, or a run whose first "
            "checkpoint is at epoch 0"
        )
    g, edge = bulk_edge(W0, bulk_margin) if W0 is not None else (0.0, 0.0)
    indices = list(indices)
    rank_evidence: list[dict] = []
    rank_by_checkpoint: list[int] = []
    if rank is None and indices and not _own_factors(points[indices[-1]].weights):
        rank, rank_evidence, rank_by_checkpoint = _run_rank(
            [points[i].weights for i in indices], time, W0, prediction, n_starts=n_starts,
            seed=seed, slow_manifold_tol=slow_manifold_tol,
        )
    if progress:
        from tqdm.auto import tqdm

        indices = tqdm(indices, desc="emergence", unit="checkpoint")
    # every eigenvalue of every checkpoint, computed once (the analysed ones reuse them); a rank-R
    # model has no bulk (W0 None, edge 0): its nonzero eigenvalues are out
    values = [_eigenvalues(Dynamics.from_weights(p.weights, time).W) for p in points]
    spectra = [_leading_eigenvalues(v, time, 8, edge) for v in values]
    settings = {
        "n_starts": n_starts, "seed": seed, "initial": W0,
        "slow_manifold_tol": slow_manifold_tol, "prediction": prediction,
        "rank_evidence": rank_evidence,
        "rank_by_checkpoint": rank_by_checkpoint,
    }
    analyses, weights, R = [], [], 0
    for i in indices:
        point = points[i]
        found = analyse_checkpoint(
            point.weights, time, rank, populations, n_starts, seed, initial=W0,
            finite_size=finite_size, slow_manifold_tol=slow_manifold_tol,
            bulk_margin=bulk_margin, prediction=prediction, eigenvalues=values[i],
        )
        R = found["rank"]
        for method, made in found["predictions"].items():
            if made.settles is False:
                warnings.warn(
                    f"emergence: at checkpoint {i} the fitted law of the {method} prediction has "
                    "no stable fixed point and its mean-field dynamics do not come to rest "
                    "(a limit cycle or chaos): its 0 predicted attractors are what that law "
                    "does, not missed solutions, and the solver's starts that did not converge "
                    "(and the runs of its large-N network that did not settle) followed that "
                    "motion (predicted_settles is False in the table)",
                    ConvergenceWarning,
                    stacklevel=2,
                )
            if made.fit_converged and made.populations_accepted:
                continue
            if not made.populations_accepted:
                column = "populations_accepted"
                why = (
                    f"no number of populations up to {made.population_evidence[-1]['P']} had "
                    "resampled networks and a mean field with the observed attractor count; "
                    f"P = {made.populations} "
                    + ("has the draws but not the mean field" if any(
                        e.get("resampled_accepted") for e in made.population_evidence
                    ) else "agreed best")
                )
            else:
                column = "fit_converged"
                why = (
                    "the EM fit of the loadings did not converge (its lower bound last changed "
                    f"by {made.fit_residual:.3g})"
                )
            warnings.warn(
                f"emergence: at checkpoint {i} ({method} prediction) {why}; the prediction "
                f"uses that fit ({column} is False in the table)",
                ConvergenceWarning,
                stacklevel=2,
            )
        analyses.append(
            CheckpointAnalysis(
                checkpoint=i, epoch=int(point.epoch), loss=float(point.loss), **found
            )
        )
        weights.append(point.weights)
    return EmergenceReport(
        analyses, time, R, spectra, [int(p.epoch) for p in points], edge, g, settings, weights
    )
