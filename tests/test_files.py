"""File safety: saves are atomic even when the writer is killed mid-save, damaged or tampered files
are refused with a ValueError naming the file (and the array), and nothing is ever unpickled."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import lowrank
from lowrank import io, load_run, load_turner2023
from lowrank.training import Checkpoint, TrainingRun

PACKAGE = Path(lowrank.__file__).resolve().parent

# The writer saves, over and over, files whose every array is filled with the file's number k
# (also stored in the metadata), so a reader can tell a whole file from a mix of two.
WRITER = """
import sys
import numpy as np
from lowrank import io
from lowrank.training import Checkpoint, TrainingRun

path, kind = sys.argv[1], sys.argv[2]
for k in range(1, 10**6):
    if kind == "io":
        io.save(path, {"a": np.full(3_000_000, float(k)), "b": np.full((200, 300), k)}, {"k": k})
    else:
        weights = {"weight_rec": np.full((40, 300, 300), np.float32(k))}
        checkpoints = [Checkpoint(e, float(k), {"weight_rec": weights["weight_rec"][e]})
                       for e in range(40)]
        config = {"model": {}, "task": {}, "training": {"k": k}}
        TrainingRun(np.full(40, float(k)), checkpoints, config, {"state": {}}).save(path)
"""


def save_initial(path: Path, kind: str) -> None:
    if kind == "io":
        io.save(path, {"a": np.zeros(3_000_000), "b": np.zeros((200, 300), int)}, {"k": 0})
    else:
        checkpoints = [Checkpoint(0, 0.0, {"weight_rec": np.zeros((300, 300), np.float32)})]
        run = TrainingRun(
            np.zeros(1), checkpoints, {"model": {}, "task": {}, "training": {"k": 0}}, {"state": {}}
        )
        run.save(path)


def read_whole(path: Path, kind: str) -> int:
    """The number k of the file at ``path``, after checking every array holds k."""
    if kind == "io":
        arrays, header = io.load(path)
        k = header["meta"]["k"]
        assert np.all(arrays["a"] == k) and np.all(arrays["b"] == k)
        return k
    run = load_run(path)
    k = run.config["training"]["k"]
    assert np.all(run.losses == k)
    assert all(np.all(c.weights["weight_rec"] == k) for c in run.checkpoints)
    return k


def kill_mid_save(folder: Path, target: Path, kind: str, saves: int, delay: float) -> str:
    """Start the writer, let it complete ``saves`` saves, SIGKILL it ``delay`` seconds into the
    next one (once its temporary file exists); return that temporary file's name."""
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    before = {p.name for p in folder.iterdir()}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target), kind], env=env)
    try:
        deadline, started = time.monotonic() + 120, []
        while len(started) <= saves:  # each save writes to a fresh temporary name
            assert writer.poll() is None, "the writer died on its own"
            assert time.monotonic() < deadline, "the writer is too slow"
            fresh = {p.name for p in folder.iterdir() if p.name.endswith(".tmp")} - before
            started += sorted(fresh - set(started))
            time.sleep(0.002)
        time.sleep(delay)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    return started[-1]


@pytest.mark.parametrize("kind", ["io", "run"])
def test_a_writer_killed_mid_save_never_leaves_a_broken_file(tmp_path, kind):
    target = tmp_path / "data.npz"
    save_initial(target, kind)
    interrupted = 0
    for saves, delay in ((0, 0.0), (1, 0.0), (2, 0.02)):
        temporary = kill_mid_save(tmp_path, target, kind, saves, delay)
        k = read_whole(target, kind)  # the old file or a complete new one, never a mix
        assert k in (saves, saves + 1)
        # killed inside the save: the target is still the previous file, the temporary is left
        interrupted += k == saves and (tmp_path / temporary).exists()
        # temporary files may remain, hidden and never named *.npz, so nothing picks them up
        assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["data.npz"]
        leftovers = [p.name for p in tmp_path.iterdir() if p.name != "data.npz"]
        assert all(re.fullmatch(r"\.data\.npz\..+\.tmp", name) for name in leftovers), leftovers
    assert interrupted >= 1  # the test did kill a writer mid-save
    # a later save over the debris works and replaces the file
    save_initial(target, kind)
    assert read_whole(target, kind) == 0


# --- damaged and tampered files ------------------------------------------------------------------


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def write_members(path: Path, contents: dict[str, bytes]) -> None:
    """Rewrite an npz member by member (with fresh zip CRCs: only lowrank's digests can tell)."""
    with zipfile.ZipFile(path, "w") as z:
        for name, data in contents.items():
            z.writestr(name, data)


def npy_bytes(array: np.ndarray, folder: Path) -> bytes:
    tmp = folder / "member.npy"
    np.save(tmp, array)
    data = tmp.read_bytes()
    tmp.unlink()
    return data


@pytest.fixture
def saved(tmp_path):
    return io.save(
        tmp_path / "good.npz",
        {"w": np.arange(1000.0), "n": np.arange(5)},
        {"note": "original", "epochs": 3},
        kind="Example",
    )


def test_truncated_files_are_refused_naming_the_file(saved, tmp_path):
    raw = saved.read_bytes()
    for cut in (0, 20, len(raw) // 3, len(raw) - 1):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match=f"cut{cut}.npz"):
            io.load(bad)


def test_flipped_array_bytes_fail_the_checksum_naming_the_array(saved, tmp_path):
    contents = members(saved)
    data = bytearray(contents["w.npy"])
    data[-8] ^= 0x01  # one bit of the last float
    contents["w.npy"] = bytes(data)
    write_members(saved, contents)
    with pytest.raises(ValueError, match=r"good\.npz.*array 'w' fails its checksum"):
        io.load(saved)


def test_raw_byte_flips_anywhere_are_refused(saved, tmp_path):
    raw = saved.read_bytes()
    for position in range(0, len(raw), max(1, len(raw) // 40)):
        flipped = bytearray(raw)
        flipped[position] ^= 0xFF
        bad = tmp_path / "flipped.npz"
        bad.write_bytes(bytes(flipped))
        try:
            arrays, header = io.load(bad)
        except ValueError as exc:
            assert "flipped.npz" in str(exc)
            continue
        # a flip in bytes nothing reads (zip padding or directory slack) is harmless
        np.testing.assert_array_equal(arrays["w"], np.arange(1000.0))
        assert header["meta"] == {"note": "original", "epochs": 3}


def edit_header(path: Path, folder: Path, change) -> None:
    contents = members(path)
    header = json.loads(np.load(path)["__meta__"].tobytes())
    change(header)
    blob = np.frombuffer(json.dumps(header).encode(), np.uint8)
    contents["__meta__.npy"] = npy_bytes(blob, folder)
    write_members(path, contents)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda h: h["meta"].update(note="edited"), "metadata fails its checksum"),
        (lambda h: h.update(kind="TrainingRun"), "metadata fails its checksum"),
        (lambda h: h["digests"].pop("n"), "metadata fails its checksum"),
        (lambda h: h.update(format_version="2"), "format_version"),
        (lambda h: h.pop("meta"), "incomplete metadata"),
    ],
)
def test_edited_headers_are_refused(saved, tmp_path, change, message):
    edit_header(saved, tmp_path, change)
    with pytest.raises(ValueError, match=rf"good\.npz.*{message}"):
        io.load(saved)


def test_unreadable_header_is_refused(saved, tmp_path):
    contents = members(saved)
    contents["__meta__.npy"] = npy_bytes(np.frombuffer(b"{not json", np.uint8), tmp_path)
    write_members(saved, contents)
    with pytest.raises(ValueError, match=r"good\.npz.*unreadable metadata"):
        io.load(saved)


def test_a_swapped_array_is_refused(saved, tmp_path):
    contents = members(saved)
    contents["w.npy"] = npy_bytes(np.arange(1000.0) + 1, tmp_path)
    write_members(saved, contents)
    with pytest.raises(ValueError, match="array 'w' fails its checksum"):
        io.load(saved)


# --- nothing is unpickled ------------------------------------------------------------------------


class Marker:
    """Unpickling this object creates a file: the proof that something was unpickled."""

    path = ""

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def marker(tmp_path, monkeypatch):
    path = tmp_path / "unpickled"
    monkeypatch.setattr(Marker, "path", str(path))
    yield path
    assert not path.exists(), "a pickle was loaded"


LOADERS = {
    "io.load": io.load,
    "load_run": load_run,
    "load_turner2023": load_turner2023,
}


@pytest.mark.parametrize("loader", LOADERS)
def test_npz_with_an_object_array_is_refused(tmp_path, marker, loader):
    path = tmp_path / "checkpoints_flipflop_2bits_0.npz"
    np.savez(
        path,
        x=np.array([Marker()], dtype=object),
        m=np.zeros((3, 2)),
        __meta__=np.zeros(1, np.uint8),
    )
    with pytest.raises(ValueError, match="checkpoints_flipflop_2bits_0.npz"):
        LOADERS[loader](path)


@pytest.mark.parametrize("loader", LOADERS)
def test_a_torch_pickle_is_refused(tmp_path, marker, loader):
    path = tmp_path / "checkpoints_flipflop_2bits_0.npz"
    torch.save({"m": torch.zeros(3, 2), "evil": Marker()}, path)
    with pytest.raises(ValueError, match="checkpoints_flipflop_2bits_0.npz"):
        LOADERS[loader](path)


def test_io_refuses_to_write_object_arrays(tmp_path):
    with pytest.raises(TypeError, match=r"arrays\['x'\]"):
        io.save(tmp_path / "a.npz", {"x": np.array([Marker()], dtype=object)})
    assert not any(tmp_path.iterdir())


def test_no_loader_in_the_package_can_unpickle():
    """Every np.load and npy read_array passes allow_pickle=False, every torch.load
    weights_only=True; no pickle."""
    calls = []
    for source in PACKAGE.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import|from)\s+(pickle|cPickle|dill|joblib)\b", text, re.M), (
            source
        )
        assert "pickle.load" not in text and "allow_pickle=True" not in text, source
        for match in re.finditer(r"\b(np\.load|numpy\.load|torch\.load|read_array)\(", text):
            call = text[match.start() : text.find("\n", match.start()) + 200]
            calls.append(source.name)
            if match.group(1) == "torch.load":
                assert "weights_only=True" in call, (source, call)
            else:
                assert "allow_pickle=False" in call, (source, call)
    assert {"io.py", "turner2023.py"} <= set(calls)  # the scan saw the loaders
