"""Property-based tests: the foundation's public entry points either work or raise a clear
ValueError/TypeError naming the argument - never a numba internal error, never a hang."""

import numpy as np
import pytest
from clear_errors import assert_clear
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lowrank import GaussianLoadings, LowRankNetwork, simulate

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
arrays = hnp.arrays(
    np.float64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5), elements=floats
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(mean=arrays, cov=arrays, rank=st.integers(-1, 3), n_inputs=st.integers(-1, 2))
def test_gaussian_loadings_work_or_raise_clearly(mean, cov, rank, n_inputs):
    try:
        law = GaussianLoadings(mean, cov, rank, n_inputs)
    except Exception as exc:  # noqa: BLE001 - the property is about the exception type
        assert_clear(exc, "mean", "cov", "rank", "n_inputs")
        return
    rows = law.sample(10, seed=0)
    assert rows.shape == (10, 2 * rank + n_inputs) and np.all(np.isfinite(rows))


@SETTINGS
@given(m=arrays, n=arrays, g=floats, N_chi=st.integers(0, 6))
def test_network_works_or_raises_clearly(m, n, g, N_chi):
    chi = np.ones((N_chi, N_chi)) if N_chi else None
    try:
        net = LowRankNetwork(m, n, g=g, chi=chi)
    except Exception as exc:  # noqa: BLE001
        assert_clear(exc, "m", "n", "g", "chi")
        return
    assert net.dense().shape == (net.N, net.N)
    assert net.rank <= net.N


@SETTINGS
@given(
    x0=arrays,
    t_max=st.one_of(floats, st.integers(-2, 5)),
    dt=st.one_of(floats, st.sampled_from([0.1, 0.5, 1.0, 0.0, -1.0])),
    noise=st.one_of(floats, st.just(0.1)),
    method=st.sampled_from(["euler", "exp_euler", "rk4", "map", "bogus"]),
    time=st.sampled_from(["continuous", "discrete", "other"]),
    record_every=st.integers(-1, 3),
)
def test_simulate_works_or_raises_clearly(x0, t_max, dt, noise, method, time, record_every):
    net = LowRankNetwork(np.ones((3, 1)), np.ones((3, 1)))
    if isinstance(t_max, float) and np.isfinite(t_max) and isinstance(dt, float) and dt > 0:
        t_max = min(t_max, 20 * dt)  # keep runs short, never a hang
    try:
        traj = simulate(net, x0, t_max, dt, noise=noise, method=method, time=time,
                        record_every=record_every)
    except Exception as exc:  # noqa: BLE001
        assert_clear(exc, "x0", "t_max", "dt", "noise", "method", "time", "record_every")
        return
    assert np.all(np.isfinite(traj.kappa))
    assert traj.x.shape[-1] == 3


def test_rank_larger_than_n_is_refused():
    with pytest.raises(ValueError, match="must not exceed"):
        LowRankNetwork(np.ones((2, 3)), np.ones((2, 3)))
