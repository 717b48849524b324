"""Sweeps: specs, keys, resumption after a kill, failures, Dask == serial, report and CLI."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowrank.cli import main
from lowrank.sweep import SpecError, SweepSpec, load_spec, run_sweep, sweep_report, task_key
from lowrank.sweep.store import ResultStore

TESTS = Path(__file__).resolve().parent
SPEC = {
    "sweep": {"name": "squares", "job": "sweep_jobs:noisy_square", "seeds": 3},
    "settings": {"offset": 0},
    "grid": {"x": [1, 2, 3]},
}


def _timing_free(record: dict) -> dict:
    scalars = {k: v for k, v in record["scalars"].items() if k != "train_seconds"}
    return {"key": record["key"], "status": record["status"], "scalars": scalars}


# --- specs -------------------------------------------------------------------------------------


def test_tasks_are_cases_times_grid_times_seeds_with_stable_keys():
    spec = SweepSpec.from_dict({**SPEC, "cases": [{"y": 0}, {"y": 1}]})
    tasks = spec.tasks()
    assert len(tasks) == 2 * 3 * 3
    assert len({t.key for t in tasks}) == len(tasks)
    first = tasks[0]
    assert first.settings == {"offset": 0, "y": 0, "x": 1} and first.seed == 0
    # the key is a function of (job, settings, seed) only: dict order does not matter
    assert first.key == task_key("sweep_jobs:noisy_square", {"x": 1, "y": 0, "offset": 0}, 0)
    assert first.key != task_key("sweep_jobs:noisy_square", {"x": 1, "y": 0, "offset": 0}, 1)
    assert SweepSpec.from_dict(spec.to_dict()) == spec


def test_toml_file_round_trip(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(
        '[sweep]\nname = "squares"\njob = "sweep_jobs:noisy_square"\nseeds = [4, 5]\n'
        "[settings]\noffset = 0\n[grid]\nx = [1, 2, 3]\n"
    )
    spec = load_spec(path)
    assert spec.seeds == (4, 5) and spec.grid == {"x": [1, 2, 3]} and len(spec.tasks()) == 6


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sweep": {"seeds": 2}}, "sweep.job"),
        ({"sweep": {"job": "sweep_jobs:noisy_square"}}, "sweep.seeds"),
        ({"sweep": {**SPEC["sweep"], "seeds": 0}}, "sweep.seeds"),
        ({"sweep": {**SPEC["sweep"], "seeds": [1, -1]}}, "sweep.seeds"),
        ({"sweep": {**SPEC["sweep"], "seeds": "three"}}, "sweep.seeds"),
        ({"sweep": {**SPEC["sweep"], "job": "no_colon"}}, "sweep.job"),
        ({"sweep": {**SPEC["sweep"], "jobs": "x:y"}}, "sweep.jobs"),
        ({"grid": {"x": 3}}, "grid.x"),
        ({"grid": {"x": []}}, "grid.x"),
        ({"grid": {"x": [1, float("nan")]}}, "grid.x[1]"),
        ({"settings": {"x": 1}}, "settings.x"),
        ({"settings": {"seed": 1}}, "seed"),
        ({"cases": [{"x": 1}]}, "cases[0].x"),
        ({"cases": "many"}, "cases"),
        ({"extra": {}}, "extra"),
    ],
)
def test_malformed_spec_names_the_field(change, field):
    with pytest.raises(SpecError, match=re.escape(f"'{field}'")):
        SweepSpec.from_dict({**SPEC, **change})


def test_bad_toml_and_unimportable_job_are_clear(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[sweep\njob = 1")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(path)
    spec = {**SPEC, "sweep": {**SPEC["sweep"], "job": "no_such_module_xyz:job"}}
    with pytest.raises(SpecError, match="sweep.job.*no_such_module_xyz"):
        run_sweep(spec, tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="at most one of workers, scheduler"):
        run_sweep(SPEC, tmp_path / "out", workers=2, scheduler="tcp://x:1", progress=False)


# --- serial engine, resumption, failures --------------------------------------------------------


def test_serial_sweep_stores_every_task_once_and_resumes_without_recomputing(tmp_path):
    results = run_sweep(SPEC, tmp_path, progress=False)
    assert results.ran == 9 and results.done == 9 and not results.failed
    store = ResultStore(tmp_path)
    for task in load_spec(SPEC).tasks():
        record = store.record(task.key)
        assert record["key"] == task.key and record["settings"] == task.settings
        # independent ground truth: the job's formula, recomputed here
        rng = np.random.default_rng([task.seed, task.settings["x"]])
        assert record["scalars"]["value"] == task.settings["x"] ** 2 + rng.normal()
        np.testing.assert_array_equal(store.arrays(task.key)["vector"], rng.normal(size=3))
    again = run_sweep(SPEC, tmp_path, progress=False)
    assert again.ran == 0 and again.done == 9
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert len(rows) == 10 and rows[0].startswith("key,status,seed,offset,x,value")


def test_failing_task_is_recorded_and_the_others_finish(tmp_path):
    spec = {**SPEC, "sweep": {**SPEC["sweep"], "job": "sweep_jobs:fail_on_two"}}
    results = run_sweep(spec, tmp_path, progress=False)
    assert results.done == 6 and len(results.failed) == 3
    for record in results.failed:
        assert record["settings"]["x"] == 2
        assert record["error"].startswith("RuntimeError: boom at x=2")
        assert "fail_on_two" in record["traceback"]
    assert "RuntimeError: boom" in (tmp_path / "results.csv").read_text()
    assert run_sweep(spec, tmp_path, retry_failed=False, progress=False).ran == 0
    assert run_sweep(spec, tmp_path, progress=False).ran == 3  # failed tasks are retried


def test_job_breaking_the_contract_fails_clearly(tmp_path):
    spec = {**SPEC, "sweep": {**SPEC["sweep"], "job": "sweep_jobs:not_a_dict", "seeds": 1}}
    results = run_sweep(spec, tmp_path, progress=False)
    assert all("must return a dict" in r["error"] for r in results.failed) and results.done == 0


def test_sweep_killed_mid_way_resumes_with_every_key_exactly_once(tmp_path):
    out, log = tmp_path / "out", tmp_path / "computed.log"
    spec_path = tmp_path / "slow.toml"
    spec_path.write_text(
        '[sweep]\nname = "slow"\njob = "sweep_jobs:slow_logged"\nseeds = 4\n'
        f'[settings]\nsleep = 0.25\nlog = "{log.as_posix()}"\n[grid]\nx = [1, 2]\n'
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        sys.executable,
        "-m",
        "lowrank",
        "sweep",
        str(spec_path),
        "--out",
        str(out),
        "--quiet",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list((out / "tasks").glob("*.json"))) < 3:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the sweep made no progress"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished_before = {p.stem for p in (out / "tasks").glob("*.json")}
    assert 3 <= len(finished_before) < 8
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr

    tasks = load_spec(spec_path).tasks()
    keys = {t.key for t in tasks}
    assert {p.stem for p in (out / "tasks").glob("*.json")} == keys
    rows = [line.split(",")[0] for line in (out / "results.csv").read_text().splitlines()[1:]]
    assert sorted(rows) == sorted(keys)  # each key exactly once
    computed = [tuple(json.loads(line)) for line in log.read_text().splitlines()]
    by_key = {t.key: (t.settings["x"], t.seed) for t in tasks}
    for key in finished_before:  # done before the kill: never computed again
        assert computed.count(by_key[key]) == 1
    assert set(computed) == set(by_key.values())


# --- engines agree, bit for bit -----------------------------------------------------------------

TRAINING_SPEC = {
    "sweep": {"name": "tiny", "job": "lowrank.sweep.jobs:train_and_analyse", "seeds": 2},
    "settings": {
        "task": "flipflop",
        "neurons": 12,
        "max_epochs": 2,
        "batches": 2,
        "analyses": ["unstable", "ood", "probe", "weights"],
        "probe_trials": 2,
    },
    "grid": {"bits": [1, 2]},
    "cases": [{}, {"task": "no_such_task"}],
}


def test_local_cluster_with_two_workers_equals_serial(tmp_path):
    pytest.importorskip("distributed")
    serial = run_sweep(TRAINING_SPEC, tmp_path / "serial", progress=False)
    dask = run_sweep(TRAINING_SPEC, tmp_path / "dask", workers=2, progress=False)
    assert serial.done == dask.done == 4
    assert len(serial.failed) == len(dask.failed) == 4
    assert all("unknown task maker 'no_such_task'" in r["error"] for r in dask.failed)
    for a, b in zip(serial.records, dask.records, strict=True):
        assert _timing_free(a) == _timing_free(b)
        arrays_a, arrays_b = serial.arrays(a["key"]), dask.arrays(b["key"])
        assert sorted(arrays_a) == sorted(arrays_b)
        for name in arrays_a:
            np.testing.assert_array_equal(arrays_a[name], arrays_b[name])


def test_same_spec_same_results_bit_for_bit(tmp_path):
    spec = {**TRAINING_SPEC, "cases": [{}], "grid": {"bits": [2]}}
    first = run_sweep(spec, tmp_path / "a", progress=False)
    second = run_sweep(spec, tmp_path / "b", progress=False)
    for a, b in zip(first.records, second.records, strict=True):
        assert _timing_free(a) == _timing_free(b)
        for name, array in first.arrays(a["key"]).items():
            np.testing.assert_array_equal(array, second.arrays(b["key"])[name])
    seeds = [first.arrays(r["key"])["W_final"] for r in first.records]
    assert not np.array_equal(*seeds)  # different seeds, different networks


# --- report and CLI -----------------------------------------------------------------------------


def test_report_statistics_match_the_stored_results(tmp_path):
    run_sweep(SPEC, tmp_path, progress=False)
    report = sweep_report(tmp_path)
    assert report.varied == ["x"] and [g["x"] for g in report.groups] == [1, 2, 3]
    for group in report.groups:
        values = [
            json.loads(p.read_text())["scalars"]["value"]
            for p in (tmp_path / "tasks").glob("*.json")
            if json.loads(p.read_text())["settings"]["x"] == group["x"]
        ]
        assert group["n_done"] == 3 and group["n_failed"] == 0
        assert group["value_mean"] == pytest.approx(np.mean(values), rel=1e-12)
        assert group["value_std"] == pytest.approx(np.std(values, ddof=1), rel=1e-12)
    for name in ("summary.csv", "report.json", "sweep_metrics.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_cli_sweep_and_report(tmp_path, capsys):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text('[sweep]\njob = "sweep_jobs:fail_on_two"\nseeds = 2\n[grid]\nx = [1, 2]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(spec_path), "--out", str(out), "--quiet"]) == 1  # a task failed
    printed = capsys.readouterr().out
    assert "2 of 4 tasks done" in printed and "RuntimeError: boom" in printed
    assert main(["sweep-report", str(out)]) == 0
    assert "value" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text("[sweep]\nseeds = 2\n")
    assert main(["sweep", str(bad), "--out", str(out)]) == 2  # one line on stderr, no traceback
    err = capsys.readouterr().err
    assert err.startswith("lowrank: error:") and "sweep.job" in err and err.count("\n") == 1
    with pytest.raises(ValueError, match="holds no sweep results"):
        sweep_report(tmp_path / "empty")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=True)
    | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    sections=st.dictionaries(
        st.sampled_from(["sweep", "settings", "grid", "cases", "other"]), json_values, max_size=4
    ),
    head=st.dictionaries(
        st.sampled_from(["job", "seeds", "name", "jobs"]), json_values, max_size=4
    ),
)
def test_any_spec_structure_builds_or_raises_spec_error(sections, head):
    spec = {**sections, "sweep": head} if head or "sweep" not in sections else sections
    try:
        built = SweepSpec.from_dict(spec)
    except SpecError as exc:
        assert re.search(r"spec(: | field ')", str(exc)), str(exc)
        return
    assert all(isinstance(t.seed, int) for t in built.tasks())
