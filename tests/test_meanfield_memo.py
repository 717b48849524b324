"""What a MeanField built per parameter value reuses (issue 15): the parameters of a law other
than g, made once per law (``lowrank.meanfield._LAW_PARAMETERS``), against a fresh
``parameter_vector`` and a hand-written layout; and the float forms of the small checks of the
continuation's hot path (stability class, determinant sign, chaotic collapse) against the numpy
forms they replace."""

import math

import numpy as np
import pytest

import lowrank.meanfield as meanfield
from lowrank import GaussianLoadings, MeanField, MixtureLoadings
from lowrank.dynamics import classify
from lowrank.meanfield_sweep import _det_sign
from lowrank.symbolic import parameter_vector

MO18 = GaussianLoadings([1.1, 2.0], np.eye(2), rank=1)  # Mastrogiuseppe & Ostojic 2018, Fig. 1


def _law(shift=0.0, overlap=0.3):
    cov = np.array([[1.0, overlap, 0.1], [overlap, 2.0, 0.2], [0.1, 0.2, 1.5]])
    return GaussianLoadings([0.5 + shift, -1.0, 0.25], cov, rank=1, n_inputs=1)


def test_rank_one_parameters_by_hand():
    """theta = (g, alpha, mean_m, mean_n, mean_I, Cov(m, m), Cov(n, m), Cov(m, I), Cov(n, I),
    Cov(I, I)) for a rank-one law with one input (``lowrank.symbolic.parameter_layout``; Var(n)
    does not enter the equations), written out here; the same after the law has been seen (memo
    hit)."""
    law = _law()
    meanfield._LAW_PARAMETERS.clear()
    for _ in range(2):  # a miss, then a hit
        theta = MeanField(law, g=0.7).theta
        assert theta.tolist() == [0.7, 1.0, 0.5, -1.0, 0.25, 1.0, 0.3, 0.1, 0.2, 1.5]
        assert np.array_equal(theta, parameter_vector(law, 0.7))


def test_a_law_seen_twice_gives_the_same_values_as_a_fresh_construction():
    meanfield._LAW_PARAMETERS.clear()
    first = MeanField(MO18, g=1.5)
    hit = MeanField(MO18, g=2.5)  # same law, other g: the memo's entry
    assert len(meanfield._LAW_PARAMETERS) == 1
    for mf, g in ((first, 1.5), (hit, 2.5)):
        assert mf.theta.dtype == np.float64 and mf.theta.flags.writeable
        assert np.array_equal(mf.theta, parameter_vector(MO18, g))
    # the states of the model built from the memo equal those of a fresh construction
    states = hit.stationary_states()
    meanfield._LAW_PARAMETERS.clear()
    fresh = MeanField(MO18, g=2.5).stationary_states()
    assert len(states) == len(fresh) >= 3
    for a, b in zip(states, fresh, strict=True):
        assert a.chaotic == b.chaotic and a.stability == b.stability
        assert np.array_equal(a.unknowns, b.unknowns)
        assert np.array_equal(a.eigenvalues, b.eigenvalues)


def test_a_model_cannot_change_the_memo():
    meanfield._LAW_PARAMETERS.clear()
    mf = MeanField(MO18, g=1.0)
    mf.theta[1:] = 99.0  # a user's edit of one model's vector
    assert np.array_equal(MeanField(MO18, g=1.0).theta, parameter_vector(MO18, 1.0))
    (rest,) = meanfield._LAW_PARAMETERS.values()
    assert not rest.flags.writeable


def test_different_laws_are_not_confused():
    """Laws that differ in one entry of the mean, of the covariance, in the weights of a mixture
    or in the order of its populations, and a law changed in place, each get their own values."""
    meanfield._LAW_PARAMETERS.clear()
    a, b, c = _law(), _law(shift=1e-12), _law(overlap=0.31)
    laws = [a, b, c, MixtureLoadings([a, c], [0.25, 0.75]), MixtureLoadings([a, c], [0.5, 0.5]),
            MixtureLoadings([c, a], [0.75, 0.25])]
    for _ in range(2):
        for law in laws:
            assert np.array_equal(MeanField(law, g=0.9).theta, parameter_vector(law, 0.9))
    assert len(meanfield._LAW_PARAMETERS) == len(laws)
    thetas = {MeanField(law, g=0.9).theta.tobytes() for law in laws[:5]}
    assert len(thetas) == 5  # the reordered mixture is the same law, in another layout
    law = _law()
    before = MeanField(law, g=0.9).theta.copy()
    law.mean[1] = -1.5  # changed in place: read again
    after = MeanField(law, g=0.9).theta
    assert np.array_equal(after, parameter_vector(law, 0.9)) and not np.array_equal(after, before)


def test_another_type_of_law_is_read_afresh():
    """A law that only looks like GaussianLoadings (duck typing) is not memoised: its blocks may
    be computed by its own code."""

    class Law:
        def __init__(self, base):
            self.base, self.reads = base, 0

        def __getattr__(self, name):
            if name == "components":
                self.reads += 1
            return getattr(self.base, name)

    meanfield._LAW_PARAMETERS.clear()
    law = Law(MO18)
    for _ in range(2):
        assert np.array_equal(MeanField(law, g=0.5).theta, parameter_vector(MO18, 0.5))
    assert not meanfield._LAW_PARAMETERS and law.reads >= 2


@pytest.mark.parametrize("time", ["continuous", "discrete"])
def test_stability_with_the_bulk_edge_matches_classify(time):
    """``MeanField._stability`` with the bulk's edge as one more eigenvalue equals ``classify``
    of all of them in one array, in its vectorised form (rows: several linearisations)."""
    mf = MeanField(MO18, g=1.0, time=time)
    rng = np.random.default_rng(5)
    # the edge (a real eigenvalue): -1 + bulk radius for the flow, the radius for the map
    edges = np.array([-0.5, -2e-9, 0.0, 2e-9, -1.0]) + (time == "discrete")
    cases = []
    for _ in range(200):
        eig = -0.05 + rng.normal(size=2) * rng.choice([1e-9, 1e-3]) + 1j * rng.normal(size=2)
        if time == "discrete":
            eig = 0.9 * eig / np.maximum(np.abs(eig), 1.0) + rng.normal(size=2) * 1e-9
        cases.append((eig, float(rng.choice(edges))))
    cases.append((np.array([np.nan, 0.1]), edges[0]))
    cases.append((np.array([-2.0, 0.3]), edges[0]))
    for tol in (0.0, 1e-8):
        rows = np.array([np.append(eig, edge) for eig, edge in cases])
        expected = classify(rows, time, tol).tolist()
        got = [mf._stability(eig.astype(complex), tol, edge) for eig, edge in cases]
        assert got == expected
        assert len(set(got)) == 3  # every class occurs
    with pytest.raises(ValueError, match="tol"):
        mf._stability(np.array([0.1 + 0j]), math.inf)


def test_det_sign_matches_numpy():
    rng = np.random.default_rng(2)
    for n in (2, 3, 4):
        for _ in range(100):
            m = rng.normal(size=(n, n))
            assert _det_sign(m) == np.sign(np.linalg.det(m))
        assert _det_sign(np.zeros((n, n))) == 0.0
        with np.errstate(invalid="ignore"):
            assert _det_sign(np.full((n, n), np.nan)) == 0.0


def test_collapse_values_match_the_array_rule():
    """``_collapsed_values`` on floats equals the rule of ``MeanField._collapsed`` written with
    numpy arrays (gap D_0 - D_inf below 1e-5 (1 + |D_0|), or Delta_inf = -Delta_0 to 1e-6)."""
    rng = np.random.default_rng(8)
    for _ in range(500):
        P = int(rng.integers(1, 4))
        D0 = float(rng.normal())
        log_gap = float(rng.choice([math.log(1e-5 * (1 + abs(D0))), rng.normal(-8, 4)]))
        delta0 = rng.normal(size=P)
        delta_inf = np.where(rng.random(P) < 0.5, -delta0 + rng.normal(size=P) * 1e-6,
                             rng.normal(size=P))
        if rng.random() < 0.05:
            delta_inf[0] = np.nan
        gap = np.exp(log_gap)
        finite = np.isfinite(gap) and np.all(np.isfinite(np.r_[delta0, delta_inf]))
        expected = bool(finite and (
            gap <= 1e-5 * (1.0 + abs(D0))
            or np.all(np.abs(delta_inf + delta0) <= 1e-6 * (1.0 + np.abs(delta0)))
        ))
        got = meanfield._collapsed_values(D0, log_gap, delta0.tolist(), delta_inf.tolist())
        assert got is expected
