"""Reproducibility, bit for bit: same seed, same result, on the training/analysis side; a different
seed, a different result."""

import numpy as np
import pytest
import torch

from lowrank import RNN, LowRankNetwork, emergence, find_fixed_points, train
from lowrank import tasks as T
from lowrank._checks import ConvergenceWarning
from lowrank.metrics import dsa_distance, pairwise_dsa, permutation_invariant_distance
from lowrank.projection import project

TASK = T.flipflop(2, steps=30)
QUICK = {"max_epochs": 3, "batch_size": 4, "batches": 2, "progress": False, "target_loss": 0.0}


def fit(seed, checkpoints="epoch", **options):
    model = RNN(2, 10, 2, seed=1, **options)
    with pytest.warns(ConvergenceWarning, match="above target_loss"):
        return train(model, TASK, seed=seed, checkpoints=checkpoints, **QUICK)


@pytest.mark.parametrize(
    "options", [{}, {"rank": 2, "noise": 0.1}, {"time": "continuous", "noise": 0.05}]
)
def test_training_is_identical_at_every_checkpoint(options):
    a, b = fit(7, **options), fit(7, **options)
    np.testing.assert_array_equal(a.losses, b.losses)
    assert [c.epoch for c in a.checkpoints] == [c.epoch for c in b.checkpoints] == [0, 1, 2, 3]
    for ca, cb in zip(a.checkpoints, b.checkpoints, strict=True):
        assert sorted(ca.weights) == sorted(cb.weights)
        for name in ca.weights:
            np.testing.assert_array_equal(ca.weights[name], cb.weights[name])
    for pa, pb in zip(a.model().parameters(), b.model().parameters(), strict=True):
        assert torch.equal(pa, pb)
    c = fit(8, **options)
    assert not np.array_equal(a.losses, c.losses)
    assert not np.array_equal(
        a.checkpoints[-1].weights["weight_out"], c.checkpoints[-1].weights["weight_out"]
    )


def test_model_initialisation_follows_its_seed():
    same = [RNN(2, 6, 1, rank=2, seed=4).weights() for _ in range(2)]
    other = RNN(2, 6, 1, rank=2, seed=5).weights()
    for name in same[0]:
        np.testing.assert_array_equal(same[0][name], same[1][name])
    assert not np.array_equal(same[0]["m"], other["m"])


MAKERS = [
    T.flipflop(3, steps=40),
    T.cycle(2, steps=40),
    T.line(1, steps=40),
    T.plane(steps=40),
    T.ring(steps=40),
    T.delayed_discrimination(),
    T.delayed_discrimination(values=(0.2, 1.0), min_difference=0.7),
    T.sine(steps=30),
    T.path_integration(steps=30),
    T.multitask([T.flipflop(1, steps=40), T.line(1, steps=40)], "gated"),
    T.multitask([T.flipflop(1, steps=40), T.ring(steps=40)], "parallel"),
]


@pytest.mark.parametrize("task", MAKERS, ids=lambda task: task.name)
def test_task_trials_follow_the_seed(task):
    a, b = task.generate(8, seed=3), task.generate(8, seed=3)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    c = task.generate(8, seed=np.random.default_rng(3))  # an int seed is its Generator's
    for x, y in zip(a, c, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.inputs, task.generate(8, seed=4).inputs)


def planted_network(N=60, seed=0):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((N, 2))
    return LowRankNetwork(m, 2.0 * m)


def test_fixed_points_follow_the_seed():
    net = planted_network()
    a, b = (find_fixed_points(net, n_starts=16, seed=2) for _ in range(2))
    for field in ("x", "kappa", "q", "eigenvalues", "stable", "residuals"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    c = find_fixed_points(net, n_starts=16, seed=3)
    assert not np.array_equal(a.residuals, c.residuals)


def test_projection_is_deterministic():
    rng = np.random.default_rng(0)
    W0 = rng.standard_normal((40, 40)) / np.sqrt(40)
    u, v = rng.standard_normal((2, 40, 2))
    W = W0 + u @ v.T / 40
    a, b = (project(W, reference=W0, seed=1) for _ in range(2))
    assert a.rank == b.rank == 2
    for name in ("m", "n", "chi"):
        np.testing.assert_array_equal(getattr(a.network, name), getattr(b.network, name))
    np.testing.assert_array_equal(a.singular_values, b.singular_values)
    assert repr(a.loadings) == repr(b.loadings)
    for ca, cb in zip(
        getattr(a.loadings, "components", [a.loadings]),
        getattr(b.loadings, "components", [b.loadings]),
        strict=True,
    ):
        np.testing.assert_array_equal(ca.mean, cb.mean)
        np.testing.assert_array_equal(ca.cov, cb.cov)


def test_pairwise_dsa_is_deterministic_and_equals_dsa_distance():
    rng = np.random.default_rng(0)
    trajectories = [np.cumsum(rng.standard_normal((50, 3)), axis=0) * 0.1 for _ in range(3)]
    a = pairwise_dsa(trajectories, n_delays=2, rank=4, n_starts=2, seed=5)
    b = pairwise_dsa(trajectories, n_delays=2, rank=4, n_starts=2, seed=5)
    np.testing.assert_array_equal(a, b)
    for i, j in ((0, 1), (0, 2), (1, 2)):
        d = dsa_distance(trajectories[i], trajectories[j], n_delays=2, rank=4, n_starts=2, seed=5)
        assert d == a[i, j] == a[j, i]


def test_permutation_heuristic_follows_the_seed():
    rng = np.random.default_rng(1)
    W1, W2 = rng.standard_normal((2, 12, 12))
    a, b = (permutation_invariant_distance(W1, W2, seed=9, full_output=True) for _ in range(2))
    assert a.distance == b.distance
    np.testing.assert_array_equal(a.permutation, b.permutation)


def test_emergence_is_deterministic():
    run = fit(1, rank=1)
    a, b = (emergence(run, checkpoints=[-1], n_starts=8, seed=0).table() for _ in range(2))
    assert a == b
