"""ood_variability against hand-computed errors of planted models."""

import numpy as np
import pytest

import lowrank
from lowrank.metrics import ood_variability


class Constant:
    """A 'model' that outputs a constant c: its MSE is the mean of (target - c)^2 where masked."""

    def __init__(self, c):
        self.c = c

    def run(self, inputs):
        return np.full(inputs.shape[:2] + (1,), self.c), None


def test_errors_equal_hand_computed_mse():
    task = lowrank.tasks.flipflop(bits=1)
    trials = task.ood(2.0).generate(16, seed=3)
    mask = np.broadcast_to(trials.mask, trials.targets.shape).astype(bool)
    expected = [np.mean((trials.targets[mask] - c) ** 2) for c in (0.0, 0.5, -1.0)]
    result = ood_variability([Constant(0.0), Constant(0.5), Constant(-1.0)], task, batch=16, seed=3)
    np.testing.assert_allclose(result.errors, expected, rtol=1e-6)
    assert result.std == pytest.approx(np.std(expected, ddof=1), rel=1e-6)
    assert result.cv == pytest.approx(result.std / result.mean)


def test_identical_models_have_no_spread():
    task = lowrank.tasks.flipflop(bits=1)
    model = lowrank.RNN(task.n_inputs, 20, task.n_outputs, seed=0)
    result = ood_variability([model, model], task, batch=8)
    assert result.std == 0.0 and result.errors[0] == result.errors[1]


def test_bad_input():
    task = lowrank.tasks.flipflop(bits=1)
    with pytest.raises(ValueError, match="models must hold"):
        ood_variability([], task)
    with pytest.raises(TypeError, match="models\\[0\\] must be"):
        ood_variability([np.eye(2)], task)
    with pytest.raises(ValueError, match="stretch must be > 0"):
        ood_variability([Constant(0.0)], task, stretch=0)
