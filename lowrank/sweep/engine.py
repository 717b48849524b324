"""Running a sweep: serially in this process, on a Dask ``LocalCluster``, or on a Dask scheduler.

Every task runs through ``execute``: numba, BLAS and torch are held to one thread each (one level of
parallelism: the engine's workers), and anything the job raises but ``KeyboardInterrupt``
(``SystemExit`` included) becomes a "failed" record carrying the error and its traceback instead of
stopping the sweep. Because each task computes with one thread
whatever the engine, the serial engine and any number of Dask workers give the same numbers, bit
for bit. The process that calls ``run_sweep`` writes every result (workers need no shared disk),
holding the task's claim (see ``store``) from just before the task starts until its result is
written.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import numbers
import os
import time
import traceback
import warnings
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

import numpy as np

from .._checks import as_int
from .spec import RESERVED, SweepSpec, SweepTask, load_spec, resolve_job
from .store import ResultStore, TaskRecord

__all__ = ["DamagedResultWarning", "execute", "run_sweep", "SweepResults", "one_thread"]


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
        return float(value)  # inf, -inf and nan are kept as they are
    raise TypeError(
        f"job output {name!r}: expected a scalar or an array, got {type(value).__name__}"
    )


def _split(output, reserved: Collection[str]) -> tuple[dict, dict[str, np.ndarray]]:
    """Scalars (for the table and the json) and arrays (for the npz) of a job's output."""
    if not isinstance(output, Mapping):
        raise TypeError(
            f"a sweep job must return a dict of scalars and arrays, got {type(output).__name__}"
        )
    scalars, arrays = {}, {}
    for name, value in output.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"job output names must be non-empty strings, got {name!r}")
        if name in reserved:
            raise ValueError(
                f"job output {name!r} would overwrite the column {name!r} of results.csv "
                f"(a setting or one of {sorted(RESERVED)}); rename the output"
            )
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


def execute(
    job: str, settings: dict, seed: int, key: str, reserved: Collection[str] = ()
) -> tuple[TaskRecord, dict]:
    """Run one task here with one thread per library; never raises but ``KeyboardInterrupt``.

    Anything else the job raises, ``SystemExit`` and ``GeneratorExit`` included, is recorded as
    the task's failure.

    Parameters
    ----------
    job : str
        ``"module:function"``.
    settings : dict
    seed : int
    key : str
        The task's key.
    reserved : collection of str
        More output names that would overwrite a column of the results table (the settings of
        every task of the sweep); the task's settings and ``RESERVED`` always are.

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
        scalars, arrays = _split(output, {*RESERVED, *settings, *reserved})
        record.update(status="done", scalars=scalars)
        record["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - a failing task is recorded, the sweep goes on
        arrays = {}
        record.update(_failure(exc))
    record["elapsed"] = time.perf_counter() - start
    return record, arrays


class DamagedResultWarning(UserWarning):
    """Results of a sweep failed their checks (edited, truncated or deleted) and were recomputed."""


@dataclasses.dataclass
class SweepResults:
    """What a sweep left in its folder for the tasks of its spec.

    Attributes
    ----------
    folder : Path
    spec : SweepSpec
    records : list of dict
        One task json per task of the spec (in the spec's order), checked; None for a task not
        run yet.
    ran : int
        Tasks computed by this call (the others were already done, or done meanwhile by another
        sweep on the same folder).
    damaged : dict of str to str
        The tasks whose stored results failed their checks (what was wrong, by key); this call
        recomputed them.
    """

    folder: Path
    spec: SweepSpec
    records: list
    ran: int
    damaged: dict = dataclasses.field(default_factory=dict)

    def __repr__(self) -> str:
        """A summary (task counts), not the records."""
        missing = sum(r is None for r in self.records)
        return (
            f"SweepResults({self.spec.name!r}, folder={str(self.folder)!r}, "
            f"{len(self.records)} tasks: {self.done} done, {len(self.failed)} failed, "
            f"{missing} not run; ran {self.ran} now, {len(self.damaged)} damaged and recomputed)"
        )

    @property
    def done(self) -> int:
        return sum(r is not None and r["status"] == "done" for r in self.records)

    @property
    def failed(self) -> list[TaskRecord]:
        return [r for r in self.records if r is not None and r["status"] == "failed"]

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        """The arrays stored by task ``key``, checked (ValueError when damaged or not run)."""
        return ResultStore(self.folder).arrays(key)


def _progress(total: int, enabled: bool, name: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=name, unit="task")


class _Serial:
    """Runs each submitted task in this process when its result is asked for."""

    window = 1

    def __init__(self, job: str, reserved: tuple):
        self.job, self.reserved, self.queue = job, reserved, collections.deque()

    def submit(self, task: SweepTask) -> None:
        self.queue.append(task)

    def next(self) -> tuple[TaskRecord, dict]:
        task = self.queue.popleft()
        return execute(self.job, task.settings, task.seed, task.key, self.reserved)


class _Dask:
    """Runs submitted tasks on a Dask client; ``next`` waits for the first one to finish."""

    def __init__(self, job: str, reserved: tuple, client):
        from distributed import as_completed

        self.job, self.reserved, self.client = job, reserved, client
        self.finished, self.tasks = as_completed(), {}
        threads = sum(client.nthreads().values())
        self.window = max(64, 2 * threads)  # tasks in flight (each holds a claim, an open file)

    def submit(self, task: SweepTask) -> None:
        future = self.client.submit(
            execute,
            self.job,
            task.settings,
            task.seed,
            task.key,
            self.reserved,
            key=f"lowrank-sweep-{task.key}",
            pure=False,
        )
        self.tasks[future.key] = task
        self.finished.add(future)

    def next(self) -> tuple[TaskRecord, dict]:
        future = next(self.finished)
        task = self.tasks.pop(future.key)
        try:
            return future.result()
        except (Exception, asyncio.CancelledError) as exc:  # a lost worker fails its task
            record = {"key": task.key, "job": self.job, "seed": task.seed}
            return {**record, "settings": task.settings, "elapsed": None, **_failure(exc)}, {}
        finally:
            future.release()


_POLL = 0.05  # seconds between tries at claims held by other sweeps


def _drive(todo: list[SweepTask], store: ResultStore, runner, needed, bar) -> int:
    """Compute every task of ``todo`` that ``needed(task)`` says is needed once its claim is held.

    A task claimed by another process is tried again later (every ``_POLL`` s when nothing else
    can be done), so the call returns only when every task of ``todo`` is resolved: computed
    here, or found done (by another sweep) under its claim. Returns how many were computed here.
    """
    waiting, held, ran = collections.deque(todo), {}, 0
    try:
        while waiting or held:
            claimed = False
            for _ in range(len(waiting)):
                if len(held) >= runner.window:
                    break
                task = waiting.popleft()
                lock = store.claim(task.key)
                if lock is None:
                    waiting.append(task)
                    continue
                claimed = True
                if needed(task):
                    held[task.key] = lock
                    runner.submit(task)
                else:
                    lock.release()
                    bar.update()
            if held:
                record, arrays = runner.next()
                lock = held.pop(record["key"])
                try:
                    store.write(record, arrays)
                finally:
                    lock.release()
                ran += 1
                bar.update()
            elif waiting and not claimed:
                time.sleep(_POLL)
    finally:
        for lock in held.values():
            lock.release()
    return ran


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
        The results folder (created if needed; not a file). Tasks already done there are not
        recomputed, so a sweep interrupted at any point resumes where it stopped.
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

    Warns
    -----
    DamagedResultWarning
        When stored results failed their checks (an edited, truncated or deleted json or npz, or
        one written by a lowrank that did not checksum them); they are recomputed, and listed in
        ``SweepResults.damaged``.

    Notes
    -----
    The default engine is serial, in this process, with no server. Give at most one of
    ``workers``, ``scheduler`` and ``client``.

    Every stored result is verified before it is trusted: its json against its digest, its
    arrays against the digests in its json. A task is computed only by the process holding its
    claim (``ResultStore.claim``), after checking again, under the claim, that it is still not
    done; so sweeps started on one folder at once, or one after the other, compute each task
    exactly once, and each returns when every task of its spec is resolved.
    """
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out must be a folder path, got {type(out).__name__}")
    if Path(out).exists() and not Path(out).is_dir():
        raise ValueError(f"out {str(out)!r} is a file, not a results folder")
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
    reserved = tuple(sorted({name for t in tasks for name in t.settings}))
    first, _ = store.survey(t.key for t in tasks)  # damage is confirmed under the claim
    damaged: dict[str, str] = {}

    def needed(task: SweepTask) -> bool:
        """Whether ``task`` must run; asked while holding its claim."""
        record, problem = store.check(task.key)
        if problem is not None:
            damaged[task.key] = problem
            return True
        if record is None:
            return True
        if record["status"] == "done":
            return False
        # failed: retry only the failure found when this sweep started, not a newer one written
        # meanwhile by another sweep
        before = first.get(task.key)
        return retry_failed and before is not None and _same(record, before)

    todo = [t for t in tasks if t.key not in first or first[t.key]["status"] != "done"]
    todo = [t for t in todo if retry_failed or t.key not in first]
    ran = 0
    try:
        with _progress(len(todo), progress, spec.name) as bar:
            if chosen and todo:
                with _client(workers, scheduler, client) as dask_client:
                    runner = _Dask(spec.job, reserved, dask_client)
                    ran = _drive(todo, store, runner, needed, bar)
            elif todo:
                ran = _drive(todo, store, _Serial(spec.job, reserved), needed, bar)
    finally:
        records = [store.record(t.key) for t in tasks]
        store.write_table(r for r in records if r is not None)
        if damaged:
            listing = "; ".join(f"{key}: {problem}" for key, problem in damaged.items())
            warnings.warn(
                f"{len(damaged)} stored task result(s) in {str(store.folder)!r} failed their "
                f"checks and were recomputed: {listing}",
                DamagedResultWarning,
                stacklevel=3,
            )
    return SweepResults(store.folder, spec, records, ran=ran, damaged=damaged)


def _same(a: TaskRecord, b: TaskRecord) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
