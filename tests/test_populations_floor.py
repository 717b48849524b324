"""Mixture fits that stay testable by resampling at small N (a floor on the population size),
checked against planted populations (known labels and attractor count, brute-force simulation)
and brute-force enumeration of the constrained assignment."""

import itertools
import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score
from test_populations import simulated_attractors, tristable_law

from lowrank import ConvergenceWarning, GaussianLoadings, LowRankNetwork, MixtureLoadings
from lowrank.populations import _assign, choose_populations, floored_mixture

K_EXTRA = 5  # unused input columns (input 0): dimension 2R + K = 4 + 1 + 5 = 10
U = np.r_[1.0, np.zeros(K_EXTRA)]


def heavy_tailed_rows(seed=0, df=1.5):
    """N = 120 rows of the 9-attractor tristable network (4 populations of 30, rank 2, a bias
    column; ``test_populations.tristable_law``) with 5 more input columns whose input is 0 and
    whose weights are Student-t (df = 1.5): they change nothing in the dynamics, but their heavy
    tails lure EM into populations of one or two neurons. Returns (rows, planted labels)."""
    rows, labels = tristable_law().sample(120, seed=seed, whiten=True, return_labels=True)
    extra = np.random.default_rng(seed).standard_t(df, (120, K_EXTRA))
    return np.concatenate([rows, extra], axis=1), labels


@pytest.fixture(scope="module")
def planted():
    return heavy_tailed_rows()


def test_constrained_assignment_is_exact_by_brute_force():
    rng = np.random.default_rng(0)
    every = np.array(list(itertools.product(range(3), repeat=9)))  # all 3^9 labellings
    sizes = np.stack([(every == k).sum(axis=1) for k in range(3)], axis=1).min(axis=1)
    for trial in range(20):
        cost = rng.exponential(1.0, (9, 3)) * rng.uniform(0.1, 3.0, 3)  # skewed towards a label
        min_size = 1 + trial % 3
        labels = _assign(cost.copy(), min_size)
        assert np.bincount(labels, minlength=3).min() >= min_size
        best = cost[np.arange(9), every[sizes >= min_size]].sum(axis=1).min()
        assert cost[np.arange(9), labels].sum() == pytest.approx(best, abs=1e-12)


def test_em_makes_tiny_populations_and_the_floor_recovers_the_planted_ones(planted):
    rows, labels = planted
    em = MixtureLoadings.fit(rows, 2, 1 + K_EXTRA, n_components=4, seed=0)
    assert em.population_sizes(120).min() <= rows.shape[1]  # untestable: cannot be whitened
    law = floored_mixture(rows, 2, 1 + K_EXTRA, 4, rows.shape[1] + 2, seed=0, start=em)
    assert adjusted_rand_score(labels, law.labels) == pytest.approx(1.0)
    np.testing.assert_array_equal(law.population_sizes(120), np.bincount(law.labels))
    assert law.fit_report.converged and np.isfinite(law.fit_report.bic)
    for p, part in enumerate(law.components):  # each population: its neurons' statistics
        block = rows[law.labels == p]
        np.testing.assert_allclose(part.mean, block.mean(axis=0), atol=1e-12)
        np.testing.assert_allclose(part.cov, np.cov(block.T, bias=True), atol=1e-12)


def test_the_floor_lets_the_resampling_test_find_the_planted_count(planted):
    rows, labels = planted
    net = LowRankNetwork(rows[:, :2], rows[:, 2:4], rows[:, 4:])
    ends, speed = simulated_attractors(net, U, n_trials=200, t_max=100.0)
    assert speed < 1e-4 and len(ends) == 9  # brute force, independent of the package's solvers
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        choice = choose_populations(
            rows, 2, 1 + K_EXTRA, observed_stable=len(ends), time="continuous", inputs=U,
            n_networks=3, large_N=None, seed=0,
        )
    assert choice.accepted and choice.n_populations == 4
    chosen = choice.evidence[-1]
    assert chosen["fit"] == "size-floored CEM" and chosen["covariance"] == "full"
    assert min(chosen["population_sizes"]) >= 12 == chosen["min_population_size"]
    assert chosen["resampled_stable"] == [9, 9, 9] and chosen["meanfield_stable"] == 9
    assert [e["accepted"] for e in choice.evidence] == [False, False, False, True]
    assert "P=4 (size-floored): [9, 9, 9] mf 9" in choice.summary()
    assert adjusted_rand_score(labels, choice.loadings.labels) == pytest.approx(1.0)
    # independent check of the accepted law: one of its whitened draws, simulated
    drawn = LowRankNetwork.sample(choice.loadings, 120, seed=7, whiten=True)
    ends, speed = simulated_attractors(drawn, U, n_trials=200, t_max=100.0)
    assert speed < 1e-4 and len(ends) == 9


@pytest.mark.parametrize("P", [3, 8])
def test_no_population_below_the_floor(planted, P):
    rows, _ = planted
    outliers = np.concatenate([rows[:117], rows[117:] + 50.0])  # a tight group of 3 far neurons
    for data in (rows, outliers):
        law = floored_mixture(data, 2, 1 + K_EXTRA, P, 12, seed=1, n_init=4)
        sizes = law.population_sizes(120)
        assert sizes.min() >= 12 and sizes.sum() == 120 and len(sizes) == P
        law.sample(120, seed=0, whiten=True)  # every population can be whitened


def test_tied_populations_share_the_pooled_covariance(planted):
    rows, _ = planted
    law = floored_mixture(rows, 2, 1 + K_EXTRA, 3, 12, covariance="tied", seed=0)
    pooled = sum(
        (rows[law.labels == p] - rows[law.labels == p].mean(axis=0)).T
        @ (rows[law.labels == p] - rows[law.labels == p].mean(axis=0))
        for p in range(3)
    ) / 120
    for part in law.components:
        np.testing.assert_allclose(part.cov, pooled, atol=1e-12)


def test_every_population_tried_is_floored_or_reported():
    """Whatever P is tried, no population the test draws is below the floor, and a P whose
    floor the rows cannot hold is reported ("too few neurons"), skipped when untestable."""
    law = GaussianLoadings([0.0, 0.0], [[1.0, 2.0], [2.0, 5.0]], rank=1)
    rows = np.concatenate([law.sample(9, seed=0, whiten=True), [[40, 40], [40.5, 39]]])
    with pytest.warns(ConvergenceWarning):
        choice = choose_populations(
            rows, 1, 0, observed_stable=9, time="discrete", max_populations=3, n_networks=1,
            large_N=None,
        )
    fits = [e["fit"] for e in choice.evidence]
    assert fits == ["gaussian", "size-floored CEM", "too few neurons"]  # 3 * 4 > 11 neurons
    assert min(choice.evidence[1]["population_sizes"]) >= 4
    assert min(choice.evidence[2]["population_sizes"]) <= 2
    assert "too small" in choice.evidence[2]["skipped"]


def test_bad_input(planted):
    rows, _ = planted
    with pytest.raises(ValueError, match="needs at least 132 rows"):
        floored_mixture(rows, 2, 1 + K_EXTRA, 11, 12)
    with pytest.raises(ValueError, match="unknown covariance"):
        floored_mixture(rows, 2, 1 + K_EXTRA, 2, 12, covariance="diag")
    with pytest.raises(ValueError, match="min_population_size must be >= 11"):
        choose_populations(rows, 2, 1 + K_EXTRA, observed_stable=9, time="continuous",
                           min_population_size=10)
    with pytest.raises(ValueError, match="floor_covariance"):
        choose_populations(rows, 2, 1 + K_EXTRA, observed_stable=9, time="continuous",
                           floor_covariance="diag")


def test_fallback_prefers_the_mean_field_nearest_the_count_among_equal_draws(monkeypatch):
    """No P passes: among the P whose draws agree equally often (here all, 1 of 4), the one whose
    mean field (the prediction) has the observed count is returned, not merely the smallest;
    with none, the one whose count is nearest (observed 7: mean fields 2, 5, 6 -> P = 3); with
    equal distances, one whose mean-field positions agree with the network's (the third case
    below: P = 3), then the smallest. The per-P test is replaced by hand-written evidence."""
    from lowrank import populations

    def evidence_of(counts, observed, agree):
        def fake(law, *args, **kwargs):
            P = len(getattr(law, "components", [law]))
            return {"resampled_stable": [2, 2, 2, 4], "large_N_stable": 2,
                    "meanfield_stable": counts[P - 1], "accuracy": None,
                    "agreement": 0.25, "complete": True, "resampled_accepted": False,
                    "meanfield_agrees": counts[P - 1] == observed, "accepted": False,
                    "meanfield_position_error": None if agree[P - 1] else 0.5,
                    "positions_agree": agree[P - 1]}
        return fake

    rows = GaussianLoadings.fit(
        np.random.default_rng(0).standard_normal((300, 3)), 1, 1
    ).sample(300, seed=1)
    every = (True, True, True)
    cases = [((2, 2, 4), 4, every, 3), ((2, 2, 2), 4, every, 1),
             ((2, 4, 4), 4, (True, False, True), 3),
             ((2, 4, 4), 4, (False, False, False), 2), ((2, 5, 6), 7, every, 3),
             ((2, 8, 6), 7, every, 2)]
    for counts, observed, agree, expected in cases:
        monkeypatch.setattr(populations, "_evaluate", evidence_of(counts, observed, agree))
        with pytest.warns(ConvergenceWarning, match="agreed best"):
            choice = choose_populations(rows, 1, 1, observed_stable=observed, time="discrete",
                                        max_populations=3, seed=0)
        assert choice.n_populations == expected and not choice.accepted
