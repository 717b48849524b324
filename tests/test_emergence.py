"""emergence: crossings and attractor counts against analytic cases and published results."""

import json

import numpy as np
import pytest

from lowrank import GaussianLoadings, LowRankNetwork, emergence, load_turner2023
from lowrank.training import Checkpoint, TrainingRun
from lowrank.turner2023 import data_dir, missing_data_message

DATA = data_dir()  # LOWRANK_DATA, else ../shared/data/turner2023 (README.md, Data)


def planted_run(overlaps, N=200):
    """A 'training run' whose rank-one checkpoints have sample overlap n.m/N = each value exactly."""
    points = []
    for k, overlap in enumerate(overlaps):
        law = GaussianLoadings([0, 0], [[1, overlap], [overlap, overlap**2 + 1]], rank=1)
        net = LowRankNetwork.sample(law, N, seed=1, whiten=True)
        weights = {"m": net.m, "n": net.n, "weight_in": np.zeros((N, 1)), "weight_out": np.zeros((1, N))}
        points.append(Checkpoint(k, 1.0 / (k + 1), weights))
    model = {"n_in": 1, "n_hidden": N, "n_out": 1, "rank": 1, "time": "discrete", "bias": False}
    return TrainingRun(np.zeros(0), points, {"model": model}, {})


def test_planted_pitchfork_crossing_and_counts():
    """Discrete time, rank one: the only nonzero eigenvalue of W is n.m/N; it leaves the unit circle
    between overlaps 0.8 and 1.4, and the map then has two stable fixed points (the pitchfork), both
    in the network and in its mean-field theory."""
    report = emergence(planted_run([0.5, 0.8, 1.4, 2.0]), populations=1, n_starts=32)
    assert report.crossings() == [2]
    table = report.table()
    assert [r["outliers"] for r in table] == [0, 0, 1, 1]
    assert [r["observed_stable"] for r in table] == [1, 1, 2, 2]
    assert [r["predicted_stable"] for r in table] == [1, 1, 2, 2]
    assert all(r["match"] for r in table)
    # predicted and observed attractors coincide up to the finite-N error of kappa (~1/sqrt(N))
    assert table[-1]["max_distance"] < 3 / np.sqrt(200)
    json.dumps(report.to_json())
    assert set(table[0]) >= {"checkpoint", "loss", "outliers", "predicted_stable", "observed_stable", "match"}


@pytest.mark.skipif(DATA is None, reason=missing_data_message())
@pytest.mark.parametrize("run_name, published", [("i100", [5, 20]), ("i101", [5, 25])])
def test_turner2023_rank_two_crossings_and_final_attractors(run_name, published):
    """Turner & Barak (2023): the eigenvalues of n^T m leave the unit circle at checkpoints 5 and 20
    (i100) and 5 and 25 (i101); the trained 2-bit flip-flop ends with 4 stable states, which a
    four-population mean-field theory of its loadings predicts (a single Gaussian population holds at
    most two stable states in rank two: Beiran et al. 2021)."""
    run = load_turner2023(DATA / f"checkpoints_flipflopparallel_2bits_200_rank2_100_{run_name}.npz")
    report = emergence(run, checkpoints=[len(run.checkpoints) - 1], populations=4, n_starts=48)
    assert report.crossings() == published
    final = report.table()[-1]
    assert final["observed_stable"] == 4
    assert final["predicted_stable"] == final["observed_stable"]


def test_report_plot(tmp_path):
    report = emergence(planted_run([0.5, 2.0]), populations=1, n_starts=16)
    fig = report.plot(portraits=2)
    assert len(fig.axes) == 4
    assert len(report.format_table().splitlines()) == 1 + len(report.analyses)


def test_bad_input():
    with pytest.raises(TypeError, match="run must be a TrainingRun"):
        emergence([1, 2, 3])
    run = planted_run([0.5])
    with pytest.raises(ValueError, match="populations must be >= 1"):
        emergence(run, populations=0)
    with pytest.raises(ValueError, match="checkpoints\\[0\\] must be <= 0"):
        emergence(run, checkpoints=[3])
