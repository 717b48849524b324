"""Matplotlib helpers shared by the figures: atomic saving, spectra against the unit circle, the
emergence figure."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from ._checks import as_array, as_float, as_int, choose
from .io import _atomic_write

__all__ = ["save_figure", "plot_spectrum", "plot_emergence"]


def save_figure(fig, path, dpi: int = 150) -> Path:
    """Save a matplotlib figure atomically (temporary file + rename) in a new or existing folder,
    then close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".") or "png"
    _atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi))
    plt.close(fig)
    return path


def plot_spectrum(
    eigenvalues, ax=None, time: str = "discrete", radius: float | None = None, **scatter
):
    """Eigenvalues in the complex plane with the stability boundary of the time convention.

    Maps are stable inside the unit circle |lambda| = 1; for a flow dx/dt = -x + J phi(x) linearised
    at a point with gain 1, an eigenvalue lambda of J is unstable when Re(lambda) > 1 (dashed line).
    ``radius`` draws the bulk disk (e.g. g) as a dotted circle.
    """
    import matplotlib.pyplot as plt

    values = as_array(eigenvalues, "eigenvalues", ndim=1, dtype=complex, allow_empty=True)
    time = choose(time, "time", ("continuous", "discrete"))
    if radius is not None:
        radius = as_float(radius, "radius", minimum=0.0)
    ax = ax if ax is not None else plt.gca()
    theta = np.linspace(0, 2 * np.pi, 400)
    if time == "discrete":
        ax.plot(np.cos(theta), np.sin(theta), color="0.5", lw=0.8)
    else:
        ax.axvline(1.0, color="0.5", lw=0.8, ls="--")
    if radius is not None:
        ax.plot(radius * np.cos(theta), radius * np.sin(theta), color="0.7", lw=0.8, ls=":")
    ax.scatter(values.real, values.imag, s=scatter.pop("s", 8), **scatter)
    ax.set_aspect("equal")
    ax.set_xlabel(r"Re $\lambda$")
    ax.set_ylabel(r"Im $\lambda$")
    return ax


def plot_emergence(report, portraits: int = 3):
    """The emergence figure of an ``EmergenceReport``.

    Left: attractor counts against the epoch, as steps at the analysed checkpoints (dotted
    verticals): observed, predicted (main prediction) and, for a full-rank network, the
    predictions beside it (legend inside the panel); thin steps give the eigenvalues past the
    stability boundary and outside the bulk at every checkpoint; once ``report.bifurcations()``
    has run, its located changes are marked along the bottom (observed and predicted epoch joined,
    dashed orange when more than one checkpoint interval apart). Middle: the leading eigenvalues
    at every checkpoint, coloured by epoch (colour bar), with the stability boundary and the bulk
    edge. Right: kappa
    planes at up to ``portraits`` analysed checkpoints whose attractors are not all at the origin
    (shared limits), predicted and observed stable points joined by their matching; the strip
    above each is its epoch's colour. The title is the summary (wrapped at clauses): agreement,
    the prediction, the rank R, P and how they were chosen.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator

    from .emergence_checkpoint import KAPPA_FLOOR, _pairs
    from .emergence_factors import FULL_RANK_PREDICTIONS

    portraits = as_int(portraits, "portraits", minimum=0)
    analyses = report.analyses
    shown = [
        k for k, a in enumerate(analyses)
        if max(_extent(a.observed_kappa[a.observed_stable]),
               _extent(a.predicted_kappa[a.predicted_stable])) >= KAPPA_FLOOR
    ]
    picks = [shown[i] for i in np.unique(
        np.linspace(0, len(shown) - 1, min(portraits, len(shown))).round().astype(int)
    )] if shown and portraits else []
    columns = max(2, len(picks))
    fig = plt.figure(figsize=(4.2 * columns, 8.6 if picks else 4.6))
    grid = fig.add_gridspec(2 if picks else 1, 2 * columns)
    axes = [fig.add_subplot(grid[0, :columns]), fig.add_subplot(grid[0, columns:])]
    start = columns - len(picks)  # centre the portraits in the second row
    axes += [fig.add_subplot(grid[1, start + 2 * k:start + 2 * k + 2]) for k in range(len(picks))]
    epochs = np.asarray(report.epochs if report.epochs else range(len(report.spectra)), float)
    norm = Normalize(epochs.min(initial=0.0), max(epochs.max(initial=1.0), epochs.min() + 1))

    ax = axes[0]
    ep = [a.epoch for a in analyses]
    ax.step(epochs, report.outlier_counts(), where="post", lw=1, color="0.55",
            label="eigenvalues past the stability boundary")
    if report.bulk_edge > 0:
        ax.step(epochs, report.outlier_counts_bulk(), where="post", lw=1, ls="--", color="0.55",
                label=f"eigenvalues outside the bulk (|λ| > {report.bulk_edge:.2f})")
    ax.step(ep, [a.observed_attractors for a in analyses], "o-", where="post", mfc="none",
            color="C0", lw=2, ms=7, label="observed attractors")
    names = {"bulk": "low rank + bulk", "truncated": "truncated SVD", "own": "own m, n",
             "resolvent": "SVD + response of the rest"}
    ax.step(ep, [a.main.n_attractors for a in analyses], "x-", where="post", color="C3", lw=1.5,
            ms=8, label=f"predicted ({names[analyses[0].prediction]})" if analyses else "_")
    beside = [m for m in FULL_RANK_PREDICTIONS if analyses and m != analyses[0].prediction]
    for method, colour in zip(beside, ("C2", "C4"), strict=False):
        if all(method in a.predictions for a in analyses):
            ax.step(ep, [a.predictions[method].n_attractors for a in analyses], "+:",
                    where="post", color=colour, ms=8, label=f"predicted ({names[method]})")
    for e in ep:
        ax.axvline(e, color="0.6", lw=0.7, ls=":", zorder=0)
    _plot_bifurcations(ax, getattr(report, "_bifurcations", None))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch (dotted: analysed checkpoints)")
    ax.set_ylabel("count")
    ax.set_title("attractors over training", fontsize=9)
    ax.legend(fontsize=6.5, loc="upper left", framealpha=0.85)

    ax = axes[1]
    for e, values in zip(epochs, report.spectra, strict=True):
        plot_spectrum(values, ax=ax, time=report.time,
                      radius=report.bulk_edge if report.bulk_edge > 0 else None,
                      color=plt.cm.viridis(norm(e)), s=6)
    cax = ax.inset_axes([1.04, 0.0, 0.05, 1.0])  # a child axes: fig.axes stays one per panel
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap="viridis"), cax=cax,
                 label="epoch (training time)")
    boundary = "unit circle" if report.time == "discrete" else r"Re $\lambda$ = 1"
    edge = ", dotted: bulk edge" if report.bulk_edge > 0 else ""
    ax.set_title(f"leading eigenvalues of W ({boundary}{edge})", fontsize=9)

    extent = max([_extent(k) for a in (analyses[i] for i in picks)
                  for k in (a.observed_kappa[a.observed_stable],
                            a.predicted_kappa[a.predicted_stable])] + [KAPPA_FLOOR])
    half = 1.2 * extent
    for ax, k in zip(axes[2:], picks, strict=True):
        a = analyses[k]
        obs = _plane(a.observed_kappa)
        pred = _plane(a.predicted_kappa)
        ax.scatter(*obs[~a.observed_stable].T, marker="o", s=25, facecolors="none",
                   edgecolors="C0", alpha=0.35, label="observed unstable")
        ax.scatter(*obs[a.observed_stable].T, marker="o", s=60, facecolors="none",
                   edgecolors="C0", lw=1.5, label="observed stable")
        ax.scatter(*pred[a.predicted_stable].T, marker="x", s=60, color="C3",
                   label="predicted stable")
        ax.scatter(*pred[~a.predicted_stable].T, marker="x", s=25, color="C3", alpha=0.35,
                   label="predicted unstable")
        ps, os_ = pred[a.predicted_stable], obs[a.observed_stable]
        for i, j in zip(*_pairs(a.predicted_kappa[a.predicted_stable],
                                a.observed_kappa[a.observed_stable]), strict=True):
            ax.plot([ps[i, 0], os_[j, 0]], [ps[i, 1], os_[j, 1]], "-", color="0.4", lw=0.8)
        ax.plot([], [], "-", color="0.4", lw=0.8, label="matched pair")
        ax.set_xlim(-half, half)
        ax.set_ylim(-half, half)
        ax.set_aspect("equal")
        ax.set_xlabel(r"$\kappa_1$")
        ax.set_ylabel(r"$\kappa_2$" if a.predicted_kappa.shape[1] > 1 else "")
        error = a.main.position_error
        ax.set_title(
            f"epoch {a.epoch}: {a.observed_attractors} observed, {a.main.n_attractors} predicted"
            + ("" if error is None else f"\nposition error {100 * error:.0f}%"),
            fontsize=9, pad=9,
        )
        ax.add_patch(plt.Rectangle((0.0, 1.0), 1.0, 0.025, transform=ax.transAxes, clip_on=False,
                                   color=plt.cm.viridis(norm(a.epoch))))  # training time
    if picks:
        axes[2].legend(frameon=False, fontsize=7, loc="upper left")
    width = int(13 * fig.get_figwidth())  # characters of 9 pt text across the figure
    lines: list[str] = []
    for part in report.summary().split("; "):  # whole clauses per line, long ones wrapped
        if lines and len(lines[-1]) + 2 + len(part) <= width:
            lines[-1] += "; " + part
        else:
            lines += textwrap.wrap(part, width)
    fig.suptitle("\n".join(lines), fontsize=9)
    fig.tight_layout()
    return fig


def _plot_bifurcations(ax, events) -> None:
    """The located changes of ``EmergenceReport.bifurcations()`` (when computed) along the
    bottom of the counts panel: observed (triangle up) and predicted (triangle down) epochs, a
    pair joined by a line, solid when within one checkpoint interval, dashed orange when not;
    an unpaired change alone, at its side's marker."""
    if not events:
        return
    from matplotlib.transforms import blended_transform_factory

    at = blended_transform_factory(ax.transData, ax.transAxes)  # x: epoch, y: panel fraction
    y = 0.04
    for event in {tuple(sorted(e.items())) for e in events}:  # one per event, not per attractor
        e = dict(event)
        pred, obs = e["predicted_epoch"], e["observed_epoch"]
        if pred is not None and obs is not None:
            on_time = e["within_interval"]
            ax.plot([pred, obs], [y, y], "-" if on_time else "--", transform=at, lw=1.2,
                    color="0.3" if on_time else "C1")
        if obs is not None:
            ax.plot(obs, y, "^", transform=at, color="C0", ms=6)
        if pred is not None:
            ax.plot(pred, y, "v", transform=at, color="C3", ms=6)
    ax.plot([], [], "^", color="C0", ms=6, label="located change, observed")
    ax.plot([], [], "v", color="C3", ms=6, label="located change, predicted")


def _extent(kappa: np.ndarray) -> float:
    return float(np.abs(kappa).max()) if kappa.size else 0.0


def _plane(kappa: np.ndarray) -> np.ndarray:
    """Points (k, 2) in the kappa_1, kappa_2 plane (kappa_2 = 0 in rank one)."""
    kappa = np.asarray(kappa, float).reshape(len(kappa), -1)
    if kappa.shape[1] >= 2:
        return kappa[:, :2]
    return np.concatenate([kappa, np.zeros((len(kappa), 1))], axis=1)
