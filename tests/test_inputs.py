"""Nothing lost, nothing silently accepted: complex arrays, tensors that require gradients, NaN
inputs and weights, impossible task timings, a folder given as a file; simulations that diverge
warn (against the a-priori bound |x_i(t)| <= max(|x_i(0)|, c_i) of the tanh flow); and noisy
simulations with a random bulk are the same bit for bit with 1 or 2 BLAS and numba threads."""

import warnings

import numba
import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from lowrank import (
    RNN,
    DivergenceWarning,
    GaussianLoadings,
    LowRankNetwork,
    project,
    simulate,
    train,
)
from lowrank import tasks as T
from lowrank.simulation import divergence_bound

LAW = GaussianLoadings([0, 0], [[1, 2], [2, 5]], rank=1)
LAW_INPUT = GaussianLoadings([0, 0, 0], [[1, 2, 0], [2, 5, 0.5], [0, 0.5, 1]], 1, n_inputs=1)


# --- complex values are refused, not cast to their real part -------------------------------------
def test_complex_arrays_are_refused_naming_the_argument():
    with pytest.raises(TypeError, match=r"\bcov\b.*complex"):
        GaussianLoadings([0, 0], np.array([[1, 2j], [-2j, 5]]), rank=1)
    net = LowRankNetwork(np.ones((3, 1)), np.ones((3, 1)))
    with pytest.raises(TypeError, match=r"\bx0\b.*complex"):
        simulate(net, np.ones(3) * (1 + 0j), 1.0, 0.1)  # complex dtype even with zero imaginary
    with pytest.raises(TypeError, match=r"\bweights\b.*complex"):
        project(np.eye(4) + 1j * np.ones((4, 4)), 1)
    with pytest.raises(TypeError, match=r"\bm\b.*complex"):
        LowRankNetwork(np.ones((3, 1), dtype=complex), np.ones((3, 1)))


# --- torch tensors, with gradients, are read as their values ----------------------------------
def test_tensors_that_require_gradients_are_accepted_as_their_values():
    rng = np.random.default_rng(0)
    m, n, W = rng.standard_normal((6, 1)), rng.standard_normal((6, 1)), rng.standard_normal((6, 6))
    grad = {k: torch.tensor(v, requires_grad=True) for k, v in {"m": m, "n": n, "W": W}.items()}
    net = LowRankNetwork(grad["m"], grad["n"], bias=torch.zeros(6, requires_grad=True))
    np.testing.assert_array_equal(net.m, m)
    np.testing.assert_array_equal(net.dense(), m @ n.T / 6)
    proj = project(grad["W"], 2, seed=0)
    np.testing.assert_allclose(proj.singular_values, np.linalg.svd(W, compute_uv=False),
                               rtol=1e-12)
    np.testing.assert_allclose(proj.network.dense(), project(W, 2, seed=0).network.dense())


# --- models: NaN and empty inputs, NaN weights ---------------------------------------------------
def test_rnn_run_refuses_nan_inputs_and_empty_trials():
    model = RNN(1, 5, 1, rank=1)
    with pytest.raises(ValueError, match=r"\binputs\b.*finite"):
        model.run(np.full((1, 3, 1), np.nan))
    with pytest.raises(ValueError, match=r"\binputs\b.*time step"):
        model.run(np.zeros((1, 0, 1)))
    with pytest.raises(ValueError, match=r"\binputs\b"):
        model.run(np.zeros((2, 3, 2)))  # two channels for a one-input model
    with pytest.raises(ValueError, match=r"\bh0\b"):
        model.run(np.zeros((1, 3, 1)), h0=np.full((1, 5), np.inf))


def test_set_weights_refuses_nan_and_leaves_the_model_unchanged():
    model = RNN(1, 5, 1, rank=1, seed=0)
    before = model.weights()
    bad = {**before, "weight_out": before["weight_out"].copy()}
    bad["m"] = np.full_like(before["m"], np.nan)
    bad["weight_out"][:] = 7.0
    with pytest.raises(ValueError, match=r"weights\['m'\].*finite"):
        model.set_weights(bad)
    for name, value in model.weights().items():  # nothing was loaded, not even weight_out
        np.testing.assert_array_equal(value, before[name])
    with pytest.raises(TypeError, match=r"weights\['n'\].*complex"):
        model.set_weights({**before, "n": before["n"] * (1 + 1j)})


# --- tasks: timings that cannot make a trial ----------------------------------------------------
def test_pulse_longer_than_the_trial_is_refused():
    with pytest.raises(ValueError, match=r"\bpulse\b.*\bsteps\b"):
        T.flipflop(bits=1, steps=3, pulse=10)
    with pytest.raises(ValueError, match=r"\bpulse\b.*\bsteps\b"):
        T.flipflop(bits=1, steps=5, pulse=5)
    # one step longer than the pulse: exactly one scored step per trial (after the t = 0 pulse)
    trials = T.flipflop(bits=1, steps=6, pulse=5).generate(4, seed=0)
    assert trials.mask.sum(axis=(1, 2)).tolist() == [1, 1, 1, 1]


def test_saving_a_run_to_a_folder_is_refused(tmp_path):
    run = train(RNN(1, 4, 1, rank=1), T.flipflop(1, steps=12), max_epochs=1, batches=1,
                batch_size=2, progress=False, target_loss=10.0)
    with pytest.raises(ValueError, match=r"\bpath\b.*folder"):
        run.save(tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert run.save(tmp_path / "run.npz").is_file()


# --- divergence ------------------------------------------------------------------------------
def euler_peak(net: LowRankNetwork, x0: np.ndarray, dt: float, n_steps: int) -> float:
    """max |x| of plain numpy Euler steps x += dt (-x + J tanh(x)) (the ground truth)."""
    J, x, peak = net.dense(), x0.copy(), np.abs(x0).max()
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(n_steps):
            x = x + dt * (-x + J @ np.tanh(x))
            peak = max(peak, np.abs(x).max())
    return peak


def test_unstable_euler_warns_and_marks_the_trial():
    net = LowRankNetwork.sample(LAW, 200, seed=0)
    x0 = np.stack([net.m[:, 0], 0.01 * net.m[:, 0]])
    bound = divergence_bound(net, x0, np.zeros((1, 1, 0)), 0.0)
    # Euler at dt = 2.5 amplifies the leak by |1 - dt| = 1.5 per step: it really leaves the bound
    assert euler_peak(net, x0[1], 2.5, 500) > bound
    with pytest.warns(DivergenceWarning, match=r"diverged in 2 of 2 trial\(s\).*dt"):
        traj = simulate(net, x0, 1250.0, 2.5, record_x=False, record_every=7)
    assert traj.diverged.tolist() == [True, True]
    assert issubclass(DivergenceWarning, RuntimeWarning)


@pytest.mark.parametrize("method, dt", [("exp_euler", 2.5), ("euler", 0.1), ("rk4", 0.2)])
@pytest.mark.parametrize("g", [0.0, 1.5], ids=["lowrank-kernel", "dense-kernel"])
def test_stable_integrations_stay_in_the_invariant_region_and_never_warn(method, dt, g):
    """|x_i(t)| <= max(|x_i(0)|, c_i), c_i = sum_j |J_ij| + sum_k |I_ik| max|u_k| + |b_i|, holds
    for the exact flow (|tanh| <= 1); exponential Euler and Euler with dt <= 1 are convex
    combinations and keep it exactly, RK4 to its accuracy. g = 1.5 is chaotic."""
    law_net = LowRankNetwork.sample(LAW_INPUT, 150, g=g, seed=1)
    net = LowRankNetwork(law_net.m, law_net.n, law_net.inputs, g=g, chi=law_net.chi,
                         bias=np.linspace(-1, 1, 150))
    x0 = 3.0 * np.random.default_rng(2).standard_normal((3, 150))
    u = np.sin(np.linspace(0, 6, 200))[:, None]
    c = np.abs(net.dense()).sum(axis=1) + np.abs(net.inputs[:, 0]) + np.abs(net.bias)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DivergenceWarning)
        traj = simulate(net, x0, 200 * dt, dt, inputs=u, method=method)
        noisy = simulate(net, x0, 200 * dt, dt, inputs=u, method=method, noise=0.5, seed=3,
                         record_x=False)
    assert np.all(np.abs(traj.x) <= np.maximum(np.abs(x0), c)[:, None, :] * (1 + 1e-9))
    assert not traj.diverged.any() and not noisy.diverged.any()


def test_linear_networks_may_grow_without_a_warning():
    """phi(x) = x with an outlier at 2: x(t) = x0 e^{t} along m, legitimately unbounded."""
    m = np.ones((10, 1))
    net = LowRankNetwork(m, 2.0 * m)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DivergenceWarning)
        traj = simulate(net, m[:, 0], 40.0, 0.01, method="exp_euler", phi="linear", record_x=False)
    assert traj.x_final[0, 0] > 1e15 and not traj.diverged.any()


# --- bit for bit across BLAS thread counts, with a random bulk ---------------------------------
@pytest.mark.parametrize("N, batch, method", [(1000, 8, "rk4"), (500, 16, "euler"),
                                              (200, 64, "rk4")])
def test_bulk_simulation_is_bit_for_bit_with_one_or_two_blas_threads(N, batch, method):
    """Sizes at which 2-thread OpenBLAS products differ from 1-thread ones in the last bits (by
    4e-16 to 7e-16 after 6 steps, when the kernel used the process's BLAS threads), and with
    several blocks of rows of J, split over 1 or 2 numba threads."""
    net = LowRankNetwork.sample(LAW_INPUT, N, g=1.5, seed=1)
    x0 = np.random.default_rng(2).standard_normal((batch, N))
    u = np.linspace(-1, 1, 6)[:, None]
    runs = []
    try:
        for numba_threads, blas_threads in ((1, 1), (2, 2), (1, 2), (2, 1)):
            numba.set_num_threads(min(numba_threads, numba.config.NUMBA_NUM_THREADS))
            with threadpool_limits(blas_threads):
                runs.append(simulate(net, x0, 0.6, 0.1, inputs=u, noise=0.3, seed=3,
                                     method=method))
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for run in runs[1:]:
        np.testing.assert_array_equal(run.x, runs[0].x)
        np.testing.assert_array_equal(run.kappa, runs[0].kappa)
