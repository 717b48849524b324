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
    "RNN": "models",
    "train": "training",
    "TrainingRun": "training",
    "load_run": "training",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lowrank' has no attribute {name!r}")


def __dir__():
    return __all__
