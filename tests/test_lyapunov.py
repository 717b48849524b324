"""Lyapunov spectra against Liouville's formula, linear stability, direct perturbation growth and
the mean-field reference values (docs/theory, section theory-reference)."""

import warnings

import numpy as np
import pytest

from lowrank import GaussianLoadings, LowRankNetwork, simulate
from lowrank.lyapunov import kaplan_yorke_dimension, lyapunov_spectrum


def bulk_network(N, g, seed=0):
    chi = np.random.default_rng(seed).standard_normal((N, N)) / np.sqrt(N)
    return LowRankNetwork(np.zeros((N, 1)), np.zeros((N, 1)), g=g, chi=chi)


def test_exponents_at_a_stable_fixed_point_are_the_jacobian_eigenvalues():
    """g < 1: the origin is stable; exponents = Re eig(-I + g chi) (flow), log|eig(g chi)| (map)."""
    net = bulk_network(40, 0.8)
    J = net.dense()
    flow = lyapunov_spectrum(net, 200, 0.05, time="continuous", t_warmup=20)
    expected = np.sort(np.linalg.eigvals(-np.eye(40) + J).real)[::-1]
    assert np.all(flow.exponents < 0)
    np.testing.assert_allclose(flow.exponents, expected, atol=0.03)
    assert flow.kaplan_yorke == 0.0
    step = lyapunov_spectrum(J, 2000, 1, time="discrete", t_warmup=200)
    np.testing.assert_allclose(
        step.exponents, np.sort(np.log(np.abs(np.linalg.eigvals(J))))[::-1], atol=0.01
    )


def trace_average(net, x0, t_warmup, t_max, dt):
    """(1 / T) int tr D dt, tr D = -N + sum_i J_ii phi'(x_i), along lowrank.simulate's RK4 run."""
    traj = simulate(net, x0, t_warmup + t_max, dt, method="rk4")
    x = traj.x[0, int(round(t_warmup / dt)) :]
    trace = -net.N + (1.0 - np.tanh(x) ** 2) @ np.diag(net.dense())
    return np.trapezoid(trace, dx=dt) / t_max


def test_sum_of_exponents_is_the_time_averaged_jacobian_trace():
    """Liouville: sum_i lambda_i = <tr D>_t. A rank-two structure plus a bulk (g = 0.6) gives a
    non-chaotic, nontrivial attractor, so both codes follow the same trajectory."""
    law = GaussianLoadings(
        np.zeros(4), np.eye(4) + 0.9 * (np.eye(4, k=2) + np.eye(4, k=-2)), rank=2
    )
    net = LowRankNetwork.sample(law, 60, g=0.6, seed=2)
    x0 = np.random.default_rng(0).standard_normal(60)
    spectrum = lyapunov_spectrum(net, 50, 0.02, time="continuous", t_warmup=10, x0=x0)
    expected = trace_average(net, x0, 10, 50, 0.02)
    assert expected > -60 + 0.1  # the coupling contributes
    assert spectrum.exponents.sum() == pytest.approx(expected, abs=1e-3)


def test_largest_exponent_matches_direct_perturbation_growth_in_chaos():
    """g = 2: lambda_max against the growth of a small perturbation between two lowrank.simulate
    runs, renormalised every time unit (Benettin's two-trajectory method), averaged over the same
    stretch [20, 320] of the same trajectory after the same warm-up."""
    N, g, eps, dt, warmup, T = 200, 2.0, 1e-7, 0.05, 20, 300
    net = bulk_network(N, g, seed=3)
    x0 = simulate(net, 0.5 * np.random.default_rng(1).standard_normal(N), 50, dt, method="rk4")
    x0 = x0.x_final[0]
    u = np.random.default_rng(2).standard_normal(N)
    x, y, logs = x0, x0 + eps * u / np.linalg.norm(u), []
    for _ in range(warmup + T):
        both = simulate(net, np.stack([x, y]), 1.0, dt, method="rk4", record_x=False).x_final
        x, d = both[0], both[1] - both[0]
        logs.append(np.log(np.linalg.norm(d) / eps))
        y = x + eps * d / np.linalg.norm(d)
    direct = np.mean(logs[warmup:])
    spectrum = lyapunov_spectrum(
        net, T, dt, time="continuous", n_exponents=3, x0=x0, t_warmup=warmup, tol=0.1
    )
    assert direct > 0.05  # chaos
    assert spectrum.exponents[0] == pytest.approx(direct, rel=0.03)
    assert spectrum.kaplan_yorke > 1


def test_low_rank_shortcut_equals_the_dense_computation():
    """Without a bulk, N - R exponents are the leak; the rest come from an R x R cocycle."""
    law = GaussianLoadings(
        np.zeros(4), np.eye(4) + 0.8 * (np.eye(4, k=2) + np.eye(4, k=-2)), rank=2
    )
    net = LowRankNetwork.sample(law, 50, seed=0)
    for method in ("rk4", "euler"):
        fast = lyapunov_spectrum(net, 100, 0.1, time="continuous", method=method, seed=1)
        dense = lyapunov_spectrum(net.dense(), 100, 0.1, time="continuous", method=method, seed=1)
        np.testing.assert_allclose(fast.exponents, dense.exponents, atol=3e-3)
    assert fast.exponents[2] == pytest.approx(np.log(0.9) / 0.1)  # Euler's leak, 1 - dt


def test_mean_field_latent_exponent_is_the_radial_eigenvalue():
    """Rank one, sigma_mn = 1.6: radial eigenvalue -0.5772 at kappa* = 0.948134 (docs/theory,
    section theory-reference)."""
    from lowrank.meanfield import MeanField

    mf = MeanField(GaussianLoadings([0, 0], [[1, 1.6], [1.6, 3.0]], rank=1))
    spectrum = lyapunov_spectrum(mf, 100, 0.05, x0=[0.5], t_warmup=20)
    assert spectrum.time == "continuous"
    assert spectrum.exponents[0] == pytest.approx(-0.5772, abs=1e-4)


def test_kaplan_yorke_dimension():
    assert kaplan_yorke_dimension([0.5, -0.2, -1.0]) == pytest.approx(2.3)
    assert kaplan_yorke_dimension([-0.1, -1.0]) == 0.0
    assert kaplan_yorke_dimension([1.0, 0.5]) == 2.0


def test_convergence_is_reported():
    net = bulk_network(40, 2.0, seed=4)
    with pytest.warns(RuntimeWarning, match="raise t_max"):
        result = lyapunov_spectrum(net, 4, 0.1, time="continuous", n_exponents=2, tol=1e-6)
    assert not result.converged and result.change > 1e-6
    assert result.history.shape == (len(result.times), 2)
    assert result.times[-1] == pytest.approx(4.0)


def test_bad_input_raises():
    J = np.eye(3)
    with pytest.raises(ValueError, match="time must be given"):
        lyapunov_spectrum(J, 10, 0.1)
    with pytest.raises(ValueError, match="dt must be 1"):
        lyapunov_spectrum(J, 10, 0.1, time="discrete")
    with pytest.raises(ValueError, match="whole multiple"):
        lyapunov_spectrum(J, 1.05, 0.1, time="continuous")
    with pytest.raises(ValueError, match="n_exponents"):
        lyapunov_spectrum(J, 10, 1, time="discrete", n_exponents=4)
    with pytest.raises(ValueError, match="method"):
        lyapunov_spectrum(J, 10, 0.1, time="continuous", method="heun")
    with pytest.raises(TypeError, match="network_or_model"):
        lyapunov_spectrum([[1.0]], 10, 1, time="discrete")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="x0"):
            lyapunov_spectrum(J, 10, 1, time="discrete", x0=np.zeros(2))
