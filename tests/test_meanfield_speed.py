"""The fast mean-field paths against independent computations: equations generated once per
population and looped over populations, the shared-lattice nested quadrature, and the theorem
that excludes chaotic states when g sup|phi'| <= 1 (issue 15). Ground truth is computed here
with numpy Gauss-Hermite rules and scipy quad / brentq, never taken from lowrank."""

import math
import warnings

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import quad
from scipy.optimize import brentq

from lowrank import GaussianLoadings, MeanField, MixtureLoadings
from lowrank._checks import ConvergenceWarning
from lowrank.quadrature import nested_average
from lowrank.symbolic import Nonlinearity, X, compile_equations, parameter_vector

pytestmark = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")

_T, _W = np.polynomial.hermite_e.hermegauss(200)
_W = _W / math.sqrt(2.0 * math.pi)  # E over N(0, 1)


def _lncosh(x):
    a = np.abs(x)
    return a + np.log1p(np.exp(-2.0 * a)) - math.log(2.0)


def _avg(f, mu, delta):
    """E f(mu + sqrt(delta) z) by 200-node Gauss-Hermite (accurate for delta of order 1)."""
    return float(_W @ f(mu + math.sqrt(delta) * _T))


def _law(rank, n_inputs, seed):
    rng = np.random.default_rng(seed)
    d = 2 * rank + n_inputs
    a = 0.4 * rng.standard_normal((d, d))
    return GaussianLoadings(0.3 * rng.standard_normal(d), a @ a.T + 0.3 * np.eye(d), rank,
                            n_inputs=n_inputs)


def _mixture(rank, n_inputs, pops):
    comps = [_law(rank, n_inputs, seed) for seed in range(pops)]
    weights = np.arange(1.0, pops + 1.0) / sum(range(1, pops + 1))
    return MixtureLoadings(comps, weights)


def _population_moments(comp, kappa, u):
    """mu, S = Var(m.kappa + I.u), Cov(n, x) of one Gaussian population, in plain numpy."""
    R, K = comp.rank, comp.n_inputs
    coef = np.concatenate([kappa, u])
    rows_x = np.r_[np.arange(R), 2 * R + np.arange(K)]  # m, then I, in the row (m, n, I)
    mu = comp.mean[rows_x] @ coef
    S = coef @ comp.cov[np.ix_(rows_x, rows_x)] @ coef
    cov_nx = comp.cov[R : 2 * R][:, rows_x] @ coef
    return mu, S, cov_nx


def _direct_static(law, g, kappa, D, u):
    """F(kappa, D) = (<n phi(x)>, g^2 <[phi^2]>) and the squared bulk radius, population by
    population (Stein's lemma: <n phi> = mu_n [phi] + Cov(n, x) [phi'])."""
    sech2 = lambda x: 1.0 - np.tanh(x) ** 2  # noqa: E731
    G, bulk, radius2 = np.zeros(law.rank), 0.0, 0.0
    for w, comp in zip(law.weights, law.components, strict=True):
        mu, S, cov_nx = _population_moments(comp, kappa, u)
        delta = S + D
        G += w * (comp.mean_n * _avg(np.tanh, mu, delta) + cov_nx * _avg(sech2, mu, delta))
        bulk += w * _avg(lambda x: np.tanh(x) ** 2, mu, delta)
        radius2 += w * _avg(lambda x: sech2(x) ** 2, mu, delta)
    return np.append(G, g * g * bulk), g * g * radius2


@pytest.mark.parametrize("rank, n_inputs, pops", [(1, 0, 3), (2, 1, 2)])
def test_population_loop_matches_direct_computation(rank, n_inputs, pops):
    """The latent and static maps, generated once for one population and looped over P
    populations, equal a population-by-population numpy computation to 1e-12."""
    law = _mixture(rank, n_inputs, pops)
    g = 0.8
    theta = parameter_vector(law, g)
    rng = np.random.default_rng(7)
    for _ in range(3):
        kappa = 0.6 * rng.standard_normal(rank)
        u = 0.5 * rng.standard_normal(n_inputs)
        D = float(rng.uniform(0.1, 0.6))
        expected, radius2 = _direct_static(law, g, kappa, D, u)
        static = compile_equations("static", rank, n_inputs, pops)
        value, extra = static.value(np.append(kappa, D), u, theta)
        np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-12)
        assert abs(extra[-1] - radius2) <= 1e-12
        for p, comp in enumerate(law.components):  # per-population extras: mu_p, Delta_p
            mu, S, _ = _population_moments(comp, kappa, u)
            assert abs(extra[p] - mu) <= 1e-12 and abs(extra[pops + p] - (S + D)) <= 1e-12
        latent = compile_equations("latent", rank, n_inputs, pops)
        expected0, _ = _direct_static(law, g, kappa, 0.0, u)
        np.testing.assert_allclose(latent.value(kappa, u, theta)[0], expected0[:rank],
                                   rtol=1e-12, atol=1e-12)


def _direct_chaotic(law, g, kappa, d0, dinf):
    """The chaotic residuals (rank one, no inputs) with nested Gauss-Hermite rules, coded
    independently of lowrank: X, Y ~ N(mu, a) with covariance c, a = S + D_0, c = S + D_inf."""
    energy, inf, G = 0.0, 0.0, 0.0
    for w, comp in zip(law.weights, law.components, strict=True):
        mu, S, cov_nx = _population_moments(comp, kappa, np.zeros(0))
        a, c = S + d0, S + dinf
        shared, rest = math.sqrt(abs(c)), math.sqrt(a - abs(c))
        sign = 1.0 if c >= 0 else -1.0
        xs = mu + shared * _T[:, None] + rest * _T[None, :]
        ys = mu + sign * shared * _T[:, None] + rest * _T[None, :]
        big = (_lncosh(xs) @ _W) * (_lncosh(ys) @ _W)
        small = (np.tanh(xs) @ _W) * (np.tanh(ys) @ _W)
        energy += w * (_avg(lambda x: _lncosh(x) ** 2, mu, a) - _W @ big)
        inf += w * (_W @ small)
        sech2 = lambda x: 1.0 - np.tanh(x) ** 2  # noqa: E731
        G += w * (comp.mean_n[0] * _avg(np.tanh, mu, a) + cov_nx[0] * _avg(sech2, mu, a))
    return np.array([G - kappa[0], ((d0**2 - dinf**2) / 2 - g * g * energy) / (d0 - dinf),
                     dinf - g * g * inf])


@pytest.mark.parametrize(
    "kappa, d0, dinf",
    [
        (0.3, 1.7, 0.8),  # shared lattice
        (-0.5, 2.4, -0.9),  # c = S + D_inf < 0: mirrored outer nodes
        (0.2, 1.5, 1e-6 - 0.2**2 * 1.0),  # c ~ 0 with a wide inner Gaussian: fallback rules
        (0.0, 3.0, 0.0),  # c = 0: one outer node
        (0.0, 2.7, -2.3e-11),  # the mean-zero chaotic state: a tiny outer variance (Hermite)
        (0.1, 1.9, 1.7e-9 - 0.01),  # c = 1.7e-9 > 0
        (0.0, 0.8, 2e-3),  # c = 2e-3: the largest outer variance of the Hermite rules
        (0.0, 2.7, -1e-4),  # c < 0, six Hermite nodes: mirrored nodes are nodes (fallback)
    ],
)
def test_chaotic_residuals_match_nested_gauss_hermite(kappa, d0, dinf):
    law = _mixture(1, 0, 2)
    law = MixtureLoadings(
        [GaussianLoadings([1.1, 2.0], [[1.0, 0.3], [0.3, 1.0]], rank=1), law.components[1]],
        [0.6, 0.4],
    )
    g = 2.1
    eq = compile_equations("chaotic", 1, 0, 2)
    y = np.array([kappa, d0, math.log(d0 - dinf)])
    value = eq.value(y, np.zeros(0), parameter_vector(law, g))[0]
    np.testing.assert_allclose(value, _direct_chaotic(law, g, np.array([kappa]), d0, dinf),
                               rtol=1e-10, atol=1e-10)


def _nested_quad(f, mu, c, v):
    """E_z (E_x f(mu + sqrt(c) z + sqrt(v) x))^2 by nested scipy adaptive quadrature."""
    def inner(y):
        return quad(lambda x: float(f(y + math.sqrt(v) * x)) * math.exp(-x * x / 2),
                    -12, 12, epsabs=1e-14, epsrel=1e-13, limit=200)[0] / math.sqrt(2 * math.pi)

    return quad(lambda z: inner(mu + math.sqrt(c) * z) ** 2 * math.exp(-z * z / 2),
                -12, 12, epsabs=1e-14, epsrel=1e-12, limit=200)[0] / math.sqrt(2 * math.pi)


@pytest.mark.parametrize("f", [np.tanh, _lncosh, lambda x: 1.0 - np.tanh(x) ** 2],
                         ids=["tanh", "lncosh", "sech2"])
@pytest.mark.parametrize("mu, c, v", [(0.5, 0.3, 1.2), (-2.0, 0.01, 3.0), (0.2, 6.0, 0.05)])
def test_nested_lattice_average_matches_adaptive_quadrature(f, mu, c, v):
    ref = _nested_quad(f, mu, c, v)
    assert abs(nested_average(f, np.square, mu, c, v) - ref) <= 1e-10 * max(1.0, abs(ref))


@pytest.mark.parametrize("delta", [1e-20, 1e-12, 1.7e-9, 1e-6, 1e-4, 2.5e-3])
@pytest.mark.parametrize("f", [np.tanh, _lncosh, lambda x: 1.0 - np.tanh(x) ** 2],
                         ids=["tanh", "lncosh", "sech2"])
def test_tiny_variance_rule_matches_adaptive_quadrature(f, delta):
    """The few-node Gauss-Hermite rule of a tiny variance against scipy quad in z."""
    from lowrank.quadrature import gauss_rule

    mu = 0.7
    x, w = gauss_rule(mu, delta)
    assert len(x) <= 10
    ref = quad(lambda z: float(f(np.array(mu + math.sqrt(delta) * z))) * math.exp(-z * z / 2),
               -12, 12, epsabs=1e-15, epsrel=1e-14, limit=200)[0] / math.sqrt(2 * math.pi)
    assert abs(float(w @ f(x)) - ref) <= 1e-14 * max(1.0, abs(ref))


# --- the chaos exclusion theorem -----------------------------------------------------------------
def _scs_delta0(g):
    """Sompolinsky, Crisanti & Sommers 1988: Delta0^2 / 2 = g^2 ([Phi^2](0, D) - [Phi](0, D)^2)."""
    def gauss(f, d):
        return quad(lambda z: f(math.sqrt(d) * z) * math.exp(-z * z / 2), -np.inf, np.inf,
                    epsabs=1e-13, epsrel=1e-13)[0] / math.sqrt(2 * math.pi)

    lncosh = lambda x: float(_lncosh(np.array(x)))  # noqa: E731
    return brentq(lambda d: d * d / 2 - g * g * (gauss(lambda x: lncosh(x) ** 2, d)
                                                 - gauss(lncosh, d) ** 2), 1e-3, 10 * g * g,
                  xtol=1e-13)


def test_no_chaotic_search_below_the_bound_and_chaos_just_above():
    """g sup|phi'| <= 1 excludes chaotic states (MeanField.chaos_excluded): no chaotic start
    is run; just above g = 1 the SCS chaotic state (brentq on the SCS equation) is found."""
    scs = GaussianLoadings([0, 0], np.eye(2) * 1e-12, rank=1)
    mo18 = GaussianLoadings([1.1, 2.0], np.eye(2), rank=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for law in (scs, mo18):
            for g in (0.5, 1.0):
                mf = MeanField(law, g=g)
                assert mf.chaos_excluded
                states = mf.stationary_states()
                assert not states.chaotic.any() and states.complete
                # only the static search ran: 2 D starts per kappa start (plus mirrors)
                assert states.n_starts == 2 * 20
        mf = MeanField(scs, g=1.2)
        assert not mf.chaos_excluded
        chaotic = [s for s in mf.stationary_states() if s.chaotic]
    assert len(chaotic) == 1
    assert abs(chaotic[0].delta0[0] - _scs_delta0(1.2)) < 1e-7


def test_chaos_exclusion_needs_a_proven_slope_bound():
    x = sp.Symbol("x")
    assert not MeanField(GaussianLoadings([0, 0], np.eye(2), rank=1), g=0.5,
                         phi=sp.tanh(2 * x) / 2).chaos_excluded  # no bound given: no exclusion
    with pytest.raises(ValueError, match="max_slope"):
        Nonlinearity(sp.tanh(X), max_slope=0.5)  # tanh'(0) = 1
    half = Nonlinearity(sp.tanh(2 * X) / 2, sp.log(sp.cosh(2 * X)) / 4, max_slope=1.0)
    law = GaussianLoadings([0, 0], np.eye(2), rank=1)
    assert MeanField(law, g=1.0, phi=half).chaos_excluded
    assert not MeanField(law, g=1.01, phi=half).chaos_excluded
    assert not MeanField(law, g=0.5, time="discrete").chaos_excluded  # maps: no chaotic search


def test_dense_dedup_path_groups_like_the_tree():
    """unique_points compares up to 64 points densely (no k-d tree); the groups are the same as
    the k-d tree's, chains of near-duplicates and both norms included."""
    from lowrank.dynamics import dedup

    rng = np.random.default_rng(5)
    for _ in range(100):
        n, d = int(rng.integers(1, 50)), int(rng.integers(1, 4))
        pts = np.round(rng.standard_normal((n, d)) * rng.choice([1e-6, 1e-3, 1.0]), 7)
        pts = np.concatenate([pts, pts[: n // 2] + 4e-7])  # near-duplicates, some chained
        for norm in ("max", "rms"):
            dense = dedup.unique_points(pts, 1e-6, 1e-6, norm)
            tree_only = dedup._SMALL
            try:
                dedup._SMALL = 0
                tree = dedup.unique_points(pts, 1e-6, 1e-6, norm)
            finally:
                dedup._SMALL = tree_only
            for a, b in zip(dense, tree, strict=True):
                np.testing.assert_array_equal(a, b)
