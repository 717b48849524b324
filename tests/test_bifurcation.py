"""Bifurcation diagrams: events located against analytic bifurcation points."""

import math

import matplotlib
import numpy as np
import pytest

from lowrank import GaussianLoadings, MeanField, bifurcation_diagram
from lowrank.quadrature import gaussian_average

matplotlib.use("Agg")


def test_pitchfork_at_overlap_one():
    law = lambda s: GaussianLoadings([0, 0], [[1, s], [s, 1 + s * s]], rank=1)  # noqa: E731
    d = bifurcation_diagram(lambda s: MeanField(law(s)), "overlap", np.linspace(0.55, 1.45, 10))
    points = d.events_of("branch_point")
    assert len(points) == 1 and abs(points[0].parameter - 1.0) < 1e-6
    assert not d.events_of("fold") and not d.events_of("hopf")
    # the nonzero branches start at the pitchfork (marginal there) and are stable past it
    side = [b for b in d.branches if abs(b.kappa[-1, 0]) > 0.1]
    assert len(side) == 2
    for b in side:
        assert abs(b.parameter[0] - 1.0) < 1e-6 and b.marginal[0]
        assert np.all(b.parameter[1:] > 1.0) and b.stable[1:].all()


def test_chaos_onset_at_g_one_without_structure():
    law = GaussianLoadings([0, 0], np.eye(2), rank=1)
    d = bifurcation_diagram(lambda g: MeanField(law, g=g), "g", np.linspace(0.55, 1.45, 7))
    onset = d.events_of("chaos_onset")
    assert len(onset) == 1 and abs(onset[0].parameter - 1.0) < 1e-6
    assert any(b.chaotic and b.parameter[0] > 1.0 for b in d.branches)


def test_hopf_of_rotational_overlap():
    """Sigma_nm = a I + b R_90: origin eigenvalues -1 + a +- i b, Hopf at a = 1."""

    def build(a, b=0.5):
        S = np.array([[a, -b], [b, a]])
        return MeanField(
            GaussianLoadings(
                np.zeros(4), np.block([[np.eye(2), S.T], [S, S @ S.T + np.eye(2)]]), rank=2
            )
        )

    d = bifurcation_diagram(build, "a", np.linspace(0.65, 1.35, 8))
    hopf = d.events_of("hopf")
    assert len(hopf) == 1 and abs(hopf[0].parameter - 1.0) < 1e-6


def test_fold_of_input_driven_unit():
    """kappa = M_n tanh(M_m kappa + u) (no variance): folds at u = +-(atanh(t) - M_m M_n t),
    t = sqrt(1 - 1 / (M_m M_n))."""
    Mm, Mn = 1.0, 2.0
    mf = MeanField(GaussianLoadings([Mm, Mn, 1.0], np.zeros((3, 3)), rank=1, n_inputs=1))
    d = bifurcation_diagram(lambda u: (mf, np.array([u])), "u", np.linspace(-1, 1, 21))
    t = math.sqrt(1 - 1 / (Mm * Mn))
    u_star = math.atanh(t) - Mm * Mn * t
    folds = d.events_of("fold")
    assert len(folds) == 2
    np.testing.assert_allclose([f.parameter for f in folds], [u_star, -u_star], atol=1e-6)
    np.testing.assert_allclose(sorted(abs(f.kappa[0]) for f in folds), [Mn * t] * 2, atol=1e-4)


@pytest.mark.slow
def test_mastrogiuseppe_onset_satisfies_bulk_radius_one():
    """M_m = 1.1, M_n = 2: at the located chaos onset g^2 [phi'^2](mu, Delta_0) = 1 (independent
    quadrature)."""
    law = GaussianLoadings([1.1, 2.0], np.eye(2), rank=1)
    d = bifurcation_diagram(lambda g: MeanField(law, g=g), "g", np.linspace(1.2, 2.4, 25))
    onsets = [e for e in d.events_of("chaos_onset") if abs(e.kappa[0]) > 0.1]
    assert onsets
    for e in onsets:
        s = e.state
        r2 = e.parameter**2 * gaussian_average(
            lambda x: (1 - np.tanh(x) ** 2) ** 2, s.mu[0], s.delta0[0]
        )
        assert abs(r2 - 1.0) < 1e-8


def test_plot_and_bad_input():
    law = lambda s: GaussianLoadings([0, 0], [[1, s], [s, 1 + s * s]], rank=1)  # noqa: E731
    d = bifurcation_diagram(lambda s: MeanField(law(s)), "overlap", np.linspace(0.8, 1.2, 5))
    ax = d.plot()
    assert ax.get_xlabel() == "overlap" and len(ax.lines) > 0
    with pytest.raises(ValueError, match="observable"):
        d.plot(observable="entropy")
    with pytest.raises(ValueError, match="monotonic"):
        bifurcation_diagram(lambda s: MeanField(law(s)), "overlap", [1.0, 0.9, 1.1])
    with pytest.raises(TypeError, match="build must be callable"):
        bifurcation_diagram(3, "overlap", [0.5, 0.6])
    with pytest.raises(TypeError, match="MeanField"):
        bifurcation_diagram(lambda s: law(s), "overlap", [0.5, 0.6])
