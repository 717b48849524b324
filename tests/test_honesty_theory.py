"""Numerical honesty: every iterative solver of the theory side reports how it converged, and
says so (a ConvergenceWarning, a RuntimeWarning, with the residual reached) when it did not.
Each test forces non-convergence (one iteration, too short a run) and checks the report."""

import warnings

import numpy as np
import pytest

from lowrank import (
    GaussianLoadings,
    LowRankNetwork,
    MeanField,
    MixtureLoadings,
    bifurcation_diagram,
    lyapunov_spectrum,
    simulate,
)
from lowrank._checks import ConvergenceWarning

#: rank one with an input: kappa = 0 is not a root, so no start is exact before iterating
DRIVEN = GaussianLoadings([0, 0, 0], [[1, 2, 0], [2, 5, 0.5], [0, 0.5, 1]], 1, n_inputs=1)
U = np.array([0.7])


def test_convergence_warning_is_a_runtime_warning():
    assert issubclass(ConvergenceWarning, RuntimeWarning)


def test_fixed_points_report_residuals_equal_to_the_velocity():
    fps = MeanField(DRIVEN).fixed_points(U, tol=1e-300)  # below round-off: the stall criterion
    assert len(fps) >= 1 and fps.residual.shape == (len(fps),)
    for p in fps:
        velocity = MeanField(DRIVEN).velocity(p.kappa, U)
        assert p.residual == np.max(np.abs(velocity)) and p.residual <= 1e-7


def test_fixed_points_without_convergence_warn_with_the_residual():
    with pytest.warns(ConvergenceWarning, match="smallest residual reached was") as record:
        fps = MeanField(DRIVEN).fixed_points(U, n_starts=6, max_iter=1)
    assert len(fps) == 0 and fps.n_failed == fps.n_starts == 6
    assert 1e-10 < fps.failed_residual < np.inf
    assert f"{fps.failed_residual:.3g}" in str(record[0].message)


def test_stationary_states_without_convergence_warn_with_the_residual():
    mf = MeanField(GaussianLoadings([0, 0], [[1, 2], [2, 5]], rank=1), g=0.5)
    with pytest.warns(ConvergenceWarning, match="stationary_states: none of the"):
        states = mf.stationary_states(n_starts=3, max_iter=1)
    assert len(states) == 0 and states.n_failed == states.n_starts
    assert 1e-10 < states.failed_residual < np.inf


def test_newton_from_a_state_reports_failure_and_residual():
    mf = MeanField(DRIVEN)
    start = mf.fixed_points(U)[0]
    far = MeanField(DRIVEN).fixed_points(np.array([3.0]))  # a different input moves the root
    solution, residual = mf.newton_from(far[0], U, max_iter=1)
    assert solution is None and residual > 1e-10
    assert mf.solve_near(far[0], U, max_iter=1) is None
    again, residual = mf.newton_from(start, U)
    np.testing.assert_allclose(again.kappa, start.kappa, atol=1e-12)
    assert residual == again.residual <= 1e-10


def test_bifurcation_diagram_without_convergence_lists_unresolved_with_residuals():
    mf = MeanField(DRIVEN)
    with pytest.warns(ConvergenceWarning, match="unresolved"):
        d = bifurcation_diagram(lambda u: (mf, np.array([u])), "u", [0.5, 0.7], n_starts=3,
                                max_iter=1)
    assert not d.branches and [u.kind for u in d.unresolved] == ["discovery", "discovery"]
    assert all(np.isfinite(u.residual) and u.residual > 1e-10 for u in d.unresolved)
    assert [u.interval[0] for u in d.unresolved] == [0.5, 0.7]


def test_complete_bifurcation_diagram_is_silent_and_carries_residuals():
    def build(s):
        return MeanField(GaussianLoadings([0, 0], [[1, s], [s, 1 + s * s]], rank=1))

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        d = bifurcation_diagram(build, "overlap", np.linspace(0.7, 1.3, 5), n_starts=6)
    assert d.unresolved == []
    assert all(np.all(b.residual <= 1e-7) for b in d.branches)


def test_em_without_convergence_warns_and_reports():
    rows = MixtureLoadings(
        [GaussianLoadings([2, 0], np.eye(2), 1), GaussianLoadings([-2, 0], np.eye(2), 1)],
        [0.5, 0.5],
    ).sample(400, seed=0)
    with pytest.warns(ConvergenceWarning, match="EM did not converge in 2 iterations"):
        fit = MixtureLoadings.fit(rows, rank=1, n_components=2, max_iter=2, tol=1e-12)
    report = fit.fit_report
    assert not report.converged and report.iterations == 2
    assert 1e-12 < report.residual < np.inf and np.isfinite(report.lower_bound)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fit = MixtureLoadings.fit(rows, rank=1, n_components=2)
    assert fit.fit_report.converged and fit.fit_report.residual < 1e-3


def test_lyapunov_spectrum_too_short_warns_with_the_change():
    law = GaussianLoadings([0, 0], [[1, 2], [2, 5]], rank=1)
    net = LowRankNetwork.sample(law, 50, g=2.0, seed=0)
    with pytest.warns(ConvergenceWarning, match="raise t_max") as record:
        spec = lyapunov_spectrum(net, 2.0, 0.1, time="continuous", n_exponents=2, tol=1e-9)
    assert not spec.converged and spec.change > 1e-9
    assert f"{spec.change:.1e}" in str(record[0].message)


def test_diverging_simulation_warns():
    """A linear network with overlap 1000 grows by 1 + 999 dt ~ 11 per Euler step: float64
    overflows within 300 steps."""
    net = LowRankNetwork(np.ones((4, 1)), 1000.0 * np.ones((4, 1)))
    with pytest.warns(RuntimeWarning, match="non-finite"):
        simulate(net, np.ones(4), 5.0, 0.01, phi="linear")
