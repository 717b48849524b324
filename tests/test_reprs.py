"""Small things a user notices: result types print as short summaries (not megabytes of arrays)
that name the key facts, and the training progress bar ends full when training stops early."""

import numpy as np
import pytest

import lowrank
from lowrank import RNN, GaussianLoadings, LowRankNetwork, MeanField, bifurcation_diagram, train
from lowrank import tasks as T
from lowrank import training as training_module
from lowrank.sweep import run_sweep, sweep_report

LIMIT = 2048


def test_training_run_repr_is_a_short_summary():
    model = RNN(1, 40, 1, rank=None, init="gaussian", gain=0.9, seed=3)
    with pytest.warns(lowrank.ConvergenceWarning):  # target_loss=0 is never reached
        run = train(
            model,
            T.flipflop(1, steps=40),
            target_loss=0.0,
            max_epochs=30,
            batch_size=4,
            batches=1,
            checkpoints="epoch",
            progress=False,
        )
    text = repr(run)
    assert len(text) < LIMIT
    assert "epochs=30/30" in text and "N=40" in text and "rank=full" in text
    assert "checkpoints=31" in text and "converged=False" in text and "PulseTask" in text
    assert f"-> {run.losses[-1]:.3g}" in text
    checkpoint = repr(run.checkpoints[-1])
    assert len(checkpoint) < LIMIT and "weight_rec(40, 40)" in checkpoint


class _Recorder:
    """Stands in for tqdm: builds the real bar and keeps it for inspection."""

    bars: list = []

    def __new__(cls, *args, **kwargs):
        bar = _REAL_TQDM(*args, **kwargs)
        cls.bars.append(bar)
        return bar


_REAL_TQDM = training_module.tqdm


@pytest.mark.parametrize("target, epochs", [(10.0, 1), (0.0, 3)])
def test_progress_bar_total_is_the_epochs_really_run(monkeypatch, target, epochs):
    monkeypatch.setattr(training_module, "tqdm", _Recorder)
    _Recorder.bars = []
    model = RNN(1, 16, 1, init="gaussian", gain=0.9, seed=3)
    with pytest.warns(lowrank.ConvergenceWarning) if target == 0.0 else _no_warning():
        run = train(
            model,
            T.flipflop(1, steps=20),
            target_loss=target,
            max_epochs=3 if target == 0.0 else 50,
            batch_size=4,
            batches=1,
            progress=True,
        )
    assert run.epochs == epochs
    (bar,) = _Recorder.bars
    assert bar.n == bar.total == epochs


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_trajectory_repr_is_a_short_summary():
    law = GaussianLoadings(mean=[0, 0], cov=[[1, 2], [2, 5]], rank=1)
    net = LowRankNetwork.sample(law, N=300, g=0.5, seed=0)
    x0 = np.random.default_rng(0).normal(size=(4, 300))
    trajectory = lowrank.simulate(net, x0, t_max=10, dt=0.1)
    text = repr(trajectory)
    assert len(text) < LIMIT
    assert "batch=4" in text and "N=300" in text and "R=1" in text
    assert f"T={len(trajectory.t)}" in text and "diverged=0/4" in text


def test_bifurcation_reprs_are_short_summaries():
    law = lambda s: GaussianLoadings([0, 0], [[1, s], [s, 1 + s * s]], rank=1)  # noqa: E731
    diagram = bifurcation_diagram(
        lambda s: MeanField(law(s)), "overlap", np.linspace(0.55, 1.45, 10)
    )
    text = repr(diagram)
    assert len(text) < LIMIT
    assert f"{len(diagram.branches)} branches" in text
    assert f"{len(diagram.events)} events" in text and "branch_point at 1" in text
    assert "unresolved=0" in text
    for branch in diagram.branches:
        summary = repr(branch)
        assert len(summary) < LIMIT and f"{len(branch.states)} samples" in summary
        counts = [int(np.sum(branch.stability == k)) for k in ("stable", "unstable", "marginal")]
        assert f"{counts[0]} stable, {counts[1]} unstable, {counts[2]} marginal" in summary
    event = repr(diagram.events[0])
    assert len(event) < LIMIT and "'branch_point'" in event and "parameter=1" in event


def test_sweep_results_and_report_reprs_are_short_summaries(tmp_path):
    spec = {
        "sweep": {"name": "squares", "job": "sweep_jobs:fail_on_two", "seeds": 3},
        "grid": {"x": [1, 2, 3]},
    }
    results = run_sweep(spec, tmp_path, progress=False)
    text = repr(results)
    assert len(text) < LIMIT
    assert "'squares'" in text and "9 tasks: 6 done, 3 failed, 0 not run" in text
    report = sweep_report(tmp_path)
    summary = repr(report)
    assert len(summary) < LIMIT and "3 groups" in summary and "6 tasks done, 3 failed" in summary
