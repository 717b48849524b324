"""Summaries of a sweep's results folder: statistics over seeds, degeneracy across seeds, figures.

For every combination of the varied settings (a *group*), over its finished seeds:

- the mean and standard deviation of every numeric scalar the job returned, over its finite
  values (``<scalar>_nonfinite`` counts the seeds where it was inf, -inf or nan, when any);
- when the tasks stored them (``lowrank.sweep.jobs.train_and_analyse`` does), the solution
  degeneracy of Huang et al. (2024) between the seeds: the mean pairwise DSA distance of the states
  on the shared probe batch (``probe_states``; Ostrow et al. 2023), the mean pairwise
  permutation-invariant distance of the trained recurrent weights relative to that of the initial
  weights (``W_final`` / ``W_initial``), and the coefficient of variation of the OOD error.

``sweep_report`` writes ``summary.csv``, ``report.json`` and the figures ``sweep_metrics.png``
(every scalar against the first numeric varied setting, one line per value of the others) and,
with arrays, ``sweep_degeneracy.png``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import numbers
from pathlib import Path

import numpy as np

from .store import ResultStore, write_csv

__all__ = ["SweepReport", "sweep_report"]

_DEGENERACY = {
    "dsa_distance": "DSA distance between seeds",
    "weight_distance_ratio": "weight distance, trained / initial",
    "ood_cv": "OOD error, s.d. / mean over seeds",
}


@dataclasses.dataclass
class SweepReport:
    """Statistics of a sweep over its seeds.

    Attributes
    ----------
    folder : Path
    varied : list of str
        The settings that differ between groups.
    groups : list of dict
        One per group: its varied settings, ``n_done``, ``n_failed``, ``<scalar>_mean`` and
        ``<scalar>_std`` for every numeric scalar, and the degeneracy measures when available.
    scalars : list of str
        The numeric scalars summarised.
    failed : list of dict
        key, seed, settings and error of every failed task.
    """

    folder: Path
    varied: list
    groups: list
    scalars: list
    failed: list

    def __repr__(self) -> str:
        """A summary (groups, counts, scalars); ``format_table()`` gives the statistics."""
        done = sum(g.get("n_done", 0) for g in self.groups)
        scalars = ", ".join(self.scalars[:8]) + (", ..." if len(self.scalars) > 8 else "")
        return (
            f"SweepReport(folder={str(self.folder)!r}, {len(self.groups)} groups varying "
            f"{self.varied}, {done} tasks done, {len(self.failed)} failed, scalars: {scalars})"
        )

    def to_json(self) -> dict:
        return {
            "varied": self.varied,
            "scalars": self.scalars,
            "groups": self.groups,
            "failed": self.failed,
        }

    def format_table(self, columns: list[str] | None = None) -> str:
        """Aligned text: the varied settings, counts, and mean +- s.d. of the chosen scalars."""
        columns = self.scalars if columns is None else columns
        extra = [d for d in _DEGENERACY if any(d in g for g in self.groups)]
        header = [*self.varied, "done", "failed", *columns, *extra]
        rows = []
        for g in self.groups:
            row = [str(g[v]) for v in self.varied] + [str(g["n_done"]), str(g["n_failed"])]
            row += [_pm(g.get(f"{c}_mean"), g.get(f"{c}_std")) for c in columns]
            row += [_pm(g.get(d)) for d in extra]
            rows.append(row)
        widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(header)]
        lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
        lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        return "\n".join(lines)

    def _axes(self) -> tuple[str | None, list[str]]:
        """The x-axis setting (the first whose values are all numbers) and the line settings."""
        for name in self.varied:
            if all(_is_number(g[name]) for g in self.groups):
                return name, [v for v in self.varied if v != name]
        return (self.varied[0], self.varied[1:]) if self.varied else (None, [])

    def plot(self, names: list[str], titles: dict | None = None, std: bool = True):
        """A figure with one panel per name: mean (+- s.d.) against the x-axis setting."""
        import matplotlib.pyplot as plt

        x_name, line_names = self._axes()
        cols = min(3, len(names))
        rows = -(-len(names) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), squeeze=False)
        lines = sorted({tuple(g[n] for n in line_names) for g in self.groups}, key=str)
        x_values = sorted({g[x_name] for g in self.groups}, key=_order) if x_name else [None]
        for ax, name in zip(axes.flat, names, strict=False):
            for k, line in enumerate(lines):
                members = [g for g in self.groups if tuple(g[n] for n in line_names) == line]
                members.sort(key=lambda g: _order(g[x_name]) if x_name else 0)
                xs = (
                    [
                        x_values.index(g[x_name]) if not _is_number(g[x_name]) else g[x_name]
                        for g in members
                    ]
                    if x_name
                    else [0] * len(members)
                )
                mean = [g.get(f"{name}_mean", g.get(name)) for g in members]
                err = [g.get(f"{name}_std") for g in members] if std else None
                label = ", ".join(f"{n}={v}" for n, v in zip(line_names, line, strict=True)) or None
                mean = [np.nan if m is None else m for m in mean]
                err = None if err is None or None in err else err
                ax.errorbar(xs, mean, err, marker="o", capsize=3, color=f"C{k % 10}", label=label)
            ax.set(xlabel=x_name or "", title=(titles or {}).get(name, name))
            if x_name and not all(_is_number(v) for v in x_values):
                ax.set_xticks(range(len(x_values)), [str(v) for v in x_values])
            elif x_name and len(x_values) <= 12:
                ax.set_xticks(x_values)
        for ax in list(axes.flat)[len(names) :]:
            ax.set_visible(False)
        if lines and line_names:
            axes.flat[0].legend(frameon=False, fontsize=7)
        fig.tight_layout()
        return fig


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _order(value):
    return (0, value, "") if _is_number(value) else (1, 0, str(value))


def _pm(mean, std=None) -> str:
    if mean is None:
        return "-"
    return f"{mean:.3g}" if std is None else f"{mean:.3g}+-{std:.2g}"


def _freeze(value):
    return json.dumps(value, sort_keys=True)


def _mean_offdiagonal(D: np.ndarray) -> float:
    return float(D[np.triu_indices(len(D), 1)].mean())


def _pairwise(matrices: list[np.ndarray], seed: int) -> float:
    from ..metrics import permutation_invariant_distance

    return float(
        np.mean(
            [
                permutation_invariant_distance(a, b, n_restarts=2, seed=seed)
                for a, b in itertools.combinations(matrices, 2)
            ]
        )
    )


def _degeneracy(store: ResultStore, done: list[dict], dsa_rank: int, dsa_delays: int) -> dict:
    """Huang et al. (2024) measures between the seeds of one group (needs 2 seeds or more)."""
    from ..metrics import pairwise_dsa

    out: dict = {}
    if len(done) < 2:
        return out
    errors = np.array([r["scalars"].get("ood_error") for r in done], dtype=float)
    if np.all(np.isfinite(errors)) and errors.mean() > 0:
        out["ood_cv"] = float(errors.std(ddof=1) / errors.mean())
    arrays = [store.arrays(r["key"]) for r in done]
    if all("probe_states" in a for a in arrays):
        states = [a["probe_states"].astype(np.float64) for a in arrays]
        rank = min(dsa_rank, dsa_delays * states[0].shape[-1])
        out["dsa_distance"] = _mean_offdiagonal(
            pairwise_dsa(states, n_delays=dsa_delays, rank=rank)
        )
    if all("W_final" in a and "W_initial" in a for a in arrays):
        initial = _pairwise([a["W_initial"] for a in arrays], seed=0)
        if initial > 0:
            out["weight_distance_ratio"] = (
                _pairwise([a["W_final"] for a in arrays], seed=0) / initial
            )
    return out


def _numeric_scalars(records: list[dict]) -> list[str]:
    names: list[str] = []
    for r in records:
        names += [
            n for n, v in r["scalars"].items() if n not in names and isinstance(v, numbers.Real)
        ]
    return [
        n
        for n in names
        if all(
            r["scalars"].get(n) is None or isinstance(r["scalars"][n], numbers.Real)
            for r in records
        )
    ]


def sweep_report(
    folder: str | Path,
    out: str | Path | None = None,
    *,
    degeneracy: bool = True,
    figures: bool = True,
    dsa_rank: int = 8,
    dsa_delays: int = 5,
) -> SweepReport:
    """Summarise the results folder of a sweep over its seeds; write tables and figures.

    Parameters
    ----------
    folder : str or Path
        A folder written by ``run_sweep`` / ``lowrank sweep``.
    out : str or Path, optional
        Where to write ``summary.csv``, ``report.json`` and the figures (default: ``folder``).
    degeneracy : bool
        Compute the between-seed measures of Huang et al. (2024) from the stored arrays.
    figures : bool
        Draw ``sweep_metrics.png`` (and ``sweep_degeneracy.png``).
    dsa_rank, dsa_delays : int
        Rank and delays of the DMD models of DSA.

    Returns
    -------
    SweepReport

    Raises
    ------
    ValueError
        When ``folder`` holds no results, or results that fail their checks (edited, truncated or
        deleted files; the message lists them): run the sweep again to recompute them.
    """
    if not any((Path(folder) / "tasks").glob("*.json")):
        raise ValueError(f"folder {str(folder)!r} holds no sweep results (no tasks/*.json)")
    store = ResultStore(folder)
    spec = store.read_spec() or {}
    verified, damaged = store.survey(arrays=degeneracy)
    if damaged:
        listing = "; ".join(f"{key}: {problem}" for key, problem in damaged.items())
        raise ValueError(
            f"folder {str(folder)!r} holds {len(damaged)} damaged task result(s); run the sweep "
            f"again to recompute them ({listing})"
        )
    records = list(verified.values())
    all_settings = sorted({n for r in records for n in r["settings"]})
    varied = [n for n in all_settings if len({_freeze(r["settings"].get(n)) for r in records}) > 1]
    order = [n for n in [*spec.get("grid", {}), *varied] if n in varied]
    varied = list(dict.fromkeys(order))
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(_freeze([r["settings"].get(n) for n in varied]), []).append(r)
    done_records = [r for r in records if r["status"] == "done"]
    scalars = _numeric_scalars(done_records)
    summary = []
    for members in groups.values():
        done = sorted((r for r in members if r["status"] == "done"), key=lambda r: r["seed"])
        row = {n: members[0]["settings"].get(n) for n in varied}
        row.update(n_done=len(done), n_failed=len(members) - len(done))
        for name in scalars:
            values = np.array([r["scalars"].get(name) for r in done], dtype=float)
            present = np.array([r["scalars"].get(name) is not None for r in done], dtype=bool)
            finite = np.isfinite(values)
            values = values[finite]
            row[f"{name}_mean"] = float(values.mean()) if values.size else None
            row[f"{name}_std"] = float(values.std(ddof=1)) if values.size > 1 else None
            if np.any(present & ~finite):
                row[f"{name}_nonfinite"] = int(np.count_nonzero(present & ~finite))
        if degeneracy:
            row.update(_degeneracy(store, done, dsa_rank, dsa_delays))
        summary.append(row)
    summary.sort(key=lambda g: [_order(g[n]) for n in varied])
    failed = [
        {k: r.get(k) for k in ("key", "seed", "settings", "error")}
        for r in records
        if r["status"] == "failed"
    ]
    report = SweepReport(Path(folder), varied, summary, scalars, failed)
    _write(report, Path(folder) if out is None else Path(out), figures)
    return report


def _write(report: SweepReport, out: Path, figures: bool) -> None:
    from ..io import write_json
    from ..plotting import save_figure

    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "summary.csv", report.groups)
    write_json(out / "report.json", report.to_json())
    if not figures or not report.groups:
        return
    if report.scalars:
        save_figure(report.plot(report.scalars), out / "sweep_metrics.png")
    present = [d for d in _DEGENERACY if any(d in g for g in report.groups)]
    if present:
        save_figure(report.plot(present, _DEGENERACY, std=False), out / "sweep_degeneracy.png")
