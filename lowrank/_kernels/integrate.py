"""Time-stepping kernels for the full network (the time loop runs inside compiled code).

Continuous time (tau = 1):  dx = (-x + J phi(x) + I u + b) dt + sigma dW
Discrete time:              h' = phi(J h + I u + b + sigma xi)
with phi = tanh, or the identity (``linear``: linear networks have closed-form solutions, used to
test the integrators' orders), and J = m n^T / N (+ g chi).

The low-rank part, the inputs and the bias are one product: with the columns
``MT = [m, I, b]^T`` (A x N) and, per trial, ``kin = [kappa, u, 1]``, the field is
``f = MT^T kin - x (+ g chi phi(x))`` and ``kappa = nT phi(x)`` with ``nT = n^T / N``; zero rows
pad R and A (``simulation._kernel_loadings``) to the kernels' unrolled loops. One sweep over the
neurons, in tiles of ``TILE`` neurons (the tile of m and n stays in cache while every trial of a
thread uses it), evaluates the field, takes the step, applies phi and accumulates the next
kappa. With a bulk, for Euler and exponential Euler without noise, the last columns of the
field, the step, the tanh and the first four rows of the projection are one loop
(``_fused_step``). Tile partial sums of kappa are added in tile order, so a trial's result does
not depend on the batch it runs in nor on the number of threads.

- ``run_lowrank``: J is never formed, O(N (2R + K + 1)) per trial-step. The trials are split into
  groups run in parallel threads, each group running its whole time loop (no barrier).
- Closed form (``_run_latent_group``, used by ``run_lowrank`` for Euler and exponential Euler
  without noise, phi = tanh): both methods step x' = c x + h MT^T kin, so
  x_s = c^s x_0 + MT^T a_s with a_{s+1} = c a_s + h kin_s: A numbers per trial carry the whole
  state. A sweep reads x_0 and the loadings (tile by tile, each tile one contiguous block) and
  writes nothing per neuron but the recorded states (a zero x_0 is not even read); the last
  sweep writes the final state (to another array than x_0's: x_0 is not copied). kappa is
  summed the same way whether x is recorded or not. Same steps as the stepwise kernel, rounded
  differently (tested to 1e-12 against a numpy loop, over 3000 steps too).
  With rank >= 4 a group sweeps its trials four at a time (``_latent_block``): each row of the
  loadings is loaded once per tile for four trials.
- ``run_dense``: with a random bulk, every stage starts with one product ``phi(X) chi^T`` for
  the whole batch, computed as one BLAS product per fixed block of ``BLOCK_ROWS`` rows of chi
  (run with one BLAS thread by the caller), the blocks split over numba threads; then the tiles
  are swept in parallel. The blocks are fixed, so every entry is summed the same way whatever
  the number of numba or BLAS threads (a multi-threaded BLAS splits its sums by the thread
  count). The product is the step's cost: 2 N^2 B flops, at the speed of the machine's dgemm.

Both kernels also return, per trial, the largest |x_i| seen at the recorded steps and at the end
(``peak``), from which ``simulate`` detects a diverging integration.

Methods (integer codes): 0 Euler(-Maruyama), 1 exponential Euler (the linear leak integrated
exactly, including the Ornstein-Uhlenbeck variance of the noise), 2 classical RK4 (noise added
after each deterministic step), 3 the discrete-time map. Inputs are held constant within a step.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit, prange

from .mathfn import abs_bits, from_bits, normal, tanh

EULER, EXP_EULER, RK4, MAP = 0, 1, 2, 3

#: Sweep stages: INIT only applies phi and projects; RK4 runs stages 0, 1, 2 (to the points
#: x + dt/2 k1, x + dt/2 k2, x + dt k3) then FINAL; the other methods run FINAL only.
INIT, FINAL = -1, 3

#: Neurons per tile of the sweep (fixed: the order of the sums does not depend on threads).
TILE = 1024

#: Neurons per tile of the closed-form sweeps (``_run_latent_group``), whose loadings are stored
#: tile by tile: longer runs of memory than TILE (about 10% faster at N >= 1e4).
LATENT_TILE = 2048

#: Row length of the closed-form sweeps' tiled arrays: LATENT_TILE plus one cache line, so that
#: the rows a loop reads together (16 KiB apart otherwise) do not compete for the same L1 sets.
_ROW = LATENT_TILE + 8

#: Bytes of state and loadings per chunk of trials that ``run_lowrank`` runs through its whole
#: time loop before the next chunk (a multiple of four trials): they then stay in cache.
CHUNK_BYTES = 8 << 20

#: Rows of chi per block of the dense product (fixed, for the same reason): one tile.
BLOCK_ROWS = TILE

#: (Arguments that would be typed as literals, such as a constant stage or flag, are passed
#: through np.int64 / np.bool_: one compiled specialisation per function, not one per constant.)
_JIT = {"cache": True, "error_model": "numpy", "fastmath": {"contract", "reassoc"}}


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
def _field(MT, k, i0, i1, a_end, leak, y, has_bulk, bulk, f):
    """f[j] = sum_{a < a_end} MT[a, i0 + j] k[a] (- y[j] with ``leak``) (+ bulk[j]), j < i1 - i0.

    The sum over a is unrolled by eight (then four), so that f is loaded and stored once per
    eight columns. (Neuron indices are unsigned, here and below:
    numba then skips the negative-index wraparound, which would stop LLVM's vectoriser.)
    """
    n = i1 - i0
    iu = np.uint64(i0)
    if leak:
        for j in range(n):
            f[j] = -y[j]
    else:
        for j in range(n):
            f[j] = 0.0
    if has_bulk:
        for j in range(n):
            f[j] += bulk[j]
    a = 0
    while a + 8 <= a_end:
        k0, k1, k2, k3 = k[a], k[a + 1], k[a + 2], k[a + 3]
        k4, k5, k6, k7 = k[a + 4], k[a + 5], k[a + 6], k[a + 7]
        for j in range(n):
            i = iu + np.uint64(j)
            f[j] += (MT[a, i] * k0 + MT[a + 1, i] * k1 + MT[a + 2, i] * k2 + MT[a + 3, i] * k3
                     + MT[a + 4, i] * k4 + MT[a + 5, i] * k5 + MT[a + 6, i] * k6
                     + MT[a + 7, i] * k7)
        a += 8
    if a + 4 <= a_end:
        k0, k1, k2, k3 = k[a], k[a + 1], k[a + 2], k[a + 3]
        for j in range(n):
            i = iu + np.uint64(j)
            f[j] += MT[a, i] * k0 + MT[a + 1, i] * k1 + MT[a + 2, i] * k2 + MT[a + 3, i] * k3
        a += 4
    for c in range(a, a_end):
        k0 = k[c]
        for j in range(n):
            f[j] += MT[c, iu + np.uint64(j)] * k0


@njit(**_JIT)
def _project(nT, p, i0, i1, r_start, kout):
    """kout[r] += sum_j nT[r, i0 + j] p[j] for r >= r_start (nT = n^T / N), by fours."""
    n = i1 - i0
    iu = np.uint64(i0)
    R = nT.shape[0]
    r = r_start
    while r + 4 <= R:
        s0 = s1 = s2 = s3 = 0.0
        for j in range(n):
            i = iu + np.uint64(j)
            pj = p[j]
            s0 += nT[r, i] * pj
            s1 += nT[r + 1, i] * pj
            s2 += nT[r + 2, i] * pj
            s3 += nT[r + 3, i] * pj
        kout[r] += s0
        kout[r + 1] += s1
        kout[r + 2] += s2
        kout[r + 3] += s3
        r += 4
    for c in range(r, R):
        s0 = 0.0
        for j in range(n):
            s0 += nT[c, iu + np.uint64(j)] * p[j]
        kout[c] += s0


@njit(**_JIT)
def _fused_step(MT, nT, k, i0, i1, c, x, f, p, kout):
    """x += c (f - x + the last q columns of MT^T k); p = tanh(x); kout[:q] += n^T p / N.

    q = min(R, 4) with R the rows of nT (1, 2 or a multiple of 4). The common step (Euler:
    c = dt; exponential Euler: c = 1 - e^{-dt}; no noise) in one loop, whose cost is mostly that
    of the tanh: the products ride along in the same pass.
    """
    n = i1 - i0
    iu = np.uint64(i0)
    q = min(nT.shape[0], 4)
    a = MT.shape[0] - q
    if q == 1:
        k0 = k[a]
        s0 = 0.0
        for j in range(n):
            i = iu + np.uint64(j)
            xj = x[j]
            xj += c * (f[j] - xj + MT[a, i] * k0)
            x[j] = xj
            pj = tanh(xj)
            p[j] = pj
            s0 += nT[0, i] * pj
        kout[0] += s0
        return
    if q == 2:
        k0, k1 = k[a], k[a + 1]
        s0 = s1 = 0.0
        for j in range(n):
            i = iu + np.uint64(j)
            xj = x[j]
            xj += c * (f[j] - xj + MT[a, i] * k0 + MT[a + 1, i] * k1)
            x[j] = xj
            pj = tanh(xj)
            p[j] = pj
            s0 += nT[0, i] * pj
            s1 += nT[1, i] * pj
        kout[0] += s0
        kout[1] += s1
        return
    k0, k1, k2, k3 = k[a], k[a + 1], k[a + 2], k[a + 3]
    s0 = s1 = s2 = s3 = 0.0
    for j in range(n):
        i = iu + np.uint64(j)
        xj = x[j]
        xj += c * (f[j] - xj + MT[a, i] * k0 + MT[a + 1, i] * k1 + MT[a + 2, i] * k2
                   + MT[a + 3, i] * k3)
        x[j] = xj
        pj = tanh(xj)
        p[j] = pj
        s0 += nT[0, i] * pj
        s1 += nT[1, i] * pj
        s2 += nT[2, i] * pj
        s3 += nT[3, i] * pj
    kout[0] += s0
    kout[1] += s1
    kout[2] += s2
    kout[3] += s3


@njit(**_JIT)
def _project4(nT, n, P, O):
    """O[t, r] += sum_{j < n} nT[r, j] P[t, j] for the four trials t of a block (rows by four)."""
    for r in range(0, nT.shape[0], 4):
        s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = 0.0
        s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = 0.0
        for j in range(n):
            i = np.uint64(j)
            n0, n1, n2, n3 = nT[r, i], nT[r + 1, i], nT[r + 2, i], nT[r + 3, i]
            q0, q1, q2, q3 = P[0, i], P[1, i], P[2, i], P[3, i]
            s00 += n0 * q0
            s01 += n1 * q0
            s02 += n2 * q0
            s03 += n3 * q0
            s10 += n0 * q1
            s11 += n1 * q1
            s12 += n2 * q1
            s13 += n3 * q1
            s20 += n0 * q2
            s21 += n1 * q2
            s22 += n2 * q2
            s23 += n3 * q2
            s30 += n0 * q3
            s31 += n1 * q3
            s32 += n2 * q3
            s33 += n3 * q3
        O[0, r] += s00
        O[0, r + 1] += s01
        O[0, r + 2] += s02
        O[0, r + 3] += s03
        O[1, r] += s10
        O[1, r + 1] += s11
        O[1, r + 2] += s12
        O[1, r + 3] += s13
        O[2, r] += s20
        O[2, r + 1] += s21
        O[2, r + 2] += s22
        O[2, r + 3] += s23
        O[3, r] += s30
        O[3, r + 1] += s31
        O[3, r + 2] += s32
        O[3, r + 3] += s33


@njit(**_JIT)
def _pick(A, b, i0, i1, pad):
    """A[b, i0:i1], or pad[:i1 - i0] for a padding slot (b < 0)."""
    return A[b, i0:i1] if b >= 0 else pad[:i1 - i0]


@njit(**_JIT)
def _tile(stage, method, linear, MT, nT, k, i0, i1, dt, decay, has_bulk, bulk, x, y, acc, f, p,
          noise_scale, key, counter0, kout):
    """One stage of the step of one trial on the neurons i0..i1 (see the module docstring).

    x, y, acc: the trial's state, RK4 stage point and RK4 sum k1 + 2 k2 + 2 k3 on these neurons
    (y and acc are empty except for RK4); k = [kappa, u, 1] at the stage's point. The stage's
    point (x, or y for RK4 stages 1-3) gets its field (plus ``bulk``); the step writes the new
    point (y for RK4 stages 0-2, x otherwise), adds the noise (FINAL), stores phi of it (the
    map: the new state h itself) in p and adds its projection n^T p / N to kout. INIT only does
    the last two, for x.
    """
    n = i1 - i0
    A = MT.shape[0]
    if stage == FINAL and method <= EXP_EULER and noise_scale == 0.0 and not linear:
        _field(MT, k, i0, i1, A - min(nT.shape[0], 4), np.bool_(False), x, has_bulk, bulk, f)
        _fused_step(MT, nT, k, i0, i1, dt if method == EULER else 1.0 - decay, x, f, p, kout)
        _project(nT, p, i0, i1, np.int64(4), kout)
        return
    out = x
    if stage != INIT:
        _field(MT, k, i0, i1, A, method != MAP, y if method == RK4 and stage > 0 else x,
               has_bulk, bulk, f)
        if method == RK4 and stage < FINAL:
            h = dt if stage == 2 else 0.5 * dt
            if stage == 0:
                for j in range(n):
                    acc[j] = f[j]
            else:
                for j in range(n):
                    acc[j] += 2.0 * f[j]
            for j in range(n):
                y[j] = x[j] + h * f[j]
            out = y
        elif method == RK4:
            for j in range(n):
                x[j] += dt / 6.0 * (acc[j] + f[j])
        elif method == EULER:
            for j in range(n):
                x[j] += dt * f[j]
        elif method == EXP_EULER:
            # x' = e^{-dt} x + (1 - e^{-dt}) (J phi(x) + drive), with f = J phi + drive - x
            for j in range(n):
                x[j] += (1.0 - decay) * f[j]
        else:  # MAP: f is the pre-activation
            for j in range(n):
                x[j] = f[j]
        if stage == FINAL and noise_scale > 0.0:
            for j in range(n):
                x[j] += noise_scale * normal(key, counter0 + np.uint64(i0 + j))
    if linear or (method == MAP and stage == INIT):
        for j in range(n):
            p[j] = out[j]
    else:
        for j in range(n):
            p[j] = tanh(out[j])
    if method == MAP and stage == FINAL:  # h = phi(pre-activation); kappa = n^T h / N
        for j in range(n):
            x[j] = p[j]
    _project(nT, p, i0, i1, np.int64(0), kout)


@njit(**_JIT)
def _peak(x, peak):
    """max(peak, max_i |x_i|), NaN entries ignored (non-finite states are caught on x_final)."""
    for i in range(x.shape[0]):
        v = abs(x[i])
        if v > peak:
            peak = v
    return peak


@njit(**_JIT)
def _drive(step, b, trial, R, n_u, has_bias, u, kappa, kin):
    """kin[b] = [kappa[b], u(trial, step), 1 (with a bias)]: the latent drive of row b."""
    for r in range(R):
        kin[b, r] = kappa[b, r]
    ub = min(np.int64(trial), np.int64(u.shape[0] - 1))
    us = min(np.int64(step), np.int64(u.shape[1] - 1))
    for k in range(n_u):
        kin[b, R + k] = u[ub, us, k]
    if has_bias:
        kin[b, R + n_u] = 1.0


@njit(**_JIT)
def _begin_step(step, b, trial, R, n_u, has_bias, u, record_every, X, kappa, kin, x_out,
                kappa_out, peak):
    """kin[b] = [kappa[b], u(trial, step), 1 (with a bias)]; record trial ``trial`` (row b)."""
    _drive(step, b, trial, R, n_u, has_bias, u, kappa, kin)
    if step % record_every != 0:
        return
    row = step // record_every
    for r in range(kappa_out.shape[2]):
        kappa_out[trial, row, r] = kappa[b, r]
    if x_out.shape[1] > 0:
        for i in range(X.shape[1]):
            x_out[trial, row, i] = X[b, i]
    peak[trial] = _peak(X[b], peak[trial])


@njit(nogil=True, **_JIT)
def _run_group(b0, b1, X, MT, nT, u, n_u, has_bias, linear, dt, n_steps, method, noise,
               keys, record_every, x_out, kappa_out, peak, kin, kappa, Y, ACC):
    """run_lowrank for the trials b0..b1 (rows of X and of the work arrays kin .. ACC)."""
    N = X.shape[1]
    R = nT.shape[0]
    decay = math.exp(-dt)
    noise_scale = _noise_scale(method, noise, dt)
    f = np.empty(TILE)
    p = np.empty(TILE)
    first_stage = 0 if method == RK4 else FINAL  # RK4: stages 0, 1, 2, FINAL
    for i0 in range(0, N, TILE):
        for b in range(b0, b1):
            i1 = min(N, i0 + TILE)
            _tile(np.int64(INIT), method, linear, MT, nT, kin[b], i0, i1, dt, decay, False, f,
                  X[b, i0:i1], Y[b, i0:i1], ACC[b, i0:i1], f, p, noise_scale, keys[b],
                  np.uint64(0), kappa[b])
    for step in range(n_steps + 1):
        for b in range(b0, b1):
            _begin_step(step, b, b, R, n_u, has_bias, u, record_every, X, kappa, kin, x_out,
                        kappa_out, peak)
        if step == n_steps:
            break
        counter0 = np.uint64(step) * np.uint64(N)
        for stage in range(first_stage, FINAL + 1):
            kappa[b0:b1] = 0.0
            for i0 in range(0, N, TILE):
                i1 = min(N, i0 + TILE)
                for b in range(b0, b1):
                    _tile(stage, method, linear, MT, nT, kin[b], i0, i1, dt, decay, False, f,
                          X[b, i0:i1], Y[b, i0:i1], ACC[b, i0:i1], f, p, noise_scale, keys[b],
                          counter0, kappa[b])
            if stage < FINAL:
                for b in range(b0, b1):
                    for r in range(R):
                        kin[b, r] = kappa[b, r]
    for b in range(b0, b1):
        peak[b] = _peak(X[b], peak[b])


def tiled_zeros(rows, N):
    """Zero loadings tile by tile: (tiles, rows, _ROW), tile t to hold the neurons
    t LATENT_TILE + j, j < LATENT_TILE, in its first columns (zero beyond N), each tile one
    contiguous block (the layout of the closed-form sweeps; filled by ``transpose_into``)."""
    return np.zeros((-(-N // LATENT_TILE), rows, _ROW))


@njit(**_JIT)
def _transpose_rows(A, scale, out, row0):
    """out[row0 + r, i] = scale A[i, r] for A (N, R), read once, row by row."""
    N, R = A.shape
    for i in range(N):
        for r in range(R):
            out[row0 + r, i] = scale * A[i, r]


@njit(**_JIT)
def _transpose_tiles(A, scale, out, row0):
    """out[t, row0 + r, j] = scale A[t LATENT_TILE + j, r] for A (N, R) (``tiled_zeros``)."""
    N, R = A.shape
    for t in range(out.shape[0]):
        i0 = t * LATENT_TILE
        for j in range(min(N, i0 + LATENT_TILE) - i0):
            for r in range(R):
                out[t, row0 + r, j] = scale * A[i0 + j, r]


def transpose_into(A, scale, out, row0=0):
    """Rows row0 .. row0 + R - 1 of the loadings ``out`` = scale A^T for A (N, R), in one pass:
    out (rows, N), or tile by tile (``tiled_zeros``)."""
    if out.ndim == 3:
        _transpose_tiles(A, scale, out, row0)
    else:
        _transpose_rows(A, scale, out, row0)


def closed_form(method, noise, linear):
    """Whether ``run_lowrank`` steps in closed form: Euler or exponential Euler, no noise, tanh
    (its loadings are then passed tile by tile, see ``tiled_zeros``)."""
    return method <= EXP_EULER and noise == 0.0 and not linear


@njit(**_JIT)
def abs_max(X):
    """max |X| over a 2-d array, one pass (an integer max of the bits: vectorised)."""
    top = np.int64(0)
    for b in range(X.shape[0]):
        for i in range(X.shape[1]):
            top = max(top, abs_bits(X[b, i]))
    return from_bits(top)


@njit(**_JIT)
def row_reach(m, n, inputs, u_max, bias):
    """c_i = sum_r |m_ir| sum_j |n_jr| / N + sum_k |I_ik| u_max_k + |b_i| (one pass over each)."""
    N, R = m.shape
    w = np.zeros(R)
    for j in range(N):
        for r in range(R):
            w[r] += abs(n[j, r])
    c = np.empty(N)
    for i in range(N):
        ci = abs(bias[i])
        for r in range(R):
            ci += abs(m[i, r]) * (w[r] / N)
        for k in range(u_max.size):
            ci += abs(inputs[i, k]) * u_max[k]
        c[i] = ci
    return c


@njit(**_JIT)
def _zero_rows(X):
    """zero[b]: every entry of X[b] is 0 (each row read up to its first nonzero entry)."""
    zero = np.ones(X.shape[0], np.bool_)
    for b in range(X.shape[0]):
        for i in range(X.shape[1]):
            if X[b, i] != 0.0:
                zero[b] = False
                break
    return zero


def run_lowrank(X, MT, nT, u, n_u, has_bias, linear, dt, n_steps, method, noise, keys,
                record_every, x_out, kappa_out, peak, groups, X0=None):
    """Integrate a batch of trials of the rank-R network in place; see the module docstring.

    X (B, N): the initial states, overwritten by the final ones; MT (A, N) = [m, I, b]^T with
    A = R + n_u (+ 1 with a bias); nT (R, N) = n^T / N; u (1|B, 1|S, K >= n_u); keys (B,) uint64.
    x_out (B, T, N) or (B, 0, N) when x is not recorded; kappa_out (B, T, R); peak (B,) receives
    max |x| over the recorded steps and the final state of each trial. The trials are split
    into ``groups`` contiguous groups, each run by the compiled ``_run_group`` (which releases
    the GIL) in its own thread: no parallel region to compile, which keeps the first call of a
    process short. When the loadings are small, a group runs its trials in chunks that fit in
    ``CHUNK_BYTES`` with the loadings, each chunk through the whole time loop (the trials are
    independent: same bits in any order). Euler and exponential Euler without noise (tanh
    networks, ``closed_form``) run in closed form (``_run_latent_group``): MT and nT are then
    given tile by tile (``tiled_zeros``), and the initial states may be given apart as X0 (X is
    then only written: no copy of the initial states).
    """
    B, N = X.shape
    A, R = MT.shape[-2], nT.shape[-2]
    kin = np.zeros((B, A))
    kappa = np.zeros((B, R))
    Y = np.empty((B, N if method == RK4 else 0))
    ACC = np.empty_like(Y)

    # chunks of trials whose states and loadings fit in CHUNK_BYTES (else one chunk: the tiles
    # of the loadings then stay in cache while every trial of the group uses them)
    room = CHUNK_BYTES - 8 * N * (A + R)
    chunk = room // (8 * N * (3 if method == RK4 else 1)) // 4 * 4
    chunk = chunk if chunk >= 4 else B

    latent = closed_form(method, noise, linear)
    if latent != (MT.ndim == 3):
        raise ValueError("the closed form takes the loadings tile by tile, and only it")
    coef = np.zeros((B, A))
    X0 = X if X0 is None else X0
    zero = _zero_rows(X0) if latent else None

    def group(g):
        b0, b1 = g * B // groups, (g + 1) * B // groups
        for c0 in range(b0, b1, chunk):
            if latent:
                _run_latent_group(c0, min(b1, c0 + chunk), X0, X, zero, MT, nT, u, n_u,
                                  has_bias, dt, n_steps, method, record_every, x_out, kappa_out,
                                  peak, kin, kappa, coef)
                continue
            _run_group(c0, min(b1, c0 + chunk), X, MT, nT, u, n_u, has_bias, linear, dt,
                       n_steps, method, noise, keys, record_every, x_out, kappa_out, peak, kin,
                       kappa, Y, ACC)

    if groups <= 1:
        group(0)
        return
    with ThreadPoolExecutor(groups) as pool:
        list(pool.map(group, range(groups)))


# --- Closed-form (latent) sweeps: Euler / exponential Euler without noise ---
#
# Both methods step x' = c x + h (MT^T kin) with (c, h) = (1 - dt, dt) or (e^{-dt}, 1 - e^{-dt}),
# so x_s = w_s x_0 + MT^T a_s with w_s = c^s and a_{s+1} = c a_s + h kin_s, a_0 = 0: the state
# is x_0 and A numbers per trial. A sweep then reads x_0 and writes no state per neuron.


@njit(**_JIT)
def _latent_fused(MT, nT, coef, b, w, base, i0, i1, kappa):
    """x = w base + the last q rows of MT^T k (q = R = 1 or 2); kout += nT tanh(x); max |x|,
    with k = coef[b] and kout = kappa[b] (rows of 2-d arrays, not views: none to build).

    base: x_0 on the tile (w = c^s), or, when MT has rows before the last q, f = c^s x_0 plus
    their part (w = 1), computed by ``_latent_affine``.
    """
    n = i1 - i0
    iu = np.uint64(i0)
    q = nT.shape[0]
    a = MT.shape[0] - q
    top = np.int64(0)
    if q == 1:
        k0 = coef[b, a]
        s0 = 0.0
        for j in range(n):
            i = iu + np.uint64(j)
            xj = w * base[j] + MT[a, i] * k0
            top = max(top, abs_bits(xj))
            s0 += nT[0, i] * tanh(xj)
        kappa[b, 0] += s0
        return from_bits(top)
    k0, k1 = coef[b, a], coef[b, a + 1]
    s0 = s1 = 0.0
    for j in range(n):
        i = iu + np.uint64(j)
        xj = w * base[j] + MT[a, i] * k0 + MT[a + 1, i] * k1
        top = max(top, abs_bits(xj))
        pj = tanh(xj)
        s0 += nT[0, i] * pj
        s1 += nT[1, i] * pj
    kappa[b, 0] += s0
    kappa[b, 1] += s1
    return from_bits(top)


@njit(**_JIT)
def _latent_affine(MT, k, w, x0, i0, i1, a_end, f):
    """f[j] = w x0[j] + sum_{a < a_end} MT[a, i0 + j] k[a] (the rows of ``_field``)."""
    _field(MT, k, i0, i1, a_end, np.bool_(False), x0, np.bool_(False), x0, f)
    for j in range(i1 - i0):
        f[j] += w * x0[j]


@njit(**_JIT)
def _rows4(MT, a, K, s, b0, b1, b2, b3, n, F):
    """F[t, j] = s b_t[j] + sum_{a <= c < a + 4} MT[c, j] K[t, c] for the four trials t, j < n.

    The b_t are not rows of F (see ``_latent_field4``).
    """
    a0, a1, a2, a3 = K[0, a], K[0, a + 1], K[0, a + 2], K[0, a + 3]
    c0, c1, c2, c3 = K[1, a], K[1, a + 1], K[1, a + 2], K[1, a + 3]
    d0, d1, d2, d3 = K[2, a], K[2, a + 1], K[2, a + 2], K[2, a + 3]
    e0, e1, e2, e3 = K[3, a], K[3, a + 1], K[3, a + 2], K[3, a + 3]
    for j in range(n):
        i = np.uint64(j)
        m0, m1, m2, m3 = MT[a, i], MT[a + 1, i], MT[a + 2, i], MT[a + 3, i]
        F[0, i] = s * b0[j] + m0 * a0 + m1 * a1 + m2 * a2 + m3 * a3
        F[1, i] = s * b1[j] + m0 * c0 + m1 * c1 + m2 * c2 + m3 * c3
        F[2, i] = s * b2[j] + m0 * d0 + m1 * d1 + m2 * d2 + m3 * d3
        F[3, i] = s * b3[j] + m0 * e0 + m1 * e1 + m2 * e2 + m3 * e3


@njit(**_JIT)
def _rows8(MT, a, K, s, b0, b1, b2, b3, n, F):
    """``_rows4`` for the eight rows a .. a + 7 (each b_t and F[t] is read and written once)."""
    a0, a1, a2, a3, a4, a5, a6, a7 = (K[0, a], K[0, a + 1], K[0, a + 2], K[0, a + 3],
                                      K[0, a + 4], K[0, a + 5], K[0, a + 6], K[0, a + 7])
    c0, c1, c2, c3, c4, c5, c6, c7 = (K[1, a], K[1, a + 1], K[1, a + 2], K[1, a + 3],
                                      K[1, a + 4], K[1, a + 5], K[1, a + 6], K[1, a + 7])
    d0, d1, d2, d3, d4, d5, d6, d7 = (K[2, a], K[2, a + 1], K[2, a + 2], K[2, a + 3],
                                      K[2, a + 4], K[2, a + 5], K[2, a + 6], K[2, a + 7])
    e0, e1, e2, e3, e4, e5, e6, e7 = (K[3, a], K[3, a + 1], K[3, a + 2], K[3, a + 3],
                                      K[3, a + 4], K[3, a + 5], K[3, a + 6], K[3, a + 7])
    for j in range(n):
        i = np.uint64(j)
        m0, m1, m2, m3 = MT[a, i], MT[a + 1, i], MT[a + 2, i], MT[a + 3, i]
        m4, m5, m6, m7 = MT[a + 4, i], MT[a + 5, i], MT[a + 6, i], MT[a + 7, i]
        F[0, i] = (s * b0[j] + m0 * a0 + m1 * a1 + m2 * a2 + m3 * a3 + m4 * a4 + m5 * a5
                   + m6 * a6 + m7 * a7)
        F[1, i] = (s * b1[j] + m0 * c0 + m1 * c1 + m2 * c2 + m3 * c3 + m4 * c4 + m5 * c5
                   + m6 * c6 + m7 * c7)
        F[2, i] = (s * b2[j] + m0 * d0 + m1 * d1 + m2 * d2 + m3 * d3 + m4 * d4 + m5 * d5
                   + m6 * d6 + m7 * d7)
        F[3, i] = (s * b3[j] + m0 * e0 + m1 * e1 + m2 * e2 + m3 * e3 + m4 * e4 + m5 * e5
                   + m6 * e6 + m7 * e7)


@njit(**_JIT)
def _latent_field4(MT, K, w, x0, x1, x2, x3, n, FG):
    """FG[0, t, :n] = w x_t + MT^T K[t] on the tile for the four trials t of a block.

    The A rows of MT (a multiple of four) by eight while they last, then four; each group of
    rows reads the last one's output and writes the other plane of FG (the last group FG[0]):
    an in-place update would look like overlapping arrays to LLVM's vectoriser, which would
    then fall back to scalar code. The coefficients K (4, A) and the planes FG[g] (4, _ROW) are
    2-d arrays, not four rows each: fewer array views to build per call (each one updates a
    reference count; about 10% faster at N = 1000).
    """
    A = MT.shape[0]
    n_groups = A // 8 + (A % 8) // 4
    b0, b1, b2, b3 = x0, x1, x2, x3
    s = w
    a = 0
    for g in range(n_groups):
        F = FG[(n_groups - 1 - g) % 2]
        if a + 8 <= A:
            _rows8(MT, a, K, s, b0, b1, b2, b3, n, F)
            a += 8
        else:
            _rows4(MT, a, K, s, b0, b1, b2, b3, n, F)
            a += 4
        if a < A:
            b0, b1, b2, b3 = F[0], F[1], F[2], F[3]
            s = 1.0


@njit(**_JIT)
def _tanh_top4(n, F, P, top):
    """P[t, :n] = tanh(F[t, :n]) and top[t] = max |F[t, :n]| (NaN above inf), t < 4."""
    for t in range(4):
        bits = np.int64(0)
        for j in range(n):
            fj = F[t, np.uint64(j)]
            bits = max(bits, abs_bits(fj))
            P[t, np.uint64(j)] = tanh(fj)
        top[t] = from_bits(bits)


@njit(**_JIT)
def _state(r, zero):
    """The row of X to read for trial row r: r, or -1 (pad) for a padding slot or a zero x_0."""
    return r if r >= 0 and not zero[r] else -1


@njit(**_JIT)
def _latent_block(MT, nT, coef, kappa, X0, X, zero, rows, w, i0, i1, final, x_out, row, FG, P,
                  K, O, pad_x, top):
    """kappa_t += nT tanh(x_t), x_t = w X0[t] + MT^T a_t on a tile, for a block of four trials.

    MT, nT: the tile's loadings (columns 0 .. i1 - i0); X0: the initial states (neurons
    i0 .. i1 - 1 of the tile; the zero rows flagged by ``zero`` are read from the zeros of pad_x,
    which stay in cache); X gets x_t when ``final`` (X may be X0); x_t is also stored in
    x_out[trial, row] when row >= 0; rows: the trials' rows of coef, kappa and X, -1 for a
    padding slot (computed with zero coefficients and discarded: every trial runs through the
    same code whatever its block-mates, so its sums are taken in the same order whatever the
    batch and the number of threads); top[t] gets max |x_t| on the tile. K (4, A), O (4, R):
    scratch for the block's coefficients and its part of kappa.
    """
    n = i1 - i0
    for t in range(4):
        r = rows[t]
        for a in range(K.shape[1]):
            K[t, a] = coef[r, a] if r >= 0 else 0.0
        for c in range(O.shape[1]):
            O[t, c] = 0.0
    x0, x1, x2, x3 = (_state(rows[0], zero), _state(rows[1], zero), _state(rows[2], zero),
                      _state(rows[3], zero))
    _latent_field4(MT, K, w, _pick(X0, x0, i0, i1, pad_x[0]), _pick(X0, x1, i0, i1, pad_x[1]),
                   _pick(X0, x2, i0, i1, pad_x[2]), _pick(X0, x3, i0, i1, pad_x[3]), n, FG)
    F = FG[0]
    _tanh_top4(n, F, P, top)
    _project4(nT, n, P, O)
    for t in range(4):
        r = rows[t]
        if r < 0:
            continue
        for c in range(O.shape[1]):
            kappa[r, c] += O[t, c]
        if final:
            X[r, i0:i1] = F[t, :n]
        if row >= 0:
            x_out[r, row, i0:i1] = F[t, :n]


@njit(**_JIT)
def _latent_single(MT, nT, coef, kappa, b, x, w, n, f):
    """kappa[b] += nT tanh(x_s), x_s = w x + MT^T coef[b] on a tile of n neurons, for one trial
    of rank R = 1 or 2 (MT, nT, x: the tile's loadings and initial state; f: scratch); returns
    max |x_s| on the tile."""
    A, R = MT.shape[0], nT.shape[0]
    if A > R:
        _latent_affine(MT, coef[b], w, x, 0, n, A - R, f)
        return _latent_fused(MT, nT, coef, b, 1.0, f, 0, n, kappa)
    return _latent_fused(MT, nT, coef, b, w, x, 0, n, kappa)


@njit(nogil=True, **_JIT)
def _run_latent_group(b0, b1, X0, X, zero, MTt, nTt, u, n_u, has_bias, dt, n_steps, method,
                      record_every, x_out, kappa_out, peak, kin, kappa, coef):
    """run_lowrank for the trials b0..b1 in closed form (see above): Euler or exponential Euler,
    no noise, tanh. X0 holds x_0; the last sweep writes the final states to X (which may be X0:
    each tile of a trial is read before it is written).

    MTt (tiles, A, LATENT_TILE), nTt (tiles, R, LATENT_TILE): the loadings tile by tile (zero
    beyond N), each tile one contiguous block, which stays in cache while every trial of the
    group uses it.
    zero[b]: x_0 of trial b is zero (then x_s = MT^T a_s, and the sweeps do not read it).
    """
    N = X.shape[1]
    A, R = MTt.shape[1], nTt.shape[1]
    c = 1.0 - dt if method == EULER else math.exp(-dt)
    h = dt if method == EULER else 1.0 - math.exp(-dt)
    top = np.zeros(b1 - b0)
    top4 = np.zeros(4)
    f = np.empty(LATENT_TILE)
    rows = np.empty(4, np.int64)
    FG = np.empty((2, 4, _ROW))
    P = np.empty((4, _ROW))
    pad_x = np.zeros((4, _ROW))
    K = np.empty((4, A))
    O = np.empty((4, R))
    coef[b0:b1] = 0.0
    w = 1.0
    for step in range(n_steps + 1):
        record = step % record_every == 0
        final = step == n_steps
        row = step // record_every if record and x_out.shape[1] > 0 else -1  # of x_out
        if record or not final:  # kappa_s = nT tanh(w_s x_0 + MT^T a_s)
            kappa[b0:b1] = 0.0
            top[:] = 0.0
            for t in range(MTt.shape[0]):
                i0 = t * LATENT_TILE
                i1 = min(N, i0 + LATENT_TILE)
                n = i1 - i0
                MT, nT = MTt[t], nTt[t]
                if R >= 4:  # blocks of four trials
                    for b in range(b0, b1, 4):
                        for k in range(4):
                            rows[k] = b + k if b + k < b1 else -1
                        _latent_block(MT, nT, coef, kappa, X0, X, zero, rows, w, i0, i1, final,
                                      x_out, row, FG, P, K, O, pad_x, top4)
                        for k in range(min(4, b1 - b)):
                            top[b + k - b0] = max(top[b + k - b0], top4[k])
                    continue
                for b in range(b0, b1):
                    x0 = pad_x[0, :n] if zero[b] else X0[b, i0:i1]
                    top_b = _latent_single(MT, nT, coef, kappa, b, x0, w, n, f)
                    top[b - b0] = max(top[b - b0], top_b)
                    if final or row >= 0:  # apart: kappa is summed the same way either way
                        _latent_affine(MT, coef[b], w, x0, 0, n, A, f)
                        if row >= 0:
                            x_out[b, row, i0:i1] = f[:n]
                        if final:
                            X[b, i0:i1] = f[:n]
            if record:
                for b in range(b0, b1):
                    for r in range(kappa_out.shape[2]):
                        kappa_out[b, step // record_every, r] = kappa[b, r]
                    peak[b] = max(peak[b], top[b - b0])
        if final:
            break
        for b in range(b0, b1):  # a_{s+1} = c a_s + h [kappa_s, u_s, 1]
            _drive(step, b, b, R, n_u, has_bias, u, kappa, kin)
            for a in range(A):
                coef[b, a] = c * coef[b, a] + h * kin[b, a]
        w *= c
    if n_steps % record_every != 0:  # the final states were not swept
        for b in range(b0, b1):
            for t in range(MTt.shape[0]):
                i0 = t * LATENT_TILE
                i1 = min(N, i0 + LATENT_TILE)
                _latent_affine(MTt[t], coef[b], w, X0[b, i0:i1], 0, i1 - i0, A, f)
                X[b, i0:i1] = f[:i1 - i0]
            peak[b] = _peak(X[b], peak[b])


@njit(parallel=True, **_JIT)
def _bulk_product(chi, P, GT):
    """(chi P^T)^T by blocks: GT[B r0 : B r1] = P chi[r0:r1]^T, a (B, r1 - r0) C-contiguous
    block, for each fixed block of BLOCK_ROWS rows r0 .. r1 - 1 of chi.

    One BLAS product per block, batch first (B = 32 rows against a wide block of chi^T, read
    in place as an F-contiguous matrix): about 20% more flop/s than chi P^T in blocks of 256
    rows, the shape whose 32 columns suit OpenBLAS's kernels worst. The caller runs BLAS with
    one thread; the blocks are split over numba threads.
    """
    N = chi.shape[0]
    B = P.shape[0]
    for k in prange((N + BLOCK_ROWS - 1) // BLOCK_ROWS):
        r0 = k * BLOCK_ROWS
        r1 = min(N, r0 + BLOCK_ROWS)
        np.dot(P, chi[r0:r1].T, GT[B * r0:B * r1].reshape(B, r1 - r0))


@njit(parallel=True, **_JIT)
def _dense_sweep(stage, method, linear, MT, nT, kin, g, GT, dt, decay, X, Y, ACC, P, F, BULK,
                 noise_scale, keys, counter0, parts):
    """One stage for the whole batch, tiles in parallel: parts[t, b] gets tile t's kappa."""
    B, N = X.shape
    for t in prange(parts.shape[0]):
        i0 = t * TILE
        i1 = min(N, i0 + TILE)
        parts[t] = 0.0
        for b in range(B):
            if stage != INIT:
                n = i1 - i0  # the tile is block t of the bulk product
                for j in range(n):
                    BULK[t, j] = g * GT[B * i0 + b * n + j]
            _tile(stage, method, linear, MT, nT, kin[b], i0, i1, dt, decay, stage != INIT,
                  BULK[t], X[b, i0:i1], Y[b, i0:i1], ACC[b, i0:i1], F[t], P[b, i0:i1],
                  noise_scale, keys[b], counter0, parts[t, b])


@njit(**_JIT)
def _sum_parts(parts, out):
    """out[b, r] = sum_t parts[t, b, r] for r < R, added in tile order (plain loops: array
    expressions would compile numba's broadcasting checks)."""
    for b in range(parts.shape[1]):
        for r in range(parts.shape[2]):
            out[b, r] = 0.0
        for t in range(parts.shape[0]):
            for r in range(parts.shape[2]):
                out[b, r] += parts[t, b, r]


@njit(**_JIT)
def run_dense(X, chi, g, MT, nT, u, n_u, has_bias, linear, dt, n_steps, method, noise, keys,
              record_every, x_out, kappa_out, peak):
    """Integrate a batch of trials with the bulk g chi in place; see run_lowrank.

    chi (N, N) C-contiguous; P (B, N) holds phi(x) (the map: h) of the last sweep, whose bulk
    product (``_bulk_product``) starts each stage.
    """
    B, N = X.shape
    R = nT.shape[0]
    decay = math.exp(-dt)
    noise_scale = _noise_scale(method, noise, dt)
    n_tiles = (N + TILE - 1) // TILE
    kin = np.zeros((B, MT.shape[0]))
    kappa = np.zeros((B, R))
    parts = np.zeros((n_tiles, B, R))
    P = np.empty((B, N))
    GT = np.empty(N * B)
    Y = np.empty((B, N if method == RK4 else 0))
    ACC = np.empty_like(Y)
    F = np.empty((n_tiles, TILE))
    BULK = np.empty((n_tiles, TILE))
    first_stage = 0 if method == RK4 else FINAL  # RK4: stages 0, 1, 2, FINAL
    _dense_sweep(INIT, method, linear, MT, nT, kin, g, GT, dt, decay, X, Y, ACC, P, F, BULK,
                 noise_scale, keys, np.uint64(0), parts)
    for step in range(n_steps + 1):
        _sum_parts(parts, kappa)
        for b in range(B):
            _begin_step(step, b, b, R, n_u, has_bias, u, record_every, X, kappa, kin, x_out,
                        kappa_out, peak)
        if step == n_steps:
            break
        counter0 = np.uint64(step) * np.uint64(N)
        for stage in range(first_stage, FINAL + 1):
            _bulk_product(chi, P, GT)
            _dense_sweep(stage, method, linear, MT, nT, kin, g, GT, dt, decay, X, Y, ACC, P, F,
                         BULK, noise_scale, keys, counter0, parts)
            if stage < FINAL:
                _sum_parts(parts, kin)
    for b in range(B):
        peak[b] = _peak(X[b], peak[b])
