"""Lyapunov spectra of networks and of their mean-field latent dynamics: the QR (Benettin) method.

Benettin, Galgani, Giorgilli & Strelcyn (1980, Meccanica 15:9); Shimada & Nagashima (1979). The
tangent vectors Q (dim x k, orthonormal columns) follow the linearised dynamics along a trajectory
and are re-orthonormalised, Q R = (propagated Q), every ``qr_every`` steps; then

    lambda_i = (1 / T) sum log |R_ii|,

the k leading exponents, in units of 1/tau (natural log) for flows and per step for maps. The first
``t_warmup`` of the run lets the state reach its attractor and Q align with the leading directions
before anything is averaged. For a flow the tangent follows the derivative of the numerical step
map (Euler, exponential Euler or RK4), so the spectrum is exact for the discretised system and
converges to the flow's as dt -> 0. Engelken, Wolf & Abbott (2023, PRR 5:043044) compute the
spectra of random rate networks this way.

Dynamics (docs/theory, section theory-network), tau = 1, c = I u + b:

    flow  dx/dt = -x + J phi(x) + c,   D = -I + J diag(phi'(x)),  tr D = -N + sum_i J_ii phi'(x_i);
    map   h' = phi(J h + c),                  D = diag(phi'(J h + c)) J;
    latent (``lowrank.MeanField``, g = 0): dkappa/dt = -kappa + G(kappa) or kappa' = G(kappa).

Checks: the sum of all N exponents is the time average of tr D (Liouville); at a stable fixed
point the exponents are Re(eig D) (flows) or log|eig D| (maps).

Low-rank flows without a bulk. With J = m n^T / N, D = -I + m n^T diag(phi') / N maps span(m) into
itself and acts as -I on the quotient R^N / span(m): in a basis (m, complement) the tangent dynamics
are block triangular, so the spectrum is N - R copies of the leak exponent (-1 for the exact flow
and exponential Euler; log|1 - dt| / dt for Euler and log|1 - dt + dt^2/2 - dt^3/6 + dt^4/24| / dt
for RK4) together with the R exponents of the R x R cocycle
dA/dt = (-I + n^T diag(phi'(x)) m / N) A.
The spectrum of such a network then costs O(N R) per step instead of O(N^3).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from ._checks import ConvergenceWarning, as_array, as_float, as_int, as_rng, choose, step_count
from ._repr import compact_repr
from .dynamics.steppers import FLOW_METHODS, stepper
from .dynamics.systems import System, as_system

__all__ = ["LyapunovSpectrum", "kaplan_yorke_dimension", "lyapunov_spectrum"]


_MAX_HISTORY = 500
_MAX_BLOCK_SPREAD = np.log(1e8)  # growth ratio within a QR block above which precision is lost


@dataclass
class LyapunovSpectrum:
    """Lyapunov exponents and how their estimates converged.

    Attributes
    ----------
    exponents : ndarray (k,)
        The k leading exponents, in decreasing order (1/tau for flows, per step for maps).
    times : ndarray (records,)
        Averaging time (flows) or steps (maps) at which the running estimates were recorded.
    history : ndarray (records, k)
        Running estimates (1 / t) sum log |R_ii| at those times.
    kaplan_yorke : float
        Kaplan-Yorke dimension of the k exponents (a lower bound when k < N and their sum is >= 0).
    change : float
        Largest |lambda_i(T) - lambda_i(T / 2)| / max(1, |lambda_i(T)|): how much the estimates
        still moved over the second half of the run.
    converged : bool
        ``change <= tol``.
    time : str
        "continuous" or "discrete".
    """

    __repr__ = compact_repr

    exponents: np.ndarray
    times: np.ndarray
    history: np.ndarray
    kaplan_yorke: float
    change: float
    converged: bool
    time: str


def kaplan_yorke_dimension(exponents) -> float:
    """Kaplan-Yorke dimension D_KY = j + (lambda_1 + ... + lambda_j) / |lambda_{j+1}|.

    j is the largest index with a non-negative partial sum (Kaplan & Yorke 1979); D_KY = 0 when
    lambda_1 < 0 and k when all k partial sums are >= 0. Exponents may be -inf (a rank-deficient
    map), not NaN or +inf.
    """
    lam = np.sort(as_array(exponents, "exponents", ndim=1, finite=False))[::-1]
    if np.any(np.isnan(lam)) or np.any(lam == np.inf):
        raise ValueError("exponents must not contain NaN or +inf (-inf is allowed)")
    sums = np.cumsum(lam)
    j = int(np.sum(sums >= 0))  # partial sums decrease once the exponents turn negative
    if j == 0:
        return 0.0
    if j == len(lam):
        return float(j)
    return float(j + sums[j - 1] / abs(lam[j]))


def _leak_growth(method: str, dt: float) -> float:
    """Growth factor per step of the leak dx/dt = -x under each integrator (module docstring)."""
    z = -dt
    return {
        "exp_euler": np.exp(z),
        "euler": 1.0 + z,
        "rk4": 1.0 + z + z**2 / 2 + z**3 / 6 + z**4 / 24,
    }[method]


def _tangent_dynamics(system: System):
    """The target of (x, V) in leak form, the dimension of V, and the number of leak exponents.

    A flow with W = m n^T / N (no bulk) carries tangent vectors m A in span(m), A (R x k), with
    dA/dt = -A + (n^T diag(phi'(x)) m / N) A; the other N - R exponents are the leak's. Otherwise
    V (dim x k) follows dV/dt = -V + DG(x) V (flow) or V' = DG(x) V (map).
    """
    factors = getattr(system, "factors", None)
    if system.time == "continuous" and factors is not None:
        m, n = factors
        nT = n.T / system.dim

        def target(state):
            x, A = state
            gain = 1.0 - np.tanh(x) ** 2
            return system.target(x), (nT @ (gain[:, None] * m)) @ A

        return target, m.shape[1], system.dim - m.shape[1]

    def target(state):
        x, V = state
        return system.target(x), system.target_jvp(x, V)

    return target, system.dim, 0


def lyapunov_spectrum(
    network_or_model,
    t_max: float,
    dt: float,
    *,
    time: str | None = None,
    n_exponents: int | None = None,
    t_warmup: float | None = None,
    method: str = "rk4",
    qr_every: int = 1,
    x0=None,
    inputs=None,
    seed=0,
    tol: float = 0.05,
) -> LyapunovSpectrum:
    """Leading Lyapunov exponents by the QR (Benettin) method.

    Parameters
    ----------
    network_or_model : LowRankNetwork, ndarray (N, N), lowrank.RNN, lowrank.MeanField, ...
        The dynamics (see the module docstring), as ``lowrank.dynamics.as_system`` reads them
        (also a dict of weights or a tuple (W, W_in[, b]), a torch ``nn.RNN`` / ``nn.RNNCell``
        or its state dict, a map). A weight matrix J means no inputs and no bias.
    t_max : float
        Averaging time (flows, in units of tau) or number of steps (maps).
    dt : float
        Time step of a flow; 1 for maps.
    time : {"continuous", "discrete"}, optional
        Required for a LowRankNetwork, a matrix, a dict or a tuple; models and MeanField use
        their own convention.
    n_exponents : int, optional
        k, the number of leading exponents (all by default). The tangent vectors cost O(N^2 k)
        per step for a dense coupling and O(N R k) for a flow with W = m n^T / N (no bulk), plus
        O(N^2) for the state and O(N k^2) per QR.
    t_warmup : float, optional
        Time (steps) run before averaging, with the tangent vectors evolving; t_max / 10 by default.
    method : {"rk4", "exp_euler", "euler"}
        Integrator of a flow (RK4 costs four couplings per step); ignored for maps.
    qr_every : int
        Steps between re-orthonormalisations. More than 1 is faster; a warning tells when the
        growth within a block (1e8) makes the small exponents unreliable.
    x0 : array_like (dim,), optional
        Initial state; N(0, 1/4) per coordinate (seeded) by default.
    inputs : array_like (K,), optional
        A constant input u.
    seed : int or numpy.random.Generator
        Seeds x0 (when not given) and the initial tangent vectors.
    tol : float
        Convergence tolerance on the relative change of the estimates over the second half.

    Returns
    -------
    LyapunovSpectrum
        ``change`` is the convergence residual; ``converged`` is ``change <= tol``.

    Raises
    ------
    FloatingPointError
        If the state or the tangent vectors became non-finite.

    Warns
    -----
    ConvergenceWarning
        (a RuntimeWarning) when the estimates still moved by more than ``tol`` over the second
        half of the run; the message gives ``change``.
    RuntimeWarning
        When ``qr_every`` is too large for the growth within a block.
    """
    system = as_system(
        network_or_model, time, inputs, default_time=None, name="network_or_model"
    )
    dim = system.dim
    dt = as_float(dt, "dt", positive=True)
    method = choose(method, "method", FLOW_METHODS)
    n_steps = step_count(t_max, dt, system.time)
    if n_steps < 2:
        raise ValueError(f"t_max must cover at least two steps, got {n_steps}")
    n_warm = (
        n_steps // 10 if t_warmup is None else step_count(t_warmup, dt, system.time, "t_warmup")
    )
    k = dim if n_exponents is None else as_int(n_exponents, "n_exponents", minimum=1, maximum=dim)
    qr_every = as_int(qr_every, "qr_every", minimum=1)
    tol = as_float(tol, "tol", positive=True)
    rng = as_rng(seed)
    x = 0.5 * rng.standard_normal(dim) if x0 is None else as_array(x0, "x0", shape=(dim,)).copy()
    target, tangent_dim, n_leak = _tangent_dynamics(system)
    Q = np.linalg.qr(rng.standard_normal((tangent_dim, min(k, tangent_dim))))[0]
    step = stepper(target, system.time, method, dt)
    unit = dt if system.time == "continuous" else 1.0

    n_blocks = -(-n_steps // qr_every)
    record_every = max(1, n_blocks // _MAX_HISTORY)
    times, history = [], []
    total = np.zeros(Q.shape[1])
    spread = 0.0
    with threadpool_limits(1):
        for _ in range(n_warm):
            x, Q = step((x, Q))
            Q = np.linalg.qr(Q)[0]
        done = 0
        for block in range(n_blocks):
            for _ in range(min(qr_every, n_steps - done)):
                x, Q = step((x, Q))
                done += 1
            Q, R = np.linalg.qr(Q)
            with np.errstate(divide="ignore"):  # a rank-deficient map has exponents -inf
                logs = np.log(np.abs(np.diag(R)))
            if qr_every > 1:
                spread = max(spread, float(logs.max() - logs.min()))
            total += logs
            if (block + 1) % record_every == 0 or block == n_blocks - 1:
                times.append(done * unit)
                history.append(total / (done * unit))
    if np.any(np.isnan(total)) or np.any(total == np.inf):
        raise FloatingPointError(
            "the tangent dynamics produced non-finite values (a diverging state?)"
        )
    if spread > _MAX_BLOCK_SPREAD:
        warnings.warn(
            f"lyapunov_spectrum: tangent vectors grew apart by e^{spread:.0f} within a block of "
            f"qr_every={qr_every} steps; the smallest exponents lose precision, lower qr_every",
            RuntimeWarning,
            stacklevel=2,
        )
    times, history = np.array(times), np.array(history)
    leak = np.full(n_leak, np.log(abs(_leak_growth(method, dt))) / dt)
    history = np.concatenate([history, np.broadcast_to(leak, (len(times), len(leak)))], axis=1)
    order = np.argsort(-history[-1], kind="stable")[:k]
    exponents, history = history[-1, order], history[:, order]
    half = history[int(np.searchsorted(times, 0.5 * times[-1]))]
    with np.errstate(invalid="ignore"):  # -inf - (-inf)
        moved = np.abs(exponents - half) / np.maximum(1.0, np.abs(exponents))
    change = float(np.max(np.where(np.isinf(exponents), 0.0, moved)))
    converged = change <= tol
    if not converged:
        warnings.warn(
            f"lyapunov_spectrum: the estimates moved by {change:.1e} (relative) over the second "
            "half "
            f"of the run, above tol={tol:.0e}; raise t_max",
            ConvergenceWarning,
            stacklevel=2,
        )
    return LyapunovSpectrum(
        exponents=exponents,
        times=times,
        history=history,
        kaplan_yorke=kaplan_yorke_dimension(exponents),
        change=change,
        converged=bool(converged),
        time=system.time,
    )
