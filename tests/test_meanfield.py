"""MeanField against independent ground truth: the reference values (docs/theory, section
theory-reference), analytic results, finite differences, and a simulated network of N = 4000
neurons."""

import math

import numpy as np
import pytest
import sympy as sp

from lowrank import GaussianLoadings, LowRankNetwork, MeanField, MixtureLoadings, simulate
from lowrank.meanfield import FixedPoint
from lowrank.quadrature import gaussian_average


def rank_one(overlap, mean_m=0.0, mean_n=0.0, var_m=1.0):
    """m ~ N(mean_m, var_m), Cov(n, m) = overlap, Var(n) chosen to keep the law PSD."""
    return GaussianLoadings(
        [mean_m, mean_n], [[var_m, overlap], [overlap, overlap**2 / var_m + 1.0]], rank=1
    )


def rank_two(S):
    """Sigma_mm = I, Cov(n, m) = S, Sigma_nn = S S^T + I."""
    S = np.asarray(S, float)
    cov = np.block([[np.eye(2), S.T], [S, S @ S.T + np.eye(2)]])
    return GaussianLoadings(np.zeros(4), cov, rank=2)


def sech2(x):
    return 1.0 - np.tanh(x) ** 2


def tanh3(x):  # phi''' for tanh
    t = np.tanh(x)
    return -2.0 * (1 - t * t) * (1 - 3 * t * t)


# --- docs/theory, section theory-reference --------------------------------------------------------
KAPPA_STAR = {1.2: 0.486282, 1.5: 0.843417, 1.6: 0.948134, 2.0: 1.337109, 3.0: 2.222314}


@pytest.mark.parametrize("overlap", sorted(KAPPA_STAR))
def test_rank_one_reference_fixed_points(overlap):
    fps = MeanField(rank_one(overlap)).fixed_points()
    assert len(fps) == 3 and fps.n_starts > 0
    np.testing.assert_allclose(
        fps.kappa[:, 0], [0.0, -KAPPA_STAR[overlap], KAPPA_STAR[overlap]], atol=1e-6
    )
    assert fps.stable.tolist() == [False, True, True]
    # origin: -1 + sigma_mn [phi'](0, 0) = -1 + sigma_mn
    assert abs(fps[0].eigenvalues[0].real - (overlap - 1.0)) < 1e-12
    assert all(p.residual < 1e-10 for p in fps)


@pytest.mark.parametrize("overlap, radial", [(1.2, -0.2914), (1.6, -0.5772)])
def test_rank_one_radial_eigenvalue(overlap, radial):
    fp = MeanField(rank_one(overlap)).fixed_points()[2]
    assert abs(fp.eigenvalues[0].real - radial) < 5e-5
    # and the formula -1 + sigma ([phi'] + kappa^2 [phi''']) with independent quadrature
    k2 = fp.kappa[0] ** 2
    formula = -1 + overlap * (gaussian_average(sech2, 0, k2) + k2 * gaussian_average(tanh3, 0, k2))
    assert abs(fp.eigenvalues[0].real - formula) < 1e-10


@pytest.mark.parametrize("overlap", [0.5, 0.95])
def test_no_pitchfork_below_overlap_one(overlap):
    fps = MeanField(rank_one(overlap)).fixed_points()
    assert len(fps) == 1 and fps.stable.tolist() == [True]
    np.testing.assert_allclose(fps.kappa, 0.0, atol=1e-12)


def test_erf_nonlinearity_analytic_fixed_point():
    """phi = erf(sqrt(pi) x / 2): [phi'](0, D) = 1 / sqrt(1 + pi D / 2), so sigma [phi'] = 1 gives
    kappa*^2 = 2 (sigma^2 - 1) / pi exactly."""
    sigma = 1.7
    fps = MeanField(rank_one(sigma), phi="erf").fixed_points()
    assert abs(fps.kappa[2, 0] - math.sqrt(2 * (sigma**2 - 1) / math.pi)) < 1e-9


def test_sympy_expression_phi_equals_preset():
    x = sp.Symbol("s")
    a = MeanField(rank_one(1.5), phi=sp.tanh(x)).fixed_points()
    b = MeanField(rank_one(1.5)).fixed_points()
    np.testing.assert_allclose(a.kappa, b.kappa, atol=1e-10)


# --- rank two ------------------------------------------------------------------------------------
def test_symmetric_overlap_fixed_points_and_transverse_eigenvalues():
    """Sigma_nm symmetric with eigenvalues 2.5 and 1.6 (rotated basis): fixed points along the
    eigenvectors at lambda_i [phi'](0, kappa^2) = 1, transverse eigenvalue
    -1 + lambda_j / lambda_i."""
    lam = np.array([2.5, 1.6])
    c, s = math.cos(0.4), math.sin(0.4)
    Q = np.array([[c, -s], [s, c]])
    fps = MeanField(rank_two(Q @ np.diag(lam) @ Q.T)).fixed_points()
    assert len(fps) == 5  # origin and two pairs
    for p in fps[1:]:
        proj = Q.T @ p.kappa
        i = int(np.argmax(np.abs(proj)))
        j = 1 - i
        assert abs(proj[j]) < 1e-8
        assert abs(lam[i] * gaussian_average(sech2, 0.0, proj[i] ** 2) - 1.0) < 1e-10
        assert np.min(np.abs(p.eigenvalues - (-1 + lam[j] / lam[i]))) < 1e-8
        assert p.stable == (i == 0)


def test_ring_attractor():
    """Sigma_nm = 2 I: a ring of radius kappa*(2) (the rank-one value), neutral along the ring.

    The ring is one object (a closed manifold, transversally stable); each of its points is
    marginal (eigenvalue 0 along the ring), not stable; only the origin is an isolated point."""
    mf = MeanField(rank_two(2.0 * np.eye(2)))
    fps = mf.fixed_points(n_starts=30)
    assert len(fps.manifolds) == 1 and fps.n_attractors == 1
    ring = fps.manifolds[0]
    assert ring.dimension == 1 and ring.closed and ring.stable and len(ring.points) >= 5
    assert abs(ring.radius - KAPPA_STAR[2.0]) < 1e-6
    np.testing.assert_allclose(np.linalg.norm(ring.points, axis=1), KAPPA_STAR[2.0], atol=1e-6)
    np.testing.assert_allclose(fps.kappa, 0.0, atol=1e-12)
    for k in ring.points[:: max(len(ring.points) // 5, 1)]:
        p, _ = mf.newton_from(FixedPoint(k, np.zeros(2), False, 0.0, 0))
        assert np.min(np.abs(p.eigenvalues)) < 1e-7 and p.marginal and not p.stable


def test_limit_cycle_radius_and_frequency():
    """Sigma_nm = a I + b R_90: limit cycle with angular speed b / a; the state's coordinate v along
    m has the ring's radius kappa*(a), and kappa = Sigma v [phi'] = Sigma v / a is longer by
    sqrt(a^2 + b^2) / a."""
    a, b = 2.0, 0.6
    mf = MeanField(rank_two([[a, -b], [b, a]]))
    traj = mf.simulate([0.3, 0.0], t_max=60.0, dt=0.01)
    np.testing.assert_allclose(np.linalg.norm(traj.v[0, -2000:], axis=1), KAPPA_STAR[a], atol=1e-6)
    k = traj.kappa[0, -2000:]
    np.testing.assert_allclose(
        np.linalg.norm(k, axis=1), math.hypot(a, b) / a * KAPPA_STAR[a], atol=1e-6
    )
    angle = np.unwrap(np.arctan2(k[:, 1], k[:, 0]))
    omega = (angle[-1] - angle[0]) / (traj.t[-1] - traj.t[-2000])
    assert abs(omega - b / a) < 1e-6


def test_jacobian_matches_finite_differences_mixture_with_inputs():
    rng = np.random.default_rng(1)
    comps = []
    for _ in range(2):
        A = rng.normal(size=(5, 5)) * 0.5
        comps.append(
            GaussianLoadings(
                rng.normal(size=5) * 0.5, A @ A.T + 0.1 * np.eye(5), rank=2, n_inputs=1
            )
        )
    mf = MeanField(MixtureLoadings(comps, [0.4, 0.6]))
    kappa, u = np.array([0.3, -0.5]), np.array([0.7])
    J = mf.jacobian(kappa, u)
    h = 1e-6
    fd = np.array(
        [
            (mf.velocity(kappa + h * e, u) - mf.velocity(kappa - h * e, u)) / (2 * h)
            for e in np.eye(2)
        ]
    ).T
    np.testing.assert_allclose(J, fd, rtol=1e-7, atol=1e-8)


def test_identical_populations_reduce_to_one():
    law = rank_one(1.8, mean_m=0.3, mean_n=0.5)
    mixed = MixtureLoadings([law, law], [0.3, 0.7])
    k = np.array([0.8])
    np.testing.assert_allclose(MeanField(mixed).velocity(k), MeanField(law).velocity(k), rtol=1e-13)


# --- discrete time -------------------------------------------------------------------------------
def test_map_shares_fixed_points_but_not_stability():
    flow = MeanField(rank_one(2.0)).fixed_points()
    step = MeanField(rank_one(2.0), time="discrete").fixed_points()
    np.testing.assert_allclose(flow.kappa, step.kappa, atol=1e-10)
    np.testing.assert_allclose(step.eigenvalues, flow.eigenvalues + 1.0, atol=1e-10)
    # negative overlap: origin stable for the flow (-1 - 3) but not for the map (|-3| > 1)
    assert MeanField(rank_one(-3.0)).fixed_points()[0].stable
    neg = MeanField(rank_one(-3.0), time="discrete").fixed_points()
    assert not neg[0].stable and abs(neg[0].eigenvalues[0] + 3.0) < 1e-12


def test_map_iteration_converges_to_fixed_point():
    mf = MeanField(rank_one(2.0), time="discrete")
    traj = mf.simulate([0.1], t_max=200, dt=1)
    assert abs(traj.kappa[0, -1, 0] - KAPPA_STAR[2.0]) < 1e-6


# --- random bulk ---------------------------------------------------------------------------------
SCS = {1.1: 0.111063, 1.5: 0.747686, 2.0: 1.924805, 2.5: 3.495343, 3.0: 5.446326}


@pytest.mark.parametrize("g", sorted(SCS))
def test_sompolinsky_crisanti_sommers_variance(g):
    states = MeanField(GaussianLoadings([0, 0], np.eye(2), rank=1), g=g).stationary_states()
    chaotic = [s for s in states if s.chaotic]
    assert len(chaotic) == 1
    s = chaotic[0]
    assert abs(s.delta0[0] - SCS[g]) < 2e-6
    assert abs(s.delta_inf[0]) < 1e-7 and abs(s.kappa[0]) < 1e-9
    static = [s for s in states if not s.chaotic]
    assert all(not s.stable for s in static)  # every static state is unstable past g = 1


@pytest.mark.parametrize("g", [0.6, 0.95])
def test_no_chaos_below_g_one(g):
    states = MeanField(GaussianLoadings([0, 0], np.eye(2), rank=1), g=g).stationary_states()
    assert not any(states.chaotic)
    trivial = states[0]
    assert trivial.stable and abs(trivial.bulk_radius - g) < 1e-12 and trivial.delta0[0] < 1e-12


def test_static_outlier_reduces_to_g_zero_formula():
    """At g = 0 the static-state outlier is M_n (M_m [phi'] + Sigma_m^2 kappa [phi''])
    (docs/theory, section theory-bulk)."""
    Mm, Mn = 1.1, 2.0
    states = MeanField(GaussianLoadings([Mm, Mn], np.eye(2), rank=1), g=0.0).stationary_states()
    s = [s for s in states if s.kappa[0] > 0.5][0]
    k = s.kappa[0]
    mu, d = Mm * k, k * k
    phi2 = lambda x: -2 * np.tanh(x) * sech2(x)  # noqa: E731
    outlier = Mn * (Mm * gaussian_average(sech2, mu, d) + k * gaussian_average(phi2, mu, d))
    assert abs(s.eigenvalues[0].real - (outlier - 1.0)) < 1e-10
    # and kappa solves kappa = M_n [phi](M_m kappa, kappa^2) independently
    assert abs(Mn * gaussian_average(np.tanh, mu, d) - k) < 1e-10


def test_mastrogiuseppe_static_state_self_consistency():
    """g = 1: kappa = M_n [phi], Delta_0 = g^2 [phi^2] + kappa^2, with independent quadrature."""
    Mm, Mn, g = 1.1, 2.0, 1.0
    states = MeanField(GaussianLoadings([Mm, Mn], np.eye(2), rank=1), g=g).stationary_states()
    s = [s for s in states if s.kappa[0] > 0.5][0]
    k, d0 = s.kappa[0], s.delta0[0]
    assert abs(Mn * gaussian_average(np.tanh, Mm * k, d0) - k) < 1e-10
    assert abs(g**2 * gaussian_average(lambda x: np.tanh(x) ** 2, Mm * k, d0) + k * k - d0) < 1e-10
    assert s.stable and s.bulk_radius < 1


# --- finite N -------------------------------------------------------------------------------------
def test_mean_field_matches_simulated_network():
    """N = 4000 with whitened loadings: the network settles at kappa* within 2.5%.

    Whitening fixes the sample means and covariances, but the sample averages of the nonlinear
    terms (n phi(m kappa)) still fluctuate by ~1/sqrt(N) = 1.6% of their size (docs/theory,
    section theory-reference: 1-2%)."""
    law = rank_one(2.0)
    net = LowRankNetwork.sample(law, 4000, seed=3, whiten=True)
    x0 = 0.5 * net.m[:, 0]
    traj = simulate(net, x0, t_max=40.0, dt=0.05, method="rk4", record_x=False)
    assert abs(traj.kappa[0, -1, 0] - KAPPA_STAR[2.0]) < 0.025 * KAPPA_STAR[2.0]


# --- bad input ------------------------------------------------------------------------------------
def test_bad_input():
    law = rank_one(2.0)
    with pytest.raises(TypeError, match="loadings"):
        MeanField(np.eye(2))
    with pytest.raises(ValueError, match="g must be >= 0"):
        MeanField(law, g=-0.1)
    with pytest.raises(ValueError, match="unknown phi"):
        MeanField(law, phi="sigmoid9")
    with pytest.raises(ValueError, match="time"):
        MeanField(law, time="hybrid")
    with pytest.raises(ValueError, match="positive semi-definite"):
        GaussianLoadings([0, 0], [[1, 2], [2, 1]], rank=1)
    mf = MeanField(law)
    with pytest.raises(ValueError, match="kappa"):
        mf.velocity([0.1, 0.2])
    with pytest.raises(ValueError, match="inputs"):
        mf.velocity([0.1], inputs=[1.0])
    with pytest.raises(ValueError, match="v0"):
        mf.simulate(np.zeros((3, 2)), 1.0)
    with pytest.raises(ValueError, match="kappa0"):
        mf.simulate(kappa0=np.zeros((3, 2)), t_max=1.0)
    with pytest.raises(ValueError, match="dt must be 1"):
        MeanField(law, time="discrete").simulate([0.1], 10, dt=0.5)
    with pytest.raises(ValueError, match="g = 0"):
        MeanField(law, g=0.5).fixed_points()
