"""lowrank.tasks.from_neurogym against neurogym's own trials (skipped without neurogym)."""

import warnings

import numpy as np
import pytest

from lowrank.tasks import from_dict, from_neurogym

ngym = pytest.importorskip("neurogym")

ENV = "PerceptualDecisionMaking-v0"


def _env():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ngym.make(ENV, dt=100)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def test_sequences_are_neurogym_trials_concatenated():
    task = from_neurogym(_env(), steps=70)
    trials = task.generate(2, seed=3)
    assert trials.inputs.shape == (2, 70, 3) and trials.targets.shape == (2, 70, 3)
    assert trials.mask.all()
    # the same trials, rebuilt by hand from the environment with the seed generate draws
    env = _env().unwrapped
    env.seed(int(np.random.default_rng(3).integers(2**31 - 1)))
    ob, gt = [], []
    while sum(map(len, ob)) < 70:
        env.new_trial()
        ob.append(env.ob)
        gt.append(env.gt)
    ob, gt = np.concatenate(ob)[:70], np.concatenate(gt)[:70]
    np.testing.assert_array_equal(trials.inputs[0], ob.astype(np.float32))
    np.testing.assert_array_equal(trials.targets[0].argmax(axis=1), gt)
    np.testing.assert_array_equal(trials.targets[0].sum(axis=1), 1.0)  # one-hot


def test_same_seed_same_trials_and_round_trip():
    task = from_neurogym(ENV, steps=40, dt=100)
    a, b, c = task.generate(3, seed=1), task.generate(3, seed=1), task.generate(3, seed=2)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    assert not np.array_equal(a.inputs, c.inputs)
    assert from_dict(task.to_dict()) == task
    assert task == from_neurogym(_env(), steps=40)


def test_unavailable_operations_say_why():
    task = from_neurogym(ENV, steps=40, dt=100)
    with pytest.raises(NotImplementedError, match="hidden variables"):
        task.targets(np.zeros((1, 40, 3)))
    with pytest.raises(NotImplementedError, match="timing"):
        task.ood(2.0)
    with pytest.raises(TypeError, match="neurogym environment"):
        from_neurogym(object())
    with pytest.raises(ValueError, match="steps"):
        from_neurogym(ENV, steps=0)


def test_a_model_trains_on_it():
    import lowrank

    task = from_neurogym(ENV, steps=50, dt=100)
    model = lowrank.RNN(task.n_inputs, 16, task.n_outputs, time="discrete", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lowrank.ConvergenceWarning)
        run = lowrank.train(model, task, max_epochs=4, batches=2, batch_size=8, progress=False)
    assert run.losses[-1] < run.losses[0]
    assert run.task() == task
