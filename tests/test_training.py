"""Training: reproducibility, checkpoints, persistence, resume, errors; a slow flip-flop run."""

import warnings

import numpy as np
import pytest
import torch

import lowrank
from lowrank import RNN, TrainingRun, load_run, train
from lowrank import tasks as T

# the quick runs aim at target_loss=0 on purpose: their "target not reached" warning is expected
pytestmark = pytest.mark.filterwarnings("ignore:.* is above target_loss=0 :RuntimeWarning")

TASK = T.flipflop(1, steps=40)
QUICK = {"max_epochs": 4, "batch_size": 8, "batches": 2, "progress": False, "target_loss": 0.0}


def small(rank=None, channels=1, **options):
    return RNN(channels, 16, channels, rank=rank, init="gaussian", gain=0.9, seed=3, **options)


def assert_same_run(a: TrainingRun, b: TrainingRun):
    np.testing.assert_array_equal(a.losses, b.losses)
    assert [c.epoch for c in a.checkpoints] == [c.epoch for c in b.checkpoints]
    for ca, cb in zip(a.checkpoints, b.checkpoints, strict=True):
        assert ca.loss == cb.loss or (np.isnan(ca.loss) and np.isnan(cb.loss))
        assert set(ca.weights) == set(cb.weights)
        for name in ca.weights:
            np.testing.assert_array_equal(ca.weights[name], cb.weights[name])


@pytest.mark.parametrize("options", [{}, {"rank": 2, "noise": 0.05}, {"time": "continuous"}])
def test_same_seed_same_run_bit_for_bit(options):
    a = train(small(**options), TASK, seed=5, **QUICK)
    b = train(small(**options), TASK, seed=5, **QUICK)
    assert_same_run(a, b)
    c = train(small(**options), TASK, seed=6, **QUICK)
    assert not np.array_equal(a.losses, c.losses)


def test_training_lowers_the_loss_and_records_improvements():
    run = train(small(), TASK, seed=0, **{**QUICK, "max_epochs": 12, "lr": 1e-2})
    assert run.epochs == 12 and run.losses[-1] < run.losses[0]
    points = run.checkpoints
    assert points[0].epoch == 0 and points[-1].epoch == 12
    best = np.minimum.accumulate(run.losses)
    improved = {e + 1 for e in range(12) if e == 0 or run.losses[e] < best[e - 1]}
    assert [c.epoch for c in points[1:]] == sorted(improved | {12})  # and the final weights
    assert len(improved) > 3
    initial = small().weights()
    for name, value in initial.items():
        np.testing.assert_array_equal(points[0].weights[name], value)
    assert np.isfinite(points[0].loss)


@pytest.mark.parametrize("rule, epochs", [("epoch", [0, 1, 2, 3, 4]), (3, [0, 3, 4])])
def test_checkpoint_rules(rule, epochs):
    run = train(small(), TASK, checkpoints=rule, **QUICK)
    assert [c.epoch for c in run.checkpoints] == epochs


def test_trained_model_matches_the_last_checkpoint():
    model = small(rank=1)
    run = train(model, TASK, **QUICK)
    for name, value in model.weights().items():
        np.testing.assert_array_equal(run.checkpoints[-1].weights[name], value)
        np.testing.assert_array_equal(run.model().weights()[name], value)
    np.testing.assert_array_equal(run.stacked("m")[0], run.checkpoints[0].weights["m"])
    assert run.model(0).to_network().rank == 1


def test_stops_at_the_target_loss():
    run = train(small(), TASK, **{**QUICK, "target_loss": 10.0, "max_epochs": 50})
    assert run.epochs == 1 and run.converged
    assert not train(small(), TASK, **QUICK).converged


def test_save_load_round_trip_is_exact(tmp_path):
    run = train(
        small(rank=2, channels=2, bias=True), T.multitask([TASK, TASK], "orthogonal"), **QUICK
    )
    path = run.save(tmp_path / "run.npz")
    back = load_run(path)
    assert_same_run(run, back)
    assert back.config == run.config and back.elapsed == run.elapsed
    assert back.task() == T.multitask([TASK, TASK], "orthogonal")
    for i, entry in run.optimizer["state"].items():
        for key, value in entry.items():
            np.testing.assert_array_equal(back.optimizer["state"][i][key], value)
    assert lowrank.load_run is load_run


@pytest.mark.parametrize("options", [{}, {"rank": 2, "noise": 0.05}])
def test_resume_equals_an_uninterrupted_run(tmp_path, options):
    settings = {**QUICK, "lr_decay": 0.9}
    whole = train(small(**options), TASK, seed=2, **{**settings, "max_epochs": 6})
    first = train(small(**options), TASK, seed=2, **{**settings, "max_epochs": 3})
    resumed = load_run(first.save(tmp_path / "half.npz")).resume(max_epochs=6, progress=False)
    np.testing.assert_array_equal(resumed.losses, whole.losses)
    for name, value in whole.checkpoints[-1].weights.items():
        np.testing.assert_array_equal(resumed.checkpoints[-1].weights[name], value)
    # the checkpoint recorded at the end of the first half stays: it is a real checkpoint
    assert {c.epoch for c in whole.checkpoints} <= {c.epoch for c in resumed.checkpoints}


def test_progress_bar_shows_the_loss(capsys):
    train(small(), TASK, **{**QUICK, "progress": True, "max_epochs": 2})
    assert "loss=" in capsys.readouterr().err
    train(small(), TASK, **QUICK)
    assert capsys.readouterr().err == ""


def test_threads_are_restored():
    before = torch.get_num_threads()
    train(small(), TASK, threads=1, **{**QUICK, "max_epochs": 1})
    assert torch.get_num_threads() == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present: nothing to fall back from")
def test_cuda_request_falls_back_to_cpu_with_a_warning():
    with pytest.warns(UserWarning, match="CUDA"):
        run = train(small(), TASK, device="cuda", **{**QUICK, "max_epochs": 1})
    assert run.epochs == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_training_runs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", "train: loss", RuntimeWarning)  # target_loss=0: expected
        run = train(small(rank=2, noise=0.05), TASK, device="cuda", **QUICK)
    assert run.epochs == 4 and np.all(np.isfinite(run.losses))


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="inputs"):
        train(RNN(2, 8, 1), TASK, **QUICK)
    with pytest.raises(TypeError, match="model"):
        train(torch.nn.RNN(1, 8), TASK, **QUICK)
    with pytest.raises(TypeError, match="task"):
        train(small(), "flipflop", **QUICK)
    with pytest.raises(ValueError, match="checkpoints"):
        train(small(), TASK, checkpoints="best", **QUICK)
    with pytest.raises(ValueError, match="lr"):
        train(small(), TASK, lr=-1.0, **QUICK)
    with pytest.raises(TypeError, match="seed"):
        train(small(), TASK, seed=1.5, **QUICK)
    with pytest.raises(ValueError, match="batch_size"):
        train(small(), TASK, **{**QUICK, "batch_size": 0})
    with pytest.raises(TypeError, match="device"):
        train(small(), TASK, device=3, **QUICK)
    with pytest.raises(ValueError, match="device"):
        train(small(), TASK, device="tpu0", **QUICK)
    run = train(small(), TASK, **QUICK)
    with pytest.raises(ValueError, match="parameter"):
        run.stacked("W")
    with pytest.raises(ValueError, match="checkpoint"):
        run.model(99)
    foreign = TrainingRun(run.losses, run.checkpoints, {"model": run.config["model"]}, {})
    with pytest.raises(ValueError, match="cannot be resumed"):
        foreign.resume()


def test_load_run_refuses_other_files(tmp_path):
    path = lowrank.io.save(tmp_path / "other.npz", {"x": np.zeros(2)}, kind="Network")
    with pytest.raises(ValueError, match="not a TrainingRun"):
        load_run(path)
    saved = train(small(), TASK, **QUICK).save(tmp_path / "run.npz")
    saved.write_bytes(saved.read_bytes()[:-100])
    with pytest.raises(ValueError, match="run.npz"):
        load_run(saved)


def stable_states(model: RNN, bits: int = 2, settle: int = 500):
    """End states after a pulse to each corner of the flip-flop, and whether each is stable."""
    corners = np.array(np.meshgrid(*[[-1.0, 1.0]] * bits)).reshape(bits, -1).T
    u = np.zeros((len(corners), 5 + settle, bits))
    u[:, :5] = corners[:, None, :]
    outputs, states = model.run(u)
    W = model.recurrent_weights()
    stable = []
    for h_prev, h in zip(states[:, -2].astype(float), states[:, -1].astype(float), strict=True):
        jacobian = (1 - h**2)[:, None] * W  # of the map h -> tanh(W h) at the end state
        fixed = np.linalg.norm(h - h_prev) < 1e-4
        stable.append(fixed and np.abs(np.linalg.eigvals(jacobian)).max() < 1)
    return corners, outputs[:, -1], states[:, -1], np.array(stable)


@pytest.mark.slow
@pytest.mark.parametrize("rank", [None, 2])
def test_two_bit_flipflop_trains_and_has_four_stable_states(rank):
    task = T.flipflop(2)
    model = RNN(2, 100, 2, rank=rank, init="gaussian", seed=0)
    run = train(model, task, seed=0, progress=False)
    assert run.converged and run.losses[-1] < 1e-3
    corners, outputs, states, stable = stable_states(model)
    assert stable.all()
    np.testing.assert_allclose(outputs, corners, atol=0.1)  # each corner is remembered
    distances = np.linalg.norm(states[:, None] - states[None], axis=-1)
    assert distances[np.triu_indices(4, 1)].min() > 1.0  # four distinct states
    x, y, mask = task.ood(2.0).generate(64, seed=1)  # longer trials and delays than in training
    out, _ = model.run(x)
    assert np.mean((out - y)[mask] ** 2) < 1e-2
