"""The cache of generated mean-field code trusts nothing it finds: a module planted under the
right name is never executed (its content is compared with the source generated in the session),
and a cache folder that others can write to, that belongs to someone else or that is a symbolic
link is refused in favour of a fresh private temporary folder."""

import os
import stat

import pytest

from lowrank import symbolic

STRUCTURE = ("latent", 1, 0, 1, "tanh")
UID = os.getuid()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache root, no compiled structure in memory, and no session folder yet."""
    monkeypatch.setenv("LOWRANK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(symbolic, "_COMPILED", {})
    monkeypatch.setattr(symbolic, "_SESSION_FOLDER", [])
    return tmp_path / "cache" / "codegen"


def planted(marker) -> str:
    """A module that would betray its execution by writing ``marker``."""
    return (
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "N_UNKNOWNS = 99\nN_VALUES = 99\nEXTRA_NAMES = ()\n"
    )


def module_path(folder):
    source = symbolic.generate_source(*STRUCTURE)
    return folder / f"{symbolic._module_name(STRUCTURE[0], source)}.py", source


def test_cache_folder_is_created_private(cache):
    assert symbolic._cache_dir() == cache
    info = os.stat(cache)
    assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == UID


def test_planted_module_is_never_executed(cache, tmp_path):
    cache.mkdir(parents=True, mode=0o700)
    path, source = module_path(cache)
    marker = tmp_path / "marker"
    path.write_text(planted(marker))
    compiled = symbolic.compile_equations(*STRUCTURE)
    assert not marker.exists()
    assert compiled.n_unknowns == 1 and compiled.n_values == 1  # the generated code, not 99
    assert path.read_text() == source  # the file was rewritten with the verified source
    assert compiled._module.value.py_func.__code__.co_filename == str(path)


def test_planted_symbolic_link_is_replaced_not_followed(cache, tmp_path):
    cache.mkdir(parents=True, mode=0o700)
    path, source = module_path(cache)
    target, marker = tmp_path / "elsewhere.py", tmp_path / "marker"
    target.write_text(planted(marker))
    path.symlink_to(target)
    compiled = symbolic.compile_equations(*STRUCTURE)
    assert not marker.exists() and compiled.n_unknowns == 1
    assert not path.is_symlink() and path.read_text() == source
    assert target.read_text() == planted(marker)  # the link's target was not written through


def refused(cache, why: str, tmp_path):
    """The folder is refused with a warning, code goes to a private session folder, and a module
    planted in the refused folder is not executed."""
    path, _ = module_path(cache)
    marker = tmp_path / "marker"
    if cache.is_dir() and not cache.is_symlink():
        path.write_text(planted(marker))
    with pytest.warns(RuntimeWarning, match=why):
        folder = symbolic._cache_dir()
    assert folder != cache and folder == symbolic._session_folder()
    info = os.lstat(folder)
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700
    assert info.st_uid == UID
    with pytest.warns(RuntimeWarning, match=why):
        compiled = symbolic.compile_equations(*STRUCTURE)
    assert not marker.exists() and compiled.n_unknowns == 1
    assert os.path.dirname(compiled._module.__file__) == str(folder)


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_folder_writable_by_others_is_refused(cache, tmp_path, mode):
    cache.mkdir(parents=True)
    os.chmod(cache, mode)
    refused(cache, "writable by other users", tmp_path)


def test_folder_of_another_user_is_refused(cache, tmp_path, monkeypatch):
    cache.mkdir(parents=True, mode=0o700)
    monkeypatch.setattr(symbolic.os, "getuid", lambda: UID + 1)
    refused(cache, "belongs to user id", tmp_path)


def test_symbolic_link_as_folder_is_refused(cache, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    cache.parent.mkdir(parents=True)
    cache.symlink_to(elsewhere)
    refused(cache, "symbolic link", tmp_path)


def test_uncreatable_folder_falls_back_to_a_private_one(cache, tmp_path):
    cache.parent.mkdir(parents=True)
    cache.write_text("a file where the folder should be")
    refused(cache, "cannot be created|is not a folder", tmp_path)
