"""Benchmark: the g-diagram of Mastrogiuseppe & Ostojic 2018 (Neuron 99:609), Fig. 1.

Rank one, M_m = 1.1, M_n = 2, Sigma_m = Sigma_n = 1, no overlap; 200 values of g in (0, 4];
static and chaotic branches.

- lowrank: ``bifurcation_diagram`` (compiled sympy-derived equations, Newton continuation with exact
  Jacobians, all branches, stable and unstable, plus event location).
- baseline: a plain numpy/scipy reimplementation of the original method - damped fixed-point
  iteration of the mean-field equations with warm start from the previous g - for the branches
  the figure shows (static kappa > 0 and kappa = 0; chaotic kappa > 0 and kappa = 0), with the same
  quadrature nodes (``lowrank.quadrature.gauss_rule``) and the same tolerance (max residual 1e-10).

Run:  python benchmarks/bench_meanfield.py [--values 200]
The cold time (first call: sympy derivation and numba compilation into a fresh cache) is printed
separately from the warm time; the ratio uses the warm time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

# a fresh cache, so that the first call is really cold (must precede the numba import)
_CACHE = tempfile.mkdtemp(prefix="lowrank-bench-")
os.environ["NUMBA_CACHE_DIR"] = _CACHE
os.environ["LOWRANK_CACHE_DIR"] = _CACHE

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from lowrank import GaussianLoadings, MeanField, bifurcation_diagram  # noqa: E402
from lowrank.quadrature import gauss_rule  # noqa: E402

MM, MN, SM = 1.1, 2.0, 1.0
TOL = 1e-10


def lncosh(x):
    a = np.abs(x)
    return a + np.log1p(np.exp(-2 * a)) - np.log(2)


def avg(f, mu, delta):
    x, w = gauss_rule(mu, delta)
    return w @ f(x)


def inner_products(mu, d0, dinf):
    """E_z [Phi]_in^2 and E_z [phi]_in^2 with [f]_in(z) = [f](mu + sqrt(dinf) z, d0 - dinf)."""
    zo, wo = gauss_rule(mu, max(dinf, 0.0))
    big_phi = np.empty(zo.size)
    small_phi = np.empty(zo.size)
    for j, c in enumerate(zo):
        x, w = gauss_rule(c, max(d0 - dinf, 0.0))
        big_phi[j] = w @ lncosh(x)
        small_phi[j] = w @ np.tanh(x)
    return wo @ big_phi**2, wo @ small_phi**2


def static_map(y, g):
    k, d0 = y
    mu = MM * k
    return np.array(
        [MN * avg(np.tanh, mu, d0), g**2 * avg(lambda x: np.tanh(x) ** 2, mu, d0) + SM**2 * k * k]
    )


def chaotic_map(y, g):
    k, d0, dinf = y
    mu, S = MM * k, SM**2 * k * k
    big2, small2 = inner_products(mu, d0, dinf)
    energy = g**2 * (avg(lambda x: lncosh(x) ** 2, mu, d0) - big2) + S * (d0 - dinf)
    return np.array(
        [MN * avg(np.tanh, mu, d0), np.sqrt(max(dinf**2 + 2 * energy, 0.0)), g**2 * small2 + S]
    )


def damped(fmap, y0, g, alpha=0.3, max_iter=5000):
    y = np.array(y0, float)
    for it in range(max_iter):
        new = fmap(y, g)
        if np.max(np.abs(new - y)) <= TOL:
            return new, it, True
        y = (1 - alpha) * y + alpha * new
    return y, max_iter, False


def baseline(values):
    """Warm-started damped iteration along the four branches of the figure."""
    failures = 0
    branches = {
        "static+": [1.0, 1.0],
        "static0": [0.0, 0.5],
        "chaotic+": [0.5, 2.0, 1.0],
        "chaotic0": [0.0, 2.0, 0.1],
    }
    for g in values:
        for name, y in branches.items():
            fmap = static_map if name.startswith("static") else chaotic_map
            if name.startswith("chaotic") and g <= 1.0:
                continue
            y_new, _, ok = damped(fmap, y, g)
            failures += not ok
            if name.endswith("0"):
                y_new[0] = 0.0
            branches[name] = list(y_new)
    return failures


def ours(values):
    law = GaussianLoadings([MM, MN], np.eye(2), rank=1)
    return bifurcation_diagram(lambda g: MeanField(law, g=float(g)), "g", values)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--values", type=int, default=200, help="number of g values in (0, 4]")
    args = parser.parse_args()
    values = np.linspace(4.0 / args.values, 4.0, args.values)
    with threadpool_limits(1):
        t0 = time.perf_counter()
        diagram = ours(values)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        diagram = ours(values)
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        failures = baseline(values)
        base = time.perf_counter() - t0
    events = ", ".join(f"{e.kind} g={e.parameter:.6f}" for e in diagram.events)
    print(f"M&O 2018 Fig. 1 diagram, {args.values} values of g in (0, 4]")
    print(f"  lowrank cold (derive + compile + run): {cold:8.2f} s")
    print(
        f"  lowrank warm:                          {warm:8.2f} s  ({len(diagram.branches)} branches; {events})"
    )
    print(
        f"  baseline damped iteration:             {base:8.2f} s  ({failures} branch points not converged in 5000 iterations)"
    )
    print(f"  speed-up (baseline / lowrank warm):    {base / warm:8.1f}x")


if __name__ == "__main__":
    main()
