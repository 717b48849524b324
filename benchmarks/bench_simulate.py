"""Benchmark: lowrank.simulate against plain numpy and torch (CPU) on the same rank-2 network.

Same network (N = 2000, R = 2, g = 0), same 64 trials, same Euler steps, float64, exact tanh.
The numpy and torch baselines are the best straightforward low-rank implementations a user would
write: phi = tanh(X); kappa = phi @ n / N; X += dt * (kappa @ m.T - X), all in place, batched.
Run:  python benchmarks/bench_simulate.py [--steps 500]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

import lowrank

N, R, BATCH, DT = 2000, 2, 64, 0.05


def numpy_lowrank(m, n, x0, n_steps, dt):
    X = x0.copy()
    P = np.empty_like(X)
    nN = n / m.shape[0]
    for _ in range(n_steps):
        np.tanh(X, out=P)
        kappa = P @ nN
        X *= 1.0 - dt
        X += dt * (kappa @ m.T)
    return X


def torch_lowrank(m, n, x0, n_steps, dt):
    m_t, nN_t = torch.from_numpy(m), torch.from_numpy(n / m.shape[0])
    X = torch.from_numpy(x0.copy())
    P = torch.empty_like(X)
    with torch.no_grad():
        for _ in range(n_steps):
            torch.tanh(X, out=P)
            kappa = P @ nN_t
            X.mul_(1.0 - dt).add_(kappa @ m_t.T, alpha=dt)
    return X.numpy()


def best_of(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args()
    law = lowrank.GaussianLoadings(np.zeros(4), np.array(
        [[1.0, 0, 2.0, 0.3], [0, 1.0, -0.3, 1.5], [2.0, -0.3, 5.0, 0], [0.3, 1.5, 0, 3.0]]), rank=2)
    net = lowrank.LowRankNetwork.sample(law, N, seed=0)
    x0 = np.random.default_rng(1).standard_normal((BATCH, N))
    steps = args.steps

    lowrank.simulate(net, x0, 1.0, DT, record_x=False)  # compile (or load from cache)
    t_ours, traj = best_of(lambda: lowrank.simulate(net, x0, steps * DT, DT, record_x=False, record_every=steps))
    t_np, x_np = best_of(lambda: numpy_lowrank(net.m, net.n, x0, steps, DT))
    t_torch, x_torch = best_of(lambda: torch_lowrank(net.m, net.n, x0, steps, DT))

    err = max(np.max(np.abs(traj.x_final - x_np)), np.max(np.abs(traj.x_final - x_torch)))
    neuron_steps = N * BATCH * steps
    print(f"N={N} R={R} batch={BATCH} steps={steps} float64, Euler; cores={os.cpu_count()}, "
          f"torch threads={torch.get_num_threads()}")
    for name, t in [("lowrank.simulate", t_ours), ("numpy", t_np), ("torch", t_torch)]:
        print(f"  {name:17s} {t:8.3f} s   {t / neuron_steps * 1e9:6.2f} ns per neuron-step")
    print(f"  speed-up vs numpy: {t_np / t_ours:5.2f}x   vs torch: {t_torch / t_ours:5.2f}x")
    print(f"  max |x_lowrank - x_baseline| after {steps} steps: {err:.2e}")


if __name__ == "__main__":
    main()
