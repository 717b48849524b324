"""The shared dynamical-systems core (lowrank.dynamics) against independent ground truth:
stability classes from planted eigenvalues, deduplication against a brute-force single-linkage
grouping, deflated Newton against numpy's polynomial roots, and the convergence report."""

import warnings

import numpy as np
import pytest

from lowrank import ConvergenceWarning
from lowrank.dynamics import (
    STABILITY_TOL,
    SolverReport,
    classify,
    deflated_newton,
    newton,
    sort_eigenvalues,
    unique_points,
    warn_report,
)


def test_classify_flows_and_maps_three_classes():
    flow = classify([[-1.0, -2.0], [0.0, -1.0], [1e-3, -5.0], [-1e-12, -1.0], [-2e-8, 0.0]],
                    "continuous")
    assert list(flow) == ["stable", "marginal", "unstable", "marginal", "marginal"]
    # a complex pair on the unit circle is marginal for a map, inside stable, outside unstable
    ring = np.exp(1j * 0.3)
    maps = classify([[0.5 * ring, 0.1], [ring, np.conj(ring)], [1.01, 0.0]], "discrete")
    assert list(maps) == ["stable", "marginal", "unstable"]
    # the tolerance is an argument and is what decides
    assert classify([-1e-6], "continuous", tol=1e-5) == "marginal"
    assert classify([-1e-6], "continuous", tol=1e-7) == "stable"
    assert STABILITY_TOL == 1e-8


def test_classify_edge_cases_and_bad_input():
    assert classify(np.zeros((2, 0)), "continuous").tolist() == ["stable", "stable"]
    assert classify([np.nan, -1.0], "continuous") == "marginal"
    with pytest.raises(ValueError, match="time"):
        classify([0.0], "discreet")
    with pytest.raises(ValueError, match="tol"):
        classify([0.0], "continuous", tol=-1.0)


def test_sort_eigenvalues_least_stable_first():
    ev = np.array([-3.0, 0.5 + 2j, 0.9, -0.1])
    assert sort_eigenvalues(ev, "continuous")[0] == 0.9
    assert sort_eigenvalues(ev, "discrete")[0] == -3.0  # largest modulus


def _brute_force_groups(X, radius):
    """Single linkage by repeated flood fill over all pairs (O(n^2), independent of the tree)."""
    n = len(X)
    labels = -np.ones(n, dtype=int)
    k = 0
    for i in range(n):
        if labels[i] >= 0:
            continue
        stack, labels[i] = [i], k
        while stack:
            j = stack.pop()
            near = np.where((np.max(np.abs(X - X[j]), axis=1) <= radius) & (labels < 0))[0]
            labels[near] = k
            stack.extend(near.tolist())
        k += 1
    return labels


@pytest.mark.parametrize("seed", range(5))
def test_unique_points_matches_brute_force_single_linkage(seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, 3)) * 5
    X = centres[rng.integers(0, 6, 80)] + rng.normal(scale=1e-8, size=(80, 3))
    first, labels, counts = unique_points(X, atol=1e-6, rtol=1e-7)
    radius = 1e-6 + 1e-7 * np.max(np.abs(X))
    expected = _brute_force_groups(X, radius)
    assert np.array_equal(labels, expected)
    assert np.array_equal(first, [np.flatnonzero(expected == g)[0] for g in range(len(first))])
    assert counts.sum() == 80 and len(first) == len(np.unique(expected))


def test_unique_points_chains_and_empty():
    X = np.array([[0.0], [0.8e-6], [1.6e-6], [5.0]])
    _, labels, counts = unique_points(X, atol=1e-6, rtol=0.0)
    assert labels.tolist() == [0, 0, 0, 1] and counts.tolist() == [3, 1]
    first, labels, counts = unique_points(np.zeros((0, 2)))
    assert first.size == labels.size == counts.size == 0
    with pytest.raises(ValueError, match="points"):
        unique_points([1.0, 2.0])


def _poly(coeffs):
    d = np.polyder(coeffs)

    def fun(x):
        return (np.array([np.polyval(coeffs, x[0])]), np.array([[np.polyval(d, x[0])]]),
                np.zeros(0))

    return fun


@pytest.mark.parametrize("roots", [[-2.0, -0.5, 0.3, 1.7, 3.0], [-1.0, 0.0, 1.0], [0.1, 0.2]])
def test_deflated_newton_finds_every_real_root_from_one_start(roots):
    coeffs = np.poly(roots)
    found, failed = deflated_newton(_poly(coeffs), [np.array([0.05])], tol=1e-12)
    got = np.sort([r.x[0] for r in found])
    assert not failed
    np.testing.assert_allclose(got, np.sort(np.roots(coeffs).real), atol=1e-9)


def test_plain_newton_fails_honestly_where_there_is_no_root():
    # x^2 + 1 has no real root: Newton must not report convergence
    res = newton(_poly(np.array([1.0, 0.0, 1.0])), np.array([0.3]), max_iter=50)
    assert not res.converged and res.residual >= 1.0 - 1e-12
    found, failed = deflated_newton(_poly(np.array([1.0, 0.0, 1.0])), [np.array([0.3])])
    assert not found and len(failed) == 1


def test_solver_report_success_means_every_start():
    ok = SolverReport.from_starts("search", 10, 0, np.inf, 1e-10, residual=1e-12)
    assert ok.success and ok.status == 0
    part = SolverReport.from_starts("search", 10, 3, 2e-4, 1e-10)
    assert not part.success and part.status == 1 and "3 of 10" in part.message
    none = SolverReport.from_starts("search", 4, 4, 0.5, 1e-10)
    assert none.status == 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_report(ok)
        warn_report(part)
    assert len(caught) == 1 and issubclass(caught[0].category, ConvergenceWarning)
    assert "may be incomplete" in str(caught[0].message)


def _cubic_flow():
    # dx/dt = F(x) = -x^3 + x - 1/2: one real root (x* ~ -1.19, attracting); |F| has a local
    # minimum 1/2 - 2 / (3 sqrt 3) > 0 at the maximum x = 1/sqrt(3) of F, where Newton stalls
    coeffs = np.array([-1.0, 0.0, 1.0, -0.5])
    return coeffs, _poly(coeffs)


def test_root_search_pseudo_transient_passes_a_stalled_start():
    from lowrank.dynamics.solve import RootSearch, pseudo_transient

    coeffs, fun = _cubic_flow()
    real = np.roots(coeffs)
    root = real[np.abs(real.imag) < 1e-12].real
    assert root.size == 1
    start = [np.array([0.62])]
    ghost = 0.5 - 2.0 / (3.0 * np.sqrt(3.0))
    # plain Newton stalls at the minimum of |F|: the start fails, and says how far it got
    plain = RootSearch(fun, tol=1e-12, transient=False).run(start)
    assert not plain.found and plain.n_failed == 1
    assert abs(plain.failed_residual - ghost) < 1e-6
    # along the flow it reaches the one root
    res = pseudo_transient(fun, start[0], tol=1e-12)
    assert res.converged and abs(res.x[0] - root[0]) < 1e-10
    search = RootSearch(fun, tol=1e-12).run(start)
    assert search.n_failed == 0 and search.counts == [1]
    np.testing.assert_allclose([r.x[0] for r in search.found], root, atol=1e-10)


def test_pseudo_transient_passes_a_ghost_below_the_switching_level():
    """F = -x^3 + x - (2 / (3 sqrt 3) + 1e-4): |F| has a minimum 1e-4 at x = 1/sqrt(3) (the ghost
    of the saddle-node just past the fold), below the level 1e-3 (1 + |x|) at which the flow hands
    over to Newton, which stalls there; the flow must go on past it to the one real root (a
    regression: such a start failed, however large max_iter, on the slow ring of a fitted law)."""
    from lowrank.dynamics.solve import RootSearch, pseudo_transient

    coeffs = np.array([-1.0, 0.0, 1.0, -(2.0 / (3.0 * np.sqrt(3.0)) + 1e-4)])
    fun = _poly(coeffs)
    real = np.roots(coeffs)
    root = real[np.abs(real.imag) < 1e-12].real
    assert root.size == 1
    start = np.array([0.62])
    stalled = RootSearch(fun, tol=1e-12, transient=False).run([start])
    assert stalled.n_failed == 1 and abs(stalled.failed_residual - 1e-4) < 1e-6
    res = pseudo_transient(fun, start, tol=1e-12)
    assert res.converged and abs(res.x[0] - root[0]) < 1e-10
    assert RootSearch(fun, tol=1e-12).run([start]).counts == [1]


def _sorted_roots(results):
    return np.array(sorted(tuple(np.round(r.x, 8)) for r in results))


def _quartet(x):
    # F = (x^2 - 1, y^2 - 4): the roots are (+-1, +-2)
    return (np.array([x[0] ** 2 - 1.0, x[1] ** 2 - 4.0]), np.diag(2.0 * x), np.zeros(0))


def test_root_search_deflation_finds_every_root_and_respects_patience_and_known_roots():
    from lowrank.dynamics.solve import RootSearch

    exact = np.array([[a, b] for a in (-1.0, 1.0) for b in (-2.0, 2.0)])
    starts = [np.array([0.3, 0.7]), np.array([0.6, -0.4])]  # plain Newton: (1, 2) and (1, -2)
    search = RootSearch(_quartet, tol=1e-12).run(starts)
    np.testing.assert_allclose(_sorted_roots(search.found), exact, atol=1e-10)
    assert search.n_failed == 0 and search.n_starts == 2
    # the roots with x = -1 were found by deflation only (multiplicity 0)
    assert sorted(c for r, c in zip(search.found, search.counts, strict=True)
                  if r.x[0] < 0) == [0, 0]
    # patience 0: no deflated attempt, only the roots plain Newton reaches
    lazy = RootSearch(_quartet, tol=1e-12, patience=0).run(starts)
    np.testing.assert_allclose(_sorted_roots(lazy.found), [[1, -2], [1, 2]],
                               atol=1e-10)
    # roots known beforehand are deflated and never reported, even when a start reaches one
    rest = RootSearch(_quartet, tol=1e-12, roots=[[1.0, 2.0]]).run(starts)
    np.testing.assert_allclose(_sorted_roots(rest.found),
                               [[-1, -2], [-1, 2], [1, -2]], atol=1e-10)
    # ``accept`` refuses x < 0: such roots are deflated but not reported, and no failure
    right = RootSearch(_quartet, tol=1e-12, accept=lambda r: r.x[0] > 0)
    right.run([np.array([-0.3, 0.7])])  # plain Newton reaches the refused root (-1, 2)
    np.testing.assert_allclose(right.refused[0], [-1.0, 2.0], atol=1e-10)
    assert right.found and right.n_failed == 0
    assert all(abs(r.x[0] - 1.0) < 1e-10 and abs(abs(r.x[1]) - 2.0) < 1e-10 for r in right.found)
