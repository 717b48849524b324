"""Stability of a linearisation in one place: stable, unstable or marginal, with a stated tolerance.

Flows (``time="continuous"``, dx/dt = F(x)) are judged by the growth rate Re(lambda) of the
eigenvalues of dF/dx; maps (``time="discrete"``, x' = F(x)) by |lambda| - 1 for the eigenvalues of
dF/dx. With ``s`` the largest growth rate and ``tol`` the tolerance:

    stable    s < -tol     every perturbation decays;
    unstable  s > tol      some perturbation grows;
    marginal  |s| <= tol   the linearisation cannot decide: a bifurcation point (pitchfork at
                           overlap 1), or a neutral direction along a continuous attractor (every
                           point of a ring has eigenvalue 0 for a flow, 1 for a map).

``stable`` therefore means *strictly* stable (Re lambda < 0 beyond round-off), never "stable up to
a margin". The default tolerance ``STABILITY_TOL`` is 1e-8: eigenvalues computed from a Newton
solution converged to a residual of 1e-10 carry errors of that order (larger for defective
eigenvalues).
"""

from __future__ import annotations

import enum
import math

import numpy as np

__all__ = ["STABILITY_TOL", "Stability", "classify", "growth_rates", "sort_eigenvalues"]

#: default tolerance on the largest growth rate below which a point is called marginal
STABILITY_TOL = 1e-8

_TIMES = ("continuous", "discrete")


class Stability(str, enum.Enum):
    """The three classes of a linearisation (a ``str`` enum: ``Stability.STABLE == "stable"``)."""

    STABLE = "stable"
    UNSTABLE = "unstable"
    MARGINAL = "marginal"


def _time(time: str) -> str:
    if time not in _TIMES:
        raise ValueError(f"time must be 'continuous' or 'discrete', got {time!r}")
    return time


def growth_rates(eigenvalues, time: str) -> np.ndarray:
    """Growth rate of each eigenvalue: Re(lambda) for flows, |lambda| - 1 for maps.

    Works on any array shape (the last axis need not be special).
    """
    ev = np.asarray(eigenvalues)
    return ev.real if _time(time) == "continuous" else np.abs(ev) - 1.0


def sort_eigenvalues(eigenvalues, time: str) -> np.ndarray:
    """Eigenvalues along the last axis, least stable (largest growth rate) first; stable sort."""
    ev = np.asarray(eigenvalues, dtype=complex)
    if ev.shape in ((1,), (2,)):  # one or two: compared as floats (NaN last, as in argsort)
        a, b = growth_rates(ev, time).tolist() + [0.0] * (2 - ev.size)
        return ev[::-1].copy() if ev.size == 2 and (b > a or (a != a and b == b)) else ev.copy()
    order = np.argsort(-growth_rates(ev, time), axis=-1, kind="stable")
    return np.take_along_axis(ev, order, axis=-1)


def _tol(tol) -> float:
    """``tol`` checked: a finite float >= 0."""
    tol = float(tol)
    if not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol}")
    return tol


def _classify_rates(rates: list, tol: float) -> str:
    """``classify`` of one linearisation given the growth rates of its eigenvalues as a list of
    floats (a few: without numpy's per-call overhead); ``tol`` checked (``_tol``)."""
    top = max(rates, default=-math.inf)
    if any(v != v for v in rates):  # NaN wins, as in np.max
        top = math.nan
    label = Stability.STABLE if top < -tol else Stability.UNSTABLE
    if abs(top) <= tol or top != top:
        label = Stability.MARGINAL
    return label.value


def classify(eigenvalues, time: str, tol: float = STABILITY_TOL) -> np.ndarray:
    """Classify linearisations as stable / unstable / marginal.

    Parameters
    ----------
    eigenvalues : array_like (..., n) complex
        Eigenvalues of dF/dx (flow) or of the map's Jacobian (map), one linearisation per row.
    time : {"continuous", "discrete"}
    tol : float
        Largest growth rate s is compared with +-tol (see the module docstring).

    Returns
    -------
    ndarray (...) of str
        "stable", "unstable" or "marginal" for each linearisation (a 0-d array for one). A
        linearisation with no eigenvalue (n = 0) is stable; one with a NaN eigenvalue is marginal
        (undecided).
    """
    tol = _tol(tol)
    rates = growth_rates(np.asarray(eigenvalues, dtype=complex), time)
    if rates.ndim == 0:
        raise ValueError("eigenvalues must have at least one axis (the eigenvalues of a matrix)")
    if rates.ndim == 1:  # one linearisation: the rule below on one float, without array overhead
        if rates.size <= 8:  # a few: as floats (numpy's per-call overhead dominates)
            return np.array(_classify_rates(rates.tolist(), tol), dtype="<U8")
        return np.array(_classify_rates([float(np.max(rates))], tol), dtype="<U8")
    if rates.shape[-1] == 0:
        top = np.full(rates.shape[:-1], -np.inf)
    else:
        top = np.max(rates, axis=-1)
    out = np.where(top < -tol, Stability.STABLE.value, Stability.UNSTABLE.value)
    out = np.where(np.abs(top) <= tol, Stability.MARGINAL.value, out)
    out = np.where(np.isnan(top), Stability.MARGINAL.value, out)
    return out.astype("<U8")
