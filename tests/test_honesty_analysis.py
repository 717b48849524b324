"""Numerical honesty: every solver of the training/analysis side reports when it did not converge
(a ConvergenceWarning, a RuntimeWarning, saying what was reached) and carries its residuals in the
result."""

import re
import warnings

import numpy as np
import pytest
from scipy.stats import ortho_group

from lowrank import RNN, find_fixed_points, train
from lowrank import tasks as T
from lowrank._checks import ConvergenceWarning
from lowrank.metrics import (
    dsa_distance,
    orthogonal_similarity,
    pairwise_dsa,
    permutation_invariant_distance,
    shared_attractors,
)


def chaotic_weights(N=30, g=3.0, seed=0):
    rng = np.random.default_rng(seed)
    return g * rng.standard_normal((N, N)) / np.sqrt(N)


def reported_number(message: str, after: str) -> float:
    found = re.search(re.escape(after) + r"\s*([-+0-9.eE]+)", message)
    assert found, message
    return float(found.group(1))


# --- fixed points ---------------------------------------------------------------------------------


def test_fixed_point_finder_reports_the_residual_it_reached():
    W = chaotic_weights()
    with pytest.warns(ConvergenceWarning, match="no start converged") as record:
        fp = find_fixed_points(W, time="continuous", max_iter=1, n_starts=8, seed=0)
    assert not fp.converged and len(fp) == 0 and fp.n_failed == 16 and fp.n_slow == 0
    assert fp.residuals.shape == (16,) and np.all(fp.residuals > fp.tol)
    reached = reported_number(str(record[0].message), "smallest max|F| reached:")
    assert reached == pytest.approx(fp.residuals.min(), rel=1e-2)


def test_converged_fixed_points_carry_residuals_that_hold_up():
    W = chaotic_weights()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a converged search warns about nothing
        fp = find_fixed_points(W, time="continuous", max_iter=200, n_starts=8, seed=0)
    assert fp.converged and len(fp) >= 1 and np.any(fp.residuals < fp.tol)
    assert fp.n_slow == np.count_nonzero(fp.residuals >= fp.tol)
    F = -fp.x + np.tanh(fp.x) @ W.T  # the flow, recomputed independently
    np.testing.assert_allclose(fp.q, 0.5 * np.sum(F**2, axis=1), rtol=1e-6, atol=1e-30)
    assert np.all(np.abs(F) < fp.tol)


# --- Procrustes over O(n) and DSA -----------------------------------------------------------------


def riemannian_gradient_norm(A, B, C):
    """|skew(C^T grad_C tr(a^T C b C^T))|_F for unit-norm a, b, written out independently."""
    a, b = A / np.linalg.norm(A), B / np.linalg.norm(B)
    grad = a @ C @ b.T + a.T @ C @ b
    M = C.T @ grad
    return np.linalg.norm(M - M.T) / 2


def random_pair(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n)), rng.standard_normal((n, n))


def test_procrustes_reports_an_unconverged_search_and_its_gradient():
    A, B = random_pair()
    with pytest.warns(ConvergenceWarning, match="Riemannian gradient") as record:
        result = orthogonal_similarity(A, B, maxiter=1, n_starts=0)
    assert not result.converged and result.grad_norm > 1e-6
    assert reported_number(str(record[0].message), "Riemannian gradient") == pytest.approx(
        result.grad_norm, rel=1e-2
    )
    np.testing.assert_allclose(result.C @ result.C.T, np.eye(5), atol=1e-10)
    assert result.grad_norm == pytest.approx(riemannian_gradient_norm(A, B, result.C), rel=1e-6)
    # the score is that of the C returned: an upper bound on the converged distance
    a, b = A / np.linalg.norm(A), B / np.linalg.norm(B)
    s = np.sum(a * (result.C @ b @ result.C.T))
    assert result.angular == pytest.approx(np.arccos(s), abs=1e-12)
    full = orthogonal_similarity(A, B)
    assert full.converged and full.grad_norm <= 1e-6
    assert full.angular <= result.angular + 1e-12


def linear_trajectory(A, T=60, seed=0):
    rng = np.random.default_rng(seed)
    X = np.empty((T, len(A)))
    X[0] = rng.standard_normal(len(A))
    for t in range(1, T):
        X[t] = A @ X[t - 1] + 0.05 * rng.standard_normal(len(A))
    return X


def test_dsa_reports_an_unconverged_procrustes_search():
    systems = [0.9 * ortho_group.rvs(4, random_state=k) for k in range(2)]
    X, Y = (linear_trajectory(S, seed=k) for k, S in enumerate(systems))
    with pytest.warns(ConvergenceWarning, match="dsa_distance: .*Riemannian gradient"):
        result = dsa_distance(X, Y, n_delays=1, rank=4, maxiter=1, n_starts=0, full_output=True)
    assert not result.converged and result.grad_norm > 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        converged = dsa_distance(X, Y, n_delays=1, rank=4, full_output=True)
    assert converged.converged and converged.angular <= result.angular + 1e-12


def test_pairwise_dsa_reports_every_unconverged_pair_once():
    systems = [0.9 * ortho_group.rvs(4, random_state=k) for k in range(3)]
    trajectories = [linear_trajectory(S, seed=k) for k, S in enumerate(systems)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = pairwise_dsa(trajectories, 1, 4, maxiter=1, n_starts=0, full_output=True)
    messages = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(messages) == 1 and "3 of 3 pairs did not converge" in messages[0]
    off = ~np.eye(3, dtype=bool)
    assert not result.converged[off].any() and np.all(result.grad_norm[off] > 1e-6)
    np.testing.assert_array_equal(result.grad_norm, result.grad_norm.T)
    fine = pairwise_dsa(trajectories, 1, 4, full_output=True)
    assert fine.converged.all() and np.all(fine.distances <= result.distances + 1e-12)
    np.testing.assert_array_equal(pairwise_dsa(trajectories, 1, 4), fine.distances)


def test_dsa_refuses_an_underdetermined_regression():
    X = np.random.default_rng(0).standard_normal((4, 3))
    with pytest.raises(ValueError, match="rank=3 exceeds the 2 transitions of Y"):
        dsa_distance(X, X[:3], n_delays=1, rank=3)
    with pytest.raises(ValueError, match="X is zero everywhere"):
        dsa_distance(np.zeros((10, 2)), X, n_delays=1, rank=2)


# --- permutation-invariant distance (FAQ heuristic) -----------------------------------------------


def test_permutation_heuristic_reports_hitting_maxiter():
    rng = np.random.default_rng(2)
    W1, W2 = rng.standard_normal((7, 7)), rng.standard_normal((7, 7))
    with pytest.warns(ConvergenceWarning, match="maxiter=1"):
        result = permutation_invariant_distance(
            W1, W2, method="faq", maxiter=1, n_restarts=0, full_output=True
        )
    assert not result.converged and result.iterations == 1 and not result.exact
    p = result.permutation
    assert sorted(p) == list(range(7))
    assert result.distance == pytest.approx(np.linalg.norm(W1 - W2[np.ix_(p, p)]) / 49)
    exact = permutation_invariant_distance(W1, W2, method="exact", full_output=True)
    assert exact.converged and exact.distance <= result.distance + 1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        heuristic = permutation_invariant_distance(W1, W2, method="faq", full_output=True)
    assert heuristic.converged and heuristic.iterations < 100


# --- training -------------------------------------------------------------------------------------

QUICK = {"batch_size": 4, "batches": 1, "progress": False}


def test_training_that_misses_its_target_says_so():
    model = RNN(1, 8, 1, rank=1, seed=0)
    with pytest.warns(ConvergenceWarning, match="above target_loss=1e-09") as record:
        run = train(model, T.flipflop(1, steps=20), target_loss=1e-9, max_epochs=2, **QUICK)
    assert not run.converged and run.epochs == 2 and np.all(np.isfinite(run.losses))
    assert reported_number(str(record[0].message), "train: loss") == pytest.approx(
        run.losses[-1], rel=1e-2
    )
    reached = train(
        RNN(1, 8, 1, rank=1, seed=0),
        T.flipflop(1, steps=20),
        target_loss=10.0,
        max_epochs=5,
        **QUICK,
    )
    assert reached.converged and reached.epochs == 1


def test_diverging_training_stops_and_cannot_resume():
    model = RNN(1, 8, 1, seed=0)
    with pytest.warns(ConvergenceWarning, match="the loss became nan"):
        run = train(model, T.flipflop(1, steps=20), lr=1e30, clip=None, max_epochs=6, **QUICK)
    assert not run.converged and run.epochs < 6 and np.isnan(run.losses[-1])
    assert run.checkpoints[-1].epoch == run.epochs
    with pytest.raises(ValueError, match="diverged"):
        run.resume(max_epochs=8, progress=False)


# --- simulations that must settle -----------------------------------------------------------------


def test_shared_attractors_reports_probes_that_did_not_settle():
    model = (2.0 * np.eye(3), np.eye(3)[:, :2])
    with pytest.warns(ConvergenceWarning, match="had not settled"):
        found = shared_attractors(model, 2, time="continuous", free_steps=2)
    assert not found.settled.all()
    settled = shared_attractors(model, 2, time="continuous")
    assert settled.settled.all() and settled.n_end_states == 4
