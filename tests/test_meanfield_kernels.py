"""The compiled Newton kernels of the mean-field residuals (``lowrank.meanfield_kernels``) and the
small-size fast paths used with them (issue 15).

Ground truth is independent of lowrank: the rank-one static state of Mastrogiuseppe & Ostojic
2018 (Neuron 99:609) by nested scipy brentq on the scalar self-consistency with scipy quad, the
Sompolinsky, Crisanti & Sommers 1988 chaotic variance by brentq with quad, and plain numpy
(eigenvalues, dense comparisons) for the fast paths. The kernels must also retrace the Python
Newton iteration exactly (same iterates, iterations and evaluations)."""

import math
import pathlib
import warnings

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq

import lowrank.meanfield_kernels as kernels
from lowrank import GaussianLoadings, MeanField
from lowrank._checks import ConvergenceWarning
from lowrank.dynamics.dedup import unique_points
from lowrank.dynamics.solve import RootSearch, newton
from lowrank.dynamics.stability import classify
from lowrank.meanfield import _eigenvalues
from lowrank.meanfield_sweep import stationary_states_along

pytestmark = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")

MM, MN = 1.1, 2.0  # Mastrogiuseppe & Ostojic 2018, Fig. 1
MO18 = GaussianLoadings([MM, MN], np.eye(2), rank=1)
SCS = GaussianLoadings([0.0, 0.0], np.eye(2), rank=1)  # no mean: Sompolinsky et al. 1988


def _gauss(f, mu, delta):
    """E f(mu + sqrt(delta) z), z ~ N(0, 1), by scipy quad."""
    s = math.sqrt(max(delta, 0.0))
    value, _ = quad(
        lambda z: f(mu + s * z) * math.exp(-0.5 * z * z), -12.0, 12.0, epsabs=1e-14, epsrel=1e-13
    )
    return value / math.sqrt(2.0 * math.pi)


def _mo18_kappa(g):
    """Positive static kappa of the MO18 law: kappa = M_n [tanh](M_m kappa, kappa^2 + D),
    D = g^2 [tanh^2](M_m kappa, kappa^2 + D), by nested brentq."""

    def bulk(k):
        def h(d):
            return d - g * g * _gauss(lambda x: math.tanh(x) ** 2, MM * k, k * k + d)

        return brentq(h, 0.0, g * g + 1.0, xtol=1e-15)

    return brentq(
        lambda k: MN * _gauss(math.tanh, MM * k, k * k + bulk(k)) - k, 0.05, 3.0, xtol=1e-14
    )


def _scs_delta0(g):
    """Sompolinsky-Crisanti-Sommers variance: Delta_0^2 / 2 = g^2 (E Phi^2 - (E Phi)^2),
    Phi = log cosh, at variance Delta_0 (zero mean, D_inf = 0)."""

    def lncosh(x):
        a = abs(x)
        return a + math.log1p(math.exp(-2.0 * a)) - math.log(2.0)

    def h(d):
        m1 = _gauss(lncosh, 0.0, d)
        m2 = _gauss(lambda x: lncosh(x) ** 2, 0.0, d)
        return 0.5 * d * d - g * g * (m2 - m1 * m1)

    return brentq(h, 1e-3, 4.0 * g * g, xtol=1e-14)


@pytest.fixture
def compiled(monkeypatch):
    """Kernels compiled at the first Newton iteration (not only once a system is hot)."""
    monkeypatch.setattr(kernels, "COMPILE_AFTER", 0)
    monkeypatch.setattr(kernels, "_MODULES", {})  # so a test sees which kernels it ran
    return kernels


def _python(fun):
    """The same residual without its kernel: Newton iterates in Python."""
    return lambda y: fun(y)


def test_kernel_retraces_the_python_newton_iteration(compiled):
    rng = np.random.default_rng(7)
    for g in (0.6, 2.0):
        mf = MeanField(MO18, g=g)
        for kind in ("static", "chaotic"):
            fun = mf.residual_function(kind)
            n = 2 if kind == "static" else 3
            for k in range(12):
                x0 = rng.normal(size=n)
                x0[1] = abs(x0[1]) * g * g
                roots = rng.normal(size=(2, n)) if k % 3 == 0 else None
                stop = fun.collapse_rule if kind == "chaotic" and k % 2 else None
                a = newton(fun, x0, max_iter=30, roots=roots, stop=stop)
                b = newton(_python(fun), x0, max_iter=30, roots=roots, stop=stop)
                assert (a.converged, a.iterations, a.nfev) == (b.converged, b.iterations, b.nfev)
                np.testing.assert_allclose(a.x, b.x, rtol=1e-7, atol=1e-9)  # round-off, amplified
                # where the Jacobian is nearly singular (a gap D_0 - D_inf near its NaN edge)
                if a.converged:  # at tol, or stalled at round-off within loose_tol
                    assert a.residual <= 1e-7
    key = mf._equations("chaotic")._module.__name__
    assert key in compiled._MODULES  # the kernel ran, not the Python loop


def test_kernel_is_compiled_only_once_a_system_is_hot(monkeypatch):
    monkeypatch.setattr(kernels, "COMPILE_AFTER", 10**9)
    monkeypatch.setattr(kernels, "_MODULES", {})
    monkeypatch.setattr(kernels, "_RUNS", {})
    monkeypatch.setattr(kernels, "_cache_dir", lambda: pathlib.Path("/nonexistent-lowrank"))
    fun = MeanField(MO18, g=0.5).residual_function("static")
    assert (
        fun.newton_kernel(
            np.array([0.5, 0.2]), 1e-10, 30, 1e-7, 1e-9, np.zeros((0, 2)), 2.0, 1.0, None, 1e-8
        )
        is None
    )
    res = newton(fun, np.array([0.5, 0.2]))
    assert res.converged and not kernels._MODULES
    assert sum(kernels._RUNS.values()) == 2


def test_compiled_static_states_match_brentq_with_quad(compiled):
    values = np.array([0.3, 0.7, 0.95])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        sweep = stationary_states_along(lambda g: MeanField(MO18, g=g), values, search_every=2)
    key = MeanField(MO18, g=0.5)._equations("static")._module.__name__
    assert key in compiled._MODULES
    assert sweep.complete and sweep.searched.tolist() == [True, False, True]
    for g, states in zip(values, sweep, strict=True):
        assert len(states) == 3  # trivial and +-kappa below chaos onset
        kappa = _mo18_kappa(g)
        found = sorted(float(s.kappa[0]) for s in states)
        np.testing.assert_allclose(found, [-kappa, 0.0, kappa], atol=1e-9)
        stab = {round(float(s.kappa[0]), 6): s.stability for s in states}
        assert stab[round(kappa, 6)] == "stable" and stab[0.0] == "unstable"
        for s in states:
            assert s.residual <= 1e-10


def test_compiled_chaotic_state_matches_scs_with_quad(compiled):
    for g in (1.5, 2.0):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            states = MeanField(SCS, g=g).stationary_states()
        chaotic = [s for s in states if s.chaotic]
        assert len(chaotic) == 1 and chaotic[0].residual <= 1e-10
        np.testing.assert_allclose(chaotic[0].delta0[0], _scs_delta0(g), rtol=1e-8)
        np.testing.assert_allclose(chaotic[0].delta_inf[0], 0.0, atol=1e-8)
        # static: D = 0 and D = g^2 [tanh^2](0, D) > 0, both unstable (bulk radius above 1)
        static = sorted((s for s in states if not s.chaotic), key=lambda s: s.unknowns[1])
        assert [s.stability for s in static] == ["unstable", "unstable"]
        D = brentq(
            lambda d, g=g: d - g * g * _gauss(lambda x: math.tanh(x) ** 2, 0.0, d),
            1e-3,
            g * g,
            xtol=1e-15,
        )
        np.testing.assert_allclose([s.unknowns[1] for s in static], [0.0, D], atol=1e-9)
    key = MeanField(SCS, g=1.5)._equations("chaotic")._module.__name__
    assert key in compiled._MODULES


def test_closed_form_eigenvalues_match_lapack():
    rng = np.random.default_rng(3)
    for k in range(3000):
        A = rng.normal(size=(2, 2)) * 10.0 ** rng.uniform(-4, 4)
        if k % 5 == 0:
            A[1, 0] = 0.0  # triangular: real, possibly equal eigenvalues
        if k % 7 == 0:
            A = A + A.T
        ours = np.sort_complex(_eigenvalues(A))
        ref = np.sort_complex(np.linalg.eigvals(A))
        assert np.max(np.abs(ours - ref)) <= 1e-13 * np.linalg.norm(A, 2)
    np.testing.assert_array_equal(_eigenvalues(np.array([[-0.5]])), [-0.5 + 0j])
    np.testing.assert_array_equal(_eigenvalues(np.zeros((2, 2))), [0j, 0j])


def test_one_linearisation_is_classified_like_a_batch():
    cases = [[-1.0, -2.0], [1e-9], [-2e-8], [3e-8], [np.nan, -1.0], [], [0.5j - 1e-10]]
    for time in ("continuous", "discrete"):
        for ev in cases:
            ev = np.array(ev, dtype=complex) + (1.0 if time == "discrete" and ev else 0.0)
            one = classify(ev, time)
            batch = classify(ev[None, :] if ev.size else np.zeros((1, 0)), time)
            assert one.shape == () and str(one) == str(batch[0])


def test_small_root_matching_equals_dense_grouping():
    rng = np.random.default_rng(11)
    for trial in range(400):
        n, d = rng.integers(1, 7), rng.integers(1, 4)
        known = list(rng.normal(size=(n, d)))
        if trial % 3 == 0 and n > 1:  # two known points linked to each other
            known[1] = known[0] + 5e-6
        x = known[rng.integers(n)] + rng.normal(size=d) * 10.0 ** rng.uniform(-8, 0)
        search = RootSearch(lambda y: (y, np.eye(y.size), y), atol=1e-5, rtol=1e-5)
        got = search._match(x, known)
        _, labels, _ = unique_points(np.array([*known, x]), atol=1e-5, rtol=1e-5)
        hits = np.flatnonzero(labels[:-1] == labels[-1])
        near = np.max(np.abs(np.array(known) - x), axis=1) <= 1e-5 + 1e-5 * np.max(
            np.abs(np.array([*known, x]))
        )
        if not near.any():
            assert got == -1
        else:
            assert got == (hits[0] if hits.size else -1)
