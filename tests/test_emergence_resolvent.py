"""The "resolvent" prediction of a full-rank network: the rank-R truncated SVD m n^T / N of W with
the rest W_rest = W - m n^T / N kept through its response, m' = (1 - W_rest)^-1 m and n' from
the left resolvent (1 - W_rest^T)^-1 n.

Ground truth: the matrix determinant lemma, det(1 - W) = det(1 - W_rest)
det(1 - n^T (1 - W_rest)^-1 m / N), makes the reduced overlap n^T m' / N have an eigenvalue 1
exactly where W has one (Schuessler et al. 2020, the outlier equation at lambda = 1). The
position s* of W(s) = W0 + s U V^T / N's eigenvalue crossing 1 is found independently from
numpy's eigenvalues of the full matrix (scipy's brentq), and the resolvent prediction's pitchfork
(one stable point -> two) must sit there.

Past s*, the full network's attractors (scipy's root in N dimensions) are compared with the
reduced network's (brentq on its scalar fixed-point equation): with n' from the left resolvent
the rest's nonlinear response is kept to first order, so the relative error vanishes at the
crossing like kappa^2; through the linear response alone it stays at a few percent (the cubic
coefficient n^T r^3 in place of the network's l^T r^3).
"""

import numpy as np
import pytest
from scipy.optimize import brentq, root

from lowrank import ConvergenceWarning, emergence, emergence_factors
from lowrank.dynamics import Dynamics
from lowrank.emergence_report import _factors, choose_rank_by_attractors
from lowrank.projection import choose_rank

N = 200
G = 0.5


def _planted(seed=4):
    """W0 = g chi and a rank-one U V^T / N with V partly aligned with W0 U (a learned change
    that uses the bulk, as training does)."""
    rng = np.random.default_rng(seed)
    W0 = G * rng.standard_normal((N, N)) / np.sqrt(N)
    U = rng.standard_normal((N, 1))
    V = 0.6 * U + 0.8 * rng.standard_normal((N, 1)) + 1.0 * W0 @ U
    return W0, U, V


def _weights(W):
    return {"weight_rec": W, "weight_in": np.zeros((N, 1)), "bias": np.zeros(N)}


def _crossing(W0, U, V):
    """s* where the largest real part of an eigenvalue of W0 + s U V^T / N reaches 1."""
    def excess(s):
        return np.linalg.eigvals(W0 + s * U @ V.T / N).real.max() - 1.0

    return brentq(excess, 0.0, 5.0, xtol=1e-12)


def test_reduced_overlap_has_eigenvalue_one_where_W_has():
    W0, U, V = _planted()
    s_star = _crossing(W0, U, V)
    W = W0 + s_star * U @ V.T / N
    factors, _ = _factors(_weights(W), Dynamics.from_weights(_weights(W), "discrete"), 1, W0, None)
    m, n = factors["resolvent"].m, factors["resolvent"].n
    # the reduced linearisation at the origin: n^T m' / N
    assert (n.T @ m / N).item() == pytest.approx(1.0, abs=1e-8)
    # the truncation alone has no eigenvalue 1 there
    mt, nt = factors["truncated"].m, factors["truncated"].n
    assert abs((nt.T @ mt / N).item() - 1.0) > 0.05
    # without the bulk's response (the "bulk" prediction's m = U) the overlap misses the
    # crossing by the aligned part s* V^T W0 (1 - W0)^-1 U / N of the planted V
    mb, nb = factors["bulk"].m, factors["bulk"].n
    aligned = s_star * (V.T @ W0 @ np.linalg.solve(np.eye(N) - W0, U)).item() / N
    assert (nb.T @ mb / N).item() == pytest.approx(1.0 - aligned, abs=1e-8)
    assert abs(aligned) > 0.2


@pytest.mark.parametrize("side, expected", [(0.97, 1), (1.03, 2)])
def test_resolvent_prediction_pitchfork_at_the_network_crossing(side, expected):
    """Just below s*: only the origin is stable, in the network and in the prediction; just
    above: a pair of stable points (discrete-time tanh map, rank one, one Gaussian population)."""
    W0, U, V = _planted()
    s = side * _crossing(W0, U, V)
    runs = [(0, _weights(W0)), (1, _weights(W0 + s * U @ V.T / N))]
    report = emergence(runs, rank=1, populations=1, time="discrete", n_starts=16,
                       finite_size=None, prediction="resolvent")
    last = report.analyses[-1]
    assert last.prediction == "resolvent"
    assert last.observed_attractors == expected
    assert last.main.n_attractors == expected
    row = report.table()[-1]
    assert row["resolvent_stable"] == expected and row["resolvent_match"]


def _attractor_errors(past, bias_scale, sign):
    """Relative errors of the resolvent prediction's attractor and of the linear response's
    alone, each in its own coordinates kappa = n^T tanh(x) / N, at s = past * s*."""
    W0, U, V = _planted()
    W = W0 + past * _crossing(W0, U, V) * U @ V.T / N
    bias = bias_scale * np.random.default_rng(9).standard_normal(N)
    weights = dict(_weights(W), bias=bias)
    factors, _ = _factors(weights, Dynamics.from_weights(weights, "discrete"), 1, W0, None)
    x = root(lambda x: x - W @ np.tanh(x) - bias, sign * 0.5 * U[:, 0], tol=1e-14).x
    assert np.max(np.abs(x - W @ np.tanh(x) - bias)) < 1e-10 and np.max(np.abs(x)) > 1e-2
    # the linear response alone: m' = (1 - W_rest)^-1 [m, b], n kept
    m, n = factors["truncated"].m, factors["truncated"].n
    filtered = np.linalg.solve(np.eye(N) - (W - m @ n.T / N), np.c_[m, bias])
    candidates = {"resolvent": (factors["resolvent"].m, factors["resolvent"].n,
                                factors["resolvent"].bias),
                  "linear": (filtered[:, :1], n, filtered[:, 1])}
    errors = {}
    for name, (m_r, n_r, b_r) in candidates.items():
        m_r, n_r = m_r[:, 0], n_r[:, 0]
        observed = n_r @ np.tanh(x) / N
        k = brentq(lambda k, m_r=m_r, n_r=n_r, b_r=b_r: n_r @ np.tanh(m_r * k + b_r) / N - k,
                   0.3 * observed, 3 * observed)
        errors[name] = abs(k - observed) / abs(observed)
    return errors


@pytest.mark.parametrize("bias_scale, sign", [(0.0, 1), (0.0, -1), (0.01, 1)])
def test_resolvent_attractor_exact_to_first_order_past_the_crossing(bias_scale, sign):
    near, further = (_attractor_errors(p, bias_scale, sign) for p in (1.01, 1.03))
    assert near["resolvent"] < 2e-3 and further["resolvent"] < 4e-3
    if bias_scale == 0.0:  # the error vanishes at the crossing (like kappa^2)
        assert near["resolvent"] < 0.5 * further["resolvent"]
    # the linear response alone misses by the wrong cubic coefficient, at any distance
    assert near["linear"] > 0.02 and further["linear"] > 0.02


def test_resolvent_needs_no_W0_and_bulk_does():
    """A checkpoint list not starting at epoch 0 has no W0: "resolvent" (truncated SVD and the
    rest of W) is still made, "bulk" refuses clearly."""
    W0, U, V = _planted()
    W = W0 + 1.1 * _crossing(W0, U, V) * U @ V.T / N
    runs = [(5, _weights(W))]
    report = emergence(runs, rank=1, populations=1, time="discrete", n_starts=16,
                       finite_size=None, prediction="resolvent")
    last = report.analyses[-1]
    assert set(last.predictions) == {"truncated", "resolvent"}
    assert last.observed_attractors == 2 and last.main.n_attractors == 2
    with pytest.raises(ValueError, match="bulk.*W0"):
        emergence(runs, rank=1, populations=1, time="discrete", prediction="bulk")


def _hopfield(N_h=200, lam=2.0, g=0.3, seed=6):
    """Two binary patterns xi (entries +-1) stored as W = g chi + lam xi xi^T / N: the map
    h' = tanh(W h) has the four attractors +-tanh-scaled xi_1, +-xi_2 (the mixtures are saddles)."""
    rng = np.random.default_rng(seed)
    xi = rng.choice([-1.0, 1.0], size=(N_h, 2))
    return g * rng.standard_normal((N_h, N_h)) / np.sqrt(N_h) + lam * xi @ xi.T / N_h


def _attractors_by_simulation(W, n_starts=200, steps=400, seed=0):
    """Distinct end states of the map h' = tanh(W h) from random starts (plain numpy)."""
    rng = np.random.default_rng(seed)
    H = rng.uniform(-1, 1, (n_starts, W.shape[0]))
    for _ in range(steps):
        H = np.tanh(H @ W.T)
    assert np.max(np.abs(np.tanh(H @ W.T) - H)) < 1e-8  # all at rest
    return len({tuple(np.round(h, 4)) for h in H})


@pytest.mark.parametrize("prediction", ["truncated", "resolvent"])
def test_rank_chosen_by_the_attractors(prediction):
    """Four attractors by simulation of the full network, two for its rank-one truncation: the
    rank that keeps them is 2, found by the low-rank networks' own counts."""
    W = _hopfield()
    n = W.shape[0]
    assert _attractors_by_simulation(W) == 4
    U, S, Vt = np.linalg.svd(W)
    assert _attractors_by_simulation(S[0] * np.outer(U[:, 0], Vt[0])) == 2
    weights = {"weight_rec": W, "weight_in": np.zeros((n, 1)), "bias": np.zeros(n)}
    rank, evidence = choose_rank_by_attractors(weights, "discrete", None, prediction,
                                               n_starts=32)
    assert rank == 2
    assert [(e["rank"], e["attractors"]) for e in evidence] == [(None, 4), (1, 2), (2, 4)]
    assert choose_rank_by_attractors(weights, "discrete", None, "bulk") == (choose_rank(S), [])


def test_rank_chosen_by_the_attractors_positions(monkeypatch):
    """W = 2 xi1 xi1^T / N + xi2 (xi1 + xi2)^T / N (rank two): its rank-one truncation keeps
    the two attractors but puts them a third too far out (plain numpy simulation of both, both
    projected on the leading right singular vector), so rank 2 (W itself) is chosen; with a
    tolerance above that error, rank 1."""
    n = 200
    xi = np.random.default_rng(3).choice([-1.0, 1.0], (n, 2))
    W = 2 * np.outer(xi[:, 0], xi[:, 0]) / n + np.outer(xi[:, 1], xi[:, 0] + xi[:, 1]) / n
    U, S, Vt = np.linalg.svd(W)
    ends = {}
    for name, matrix in {"full": W, "rank1": S[0] * np.outer(U[:, 0], Vt[0])}.items():
        H = np.random.default_rng(0).uniform(-1, 1, (100, n))
        for _ in range(600):
            H = np.tanh(H @ matrix.T)
        assert np.max(np.abs(np.tanh(H @ matrix.T) - H)) < 1e-9  # all at rest
        ends[name] = np.unique(np.round(H @ Vt[0], 6))
    assert len(ends["full"]) == len(ends["rank1"]) == 2
    error = np.max(np.abs(ends["rank1"] - ends["full"]) / np.abs(ends["full"]))
    assert error > 0.2
    weights = {"weight_rec": W, "weight_in": np.zeros((n, 1)), "bias": np.zeros(n)}
    rank, evidence = choose_rank_by_attractors(weights, "discrete", None, "truncated",
                                               n_starts=32)
    assert rank == 2
    assert evidence[1]["attractors"] == 2
    assert evidence[1]["position_error"] == pytest.approx(error, rel=1e-4)
    assert evidence[2]["position_error"] < 1e-8
    rank, _ = choose_rank_by_attractors(weights, "discrete", None, "truncated", n_starts=32,
                                        position_tol=1.0)
    assert rank == 1
    # positions are looked for at most POSITION_RANKS ranks above the first with the count
    monkeypatch.setattr(emergence_factors, "POSITION_RANKS", 0)
    rank, evidence = choose_rank_by_attractors(weights, "discrete", None, "truncated",
                                               n_starts=32)
    assert rank == 1 and [e["rank"] for e in evidence] == [None, 1]


def test_singular_response_falls_back_to_truncated_with_a_warning():
    """W = diag(2, 1, 0.5, ...): its rank-one truncation keeps the 2, and the rest has the
    eigenvalue 1 exactly, so 1 - W_rest is singular and the rest's response diverges; the
    resolvent prediction is not made and the truncated one is the main prediction, with a
    warning."""
    n = 40
    W = np.diag(np.r_[2.0, 1.0, np.linspace(0.5, 0.1, n - 2)])
    weights = {"weight_rec": W, "weight_in": np.zeros((n, 1)), "bias": np.zeros(n)}
    factors, _ = _factors(weights, Dynamics.from_weights(weights, "discrete"), 1, None, None)
    assert "resolvent" not in factors and "truncated" in factors
    with pytest.warns(ConvergenceWarning, match="no 'resolvent' prediction here"):
        report = emergence([(5, weights)], rank=1, populations=1, time="discrete",
                           n_starts=8, finite_size=None, prediction="resolvent")
    assert report.analyses[-1].prediction == "truncated"
