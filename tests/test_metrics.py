"""lowrank.metrics against analytic results, brute force and planted examples."""

import importlib.util
import itertools

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import ortho_group

from lowrank import LowRankNetwork
from lowrank.metrics import (
    dmd_matrix,
    dsa_distance,
    f_factor,
    orthogonal_similarity,
    pairwise_dsa,
    permutation_invariant_distance,
    separability,
    shared_attractors,
    unstable_eigenvalue_count,
)


def rotation(theta):
    return np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])


def linear_trajectory(A, x0, T, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    X = np.empty((T, len(x0)))
    X[0] = x0
    for t in range(1, T):
        X[t] = A @ X[t - 1] + noise * rng.standard_normal(len(x0))
    return X


# --- Procrustes over O(n) -------------------------------------------------------------------------


def test_procrustes_rotation_against_symmetric_matrix_is_analytic():
    """For symmetric D, tr(R^T C D C^T) = cos(theta) tr(D) for every orthogonal C (the skew part
    of R is orthogonal to every symmetric matrix): the angular score is
    arccos(cos(theta) tr D / (|R||D|))."""
    theta, D = 0.8, np.diag([0.9, 0.6])
    result = orthogonal_similarity(rotation(theta), D)
    expected = np.arccos(np.cos(theta) * np.trace(D) / (np.sqrt(2) * np.linalg.norm(D)))
    assert result.converged
    assert result.angular == pytest.approx(expected, abs=1e-10)
    assert result.euclidean == pytest.approx(np.sqrt(2 - 2 * np.cos(expected)), abs=1e-10)


def test_procrustes_matches_grid_search_over_o2():
    """O(2) = rotations R(phi) and reflections R(phi) diag(1, -1): a fine grid is brute force."""
    rng = np.random.default_rng(3)
    phis = np.linspace(0, 2 * np.pi, 20001)
    for _ in range(3):
        A, B = rng.standard_normal((2, 2)), rng.standard_normal((2, 2))
        a, b = A / np.linalg.norm(A), B / np.linalg.norm(B)
        R = np.moveaxis(rotation(phis), 2, 0)  # (phis, 2, 2)
        best = max(
            np.einsum("ij,kij->k", a, C @ b @ np.swapaxes(C, 1, 2)).max()
            for C in (R, R @ np.diag([1.0, -1.0]))
        )
        result = orthogonal_similarity(A, B)
        assert result.angular == pytest.approx(np.arccos(best), abs=1e-6)


@pytest.mark.parametrize("n", [3, 4, 7])
@pytest.mark.parametrize("det", [1, -1])
def test_procrustes_finds_planted_orthogonal_similarity_on_both_components(n, det):
    rng = np.random.default_rng(n)
    B = rng.standard_normal((n, n))
    Q = ortho_group.rvs(n, random_state=n)
    if np.sign(np.linalg.det(Q)) != det:
        Q[:, 0] *= -1
    result = orthogonal_similarity(Q @ B @ Q.T, B)
    assert result.euclidean < 1e-6
    np.testing.assert_allclose(result.C @ B @ result.C.T, Q @ B @ Q.T, atol=1e-6)


def test_procrustes_rejects_bad_input():
    with pytest.raises(ValueError, match="A and B"):
        orthogonal_similarity(np.eye(2), np.eye(3))
    with pytest.raises(ValueError, match="nonzero"):
        orthogonal_similarity(np.zeros((2, 2)), np.eye(2))
    with pytest.raises(TypeError, match="n_starts"):
        orthogonal_similarity(np.eye(2), np.eye(2), n_starts=1.5)


# --- DMD and DSA ----------------------------------------------------------------------------------


def test_dmd_recovers_the_eigenvalues_of_a_linear_system():
    """Noise-free x_{t+1} = A x_t: the DMD matrix is similar to A (same eigenvalues)."""
    rng = np.random.default_rng(0)
    P = rng.standard_normal((3, 3))
    A = P @ np.diag([0.95, 0.7, -0.5]) @ np.linalg.inv(P)
    X = linear_trajectory(A, rng.standard_normal(3), 60)
    values = np.sort(np.linalg.eigvals(dmd_matrix(X, n_delays=1, rank=3)).real)
    np.testing.assert_allclose(values, [-0.5, 0.7, 0.95], atol=1e-9)


def test_havok_delay_embedding_recovers_a_rotation_from_one_observable():
    """One coordinate of a rotation by theta, 2 delays: the DMD eigenvalues are exp(+-i theta)."""
    theta = 0.3
    X = linear_trajectory(rotation(theta), np.array([1.0, 0.0]), 200)[:, :1]
    values = np.linalg.eigvals(dmd_matrix(X, n_delays=2, rank=2))
    np.testing.assert_allclose(np.sort(np.angle(values)), [-theta, theta], atol=1e-9)
    np.testing.assert_allclose(np.abs(values), 1.0, atol=1e-9)


def test_dsa_is_zero_for_an_orthogonally_transformed_copy():
    rng = np.random.default_rng(1)
    A = 0.97 * np.kron(np.eye(2), rotation(0.2))
    A[0, 2] = 0.1
    X = linear_trajectory(A, rng.standard_normal(4), 300, noise=0.05, seed=1)
    M = rng.standard_normal((4, 10))  # embed in 10 units
    Q = ortho_group.rvs(10, random_state=2)
    Q[:, 0] *= np.sign(np.linalg.det(Q))  # any orthogonal map, here a reflection
    Q[:, 0] *= -1
    d = dsa_distance(X @ M, X @ M @ Q, n_delays=3, rank=6, full_output=True)
    assert d.euclidean < 1e-6 and d.angular < 1e-3


def test_dsa_separates_rotation_from_decay():
    rng = np.random.default_rng(2)
    rot = linear_trajectory(0.99 * rotation(0.3), np.array([1.0, 0.0]), 300, noise=0.01, seed=3)
    decay = linear_trajectory(np.diag([0.98, 0.9]), np.array([1.0, 1.0]), 300, noise=0.01, seed=4)
    M = rng.standard_normal((2, 5))
    rot_copy = linear_trajectory(
        0.99 * rotation(0.3), np.array([0.0, 1.0]), 300, noise=0.01, seed=5
    )
    same = dsa_distance(
        rot @ M, rot_copy @ ortho_group.rvs(2, random_state=1) @ M, n_delays=2, rank=2
    )
    different = dsa_distance(rot @ M, decay @ M, n_delays=2, rank=2)
    # for orthonormal DMD bases it would be arccos(cos(0.3) tr D / (|R| |D|)) = 0.30 (see above)
    assert 0.2 < different < 0.35
    assert different > 20 * same


def test_pairwise_dsa_is_symmetric_and_matches_dsa_distance():
    rng = np.random.default_rng(4)
    trajs = [
        linear_trajectory(0.95 * rotation(th), rng.standard_normal(2), 100, noise=0.01, seed=k)
        for k, th in enumerate([0.1, 0.1, 0.5])
    ]
    D = pairwise_dsa(trajs, n_delays=2, rank=3)
    assert D.shape == (3, 3)
    np.testing.assert_array_equal(D, D.T)
    np.testing.assert_array_equal(np.diag(D), 0.0)
    assert D[0, 2] == pytest.approx(dsa_distance(trajs[0], trajs[2], n_delays=2, rank=3), abs=1e-12)
    assert D[0, 1] < D[0, 2]


def test_dsa_rejects_bad_input():
    X = np.zeros((50, 3)) + np.arange(50)[:, None]
    with pytest.raises(ValueError, match="rank"):
        dsa_distance(X, X, n_delays=2, rank=7)
    with pytest.raises(ValueError, match="n_delays"):
        dsa_distance(X[:3], X[:3], n_delays=5, rank=1)
    with pytest.raises(ValueError, match="score"):
        dsa_distance(X, X, n_delays=1, rank=1, score="cosine")
    with pytest.raises(TypeError, match="trajectories"):
        pairwise_dsa(np.zeros((2, 50, 3)), n_delays=1, rank=1)


@pytest.mark.skipif(
    importlib.util.find_spec("DSA") is None, reason="dsa-metric (module DSA) not installed"
)
def test_dsa_agrees_with_the_dsa_metric_package():
    """dsa-metric 2.0.2: same DMD matrices (up to its float32), same scores within 1e-2 where its
    Adam optimiser has converged (small rank, many iterations)."""
    import torch
    from DSA import DMD, SimilarityTransformDist

    torch.manual_seed(0)
    torch.set_num_threads(1)
    rng = np.random.default_rng(5)
    for k in range(2):
        X = linear_trajectory(
            0.97 * rotation(0.2 + 0.1 * k), rng.standard_normal(2), 200, noise=0.05, seed=k
        )
        Y = linear_trajectory(
            np.diag([0.95, 0.8 - 0.1 * k]), rng.standard_normal(2), 200, noise=0.05, seed=9
        )
        X, Y = X @ rng.standard_normal((2, 4)), Y @ rng.standard_normal((2, 4))
        models = []
        for Z in (X, Y):
            dmd = DMD(Z, n_delays=2, rank=3, lamb=0.0)
            dmd.fit()
            ours = dmd_matrix(Z, n_delays=2, rank=3)
            models.append(dmd.A_v)
            assert orthogonal_similarity(ours, dmd.A_v.numpy().astype(float)).euclidean < 1e-3
        theirs = SimilarityTransformDist(iters=1000, lr=0.01)
        theirs.fit(models[0].clone(), models[1].clone())
        ours = dsa_distance(X, Y, n_delays=2, rank=3, full_output=True)
        for score in ("angular", "euclidean"):
            assert getattr(ours, score) == pytest.approx(
                float(theirs.score(score_method=score)), abs=1e-2
            )


# --- permutation-invariant weight distance -------------------------------------------------------


def brute_force_distance(W1, W2):
    """min over explicit permutation matrices P of |W1 - P^T W2 P|_F / N^2."""
    N = len(W1)
    return (
        min(
            np.linalg.norm(W1 - P.T @ W2 @ P)
            for P in (np.eye(N)[list(p)] for p in itertools.permutations(range(N)))
        )
        / N**2
    )


@pytest.mark.parametrize("N", [2, 4, 6])
def test_permutation_distance_equals_brute_force(N):
    rng = np.random.default_rng(N)
    for _ in range(3):
        W1, W2 = rng.standard_normal((N, N)), rng.standard_normal((N, N))
        assert permutation_invariant_distance(W1, W2) == pytest.approx(
            brute_force_distance(W1, W2), rel=1e-12
        )


@pytest.mark.parametrize("N, method", [(6, "exact"), (60, "faq")])
def test_permutation_distance_is_zero_for_a_permuted_copy(N, method):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((N, N)) / np.sqrt(N)
    P = np.eye(N)[rng.permutation(N)]
    result = permutation_invariant_distance(W, P.T @ W @ P, method=method, full_output=True)
    assert result.distance == 0.0
    assert result.exact == (method == "exact")


def test_permutation_heuristic_is_an_upper_bound_close_to_the_exact_minimum():
    rng = np.random.default_rng(7)
    gaps = []
    for _ in range(4):
        W1, W2 = rng.standard_normal((7, 7)), rng.standard_normal((7, 7))
        exact = permutation_invariant_distance(W1, W2, method="exact")
        faq = permutation_invariant_distance(W1, W2, method="faq")
        assert faq >= exact - 1e-15
        gaps.append(faq / exact - 1)
    assert np.median(gaps) < 0.05


def test_permutation_distance_of_a_noisy_permuted_copy_is_the_noise():
    """|noise|_F / N^2 = sigma / N for i.i.d. noise of s.d. sigma (to O(1/N) relative)."""
    N, sigma = 80, 0.2
    rng = np.random.default_rng(1)
    W = rng.standard_normal((N, N))
    P = np.eye(N)[rng.permutation(N)]
    d = permutation_invariant_distance(W, P.T @ W @ P + sigma * rng.standard_normal((N, N)))
    assert d == pytest.approx(sigma / N, rel=0.05)


def test_permutation_distance_rejects_bad_input():
    with pytest.raises(ValueError, match="W1 and W2"):
        permutation_invariant_distance(np.eye(3), np.eye(4))
    with pytest.raises(ValueError, match="method"):
        permutation_invariant_distance(np.eye(3), np.eye(3), method="hungarian")
    with pytest.raises(ValueError, match="too large"):
        permutation_invariant_distance(np.eye(12), np.eye(12), method="exact")


# --- simplicity bias: eigenvalues, F-factor, separability, shared attractors ---------------------


def test_unstable_count_uses_the_criterion_of_each_time_convention():
    """Eigenvalues 1.5, -1.2, 0.5 +- 1.1i, 0.9: |lambda| > 1 for four (map), Re lambda > 1 for one
    (flow)."""
    rng = np.random.default_rng(0)
    blocks = np.zeros((5, 5))
    blocks[0, 0], blocks[1, 1], blocks[4, 4] = 1.5, -1.2, 0.9
    blocks[2:4, 2:4] = [[0.5, -1.1], [1.1, 0.5]]
    P = rng.standard_normal((5, 5))
    W = P @ blocks @ np.linalg.inv(P)
    discrete = unstable_eigenvalue_count(W, "discrete", width=1e-4)
    continuous = unstable_eigenvalue_count(W, "continuous", width=1e-4)
    assert (discrete.count, continuous.count) == (4, 1)
    assert discrete.soft == pytest.approx(4, abs=1e-6) and continuous.soft == pytest.approx(
        1, abs=1e-6
    )
    assert abs(discrete.eigenvalues[0]) == pytest.approx(1.5)
    # an eigenvalue on the boundary counts one half
    assert unstable_eigenvalue_count(np.diag([1.0, 0.2]), "discrete").soft == pytest.approx(
        0.5, abs=1e-6
    )
    with pytest.raises(ValueError, match="time"):
        unstable_eigenvalue_count(W, "flow")


def test_unstable_count_of_a_low_rank_network_is_its_overlap_outliers():
    m = np.random.default_rng(1).standard_normal((200, 2))
    net = LowRankNetwork(m, m @ np.diag([1.5, 0.5]))  # eigenvalues ~ 1.5, 0.5
    assert unstable_eigenvalue_count(net, "continuous").count == 1


def planted_states(shared, n=20, N=30, noise=0.05, seed=0):
    """Task a ends near +-v, task b near +-v (gated: shared attractors) or +-w (orthogonal).

    Each state's opposite-probe state is its exact negative, as in a bias-free tanh network."""
    rng = np.random.default_rng(seed)
    v, w = rng.standard_normal(N), rng.standard_normal(N)
    target_b = v if shared else w
    plus_a = v + noise * rng.standard_normal((n, N))
    plus_b = target_b + noise * rng.standard_normal((n, N))
    probes = np.r_[np.ones(n), -np.ones(n)]
    return np.r_[plus_a, -plus_a], np.r_[plus_b, -plus_b], probes


def test_pooled_measures_cannot_tell_modes_apart():
    for shared in (True, False):
        a, b, _ = planted_states(shared)
        assert f_factor(a, b) == pytest.approx(0.0, abs=1e-20)
        assert separability(a, b).margin < 0  # 0 is in both convex hulls


def test_per_probe_measures_tell_gated_from_orthogonal():
    gated, orthogonal = planted_states(True, seed=1), planted_states(False, seed=1)
    f_gated = f_factor(gated[0], gated[1], gated[2], gated[2])
    f_orth = f_factor(orthogonal[0], orthogonal[1], orthogonal[2], orthogonal[2])
    assert f_gated < 5 and f_orth > 1000
    sep_gated = separability(gated[0], gated[1], gated[2], gated[2])
    sep_orth = separability(orthogonal[0], orthogonal[1], orthogonal[2], orthogonal[2])
    assert sep_orth.accuracy == 1.0 and sep_orth.margin > 1.0
    assert sep_gated.accuracy < 0.8 and sep_gated.margin < 0.1


def test_f_factor_matches_the_one_way_anova_statistic():
    from scipy.stats import f_oneway

    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((7, 1)) + 0.5, rng.standard_normal((9, 1))
    assert f_factor(a, b) == pytest.approx(f_oneway(a[:, 0], b[:, 0]).statistic, rel=1e-12)


def test_simplicity_measures_reject_bad_input():
    a = np.zeros((4, 3))
    with pytest.raises(ValueError, match="states_b"):
        f_factor(a, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="both probes_a and probes_b"):
        f_factor(a, a, probes_a=np.ones(4))
    with pytest.raises(ValueError, match="probes_a"):
        separability(a, a, np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="share no probe"):
        f_factor(a + 1, a, np.ones(4), -np.ones(4))


def hopfield(patterns, beta=2.0):
    """W = beta P P^T / N, inputs along the patterns: pure states +-m v with m = tanh(beta m)."""
    N = patterns.shape[0]
    return beta * patterns @ patterns.T / N


def test_shared_attractors_on_planted_hopfield_maps():
    from scipy.linalg import hadamard

    H = hadamard(32).astype(float)
    v, w = H[:, 1], H[:, 2]  # orthogonal +-1 patterns
    m_star = brentq(lambda m: m - np.tanh(2.0 * m), 0.5, 1.0)
    # gated: one attractor pair, both task inputs drive it
    gated = shared_attractors((hopfield(v[:, None]), np.c_[v, v]), 2, time="discrete")
    assert (gated.n_end_states, gated.n_shared) == (2, 2) and gated.settled.all()
    np.testing.assert_allclose(gated.end_states[0, 0], m_star * v, atol=1e-9)
    # orthogonal: each task has its own attractor pair
    orth = shared_attractors((hopfield(np.c_[v, w]), np.c_[v, w]), 2, time="discrete")
    assert (orth.n_end_states, orth.n_shared) == (4, 0)
    np.testing.assert_allclose(orth.end_states[1, 1], -m_star * w, atol=1e-9)


def test_shared_attractors_of_a_flow_and_bad_input():
    rng = np.random.default_rng(0)
    m = rng.standard_normal((300, 1))
    net = LowRankNetwork(m, 2.0 * m, inputs=np.c_[m, -m])  # overlap 2: a pitchfork pair, both tasks
    result = shared_attractors(net, 2, time="continuous", free_steps=400, dt=0.5, amplitude=2.0)
    assert (result.n_end_states, result.n_shared) == (2, 2)
    assert result.labels[0, 0] == result.labels[1, 1]  # +pulse on input 0 = -pulse on input 1
    with pytest.raises(ValueError, match="time"):
        shared_attractors((np.eye(3), np.eye(3)), 2)
    with pytest.raises(ValueError, match="tasks"):
        shared_attractors((np.eye(3), np.eye(3)), 5, time="discrete")
