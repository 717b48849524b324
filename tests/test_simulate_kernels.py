"""The fused simulation kernels against a plain numpy reference written here.

The reference forms J = m n^T / N + g chi and steps the whole batch with numpy (Euler, exponential
Euler, RK4, the map), with the same inputs, bias and Gaussian draws: the draws come from
``lowrank._kernels.mathfn.normal`` (a counter-based generator, tested against the normal law in
test_kernels.py) with the same per-trial keys, so noisy runs are compared step for step too.
Every rank from 1 to 16 (the kernels pad the rank to a multiple of four), with and without a
random bulk, one tile and several tiles of neurons. Tolerance 1e-12: the kernels sum in another
order than numpy, which moves the last bits only.
"""

import numba
import numpy as np
import pytest
from numba import njit

from lowrank import LowRankNetwork, simulate
from lowrank._checks import seed_sequence
from lowrank._kernels import integrate
from lowrank._kernels.mathfn import normal, tanh
from lowrank.simulation import _kernel_loadings

ATOL = 1e-12


@njit(cache=True)
def _draws(keys, n_steps, N):
    """xi[b, s, i] = normal(key_b, s N + i): the draw of trial b, step s, neuron i."""
    out = np.empty((keys.size, n_steps, N))
    for b in range(keys.size):
        for s in range(n_steps):
            for i in range(N):
                out[b, s, i] = normal(keys[b], np.uint64(s * N + i))
    return out


def noise_draws(seed, batch, n_steps, N):
    keys = np.array([c.generate_state(1, np.uint64)[0] for c in seed_sequence(seed).spawn(batch)],
                    dtype=np.uint64)
    return _draws(keys, n_steps, N)


def reference(net, x0, dt, n_steps, method, u, noise=0.0, seed=0):
    """Plain numpy: kappa (B, S + 1, R) and the final state; u is (B, S, K)."""
    J, N = net.dense(), net.N
    phi = np.tanh
    X = x0.copy()
    xi = noise_draws(seed, x0.shape[0], n_steps, N) if noise else None
    scale = {"euler": np.sqrt(dt), "rk4": np.sqrt(dt), "map": 1.0,
             "exp_euler": np.sqrt((1 - np.exp(-2 * dt)) / 2)}[method] * noise
    kappas = []
    for s in range(n_steps + 1):
        kappas.append((X if method == "map" else phi(X)) @ net.n / N)
        if s == n_steps:
            break
        drive = u[:, s] @ net.inputs.T + net.bias
        noise_s = scale * xi[:, s] if noise else 0.0
        if method == "map":
            X = phi(X @ J.T + drive + noise_s)
            continue

        def field(Y, drive=drive):
            return -Y + phi(Y) @ J.T + drive

        if method == "euler":
            X = X + dt * field(X)
        elif method == "exp_euler":
            X = X + (1 - np.exp(-dt)) * field(X)
        else:
            k1 = field(X)
            k2 = field(X + dt / 2 * k1)
            k3 = field(X + dt / 2 * k2)
            k4 = field(X + dt * k3)
            X = X + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        X = X + noise_s
    return np.stack(kappas, axis=1), X


def make_network(N, R, g, K=2, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((N, R))
    n = 1.5 * m + rng.standard_normal((N, R))
    chi = rng.standard_normal((N, N)) / np.sqrt(N) if g else None
    return LowRankNetwork(m, n, inputs=rng.standard_normal((N, K)) if K else None, g=g, chi=chi,
                          bias=0.3 * rng.standard_normal(N) if bias else None)


def run_both(net, method, n_steps=12, batch=3, noise=0.0, seed=0, with_inputs=True):
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal((batch, net.N))
    u = rng.standard_normal((batch, n_steps, net.n_inputs)) if with_inputs else None
    dt = 1.0 if method == "map" else 0.1
    time = "discrete" if method == "map" else "continuous"
    traj = simulate(net, x0, n_steps * dt, dt, inputs=u, noise=noise, seed=seed, method=method,
                    time=time)
    u_ref = u if with_inputs else np.zeros((batch, n_steps, net.n_inputs))
    kappa, x_final = reference(net, x0, dt, n_steps, method, u_ref, noise, seed)
    return traj, kappa, x_final


METHODS = ["euler", "exp_euler", "rk4", "map"]


@pytest.mark.parametrize("g", [0.0, 0.8])
@pytest.mark.parametrize("R", [1, 2, 3, 5, 8, 16])
@pytest.mark.parametrize("method", METHODS)
def test_every_rank_and_method_matches_numpy(method, R, g):
    net = make_network(70, R, g)
    traj, kappa, x_final = run_both(net, method)
    np.testing.assert_allclose(traj.kappa, kappa, rtol=0, atol=ATOL)
    np.testing.assert_allclose(traj.x_final, x_final, rtol=0, atol=ATOL)
    np.testing.assert_allclose(traj.x[:, -1], x_final, rtol=0, atol=ATOL)


@pytest.mark.parametrize("g", [0.0, 0.6])
@pytest.mark.parametrize("method", ["euler", "rk4", "map"])
def test_several_tiles(method, g):
    """N spans three tiles (and several blocks of the bulk product), the last one partial."""
    net = make_network(2 * integrate.TILE + 77, 3, g)
    traj, kappa, x_final = run_both(net, method, n_steps=4, batch=2)
    np.testing.assert_allclose(traj.kappa, kappa, rtol=0, atol=ATOL)
    np.testing.assert_allclose(traj.x_final, x_final, rtol=0, atol=ATOL)


@pytest.mark.parametrize("g", [0.0, 0.8])
@pytest.mark.parametrize("method", METHODS)
def test_noise_matches_numpy_draw_for_draw(method, g):
    net = make_network(50, 2, g)
    traj, kappa, x_final = run_both(net, method, noise=0.4, seed=7)
    np.testing.assert_allclose(traj.kappa, kappa, rtol=0, atol=ATOL)
    np.testing.assert_allclose(traj.x_final, x_final, rtol=0, atol=ATOL)


@pytest.mark.parametrize("g", [0.0, 0.8])
def test_without_inputs_or_bias(g):
    net = make_network(40, 4, g, K=0, bias=False)
    traj, kappa, x_final = run_both(net, "euler", with_inputs=False)
    np.testing.assert_allclose(traj.kappa, kappa, rtol=0, atol=ATOL)
    np.testing.assert_allclose(traj.x_final, x_final, rtol=0, atol=ATOL)


@pytest.mark.parametrize("g", [0.0, 0.7])
def test_bit_for_bit_whatever_the_threads(g):
    """Same seed, same bits with 1 or 2 numba threads (the bulk product's blocks are fixed)."""
    net = make_network(2 * integrate.BLOCK_ROWS + 30, 5, g)
    x0 = np.random.default_rng(3).standard_normal((5, net.N))
    before = numba.get_num_threads()
    runs = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            runs.append(simulate(net, x0, 1.0, 0.1, noise=0.2, seed=4))
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(runs[0].x, runs[1].x)
    assert np.array_equal(runs[0].kappa, runs[1].kappa)


@njit(cache=True)
def _tanh_all(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = tanh(x[i])
    return out


def test_tanh_within_three_ulp_of_numpy_on_a_dense_grid():
    """The kernels' tanh against numpy's on 2 million points: tiny, subnormal, large, negative,
    and at the points where its argument reduction switches k (a = (k + 1/2) ln(2) / 2, where
    2a / ln 2 rounds to the next integer), +-40 ulp around each, and at the clamp |x| = 20,
    against mpmath too (40 digits): measured max 3 ulp on the grid, 2 ulp at the switches."""
    switches = (np.arange(60) + 0.5) * (np.log(2.0) / 2)
    near = (switches[:, None] * (1.0 + np.arange(-40, 41) * 2.0**-52)).ravel()
    grid = np.concatenate([
        np.linspace(0.0, 25.0, 1_500_000),
        np.logspace(-320, 1.5, 400_000),
        near,
        [5e-324, 1e-300, 1e-8, 0.3465, 0.3466, 0.6931, 0.6932, 19.99, 20.0, 20.01, 700.0, 1e300,
         np.inf, np.nextafter(20.0, 0.0), np.nextafter(20.0, 21.0), 1.7e308],
    ])
    x = np.concatenate([grid, -grid])
    ours, ref = _tanh_all(x), np.tanh(x)
    ulp = np.spacing(np.maximum(np.abs(ref), np.finfo(float).tiny))
    assert np.max(np.abs(ours - ref) / ulp) <= 3.0
    assert np.array_equal(np.sign(ours), np.sign(x))
    assert np.array_equal(np.signbit(ours), np.signbit(x))  # tanh(-0) = -0
    assert np.all(np.abs(ours) <= 1.0)
    assert np.isnan(_tanh_all(np.array([np.nan]))[0])
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    x = np.concatenate([near, -near, [20.0, np.nextafter(20.0, 0.0), 1e-310]])
    exact = np.array([float(mpmath.tanh(mpmath.mpf(float(v)))) for v in x])
    ulp = np.spacing(np.maximum(np.abs(exact), np.finfo(float).tiny))
    assert np.max(np.abs(_tanh_all(x) - exact) / ulp) <= 2.0


@pytest.mark.parametrize("chunks", [False, True])
@pytest.mark.parametrize("method", ["euler", "exp_euler"])
def test_blocks_of_four_trials_bit_for_bit_whatever_the_batch_and_threads(method, chunks,
                                                                         monkeypatch):
    """Rank >= 4 without noise runs the trials four at a time (padding slots for the rest): a
    trial's bits do not depend on its block-mates, the batch size, the number of threads or
    the chunks of trials run one after the other (``chunks``: four trials per chunk)."""
    net = make_network(integrate.TILE + 150, 8, 0.0)
    x0 = np.random.default_rng(5).standard_normal((7, net.N))
    u = np.random.default_rng(6).standard_normal((7, 10, net.n_inputs))
    if chunks:
        MT, nT = _kernel_loadings(net, u)[:2]
        monkeypatch.setattr(integrate, "CHUNK_BYTES", 8 * net.N * (MT.shape[0] + nT.shape[0] + 5))
    before = numba.get_num_threads()
    runs = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            runs.append(simulate(net, x0, 1.0, 0.1, inputs=u, method=method))
    finally:
        numba.set_num_threads(before)
    alone = simulate(net, x0[5:6], 1.0, 0.1, inputs=u[5:6], method=method)
    assert np.array_equal(runs[0].x, runs[1].x)
    assert np.array_equal(runs[0].kappa, runs[1].kappa)
    assert np.array_equal(runs[0].x[5:6], alone.x)
    assert np.array_equal(runs[0].kappa[5:6], alone.kappa)
    kappa, x_final = reference(net, x0, 0.1, 10, method, u)
    np.testing.assert_allclose(runs[0].kappa, kappa, rtol=0, atol=ATOL)
    np.testing.assert_allclose(runs[0].x_final, x_final, rtol=0, atol=ATOL)


# --- the closed-form sweeps (Euler / exponential Euler, no noise, no bulk) ---
# x_s = c^s x_0 + MT^T a_s with a_{s+1} = c a_s + h [kappa_s, u_s, 1]: the same steps as the
# numpy loop, rounded differently (same 1e-12 tolerance). The tests above cover them too (every
# rank, method and tile count); these add the recording options and long runs.


@pytest.mark.parametrize("K, bias", [(0, False), (2, True)])
@pytest.mark.parametrize("R", [1, 2, 3, 8, 16])
@pytest.mark.parametrize("method", ["euler", "exp_euler"])
def test_closed_form_matches_numpy_whether_x_is_recorded_or_not(method, R, K, bias):
    """kappa at every recorded step and the final state against numpy, with and without x
    recorded (then bit for bit the same kappa); record_every = 3 leaves the last step
    unrecorded."""
    net = make_network(integrate.LATENT_TILE + 90, R, 0.0, K=K, bias=bias)
    rng = np.random.default_rng(2)
    batch, n_steps = 6, 14
    x0 = rng.standard_normal((batch, net.N))
    u = rng.standard_normal((batch, n_steps, K)) if K else None
    kappa, x_final = reference(net, x0, 0.1, n_steps, method,
                               u if K else np.zeros((batch, n_steps, 0)))
    for every in (1, 3):
        fast = simulate(net, x0, n_steps * 0.1, 0.1, inputs=u, method=method, record_x=False,
                        record_every=every)
        full = simulate(net, x0, n_steps * 0.1, 0.1, inputs=u, method=method, record_every=every)
        np.testing.assert_allclose(fast.kappa, kappa[:, ::every], rtol=0, atol=ATOL)
        np.testing.assert_allclose(fast.x_final, x_final, rtol=0, atol=ATOL)
        assert np.array_equal(fast.kappa, full.kappa)
        assert np.array_equal(fast.x_final, full.x_final)
        assert np.array_equal(full.x[:, 0], x0)
        if every == 1:
            assert np.array_equal(full.x[:, -1], full.x_final)


@pytest.mark.parametrize("R", [1, 8])
def test_closed_form_with_zero_initial_states(R):
    """Trials that start at x = 0 (whose states the sweeps do not read) beside others."""
    net = make_network(integrate.LATENT_TILE + 30, R, 0.0, K=1)
    x0 = np.random.default_rng(9).standard_normal((5, net.N))
    x0[[0, 3]] = 0.0
    u = np.random.default_rng(10).standard_normal((5, 8, 1))
    kappa, x_final = reference(net, x0, 0.1, 8, "euler", u)
    fast = simulate(net, x0, 0.8, 0.1, inputs=u, record_x=False)
    np.testing.assert_allclose(fast.kappa, kappa, rtol=0, atol=ATOL)
    np.testing.assert_allclose(fast.x_final, x_final, rtol=0, atol=ATOL)
    assert np.any(fast.x_final[0] != 0.0)


def test_closed_form_round_off_over_many_steps():
    """3000 small steps from a large state: the closed form's c^s and a_s accumulate no more
    round-off than stepping x (both within 1e-12 of numpy)."""
    net = make_network(60, 2, 0.0, K=1)
    x0 = 5.0 * np.random.default_rng(4).standard_normal((2, net.N))
    u = np.random.default_rng(5).standard_normal((2, 3000, 1))
    kappa, x_final = reference(net, x0, 0.01, 3000, "euler", u)
    fast = simulate(net, x0, 30.0, 0.01, inputs=u, record_x=False, record_every=100)
    np.testing.assert_allclose(fast.kappa, kappa[:, ::100], rtol=0, atol=ATOL)
    np.testing.assert_allclose(fast.x_final, x_final, rtol=0, atol=ATOL)


@pytest.mark.parametrize("R", [2, 8])
def test_closed_form_bit_for_bit_whatever_the_batch_and_threads(R):
    net = make_network(integrate.LATENT_TILE + 40, R, 0.0)
    x0 = np.random.default_rng(6).standard_normal((7, net.N))
    before = numba.get_num_threads()
    runs = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            runs.append(simulate(net, x0, 1.0, 0.1, record_x=False))
    finally:
        numba.set_num_threads(before)
    alone = simulate(net, x0[5:6], 1.0, 0.1, record_x=False)
    assert np.array_equal(runs[0].kappa, runs[1].kappa)
    assert np.array_equal(runs[0].x_final, runs[1].x_final)
    assert np.array_equal(runs[0].kappa[5:6], alone.kappa)
    assert np.array_equal(runs[0].x_final[5:6], alone.x_final)


@pytest.mark.parametrize("R", [1, 8])
def test_closed_form_reports_divergence_like_the_stepwise_kernel(R):
    """Euler with dt = 2.5 (unstable on the leak) diverges in every trial, whether x is
    recorded or not; with dt = 0.5 nothing is reported."""
    net = make_network(80, R, 0.0, K=0, bias=False)
    x0 = np.random.default_rng(7).standard_normal((5, net.N))
    for record_x in (False, True):
        with pytest.warns(RuntimeWarning, match="diverged"):
            bad = simulate(net, x0, 60.0, 2.5, record_x=record_x, record_every=3)
        assert bad.diverged.all()
    calm = simulate(net, x0, 5.0, 0.5, record_x=False)
    assert not calm.diverged.any()


def test_compiled_helpers_against_numpy():
    rng = np.random.default_rng(8)
    A = rng.standard_normal((300, 5))
    out = np.zeros((7, 300))
    integrate.transpose_into(A, 0.5, out, 1)
    assert np.array_equal(out[1:6], 0.5 * A.T)
    assert not out[[0, 6]].any()
    N = 2 * integrate.LATENT_TILE + 5
    L = rng.standard_normal((N, 3))
    tiled = integrate.tiled_zeros(4, N)
    integrate.transpose_into(L, 2.0, tiled, 1)
    tiles = tiled[:, :, :integrate.LATENT_TILE]
    assert tiles.shape == (3, 4, integrate.LATENT_TILE)
    assert np.array_equal(tiles.transpose(1, 0, 2).reshape(4, -1)[1:, :N], 2.0 * L.T)
    assert not tiled[:, 0].any()
    assert not tiled[2, :, 5:].any()
    X = rng.standard_normal((3, 50))
    X[1, 7] = -9.5
    assert integrate.abs_max(X) == 9.5
