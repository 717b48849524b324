"""The command line: ``python -m lowrank demo`` writes its figure and record."""

import subprocess
import sys

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
    out = subprocess.run([sys.executable, "-m", "lowrank", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "demo" in out.stdout
