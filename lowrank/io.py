"""Safe, atomic storage of arrays and metadata: one ``.npz`` file with an embedded JSON header.

``save(path, arrays, meta, kind)`` writes numeric arrays and a JSON-ready ``meta`` dict, together
with the package version, the format version, a SHA-256 digest of every array and one of the
header itself (so an edited ``meta`` is caught too), to a temporary file in the target directory,
fsyncs it, then moves it into place with ``os.replace``: a reader sees the old file or the new one,
never half of one, even if the writer is killed mid-save (a stray ``.NAME.*.tmp`` sibling may then
remain; nothing reads it). ``load(path, kind)`` reads it back with
``allow_pickle=False`` (no code is ever unpickled) and raises ``ValueError`` naming the file when
it is truncated, corrupted, tampered with, of another kind, or from a newer format. Networks,
training runs and analysis results all go through this module; ``write_json`` / ``read_json`` do the
same for plain JSON results.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

__all__ = ["save", "load", "write_json", "read_json", "flatten", "unflatten"]

FORMAT_VERSION = 2  # 2: the header carries a digest of itself (meta included)
_META = "__meta__"
_HEADER_KEYS = ("kind", "format_version", "lowrank_version", "digests", "meta")


def _version() -> str:
    from . import __version__

    return __version__


def _atomic_write(path, write: Callable) -> Path:
    """Write through ``write(fileobj)`` to a temporary sibling of ``path``, then rename it."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"directory {str(path.parent)!r} does not exist (path {str(path)!r})"
        )
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_directory(path.parent)
    return path


def _fsync_directory(folder: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(
        "metadata must hold JSON values (numbers, strings, lists, dicts); "
        f"got {type(value).__name__}"
        " - store arrays as arrays"
    )


def _dumps(obj) -> str:
    return json.dumps(obj, default=_json_default, sort_keys=True)


def _header_digest(header: Mapping) -> str:
    """SHA-256 of the canonical JSON of the header's entries (the digests and meta included)."""
    canonical = _dumps({key: header.get(key) for key in _HEADER_KEYS})
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _digest(array: np.ndarray) -> str:
    h = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def _check_arrays(arrays) -> dict[str, np.ndarray]:
    if not isinstance(arrays, Mapping):
        raise TypeError(f"arrays must be a mapping of names to arrays, got {type(arrays).__name__}")
    out = {}
    for key, value in arrays.items():
        if not isinstance(key, str) or not key or key == _META:
            raise ValueError(
                f"array names must be non-empty strings other than {_META!r}, got {key!r}"
            )
        array = np.asarray(value)
        if array.dtype.kind not in "biufc":
            raise TypeError(f"arrays[{key!r}] must be numeric or boolean, got dtype {array.dtype}")
        out[key] = array
    return out


def save(path, arrays: Mapping, meta: Mapping | None = None, kind: str = "arrays") -> Path:
    """Write ``arrays`` and ``meta`` atomically to ``path`` (an ``.npz`` file).

    Parameters
    ----------
    path : str or PathLike
        Destination; its directory must exist. An existing file is replaced atomically.
    arrays : mapping of str to array_like
        Numeric or boolean arrays (names may contain "/", see ``flatten``).
    meta : mapping, optional
        JSON-ready metadata.
    kind : str
        What the file holds (e.g. "TrainingRun"); ``load`` can insist on it.

    Returns
    -------
    Path
    """
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"kind must be a non-empty string, got {kind!r}")
    if meta is not None and not isinstance(meta, Mapping):
        raise TypeError(f"meta must be a mapping of JSON values, got {type(meta).__name__}")
    arrays = _check_arrays(arrays)
    header = {
        "kind": kind,
        "format_version": FORMAT_VERSION,
        "lowrank_version": _version(),
        "digests": {key: _digest(a) for key, a in arrays.items()},
        "meta": dict(meta or {}),
    }
    header = json.loads(_dumps(header))  # as load will see it (tuples as lists, ...)
    header["header_digest"] = _header_digest(header)
    blob = np.frombuffer(_dumps(header).encode("utf-8"), dtype=np.uint8)
    return _atomic_write(path, lambda f: np.savez(f, **{_META: blob}, **arrays))


def _corrupt(path, why) -> ValueError:
    return ValueError(
        f"{str(path)!r} is not a readable lowrank file (truncated or corrupted?): {why}"
    )


def load(path, kind: str | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by ``save``; never unpickles.

    Parameters
    ----------
    path : str or PathLike
    kind : str, optional
        Require this kind of content.

    Returns
    -------
    arrays : dict of str to ndarray
    header : dict
        "kind", "format_version", "lowrank_version" and the stored "meta".

    Raises
    ------
    ValueError
        Truncated, corrupted or tampered file, wrong kind, or a newer format version.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as exc:
        raise _corrupt(path, exc) from exc
    blob = arrays.pop(_META, None)
    if blob is None:
        raise _corrupt(path, "no lowrank metadata")
    try:
        header = json.loads(blob.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(path, f"unreadable metadata ({exc})") from exc
    if not isinstance(header, dict) or not {"kind", "format_version", "digests", "meta"} <= set(
        header
    ):
        raise _corrupt(path, "incomplete metadata")
    version = header["format_version"]
    if isinstance(version, bool) or not isinstance(version, int):
        raise _corrupt(path, f"format_version {version!r} is not an integer")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} uses format version {header['format_version']} (lowrank "
            f"{header.get('lowrank_version')}); this lowrank {_version()} reads up to "
            f"{FORMAT_VERSION}"
        )
    if version >= 2 and header.get("header_digest") != _header_digest(header):
        raise ValueError(
            f"{str(path)!r} was tampered with or corrupted: its metadata fails its checksum"
        )
    digests, meta = header["digests"], header["meta"]
    if not isinstance(header["kind"], str) or not isinstance(meta, dict):
        raise _corrupt(path, "malformed metadata")
    if not isinstance(digests, dict) or not all(isinstance(d, str) for d in digests.values()):
        raise _corrupt(path, "malformed array digests")
    if kind is not None and header["kind"] != kind:
        raise ValueError(f"{str(path)!r} holds a {header['kind']}, not a {kind}")
    if set(digests) != set(arrays):
        raise ValueError(f"{str(path)!r} was tampered with: its arrays do not match its metadata")
    for key, array in arrays.items():
        if _digest(array) != digests[key]:
            raise ValueError(
                f"{str(path)!r} was tampered with or corrupted: array {key!r} fails its checksum"
            )
    header.pop("digests")
    header.pop("header_digest", None)
    return arrays, header


def write_json(path, obj) -> Path:
    """Write JSON-ready ``obj`` atomically as ``{"lowrank_version": ..., "data": obj}``."""
    text = _dumps({"lowrank_version": _version(), "data": obj})
    return _atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def read_json(path):
    """Read the ``data`` written by ``write_json``."""
    try:
        stored = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(path, exc) from exc
    if not isinstance(stored, dict) or "data" not in stored:
        raise _corrupt(path, "not written by lowrank.io.write_json")
    return stored["data"]


def flatten(nested: Mapping, prefix: str = "") -> dict[str, np.ndarray]:
    """Nested dicts of arrays to one level with "/"-joined names: {"a": {"b": x}} -> {"a/b": x}."""
    out = {}
    for key, value in nested.items():
        key = str(key)
        if "/" in key:
            raise ValueError(f"names must not contain '/', got {key!r}")
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "/"))
        else:
            out[name] = value
    return out


def unflatten(flat: Mapping) -> dict:
    """Inverse of ``flatten``."""
    out: dict = {}
    for name, value in flat.items():
        *parents, leaf = name.split("/")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out
