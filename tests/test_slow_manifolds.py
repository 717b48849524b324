"""Approximate continuous attractors: a finite-N ring breaks into isolated fixed points joined by a
slow manifold (issue 12, "continuous attractors are objects, not samples"). Checked against the
mean-field ring radius (scipy quad + brentq), the speed at the samples and between them with plain
numpy, a planted exact ring (speed 0) and a band too narrow to close the ring."""

import warnings

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq

from lowrank import GaussianLoadings, LowRankNetwork
from lowrank.dynamics.manifold import find_slow_manifold
from lowrank.dynamics.systems import Dynamics
from lowrank.fixedpoints import find_fixed_points

SPEED_TOL = 0.2  # above the ring's barrier speed (max|R| ~ 0.15 at N = 200), well below |x|


def mean_field_ring_radius():
    """Rank two, Sigma_nm = 2 I, m ~ N(0, I): kappa = 2 <phi'(x)> kappa with x = m . kappa, so
    the ring radius r solves 1 = 2 E[sech^2(r z)], z ~ N(0, 1) (1.337109; docs/theory, section
    theory-reference)."""

    def excess(r):
        def sech2_density(z):
            return (1 - np.tanh(r * z) ** 2) * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)

        return 2 * quad(sech2_density, -np.inf, np.inf, epsabs=1e-13)[0] - 1

    return brentq(excess, 0.5, 3.0, xtol=1e-14)


def speed(net, X):
    """max_i |-x_i + (W tanh(x))_i| row by row, with plain numpy."""
    return np.max(np.abs(-X + np.tanh(X) @ net.dense().T), axis=-1)


@pytest.fixture(scope="module")
def ring_network():
    cov = np.array([[1, 0, 2, 0], [0, 1, 0, 2], [2, 0, 5, 0], [0, 2, 0, 5]], dtype=float)
    law = GaussianLoadings(np.zeros(4), cov, rank=2)
    return LowRankNetwork.sample(law, N=200, seed=0, whiten=True)


@pytest.fixture(scope="module")
def ring_points(ring_network):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a complete search
        return find_fixed_points(ring_network, seed=0, n_starts=64, slow_manifold_tol=SPEED_TOL)


def test_a_broken_finite_ring_is_one_slow_closed_manifold(ring_network, ring_points):
    net, fp = ring_network, ring_points
    assert fp.converged and len(fp.manifolds) == 1
    # the ring is broken: no exact family; isolated stable points and saddles
    assert fp.n_marginal == 0 and 2 <= fp.n_stable < len(fp)
    ring = fp.manifolds[0]
    assert ring.dimension == 1 and ring.closed and ring.stability == "stable"
    assert ring.speed_tol == SPEED_TOL
    # radius in kappa coordinates: the mean-field ring, to a finite-N tolerance of 5 %
    r_mf = mean_field_ring_radius()
    assert r_mf == pytest.approx(1.337109, abs=1e-6)
    assert abs(ring.radius - r_mf) < 0.05 * r_mf
    kappa = np.tanh(ring.points) @ net.n / net.N
    np.testing.assert_allclose(ring.coordinates, kappa, atol=1e-12)
    assert np.all(np.abs(np.linalg.norm(kappa, axis=1) - r_mf) < 0.05 * r_mf)
    angles = np.sort(np.arctan2(kappa[:, 1], kappa[:, 0]))
    assert np.max(np.diff(np.r_[angles, angles[0] + 2 * np.pi])) < 0.3  # all the way round
    # every stable point (and every point but the origin) lies on it; counted once
    assert np.all(fp.on_manifold[fp.stable] == 0)
    origin = np.argmin(np.max(np.abs(fp.x), axis=1))
    assert np.max(np.abs(fp.x[origin])) < 1e-9 and fp.on_manifold[origin] == -1
    assert np.count_nonzero(fp.on_manifold == 0) == len(fp) - 1 and fp.n_distinct == 2
    # the speed: the samples are inside the band, and the reported maximum bounds the speed at
    # the midpoints between neighbours, computed independently
    P = ring.points
    assert np.all(speed(net, P) <= SPEED_TOL)
    middles = 0.5 * (P + np.roll(P, -1, axis=0))
    assert ring.speed >= max(speed(net, P).max(), speed(net, middles).max()) - 1e-12
    assert ring.speed > 0.05  # a broken ring: slow, not still


def test_a_planted_exact_ring_has_speed_zero():
    """The exact ring of tests/test_fixedpoints_honest.py (N = 64, circulant W): the slow tracer
    finds the exact family, at speed 0 up to the root tolerance."""
    N = 64
    t = 2 * np.pi * np.arange(N) / N
    m = np.sqrt(2) * np.c_[np.cos(t), np.sin(t)]
    net = LowRankNetwork(m, 2 * m)
    fp = find_fixed_points(net, seed=0, n_starts=32, slow_manifold_tol=SPEED_TOL)
    assert fp.converged and len(fp.manifolds) == 1 and fp.n_distinct == 2
    ring = fp.manifolds[0]
    assert ring.closed and ring.speed < 1e-9 and ring.speed_tol == fp.tol
    assert np.max(speed(net, ring.points)) < 1e-9
    system = Dynamics.from_object(net, None)
    direct = find_slow_manifold(
        system.newton_function(), fp.x[0], SPEED_TOL, coordinates=system.project
    )
    assert direct.closed and direct.speed < 1e-9
    assert np.max(speed(net, direct.points)) < 1e-9


def test_a_band_below_the_barrier_does_not_close_the_ring(ring_network, ring_points):
    """With speed_tol = 0.05, below the largest speed on the way round the ring (some stable
    points and saddles are 18 degrees apart and stay joined), the manifold through a stable point
    stops at the edge of the band on both sides: open; nothing closes and the ring is not one
    object."""
    net, fp = ring_network, ring_points
    system = Dynamics.from_object(net, None)
    stable = fp.x[np.flatnonzero(fp.stable)[0]]
    arc = find_slow_manifold(system.newton_function(), stable, 0.05, coordinates=system.project)
    assert not arc.closed and np.isnan(arc.radius) and arc.speed_tol == 0.05
    assert len(arc.points) >= 3 and np.all(speed(net, arc.points) <= 0.05)
    ends = speed(net, arc.points[[0, -1]])
    assert np.all(ends > 0.5 * 0.05)  # it stopped near the edge of the band, not before
    narrow = find_fixed_points(net, seed=0, n_starts=64, slow_manifold_tol=0.05)
    assert narrow.n_distinct > 2 and not any(arc.closed for arc in narrow.manifolds)
    for k, arc in enumerate(narrow.manifolds):
        assert arc.speed_tol == 0.05 and np.all(speed(net, arc.points) <= 0.05)
        assert np.count_nonzero(narrow.on_manifold == k) >= 2  # kept: it joins fixed points


def test_bad_speed_tol():
    net = LowRankNetwork([[2.0]], [[1.0]])
    with pytest.raises(ValueError, match="slow_manifold_tol"):
        find_fixed_points(net, n_starts=4, slow_manifold_tol=-1.0)
    fun = Dynamics.from_object(net, None).newton_function()
    with pytest.raises(ValueError, match="speed_tol"):
        find_slow_manifold(fun, np.zeros(1), 0.0)
    with pytest.raises(ValueError, match="speed_tol"):
        find_slow_manifold(fun, np.array([3.0]), 1e-3)  # |R| = 3 - 2 tanh 3 > 1e-3
