"""Benchmark: throughput of a sweep of 16 short trainings, serial against a 2-worker LocalCluster.

The sweep trains 16 seeds of a 2-bit flip-flop network (64 units, discrete time, 30 epochs, only
the weights stored) with ``lowrank.sweep.jobs:train_and_analyse``. The serial engine runs the tasks
one after the other in this process; ``workers=2`` starts a Dask ``LocalCluster`` of two
single-threaded worker processes. Both hold every task to one thread, so they compute the same
networks, which the script checks bit for bit. It prints tasks per second of each engine and their
ratio, with and without the cluster's start-up. On a machine with 2 cores shared with other work the
ratio stays below 2; on a quiet machine it approaches the number of idle cores.
Run:  python benchmarks/bench_sweep.py [--seeds 16] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from lowrank.sweep import run_sweep


def spec(seeds: int) -> dict:
    return {
        "sweep": {"name": "bench", "job": "lowrank.sweep.jobs:train_and_analyse", "seeds": seeds},
        "settings": {
            "task": "flipflop",
            "bits": 2,
            "neurons": 64,
            "max_epochs": 30,
            "target_loss": 0.0,
            "analyses": ["weights"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_sweep(spec(1), tmp / "warm", progress=False)  # imports and numba/torch warm-up
        start = time.perf_counter()
        serial = run_sweep(spec(args.seeds), tmp / "serial", progress=False)
        t_serial = time.perf_counter() - start
        start = time.perf_counter()
        with (
            LocalCluster(
                n_workers=args.workers, threads_per_worker=1, dashboard_address=":0"
            ) as cluster,
            Client(cluster) as client,
        ):
            t_startup = time.perf_counter() - start
            run_sweep(spec(args.workers), tmp / "warm_dask", client=client, progress=False)
            start_tasks = time.perf_counter()
            dask = run_sweep(spec(args.seeds), tmp / "dask", client=client, progress=False)
            t_dask = time.perf_counter() - start_tasks
        for a, b in zip(serial.records, dask.records, strict=True):
            np.testing.assert_array_equal(
                serial.arrays(a["key"])["W_final"], dask.arrays(b["key"])["W_final"]
            )
    n = args.seeds
    print(f"{n} trainings of 30 epochs, 64 units; identical networks from both engines")
    print(f"serial           : {t_serial:6.1f} s   {n / t_serial:.2f} tasks/s")
    print(
        f"{args.workers} Dask workers   : {t_dask:6.1f} s   {n / t_dask:.2f} tasks/s   "
        f"(+ {t_startup:.1f} s cluster start-up)"
    )
    print(
        f"throughput ratio : {t_serial / t_dask:.2f}x   "
        f"(with start-up: {t_serial / (t_dask + t_startup):.2f}x)"
    )


if __name__ == "__main__":
    main()
