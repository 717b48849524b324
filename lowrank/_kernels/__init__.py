"""Numba kernels (compiled lazily on first call, cached on disk)."""
