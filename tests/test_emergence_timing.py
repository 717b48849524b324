"""Bifurcation timing between checkpoints, against bifurcations planted at known positions.

Pitchfork: rank one, tanh, continuous time, zero means and unit-variance m. The origin is always a
fixed point and loses stability when the outlier of its linearisation -1 + W phi'(0) crosses 0,
i.e. when n^T m / N = 1 (W = m n^T / N has the single nonzero eigenvalue n^T m / N). With m and
an orthogonal part y whitened (sample mean 0, sample covariance I exactly) and
n(s) = (0.4 + s) m + b y, n^T m / N = 0.4 + s exactly for every N, so the finite network's
pitchfork is at s = 0.6 exactly; it is supercritical (<m^4> > 0): 1 stable point becomes 2. The
mean field of the fitted law (sample covariance: sigma_mn = 0.4 + s exactly) has its pitchfork at
sigma_mn = 1 (Mastrogiuseppe & Ostojic 2018), again s = 0.6. So both located positions must be
within the bisection's tol / 2 of 0.6: no finite-N allowance is needed, and the only other error,
the stability tolerance 1e-8 in growth rate (= in s), is far below it. (0.6, not 0.5: bisection
from a grid symmetric about 0.5 evaluates s = 0.5 itself, which the marginal-count test covers.)
The continuation test plants the pitchfork at s = 0.5 (sigma_mn(s) = 0.5 + s).

Fold: rank one without variance, kappa = M_n tanh(M_m kappa + u) has folds at
u = +-(atanh(t) - M_m M_n t), t = sqrt(1 - 1 / (M_m M_n)); a network whose neurons share m and the
bias u (n heterogeneous with mean M_n) has these fixed points exactly (x = m kappa + u is uniform).
"""

import itertools
import math
import warnings

import numpy as np
import pytest

from lowrank import (
    ConvergenceWarning,
    GaussianLoadings,
    MeanField,
    MixtureLoadings,
    find_fixed_points,
)
from lowrank.emergence_timing import (
    BifurcationTiming,
    align_factors,
    alignment,
    continue_prediction,
    interpolate_loadings,
    interpolate_weights,
    locate_bifurcations,
    locate_law_bifurcations,
    pair_bifurcations,
    persistent_changes,
    rotate_loadings,
)

N = 1000


def _whitened(n_rows, dim, seed):
    z = np.random.default_rng(seed).standard_normal((n_rows, dim))
    z -= z.mean(axis=0)
    values, vectors = np.linalg.eigh(z.T @ z / n_rows)
    return z @ (vectors / np.sqrt(values)) @ vectors.T


def _pitchfork_weights():
    z = _whitened(N, 2, seed=1)
    m, y = z[:, :1], z[:, 1:]
    return {"m": m, "n": 0.4 * m + 0.8 * y}, {"m": m, "n": 1.4 * m + 0.8 * y}


def _observe(weights, seed):
    """Stable fixed points of the network (continuous time)."""
    found = find_fixed_points(weights, time="continuous", n_starts=16, seed=seed)
    assert found.converged
    return found.n_stable


def _predict(weights):
    """Stable attractors of the mean field of the Gaussian law fitted to the rows (m, n, bias).
    Near a fold some Newton starts stall at its ghost and the search warns that it may be
    incomplete; the count is checked against the planted fold all the same."""
    columns = [weights["m"], weights["n"]] + (
        [weights["bias"][:, None]] if "bias" in weights else []
    )
    law = GaussianLoadings.fit(np.hstack(columns), rank=1, n_inputs=len(columns) - 2)
    inputs = [1.0] if "bias" in weights else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MeanField(law).fixed_points(inputs, n_starts=10).n_attractors


def test_bisection_locates_planted_pitchfork_predicted_and_observed():
    wa, wb = _pitchfork_weights()
    assert abs(float(wa["n"][:, 0] @ wa["m"][:, 0]) / N - 0.4) < 1e-12  # the planted overlap
    tol = 1e-3
    events = locate_bifurcations(
        wa,
        wb,
        10,
        20,
        time="continuous",
        predict=_predict,
        observe=_observe,
        tol=tol,
        seed=0,
        grid=5,
    )
    assert [e.kind for e in events] == ["predicted", "observed"]
    for e in events:
        assert e.located and e.event == "count"
        assert (e.count_before, e.count_after, e.new_attractors) == (1, 2, 1)
        assert abs(e.s - 0.6) <= tol / 2 + 1e-12
        assert e.bracket[0] <= 0.6 <= e.bracket[1] and e.bracket[1] - e.bracket[0] <= tol
        assert e.epoch == pytest.approx(10 + 10 * e.s) and e.interval == 10
    assert len(repr(events[0])) < 400
    # continuation between the laws fitted at the two checkpoints (sigma_mn(s) = 0.4 + s again),
    # paired with the network's change: same epoch to the bisection's tolerance
    fit = lambda w: GaussianLoadings.fit(np.hstack([w["m"], w["n"]]), rank=1)  # noqa: E731
    (cont,) = continue_prediction(fit(wa), fit(wb), 10, 20, time="continuous", n_values=6)
    assert cont.event == "branch_point" and abs(cont.s - 0.6) < 1e-6
    (pair,) = pair_bifurcations([cont], [e for e in events if e.kind == "observed"])
    assert pair.within_interval and abs(pair.epoch_difference) <= 10 * tol / 2 + 1e-5


def test_continuation_locates_planted_pitchfork():
    """sigma_mn(s) = 0.5 + s: the interpolated laws' pitchfork at s = 0.5 to 1e-6."""
    la = GaussianLoadings([0, 0], [[1, 0.5], [0.5, 1]], rank=1)
    lb = GaussianLoadings([0, 0], [[1, 1.5], [1.5, 3.25]], rank=1)
    events = continue_prediction(la, lb, 10, 20, time="continuous", n_values=6)
    assert len(events) == 1
    (e,) = events
    assert e.event == "branch_point" and e.kind == "predicted" and e.located
    assert abs(e.s - 0.5) < 1e-6 and abs(e.epoch - 15) < 1e-5
    assert (e.count_before, e.count_after) == (1, 2)


def _fold_setup():
    Mm, Mn = 1.0, 2.0
    t = math.sqrt(1 - 1 / (Mm * Mn))
    u_star = math.atanh(t) - Mm * Mn * t  # the fold at negative u
    # path u(s) = -1 + s: one fold in [0, 1], at s = 1 + u_star; 1 stable point becomes 2
    return Mm, Mn, 1.0 + u_star


def test_continuation_locates_planted_fold():
    Mm, Mn, s_fold = _fold_setup()
    la = GaussianLoadings([Mm, Mn, -1.0], np.zeros((3, 3)), rank=1, n_inputs=1)
    lb = GaussianLoadings([Mm, Mn, 0.0], np.zeros((3, 3)), rank=1, n_inputs=1)
    events = continue_prediction(la, lb, 0, 4, time="continuous", inputs=[1.0], n_values=6)
    folds = [e for e in events if e.event == "fold"]
    assert len(folds) == 1 and abs(folds[0].s - s_fold) < 1e-6
    assert (folds[0].count_before, folds[0].count_after) == (1, 2)
    assert abs(folds[0].epoch - 4 * s_fold) < 1e-5


def test_continuation_merges_symmetric_folds_of_a_mixture():
    """Two populations without variance: kappa = (A tanh(kappa / 2) - B tanh(2 kappa)) / 2
    (alpha = 1/2 each; m = 1/2, n = A and m = 2, n = -B). The origin stays stable (G'(0) < 1 for
    A < 6) while a symmetric pair of folds creates two stable points at once where G = kappa and
    G' = 1 (solved here by scipy with the closed form). law_b lists its populations in the other
    order: they must be matched, or the path would mix them."""
    from scipy.optimize import fsolve

    B, A_a, A_b = 0.5, 5.0, 5.8

    def conditions(x):
        k, A = x
        G = 0.5 * (A * np.tanh(0.5 * k) - B * np.tanh(2 * k))
        dG = 0.5 * (0.5 * A / np.cosh(0.5 * k) ** 2 - 2 * B / np.cosh(2 * k) ** 2)
        return [G - k, dG - 1]

    k_star, A_star = fsolve(conditions, [1.0, 5.4], xtol=1e-13)
    s_star = (A_star - A_a) / (A_b - A_a)

    def law(A, swap=False):
        pops = [
            GaussianLoadings([0.5, A], np.zeros((2, 2)), rank=1),
            GaussianLoadings([2.0, -B], np.zeros((2, 2)), rank=1),
        ]
        return MixtureLoadings(pops[::-1] if swap else pops, [0.5, 0.5])

    events = continue_prediction(law(A_a), law(A_b, swap=True), time="continuous", n_values=6)
    (e,) = events
    assert e.event == "fold" and e.n_events == 2 and e.located
    assert abs(e.s - s_star) < 1e-6
    assert (e.count_before, e.count_after, e.new_attractors) == (1, 3, 2)


def test_bisection_locates_planted_fold_in_the_network():
    Mm, Mn, s_fold = _fold_setup()
    n_units = 60
    y = _whitened(n_units, 1, seed=2)
    base = {"m": np.full((n_units, 1), Mm), "n": Mn + 0.5 * y}
    wa = dict(base, bias=np.full(n_units, -1.0))
    wb = dict(base, bias=np.zeros(n_units))
    tol = 1e-3
    events = locate_bifurcations(
        wa, wb, 0, 1, time="continuous", predict=_predict, observe=_observe, tol=tol, grid=5
    )
    assert sorted(e.kind for e in events) == ["observed", "predicted"]
    for e in events:
        assert e.located and (e.count_before, e.count_after) == (1, 2)
        assert abs(e.s - s_fold) <= tol / 2 + 1e-9


def test_several_changes_in_one_grid_cell_and_seed_passed():
    """A planted step count with two steps inside one grid cell: both located; the seed reaches
    callables that take one."""
    seen = []

    def observe(weights, seed):
        seen.append(seed)
        s = float(weights["weight_rec"][0, 0])
        return 1 + (s > 0.31) + 2 * (s > 0.33)

    predict = lambda weights: 3 - int(weights["weight_rec"][0, 0] > 0.7)  # noqa: E731
    wa, wb = {"weight_rec": np.zeros((2, 2))}, {"weight_rec": np.ones((2, 2))}
    events = locate_bifurcations(
        wa, wb, 0, 1, time="discrete", predict=predict, observe=observe, tol=1e-4, grid=2, seed=7
    )
    observed = [e for e in events if e.kind == "observed"]
    assert [(e.count_before, e.count_after) for e in observed] == [(1, 2), (2, 4)]
    np.testing.assert_allclose([e.s for e in observed], [0.31, 0.33], atol=5e-5)
    (pred,) = [e for e in events if e.kind == "predicted"]
    assert (pred.count_before, pred.count_after) == (3, 2) and abs(pred.s - 0.7) <= 5e-5
    assert set(seen) == {7}
    with pytest.warns(ConvergenceWarning, match="not bracketed"):
        loose = locate_bifurcations(
            wa,
            wb,
            0,
            1,
            time="discrete",
            predict=predict,
            observe=observe,
            tol=1e-4,
            grid=2,
            max_evaluations=3,
        )
    assert not all(e.located for e in loose)
    for e in loose:
        assert e.bracket[0] <= e.s <= e.bracket[1]


def test_marginal_count_on_a_grid_point_is_one_change():
    """The count at the bifurcation itself (a marginal state, counted in neither class) differs
    from both sides; on a grid point it must not split the change into two."""

    def observe(weights):
        s = float(weights["bias"][0])
        return 1 if s < 0.5 else (0 if s == 0.5 else 2)

    wa, wb = (
        {"weight_rec": np.zeros((2, 2)), "bias": np.zeros(2)},
        {"weight_rec": np.zeros((2, 2)), "bias": np.ones(2)},
    )
    (e,) = locate_bifurcations(
        wa, wb, 0, 1, time="continuous", predict=lambda w: 1, observe=observe, tol=1e-3, grid=9
    )
    assert (e.count_before, e.count_after) == (1, 2) and e.located and e.s == 0.5
    assert e.bracket[1] - e.bracket[0] <= 2e-3


def test_interpolated_laws_and_weights():
    wa = {"weight_rec": np.eye(2), "bias": np.zeros(2)}
    wb = {"weight_rec": 3 * np.eye(2), "bias": np.ones(2)}
    w = interpolate_weights(wa, wb, 0.25)
    np.testing.assert_allclose(w["weight_rec"], 1.5 * np.eye(2))
    np.testing.assert_allclose(w["bias"], 0.25)
    # a mixture whose populations are listed in the other order at b: matched, not mixed up
    p1a = GaussianLoadings([1, 1], [[1, 0.2], [0.2, 1]], rank=1)
    p2a = GaussianLoadings([-1, -1], [[2, 0.0], [0.0, 2]], rank=1)
    p1b = GaussianLoadings([1.2, 1], [[1, 0.4], [0.4, 1]], rank=1)
    p2b = GaussianLoadings([-1, -1.2], [[2, 0.1], [0.1, 2]], rank=1)
    law = interpolate_loadings(
        MixtureLoadings([p1a, p2a], [0.3, 0.7]), MixtureLoadings([p2b, p1b], [0.6, 0.4]), 0.5
    )
    np.testing.assert_allclose(law.weights, [0.35, 0.65])
    np.testing.assert_allclose(law.components[0].mean, [1.1, 1])
    np.testing.assert_allclose(law.components[0].cov, [[1, 0.3], [0.3, 1]])
    np.testing.assert_allclose(law.components[1].mean, [-1, -1.1])
    g = interpolate_loadings(p1a, p1b, 1.0)
    assert isinstance(g, GaussianLoadings)
    np.testing.assert_allclose(g.cov, p1b.cov)


def test_align_factors_undoes_a_planted_rotation():
    rng = np.random.default_rng(3)
    m, n = rng.standard_normal((50, 2)), rng.standard_normal((50, 2))
    Q = np.linalg.qr(rng.standard_normal((2, 2)))[0] @ np.diag([1.0, -1.0])  # rotation and flip
    m2, n2 = align_factors((m, n), (m @ Q, n @ Q))
    np.testing.assert_allclose(m2, m, atol=1e-12)
    np.testing.assert_allclose(n2, n, atol=1e-12)
    np.testing.assert_allclose(m2 @ n2.T, (m @ Q) @ (n @ Q).T, atol=1e-12)  # same W
    with pytest.raises(ValueError, match="shape"):
        align_factors((m, n), (m[:, :1], n[:, :1]))
    with pytest.raises(TypeError, match="factors"):
        align_factors((m, n), m)


def _event(kind, epoch, before, after, epochs=(0.0, 10.0)):
    return BifurcationTiming(kind, epoch / 10, epoch, before, after, True, (0, 1), epochs)


def test_pair_bifurcations_pairs_attractors_nearest():
    """Attractor by attractor: predicted units at 3, 7, 7 (the +2 event is two units), observed
    units at 2, 6, 19, 19. The assignment minimising the summed |difference| (brute force over
    every injection below) pairs 3-2, 7-6 and 7-19 and leaves one unit at 19 unpaired."""
    pred = [
        _event("predicted", 3.0, 1, 2),
        _event("predicted", 7.0, 2, 4),
        _event("predicted", 8.0, 4, 4),
    ]
    obs = [
        _event("observed", 2.0, 1, 2),
        _event("observed", 19.0, 2, 4, (10.0, 20.0)),
        _event("observed", 6.0, 2, 3),
    ]
    units_p, units_o = [3.0, 7.0, 7.0], [2.0, 19.0, 19.0, 6.0]
    best = min(
        itertools.permutations(range(len(units_o)), len(units_p)),
        key=lambda cols: sum(abs(units_p[i] - units_o[j]) for i, j in enumerate(cols)),
    )
    expected = sorted(units_p[i] - units_o[j] for i, j in enumerate(best))
    pairs = pair_bifurcations(pred, obs)
    paired = [p for p in pairs if p.predicted is not None and p.observed is not None]
    assert sorted(p.epoch_difference for p in paired) == expected == [-12.0, 1.0, 1.0]
    assert all(p.predicted is not pred[2] for p in pairs)  # changes no count: left out
    twice = [p for p in paired if p.predicted is pred[1]]  # the +2 event pairs twice
    assert {id(p.observed) for p in twice} == {id(obs[1]), id(obs[2])}
    assert [p.within_interval for p in sorted(paired, key=lambda p: p.epoch_difference)] == [
        False, True, True
    ]
    lone = [p for p in pairs if p.predicted is None]
    assert len(lone) == 1 and lone[0].observed is obs[1] and np.isnan(lone[0].epoch_difference)
    assert all(p.within_interval for p in pair_bifurcations(pred, obs, interval=20.0)
               if p.predicted is not None and p.observed is not None)
    assert pair_bifurcations([], []) == []


def test_pair_bifurcations_split_symmetric_event():
    """A symmetric mean field gains two attractors at epoch 31 in one event; the finite network
    gains them at 30.7 and 31.5: both within the interval (19, 37), none unpaired. Losses pair
    only with losses."""
    pred = [_event("predicted", 31.0, 2, 4, (19.0, 37.0)), _event("predicted", 35.0, 4, 3)]
    obs = [
        _event("observed", 30.7, 2, 3, (19.0, 37.0)),
        _event("observed", 31.5, 3, 4, (19.0, 37.0)),
    ]
    pairs = pair_bifurcations(pred, obs)
    gained = [p for p in pairs if p.predicted is pred[0]]
    assert len(gained) == 2 and all(p.within_interval for p in gained)
    assert sorted(round(p.epoch_difference, 12) for p in gained) == [-0.5, 0.3]
    (lost,) = [p for p in pairs if p.predicted is pred[1]]
    assert lost.observed is None and not lost.within_interval


def test_pair_bifurcations_across_a_checkpoint():
    """The network gains two attractors at 8.5 (interval 7-10), the prediction at 11.6 (interval
    10-14): they pair across the checkpoint at 10, within one interval (|3.1| <= 4, the longer
    of the two), not within a 3-epoch interval given explicitly."""
    pred = [_event("predicted", 11.6, 2, 4, (10.0, 14.0))]
    obs = [_event("observed", 8.5, 2, 4, (7.0, 10.0))]
    pairs = pair_bifurcations(pred, obs)
    assert len(pairs) == 2 and all(p.predicted is pred[0] and p.observed is obs[0] for p in pairs)
    assert all(p.within_interval and p.epoch_difference == pytest.approx(3.1) for p in pairs)
    assert not any(p.within_interval for p in pair_bifurcations(pred, obs, interval=3.0))


def _moments(law):
    """Overall mean and covariance of a mixture, by hand: sum_p w_p mu_p and
    sum_p w_p (Sigma_p + mu_p mu_p^T) - mean mean^T."""
    comps = [law] if isinstance(law, GaussianLoadings) else law.components
    weights = np.ones(1) if isinstance(law, GaussianLoadings) else np.asarray(law.weights)
    mean = sum(w * c.mean for w, c in zip(weights, comps, strict=True))
    second = sum(w * (c.cov + np.outer(c.mean, c.mean)) for w, c in zip(weights, comps,
                                                                          strict=True))
    return mean, second - np.outer(mean, mean)


def test_interpolating_laws_of_different_populations_starts_and_ends_at_them():
    """One Gaussian against three populations: the Gaussian is written as three identical
    copies, so the path's law at s = 0 has the Gaussian's moments and at s = 1 is law_b."""
    la = GaussianLoadings([0.1, -0.2], [[1.0, 0.3], [0.3, 2.0]], rank=1)
    parts = [GaussianLoadings([x, 2 * x], [[0.5, 0.1 * x], [0.1 * x, 1.0]], rank=1)
             for x in (-1.0, 0.0, 1.5)]
    lb = MixtureLoadings(parts, [0.2, 0.5, 0.3])
    for first, second, s, target in ((la, lb, 0.0, la), (la, lb, 1.0, lb), (lb, la, 1.0, la)):
        law = interpolate_loadings(first, second, s)
        for got, want in zip(_moments(law), _moments(target), strict=True):
            np.testing.assert_allclose(got, want, atol=1e-12)
    end = interpolate_loadings(la, lb, 1.0)
    assert sorted(np.round(end.weights, 12)) == [0.2, 0.3, 0.5]


def test_rotated_law_is_the_law_of_rotated_rows():
    """Fitting the rows (m Q, n Q, I) gives rotate_loadings(fit of (m, n, I), Q) exactly."""
    rng = np.random.default_rng(3)
    rows = rng.standard_normal((500, 5)) @ rng.standard_normal((5, 5))
    Q, _ = np.linalg.qr(rng.standard_normal((2, 2)))
    moved = rows.copy()
    moved[:, :2], moved[:, 2:4] = rows[:, :2] @ Q, rows[:, 2:4] @ Q
    want = GaussianLoadings.fit(moved, rank=2, n_inputs=1)
    got = rotate_loadings(GaussianLoadings.fit(rows, rank=2, n_inputs=1), Q)
    np.testing.assert_allclose(got.mean, want.mean, atol=1e-12)
    np.testing.assert_allclose(got.cov, want.cov, atol=1e-12)
    m, n = rng.standard_normal((30, 2)), rng.standard_normal((30, 2))
    np.testing.assert_allclose(alignment((m @ Q.T, n @ Q.T), (m, n)), Q, atol=1e-12)


def test_law_path_locates_planted_pitchfork():
    """sigma_mn(s) = 0.5 + s on the path between the laws: one stable point becomes two at
    s = 0.5 (overlap 1), located to tol / 2 by bisection on the mean-field counts."""
    la = GaussianLoadings([0, 0], [[1, 0.5], [0.5, 1]], rank=1)
    lb = GaussianLoadings([0, 0], [[1, 1.5], [1.5, 3.25]], rank=1)
    tol = 1e-3
    (event,) = locate_law_bifurcations(la, lb, 10, 20, time="continuous", tol=tol)
    assert event.kind == "predicted" and (event.count_before, event.count_after) == (1, 2)
    assert abs(event.s - 0.5) <= tol / 2 and abs(event.epoch - 15) <= 10 * tol / 2


def test_persistent_changes_leave_out_transients():
    """Counts along a path 2 -> 3 -> 2 -> 4 -> 5 -> 4 (events at s = 0.1 .. 0.5): the attractor
    gained at 0.1 and lost at 0.2, and the one gained at 0.4 and lost at 0.5, are transients;
    the net +2 is the event at 0.3, kept whole. Then 4 -> 2 -> 3: of the -2 at 0.2, one is
    regained at 0.6, so it keeps -1 and the +1 goes."""
    def ev(s, before, after):
        return BifurcationTiming("observed", s, 10 * s, before, after, True, (s, s), (0.0, 10.0))

    path = [ev(0.5, 5, 4), ev(0.1, 2, 3), ev(0.2, 3, 2), ev(0.3, 2, 4), ev(0.4, 4, 5)]
    kept, transients = persistent_changes(path)
    assert [(e.s, e.count_before, e.count_after) for e in kept] == [(0.3, 2, 4)]
    assert transients == 4
    kept, transients = persistent_changes([ev(0.6, 2, 3), ev(0.2, 4, 2)])
    assert [(e.s, e.new_attractors) for e in kept] == [(0.2, -1)] and transients == 2
    # the net change is kept: counts at the ends of the path
    for events in (path, [ev(0.6, 2, 3), ev(0.2, 4, 2)]):
        kept, _ = persistent_changes(events)
        ordered = sorted(events, key=lambda e: e.s)
        net = ordered[-1].count_after - ordered[0].count_before
        assert sum(e.new_attractors for e in kept) == net
    assert persistent_changes([]) == ([], 0)
    with pytest.raises(TypeError, match="events"):
        persistent_changes([1])


def test_bad_input():
    wa, wb = {"weight_rec": np.eye(2)}, {"weight_rec": np.eye(2)}
    count = lambda w: 1  # noqa: E731
    kwargs = dict(time="continuous", predict=count, observe=count)
    with pytest.raises(ValueError, match="same arrays"):
        locate_bifurcations(wa, {"weight_rec": np.eye(2), "bias": np.zeros(2)}, 0, 1, **kwargs)
    with pytest.raises(ValueError, match="shape"):
        locate_bifurcations(wa, {"weight_rec": np.eye(3)}, 0, 1, **kwargs)
    with pytest.raises(TypeError, match="weights_a"):
        locate_bifurcations([1], wb, 0, 1, **kwargs)
    with pytest.raises(ValueError, match="time"):
        locate_bifurcations(wa, wb, 0, 1, time="sideways", predict=count, observe=count)
    with pytest.raises(TypeError, match="predict"):
        locate_bifurcations(wa, wb, 0, 1, time="continuous", predict=3, observe=count)
    with pytest.raises(TypeError, match="observe"):
        locate_bifurcations(wa, wb, 0, 1, time="continuous", predict=count, observe=lambda w: 1.5)
    with pytest.raises(ValueError, match="tol"):
        locate_bifurcations(wa, wb, 0, 1, tol=0.0, **kwargs)
    with pytest.raises(ValueError, match="grid"):
        locate_bifurcations(wa, wb, 0, 1, grid=1, **kwargs)
    with pytest.raises(ValueError, match="s must lie"):
        interpolate_weights(wa, wb, 1.5)
    la = GaussianLoadings([0, 0], np.eye(2), rank=1)
    with pytest.raises(TypeError, match="law_b"):
        continue_prediction(la, "law", time="continuous")
    with pytest.raises(ValueError, match="rank"):
        interpolate_loadings(la, GaussianLoadings(np.zeros(4), np.eye(4), rank=2), 0.5)
    with pytest.raises(TypeError, match="predicted"):
        pair_bifurcations([1], [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert locate_bifurcations(wa, wb, 0, 1, **kwargs) == []  # no change: no event
