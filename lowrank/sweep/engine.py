"""Running a sweep: serially in this process, on a Dask ``LocalCluster``, or on a Dask scheduler.

Every task runs through ``execute``: numba, BLAS and torch are held to one thread each (one level of
parallelism: the engine's workers), and an exception becomes a "failed" record carrying the error
and its traceback instead of stopping the sweep. Because each task computes with one thread
whatever the engine, the serial engine and any number of Dask workers give the same numbers, bit
for bit. The process that calls ``run_sweep`` writes every result (workers need no shared disk).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
import time
import traceback
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from .._checks import as_int
from .spec import SweepSpec, SweepTask, load_spec, resolve_job
from .store import ResultStore, TaskRecord

__all__ = ["execute", "run_sweep", "SweepResults", "one_thread"]


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Hold BLAS (threadpoolctl), numba and torch to one thread; restore them afterwards."""
    import numba
    import torch
    from threadpoolctl import threadpool_limits

    numba_threads, torch_threads = numba.get_num_threads(), torch.get_num_threads()
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        numba.set_num_threads(numba_threads)
        torch.set_num_threads(torch_threads)


def _scalar(value, name: str):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else None
    raise TypeError(
        f"job output {name!r}: expected a scalar or an array, got {type(value).__name__}"
    )


def _split(output) -> tuple[dict, dict[str, np.ndarray]]:
    """Scalars (for the table and the json) and arrays (for the npz) of a job's output."""
    if not isinstance(output, Mapping):
        raise TypeError(
            f"a sweep job must return a dict of scalars and arrays, got {type(output).__name__}"
        )
    scalars, arrays = {}, {}
    for name, value in output.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"job output names must be non-empty strings, got {name!r}")
        if isinstance(value, (np.ndarray, list, tuple)):
            array = np.asarray(value)
            if array.dtype.kind not in "biuf":
                raise TypeError(f"job output {name!r}: arrays must be numeric, got {array.dtype}")
            arrays[name] = array
        else:
            scalars[name] = _scalar(value, name)
    return scalars, arrays


def _failure(exc: BaseException) -> dict:
    """The fields of a failed task's record, inside the ``except`` block that caught ``exc``."""
    return {
        "status": "failed",
        "scalars": {},
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": traceback.format_exc(),
    }


def execute(job: str, settings: dict, seed: int, key: str) -> tuple[TaskRecord, dict]:
    """Run one task here with one thread per library; never raises.

    Returns
    -------
    record : dict
        key, status ("done" or "failed"), seed, settings, job, scalars, elapsed, the warnings the
        job raised (a finished task), or error and traceback (a failed one).
    arrays : dict of str to ndarray
        The arrays of the job's output (empty when it failed).
    """
    start = time.perf_counter()
    record: TaskRecord = {"key": key, "job": job, "seed": seed, "settings": settings}
    try:
        function = resolve_job(job)
        with one_thread(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            output = function(dict(settings), seed)
        scalars, arrays = _split(output)
        record.update(status="done", scalars=scalars)
        record["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
    except Exception as exc:  # noqa: BLE001 - a failing task is recorded, the sweep goes on
        arrays = {}
        record.update(_failure(exc))
    record["elapsed"] = time.perf_counter() - start
    return record, arrays


@dataclasses.dataclass
class SweepResults:
    """What a sweep left in its folder for the tasks of its spec.

    Attributes
    ----------
    folder : Path
    spec : SweepSpec
    records : list of dict
        One task json per task of the spec (in the spec's order); None for a task not run yet.
    ran : int
        Tasks computed by this call (the others were already done).
    """

    folder: Path
    spec: SweepSpec
    records: list
    ran: int

    @property
    def done(self) -> int:
        return sum(r is not None and r["status"] == "done" for r in self.records)

    @property
    def failed(self) -> list[TaskRecord]:
        return [r for r in self.records if r is not None and r["status"] == "failed"]

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        """The arrays stored by task ``key``."""
        return ResultStore(self.folder).arrays(key)


def _progress(total: int, enabled: bool, name: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=name, unit="task")


def _serial(tasks: list[SweepTask], job: str, store: ResultStore, bar) -> None:
    for task in tasks:
        store.write(*execute(job, task.settings, task.seed, task.key))
        bar.update()


def _dask(tasks: list[SweepTask], job: str, store: ResultStore, bar, client) -> None:
    from distributed import as_completed

    futures = {
        client.submit(
            execute, job, t.settings, t.seed, t.key, key=f"lowrank-sweep-{t.key}", pure=False
        ): t
        for t in tasks
    }
    for future in as_completed(futures):
        task = futures.pop(future)
        try:
            record, arrays = future.result()
        except Exception as exc:  # noqa: BLE001 - a lost worker fails its task, not the sweep
            record = {
                "key": task.key,
                "job": job,
                "seed": task.seed,
                "settings": task.settings,
                "elapsed": None,
                **_failure(exc),
            }
            arrays = {}
        store.write(record, arrays)
        future.release()
        bar.update()


@contextlib.contextmanager
def _client(workers: int | None, scheduler: str | None, client):
    if client is not None:
        yield client
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError(
            "--workers / --scheduler need Dask: pip install 'lowrank[dask]' (dask[distributed])"
        ) from exc

    if scheduler is not None:
        with Client(scheduler) as remote:
            yield remote
        return
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as local,
    ):
        yield local


def run_sweep(
    spec,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
    retry_failed: bool = True,
    progress: bool = True,
) -> SweepResults:
    """Run every task of a sweep not yet done in ``out``, then write ``out/results.csv``.

    Parameters
    ----------
    spec : str, Path, dict or SweepSpec
        A TOML file, its structure as a dict, or a ``SweepSpec``.
    out : str or Path
        The results folder (created if needed). Tasks already done there are not recomputed, so a
        sweep interrupted at any point resumes where it stopped.
    workers : int, optional
        Start a Dask ``LocalCluster`` with this many single-threaded worker processes.
    scheduler : str, optional
        Address of a running Dask scheduler (e.g. "tcp://10.0.0.1:8786", or the address of a
        dask-jobqueue cluster); its workers must have lowrank installed.
    client : distributed.Client, optional
        An existing Dask client to use instead.
    retry_failed : bool
        Run again the tasks recorded as failed (default); False keeps their failure.
    progress : bool
        Show a progress bar over tasks.

    Returns
    -------
    SweepResults

    Notes
    -----
    The default engine is serial, in this process, with no server. Give at most one of
    ``workers``, ``scheduler`` and ``client``.
    """
    spec = load_spec(spec)
    chosen = [
        n
        for n, v in (("workers", workers), ("scheduler", scheduler), ("client", client))
        if v is not None
    ]
    if len(chosen) > 1:
        raise ValueError(
            f"give at most one of workers, scheduler and client, got {' and '.join(chosen)}"
        )
    if workers is not None:
        workers = as_int(workers, "workers", minimum=1)
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler):
        raise TypeError(
            f"scheduler must be an address string such as 'tcp://host:8786', got {scheduler!r}"
        )
    resolve_job(spec.job)  # fail before starting anything when the job cannot be imported
    store = ResultStore(out)
    store.write_spec(spec.to_dict())
    tasks = spec.tasks()
    skip = {"done"} if retry_failed else {"done", "failed"}
    todo = [t for t in tasks if store.status(t.key) not in skip]
    try:
        with _progress(len(todo), progress, spec.name) as bar:
            if chosen and todo:
                with _client(workers, scheduler, client) as dask_client:
                    _dask(todo, spec.job, store, bar, dask_client)
            elif todo:
                _serial(todo, spec.job, store, bar)
    finally:
        records = [store.record(t.key) for t in tasks]
        store.write_table(r for r in records if r is not None)
    return SweepResults(store.folder, spec, records, ran=len(todo))
