"""LowRankNetwork: dense connectivity, spectra against random-matrix theory (docs/theory, section
theory-spectra)."""

import numpy as np
import pytest
from scipy.optimize import brentq

from lowrank import GaussianLoadings, LowRankNetwork


def test_dense_is_mn_over_n_plus_bulk():
    rng = np.random.default_rng(0)
    m, n, chi = (
        rng.standard_normal((30, 2)),
        rng.standard_normal((30, 2)),
        rng.standard_normal((30, 30)),
    )
    net = LowRankNetwork(m, n, g=0.7, chi=chi)
    J = sum(np.outer(m[:, r], n[:, r]) for r in range(2)) / 30 + 0.7 * chi
    np.testing.assert_allclose(net.dense(), J, atol=1e-14)
    np.testing.assert_allclose(
        net.overlaps(), [[n[:, r] @ m[:, s] / 30 for s in range(2)] for r in range(2)]
    )


def test_lowrank_eigenvalues_equal_brute_force():
    law = GaussianLoadings(
        np.zeros(4), np.eye(4) + 0.4 * np.eye(4, k=2) + 0.4 * np.eye(4, k=-2), rank=2
    )
    net = LowRankNetwork.sample(law, 40, seed=1)
    brute = np.linalg.eigvals(net.dense())
    brute = brute[np.argsort(-np.abs(brute))]
    np.testing.assert_allclose(net.eigenvalues()[:2], brute[:2], atol=1e-12)
    assert np.all(np.abs(brute[2:]) < 1e-12)
    assert len(net.outliers()) == 2


def test_outlier_solves_the_series_equation_and_is_near_the_overlap():
    """Outliers of g chi + m n^T / N solve 1 = sum_k theta_k / lambda^(k+1),
    theta_k = n^T (g chi)^k m / N (docs/theory, section theory-spectra); to first order
    lambda = m.n/N + theta_1/theta_0, with sd(theta_1) = g sqrt(|n|^2 |m|^2 / N^3)."""
    N, g = 2000, 0.5
    law = GaussianLoadings([1.2, 1.0], np.eye(2), rank=1)  # m, n independent, nonzero means
    for seed in range(2):
        net = LowRankNetwork.sample(law, N, g=g, seed=seed)
        outliers = net.outliers()
        assert len(outliers) == 1
        lam = outliers[0]
        theta, v = [], net.m[:, 0].copy()
        for _ in range(40):
            theta.append(net.n[:, 0] @ v / N)
            v = g * (net.chi @ v)
        series = brentq(
            lambda x, theta=theta: 1 - sum(t / x ** (k + 1) for k, t in enumerate(theta)), 0.8, 3.0
        )
        assert abs(lam.imag) < 1e-10
        assert lam.real == pytest.approx(series, abs=1e-8)
        overlap = net.overlaps()[0, 0]
        sd = g * np.sqrt((net.n[:, 0] @ net.n[:, 0]) * (net.m[:, 0] @ net.m[:, 0]) / N**3) / overlap
        assert abs(lam.real - overlap) < 4 * sd


def test_bulk_follows_the_circular_law():
    N, g = 1000, 0.8
    law = GaussianLoadings([0, 0], np.eye(2) * 1e-6, rank=1)  # negligible structure
    eig = LowRankNetwork.sample(law, N, g=g, seed=2).eigenvalues()
    radius = np.abs(eig)
    for r in (0.3, 0.6, 0.9):
        # uniform density on the disk: fraction inside r*g is r^2, binomial sd sqrt(p(1-p)/N)
        assert np.mean(radius < r * g) == pytest.approx(
            r**2, abs=4 * np.sqrt(r**2 * (1 - r**2) / N) + 0.01
        )
    assert radius.max() == pytest.approx(g, rel=0.06)


def test_changing_g_keeps_the_loadings():
    law = GaussianLoadings([0, 0], np.eye(2), rank=1)
    a = LowRankNetwork.sample(law, 50, g=0.0, seed=3)
    b = LowRankNetwork.sample(law, 50, g=1.0, seed=3)
    assert np.array_equal(a.m, b.m) and np.array_equal(a.n, b.n)
    assert a.chi is None and b.chi.shape == (50, 50)


def test_sample_reproducible():
    law = GaussianLoadings([0, 0], np.eye(2), rank=1)
    a, b = (LowRankNetwork.sample(law, 50, g=0.5, seed=9) for _ in range(2))
    assert np.array_equal(a.dense(), b.dense())


def test_bad_input():
    m = np.ones((5, 2))
    with pytest.raises(ValueError, match="rank R = 6 must not exceed"):
        LowRankNetwork(np.ones((5, 6)), np.ones((5, 6)))
    with pytest.raises(ValueError, match="n must have shape"):
        LowRankNetwork(m, np.ones((5, 3)))
    with pytest.raises(ValueError, match="chi .* is required when g > 0"):
        LowRankNetwork(m, m, g=1.0)
    with pytest.raises(ValueError, match="g must be >= 0"):
        LowRankNetwork(m, m, g=-1.0, chi=np.eye(5))
    with pytest.raises(ValueError, match="finite"):
        LowRankNetwork(m * np.inf, m)
    with pytest.raises(ValueError, match="inputs must have shape"):
        LowRankNetwork(m, m, inputs=np.ones((4, 1)))
    law = GaussianLoadings(np.zeros(6), np.eye(6), rank=3)
    with pytest.raises(ValueError, match="must not exceed the number of neurons"):
        LowRankNetwork.sample(law, 2)
    with pytest.raises(TypeError, match="loadings must be"):
        LowRankNetwork.sample(np.eye(2), 10)
