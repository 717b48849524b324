"""emergence on full-rank networks: the bulk of W0 kept, outliers counted beyond the bulk, and the
agreement measures (relative position error, summary) against hand-made and planted ground truth.

Planted network: W0 = g chi (chi_ij ~ N(0, 1/N)) and W = W0 + m n^T / N with known m, n. The
circular law puts the eigenvalues of W0 in the disk of radius g, and a low-rank perturbation
adds outliers at the nonzero eigenvalues of n^T m / N (Tao 2013, Probab. Theory Relat. Fields
155:231) when they exceed g; the bulk strength is read back as sqrt(N) std(W0).
"""

import numpy as np
import pytest

from lowrank import emergence
from lowrank.emergence_checkpoint import (
    KAPPA_FLOOR,
    CheckpointAnalysis,
    Prediction,
    relative_errors,
)
from lowrank.emergence_factors import bulk_edge
from lowrank.emergence_report import EmergenceReport

N = 300
G = 0.5


def planted(eigenvalues, g=G, seed=3):
    """W0 = g chi and W = W0 + m n^T / N whose overlap n^T m / N has exactly ``eigenvalues``
    (orthonormalised m, n = m diag(eigenvalues) scaled so that m^T m / N = 1)."""
    rng = np.random.default_rng(seed)
    R = len(eigenvalues)
    q, _ = np.linalg.qr(rng.standard_normal((N, R)))
    m = np.sqrt(N) * q  # m^T m / N = identity
    n = m * np.asarray(eigenvalues, float)  # n^T m / N = diag(eigenvalues)
    W0 = g * rng.standard_normal((N, N)) / np.sqrt(N)
    return W0, W0 + m @ n.T / N, m, n


def checkpoints(W0, W):
    zeros = {"weight_in": np.zeros((N, 1)), "bias": np.zeros(N)}
    return [(0, {"weight_rec": W0, **zeros}), (1, {"weight_rec": W, **zeros})]


def test_bulk_strength_and_outliers_beyond_the_bulk():
    """g is read back to its sampling error (relative sd 1 / (N sqrt 2) of a standard deviation
    of N^2 entries); the planted 1.6 and 0.8 both leave the bulk (edge g + 4 g / sqrt(N) = 0.62),
    only 1.6 leaves the unit circle, and W0 itself has nothing outside its bulk."""
    W0, W, _, _ = planted([1.6, 0.8])
    g, edge = bulk_edge(W0)
    assert abs(g - G) < 4 * G / (N * np.sqrt(2)) + 1e-12
    assert edge == pytest.approx(g * (1 + 4 / np.sqrt(N)))
    report = emergence(checkpoints(W0, W), rank=2, populations=1, time="discrete",
                       n_starts=16, finite_size=None)
    assert report.g == pytest.approx(g) and report.bulk_edge == pytest.approx(edge)
    assert report.outlier_counts_bulk() == [0, 2]
    assert report.outlier_counts() == [0, 1]
    assert report.crossings_bulk() == [1, 1] and report.crossings() == [1]
    last = report.analyses[-1]
    # the outliers sit at the planted eigenvalues up to the finite-N error (~ g / sqrt(N))
    found = np.sort(np.abs(last.outliers_bulk))
    np.testing.assert_allclose(found, [0.8, 1.6], atol=3 * G / np.sqrt(N))
    # W0 known: all three predictions, the resolvent the main one by default
    assert last.prediction == "resolvent"
    assert set(last.predictions) == {"bulk", "truncated", "resolvent"}
    assert last.predictions["bulk"].g == pytest.approx(g)
    assert last.predictions["truncated"].g == 0.0


def test_bulk_prediction_recovers_the_planted_structure():
    """The low-rank part of W - W0 is the planted m n^T / N exactly: the fitted law's overlap
    matrix has the planted eigenvalues (to the fit's round-off)."""
    W0, W, _, _ = planted([1.6, 0.8])
    report = emergence(checkpoints(W0, W), rank=2, populations=1, time="discrete",
                       checkpoints=[1], n_starts=16, finite_size=None)
    law = report.analyses[0].predictions["bulk"].loadings
    # Cov(n, m): its eigenvalues are those of n^T m / N (near-zero means), whatever the mixing
    # m -> m A, n -> n A^-T of the factorisation
    eigenvalues = np.sort(np.linalg.eigvals(law.cov_nm).real)
    np.testing.assert_allclose(eigenvalues, [0.8, 1.6], atol=0.02)


def test_relative_position_error_on_a_hand_made_case():
    """Pairs by optimal assignment (not by order); error |d| / |kappa_obs|; a pair at the origin
    has a distance but no relative error."""
    predicted = np.array([[-1.0, 0.0], [0.0, 0.01], [1.1, 0.0]])
    observed = np.array([[1.0, 0.0], [-0.8, 0.0], [0.0, 0.0]])
    distances, errors = relative_errors(predicted, observed)
    np.testing.assert_allclose(np.sort(distances), [0.01, 0.1, 0.2])
    np.testing.assert_allclose(np.sort(errors), [0.1, 0.25])  # 0.1 / 1.0 and 0.2 / 0.8
    assert KAPPA_FLOOR > 0.0
    assert relative_errors(predicted, np.zeros((0, 2)))[0].size == 0


def _analysis(checkpoint, predicted, observed, errors):
    main = Prediction("own", np.zeros((predicted, 1)), np.ones(predicted, bool),
                      np.zeros(predicted, bool), predicted,
                      relative_errors=np.asarray(errors, float),
                      distances=np.asarray(errors, float))
    return CheckpointAnalysis(
        checkpoint, 10 * checkpoint, 0.1, np.zeros(1, complex), np.zeros(0, complex),
        {"own": main}, "own", np.ones(observed, bool), observed, rank=1,
    )


def test_summary_on_a_hand_made_report():
    """Counts agree at checkpoints 0 and 2 of 3; the per-checkpoint median errors are 10%, 30%
    (median of 0.2 and 0.4) and none: their median is 20%."""
    report = EmergenceReport(
        [_analysis(0, 1, 1, [0.1]), _analysis(1, 2, 4, [0.2, 0.4]), _analysis(2, 4, 4, [])],
        "discrete", 1, [np.zeros(1)] * 3, [0, 10, 20],
    )
    assert report.summary().startswith(
        "counts match at 2 of 3 checkpoints; median position error 20% ("
    )
    assert "the model's own m, n, rank 1, P = 1" in report.summary()
    assert [r["match"] for r in report.table()] == [True, False, True]
    assert len(repr(report)) < 2000


def test_bulk_prediction_where_its_bulk_is_independent():
    """When the bulk is independent of m, n (as the theory assumes), the prediction with the
    bulk places the two attractors of a rank-one outlier at 1.3 (g = 0.8, N = 300) within the
    finite-N error of the network's fixed points (|kappa| fluctuates by ~ 1 / sqrt(N) ~ 6%; 20%
    allowed), while the truncated SVD of W, which drops the bulk, misses them by over 30%."""
    W0, W, _, _ = planted([1.3], g=0.8)
    report = emergence(checkpoints(W0, W), populations=1, time="discrete", checkpoints=[1],
                       n_starts=16, finite_size=None, prediction="bulk")
    last = report.analyses[0]
    bulk, truncated = last.predictions["bulk"], last.predictions["truncated"]
    assert last.observed_attractors == bulk.n_attractors == truncated.n_attractors == 2
    assert bulk.position_error < 0.2
    assert truncated.position_error > 0.3
    assert report.agreement("bulk")["median_position_error"] == pytest.approx(bulk.position_error)


def test_finite_size_check_against_the_rank_one_fixed_point():
    """A rank-one map h' = tanh(m n^T h / N) drawn at N = 2000 from zero-mean loadings with
    Var m = 1 and Cov(n, m) = 2 settles on two attractors +-kappa*, where (Stein's lemma)
    kappa* = 2 kappa* E[1 - tanh^2(kappa* z)], z ~ N(0, 1): solved here with scipy's brentq
    and quad; whitened loadings leave only the O(1/sqrt(N)) error of the sample average."""
    from scipy.integrate import quad
    from scipy.optimize import brentq
    from scipy.stats import norm

    from lowrank import GaussianLoadings
    from lowrank.emergence_checkpoint import finite_size_check

    def gain(k):
        return quad(lambda z: (1 - np.tanh(k * z) ** 2) * norm.pdf(z), -12, 12)[0]

    kappa = brentq(lambda k: 2 * gain(k) - 1, 0.1, 5)
    law = GaussianLoadings([0, 0], [[1, 2], [2, 5]], rank=1)
    found = finite_size_check(law, "discrete", N=2000, seed=0)
    assert found["stable"] == 2 and found["unsettled"] == 0
    np.testing.assert_allclose(np.sort(np.ravel(found["kappa"])), [-kappa, kappa],
                               rtol=3 / np.sqrt(2000))
