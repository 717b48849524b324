"""Test configuration: numba's on-disk cache goes to a temporary folder unless CI set one."""

import os
import tempfile

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "lowrank-numba-cache"))
os.environ.setdefault("MPLBACKEND", "Agg")

# The suite must be deterministic: hypothesis draws the same examples on every run (derandomize),
# keeps no example database between runs, and has no deadline (a loaded machine is slow, not wrong).
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "lowrank", derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("lowrank")
