"""The demos: attractor emergence in trained networks (the main job), and the rank-one pitchfork.

``emergence_demo`` trains a rank-2 and a full-rank network on the 2-bit flip-flop (parallel mode,
discrete time, N = 100), runs ``lowrank.emergence`` on their checkpoints with the package's
defaults (``analyse_run``, which ``lowrank emergence RUN.npz`` runs too) and writes the tables,
a JSON record, the runs and one figure per model.

``pitchfork_demo``: for overlaps sigma_nm across the pitchfork at sigma_nm = 1 (Mastrogiuseppe &
Ostojic 2018, Neuron 99:609), the mean-field engine predicts the stable latent fixed points
kappa*, and networks of N neurons with whitened loadings are simulated from either side until they
settle. The table, a JSON record and a figure (``pitchfork.png``) show prediction and simulation
together. ``lowrank demo --quick`` runs a small version of the emergence demo in seconds.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from .loadings import GaussianLoadings
from .network import LowRankNetwork
from .simulation import simulate

DEMO_CHECKPOINTS = 8


def _spread(n_checkpoints: int, count: int) -> list[int]:
    """``count`` checkpoint indices spread evenly from the first to the last."""
    picks = np.linspace(0, n_checkpoints - 1, min(count, n_checkpoints)).round().astype(int)
    return sorted(set(picks.tolist()))


def analyse_run(
    run,
    checkpoints: int = DEMO_CHECKPOINTS,
    rank: int | None = None,
    populations=None,
    n_starts: int = 64,
    finite_size: int | None = None,
    seed: int = 0,
    progress: bool = True,
    slow_manifold_tol: float | None = None,
    prediction: str = "resolvent",
):
    """``lowrank.emergence`` at ``checkpoints`` checkpoints spread over the run, as the demo and
    ``lowrank emergence RUN.npz`` both run it (so that they agree): the package's defaults for
    the populations (None), the rank and the prediction, unless given; ``finite_size`` None is
    the default N of the finite-size check, 0 skips it."""
    from .emergence_report import LARGE_N, emergence

    extra = {} if populations is None else {"populations": populations}
    return emergence(
        run, rank=rank, checkpoints=_spread(len(run.checkpoints), checkpoints), seed=seed,
        progress=progress, n_starts=n_starts,
        finite_size=LARGE_N if finite_size is None else (finite_size or None),
        slow_manifold_tol=slow_manifold_tol, prediction=prediction, **extra,
    )


def print_bifurcations(report) -> None:
    """Locate and print the predicted and observed epoch of each change of the attractor count
    (``EmergenceReport.bifurcations``; kept in the report's JSON)."""
    events = report.bifurcations()
    if not events:
        print("no change of the attractor count between analysed checkpoints")
    for e in events:
        def at(epoch):
            return "-" if epoch is None else f"{epoch:.1f}"

        change = "gained" if e["new_attractors"] > 0 else "lost"
        print(f"epochs {e['epoch_a']}-{e['epoch_b']}: an attractor {change}, "
              f"predicted at epoch {at(e['predicted_epoch'])}, observed at "
              f"{at(e['observed_epoch'])}"
              + ("" if e["difference"] is None else
                 f" ({'within' if e['within_interval'] else 'NOT within'} the interval)"))


def emergence_demo(
    out_dir: str | Path = "figures/out", seed: int = 0, progress: bool = True, quick: bool = False
) -> dict:
    """Train rank-2 and full-rank 2-bit flip-flop networks; compare predicted, observed attractors.

    Everything is chosen by the package's defaults, as ``lowrank emergence RUN.npz`` does on the
    saved runs (``run_rank2.npz``, ``run_fullrank.npz`` in ``out_dir``): the number of Gaussian
    populations P, the rank (the model's own for the rank-2 network; for the full-rank one the
    smallest whose low-rank network keeps the network's attractors), the prediction (the
    full-rank network's truncated SVD with the rest of W through its response, the
    truncated SVD alone and the low rank of W - W0 plus a random bulk beside it). The tables and
    figures state P and the rank used; the epochs at which the attractor count changes are
    located between checkpoints, predicted and observed (``EmergenceReport.bifurcations``).

    ``quick=True`` runs the same pipeline on a small, barely trained problem (N = 24, trials of 60
    steps, 15 epochs, the first and last checkpoints, 16 fixed-point starts, no finite-size
    check), in seconds: it checks that everything runs and is written, not the science (training
    stops far from its target, which is said once instead of warned). ``lowrank emergence
    run_fullrank.npz --checkpoints 2 --starts 16 --finite-size 0`` reproduces its tables.
    """
    from ._checks import ConvergenceWarning
    from .io import write_json
    from .models import RNN
    from .plotting import save_figure
    from .tasks import flipflop
    from .training import train

    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    N, steps, shown = (24, 60, 2) if quick else (100, 200, DEMO_CHECKPOINTS)
    schedule = {"max_epochs": 15, "batches": 2, "batch_size": 16} if quick else {}
    task = flipflop(bits=2, steps=steps)
    record = {
        "task": f"2-bit flip-flop (parallel), discrete time, N = {N}",
        "seed": seed,
        "quick": quick,
        "models": {},
    }
    if quick:
        print("quick run: a few epochs of a small network, far from trained (checks the pipeline)")
    for name, rank in (("rank2", 2), ("fullrank", None)):
        model = RNN(task.n_inputs, N, task.n_outputs, rank=rank, time="discrete", seed=seed)
        print(f"== training the {'rank-2' if rank else 'full-rank'} network")
        with warnings.catch_warnings():
            if quick:
                warnings.simplefilter("ignore", ConvergenceWarning)
            run = train(model, task, seed=seed, progress=progress, **schedule)
        run.save(out_dir / f"run_{name}.npz")
        with warnings.catch_warnings():
            if quick:
                warnings.simplefilter("ignore", ConvergenceWarning)
            report = analyse_run(run, shown, seed=seed, progress=progress,
                                 n_starts=16 if quick else 64, finite_size=0 if quick else None)
        bulk = f", left the bulk at {report.crossings_bulk()}" if report.bulk_edge > 0 else ""
        print(f"{len(run.checkpoints)} checkpoints, {run.epochs} epochs, final loss "
              f"{run.losses[-1]:.2e}; outliers crossed the unit circle at checkpoints "
              f"{report.crossings()}{bulk}")
        print(report.format_table())
        print(report.summary())
        if not quick:
            print_bifurcations(report)
        png = out_dir / ("emergence.png" if rank else f"emergence_{name}.png")
        figure = save_figure(report.plot(), png)
        record["models"][name] = {"epochs": run.epochs, "final_loss": float(run.losses[-1]),
                                  "figure": figure.name, "run": f"run_{name}.npz",
                                  **report.to_json()}
    record["seconds"] = time.perf_counter() - start
    write_json(out_dir / "emergence.json", record)
    print(f"wrote {out_dir / 'emergence.png'}, {out_dir / 'emergence_fullrank.png'}, "
          f"{out_dir / 'emergence.json'} and the runs ({record['seconds']:.0f} s)")
    return record


OVERLAPS = (0.5, 0.9, 1.1, 1.3, 1.5, 2.0, 2.5, 3.0)


def rank_one_law(overlap: float) -> GaussianLoadings:
    """Zero-mean rank-one loadings: Var(m) = 1, Var(n) = overlap^2 + 1 and Cov(n, m) = overlap."""
    return GaussianLoadings([0.0, 0.0], [[1.0, overlap], [overlap, overlap**2 + 1.0]], rank=1)


def predicted_kappa(overlap: float) -> float:
    """The largest attracting mean-field fixed point kappa* >= 0 for this overlap.

    Attracting means stable, or marginal: at the pitchfork (overlap 1) the origin has eigenvalue 0
    exactly and is the only fixed point (it attracts, though not exponentially).
    """
    from .meanfield import MeanField

    points = MeanField(rank_one_law(overlap)).fixed_points()
    return float(max(fp.kappa[0] for fp in points if fp.stable or fp.marginal))


def simulated_kappa(overlap: float, N: int, seed: int) -> np.ndarray:
    """kappa reached by an N-neuron network from x0 = +m and x0 = -m (t = 100, dt = 0.1)."""
    net = LowRankNetwork.sample(rank_one_law(overlap), N, seed=seed, whiten=True)
    x0 = np.stack([net.m[:, 0], -net.m[:, 0]])
    traj = simulate(net, x0, 100.0, 0.1, method="exp_euler", record_x=False, record_every=1000)
    return traj.kappa[:, -1, 0]


def pitchfork_demo(out_dir: str | Path = "figures/out", N: int = 4000, seed: int = 0) -> dict:
    """Run the demo, print the table and write ``pitchfork.json`` and ``pitchfork.png``."""
    from .io import write_json
    from .plotting import save_figure

    start = time.perf_counter()
    rows = []
    print(f"Rank-one network, N = {N}: mean-field kappa* against simulation from +-m")
    print(f"{'overlap':>8} {'kappa* (theory)':>16} {'kappa (sim, +m)':>16} "
          f"{'kappa (sim, -m)':>16} {'rel. error':>11}")
    for overlap in OVERLAPS:
        theory = predicted_kappa(overlap)
        sim = simulated_kappa(overlap, N, seed)
        error = abs(sim[0] - theory) / theory if theory > 0 else abs(sim[0])
        rows.append(
            {"overlap": overlap, "theory": theory, "simulated": sim.tolist(), "error": error}
        )
        print(f"{overlap:8.2f} {theory:16.6f} {sim[0]:16.6f} {sim[1]:16.6f} {error:11.2e}")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    grid = np.linspace(0.3, 3.2, 59)
    curve = [predicted_kappa(s) for s in grid]
    save_figure(_figure(grid, curve, rows, N), out_dir / "pitchfork.png")
    record = {"N": N, "seed": seed, "rows": rows, "seconds": time.perf_counter() - start}
    write_json(out_dir / "pitchfork.json", record)
    print(f"wrote {out_dir / 'pitchfork.png'} and {out_dir / 'pitchfork.json'} "
          f"({record['seconds']:.1f} s)")
    return record


def _figure(grid, curve, rows, N):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    curve = np.asarray(curve)
    ax.plot(grid, curve, "k-", label="mean field, stable")
    ax.plot(grid, -curve, "k-")
    ax.axhline(0, color="k", ls="--", lw=0.8, label="kappa = 0 (unstable past 1)")
    sims = np.array([r["simulated"] for r in rows])
    overlaps = [r["overlap"] for r in rows]
    ax.plot(overlaps, sims[:, 0], "o", color="C0", label=f"simulation, N = {N}")
    ax.plot(overlaps, sims[:, 1], "o", color="C0")
    ax.axvline(1.0, color="0.6", lw=0.8)
    ax.set_xlabel(r"overlap $\sigma_{nm}$")
    ax.set_ylabel(r"$\kappa$")
    ax.set_title("Pitchfork of a rank-one network")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
