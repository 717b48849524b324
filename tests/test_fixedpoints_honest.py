"""find_fixed_points tells the truth: every fixed point of a finite rank-one network (found
independently by a dense scan and brentq), `converged` only when every descent is accounted for,
slow points where the analytic speed has a minimum, and stable / unstable / marginal with the
stated tolerance."""

import re
import warnings

import numpy as np
import pytest
from scipy.optimize import brentq

from lowrank import ConvergenceWarning, GaussianLoadings, LowRankNetwork
from lowrank.fixedpoints import find_fixed_points


def rank_one_network():
    law = GaussianLoadings([0, 0], [[1, 2], [2, 5]], rank=1)
    return LowRankNetwork.sample(law, N=200, seed=0)


def exact_fixed_points(net):
    """x = m k with k = n . tanh(m k) / N: every root of the 1-D equation (dense scan + brentq).

    (x = m n^T tanh(x) / N lies in span(m).) The right side is at most B = sum |n| / N in
    modulus, so every root lies in [-B, B]; the scan covers [-B - 1, B + 1]."""
    m, n, N = net.m[:, 0], net.n[:, 0], net.N

    def f(k):
        return k - n @ np.tanh(m * k) / N

    bound = np.sum(np.abs(n)) / N + 1.0
    grid = np.linspace(-bound, bound, 20001)
    values = np.array([f(k) for k in grid])
    roots = [grid[i] for i in np.flatnonzero(values == 0)]
    sign_change = np.flatnonzero(values[:-1] * values[1:] < 0)
    roots += [brentq(f, grid[i], grid[i + 1], xtol=1e-15, rtol=1e-15) for i in sign_change]
    return np.array(sorted(roots))


def radial_eigenvalue(net, k):
    """The one eigenvalue of -I + m n^T diag(1 - tanh(m k)^2) / N that is not -1."""
    m, n = net.m[:, 0], net.n[:, 0]
    return -1.0 + n @ ((1 - np.tanh(m * k) ** 2) * m) / net.N


def test_defaults_find_exactly_the_fixed_points_of_the_finite_network():
    net = rank_one_network()
    k_true = exact_fixed_points(net)
    assert len(k_true) == 3  # the ground truth: 0 and a symmetric pair
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a complete search warns about nothing
        fp = find_fixed_points(net, seed=0)
    assert fp.converged and fp.report.success and fp.n_failed == 0
    assert len(fp) == 3
    for k in k_true:
        assert np.min(np.max(np.abs(fp.x - net.m[:, 0] * k), axis=1)) < 1e-8
    # stability against the analytic radial eigenvalue (the N - 1 others are -1)
    for x, stability in zip(fp.x, fp.stability, strict=True):
        k = (net.n[:, 0] @ np.tanh(x)) / net.N
        assert stability == ("stable" if radial_eigenvalue(net, k) < 0 else "unstable")
    assert fp.n_stable == 2 and fp.n_unstable_directions.tolist() == [0, 0, 1]
    assert fp.marginal.tolist() == [False] * 3 and fp.stability_tol == 1e-8


def test_one_iteration_either_finds_everything_or_says_it_did_not():
    """The reproduction of issue 12: max_iter=1 used to find 1 of 3 points and say converged."""
    net = rank_one_network()
    k_true = exact_fixed_points(net)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fp = find_fixed_points(net, seed=0, max_iter=1, trajectory_steps=0)
    warned = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    found_all = len(fp) == 3 and all(
        np.min(np.max(np.abs(fp.x - net.m[:, 0] * k), axis=1)) < 1e-8 for k in k_true
    )
    assert found_all or not fp.converged
    assert fp.converged == fp.report.success == (fp.n_failed == 0)
    assert bool(warned) == (not fp.converged)
    if warned:
        message = str(warned[0].message)
        count = re.search(r"(\d+) of (\d+) descents ended neither", message)
        assert int(count.group(1)) == fp.n_failed > 0
        assert int(count.group(2)) == len(fp.residuals)
        reached = float(re.search(r"smallest max\|F\| reached: ([-+0-9.eE]+)", message).group(1))
        failed = fp.residuals[fp.residuals >= fp.tol]
        assert reached == pytest.approx(failed.min(), rel=1e-2)
        assert fp.report.failed_residual == failed.min()
    # every descent is a fixed point, a slow point or a failure
    assert np.count_nonzero(fp.residuals < fp.tol) + fp.n_slow + fp.n_failed == len(fp.residuals)


def test_slow_points_are_accounted_for_where_the_speed_has_a_minimum():
    """dx/dt = -x + 2 tanh(x) - 0.6 has one root, and a minimum of |F| off the root at
    tanh(x*)^2 = 1/2 (F'(x*) = 0), with |F(x*)| = |2 / sqrt(2) - atanh(1 / sqrt(2)) - 0.6|:
    descents that end there are slow points, not failures."""
    net = LowRankNetwork([[2.0]], [[1.0]], bias=[-0.6])
    root = brentq(lambda x: -x + 2 * np.tanh(x) - 0.6, -5, 0)
    slow_speed = abs(np.sqrt(2) - np.arctanh(1 / np.sqrt(2)) - 0.6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fp = find_fixed_points(net, n_starts=64, seed=0)
    assert fp.converged and len(fp) == 1 and fp.x[0, 0] == pytest.approx(root, abs=1e-12)
    assert fp.n_slow > 0 and fp.n_failed == 0
    ended_slow = fp.residuals[fp.residuals >= fp.tol]
    assert len(ended_slow) == fp.n_slow
    np.testing.assert_allclose(ended_slow, slow_speed, rtol=1e-9)


@pytest.mark.parametrize("time", ["continuous", "discrete"])
def test_stability_classes_of_planted_linearisations(time):
    """Bare W, no bias: the origin's Jacobian is -I + W (flow) or W (map). W = 0: stable.
    W = I: eigenvalue 0 (flow) or 1 (map), marginal - the origin is then a degenerate root
    (R ~ -x^3 / 3), found once, not as a cloud of points. W = 2 I: the origin is unstable with
    N unstable directions; each coordinate sits at 0 or +-b (b = 2 tanh b for the flow,
    b = tanh(2 b) for the map): 3^N points, the 2^N with no coordinate at 0 stable."""
    N = 3
    zero = find_fixed_points(np.zeros((N, N)), time=time, n_starts=16)
    assert len(zero) == 1 and zero.stability.tolist() == ["stable"] and zero.stable[0]
    identity = find_fixed_points(np.eye(N), time=time, n_starts=16)
    assert len(identity) == 1 and np.max(np.abs(identity.x)) < 1e-6
    assert identity.stability.tolist() == ["marginal"] and identity.marginal[0]
    assert not identity.stable[0] and identity.n_unstable_directions[0] == 0
    assert identity.n_unstable == 0 and identity.n_marginal == 1
    assert identity.manifolds == [] and identity.on_manifold.tolist() == [-1]  # isolated
    double = find_fixed_points(2 * np.eye(N), time=time, n_starts=64)
    if time == "continuous":  # x = 2 tanh(x) per coordinate
        b = brentq(lambda b: b - 2 * np.tanh(b), 0.5, 3)
    else:  # h = tanh(2 h)
        b = brentq(lambda b: b - np.tanh(2 * b), 0.5, 2)
    assert len(double) == 3**N and double.converged
    origin = np.argmin(np.max(np.abs(double.x), axis=1))
    assert double.stability[origin] == "unstable" and double.n_unstable_directions[origin] == N
    corners = np.all(np.isclose(np.abs(double.x), b, atol=1e-9), axis=1)
    assert np.count_nonzero(corners) == 2**N and np.all(double.stability[corners] == "stable")


def test_stability_tol_is_stated_and_used():
    """W = (1 - 1e-6) I: the flow's eigenvalue at the origin is -1e-6: stable with the default
    tolerance, marginal with stability_tol = 1e-5."""
    W = (1 - 1e-6) * np.eye(2)
    strict = find_fixed_points(W, time="continuous", n_starts=8)
    loose = find_fixed_points(W, time="continuous", n_starts=8, stability_tol=1e-5)
    assert strict.stability.tolist() == ["stable"] and strict.stability_tol == 1e-8
    assert loose.stability.tolist() == ["marginal"] and loose.stability_tol == 1e-5
    np.testing.assert_allclose(strict.eigenvalues[0].real, -1e-6, atol=1e-12)
    with pytest.raises(ValueError, match="stability_tol"):
        find_fixed_points(W, time="continuous", stability_tol=-1.0)


def test_a_ring_of_fixed_points_is_one_manifold():
    """m = sqrt(2) (cos t_i, sin t_i) at N = 64 equally spaced angles, n = 2 m: W is circulant,
    W_ij = 4 cos(t_i - t_j) / N, and x = m kappa with kappa = r (cos a, sin a) is a fixed point when
    r = (2 / N) sum_i sqrt(2) cos(t_i - a) tanh(sqrt(2) r cos(t_i - a)).
    The right side depends on the angle a only through aliased Fourier modes of order N, below
    round-off here: a ring of fixed points of radius r (brentq), neutral along the ring
    (eigenvalue 0) and stable across it. The finder's points on it form one closed manifold."""
    N = 64
    t = 2 * np.pi * np.arange(N) / N
    m = np.sqrt(2) * np.c_[np.cos(t), np.sin(t)]
    net = LowRankNetwork(m, 2 * m)

    def radius_equation(r, a):
        u = np.sqrt(2) * np.cos(t - a)
        return r - 2 / N * np.sum(u * np.tanh(r * u))

    radii = [brentq(radius_equation, 0.5, 3, args=(a,), xtol=1e-15) for a in (0.0, 0.02, 0.05)]
    assert np.ptp(radii) < 1e-12
    fp = find_fixed_points(net, seed=0, n_starts=32)
    assert fp.converged and len(fp.manifolds) == 1
    ring = fp.manifolds[0]
    assert ring.dimension == 1 and ring.closed and ring.stability == "stable"
    on_ring = fp.on_manifold == 0
    assert np.all(fp.marginal[on_ring]) and np.count_nonzero(on_ring) == len(fp) - 1
    assert fp.n_distinct == 2  # the ring, counted once, and the origin
    origin = np.flatnonzero(~on_ring)[0]
    assert np.max(np.abs(fp.x[origin])) < 1e-12 and fp.stability[origin] == "unstable"
    # every sample of the ring is a fixed point of radius r, and the samples go all the way round
    kappa = np.tanh(ring.points) @ (2 * m) / N  # n^T tanh(x) / N
    np.testing.assert_allclose(np.linalg.norm(kappa, axis=1), radii[0], atol=1e-9)
    speed = -ring.points + np.tanh(ring.points) @ net.dense().T
    assert np.max(np.abs(speed)) < 1e-9
    angles = np.sort(np.arctan2(kappa[:, 1], kappa[:, 0]))
    assert np.max(np.diff(np.r_[angles, angles[0] + 2 * np.pi])) < 0.3
