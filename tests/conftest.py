"""Test configuration: numba's on-disk cache goes to a temporary folder unless CI set one."""

import os
import tempfile

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "lowrank-numba-cache"))
os.environ.setdefault("MPLBACKEND", "Agg")
