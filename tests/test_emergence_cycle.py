"""A fitted law whose mean field runs on a limit cycle: 0 predicted attractors, said as such.

Ground truth (independent of lowrank): a rank-2 network whose overlap matrix n^T m / N is a
rotation rho R(theta) with m^T m / N = identity. With zero means, Stein's lemma gives the latent
map G(kappa) = rho R(theta) kappa <phi'>(|kappa|^2) (phi = tanh), so its only fixed point is the
origin (unstable for rho > 1), and the map rotates kappa by theta per step on the circle of
radius r with rho <phi'>(r^2) = 1 (scipy quad + brentq). The N-neuron network iterated in plain
numpy, and a brute-force grid + scipy root search of the latent equation, confirm it.
"""

import warnings

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq, root

from lowrank import ConvergenceWarning, MeanField
from lowrank.emergence_checkpoint import _law_settles, _predict
from lowrank.emergence_factors import _Factors

N = 1500
RHO, THETA = 1.5, 0.2


def _gauss_mean(f, variance: float) -> float:
    """E f(sqrt(variance) z), z ~ N(0, 1), by scipy quad."""
    s = np.sqrt(variance)
    return quad(lambda z: f(s * z) * np.exp(-z * z / 2) / np.sqrt(2 * np.pi), -12, 12)[0]


def _dphi(x):
    return 1.0 - np.tanh(x) ** 2


def _network(theta: float, squeeze: float = 1.0):
    """m (N, 2) with m^T m / N = I exactly, n = m S^T with S = RHO R(theta) diag(1, squeeze), so
    n^T m / N = S."""
    rng = np.random.default_rng(3)
    m = rng.standard_normal((N, 2))
    m -= m.mean(axis=0)
    m = m @ np.linalg.inv(np.linalg.cholesky(m.T @ m / N)).T
    S = RHO * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    S = S @ np.diag([1.0, squeeze])
    W_in = rng.standard_normal((N, 1))  # input weights (the input is held at 0)
    return m, m @ S.T, W_in


def _iterate(m, n, steps: int) -> np.ndarray:
    """kappa_t = n^T h_t / N of h_{t+1} = tanh(m n^T h_t / N), plain numpy."""
    h = np.tanh(m @ np.array([0.3, -0.2]))
    kappa = []
    for _ in range(steps):
        k = n.T @ h / N
        kappa.append(k)
        h = np.tanh(m @ k)
    return np.array(kappa)


def test_rotating_law_predicts_no_attractor_and_says_it_cycles():
    m, n, W_in = _network(THETA)
    # ground truth 1: the N-neuron network runs on the circle of radius r, turning THETA a step
    r = brentq(lambda r: RHO * _gauss_mean(_dphi, r * r) - 1.0, 1e-3, 10.0)
    kappa = _iterate(m, n, 600)[-200:]
    radius = np.linalg.norm(kappa, axis=1)
    assert np.all(np.abs(radius - r) < 0.05 * r)  # finite N = 1500: a few percent
    turn = np.diff(np.unwrap(np.arctan2(kappa[:, 1], kappa[:, 0])))
    assert np.allclose(turn, THETA, atol=0.02)
    # ground truth 2: the latent equation of the law (Gaussian, quad) has only the origin as a
    # root: brute-force grid of the residual + scipy root from every grid node
    S = n.T @ m / N

    def residual(k):
        return S @ k * _gauss_mean(_dphi, float(k @ k)) - k

    grid = np.linspace(-2.0, 2.0, 9)
    roots = []
    for a in grid:
        for b in grid:
            sol = root(residual, [a, b])
            if sol.success and np.max(np.abs(residual(sol.x))) < 1e-9:
                roots.append(sol.x)
    assert roots and np.allclose(roots, 0.0, atol=1e-6)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        factors = _Factors(m, n, 0.0, W_in, np.zeros(N))
        p = _predict("truncated", factors, "discrete", 1, 0, 4, 500)
    assert p.n_attractors == 0
    assert np.allclose(p.kappa, 0.0, atol=1e-6) and not p.stable.any()
    assert p.settles is False
    # the solver's starts follow the cycle and fail, and the runs of a large network drawn from
    # the law turn on it too; the result says so (complete is False, runs unsettled), and their
    # warnings ("raise max_iter", "not settled") are left to emergence's, which names the cycle
    assert not p.complete
    assert p.finite_size["stable"] == 0 and p.finite_size["unsettled"] > 0
    assert not [w for w in caught
                if "did not converge" in str(w.message) or "not settled" in str(w.message)]


@pytest.mark.parametrize("time", ["discrete", "continuous"])
def test_law_with_fixed_points_is_not_marked(time):
    """theta = 0, overlap diag(RHO, 0.8 RHO): the map settles at +-(r, 0) with
    rho <phi'>(r^2) = 1; a prediction with attractors is not checked (settles is None)."""
    m, n, W_in = _network(0.0, 0.8)
    r = brentq(lambda r: RHO * _gauss_mean(_dphi, r * r) - 1.0, 1e-3, 10.0)
    kappa = _iterate(m, n, 400)
    assert abs(abs(kappa[-1, 0]) - r) < 0.05 * r and abs(kappa[-1, 1]) < 0.05 * r
    assert np.max(np.abs(kappa[-1] - kappa[-2])) < 1e-8  # at rest
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = _predict("truncated", _Factors(m, n, 0.0, W_in, np.zeros(N)), time, 1, 0, 2, None)
    assert p.n_attractors == 2
    assert np.allclose(np.sort(np.abs(p.kappa[p.stable, 0])), r, rtol=0.05)
    assert p.settles is None
    assert _law_settles(MeanField(p.loadings, time=time), p.loadings.n_inputs * [0.0]) is True


def test_failed_starts_of_a_law_that_comes_to_rest_still_warn(monkeypatch):
    """Only a law that never comes to rest explains its failed starts; any other prediction passes
    the solver's warning on (here a warning planted in ``MeanField.fixed_points``)."""
    original = MeanField.fixed_points

    def planted(self, *args, **kwargs):
        found = original(self, *args, **kwargs)
        warnings.warn("fixed_points: 3 of 80 starts did not converge", ConvergenceWarning,
                      stacklevel=2)
        return found

    monkeypatch.setattr(MeanField, "fixed_points", planted)
    m, n, W_in = _network(0.0, 0.8)
    with pytest.warns(ConvergenceWarning, match="3 of 80 starts did not converge"):
        p = _predict("truncated", _Factors(m, n, 0.0, W_in, np.zeros(N)), "discrete", 1, 0, 2,
                     None)
    assert p.n_attractors == 2 and p.settles is None
