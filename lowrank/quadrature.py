"""Gaussian averages [f](mu, Delta) = E_z f(mu + sqrt(Delta) z), z ~ N(0, 1).

Mean-field theory needs these averages of the nonlinearity and its derivatives (docs/theory,
sections theory-meanfield and theory-bulk; this rule: theory-quadrature). A fixed Gauss-Hermite
rule fails for large Delta: in the variable z the integrand of [phi'] is a spike of width
~1/sqrt(Delta), and the poles of tanh at x = i pi (k + 1/2) sit at a distance ~1/sqrt(Delta)
from the real z axis, so the rule's convergence rate collapses (200 nodes give
[phi'](0, 127) = 0.0497 instead of 0.0706).

The rule here is composite Gauss-Legendre in the variable x = mu + sqrt(Delta) z on the interval
|z| <= Z_MAX, with breakpoints taken from two grids:

- the Gaussian grid x = mu + sqrt(Delta) k Z_STEP, so that no panel spans more than Z_STEP
  standard deviations (the Gaussian factor stays well resolved for any Delta);
- a feature grid 0, +-1, +-2, +-4, ... geometric around the origin, so that a panel's width never
  exceeds its distance to the origin (plus one). Nonlinearities such as tanh, erf or softplus
  have their singularities in the complex plane on the imaginary axis, at distance >= ~1 from the
  real axis, so every panel stays well inside the region where f is analytic and Gauss-Legendre
  converges geometrically.

Ten Gauss-Legendre nodes per panel give a relative accuracy of ~1e-13 for smooth bounded
functions and their derivatives, for Delta from 0 to beyond 1e4 (tests/test_quadrature.py compares
with ``scipy.integrate.quad``). The number of nodes grows only logarithmically with Delta (about
200 nodes at Delta = 1, 350 at Delta = 1e4).

For small variances (standard deviation up to ~1.6) the trapezoidal rule on a uniform grid needs
fewer nodes at the same accuracy: for an integrand analytic in the strip |Im x| < d it converges
geometrically, with error ~ exp(-2 pi d / h) for the spacing h in x, plus the aliasing of the
Gaussian factor ~ exp(-2 pi^2 (sd / h)^2) (Trefethen & Weideman 2014, SIAM Rev. 56:385); with
h = min(0.2, sd / 2) both are below 1e-13 for d >= ~1 (37 nodes for a small variance, 91 at
Delta = 1). Tiny variances (sd <= 0.05) get a Gauss-Hermite rule of 1 to 10 nodes, exact to
~1e-18 there. The nested averages of the chaotic equations, E_z g([f](mu + sqrt(c) z, v)), use
that rule for both variables on one shared lattice (``lattice``): f is evaluated once per
lattice point and each inner average is a discrete convolution, a few hundred evaluations of f
where nested rules need tens of thousands. The inner average of f over a variance v > 0 is an
entire function, so the outer rule may be coarser than the lattice: its nodes are every S-th
lattice point, with S h up to half the smaller standard deviation (``lattice``). Where the outer
variance is much the smaller (the chaotic states near D_inf = 0), a lattice holding the outer
nodes would be needlessly fine: the outer nodes (Gauss-Hermite) then lie off a lattice of the
inner spacing, each with its own row of inner weights (``nested_grid``).

The rules are numba kernels (``rule``, ``lattice``, ``nested_grid``) that fill caller-provided
buffers (``MAX_NODES``, ``MAX_LATTICE``, ``MAX_KERNEL``), so compiled mean-field code can call
them without allocating; ``gauss_rule``, ``gaussian_average`` and ``nested_average`` are the
Python-level entry points.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numba import njit

from ._checks import as_float

__all__ = [
    "gauss_rule",
    "gaussian_average",
    "nested_average",
    "rule",
    "lattice",
    "nested_grid",
    "MAX_NODES",
    "MAX_LATTICE",
    "MAX_KERNEL",
]

NODES_PER_PANEL = 10
Z_MAX = 10.0
Z_STEP = 2.0
_N_Z_PANELS = int(round(2.0 * Z_MAX / Z_STEP))
_MAX_OCTAVE = 40  # feature grid up to 2**40, far beyond any variance met in practice
_N_BREAKS = _N_Z_PANELS + 1 + 2 * (_MAX_OCTAVE + 1) + 1
MAX_NODES = NODES_PER_PANEL * (_N_BREAKS - 1)

_LEG_T, _LEG_W = np.polynomial.legendre.leggauss(NODES_PER_PANEL)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


#: spacing of the lattice in x: trapezoidal error ~ exp(-2 pi d / H_MAX) for singularities of the
#: integrand at distance d >= ~1 from the real axis (tanh, erf, softplus: d >= pi / 2)
H_MAX = 0.2
#: spacing of the lattice in units of either standard deviation: Gaussian aliasing error
#: ~ 2 exp(-2 pi^2 / 0.5^2) ~ 1e-34, and room for the growth exp(d^2 / (2 var)) of the Gaussian
#: factor towards singularities at distance d when the variance is small
HZ_MAX = 0.5
#: half-width of the lattice in units of either standard deviation (tail mass ~ 2e-19)
LATTICE_Z = 9.0
#: most lattice points; beyond, the nested averages fall back to ``rule``
MAX_LATTICE = 1601
#: costs in ``nested_grid``'s choice between its two lattices, in units of one term of an inner
#: average (a product and a sum per function of the family): an evaluation of the family at a
#: lattice point (transcendental functions), and a term with its weight off the lattice
GRID_COST = 10.0
SHIFTED_COST = 1.7
#: size of the inner-weight buffer of ``nested_grid``: one row of lattice weights per outer node
#: where the outer nodes are off the lattice (at most this many weights in all)
MAX_KERNEL = 8 * MAX_LATTICE
#: the outer nodes of ``lattice`` are every S-th lattice point, S h <= OUTER_HZ times the smaller
#: standard deviation: outer error ~ exp(-pi^2 / OUTER_HZ^2) ~ 7e-18 (see ``lattice``)
OUTER_HZ = 0.5
#: ``rule`` is the trapezoidal rule of ``lattice`` (one variance) when it needs at most this many
#: nodes (standard deviations up to ~1.6), or, up to ``MAX_NODES``, when it costs less than the
#: composite Gauss-Legendre rule at the same mean and variance (``LEGENDRE_COST``); else the latter
MAX_TRAPEZOID = 151
#: cost of a node of the composite Gauss-Legendre rule relative to one of the trapezoid (its
#: weight needs an exponential; the trapezoid's come from the recurrence of GAUSS_REFRESH), in
#: ``rule``'s choice between the two (a node of the mean-field integrands costs ~12-30 ns)
LEGENDRE_COST = 1.2
#: the Gaussian weights exp(-z^2 / 2) of the trapezoidal rules are computed by the recurrence
#: e_{j+1} = e_j r_j, r_{j+1} = r_j exp(-h^2) (h the spacing in z), restarted from exact values
#: every this many nodes: two exponentials per GAUSS_REFRESH nodes instead of one per node, for
#: a relative error of ~1e-14 at most (at |z| ~ 9, where exp of the rounded argument -z^2 / 2
#: is itself off by ~5e-15 and the weights are below 1e-17)
GAUSS_REFRESH = 8
#: standard deviations up to this get a Gauss-Hermite rule (instead of the 37 nodes of the
#: trapezoid), with the fewest nodes n <= HERMITE_NODES such that n! sd^(2n) <= HERMITE_ERROR: for
#: f analytic in the disc of radius d >= 1 around each point its error is at most
#: n! (sd / d)^(2n) sup|f| (Cauchy's bound on f^(2n) in the Gauss-Hermite remainder). It is what
#: makes the nested averages cheap at a tiny outer variance (the chaotic state with mean 0 has
#: Delta_inf ~ 0 and an outer variance of the size of Newton's last step: 1 to 3 outer nodes
#: instead of a lattice with spacing h < sd / 2)
HERMITE_SD = 0.05
HERMITE_NODES = 10
HERMITE_ERROR = 1e-18
#: most outer Gauss-Hermite nodes of ``nested_grid`` (odd numbers only), with the error bound of
#: HERMITE_NODES; a larger outer variance gets the outer rule of ``rule``
OUTER_HERMITE_NODES = 21
_HERM_T = np.zeros((OUTER_HERMITE_NODES + 1, OUTER_HERMITE_NODES))
_HERM_W = np.zeros((OUTER_HERMITE_NODES + 1, OUTER_HERMITE_NODES))
for _n in range(1, OUTER_HERMITE_NODES + 1):
    _t, _w = np.polynomial.hermite_e.hermegauss(_n)
    _t = 0.5 * (_t - _t[::-1])  # exactly symmetric about 0
    _HERM_T[_n, :_n], _HERM_W[_n, :_n] = _t, _w / math.sqrt(2.0 * math.pi)


@njit(cache=True)
def rule(mu: float, delta: float, x: np.ndarray, w: np.ndarray) -> int:
    """Fill ``x`` and ``w`` with nodes and weights of E f(mu + sqrt(delta) z); return their number.

    sum_i w_i f(x_i) approximates [f](mu, delta); the weights include the Gaussian density and
    sum to 1 up to ~1e-16, for any finite mu and delta (they are computed in the standard
    variable z). Tiny variances (standard deviation up to HERMITE_SD) get a Gauss-Hermite rule of
    at most HERMITE_NODES nodes (error <= HERMITE_ERROR sup|f|), others the trapezoidal rule of
    ``lattice`` (spacing min(H_MAX, HZ_MAX sqrt(delta)) over LATTICE_Z standard deviations) or
    the composite Gauss-Legendre rule of the module docstring, whichever costs less
    (``LEGENDRE_COST``; the trapezoid up to MAX_TRAPEZOID nodes without comparing).
    ``delta = 0`` gives the single node mu; a negative or non-finite ``delta`` or ``mu`` returns
    -1 (and no nodes).
    The buffers must hold at least ``MAX_NODES`` entries.
    """
    if not (delta >= 0.0) or not math.isfinite(delta) or not math.isfinite(mu):
        return -1
    s = math.sqrt(delta)
    if s == 0.0:
        x[0] = mu
        w[0] = 1.0
        return 1
    if s <= HERMITE_SD:
        n = 1
        bound = delta  # n! s^(2n)
        while n < HERMITE_NODES and bound > HERMITE_ERROR:
            n += 1
            bound *= n * delta
        for k in range(n):
            x[k] = mu + s * _HERM_T[n, k]
            w[k] = _HERM_W[n, k]
        return n
    h = min(H_MAX, HZ_MAX * s)
    # compared as a float first: numba's ceil returns an int64, which a huge delta overflows
    trapezoid = LATTICE_Z * s / h <= (MAX_NODES - 1) // 2
    half = int(math.ceil(LATTICE_Z * s / h)) if trapezoid else 0
    if trapezoid and 2 * half + 1 <= MAX_TRAPEZOID:  # the trapezoid: fewer nodes
        return _trapezoid_rule(mu, s, h / s, half, x, w)
    # breakpoints in the standard variable z = (x - mu) / s, so that the weights do not depend
    # on the rounding of x near a large mu and no square overflows for a large delta
    breaks = np.empty(_N_BREAKS)
    nb = 0
    for k in range(_N_Z_PANELS + 1):
        breaks[nb] = -Z_MAX + k * Z_STEP
        nb += 1
    breaks[nb - 1] = Z_MAX
    point = 0.0
    for octave in range(_MAX_OCTAVE + 2):
        for feature in (point, -point):
            z = (feature - mu) / s
            if -Z_MAX < z < Z_MAX and (feature != 0.0 or octave == 0):
                breaks[nb] = z
                nb += 1
        point = 1.0 if octave == 0 else 2.0 * point
    b = np.sort(breaks[:nb])
    if trapezoid:  # the trapezoid where it costs less than the panels below
        panels = 0
        for p in range(nb - 1):
            panels += b[p + 1] > b[p]
        if 2 * half + 1 <= LEGENDRE_COST * NODES_PER_PANEL * panels:
            return _trapezoid_rule(mu, s, h / s, half, x, w)
    n = 0
    for p in range(nb - 1):
        half = 0.5 * (b[p + 1] - b[p])
        if half <= 0.0:
            continue
        mid = 0.5 * (b[p + 1] + b[p])
        for q in range(NODES_PER_PANEL):
            zq = mid + half * _LEG_T[q]
            x[n] = mu + s * zq
            w[n] = half * _LEG_W[q] * _INV_SQRT_2PI * math.exp(-0.5 * zq * zq)
            n += 1
    return n



@njit(cache=True)
def lattice(mu: float, c: float, v: float, x: np.ndarray, wo: np.ndarray, ki: np.ndarray,
            dims: np.ndarray) -> int:
    """Shared lattice of the nested averages E_z g(A(mu + sqrt(c) z)), A(y) = E f(y + sqrt(v) x).

    Both Gaussian averages are trapezoidal rules on one lattice x_k = mu + (k - S N_o - N_i) h,
    k = 0 .. 2 (S N_o + N_i), with spacing h = min(H_MAX, HZ_MAX sqrt(c), HZ_MAX sqrt(v)): the
    inner nodes of an outer node y are the lattice points y + (m - N_i) h (kernel ``ki[m]``,
    m = 0 .. 2 N_i, N_i = ceil(LATTICE_Z sqrt(v) / h)), and the outer nodes are every S-th
    lattice point, y_j = x_{S j + N_i} = mu + (j - N_o) S h (weights ``wo[j]``, j = 0 .. 2 N_o,
    N_o = ceil(LATTICE_Z sqrt(c) / (S h))). So f is evaluated once per lattice point and the
    inner averages are discrete convolutions: A(y_j) = sum_m ki[m] f(x_{S j + m}).

    For integrands analytic in a strip |Im x| < d the trapezoidal rule converges geometrically
    (Trefethen & Weideman 2014, SIAM Rev. 56:385): the inner rule's error is ~ exp(-2 pi d / h)
    from the strip plus ~ exp(-2 pi^2 (sd / h)^2) from the Gaussian factor, ~1e-13 or below for
    d >= 1. The outer integrand g(A(y)) needs no such care: A, a Gaussian average of f over
    variance v > 0, is entire, growing at most like exp(t^2 / (2 v)) at distance t from the real
    axis, so the outer rule's error is ~ exp(-pi^2 v / H^2) (products of two such A) plus the
    aliasing exp(-2 pi^2 c / H^2) of its own Gaussian factor, for the outer spacing H = S h.
    The stride S is the largest integer with S h <= OUTER_HZ min(sqrt(c), sqrt(v)) (at least
    1): both errors are then below ~1e-16 (tests/test_meanfield_fast.py compares with
    adaptive quadrature), and the convolution costs S times less.
    A zero variance gives one node. The mirrored outer nodes 2 mu - y_j are y_{2 N_o - j}.

    Returns the number of lattice points (and ``dims`` = (N_o, N_i, S)), or -1 when an argument
    is negative or not finite, or when more than MAX_LATTICE points would be needed (then the
    caller uses ``rule``). Buffers must hold MAX_LATTICE entries, ``dims`` 3.
    """
    if not math.isfinite(mu):
        return -1
    h, stride, no, ni = _lattice_plan(c, v)
    if stride < 0:
        return -1
    n = 2 * (stride * no + ni) + 1
    dims[0] = no
    dims[1] = ni
    dims[2] = stride
    for k in range(n):
        x[k] = mu + (k - stride * no - ni) * h
    _trapezoid_weights(stride * h, math.sqrt(c), no, wo)
    _trapezoid_weights(h, math.sqrt(v), ni, ki)
    return n


@njit(cache=True)
def _lattice_plan(c: float, v: float) -> tuple:
    """(h, S, N_o, N_i) of ``lattice`` for the variances c and v; S = -1 when an argument is
    negative or not finite or when the lattice would exceed MAX_LATTICE points."""
    if not (c >= 0.0 and v >= 0.0 and math.isfinite(c) and math.isfinite(v)):
        return 0.0, -1, 0, 0
    so = math.sqrt(c)
    si = math.sqrt(v)
    h = H_MAX
    if so > 0.0:
        h = min(h, HZ_MAX * so)
    if si > 0.0:
        h = min(h, HZ_MAX * si)
    # as floats first: numba's ceil returns an int64, which a huge variance overflows
    if LATTICE_Z * (so + si) / h > (MAX_LATTICE - 1) // 2:
        return 0.0, -1, 0, 0
    stride = max(1, int(OUTER_HZ * min(so, si) / h))
    no = int(math.ceil(LATTICE_Z * so / (stride * h))) if so > 0.0 else 0
    ni = int(math.ceil(LATTICE_Z * si / h)) if si > 0.0 else 0
    if 2 * (stride * no + ni) + 1 > MAX_LATTICE:
        return 0.0, -1, 0, 0
    return h, stride, no, ni


@njit(cache=True)
def nested_grid(mu: float, c: float, v: float, x: np.ndarray, wo: np.ndarray, ki: np.ndarray,
                dims: np.ndarray) -> int:
    """``lattice``, or, where that would be too fine or costlier (a small outer variance c next
    to a larger inner one v: the lattice spacing follows the smaller standard deviation), the
    same inner trapezoidal rule on a lattice that the outer nodes need not lie on, with one row
    of inner weights per outer node; whichever is cheaper (``GRID_COST``, ``SHIFTED_COST``).

    The regular case is ``lattice``, with ``dims[3] = 0``. Otherwise the outer nodes y_j are
    those of the Gauss-Hermite rule with the fewest, odd, nodes n <= OUTER_HERMITE_NODES with
    n! c^n <= HERMITE_ERROR (the bound of ``rule``'s), else those of ``rule(mu, c)``, and the
    lattice x_k = mu + (k - N) h has the spacing h = min(H_MAX, HZ_MAX sqrt(v)) of the inner
    rule alone, over LATTICE_Z sqrt(v) beyond the outermost y_j. The inner average at y_j is
    sum_k K_jk f(x_k), with the trapezoidal weights K_jk = h phi_v(x_k - y_j) of the Gaussian
    centred at y_j (``_shifted_weights``, by the recurrence of ``GAUSS_REFRESH``): the rule of the
    analytic integrand f(x) phi_v(x - y_j) on a uniform grid, which converges geometrically
    whatever the offset of the grid (Trefethen & Weideman 2014, SIAM Rev. 56:385), with the
    errors of ``lattice`` (the inner spacing and half-width are the same). So f is evaluated
    once per lattice point, not once per inner node of every outer node as with nested rules.
    Then ``dims`` = (N_o, N_i, 0, 2 N_i + 1): 2 N_o + 1 outer nodes (weights ``wo``), every
    inner average over the whole lattice of 2 N_i + 1 points, row j of the weights at
    ``ki[j dims[3]:]``. The outer rule is symmetric about mu (the mirrored node 2 mu - y_j is
    y_{2 N_o - j}).

    Returns the number of lattice points, or -1 when neither fits the buffers (``x`` and ``wo``
    of MAX_LATTICE entries, ``ki`` of MAX_KERNEL, ``dims`` of 4): then the caller uses nested
    rules (``rule``).
    """
    _, stride, no, ni = _lattice_plan(c, v)
    if stride >= 0 and not (c > 0.0 and v > 0.0 and math.isfinite(mu)):
        dims[3] = 0
        return lattice(mu, c, v, x, wo, ki, dims)
    if not (c > 0.0 and v > 0.0 and math.isfinite(c) and math.isfinite(v)
            and math.isfinite(mu)):
        return -1
    si = math.sqrt(v)
    h = min(H_MAX, HZ_MAX * si)
    outer = np.empty(MAX_NODES)
    n_out = 1
    bound = c  # n! c^n, the error bound of HERMITE_NODES for f analytic at distance >= 1
    while n_out < OUTER_HERMITE_NODES and (bound > HERMITE_ERROR or n_out % 2 == 0):
        n_out += 1
        bound *= n_out * c
    if bound <= HERMITE_ERROR:
        for k in range(n_out):
            outer[k] = mu + math.sqrt(c) * _HERM_T[n_out, k]
            wo[k] = _HERM_W[n_out, k]
    else:
        n_out = rule(mu, c, outer, wo)
    half = -1
    if n_out >= 1 and n_out % 2 == 1:
        reach = max(abs(outer[0] - mu), abs(outer[n_out - 1] - mu)) + LATTICE_Z * si
        if reach / h <= (MAX_LATTICE - 1) // 2:
            half = int(math.ceil(reach / h))
    n = 2 * half + 1
    shifted = half >= 0 and n * n_out <= MAX_KERNEL
    if stride >= 0:  # both fit: the cheaper (GRID_COST)
        regular = GRID_COST * (2 * (stride * no + ni) + 1) + (2 * no + 1) * (2 * ni + 1)
        if not (shifted and GRID_COST * n + SHIFTED_COST * n_out * n < regular):
            dims[3] = 0
            return lattice(mu, c, v, x, wo, ki, dims)
    if not shifted:
        return -1
    for k in range(n):
        x[k] = mu + (k - half) * h
    hz = h / si
    for j in range(n_out):
        # z_k = (x_k - y_j) / si = (k - half) hz - (y_j - mu) / si
        _shifted_weights(-half * hz - (outer[j] - mu) / si, hz, n, ki, j * n)
    dims[0] = (n_out - 1) // 2
    dims[1] = half
    dims[2] = 0
    dims[3] = n
    return n


@njit(cache=True)
def _shifted_weights(z0: float, hz: float, n: int, out: np.ndarray, offset: int) -> None:
    """out[offset + k] = hz exp(-(z0 + k hz)^2 / 2) / sqrt(2 pi), k = 0 .. n - 1, by the
    recurrence of ``GAUSS_REFRESH`` (the ratio of two neighbours is exp(-hz (z_k + hz / 2)))."""
    scale = hz * _INV_SQRT_2PI
    step = math.exp(-hz * hz)
    value = ratio = 0.0
    for k in range(n):
        if k % GAUSS_REFRESH == 0:
            z = z0 + k * hz
            value = scale * math.exp(-0.5 * z * z)
            ratio = math.exp(-hz * (z + 0.5 * hz))
        else:
            value *= ratio
            ratio *= step
        out[offset + k] = value


@njit(cache=True)
def _trapezoid_weights(h: float, sd: float, half: int, out: np.ndarray) -> None:
    """Weights of the trapezoidal rule with spacing h in x for a Gaussian of standard deviation
    ``sd`` at the nodes k h, k = -half .. half (one node of weight 1 when sd = 0)."""
    if sd > 0.0:
        _gauss_weights(h / sd, half, out)
    else:
        out[0] = 1.0


@njit(cache=True)
def _gauss_weights(hz: float, half: int, out: np.ndarray) -> None:
    """out[half + j] = out[half - j] = hz exp(-(j hz)^2 / 2) / sqrt(2 pi), j = 0 .. half: the
    weights of the trapezoidal rule with spacing hz in the standard variable z (the right half by
    ``_shifted_weights``, mirrored)."""
    _shifted_weights(0.0, hz, half + 1, out, half)
    for j in range(1, half + 1):
        out[half - j] = out[half + j]


@njit(cache=True)
def _trapezoid_rule(mu: float, s: float, hz: float, half: int, x: np.ndarray,
                    w: np.ndarray) -> int:
    """The trapezoidal rule of ``rule``: nodes mu + s k hz, k = -half .. half, and weights."""
    for k in range(2 * half + 1):
        x[k] = mu + s * ((k - half) * hz)
    _gauss_weights(hz, half, w)
    return 2 * half + 1


def nested_average(f: Callable, g: Callable, mu: float, c: float, v: float) -> float:
    """E_z g(A(mu + sqrt(c) z)) with A(y) = E_x f(y + sqrt(v) x), on the lattice of
    ``nested_grid``.

    For example E[phi(X) phi(Y)] for X, Y ~ N(mu, c + v) with covariance c is
    ``nested_average(phi, np.square, mu, c, v)``. ``f`` and ``g`` are vectorised callables.
    Raises ValueError when the lattice would exceed MAX_LATTICE points.
    """
    mu = as_float(mu, "mu")
    c = as_float(c, "c", minimum=0.0)
    v = as_float(v, "v", minimum=0.0)
    x, wo, ki = np.empty(MAX_LATTICE), np.empty(MAX_LATTICE), np.empty(MAX_KERNEL)
    dims = np.zeros(4, dtype=np.int64)
    n = nested_grid(mu, c, v, x, wo, ki, dims)
    if n < 0:
        raise ValueError("the lattice would exceed MAX_LATTICE points; use nested rules")
    no, ni, stride, row = (int(d) for d in dims)
    values = np.asarray(f(x[:n]), dtype=np.float64)
    inner = np.array(
        [
            ki[row * j : row * j + 2 * ni + 1] @ values[stride * j : stride * j + 2 * ni + 1]
            for j in range(2 * no + 1)
        ]
    )
    return float(wo[: 2 * no + 1] @ np.asarray(g(inner), dtype=np.float64))


def gauss_rule(mu: float, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the Gaussian average at mean ``mu`` and variance ``delta``.

    Parameters
    ----------
    mu : float
        Mean of the Gaussian variable.
    delta : float
        Its variance, >= 0.

    Returns
    -------
    x, w : ndarray
        Nodes and weights with sum_i w_i f(x_i) ~= E f(mu + sqrt(delta) z).
    """
    mu = as_float(mu, "mu")
    delta = as_float(delta, "delta", minimum=0.0)
    x = np.empty(MAX_NODES)
    w = np.empty(MAX_NODES)
    n = rule(mu, delta, x, w)
    return x[:n].copy(), w[:n].copy()


def gaussian_average(f: Callable[[np.ndarray], np.ndarray], mu: float, delta: float) -> float:
    """[f](mu, Delta) = E_z f(mu + sqrt(Delta) z), z ~ N(0, 1), for a vectorised callable ``f``.

    Accurate to ~1e-12 for smooth functions whose singularities lie at distance >= ~1 from the
    real axis near the origin (tanh, erf, softplus and their derivatives), for any Delta in
    [0, 1e4] and beyond; see the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> d1 = gaussian_average(lambda x: 1 - np.tanh(x) ** 2, 0.3, 2.0)
    >>> d2 = gaussian_average(lambda x: np.tanh(x) ** 2, 0.3, 2.0)
    >>> round(d1 + d2, 12)
    1.0
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    x, w = gauss_rule(mu, delta)
    values = np.asarray(f(x), dtype=np.float64)
    if values.shape != x.shape:
        raise ValueError(
            f"f must map an array of shape {x.shape} to the same shape, got {values.shape}"
        )
    return float(np.dot(w, values))
