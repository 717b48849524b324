"""DSA at the scale of issue 15 (rank up to 50, n_delays up to 20) against independent ground truth.

- The DMD matrix (Gram-matrix route, lagged products for many delays) equals the one written out
  here from the SVD of an explicitly built Hankel matrix, up to the signs of the singular vectors.
- A matrix and its orthogonal conjugate C A C^T are at distance 0; a trajectory and a rotated copy
  of it too; the search stops after its structural starts once certified.
- For symmetric A, B the minimum over O(n) is the distance between the sorted spectra (Hoffman &
  Wielandt 1953), reached by aligning the eigenvectors.
- dsa-metric 2.0.2 (when installed) gives the same score within 1e-2.
(Brute force over O(2) is in test_procrustes_honest.py.)
"""

import importlib.util
import warnings

import numpy as np
import pytest
from scipy.stats import ortho_group

from lowrank import ConvergenceWarning
from lowrank.metrics import dmd_matrix, dsa_distance, orthogonal_similarity


def noisy_oscillators(trials, T, units, seed):
    """x_{t+1} = A x_t + noise with three damped rotations (6 latent dims), seen through `units`."""
    rng = np.random.default_rng(seed)
    A = np.zeros((6, 6))
    for k, (r, th) in enumerate([(0.98, 0.2), (0.95, 0.5), (0.9, 1.1)]):
        A[2 * k : 2 * k + 2, 2 * k : 2 * k + 2] = r * np.array(
            [[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]
        )
    Z = np.empty((trials, T, 6))
    Z[:, 0] = rng.standard_normal((trials, 6))
    for t in range(1, T):
        Z[:, t] = Z[:, t - 1] @ A.T + 0.1 * rng.standard_normal((trials, 6))
    return Z @ rng.standard_normal((6, units)) + 0.05 * rng.standard_normal((trials, T, units))


def reference_dmd(X, n_delays, rank, delay_interval=1):
    """Hankel rows [x_{t+(d-1)k}, ..., x_t] by explicit loops, SVD, regression within trials."""
    trials, T, _ = X.shape
    span = (n_delays - 1) * delay_interval
    H = np.array(
        [
            [
                np.concatenate([X[i, t + span - d * delay_interval] for d in range(n_delays)])
                for t in range(T - span)
            ]
            for i in range(trials)
        ]
    )
    U = np.linalg.svd(H.reshape(-1, H.shape[2]), full_matrices=False)[0][:, :rank]
    U = U.reshape(trials, T - span, rank)
    before, after = U[:, :-1].reshape(-1, rank), U[:, 1:].reshape(-1, rank)
    return np.linalg.lstsq(before, after, rcond=None)[0].T


@pytest.mark.parametrize(
    "n_delays, rank, delay_interval", [(3, 8, 1), (8, 20, 1), (7, 12, 3), (20, 50, 1)]
)
def test_dmd_equals_the_svd_of_the_explicit_hankel_matrix(n_delays, rank, delay_interval):
    X = noisy_oscillators(trials=3, T=150, units=5, seed=n_delays)
    ours = dmd_matrix(X, n_delays, rank, delay_interval=delay_interval)
    ref = reference_dmd(X, n_delays, rank, delay_interval)
    # same singular vectors up to sign: A_ours = D A_ref D, D = diag(+-1)
    np.testing.assert_allclose(np.abs(ours), np.abs(ref), atol=1e-7)
    signs = np.sign(ours[0] * ref[0])  # D_00 D_jj, from the first row
    np.testing.assert_allclose(ours, signs[:, None] * ref * signs[None, :], atol=1e-7)


def test_dmd_of_nearly_rank_deficient_data_takes_the_exact_route():
    """Kept singular values spanning 1e-6 of the largest: the Gram matrix would lose them."""
    rng = np.random.default_rng(1)
    X = noisy_oscillators(trials=2, T=200, units=4, seed=3)
    X[..., 3] = X[..., 0] + 1e-6 * rng.standard_normal(X.shape[:2])  # a near-copy of unit 0
    ours = dmd_matrix(X, 8, 32)
    ref = reference_dmd(X, 8, 32)
    np.testing.assert_allclose(
        np.sort(np.abs(np.linalg.eigvals(ours))), np.sort(np.abs(np.linalg.eigvals(ref))), atol=1e-6
    )


@pytest.mark.parametrize("n", [20, 50])
def test_orthogonal_conjugate_is_at_distance_zero_after_the_structural_starts_only(n):
    rng = np.random.default_rng(n)
    A = 0.9 * np.eye(n) + rng.standard_normal((n, n)) / np.sqrt(n)
    Q = ortho_group.rvs(n, random_state=n)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = orthogonal_similarity(Q @ A @ Q.T, A)
    assert result.euclidean < 1e-6 and result.certified and result.converged
    np.testing.assert_allclose(result.C @ A @ result.C.T, Q @ A @ Q.T, atol=1e-6)
    assert result.report.n_starts == 2  # the best structural start of each component only


def test_trajectory_and_its_rotated_copy_at_rank_50_and_20_delays():
    X = noisy_oscillators(trials=4, T=300, units=8, seed=0)
    Q = ortho_group.rvs(8, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = dsa_distance(X, X @ Q, n_delays=20, rank=50, full_output=True)
    assert result.angular < 1e-6 and result.certified and result.converged


@pytest.mark.parametrize("n", [12, 50])
def test_symmetric_matrices_reach_the_sorted_spectrum_distance(n):
    """Hoffman-Wielandt: min_C |a - C b C^T| = |lambda(a) - lambda(b)| (both sorted)."""
    rng = np.random.default_rng(100 + n)
    A, B = rng.standard_normal((2, n, n))
    A, B = A + A.T, B + B.T + 0.5 * np.eye(n)
    a, b = A / np.linalg.norm(A), B / np.linalg.norm(B)
    truth = np.linalg.norm(np.sort(np.linalg.eigvalsh(a)) - np.sort(np.linalg.eigvalsh(b)))
    result = orthogonal_similarity(A, B)
    assert result.euclidean == pytest.approx(truth, abs=1e-9)
    assert result.certified and result.converged
    # and no orthogonal matrix does better
    for C in ortho_group.rvs(n, size=5, random_state=n):
        assert np.linalg.norm(a - C @ b @ C.T) >= truth


def test_a_local_search_reaches_a_stationary_point_at_rank_20():
    """Unrelated matrices: the best start is stationary (gradient below gtol) and its score lies
    above the lower bound; convergence flag and warning agree."""
    rng = np.random.default_rng(7)
    A = 0.9 * np.eye(20) + 0.3 * rng.standard_normal((20, 20)) / np.sqrt(20)
    B = 0.8 * np.eye(20) + 0.3 * rng.standard_normal((20, 20)) / np.sqrt(20)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = orthogonal_similarity(A, B, n_starts=0, max_starts=1)
    assert result.grad_norm <= 1e-6
    np.testing.assert_allclose(result.C @ result.C.T, np.eye(20), atol=1e-10)
    assert result.euclidean >= result.lower_bound
    warned = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(warned) == (0 if result.converged else 1)


@pytest.mark.parametrize("n", [7, 50])
def test_cayley_step_and_gradient_match_plain_numpy(n):
    """The Cayley map cay(W) (one inverse, no pivoting; blocked at n = 50) equals
    (I - W/2)^{-1} (I + W/2) formed directly, is orthogonal, and the returned gradient matches a
    central finite difference of -tr(a^T C b C^T) along the curve C cay(t W) and the plain-numpy
    skew(C^T G), G = a C b^T + a^T C b; the value and gradient from M = C^T a C
    (``_objective``) are those from C (``_evaluate``)."""
    from lowrank.metrics.procrustes import _cayley, _evaluate, _objective

    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, n, n))
    C = ortho_group.rvs(n, size=2, random_state=4)
    rows, cols = np.triu_indices(n, 1)
    W = rng.standard_normal((2, n, n))
    W = W - np.swapaxes(W, 1, 2)
    p = np.sqrt(2.0) * W[:, rows, cols]  # the isometric vector form of W

    def cay(M):
        return np.linalg.solve(np.eye(n) - M / 2, np.eye(n) + M / 2)

    for k in range(2):
        Q = _cayley(n, p[k])
        np.testing.assert_allclose(Q, cay(W[k]), atol=1e-12)
        np.testing.assert_allclose(Q @ Q.T, np.eye(n), atol=1e-12)
        f, g = _evaluate(a, b, C[k])
        f2, g2 = _objective(C[k].T @ a @ C[k], b, np.ascontiguousarray(b.T))
        assert f2 == pytest.approx(f, rel=1e-12)
        np.testing.assert_allclose(g2, g, rtol=1e-10, atol=1e-12)

        def value(t, k=k):
            Ct = C[k] @ cay(t * W[k])
            return -np.trace(a.T @ Ct @ b @ Ct.T)

        assert f == pytest.approx(value(0.0), rel=1e-12)
        G = a @ C[k] @ b.T + a.T @ C[k] @ b  # Euclidean gradient of tr(a^T C b C^T)
        X = C[k].T @ G
        skew = 0.5 * (X - X.T)  # gradient of -s: -skew, as sqrt(2) times its upper entries
        np.testing.assert_allclose(g, -np.sqrt(2.0) * skew[rows, cols], rtol=1e-10, atol=1e-12)
        h = 1e-5
        slope = (value(h) - value(-h)) / (2 * h)
        assert g @ p[k] == pytest.approx(slope, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("n", [50, 77])
@pytest.mark.parametrize("scale", [1e-4, 1.0, 30.0])
def test_cayley_map_without_pivoting_is_accurate_for_small_and_huge_steps(n, scale):
    """``_cayley`` inverts I - W/2 without pivoting (its symmetric part is the identity), in
    2 x 2 blocks from 32 rows on (n = 77: blocks of 38 and 39, then 19 and 20): from tiny to
    huge steps (|W|_2 up to ~1e3) it equals (I - W/2)^{-1} (I + W/2) formed with LAPACK's
    pivoted solve, and is orthogonal."""
    from lowrank.metrics.procrustes import _cayley

    rng = np.random.default_rng(12)
    W = scale * rng.standard_normal((n, n))
    W = W - W.T
    rows, cols = np.triu_indices(n, 1)
    Q = _cayley(n, np.sqrt(2.0) * W[rows, cols])
    expected = np.linalg.solve(np.eye(n) - W / 2, np.eye(n) + W / 2)
    np.testing.assert_allclose(Q, expected, atol=1e-11)
    np.testing.assert_allclose(Q @ Q.T, np.eye(n), atol=1e-11)


def test_inverse_without_pivoting_of_a_matrix_with_positive_definite_symmetric_part():
    """``_inverse`` (blocked from 32 rows on) against LAPACK's pivoted inverse for S + K with S
    symmetric positive definite but far from I (the Schur complements it meets are of this
    form), at sizes below, at and above the blocking threshold."""
    from lowrank.metrics.procrustes import _inverse

    rng = np.random.default_rng(14)
    for n in (5, 31, 32, 50, 65):
        R = rng.standard_normal((n, n))
        K = rng.standard_normal((n, n))
        B = R @ R.T / n + 0.1 * np.eye(n) + 3.0 * (K - K.T)
        expected = np.linalg.inv(B)
        ours = _inverse(B.copy())
        np.testing.assert_allclose(ours, expected, atol=1e-10 * np.abs(expected).max())


def test_lbfgs_direction_is_minus_the_explicit_bfgs_inverse_hessian_times_the_gradient():
    """The compiled two-loop recursion (cyclic memory, a skipped pair, H0 = gamma P applied
    through the stored P g and P y) equals -H g with H built densely by the BFGS inverse update
    H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T from H0, oldest pair first (Nocedal &
    Wright 2006, eqs. 6.17 and 7.19)."""
    from scipy.sparse import random as sparse_random

    from lowrank.metrics.procrustes import _direction

    rng = np.random.default_rng(8)
    m, memory, gamma = 15, 4, 0.3
    R = sparse_random(m, m, density=0.2, random_state=9).toarray()
    g = rng.standard_normal(m)
    S, Y = rng.standard_normal((2, memory, m))
    Y = S + 0.3 * Y  # s^T y > 0: curvature pairs BFGS keeps
    rho = 1.0 / np.einsum("ij,ij->i", S, Y)
    rho[1] = 0.0  # a skipped pair
    head = 2  # newest pair in slot 1 (skipped), then 0, 3, 2 (oldest)
    for P in (R @ R.T + np.eye(m), np.eye(m)):  # symmetric positive definite, and H0 = gamma I
        H = gamma * P
        for slot in (2, 3, 0):  # oldest first, the skipped slot 1 left out
            V = np.eye(m) - rho[slot] * np.outer(Y[slot], S[slot])
            H = V.T @ H @ V + rho[slot] * np.outer(S[slot], S[slot])
        ours = _direction(g, P @ g, S, Y, Y @ P, rho, head, gamma)
        np.testing.assert_allclose(ours, -H @ g, rtol=1e-10, atol=1e-12)


def test_preconditioner_inverts_blocks_of_the_gauss_newton_matrix():
    """In the real Schur basis b = Z T Z^T the preconditioner is block-diagonal: one block per
    diagonal block of T (found here from T[i + 1, i] != 0), on the unknowns W_rj (j > r) of its
    rows, each the inverse of that block of L^T L + delta I, L the matrix of W -> [W, T] on skew
    W written out densely here (columns: the commutators of the unit skew matrices),
    delta = 1e-2 max |lambda_i - lambda_j|^2. Checked through ``_apply`` on every unit vector;
    ``_search_setup`` returns the same, and below n = 16 no preconditioner (the identity)."""
    from scipy.linalg import schur

    from lowrank.metrics.procrustes import _apply, _preconditioner, _search_setup

    n = 9
    b = np.random.default_rng(1).standard_normal((n, n))
    T, _ = schur(b, output="real")
    two = np.flatnonzero(np.abs(np.diag(T, -1)) > 0)  # T[i + 1, i] != 0: a 2 x 2 block at i
    assert len(two) >= 1 and n - 2 * len(two) >= 1  # both block sizes occur
    block_of_row = np.cumsum([0] + [0 if i - 1 in two else 1 for i in range(1, n)])
    rows, cols = np.triu_indices(n, 1)
    columns = []
    for i, j in zip(rows, cols, strict=True):  # the skew matrix of the unit vector e_(i,j)
        W = np.zeros((n, n))
        W[i, j], W[j, i] = 1 / np.sqrt(2), -1 / np.sqrt(2)
        columns.append((W @ T - T @ W).ravel())
    L = np.array(columns).T
    lam = np.linalg.eigvals(b)
    G = L.T @ L + 1e-2 * np.max(np.abs(lam[:, None] - lam[None, :]) ** 2) * np.eye(len(rows))
    expected = np.zeros_like(G)
    for block in np.unique(block_of_row):
        idx = np.flatnonzero(block_of_row[rows] == block)
        expected[np.ix_(idx, idx)] = np.linalg.inv(G[np.ix_(idx, idx)])
    ours = np.array([_apply(*_preconditioner(T), e) for e in np.eye(len(rows))]).T
    np.testing.assert_allclose(ours, expected, atol=1e-10 * np.abs(expected).max())
    b20 = np.random.default_rng(2).standard_normal((20, 20))
    T20, basis, prec = _search_setup(b20)
    np.testing.assert_allclose(basis @ T20 @ basis.T, b20, atol=1e-12)
    v = np.random.default_rng(3).standard_normal(190)
    np.testing.assert_allclose(_apply(*prec, v), _apply(*_preconditioner(T20), v), rtol=1e-12)
    _, none, prec = _search_setup(b20[:8, :8])
    assert none is None
    np.testing.assert_array_equal(_apply(*prec, v[:28]), v[:28])


def _near_identity_pair(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two unit-norm n x n matrices near multiples of the identity (DMD matrices of slow,
    stable dynamics)."""
    rng = np.random.default_rng(seed)
    A = 0.9 * np.eye(n) + 0.3 * rng.standard_normal((n, n)) / np.sqrt(n)
    B = 0.8 * np.eye(n) + 0.3 * rng.standard_normal((n, n)) / np.sqrt(n)
    return A / np.linalg.norm(A), B / np.linalg.norm(B)


@pytest.mark.parametrize("n", [20, 40])
def test_preconditioned_search_returns_stationary_orthogonal_matrices_of_the_given_problem(n):
    """From n = 16 the search runs in the Schur basis of b (from n = 32 with blocked inverses in
    its Cayley steps), carrying C^T a C through the steps; the C it returns must be orthogonal
    and stationary for the original a, b (gradient written out here), with the reported norm."""
    from lowrank.metrics.procrustes import _local_searches

    a, b = _near_identity_pair(n, 5)
    C0 = ortho_group.rvs(n, size=3, random_state=6)
    C, grad, nit, _ = _local_searches(a, b, C0, 1e-8, 5000)
    for k in range(3):
        np.testing.assert_allclose(C[k] @ C[k].T, np.eye(n), atol=1e-10)
        M = C[k].T @ (a @ C[k] @ b.T + a.T @ C[k] @ b)
        riemannian = np.linalg.norm(M - M.T) / 2
        assert riemannian == pytest.approx(grad[k], rel=1e-5, abs=1e-12)
        assert riemannian <= 1e-8 and nit[k] < 5000
        before = np.linalg.norm(a - C0[k] @ b @ C0[k].T)
        assert np.linalg.norm(a - C[k] @ b @ C[k].T) < before


def test_a_search_stopped_by_maxiter_reports_the_gradient_of_the_c_it_returns():
    """The compiled search updates C^T a C through its Cayley steps; when ``maxiter`` stops it
    between two resynchronisations, the gradient norm it reports is that of the returned C,
    written out here from a, b and C."""
    from lowrank.metrics.procrustes import _local_searches

    n = 40
    a, b = _near_identity_pair(n, 15)
    C0 = ortho_group.rvs(n, size=2, random_state=16)
    C, grad, nit, _ = _local_searches(a, b, C0, 1e-12, 73)
    for k in range(2):
        assert nit[k] == 73
        np.testing.assert_allclose(C[k] @ C[k].T, np.eye(n), atol=1e-12)
        M = C[k].T @ (a @ C[k] @ b.T + a.T @ C[k] @ b)
        assert np.linalg.norm(M - M.T) / 2 == pytest.approx(grad[k], rel=1e-9)


def _dsa_metric_score(X, Y, n_delays: int, rank: int) -> float:
    """dsa-metric's angular score (its DMD and Adam search, 1500 steps of lr 5e-3, one thread)."""
    import torch
    from DSA import DMD, SimilarityTransformDist

    torch.manual_seed(0)
    torch.set_num_threads(1)
    models = []
    for Z in (X, Y):
        dmd = DMD(np.ascontiguousarray(Z), n_delays=n_delays, rank=rank, lamb=0.0)
        dmd.fit()
        models.append(dmd.A_v)
    theirs = SimilarityTransformDist(iters=1500, lr=5e-3, score_method="angular")
    return float(theirs.fit_score(*models))


@pytest.mark.slow  # dsa-metric's first Adam step imports torch._dynamo (seconds), then 3000 steps
@pytest.mark.skipif(
    importlib.util.find_spec("DSA") is None, reason="dsa-metric (module DSA) not installed"
)
def test_dsa_agrees_with_dsa_metric_at_rank_8():
    X = noisy_oscillators(trials=2, T=200, units=5, seed=11)
    Y = noisy_oscillators(trials=2, T=200, units=5, seed=12)[..., ::-1] ** 3
    score = _dsa_metric_score(X, Y, 4, 8)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        ours = dsa_distance(X, Y, n_delays=4, rank=8)
    # both minimise the same objective: ours is within 1e-2 and not worse by more than rounding
    assert ours == pytest.approx(score, abs=1e-2)
    assert ours <= score + 1e-4


@pytest.mark.slow  # dsa-metric at rank 50: seconds of Adam steps
@pytest.mark.skipif(
    importlib.util.find_spec("DSA") is None, reason="dsa-metric (module DSA) not installed"
)
@pytest.mark.parametrize("n_delays, units", [(10, 8), (5, 12)])
def test_dsa_agrees_with_dsa_metric_at_rank_50(n_delays, units):
    X = noisy_oscillators(trials=4, T=300, units=units, seed=21)
    Y = noisy_oscillators(trials=4, T=300, units=units, seed=22) ** 3
    score = _dsa_metric_score(X, Y, n_delays, 50)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        ours = dsa_distance(X, Y, n_delays=n_delays, rank=50, full_output=True)
    assert ours.angular == pytest.approx(score, abs=1e-2)
    assert ours.angular <= score + 1e-3
    assert ours.angular_lower_bound <= ours.angular
