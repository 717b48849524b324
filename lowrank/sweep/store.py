"""The results folder of a sweep: one npz + one json per task, a claim per task, and a table.

Layout of ``DIR``::

    DIR/spec.json            the specification of the last run
    DIR/tasks/KEY.npz        the task's arrays (lowrank.io format: checksummed, no pickle)
    DIR/tasks/KEY.json       {"key", "status", "seed", "settings", "scalars", "arrays",
                              "array_digests", "error", ..., "digest"}
    DIR/claims/KEY.lock      held (an OS file lock) by the process computing task KEY
    DIR/results.csv          one row per task of the spec: key, status, seed, settings, scalars

Every file is written atomically (temporary file + rename). Every json carries a ``"digest"``
(SHA-256 of its other fields) and a task's json holds the SHA-256 of each of its arrays, so an
edited, truncated or deleted file is detected (``ResultStore.check``). A task's old json is removed
before its arrays are written and its new json written after them: a task is done exactly when its
json says ``"status": "done"`` and passes its checks, so a sweep killed at any instant resumes
without losing or duplicating a result.

A claim is an exclusive ``filelock.FileLock`` (``flock`` on POSIX) on ``claims/KEY.lock``, taken
without waiting: a process computes a task only while it holds the task's claim. The operating
system releases the lock when its process ends, however it ends, so a claim never goes stale (the
empty ``.lock`` files stay; they mean nothing when nobody holds them). Concurrent sweeps on one
folder are safe on local file systems and on network file systems whose locks work across
machines (NFSv4, Lustre mounted with ``flock``).
"""

from __future__ import annotations

import csv
import io as _stdio
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import filelock
import numpy as np

from ..io import _atomic_write, _digest, _read_record, _version, _write_record, load, save

__all__ = ["ResultStore", "TaskRecord", "write_csv"]

TaskRecord = dict
"""A task's json: key, status ("done" or "failed"), seed, settings, scalars, arrays (names),
array_digests, elapsed, job, error and traceback (failed tasks), lowrank_version."""

_STATUSES = ("done", "failed")
_FIELDS = {"key": str, "status": str, "seed": int, "settings": dict, "scalars": dict}


def _write_text(path: Path, text: str) -> None:
    _atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _cell(value) -> str:
    if isinstance(value, float):
        return repr(value)  # inf, -inf and nan as such: float(cell) gives them back
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


class ResultStore:
    """Reads and writes the results folder of a sweep (created if missing).

    Raises
    ------
    ValueError
        ``folder`` (or its ``tasks`` or ``claims`` entry) exists and is not a folder.
    """

    def __init__(self, folder: str | Path):
        if not isinstance(folder, (str, os.PathLike)):
            raise TypeError(f"folder must be a path, got {type(folder).__name__}")
        self.folder = Path(folder)
        self.tasks_folder = self.folder / "tasks"
        self.claims_folder = self.folder / "claims"
        for path in (self.folder, self.tasks_folder, self.claims_folder):
            if path.exists() and not path.is_dir():
                raise ValueError(f"{str(path)!r} is a file, not a sweep results folder")
        self.tasks_folder.mkdir(parents=True, exist_ok=True)  # claims/ only once a task is claimed

    def _json(self, key: str) -> Path:
        return self.tasks_folder / f"{key}.json"

    def _npz(self, key: str) -> Path:
        return self.tasks_folder / f"{key}.npz"

    # --- reading, with every check ---------------------------------------------------------

    def _verified(self, key: str) -> TaskRecord | None:
        """The json of task ``key`` after its checks; None when it has not run.

        Raises
        ------
        ValueError
            The json is damaged, edited, undigested (an older lowrank), or of another task.
        """
        path = self._json(key)
        try:
            record = _read_record(path)
        except FileNotFoundError:
            return None
        bad = [n for n, kind in _FIELDS.items() if not isinstance(record.get(n), kind)]
        if bad or record["key"] != key or record["status"] not in _STATUSES:
            raise ValueError(
                f"{str(path)!r} is not the complete record of task {key!r}"
                + (f" (field {bad[0]!r})" if bad else "")
            )
        digests = record.get("array_digests", {})
        if not isinstance(digests, dict) or sorted(digests) != record.get("arrays"):
            raise ValueError(f"{str(path)!r} lists arrays without their digests")
        return record

    def _arrays(self, record: TaskRecord) -> dict[str, np.ndarray]:
        """The arrays of a verified record, checked against the digests it holds (ValueError)."""
        key, digests = record["key"], record["array_digests"]
        if not digests:
            return {}
        path = self._npz(key)
        if not path.exists():
            raise ValueError(f"{str(path)!r} is missing: its record lists arrays {sorted(digests)}")
        arrays, header = load(path, kind="SweepTask")
        if header["meta"].get("key") != key or {n: _digest(a) for n, a in arrays.items()} != (
            digests
        ):
            raise ValueError(f"{str(path)!r} does not hold the arrays of the record of {key!r}")
        return arrays

    def check(self, key: str, arrays: bool = True) -> tuple[TaskRecord | None, str | None]:
        """Verify task ``key``: ``(record, None)`` when it passes every check, ``(None, None)``
        when it has not run, ``(None, problem)`` when its files are damaged, edited or missing.

        ``arrays=False`` checks the json alone (cheap); ``True`` reads its arrays as well.
        """
        try:
            record = self._verified(key)
            if record is not None and arrays:
                self._arrays(record)
        except ValueError as exc:
            return None, str(exc)
        return record, None

    def survey(
        self, keys: Iterable[str] | None = None, arrays: bool = True
    ) -> tuple[dict[str, TaskRecord], dict[str, str]]:
        """Check tasks ``keys`` (default: every json in the folder).

        Returns
        -------
        records : dict of str to dict
            The tasks that pass every check, by key.
        damaged : dict of str to str
            What is wrong with each damaged task, by key.
        """
        if keys is None:
            keys = sorted(p.stem for p in self.tasks_folder.glob("*.json"))
        records, damaged = {}, {}
        for key in keys:
            record, problem = self.check(key, arrays)
            if problem is not None:
                damaged[key] = problem
            elif record is not None:
                records[key] = record
        return records, damaged

    def record(self, key: str) -> TaskRecord | None:
        """The json of task ``key`` when it passes its checks; None when it has not run or is
        damaged (``check`` says which)."""
        return self.check(key, arrays=False)[0]

    def records(self) -> list[TaskRecord]:
        """Every task json in the folder that passes its checks, sorted by key."""
        return list(self.survey(arrays=False)[0].values())

    def status(self, key: str) -> str | None:
        record = self.record(key)
        return None if record is None else record["status"]

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        """The arrays task ``key`` stored, checked against its record (empty when it stored none).

        Raises
        ------
        ValueError
            The task has not run, or its files are damaged (run the sweep again to recompute it).
        """
        record, problem = self.check(key, arrays=False)
        if record is None:
            raise ValueError(
                f"task {key!r} has no finished record in {str(self.folder)!r}"
                + (f": {problem}" if problem else "")
                + "; run the sweep again to compute it"
            )
        try:
            return self._arrays(record)
        except ValueError as exc:
            raise ValueError(f"{exc}; run the sweep again to recompute task {key!r}") from exc

    # --- writing -----------------------------------------------------------------------------

    def claim(self, key: str) -> filelock.BaseFileLock | None:
        """Take the claim of task ``key`` without waiting; None when another holds it.

        Release it with ``.release()`` once the task's result is written.
        """
        self.claims_folder.mkdir(exist_ok=True)
        lock = filelock.FileLock(self.claims_folder / f"{key}.lock", timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            return None
        return lock

    def write(self, record: TaskRecord, arrays: Mapping[str, np.ndarray]) -> None:
        """Store a task (holding its claim): its old json goes first, then its arrays are written,
        then its json (the mark that it is finished)."""
        key = record["key"]
        self._json(key).unlink(missing_ok=True)
        if arrays:
            save(self._npz(key), arrays, {"key": key}, kind="SweepTask")
        else:
            self._npz(key).unlink(missing_ok=True)
        record = {
            **record,
            "arrays": sorted(arrays),
            "array_digests": {n: _digest(np.asarray(a)) for n, a in arrays.items()},
            "lowrank_version": _version(),
        }
        _write_record(self._json(key), record, indent=1)

    def write_spec(self, spec: dict) -> None:
        _write_record(self.folder / "spec.json", spec, indent=1)

    def read_spec(self) -> dict | None:
        """The spec of the last run (None when there is none); ValueError when it is damaged."""
        try:
            return _read_record(self.folder / "spec.json")
        except FileNotFoundError:
            return None

    def write_table(self, records: Iterable[TaskRecord], name: str = "results.csv") -> Path:
        """One row per record: key, status, seed, every setting, every scalar, elapsed, error."""
        rows = [
            {
                "key": r["key"],
                "status": r["status"],
                "seed": r["seed"],
                **r.get("settings", {}),
                **r.get("scalars", {}),
                "elapsed": r.get("elapsed"),
                "error": r.get("error"),
            }
            for r in records
        ]
        return write_csv(self.folder / name, rows)


def write_csv(path: str | Path, rows: Iterable[Mapping]) -> Path:
    """Write dicts as CSV rows atomically; the columns are the union of their keys, in order.

    Floats are written with ``repr``, so ``float(cell)`` gives back every value exactly, ``inf``,
    ``-inf`` and ``nan`` included; None is an empty cell.
    """
    rows = list(rows)
    header = _union(rows)
    buffer = _stdio.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in header])
    path = Path(path)
    _write_text(path, buffer.getvalue())
    return path


def _union(dicts: Iterable[Mapping]) -> list[str]:
    names: list[str] = []
    for d in dicts:
        names += [n for n in d if n not in names]
    return names
