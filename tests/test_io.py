"""io: exact round trips, atomic replacement, and clear errors on damaged or foreign files."""

import json
import os
import zipfile

import numpy as np
import pytest

import lowrank
from lowrank import io

ARRAYS = {
    "f64": np.linspace(-1, 1, 7),
    "f32": np.arange(6, dtype=np.float32).reshape(2, 3) / 3,
    "int": np.arange(4, dtype=np.int64),
    "bool": np.array([True, False]),
    "complex": np.array([1 + 2j, -0.5j]),
    "nested/name": np.eye(2),
}


def test_round_trip_is_exact(tmp_path):
    meta = {"a": 1, "b": [1.5, "x"], "c": {"d": None}, "scalar": np.float32(0.25)}
    path = io.save(tmp_path / "data.npz", ARRAYS, meta, kind="Example")
    arrays, header = io.load(path, kind="Example")
    assert set(arrays) == set(ARRAYS)
    for key, value in ARRAYS.items():
        assert arrays[key].dtype == value.dtype
        np.testing.assert_array_equal(arrays[key], value)
    assert header["meta"] == {"a": 1, "b": [1.5, "x"], "c": {"d": None}, "scalar": 0.25}
    assert header["kind"] == "Example" and header["lowrank_version"] == lowrank.__version__


def test_write_replaces_atomically_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    path = tmp_path / "data.npz"
    io.save(path, {"x": np.zeros(3)})
    io.save(path, {"x": np.ones(3)})
    np.testing.assert_array_equal(io.load(path)[0]["x"], np.ones(3))

    def broken(f, **arrays):
        f.write(b"half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        io.save(path, {"x": np.full(3, 2.0)})
    np.testing.assert_array_equal(io.load(path)[0]["x"], np.ones(3))  # the old file is intact
    assert os.listdir(tmp_path) == ["data.npz"]


def test_truncated_and_garbage_files_raise_value_error(tmp_path):
    path = io.save(tmp_path / "data.npz", ARRAYS)
    raw = path.read_bytes()
    for n, cut in enumerate([len(raw) // 2, len(raw) - 30, 10]):
        bad = tmp_path / f"cut{n}.npz"
        bad.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="cut"):
            io.load(bad)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(os.urandom(2000))
    with pytest.raises(ValueError, match="garbage.npz"):
        io.load(garbage)


def test_flipped_bytes_are_detected(tmp_path):
    path = io.save(tmp_path / "data.npz", {"x": np.arange(1000.0)})
    raw = bytearray(path.read_bytes())
    raw[600] ^= 0xFF  # inside the stored array
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="data.npz"):
        io.load(path)


def rewrite(path, change):
    """Rewrite an npz with ``change(members)`` applied to its {name: bytes} members."""
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    change(members)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def test_tampered_arrays_fail_their_checksum(tmp_path):
    path = io.save(tmp_path / "data.npz", {"x": np.zeros(4), "y": np.ones(2)})
    other = io.save(tmp_path / "other.npz", {"x": np.full(4, 9.0)})
    with zipfile.ZipFile(other) as z:
        swapped = z.read("x.npy")

    def swap(members):
        members["x.npy"] = swapped

    rewrite(path, swap)
    with pytest.raises(ValueError, match="tampered.*'x'"):
        io.load(path)

    path = io.save(tmp_path / "data.npz", {"x": np.zeros(4), "y": np.ones(2)})
    rewrite(path, lambda members: members.pop("y.npy"))
    with pytest.raises(ValueError, match="tampered"):
        io.load(path)


def test_pickles_are_never_loaded(tmp_path):
    marker = tmp_path / "pwned"

    class Marker:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([Marker()], dtype=object), __meta__=np.zeros(1, np.uint8))
    with pytest.raises(ValueError, match="evil.npz"):
        io.load(path)
    assert not marker.exists()


def test_foreign_kind_and_newer_versions_are_refused(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.zeros(2))
    with pytest.raises(ValueError, match="metadata"):
        io.load(plain)
    path = io.save(tmp_path / "run.npz", {"x": np.zeros(2)}, kind="TrainingRun")
    with pytest.raises(ValueError, match="holds a TrainingRun, not a Network"):
        io.load(path, kind="Network")

    def bump(members):
        header = json.loads(np.frombuffer(members["__meta__.npy"][128:], np.uint8).tobytes())
        header["format_version"] = 99
        blob = np.frombuffer(json.dumps(header).encode(), np.uint8)
        tmp = tmp_path / "blob.npy"
        np.save(tmp, blob)
        members["__meta__.npy"] = tmp.read_bytes()

    rewrite(path, bump)
    with pytest.raises(ValueError, match="format version 99"):
        io.load(path)


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(TypeError, match="arrays\\['x'\\]"):
        io.save(tmp_path / "a.npz", {"x": np.array([object()], dtype=object)})
    with pytest.raises(TypeError, match="metadata"):
        io.save(tmp_path / "a.npz", {"x": np.zeros(1)}, {"m": np.zeros(2)})
    with pytest.raises(ValueError, match="names"):
        io.save(tmp_path / "a.npz", {"": np.zeros(1)})
    with pytest.raises(TypeError, match="arrays"):
        io.save(tmp_path / "a.npz", [np.zeros(1)])
    with pytest.raises(TypeError, match="path"):
        io.save(3, {"x": np.zeros(1)})
    with pytest.raises(FileNotFoundError, match="missing"):
        io.save(tmp_path / "missing" / "a.npz", {"x": np.zeros(1)})
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        io.load(tmp_path / "nope.npz")
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_json_and_flatten(tmp_path):
    path = io.write_json(tmp_path / "r.json", {"a": [1, 2], "b": np.int64(3)})
    assert io.read_json(path) == {"a": [1, 2], "b": 3}
    assert json.loads(path.read_text())["lowrank_version"] == lowrank.__version__
    (tmp_path / "bad.json").write_text('{"a": 1')
    with pytest.raises(ValueError, match="bad.json"):
        io.read_json(tmp_path / "bad.json")
    nested = {"a": {"b": np.zeros(1), "c": {"d": np.ones(2)}}, "e": np.eye(2)}
    flat = io.flatten(nested)
    assert set(flat) == {"a/b", "a/c/d", "e"}
    back = io.unflatten(flat)
    np.testing.assert_array_equal(back["a"]["c"]["d"], np.ones(2))
    with pytest.raises(ValueError, match="/"):
        io.flatten({"a/b": np.zeros(1)})
