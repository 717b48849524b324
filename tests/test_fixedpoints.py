"""find_fixed_points against analytic fixed points, the maps-vs-flows rule and real trained
networks."""

import numpy as np
import pytest
from scipy.linalg import hadamard
from scipy.optimize import brentq

from lowrank import LowRankNetwork
from lowrank.fixedpoints import find_fixed_points
from lowrank.turner2023 import data_dir, missing_data_message

DATA = data_dir()  # LOWRANK_DATA, else ../shared/data/turner2023 (README.md, Data)


def hopfield_rank_two(N=64, s=2.0):
    """J = s (xi_1 xi_1^T + xi_2 xi_2^T) / N with orthogonal +-1 patterns (Hadamard columns)."""
    xi = hadamard(N)[:, 1:3].astype(float)
    return LowRankNetwork(s * xi, xi), xi


def test_planted_rank_two_flow_has_the_analytic_fixed_points():
    """For x = b xi_r: b = s tanh(b) (stable, gain 1 - tanh^2 b); for x = b (xi_1 +- xi_2):
    b = (s / 2) tanh(2 b), a saddle with one unstable direction (eigenvalue -1 + s = +1);
    the origin has two unstable directions. With s = 2: 4 stable + 4 saddles + 1 = 9 points."""
    s = 2.0
    net, xi = hopfield_rank_two(s=s)
    fp = find_fixed_points(net, time="continuous", seed=1)
    b_pure = brentq(lambda b: b - s * np.tanh(b), 0.5, 5)
    b_mix = brentq(lambda b: b - s / 2 * np.tanh(2 * b), 0.1, 5)
    expected = [b_pure * sgn * xi[:, r] for r in range(2) for sgn in (1, -1)]
    expected += [b_mix * (sa * xi[:, 0] + sb * xi[:, 1]) for sa in (1, -1) for sb in (1, -1)]
    expected += [np.zeros(64)]
    assert len(fp) == 9
    for x_true in expected:
        assert np.min(np.linalg.norm(fp.x - x_true, axis=1)) < 1e-8
    assert fp.n_stable == 4 and fp.n_unstable == 5  # counts; per point: n_unstable_directions
    assert sorted(fp.n_unstable_directions.tolist()) == [0] * 4 + [1] * 4 + [2]
    # stable points: radial eigenvalue -1 + s (1 - tanh^2 b), twice
    gain = 1 - np.tanh(b_pure) ** 2
    np.testing.assert_allclose(fp.eigenvalues[0, :2].real, -1 + s * gain, atol=1e-8)
    # kappa = n^T tanh(x) / N = tanh(b) on the pure states
    assert np.sort(np.abs(fp.kappa[fp.stable]).max(axis=1)) == pytest.approx(
        np.tanh(b_pure), abs=1e-10
    )


def test_maps_and_flows_disagree_on_stability_where_theory_says():
    """J = -3 xi xi^T / N: for the flow the origin's eigenvalue is -1 - 3 < 0 (stable); for the map
    h' = tanh(J h) it is -3, |-3| > 1 (unstable: period doubling), and the map has no other fixed
    point (h = tanh(-3 h) has only h = 0)."""
    xi = hadamard(32)[:, 1:2].astype(float)
    net = LowRankNetwork(-3.0 * xi, xi)
    flow = find_fixed_points(net, time="continuous", seed=0)
    assert len(flow) == 1 and flow.stable[0]
    assert flow.eigenvalues[0, 0].real == pytest.approx(-1.0, abs=1e-9)  # the N - 1 bulk directions
    assert np.min(flow.eigenvalues.real) == pytest.approx(-4.0, abs=1e-9)
    mapped = find_fixed_points(net, time="discrete", seed=0)
    assert len(mapped) == 1 and not mapped.stable[0]
    assert mapped.eigenvalues[0, 0] == pytest.approx(-3.0, abs=1e-9)
    assert mapped.n_unstable_directions[0] == 1 and mapped.n_unstable == 1


def test_same_seed_same_points():
    net, _ = hopfield_rank_two()
    a = find_fixed_points(net, seed=3, n_starts=64)
    b = find_fixed_points(net, seed=3, n_starts=64)
    assert np.array_equal(a.x, b.x)


@pytest.mark.skipif(DATA is None, reason=missing_data_message())
@pytest.mark.parametrize(
    "name, bits_states",
    [
        ("flipflopparallel_3bits_200_vanilla_100", 8),  # 2^3 memories (Sussillo & Barak 2013)
        ("flipflop2bits_200_vanilla_100", 2),  # gated: the two tasks share 2 attractors
        ("flipfloporthogonal_2bits_200_vanilla_100", 4),
    ],  # orthogonal: 4 (Turner & Barak 2023)
)
def test_trained_flip_flop_networks(name, bits_states):
    W = np.load(DATA / f"{name}.npz")["final.rnn.weight_hh_l0"][0].astype(np.float64)
    fp = find_fixed_points(W, time="discrete", seed=0, n_starts=128)
    assert fp.n_stable == bits_states
    assert np.all(fp.q < 1e-20)
    assert fp.n_unstable >= 1  # saddles between the memories
    assert fp.n_unstable == np.count_nonzero(fp.n_unstable_directions >= 1)


@pytest.mark.skipif(DATA is None, reason=missing_data_message())
def test_three_bit_flip_flop_has_the_full_product_structure():
    """A 3-bit flip-flop is three independent bistable switches: each bit sits at -, + (stable) or
    at the saddle between them, so there are 3^3 = 27 fixed points with C(3, k) 2^(3-k) of them
    having k unstable directions: 8 stable, 12 index-1 saddles, 6 index-2, 1 index-3."""
    W = np.load(DATA / "flipflopparallel_3bits_200_vanilla_100.npz")["final.rnn.weight_hh_l0"][0]
    fp = find_fixed_points(W.astype(np.float64), time="discrete", seed=0, n_starts=128)
    assert np.bincount(fp.n_unstable_directions).tolist() == [8, 12, 6, 1]


def test_bad_input():
    net, _ = hopfield_rank_two(N=8)
    with pytest.raises(ValueError, match="time must be given"):
        find_fixed_points(np.eye(3))
    with pytest.raises(ValueError, match="must be square"):
        find_fixed_points(np.ones((3, 4)), time="discrete")
    with pytest.raises(TypeError, match="model_or_network must be"):
        find_fixed_points("net")
    with pytest.raises(ValueError, match="unknown time"):
        find_fixed_points(net, time="discret")
    with pytest.raises(ValueError, match="n_starts must be >= 1"):
        find_fixed_points(net, n_starts=0)
    with pytest.raises(ValueError, match="inputs must have shape"):
        find_fixed_points(net, inputs=[1.0])


def test_non_convergence_is_reported():
    # a chaotic dense network (g = 3) after one iteration: the Hopfield network with
    # tol = 1e-300 used here before is solved exactly (residual 0.0 at round-off) by the Newton
    # polish of the latent and matrix-free solvers, which meets even that tolerance
    W = 3.0 * np.random.default_rng(0).standard_normal((64, 64)) / 8.0
    with pytest.warns(RuntimeWarning, match="no start converged"):
        fp = find_fixed_points(W, time="continuous", max_iter=1, n_starts=4)
    assert len(fp) == 0 and fp.n_failed == 8 and fp.n_slow == 0  # two descents per start


def test_rnn_model_fixed_points_match_its_network():
    """A rank-R lowrank.RNN and the LowRankNetwork it maps to have the same fixed points."""
    from lowrank import RNN

    model = RNN(1, 40, 1, rank=2, time="discrete", init="gaussian", gain=2.0, seed=3)
    from_model = find_fixed_points(model, seed=0, n_starts=64)
    from_network = find_fixed_points(model.to_network(), time="discrete", seed=0, n_starts=64)
    assert len(from_model) == len(from_network) > 0
    np.testing.assert_allclose(from_model.x, from_network.x, atol=1e-8)
    np.testing.assert_allclose(from_model.kappa, from_network.kappa, atol=1e-10)
    with pytest.raises(ValueError, match="contradicts the model's own time"):
        find_fixed_points(model, time="continuous")
