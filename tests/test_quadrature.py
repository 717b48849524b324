"""Gaussian averages against adaptive quadrature (scipy.integrate.quad) and exact identities."""

import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import erf

from lowrank.quadrature import MAX_NODES, gauss_rule, gaussian_average

# the reference integrals hit round-off at 1e-14; quad says so, harmlessly
pytestmark = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")


def _lncosh(x):
    a = np.abs(x)
    return a + np.log1p(np.exp(-2.0 * a)) - math.log(2.0)


def _sech2(x):
    t = np.tanh(x)
    return 1.0 - t * t


FUNCTIONS = {
    "tanh": np.tanh,
    "tanh'": _sech2,
    "tanh'''": lambda x: -2.0 * _sech2(x) * (1.0 - 3.0 * np.tanh(x) ** 2),
    "tanh^2": lambda x: np.tanh(x) ** 2,
    "tanh'^2": lambda x: _sech2(x) ** 2,
    "lncosh^2": lambda x: _lncosh(x) ** 2,
    "erf": lambda x: erf(math.sqrt(math.pi) / 2 * x),
}


def _reference(f, mu, delta):
    """E f(mu + sqrt(delta) z) by adaptive quadrature over z, split at the feature of f near
    x = 0."""
    s = math.sqrt(delta)

    def integrand(z):
        return float(f(np.array(mu + s * z))) * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)

    z0 = -mu / s
    points = sorted(
        {p for p in (z0 - 10 / s, z0 - 1 / s, z0, z0 + 1 / s, z0 + 10 / s) if -12 < p < 12}
    )
    return quad(integrand, -12.0, 12.0, points=points, limit=2000, epsabs=1e-15, epsrel=1e-14)[0]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("mu", [-3.0, 0.0, 0.7, 40.0])
@pytest.mark.parametrize("delta", [1e-6, 0.01, 1.0, 127.0, 1e4])
def test_matches_adaptive_quadrature(name, mu, delta):
    f = FUNCTIONS[name]
    ref = _reference(f, mu, delta)
    # 1e-10 relative to the size of the average (lncosh^2 grows like Delta)
    assert abs(gaussian_average(f, mu, delta) - ref) <= 1e-10 * max(1.0, abs(ref))


def test_fixes_the_gauss_hermite_failure_at_large_delta():
    """docs/theory, section theory-quadrature: 200 Gauss-Hermite nodes give [phi'](0, 127) =
    0.0497; the true value is 0.0706."""
    z, w = np.polynomial.hermite_e.hermegauss(200)
    hermite = float(np.dot(w / math.sqrt(2 * math.pi), _sech2(math.sqrt(127.0) * z)))
    ours = gaussian_average(_sech2, 0.0, 127.0)
    assert abs(hermite - 0.0497) < 5e-4
    assert abs(ours - _reference(_sech2, 0.0, 127.0)) < 1e-12
    assert abs(ours - 0.0706) < 5e-5


@pytest.mark.parametrize("mu, delta", [(0.0, 0.5), (1.3, 4.0), (-0.2, 900.0), (5.0, 1e4)])
def test_tanh_identity(mu, delta):
    """[phi'] + [phi^2] = 1 for phi = tanh (docs/theory, section theory-quadrature)."""
    total = gaussian_average(_sech2, mu, delta) + gaussian_average(
        lambda x: np.tanh(x) ** 2, mu, delta
    )
    assert abs(total - 1.0) < 1e-12


@pytest.mark.parametrize("mu, delta", [(0.3, 2.0), (-1.0, 50.0)])
def test_polynomial_moments_are_exact(mu, delta):
    """E x = mu, E x^2 = mu^2 + Delta, E x^4 = mu^4 + 6 mu^2 Delta + 3 Delta^2, weights sum to 1."""
    x, w = gauss_rule(mu, delta)
    assert abs(w.sum() - 1.0) < 1e-13
    assert abs(w @ x - mu) < 1e-12 * (1 + abs(mu))
    assert abs(w @ x**2 - (mu**2 + delta)) < 1e-12 * (mu**2 + delta)
    m4 = mu**4 + 6 * mu**2 * delta + 3 * delta**2
    assert abs(w @ x**4 - m4) < 1e-11 * m4


def test_node_count_grows_slowly_with_variance():
    """The cost stays bounded: at most a few hundred nodes up to Delta = 1e4."""
    assert len(gauss_rule(0.0, 1.0)[0]) <= 200
    assert len(gauss_rule(0.0, 1e4)[0]) <= 400
    assert len(gauss_rule(0.0, 1e12)[0]) <= MAX_NODES


def test_zero_variance_is_point_evaluation():
    x, w = gauss_rule(0.4, 0.0)
    assert x.tolist() == [0.4] and w.tolist() == [1.0]


def test_bad_input():
    with pytest.raises(ValueError, match="delta"):
        gauss_rule(0.0, -1.0)
    with pytest.raises(ValueError, match="mu"):
        gauss_rule(float("nan"), 1.0)
    with pytest.raises(TypeError, match="f must be callable"):
        gaussian_average(3.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="same shape"):
        gaussian_average(lambda x: 1.0, 0.0, 1.0)
