"""Reproducibility, bit for bit: the same seed gives the same loadings, networks, noisy
trajectories (whatever the number of numba and BLAS threads), fits, spectra and mean-field
solutions; a different seed gives different draws."""

import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from lowrank import (
    GaussianLoadings,
    LowRankNetwork,
    MeanField,
    MixtureLoadings,
    lyapunov_spectrum,
    simulate,
)

LAW = GaussianLoadings([0, 0, 0], [[1, 2, 0], [2, 5, 0.5], [0, 0.5, 1]], 1, n_inputs=1)
MIX = MixtureLoadings([LAW, GaussianLoadings([1, 1, 0], np.eye(3), 1, n_inputs=1)], [0.3, 0.7])
CASES = [  # (g, time, method): the low-rank kernel and the dense (bulk) kernel
    (0.0, "continuous", "euler"),
    (0.0, "continuous", "exp_euler"),
    (0.0, "continuous", "rk4"),
    (0.0, "discrete", "map"),
    (1.5, "continuous", "euler"),
    (1.5, "continuous", "rk4"),
    (1.5, "discrete", "map"),
]


def noisy_run(g, time, method, seed=3, batch=5):
    net = LowRankNetwork.sample(LAW, 60, g=g, seed=1)
    x0 = np.random.default_rng(2).standard_normal((batch, 60))
    dt = 1.0 if time == "discrete" else 0.1
    u = np.linspace(-1, 1, 20)[:, None]
    return simulate(net, x0, 20 * dt, dt, inputs=u, noise=0.3, seed=seed, method=method,
                    time=time)


@pytest.mark.parametrize("law", [LAW, MIX], ids=["gaussian", "mixture"])
@pytest.mark.parametrize("whiten", [False, True])
def test_loadings_sample_same_seed_same_rows(law, whiten):
    a = law.sample(200, seed=7, whiten=whiten)
    np.testing.assert_array_equal(a, law.sample(200, seed=7, whiten=whiten))
    np.testing.assert_array_equal(
        a, law.sample(200, seed=np.random.default_rng(7), whiten=whiten)
        if law is LAW else law.sample(200, seed=7, whiten=whiten)
    )
    assert not np.array_equal(a, law.sample(200, seed=8, whiten=whiten))


def test_mixture_labels_reproducible():
    rows, labels = MIX.sample(300, seed=4, return_labels=True)
    rows2, labels2 = MIX.sample(300, seed=4, return_labels=True)
    np.testing.assert_array_equal(rows, rows2)
    np.testing.assert_array_equal(labels, labels2)


def test_network_sample_same_seed_same_network():
    a, b = (LowRankNetwork.sample(MIX, 80, g=0.8, seed=5) for _ in range(2))
    for name in ("m", "n", "inputs", "chi"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = LowRankNetwork.sample(MIX, 80, g=0.8, seed=6)
    assert not np.array_equal(a.m, c.m) and not np.array_equal(a.chi, c.chi)
    # the loadings and the bulk come from independent streams: g does not move the loadings
    np.testing.assert_array_equal(LowRankNetwork.sample(MIX, 80, g=0.0, seed=5).m, a.m)


@pytest.mark.parametrize("g, time, method", CASES)
def test_noisy_simulation_independent_of_thread_counts(g, time, method):
    runs = []
    for threads in (1, 2):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        with threadpool_limits(threads):
            runs.append(noisy_run(g, time, method))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_equal(runs[0].x, runs[1].x)
    np.testing.assert_array_equal(runs[0].kappa, runs[1].kappa)
    assert np.all(np.isfinite(runs[0].x))


@pytest.mark.parametrize("g", [0.0, 1.5], ids=["lowrank-kernel", "dense-kernel"])
def test_noisy_simulation_same_seed_same_trajectory(g):
    a, b = noisy_run(g, "continuous", "exp_euler"), noisy_run(g, "continuous", "exp_euler")
    np.testing.assert_array_equal(a.x, b.x)
    c = noisy_run(g, "continuous", "exp_euler", seed=4)
    assert not np.array_equal(a.x[:, 1:], c.x[:, 1:])
    # each trial's noise depends only on (seed, trial index), not on the batch size
    one = noisy_run(g, "continuous", "exp_euler", batch=2)
    np.testing.assert_array_equal(one.x, a.x[:2])


def test_noisy_simulation_same_in_a_process_with_one_numba_thread(tmp_path):
    """NUMBA_NUM_THREADS=1 and one BLAS thread, set before numba starts, in a fresh process."""
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_reproducibility_theory import CASES, noisy_run
        np.savez({str(tmp_path / "one.npz")!r},
                 *[noisy_run(*case).x for case in CASES])
        """
    )
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=300)
    single = np.load(tmp_path / "one.npz")
    for k, case in enumerate(CASES):
        np.testing.assert_array_equal(single[f"arr_{k}"], noisy_run(*case).x)


def test_meanfield_solutions_are_deterministic():
    def solve():
        mf = MeanField(LAW)
        return mf.fixed_points(np.array([0.2])), MeanField(LAW, g=0.8).stationary_states()

    (fa, sa), (fb, sb) = solve(), solve()
    np.testing.assert_array_equal(fa.kappa, fb.kappa)
    np.testing.assert_array_equal(fa.eigenvalues, fb.eigenvalues)
    np.testing.assert_array_equal(fa.residual, fb.residual)
    np.testing.assert_array_equal(sa.kappa, sb.kappa)
    np.testing.assert_array_equal(sa.delta0, sb.delta0)


def test_mixture_fit_and_lyapunov_same_seed_same_result():
    rows = MIX.sample(300, seed=0)
    a, b = (MixtureLoadings.fit(rows, rank=1, n_inputs=1, n_components=2, seed=2)
            for _ in range(2))
    np.testing.assert_array_equal(a.weights, b.weights)
    for ca, cb in zip(a.components, b.components, strict=True):
        np.testing.assert_array_equal(ca.cov, cb.cov)
    net = LowRankNetwork.sample(LAW, 30, g=2.0, seed=0)
    la, lb = (lyapunov_spectrum(net, 5.0, 0.1, time="continuous", n_exponents=3, seed=9,
                                tol=10.0) for _ in range(2))
    np.testing.assert_array_equal(la.history, lb.history)
