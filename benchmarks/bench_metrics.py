"""Benchmark: lowrank.metrics.dsa_distance against the dsa-metric package, and lyapunov_spectrum.

DSA. Trajectories of simulated rank-2 networks (N = 32 tanh units, all recorded, 8 trials of 400
steps of dt = 0.2 with noise 0.3, exponential Euler): a limit cycle, a bistable network and a damped
oscillator, compared pairwise at DMD rank 8, 20, 50 and n_delays 5, 10, 20 (angular score). The
baseline is dsa-metric 2.0.2 (Ostrow et al. 2023; ``pip install dsa-metric==2.0.2``) configured as
its best user would: its ``DMD`` (torch, float32, full SVD of the Hankel matrix, lamb = 0) and
``SimilarityTransformDist`` with the defaults of its ``DSA`` class (Adam, 1500 steps, lr 5e-3, from
two starts), on the CPU with one torch thread, after one untimed warm-up run (its first Adam import
costs seconds). lowrank runs ``dsa_distance`` with its defaults (one BLAS thread): Gram-matrix DMD,
then the certified or agreed Procrustes search (compiled L-BFGS, preconditioned by blocks of the
Gauss-Newton matrix in the Schur basis; random starts added until certified, agreed, max_starts, or
an estimated chance below 5% that more starts confirm the best). The table gives the time of each,
the ratio (dsa-metric time / lowrank time, > 1: lowrank is faster; "cpu ratio" the same with process
CPU time, less sensitive to other jobs on a shared machine), the score difference (lowrank -
dsa-metric; both minimise the same objective, so negative means lowrank found the better optimum),
the number of local searches lowrank made and its convergence flag (at rank 50 most starts end at
their own local minimum, 1e-5 to 1e-3 apart, so the optimum is rarely certified or agreed and "no"
is then the honest answer: the score is an upper bound; the number of starts follows the
capture-recapture rule, so pairs where some starts coincide run more of them). Without the package
the DSA table is skipped with a message. lowrank's Procrustes kernel is compiled by numba on its
first use ever (cached on disk after; about 10 s of CPU), which the warm-up run (at rank 16, where
the preconditioned search starts) excludes as it excludes dsa-metric's first import.

Lyapunov. N = 500, 5000 steps of dt = 0.1: a rank-2 network (full spectrum, RK4), and a network with
a bulk g = 1.5 (50 leading exponents, exponential Euler). The baseline is the textbook loop a user
would write: the dense Jacobian D = -I + J diag(phi'), Q <- qr((I + dt D) Q) every step (Euler),
timed on fewer steps and scaled to 5000.

On a shared machine absolute times are noisy; the two DSA implementations run back to back on the
same pair, so the ratios are comparable.
Run:  python benchmarks/bench_metrics.py [--quick] [--pairs 2] [--no-lyapunov]
          [--ranks 8 20 50] [--delays 5 10 20]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import lowrank
from lowrank.metrics import dsa_distance

KINDS = {  # overlaps sigma_{n_r m_s} of the rank-2 networks
    "cycle": [[1.6, 1.2], [-1.2, 1.6]],
    "bistable": [[2.0, 0.0], [0.0, 1.5]],
    "damped": [[0.6, 0.8], [-0.8, 0.6]],
}


def network_trajectories(kind: str, seed: int, N: int = 32, trials: int = 8, steps: int = 400):
    """tanh(x) of a noisy rank-2 network of the given kind: (trials, steps, N)."""
    K = np.array(KINDS[kind])
    var_n = np.linalg.norm(K, 2) ** 2 + 1.0  # keeps the covariance positive definite
    cov = np.block([[np.eye(2), K], [K.T, var_n * np.eye(2)]])
    net = lowrank.LowRankNetwork.sample(
        lowrank.GaussianLoadings(np.zeros(4), cov, rank=2), N, seed=seed
    )
    x0 = np.random.default_rng(seed).standard_normal((trials, N))
    traj = lowrank.simulate(net, x0, steps * 0.2, 0.2, noise=0.3, seed=seed, method="exp_euler")
    return np.tanh(traj.x[:, 1:])


def dsa_metric_score(X, Y, n_delays: int, rank: int) -> float:
    from DSA import DMD, SimilarityTransformDist

    models = []
    for Z in (X, Y):
        dmd = DMD(Z, n_delays=n_delays, rank=rank, lamb=0.0)
        dmd.fit()
        models.append(dmd.A_v)
    simdist = SimilarityTransformDist(iters=1500, lr=5e-3, score_method="angular")
    return float(simdist.fit_score(*models))


def bench_dsa(quick: bool, n_pairs: int, ranks=(8, 20, 50), delays=(5, 10, 20)) -> None:
    try:
        import torch
        from DSA import DMD  # noqa: F401
    except ImportError:
        print(
            "DSA: dsa-metric (module DSA) is not installed - pip install dsa-metric==2.0.2; skipped"
        )
        return
    torch.set_num_threads(1)
    names = list(KINDS)
    pairs = [(names[i % 3], names[(i + 1) % 3]) for i in range(n_pairs)]
    data = {kind: network_trajectories(kind, seed=1 + k) for k, kind in enumerate(names)}
    cases = (
        [(8, 5), (20, 5), (50, 5), (50, 20)]
        if quick
        else [(rank, d) for rank in ranks for d in delays]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # warm-up at rank 16: from there lowrank's search loads its preconditioner kernels too
        dsa_metric_score(data["cycle"][:, :50], data["damped"][:, :50], 2, 16)
        dsa_distance(data["cycle"][:, :50], data["damped"][:, :50], 2, 16)
    print(
        f"DSA, angular score, trajectories of rank-2 networks (8 trials x 400 steps, 32 units); "
        f"{len(pairs)} pair(s) per row"
    )
    print(
        f"  {'rank':>4s} {'delays':>6s} {'lowrank s':>10s} {'dsa-metric s':>12s} {'ratio':>6s} "
        f"{'cpu ratio':>9s} {'score diff':>11s} {'starts':>6s} {'converged':>9s}"
    )
    for rank, n_delays in cases:
        t_ours = t_theirs = cpu_ours = cpu_theirs = 0.0
        diffs, flags, starts = [], [], []
        for kx, ky in pairs:
            X, Y = data[kx], data[ky]
            t0, c0 = time.perf_counter(), time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the flag is printed
                ours = dsa_distance(X, Y, n_delays, rank, full_output=True)
            t_ours += time.perf_counter() - t0
            cpu_ours += time.process_time() - c0
            t0, c0 = time.perf_counter(), time.process_time()
            theirs = dsa_metric_score(X, Y, n_delays, rank)
            t_theirs += time.perf_counter() - t0
            cpu_theirs += time.process_time() - c0
            diffs.append(ours.angular - theirs)
            flags.append("yes" if ours.converged else "no")
            starts.append(str(ours.report.n_starts))
        worst = max(diffs, key=abs)
        print(
            f"  {rank:4d} {n_delays:6d} {t_ours / len(pairs):10.3f} {t_theirs / len(pairs):12.3f} "
            f"{t_theirs / t_ours:6.1f} {cpu_theirs / cpu_ours:9.1f} {worst:+11.2e} "
            f"{'/'.join(starts):>6s} {'/'.join(flags):>9s}",
            flush=True,
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
    print(f"  textbook dense QR loop (all exponents, Euler): {scaled:6.1f} s (from {probe} steps)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 DSA cases, one pair, no Lyapunov")
    parser.add_argument("--pairs", type=int, default=2, help="pairs of networks per DSA case")
    parser.add_argument("--no-lyapunov", action="store_true")
    parser.add_argument("--ranks", type=int, nargs="+", default=[8, 20, 50], help="DMD ranks")
    parser.add_argument("--delays", type=int, nargs="+", default=[5, 10, 20], help="n_delays")
    args = parser.parse_args()
    bench_dsa(args.quick, 1 if args.quick else args.pairs, args.ranks, args.delays)
    if not (args.quick or args.no_lyapunov):
        bench_lyapunov()


if __name__ == "__main__":
    main()
