"""Benchmark: lowrank.metrics.dsa_distance against the dsa-metric package, and lyapunov_spectrum.

DSA. 20 pairs of trajectories (noisy 2-D linear systems - rotations and decays - embedded in 6
units, 200 steps), n_delays = 3, rank = 4, angular score. The baseline is dsa-metric (Ostrow et al.
2023; ``pip install dsa-metric==2.0.2``): its ``DMD`` and ``SimilarityTransformDist`` (Adam on a
Cayley-parametrised C, from the identity and from a row swap) with ``iters`` Adam steps. Without
the package, a straightforward reference stands in: the same DMD in numpy and BFGS with numerical
gradients on C = expm(S) from the identity and from a reflection. Both minimise the same objective,
so a lower score is a better optimum; the table shows time per pair and the score differences.

Lyapunov. N = 500, 5000 steps of dt = 0.1: a rank-2 network (full spectrum, RK4), and a network with
a bulk g = 1.5 (50 leading exponents, exponential Euler). The baseline is the textbook loop a user
would write: the dense Jacobian D = -I + J diag(phi'), Q <- qr((I + dt D) Q) every step (Euler),
timed on fewer steps and scaled to 5000.
Run:  python benchmarks/bench_metrics.py [--pairs 20] [--iters 1000]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy.linalg import expm
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

import lowrank
from lowrank.metrics import dmd_matrix, dsa_distance


def trajectories(n_pairs: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)

    def system():
        if rng.random() < 0.5:
            th, r = rng.uniform(0.1, 0.6), rng.uniform(0.9, 0.99)
            A = r * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
        else:
            A = np.diag(rng.uniform(0.7, 0.99, 2))
        x, X = rng.standard_normal(2), []
        for _ in range(200):
            x = A @ x + 0.05 * rng.standard_normal(2)
            X.append(x)
        return np.array(X) @ rng.standard_normal((2, 6))

    return [(system(), system()) for _ in range(n_pairs)]


def reference_dsa(X, Y, n_delays, rank):
    """Straightforward DSA: numpy DMD; BFGS (numerical gradient) on C = expm(S) from I, a flip."""
    a = dmd_matrix(X, n_delays, rank)
    b = dmd_matrix(Y, n_delays, rank)
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    iu = np.triu_indices(rank, 1)

    def loss(p, base):
        S = np.zeros((rank, rank))
        S[iu] = p
        C = base @ expm(S - S.T)
        return -np.sum(a * (C @ b @ C.T))

    flip = np.diag([-1.0] + [1.0] * (rank - 1))
    best = min(
        minimize(loss, np.zeros(len(iu[0])), args=(B,), method="BFGS").fun
        for B in (np.eye(rank), flip)
    )
    return float(np.arccos(np.clip(-best, -1, 1)))


def dsa_metric_dsa(X, Y, n_delays, rank, iters):
    from DSA import DMD, SimilarityTransformDist

    models = []
    for Z in (X, Y):
        dmd = DMD(Z, n_delays=n_delays, rank=rank, lamb=0.0)
        dmd.fit()
        models.append(dmd.A_v)
    return float(
        SimilarityTransformDist(iters=iters, score_method="angular", lr=0.01).fit_score(*models)
    )


def bench_dsa(n_pairs: int, iters: int) -> None:
    pairs = trajectories(n_pairs)
    try:
        import DSA  # noqa: F401
        import torch

        torch.set_num_threads(1)
        baseline = f"dsa-metric ({iters} Adam steps)"

        def theirs(X, Y):
            return dsa_metric_dsa(X, Y, 3, 4, iters)
    except ImportError:
        baseline = "numpy/BFGS reference (dsa-metric not installed)"

        def theirs(X, Y):
            return reference_dsa(X, Y, 3, 4)

    t0 = time.perf_counter()
    ours = [dsa_distance(X, Y, n_delays=3, rank=4) for X, Y in pairs]
    t_ours = time.perf_counter() - t0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        ref = [theirs(X, Y) for X, Y in pairs]
        t_ref = time.perf_counter() - t0
    diff = np.array(ours) - np.array(ref)
    print(f"DSA, {n_pairs} pairs, n_delays=3, rank=4 (angular score)")
    print(f"  lowrank.metrics.dsa_distance : {1e3 * t_ours / n_pairs:8.1f} ms/pair")
    print(
        f"  {baseline:29s}: {1e3 * t_ref / n_pairs:8.1f} ms/pair   (speed-up x{t_ref / t_ours:.1f})"
    )
    print(
        f"  score difference ours - baseline: max |.| {np.abs(diff).max():.2e}, "
        f"within 1e-2 for {np.sum(np.abs(diff) <= 1e-2)}/{n_pairs}, "
        f"ours lower (better optimum) by > 1e-2 for {np.sum(diff < -1e-2)}"
    )


def textbook_lyapunov(J, n_steps, dt, seed=0):
    rng = np.random.default_rng(seed)
    N = len(J)
    x = 0.5 * rng.standard_normal(N)
    Q = np.linalg.qr(rng.standard_normal((N, N)))[0]
    total = np.zeros(N)
    for _ in range(n_steps):
        gain = 1.0 - np.tanh(x) ** 2
        D = -np.eye(N) + J * gain[None, :]
        Q, R = np.linalg.qr(Q + dt * D @ Q)
        total += np.log(np.abs(np.diag(R)))
        x = x + dt * (-x + J @ np.tanh(x))
    return total / (n_steps * dt)


def bench_lyapunov() -> None:
    N, steps, dt = 500, 5000, 0.1
    law = lowrank.GaussianLoadings(
        np.zeros(4), np.eye(4) + 0.8 * (np.eye(4, k=2) + np.eye(4, k=-2)), rank=2
    )
    print(f"Lyapunov spectrum, N = {N}, {steps} steps of dt = {dt} (plus 10% warm-up)")
    cases = [
        (
            "rank 2, g = 0, all 500 exponents, RK4",
            lowrank.LowRankNetwork.sample(law, N, seed=0),
            {},
        ),
        (
            "rank 2 + bulk g = 1.5, 50 exponents, exp. Euler",
            lowrank.LowRankNetwork.sample(law, N, g=1.5, seed=0),
            {"n_exponents": 50, "method": "exp_euler"},
        ),
    ]
    for name, net, kw in cases:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = lowrank.lyapunov_spectrum(net, steps * dt, dt, time="continuous", **kw)
        elapsed = time.perf_counter() - t0
        print(
            f"  {name:50s}: {elapsed:6.2f} s   lambda_max = {result.exponents[0]:+.3f}, "
            f"D_KY = {result.kaplan_yorke:.2f}"
        )
    probe = 100
    with threadpool_limits(1):
        t0 = time.perf_counter()
        textbook_lyapunov(cases[1][1].dense(), probe, dt)
        scaled = (time.perf_counter() - t0) * steps / probe
    print(
        f"  textbook dense QR loop (all exponents, Euler): {scaled:6.1f} s (from {probe} steps)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--iters", type=int, default=1000, help="Adam steps of dsa-metric")
    args = parser.parse_args()
    bench_dsa(args.pairs, args.iters)
    bench_lyapunov()


if __name__ == "__main__":
    main()
