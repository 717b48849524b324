"""Safe, atomic storage of arrays and metadata: one ``.npz`` file with an embedded JSON header.

``save(path, arrays, meta, kind)`` writes numeric arrays and a JSON-ready ``meta`` dict, together
with the package version, the format version, a SHA-256 digest of every array and one of the
header itself (so an edited ``meta`` is caught too), to a temporary file in the target directory,
fsyncs it, then moves it into place with ``os.replace``: a reader sees the old file or the new one,
never half of one, even if the writer is killed mid-save (a stray ``.NAME.*.tmp`` sibling may then
remain; nothing reads it). ``load(path, kind)`` reads it back without ever unpickling and raises
``ValueError`` naming the file when it is truncated, corrupted, tampered with, of another kind, from
a newer format, or from format 1 (whose header carries no digest, so an edit cannot be detected:
such a file is read only through ``load(path, allow_legacy=True)`` or ``upgrade(path)``).

``write_json`` / ``read_json`` do the same for plain JSON results: every JSON record this package
writes is an object whose ``"digest"`` field is the SHA-256 of the canonical JSON of its other
fields, checked on every read. Names are checked at save time: names that would collide inside the
npz (``"x"`` and ``"x.npy"``) and metadata keys that are not strings are refused.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

__all__ = ["save", "load", "upgrade", "write_json", "read_json", "flatten", "unflatten"]

FORMAT_VERSION = 2  # 2: the header (and every JSON record) carries a digest of itself
_META = "__meta__"
_MEMBER = ".npy"  # np.savez stores array NAME as the zip member NAME.npy
_HEADER_KEYS = ("kind", "format_version", "lowrank_version", "digests", "meta")
_DIGEST = "digest"
# everything the zip and npy layers raise on damaged bytes (a flipped compression method gives
# NotImplementedError, a flipped encryption flag RuntimeError)
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
    EOFError,
    OSError,
    ValueError,
    KeyError,
    NotImplementedError,
    RuntimeError,
    UnicodeDecodeError,
    OverflowError,
)


def _version() -> str:
    from . import __version__

    return __version__


def _check_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return Path(path)


def _atomic_write(path, write: Callable) -> Path:
    """Write through ``write(fileobj)`` to a temporary sibling of ``path``, then rename it."""
    path = _check_path(path)
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


def _plain(value, where: str, _parents: tuple = ()):
    """``value`` as plain JSON data (numpy scalars unwrapped, tuples as lists), or a TypeError
    naming where in ``where`` a key is not a string or a value is not JSON."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biufU":
        return value.item()
    if isinstance(value, (Mapping, list, tuple)):
        if id(value) in _parents:
            raise ValueError(f"{where} contains itself (a circular reference)")
        parents = (*_parents, id(value))
        if not isinstance(value, Mapping):
            return [_plain(v, f"{where}[{k}]", parents) for k, v in enumerate(value)]
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"{where}: keys must be strings, got the key {key!r} ({type(key).__name__})"
                )
            out[key] = _plain(item, f"{where}[{key!r}]", parents)
        return out
    raise TypeError(
        f"{where} must hold JSON values (numbers, strings, lists, dicts with string keys); "
        f"got {type(value).__name__} - store arrays as arrays"
    )


def _dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True)


def _sha256(obj) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (sorted keys; NaN and infinities as tokens)."""
    return hashlib.sha256(_dumps(obj).encode("utf-8")).hexdigest()


def _header_digest(header: Mapping) -> str:
    """SHA-256 of the canonical JSON of the header's entries (the digests and meta included)."""
    return _sha256({key: header.get(key) for key in _HEADER_KEYS})


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
    # NAME is stored as the member NAME.npy, and the member NAME.npy answers to NAME.npy
    clashes = [(k, k + _MEMBER) for k in [*out, _META] if k + _MEMBER in out]
    if clashes:
        first, second = clashes[0]
        raise ValueError(
            f"array names {first!r} and {second!r} collide in the npz file (NAME is stored as "
            f"NAME{_MEMBER}); rename one of them"
        )
    return out


def save(path, arrays: Mapping, meta: Mapping | None = None, kind: str = "arrays") -> Path:
    """Write ``arrays`` and ``meta`` atomically to ``path`` (an ``.npz`` file).

    Parameters
    ----------
    path : str or PathLike
        Destination; its directory must exist. An existing file is replaced atomically.
    arrays : mapping of str to array_like
        Numeric or boolean arrays (names may contain "/", see ``flatten``). Names that would
        collide inside the npz ("x" and "x.npy") are refused.
    meta : mapping, optional
        JSON-ready metadata (string keys; numbers, strings, lists, dicts, None).
    kind : str
        What the file holds (e.g. "TrainingRun"); ``load`` can insist on it.

    Returns
    -------
    Path

    Raises
    ------
    TypeError
        A non-numeric array, a metadata key that is not a string, or a non-JSON metadata value
        (the message names it).
    ValueError
        An empty, reserved or colliding array name.
    """
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"kind must be a non-empty string, got {kind!r}")
    if meta is not None and not isinstance(meta, Mapping):
        raise TypeError(f"meta must be a mapping of JSON values, got {type(meta).__name__}")
    path = _check_path(path)
    arrays = _check_arrays(arrays)
    header = {
        "kind": kind,
        "format_version": FORMAT_VERSION,
        "lowrank_version": _version(),
        "digests": {key: _digest(a) for key, a in arrays.items()},
        "meta": _plain(dict(meta or {}), "metadata"),
    }
    header = json.loads(_dumps(header))  # exactly as load will see it
    header["header_digest"] = _header_digest(header)
    blob = np.frombuffer(_dumps(header).encode("utf-8"), dtype=np.uint8)
    return _atomic_write(path, lambda f: np.savez(f, **{_META: blob}, **arrays))


class _DamagedFile(ValueError):
    """A file that is not what it should be (a ValueError naming the file)."""


def _corrupt(path, why) -> ValueError:
    return _DamagedFile(
        f"{str(path)!r} is not a readable lowrank file (truncated or corrupted?): {why}"
    )


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, path) -> np.ndarray:
    """One ``.npy`` member, after checking that its header agrees with its stored size (so a
    damaged shape cannot make us allocate more than the file holds); never unpickles."""
    with z.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise _corrupt(path, f"member {info.filename!r} has npy version {version}")
        if dtype.kind not in "biufc":
            raise _corrupt(path, f"member {info.filename!r} holds dtype {dtype}, not numbers")
        expected = f.tell() + math.prod(shape) * dtype.itemsize
        if expected != info.file_size:
            raise _corrupt(
                path,
                f"member {info.filename!r} declares {expected} bytes but holds {info.file_size}",
            )
        f.seek(0)
        array = np.lib.format.read_array(f, allow_pickle=False)
        if f.read(1):  # also makes zipfile check the member's CRC
            raise _corrupt(path, f"member {info.filename!r} has trailing bytes")
    return array


def _read_members(path) -> dict[str, np.ndarray]:
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            names = [info.filename for info in infos]
            if len(set(names)) != len(names):
                raise _corrupt(path, "a member name appears twice")
            arrays = {}
            for info in infos:
                if not info.filename.endswith(_MEMBER):
                    raise _corrupt(path, f"unexpected member {info.filename!r}")
                arrays[info.filename[: -len(_MEMBER)]] = _read_member(z, info, path)
    except _DamagedFile:
        raise
    except _ZIP_ERRORS as exc:
        raise _corrupt(path, f"{type(exc).__name__}: {exc}") from exc
    return arrays


def _legacy_refused(path, version: int) -> ValueError:
    return ValueError(
        f"{str(path)!r} uses format version {version}, whose metadata carries no checksum, so an "
        "edit of it cannot be detected; if you trust the file, read it with "
        "lowrank.io.load(path, allow_legacy=True), or rewrite it in the current format with "
        "lowrank.io.upgrade(path)"
    )


def load(
    path, kind: str | None = None, *, allow_legacy: bool = False
) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by ``save``; never unpickles.

    Parameters
    ----------
    path : str or PathLike
    kind : str, optional
        Require this kind of content.
    allow_legacy : bool
        Also read format 1 (written by lowrank before its header carried a digest of itself):
        its arrays are still checked, but an edit of its metadata cannot be detected.

    Returns
    -------
    arrays : dict of str to ndarray
    header : dict
        "kind", "format_version", "lowrank_version" and the stored "meta".

    Raises
    ------
    ValueError
        Naming the file: truncated, corrupted or tampered file, wrong kind, a newer format
        version, or format 1 without ``allow_legacy``.
    """
    path = _check_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    arrays = _read_members(path)
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
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _corrupt(path, f"format_version {version!r} is not a positive integer")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} uses format version {header['format_version']} (lowrank "
            f"{header.get('lowrank_version')}); this lowrank {_version()} reads up to "
            f"{FORMAT_VERSION}"
        )
    if version == 1 and not allow_legacy:
        raise _legacy_refused(path, version)
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


def upgrade(path) -> Path:
    """Rewrite a file of an older format (format 1) in the current one, atomically, in place.

    Only for files you trust: format 1 carries no digest of its metadata, so an edit of it made
    before the upgrade cannot be detected (its arrays are still checked).

    Returns
    -------
    Path
    """
    arrays, header = load(path, allow_legacy=True)
    return save(path, arrays, header["meta"], header["kind"])


def _write_record(path, fields: Mapping, indent: int | None = None) -> Path:
    """Write the JSON object ``fields`` atomically, with a ``"digest"`` of its other fields."""
    fields = json.loads(_dumps(_plain(dict(fields), "the record")))
    if _DIGEST in fields:
        raise ValueError(f"a record must not have a field named {_DIGEST!r}")
    fields[_DIGEST] = _sha256(fields)
    text = json.dumps(fields, sort_keys=True, indent=indent)
    return _atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _read_record(path, allow_legacy: bool = False, hint: str = "") -> dict:
    """Read a JSON object written by ``_write_record`` and check its digest.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Naming the file: not JSON, not an object, no digest (unless ``allow_legacy``), or a digest
        that does not match (the file was edited or damaged).
    """
    path = _check_path(path)
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(path, exc) from exc
    if not isinstance(fields, dict):
        raise _corrupt(path, "not a JSON object written by lowrank")
    digest = fields.pop(_DIGEST, None)
    if digest is None:
        if allow_legacy:
            return fields
        raise ValueError(
            f"{str(path)!r} carries no digest (written by an older lowrank, or by hand), so an "
            f"edit of it cannot be detected{hint}"
        )
    if digest != _sha256(fields):
        raise ValueError(f"{str(path)!r} was tampered with or corrupted: it fails its checksum")
    return fields


def write_json(path, obj) -> Path:
    """Write JSON-ready ``obj`` atomically as ``{"data": obj, "format_version", "lowrank_version",
    "digest"}``; ``read_json`` checks the digest.

    Raises
    ------
    TypeError
        A key that is not a string or a value that is not JSON (the message names where).
    """
    record = {
        "format_version": FORMAT_VERSION,
        "lowrank_version": _version(),
        "data": _plain(obj, "obj"),
    }
    return _write_record(path, record)


def read_json(path, *, allow_legacy: bool = False):
    """Read the ``data`` written by ``write_json``, after checking its digest.

    Parameters
    ----------
    path : str or PathLike
    allow_legacy : bool
        Also read a file written before JSON records carried a digest (an edit of it cannot be
        detected).

    Raises
    ------
    ValueError
        Naming the file: unreadable, edited or damaged (its digest does not match), without a
        digest (unless ``allow_legacy``), or of a newer format.
    """
    hint = "; if you trust it, read it with lowrank.io.read_json(path, allow_legacy=True)"
    stored = _read_record(path, allow_legacy=allow_legacy, hint=hint)
    if "data" not in stored:
        raise _corrupt(path, "not written by lowrank.io.write_json")
    version = stored.get("format_version", 1)
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} uses format version {version}; this lowrank {_version()} reads up to "
            f"{FORMAT_VERSION}"
        )
    return stored["data"]


def flatten(nested: Mapping, prefix: str = "") -> dict[str, np.ndarray]:
    """Nested dicts of arrays to one level with "/"-joined names: {"a": {"b": x}} -> {"a/b": x}.

    Raises
    ------
    ValueError
        A name containing "/", or two keys with the same name (e.g. 1 and "1").
    """
    out: dict = {}
    for key, value in nested.items():
        name = f"{prefix}{key}"
        if "/" in str(key):
            raise ValueError(f"names must not contain '/', got {str(key)!r}")
        items = flatten(value, name + "/") if isinstance(value, Mapping) else {name: value}
        for item in items:
            if item in out:
                raise ValueError(f"two entries are named {item!r}; names must be distinct")
        out.update(items)
    return out


def unflatten(flat: Mapping) -> dict:
    """Inverse of ``flatten``.

    Raises
    ------
    ValueError
        A name that is both an entry and a folder of entries (e.g. "a" and "a/b").
    """
    out: dict = {}
    for name, value in flat.items():
        *parents, leaf = name.split("/")
        node = out
        for depth, part in enumerate(parents):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(
                    f"{'/'.join(parents[: depth + 1])!r} is both an entry and a folder (of "
                    f"{name!r})"
                )
        if leaf in node and isinstance(node[leaf], dict):
            raise ValueError(f"{name!r} is both an entry and a folder")
        node[leaf] = value
    return out
