"""Test configuration: numba's on-disk cache goes to a private per-user folder unless CI set one;
hypothesis runs a deterministic profile."""

import os
import tempfile


def _private_cache() -> str:
    """numba loads pickled index files from its cache: use a folder only this user can write."""
    folder = os.path.join(os.path.expanduser("~"), ".cache", "lowrank", "numba")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    info = os.stat(folder)
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        return tempfile.mkdtemp(prefix="lowrank-numba-")
    return folder


os.environ.setdefault("NUMBA_CACHE_DIR", _private_cache())
os.environ.setdefault("MPLBACKEND", "Agg")

# The suite must be deterministic: hypothesis draws the same examples on every run (derandomize),
# keeps no example database between runs, and has no deadline (a loaded machine is slow, not wrong).
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "lowrank", derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("lowrank")
