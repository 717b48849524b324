"""Benchmark: mean-field solves of Mastrogiuseppe & Ostojic 2018 (Neuron 99:609), Fig. 1, and the
cost of building a MeanField for rank R and P populations.

Law: rank one, M_m = 1.1, M_n = 2, Sigma_m = Sigma_n = 1, no overlap; g in (0, 4].

1. Per-call loop over g: ``MeanField(law, g).stationary_states()`` for every g (all static and
   chaotic states, stable and unstable, from multi-start deflated Newton), and the same states
   from ``stationary_states_along(lambda g: MeanField(law, g=g), values)`` (the multi-start search
   where the number of states may change and at least every 20 values, Newton continuation
   elsewhere; its counts per g are compared with the per-call loop's), both against the original
   method set up well: damped fixed-point iteration of one branch (the kappa > 0 branch: static
   for g <= 1, chaotic above, where it is the stable state), warm-started from the previous g,
   with the mean-field equations coded in numpy, vectorised Gauss-Hermite quadrature (nested
   averages as one outer x inner array, 100 nodes: accurate to ~1e-10 only for moderate
   variances, which favours the baseline at large g) and the best damping of a small sweep on a
   few g values. All stop at a max residual (fixed-point step) of 1e-10. Just above the onset of
   chaos the iteration slows down critically and one value does not converge within 3000
   iterations; its time counts in the baseline (a user pays it), and a second line gives the
   CPU ratios without it. Ratios are given in wall time and, in brackets, in CPU time (the
   fairer measure on a shared machine); lowrank is warmed up first (its compiled Newton
   kernels are built once per structure and cached on disk).
2. ``bifurcation_diagram`` over the same g values (continuation of every branch), warm.
3. Construction table: a fresh subprocess with an empty code cache builds MeanField(law) for
   rank R and P populations and evaluates the latent map once (sympy derivation, code generation,
   numba compilation: "cold"); a second fresh subprocess on the same cache does it again ("warm
   cache"). A cell that exceeds the time limit is reported as such.

Run:  python benchmarks/bench_meanfield.py [--quick] [--values 200] [--limit 150]
      [--no-construction]
Timings are wall-clock on a possibly shared machine; the ratios compare runs made in the same
process one after the other.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

MM, MN, SM = 1.1, 2.0, 1.0
TOL = 1e-10

# --- the baseline: the original damped iteration, in numpy ------------------------------------
_T, _W = np.polynomial.hermite_e.hermegauss(100)
_W = _W / np.sqrt(2.0 * np.pi)  # E over N(0, 1)


def lncosh(x):
    a = np.abs(x)
    return a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0)


def static_map(y, g):
    """(kappa, D) -> (M_n [phi], g^2 [phi^2]) at mu = M_m kappa, Delta = Sigma_m^2 kappa^2 + D."""
    k, d = y
    x = MM * k + np.sqrt(max(SM**2 * k * k + d, 0.0)) * _T
    t = np.tanh(x)
    return np.array([MN * (_W @ t), g**2 * (_W @ (t * t))])


def chaotic_map(y, g):
    """(kappa, D_0, D_inf) -> its image under the chaotic mean-field equations (M&O 2018):
    kappa = M_n [phi](Delta_0), D_0^2 = D_inf^2 + 2 g^2 ([Phi^2] - E_z [Phi]_in^2),
    D_inf = g^2 E_z [phi]_in^2 with Delta = Sigma_m^2 kappa^2 + D."""
    k, d0, dinf = y
    S = SM**2 * k * k
    a, c = S + d0, max(S + dinf, 0.0)
    mu = MM * k
    x = mu + np.sqrt(a) * _T
    inner = mu + np.sqrt(c) * _T[:, None] + np.sqrt(max(a - c, 0.0)) * _T[None, :]
    big_in = lncosh(inner) @ _W
    small_in = np.tanh(inner) @ _W
    energy = g**2 * (_W @ lncosh(x) ** 2 - _W @ big_in**2)
    return np.array(
        [
            MN * (_W @ np.tanh(x)),
            np.sqrt(max(dinf**2 + 2.0 * energy, 0.0)),
            g**2 * (_W @ small_in**2),
        ]
    )


def damped(fmap, y0, g, alpha, max_iter=3000):
    y = np.array(y0, float)
    for it in range(max_iter):
        new = fmap(y, g)
        if np.max(np.abs(new - y)) <= TOL:
            return new, it + 1, True
        y = (1.0 - alpha) * y + alpha * new
    return y, max_iter, False


def baseline_loop(values, alpha_static, alpha_chaotic):
    """One branch (kappa > 0), warm-started from the previous g: static up to g = 1, chaotic
    above (its first start: the last static kappa, D_0 = 1, D_inf = 0.5). Returns the number of
    values not converged within 3000 iterations, the map evaluations, and the CPU seconds spent
    on those values (included in the baseline's time: the iteration is that slow there)."""
    static, chaotic = [1.0, 0.5], None
    failures, evaluations, failed_cpu = 0, 0, 0.0
    for g in values:
        c0 = time.process_time()
        if g <= 1.0:
            y, its, ok = damped(static_map, static, g, alpha_static)
            static = list(y)
        else:
            start = chaotic if chaotic is not None else [static[0], 1.0, 0.5]
            y, its, ok = damped(chaotic_map, start, g, alpha_chaotic)
            chaotic = list(y)
        if not ok:
            failures += 1
            failed_cpu += time.process_time() - c0
        evaluations += its
    return failures, evaluations, failed_cpu


def best_damping(fmap, start, g_values):
    """Damping with the fewest iterations over a few g (a small sweep, as a user would)."""
    costs = {}
    for alpha in (0.3, 0.5, 0.7, 0.9, 1.0):
        total = 0
        for g in g_values:
            _, its, ok = damped(fmap, start, g, alpha, max_iter=1000)
            total += its if ok else 10**6
        costs[alpha] = total
    return min(costs, key=costs.get)


# --- lowrank ---------------------------------------------------------------------------------
def lowrank_loop(values):
    """States per g, warnings, and the CPU seconds of each call."""
    from lowrank import GaussianLoadings, MeanField

    law = GaussianLoadings([MM, MN], np.eye(2), rank=1)
    counts, cpu = [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for g in values:
            c0 = time.process_time()
            counts.append(len(MeanField(law, g=float(g)).stationary_states()))
            cpu.append(time.process_time() - c0)
    return counts, len(caught), np.array(cpu)


def lowrank_along(values):
    """The sweep a loop user calls: (StationarySweep, number of warnings)."""
    from lowrank import GaussianLoadings, MeanField
    from lowrank.meanfield_sweep import stationary_states_along

    law = GaussianLoadings([MM, MN], np.eye(2), rank=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sweep = stationary_states_along(lambda g: MeanField(law, g=float(g)), values)
    return sweep, len(caught)


def lowrank_diagram(values):
    from lowrank import GaussianLoadings, MeanField, bifurcation_diagram

    law = GaussianLoadings([MM, MN], np.eye(2), rank=1)
    return bifurcation_diagram(lambda g: MeanField(law, g=float(g)), "g", values)


# --- construction table ----------------------------------------------------------------------
_CHILD = textwrap.dedent(
    """
    import time
    t0 = time.perf_counter()
    import numpy as np
    from lowrank import GaussianLoadings, MeanField, MixtureLoadings
    R, P = {R}, {P}
    rng = np.random.default_rng(0)
    comps = []
    for p in range(P):
        A = 0.3 * rng.standard_normal((2 * R, 2 * R))
        comps.append(GaussianLoadings(0.2 * rng.standard_normal(2 * R), A @ A.T + np.eye(2 * R),
                                      rank=R))
    law = comps[0] if P == 1 else MixtureLoadings(comps, np.full(P, 1.0 / P))
    t1 = time.perf_counter()
    mf = MeanField(law)
    mf.latent_map(np.full(R, 0.1))
    print(time.perf_counter() - t1, t1 - t0)
    """
)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def construction(R, P, cache, limit):
    """(wall seconds to build and first evaluate, CPU seconds of the whole child process, import
    included) in a fresh process, or None past the limit."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, LOWRANK_CACHE_DIR=cache)
    cpu = _children_cpu()
    try:
        out = subprocess.run(
            [sys.executable, "-c", _CHILD.format(R=R, P=P)],
            env=env,
            capture_output=True,
            text=True,
            timeout=limit,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return None
    build, _ = map(float, out.stdout.split())
    return build, _children_cpu() - cpu


def construction_table(ranks, populations, limit):
    print(f"\nMeanField construction (build + first latent_map), fresh process; limit {limit:g} s")
    print("(wall s of the build; in brackets the CPU s of the whole child, import included)")
    print(f"{'R':>4} {'P':>4} {'cold (empty cache)':>22} {'warm cache':>22}")

    def fmt(t):
        return f"{t[0]:8.2f} ({t[1]:6.2f} cpu)" if t is not None else f"> {limit:g} s"

    for R in ranks:
        for P in populations:
            cache = tempfile.mkdtemp(prefix="lowrank-bench-cache-")
            cold = construction(R, P, cache, limit)
            warm = construction(R, P, cache, limit) if cold is not None else None
            print(f"{R:4d} {P:4d} {fmt(cold):>22} {fmt(warm):>22}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--values", type=int, default=None, help="g values (200; 40 quick)")
    parser.add_argument("--quick", action="store_true", help="a short run (< 2 min)")
    parser.add_argument("--limit", type=float, default=None, help="seconds per table cell")
    parser.add_argument(
        "--no-construction", action="store_true", help="skip the construction table"
    )
    args = parser.parse_args()
    n_values = args.values or (40 if args.quick else 200)
    values = np.linspace(4.0 / n_values, 4.0, n_values)
    ranks, pops = ((1, 4), (1, 8)) if args.quick else ((1, 2, 4, 10, 16), (1, 2, 8, 16))
    limit = args.limit or (60.0 if args.quick else 150.0)

    with threadpool_limits(1):
        # warm-up, untimed: compiles (or loads from the disk cache) the equations and the
        # Newton kernels of both systems (lowrank.meanfield_kernels compiles a system's kernel
        # once it has run COMPILE_AFTER Newton iterations in Python)
        lowrank_along(values)
        lowrank_loop(values[:: max(1, n_values // 8)])
        t0, c0 = time.perf_counter(), time.process_time()
        counts, n_warnings, per_call = lowrank_loop(values)
        ours, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
        a_static = best_damping(static_map, [1.0, 0.5], (0.3, 0.6, 0.9))
        a_chaotic = best_damping(chaotic_map, [0.5, 2.0, 0.5], (1.5, 2.5, 3.5))
        t0, c0 = time.perf_counter(), time.process_time()
        failures, evaluations, failed_cpu = baseline_loop(values, a_static, a_chaotic)
        base, base_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        sweep, along_warnings = lowrank_along(values)
        along, along_cpu = time.perf_counter() - t0, time.process_time() - c0
        lowrank_diagram(values)  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        diagram = lowrank_diagram(values)
        diag, diag_cpu = time.perf_counter() - t0, time.process_time() - c0

    print(f"M&O 2018 Fig. 1 law, {n_values} values of g in (0, 4]  (wall s, [CPU s])")
    print(
        f"  lowrank loop of stationary_states():  {ours:8.2f} s [{ours_cpu:7.2f}]  "
        f"({1e3 * ours / n_values:.1f} ms per call; {min(counts)}-{max(counts)} states per g; "
        f"{n_warnings} warnings)"
    )
    below = values <= 1.0  # chaos onset of this law: g = 1 (M&O 2018, Fig. 1)
    print(
        "  per call (CPU ms, median [max]):       "
        f"below onset {1e3 * np.median(per_call[below]):.1f} [{1e3 * per_call[below].max():.1f}], "
        f"above {1e3 * np.median(per_call[~below]):.1f} [{1e3 * per_call[~below].max():.1f}]"
        "  (target: < 20 ms)"
    )
    print(
        f"  baseline damped iteration, 1 branch:  {base:8.2f} s [{base_cpu:7.2f}]  ({evaluations} "
        f"map evaluations, damping {a_static}/{a_chaotic}, {failures} values not converged "
        f"within 3000 iterations, {failed_cpu:.2f} CPU s of them)"
    )
    print(
        f"  ratio baseline / lowrank loop:        {base / ours:8.2f}x [{base_cpu / ours_cpu:.2f}x]"
        "  (> 1: lowrank faster)"
    )
    agree = int(np.sum(sweep.counts == np.array(counts)))
    print(
        f"  stationary_states_along:              {along:8.2f} s [{along_cpu:7.2f}]  "
        f"({int(sweep.searched.sum())} multi-start searches; counts equal the loop's at "
        f"{agree}/{n_values} g; {along_warnings} warnings)"
    )
    print(
        f"  ratio baseline / along:               {base / along:8.2f}x "
        f"[{base_cpu / along_cpu:.2f}x]  (target: >= 5)"
    )
    print(
        "  the same, CPU, baseline without its unconverged values: "
        f"loop {(base_cpu - failed_cpu) / ours_cpu:.2f}x, "
        f"along {(base_cpu - failed_cpu) / along_cpu:.2f}x"
    )
    events = ", ".join(f"{e.kind} g={e.parameter:.4f}" for e in diagram.events)
    print(
        f"  bifurcation_diagram (warm):           {diag:8.2f} s [{diag_cpu:7.2f}]  "
        f"({len(diagram.branches)} branches; {events})"
    )
    print(
        f"  ratio baseline / bifurcation_diagram: {base / diag:8.2f}x [{base_cpu / diag_cpu:.2f}x]"
    )
    if not args.no_construction:
        construction_table(ranks, pops, limit)


if __name__ == "__main__":
    main()
