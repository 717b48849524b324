"""One convergence report for every iterative solver, modelled on ``scipy.optimize.OptimizeResult``.

``success`` means one thing everywhere: the solver met its stated stopping criterion for *all* the
work it was asked to do (every Newton start converged or was accounted for, every descent reached
the tolerance, every event was located). Anything less is ``success=False`` with a ``status`` that
says what was missed, a ``message`` a person can read, and a :class:`lowrank.ConvergenceWarning`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._checks import ConvergenceWarning

__all__ = ["SolverReport", "warn_report", "STATUS"]

#: meaning of ``SolverReport.status``
STATUS = {
    0: "converged",
    1: "some starts did not converge: the result may be incomplete",
    2: "no start converged",
    3: "iteration limit reached",
    4: "a quantity could not be located",
}


@dataclass
class SolverReport:
    """How an iterative solver ended.

    Attributes
    ----------
    success : bool
        Every start converged (or was accounted for) and nothing is known to be missing.
    status : int
        0 success; 1 some starts failed (the result may be incomplete); 2 no start converged;
        3 iteration limit of a single solve; 4 something detected could not be located.
    message : str
    nit : int
        Iterations (summed over starts).
    nfev : int
        Evaluations of the residual (summed over starts).
    residual : float
        Largest residual among the accepted solutions (0 when there are none).
    n_starts, n_failed : int
        Starts made, and starts that did not converge.
    failed_residual : float
        Smallest residual reached by a failed start (inf when none failed).
    tol : float
        The tolerance a residual had to meet.
    """

    success: bool
    status: int
    message: str
    nit: int = 0
    nfev: int = 0
    residual: float = 0.0
    n_starts: int = 0
    n_failed: int = 0
    failed_residual: float = np.inf
    tol: float = np.nan

    @classmethod
    def from_starts(
        cls,
        what: str,
        n_starts: int,
        n_failed: int,
        failed_residual: float,
        tol: float,
        *,
        residual: float = 0.0,
        nit: int = 0,
        nfev: int = 0,
        advice: str = "raise max_iter or n_starts",
    ) -> SolverReport:
        """The report of a multi-start search: success iff no start failed."""
        if n_failed == 0:
            status, message = 0, f"{what}: all {n_starts} starts converged (tol {tol:.3g})"
        else:
            status = 2 if n_failed >= n_starts else 1
            message = (
                f"{what}: {n_failed} of {n_starts} starts did not converge "
                f"(smallest residual reached {failed_residual:.3g}, tol {tol:.3g}); "
                + ("nothing was found" if status == 2 else "the result may be incomplete")
                + f"; {advice}"
            )
        return cls(
            success=status == 0,
            status=status,
            message=message,
            nit=int(nit),
            nfev=int(nfev),
            residual=float(residual),
            n_starts=int(n_starts),
            n_failed=int(n_failed),
            failed_residual=float(failed_residual),
            tol=float(tol),
        )


def warn_report(report: SolverReport, stacklevel: int = 3) -> None:
    """Warn with a :class:`ConvergenceWarning` carrying ``report.message`` unless it succeeded."""
    if not report.success:
        warnings.warn(report.message, ConvergenceWarning, stacklevel=stacklevel)
