"""Damped Newton iteration shared by the mean-field solvers and the continuation code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class NewtonResult:
    """Outcome of ``newton``: the last iterate and how the iteration ended.

    Attributes
    ----------
    x : ndarray
        Last iterate.
    value, jacobian, extra : ndarray
        Residual, its Jacobian and the auxiliary outputs at ``x``.
    residual : float
        max |value|.
    iterations : int
    converged : bool
    """

    x: np.ndarray
    value: np.ndarray
    jacobian: np.ndarray
    extra: np.ndarray
    residual: float
    iterations: int
    converged: bool


def _norm(v: np.ndarray) -> float:
    r = float(np.max(np.abs(v))) if v.size else 0.0
    return r if np.isfinite(r) else np.inf


def newton(
    fun: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
    x0: np.ndarray,
    tol: float = 1e-10,
    max_iter: int = 60,
    loose_tol: float = 1e-7,
    xtol: float = 1e-9,
) -> NewtonResult:
    """Solve fun(x)[0] = 0 by Newton's method with a backtracking line search.

    ``fun(x)`` returns (residual, Jacobian, extra). Converged when max |residual| <= tol and the
    next Newton step is below xtol (1 + |x|), so that slowly converging degenerate roots (at a
    pitchfork) are not accepted early at scattered points; or when the iteration has stalled at
    round-off (a step below 1e-13 (1 + |x|), or no step along the Newton direction decreasing the
    residual) with max |residual| <= loose_tol, since residuals computed with cancellation cannot
    reach ``tol``. A NaN residual (outside the domain, e.g. a negative variance) makes the line
    search shorten the step; a singular Jacobian falls back to the least-squares step.
    """
    x = np.array(x0, dtype=np.float64)
    f, J, extra = fun(x)
    r = _norm(f)
    for it in range(max_iter + 1):
        if it == max_iter or not np.all(np.isfinite(J)) or not np.isfinite(r):
            break
        try:
            dx = np.linalg.solve(J, -f)
        except np.linalg.LinAlgError:
            dx = np.linalg.lstsq(J, -f, rcond=None)[0]
        if not np.all(np.isfinite(dx)):
            break
        if r <= tol and _norm(dx) <= xtol * (1.0 + _norm(x)):
            return NewtonResult(x, f, J, extra, r, it, True)
        step = 1.0
        while step >= 1e-8:
            x_new = x + step * dx
            f_new, J_new, extra_new = fun(x_new)
            r_new = _norm(f_new)
            if r_new <= (1.0 - 1e-4 * step) * r:
                break
            step *= 0.5
        else:  # no step decreases the residual: round-off floor, or a minimum of |f| (no root)
            return NewtonResult(x, f, J, extra, r, it, r <= loose_tol)
        stalled = _norm(step * dx) <= 1e-13 * (1.0 + _norm(x))
        x, f, J, extra, r = x_new, f_new, J_new, extra_new, r_new
        if stalled:
            return NewtonResult(x, f, J, extra, r, it + 1, r <= loose_tol)
    return NewtonResult(x, f, J, extra, r, it, False)
