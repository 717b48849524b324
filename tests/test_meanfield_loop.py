"""Stationary states over a parameter (``stationary_states_along``) and warm starts of
``MeanField.stationary_states`` (issue 15). Ground truth is computed here, independently of
lowrank: the rank-one static equations of Mastrogiuseppe & Ostojic 2018 solved by scipy brentq
with a 200-node Gauss-Hermite rule, the chaos onset at g = 1 and the Sompolinsky, Crisanti &
Sommers 1988 variance, and the pitchfork at overlap 1."""

import math
import warnings

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq

from lowrank import GaussianLoadings, MeanField
from lowrank._checks import ConvergenceWarning
from lowrank.meanfield_results import StationarySweep
from lowrank.meanfield_sweep import stationary_states_along

pytestmark = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")

_T, _W = np.polynomial.hermite_e.hermegauss(200)
_W = _W / math.sqrt(2.0 * math.pi)  # E over N(0, 1)
MM, MN = 1.1, 2.0  # Mastrogiuseppe & Ostojic 2018, Fig. 1
MO18 = GaussianLoadings([MM, MN], np.eye(2), rank=1)


def _avg(f, mu, delta):
    return float(_W @ f(mu + math.sqrt(delta) * _T))


def _mo18_static_kappa(g):
    """Positive static kappa of the MO18 law: kappa = M_n [tanh](M_m kappa, kappa^2 + D) with
    D = g^2 [tanh^2](M_m kappa, kappa^2 + D), by nested brentq."""

    def bulk(k):
        def h(d):
            return d - g * g * _avg(lambda x: np.tanh(x) ** 2, MM * k, k * k + d)

        return brentq(h, 0.0, g * g + 1.0, xtol=1e-15) if g > 0 else 0.0

    def f(k):
        return MN * _avg(np.tanh, MM * k, k * k + bulk(k)) - k

    return brentq(f, 0.05, 3.0, xtol=1e-14)


def _sweep(build, values, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return stationary_states_along(build, values, **kw)


def test_mo18_static_branch_matches_brentq_and_is_continued():
    values = np.linspace(0.3, 0.95, 14)
    sweep = _sweep(lambda g: MeanField(MO18, g=g), values)
    assert isinstance(sweep, StationarySweep) and sweep.complete
    assert sweep.counts.tolist() == [3] * len(values)  # trivial and +-kappa, below chaos onset
    assert sweep.searched[0] and sweep.searched.sum() <= 2
    for g, states in zip(values, sweep, strict=True):
        kappa = np.sort(states.kappa[:, 0])
        expected = _mo18_static_kappa(g)
        np.testing.assert_allclose(kappa, [-expected, 0.0, expected], atol=1e-8)
        assert not states.chaotic.any() and np.all(states.residual <= 1e-10)
    continued = [s for s, searched in zip(sweep, sweep.searched, strict=True) if not searched]
    assert continued and all(s.search == "continuation" and not s.complete for s in continued)
    assert all(s.search == "multistart" and s.complete
               for s, searched in zip(sweep, sweep.searched, strict=True) if searched)


def _scs_delta0(g):
    """Sompolinsky, Crisanti & Sommers 1988: Delta0^2 / 2 = g^2 ([Phi^2](0, D) - [Phi](0, D)^2),
    Phi = ln cosh, by scipy quad and brentq."""

    def lncosh(x):
        a = abs(x)
        return a + math.log1p(math.exp(-2.0 * a)) - math.log(2.0)

    def gauss(f, d):
        return quad(lambda z: f(math.sqrt(d) * z) * math.exp(-z * z / 2), -np.inf, np.inf,
                    epsabs=1e-13, epsrel=1e-13)[0] / math.sqrt(2 * math.pi)

    return brentq(lambda d: d * d / 2 - g * g * (gauss(lambda x: lncosh(x) ** 2, d)
                                                 - gauss(lncosh, d) ** 2), 1e-3, 10 * g * g,
                  xtol=1e-13)


def test_chaos_onset_at_g_one_and_the_scs_variance():
    """No chaotic state up to g = 1 (the onset of a structureless bulk); above it, one, with the
    SCS variance, found by the search that the onset triggers and then continued."""
    scs = GaussianLoadings([0, 0], np.eye(2) * 1e-12, rank=1)
    values = np.linspace(0.8, 1.3, 11)  # 0.8, 0.85, ..., 1.3
    sweep = _sweep(lambda g: MeanField(scs, g=g), values)
    above = values > 1.0 + 1e-12
    assert sweep.n_chaotic.tolist() == [0] * int((~above).sum()) + [1] * int(above.sum())
    first = int(np.argmax(above))
    assert sweep.searched[first] and "chaotic" in sweep.reasons[first]
    assert not sweep.searched[first + 2:].any()  # the SCS state continued, never lost
    for g in values[above][::3]:
        chaotic = [s for s in sweep[int(np.argmin(np.abs(values - g)))] if s.chaotic]
        assert abs(chaotic[0].delta0[0] - _scs_delta0(g)) < 1e-7


def _pitchfork_kappa(s):
    """Nonzero kappa of the rank-one law m ~ N(0, 1), Cov(m, n) = s, without a bulk: by Stein's
    lemma G(kappa) = s kappa [tanh'](0, kappa^2), so 1 = s [tanh'](0, kappa^2) (brentq)."""
    sech2 = lambda x: 1.0 - np.tanh(x) ** 2  # noqa: E731
    return math.sqrt(brentq(lambda k2: s * _avg(sech2, 0.0, k2) - 1.0, 1e-12, 50.0, xtol=1e-15))


def test_pitchfork_at_overlap_one_triggers_a_search():
    values = np.linspace(0.55, 1.45, 10)  # steps over the pitchfork at overlap 1
    law = lambda s: GaussianLoadings([0, 0], [[1, s], [s, 1 + s * s]], rank=1)  # noqa: E731
    sweep = _sweep(lambda s: MeanField(law(s)), values)
    after = int(np.argmax(values > 1.0))
    assert sweep.counts.tolist() == [1] * after + [3] * (len(values) - after)
    assert sweep.searched[after] and sweep.reasons[after]
    for s, states in zip(values[after:], sweep.states[after:], strict=True):
        expected = _pitchfork_kappa(s)
        np.testing.assert_allclose(np.sort(states.kappa[:, 0]), [-expected, 0.0, expected],
                                   atol=1e-8)
        assert states.stability.tolist().count("stable") == 2  # +-kappa stable, 0 unstable


def test_sweep_finds_what_the_per_value_search_finds_across_chaotic_branch_points():
    """Across the chaos onset of the nontrivial states and the branch points of the MO18 law
    (g ~ 1.8 - 2.2), each value's states equal those of a multi-start search there."""
    values = np.linspace(1.7, 2.3, 13)
    sweep = _sweep(lambda g: MeanField(MO18, g=g), values)
    assert len(set(sweep.counts.tolist())) > 1  # the number of states changes in the range
    for g, states in zip(values, sweep, strict=True):
        direct = MeanField(MO18, g=g).stationary_states()
        assert len(states) == len(direct)
        np.testing.assert_allclose(states.kappa, direct.kappa, atol=1e-7)
        np.testing.assert_allclose(states.delta0, direct.delta0, atol=1e-7)
        assert states.chaotic.tolist() == direct.chaotic.tolist()
        assert states.stability.tolist() == direct.stability.tolist()


def _input_roots(a, g=0.8):
    """Static kappa of the law (m, n, I) ~ N((1.1, 2, 0.5), 1 + 0.1 J) (J all ones) at input a:
    kappa = 2 [tanh] + Cov(n, x) [tanh'] (Stein's lemma) at mu = 1.1 kappa + 0.5 a and
    Delta = Var(m kappa + I a) + D, D = g^2 [tanh^2]; every sign change of the residual on a grid
    of kappa, refined by brentq."""
    sech2 = lambda x: 1.0 - np.tanh(x) ** 2  # noqa: E731

    def residual(k):
        mu, S = 1.1 * k + 0.5 * a, 1.1 * k * k + 0.2 * k * a + 1.1 * a * a
        D = brentq(lambda d: d - g * g * _avg(lambda x: np.tanh(x) ** 2, mu, S + d), 0.0,
                   g * g + 1.0, xtol=1e-15)
        return 2.0 * _avg(np.tanh, mu, S + D) + 0.1 * (k + a) * _avg(sech2, mu, S + D) - k

    grid = np.linspace(-2.0, 2.0, 300)  # no node at the symmetric root 0
    values = [residual(k) for k in grid]
    return np.array([brentq(residual, lo, hi, xtol=1e-14)
                     for lo, hi, flo, fhi in zip(grid, grid[1:], values, values[1:], strict=False)
                     if flo * fhi < 0])


def test_input_sweep_finds_the_pair_born_at_a_fold_away_from_the_known_branch():
    """Sweeping the input of a bistable network: a pair of states is born at a fold of a branch
    that no search has seen (hysteresis); continuing the states of later searches back, and the
    partners of the folds they meet, recovers every state at every value (brentq ground truth)."""
    law = GaussianLoadings([1.1, 2.0, 0.5], np.eye(3) + 0.1, rank=1, n_inputs=1)
    values = np.linspace(-1.5, 1.5, 25)
    sweep = _sweep(lambda a: (MeanField(law, g=0.8), [a]), values)
    assert sweep.searched.sum() <= len(values) // 4
    assert max(sweep.counts) == 3 and min(sweep.counts) == 1
    for a, states in zip(values, sweep, strict=True):
        np.testing.assert_allclose(np.sort(states.kappa[:, 0]), _input_roots(a), atol=1e-7)


def test_states_born_on_a_filled_in_branch_are_searched_for():
    """With a bulk strong enough (g = 1.3), chaotic states branch off the middle branch of the
    hysteresis, which only the filling-in finds: the values where it crosses bulk radius 1 are
    searched as well, and every value has the states of a multi-start search there."""
    law = GaussianLoadings([1.1, 2.0, 0.5], np.eye(3) + 0.1, rank=1, n_inputs=1)
    values = np.linspace(-1.5, 1.5, 31)
    with warnings.catch_warnings():  # a few searches have failed starts (so do the per-value
        warnings.simplefilter("ignore", ConvergenceWarning)  # searches there)
        sweep = stationary_states_along(lambda a: (MeanField(law, g=1.3), [a]), values)
    assert sweep.n_chaotic.max() >= 1
    assert any("filled in" in reason for reason in sweep.reasons)
    for a, states in zip(values, sweep, strict=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            direct = MeanField(law, g=1.3).stationary_states([a])
        assert _labels(states) == _labels(direct), a


def _labels(states):
    """(chaotic, kappa rounded) of each state, sorted."""
    return sorted(zip(states.chaotic.tolist(), np.round(states.kappa[:, 0], 6).tolist(),
                      strict=True))


def test_search_every_and_an_incomplete_search_warn_once():
    values = np.linspace(0.4, 0.6, 5)
    sweep = _sweep(lambda g: MeanField(MO18, g=g), values, search_every=1)
    assert sweep.searched.all() and all(s.complete for s in sweep)
    with pytest.warns(ConvergenceWarning, match="did not converge") as record:
        poor = stationary_states_along(lambda g: MeanField(MO18, g=g), values, max_iter=1)
    assert len([w for w in record if w.category is ConvergenceWarning]) == 1
    assert not poor.complete and not poor.report.success


def test_warm_starts_are_found_and_counted():
    near = MeanField(MO18, g=0.52).stationary_states()
    mf = MeanField(MO18, g=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warm = mf.stationary_states(n_starts=1, starts=near)
    assert warm.n_starts >= len(near) + 1 and warm.complete
    expected = _mo18_static_kappa(0.5)
    np.testing.assert_allclose(np.sort(warm.kappa[:, 0]), [-expected, 0.0, expected], atol=1e-8)


def test_bad_arguments_name_the_argument():
    build = lambda g: MeanField(MO18, g=g)  # noqa: E731
    with pytest.raises(ValueError, match="values"):
        stationary_states_along(build, [])
    with pytest.raises(TypeError, match="build"):
        stationary_states_along(3.0, [0.5])
    with pytest.raises(TypeError, match="build"):
        stationary_states_along(lambda g: g, [0.5])
    with pytest.raises(ValueError, match="search_every"):
        stationary_states_along(build, [0.5], search_every=0)
    mf = MeanField(MO18, g=0.5)
    with pytest.raises(TypeError, match="starts"):
        mf.stationary_states(starts=[1.0])
    wrong = MeanField(GaussianLoadings(np.zeros(4), np.eye(4), rank=2), g=0.5).stationary_states()
    with pytest.raises(ValueError, match="starts"):
        mf.stationary_states(starts=wrong)
