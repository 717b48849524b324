"""Time-stepping kernels for the full network (the time loop runs inside compiled code).

Continuous time (tau = 1):  dx = (-x + J phi(x) + I u + b) dt + sigma dW
Discrete time:              h' = phi(J h + I u + b + sigma xi)
with phi = tanh, or the identity (``linear``: linear networks have closed-form solutions, used to
test the integrators' orders).

Two kernels share the stepping rules (``_record``, ``_rk4_stage``, ``_advance``, written once
for one trial) and differ only in how they evaluate the field:
- ``run_lowrank``: J = m n^T / N, applied as m (n^T phi / N) in O(N R) per step; parallel over
  trials.
- ``run_dense``: any J (a random bulk g chi plus structure), applied to the whole batch at once
  (O(N^2) per trial-step) as one BLAS product per fixed block of 128 rows of J, the blocks split
  over numba threads. The caller runs it with one BLAS thread: a multi-threaded BLAS splits its
  sums by the thread count (results differ in the last bits between 1 and 2 threads); fixed
  blocks keep the parallelism without that (at N = 2000 on 2 idle cores, from 14% slower (8
  trials) to 13% faster (1 trial) than 2-thread BLAS).

Both kernels also return, per trial, the largest |x_i| seen at the recorded steps and at the end
(``peak``), from which ``simulate`` detects a diverging integration.

Methods (integer codes): 0 Euler(-Maruyama), 1 exponential Euler (the linear leak integrated
exactly, including the Ornstein-Uhlenbeck variance of the noise), 2 classical RK4 (noise added
after each deterministic step), 3 the discrete-time map. Inputs are held constant within a step.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .mathfn import normal, tanh

EULER, EXP_EULER, RK4, MAP = 0, 1, 2, 3

_JIT = {"cache": True, "error_model": "numpy", "fastmath": {"contract", "reassoc"}}


@njit(**_JIT)
def _drive(inputs, bias, u, b, step, out):
    """out = I u(b, step) + bias; u is (1 or B, 1 or S, K), broadcast over trials and steps."""
    ub = min(np.int64(b), np.int64(u.shape[0] - 1))
    us = min(np.int64(step), np.int64(u.shape[1] - 1))
    N, K = inputs.shape
    for i in range(N):
        out[i] = bias[i]
    for k in range(K):
        uk = u[ub, us, k]
        if uk != 0.0:
            for i in range(N):
                out[i] += inputs[i, k] * uk


@njit(**_JIT)
def _project(nT_scaled, p, kappa):
    """kappa_r = sum_i n_ri p_i / N (nT_scaled holds n^T / N)."""
    R, N = nT_scaled.shape
    for r in range(R):
        acc = 0.0
        for i in range(N):
            acc += nT_scaled[r, i] * p[i]
        kappa[r] = acc


@njit(**_JIT)
def _activate(x, linear, out):
    """out = phi(x) with phi = tanh, or the identity when ``linear``."""
    if linear:
        for i in range(x.shape[0]):
            out[i] = x[i]
    else:
        for i in range(x.shape[0]):
            out[i] = tanh(x[i])


@njit(**_JIT)
def _add_latent(mT, kappa, out):
    """out += m kappa (the low-rank part of J phi, or of J h for the map)."""
    N = out.shape[0]
    for r in range(mT.shape[0]):
        kr = kappa[r]
        for i in range(N):
            out[i] += mT[r, i] * kr


@njit(**_JIT)
def _lowrank_field(mT, nT_scaled, x, drive, linear, p, kappa, out):
    """out = -x + m kappa(x) + drive, with kappa(x) = n^T phi(x) / N stored in ``kappa``."""
    _activate(x, linear, p)
    _project(nT_scaled, p, kappa)
    for i in range(x.shape[0]):
        out[i] = drive[i] - x[i]
    _add_latent(mT, kappa, out)


@njit(**_JIT)
def _noise_scale(method, noise, dt):
    """Standard deviation of the noise increment of one step.

    Euler-Maruyama and RK4: sigma sqrt(dt); exponential Euler: the exact Ornstein-Uhlenbeck
    increment sigma sqrt((1 - e^{-2 dt}) / 2); the map: sigma.
    """
    if method == EXP_EULER:
        return noise * math.sqrt(0.5 * (1.0 - math.exp(-2.0 * dt)))
    if method == MAP:
        return noise
    return noise * math.sqrt(dt)


@njit(**_JIT)
def _peak(x, peak):
    """max(peak, max_i |x_i|), NaN entries ignored (non-finite states are caught on x_final)."""
    for i in range(x.shape[0]):
        v = abs(x[i])
        if v > peak:
            peak = v
    return peak


@njit(**_JIT)
def _add_noise(x, scale, key, counter0):
    for i in range(x.shape[0]):
        x[i] += scale * normal(key, counter0 + np.uint64(i))


# The stepping rules, written once for one trial and shared by both kernels. A kernel evaluates
# the field (flows) or the latent readout (map) at the current state, calls ``_record``, then for
# RK4 evaluates the field at each ``_rk4_stage`` point, and finally calls ``_advance``.


@njit(**_JIT)
def _record(step, record_every, x, kappa, x_out, kappa_out, top):
    """Store kappa (and x, unless x_out is (0, N)) at the recorded steps; return the new peak."""
    if step % record_every != 0:
        return top
    row = step // record_every
    for r in range(kappa.shape[0]):
        kappa_out[row, r] = kappa[r]
    if x_out.shape[0] > 0:
        for i in range(x.shape[0]):
            x_out[row, i] = x[i]
    return _peak(x, top)


@njit(**_JIT)
def _rk4_stage(stage, x, f, dt, acc, xs):
    """RK4 stage ``stage`` (0, 1, 2) with f = k_{stage+1}: acc gathers k1 + 2 k2 + 2 k3.

    xs becomes the point of the next field evaluation, x + dt/2 k1, x + dt/2 k2, x + dt k3.
    """
    h = dt if stage == 2 else 0.5 * dt
    for i in range(x.shape[0]):
        if stage == 0:
            acc[i] = f[i]
        else:
            acc[i] += 2.0 * f[i]
        xs[i] = x[i] + h * f[i]


@njit(**_JIT)
def _advance(method, x, f, acc, dt, decay, noise_scale, key, step, linear):
    """One step of ``method`` from x, in place, with its noise (stream ``key``, draws step N..).

    Flows: f is the field at x (Euler, exponential Euler) or k4 (RK4, with acc = k1 + 2 k2 + 2 k3).
    Map: f is the pre-activation J h + I u + b; x becomes phi(f + noise) (f is overwritten).
    """
    N = x.shape[0]
    counter0 = np.uint64(step) * np.uint64(N)
    if method == MAP:
        if noise_scale > 0.0:
            _add_noise(f, noise_scale, key, counter0)
        _activate(f, linear, x)
        return
    if method == EULER:
        for i in range(N):
            x[i] += dt * f[i]
    elif method == EXP_EULER:
        for i in range(N):
            # x' = e^{-dt} x + (1 - e^{-dt}) (J phi(x) + drive), with f = J phi + drive - x
            x[i] += (1.0 - decay) * f[i]
    else:  # RK4
        for i in range(N):
            x[i] += dt / 6.0 * (acc[i] + f[i])
    if noise_scale > 0.0:
        _add_noise(x, noise_scale, key, counter0)


@njit(parallel=True, **_JIT)
def run_lowrank(
    x0,
    mT,
    nT_scaled,
    inputs,
    bias,
    u,
    linear,
    dt,
    n_steps,
    method,
    noise,
    keys,
    record_every,
    x_out,
    kappa_out,
    x_final,
    peak,
):
    """Integrate a batch of trials of the rank-R network; see the module docstring.

    x0 (B, N); mT, nT_scaled (R, N); inputs (N, K); bias (N,); u (1|B, 1|S, K); keys (B,) uint64.
    x_out (B, T, N) or (B, 0, N) when x is not recorded; kappa_out (B, T, R); x_final (B, N);
    peak (B,) receives max |x| over the recorded steps and the final state of each trial.
    """
    B, N = x0.shape
    R = mT.shape[0]
    decay = math.exp(-dt)
    noise_scale = _noise_scale(method, noise, dt)
    for b in prange(B):
        x = x0[b].copy()
        p = np.empty(N)
        kappa = np.empty(R)
        drive = np.empty(N)
        f = np.empty(N)
        acc = np.empty(N)
        xs = np.empty(N)
        kappa_s = np.empty(R)
        x_rows, kappa_rows, key = x_out[b], kappa_out[b], keys[b]
        top = 0.0
        for step in range(n_steps + 1):
            if step == 0 or u.shape[1] > 1:
                _drive(inputs, bias, u, b, step, drive)
            if method == MAP:
                _project(nT_scaled, x, kappa)
            else:
                _lowrank_field(mT, nT_scaled, x, drive, linear, p, kappa, f)
            top = _record(step, record_every, x, kappa, x_rows, kappa_rows, top)
            if step == n_steps:
                break
            if method == RK4:
                for stage in range(3):
                    _rk4_stage(stage, x, f, dt, acc, xs)
                    _lowrank_field(mT, nT_scaled, xs, drive, linear, p, kappa_s, f)
            elif method == MAP:  # pre-activation m kappa + drive
                for i in range(N):
                    f[i] = drive[i]
                _add_latent(mT, kappa, f)
            _advance(method, x, f, acc, dt, decay, noise_scale, key, step, linear)
        for i in range(N):
            x_final[b, i] = x[i]
        peak[b] = _peak(x, top)


#: Rows of J per block of the dense product (fixed, so that results do not depend on threads).
BLOCK_ROWS = 128


def row_blocks(J: np.ndarray) -> np.ndarray:
    """J (N, N) as ``BLOCK_ROWS``-row blocks (n_blocks, BLOCK_ROWS, N), zero-padded at the end."""
    N = J.shape[0]
    n_blocks = -(-N // BLOCK_ROWS)
    blocks = np.zeros((n_blocks, BLOCK_ROWS, J.shape[1]))
    blocks.reshape(-1, J.shape[1])[:N] = J
    return blocks


@njit(parallel=True, **_JIT)
def _dense_product(Jb, P, tmp, out):
    """out = P J^T, i.e. out[b, i] = sum_j J_ij P[b, j], with J in row blocks ``Jb``.

    Each block is one BLAS product (run with one BLAS thread by the caller) and the blocks are
    split over numba threads; the blocks are fixed, so every entry is summed the same way
    whatever the number of numba or BLAS threads.
    """
    n_blocks, rows, _ = Jb.shape
    B, N = out.shape
    for k in prange(n_blocks):
        np.dot(P, Jb[k].T, tmp[k])
    for k in range(n_blocks):
        for b in range(B):
            for r in range(min(rows, N - k * rows)):
                out[b, k * rows + r] = tmp[k, b, r]


@njit(**_JIT)
def _dense_field(Jb, nT_scaled, inputs, bias, u, linear, step, X, P, K, tmp, out):
    """out = -X + phi(X) J^T + drive for the whole batch; K = phi(X) n / N."""
    B, N = X.shape
    for b in range(B):
        _activate(X[b], linear, P[b])
    _dense_product(Jb, P, tmp, out)
    for b in range(B):
        _project(nT_scaled, P[b], K[b])
        _drive(inputs, bias, u, b, step, P[b])  # P reused as drive buffer
        for i in range(N):
            out[b, i] += P[b, i] - X[b, i]


@njit(**_JIT)
def run_dense(
    x0,
    Jb,
    nT_scaled,
    inputs,
    bias,
    u,
    linear,
    dt,
    n_steps,
    method,
    noise,
    keys,
    record_every,
    x_out,
    kappa_out,
    x_final,
    peak,
):
    """Integrate a batch of trials with a dense connectivity J (in row blocks, ``row_blocks``);
    see run_lowrank."""
    B, N = x0.shape
    R = nT_scaled.shape[0]
    decay = math.exp(-dt)
    noise_scale = _noise_scale(method, noise, dt)
    X = x0.copy()
    P = np.empty((B, N))
    K = np.empty((B, R))
    F = np.empty((B, N))
    acc = np.empty((B, N))
    XS = np.empty((B, N))
    KS = np.empty((B, R))
    tmp = np.empty((Jb.shape[0], B, Jb.shape[1]))
    for step in range(n_steps + 1):
        if method == MAP:
            for b in range(B):
                _project(nT_scaled, X[b], K[b])
        else:
            _dense_field(Jb, nT_scaled, inputs, bias, u, linear, step, X, P, K, tmp, F)
        for b in range(B):
            peak[b] = _record(step, record_every, X[b], K[b], x_out[b], kappa_out[b], peak[b])
        if step == n_steps:
            break
        if method == RK4:
            for stage in range(3):
                for b in range(B):
                    _rk4_stage(stage, X[b], F[b], dt, acc[b], XS[b])
                _dense_field(Jb, nT_scaled, inputs, bias, u, linear, step, XS, P, KS, tmp, F)
        elif method == MAP:  # pre-activation J h + drive
            _dense_product(Jb, X, tmp, F)
            for b in range(B):
                _drive(inputs, bias, u, b, step, P[b])
                for i in range(N):
                    F[b, i] += P[b, i]
        for b in range(B):
            _advance(method, X[b], F[b], acc[b], dt, decay, noise_scale, keys[b], step, linear)
    for b in range(B):
        for i in range(N):
            x_final[b, i] = X[b, i]
        peak[b] = _peak(X[b], peak[b])
