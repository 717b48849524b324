"""Sweeps over settings x seeds: serial by default, on Dask when one machine is not enough.

``run_sweep(spec, out)`` runs ``job(settings, seed)`` for every task of a ``SweepSpec`` (a TOML
file, a dict or a spec), keyed by a hash of its job, settings and seed, and stores each result
atomically in ``out`` (``tasks/KEY.npz`` + ``tasks/KEY.json``, and ``results.csv``), with digests
that are checked on every read. A finished key is never recomputed, so an interrupted sweep resumes
where it stopped; a damaged one is recomputed (``DamagedResultWarning``); sweeps started together on
one folder compute each key once (a claim per key). ``sweep_report(out)``
summarises a results folder over seeds and draws the standard figures. Command line::

    lowrank sweep SPEC.toml [--workers N | --scheduler ADDRESS] [--out DIR]
    lowrank sweep-report DIR
"""

from .engine import DamagedResultWarning, SweepResults, execute, one_thread, run_sweep
from .report import SweepReport, sweep_report
from .spec import SpecError, SweepSpec, SweepTask, load_spec, task_key

__all__ = [
    "DamagedResultWarning",
    "SpecError",
    "SweepReport",
    "SweepResults",
    "SweepSpec",
    "SweepTask",
    "execute",
    "load_spec",
    "one_thread",
    "run_sweep",
    "sweep_report",
    "task_key",
]
