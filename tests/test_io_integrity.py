"""Files: colliding names are refused at save, every header and JSON record is checked against its
digest, format 1 is read only when asked for, and every corruption is a ValueError naming the file.
"""

import json
import struct
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest

from lowrank import io, load_run
from lowrank.training import Checkpoint, TrainingRun

# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "pair"),
    [
        (["x.npy", "x"], "'x' and 'x.npy'"),
        (["a/b", "a/b.npy", "c"], "'a/b' and 'a/b.npy'"),
        (["__meta__.npy"], "'__meta__' and '__meta__.npy'"),
    ],
)
def test_colliding_names_are_refused_at_save(tmp_path, names, pair):
    with pytest.raises(ValueError, match=f"array names {pair} collide"):
        io.save(tmp_path / "a.npz", {name: np.zeros(2) for name in names})
    assert not list(tmp_path.iterdir())


def test_names_that_do_not_collide_round_trip(tmp_path):
    arrays = {"x.npy": np.arange(3.0), "y": np.ones(2), "y.np": np.zeros(1), "npy": np.eye(2)}
    loaded, _ = io.load(io.save(tmp_path / "a.npz", arrays))
    assert sorted(loaded) == sorted(arrays)
    for name, array in arrays.items():
        np.testing.assert_array_equal(loaded[name], array)


def test_flatten_refuses_two_entries_of_one_name():
    with pytest.raises(ValueError, match="two entries are named '1'"):
        io.flatten({1: np.zeros(1), "1": np.ones(1)})
    with pytest.raises(ValueError, match="'a' is both an entry and a folder"):
        io.unflatten({"a": np.zeros(1), "a/b": np.ones(1)})


@pytest.mark.parametrize(
    ("meta", "key"),
    [({1: "a"}, "1"), ({"a": 1, 2: "b"}, "2"), ({"a": {"b": [{(1, 2): 0}]}}, r"\(1, 2\)")],
)
def test_metadata_keys_must_be_strings(tmp_path, meta, key):
    with pytest.raises(TypeError, match=rf"metadata.*keys must be strings, got the key {key}"):
        io.save(tmp_path / "a.npz", {"x": np.zeros(1)}, meta)
    with pytest.raises(TypeError, match=rf"keys must be strings, got the key {key}"):
        io.write_json(tmp_path / "a.json", meta)
    assert not list(tmp_path.iterdir())


def test_circular_metadata_is_refused(tmp_path):
    meta = {"a": []}
    meta["a"].append(meta)
    with pytest.raises(ValueError, match="circular"):
        io.save(tmp_path / "a.npz", {"x": np.zeros(1)}, meta)


# --- format 1 and header digests -----------------------------------------------------------------


def rewrite_header(path: Path, change) -> None:
    """Rewrite the npz header with ``change(header)`` applied, every other member as it was."""
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    header = json.loads(np.load(path)["__meta__"].tobytes())
    change(header)
    blob = np.frombuffer(json.dumps(header).encode(), np.uint8)
    tmp = path.with_name("blob.npy")
    np.save(tmp, blob)
    members["__meta__.npy"] = tmp.read_bytes()
    tmp.unlink()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def as_format_1(header: dict, note: str = "edited") -> None:
    header["format_version"] = 1
    header.pop("header_digest")
    header["meta"]["note"] = note


def test_format_1_is_read_only_through_the_legacy_path(tmp_path):
    path = io.save(tmp_path / "old.npz", {"w": np.arange(4.0)}, {"note": "original"}, kind="E")
    rewrite_header(path, as_format_1)
    with pytest.raises(ValueError, match=r"old\.npz.*format version 1.*allow_legacy=True"):
        io.load(path)
    arrays, header = io.load(path, allow_legacy=True)
    assert header["format_version"] == 1 and header["meta"] == {"note": "edited"}
    np.testing.assert_array_equal(arrays["w"], np.arange(4.0))
    io.upgrade(path)
    arrays, header = io.load(path, kind="E")
    assert header["format_version"] == io.FORMAT_VERSION and header["meta"]["note"] == "edited"
    np.testing.assert_array_equal(arrays["w"], np.arange(4.0))
    rewrite_header(path, lambda h: (as_format_1(h), h["digests"].update(w="0" * 64)))
    with pytest.raises(ValueError, match="allow_legacy"):
        io.load(path)
    with pytest.raises(ValueError, match="array 'w' fails its checksum"):
        io.load(path, allow_legacy=True)


def test_a_training_run_rewritten_as_format_1_is_refused(tmp_path):
    checkpoints = [Checkpoint(0, 0.5, {"weight_rec": np.eye(3, dtype=np.float32)})]
    config = {"model": {}, "task": {}, "training": {"lr": 0.01}}
    path = TrainingRun(np.array([0.5]), checkpoints, config, {"state": {}}).save(
        tmp_path / "run.npz"
    )
    rewrite_header(path, lambda h: (as_format_1(h), h["meta"]["config"]["training"].update(lr=9)))
    with pytest.raises(ValueError, match=r"run\.npz.*format version 1"):
        load_run(path)


def test_a_training_run_whose_config_is_not_a_mapping_is_refused(tmp_path):
    checkpoints = [Checkpoint(0, 0.5, {"weight_rec": np.eye(3, dtype=np.float32)})]
    path = TrainingRun(np.array([0.5]), checkpoints, [1, 2], {"state": {}}).save(
        tmp_path / "run.npz"
    )
    with pytest.raises(ValueError, match=r"run\.npz.*not a complete training run.*is a list"):
        load_run(path)


def test_header_without_its_digest_is_refused(tmp_path):
    path = io.save(tmp_path / "a.npz", {"w": np.arange(4.0)}, {"note": "original"})
    rewrite_header(path, lambda h: h.pop("header_digest"))
    with pytest.raises(ValueError, match=r"a\.npz.*metadata fails its checksum"):
        io.load(path)
    rewrite_header(path, lambda h: h.update(format_version=0))
    with pytest.raises(ValueError, match=r"a\.npz.*format_version 0"):
        io.load(path)


# --- JSON records --------------------------------------------------------------------------------


def test_json_records_carry_a_digest_that_is_checked(tmp_path):
    data = {"a": [1, 2.5], "b": {"c": "d"}, "inf": float("inf"), "nan": float("nan")}
    path = io.write_json(tmp_path / "r.json", data)
    back = io.read_json(path)
    assert back["a"] == [1, 2.5] and back["b"] == {"c": "d"} and back["inf"] == float("inf")
    assert np.isnan(back["nan"])
    stored = json.loads(path.read_text())
    assert len(stored["digest"]) == 64
    stored["data"]["a"][1] = 2.25  # still valid JSON
    path.write_text(json.dumps(stored))
    with pytest.raises(ValueError, match=r"r\.json.*fails its checksum"):
        io.read_json(path)
    stored.pop("digest")
    path.write_text(json.dumps(stored))
    with pytest.raises(ValueError, match=r"r\.json.*no digest.*allow_legacy=True"):
        io.read_json(path)
    assert io.read_json(path, allow_legacy=True)["a"] == [1, 2.25]
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match=r"r\.json"):
        io.read_json(path)


# --- damaged bytes --------------------------------------------------------------------------------


def central_directory(raw: bytes) -> tuple[int, int]:
    """(offset, size) of the zip central directory, from the end-of-central-directory record."""
    end = raw.rindex(b"PK\x05\x06")
    size, offset = struct.unpack("<II", raw[end + 12 : end + 20])
    return offset, size


def test_every_flipped_byte_of_the_zip_structure_is_a_value_error(tmp_path):
    """Each byte of the zip directory and of the members' local headers, flipped three ways:
    the file is refused with a ValueError naming it, or (bytes nothing reads) loads exactly."""
    arrays = {"w": np.arange(30.0), "n": np.arange(5)}
    path = io.save(tmp_path / "good.npz", arrays, {"note": "x"})
    raw = path.read_bytes()
    offset, size = central_directory(raw)
    with zipfile.ZipFile(path) as z:
        local = [range(i.header_offset, i.header_offset + 30 + len(i.filename)) for i in z.filelist]
    positions = [*range(offset, len(raw)), *(p for block in local for p in block)]
    bad = tmp_path / "flipped.npz"
    refused = 0
    for position in positions:
        for mask in (0xFF, 0x01, 0x80):
            flipped = bytearray(raw)
            flipped[position] ^= mask
            bad.write_bytes(bytes(flipped))
            try:
                loaded, header = io.load(bad)
            except ValueError as exc:
                assert "flipped.npz" in str(exc)
                refused += 1
                continue
            assert sorted(loaded) == sorted(arrays) and header["meta"] == {"note": "x"}
            for name, array in arrays.items():
                np.testing.assert_array_equal(loaded[name], array)
    assert refused > len(positions)  # most flips are damage, and were refused


def test_a_flipped_compression_method_is_a_value_error(tmp_path):
    """The reproduction of the issue: NotImplementedError from zipfile, now a ValueError."""
    path = io.save(tmp_path / "good.npz", {"w": np.arange(30.0)})
    raw = bytearray(path.read_bytes())
    offset, _ = central_directory(bytes(raw))
    raw[offset + 10] ^= 0xFF  # compression method of the first entry
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"good\.npz.*NotImplementedError"):
        io.load(path)


def test_a_huge_declared_shape_is_refused_before_allocating(tmp_path):
    path = io.save(tmp_path / "good.npz", {"w": np.arange(30.0)})
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    stream = BytesIO()
    np.lib.format.write_array_header_1_0(
        stream, {"descr": "<f8", "fortran_order": False, "shape": (4 * 10**12,)}
    )
    members["w.npy"] = stream.getvalue() + np.arange(30.0).tobytes()  # 32 TB declared
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in members.items():
            z.writestr(name, blob)
    with pytest.raises(ValueError, match=r"good\.npz.*'w\.npy' declares"):
        io.load(path)
