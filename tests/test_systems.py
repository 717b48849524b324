"""lowrank.dynamics.systems and .steppers against formulas written out here, finite differences,
Gaussian integrals (scipy quad) and scipy's solve_ivp."""

import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp

from lowrank import GaussianLoadings, LowRankNetwork
from lowrank.dynamics import as_system, classify, stepper
from lowrank.dynamics.systems import Dynamics, LatentDynamics


def small_network(N=7, R=2, K=2, seed=0):
    rng = np.random.default_rng(seed)
    m, n = rng.standard_normal((N, R)), 2.0 * rng.standard_normal((N, R))
    W_in, b = rng.standard_normal((N, K)), 0.3 * rng.standard_normal(N)
    return LowRankNetwork(m, n, inputs=W_in, bias=b)


def by_hand(net, time, u):
    """F (flow) or the map, written out from the definitions."""
    W, c = net.m @ net.n.T / net.N, net.inputs @ u + net.bias
    if time == "continuous":
        return lambda x: -x + W @ np.tanh(x) + c
    return lambda h: np.tanh(W @ h + c)


def finite_difference_jacobian(f, x, h=1e-6):
    return np.stack([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))], axis=1)


@pytest.mark.parametrize("time", ["continuous", "discrete"])
def test_one_network_in_every_form_gives_one_field(time):
    """LowRankNetwork, a weight dict (m, n) as in RNN.weights(), a dense weight dict and a tuple
    (W, W_in, b) are the same system: F, J and the JVP agree with each other and with the
    definitions, J with central differences, and the JVP with J @ v."""
    net = small_network()
    u = np.array([0.4, -0.7])
    W = net.m @ net.n.T / net.N
    forms = [
        net,
        {"m": net.m, "n": net.n, "weight_in": net.inputs, "bias": net.bias},
        {"weight_rec": W, "weight_in": net.inputs, "bias": net.bias},
        (W, net.inputs, net.bias),
    ]
    systems = [as_system(form, time, inputs=u) for form in forms]
    assert systems[0].factors is not None and systems[2].factors is None
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5, net.N))
    V = rng.standard_normal((5, net.N, 3))
    field = by_hand(net, time, u)
    expected = np.array([field(x) for x in X])
    fd = np.array([finite_difference_jacobian(field, x) for x in X])
    for system in systems:
        np.testing.assert_allclose(system.field(X), expected, rtol=0, atol=1e-12)
        residual = expected - X if time == "discrete" else expected
        np.testing.assert_allclose(system.residual(X), residual, rtol=0, atol=1e-12)
        J = system.field_jacobian(X)
        np.testing.assert_allclose(J, fd, rtol=0, atol=1e-8)
        np.testing.assert_allclose(system.jacobian(X), J - (time == "discrete") * np.eye(net.N),
                                   rtol=0, atol=1e-14)
        np.testing.assert_allclose(system.jvp(X, V), J @ V, rtol=0, atol=1e-12)
        np.testing.assert_allclose(system.jvp(X, V[..., 0]), (J @ V)[..., 0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(system.jvp(X[0], V[0]), J[0] @ V[0], rtol=0, atol=1e-12)
    activity = np.tanh(X) if time == "continuous" else X
    for system in systems[:2]:  # the forms that know n
        np.testing.assert_allclose(system.project(X), activity @ net.n / net.N, atol=1e-12)


def test_rnn_model_is_read_through_its_weights():
    from lowrank import RNN

    model = RNN(2, 12, 1, rank=2, time="continuous", bias=True, seed=0)
    system = as_system(model)
    W = model.recurrent_weights()
    w = model.weights()
    x = np.random.default_rng(0).standard_normal(12)
    expected = -x + W @ np.tanh(x) + w["bias"].astype(float)
    np.testing.assert_allclose(system.field(x), expected, atol=1e-12)
    assert system.time == "continuous"
    with pytest.raises(ValueError, match="contradicts the model's own time"):
        as_system(model, "discrete")


def test_mean_field_latent_dynamics_against_a_gaussian_integral():
    """Rank one, m ~ N(0, 1), cov(m, n) = 1.6: G(k) = E[n tanh(m k)] = 1.6 k E[1 - tanh(m k)^2]
    (Stein's lemma), computed with scipy quad; dF/dk against central differences."""
    from lowrank import MeanField

    mf = MeanField(GaussianLoadings([0, 0], [[1, 1.6], [1.6, 3.0]], rank=1))
    system = as_system(mf)
    assert isinstance(system, LatentDynamics) and system.dim == 1

    def G(k):
        density = lambda z: np.exp(-z * z / 2) / np.sqrt(2 * np.pi)  # noqa: E731
        return 1.6 * k * quad(lambda z: density(z) * (1 - np.tanh(z * k) ** 2), -12, 12)[0]

    K = np.array([[0.3], [0.9], [-1.4]])
    np.testing.assert_allclose(system.target(K)[:, 0], [G(k) for k in K[:, 0]], atol=1e-9)
    np.testing.assert_allclose(system.field(K)[:, 0], [G(k) - k for k in K[:, 0]], atol=1e-9)
    fd = (G(0.9 + 1e-6) - G(0.9 - 1e-6)) / 2e-6 - 1.0
    assert system.field_jacobian(K[1])[0, 0] == pytest.approx(fd, abs=1e-7)
    with pytest.raises(ValueError, match="contradicts the MeanField"):
        as_system(mf, "discrete")
    with pytest.raises(ValueError, match="g = 0"):
        as_system(MeanField(GaussianLoadings([0, 0], [[1, 1.6], [1.6, 3.0]], rank=1), g=0.5))


def test_stability_of_planted_linearisations():
    """A bare W: the origin's flow Jacobian is -I + W, the map's is W (tanh'(0) = 1).
    W = 0: -I, stable (flow and map). W = I: flow Jacobian 0 (marginal), map Jacobian I (|1| = 1,
    marginal). W = 2 I: unstable. W with eigenvalues 0.5 +- 2i: flow -0.5 +- 2i (stable), map
    |lambda| = 2.06 (unstable)."""
    zero = np.zeros(3)
    for W, flow, mapped in [
        (np.zeros((3, 3)), "stable", "stable"),
        (np.eye(3), "marginal", "marginal"),
        (2 * np.eye(3), "unstable", "unstable"),
        (np.array([[0.5, -2.0, 0], [2.0, 0.5, 0], [0, 0, 0.1]]), "stable", "unstable"),
    ]:
        assert as_system(W, "continuous").classify(zero) == flow
        assert as_system(W, "discrete").classify(zero) == mapped
    values = as_system(np.array([[0.5, -2.0], [2.0, 0.5]]), "continuous").stability_eigenvalues(
        np.zeros(2)
    )
    np.testing.assert_allclose(np.sort_complex(values), [-0.5 - 2j, -0.5 + 2j], atol=1e-14)
    assert classify(values, "continuous") == "stable"


def test_bad_systems_are_named():
    with pytest.raises(ValueError, match="time must be given"):
        as_system(np.eye(3))
    with pytest.raises(ValueError, match="time must be given"):
        as_system(small_network(), default_time=None)
    with pytest.raises(ValueError, match="square"):
        as_system(np.ones((2, 3)), "continuous", name="W")
    with pytest.raises(TypeError, match="net must be"):
        as_system("W", "continuous", name="net")
    with pytest.raises(ValueError, match="tuple must be"):
        as_system((np.eye(2),), "continuous")
    with pytest.raises(ValueError, match="inputs must have shape"):
        as_system(small_network(), inputs=[1.0])
    with pytest.raises(ValueError, match="V must have"):
        as_system(np.eye(2), "continuous").jvp(np.zeros(2), np.zeros(3))
    with pytest.raises(TypeError, match="must be a network"):
        from lowrank import MeanField

        Dynamics.from_object(MeanField(GaussianLoadings([0, 0], np.eye(2), rank=1)))


# --- steppers -------------------------------------------------------------------------------------


def test_flow_steppers_converge_to_solve_ivp_at_their_order():
    """Against solve_ivp (DOP853, rtol 1e-12): halving dt divides the error at t = 2 by 2^p, with
    p = 4 for RK4 and 1 for Euler and exponential Euler."""
    net = small_network(N=5, seed=3)
    system = as_system(net, "continuous", inputs=[0.2, -0.1])
    x0 = np.random.default_rng(4).standard_normal((2, 5))  # a batch of two trajectories
    exact = np.stack([
        solve_ivp(lambda t, x: system.field(x), (0, 2), x, method="DOP853", rtol=1e-12,
                  atol=1e-12).y[:, -1]
        for x in x0
    ])

    def error(method, dt):
        step = stepper(system.target, "continuous", method, dt)
        x = x0.copy()
        for _ in range(round(2 / dt)):
            x = step(x)
        return np.max(np.abs(x - exact))

    for method, order in [("rk4", 4), ("euler", 1), ("exp_euler", 1)]:
        ratio = error(method, 0.02) / error(method, 0.01)
        assert ratio == pytest.approx(2.0**order, rel=0.1), method
    assert error("rk4", 0.01) < 1e-8


def test_map_stepper_iterates_the_map_and_tangents_are_the_step_derivative():
    """For maps one step is h' = tanh(W h + c). For a flow, the tangent V carried with the state as
    (x, V) -> (G(x), DG(x) V) is the derivative of the numerical step map (central differences)."""
    net = small_network(N=6, seed=5)
    mapped = as_system(net, "discrete")
    h = np.random.default_rng(6).standard_normal(6)
    np.testing.assert_allclose(stepper(mapped.target, "discrete")(h),
                               np.tanh(net.dense() @ h + net.bias), atol=1e-14)
    flow = as_system(net, "continuous")
    x = np.random.default_rng(7).standard_normal(6)
    V = np.random.default_rng(8).standard_normal((6, 2))
    for method in ("euler", "exp_euler", "rk4"):
        step = stepper(lambda s: (flow.target(s[0]), flow.target_jvp(s[0], s[1])),
                       "continuous", method, 0.1)
        plain = stepper(flow.target, "continuous", method, 0.1)
        x1, V1 = step((x, V))
        np.testing.assert_allclose(x1, plain(x), atol=1e-15)
        fd = finite_difference_jacobian(plain, x) @ V
        np.testing.assert_allclose(V1, fd, atol=1e-8)
    with pytest.raises(ValueError, match="method"):
        stepper(flow.target, "continuous", "heun", 0.1)


def test_rms_deduplication_is_single_linkage_on_the_rms_distance():
    """unique_points(norm="rms") against scipy's single-linkage clustering cut at the same RMS
    distance (shared_attractors groups end states this way)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    from lowrank.dynamics import unique_points

    rng = np.random.default_rng(9)
    centres = rng.standard_normal((5, 10))
    points = np.repeat(centres, 8, axis=0) + 0.02 * rng.standard_normal((40, 10))
    points = points[rng.permutation(40)]
    _, labels, counts = unique_points(points, atol=0.05, rtol=0.0, norm="rms")
    rms = lambda a, b: np.sqrt(np.mean((a - b) ** 2))  # noqa: E731
    reference = fcluster(linkage(points, "single", metric=rms), 0.05, criterion="distance")
    assert len(counts) == len(np.unique(reference)) == 5
    for k in range(len(counts)):  # the same partition
        assert len(np.unique(reference[labels == k])) == 1
    with pytest.raises(ValueError, match="norm"):
        unique_points(points, norm="l1")
