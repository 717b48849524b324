"""Command-line interface: ``lowrank`` / ``python -m lowrank``.

Sub-commands
------------
demo
    Train rank-2 and full-rank flip-flop networks and compare predicted with observed attractors.
pitchfork
    Mean-field pitchfork of a rank-one network against finite-N simulation.
emergence RUN.npz
    The emergence report of a saved training run (``TrainingRun.save``) or a Turner & Barak file.
train
    Train a network on a task from the command line and save the run.
sweep SPEC.toml [--workers N | --scheduler ADDRESS] [--out DIR]
    Run (or resume) a sweep of settings x seeds; serial by default, on Dask with the options.
sweep-report DIR
    Summary table over seeds and the standard figures of a sweep's results folder.

Errors in what the user gave (a missing file, a bad number, a malformed spec) print one line,
``lowrank: error: ...``, on stderr and exit with status 2, as argparse does for bad options;
never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _integer(minimum: int, expected: str):
    """An argparse type: an integer >= ``minimum`` (``expected`` says so in the error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value

    return parse


_count = _integer(1, "a positive integer")
_size = _integer(0, "an integer >= 0")


def _populations(text: str) -> int | str:
    """An argparse type: 'resample', 'bic' or an integer >= 1."""
    if text.lower() in ("bic", "resample"):
        return text.lower()
    try:
        return _count(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected 'resample', 'bic' or a positive integer, got {text!r}"
        ) from None


class _Parser(argparse.ArgumentParser):
    """argparse, with errors on one line: ``lowrank: error: ... (see lowrank CMD --help)``."""

    def error(self, message: str):
        print(f"lowrank: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lowrank", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    out_help = "folder for the figures and the JSON (default: figures/out)"
    demo = sub.add_parser(
        "demo", help="predicted vs observed attractors over training (the main job)"
    )
    demo.add_argument("--out", default="figures/out", help=out_help)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument(
        "--quick",
        action="store_true",
        help="a small, short run (N = 24, a few epochs; seconds): checks the pipeline, "
        "not the science",
    )
    pitch = sub.add_parser("pitchfork", help="mean-field pitchfork against finite-N simulation")
    pitch.add_argument("--out", default="figures/out", help=out_help)
    pitch.add_argument(
        "--neurons", type=_count, default=4000, help="network size N (default: 4000)"
    )
    pitch.add_argument("--seed", type=int, default=0)
    report = sub.add_parser("emergence", help="emergence report of a saved run")
    report.add_argument(
        "run",
        help="a TrainingRun .npz, or a Turner & Barak 2023 checkpoints file (a bare file name "
        "is also looked up in the LOWRANK_DATA folder)",
    )
    report.add_argument("--out", default="figures/out", help=out_help)
    report.add_argument(
        "--rank", type=_count, default=None, help="projection rank of full-rank models"
    )
    report.add_argument(
        "--populations",
        type=_populations,
        default=None,
        help="Gaussian populations P: 'resample' (the smallest P whose resampled networks keep "
        "the observed attractors), 'bic' or an int (default: the package's, as the demo)",
    )
    report.add_argument(
        "--checkpoints", type=_count, default=8,
        help="how many checkpoints to analyse, spread over the run (default 8, as the demo)",
    )
    report.add_argument(
        "--starts", type=_count, default=64, help="fixed-point finder starts (default 64)"
    )
    report.add_argument(
        "--prediction", choices=("truncated", "bulk", "resolvent"), default="resolvent",
        help="main prediction of a full-rank network: the truncated SVD of W with the rest of W "
        "through its response (resolvent, default), the truncated SVD alone, or the low "
        "rank of W - W0 plus a random bulk (all are reported)",
    )
    report.add_argument(
        "--slow-manifold-tol", type=float, default=None,
        help="count slow manifolds (approximate rings) moving slower than this as one attractor",
    )
    report.add_argument(
        "--bifurcations", action="store_true",
        help="also locate the predicted and observed epoch of each change of the attractor "
        "count between analysed checkpoints (as the demo does)",
    )
    report.add_argument(
        "--finite-size", type=_size, default=None,
        help="N of the resampled network of the finite-size check (default 2000; 0: skip)",
    )
    trainer = sub.add_parser("train", help="train a network and save the run")
    trainer.add_argument("output", help="where to save the run (.npz)")
    trainer.add_argument(
        "--task",
        default="flipflop",
        help="flipflop, cycle, line, plane, ring, ... (default flipflop)",
    )
    trainer.add_argument(
        "--bits", type=_count, default=2, help="channels of a flip-flop task (default 2)"
    )
    trainer.add_argument("--neurons", type=_count, default=100)
    trainer.add_argument(
        "--rank", type=_count, default=None, help="rank of the model (default: full rank)"
    )
    trainer.add_argument("--time", default="discrete", choices=["discrete", "continuous"])
    trainer.add_argument("--seed", type=int, default=0)
    trainer.add_argument("--target-loss", type=float, default=1e-3)
    trainer.add_argument("--max-epochs", type=_count, default=1000)
    sweeper = sub.add_parser("sweep", help="run or resume a sweep of settings x seeds (TOML spec)")
    sweeper.add_argument("spec", help="the sweep specification (.toml)")
    engine = sweeper.add_mutually_exclusive_group()
    engine.add_argument(
        "--workers", type=_count, default=None, help="start a Dask LocalCluster with N workers"
    )
    engine.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    sweeper.add_argument(
        "--out", default=None, help="results folder (default: sweeps/<name of the sweep>)"
    )
    sweeper.add_argument("--no-retry", action="store_true", help="keep tasks recorded as failed")
    sweeper.add_argument("--quiet", action="store_true", help="no progress bar")
    reporter = sub.add_parser(
        "sweep-report", help="summary table and figures of a sweep's results folder"
    )
    reporter.add_argument("folder", help="results folder of `lowrank sweep`")
    reporter.add_argument(
        "--out", default=None, help="where to write the report (default: the folder)"
    )
    reporter.add_argument(
        "--no-degeneracy", action="store_true", help="skip the DSA / weight distances across seeds"
    )
    return parser


def _sweep(args) -> int:
    from pathlib import Path

    from .sweep import load_spec, run_sweep

    spec = load_spec(args.spec)
    out = Path(args.out) if args.out else Path("sweeps") / spec.name
    results = run_sweep(
        spec,
        out,
        workers=args.workers,
        scheduler=args.scheduler,
        retry_failed=not args.no_retry,
        progress=not args.quiet,
    )
    failed = results.failed
    print(
        f"{results.done} of {len(results.records)} tasks done ({results.ran} run now), "
        f"{len(failed)} failed; results in {out}"
    )
    for record in failed:
        where = f"{record['key']} seed {record['seed']} {record['settings']}"
        print(f"  failed {where}: {record['error']}")
    return 1 if failed else 0


def _sweep_report(args) -> None:
    from .sweep import sweep_report

    report = sweep_report(args.folder, args.out, degeneracy=not args.no_degeneracy)
    print(report.format_table())
    print(f"wrote summary.csv, report.json and figures to {args.out or args.folder}")


def _emergence(args) -> None:
    from pathlib import Path

    from .demo import analyse_run, print_bifurcations
    from .io import write_json
    from .plotting import save_figure
    from .training import load_run
    from .turner2023 import data_dir, load_turner2023

    path = Path(args.run)
    folder = data_dir()
    if not path.is_file() and path.name == str(path) and folder and (folder / path.name).is_file():
        path = folder / path.name  # a bare Turner & Barak file name: read it from LOWRANK_DATA
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    run = (
        load_turner2023(path)
        if path.name.startswith(("checkpoints_", "flipflop"))
        else load_run(path)
    )
    report = analyse_run(
        run, args.checkpoints, rank=args.rank, populations=args.populations,
        n_starts=args.starts, finite_size=args.finite_size,
        slow_manifold_tol=args.slow_manifold_tol, prediction=args.prediction,
    )
    bulk = f", left the bulk at {report.crossings_bulk()}" if report.bulk_edge > 0 else ""
    print(f"outliers crossed the stability boundary at checkpoints {report.crossings()}{bulk}")
    print(report.format_table())
    print(report.summary())
    if args.bifurcations:
        print_bifurcations(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_figure(report.plot(), out / f"emergence_{path.stem}.png")
    write_json(out / f"emergence_{path.stem}.json", report.to_json())
    print(f"wrote {out / f'emergence_{path.stem}.png'} and .json")


def _train(args) -> None:
    from pathlib import Path

    from . import tasks
    from .models import RNN
    from .training import train

    output = Path(args.output)
    if output.is_dir():
        raise ValueError(f"output {args.output!r} is a folder; give a file name (.npz)")
    if not output.parent.is_dir():
        raise FileNotFoundError(
            f"folder {str(output.parent)!r} of output {args.output!r} does not exist"
        )
    maker = tasks.maker(args.task)
    task = maker(bits=args.bits) if args.task == "flipflop" else maker()
    model = RNN(
        task.n_inputs, args.neurons, task.n_outputs, rank=args.rank, time=args.time, seed=args.seed
    )
    run = train(
        model, task, seed=args.seed, target_loss=args.target_loss, max_epochs=args.max_epochs
    )
    run.save(args.output)
    print(f"trained {run.epochs} epochs, final loss {run.losses[-1]:.2e}; saved {args.output}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (it never raises SystemExit).

    A bad option, or a ValueError, TypeError or OSError (FileNotFoundError included) raised by
    what the user gave, is printed as one line ``lowrank: error: ...`` on stderr and gives
    status 2.
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a bad option (2, its line already printed)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return _run(args)
    except (ValueError, TypeError, OSError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"lowrank: error: {message}", file=sys.stderr)
        return 2


def _run(args) -> int:
    if args.command == "demo":
        from .demo import emergence_demo

        emergence_demo(out_dir=args.out, seed=args.seed, quick=args.quick)
    elif args.command == "pitchfork":
        from .demo import pitchfork_demo

        pitchfork_demo(out_dir=args.out, N=args.neurons, seed=args.seed)
    elif args.command == "emergence":
        _emergence(args)
    elif args.command == "sweep":
        return _sweep(args)
    elif args.command == "sweep-report":
        _sweep_report(args)
    else:
        _train(args)
    return 0
