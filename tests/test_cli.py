"""The command line: the demos write their figures and records, and bad input gives one line
``lowrank: error: ...`` on stderr and exit status 2, never a traceback."""

import subprocess
import sys

import pytest

from lowrank.cli import main
from lowrank.io import read_json


def test_demo_writes_figure_and_json(tmp_path):
    assert main(["pitchfork", "--neurons", "600", "--out", str(tmp_path)]) == 0
    record = read_json(tmp_path / "pitchfork.json")
    assert (tmp_path / "pitchfork.png").stat().st_size > 0
    for row in record["rows"]:
        # finite-N fluctuation of kappa ~ 1/sqrt(N) = 4% at N = 600; away from the pitchfork
        if row["overlap"] >= 1.5:
            assert row["error"] < 0.1
        if row["overlap"] < 1.0:
            assert row["theory"] == 0.0 and abs(row["simulated"][0]) < 1e-3


def test_module_entry_point_help():
    out = subprocess.run(
        [sys.executable, "-m", "lowrank", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "demo" in out.stdout


def test_quick_demo_prints_tables_and_writes_its_files(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    header = "ckpt  epoch       loss outliers predicted observed  P match  max dist"
    assert out.count(header) == 2  # one table per model
    for name in ("emergence.png", "emergence_fullrank.png", "emergence.json"):
        assert (tmp_path / name).stat().st_size > 0
    record = read_json(tmp_path / "emergence.json")
    assert record["quick"] is True and set(record["models"]) == {"rank2", "fullrank"}
    for model in record["models"].values():
        assert len(model["table"]) == 2  # the first and the last checkpoint
        assert [row["checkpoint"] for row in model["table"]][0] == 0
    # ``lowrank emergence`` on the demo's saved runs, with no population argument, gives the
    # demo's tables (same defaults; the quick demo's size settings given as options)
    keys = ("checkpoint", "prediction", "rank", "populations", "predicted_stable",
            "observed_stable", "truncated_stable", "bulk_stable", "outliers", "outliers_bulk")
    for name in ("rank2", "fullrank"):
        out = tmp_path / name
        argv = ["emergence", str(tmp_path / f"run_{name}.npz"), "--checkpoints", "2",
                "--starts", "16", "--finite-size", "0", "--out", str(out)]
        assert main(argv) == 0
        table = read_json(out / f"emergence_run_{name}.json")["table"]
        demo = record["models"][name]["table"]
        assert [[r[k] for k in keys] for r in table] == [[r[k] for k in keys] for r in demo]
    assert "counts match at" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, says",
    [
        (["emergence", "missing.npz"], "missing.npz"),
        (["emergence", "missing.npz", "--rank", "0"], "--rank"),
        (["emergence", "missing.npz", "--populations", "two"], "--populations"),
        (["pitchfork", "--neurons", "-5"], "--neurons"),
        (["train", "nowhere/run.npz"], "nowhere"),
        (["train", ".", "--max-epochs", "1"], "folder"),
        (["train", "run.npz", "--task", "bogus"], "bogus"),
        (["sweep", "missing.toml"], "missing.toml"),
        (["no-such-command"], "no-such-command"),
    ],
)
def test_bad_input_gives_one_line_and_status_2(argv, says, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("lowrank: error: ") and err.count("\n") == 1 and says in err, err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_real_process_prints_no_traceback(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "lowrank", "emergence", str(tmp_path / "missing.npz")],
        capture_output=True, text=True,
    )
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr == f"lowrank: error: no such file: {str(tmp_path / 'missing.npz')!r}\n"
