"""lowrank: theory and simulation of low-rank recurrent neural networks.

Public names are imported lazily (PEP 562), so ``import lowrank`` stays fast and neither torch nor
numba compilation is touched until a name that needs them is used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> submodule that defines it
_EXPORTS = {
    "GaussianLoadings": "loadings",
    "MixtureLoadings": "loadings",
    "LowRankNetwork": "network",
    "simulate": "simulation",
    "Trajectory": "simulation",
    "MeanField": "meanfield",
    "bifurcation_diagram": "bifurcation",
    "stationary_states_along": "meanfield_sweep",
    "RNN": "models",
    "train": "training",
    "TrainingRun": "training",
    "load_run": "training",
    "project": "projection",
    "Projection": "projection",
    "choose_populations": "populations",
    "PopulationChoice": "populations",
    "resampled_counts": "populations",
    "find_fixed_points": "fixedpoints",
    "FixedPoints": "fixedpoints",
    "emergence": "emergence_report",
    "EmergenceReport": "emergence_report",
    "load_turner2023": "turner2023",
    "lyapunov_spectrum": "lyapunov",
    "LyapunovSpectrum": "lyapunov",
    "ConvergenceWarning": "_checks",
    "DivergenceWarning": "_checks",
}

# submodules reachable as attributes (``lowrank.tasks.flipflop``) without an explicit import
_SUBMODULES = {"tasks", "metrics", "symbolic", "quadrature", "io", "plotting", "sweep"}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'lowrank' has no attribute {name!r}")


def __dir__():
    return __all__
