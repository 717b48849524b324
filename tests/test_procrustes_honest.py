"""The orthogonal Procrustes search never reports a non-global optimum as converged (issue 12).

Ground truth: exact orthogonal similarity (distance 0 by construction), a spectral lower bound
written out here with numpy (Hoffman-Wielandt for the symmetric parts, Mirsky for the
antisymmetric parts and the whole matrices), brute force over O(2) (angle and reflection), and an
independent multi-start search on the exponential chart for small n.
"""

import warnings

import numpy as np
import pytest
from scipy.linalg import expm
from scipy.optimize import minimize, minimize_scalar
from scipy.stats import ortho_group
from threadpoolctl import threadpool_limits

from lowrank import ConvergenceWarning
from lowrank.metrics import dsa_distance, orthogonal_similarity, pairwise_dsa


def unit(M):
    return M / np.linalg.norm(M)


def independent_lower_bound(A, B):
    """max(sqrt(|eig(S_a) - eig(S_b)|^2 + |sv(K_a) - sv(K_b)|^2), |sv(a) - sv(b)|)."""
    a, b = unit(A), unit(B)
    sym = np.linalg.eigvalsh((a + a.T) / 2) - np.linalg.eigvalsh((b + b.T) / 2)
    skew = np.linalg.svd((a - a.T) / 2, compute_uv=False) - np.linalg.svd(
        (b - b.T) / 2, compute_uv=False
    )
    whole = np.linalg.svd(a, compute_uv=False) - np.linalg.svd(b, compute_uv=False)
    return max(np.sqrt(np.sum(sym**2) + np.sum(skew**2)), np.linalg.norm(whole))


def distance_at(A, B, C):
    return np.linalg.norm(unit(A) - C @ unit(B) @ C.T)


def quiet(A, B, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return orthogonal_similarity(A, B, **kwargs)


def test_the_reported_case_is_found_and_certified():
    """Issue 12: this pair gave angular 0.466 with converged=True; the truth is 0."""
    rng = np.random.default_rng(18)
    A = rng.standard_normal((5, 5))
    Q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    result = quiet(A, Q @ A @ Q.T, n_starts=4, seed=0)
    assert result.angular < 1e-6 and result.euclidean < 1e-6
    assert result.converged and result.certified and result.report.success
    # C (Q A Q^T) C^T = A: C is Q^T up to the symmetries of A
    np.testing.assert_allclose(result.C @ (Q @ A @ Q.T) @ result.C.T, A, atol=1e-8)


@pytest.mark.parametrize("n", range(2, 9))
def test_exactly_similar_matrices_give_zero_for_every_seed(n):
    for seed in range(20):
        rng = np.random.default_rng(100 * n + seed)
        A = rng.standard_normal((n, n))
        Q = ortho_group.rvs(n, random_state=rng)
        if seed % 2:  # the other component of O(n)
            Q[:, 0] *= -1
        result = quiet(Q @ A @ Q.T, A, seed=seed)
        assert result.euclidean < 1e-6, (n, seed)
        assert distance_at(Q @ A @ Q.T, A, result.C) < 1e-6
        assert result.converged and result.certified, (n, seed)
        assert result.lower_bound == pytest.approx(0.0, abs=1e-12)


def test_exactly_similar_structured_matrices_give_zero():
    """Degenerate symmetric parts: orthogonal, skew-symmetric, normal and rank-1 matrices."""
    rng = np.random.default_rng(7)
    n = 6
    skew = rng.standard_normal((n, n))
    cases = {
        "orthogonal": ortho_group.rvs(n, random_state=1),
        "skew": skew - skew.T,
        "rotation blocks": np.kron(np.eye(n // 2), [[0.9, -0.3], [0.3, 0.9]]),
        "rank one": np.outer(rng.standard_normal(n), rng.standard_normal(n)),
    }
    Q = ortho_group.rvs(n, random_state=2)
    for name, A in cases.items():
        result = quiet(A, Q @ A @ Q.T)
        assert result.euclidean < 1e-6 and result.certified and result.converged, name


@pytest.mark.parametrize("n", [3, 4, 5, 6])
def test_score_respects_the_independent_lower_bound_and_converged_means_what_it_says(n):
    gtol, tol = 1e-6, 1e-6
    for seed in range(3):
        rng = np.random.default_rng(seed)
        A, B = rng.standard_normal((2, n, n))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = orthogonal_similarity(A, B, seed=seed, gtol=gtol, tol=tol)
        bound = independent_lower_bound(A, B)
        assert result.lower_bound == pytest.approx(bound, abs=1e-12)
        # the score is that of the C returned, and C is orthogonal
        np.testing.assert_allclose(result.C @ result.C.T, np.eye(n), atol=1e-10)
        assert result.euclidean == pytest.approx(distance_at(A, B, result.C), abs=1e-12)
        assert result.euclidean >= bound - 1e-12
        assert result.angular == pytest.approx(
            np.arccos(1 - result.euclidean**2 / 2), abs=1e-9
        )
        assert result.angular_lower_bound <= result.angular
        # the bound holds at orthogonal matrices the search never saw
        for C in ortho_group.rvs(n, size=20, random_state=seed):
            assert distance_at(A, B, C) >= bound - 1e-12
        assert result.certified == (result.euclidean - bound <= tol)
        expected = result.grad_norm <= gtol and (result.certified or result.n_agree >= 2)
        assert result.converged == expected == result.report.success
        convergence = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
        assert len(convergence) == (0 if result.converged else 1)


def brute_force_o2(A, B):
    """min over C = R(phi) and C = R(phi) diag(1, -1): a grid, then a bounded scalar search."""
    a, b = unit(A), unit(B)

    def dist(phi, reflect):
        c, s = np.cos(phi), np.sin(phi)
        C = np.array([[c, -s], [s, c]]) @ np.diag([1.0, -1.0 if reflect else 1.0])
        return np.linalg.norm(a - C @ b @ C.T)

    best = np.inf
    grid = np.linspace(0, 2 * np.pi, 721)
    for reflect in (False, True):
        values = [dist(phi, reflect) for phi in grid]
        k = int(np.argmin(values))
        res = minimize_scalar(
            dist,
            bounds=(grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]),
            args=(reflect,),
            method="bounded",
            options={"xatol": 1e-12},
        )
        best = min(best, res.fun, values[k])
    return best


def test_n2_equals_brute_force_and_the_bound_is_exact():
    """In O(2) the skew part is k J and C J C^T = det(C) J, and either component aligns the
    symmetric parts, so the lower bound is the minimum: every n = 2 answer is certified."""
    rng = np.random.default_rng(11)
    for _ in range(6):
        A, B = rng.standard_normal((2, 2, 2))
        truth = brute_force_o2(A, B)
        result = quiet(A, B)
        assert result.euclidean == pytest.approx(truth, abs=1e-6)
        assert independent_lower_bound(A, B) == pytest.approx(truth, abs=1e-6)
        assert result.certified and result.converged


def independent_search(A, B, n_samples, seed):
    """min |a - C b C^T| by brute force: Haar samples (QR of Gaussian matrices, sign-fixed) on
    both components, then Nelder-Mead on the chart C = C_k expm(S) around the 5 best samples."""
    a, b = unit(A), unit(B)
    n = len(a)
    rng = np.random.default_rng(seed)
    with threadpool_limits(1):
        Q, R = np.linalg.qr(rng.standard_normal((n_samples, n, n)))
    Q = Q * np.sign(np.diagonal(R, axis1=1, axis2=2))[:, None, :]
    Q = np.concatenate([Q, Q @ np.diag([-1.0] + [1.0] * (n - 1))])
    values = np.linalg.norm(a - Q @ b @ np.swapaxes(Q, 1, 2), axis=(1, 2))
    iu = np.triu_indices(n, 1)

    def dist(p, C0):
        S = np.zeros((n, n))
        S[iu] = p
        C = C0 @ expm(S - S.T)
        return np.linalg.norm(a - C @ b @ C.T)

    best = values.min()
    for k in np.argsort(values)[:5]:
        res = minimize(
            dist,
            np.zeros(len(iu[0])),
            args=(Q[k],),
            method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000},
        )
        best = min(best, res.fun)
    return best


@pytest.mark.parametrize("n, seed", [(3, 0), (3, 1), (4, 0), (4, 1)])
def test_a_converged_score_is_the_best_an_independent_search_finds(n, seed):
    rng = np.random.default_rng(50 + seed)
    A, B = rng.standard_normal((2, n, n))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        result = orthogonal_similarity(A, B, seed=seed)
    truth = independent_search(A, B, n_samples=20000, seed=seed)
    if result.converged:
        assert result.euclidean <= truth + 1e-6
    assert result.euclidean >= independent_lower_bound(A, B) - 1e-12


def test_an_unestablished_optimum_warns_with_its_gap():
    """No random starts and no room for more: unless certified, the best is reached by one
    start only or by several; whatever happens, the warning and the flags agree."""
    found_warning = False
    for seed in range(6):
        rng = np.random.default_rng(seed)
        A, B = rng.standard_normal((2, 8, 8))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = orthogonal_similarity(A, B, n_starts=0, max_starts=1, seed=seed)
        messages = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
        assert not result.certified  # the bound is far from tight for random matrices
        if result.n_agree < 2:
            found_warning = True
            assert not result.converged and result.report.status == 1
            assert len(messages) == 1 and "global minimum not established" in messages[0]
            assert f"gap {result.gap:.2e}" in messages[0]
        else:
            assert result.converged and not messages
    assert found_warning  # the test exercises the warning at least once


def test_maxiter_reports_the_local_failure():
    rng = np.random.default_rng(3)
    A, B = rng.standard_normal((2, 5, 5))
    with pytest.warns(ConvergenceWarning, match="Riemannian gradient .* gap"):
        result = orthogonal_similarity(A, B, maxiter=1, n_starts=0, max_starts=1)
    assert not result.converged and result.report.status == 3
    assert result.report.n_failed >= 1 and result.grad_norm > 1e-6


def test_a_search_stopped_as_futile_is_reported_as_not_converged():
    """Two unrelated near-identity 30 x 30 matrices (like DMD matrices): every start ends at its
    own local minimum, the added starts stop early, and the result says so. With futility=0 the
    same seed runs the same first starts and then all max_starts: never a worse score."""
    rng = np.random.default_rng(0)
    n = 30
    A = 0.9 * np.eye(n) + 0.3 * rng.standard_normal((n, n)) / np.sqrt(n)
    B = 0.8 * np.eye(n) + 0.3 * rng.standard_normal((n, n)) / np.sqrt(n)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        early = orthogonal_similarity(A, B)
        full = orthogonal_similarity(A, B, futility=0.0)
    messages = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert early.report.n_starts < 20 and not early.converged and early.report.status == 1
    assert "distinct local minima" in messages[0] and "were not run" in messages[0]
    assert full.report.n_starts == 20 or full.converged
    assert full.euclidean <= early.euclidean + 1e-12
    for result in (early, full):
        np.testing.assert_allclose(result.C @ result.C.T, np.eye(n), atol=1e-10)
        assert result.euclidean == pytest.approx(distance_at(A, B, result.C), abs=1e-12)
        assert result.euclidean >= independent_lower_bound(A, B) - 1e-12
        assert result.converged == (result.grad_norm <= 1e-6 and result.n_agree >= 2)


def test_added_starts_stop_at_the_first_check_below_futility(monkeypatch):
    """The stopping rule is checked after every round of one Haar start per component of O(n)
    (two here, n even): the search ends at the first check whose capture-recapture estimate,
    recomputed here from the scores of the local searches by the birthday formula
    P = min(1, k/N) (1 - (1 - 1/N)^r), N = k (k - 1) / (2 max(c, 1)) (c pairs of scores within
    tol, r starts left), is below futility, every earlier check being at or above it; and its
    local searches are the first ones of the futility=0 search with the same seed."""
    from lowrank.metrics import procrustes

    def birthday(d, tol, remaining):
        k = len(d)
        pairs = sum(abs(d[i] - d[j]) <= tol for i in range(k) for j in range(i + 1, k))
        minima = max(k * (k - 1) / (2.0 * max(pairs, 1)), 1.0)
        return min(1.0, k / minima) * (1.0 - (1.0 - 1.0 / minima) ** remaining)

    checks = []
    original = procrustes._chance_to_confirm

    def recording(d, tol, remaining):
        value = original(d, tol, remaining)
        checks.append((list(d), remaining, value))
        return value

    monkeypatch.setattr(procrustes, "_chance_to_confirm", recording)
    rng = np.random.default_rng(0)
    n = 30
    A = 0.9 * np.eye(n) + 0.3 * rng.standard_normal((n, n)) / np.sqrt(n)
    B = 0.8 * np.eye(n) + 0.3 * rng.standard_normal((n, n)) / np.sqrt(n)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        early = orthogonal_similarity(A, B)
        stopped = checks[:]
        checks.clear()
        orthogonal_similarity(A, B, futility=0.0)
    assert not early.converged and early.report.status == 1
    sizes = [len(d) for d, _, _ in stopped]
    assert sizes[-1] == early.report.n_starts < 20
    assert np.all(np.diff(sizes) == 2)  # one start per component between checks
    for d, remaining, value in stopped:
        assert remaining == 20 - len(d)
        assert value == pytest.approx(birthday(d, 1e-6, remaining), rel=1e-12)
    assert all(value >= 0.05 for _, _, value in stopped[:-1]) and stopped[-1][2] < 0.05
    np.testing.assert_allclose(checks[-1][0][: sizes[-1]], stopped[-1][0], rtol=0, atol=1e-12)


def test_chance_to_confirm_is_conservative_under_equal_basins():
    """Monte Carlo of the model behind the stopping rule: N minima with equal basins, k = 10
    starts that all ended at different minima, r = 10 more. The chance that the best of them
    is the global minimum and is reached again is never above the estimate, for N >= 45."""
    from lowrank.metrics.procrustes import _chance_to_confirm

    k, r = 10, 10
    estimate = _chance_to_confirm(np.arange(k) * 1e-3, 1e-6, r)
    rng = np.random.default_rng(0)
    for N in (45, 100, 400):
        hits = trials = 0
        while trials < 20000:
            first = rng.integers(N, size=k)
            if len(np.unique(first)) < k:
                continue  # condition on k different minima
            trials += 1
            hits += first.min() == 0 and np.any(rng.integers(N, size=r) == 0)  # 0: the global
        p = hits / trials
        assert p <= estimate + 3 * np.sqrt(estimate / trials), (N, p, estimate)
    assert _chance_to_confirm(np.zeros(k), 1e-6, r) == 1.0  # one minimum found by all: certain


def test_global_check_arguments_are_validated():
    with pytest.raises(ValueError, match="tol"):
        orthogonal_similarity(np.eye(2), np.eye(2), tol=0.0)
    with pytest.raises(ValueError, match="max_starts"):
        orthogonal_similarity(np.eye(2), np.eye(2), max_starts=0)
    with pytest.raises(TypeError, match="max_starts"):
        orthogonal_similarity(np.eye(2), np.eye(2), max_starts=2.5)
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="futility"):
            orthogonal_similarity(np.eye(2), np.eye(2), futility=bad)


# --- DSA ------------------------------------------------------------------------------------------


def oscillator_trajectory(T=200, seed=0):
    """Noise-free x_{t+1} = A x_t with two damped rotations, seen through 6 units."""
    rng = np.random.default_rng(seed)
    A = np.zeros((4, 4))
    A[:2, :2] = 0.98 * np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    A[2:, 2:] = 0.95 * np.array([[np.cos(0.7), -np.sin(0.7)], [np.sin(0.7), np.cos(0.7)]])
    X = np.empty((T, 4))
    X[0] = rng.standard_normal(4)
    for t in range(1, T):
        X[t] = A @ X[t - 1]
    return X @ rng.standard_normal((4, 6))


def test_dsa_of_a_trajectory_with_its_rotated_self_is_zero_and_certified():
    X = oscillator_trajectory()
    Q = ortho_group.rvs(6, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = dsa_distance(X, X @ Q, n_delays=2, rank=4, full_output=True)
        pairs = pairwise_dsa([X, X @ Q, X @ Q.T], n_delays=2, rank=4, full_output=True)
    assert result.angular < 1e-6 and result.certified and result.converged
    assert np.all(pairs.distances < 1e-6) and pairs.certified.all() and pairs.converged.all()
    assert np.all(pairs.lower_bound <= pairs.distances + 1e-12)
