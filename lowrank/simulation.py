"""Simulation of the full N-neuron network: ``simulate`` and its result ``Trajectory``.

Continuous time (tau = 1; THEORY.md section 1):

    dx_i/dt = -x_i + sum_j J_ij tanh(x_j) + sum_k I_ik u_k(t) + b_i  (+ sigma dW_i/dt),

with latent variables kappa_r = n_r . tanh(x) / N. Discrete time (torch ``nn.RNN``, as trained by
Turner & Barak 2023):

    h_{t+1} = tanh(J h_t + I u_t + b  (+ sigma xi_t)),    kappa_r = n_r . h / N.

J = m n^T / N + g chi. Without a bulk the kernel never forms J: each step costs O(N R) per trial.
The module is named ``simulation`` (not ``simulate``) so that ``lowrank.simulate`` is always the
function, never the submodule.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ._checks import as_array, as_bool, as_float, as_int, choose, seed_sequence, step_count
from .network import LowRankNetwork

__all__ = ["Trajectory", "simulate"]

_METHODS = {"euler": 0, "exp_euler": 1, "rk4": 2, "map": 3}
_MAX_RECORD_BYTES = 8 * 2**30


@dataclass
class Trajectory:
    """A simulated batch of trials.

    Attributes
    ----------
    t : ndarray (T,)
        Recorded times (steps for discrete time).
    x : ndarray (batch, T, N) or None
        Recorded states (None when only kappa was recorded).
    kappa : ndarray (batch, T, R)
        Latent variables n^T phi(x) / N (continuous) or n^T h / N (discrete).
    x_final : ndarray (batch, N)
        State after the last step (always kept, to continue a run).
    time : str
        "continuous" or "discrete".
    """

    t: np.ndarray
    x: np.ndarray | None
    kappa: np.ndarray
    x_final: np.ndarray
    time: str


def _input_array(inputs, network: LowRankNetwork, batch: int, n_steps: int) -> np.ndarray:
    """Return u as (1 | batch, 1 | n_steps, K)."""
    K = network.n_inputs
    if inputs is None:
        return np.zeros((1, 1, K))
    if K == 0:
        raise ValueError(
            "inputs were given but the network has no input weights (network.inputs is (N, 0))"
        )
    u = as_array(inputs, "inputs", ndim=(1, 2, 3))
    if u.shape[-1] != K:
        raise ValueError(f"inputs must have {K} channels in its last axis, got shape {u.shape}")
    if u.ndim == 1:
        return u.reshape(1, 1, K)
    if u.shape[-2] != n_steps:
        raise ValueError(
            f"inputs must hold one row per step ({n_steps} steps) along axis -2, "
            f"got shape {u.shape}"
        )
    if u.ndim == 2:
        return u.reshape(1, n_steps, K)
    if u.shape[0] != batch:
        raise ValueError(f"inputs batch size {u.shape[0]} does not match x0 batch size {batch}")
    return np.ascontiguousarray(u)


def simulate(
    network: LowRankNetwork,
    x0,
    t_max: float,
    dt: float,
    inputs=None,
    noise: float = 0.0,
    seed=0,
    method: str = "euler",
    time: str = "continuous",
    record_every: int = 1,
    record_x: bool = True,
    phi: str = "tanh",
) -> Trajectory:
    """Simulate a batch of trials of a low-rank (plus bulk) rate network.

    Parameters
    ----------
    network : LowRankNetwork
        Connectivity m n^T / N (+ g chi), input weights and bias.
    x0 : array_like, shape (N,) or (batch, N)
        Initial state(s); a single state is repeated over the batch of ``inputs``.
    t_max : float
        Duration (continuous) or number of steps (discrete); a whole multiple of dt.
    dt : float
        Time step (continuous); must be 1 for discrete time.
    inputs : array_like, optional
        u(t): shape (K,) constant, (n_steps, K) the same for every trial, or (batch, n_steps, K).
        Held constant within a step.
    noise : float
        sigma >= 0: white noise sigma dW on x (continuous) or sigma xi added to the
        pre-activation (discrete).
    seed : int or numpy.random.Generator
        Seeds the noise; each trial gets its own stream from ``numpy.random.SeedSequence``, so
        the result does not depend on the number of threads.
    method : {"euler", "exp_euler", "rk4", "map"}
        Euler(-Maruyama), exponential Euler (leak integrated exactly, noise with the exact
        Ornstein-Uhlenbeck variance), classical RK4 (noise added after each step) for flows;
        for ``time="discrete"`` the map itself ("map"; "euler" is accepted as its alias).
    time : {"continuous", "discrete"}
        The time convention.
    record_every : int
        Record every this many steps (the initial state is always recorded).
    record_x : bool
        Record the full state; False records only kappa (and the final state).
    phi : {"tanh", "linear"}
        The activation; "linear" (phi(x) = x) gives linear networks with closed-form solutions.

    Returns
    -------
    Trajectory
        ``t`` (T,), ``x`` (batch, T, N) or None, ``kappa`` (batch, T, R), ``x_final`` (batch, N).

    Raises
    ------
    TypeError, ValueError
        On bad arguments, naming the argument (before any numba code runs).

    Warns
    -----
    RuntimeWarning
        If the state became non-finite (a diverging integration).
    """
    from ._kernels import integrate

    if not isinstance(network, LowRankNetwork):
        raise TypeError(f"network must be a LowRankNetwork, got {type(network).__name__}")
    time = choose(time, "time", ("continuous", "discrete"))
    method = choose(method, "method", tuple(_METHODS))
    linear = choose(phi, "phi", ("tanh", "linear")) == "linear"
    if time == "discrete":
        if method not in ("map", "euler"):
            raise ValueError(
                f"method {method!r} is for flows; time='discrete' iterates the map (method='map')"
            )
        method = "map"
    elif method == "map":
        raise ValueError("method 'map' needs time='discrete'")
    dt = as_float(dt, "dt", positive=True)
    n_steps = step_count(t_max, dt, time)
    noise = as_float(noise, "noise", minimum=0.0)
    record_every = as_int(record_every, "record_every", minimum=1)
    record_x = as_bool(record_x, "record_x")

    N, R = network.N, network.rank
    x0 = as_array(x0, "x0", ndim=(1, 2))
    if x0.shape[-1] != N:
        raise ValueError(f"x0 must have N = {N} entries in its last axis, got shape {x0.shape}")
    u_batch = np.shape(inputs)[0] if inputs is not None and np.ndim(inputs) == 3 else 1
    if x0.ndim == 1:
        x0 = np.repeat(x0[None, :], u_batch, axis=0)
    batch = x0.shape[0]
    u = _input_array(inputs, network, batch, n_steps)

    n_records = n_steps // record_every + 1
    record_bytes = 8 * batch * n_records * (R + (N if record_x else 0))
    if record_bytes > _MAX_RECORD_BYTES:
        raise ValueError(
            f"recording would take {record_bytes / 2**30:.1f} GiB; "
            "raise record_every or set record_x=False"
        )
    x_out = np.empty((batch, n_records if record_x else 0, N))
    kappa_out = np.empty((batch, n_records, R))
    x_final = np.empty((batch, N))
    keys = np.array(
        [c.generate_state(1, np.uint64)[0] for c in seed_sequence(seed).spawn(batch)],
        dtype=np.uint64,
    )
    nT_scaled = np.ascontiguousarray(network.n.T / N)
    args = (
        np.ascontiguousarray(x0),
        dt,
        n_steps,
        _METHODS[method],
        noise,
        keys,
        record_every,
        x_out,
        kappa_out,
        x_final,
    )
    common = (nT_scaled, np.ascontiguousarray(network.inputs), network.bias, u, linear)
    if network.has_bulk:
        JT = np.ascontiguousarray(network.dense().T)
        integrate.run_dense(args[0], JT, *common, *args[1:])
    else:
        mT = np.ascontiguousarray(network.m.T)
        integrate.run_lowrank(args[0], mT, *common, *args[1:])
    if not np.all(np.isfinite(x_final)):
        warnings.warn(
            "simulate: the state became non-finite (the dynamics diverged); lower dt or noise",
            RuntimeWarning,
            stacklevel=2,
        )
    t = np.arange(n_records) * (dt * record_every)
    return Trajectory(
        t=t, x=x_out if record_x else None, kappa=kappa_out, x_final=x_final, time=time
    )
