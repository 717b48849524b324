"""Benchmark: lowrank.simulate against numpy, torch and jax on the same networks, in one run.

Every case runs the same Euler steps (dt = 0.05) of the same network from the same 32 initial
states, in float64 with the exact tanh, and prints the time of lowrank.simulate per neuron-step
and the ratio baseline time / lowrank time (> 1: lowrank is faster). Cases: no bulk at
N = 1e3, 1e4, 1e5 and rank R = 1, 2, 8, 16; a random bulk g = 0.5 (R = 2) at N = 2000 and 10000.

The baselines are written as their best user would write them, batched over the trials:
- numpy / torch: P = tanh(X); X += dt (-X + (P n / N) m^T) in place (with a bulk,
  X += dt (-X + P J^T) with J = m n^T / N + g chi formed once, outside the timing);
- jax: the same step under jax.jit, all the steps in one lax.scan, float64
  (jax_enable_x64), compiled and warmed up before the timing, block_until_ready.
lowrank.simulate is timed as a user calls it (argument checks included), recording only kappa.
Without a bulk, noise or recorded x, lowrank steps Euler in closed form: x_s = (1 - dt)^s x_0 +
m a_s with a_{s+1} = (1 - dt) a_s + dt kappa_s, so each step reads x_0 and the loadings once and
writes nothing per neuron (the same steps as the baselines, to round-off: max|dx| column).

With a bulk every library's step is bound by one float64 product chi tanh(X)^T (2 N^2 B flops,
B = 32 trials): the script measures this machine's one-thread dgemm peak (n = 1000 squares) and
prints, for each bulk case, the largest ratio to numpy that any float64 code could reach
(numpy's time / the time of the product alone at that peak). Likewise without a bulk: a
neuron-step costs at least one tanh (lowrank's, timed here) and 2R + 1 multiply-adds at the
dgemm peak, which bounds the ratio to numpy that lowrank can reach.
Every library gets the same number of threads (--threads; numba, BLAS via threadpoolctl, torch,
XLA's CPU thread pool). Times are the best of --repeats runs, wall-clock (or, with --cpu-time,
the process CPU time: with one thread it counts only the time the process ran, which keeps the
ratios meaningful on a machine loaded by others). On a shared machine the absolute times are
noisy; the ratios are measured back to back in the same process.

With --against DIR, the package of another tree (DIR/lowrank, e.g. a worktree of an older
commit: ``git worktree add /tmp/before HEAD``) is timed too, in the same run, on the same cases:
column "x before" = its time / this tree's time (> 1: this tree is faster).

Run:  python benchmarks/bench_simulate.py [--quick] [--threads 1] [--repeats 3] [--cpu-time]
      [--cases all|lowrank|bulk] [--against DIR]
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time

DT, BATCH, G_BULK = 0.05, 32, 0.5


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (about a minute)")
    parser.add_argument("--threads", type=int, default=1, help="threads for every library")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--cases", choices=("all", "lowrank", "bulk"), default="all",
                        help="run only the cases without (lowrank) or with (bulk) a random bulk")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with the process CPU clock (with --threads 1, robust to a "
                             "machine loaded by others) instead of the wall clock")
    parser.add_argument("--against", metavar="DIR",
                        help="also time DIR/lowrank (another version of the package) in the "
                             "same run")
    return parser.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:
    # XLA reads its thread settings when jax is first imported
    if ARGS.threads == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                   + " --xla_cpu_multi_thread_eigen=false"
                                   + " intra_op_parallelism_threads=1").strip()
    os.environ.setdefault("NUMBA_NUM_THREADS", str(max(ARGS.threads, os.cpu_count() or 1)))

import numba  # noqa: E402
import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import lowrank  # noqa: E402

try:
    import torch
except ImportError:  # pragma: no cover - optional baseline
    torch = None
try:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
except ImportError:  # pragma: no cover - optional baseline
    jax = None


def numpy_run(m, n, J, x0, steps, dt):
    X = x0.copy()
    P = np.empty_like(X)
    nN = n / m.shape[0]
    for _ in range(steps):
        np.tanh(X, out=P)
        X *= 1.0 - dt
        X += dt * (P @ J.T if J is not None else (P @ nN) @ m.T)
    return X


def torch_run(m, n, J, x0, steps, dt):
    m_t, nN_t = torch.from_numpy(m), torch.from_numpy(n / m.shape[0])
    JT = torch.from_numpy(J).T if J is not None else None
    X = torch.from_numpy(x0.copy())
    P = torch.empty_like(X)
    with torch.no_grad():
        for _ in range(steps):
            torch.tanh(X, out=P)
            X.mul_(1.0 - dt).add_(P @ JT if JT is not None else (P @ nN_t) @ m_t.T, alpha=dt)
    return X.numpy()


def jax_runner(m, n, J, steps, dt):
    """A jitted function x0 -> x(steps dt): one lax.scan over the steps, batched matmuls."""
    m_j, nN_j = jnp.asarray(m), jnp.asarray(n / m.shape[0])
    JT_j = jnp.asarray(np.ascontiguousarray(J.T)) if J is not None else None

    @jax.jit
    def run(X, m_, nN_, JT_):
        def step(X, _):
            P = jnp.tanh(X)
            drive = P @ JT_ if JT_ is not None else (P @ nN_) @ m_.T
            return X + dt * (drive - X), None

        return jax.lax.scan(step, X, None, length=steps)[0]

    def call(x0):
        return np.asarray(run(jnp.asarray(x0), m_j, nN_j, JT_j).block_until_ready())

    return call


CLOCK = time.perf_counter
AGAINST = None  # the other version of the package (--against), imported as lowrank_against


def import_against(path):
    """DIR/lowrank copied (times kept: numba's cache stays valid) to a fixed folder as the
    package lowrank_against (its imports are relative), and imported."""
    root = os.path.join(tempfile.gettempdir(), "bench_simulate_against")
    shutil.copytree(os.path.join(path, "lowrank"), os.path.join(root, "lowrank_against"),
                    ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    sys.path.insert(0, root)
    return importlib.import_module("lowrank_against")


def tanh_time():
    """Seconds per element of lowrank's compiled tanh over an array in cache (best of 5)."""
    from numba import njit

    from lowrank._kernels.mathfn import tanh

    @njit
    def sweep(x, out, reps):
        for _ in range(reps):
            for i in range(x.size):
                out[i] = tanh(x[i])

    x = np.random.default_rng(0).standard_normal(1024) * 2
    out = np.empty_like(x)
    sweep(x, out, 1)
    return min(best_of(lambda: sweep(x, out, 2000), 1)[0] for _ in range(5)) / (2000 * x.size)


def best_of(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = CLOCK()
        out = fn()
        times.append(CLOCK() - t0)
    return min(times), out


def network(N, R, g, seed=0):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((N, R))
    n = 2.0 * m + rng.standard_normal((N, R))  # overlap 2: nontrivial dynamics
    chi = rng.standard_normal((N, N)) / np.sqrt(N) if g else None
    return lowrank.LowRankNetwork(m, n, g=g, chi=chi)


def run_case(N, R, g, steps, repeats, threads):
    net = network(N, R, g)
    J = net.dense() if g else None
    x0 = np.random.default_rng(1).standard_normal((BATCH, N))
    t_max = steps * DT
    lowrank.simulate(net, x0, 2 * DT, DT, record_x=False)  # compile (or load from the cache)
    times, finals = {}, {}
    times["lowrank"], traj = best_of(
        lambda: lowrank.simulate(net, x0, t_max, DT, record_x=False, record_every=steps), repeats)
    finals["lowrank"] = traj.x_final
    with threadpool_limits(threads):
        times["numpy"], finals["numpy"] = best_of(
            lambda: numpy_run(net.m, net.n, J, x0, steps, DT), repeats)
    if torch is not None:
        times["torch"], finals["torch"] = best_of(
            lambda: torch_run(net.m, net.n, J, x0, steps, DT), repeats)
    if jax is not None:
        run = jax_runner(net.m, net.n, J, steps, DT)
        run(x0)  # compile and warm up
        times["jax"], finals["jax"] = best_of(lambda: run(x0), repeats)
    if AGAINST is not None:
        other = AGAINST.LowRankNetwork(net.m, net.n, g=g, chi=net.chi if g else None)
        AGAINST.simulate(other, x0, 2 * DT, DT, record_x=False)
        times["before"], traj = best_of(
            lambda: AGAINST.simulate(other, x0, t_max, DT, record_x=False, record_every=steps),
            repeats)
        finals["before"] = traj.x_final
    err = max(float(np.max(np.abs(x - finals["lowrank"]))) for x in finals.values())
    return times, err


def main() -> None:
    global AGAINST, CLOCK
    args = ARGS
    if args.against:
        AGAINST = import_against(args.against)
    if args.cpu_time:
        CLOCK = time.process_time
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    if torch is not None:
        torch.set_num_threads(args.threads)
    work = 2e7 if args.quick else 1.5e8  # neuron-steps per low-rank run
    flops = 3e9 if args.quick else 3e10  # bulk multiply-adds per run
    cases = []
    if args.cases != "bulk":
        cases += [(N, R, 0.0) for N in (1000, 10_000, 100_000) for R in (1, 2, 8, 16)]
    if args.cases != "lowrank":
        cases += [(2000, 2, G_BULK), (10_000, 2, G_BULK)]
    missing = [name for name, mod in (("torch", torch), ("jax", jax)) if mod is None]
    print(f"lowrank.simulate vs baselines: Euler, dt = {DT}, batch {BATCH}, float64, exact tanh; "
          f"{args.threads} thread(s) for every library (numba, BLAS, torch, XLA); "
          f"best of {args.repeats}; {os.cpu_count()} cores; "
          f"{'process CPU' if args.cpu_time else 'wall-clock'} time")
    for name in missing:
        print(f"  ({name} is not installed: its column is skipped)")
    if jax is not None:
        print(f"  jax {jax.__version__} (jit + lax.scan), torch "
              f"{torch.__version__ if torch else '-'}, numpy {np.__version__}")
    columns = ("numpy", "torch", "jax") + (("before",) if AGAINST is not None else ())
    if AGAINST is not None:
        print(f"  x before: {args.against}/lowrank timed in the same run")
    header = (f"{'case':>24s} {'steps':>6s} {'lowrank':>10s} {'ns/n-step':>9s}   "
              + "  ".join(f"{'x ' + name:>8s}" for name in columns)
              + "   max|dx|")
    print(header)
    worst, bulk_numpy, lowrank_numpy = {}, {}, {}
    for N, R, g in cases:
        if g:
            steps = max(5, int(flops / (BATCH * N * N)))
        else:
            steps = max(20, int(work / (BATCH * N)))  # >= 20: the setup stays a small part
        times, err = run_case(N, R, g, steps, args.repeats, args.threads)
        ours = times["lowrank"]
        if g:
            bulk_numpy[(N, steps)] = times["numpy"]
        else:
            lowrank_numpy[(N, R, steps)] = times["numpy"]
        label = f"N={N} R={R}" + (f" bulk g={g}" if g else "")
        ratios = []
        for name in columns:
            if name in times:
                ratio = times[name] / ours
                worst[name] = min(worst.get(name, np.inf), ratio)
                ratios.append(f"{ratio:8.2f}")
            else:
                ratios.append(f"{'-':>8s}")
        print(f"{label:>24s} {steps:6d} {ours:9.3f}s {ours / (N * BATCH * steps) * 1e9:9.2f}   "
              + "  ".join(ratios) + f"   {err:.1e}", flush=True)
    print("worst ratio (baseline time / lowrank time): "
          + ", ".join(f"{name} {value:.2f}" for name, value in worst.items()))
    with threadpool_limits(args.threads):
        a = np.random.default_rng(0).standard_normal((1000, 1000))
        peak = 2e9 / best_of(lambda: a @ a, 3)[0]
    if lowrank_numpy:
        t_tanh = tanh_time()
        print(f"low-rank arithmetic: a neuron-step is one tanh (lowrank's: {t_tanh * 1e9:.2f} ns) "
              f"and 2R + 1 multiply-adds (at the dgemm peak, {peak / 1e9:.1f} GFLOP/s): with this "
              "tanh no code can be more than")
        print("  " + ", ".join(
            f"N={N} R={R}: {t / (steps * BATCH * N * (t_tanh + 2 * (2 * R + 1) / peak)):.2f}x"
            for (N, R, steps), t in lowrank_numpy.items()) + " numpy")
    if bulk_numpy:
        print(f"bulk arithmetic: a step is one float64 product of 2 N^2 B flops (B = {BATCH}); "
              f"this machine's dgemm peak: {peak / 1e9:.1f} GFLOP/s with {args.threads} "
              "thread(s)")
        for (N, steps), t_numpy in bulk_numpy.items():
            flop = steps * 2.0 * N * N * BATCH
            floor = flop / peak
            print(f"  N={N}: numpy's step runs at {flop / t_numpy / 1e9:.1f} GFLOP/s; the products "
                  f"alone at peak take {floor:.3f}s: no float64 code can be more than "
                  f"{t_numpy / floor:.2f}x numpy")


if __name__ == "__main__":
    sys.exit(main())
