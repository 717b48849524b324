"""The cheaper Newton core and the early end of chaotic starts that slide onto static states
(issue 15): the small-system linear algebra of ``newton`` against numpy, the ``stop`` rule on an
analytic problem, and the early-collapse rule of ``stationary_states`` near the onset of chaos,
where a genuine chaotic state with a small gap must still be found. Ground truth: numpy LAPACK,
closed forms, and the Sompolinsky-Crisanti-Sommers equation solved here by brentq with a numpy
Gauss-Hermite rule."""

import math
import warnings

import numpy as np
import pytest
from scipy.optimize import brentq

from lowrank import GaussianLoadings, MeanField
from lowrank._checks import ConvergenceWarning
from lowrank.dynamics.solve import _norm, _solve, newton

MO18 = GaussianLoadings([1.1, 2.0], np.eye(2), rank=1)  # Mastrogiuseppe & Ostojic 2018
SCS = GaussianLoadings([0, 0], np.eye(2) * 1e-12, rank=1)  # a bulk with (almost) no structure

_T, _W = np.polynomial.hermite_e.hermegauss(200)
_W = _W / math.sqrt(2.0 * math.pi)  # E over N(0, 1)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 9, 12])
def test_small_solve_matches_lapack(n):
    """The pure-Python elimination (n <= 8) and LAPACK (n > 8) solve random systems to 1e-12."""
    rng = np.random.default_rng(n)
    for _ in range(20):
        A = rng.standard_normal((n, n))
        b = rng.standard_normal(n)
        expected = np.linalg.solve(A, b)
        assert np.allclose(_solve(A, b), expected, rtol=1e-10, atol=1e-12)


def test_small_solve_singular_falls_back_to_least_squares():
    A = np.array([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    b = np.array([1.0, 2.0, 3.0])
    assert np.allclose(_solve(A, b), np.linalg.lstsq(A, b, rcond=None)[0], atol=1e-14)


def test_norm_is_inf_for_non_finite_entries():
    for v in ([1.0, np.nan], [np.nan, 1.0], [-np.inf, 0.0], np.full(20, np.nan)):
        assert _norm(np.asarray(v)) == np.inf
    assert _norm(np.array([-3.0, 2.0])) == 3.0 and _norm(np.zeros(0)) == 0.0
    assert _norm(np.arange(-20.0, 5.0)) == 20.0


def _square(x):  # x^2 - 2: roots +-sqrt(2)
    return np.array([x[0] ** 2 - 2.0]), np.array([[2.0 * x[0]]]), np.zeros(0)


def test_newton_stop_rule_ends_the_iteration_unconverged():
    plain = newton(_square, np.array([10.0]))
    assert plain.converged and abs(plain.x[0] - math.sqrt(2.0)) < 1e-12
    stopped = newton(_square, np.array([10.0]), stop=lambda x, extra: x[0] < 5.0)
    # Newton from 10 on x^2 - 2: 10 -> 5.1 -> 2.746..., the first iterate below 5
    assert not stopped.converged and stopped.iterations == 2
    assert abs(stopped.x[0] - (5.1 + 2.0 / 5.1) / 2.0) < 1e-12


def _scs_delta0(g):
    """Delta_0 of the chaotic state of a structureless bulk: Delta_0^2 = 2 g^2 ([Phi^2] - [Phi]^2)
    with Phi = log cosh (Sompolinsky, Crisanti & Sommers 1988), by brentq."""

    def energy(d):
        big = np.logaddexp(math.sqrt(d) * _T, -math.sqrt(d) * _T) - math.log(2.0)
        return d * d - 2.0 * g * g * (_W @ big**2 - (_W @ big) ** 2)

    return brentq(energy, 1e-3, 50.0, xtol=1e-14)


@pytest.mark.parametrize("g", [1.03, 1.1])
def test_small_gap_chaotic_state_near_onset_is_still_found(g):
    """Just past the onset (g = 1) the chaotic state has a small gap D_0 - D_inf = D_0; starts
    that slide onto the static states are stopped early, but this one must still be found."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        states = MeanField(SCS, g=g).stationary_states()
    chaotic = [s for s in states if s.chaotic]
    assert states.complete and len(chaotic) == 1
    expected = _scs_delta0(g)
    assert abs(chaotic[0].delta0[0] - expected) < 1e-7 * (1.0 + expected)
    assert abs(chaotic[0].delta_inf[0]) < 1e-7


def test_collapsing_chaotic_starts_are_accounted_for_not_failed():
    """At g = 1.5 the M&O 2018 law has two stable static states +-kappa with bulk radius < 1: the
    chaotic starts seeded there slide onto them, end early and are not failures; the result is
    complete (the states themselves are checked against independent ground truth in
    ``test_meanfield_honest``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        states = MeanField(MO18, g=1.5).stationary_states()
    assert states.complete and states.n_failed == 0
    static = [s for s in states if not s.chaotic]
    chaotic = [s for s in states if s.chaotic]
    assert len(static) == 4 and len(chaotic) == 1
    assert abs(chaotic[0].kappa[0]) < 1e-8
    stable = [s for s in static if s.stable]
    assert len(stable) == 2 and all(s.bulk_radius < 1.0 for s in stable)


def _brute_match(known, x, atol, rtol):
    """Index of the first known point in x's single-linkage group (max-norm within atol + rtol *
    the largest |coordinate|), by plain graph search; -1 when x is alone."""
    pts = np.vstack([known, x])
    radius = atol + rtol * np.max(np.abs(pts))
    near = np.max(np.abs(pts[:, None] - pts[None]), axis=2) <= radius
    group, frontier = {len(known)}, [len(known)]
    while frontier:
        i = frontier.pop()
        for j in np.flatnonzero(near[i]):
            if j not in group:
                group.add(int(j))
                frontier.append(int(j))
    members = sorted(group - {len(known)})
    return members[0] if members else -1


def test_root_matching_agrees_with_single_linkage():
    """RootSearch's direct check of the "same root" relation equals single linkage, including
    chains through known points that are close to each other."""
    from lowrank.dynamics.solve import RootSearch

    rng = np.random.default_rng(7)
    search = RootSearch(_square, atol=0.05, rtol=0.0)
    for _ in range(300):
        k = int(rng.integers(1, 6))
        known = [rng.uniform(-1, 1, 2) * 0.2 for _ in range(k)]
        x = rng.uniform(-1, 1, 2) * 0.2
        assert search._match(x, known) == _brute_match(np.array(known), x, 0.05, 0.0)
