"""The dynamical-systems core shared by every solver of lowrank.

``stability``
    One classification of linearised dynamics: stable / unstable / marginal, with a stated
    tolerance, for flows (Re lambda) and maps (modulus of lambda).
``dedup``
    One scale-aware deduplication of solutions (a k-d tree, ``scipy.spatial.cKDTree``).
``result``
    One convergence report (``SolverReport``, modelled on ``scipy.optimize.OptimizeResult``), so
    that ``success`` / ``converged`` mean one thing everywhere.
``solve``
    Newton's method with a backtracking line search, deflated Newton (Farrell, Birkisson &
    Funke 2015) that finds further roots by removing the known ones, pseudo-transient
    continuation (Kelley & Keyes 1998), and ``RootSearch``, the multi-start search built on them.
``manifold``
    Continuous attractors as objects: exact families of solutions (rings, spheres, lines) traced
    by pseudo-arclength continuation, and slow manifolds of finite networks at a stated speed.
``systems``
    One adapter (``as_system``) from networks, models, weights and mean-field latent dynamics to
    a vector field or map with its Jacobian, in one time convention.
``steppers``
    One set of numpy time-steppers (Euler, exponential Euler, RK4, map) on batches.

This layer imports only numpy, scipy and lowrank.network (never torch): theory code and the
network-side solvers build on it.
"""

from .dedup import unique_points
from .manifold import Manifold, find_manifold, find_slow_manifold
from .result import SolverReport, warn_report
from .solve import NewtonResult, RootSearch, deflated_newton, newton, pseudo_transient
from .stability import (
    STABILITY_TOL,
    Stability,
    classify,
    growth_rates,
    sort_eigenvalues,
)
from .steppers import stepper
from .systems import Dynamics, LatentDynamics, System, as_system

__all__ = [
    "STABILITY_TOL",
    "Stability",
    "classify",
    "growth_rates",
    "sort_eigenvalues",
    "unique_points",
    "SolverReport",
    "warn_report",
    "NewtonResult",
    "newton",
    "deflated_newton",
    "pseudo_transient",
    "RootSearch",
    "System",
    "Dynamics",
    "LatentDynamics",
    "as_system",
    "stepper",
    "Manifold",
    "find_manifold",
    "find_slow_manifold",
]
