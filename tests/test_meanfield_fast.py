"""The faster mean-field paths of issue 15 against independent computations: the strided outer
rule of the nested lattice quadrature, its outer nodes off the lattice and the mirrored nested
rules of the chaotic residual (scipy adaptive quadrature), the trapezoidal weights by recurrence
(plain numpy), the batched plain Newton runs of the multi-start search (the Python Newton
iteration, start by start), the sign flips and starts made once for all g (the equivariance
checked directly, a fresh draw) and the quadratic predictor of ``stationary_states_along``
(exact on a parabola, plain numpy)."""

import math
import pathlib
import warnings

import numpy as np
import pytest
from scipy.integrate import quad

import lowrank.meanfield_kernels as kernels
from lowrank import GaussianLoadings, MeanField
from lowrank._checks import ConvergenceWarning
from lowrank.dynamics.solve import newton
from lowrank.meanfield_sweep import _secant, _signature, _Track
from lowrank.quadrature import (
    MAX_KERNEL,
    MAX_LATTICE,
    gauss_rule,
    lattice,
    nested_average,
    nested_grid,
)

pytestmark = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")

MO18 = GaussianLoadings([1.1, 2.0], np.eye(2), rank=1)  # Mastrogiuseppe & Ostojic 2018, Fig. 1


def _lncosh(x):
    a = np.abs(x)
    return a + np.log1p(np.exp(-2.0 * a)) - math.log(2.0)


def _nested_quad(f, g, mu, c, v):
    """E_z g(E_x f(mu + sqrt(c) z + sqrt(v) x)) by nested scipy adaptive quadrature."""
    rv, rc = math.sqrt(v), math.sqrt(c)

    def inner(y):
        return quad(lambda x: float(f(y + rv * x)) * math.exp(-x * x / 2), -12, 12,
                    epsabs=1e-14, epsrel=1e-13, limit=200)[0] / math.sqrt(2 * math.pi)

    return quad(lambda z: g(inner(mu + rc * z)) * math.exp(-z * z / 2), -12, 12,
                epsabs=1e-14, epsrel=1e-12, limit=200)[0] / math.sqrt(2 * math.pi)


@pytest.mark.parametrize("f", [np.tanh, _lncosh, lambda x: -2 * np.tanh(x) / np.cosh(x) ** 2],
                         ids=["tanh", "lncosh", "phi''"])
@pytest.mark.parametrize("mu, c, v", [(0.3, 1.25, 2.25), (-1.2, 3.0, 7.0), (2.0, 9.0, 4.0)])
def test_strided_outer_rule_matches_adaptive_quadrature(f, mu, c, v):
    """Large variances: the outer nodes are every S-th lattice point (S >= 2), and the nested
    average E g(A) still agrees with adaptive quadrature, for g = square (the terms of the
    chaotic equations) and g = identity (then E A = [f](mu, c + v))."""
    x, wo, ki = np.empty(MAX_LATTICE), np.empty(MAX_LATTICE), np.empty(MAX_LATTICE)
    dims = np.zeros(3, dtype=np.int64)
    assert lattice(mu, c, v, x, wo, ki, dims) > 0 and dims[2] >= 2
    ref = _nested_quad(f, lambda a: a * a, mu, c, v)
    assert abs(nested_average(f, np.square, mu, c, v) - ref) <= 1e-11 * max(1.0, abs(ref))
    # E_z A(mu + sqrt(c) z) = [f](mu, c + v): one adaptive quadrature
    s = math.sqrt(c + v)
    ref = quad(lambda z: float(f(mu + s * z)) * math.exp(-z * z / 2), -12, 12, epsabs=1e-14,
               epsrel=1e-13, limit=200)[0] / math.sqrt(2 * math.pi)
    assert abs(nested_average(f, lambda a: a, mu, c, v) - ref) <= 1e-11 * max(1.0, abs(ref))


def test_outer_stride_is_one_where_the_inner_average_is_narrow():
    """A narrow inner Gaussian leaves A(y) close to f, whose poles limit the outer spacing:
    no stride then (nor for a zero variance)."""
    x, wo, ki = np.empty(MAX_LATTICE), np.empty(MAX_LATTICE), np.empty(MAX_LATTICE)
    dims = np.zeros(3, dtype=np.int64)
    for c, v in [(4.0, 0.05), (4.0, 0.0), (0.0, 4.0), (0.05, 4.0)]:
        assert lattice(0.1, c, v, x, wo, ki, dims) > 0
        assert dims[2] == 1


def _grid(mu, c, v):
    """``nested_grid``'s lattice size and dims."""
    x, wo, ki = np.empty(MAX_LATTICE), np.empty(MAX_LATTICE), np.empty(MAX_KERNEL)
    dims = np.zeros(4, dtype=np.int64)
    return nested_grid(mu, c, v, x, wo, ki, dims), dims.tolist()


@pytest.mark.parametrize("d0, dinf", [(6.0, -0.003), (2.7, -1e-4), (400.0, -4e-4)])
def test_chaotic_residual_with_mirrored_nested_rules_matches_adaptive_quadrature(d0, dinf):
    """kappa = 0 (means 0): the chaotic residuals of the Mastrogiuseppe & Ostojic 2018 law are
    dinf - g^2 E[phi(X) phi(Y)] and ((D_0^2 - D_inf^2) / 2 - g^2 (E[Phi^2] - E[Phi(X) Phi(Y)]))
    / (D_0 - D_inf), X, Y ~ N(0, D_0) with covariance D_inf. Here the lattice would be too fine
    (an outer standard deviation of 0.055, 0.01 or 0.02 beside an inner one of 2.4, 1.6 or 20):
    the outer nodes off a lattice of the inner spacing (``nested_grid``) for the first two,
    nested rules for the last (that lattice would be too long), whose inner averages at the
    mirrored outer nodes (D_inf < 0) are those at the symmetric rule's own nodes."""
    n, dims = _grid(0.0, abs(dinf), d0 - abs(dinf))
    assert (n > 0 and dims[2] == 0 and dims[3] == n) if d0 < 100 else n == -1
    g = 2.1
    mf = MeanField(MO18, g=g)
    value = mf._equations("chaotic").value(
        np.array([0.0, d0, math.log(d0 - dinf)]), np.zeros(0), mf.theta
    )[0]
    so, si, sign = math.sqrt(abs(dinf)), math.sqrt(d0 - abs(dinf)), math.copysign(1.0, dinf)

    def inner(f, y):
        return quad(lambda x: f(y + si * x) * math.exp(-x * x / 2), -13, 13, epsabs=1e-15,
                    epsrel=1e-14, limit=400)[0] / math.sqrt(2 * math.pi)

    def product(f):  # E[f(X) f(Y)]
        return quad(lambda z: inner(f, so * z) * inner(f, sign * so * z) * math.exp(-z * z / 2),
                    -13, 13, epsabs=1e-15, epsrel=1e-13, limit=200)[0] / math.sqrt(2 * math.pi)

    def lncosh(x):
        return float(_lncosh(np.array(x)))

    phi2 = quad(lambda z: lncosh(math.sqrt(d0) * z) ** 2 * math.exp(-z * z / 2), -13, 13,
                epsabs=1e-15, epsrel=1e-14, limit=200)[0] / math.sqrt(2 * math.pi)
    energy = ((d0**2 - dinf**2) / 2 - g * g * (phi2 - product(lncosh))) / (d0 - dinf)
    np.testing.assert_allclose(value[1:], [energy, dinf - g * g * product(math.tanh)],
                               rtol=1e-10, atol=1e-11)
    assert abs(value[0]) <= 1e-15  # kappa = 0 solves the first equation by symmetry


@pytest.mark.parametrize(
    "mu, c, v", [(0.0, 1e-4, 3.5), (0.3, 1e-10, 7.0), (0.2, 0.004, 9.0), (-0.4, 0.02, 2.0)]
)
def test_nested_averages_off_the_lattice_match_adaptive_quadrature(mu, c, v):
    """A small outer variance beside a larger inner one: a lattice holding the outer nodes would
    have a spacing of sqrt(c) / 2, so ``nested_grid`` puts them (Gauss-Hermite for the first
    three, the trapezoid for the last) off a lattice of the inner spacing, with a row of inner
    weights per node (dims[2] = 0); E g(A) agrees with nested adaptive quadrature."""
    n, dims = _grid(mu, c, v)
    assert n > 0 and dims[2] == 0 and dims[3] == n
    for f in (np.tanh, _lncosh):
        ref = _nested_quad(f, lambda a: a * a, mu, c, v)
        assert abs(nested_average(f, np.square, mu, c, v) - ref) <= 1e-11 * max(1.0, abs(ref))


@pytest.mark.parametrize("delta", [0.3, 2.0, 4.0])
def test_trapezoid_weights_by_recurrence_match_the_gaussian_density(delta):
    """The trapezoidal rule of ``gauss_rule`` (taken at Delta = 4 too: fewer nodes than the 210
    of the composite Gauss-Legendre rule there) has equally spaced nodes and weights
    h phi(z_k) computed by a refreshed recurrence: equal to the density, in plain numpy, to
    5e-14 relatively (the error of exp at a rounded argument is ~1e-14 at |z| ~ 9), and
    [tanh'] equal to adaptive quadrature."""
    x, w = gauss_rule(0.3, delta)
    assert len(x) < 210 and np.allclose(np.diff(x), x[1] - x[0], rtol=0, atol=1e-12)
    z = (x - 0.3) / math.sqrt(delta)
    dz = z[1] - z[0]
    np.testing.assert_allclose(w, dz * np.exp(-z * z / 2) / math.sqrt(2 * math.pi), rtol=5e-14)
    s = math.sqrt(delta)
    ref = quad(lambda t: (1 - math.tanh(0.3 + s * t) ** 2) * math.exp(-t * t / 2), -12, 12,
               epsabs=1e-15, epsrel=1e-14, limit=200)[0] / math.sqrt(2 * math.pi)
    assert abs(w @ (1 - np.tanh(x) ** 2) - ref) <= 1e-13


@pytest.mark.parametrize("kappa, d", [(0.7, 0.3), (1.3, 50.0), (-0.4, 1e4)])
def test_static_jacobian_from_power_moments_matches_adaptive_quadrature(kappa, d):
    """For tanh every product of derivatives is a polynomial in tanh, so the static system
    averages the powers tanh^j (j <= 6) and combines them (``symbolic._moment_lines``), with
    cancellations at large variance. MO18 law (Sigma_nm = 0): F = (M_n [phi], g^2 [phi^2]) at
    mu = M_m kappa, Delta = kappa^2 + D (the compiled map, before - y), so
    dF_0/dD = M_n [phi''] / 2, dF_1/dD = g^2 ([phi'^2] + [phi phi'']) and the squared bulk
    radius is g^2 [phi'^2]; all equal adaptive quadrature to 1e-12 (up to Delta = 1e4)."""
    g = 1.7
    mf = MeanField(MO18, g=g)
    F, J, extra = mf._equations("static").value_jacobian(
        np.array([kappa, d]), np.zeros(0), mf.theta
    )
    mu, s = 1.1 * kappa, math.sqrt(kappa * kappa + d)

    def average(f):  # split at the feature of f near x = 0
        points = sorted(p for p in ((k - mu) / s for k in (-10, -1, 0, 1, 10)) if -12 < p < 12)
        return quad(lambda z: f(mu + s * z) * math.exp(-z * z / 2), -12, 12, points=points,
                    limit=2000, epsabs=1e-15, epsrel=1e-14)[0] / math.sqrt(2 * math.pi)

    def sech2(x):
        return 1.0 - math.tanh(x) ** 2

    phi2 = average(lambda x: sech2(x) ** 2)
    phi_phi2 = average(lambda x: -2.0 * math.tanh(x) ** 2 * sech2(x))
    np.testing.assert_allclose(
        [F[0], F[1], J[0, 1], J[1, 1], extra[2]],
        [2.0 * average(math.tanh), g * g * average(lambda x: math.tanh(x) ** 2),
         2.0 * average(lambda x: -2.0 * math.tanh(x) * sech2(x)) / 2.0,
         g * g * (phi2 + phi_phi2), g * g * phi2],
        rtol=1e-12, atol=1e-12,
    )


def test_flips_and_starts_made_once_hold_at_every_g():
    """The sign flips of the residuals and the kappa starts are made once per law for all
    g > 0 (``MeanField._flips``, ``_starts``): at other g the flip kappa -> -kappa of the odd
    MO18 equations still satisfies F(s y) = s F(y) (checked directly at random points), and the
    starts equal a fresh draw with the same seed (another seed gives others)."""
    rng = np.random.default_rng(5)
    for g in (0.4, 1.7, 3.2):
        mf = MeanField(MO18, g=g)
        u = np.zeros(0)
        found, _, symmetries = mf._search_states(u, 20, 0, 1e-10, 60, 1e-8, [])
        for chaotic, n in ((False, 2), (True, 3)):
            if chaotic and mf.chaos_excluded:
                continue
            flip = np.ones(n)
            flip[0] = -1.0
            assert len(symmetries[chaotic]) == 1
            np.testing.assert_array_equal(symmetries[chaotic][0], flip)
            fun = mf._residual("chaotic" if chaotic else "static", u)
            for _ in range(3):
                y = np.array([rng.normal(), g * g * rng.uniform(0.2, 1.0), -1.0][:n])
                np.testing.assert_allclose(fun(flip * y)[0], flip * fun(y)[0], atol=1e-12)
        np.testing.assert_array_equal(mf._starts(20, 0), mf._make_starts(20, 0))
        assert not np.allclose(mf._starts(20, 1), mf._starts(20, 0))


@pytest.fixture
def compiled(monkeypatch):
    """Kernels compiled at the first Newton iteration (not only once a system is hot)."""
    monkeypatch.setattr(kernels, "COMPILE_AFTER", 0)
    return kernels


def _python(fun):
    """The same residual without its kernel: Newton iterates in Python."""
    return lambda y: fun(y)


@pytest.mark.parametrize("g", [0.7, 2.3])
def test_batched_plain_newton_retraces_python_newton_start_by_start(compiled, g):
    rng = np.random.default_rng(3)
    mf = MeanField(MO18, g=g)
    for kind, n in (("static", 2), ("chaotic", 3)):
        fun = mf.residual_function(kind)
        starts = rng.normal(size=(9, n))
        starts[:, 1] = np.abs(starts[:, 1]) * g * g
        stop = fun.collapse_rule if kind == "chaotic" else None
        batch = fun.newton_kernel.many(starts, 1e-10, 30, 1e-7, 1e-9, 2.0, 1.0, stop, 1e-8)
        assert batch is not None and len(batch) == len(starts)
        for x0, a in zip(starts, batch, strict=True):
            b = newton(_python(fun), x0, max_iter=30, stop=stop)
            assert (a.converged, a.iterations, a.nfev) == (b.converged, b.iterations, b.nfev)
            np.testing.assert_allclose(a.x, b.x, rtol=1e-7, atol=1e-9)


def test_batch_waits_for_a_hot_kernel_and_counts_no_runs(monkeypatch):
    """While a system is cold (COMPILE_AFTER), ``many`` declines (the search then runs its
    starts one by one, each counting toward COMPILE_AFTER) and counts nothing itself."""
    monkeypatch.setattr(kernels, "COMPILE_AFTER", 10**9)
    monkeypatch.setattr(kernels, "_MODULES", {})
    monkeypatch.setattr(kernels, "_RUNS", {})
    monkeypatch.setattr(kernels, "_cache_dir", lambda: pathlib.Path("/nonexistent-lowrank"))
    fun = MeanField(MO18, g=0.5).residual_function("static")
    starts = np.array([[0.5, 0.2], [-0.3, 0.1]])
    assert fun.newton_kernel.many(starts, 1e-10, 30, 1e-7, 1e-9, 2.0, 1.0, None, 1e-8) is None
    assert sum(kernels._RUNS.values()) == 0


def test_batched_search_finds_what_the_start_by_start_search_finds(compiled, monkeypatch):
    """stationary_states with the plain runs batched equals the search whose plain runs are
    made one start at a time (same states, starts, iterations, evaluations)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for g in (0.6, 1.9, 3.1):
            batched = MeanField(MO18, g=g).stationary_states()
            with monkeypatch.context() as m:
                m.setattr(kernels.NewtonKernel, "many", lambda self, *a: None)
                single = MeanField(MO18, g=g).stationary_states()
            assert len(batched) == len(single) >= 3
            for p, q in zip(batched, single, strict=True):
                assert p.chaotic == q.chaotic and p.stability == q.stability
                np.testing.assert_array_equal(p.unknowns, q.unknowns)
            reports = (batched.report, single.report)
            counts = [(r.n_starts, r.n_failed, r.nit, r.nfev) for r in reports]
            assert counts[0] == counts[1]


def _track(chaotic, history):
    """A followed state whose signatures at the parameter values ``history`` (oldest first) are
    given: (value, signature) pairs; its unknowns use log(D_0 - D_inf) when chaotic."""
    def unknowns(sig):
        sig = np.array(sig, dtype=float)
        return np.append(sig[:-1], math.log(sig[-2] - sig[-1])) if chaotic else sig

    class State:
        pass

    state = State()
    state.chaotic = chaotic
    (p0, s0), (p1, s1), (p2, s2) = history
    x0, x1 = unknowns(s0), unknowns(s1)
    return _Track(state, unknowns(s2), 1.0, 0.5, p2, (x1, p1, _signature(x1, chaotic)), None,
                  None, (x0, p0, _signature(x0, chaotic)))


@pytest.mark.parametrize("chaotic", [False, True])
def test_quadratic_predictor_is_exact_on_a_parabola(chaotic):
    """Three earlier points of a branch that is a parabola in the parameter (in (kappa, D), or
    in (kappa, D_0, D_inf) for a chaotic state): the predictor lands on it, and without the
    oldest point it is the secant (a line)."""
    coef = np.array([[0.3, -0.8, 1.5], [1.2, 0.4, 0.9], [0.2, 0.1, 0.6]])[: 3 if chaotic else 2]

    def branch(p):
        return (coef[:, 0] + coef[:, 1] * p + coef[:, 2] * p * p).tolist()

    values = [1.0, 1.02, 1.05]
    track = _track(chaotic, [(p, branch(p)) for p in values])
    guess = _secant(track, 1.08)
    expected = np.array(branch(1.08))
    if chaotic:
        expected = np.append(expected[:-1], math.log(expected[-2] - expected[-1]))
    np.testing.assert_allclose(guess, expected, rtol=1e-12, atol=1e-12)
    track.earlier = None
    line = np.array(branch(1.05)) + (np.array(branch(1.05)) - np.array(branch(1.02))) * 1.0
    if chaotic:
        line = np.append(line[:-1], math.log(line[-2] - line[-1]))
    np.testing.assert_allclose(_secant(track, 1.08), line, rtol=1e-12, atol=1e-12)
