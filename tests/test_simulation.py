"""lowrank.simulate against mean-field values, closed-form solutions and brute-force numpy."""

import numba
import numpy as np
import pytest
from scipy.linalg import expm

from lowrank import GaussianLoadings, LowRankNetwork, simulate


def rank_one_law(overlap):
    return GaussianLoadings([0, 0], [[1, overlap], [overlap, overlap**2 + 1]], rank=1)


@pytest.mark.parametrize("overlap, kappa_star", [(1.5, 0.843417), (2.0, 1.337109), (3.0, 2.222314)])
def test_rank_one_settles_at_mean_field_kappa(overlap, kappa_star):
    """Reference values (docs/theory, section theory-reference). With whitened loadings the sample
    overlap and variances equal the law; what is left is the non-Gaussianity of a finite sample,
    O(1/sqrt(N)) ~ 1.6% at N = 4000 (docs/theory, section theory-reference: 1-2% away from
    bifurcations), so we allow 2%. Both signs are reached."""
    net = LowRankNetwork.sample(rank_one_law(overlap), 4000, seed=11, whiten=True)
    x0 = np.stack([net.m[:, 0], -net.m[:, 0]])  # start on either side of the pitchfork
    traj = simulate(net, x0, 60.0, 0.1, method="exp_euler", record_every=100)
    final = traj.kappa[:, -1, 0]
    assert final[0] == pytest.approx(kappa_star, rel=0.02)
    assert final[1] == pytest.approx(-kappa_star, rel=0.02)
    assert np.all(np.abs(traj.kappa[:, -1] - traj.kappa[:, -2]) < 1e-6)  # it has settled


def test_below_the_pitchfork_kappa_decays_to_zero():
    net = LowRankNetwork.sample(rank_one_law(0.8), 2000, seed=1, whiten=True)
    traj = simulate(net, net.m[:, 0] * 2, 50.0, 0.1, record_x=False)
    assert abs(traj.kappa[0, -1, 0]) < 1e-3


def linear_network(N=40, seed=0):
    rng = np.random.default_rng(seed)
    m, n = rng.standard_normal((N, 2)), rng.standard_normal((N, 2)) * 0.5
    inputs = rng.standard_normal((N, 1))
    return LowRankNetwork(m, n, inputs=inputs, bias=0.1 * rng.standard_normal(N))


def linear_exact(net, x0, t, u):
    """x(t) = e^{At} x0 + A^{-1} (e^{At} - 1) c for dx/dt = A x + c, A = J - 1, c = I u + b."""
    A = net.dense() - np.eye(net.N)
    c = net.inputs @ u + net.bias
    E = expm(A * t)
    return E @ x0 + np.linalg.solve(A, (E - np.eye(net.N)) @ c)


@pytest.mark.parametrize("method, order", [("euler", 1), ("exp_euler", 1), ("rk4", 4)])
def test_integrators_converge_at_their_order(method, order):
    net = linear_network()
    x0 = np.random.default_rng(5).standard_normal(net.N)
    u = np.array([0.7])
    exact = linear_exact(net, x0, 2.0, u)
    errors = []
    for dt in (0.1, 0.05, 0.025):
        traj = simulate(net, x0, 2.0, dt, inputs=u, method=method, phi="linear", record_x=False)
        errors.append(np.max(np.abs(traj.x_final[0] - exact)))
    slopes = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(np.abs(slopes - order) < 0.15), (errors, slopes)


def test_exponential_euler_is_exact_for_a_pure_leak():
    net = LowRankNetwork(np.zeros((10, 1)), np.zeros((10, 1)), inputs=np.ones((10, 1)))
    x0 = np.linspace(-1, 1, 10)
    traj = simulate(net, x0, 3.0, 0.5, inputs=np.array([2.0]), method="exp_euler")
    np.testing.assert_allclose(
        traj.x_final[0], np.exp(-3.0) * x0 + 2.0 * (1 - np.exp(-3.0)), atol=1e-14
    )


def brute_force(J, nvec, inputs, bias, x0, u, dt, n_steps, discrete):
    """Plain numpy reference: Euler for flows, the map for discrete time."""
    x, kappas = x0.copy(), []
    N = x0.shape[-1]
    for s in range(n_steps + 1):
        kappas.append((x if discrete else np.tanh(x)) @ nvec / N)
        if s == n_steps:
            break
        drive = u[:, s] @ inputs.T + bias
        x = np.tanh(x @ J.T + drive) if discrete else x + dt * (-x + np.tanh(x) @ J.T + drive)
    return x, np.stack(kappas, axis=1)


@pytest.mark.parametrize("g", [0.0, 1.3])
@pytest.mark.parametrize("time", ["continuous", "discrete"])
def test_kernels_match_brute_force(g, time):
    rng = np.random.default_rng(2)
    law = GaussianLoadings(
        np.zeros(6), np.eye(6) + 0.3 * np.eye(6, k=2) + 0.3 * np.eye(6, k=-2), 2, 2
    )
    net = LowRankNetwork.sample(law, 60, g=g, seed=4)
    net.bias = 0.05 * rng.standard_normal(60)
    u = rng.standard_normal((3, 25, 2))
    x0 = rng.standard_normal((3, 60))
    dt = 1.0 if time == "discrete" else 0.1
    traj = simulate(net, x0, 25 * dt, dt, inputs=u, time=time)
    x_ref, kappa_ref = brute_force(
        net.dense(), net.n, net.inputs, net.bias, x0, u, dt, 25, time == "discrete"
    )
    np.testing.assert_allclose(traj.x_final, x_ref, atol=1e-11)
    np.testing.assert_allclose(traj.kappa, kappa_ref, atol=1e-12)
    np.testing.assert_allclose(traj.x[:, -1], x_ref, atol=1e-11)


def test_recording_options():
    net = LowRankNetwork.sample(rank_one_law(2.0), 100, seed=0)
    full = simulate(net, np.ones((2, 100)), 10.0, 0.1)
    sparse = simulate(net, np.ones((2, 100)), 10.0, 0.1, record_every=10, record_x=False)
    assert full.x.shape == (2, 101, 100) and full.kappa.shape == (2, 101, 1)
    assert sparse.x is None and sparse.kappa.shape == (2, 11, 1)
    np.testing.assert_allclose(sparse.t, np.arange(11) * 1.0)
    np.testing.assert_array_equal(sparse.kappa, full.kappa[:, ::10])
    np.testing.assert_array_equal(sparse.x_final, full.x[:, -1])
    np.testing.assert_allclose(full.kappa[..., 0], np.tanh(full.x) @ net.n[:, 0] / 100, atol=1e-14)


def test_noise_has_the_ornstein_uhlenbeck_variance():
    """With J = 0, dx = -x dt + sigma dW has stationary variance sigma^2 / 2 (exact for exp. Euler);
    Euler-Maruyama's discrete AR(1) has sigma^2 dt / (1 - (1 - dt)^2) = sigma^2 / (2 - dt)."""
    net = LowRankNetwork(np.zeros((500, 1)), np.zeros((500, 1)))
    sigma, dt = 0.6, 0.2
    for method, expected in [("exp_euler", sigma**2 / 2), ("euler", sigma**2 / (2 - dt))]:
        traj = simulate(
            net, np.zeros((40, 500)), 20.0, dt, noise=sigma, seed=1, method=method, record_x=False
        )
        samples = traj.x_final.ravel()  # 20000 independent draws (t = 20 >> 1)
        # sd of a sample variance: var * sqrt(2 / n)
        assert samples.var() == pytest.approx(
            expected, abs=5 * expected * np.sqrt(2 / samples.size)
        )
        assert abs(samples.mean()) < 5 * np.sqrt(expected / samples.size)


def test_same_seed_same_trajectory_independent_of_threads_and_batch():
    law = GaussianLoadings([0, 0], [[1, 2], [2, 5]], rank=1)
    net = LowRankNetwork.sample(law, 200, seed=0)
    x0 = np.ones((4, 200))
    run = lambda seed: simulate(net, x0, 5.0, 0.1, noise=0.3, seed=seed).x  # noqa: E731
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one_thread = run(3)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two_threads = run(3)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one_thread, two_threads)
    assert not np.array_equal(run(3), run(4))
    # trial b's noise depends only on (seed, b), not on how many trials run beside it
    alone = simulate(net, x0[:1], 5.0, 0.1, noise=0.3, seed=3).x
    assert np.array_equal(alone[0], one_thread[0])


def test_dense_and_lowrank_kernels_share_the_noise():
    law = GaussianLoadings([0, 0], [[1, 2], [2, 5]], rank=1)
    lr = LowRankNetwork.sample(law, 80, seed=0)
    dense = LowRankNetwork(lr.m, lr.n, g=1e-300, chi=np.zeros((80, 80)))  # forces the dense kernel
    a = simulate(lr, np.ones((2, 80)), 3.0, 0.1, noise=0.5, seed=2)
    b = simulate(dense, np.ones((2, 80)), 3.0, 0.1, noise=0.5, seed=2)
    np.testing.assert_allclose(a.x, b.x, atol=1e-12)


def test_bad_input():
    net = LowRankNetwork(np.ones((5, 1)), np.ones((5, 1)), inputs=np.ones((5, 2)))
    x0 = np.zeros(5)
    cases = [
        (dict(x0=np.zeros(4)), ValueError, "x0 must have N = 5"),
        (dict(dt=0.0), ValueError, "dt must be > 0"),
        (dict(dt=-0.1), ValueError, "dt must be > 0"),
        (dict(t_max=1.05), ValueError, "whole multiple of dt"),
        (dict(method="heun"), ValueError, "unknown method 'heun'"),
        (dict(time="discreet"), ValueError, "unknown time 'discreet'"),
        (dict(time="discrete", dt=0.1), ValueError, "dt must be 1"),
        (dict(time="discrete", dt=1.0, method="rk4"), ValueError, "method 'rk4' is for flows"),
        (dict(method="map"), ValueError, "needs time='discrete'"),
        (dict(noise=-1.0), ValueError, "noise must be >= 0"),
        (dict(inputs=np.ones(3)), ValueError, "inputs must have 2 channels"),
        (dict(inputs=np.ones((7, 2))), ValueError, "one row per step"),
        (dict(x0=np.full(5, np.nan)), ValueError, "x0 must contain only finite"),
        (dict(record_every=0), ValueError, "record_every must be >= 1"),
        (dict(phi="relu"), ValueError, "unknown phi 'relu'"),
        (dict(seed=-1), ValueError, "seed must be >= 0"),
    ]
    for override, error, match in cases:
        kwargs = dict(x0=x0, t_max=1.0, dt=0.1) | override
        with pytest.raises(error, match=match):
            simulate(net, **kwargs)
    with pytest.raises(TypeError, match="network must be a LowRankNetwork"):
        simulate(np.eye(5), x0, 1.0, 0.1)
    with pytest.raises(ValueError, match="raise record_every or set record_x=False"):
        simulate(net, np.zeros((10_000, 5)), 1e6, 0.01)
