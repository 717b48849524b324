"""Networks trained with plain torch code (torch.nn.RNN, nn.RNNCell, a user's module, their state
dicts) analysed by lowrank: each is checked against torch's own forward pass (autograd for the
Jacobian) and against the same weights given to lowrank in its own forms."""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lowrank import RNN, emergence, find_fixed_points, lyapunov_spectrum, project  # noqa: E402
from lowrank.dynamics import as_system  # noqa: E402
from lowrank.dynamics.systems import own_time  # noqa: E402
from lowrank.metrics.attractors import probe_end_states, shared_attractors  # noqa: E402
from lowrank.metrics.simplicity import unstable_eigenvalue_count  # noqa: E402
from lowrank.tasks import flipflop  # noqa: E402

N, K = 12, 2


def weights(seed=0, gain=1.8, bias=0.05):
    """W_hh with a strong rank-one part (a pitchfork: two stable points and a saddle), W_ih,
    b_ih, b_hh (float64)."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(N)
    W = gain * np.outer(u, u) / (u @ u) + 0.2 * rng.standard_normal((N, N)) / np.sqrt(N)
    b_ih, b_hh = bias * rng.standard_normal((2, N))
    return W, rng.standard_normal((N, K)), b_ih, b_hh


def torch_rnn(W, W_in, b_ih, b_hh, batch_first=False, cls=None):
    """A float64 torch.nn.RNN (or RNNCell) holding the given weights."""
    module = (cls or torch.nn.RNN)(K, N, **({} if cls else {"batch_first": batch_first}))
    module = module.double()
    suffix = "" if cls else "_l0"
    with torch.no_grad():
        for name, value in (("weight_hh", W), ("weight_ih", W_in), ("bias_ih", b_ih),
                            ("bias_hh", b_hh)):
            getattr(module, name + suffix).copy_(torch.as_tensor(value))
    return module


class UserModel(torch.nn.Module):
    """A model as users write it: an nn.RNN and a readout."""

    def __init__(self, n_in=K):
        super().__init__()
        self.rnn = torch.nn.RNN(n_in, N, batch_first=True)
        self.readout = torch.nn.Linear(N, 1)

    def forward(self, x):
        return self.readout(self.rnn(x)[0])


def torch_step(module, h, u):
    """One step of the torch module itself: h' from h (S, N) under input u (S, K)."""
    h, u = torch.as_tensor(h), torch.as_tensor(u)
    if isinstance(module, torch.nn.RNNCell):
        return module(u, h)
    if module.batch_first:
        return module(u[:, None, :], h[None])[1][0]
    return module(u[None], h[None])[1][0]


@pytest.mark.parametrize("form", ["rnn", "rnn_batch_first", "cell"])
def test_adapter_map_is_torch_forward_step(form):
    """as_system's map equals the module's own forward step, and its Jacobian torch's autograd
    Jacobian of that step, for nn.RNN (either batch layout) and nn.RNNCell."""
    W, W_in, b_ih, b_hh = weights()
    module = torch_rnn(W, W_in, b_ih, b_hh, batch_first=form == "rnn_batch_first",
                       cls=torch.nn.RNNCell if form == "cell" else None)
    system = as_system(module)
    assert system.time == "discrete" and own_time(module) == "discrete"
    rng = np.random.default_rng(1)
    H, U = rng.uniform(-1, 1, (6, N)), rng.standard_normal((6, K))
    with torch.no_grad():
        expected = torch_step(module, H, U).numpy()
    np.testing.assert_allclose(system.field(H, system.drive(U)), expected, rtol=0, atol=1e-14)
    for h, u in zip(H[:2], U[:2], strict=True):
        J = torch.autograd.functional.jacobian(
            lambda x, u=u: torch_step(module, x[None], u[None])[0], torch.as_tensor(h)
        ).numpy()
        np.testing.assert_allclose(system.field_jacobian(h, system.drive(u)), J, atol=1e-13)


def test_every_form_of_one_network_is_one_system():
    """The module, its state dict, a user's module holding it (and its 'rnn.'-prefixed state
    dict, readout ignored), lowrank's weight dict and lowrank.RNN are one system."""
    W, W_in, b_ih, b_hh = weights()
    user = UserModel()
    with torch.no_grad():
        for name, value in (("weight_hh_l0", W), ("weight_ih_l0", W_in), ("bias_ih_l0", b_ih),
                            ("bias_hh_l0", b_hh)):
            getattr(user.rnn, name).copy_(torch.as_tensor(value))
    # the user's module is float32: compare every form with the same float32 numbers
    W32, Win32 = (user.rnn.weight_hh_l0.detach().numpy(), user.rnn.weight_ih_l0.detach().numpy())
    b32 = sum(getattr(user.rnn, f"bias_{k}_l0").detach().double().numpy() for k in ("ih", "hh"))
    model = RNN(K, N, 1, time="discrete", bias=True)
    model.set_weights({**model.weights(), "weight_rec": W32, "weight_in": Win32,
                       "bias": b32.astype(np.float32)})
    state = user.state_dict()
    assert "rnn.weight_hh_l0" in state and "readout.weight" in state
    forms = [user, user.rnn, state, {k[4:]: v for k, v in state.items() if k.startswith("rnn.")},
             {"encoder.weight_hh": state["rnn.weight_hh_l0"],
              "encoder.weight_ih": state["rnn.weight_ih_l0"],
              "encoder.bias_ih": state["rnn.bias_ih_l0"],
              "encoder.bias_hh": state["rnn.bias_hh_l0"]}]
    rng = np.random.default_rng(2)
    H, U = rng.uniform(-1, 1, (5, N)), rng.standard_normal((5, K))
    reference = as_system({"weight_rec": W32, "weight_in": Win32, "bias": b32}, "discrete")
    expected = reference.field(H, reference.drive(U))
    for form in forms:
        system = as_system(form)
        np.testing.assert_array_equal(system.W, W32.astype(np.float64))
        np.testing.assert_allclose(system.field(H, system.drive(U)), expected, rtol=0, atol=1e-15)
    # lowrank's RNN stores one float32 bias: equal to b_ih + b_hh up to float32 rounding
    np.testing.assert_allclose(as_system(model).field(H, as_system(model).drive(U)), expected,
                               rtol=0, atol=1e-6)


def test_refused_networks_name_the_argument():
    for module, match in ((torch.nn.RNN(K, N, nonlinearity="relu"), "nonlinearity"),
                          (torch.nn.RNN(K, N, num_layers=2), "num_layers"),
                          (torch.nn.RNN(K, N, bidirectional=True), "bidirectional"),
                          (torch.nn.LSTM(K, N), "LSTM")):
        with pytest.raises(ValueError, match=match):
            find_fixed_points(module)
    with pytest.raises(ValueError, match="several layers"):
        as_system(torch.nn.RNN(K, N, num_layers=2).state_dict())
    with pytest.raises(ValueError, match="bidirectional"):
        as_system(torch.nn.RNN(K, N, bidirectional=True).state_dict())
    with pytest.raises(ValueError, match="time='continuous' contradicts"):
        as_system(torch.nn.RNN(K, N), "continuous")
    with pytest.raises(ValueError, match="several prefixes"):
        as_system({"a.weight_hh_l0": np.eye(N), "b.weight_hh_l0": np.eye(N)})
    with pytest.raises(ValueError, match="time must be given"):
        as_system({"weight_rec": np.eye(N)})


def test_fixed_points_of_torch_rnn():
    """find_fixed_points on the torch module and on lowrank's weight dict agree; every point is a
    fixed point of torch's own step, and its stability is that of torch's autograd Jacobian."""
    W, W_in, b_ih, b_hh = weights()
    module = torch_rnn(W, W_in, b_ih, b_hh)
    u = np.array([0.1, -0.2])
    found = find_fixed_points(module, inputs=u, n_starts=32)
    same = find_fixed_points({"weight_rec": W, "weight_in": W_in, "bias": b_ih + b_hh},
                             inputs=u, n_starts=32, time="discrete")
    assert found.converged and len(found) == len(same) == 3 and found.n_stable == 2
    np.testing.assert_allclose(found.x, same.x, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(found.stability, same.stability)
    with torch.no_grad():
        image = torch_step(module, found.x, np.tile(u, (len(found), 1))).numpy()
    np.testing.assert_allclose(image, found.x, rtol=0, atol=1e-9)
    for x, stability in zip(found.x, found.stability, strict=True):
        J = torch.autograd.functional.jacobian(
            lambda h: torch_step(module, h[None], u[None])[0], torch.as_tensor(x)
        ).numpy()
        radius = np.max(np.abs(np.linalg.eigvals(J)))
        assert stability == ("stable" if radius < 1 - 1e-6 else "unstable")


def test_lyapunov_spectrum_of_torch_rnn():
    """A contracting map without bias settles at h = 0, where the map is h' = W h: its exponents
    are log|lambda(W)|; the module and the weight dict give the same estimate."""
    rng = np.random.default_rng(3)
    W = rng.standard_normal((N, N))
    W *= 0.8 / np.max(np.abs(np.linalg.eigvals(W)))
    zeros = np.zeros(N)
    module = torch_rnn(W, np.zeros((N, K)), zeros, zeros)
    spectrum = lyapunov_spectrum(module, 3000, 1.0, n_exponents=4)
    same = lyapunov_spectrum({"weight_rec": W, "weight_in": np.zeros((N, K))}, 3000, 1.0,
                             time="discrete", n_exponents=4)
    np.testing.assert_allclose(spectrum.exponents, same.exponents, rtol=0, atol=1e-12)
    expected = np.sort(np.log(np.abs(np.linalg.eigvals(W))))[::-1][:4]
    np.testing.assert_allclose(spectrum.exponents, expected, rtol=0, atol=0.01)


def test_project_and_metrics_of_torch_rnn():
    """project reads W, W_in and b_ih + b_hh from the module (m n^T / N is the numpy truncated
    SVD); the unstable count is numpy's; probe end states are torch's own runs."""
    W, W_in, b_ih, b_hh = weights()
    module = torch_rnn(W, W_in, b_ih, b_hh)
    got = project(module, rank=2, mixture=False)
    same = project(W, rank=2, inputs=W_in, bias=b_ih + b_hh, mixture=False)
    assert got.time == "discrete"
    for name in ("m", "n", "inputs", "bias"):
        np.testing.assert_allclose(getattr(got.network, name), getattr(same.network, name),
                                   rtol=0, atol=1e-12)
    U, s, Vt = np.linalg.svd(W)
    np.testing.assert_allclose(got.network.m @ got.network.n.T / N, (U[:, :2] * s[:2]) @ Vt[:2],
                               rtol=0, atol=1e-12)
    assert unstable_eigenvalue_count(module, "discrete").count == np.sum(
        np.abs(np.linalg.eigvals(W)) > 1
    )
    with pytest.raises(ValueError, match="contradicts"):
        unstable_eigenvalue_count(module, "continuous")
    pulses = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    end, change = probe_end_states(module, pulses, pulse_steps=5, free_steps=200)
    sequence = np.zeros((3, 205, K))
    sequence[:, :5] = pulses[:, None, :]
    with torch.no_grad():
        states = module(torch.as_tensor(sequence).transpose(0, 1))[0].transpose(0, 1).numpy()
    np.testing.assert_allclose(end, states[:, -1], rtol=0, atol=1e-12)
    assert shared_attractors(module, 2, free_steps=200).n_end_states == 2


def test_emergence_from_torch_checkpoints():
    """emergence on a list of state dicts of a plain torch model trained a few steps on the
    1-bit flip-flop: per checkpoint the observed fixed points are find_fixed_points' on that
    checkpoint, and fixed points of torch's own step; the pair form gives the same table."""
    torch.manual_seed(0)
    model = UserModel(n_in=1)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    inputs, targets, mask = flipflop(bits=1, steps=60).generate(32, seed=0)
    x, y, m = map(torch.as_tensor, (inputs, targets, mask))
    checkpoints = []
    for step in range(13):
        loss = (((model(x) - y) ** 2)[m]).mean()
        if step % 6 == 0:
            checkpoints.append({"epoch": step, "loss": loss.item(),
                                "state_dict": copy.deepcopy(model.state_dict())})
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    report = emergence(checkpoints, rank=1, populations=1, n_starts=16)
    assert report.time == "discrete" and len(report.analyses) == 3
    assert [r["epoch"] for r in report.table()] == [0, 6, 12]
    assert [r["loss"] for r in report.table()] == [c["loss"] for c in checkpoints]
    for analysis, point in zip(report.analyses, checkpoints, strict=True):
        found = find_fixed_points(point["state_dict"], n_starts=16, seed=0)
        np.testing.assert_allclose(analysis.observed_x, found.x, rtol=0, atol=1e-8)
        np.testing.assert_array_equal(analysis.observed_stable, found.stable)
        model.load_state_dict(point["state_dict"])
        with torch.no_grad():
            image = torch_step(model.rnn.double(), found.x, np.zeros((len(found), 1))).numpy()
        np.testing.assert_allclose(image, found.x, rtol=0, atol=1e-8)
        model.float()
    pairs = emergence([(c["epoch"], c["state_dict"]) for c in checkpoints], rank=1,
                      populations=1, n_starts=16, checkpoints=[-1])
    assert pairs.table()[0]["observed_points"] == report.table()[-1]["observed_points"]
    assert np.isnan(pairs.table()[0]["loss"])
    with pytest.raises(TypeError, match="run must be a TrainingRun"):
        emergence([{"state_dict": checkpoints[0]["state_dict"]}])
    with pytest.raises(ValueError, match="contradicts"):
        emergence(checkpoints, time="continuous")
