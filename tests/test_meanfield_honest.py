"""Honest mean-field solvers (issue 12): no converged solution is lost, symmetric partners are
found, a search that may be incomplete says so, marginal points are not called stable, and a
continuous attractor is one object. Every number is checked against an independent computation
(scipy quad / brentq, numpy Gauss-Hermite, analytic eigenvalues), never against a value taken from
our own code."""

import math
import warnings

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq

from lowrank import GaussianLoadings, MeanField
from lowrank._checks import ConvergenceWarning
from lowrank.dynamics import STABILITY_TOL
from lowrank.dynamics.manifold import Manifold, find_manifold
from lowrank.meanfield import FixedPoint, StationaryState

PITCHFORK = GaussianLoadings([0, 0], [[1, 2], [2, 5]], rank=1)  # overlap 2, sigma_m = 1
MO18 = GaussianLoadings([1.1, 2.0], np.eye(2), rank=1)  # Mastrogiuseppe & Ostojic 2018
SCS = GaussianLoadings([0, 0], np.eye(2) * 1e-12, rank=1)  # a bulk with (almost) no structure
RING = GaussianLoadings(
    np.zeros(4), [[1, 0, 2, 0], [0, 1, 0, 2], [2, 0, 5, 0], [0, 2, 0, 5]], rank=2
)  # cov(n_k, m_k) = 2 I: a ring of fixed points


@pytest.fixture(autouse=True)
def no_convergence_warning():
    """Default calls on these well-posed laws must not warn (tests that expect one use
    pytest.warns, which takes precedence)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        yield


# --- independent ground truth -------------------------------------------------------------------
def gauss(f, mu, delta):
    """E f(mu + sqrt(delta) z) by scipy quad."""
    s = math.sqrt(delta)
    return quad(lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi) * f(mu + s * z),
                -np.inf, np.inf, epsabs=1e-13, epsrel=1e-13, limit=200)[0]


def logcosh(x):
    return float(np.logaddexp(x, -x) - math.log(2.0))


def sech2(x):
    return 1.0 - math.tanh(x) ** 2


def tanh3(x):  # phi''' of tanh
    t = math.tanh(x)
    return -2.0 * (1 - t * t) * (1 - 3 * t * t)


def scs_delta0(g):
    """Sompolinsky, Crisanti & Sommers 1988:
    Delta0^2 / 2 = g^2 ([Phi^2](0, Delta0) - [Phi](0, Delta0)^2)."""

    def f(d):
        return d * d / 2 - g * g * (gauss(lambda x: logcosh(x) ** 2, 0, d)
                                    - gauss(logcosh, 0, d) ** 2)

    return brentq(f, 1e-2, 10 * g * g, xtol=1e-13, rtol=1e-14)


def ring_radius(overlap):
    """overlap [phi'](0, r^2) = 1."""
    return brentq(lambda r: overlap * gauss(sech2, 0, r * r) - 1.0, 0.1, 10, xtol=1e-14)


T, W = np.polynomial.hermite.hermgauss(120)
Z, WZ = math.sqrt(2.0) * T, W / math.sqrt(math.pi)  # nodes and weights for E over N(0, 1)


def dmft_residuals(kappa, d0, dinf, Mm, Mn, g):
    """The chaotic mean-field equations of a rank-one network with means M_m, M_n, unit variance of
    m and no m-n covariance (Mastrogiuseppe & Ostojic 2018), coded independently with nested
    Gauss-Hermite rules: X, Y ~ N(mu, a) with covariance c, a = kappa^2 + D_0,
    c = kappa^2 + D_inf."""
    mu, a, c = Mm * kappa, kappa**2 + d0, max(kappa**2 + dinf, 0.0)
    inner = mu + math.sqrt(c) * Z[:, None] + math.sqrt(a - c) * Z[None, :]  # [outer, inner]

    def cond_mean(f):  # E[f(X) | the shared part z]
        return f(inner) @ WZ

    lcosh = np.logaddexp(inner, -inner) - math.log(2.0)
    x = mu + math.sqrt(a) * Z
    phi_mean = WZ @ np.tanh(x)
    big_phi2 = WZ @ (np.logaddexp(x, -x) - math.log(2.0)) ** 2
    cross_big = WZ @ (lcosh @ WZ) ** 2
    cross_phi = WZ @ cond_mean(np.tanh) ** 2
    return np.array([
        kappa - Mn * phi_mean,
        (d0**2 - dinf**2) / 2 - g * g * (big_phi2 - cross_big),
        dinf - g * g * cross_phi,
    ])


# --- 1. lost solutions ---------------------------------------------------------------------------
@pytest.mark.parametrize("g", [4.0, 5.0, 7.0])
def test_scs_chaotic_state_is_found(g):
    """The chaotic state of a structureless bulk (the only stable state) used to be dropped at
    g = 4, 5, 7."""
    states = MeanField(SCS, g=g).stationary_states()
    chaotic = [s for s in states if s.chaotic]
    assert len(chaotic) == 1 and states.complete and states.report.success
    s = chaotic[0]
    expected = scs_delta0(g)  # 10.4675, 16.9640, 34.3502
    assert abs(s.delta0[0] - expected) < 1e-7 * expected
    assert abs(s.delta_inf[0]) < 1e-7 and s.stable and s.stability == "stable"
    assert [p.stable for p in states if not p.chaotic] == [False, False]


def test_failed_starts_warn_and_the_result_says_it_may_be_incomplete():
    """Two Newton iterations (and two pseudo-time steps) cannot reach the roots 0, +-kappa* =
    +-1.337109 from most random starts; that must not pass silently, even where the starts that
    did converge found every root: the warning counts the failed starts, the result says it may
    be incomplete, and whatever was found is a root."""
    mf = MeanField(PITCHFORK)
    kstar = ring_radius(2.0)  # rank one: 2 [phi'](0, k^2) = 1
    with pytest.warns(ConvergenceWarning, match=r"of 40 starts did not converge") as record:
        fps = mf.fixed_points(max_iter=2)
    assert fps.n_starts == 40 and fps.n_failed == fps.report.n_failed >= 30
    assert f"{fps.n_failed} of 40 starts did not converge" in str(record[0].message)
    found = fps.kappa[:, 0]
    assert np.min(np.abs(found[:, None] - [0.0, -kstar, kstar]), axis=1).max() < 1e-9
    assert not fps.complete and fps.report.status == 1 and 0 < fps.failed_residual < 1e-2
    message = str(record[0].message)
    assert f"{fps.failed_residual:.3g}" in message and "may be incomplete" in message
    # with enough iterations: all three, complete, silent
    fps = mf.fixed_points()
    np.testing.assert_allclose(fps.kappa[:, 0], [0.0, -kstar, kstar], atol=1e-9)
    assert fps.complete and fps.n_failed == 0 and fps.report.residual <= 1e-10


def test_stationary_states_with_failed_starts_warn_with_the_count():
    with pytest.warns(ConvergenceWarning, match=r"\d+ of \d+ starts did not converge"):
        states = MeanField(MO18, g=1.9).stationary_states(max_iter=3)
    assert not states.complete and states.n_failed == states.report.n_failed > 0


@pytest.mark.parametrize("g", [1.9, 2.1])
def test_mastrogiuseppe_ostojic_states_come_in_symmetric_pairs(g):
    """phi odd, no inputs: the equations are odd in kappa, so every state with kappa != 0 has a
    partner at -kappa (at g = 2.1 the chaotic state +0.1527 used to be missing). Each chaotic state
    solves the independently coded dynamic mean-field equations."""
    states = MeanField(MO18, g=g).stationary_states()
    assert states.complete
    for chaotic in (False, True):
        kappas = np.sort([s.kappa[0] for s in states if s.chaotic == chaotic])
        np.testing.assert_allclose(kappas, -kappas[::-1], atol=1e-9)
    pairs = [s for s in states if s.chaotic and abs(s.kappa[0]) > 0.1]
    assert len(pairs) == 2
    for s in states:
        if s.chaotic:
            d0, dinf = s.delta0[0] - s.kappa[0] ** 2, s.delta_inf[0] - s.kappa[0] ** 2
            residual = dmft_residuals(s.kappa[0], d0, dinf, 1.1, 2.0, g)
            assert np.max(np.abs(residual)) < 1e-8


def test_symmetry_is_detected_numerically_not_assumed():
    """With an input along a mean direction the law is not odd in kappa: no mirror is added, yet
    every root of the (one-dimensional) velocity is found (checked on a fine grid)."""
    law = GaussianLoadings([0.5, 1.0, 1.0], [[1, 1.5, 0], [1.5, 3.25, 0], [0, 0, 1]], 1,
                           n_inputs=1)
    mf = MeanField(law)
    u = np.array([0.2])
    fun = mf.residual_function("latent", u)
    assert mf._symmetries(fun, mf._symmetry_samples([np.zeros(1)] * 3)) == []
    grid = np.linspace(-6, 6, 24001)
    v = np.array([mf.velocity([k], u)[0] for k in grid])
    roots = grid[:-1][np.sign(v[:-1]) != np.sign(v[1:])]
    assert len(roots) == 3  # -1.098, -0.220, 1.249: not symmetric
    fps = mf.fixed_points(u)
    np.testing.assert_allclose(np.sort(fps.kappa[:, 0]), roots, atol=1e-3)
    assert fps.complete and [p.multiplicity > 0 for p in fps] == [True] * 3


# --- 2. marginal is not stable -------------------------------------------------------------------
@pytest.mark.parametrize("time, eigenvalue", [("continuous", 0.0), ("discrete", 1.0)])
def test_pitchfork_point_is_marginal(time, eigenvalue):
    """Overlap exactly 1: the origin has eigenvalue -1 + 1 [phi'](0, 0) = 0 (flow), 1 (map)."""
    law = GaussianLoadings([0, 0], [[1, 1], [1, 2]], rank=1)
    fps = MeanField(law, time=time).fixed_points()
    assert len(fps) == 1 and not fps.manifolds
    p = fps[0]
    assert abs(p.eigenvalues[0] - eigenvalue) == 0.0
    assert (p.stable, p.marginal, p.stability) == (False, True, "marginal")
    assert fps.marginal.tolist() == [True] and fps.stability.tolist() == ["marginal"]
    assert fps.stable.tolist() == [False] and fps.n_attractors == 0
    assert p.stability_tol == fps.stability_tol == STABILITY_TOL
    static = MeanField(law).stationary_states()  # g = 0: the same point, static
    assert [s.stability for s in static] == ["marginal"]


def test_stability_tolerance_is_an_argument_and_is_recorded():
    """Overlap 1.0005: the origin grows at -1 + 1.0005 = 5e-4 (analytic)."""
    law = GaussianLoadings([0, 0], [[1, 1.0005], [1.0005, 2.001]], rank=1)
    mf = MeanField(law)
    origin = mf.fixed_points()[0]
    assert abs(origin.eigenvalues[0].real - 5e-4) < 1e-12 and origin.stability == "unstable"
    loose = mf.fixed_points(stability_tol=1e-3)
    assert loose.stability_tol == 1e-3 and loose[0].stability == "marginal"
    again, _ = mf.newton_from(loose[0], stability_tol=1e-3)
    assert again.marginal and again.stability_tol == 1e-3
    with pytest.raises(ValueError, match="stability_tol"):
        mf.fixed_points(stability_tol=-1.0)


def test_bulk_radius_one_is_marginal():
    """g = 1, no structure: the trivial static state has bulk radius g sqrt([phi'^2](0, 0)) = 1."""
    states = MeanField(SCS, g=1.0).stationary_states()
    trivial = states[0]
    assert not trivial.chaotic and abs(trivial.bulk_radius - 1.0) < 1e-8
    assert trivial.marginal and not trivial.stable
    below = MeanField(SCS, g=0.9).stationary_states()[0]
    assert below.stable and abs(below.bulk_radius - 0.9) < 1e-9


def test_stability_fields_agree():
    p = FixedPoint(np.zeros(1), np.zeros(1), True, 0.0, 0, stability="marginal")
    assert (p.stable, p.marginal) == (False, True)
    q = FixedPoint(np.zeros(1), np.zeros(1), True, 0.0, 0)  # legacy construction
    assert q.stability == "stable" and not q.marginal
    s = StationaryState(np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1), False, False,
                        np.zeros(1), 0.0, 0.0, 0)
    assert s.stability == "unstable"
    with pytest.raises(ValueError):
        FixedPoint(np.zeros(1), np.zeros(1), True, 0.0, 0, stability="wobbly")


# --- 3. a continuous attractor is one object -----------------------------------------------------
@pytest.mark.parametrize("n_starts", [10, 80, 300])
def test_ring_attractor_is_one_manifold(n_starts):
    """Sigma_nm = 2 I: one closed ring of radius r, 2 [phi'](0, r^2) = 1 (r = 1.337109), stable
    across (radial eigenvalue 2 r^2 [phi'''](0, r^2)), plus the unstable origin (eigenvalue
    -1 + 2 = 1, twice); never n_starts-dependent samples of the ring as stable points."""
    fps = MeanField(RING).fixed_points(n_starts=n_starts)
    r = ring_radius(2.0)
    assert len(fps.manifolds) == 1
    ring = fps.manifolds[0]
    assert isinstance(ring, Manifold) and ring.dimension == 1 and ring.closed
    assert abs(ring.radius - r) < 1e-7 and np.max(np.abs(ring.center)) < 1e-8
    np.testing.assert_allclose(np.linalg.norm(ring.points, axis=1), r, atol=1e-8)
    angles = np.sort(np.arctan2(ring.points[:, 1], ring.points[:, 0]))
    assert np.max(np.diff(np.append(angles, angles[0] + 2 * np.pi))) < 0.3  # all the way round
    assert ring.stability == "stable" and ring.residual <= 1e-10
    radial = 2 * r * r * gauss(tanh3, 0, r * r)
    np.testing.assert_allclose(ring.transverse_eigenvalues[:, 0], radial, atol=1e-8)
    assert len(fps) == 1 and np.max(np.abs(fps[0].kappa)) < 1e-12
    np.testing.assert_allclose(fps[0].eigenvalues, [1.0, 1.0], atol=1e-12)
    assert fps.stability.tolist() == ["unstable"] and fps.n_attractors == 1 and fps.complete


def test_rank_three_sphere_is_one_two_dimensional_manifold():
    """Sigma_nm = 2 I in rank 3: a sphere of fixed points with the ring's radius r (rotation
    invariance), reported once with its dimension, radius and transverse stability."""
    S = 2.0 * np.eye(3)
    cov = np.block([[np.eye(3), S.T], [S, S @ S.T + np.eye(3)]])
    fps = MeanField(GaussianLoadings(np.zeros(6), cov, rank=3)).fixed_points()
    assert len(fps.manifolds) == 1 and len(fps) == 1 and fps.n_attractors == 1
    sphere = fps.manifolds[0]
    assert sphere.dimension == 2 and sphere.stable and abs(sphere.radius - ring_radius(2.0)) < 1e-7
    np.testing.assert_allclose(np.linalg.norm(sphere.points, axis=1), ring_radius(2.0), atol=1e-8)


def test_find_manifold_on_analytic_systems():
    """F(x) = -(|x|^2 - 1) x: the unit circle (2-d), the unit sphere (3-d); an isolated degenerate
    root (F = -x^3) is not a manifold; a parabola of roots is an open curve."""

    def sphere(x):
        s = x @ x - 1.0
        return -s * x, -s * np.eye(x.size) - 2.0 * np.outer(x, x), np.zeros(0)

    circle = find_manifold(sphere, np.array([0.6, 0.8]))
    assert circle.dimension == 1 and circle.closed and abs(circle.radius - 1) < 1e-12
    assert circle.stability == "stable"
    np.testing.assert_allclose(circle.transverse_eigenvalues, -2.0, atol=1e-9)  # -2 |x|^2
    assert circle.contains(np.array([math.cos(1.0), math.sin(1.0)]))
    assert not circle.contains(np.array([0.0, 0.0]))
    ball = find_manifold(sphere, np.array([0.0, 0.6, 0.8]))
    assert ball.dimension == 2 and not ball.closed and abs(ball.radius - 1) < 1e-9
    assert ball.contains(np.array([1.0, 0.0, 0.0]) / 1.0)
    assert find_manifold(lambda x: (-x**3, np.diag(-3 * x**2), None), np.zeros(1)) is None
    assert find_manifold(sphere, np.array([0.0, 0.0])) is None  # J = I there: no null direction

    def parabola(x):
        s = x[1] - x[0] ** 2
        return np.array([s, 2 * s]), np.array([[-2 * x[0], 1.0], [-4 * x[0], 2.0]]), None

    curve = find_manifold(parabola, np.array([0.0, 0.0]), bound=3.0)
    assert curve.dimension == 1 and not curve.closed and math.isnan(curve.radius)
    np.testing.assert_allclose(curve.points[:, 1], curve.points[:, 0] ** 2, atol=1e-10)
    assert curve.points[:, 0].min() < -1.5 and curve.points[:, 0].max() > 1.5
