"""Simulation of the full N-neuron network: ``simulate`` and its result ``Trajectory``.

Continuous time (tau = 1; docs/theory, section theory-network):

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
from threadpoolctl import threadpool_limits

from ._checks import (
    DivergenceWarning,
    as_array,
    as_bool,
    as_float,
    as_int,
    choose,
    seed_sequence,
    step_count,
)
from .network import LowRankNetwork

__all__ = ["Trajectory", "divergence_bound", "simulate"]

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
    diverged : ndarray (batch,) of bool, optional
        True for the trials whose integration diverged (see ``simulate``, Warns).
    """

    t: np.ndarray
    x: np.ndarray | None
    kappa: np.ndarray
    x_final: np.ndarray
    time: str
    diverged: np.ndarray | None = None

    def __repr__(self) -> str:
        """A summary (batch, steps, sizes, divergences), not the arrays."""
        batch, neurons = np.shape(self.x_final)
        span = f"{self.t[0]:.4g}..{self.t[-1]:.4g}" if len(self.t) else "empty"
        n_diverged = 0 if self.diverged is None else int(np.count_nonzero(self.diverged))
        states = "x recorded" if self.x is not None else "x not recorded"
        return (
            f"Trajectory({self.time}, batch={batch}, N={neurons}, R={np.shape(self.kappa)[-1]}, "
            f"T={len(self.t)} recorded (t={span}), {states}, diverged={n_diverged}/{batch})"
        )


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


def divergence_bound(network: LowRankNetwork, x0: np.ndarray, u: np.ndarray, noise: float) -> float:
    """A bound on |x_i(t)| that the tanh flow never leaves, times ten (``simulate``, Notes).

    For dx_i/dt = -x_i + sum_j J_ij tanh(x_j) + (I u + b)_i, d|x_i|/dt <= -|x_i| + c_i with
    c_i = sum_j |J_ij| + sum_k |I_ik| max|u_k| + |b_i|, so |x_i(t)| <= max(|x_i(0)|, c_i) for all t
    (|tanh| <= 1). For J = m n^T / N + g chi, sum_j |J_ij| <= sum_r |m_ir| sum_j |n_jr| / N
    + g sum_j |chi_ij|. White noise sigma adds an Ornstein-Uhlenbeck excursion of standard
    deviation sigma / sqrt(2), below 10 sigma in any run of fewer than 1e20 samples. The bound
    returned is 10 (1 + max_i |x_i(0)| + max_i c_i + 10 sigma).
    """
    from ._kernels.integrate import abs_max, row_reach  # compiled: one pass, no temporaries

    u_max = np.abs(u).max(axis=(0, 1)) if u.size else np.zeros(network.n_inputs)
    rows = row_reach(network.m, network.n, network.inputs, u_max, network.bias)
    if network.has_bulk:  # by blocks of rows: no temporary the size of chi
        chi = network.chi
        rows = rows + network.g * np.concatenate(
            [np.abs(chi[i:i + 256]).sum(axis=1) for i in range(0, network.N, 256)])
    reach = float(np.max(rows)) if network.N else 0.0
    x_max = abs_max(np.atleast_2d(x0)) if np.size(x0) else 0.0
    return 10.0 * (1.0 + x_max + reach + 10.0 * noise)


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
    DivergenceWarning
        (a ``RuntimeWarning``) when a trial diverged: its state became non-finite, or (tanh,
        continuous time) some |x_i| at a recorded step or at the end exceeded ``divergence_bound``,
        10 (1 + max|x0| + max_i c_i + 10 sigma) with c_i = sum_j |J_ij| + sum_k |I_ik| max|u_k|
        + |b_i|. The exact flow never leaves max(|x_i(0)|, c_i) (|tanh| <= 1), so crossing ten
        times that bound is an artefact of the time step: Euler is unstable for dt > 2 and RK4 for
        dt > 2.78 on the leak alone; exponential Euler never is. ``Trajectory.diverged`` marks the
        trials. Linear networks (``phi="linear"``) can grow without bound: for them only a
        non-finite state is reported.

    Notes
    -----
    Cost: one sweep over the neurons per step (per stage for RK4) evaluates m kappa + I u + b,
    takes the step, applies tanh and accumulates the next kappa, in tiles of neurons shared by
    the trials of a thread: about the cost of the tanh plus 2 R multiply-adds per neuron-step.
    Euler and exponential Euler without a bulk or noise (tanh) run in closed form:
    x_s = c^s x_0 + [m, I, b] a_s with c = 1 - dt (exponential Euler: e^{-dt}) and
    a_{s+1} = c a_s + (1 - c) [kappa_s, u_s, 1], so a step reads x_0 and writes no state but the
    recorded one (the same steps, to round-off). With a bulk, each stage adds one product
    g chi phi(X)^T for the whole batch (BLAS), which dominates (2 N^2 flops per trial-step).

    Reproducibility: each trial's noise depends only on (seed, trial index). The low-rank kernel
    splits the trials into groups run in parallel numba threads, and sums each trial's kappa
    tile by tile in a fixed order, so a trial's result does not depend on the threads nor on
    the other trials of the batch; with a bulk, the product of each stage is split into fixed
    blocks of rows of chi, each a one-thread BLAS product, run in parallel numba threads. The
    result is therefore the same bit for bit for any number of numba or BLAS threads (on the
    same machine and libraries).
    """
    import numba

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
    latent = not network.has_bulk and integrate.closed_form(_METHODS[method], noise, linear)
    if latent:  # the closed form reads x0 and writes x_final (no copy)
        x0 = np.ascontiguousarray(x0, dtype=np.float64)
        x_final = np.empty((batch, N))
    else:  # the kernels step it in place
        x_final = np.array(x0, dtype=np.float64, order="C")
    peak = np.zeros(batch)
    keys = np.array(
        [c.generate_state(1, np.uint64)[0] for c in seed_sequence(seed).spawn(batch)],
        dtype=np.uint64,
    )
    MT, nT, n_u, has_bias = _kernel_loadings(network, u if inputs is not None else None,
                                             tiled=latent)
    args = (MT, nT, u, n_u, has_bias, linear, dt, n_steps, _METHODS[method], noise, keys,
            record_every, x_out, kappa_out, peak)
    if network.has_bulk:
        # numba's np.dot calls scipy's BLAS, loaded on first use: load it before limiting its
        # threads, or the first call of a process runs it multi-threaded (other last bits)
        import scipy.linalg.cython_blas  # noqa: F401

        chi = np.ascontiguousarray(network.chi, dtype=np.float64)
        with threadpool_limits(1, user_api="blas"):  # bit for bit whatever the BLAS threads
            integrate.run_dense(x_final, chi, network.g, *args)
    else:
        integrate.run_lowrank(x_final, *args, min(batch, numba.get_num_threads()),
                              X0=x0 if latent else None)
    diverged = _diverged(network, x0, u, noise, linear or time == "discrete", x_final, peak)
    t = np.arange(n_records) * (dt * record_every)
    return Trajectory(
        t=t,
        x=x_out if record_x else None,
        kappa=kappa_out,
        x_final=x_final,
        time=time,
        diverged=diverged,
    )


def _kernel_loadings(network: LowRankNetwork, u: np.ndarray | None, tiled: bool = False):
    """The kernels' loadings: MT (A, N) = [m, 0, I, b, 0]^T and nT (R', N) = [n, 0]^T / N.

    The field is MT^T [kappa, u, 1] - x (+ g chi phi(x)) with kappa = nT phi(x); the inputs
    (when u is given and not all zero) and the bias (when not zero) are extra columns. Zero rows
    pad the rank R to R' (R itself for R <= 2, else a multiple of four) and A so that A - q is a
    multiple of four, q = min(R', 4) (the columns of the kernels' fused loop); the padded kappa
    entries are exactly zero. With ``tiled``, both are laid out tile by tile for the closed form
    (``integrate.tiled_zeros``). Returns (MT, nT, n_u, has_bias).
    """
    from ._kernels.integrate import tiled_zeros, transpose_into  # compiled: one pass each

    N, R = network.N, network.rank
    R_pad = R if R <= 2 else -(-R // 4) * 4
    q = min(R_pad, 4)
    n_u = network.n_inputs if u is not None and np.any(u) else 0
    has_bias = bool(np.any(network.bias))
    A = R_pad + n_u + has_bias
    A_pad = q + -(-(A - q) // 4) * 4
    MT = tiled_zeros(A_pad, N) if tiled else np.zeros((A_pad, N))
    nT = tiled_zeros(R_pad, N) if tiled else np.zeros((R_pad, N))
    transpose_into(network.m, 1.0, MT)
    if n_u:
        transpose_into(network.inputs[:, :n_u], 1.0, MT, R_pad)
    if has_bias:
        transpose_into(network.bias[:, None], 1.0, MT, R_pad + n_u)
    transpose_into(network.n, 1.0 / N, nT)
    return MT, nT, n_u, has_bias


def _diverged(network, x0, u, noise, unbounded, x_final, peak) -> np.ndarray:
    """Trials that diverged (``simulate``, Warns); warns DivergenceWarning if there are any."""
    finite = np.all(np.isfinite(x_final), axis=1)
    diverged = ~finite
    reasons = ["the state became non-finite"] if np.any(diverged) else []
    if not unbounded:
        bound = divergence_bound(network, x0, u, noise)
        beyond = finite & (peak > bound)
        if np.any(beyond):
            reasons.append(
                f"|x| reached {peak[beyond].max():.3g}, beyond {bound:.3g} (ten times the bound "
                "the exact dynamics never leave)"
            )
        diverged |= beyond
    if reasons:
        trials = np.flatnonzero(diverged)
        shown = ", ".join(map(str, trials[:10])) + (", ..." if trials.size > 10 else "")
        warnings.warn(
            f"simulate: the integration diverged in {trials.size} of {diverged.size} trial(s) "
            f"({shown}): {'; '.join(reasons)}; lower dt (Euler is unstable for dt > 2) or the "
            "noise, or use method='exp_euler'",
            DivergenceWarning,
            stacklevel=3,
        )
    return diverged
