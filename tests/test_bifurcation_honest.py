"""Pseudo-arclength continuation (issue 12, "honest solvers"): folds, branch points and branches
checked against ground truth computed here independently (scipy quad + brentq on the mean-field
equations of Beiran et al. 2021 and Mastrogiuseppe & Ostojic 2018, and analytic bifurcation
points), plus the regressions of the natural-parameter continuation it replaces."""

import math
import warnings

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq, minimize_scalar

from lowrank import GaussianLoadings, MeanField, bifurcation_diagram
from lowrank._checks import ConvergenceWarning


def gauss(f, mean: float, delta: float) -> float:
    """[f](mean, delta) = E f(mean + sqrt(delta) z) by adaptive quadrature."""
    s = math.sqrt(delta)
    def density(z):
        return f(mean + s * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    return quad(density, -np.inf, np.inf, epsabs=1e-14, epsrel=1e-13)[0]


def dphi(delta: float, mean: float = 0.0) -> float:
    return gauss(lambda x: 1.0 - math.tanh(x) ** 2, mean, delta)


def quiet(*args, **kwargs):
    """A diagram with ConvergenceWarnings silenced (its ``unresolved`` is checked instead)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return bifurcation_diagram(*args, **kwargs)


def located(d) -> list:
    """Unresolved items other than incomplete multi-start solves (MeanField's own report)."""
    return [u for u in d.unresolved if u.kind != "discovery"]


# --- an S-shaped curve: two folds and the unstable middle branch between them ------------------
# rows (m, n, I): sigma_nm = 2, sigma_nI = 1, sigma_mI = 0, var m = var I = 1, so
# kappa = (2 kappa + u) [phi'](0, kappa^2 + u^2): an imperfect pitchfork in the input u.
S_LAW = GaussianLoadings([0, 0, 0], [[1, 2, 0], [2, 6, 1], [0, 1, 1]], rank=1, n_inputs=1)


def s_residual(kappa: float, u: float) -> float:
    return (2 * kappa + u) * dphi(kappa * kappa + u * u) - kappa


def test_s_curve_folds_and_middle_branch_against_brute_force():
    d = quiet(
        lambda u: (MeanField(S_LAW), np.array([u])), "u", np.linspace(-1, 1, 21), discover_every=10
    )
    assert not located(d)
    # ground truth: u(kappa) on the middle branch by brentq, the fold where du/dkappa = 0
    u_of = lambda k: brentq(lambda u: s_residual(k, u), -1.0, 0.2, xtol=1e-15)  # noqa: E731
    fold = minimize_scalar(u_of, bounds=(0.3, 1.0), method="bounded", options={"xatol": 1e-10})
    u_star, k_star = fold.fun, fold.x  # u* < 0 at kappa* > 0; the other fold by (k, u) -> -(k, u)
    folds = d.events_of("fold")
    assert len(folds) == 2 and not d.events_of("branch_point")
    np.testing.assert_allclose([f.parameter for f in folds], [u_star, -u_star], atol=1e-6)
    np.testing.assert_allclose([f.kappa[0] for f in folds], [k_star, -k_star], atol=1e-5)
    # one branch through both folds; between them (in arclength) it is unstable and turns back
    assert len({f.branch for f in folds}) == 1
    branch = d.branches[folds[0].branch]
    ends = [int(np.argmin(np.abs(branch.parameter - f.parameter))) for f in folds]
    middle = slice(min(ends) + 1, max(ends))
    assert np.all(branch.stability[middle] == "unstable")
    assert np.all(np.abs(branch.parameter[middle]) < -u_star)
    assert np.all(np.diff(branch.parameter[middle]) * np.diff(branch.parameter[: min(ends)]).mean()
                  < 0)  # the middle branch runs against the outer ones
    # the middle branch's samples at u = 0 and u = 0.2 against brentq in kappa
    for u, k_true in ((0.0, 0.0), (0.2, brentq(lambda k: s_residual(k, 0.2), -k_star, 0.0))):
        i = middle.start + int(np.argmin(np.abs(branch.parameter[middle] - u)))
        assert branch.parameter[i] == pytest.approx(u, abs=1e-12)
        assert branch.kappa[i, 0] == pytest.approx(k_true, abs=1e-8)
    assert branch.parameter.min() == -1 and branch.parameter.max() == 1


# --- a pitchfork: the side branches start at the located branch point --------------------------
def test_pitchfork_side_branches_start_at_the_branch_point():
    law = lambda s: GaussianLoadings([0, 0], [[1, s], [s, 1 + s * s]], rank=1)  # noqa: E731
    d = quiet(lambda s: MeanField(law(s)), "overlap", np.linspace(0.6, 1.4, 9))
    assert d.unresolved == []
    (bp,) = d.events_of("branch_point")
    assert abs(bp.parameter - 1.0) < 1e-6 and bp.kernel_dimension == 1  # -1 + sigma [phi'](0, 0)
    side = [b for b in d.branches if b.origin == "branch_point"]
    assert len(side) == 2 and len(d.branches) == 3
    for b in side:
        assert abs(b.parameter[0] - 1.0) < 1e-6 and abs(b.kappa[0, 0]) < 1e-4
        # sigma [phi'](0, kappa^2) = 1 at the last sample (sigma = 1.4)
        k_true = brentq(lambda k: 1.4 * dphi(k * k) - 1.0, 0.1, 3.0, xtol=1e-14)
        assert b.parameter[-1] == 1.4 and abs(abs(b.kappa[-1, 0]) - k_true) < 1e-8
    assert side[0].kappa[-1, 0] == pytest.approx(-side[1].kappa[-1, 0], abs=1e-10)


# --- the ring of a rank-2 network with O(2) symmetry --------------------------------------------
def ring_model(rho: float) -> MeanField:
    cov = np.array(
        [[1, 0, rho, 0], [0, 1, 0, rho], [rho, 0, 1 + rho**2, 0], [0, rho, 0, 1 + rho**2]]
    )
    return MeanField(GaussianLoadings(np.zeros(4), cov, rank=2))


def test_ring_onset_is_one_double_branch_point_and_one_ring_branch():
    """Sigma_nm = rho I: F_y = (rho - 1) I at the origin, so det F_y = (rho - 1)^2 never changes
    sign; the ring rho [phi'](0, r^2) = 1 is born at rho = 1."""
    d = quiet(ring_model, "rho", np.linspace(0.5, 1.5, 11))  # multi-start at every value
    assert not located(d)
    (bp,) = d.events  # no folds, no branch points at 1.4-1.5, nothing else
    assert bp.kind == "branch_point" and abs(bp.parameter - 1.0) < 1e-6
    assert bp.kernel_dimension == 2 and np.max(np.abs(bp.kappa)) < 1e-8
    assert len(d.branches) == 2  # the origin and one branch on the ring
    (ring,) = [b for b in d.branches if b.manifold_dimension == 1]
    assert ring.origin == "branch_point" and abs(ring.parameter[0] - 1.0) < 1e-6
    assert ring.marginal.all()  # every point of a ring has a neutral direction
    r_true = brentq(lambda r: 1.5 * dphi(r * r) - 1.0, 0.1, 3.0, xtol=1e-14)
    assert ring.parameter[-1] == 1.5
    assert abs(np.linalg.norm(ring.kappa[-1]) - r_true) < 1e-8


def test_one_iteration_reports_what_it_missed():
    """At overlap 2 there are 3 fixed points (0 and +-1.337109); one Newton iteration finds only
    the origin (an exact root), and must say that it missed the rest."""
    law = lambda s: GaussianLoadings([0, 0], [[1, s], [s, 1 + s * s]], rank=1)  # noqa: E731
    with pytest.warns(ConvergenceWarning, match="unresolved"):
        d = bifurcation_diagram(
            lambda s: MeanField(law(s)), "overlap", np.linspace(1.8, 2.2, 5), max_iter=1
        )
    at_two = [b for b in d.branches if np.any(np.isclose(b.parameter, 2.0, atol=1e-12))]
    assert len(at_two) < 3 and d.unresolved
    assert any(
        u.kind == "discovery" and np.allclose(u.interval, 2.0, atol=1e-12) for u in d.unresolved
    )
    assert all(np.isfinite(u.residual) and u.residual > 1e-10 for u in d.unresolved)


# --- Mastrogiuseppe & Ostojic 2018: both static branches, mirror images -------------------------
def test_mastrogiuseppe_static_branches_are_mirror_images():
    """M_m = 1.1, M_n = 2: kappa -> -kappa is a symmetry, so the static states come in pairs over
    the same range, which ends where they meet kappa = 0 at M_m M_n [phi'](0, D*) = 1 with
    D* = g^2 [phi^2](0, D*) (linearising kappa = M_n [phi](M_m kappa, Delta_0))."""
    Mm, Mn = 1.1, 2.0
    law = GaussianLoadings([Mm, Mn], np.eye(2), rank=1)
    values = np.linspace(1.2, 2.4, 13)
    d = quiet(lambda g: MeanField(law, g=g), "g", values, discover_every=6)
    assert not located(d)
    d_star = brentq(lambda D: Mm * Mn * dphi(D) - 1.0, 1e-3, 10.0, xtol=1e-15)
    g_star = math.sqrt(d_star / gauss(lambda x: math.tanh(x) ** 2, 0.0, d_star))
    static = [b for b in d.branches if not b.chaotic]
    plus = [b for b in static if b.kappa[:, 0].max() > 0.1]
    minus = [b for b in static if b.kappa[:, 0].min() < -0.1]
    assert len(plus) == len(minus) == 1
    for b in plus + minus:  # over the whole range, up to the branch point at g*
        assert b.parameter.min() == values[0]
        assert abs(b.parameter.max() - g_star) < 1e-6
    assert any(abs(e.parameter - g_star) < 1e-6 for e in d.events_of("branch_point"))
    # at every value, the static kappa come in +- pairs
    for v in values:
        ks = np.sort(
            [
                s.kappa[0]
                for b in static
                for p, s in zip(b.parameter, b.states, strict=True)
                if p == v
            ]
        )
        np.testing.assert_allclose(ks, -ks[::-1], atol=1e-8)
    # each sample solves the static equations of Mastrogiuseppe & Ostojic 2018 (sigma_nm = 0)
    for b in plus + minus:
        for g, s in list(zip(b.parameter, b.states, strict=True))[1::6]:
            k, delta = s.kappa[0], s.delta0[0]
            assert abs(k - Mn * gauss(math.tanh, Mm * k, delta)) < 1e-8
            phi2 = gauss(lambda x: math.tanh(x) ** 2, Mm * k, delta)
            assert abs(delta - g * g * phi2 - k * k) < 1e-8
