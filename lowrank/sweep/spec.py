"""Sweep specifications: a job, settings shared by every task, a grid or list of cases, and seeds.

A specification is a TOML file (or the same structure as a dict)::

    [sweep]
    name = "turner2023_modes"
    job = "lowrank.sweep.jobs:train_and_analyse"   # "module:function", importable by the workers
    seeds = 10                                      # 0..9, or a list of ints

    [settings]                                      # the same for every task
    task = "flipflop"
    neurons = 64

    [grid]                                          # every combination of these values
    mode = ["gated", "orthogonal", "parallel"]
    tasks = [2, 3, 4]

    [[cases]]                                       # optional: explicit settings x the grid
    rank = 2

The tasks are cases x grid x seeds; each task's settings are ``settings`` updated by its case and
its grid point. A task is keyed by a hash of (job, settings, seed): the same computation has the
same key in every run and on every machine, so a finished key is never recomputed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import itertools
import json
import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["SpecError", "SweepSpec", "SweepTask", "load_spec", "task_key", "resolve_job"]

_SECTIONS = {"sweep", "settings", "grid", "cases"}
_SWEEP_FIELDS = {"name", "job", "seeds"}
_SCALARS = (bool, int, float, str)
RESERVED = frozenset({"key", "status", "seed", "elapsed", "error"})  # results.csv columns


class SpecError(ValueError):
    """A malformed sweep specification; the message names the offending field."""


@dataclasses.dataclass(frozen=True)
class SweepTask:
    """One unit of work: the job applied to ``settings`` with ``seed``, known by ``key``."""

    key: str
    settings: dict
    seed: int


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def task_key(job: str, settings: Mapping, seed: int) -> str:
    """SHA-256 (first 16 hex digits) of the canonical JSON of (job, settings, seed)."""
    text = _canonical({"job": job, "settings": dict(settings), "seed": int(seed)})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _value(value, field: str):
    """A setting must be JSON-like: a finite scalar, or a list / table of such values."""
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"spec field {field!r}: values must be finite, got {value!r}")
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, (list, tuple)):
        return [_value(v, f"{field}[{k}]") for k, v in enumerate(value)]
    if isinstance(value, Mapping):
        return _table(value, field)
    raise SpecError(
        f"spec field {field!r}: expected a bool, int, float, str, list or table, "
        f"got {type(value).__name__}"
    )


def _table(table, field: str) -> dict:
    if not isinstance(table, Mapping):
        raise SpecError(f"spec field {field!r}: expected a table, got {type(table).__name__}")
    out = {}
    for name, value in table.items():
        if not isinstance(name, str) or not name:
            raise SpecError(f"spec field {field!r}: names must be non-empty strings, got {name!r}")
        out[name] = _value(value, f"{field}.{name}")
    return out


def _seeds(value) -> list[int]:
    if isinstance(value, bool):
        raise SpecError(
            f"spec field 'sweep.seeds': expected an int or a list of ints, got {value!r}"
        )
    if isinstance(value, int):
        if value < 1:
            raise SpecError(f"spec field 'sweep.seeds': expected at least 1 seed, got {value}")
        return list(range(value))
    if isinstance(value, (list, tuple, range)):
        seeds = list(value)
        bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or s < 0]
        if not seeds or bad:
            raise SpecError(
                "spec field 'sweep.seeds': expected a non-empty list of non-negative ints"
                + (f", got {bad[0]!r}" if bad else "")
            )
        if len(set(seeds)) != len(seeds):
            raise SpecError("spec field 'sweep.seeds': seeds must be distinct")
        return seeds
    raise SpecError(
        f"spec field 'sweep.seeds': expected an int or a list of ints, got {type(value).__name__}"
    )


def _job_name(job) -> str:
    if callable(job):
        module, name = getattr(job, "__module__", None), getattr(job, "__qualname__", "")
        if not module or module == "__main__" or "<" in name:
            raise SpecError(
                "spec field 'sweep.job': a callable job must be a module-level function importable "
                f"by the workers (not from __main__, not a lambda or closure), got {job!r}"
            )
        return f"{module}:{name}"
    if not isinstance(job, str) or job.count(":") != 1 or not all(job.split(":")):
        raise SpecError(
            f"spec field 'sweep.job': expected 'module:function' (e.g. "
            f"'lowrank.sweep.jobs:train_and_analyse'), got {job!r}"
        )
    return job


def resolve_job(job: str) -> Callable:
    """Import the function named by ``'module:function'``."""
    module_name, _, attribute = job.partition(":")
    try:
        target = importlib.import_module(module_name)
    except ImportError as exc:
        raise SpecError(
            f"spec field 'sweep.job': cannot import module {module_name!r}: {exc}"
        ) from exc
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise SpecError(
                f"spec field 'sweep.job': {module_name!r} has no attribute {attribute!r}"
            )
        target = getattr(target, part)
    if not callable(target):
        raise SpecError(f"spec field 'sweep.job': {job!r} is not callable")
    return target


@dataclasses.dataclass(frozen=True, init=False)
class SweepSpec:
    """A sweep: ``job(settings, seed)`` for every case x grid point x seed.

    Parameters
    ----------
    job : str or callable
        ``"module:function"`` or a module-level function ``job(settings: dict, seed: int) -> dict``;
        the dict maps names to scalars (the results table) and numpy arrays (the task's npz).
    seeds : int or sequence of int
        ``n`` means seeds 0..n-1.
    settings : mapping, optional
        Settings shared by every task.
    grid : mapping of str to non-empty sequence, optional
        Every combination of these values is a task (times the seeds).
    cases : sequence of mapping, optional
        Explicit settings, each crossed with the grid.
    name : str
        Name of the sweep (for reports).
    """

    job: str
    seeds: tuple[int, ...]
    settings: dict = dataclasses.field(default_factory=dict)
    grid: dict = dataclasses.field(default_factory=dict)
    cases: tuple[dict, ...] = ({},)
    name: str = "sweep"

    def __init__(self, job, seeds, settings=None, grid=None, cases=None, name: str = "sweep"):
        if not isinstance(name, str) or not name:
            raise SpecError(f"spec field 'sweep.name': expected a non-empty string, got {name!r}")
        settings = _table(settings or {}, "settings")
        grid = _table(grid or {}, "grid")
        for axis, values in grid.items():
            if not isinstance(values, list) or not values:
                raise SpecError(
                    f"spec field 'grid.{axis}': expected a non-empty list of values, got {values!r}"
                )
        if cases is None or (isinstance(cases, (list, tuple)) and not cases):
            cases = [{}]
        if not isinstance(cases, (list, tuple)):
            raise SpecError(
                f"spec field 'cases': expected a list of tables, got {type(cases).__name__}"
            )
        cases = [_table(case, f"cases[{k}]") for k, case in enumerate(cases)]
        for k, case in enumerate(cases):
            for name_ in case:
                if name_ in grid:
                    raise SpecError(
                        f"spec field 'cases[{k}].{name_}': also a grid axis; give it in one place"
                    )
        for name_ in [*settings, *grid, *(n for case in cases for n in case)]:
            if name_ in RESERVED:
                raise SpecError(
                    f"spec field {name_!r}: reserved for the results table, choose another name "
                    f"(reserved: {sorted(RESERVED)})"
                )
        for name_ in settings:
            if name_ in grid:
                raise SpecError(
                    f"spec field 'settings.{name_}': also a grid axis; give it in one place"
                )
        object.__setattr__(self, "job", _job_name(job))
        object.__setattr__(self, "seeds", tuple(_seeds(seeds)))
        object.__setattr__(self, "settings", settings)
        object.__setattr__(self, "grid", grid)
        object.__setattr__(self, "cases", tuple(cases))
        object.__setattr__(self, "name", name)

    @classmethod
    def from_dict(cls, spec: Mapping) -> SweepSpec:
        """Build from the structure of the TOML file (sections sweep, settings, grid, cases)."""
        if not isinstance(spec, Mapping):
            raise SpecError(f"spec: expected a table, got {type(spec).__name__}")
        unknown = set(spec) - _SECTIONS
        if unknown:
            raise SpecError(
                f"spec field {sorted(unknown)[0]!r}: unknown section (expected {sorted(_SECTIONS)})"
            )
        head = spec.get("sweep")
        if not isinstance(head, Mapping):
            raise SpecError("spec field 'sweep': missing table [sweep] with 'job' and 'seeds'")
        unknown = set(head) - _SWEEP_FIELDS
        if unknown:
            raise SpecError(
                f"spec field 'sweep.{sorted(unknown)[0]}': unknown "
                f"(expected {sorted(_SWEEP_FIELDS)})"
            )
        for required in ("job", "seeds"):
            if required not in head:
                raise SpecError(f"spec field 'sweep.{required}': missing")
        return cls(
            job=head["job"],
            seeds=head["seeds"],
            settings=spec.get("settings"),
            grid=spec.get("grid"),
            cases=spec.get("cases"),
            name=head.get("name", "sweep"),
        )

    def to_dict(self) -> dict:
        """The TOML structure of this spec (``SweepSpec.from_dict(spec.to_dict()) == spec``)."""
        return {
            "sweep": {"name": self.name, "job": self.job, "seeds": list(self.seeds)},
            "settings": self.settings,
            "grid": self.grid,
            "cases": list(self.cases),
        }

    @property
    def varied(self) -> list[str]:
        """Names of the settings that change between tasks (grid axes, then case fields)."""
        names = list(self.grid)
        for case in self.cases:
            names += [n for n in case if n not in names]
        return names

    def tasks(self) -> list[SweepTask]:
        """Every (settings, seed) of the sweep, keyed; cases outermost, seeds innermost."""
        axes = list(self.grid)
        tasks, seen = [], set()
        # a job's own defaults for absent settings join the key (``key_defaults``, e.g. the
        # RNN's init): a changed default must not reuse results computed under the old one
        defaults = getattr(resolve_job(self.job), "key_defaults", dict)()
        for case in self.cases:
            for point in itertools.product(*(self.grid[a] for a in axes)):
                settings = {**self.settings, **case, **dict(zip(axes, point, strict=True))}
                for seed in self.seeds:
                    key = task_key(self.job, {**defaults, **settings}, seed)
                    if key not in seen:
                        seen.add(key)
                        tasks.append(SweepTask(key, settings, seed))
        return tasks


def load_spec(source: str | Path | Mapping | SweepSpec) -> SweepSpec:
    """A ``SweepSpec`` from a TOML file, a dict of its structure, or a spec (returned as is)."""
    if isinstance(source, SweepSpec):
        return source
    if isinstance(source, Mapping):
        return SweepSpec.from_dict(source)
    if not isinstance(source, (str, Path)):
        raise TypeError(
            f"spec must be a path to a TOML file, a dict or a SweepSpec, got {source!r}"
        )
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"sweep spec {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"spec {str(path)!r} is not valid TOML: {exc}") from exc
    try:
        return SweepSpec.from_dict(data)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
