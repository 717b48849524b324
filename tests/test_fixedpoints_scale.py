"""find_fixed_points at scale: the latent solve of low-rank networks, the matrix-free solve of
dense ones and the memory bound, each against an independent ground truth (brentq on the 1-D
latent equation, the direct dense path with formed Jacobians, numpy's dense eigenvalues)."""

import numpy as np
import pytest
from scipy.optimize import brentq

import lowrank.fixedpoints as fixedpoints
from lowrank import GaussianLoadings, LowRankNetwork
from lowrank.fixedpoints import find_fixed_points


def rank_one(N, seed=0, bias=0.0):
    law = GaussianLoadings([0, 0], [[1, 2], [2, 5]], rank=1)
    net = LowRankNetwork.sample(law, N=N, seed=seed)
    return LowRankNetwork(net.m, net.n, bias=np.full(N, bias)) if bias else net


def latent_roots(m, n, c):
    """Every root of k = n . tanh(m k + c) / N (dense scan of [-B - 1, B + 1] + brentq)."""
    N = len(m)

    def f(k):
        return n @ np.tanh(m * k + c) / N - k

    bound = np.sum(np.abs(n)) / N + 1.0
    grid = np.linspace(-bound, bound, 4001)
    values = np.array([f(k) for k in grid])
    roots = list(grid[values == 0])
    change = np.flatnonzero(values[:-1] * values[1:] < 0)
    roots += [brentq(f, grid[i], grid[i + 1], xtol=1e-15) for i in change]
    return np.array(roots)


@pytest.mark.parametrize("time", ["continuous", "discrete"])
def test_rank_one_latent_roots_against_brentq(time):
    """With a bias the three roots are asymmetric; flow x = m k + c, map h = tanh(m k + c)."""
    net = rank_one(2000, bias=0.05)
    m, n, c = net.m[:, 0], net.n[:, 0], net.bias
    roots = np.sort(latent_roots(m, n, c))
    assert len(roots) == 3
    fp = find_fixed_points(net, time=time, seed=0, n_starts=32)
    assert fp.method == "low rank" and fp.converged and len(fp) == 3
    found = np.sort(fp.kappa[:, 0])
    np.testing.assert_allclose(found, roots, atol=1e-9)
    lifted = np.outer(roots, m) + c
    if time == "discrete":
        lifted = np.tanh(lifted)
    for x in lifted:
        assert np.min(np.max(np.abs(fp.x - x), axis=1)) < 1e-8
    # the residual of the network itself (plain numpy)
    W = np.outer(m, n) / len(m)
    R = (np.tanh(fp.x) @ W.T + c - fp.x) if time == "continuous" else np.tanh(fp.x @ W.T + c) - fp.x
    assert np.max(np.abs(R)) < fp.tol
    # stability from the radial eigenvalue: lambda = n . (phi' m) / N (minus 1 for the flow)
    for k, stability in zip(fp.kappa[:, 0], fp.stability, strict=True):
        radial = n @ ((1 - np.tanh(m * k + c) ** 2) * m) / len(m)
        s = radial - 1.0 if time == "continuous" else abs(radial) - 1.0
        assert stability == ("stable" if s < 0 else "unstable")
    assert fp.n_stable == 2 and fp.n_unstable == 1
    assert fp.eigenvalues.shape == (3, 2000)


@pytest.mark.parametrize("time", ["continuous", "discrete"])
def test_latent_solve_matches_the_dense_path(time, monkeypatch):
    """Rank-two weights (m, n = 2.5 m + noise, a bias): the latent path and the same network as a
    dense matrix (formed Jacobians, numpy eigenvalues) find the same points with the same
    stability and eigenvalues."""
    rng = np.random.default_rng(4)
    m = rng.standard_normal((60, 2))
    weights = {"m": m, "n": 2.5 * m + 0.3 * rng.standard_normal((60, 2)),
               "weight_in": np.zeros((60, 1)), "bias": 0.02 * rng.standard_normal(60)}
    low = find_fixed_points(weights, time=time, seed=0, n_starts=48)
    monkeypatch.setattr(fixedpoints, "_DIRECT_MAX_N", 100)  # formed Jacobians
    W = weights["m"] @ weights["n"].T / 60
    dense = find_fixed_points((W, weights["weight_in"], weights["bias"]), time=time, seed=0,
                              n_starts=48)
    assert low.method == "low rank" and dense.method == "direct"
    assert len(low) == len(dense) >= 3
    distance = np.max(np.abs(low.x[:, None] - dense.x[None]), axis=2)
    match = distance.argmin(axis=1)
    assert np.all(distance.min(axis=1) < 1e-8) and len(set(match)) == len(low)
    assert low.stability.tolist() == dense.stability[match].tolist()
    np.testing.assert_allclose(low.eigenvalues[:, :4], dense.eigenvalues[match, :4], atol=1e-8)
    assert low.n_unstable_directions.tolist() == dense.n_unstable_directions[match].tolist()


def test_planted_ring_is_traced_in_the_latent_space():
    """m = sqrt(2) (cos t, sin t), n = 2 m at N = 10 000 equally spaced angles: a ring of radius
    r with r = (2 / N) sum_i sqrt(2) cos(t_i) tanh(sqrt(2) r cos(t_i)) (brentq)."""
    N = 10_000
    t = 2 * np.pi * np.arange(N) / N
    m = np.sqrt(2) * np.c_[np.cos(t), np.sin(t)]
    net = LowRankNetwork(m, 2 * m)
    u = np.sqrt(2) * np.cos(t)
    r = brentq(lambda r: r - 2 / N * np.sum(u * np.tanh(r * u)), 0.5, 3, xtol=1e-15)
    fp = find_fixed_points(net, seed=0, n_starts=16)
    assert fp.converged and len(fp.manifolds) == 1 and fp.n_distinct == 2
    ring = fp.manifolds[0]
    assert ring.closed and ring.stability == "stable" and ring.points.shape[1] == N
    np.testing.assert_allclose(np.linalg.norm(ring.coordinates, axis=1), r, atol=1e-9)
    assert ring.radius == pytest.approx(r, abs=1e-8)
    speed = -ring.points + (np.tanh(ring.points) @ (2 * m)) @ m.T / N
    assert np.max(np.abs(speed)) < 1e-9


@pytest.mark.parametrize("time", ["continuous", "discrete"])
def test_matrix_free_matches_formed_jacobians(time, monkeypatch):
    """A dense network (planted rank two + random bulk): the matrix-free path finds the points
    and eigenvalues of the direct one."""
    rng = np.random.default_rng(1)
    N = 80
    xi = np.sign(rng.standard_normal((N, 2)))
    W = 2.0 * xi @ xi.T / N + 0.3 * rng.standard_normal((N, N)) / np.sqrt(N)
    monkeypatch.setattr(fixedpoints, "_DIRECT_MAX_N", 100)
    direct = find_fixed_points(W, time=time, seed=0, n_starts=32)
    monkeypatch.setattr(fixedpoints, "_DIRECT_MAX_N", 10)
    free = find_fixed_points(W, time=time, seed=0, n_starts=32)
    assert direct.method == "direct" and free.method == "matrix-free"
    assert free.converged and len(free) == len(direct) == 9
    distance = np.max(np.abs(free.x[:, None] - direct.x[None]), axis=2)
    assert np.all(distance.min(axis=1) < 1e-8)
    assert free.stability.tolist() == direct.stability.tolist()
    np.testing.assert_allclose(free.eigenvalues, direct.eigenvalues, atol=1e-9)


@pytest.mark.parametrize("krylov", [400, 4])
def test_least_stable_eigenvalues_match_numpy(krylov, monkeypatch):
    """Above the dense-eigenvalue size, the k least stable eigenvalues (batched Arnoldi; with a
    Krylov space of 4, which cannot converge, ARPACK) equal the first k of numpy's spectrum."""
    rng = np.random.default_rng(2)
    N = 60
    xi = np.sign(rng.standard_normal((N, 2)))
    W = 2.0 * xi @ xi.T / N + 0.4 * rng.standard_normal((N, N)) / np.sqrt(N)
    monkeypatch.setattr(fixedpoints, "_DIRECT_MAX_N", 10)
    monkeypatch.setattr(fixedpoints, "_DENSE_EIG_MAX_N", 10)
    monkeypatch.setattr(fixedpoints, "_ARNOLDI_MAX", krylov)
    fp = find_fixed_points(W, time="continuous", seed=0, n_starts=8)
    assert fp.method == "matrix-free" and fp.eigenvalues.shape[1] < N
    full = fixedpoints.Dynamics.from_object(W, "continuous").stability_eigenvalues(fp.x)
    k = fp.eigenvalues.shape[1]
    # growth rates, least stable first (the k-th may be one of a complex pair cut in two)
    np.testing.assert_allclose(fp.eigenvalues.real[:, : k - 1], full.real[:, : k - 1], atol=1e-8)
    unstable = np.count_nonzero(full.real > fp.stability_tol, axis=1)
    assert fp.n_unstable_directions.tolist() == unstable.tolist()


def test_large_low_rank_network_in_bounded_memory():
    """N = 10 000 (above the explored subsample) without forming W (0.8 GB) in 100 MB: the
    points are those of brentq."""
    net = rank_one(10_000, seed=1)
    fp = find_fixed_points(net, seed=0, n_starts=16, max_memory=100e6)
    roots = np.sort(latent_roots(net.m[:, 0], net.n[:, 0], np.zeros(10_000)))
    assert fp.method == "low rank" and fp.converged and len(roots) == 3
    np.testing.assert_allclose(np.sort(fp.kappa[:, 0]), roots, atol=1e-9)


def test_memory_refusal_names_max_memory():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((200, 200)) / np.sqrt(200)
    with pytest.raises(ValueError, match="max_memory"):
        find_fixed_points(W, time="continuous", max_memory=1e5)
    with pytest.raises(ValueError, match="max_memory"):
        find_fixed_points(W, time="continuous", max_memory=-1.0)
    with pytest.raises(ValueError, match="slow manifolds"):
        find_fixed_points(W, time="continuous", n_starts=4, slow_manifold_tol=0.1,
                          max_memory=2e6)
