"""Benchmark: find_fixed_points against the usual approach (FixedPointFinder-style Adam on q).

The baseline (Golub & Sussillo 2018, FixedPointFinder) minimises q(h) = |F(h)|^2 / 2 for all
starts at once with Adam in torch, learning rate 1.0 decreased by 0.95 whenever the total q does
not improve, until every q < 1e-12 (or 20000 iterations). Both get the same starts (the states
find_fixed_points samples for seed 0) on the same trained 3-bit flip-flop network of Turner &
Barak (2023), discrete time. Points with q < 1e-12 are deduplicated the same way and counted.
Run:  python benchmarks/bench_fixedpoints.py [--starts 256] [--networks 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lowrank.dynamics import unique_points
from lowrank.fixedpoints import Dynamics, find_fixed_points
from lowrank.turner2023 import add_data_argument, require_data_dir


def adam_fixed_points(W: np.ndarray, starts: np.ndarray, q_tol=1e-12, max_iter=20000):
    Wt = torch.from_numpy(W)
    h = torch.from_numpy(starts.copy()).requires_grad_(True)
    opt = torch.optim.Adam([h], lr=1.0)
    lr, best = 1.0, np.inf
    for it in range(max_iter):
        opt.zero_grad()
        q = 0.5 * ((torch.tanh(h @ Wt.T) - h) ** 2).sum(dim=1)
        if q.max().item() < q_tol:
            break
        total = q.sum()
        total.backward()
        opt.step()
        if total.item() >= best:
            lr *= 0.95
            for group in opt.param_groups:
                group["lr"] = lr
        best = min(best, total.item())
    with torch.no_grad():
        q = 0.5 * ((torch.tanh(h @ Wt.T) - h) ** 2).sum(dim=1).numpy()
    return h.detach().numpy(), q, it + 1


def compare(W: np.ndarray, n_starts: int) -> dict:
    """Time both methods from the same starts on one network; count deduplicated points."""
    dyn = Dynamics.from_object(W, "discrete")
    rng = np.random.default_rng(0)  # the same starts find_fixed_points(seed=0) uses
    starts = dyn.trajectory_states(rng, n_starts, dyn.drive(None), 100)
    starts += 1e-3 * rng.standard_normal(starts.shape)

    t0 = time.perf_counter()
    ours = find_fixed_points(W, time="discrete", seed=0, n_starts=n_starts)
    t_ours = time.perf_counter() - t0

    t0 = time.perf_counter()
    h, q, iterations = adam_fixed_points(W, starts)
    t_adam = time.perf_counter() - t0
    found = h[q < 1e-12]
    adam_points = found[unique_points(found, 1e-5, 1e-5)[0]]  # as find_fixed_points does
    adam_stable = 0
    if len(adam_points):
        eig = dyn.stability_eigenvalues(adam_points, dyn.drive(None))
        adam_stable = int(np.count_nonzero(np.abs(eig).max(axis=1) < 1))
    return {"t_ours": t_ours, "t_adam": t_adam, "ours": len(ours), "ours_stable": ours.n_stable,
            "adam": len(adam_points), "adam_stable": adam_stable, "iterations": iterations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=256)
    parser.add_argument("--networks", type=int, default=3)
    add_data_argument(parser)
    args = parser.parse_args()
    data = require_data_dir(parser, args)
    weights = np.load(data / "flipflopparallel_3bits_200_vanilla_100.npz")["final.rnn.weight_hh_l0"]
    find_fixed_points(weights[0].astype(np.float64), time="discrete", seed=0, n_starts=8)  # warm-up
    print(f"3-bit flip-flop networks (Turner & Barak 2023, N = 100, discrete), {args.starts} starts, "
          f"torch threads {torch.get_num_threads()}")
    rows = [compare(W.astype(np.float64), args.starts) for W in weights[: args.networks]]
    for k, r in enumerate(rows):
        print(f"  network {k}: ours {r['t_ours']:6.2f} s, {r['ours']:2d} points ({r['ours_stable']} stable) | "
              f"Adam {r['t_adam']:6.2f} s, {r['adam']:2d} points ({r['adam_stable']} stable), "
              f"{r['iterations']} iterations")
    t_ours, t_adam = sum(r["t_ours"] for r in rows), sum(r["t_adam"] for r in rows)
    print(f"  total: speed-up {t_adam / t_ours:.1f}x; points found, ours / Adam: "
          f"{sum(r['ours'] for r in rows)} / {sum(r['adam'] for r in rows)}; stable: "
          f"{sum(r['ours_stable'] for r in rows)} / {sum(r['adam_stable'] for r in rows)}")


if __name__ == "__main__":
    main()
