"""project / choose_rank on planted low-rank + bulk matrices."""

import numpy as np
import pytest
from scipy.linalg import subspace_angles

from lowrank import ConvergenceWarning, GaussianLoadings, LowRankNetwork
from lowrank.projection import choose_rank, project


def planted(N=300, g=0.3, seed=0):
    cov = np.eye(4)
    cov[2, 0] = cov[0, 2] = 0.8
    cov[3, 1] = cov[1, 3] = 1.6
    cov[2, 2], cov[3, 3] = 1 + 0.8**2, 1 + 1.6**2
    return LowRankNetwork.sample(GaussianLoadings(np.zeros(4), cov, rank=2), N, g=g, seed=seed)


def test_with_reference_the_low_rank_part_is_recovered_exactly():
    net = planted()
    W0 = net.g * net.chi
    proj = project(net.dense(), rank=2, reference=W0, mixture=False)
    planted_part = net.m @ net.n.T / net.N
    np.testing.assert_allclose(proj.network.m @ proj.network.n.T / net.N, planted_part, atol=1e-12)
    np.testing.assert_allclose(proj.network.dense(), net.dense(), atol=1e-12)  # bulk kept as g chi
    assert proj.network.g == pytest.approx(np.sqrt(net.N) * W0.std())
    assert proj.energy == pytest.approx(1.0, abs=1e-12)


def test_without_reference_the_structured_subspace_is_found():
    """Spiked-matrix theory (Benaych-Georges & Nadakuditi 2012, square case): a signal singular
    value theta in noise with entries of variance g^2 / N leaves the singular vectors at
    cos^2 = (1 - g^4 / theta^4) / (1 + g^2 / theta^2) from the planted ones."""
    net = planted(N=1000, g=0.3)
    proj = project(net.dense(), rank=2, mixture=False)
    # nonzero singular values of m n^T / N: square roots of the eigenvalues of (m^T m)(n^T n) / N^2
    theta = np.sqrt(np.linalg.eigvals(net.m.T @ net.m @ net.n.T @ net.n).real) / net.N
    ratio = (net.g / theta) ** 2
    predicted = np.sort(np.arccos(np.sqrt((1 - ratio**2) / (1 + ratio))))
    for ours, planted_vectors in ((proj.network.m, net.m), (proj.network.n, net.n)):
        angles = np.sort(subspace_angles(ours, planted_vectors))
        np.testing.assert_allclose(angles, predicted, atol=0.05)


def test_fitted_gaussian_overlaps_have_the_eigenvalues_of_the_projection():
    """E[n m] of the ML Gaussian is n^T m / N, whose eigenvalues are the nonzero eigenvalues of the
    rank-R matrix m n^T / N (invariant under the R x R mixing of m and n)."""
    net = planted()
    proj = project(net.dense(), rank=2, reference=net.g * net.chi, mixture=False)
    ours = np.sort_complex(np.linalg.eigvals(proj.loadings.overlaps()))
    truth = np.sort_complex(np.linalg.eigvals(net.n.T @ net.m / net.N))
    np.testing.assert_allclose(ours, truth, atol=1e-10)


def test_energy_of_an_isotropic_matrix_is_rank_over_n():
    assert project(np.eye(10), rank=3, mixture=False).energy == pytest.approx(0.3)


def test_choose_rank_finds_the_gap():
    assert choose_rank([10, 9, 8, 1.0, 0.9, 0.8, 0.7, 0.6]) == 3
    net = planted(N=400, g=0.2)
    assert project(net.dense(), mixture=False).rank == 2


def test_mixture_is_chosen_for_two_populations():
    rng = np.random.default_rng(0)
    N = 400
    labels = np.arange(N) < N // 2
    m = np.where(labels, 3.0, -3.0)[:, None] + 0.3 * rng.standard_normal((N, 1))
    n = np.where(labels, 1.0, 2.0)[:, None] + 0.3 * rng.standard_normal((N, 1))
    proj = project(m @ n.T / N, rank=1, populations="bic")
    assert proj.loadings.n_populations == 2


def test_bad_input():
    with pytest.raises(ValueError, match="weights must be square"):
        project(np.ones((3, 4)), rank=1)
    with pytest.raises(ValueError, match="rank must be <= 3"):
        project(np.eye(3), rank=4)
    with pytest.raises(ValueError, match="reference must have shape"):
        project(np.eye(3), rank=1, reference=np.eye(4))
    with pytest.raises(ValueError, match="unknown time"):
        project(np.eye(3), rank=1, time="both")
    with pytest.raises(ValueError, match="sorted in decreasing order"):
        choose_rank([1.0, 2.0, 3.0])


def pitchfork(N=200, seed=2):
    """Rank one, zero means, overlap 2 > 1: two stable points (a pitchfork), one population."""
    law = GaussianLoadings([0.0, 0.0], [[1.0, 2.0], [2.0, 5.0]], rank=1)
    return LowRankNetwork.sample(law, N, seed=seed, whiten=True)


def test_populations_are_chosen_by_resampling_by_default():
    net = pitchfork()
    proj = project(net.dense(), rank=1, time="continuous", resample={"large_N": None})
    choice = proj.populations
    assert choice.method == "resample" and choice.accepted
    # the network's own attractors, counted by find_fixed_points on W: the pitchfork's two
    assert choice.observed_stable == 2 and choice.n_populations == 1
    assert proj.loadings is choice.loadings
    # a count given by the caller is used as given (no P reproduces 7 attractors)
    with pytest.warns(ConvergenceWarning, match="7 observed"):
        other = project(net.dense(), rank=1, time="continuous", observed_stable=7,
                        resample={"large_N": None, "max_populations": 1, "n_networks": 1})
    assert not other.populations.accepted


def test_mixture_flag_and_fixed_populations():
    net = pitchfork()
    one = project(net.dense(), rank=1, mixture=False)
    assert one.populations.method == "fixed" and one.loadings.n_populations == 1
    two = project(net.dense(), rank=1, populations=2, seed=0)
    assert two.populations.method == "fixed" and two.loadings.n_populations == 2
    with pytest.raises(ValueError, match="mixture=False fits one Gaussian"):
        project(net.dense(), rank=1, mixture=False, populations=3)
    with pytest.raises(ValueError, match="unknown populations 'aic'"):
        project(net.dense(), rank=1, populations="aic")
    with pytest.raises(ValueError, match="apply to populations='resample', not 'bic'"):
        project(net.dense(), rank=1, populations="bic", observed_stable=2)
    with pytest.raises(ValueError, match="observed_stable must be >= 0"):
        project(net.dense(), rank=1, observed_stable=-1)


def test_bias_joins_the_loadings_as_an_input_held_at_one():
    net = pitchfork(N=100)
    bias = np.linspace(-0.1, 0.1, 100)
    proj = project(net.dense(), rank=1, bias=bias, inputs=np.ones((100, 1)), populations=1)
    assert proj.bias_input and proj.loadings.n_inputs == 2
    np.testing.assert_array_equal(proj.drive([0.5]), [0.5, 1.0])
    assert proj.loadings.mean[-1] == pytest.approx(bias.mean(), abs=1e-15)
