"""Loader for the trained networks of Turner & Barak (NeurIPS 2023), as distributed in npz form.

The authors' torch state dicts (github.com/eliaturner/multitaskrepresentation), converted to plain
arrays, come in two layouts (see shared/data/turner2023/README.md):

- ``checkpoints_<condition>_<seed>.npz``: every checkpoint of one run (one per improvement of the
  loss), either a vanilla network (``rnn.weight_hh_l0``, ``rnn.weight_ih_l0``, ``fc.*``) or a rank-2
  one (``m``, ``n``, ``Wih.*``, ``Who.*``; update h' = tanh(m n^T h + W_ih u + b), no 1/N);
- ``flipflop..._<bits>bits_..._100.npz``: initial and final weights of several seeds.

Both become a ``TrainingRun`` of ``lowrank.RNN`` weights. The rank-2 factors are rescaled to the
package's convention W = m n^T / N (m, n multiplied by sqrt(N)); nothing else changes.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ._checks import as_int
from .tasks import flipflop, multitask
from .training import Checkpoint, TrainingRun

__all__ = ["DATA_ENV", "data_dir", "load_turner2023", "missing_data_message"]

DATA_ENV = "LOWRANK_DATA"
_REPOSITORY_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "turner2023"

_VANILLA = {
    "weight_rec": "rnn.weight_hh_l0",
    "weight_in": "rnn.weight_ih_l0",
    "weight_out": "fc.weight",
    "bias_out": "fc.bias",
}
_RANK2 = {
    "m": "m",
    "n": "n",
    "weight_in": "Wih.weight",
    "bias": "Wih.bias",
    "weight_out": "Who.weight",
    "bias_out": "Who.bias",
}


def _task_config(name: str) -> dict:
    """The task of a file name: flipflop{B}bits (gated), flipfloporthogonal_{B}bits,
    flipflopparallel_{B}bits."""
    found = re.search(r"flipflop(orthogonal|parallel)?_?(\d+)bits", name)
    if found is None:
        raise ValueError(f"cannot tell the task from the file name {name!r}")
    mode, bits = found.group(1) or "gated", int(found.group(2))
    if mode == "parallel":
        return flipflop(bits=bits).to_dict()
    return multitask([flipflop(bits=1) for _ in range(bits)], mode).to_dict()


def _weights(arrays: dict, names: dict, index, prefix: str = "") -> dict[str, np.ndarray]:
    w = {
        ours: np.asarray(arrays[prefix + theirs][index], dtype=np.float32)
        for ours, theirs in names.items()
    }
    if "m" in w:
        scale = np.float32(np.sqrt(w["m"].shape[0]))
        w["m"], w["n"] = w["m"] * scale, w["n"] * scale
    return w


def data_dir(path: str | os.PathLike | None = None) -> Path | None:
    """The folder of the Turner & Barak (2023) network files, or None when there is none.

    The one place lowrank looks for external data: ``path`` when given (a script's ``--data``),
    else the environment variable ``LOWRANK_DATA``, else ``../shared/data/turner2023`` next to a
    source checkout of the repository. ``path`` and ``LOWRANK_DATA`` name the folder of the files
    or a data folder with a ``turner2023`` subfolder; one that names no folder gives None (it is
    not silently replaced by the checkout's copy).

    Parameters
    ----------
    path : str or PathLike, optional
        A folder given explicitly; overrides ``LOWRANK_DATA``.

    Returns
    -------
    Path or None
        The folder (absolute); ``missing_data_message`` is the one line to show a user for None.
    """
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    value = str(path) if path is not None else os.environ.get(DATA_ENV, "").strip()
    if value:
        root = Path(value).expanduser()
        for folder in (root / "turner2023", root):
            if folder.is_dir():
                return folder.resolve()
        return None
    return _REPOSITORY_DATA if _REPOSITORY_DATA.is_dir() else None


def missing_data_message(path: str | os.PathLike | None = None) -> str:
    """One line saying why ``data_dir(path)`` found no data and how to provide it."""
    value = os.environ.get(DATA_ENV, "").strip()
    if path is not None:
        where = f"{str(path)!r} is not a folder"
    elif value:
        where = f"{DATA_ENV}={value!r} is not a folder"
    else:
        where = f"{DATA_ENV} is not set and {str(_REPOSITORY_DATA)!r} does not exist"
    return (
        f"Turner & Barak (2023) networks not found ({where}): convert the authors' published "
        f"checkpoints to npz (README.md, 'Data') and set {DATA_ENV} to their folder"
    )


def add_data_argument(parser) -> None:
    """Add the ``--data DIR`` option every script that reads the Turner & Barak files takes."""
    parser.add_argument(
        "--data",
        help=f"folder of the Turner & Barak (2023) files (default: ${DATA_ENV}; README.md, Data)",
    )


def require_data_dir(parser, args) -> Path:
    """The data folder named by ``args.data`` (or found by ``data_dir``); else the parser exits
    with status 2 and the one-line ``missing_data_message``."""
    folder = data_dir(args.data)
    if folder is None:
        parser.exit(2, f"{parser.prog}: {missing_data_message(args.data)}\n")
    return folder


def load_turner2023(path, seed_index: int = 0) -> TrainingRun:
    """Read one of the Turner & Barak (2023) files as a ``TrainingRun`` (no unpickling).

    Parameters
    ----------
    path : str or Path
        A ``checkpoints_*.npz`` file (all checkpoints of one run) or a final-network file (its
        initial and final weights become two checkpoints).
    seed_index : int
        Which seed of a final-network file (ignored for checkpoint files).

    Returns
    -------
    TrainingRun
        ``checkpoints`` with epoch = the authors' checkpoint index and loss = NaN (not distributed),
        ``config["model"]`` an ``RNN`` configuration (discrete time, 100 units), ``config["task"]``.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        Not a readable npz file, or not one of the authors' layouts (naming the file).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    seed_index = as_int(seed_index, "seed_index", minimum=0)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{str(path)!r} is not a readable npz file: {exc}") from exc
    try:
        return _run(arrays, path.name, seed_index)
    except (KeyError, IndexError) as exc:
        raise ValueError(
            f"{str(path)!r} is not a Turner & Barak (2023) network file (missing {exc})"
        ) from exc


def _run(arrays: dict, name: str, seed_index: int) -> TrainingRun:
    rank2 = "m" in arrays or "final.m" in arrays
    names = _RANK2 if rank2 else _VANILLA
    if "checkpoint" in arrays:
        points = [
            Checkpoint(int(c), float("nan"), _weights(arrays, names, i))
            for i, c in enumerate(arrays["checkpoint"])
        ]
    else:
        seeds = len(arrays["seeds"])
        if seed_index >= seeds:
            raise ValueError(
                f"seed_index must be < {seeds} (the seeds in the file), got {seed_index}"
            )
        if rank2:  # only final weights are distributed for the rank-2 networks
            points = [Checkpoint(1, float("nan"), _weights(arrays, names, seed_index, "final."))]
        else:
            points = [
                Checkpoint(e, float("nan"), _weights(arrays, names, seed_index, stage))
                for e, stage in ((0, "initial."), (1, "final."))
            ]
    first = points[0].weights
    N, K = first["weight_in"].shape
    model = {
        "n_in": K,
        "n_hidden": N,
        "n_out": first["weight_out"].shape[0],
        "rank": 2 if rank2 else None,
        "time": "discrete",
        "alpha": 0.2,
        "noise": 0.0,
        "bias": rank2,
        "readout_bias": True,
        "init": "uniform",
        "gain": 1.0,
        "seed": 0,
    }
    config = {"model": model, "task": _task_config(name), "training": {"source": name}}
    return TrainingRun(np.zeros(0), points, config, {"state": {}, "param_groups": []})
