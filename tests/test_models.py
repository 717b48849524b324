"""RNN: updates against torch nn.RNN and numpy references, rank, initialisations, errors."""

import numpy as np
import pytest
import torch

from lowrank import RNN, LowRankNetwork

EPS32 = np.finfo(np.float32).eps


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small products: one thread is fastest and does not stall on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def reference(model, u, h0=None):
    """float64 numpy simulation of the model's equations (module docstring of lowrank.models)."""
    w = {k: v.astype(np.float64) for k, v in model.weights().items()}
    W = model.recurrent_weights()
    b = w.get("bias", 0.0)
    x = np.zeros((u.shape[0], model.n_hidden)) if h0 is None else h0.astype(np.float64)
    states = []
    for t in range(u.shape[1]):
        drive = u[:, t] @ w["weight_in"].T + b
        if model.time == "discrete":
            x = np.tanh(x @ W.T + drive)
        else:
            x = (1 - model.alpha) * x + model.alpha * (np.tanh(x) @ W.T + drive)
        states.append(x)
    states = np.stack(states, axis=1)
    rates = states if model.time == "discrete" else np.tanh(states)
    return rates @ w["weight_out"].T + w.get("bias_out", 0.0), states


@pytest.mark.parametrize("rank", [None, 3])
@pytest.mark.parametrize("time", ["discrete", "continuous"])
def test_updates_match_a_numpy_reference(rank, time):
    model = RNN(2, 40, 3, rank=rank, time=time, bias=True, init="gaussian", gain=1.5, seed=1)
    u = np.random.default_rng(0).standard_normal((4, 30, 2))
    h0 = 0.3 * np.random.default_rng(1).standard_normal((4, 40))
    out, states = model.run(u, h0)
    ref_out, ref_states = reference(model, u, h0)
    tol = 200 * EPS32  # float32 arithmetic over 30 contracting steps
    np.testing.assert_allclose(states, ref_states, atol=tol * np.abs(ref_states).max())
    np.testing.assert_allclose(out, ref_out, atol=tol * np.abs(ref_out).max() * 10)


def test_discrete_model_is_torch_nn_rnn():
    model = RNN(3, 25, 2, bias=True, seed=4)
    w = {k: torch.from_numpy(v) for k, v in model.weights().items()}
    rnn = torch.nn.RNN(3, 25, batch_first=True)
    fc = torch.nn.Linear(25, 2)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(w["weight_in"])
        rnn.weight_hh_l0.copy_(w["weight_rec"])
        rnn.bias_ih_l0.copy_(w["bias"])
        rnn.bias_hh_l0.zero_()
        fc.weight.copy_(w["weight_out"])
        fc.bias.copy_(w["bias_out"])
    u = torch.randn(5, 17, 3, generator=torch.Generator().manual_seed(0))
    states, _ = rnn(u)
    out, ours = model(u)
    assert torch.equal(ours, states)
    torch.testing.assert_close(out, fc(states), rtol=0, atol=10 * EPS32)


def test_rank_two_recurrent_matrix_has_rank_two_and_maps_to_a_network():
    model = RNN(2, 100, 2, rank=2, bias=True, seed=0)
    W = model.recurrent_weights()
    assert np.linalg.matrix_rank(W) == 2
    w = model.weights()
    np.testing.assert_allclose(W, w["m"].astype(float) @ w["n"].T.astype(float) / 100, rtol=1e-12)
    net = model.to_network()
    assert isinstance(net, LowRankNetwork) and net.rank == 2 and net.n_inputs == 2
    np.testing.assert_allclose(net.dense(), W, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(net.bias, w["bias"].astype(float))
    with pytest.raises(ValueError, match="rank"):
        RNN(2, 10, 2).to_network()


def test_gradients_reach_the_loadings():
    model = RNN(2, 30, 1, rank=1, seed=0)
    out, _ = model(torch.ones(2, 5, 2))
    out.sum().backward()
    assert model.m.grad.abs().sum() > 0 and model.n.grad.abs().sum() > 0
    assert set(dict(model.named_parameters())) == {"weight_in", "m", "n", "weight_out", "bias_out"}


def test_initialisations():
    N = 200
    uniform = RNN(2, N, 2, init="uniform", seed=0).weights()
    for name in ("weight_in", "weight_rec", "weight_out", "bias_out"):
        assert np.abs(uniform[name]).max() <= N**-0.5  # torch nn.RNN / nn.Linear defaults
    for name in ("weight_in", "weight_rec", "weight_out"):  # U(-a, a) has variance a^2 / 3
        assert abs(uniform[name].std() * (3 * N) ** 0.5 - 1) < 0.1
    default = RNN(2, N, 2, seed=0)  # torch's default init, as Turner & Barak 2023
    assert default.config()["init"] == "uniform"
    for name, value in default.weights().items():
        np.testing.assert_array_equal(value, uniform[name])
    radius = np.abs(np.linalg.eigvals(default.recurrent_weights())).max()
    assert abs(radius - 3**-0.5) < 0.1  # circular law, entry variance 1 / (3N)
    loadings = RNN(2, N, 2, rank=2, init="uniform", seed=0).weights()
    assert np.abs(loadings["m"]).max() <= 1 and np.abs(loadings["m"]).max() > 0.9
    gaussian = RNN(2, N, 2, init="gaussian", gain=0.8, seed=0)
    radius = np.abs(np.linalg.eigvals(gaussian.recurrent_weights())).max()
    assert abs(radius - 0.8) < 0.1  # circular law
    rank = RNN(2, N, 2, rank=1, init="gaussian", gain=2.0, seed=0).weights()
    assert abs(rank["m"].std() - 2.0) < 0.2 and abs(rank["weight_in"].std() - 1.0) < 0.1


def test_same_seed_same_model():
    a, b, c = RNN(2, 20, 2, seed=7), RNN(2, 20, 2, seed=7), RNN(2, 20, 2, seed=8)
    for name, value in a.weights().items():
        np.testing.assert_array_equal(value, b.weights()[name])
    assert not np.array_equal(a.weights()["weight_rec"], c.weights()["weight_rec"])
    d = RNN(**a.config())
    np.testing.assert_array_equal(d.weights()["weight_rec"], a.weights()["weight_rec"])


def test_init_does_not_touch_the_global_torch_generator():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    RNN(2, 20, 2, seed=1)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("time", ["discrete", "continuous"])
def test_noise_only_in_training_mode_and_seeded(time):
    model = RNN(1, 50, 1, time=time, noise=0.5, seed=0)
    u = torch.zeros(200, 4, 1)
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    out1, s1 = model(u, generator=gen())
    out2, s2 = model(u, generator=gen())
    assert torch.equal(s1, s2) and s1.abs().max() > 0
    model.eval()
    assert model(u)[1].abs().max() == 0  # zero input, zero state, no noise
    if time == "discrete":
        with torch.no_grad():
            model.weight_rec.zero_()
        model.train()
        _, h = model(u, generator=gen())
        assert abs(torch.atanh(h).std().item() - 0.5) < 0.02  # h = tanh(noise xi)
    else:
        # one Euler-Maruyama step from 0 with W = 0 at t = 1: x = sqrt(alpha) noise xi
        with torch.no_grad():
            model.weight_rec.zero_()
        model.train()
        _, x = model(u, generator=gen())
        assert abs(x[:, 0].std().item() - 0.5 * 0.2**0.5) < 0.01


def test_weights_round_trip_and_run_keeps_mode():
    model = RNN(2, 10, 2, rank=2, seed=0)
    other = RNN(2, 10, 2, rank=2, seed=1).set_weights(model.weights())
    for name, value in model.weights().items():
        np.testing.assert_array_equal(value, other.weights()[name])
    model.train()
    out, states = model.run(np.zeros((1, 3, 2)))
    assert model.training and isinstance(out, np.ndarray) and states.shape == (1, 3, 10)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="rank"):
        RNN(2, 10, 2, rank=11)
    with pytest.raises(ValueError, match="time"):
        RNN(2, 10, 2, time="analog")
    with pytest.raises(ValueError, match="alpha"):
        RNN(2, 10, 2, alpha=1.5)
    with pytest.raises(ValueError, match="init"):
        RNN(2, 10, 2, init="orthogonal")
    with pytest.raises(TypeError, match="bias"):
        RNN(2, 10, 2, bias="yes")
    with pytest.raises(TypeError, match="n_hidden"):
        RNN(2, 10.0, 2)
    with pytest.raises(ValueError, match="noise"):
        RNN(2, 10, 2, noise=-1.0)
    model = RNN(2, 10, 2)
    with pytest.raises(ValueError, match="inputs"):
        model(torch.zeros(1, 5, 3))
    with pytest.raises(TypeError, match="inputs"):
        model(np.zeros((1, 5, 2)))
    with pytest.raises(ValueError, match="h0"):
        model(torch.zeros(1, 5, 2), h0=torch.zeros(2, 10))
    with pytest.raises(ValueError, match="weight_rec"):
        model.set_weights({**model.weights(), "weight_rec": np.zeros((3, 3))})
    with pytest.raises(ValueError, match="keys"):
        model.set_weights({"m": np.zeros((10, 1))})
