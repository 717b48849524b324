"""Symbolic derivation and compiled code: exact Jacobians, independent evaluations, caching."""

import math
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

from lowrank import GaussianLoadings, MixtureLoadings
from lowrank.quadrature import gaussian_average
from lowrank.symbolic import (
    GaussAvg,
    Nonlinearity,
    X,
    as_nonlinearity,
    compile_equations,
    derive_equations,
    gauss_avg,
    parameter_vector,
)


def _random_law(rank, n_inputs, seed, scale=0.6):
    rng = np.random.default_rng(seed)
    dim = 2 * rank + n_inputs
    A = rng.normal(size=(dim, dim)) * scale
    return GaussianLoadings(rng.normal(size=dim) * 0.5, A @ A.T + 0.1 * np.eye(dim), rank, n_inputs)


def _fd_jacobian(f, y, h=1e-6):
    cols = []
    for j in range(len(y)):
        e = np.zeros_like(y)
        e[j] = h
        cols.append((f(y + e) - f(y - e)) / (2 * h))
    return np.array(cols).T


@pytest.mark.parametrize(
    "kind, rank, n_inputs, pops, y",
    [
        ("latent", 2, 1, 2, [0.4, -0.7]),
        ("static", 2, 1, 2, [0.4, -0.7, 0.8]),
        ("chaotic", 1, 0, 1, [0.3, 1.7, math.log(0.9)]),
    ],
)
def test_jacobian_matches_finite_differences(kind, rank, n_inputs, pops, y):
    comps = [_random_law(rank, n_inputs, seed) for seed in range(pops)]
    law = (
        comps[0]
        if pops == 1
        else MixtureLoadings(comps, np.arange(1, pops + 1) / sum(range(1, pops + 1)))
    )
    theta = parameter_vector(law, 1.3)
    u = np.full(n_inputs, 0.5)
    eq = compile_equations(kind, rank, n_inputs, pops)
    y = np.array(y)
    value, jac, _ = eq.value_jacobian(y, u, theta)
    np.testing.assert_allclose(value, eq.value(y, u, theta)[0], rtol=0, atol=1e-14)
    fd = _fd_jacobian(lambda v: eq.value(v, u, theta)[0], y)
    np.testing.assert_allclose(jac, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("phi", ["tanh", "erf"])
def test_latent_field_against_conditional_expectation(phi):
    """<n phi(x)> computed without Stein's lemma: E[n | x] is linear in x, so
    E[n phi(x)] = mu_n [phi] + Cov(n, x) / Delta [(x - mu) phi(x)]."""
    law = _random_law(2, 1, seed=3)
    kappa, u = np.array([0.8, -0.3]), np.array([0.6])
    f = sp.lambdify(X, as_nonlinearity(phi).expr, modules=["scipy", "numpy"])
    m_coef = np.concatenate([kappa, u])
    rows_x = np.r_[np.arange(2), 4]  # m_1, m_2, I_1 in the row (m, n, I)
    mu = law.mean[rows_x] @ m_coef
    delta = m_coef @ law.cov[np.ix_(rows_x, rows_x)] @ m_coef
    cov_nx = law.cov[2:4][:, rows_x] @ m_coef
    avg_phi = gaussian_average(f, mu, delta)
    avg_xphi = gaussian_average(lambda x: (x - mu) * f(x), mu, delta)
    expected = law.mean_n * avg_phi + cov_nx / delta * avg_xphi
    eq = compile_equations("latent", 2, 1, 1, phi)
    got = eq.value(kappa, u, parameter_vector(law, 0.0))[0]
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-12)


def test_heat_equation_rules_against_numerical_derivatives():
    """d/dmu [phi] = [phi'], d/dDelta [phi] = [phi'']/2, checked on the quadrature itself."""
    mu, delta = sp.symbols("mu Delta")
    expr = gauss_avg((0,), mu, delta)
    assert expr.diff(mu) == gauss_avg((1,), mu, delta)
    assert expr.diff(delta) == gauss_avg((2,), mu, delta) / 2
    assert gauss_avg((0, 0), mu, delta).diff(mu) == 2 * gauss_avg((0, 1), mu, delta)
    h, m0, d0 = 1e-4, 0.4, 2.5
    phi2 = lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)  # noqa: E731
    numerical = (gaussian_average(np.tanh, m0, d0 + h) - gaussian_average(np.tanh, m0, d0 - h)) / (
        2 * h
    )
    assert abs(numerical - gaussian_average(phi2, m0, d0) / 2) < 1e-8


def test_stein_structure_of_rank_one_equation():
    """Rank one, one population: G = mu_n [phi] + sigma_nm kappa [phi'] at
    (mu_m kappa, s_mm kappa^2)."""
    eq = derive_equations("latent", 1)
    k = eq.unknowns[0]
    s = {str(p): p for p in eq.parameters}
    mu, d = s["mu_m1_1"] * k, s["s_m1m1_1"] * k**2
    expected = s["alpha_1"] * (
        s["mu_n1_1"] * GaussAvg(sp.Tuple(0), mu, d)
        + s["s_n1m1_1"] * k * GaussAvg(sp.Tuple(1), mu, d)
    )
    assert sp.simplify(eq.values[0] - expected) == 0


def test_custom_sympy_nonlinearity():
    """Any elementwise phi: atan(y) with its own symbol; compared with direct quadrature."""
    y = sp.Symbol("y")
    law = GaussianLoadings([0.2, 0.5], [[1.0, 1.5], [1.5, 3.0]], rank=1)
    eq = compile_equations("latent", 1, 0, 1, sp.atan(y))
    kappa = 0.9
    mu, delta = 0.2 * kappa, kappa**2
    expected = 0.5 * gaussian_average(np.arctan, mu, delta) + 1.5 * kappa * gaussian_average(
        lambda x: 1 / (1 + x * x), mu, delta
    )
    got = eq.value(np.array([kappa]), np.zeros(0), parameter_vector(law, 0.0))[0][0]
    assert abs(got - expected) < 1e-12
    nl = Nonlinearity(sp.atan(y))
    assert sp.simplify(sp.diff(nl.primitive, X) - sp.atan(X)) == 0


def test_compiled_once_per_structure():
    a = compile_equations("latent", 1, 0, 1, "tanh")
    assert compile_equations("latent", 1, 0, 1, "tanh") is a
    assert compile_equations("latent", 1, 0, 1, "erf") is not a


def test_nothing_compiled_at_import():
    code = (
        "import lowrank, lowrank.meanfield, lowrank.symbolic, lowrank.quadrature as q,"
        " lowrank.bifurcation;"
        "assert q.rule.signatures == [], q.rule.signatures; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_bad_nonlinearity():
    with pytest.raises(ValueError, match="unknown phi"):
        as_nonlinearity("relu6")
    with pytest.raises(TypeError, match="phi must be"):
        as_nonlinearity(np.tanh)
    a, b = sp.symbols("a b")
    with pytest.raises(ValueError, match="exactly one variable"):
        Nonlinearity(a * b)
    with pytest.raises(ValueError, match="not a primitive"):
        Nonlinearity(sp.tanh(a), primitive=a**2)
    with pytest.raises(ValueError, match="unknown kind"):
        compile_equations("dynamic", 1)
