"""emergence: crossings and attractor counts against analytic cases and published results."""

import json
from dataclasses import replace

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from lowrank import GaussianLoadings, LowRankNetwork, emergence, load_turner2023, project
from lowrank.emergence_checkpoint import CheckpointAnalysis, Prediction
from lowrank.emergence_report import EmergenceReport
from lowrank.training import Checkpoint, TrainingRun
from lowrank.turner2023 import data_dir, missing_data_message

DATA = data_dir()  # LOWRANK_DATA, else ../shared/data/turner2023 (README.md, Data)


def planted_run(overlaps, N=200):
    """A 'training run' whose rank-one checkpoints have sample overlap n.m/N = each value
    exactly."""
    points = []
    for k, overlap in enumerate(overlaps):
        law = GaussianLoadings([0, 0], [[1, overlap], [overlap, overlap**2 + 1]], rank=1)
        net = LowRankNetwork.sample(law, N, seed=1, whiten=True)
        weights = {"m": net.m, "n": net.n, "weight_in": np.zeros((N, 1)),
                   "weight_out": np.zeros((1, N))}
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
    assert set(table[0]) >= {"checkpoint", "loss", "outliers", "predicted_stable",
                             "observed_stable", "match"}


@pytest.mark.skipif(DATA is None, reason=missing_data_message())
@pytest.mark.parametrize("run_name, published", [("i100", [5, 20]), ("i101", [5, 25])])
def test_turner2023_rank_two_crossings_and_final_attractors(run_name, published):
    """Turner & Barak (2023): the eigenvalues of n^T m leave the unit circle at checkpoints 5 and
    20 (i100) and 5 and 25 (i101); the trained 2-bit flip-flop ends with 4 stable states, which a
    four-population mean-field theory of its loadings predicts (a single Gaussian population holds
    at most two stable states in rank two: Beiran et al. 2021)."""
    run = load_turner2023(DATA / f"checkpoints_flipflopparallel_2bits_200_rank2_100_{run_name}.npz")
    report = emergence(run, checkpoints=[len(run.checkpoints) - 1], populations=4, n_starts=48)
    assert report.crossings() == published
    final = report.table()[-1]
    assert final["observed_stable"] == 4
    assert final["predicted_stable"] == final["observed_stable"]


def test_report_plot(tmp_path):
    """Counts and spectrum panels, and a kappa plane only for the checkpoint whose attractors are
    away from the origin (at overlap 0.5 the only attractor is kappa = 0: no degenerate panel)."""
    report = emergence(planted_run([0.5, 2.0]), populations=1, n_starts=16, finite_size=None)
    fig = report.plot(portraits=2)
    assert len(fig.axes) == 3
    assert fig.axes[2].get_title().startswith("epoch 1:")
    assert "rank 1" in fig._suptitle.get_text() and "P = 1" in fig._suptitle.get_text()
    assert len(report.format_table().splitlines()) == 1 + len(report.analyses)


def test_plot_marks_the_located_bifurcations():
    """Once ``bifurcations()`` has run, the counts panel marks the observed and the predicted
    epoch of the planted pitchfork (overlap 0.5 + 1.5 s: at s = 1/3, epoch 1/3 between the
    checkpoints at epochs 0 and 1) with a triangle each."""
    report = emergence(planted_run([0.5, 2.0]), populations=1, n_starts=16, finite_size=None)
    before = len(report.plot(portraits=0).axes[0].lines)
    events = report.bifurcations(tol=0.01)
    assert len(events) == 1
    ax = report.plot(portraits=0).axes[0]
    marks = {line.get_marker(): line.get_xdata()[0] for line in ax.lines[before:]
             if len(line.get_xdata())}
    assert marks["v"] == pytest.approx(events[0]["predicted_epoch"])
    assert marks["^"] == pytest.approx(events[0]["observed_epoch"])
    assert marks["^"] == pytest.approx(1 / 3, abs=0.02)


def test_bad_input():
    with pytest.raises(TypeError, match="run must be a TrainingRun"):
        emergence([1, 2, 3])
    run = planted_run([0.5])
    with pytest.raises(ValueError, match="populations must be >= 1"):
        emergence(run, populations=0)
    with pytest.raises(ValueError, match="checkpoints\\[0\\] must be <= 0"):
        emergence(run, checkpoints=[3])


def test_bifurcation_epoch_of_a_planted_pitchfork():
    """Between checkpoints of overlap 0.5 (epoch 0) and 1.4 (epoch 1) with one m and
    n = overlap m + e (whitened: m.m/N = e.e/N = 1, m.e = 0), the interpolated weights have
    overlap n.m/N = 0.5 + 0.9 s exactly: the network's
    only outlier eigenvalue crosses 1, and the mean field's origin loses stability in a pitchfork
    (Mastrogiuseppe & Ostojic 2018), both at s = 5/9, epoch 0.556; two attractors appear."""
    N = 200
    law = GaussianLoadings([0, 0], [[1, 0], [0, 1]], rank=1)
    base = LowRankNetwork.sample(law, N, seed=1, whiten=True)  # m, e: unit variance, uncorrelated
    points = [
        Checkpoint(k, 1.0, {"m": base.m, "n": overlap * base.m + base.n,
                            "weight_in": np.zeros((N, 1)), "weight_out": np.zeros((1, N))})
        for k, overlap in enumerate((0.5, 1.4))
    ]
    model = {"n_in": 1, "n_hidden": N, "n_out": 1, "rank": 1, "time": "discrete", "bias": False}
    run = TrainingRun(np.zeros(0), points, {"model": model}, {})
    report = emergence(run, populations=1, n_starts=16, finite_size=None)
    events = report.bifurcations(tol=0.01)
    assert len(events) == 1
    event = events[0]
    assert event["new_attractors"] == 1  # 1 -> 2 stable points
    assert event["predicted_epoch"] == pytest.approx(5 / 9, abs=0.01)
    assert event["observed_epoch"] == pytest.approx(5 / 9, abs=0.01)
    assert event["within_interval"]
    assert report.to_json()["bifurcations"] == events


def test_populations_chosen_by_resampling_by_default():
    """The planted loadings are one Gaussian population: the resampling test (the default)
    accepts P = 1, and the table says so with its evidence."""
    report = emergence(planted_run([2.0]), n_starts=16, finite_size=None)
    row = report.table()[0]
    assert row["population_method"] == "resample" and row["populations"] == 1
    assert row["populations_accepted"] and row["fit_converged"]  # two flags, two questions
    assert row["population_evidence"][0]["P"] == 1 and row["population_evidence"][0]["accepted"]
    assert row["observed_stable"] == row["predicted_stable"] == 2
    # every whitened draw has sample overlap exactly 2 > 1: two stable points each (pitchfork)
    assert row["resampled_stable"] == [2, 2, 2, 2]
    assert report.agreement()["resampled_draws"] == 0  # drawn only where the counts differ
    assert "P = 1 (chosen by resampling)" in report.summary()
    assert "networks drawn from the fitted law" not in report.summary()
    # as many draws as asked for, of the same law at the trained N = 200: all at overlap 2
    assert report.resampled_counts(0, n_networks=6) == [2] * 6
    assert report.resampled_counts(-1, n_networks=2) == [2, 2]
    with pytest.raises(ValueError, match="index"):
        report.resampled_counts(1)
    assert "1:2,2,2,2*" in report.format_table()


def _map_attractors(W, c, n, seed=0):
    """Brute force: iterate h' = tanh(W h + c) from 64 random states for 3000 steps and count the
    distinct end points (readout kappa = n^T h / N rounded to 1e-6)."""
    H = np.random.default_rng(seed).uniform(-1, 1, (64, W.shape[0]))
    with threadpool_limits(1):
        for _ in range(3000):
            H = np.tanh(H @ W.T + c)
    assert np.abs(np.tanh(H @ W.T + c) - H).max() < 1e-10
    return len(np.unique(np.round(H @ n / W.shape[0], 6), axis=0))


def test_law_is_the_marginal_of_m_n_bias_and_attractors_are_at_zero_input():
    """Rank one, overlap 2 (a pitchfork), a small bias and input weights I = 2 m. At zero input
    the map has two stable points (the imperfect pitchfork); driven by u = 1 the input tilts it
    to one (y - 2 = <n tanh(m y)> has one root as |<n tanh(m y)>| <= 2 <|m|> < 2). The
    prediction fits the rows (m, n, bias) that the attractors at rest depend on, counts at
    u = (1,) (the bias column held at 1): 2; its Gaussian law is the (m, n, bias) marginal of
    the law ``project`` fits to all rows (m, n, I, bias)."""
    N = 200
    law = GaussianLoadings([0, 0], [[1, 2], [2, 5]], rank=1)
    net = LowRankNetwork.sample(law, N, seed=1, whiten=True)
    bias = 0.02 * np.random.default_rng(2).standard_normal(N)
    W_in = 2.0 * net.m
    W = net.m @ net.n.T / N
    assert _map_attractors(W, bias, net.n) == 2
    assert _map_attractors(W, bias + W_in[:, 0], net.n) == 1  # u = 1 would predict one
    weights = {"m": net.m, "n": net.n, "weight_in": W_in, "bias": bias,
               "weight_out": np.zeros((1, N))}
    model = {"n_in": 1, "n_hidden": N, "n_out": 1, "rank": 1, "time": "discrete", "bias": True}
    run = TrainingRun(np.zeros(0), [Checkpoint(0, 1.0, weights)], {"model": model}, {})
    report = emergence(run, populations=1, n_starts=16, finite_size=None)
    row = report.table()[0]
    assert row["observed_stable"] == row["predicted_stable"] == 2
    law_fit = report.analyses[0].main.loadings
    same = project(W, rank=1, inputs=W_in, bias=bias, populations=1).loadings
    assert law_fit.n_inputs == 1  # the bias only
    assert same.n_inputs == 2  # the input weights, then the bias
    rows = np.column_stack([net.m, net.n, bias])
    np.testing.assert_allclose(law_fit.mean, rows.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(law_fit.cov, np.cov(rows.T, bias=True), atol=1e-10)


def _analysis(epoch, predicted, observed, P, draws):
    """A checkpoint whose main prediction has ``predicted`` attractors with P chosen by
    resampling, the chosen P's draws at the trained size having the counts ``draws``."""
    evidence = [{"P": p, "resampled_stable": list(draws) if p == P else [0, 0]}
                for p in range(1, P + 1)]
    main = Prediction("own", np.zeros((0, 1)), np.zeros(0, bool), np.zeros(0, bool), predicted,
                      populations=P, population_method="resample",
                      population_evidence=evidence)
    return CheckpointAnalysis(epoch, epoch, 0.0, np.zeros(0), np.zeros(0), {"own": main}, "own",
                              np.zeros(0, bool), observed)


def test_where_counts_differ_the_laws_own_draws_are_counted():
    """Hand-written checkpoints: counts differ at two (network 4 vs mean field 2, its law's draws
    [2, 4, 4, 2]; network 0 vs 2, draws [2, 2, 2, 2]) and agree at one (its draws are not
    counted); a P given by hand has no draws. 2 of the 8 draws where the counts differ have the
    network's count."""
    analyses = [_analysis(0, 1, 1, 1, [1, 1, 1, 1]), _analysis(1, 2, 4, 3, [2, 4, 4, 2]),
                _analysis(2, 2, 0, 2, [2, 2, 2, 2])]
    report = EmergenceReport(analyses, "discrete", 1, [np.zeros(1)] * 3, [0, 1, 2])
    assert [r["resampled_stable"] for r in report.table()] == [[1, 1, 1, 1], [2, 4, 4, 2],
                                                               [2, 2, 2, 2]]
    agreement = report.agreement()
    assert (agreement["matches"], agreement["resampled_draws"],
            agreement["resampled_observed"]) == (1, 8, 2)
    assert ("where the counts differ, 2 of 8 networks drawn from the fitted law at the trained "
            "size have the observed count") in report.summary()
    given = replace(analyses[1].main, population_method="fixed", population_evidence=[])
    assert given.resampled_stable is None


def test_run_rank_is_the_largest_any_analysed_checkpoint_needs():
    """Checkpoint A: W = 3 x y^T / N + 2 z z^T / N (x, y, z independent Gaussian vectors, so
    y.x / N ~ 0): the pitchfork of z z^T (overlap 2) gives 2 stable points, but the leading
    singular direction is x y^T, whose rank-1 truncation has the origin alone (both counted by
    brute-force iteration of the map). Checkpoint B: 2 z z^T / N, rank 1, 2 points. The run's
    rank is 2 (A needs it), where the last checkpoint alone would give 1."""
    from lowrank.emergence_report import _run_rank

    N = 200
    x, y, z = np.random.default_rng(0).standard_normal((3, N))
    A = 3.0 * np.outer(x, y) / N + 2.0 * np.outer(z, z) / N
    B = 2.0 * np.outer(z, z) / N
    U, s, Vt = np.linalg.svd(A)
    assert s[0] > s[1] > 1e3 * s[2]  # rank 2, x y^T leading
    assert _map_attractors(A, 0.0, z) == 2 and _map_attractors(B, 0.0, z) == 2
    assert _map_attractors(s[0] * np.outer(U[:, 0], Vt[0]), 0.0, z) == 1
    rank, evidence, each = _run_rank([{"weight_rec": A}, {"weight_rec": B}], "discrete", None,
                                     "resolvent", n_starts=32, seed=0)
    assert (rank, each) == (2, [2, 1])
    assert evidence[0]["attractors"] == 2 and evidence[-1] == {**evidence[-1], "rank": 2,
                                                               "attractors": 2}
