"""Benchmark of the main job: does ``lowrank.emergence`` predict a trained network's attractors?

Networks: rank-2 and full-rank tanh RNNs, N = 100, discrete time (Turner & Barak 2023), trained with
``lowrank.train`` (default settings, default init) on the 1-, 2- and 3-bit flip-flop (Sussillo &
Barak 2013) and on the ring task (a continuous attractor), 3 seeds each; plus the runs of Turner &
Barak with all their checkpoints (``checkpoints_*.npz`` in ``lowrank.turner2023.data_dir()``;
skipped with the loader's message when absent). Trained runs are cached (``--cache``, saved
atomically by ``TrainingRun.save``), so a rerun only analyses.

For each run, ``lowrank.emergence(run, checkpoints=...)`` with default settings analyses
``--checkpoints`` checkpoints spread evenly over the run's list (the first and last included), and
the benchmark prints:

- ``counts``: fraction of analysed checkpoints where the predicted number of stable attractors
  equals the observed one (also marginal manifolds, when the table reports them);
- ``pos err``: median over matched stable attractors (Hungarian assignment in kappa space) of
  |kappa_pred - kappa_obs| / |kappa_obs| at the last checkpoint;
- ``timing``: of the observed bifurcations (increases of the observed stable count), the fraction
  whose predicted counterpart lies within one analysed-checkpoint interval (from
  ``report.bifurcations()`` when the report has it, else from the table: the first analysed
  checkpoint reaching each count, predicted against observed); an attractor gained or lost by
  one side only counts as a miss. The totals also give the fraction on time among the
  bifurcations both sides make (paired), which separates timing errors from count errors;
- the wall time of training (when not cached) and of ``emergence``;
- where the counts differ, how many of 32 networks drawn from the fitted law at the trained N
  (``report.resampled_counts``) have the network's count (a count the law itself gives at that
  size: finite size rather than an error of the fit).

Totals per model kind are held against the targets of issue 13: counts match at >= 90% of the
analysed checkpoints for rank-R models and >= 75% for full-rank ones; median position error <= 10%
at the last checkpoint; every predicted bifurcation within one checkpoint interval.

Run:  python benchmarks/bench_emergence.py [--quick] [--seeds 3] [--checkpoints 8]
          [--tasks ...] [--kinds ...] [--cache benchmarks/out/emergence_runs] [--data DIR]
          [--no-turner] [--only TEXT ...] [--train-only] [--table-timing] [--seed S]
          [--json FILE]
``--quick``: 1 seed, 1- and 2-bit flip-flops, 3 checkpoints, no Turner & Barak run.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

import lowrank
from lowrank import RNN, train
from lowrank import tasks as T
from lowrank.emergence_report import FULL_RANK_PREDICTIONS
from lowrank.turner2023 import data_dir, missing_data_message

N = 100
TASKS = {
    "flipflop1": lambda: T.flipflop(1),
    "flipflop2": lambda: T.flipflop(2),
    "flipflop3": lambda: T.flipflop(3),
    "ring": T.ring,
}
KINDS = {"rank2": 2, "full": None}
TARGETS = {"rank-R": 0.90, "full": 0.75, "error": 0.10, "timing": 1.0}
DRAWS = 32  # networks drawn from the fitted law where the counts differ
DEFAULT_CACHE = Path(__file__).resolve().parent / "out" / "emergence_runs"


def trained_run(kind: str, task_name: str, seed: int, cache: Path):
    """The cached run, or train it (lowrank.train defaults) and save it; (run, seconds trained)."""
    path = cache / f"{kind}_{task_name}_seed{seed}.npz"
    if path.is_file():
        return lowrank.load_run(path), 0.0
    task = TASKS[task_name]()
    model = RNN(task.n_inputs, N, task.n_outputs, rank=KINDS[kind], time="discrete", seed=seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lowrank.ConvergenceWarning)
        run = train(model, task, seed=seed, progress=False)
    seconds = time.perf_counter() - start
    cache.mkdir(parents=True, exist_ok=True)
    run.save(path)  # atomic: a killed rerun never leaves half a file under this name
    return run, seconds


def spread(n_checkpoints: int, count: int) -> list[int]:
    """``count`` checkpoint indices spread evenly over 0 .. n_checkpoints - 1, ends included."""
    return sorted({int(round(x)) for x in np.linspace(0, n_checkpoints - 1, count)})


def _stable_kappa(analysis, which: str) -> np.ndarray:
    kappa = np.asarray(getattr(analysis, f"{which}_kappa"), dtype=float)
    stable = np.asarray(getattr(analysis, f"{which}_stable"), dtype=bool).reshape(-1)
    return kappa.reshape(len(stable), -1)[stable]


def position_error(analysis) -> float:
    """Median |kappa_pred - kappa_obs| / |kappa_obs| over optimally matched stable points (NaN
    when either side has none)."""
    predicted, observed = _stable_kappa(analysis, "predicted"), _stable_kappa(analysis, "observed")
    if not len(predicted) or not len(observed):
        return math.nan
    cost = np.linalg.norm(predicted[:, None, :] - observed[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    scale = np.maximum(np.linalg.norm(observed[cols], axis=1), 1e-12)
    return float(np.median(cost[rows, cols] / scale))


def counts_match(row: dict) -> bool:
    """The report's own ``match`` when its table has one, else predicted == observed counts."""
    if "match" in row:
        return bool(row["match"])
    return bool(row["predicted_stable"] == row["observed_stable"])


def last_error(report, rows: list[dict]) -> float:
    """Median relative position error at the last analysed checkpoint: the report's own
    (``position_error`` in its table) when it has one, else ``position_error`` above."""
    if "position_error" in rows[-1]:
        value = rows[-1]["position_error"]
        return math.nan if value is None else float(value)
    return position_error(report.analyses[-1])


def _within(item) -> tuple[bool | None, bool]:
    """(``within_interval``, both sides present) of one entry of ``report.bifurcations()``
    (tuple, mapping or object)."""
    if isinstance(item, dict):
        paired = item.get("predicted_epoch") is not None and item.get("observed_epoch") is not None
        return item.get("within_interval"), paired
    if hasattr(item, "within_interval"):
        return item.within_interval, item.predicted is not None and item.observed is not None
    if isinstance(item, (tuple, list)) and len(item) == 4:
        return item[3], item[0] is not None and item[1] is not None
    return None, False


def timing(report, rows: list[dict], located: bool, seed: int = 0
           ) -> tuple[int, int, int, int, str]:
    """(bifurcations predicted within one interval, bifurcations, the same two counting only the
    paired ones, i.e. those both the prediction and the network make, source): the located ones
    of ``report.bifurcations()`` when ``located`` and the report has them, else from the table."""
    if located and hasattr(report, "bifurcations"):
        try:
            items = list(report.bifurcations(seed=seed))
        except Exception as exc:  # noqa: BLE001 - a benchmark reports and falls back
            print(f"  report.bifurcations() failed ({type(exc).__name__}: {exc}); using the table")
        else:
            flags = [_within(item) for item in items]
            if all(flag is not None for flag, _ in flags):
                paired = [bool(flag) for flag, both in flags if both]
                return (sum(bool(f) for f, _ in flags), len(flags), sum(paired), len(paired),
                        "report")
    observed = np.array([r["observed_stable"] for r in rows])
    predicted = np.array([r["predicted_stable"] for r in rows])
    hits = total = paired = 0
    for level in range(int(observed[0]) + 1, int(observed.max(initial=0)) + 1):
        total += 1
        seen = int(np.argmax(observed >= level))
        reached = np.flatnonzero(predicted >= level)
        paired += bool(reached.size)
        hits += bool(reached.size) and abs(int(reached[0]) - seen) <= 1
    return hits, total, hits, paired, "table"


def differ_draws(report, rows: list[dict]) -> list[tuple[int, list[int]]]:
    """(observed count, counts of ``DRAWS`` networks drawn from the fitted law at the trained N)
    at each analysed checkpoint whose predicted and observed counts differ
    (``report.resampled_counts``; none when the report has no such method)."""
    if not hasattr(report, "resampled_counts"):
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lowrank.ConvergenceWarning)
        return [(r["observed_stable"], report.resampled_counts(i, DRAWS))
                for i, r in enumerate(rows) if not counts_match(r)]


def analyse(name: str, kind: str, run, count: int, trained_s: float, located: bool,
            prediction: str = "resolvent", seed: int = 0) -> dict:
    picks = spread(len(run.checkpoints), count)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", lowrank.ConvergenceWarning)
        report = lowrank.emergence(run, checkpoints=picks, prediction=prediction, seed=seed)
    seconds = time.perf_counter() - start
    rows = report.table()
    matches = [counts_match(r) for r in rows]
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as timing_caught:
        warnings.simplefilter("always", lowrank.ConvergenceWarning)
        hits, events, paired_hits, paired, source = timing(report, rows, located, seed)
    timing_s = time.perf_counter() - start
    caught = caught + timing_caught
    summary = report.summary() if hasattr(report, "summary") else None
    drawn = differ_draws(report, rows)
    return {
        "run": name,
        "kind": kind,
        "checkpoints": picks,
        "epochs": [int(r["epoch"]) for r in rows],
        "predicted": [int(r["predicted_stable"]) for r in rows],
        "observed": [int(r["observed_stable"]) for r in rows],
        "populations": [r.get("populations") for r in rows],
        "matched": int(sum(matches)),
        # every prediction the table has beside the main one (full-rank networks)
        "methods": {
            method: int(sum(bool(r[f"{method}_match"]) for r in rows))
            for method in FULL_RANK_PREDICTIONS
            if all(r.get(f"{method}_match") is not None for r in rows)
        },
        "analysed": len(rows),
        # where the counts differ: networks drawn from the fitted law at the trained N, and
        # those of them with the network's count (a finite-size effect, not a fit error)
        "differ_draws": sum(len(counts) for _, counts in drawn),
        "differ_observed": sum(counts.count(observed) for observed, counts in drawn),
        "error": last_error(report, rows),
        "timing_hits": int(hits),
        "timing_events": int(events),
        "timing_paired_hits": int(paired_hits),
        "timing_paired": int(paired),
        "timing_source": source,
        "warnings": sum(issubclass(w.category, lowrank.ConvergenceWarning) for w in caught),
        "train_s": trained_s,
        "emergence_s": seconds,
        "timing_s": timing_s,
        "summary": summary,
    }


def _pct(x: float) -> str:
    return "   -" if math.isnan(x) else f"{100 * x:3.0f}%"


def print_run(r: dict) -> None:
    print(
        f"{r['run']:52s} {r['kind']:6s} {r['matched']:2d}/{r['analysed']:<2d} "
        f"{_pct(r['matched'] / max(r['analysed'], 1)):>5} {_pct(r['error']):>7} "
        f"{r['timing_hits']:2d}/{r['timing_events']:<2d}({r['timing_source'][0]}) "
        f"{r['train_s']:7.1f} {r['emergence_s']:7.1f} {r['timing_s']:7.1f}  pred {r['predicted']} "
        f"obs {r['observed']}"
        f" P {r['populations']} warn {r['warnings']}"
        + (f" per prediction {r['methods']}" if r["methods"] else "")
        + (f" where counts differ, {r['differ_observed']}/{r['differ_draws']} draws at the "
           "trained N have the network's count" if r["differ_draws"] else ""),
        flush=True,
    )
    if r["summary"]:
        print(f"{'':52s} {r['summary']}", flush=True)


def totals(results: list[dict]) -> list[dict]:
    """Pooled agreement per model kind, held against the targets."""
    out = []
    for kind, label in (("rank2", "rank-R"), ("full", "full")):
        group = [r for r in results if r["kind"] == kind]
        if not group:
            continue
        matched = sum(r["matched"] for r in group) / max(sum(r["analysed"] for r in group), 1)
        errors = [r["error"] for r in group if not math.isnan(r["error"])]
        error = float(np.median(errors)) if errors else math.nan
        events = sum(r["timing_events"] for r in group)
        hits = sum(r["timing_hits"] for r in group)
        timed = hits / events if events else math.nan
        paired = sum(r["timing_paired"] for r in group)
        paired_hits = sum(r["timing_paired_hits"] for r in group)
        methods = {
            method: sum(r["methods"].get(method, 0) for r in group)
            / max(sum(r["analysed"] for r in group), 1)
            for method in FULL_RANK_PREDICTIONS
            if all(method in r["methods"] for r in group)
        }
        out.append(
            {
                "kind": label,
                "methods": methods,
                "runs": len(group),
                "counts": matched,
                "counts_ok": matched >= TARGETS[label],
                "error": error,
                "error_ok": bool(errors) and error <= TARGETS["error"],
                "no_error": len(group) - len(errors),
                "timing": timed,
                "timing_ok": events > 0 and timed >= TARGETS["timing"],
                "timing_paired": paired_hits / paired if paired else math.nan,
                "paired": paired,
                "events": events,
                "differ": sum(r["analysed"] - r["matched"] for r in group),
                "differ_draws": sum(r["differ_draws"] for r in group),
                "differ_observed": sum(r["differ_observed"] for r in group),
            }
        )
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 1-2 bits, 3 ckpts")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--checkpoints", type=int, default=8, help="analysed per run")
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), help="default: all")
    parser.add_argument("--kinds", nargs="+", choices=list(KINDS), help="default: all")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help="folder of trained runs")
    parser.add_argument("--data", help="folder of the Turner & Barak (2023) files")
    parser.add_argument("--no-turner", action="store_true", help="skip the Turner & Barak runs")
    parser.add_argument("--only", nargs="+", metavar="TEXT",
                        help="analyse only the runs whose name contains one of these")
    parser.add_argument("--train-only", action="store_true", help="train and cache, no analysis")
    parser.add_argument("--json", help="also write the per-run results and totals here")
    parser.add_argument("--prediction", choices=FULL_RANK_PREDICTIONS, default="resolvent",
                        help="main prediction of full-rank runs (all are reported)")
    parser.add_argument("--seed", type=int, default=0,
                        help="emergence's seed (fits, draws, searches); the default is its own")
    parser.add_argument(
        "--table-timing",
        action="store_true",
        help="time bifurcations from the analysed checkpoints only, not report.bifurcations()",
    )
    args = parser.parse_args(argv)
    seeds = 1 if args.quick else args.seeds
    count = 3 if args.quick else args.checkpoints
    task_names = args.tasks or (["flipflop1", "flipflop2"] if args.quick else list(TASKS))
    kinds = args.kinds or list(KINDS)
    cache = Path(args.cache)
    begin = time.perf_counter()

    runs = []  # (name, kind, run, seconds trained)
    for task_name in task_names:
        for kind in kinds:
            for seed in range(seeds):
                if args.only and not any(t in f"{kind}_{task_name}_seed{seed}" for t in args.only):
                    continue
                run, seconds = trained_run(kind, task_name, seed, cache)
                name = f"{kind}_{task_name}_seed{seed}"
                state = "trained" if seconds else "cached"
                print(
                    f"{state} {name}: {run.epochs} epochs, {len(run.checkpoints)} checkpoints, "
                    f"loss {run.losses[-1]:.2e}{'' if run.converged else ' (NOT converged)'}"
                    + (f", {seconds:.0f} s" if seconds else ""),
                    flush=True,
                )
                runs.append((name, kind, run, seconds))
    if not args.no_turner:
        folder = data_dir(args.data)
        if folder is None:
            print(f"skipping Turner & Barak runs: {missing_data_message(args.data)}")
        else:
            files = [] if args.quick else sorted(folder.glob("checkpoints_*.npz"))
            if args.quick:
                print("skipping Turner & Barak runs (--quick)")
            elif not files:
                print(f"skipping Turner & Barak runs: no checkpoints_*.npz in {folder}")
            for path in files:
                name = f"turner:{path.stem.removeprefix('checkpoints_')}"
                if args.only and not any(t in name for t in args.only):
                    continue
                run = lowrank.load_turner2023(path)
                kind = "full" if run.config["model"]["rank"] is None else "rank2"
                runs.append((name, kind, run, 0.0))
    if args.train_only:
        print(f"trained/cached {len(runs)} runs in {time.perf_counter() - begin:.0f} s")
        return 0

    print(
        f"\n{'run':52s} {'kind':6s} {'counts':>5} {'':>5} {'pos err':>7} {'timing':>8} "
        f"{'train s':>7} {'emerg s':>7} {'timed s':>7}"
    )
    results, failed = [], []
    for name, kind, run, seconds in runs:
        try:
            result = analyse(name, kind, run, count, seconds, not args.table_timing,
                             args.prediction, args.seed)
        except Exception as exc:  # noqa: BLE001 - one failing run must not hide the others
            print(f"{name:52s} {kind:6s} FAILED: {type(exc).__name__}: {exc}", flush=True)
            failed.append({"run": name, "kind": kind, "error": f"{type(exc).__name__}: {exc}"})
            continue
        print_run(result)
        results.append(result)
    summary = totals(results)
    print(f"\n{'kind':7s} {'runs':>4} {'counts':>14} {'median pos err':>20} {'timing':>14}")
    for t in summary:
        target = TARGETS[t["kind"]]
        print(
            f"{t['kind']:7s} {t['runs']:4d} {_pct(t['counts'])} (>= {100 * target:.0f}%) "
            f"{'ok' if t['counts_ok'] else 'NO':>2}  {_pct(t['error'])} (<= 10%) "
            f"{'ok' if t['error_ok'] else 'NO':>2}  {_pct(t['timing'])} (all) "
            f"{'ok' if t['timing_ok'] else 'NO':>2}  (of the {t['paired']} of {t['events']} "
            f"bifurcations both make: {_pct(t['timing_paired'])} on time)"
            + (f"  [{t['no_error']} runs without matched points]" if t["no_error"] else "")
        )
        if t["differ_draws"]:
            print(
                f"        where counts differ ({t['differ']} checkpoints): "
                f"{t['differ_observed']} of {t['differ_draws']} networks drawn from the fitted "
                "law at the trained N have the network's count"
            )
        if t["methods"]:
            print("        counts per prediction: " + ", ".join(
                f"{method} {_pct(value)}" for method, value in t["methods"].items()))
    if failed:
        print(
            f"{len(failed)} runs FAILED in emergence (not in the totals): "
            + ", ".join(f["run"] for f in failed)
        )
    wall = time.perf_counter() - begin
    print(
        f"\nwall time {wall:.0f} s (training {sum(r['train_s'] for r in results):.0f} s, "
        f"emergence {sum(r['emergence_s'] for r in results):.0f} s, bifurcation timing "
        f"{sum(r['timing_s'] for r in results):.0f} s)"
    )
    if args.json:
        record = {
            "results": results,
            "failed": failed,
            "totals": summary,
            "wall_s": wall,
            "quick": args.quick,
        }
        Path(args.json).write_text(json.dumps(record, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
