"""Sweeps lose nothing and accept nothing silently: damaged results are found and recomputed,
concurrent sweeps on one folder compute each key once, job outputs cannot overwrite the table's
columns, non-finite values are stored as they are, and a job that exits fails only its task.

Ground truth is the job's own formula recomputed here (``sweep_jobs.noisy_square``: x^2 plus the
first normal draw of ``default_rng([seed, x])``, then three more draws as "vector"), and for
concurrency a log that every computation appends to."""

import csv
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from lowrank.sweep import (
    DamagedResultWarning,
    execute,
    load_spec,
    run_sweep,
    sweep_report,
)
from lowrank.sweep.store import ResultStore

TESTS = Path(__file__).resolve().parent
SPEC = {
    "sweep": {"name": "squares", "job": "sweep_jobs:noisy_square", "seeds": 3},
    "settings": {"offset": 0},
    "grid": {"x": [1, 2, 3]},
}


def truth(task) -> tuple[float, np.ndarray]:
    rng = np.random.default_rng([task.seed, task.settings["x"]])
    return task.settings["x"] ** 2 + rng.normal(), rng.normal(size=3)


def table(folder: Path) -> dict[str, dict]:
    with open(folder / "results.csv", newline="") as f:
        return {row["key"]: row for row in csv.DictReader(f)}


def with_job(job: str, **sweep) -> dict:
    return {**SPEC, "sweep": {**SPEC["sweep"], "job": job, **sweep}}


# --- damage is found, recomputed and reported -----------------------------------------------------


def test_damaged_results_are_recomputed_and_reported(tmp_path):
    run_sweep(SPEC, tmp_path, progress=False)
    tasks = load_spec(SPEC).tasks()
    k = [t.key for t in tasks]
    folder = tmp_path / "tasks"
    (folder / f"{k[0]}.npz").unlink()  # deleted arrays
    raw = (folder / f"{k[1]}.npz").read_bytes()
    (folder / f"{k[1]}.npz").write_bytes(raw[: len(raw) // 2])  # truncated arrays
    record = json.loads((folder / f"{k[2]}.json").read_text())
    record["scalars"]["value"] = 1234.5  # edited, still valid JSON
    (folder / f"{k[2]}.json").write_text(json.dumps(record))
    record = json.loads((folder / f"{k[3]}.json").read_text())
    record.pop("digest")  # as written by a lowrank that did not checksum records
    (folder / f"{k[3]}.json").write_text(json.dumps(record))
    # a whole, valid file of another task in place of this task's
    (folder / f"{k[4]}.json").write_bytes((folder / f"{k[5]}.json").read_bytes())
    (folder / f"{k[6]}.npz").write_bytes((folder / f"{k[7]}.npz").read_bytes())
    (folder / f"{k[8]}.json").unlink()  # not finished: recomputed without a warning
    damaged = {k[i] for i in (0, 1, 2, 3, 4, 6)}

    # nothing damaged is handed out before the sweep is run again
    with pytest.raises(ValueError, match=rf"{k[0]}\.npz.*missing"):
        ResultStore(tmp_path).arrays(k[0])
    with pytest.raises(ValueError, match=r"damaged task result\(s\)") as error:
        sweep_report(tmp_path, figures=False)
    assert all(key in str(error.value) for key in damaged)

    with pytest.warns(DamagedResultWarning, match="6 stored task result") as caught:
        results = run_sweep(SPEC, tmp_path, progress=False)
    assert all(key in str(caught[0].message) for key in damaged)
    assert set(results.damaged) == damaged and results.ran == 7 and results.done == 9
    assert "fails its checksum" in results.damaged[k[2]]
    assert "no digest" in results.damaged[k[3]]
    rows = table(tmp_path)
    for task in tasks:
        value, vector = truth(task)
        assert float(rows[task.key]["value"]) == value
        np.testing.assert_array_equal(results.arrays(task.key)["vector"], vector)
    assert sweep_report(tmp_path, figures=False).groups[0]["n_done"] == 3
    again = run_sweep(SPEC, tmp_path, progress=False)  # now whole: nothing recomputed
    assert again.ran == 0 and again.damaged == {}


def test_arrays_of_a_task_not_run_is_an_error_not_empty(tmp_path):
    with pytest.raises(ValueError, match="no finished record"):
        ResultStore(tmp_path).arrays("0123456789abcdef")


# --- claims: each key computed once ---------------------------------------------------------------


def test_a_claimed_task_waits_for_its_holder_and_is_not_recomputed(tmp_path):
    """Another sweep (here: this test) holds a claim; the sweep does everything else, waits for
    the claim, re-checks under it, and takes the holder's result instead of computing it."""
    tasks = load_spec(SPEC).tasks()
    store = ResultStore(tmp_path)
    lock = store.claim(tasks[0].key)
    assert lock is not None and store.claim(tasks[0].key) is None  # exclusive
    outcome = {}
    sweeper = threading.Thread(
        target=lambda: outcome.update(results=run_sweep(SPEC, tmp_path, progress=False))
    )
    sweeper.start()
    deadline = time.monotonic() + 60
    while len(list((tmp_path / "tasks").glob("*.json"))) < 8:
        assert time.monotonic() < deadline and sweeper.is_alive()
        time.sleep(0.02)
    time.sleep(0.3)
    assert sweeper.is_alive()  # waiting for the claimed task
    record, arrays = execute(SPEC["sweep"]["job"], tasks[0].settings, tasks[0].seed, tasks[0].key)
    store.write({**record, "elapsed": 12345.0}, arrays)
    lock.release()
    sweeper.join(60)
    results = outcome["results"]
    assert results.ran == 8 and results.done == 9
    assert store.record(tasks[0].key)["elapsed"] == 12345.0  # the holder's result was kept


RACER = """
import sys, time
from pathlib import Path
import numba, torch  # the job's thread limits import them: import before the start signals
from lowrank.sweep import run_sweep
spec, ready, *runs = sys.argv[1:]
Path(ready).touch()
for out, go in zip(runs[::2], runs[1::2]):
    while not Path(go).exists():
        time.sleep(0.005)
    print(run_sweep(spec, out, progress=False).ran, flush=True)
"""


def test_concurrent_sweeps_on_one_folder_compute_each_key_once(tmp_path):
    """Two sweeps of 12 tasks (0.1 s each) on one folder, one in a subprocess and one here:
    started at once (folder "together"), then this one once the other has finished 3 tasks
    (folder "later"). Every key is computed exactly once (the job logs each computation), both
    sweeps share the work, and both return whole results."""
    log = tmp_path / "computed.log"
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(
        '[sweep]\nname = "race"\njob = "sweep_jobs:slow_logged"\nseeds = 4\n'
        f'[settings]\nsleep = 0.1\nlog = "{log.as_posix()}"\n[grid]\nx = [1, 2, 3]\n'
    )
    tasks = load_spec(spec_path).tasks()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    ready = tmp_path / "ready"
    folders = {name: (tmp_path / name, tmp_path / f"go_{name}") for name in ("together", "later")}
    runs = [str(p) for pair in folders.values() for p in pair]
    other = subprocess.Popen(
        [sys.executable, "-c", RACER, str(spec_path), str(ready), *runs],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run_sweep(SPEC, tmp_path / "warm", progress=False)  # this process's imports, meanwhile
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert other.poll() is None, other.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the other sweep did not start"
            time.sleep(0.01)
        here = {}
        for name, (out, go) in folders.items():
            log.write_text("")
            go.touch()
            while name == "later" and len(list((out / "tasks").glob("*.json"))) < 3:
                assert other.poll() is None and time.monotonic() < deadline
                time.sleep(0.005)
            here[name] = run_sweep(spec_path, out, progress=False)
            computed = [tuple(json.loads(line)) for line in log.read_text().splitlines()]
            assert sorted(computed) == sorted((t.settings["x"], t.seed) for t in tasks), name
            assert here[name].done == len(tasks)
        stdout, stderr = other.communicate(timeout=120)
    finally:
        if other.poll() is None:
            other.kill()
    assert other.returncode == 0, stderr[-3000:]
    for (name, (out, _)), theirs in zip(folders.items(), stdout.split(), strict=True):
        assert sorted(table(out)) == sorted(t.key for t in tasks)
        assert int(theirs) + here[name].ran == len(tasks), name
        assert int(theirs) > 0 and here[name].ran > 0, name  # the work was shared
    assert int(stdout.split()[1]) >= 3  # "later": the 3 keys done before it started were skipped


# --- job outputs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["key", "seed", "status", "elapsed", "error", "x", "offset"])
def test_an_output_named_like_a_column_fails_its_task_naming_it(tmp_path, column):
    spec = with_job("sweep_jobs:named_like_a_column", seeds=1)
    spec = {**spec, "settings": {"offset": 0, "column": column}}
    results = run_sweep(spec, tmp_path, progress=False)
    assert results.done == 0 and len(results.failed) == 3
    for record in results.failed:
        assert record["error"].startswith(f"ValueError: job output {column!r} would overwrite")
    for task, row in zip(load_spec(spec).tasks(), table(tmp_path).values(), strict=True):
        assert (row["key"], row["seed"], row["status"]) == (task.key, "0", "failed")
        assert (row["x"], row["offset"]) == (str(task.settings["x"]), "0")


def test_non_finite_values_are_stored_as_they_are(tmp_path):
    spec = with_job("sweep_jobs:non_finite", seeds=2)
    results = run_sweep(spec, tmp_path, progress=False)
    assert results.done == 6
    expected = {"up": math.inf, "down": -math.inf}
    for record in results.records:
        row = table(tmp_path)[record["key"]]
        for name, value in expected.items():
            assert record["scalars"][name] == value and float(row[name]) == value
        assert math.isnan(record["scalars"]["none"]) and math.isnan(float(row["none"]))
        assert float(row["finite"]) == record["seed"] + 0.5
        np.testing.assert_array_equal(
            results.arrays(record["key"])["vector"], [np.inf, -np.inf, np.nan, 1.0]
        )
    group = sweep_report(tmp_path, figures=False).groups[0]
    assert group["up_mean"] is None and group["up_nonfinite"] == 2
    assert group["finite_mean"] == 1.0 and "finite_nonfinite" not in group


@pytest.mark.parametrize(
    ("settings", "error"),
    [({}, "SystemExit: 3"), ({"raise": "GeneratorExit"}, "GeneratorExit: stop")],
)
def test_a_job_raising_a_base_exception_fails_only_its_task(tmp_path, settings, error):
    spec = with_job("sweep_jobs:exits", seeds=2)
    spec = {**spec, "settings": {"offset": 0, **settings}}
    results = run_sweep(spec, tmp_path, progress=False)
    assert results.done == 4 and len(results.failed) == 2
    assert all(r["error"] == error and r["settings"]["x"] == 2 for r in results.failed)


def test_keyboard_interrupt_stops_the_sweep_and_frees_its_claims(tmp_path):
    spec = with_job("sweep_jobs:exits", seeds=1)
    spec = {**spec, "settings": {"offset": 0, "raise": "KeyboardInterrupt"}}
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, tmp_path, progress=False)
    store = ResultStore(tmp_path)
    tasks = load_spec(spec).tasks()
    assert store.status(tasks[0].key) == "done" and store.status(tasks[1].key) is None
    assert all(store.claim(t.key) is not None for t in tasks)  # nothing left held
    assert list(table(tmp_path)) == [tasks[0].key]


def test_out_must_be_a_folder(tmp_path):
    path = tmp_path / "results.txt"
    path.write_text("not a folder")
    with pytest.raises(ValueError, match=r"out '.*results\.txt' is a file"):
        run_sweep(SPEC, path, progress=False)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "tasks").write_text("")
    with pytest.raises(ValueError, match=r"tasks' is a file"):
        run_sweep(SPEC, tmp_path / "out", progress=False)
    with pytest.raises(TypeError, match="out must be a folder path"):
        run_sweep(SPEC, 3, progress=False)
    assert path.read_text() == "not a folder"


def test_a_jobs_defaults_join_the_key_so_a_changed_default_is_not_reused():
    """The RNN's default init changed (gaussian -> uniform): a spec that leaves ``init`` out must
    get a key other than the one its results were stored under before, and a spec that states the
    default explicitly the same key as one that leaves it out."""
    import inspect

    from lowrank.models import RNN
    from lowrank.sweep import SweepSpec, task_key

    job = "lowrank.sweep.jobs:train_and_analyse"
    base = {"sweep": {"job": job, "seeds": [0]}, "settings": {"task": "flipflop"}}
    implicit = SweepSpec.from_dict(base).tasks()[0].key
    default = inspect.signature(RNN.__init__).parameters["init"].default
    explicit = SweepSpec.from_dict(
        {**base, "settings": {"task": "flipflop", "init": default}}
    ).tasks()[0].key
    other = SweepSpec.from_dict(
        {**base, "settings": {"task": "flipflop", "init": "gaussian"}}
    ).tasks()[0].key
    assert implicit == explicit != other
    assert implicit != task_key(job, {"task": "flipflop"}, 0)  # the key of the old scheme
