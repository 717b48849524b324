"""Predicted against observed attractors over training: ``emergence`` and ``EmergenceReport``.

For every checkpoint of a training run (Turner & Barak 2023 record one at each improvement of the
loss), whether a ``TrainingRun`` of lowrank or a list of checkpoints of a network trained with the
user's own torch code (``emergence``):

- the outlier eigenvalues of W, those beyond the stability boundary of the linearisation at the
  origin (|lambda| > 1 for maps, Re lambda > 1 for flows); Turner & Barak report that they cross
  one at a time, each crossing creating a new pair of stable fixed points ("sequential emergence");
- the prediction: W (or its rank-R part, ``lowrank.project``) written as m n^T / N, the neurons'
  rows (m, n, bias) fitted by a Gaussian or a Gaussian mixture, and the fixed points of the
  mean-field latent dynamics (``MeanField.fixed_points``), the bias entering as an input channel
  held at 1;
- the observation: the fixed points of the full network (``find_fixed_points``), projected on the
  same n vectors;
- their match: the numbers of stable points, and the distances between predicted and observed
  stable points in kappa space after optimal assignment (Hungarian algorithm).

The module is named ``emergence_report`` so that ``lowrank.emergence`` is always the function.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from ._checks import ConvergenceWarning, as_int, choose
from ._repr import compact_repr
from .dynamics.systems import own_time
from .fixedpoints import Dynamics, find_fixed_points
from .loadings import GaussianLoadings, MixtureLoadings
from .projection import svd_factors

__all__ = ["CheckpointAnalysis", "EmergenceReport", "emergence"]


@dataclass
class CheckpointAnalysis:
    """Everything ``emergence`` found at one checkpoint (kappa arrays are (points, R);
    ``observed_x`` holds the observed fixed points themselves, (points, N))."""

    __repr__ = compact_repr

    checkpoint: int
    epoch: int
    loss: float
    eigenvalues: np.ndarray
    outliers: np.ndarray
    predicted_kappa: np.ndarray
    predicted_stable: np.ndarray
    observed_kappa: np.ndarray
    observed_stable: np.ndarray
    populations: int
    distances: np.ndarray = field(default_factory=lambda: np.zeros(0))
    fit_converged: bool = True
    observed_converged: bool = True
    observed_x: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def row(self) -> dict:
        """The table row: checkpoint, loss, outliers, predicted/observed stable counts, match."""
        return {
            "checkpoint": self.checkpoint,
            "epoch": self.epoch,
            "loss": self.loss,
            "outliers": int(self.outliers.size),
            "predicted_stable": int(self.predicted_stable.sum()),
            "observed_stable": int(self.observed_stable.sum()),
            "predicted_points": int(self.predicted_stable.size),
            "observed_points": int(self.observed_stable.size),
            "populations": self.populations,
            "match": bool(self.predicted_stable.sum() == self.observed_stable.sum()),
            "max_distance": float(self.distances.max()) if self.distances.size else None,
            "fit_converged": self.fit_converged,
            "observed_converged": self.observed_converged,
        }


@dataclass
class EmergenceReport:
    """Checkpoint-by-checkpoint comparison of predicted and observed attractors.

    ``spectra`` holds the leading eigenvalues of W at every checkpoint of the run (cheap, so always
    all of them, for exact crossings); ``analyses`` the full comparison at the analysed checkpoints.
    """

    __repr__ = compact_repr

    analyses: list[CheckpointAnalysis]
    time: str
    rank: int
    spectra: list[np.ndarray]

    def table(self) -> list[dict]:
        """One mapping per checkpoint, with keys ``checkpoint``, ``loss``, ``outliers``,
        ``predicted_stable``, ``observed_stable``, ``match`` (and a few more)."""
        return [a.row() for a in self.analyses]

    def outlier_counts(self) -> list[int]:
        """Number of eigenvalues of W past the stability boundary, at every checkpoint."""
        return [int(_outliers(values, self.time).size) for values in self.spectra]

    def crossings(self) -> list[int]:
        """Checkpoint at which the k-th outlier first crossed the stability boundary, k = 1, ..."""
        counts = np.array(self.outlier_counts())
        return [int(np.argmax(counts >= k)) for k in range(1, int(counts.max(initial=0)) + 1)]

    def to_json(self) -> dict:
        """A JSON-ready record: the table, the crossings, and the outlier eigenvalues."""
        return {
            "time": self.time,
            "rank": self.rank,
            "table": self.table(),
            "crossings": self.crossings(),
            "outliers": [
                [[v.real, v.imag] for v in _outliers(values, self.time)] for values in self.spectra
            ],
            "outlier_counts": self.outlier_counts(),
        }

    def format_table(self) -> str:
        """The table as aligned text."""
        lines = [
            f"{'ckpt':>5} {'epoch':>6} {'loss':>10} {'outliers':>8} {'predicted':>9} "
            f"{'observed':>8} {'P':>2} {'match':>5} {'max dist':>9}"
        ]
        for r in self.table():
            dist = "-" if r["max_distance"] is None else f"{r['max_distance']:.3f}"
            lines.append(
                f"{r['checkpoint']:5d} {r['epoch']:6d} {r['loss']:10.2e} {r['outliers']:8d} "
                f"{r['predicted_stable']:9d} {r['observed_stable']:8d} {r['populations']:2d} "
                f"{'yes' if r['match'] else 'no':>5} {dist:>9}"
            )
        return "\n".join(lines)

    def plot(self, portraits: int = 3):
        """Figure: outlier eigenvalues against the stability boundary (coloured by checkpoint,
        with a colour bar), stable-point counts over training, and kappa-plane portraits at a few
        checkpoints (shared limits, at least +-1.1 so that a checkpoint whose points all sit at the
        origin still shows a readable plane)."""
        import matplotlib.pyplot as plt
        from matplotlib.colors import Normalize

        from .plotting import plot_spectrum

        picks = np.unique(np.linspace(0, len(self.analyses) - 1, portraits).round().astype(int))
        fig, axes = plt.subplots(1, 2 + len(picks), figsize=(4 * (2 + len(picks)), 4.2))
        norm = Normalize(0, max(len(self.spectra) - 1, 1))
        for k, values in enumerate(self.spectra):
            plot_spectrum(values, ax=axes[0], time=self.time, color=plt.cm.viridis(norm(k)), s=6)
        mappable = plt.cm.ScalarMappable(norm=norm, cmap="viridis")
        cax = axes[0].inset_axes([1.04, 0.0, 0.05, 1.0])  # a child axes: fig.axes stays one a panel
        fig.colorbar(mappable, cax=cax, label="checkpoint")
        boundary = "unit circle" if self.time == "discrete" else r"Re $\lambda$ = 1"
        axes[0].set_title(f"top eigenvalues of W ({boundary})", fontsize=9)
        ckpt = [a.checkpoint for a in self.analyses]
        counts = self.outlier_counts()
        axes[1].step(range(len(counts)), counts, where="post", lw=2.5, alpha=0.5,
                     label="outlier eigenvalues")
        axes[1].plot(ckpt, [a.predicted_stable.sum() for a in self.analyses], "x-", ms=7,
                     zorder=3, label="predicted stable points")
        axes[1].plot(ckpt, [a.observed_stable.sum() for a in self.analyses], "o--", ms=7,
                     mfc="none", zorder=2, label="observed stable points")
        axes[1].set_xlabel("checkpoint (training progress)")
        axes[1].set_ylabel("count")
        axes[1].legend(frameon=False, fontsize=8)
        axes[1].set_title("sequential emergence", fontsize=9)
        extent = [np.abs(k).max() for a in self.analyses
                  for k in (a.observed_kappa, a.predicted_kappa) if k.size]
        half = 1.1 * max(1.0, max(extent, default=0.0))
        styles = (("observed", "o", "C0", 40), ("predicted", "x", "C3", 60))
        for ax, k in zip(axes[2:], picks, strict=True):
            a = self.analyses[k]
            for (name, marker, colour, size), kappa, stable in zip(
                styles,
                (a.observed_kappa, a.predicted_kappa),
                (a.observed_stable, a.predicted_stable),
                strict=True,
            ):
                if kappa.ndim != 2 or kappa.shape[1] == 0:
                    continue
                y = kappa[:, 1] if kappa.shape[1] >= 2 else np.zeros(len(kappa))
                fill = {"facecolors": "none", "edgecolors": colour} if marker == "o" else {}
                for chosen, alpha, what in ((stable, 1.0, "stable"), (~stable, 0.35, "unstable")):
                    ax.scatter(kappa[chosen, 0], y[chosen], marker=marker, s=size, alpha=alpha,
                               color=colour, label=f"{name} {what}", **fill)
            ax.set_xlim(-half, half)
            ax.set_ylim(-half, half)
            ax.set_aspect("equal")
            ax.set_xlabel(r"$\kappa_1$")
            ax.set_ylabel(r"$\kappa_2$")
            ax.set_title(f"checkpoint {a.checkpoint}", fontsize=9)
        axes[2].legend(frameon=False, fontsize=7, loc="upper left")
        fig.tight_layout()
        return fig


def _leading_eigenvalues(W: np.ndarray, time: str, count: int) -> np.ndarray:
    """The ``count`` least stable eigenvalues of W: by modulus (maps) or real part (flows)."""
    values = np.linalg.eigvals(W)
    key = np.abs(values) if time == "discrete" else values.real
    return values[np.argsort(-key, kind="stable")][:count]


def _outliers(values: np.ndarray, time: str) -> np.ndarray:
    """Eigenvalues of W past the boundary where the origin destabilises: |lambda| > 1 (map),
    Re lambda > 1 (flow dx/dt = -x + W tanh(x), whose Jacobian at 0 is W - 1)."""
    return values[(np.abs(values) if time == "discrete" else values.real) > 1.0]


def _factors(weights: dict, rank: int | None) -> tuple[np.ndarray, np.ndarray]:
    """m, n (N, R) with W ~ m n^T / N: a rank-R model's own, else the truncated SVD of W."""
    if "m" in weights and "n" in weights:
        return np.asarray(weights["m"], np.float64), np.asarray(weights["n"], np.float64)
    m, n, _ = svd_factors(np.asarray(weights["weight_rec"], np.float64), rank)
    return m, n


def _fit(rows: np.ndarray, rank: int, n_inputs: int, populations, seed):
    """The law of the rows and its EM report (None for one Gaussian); ``emergence`` re-issues an
    EM non-convergence with the checkpoint and records it in ``CheckpointAnalysis.fit_converged``.
    """
    if populations == 1:
        return GaussianLoadings.fit(rows, rank, n_inputs), None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ConvergenceWarning)  # reported by emergence
        if populations == "bic":
            fitted = MixtureLoadings.fit(rows, rank, n_inputs, covariance_type="best", seed=seed)
        else:
            fitted = MixtureLoadings.fit(rows, rank, n_inputs, n_components=populations, seed=seed)
    return fitted, fitted.fit_report


def _match(predicted: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Distances between optimally assigned points (Hungarian algorithm on Euclidean distances)."""
    if not len(predicted) or not len(observed):
        return np.zeros(0)
    cost = np.linalg.norm(predicted[:, None, :] - observed[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    return cost[rows, cols]


def analyse_checkpoint(
    weights: dict,
    time: str,
    rank=None,
    populations="bic",
    n_starts: int = 64,
    seed=0,
    n_eigenvalues: int = 8,
) -> dict:
    """Outliers, predicted and observed fixed points of one set of weights (see ``emergence``)."""
    from .meanfield import MeanField

    dyn = Dynamics.from_weights(weights, time)
    values = _leading_eigenvalues(dyn.W, time, n_eigenvalues)
    outliers = _outliers(values, time)
    m, n = _factors(weights, rank)
    R = m.shape[1]
    has_bias = bool(np.any(dyn.bias != 0))
    rows = np.concatenate([m, n] + ([dyn.bias[:, None]] if has_bias else []), axis=1)
    loadings, report = _fit(rows, R, int(has_bias), populations, seed)
    meanfield = MeanField(loadings, time=time)
    predicted = meanfield.fixed_points(inputs=[1.0] if has_bias else None, seed=seed)
    observed = find_fixed_points(
        Dynamics(dyn.W, dyn.W_in, dyn.bias, time, n), n_starts=n_starts, seed=seed
    )
    pred_kappa = np.array(predicted.kappa).reshape(-1, R)
    pred_stable = np.array(predicted.stable, dtype=bool).reshape(-1)
    distances = _match(pred_kappa[pred_stable], observed.kappa[observed.stable])
    return {
        "eigenvalues": values,
        "outliers": outliers,
        "predicted_kappa": pred_kappa,
        "predicted_stable": pred_stable,
        "observed_kappa": observed.kappa,
        "observed_stable": observed.stable,
        "populations": getattr(loadings, "n_populations", 1),
        "distances": distances,
        "rank": R,
        "fit_converged": report is None or report.converged,
        "fit_residual": 0.0 if report is None else report.residual,
        "observed_converged": observed.converged,
        "observed_x": observed.x,
    }


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


def emergence(
    run,
    rank: int | None = None,
    populations: int | str = "bic",
    checkpoints=None,
    n_starts: int = 64,
    seed=0,
    progress: bool = False,
    time: str | None = None,
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
        Rank of the projection for full-rank models (default: at the singular-value gap); rank-R
        models use their own m, n.
    populations : int or "bic"
        Number of Gaussian populations fitted to the loadings; "bic" lets the Bayesian information
        criterion choose (full or tied covariances). With ~100 neurons the BIC often settles on one
        population, and one Gaussian population cannot hold the four attractors of a 2-bit
        flip-flop in rank 2 (Beiran et al. 2021): ask for 4 populations to see them predicted.
    checkpoints : sequence of int, optional
        Indices of the checkpoints to analyse (default: all; negative indices count from the end).
    n_starts : int
        Starts of the fixed-point finder.
    seed : int
        Seeds the fixed-point finders and the mixture fits.
    progress : bool
        Show a tqdm progress bar.
    time : {"continuous", "discrete"}, optional
        The time convention: a TrainingRun's own, and that of torch weights ("discrete"); needed
        only for a list of lowrank weight dicts. Must agree with the run's own.

    Returns
    -------
    EmergenceReport

    Warns
    -----
    ConvergenceWarning
        A RuntimeWarning: when the EM fit of the loadings did not converge at a checkpoint, or
        the fixed-point finder found no fixed point there; the table records both
        (``fit_converged``, ``observed_converged``).
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
    if not (isinstance(populations, str) and populations == "bic"):
        if isinstance(populations, str) or not isinstance(populations, numbers.Integral):
            raise TypeError(f"populations must be a positive int or 'bic', got {populations!r}")
        populations = as_int(populations, "populations", minimum=1)
    if rank is not None:
        rank = as_int(rank, "rank", minimum=1, maximum=N)
    n_starts = as_int(n_starts, "n_starts", minimum=1)
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
    if progress:
        from tqdm.auto import tqdm

        indices = tqdm(list(indices), desc="emergence", unit="checkpoint")
    spectra = [
        _leading_eigenvalues(Dynamics.from_weights(p.weights, time).W, time, 8)
        for p in points
    ]
    analyses, R = [], 0
    for i in indices:
        point = points[i]
        found = analyse_checkpoint(point.weights, time, rank, populations, n_starts, seed)
        R = found.pop("rank")
        residual = found.pop("fit_residual")
        if not found["fit_converged"]:
            warnings.warn(
                f"emergence: at checkpoint {i} the EM fit of the loadings did not converge (its "
                f"lower bound last changed by {residual:.3g}); the prediction uses its last "
                "iterate (fit_converged is False in the table)",
                ConvergenceWarning,
                stacklevel=2,
            )
        analyses.append(
            CheckpointAnalysis(
                checkpoint=i, epoch=int(point.epoch), loss=float(point.loss), **found
            )
        )
    return EmergenceReport(analyses, time, R, spectra)
