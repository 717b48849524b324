"""The results folder of a sweep: one npz + one json per task, and a table.

Layout of ``DIR``::

    DIR/spec.json            the specification of the last run
    DIR/tasks/KEY.npz        the task's arrays (lowrank.io format: checksummed, no pickle)
    DIR/tasks/KEY.json       {"key", "status", "seed", "settings", "scalars", "error", ...}
    DIR/results.csv          one row per task of the spec: key, status, seed, settings, scalars

Every file is written atomically (temporary file + rename). The json is written after the npz and
marks the task finished: a task is done exactly when its json says ``"status": "done"``, so a sweep
killed at any instant resumes without losing or duplicating a result.
"""

from __future__ import annotations

import csv
import io as _stdio
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from ..io import _atomic_write, _version, load, save

__all__ = ["ResultStore", "TaskRecord", "write_csv"]

TaskRecord = dict
"""A task's json: key, status ("done" or "failed"), seed, settings, scalars, arrays (names),
elapsed, job, error and traceback (failed tasks), lowrank_version."""


def _write_text(path: Path, text: str) -> None:
    _atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _cell(value) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


class ResultStore:
    """Reads and writes the results folder of a sweep (created if missing)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.tasks_folder = self.folder / "tasks"
        self.tasks_folder.mkdir(parents=True, exist_ok=True)

    def _json(self, key: str) -> Path:
        return self.tasks_folder / f"{key}.json"

    def _npz(self, key: str) -> Path:
        return self.tasks_folder / f"{key}.npz"

    def record(self, key: str) -> TaskRecord | None:
        """The json of task ``key``, or None when it has not run (or its json is unreadable)."""
        try:
            return json.loads(self._json(key).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None

    def records(self) -> list[TaskRecord]:
        """Every task json in the folder, sorted by key."""
        out = []
        for path in sorted(self.tasks_folder.glob("*.json")):
            record = self.record(path.stem)
            if record is not None and record.get("key") == path.stem:
                out.append(record)
        return out

    def status(self, key: str) -> str | None:
        record = self.record(key)
        return None if record is None else record.get("status")

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        """The arrays a finished task stored (empty when it stored none)."""
        path = self._npz(key)
        if not path.exists():
            return {}
        arrays, _ = load(path, kind="SweepTask")
        return arrays

    def write(self, record: TaskRecord, arrays: Mapping[str, np.ndarray]) -> None:
        """Store a task: its arrays first, then its json (the mark that it is finished)."""
        key = record["key"]
        if arrays:
            save(self._npz(key), arrays, {"key": key}, kind="SweepTask")
        record = {**record, "arrays": sorted(arrays), "lowrank_version": _version()}
        _write_text(self._json(key), json.dumps(record, indent=1, sort_keys=True))

    def write_spec(self, spec: dict) -> None:
        _write_text(self.folder / "spec.json", json.dumps(spec, indent=1, sort_keys=True))

    def read_spec(self) -> dict | None:
        try:
            return json.loads((self.folder / "spec.json").read_text(encoding="utf-8"))
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
    """Write dicts as CSV rows atomically; the columns are the union of their keys, in order."""
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
