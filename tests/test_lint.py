"""Packaging and lint: ruff finds nothing in the package, its tests, figures, benchmarks, theory
scripts and docs, the install commands of the README use the pinned constraints, setup.cfg
accepts a range of torch versions that includes the pin, and the package ships its ``py.typed``
marker."""

import configparser
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]

LINTED = ["lowrank", "tests", "figures", "benchmarks", "theory", "docs"]


def test_ruff_finds_nothing_in_the_package():
    command = [sys.executable, "-m", "ruff", "check", "--no-cache", *LINTED]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def requirements(text: str) -> dict[str, Requirement]:
    found = [Requirement(line) for line in text.strip().splitlines() if line.strip()]
    return {r.name: r for r in found}


def test_readme_installs_with_the_constraints_file():
    text = (ROOT / "README.md").read_text()
    first = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)[0]
    assert first.strip().splitlines() == [
        "pip install -c constraints.txt -e . && python -m lowrank demo",
        'pip install -c constraints.txt -e ".[test,docs]" && python -m pytest',
    ]


def test_torch_is_a_range_in_setup_cfg_and_pinned_in_constraints():
    config = setup_cfg()
    torch = requirements(config["options"]["install_requires"])["torch"]
    assert not any(s.operator == "==" for s in torch.specifier), torch  # a range, not a pin
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pins = requirements("\n".join(line for line in lines if not line.startswith("#")))
    (pin,) = pins["torch"].specifier
    assert pin.operator == "=="
    assert torch.specifier.contains(pin.version)  # the pin satisfies the range
    assert "ruff" in requirements(config["options.extras_require"]["test"])


def test_package_ships_its_py_typed_marker():
    assert (ROOT / "lowrank" / "py.typed").is_file()
    assert setup_cfg()["options.package_data"]["lowrank"].split() == ["py.typed"]
