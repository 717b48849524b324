"""Newton's method for square systems, plain or deflated, shared by every solver of lowrank.

``newton`` is a damped Newton iteration with a backtracking line search on max |F|.
``deflated_newton`` finds a root *other* than the known ones (Farrell, Birkisson & Funke 2015,
SIAM J. Sci. Comput. 37:A2026): Newton is applied to the deflated residual

    G(x) = M(x) F(x),   M(x) = prod_i ( ||x - r_i||^-p + s ),

which keeps the roots of F other than the r_i and pushes the iteration away from the r_i. Its
Newton step is the Newton step d of F rescaled, d_G = d / (1 - d . grad log M(x)), so no Jacobian of
G is formed. Convergence is always judged on the undeflated residual F.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["NewtonResult", "newton", "deflated_newton"]


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
    nfev : int
        Evaluations of ``fun``.
    """

    x: np.ndarray
    value: np.ndarray
    jacobian: np.ndarray
    extra: np.ndarray
    residual: float
    iterations: int
    converged: bool
    nfev: int = 0


def _norm(v: np.ndarray) -> float:
    r = float(np.max(np.abs(v))) if v.size else 0.0
    return r if np.isfinite(r) else np.inf


def _deflation(x: np.ndarray, roots: np.ndarray, power: float, shift: float):
    """(M(x), grad log M(x)) of the deflation operator; M = inf at a known root."""
    if roots.shape[0] == 0:
        return 1.0, np.zeros_like(x)
    diff = x[None, :] - roots
    dist2 = np.sum(diff**2, axis=1)
    if np.any(dist2 == 0.0):
        return np.inf, np.zeros_like(x)
    inv = dist2 ** (-power / 2.0)  # ||x - r||^-p
    factors = inv + shift
    # d/dx log(||x - r||^-p + s) = -p ||x - r||^(-p-2) (x - r) / (||x - r||^-p + s)
    grad = np.sum((-power * inv / dist2 / factors)[:, None] * diff, axis=0)
    return float(np.prod(factors)), grad


def newton(
    fun: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
    x0: np.ndarray,
    tol: float = 1e-10,
    max_iter: int = 60,
    loose_tol: float = 1e-7,
    xtol: float = 1e-9,
    roots: Sequence[np.ndarray] | np.ndarray | None = None,
    power: float = 2.0,
    shift: float = 1.0,
) -> NewtonResult:
    """Solve fun(x)[0] = 0 by Newton's method with a backtracking line search.

    ``fun(x)`` returns (residual, Jacobian, extra). Converged when max |residual| <= tol and the
    next Newton step is below xtol (1 + |x|), so that slowly converging degenerate roots (at a
    pitchfork) are not accepted early at scattered points; or when the iteration has stalled at
    round-off (a step below 1e-13 (1 + |x|), or no step along the Newton direction decreasing the
    residual) with max |residual| <= loose_tol, since residuals computed with cancellation cannot
    reach ``tol``. A NaN residual (outside the domain, e.g. a negative variance) makes the line
    search shorten the step; a singular Jacobian falls back to the least-squares step.

    With ``roots`` (known solutions, shape (k, n)), the iteration is deflated (module docstring)
    with exponent ``power`` and shift ``shift``: it converges to a root of F other than those.
    """
    x = np.array(x0, dtype=np.float64)
    known = np.zeros((0, x.size)) if roots is None else np.asarray(roots, dtype=float)
    known = known.reshape(-1, x.size)
    f, J, extra = fun(x)
    nfev = 1
    r = _norm(f)
    M, grad_log_M = _deflation(x, known, power, shift)
    it = 0
    for it in range(max_iter + 1):
        if not np.all(np.isfinite(J)) or not np.isfinite(r):
            break
        try:
            dx = np.linalg.solve(J, -f)
        except np.linalg.LinAlgError:
            dx = np.linalg.lstsq(J, -f, rcond=None)[0]
        if not np.all(np.isfinite(dx)):
            break
        if r <= tol and _norm(dx) <= xtol * (1.0 + _norm(x)):
            return NewtonResult(x, f, J, extra, r, it, True, nfev)
        if it == max_iter:  # the last iterate was checked above
            break
        if known.shape[0]:
            denom = 1.0 - float(dx @ grad_log_M)
            if denom != 0.0 and np.isfinite(denom):
                dx = dx / denom
        merit = M * r
        step = 1.0
        while step >= 1e-8:
            x_new = x + step * dx
            f_new, J_new, extra_new = fun(x_new)
            nfev += 1
            r_new = _norm(f_new)
            M_new, grad_new = _deflation(x_new, known, power, shift)
            if M_new * r_new <= (1.0 - 1e-4 * step) * merit:
                break
            step *= 0.5
        else:  # no step decreases the residual: round-off floor, or a minimum of |f| (no root)
            return NewtonResult(x, f, J, extra, r, it, r <= loose_tol, nfev)
        stalled = _norm(step * dx) <= 1e-13 * (1.0 + _norm(x))
        x, f, J, extra, r = x_new, f_new, J_new, extra_new, r_new
        M, grad_log_M = M_new, grad_new
        if stalled:
            return NewtonResult(x, f, J, extra, r, it + 1, r <= loose_tol, nfev)
    return NewtonResult(x, f, J, extra, r, it, False, nfev)


def deflated_newton(
    fun: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
    starts: Sequence[np.ndarray],
    tol: float = 1e-10,
    max_iter: int = 60,
    roots: Sequence[np.ndarray] | None = None,
    accept: Callable[[NewtonResult], bool] | None = None,
    same: Callable[[np.ndarray, np.ndarray], bool] | None = None,
    max_roots: int = 1000,
    power: float = 2.0,
    shift: float = 1.0,
) -> tuple[list[NewtonResult], list[NewtonResult]]:
    """Find many roots of F from several starts by deflation.

    From each start, Newton is run on F deflated by every root found so far; each new root is
    added to the deflation set and the same start is tried again, until it fails (Farrell et al.
    2015, algorithm 1, with several initial guesses). A converged iterate that is not admissible
    (``accept`` false) or repeats a known root (``same``) ends that start without counting as a
    failure of the search.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (F, dF/dx, extra)``.
    starts : sequence of ndarray
    tol, max_iter : float, int
        As in ``newton``.
    roots : sequence of ndarray, optional
        Roots known beforehand (deflated from the start, not returned).
    accept : callable, optional
        ``accept(result) -> bool`` for converged results (e.g. nonnegative variances).
    same : callable, optional
        ``same(x, y) -> bool``; default: max |x - y| <= 1e-6 (1 + max |x|).
    max_roots : int
        Stop once this many roots are known.

    Returns
    -------
    found : list of NewtonResult
        The new roots, in the order found.
    failed : list of NewtonResult
        One per start whose *first* (undeflated by its own roots) attempt did not converge;
        later deflated attempts that fail are the normal end of a start.
    """
    if same is None:

        def same(a, b):
            return bool(np.max(np.abs(a - b)) <= 1e-6 * (1.0 + np.max(np.abs(a))))

    known = [np.asarray(r, dtype=float) for r in (roots or [])]
    found: list[NewtonResult] = []
    failed: list[NewtonResult] = []
    for start in starts:
        first = True
        while len(known) < max_roots:
            res = newton(fun, start, tol=tol, max_iter=max_iter, roots=known or None,
                         power=power, shift=shift)
            if not res.converged:
                if first and not known:
                    failed.append(res)
                elif first:
                    # the undeflated attempt decides whether the start itself failed
                    plain = newton(fun, start, tol=tol, max_iter=max_iter)
                    if not plain.converged:
                        failed.append(plain)
                    elif not any(same(plain.x, k) for k in known) and (
                        accept is None or accept(plain)
                    ):
                        known.append(plain.x)
                        found.append(plain)
                        first = False
                        continue
                break
            first = False
            if (accept is not None and not accept(res)) or any(same(res.x, k) for k in known):
                break
            known.append(res.x)
            found.append(res)
    return found, failed
