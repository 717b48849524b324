"""GaussianLoadings / MixtureLoadings against the law they describe (CLT bounds, exact
whitening)."""

import numpy as np
import pytest

from lowrank import GaussianLoadings, MixtureLoadings

COV = np.array([[1.0, 0.3, 2.0], [0.3, 2.0, -0.5], [2.0, -0.5, 5.0]])
MEAN = np.array([0.5, -1.0, 0.2])


def law():
    return GaussianLoadings(MEAN, COV, rank=1, n_inputs=1)


def test_blocks_follow_row_order():
    L = law()
    assert L.cov_mm[0, 0] == 1.0 and L.cov_nm[0, 0] == 0.3 and L.cov_mi[0, 0] == 2.0
    assert L.cov_ni[0, 0] == -0.5 and L.cov_ii[0, 0] == 5.0
    assert L.mean_m[0] == 0.5 and L.mean_n[0] == -1.0 and L.mean_inputs[0] == 0.2
    # E[n m] = Cov(n, m) + E[n] E[m]
    assert L.overlaps()[0, 0] == pytest.approx(0.3 + (-1.0) * 0.5)


def test_sample_moments_converge_within_clt_bounds():
    N = 200_000
    rows = law().sample(N, seed=3)
    mean_err = rows.mean(0) - MEAN
    assert np.all(np.abs(mean_err) < 5 * np.sqrt(np.diag(COV) / N))
    emp = np.cov(rows.T, bias=True)
    # Var of the sample covariance of Gaussians: (C_ii C_jj + C_ij^2) / N
    sd = np.sqrt((np.outer(np.diag(COV), np.diag(COV)) + COV**2) / N)
    assert np.all(np.abs(emp - COV) < 5 * sd)


def test_sample_overlap_error_shrinks_like_inverse_sqrt_n():
    L = GaussianLoadings([0, 0], [[1, 1.5], [1.5, 4]], rank=1)
    errors = []
    for N in (1_000, 100_000):
        draws = [L.sample(N, seed=s) for s in range(20)]
        errors.append(np.sqrt(np.mean([(d[:, 1] @ d[:, 0] / N - 1.5) ** 2 for d in draws])))
    # expected rms error sqrt((var_m var_n + cov^2) / N); ratio of the two N is 10
    assert errors[0] / errors[1] == pytest.approx(10, rel=0.5)
    assert errors[0] == pytest.approx(np.sqrt((4 + 1.5**2) / 1_000), rel=0.4)


def test_whitened_sample_matches_law_exactly():
    rows = law().sample(500, seed=1, whiten=True)
    np.testing.assert_allclose(rows.mean(0), MEAN, atol=1e-12)
    np.testing.assert_allclose(np.cov(rows.T, bias=True), COV, atol=1e-11)


def test_whitening_singular_covariance():
    # m = n exactly (rank-deficient covariance): the sample must keep m == n
    L = GaussianLoadings([0, 0], [[1, 1], [1, 1]], rank=1)
    rows = L.sample(100, seed=0, whiten=True)
    np.testing.assert_allclose(rows[:, 0], rows[:, 1], atol=1e-12)
    assert rows[:, 0] @ rows[:, 1] / 100 == pytest.approx(1.0, abs=1e-12)


def test_same_seed_same_sample():
    assert np.array_equal(law().sample(50, seed=7), law().sample(50, seed=7))
    assert not np.array_equal(law().sample(50, seed=7), law().sample(50, seed=8))


def test_fit_recovers_moments():
    rows = law().sample(100_000, seed=2)
    fitted = GaussianLoadings.fit(rows, rank=1, n_inputs=1)
    np.testing.assert_allclose(fitted.mean, rows.mean(0))
    np.testing.assert_allclose(fitted.cov, COV, atol=0.06)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(mean=[0, 0], cov=[[1, 2], [2, 1]], rank=1), ValueError, "positive semi-definite"),
        (dict(mean=[0, 0], cov=[[1, 0.5], [0.2, 1]], rank=1), ValueError, "symmetric"),
        (dict(mean=[0, 0, 0], cov=np.eye(2), rank=1), ValueError, "mean must have shape"),
        (dict(mean=[0, 0], cov=np.eye(3), rank=1), ValueError, "cov must have shape"),
        (dict(mean=[0, np.nan], cov=np.eye(2), rank=1), ValueError, "finite"),
        (dict(mean=[0, 0], cov=np.eye(2), rank=0), ValueError, "rank must be >= 1"),
        (dict(mean=[0, 0], cov=np.eye(2), rank=1.0), TypeError, "rank must be an integer"),
        (dict(mean="ab", cov=np.eye(2), rank=1), TypeError, "mean must be an array"),
    ],
)
def test_bad_gaussian_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        GaussianLoadings(**kwargs)


def two_populations():
    a = GaussianLoadings([3, 3], [[1, 0.5], [0.5, 1]], rank=1)
    b = GaussianLoadings([-3, 0], [[0.5, -0.2], [-0.2, 1]], rank=1)
    return MixtureLoadings([a, b], [0.25, 0.75])


def test_mixture_overlaps_are_population_averages():
    mix = two_populations()
    # by hand: 0.25 * (0.5 + 3*3) + 0.75 * (-0.2 + 0*(-3))
    assert mix.overlaps()[0, 0] == pytest.approx(0.25 * 9.5 + 0.75 * -0.2)


def test_mixture_whitened_sample_has_exact_population_statistics():
    mix = two_populations()
    rows, labels = mix.sample(1001, seed=4, whiten=True, return_labels=True)
    assert list(np.bincount(labels)) == [250, 751]
    for p, comp in enumerate(mix.components):
        block = rows[labels == p]
        np.testing.assert_allclose(block.mean(0), comp.mean, atol=1e-12)
        np.testing.assert_allclose(np.cov(block.T, bias=True), comp.cov, atol=1e-11)


def test_mixture_fit_recovers_two_populations():
    mix = two_populations()
    rows = mix.sample(4000, seed=5)
    fitted = MixtureLoadings.fit(rows, rank=1, seed=0)
    assert fitted.n_populations == 2
    order = np.argsort([c.mean[0] for c in fitted.components])[::-1]
    np.testing.assert_allclose(fitted.weights[order], [0.25, 0.75], atol=0.03)
    for p, q in enumerate(order):
        np.testing.assert_allclose(fitted.components[q].mean, mix.components[p].mean, atol=0.1)
        np.testing.assert_allclose(fitted.components[q].cov, mix.components[p].cov, atol=0.15)


def test_mixture_bad_input():
    a = GaussianLoadings([0, 0], np.eye(2), rank=1)
    b = GaussianLoadings(np.zeros(4), np.eye(4), rank=2)
    with pytest.raises(ValueError, match="weights must sum to 1"):
        MixtureLoadings([a, a], [0.5, 0.6])
    with pytest.raises(ValueError, match="components\\[1\\] has rank 2"):
        MixtureLoadings([a, b], [0.5, 0.5])
    with pytest.raises(TypeError, match="components\\[0\\] must be a GaussianLoadings"):
        MixtureLoadings([np.eye(2)], [1.0])
    with pytest.raises(ValueError, match="weights must be positive"):
        MixtureLoadings([a, a], [1.5, -0.5])


def test_tied_mixture_fit_shares_one_covariance():
    shared = np.array([[1.0, 0.4], [0.4, 1.0]])
    mix = MixtureLoadings(
        [GaussianLoadings([4, 0], shared, 1), GaussianLoadings([-4, 0], shared, 1)], [0.5, 0.5]
    )
    rows = mix.sample(3000, seed=1)
    fitted = MixtureLoadings.fit(rows, rank=1, covariance_type="tied", seed=0)
    assert fitted.n_populations == 2
    np.testing.assert_array_equal(fitted.components[0].cov, fitted.components[1].cov)
    np.testing.assert_allclose(fitted.components[0].cov, shared, atol=0.1)
    np.testing.assert_allclose(sorted(c.mean[0] for c in fitted.components), [-4, 4], atol=0.1)
    best = MixtureLoadings.fit(rows, rank=1, covariance_type="best", seed=0)
    assert best.n_populations == 2
    with pytest.raises(ValueError, match="unknown covariance_type"):
        MixtureLoadings.fit(rows, rank=1, covariance_type="spherical")
