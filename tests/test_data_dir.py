"""External data has one documented place: ``lowrank.turner2023.data_dir()`` (``--data``, else
``LOWRANK_DATA``, else the repository's ``../shared/data/turner2023``), and scripts that need the
data and cannot find it say so in one line and exit with status 2."""

import runpy
import sys
from pathlib import Path

import pytest

from lowrank import turner2023
from lowrank.turner2023 import DATA_ENV, data_dir, missing_data_message

FIGURES = Path(__file__).resolve().parents[1] / "figures"
SCRIPTS = [
    "make_turner2023_emergence.py",
    "make_turner2023_modes.py",
    "make_huang2024_degeneracy.py",
]


def test_environment_variable_names_the_folder_or_its_parent(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert data_dir() == tmp_path.resolve()
    (tmp_path / "turner2023").mkdir()
    assert data_dir() == (tmp_path / "turner2023").resolve()


def test_explicit_folder_overrides_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "elsewhere"))
    assert data_dir(tmp_path) == tmp_path.resolve()
    assert data_dir(tmp_path / "missing") is None
    assert "'" + str(tmp_path / "missing") + "' is not a folder" in missing_data_message(
        tmp_path / "missing"
    )
    with pytest.raises(TypeError, match="path"):
        data_dir(3)


def test_missing_folder_is_none_with_one_line_saying_how_to_get_the_data(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "nope"))
    assert data_dir() is None  # not replaced by the repository's copy
    message = missing_data_message()
    assert "\n" not in message and f"{DATA_ENV}=" in message and "README.md" in message
    monkeypatch.delenv(DATA_ENV)
    monkeypatch.setattr(turner2023, "_REPOSITORY_DATA", tmp_path / "absent")
    assert data_dir() is None
    assert f"{DATA_ENV} is not set" in missing_data_message()
    monkeypatch.setattr(turner2023, "_REPOSITORY_DATA", tmp_path)
    assert data_dir() == tmp_path


def test_repository_fallback_is_the_shared_data_folder(monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    expected = Path(__file__).resolve().parents[2] / "shared" / "data" / "turner2023"
    assert data_dir() == (expected if expected.is_dir() else None)


@pytest.mark.parametrize("script", SCRIPTS)
def test_figure_scripts_exit_2_with_one_line_when_the_data_is_missing(
    script, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "nope"))
    monkeypatch.setattr(sys, "argv", [script])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(FIGURES / script), run_name="__main__")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and DATA_ENV in err and "not found" in err
    monkeypatch.setattr(sys, "argv", [script, "--data", str(tmp_path / "nope2")])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(FIGURES / script), run_name="__main__")
    assert exit_info.value.code == 2 and "nope2" in capsys.readouterr().err


def test_cli_reads_a_bare_turner_file_name_from_the_data_folder(tmp_path, monkeypatch, capsys):
    from lowrank.cli import main

    data, work = tmp_path / "data", tmp_path / "work"
    data.mkdir()
    work.mkdir()
    (data / "checkpoints_damaged.npz").write_bytes(b"not an npz file")
    monkeypatch.setenv(DATA_ENV, str(data))
    monkeypatch.chdir(work)
    assert main(["emergence", "checkpoints_damaged.npz"]) == 2
    err = capsys.readouterr().err  # the file was found in LOWRANK_DATA, and read
    assert str(data / "checkpoints_damaged.npz") in err and "not a readable npz file" in err
    assert main(["emergence", "checkpoints_absent.npz"]) == 2
    assert "no such file: 'checkpoints_absent.npz'" in capsys.readouterr().err
