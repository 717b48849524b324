"""Benchmark: find_fixed_points against a tuned FixedPointFinder-style Adam minimisation of q.

The baseline (Golub & Sussillo 2018, FixedPointFinder) minimises q(x) = |R(x)|^2 / 2 for all starts
at once with torch's Adam in float64, one thread, the learning rate decreased by 0.95 whenever the
total q does not improve; it runs once per initial learning rate of a small sweep and the best run
(the most distinct fixed points, then the most starts converged, then the fastest) is reported
with its learning rate and time. It stops when every start meets the
same tolerance as find_fixed_points, max_i |R_i| < tol, or after a cap of iterations. Both methods
start from the same states, sampled outside the timing (the states find_fixed_points samples for
seed 0 on a dense network: trajectories from random initial conditions; a FixedPointFinder user
passes states of their own simulations), find_fixed_points through ``initial_states`` (the latent
search of a low-rank network from their projections); the speed-up is measured on these. The
time of find_fixed_points sampling its own starts (its default, trajectories included) is printed
too, with its own speed-up. Points below the tolerance are deduplicated the same way
(``unique_points``, radius 1e-5) and counted for both.

Networks: the trained flip-flop networks of Turner & Barak (2023, N = 100, discrete; skipped with
a message when their files are absent, README.md 'Data'), a dense N = 3000 network (planted rank
two plus a random bulk of gain 0.5, continuous) and a low-rank N = 100 000 network (rank two,
continuous). Time by ``time.perf_counter`` (wall) and ``time.process_time`` (CPU time of the
process; both methods run on one thread, so on a quiet machine the two agree, while on a shared
one the CPU time is far less disturbed by the other processes: both speed-ups are printed); peak
memory of lowrank by ``tracemalloc`` in a second, untimed run (numpy's allocations; torch's are
not traced, the process's peak RSS is printed at the end). A warm-up on small low-rank and dense
networks first (imports, and the one-off compilation of lowrank's numba kernels, cached on disk
after the first run on a machine).

Run:  python benchmarks/bench_fixedpoints.py [--quick] [--data DIR]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import torch

from lowrank import LowRankNetwork
from lowrank.dynamics import unique_points
from lowrank.fixedpoints import Dynamics, find_fixed_points
from lowrank.turner2023 import add_data_argument, data_dir, missing_data_message

TOL = 1e-6  # max_i |R_i| at a fixed point, for both methods (FixedPointFinder's q ~ 1e-12)


def _residual_torch(system: Dynamics):
    """R(x) in torch (float64), through the factors for a low-rank network."""
    c = torch.from_numpy(system.drive(None))
    if system.factors is not None:
        m, n = (torch.from_numpy(a) for a in system.factors)
        N = m.shape[0]

        def rows(Y):
            return (Y @ n) @ m.T / N
    else:
        W = torch.from_numpy(system.W)

        def rows(Y):
            return Y @ W.T

    if system.time == "continuous":
        return lambda X: rows(torch.tanh(X)) + c - X
    return lambda X: torch.tanh(rows(X) + c) - X


def adam_fixed_points(system: Dynamics, starts: np.ndarray, lr: float, max_iter: int):
    """FixedPointFinder-style Adam on the total q; returns (end states, max|R| each, iterations)."""
    residual = _residual_torch(system)
    x = torch.from_numpy(starts.copy()).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    best, iterations = np.inf, 0
    while iterations < max_iter:
        opt.zero_grad()
        R = residual(x)
        if R.abs().amax(dim=1).max().item() < TOL:
            break
        iterations += 1
        total = 0.5 * (R**2).sum()
        total.backward()
        opt.step()
        value = total.item()
        if value >= best:
            for group in opt.param_groups:
                group["lr"] *= 0.95
        best = min(best, value)
    with torch.no_grad():
        R = residual(x).abs().amax(dim=1).numpy()
    return x.detach().numpy(), R, iterations


def distinct(points: np.ndarray) -> np.ndarray:
    return points[unique_points(points, 1e-5, 1e-5)[0]] if len(points) else points


def baseline_starts(system: Dynamics, n_starts: int) -> np.ndarray:
    rng = np.random.default_rng(0)  # the starts find_fixed_points(seed=0) samples (dense)
    X = system.trajectory_states(rng, n_starts, system.drive(None), 100)
    return X + 1e-3 * rng.standard_normal(X.shape)


def run_adam(system, starts, lrs, max_iter):
    """One run per learning rate of the sweep; the best (most distinct points, then most starts
    converged, then fastest) is the tuned baseline, its own time reported."""
    best = None
    for lr in lrs:
        t0, c0 = time.perf_counter(), time.process_time()
        h, R, iterations = adam_fixed_points(system, starts, lr, max_iter)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        run = {"t": seconds, "cpu": cpu, "points": len(distinct(h[R < TOL])), "lr": lr,
               "iterations": iterations, "converged": int(np.count_nonzero(R < TOL)),
               "starts": len(starts)}
        if best is None or (run["points"], run["converged"], -run["t"]) > (
            best["points"], best["converged"], -best["t"]
        ):
            best = run
    return best


def run_ours(network, time_convention, n_starts, starts=None):
    """Timed untraced (tracemalloc slows every allocation, up to 2.5x at N = 100), then run
    again under tracemalloc for the peak memory."""
    def run():
        return find_fixed_points(network, time=time_convention, seed=0, n_starts=n_starts,
                                 tol=TOL, initial_states=starts)

    t0, c0 = time.perf_counter(), time.process_time()
    fp = run()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"t": seconds, "cpu": cpu, "points": len(fp), "stable": fp.n_stable, "peak": peak,
            "method": fp.method, "converged": fp.converged}


def compare(name, network, time_convention, n_starts, lrs, max_iter):
    system = Dynamics.from_object(network, time_convention)
    starts = baseline_starts(system, n_starts)
    ours = run_ours(network, time_convention, n_starts, starts)
    own = run_ours(network, time_convention, n_starts)
    adam = run_adam(system, starts, lrs, max_iter)
    ratio = adam["t"] / ours["t"]
    print(f"  {name}: lowrank {ours['t']:7.2f} s (CPU {ours['cpu']:.2f} s), {ours['points']:3d} "
          f"points ({ours['stable']} stable), {ours['method']}, peak {ours['peak'] / 1e9:.3f} GB"
          f" | Adam lr {adam['lr']:g}: {adam['t']:7.2f} s (CPU {adam['cpu']:.2f} s), "
          f"{adam['points']:3d} points, {adam['converged']}/{adam['starts']} starts converged, "
          f"{adam['iterations']} iterations | speed-up {ratio:5.1f}x (CPU "
          f"{adam['cpu'] / ours['cpu']:.1f}x), points {ours['points']} vs {adam['points']}\n"
          f"      lowrank sampling its own starts: {own['t']:7.2f} s (CPU {own['cpu']:.2f} s), "
          f"{own['points']:3d} points ({own['stable']} stable) | speed-up "
          f"{adam['t'] / own['t']:5.1f}x (CPU {adam['cpu'] / own['cpu']:.1f}x)", flush=True)
    return ours, adam


def planted(N: int, bulk: float, seed: int = 1):
    """Rank two, m = n = +-1 patterns scaled by 2 (9 fixed points), plus a random bulk."""
    rng = np.random.default_rng(seed)
    xi = np.sign(rng.standard_normal((N, 2)))
    if not bulk:
        return LowRankNetwork(2.0 * xi, xi)
    return 2.0 * xi @ xi.T / N + bulk * rng.standard_normal((N, N)) / np.sqrt(N)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer starts and iterations")
    parser.add_argument("--networks", type=int, default=3, help="Turner & Barak networks")
    add_data_argument(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    quick = args.quick
    lrs = (1e-2, 1e-1) if quick else (1e-3, 1e-2, 1e-1, 1.0)
    # N >= 3000: at lr 0.1 Adam needs ~270 iterations to bring its 4 quick starts below TOL
    max_iter, large_iter = (2000, 600) if quick else (10000, 2000)
    print(f"tolerance max|R| < {TOL:g}; Adam float64, one run per learning rate in {lrs}, "
          f"the best kept (at most {max_iter} iterations, {large_iter} for N >= 3000); "
          "one thread; the machine's load affects both sides alike")
    # warm-up: imports, caches, numba kernels (the dense products of find_fixed_points at N >= 512)
    find_fixed_points(planted(64, 0.0), seed=0, n_starts=8)
    find_fixed_points(planted(600, 0.5), time="continuous", seed=0, n_starts=2)
    rows = []
    folder = data_dir(args.data)
    if folder is None:
        print(f"  Turner & Barak networks skipped: {missing_data_message(args.data)}")
    else:
        weights = np.load(folder / "flipflopparallel_3bits_200_vanilla_100.npz")
        weights = weights["final.rnn.weight_hh_l0"].astype(np.float64)
        count = 1 if quick else args.networks
        for k, W in enumerate(weights[:count]):
            rows.append(compare(f"3-bit flip-flop {k} (N = 100, map)", W, "discrete",
                                64 if quick else 256, lrs, max_iter))
    rows.append(compare("dense N = 3000 (flow)", planted(3000, 0.5), "continuous",
                        4 if quick else 32, lrs, large_iter))
    rows.append(compare("low rank N = 100 000 (flow)", planted(100_000, 0.0), "continuous",
                        8 if quick else 64, lrs, large_iter))
    t_ours, c_ours = sum(o["t"] for o, _ in rows), sum(o["cpu"] for o, _ in rows)
    t_adam, c_adam = sum(a["t"] for _, a in rows), sum(a["cpu"] for _, a in rows)
    print(f"  total: speed-up {t_adam / t_ours:.1f}x (Adam {t_adam:.1f} s / lowrank "
          f"{t_ours:.1f} s; CPU {c_adam / c_ours:.1f}x); points lowrank / Adam: "
          f"{sum(o['points'] for o, _ in rows)} / {sum(a['points'] for _, a in rows)}")
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"  process peak RSS {peak_rss:.2f} GB (both methods, all networks)")


if __name__ == "__main__":
    main()
