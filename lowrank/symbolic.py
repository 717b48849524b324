"""Symbolic mean-field equations of low-rank networks, derived with sympy and compiled with numba.

Three systems are derived for rank R, K inputs and P Gaussian populations (weights alpha_p),
with means and covariances of the loadings as symbols (docs/theory, sections theory-meanfield
and theory-bulk):

``latent`` (no bulk, Beiran et al. 2021, Neural Comput. 33:1572; Dubreuil et al. 2022)
    G_r(kappa) = sum_p alpha_p ( mu_{n_r,p} [phi]_p + (Sigma_{n_r m,p} kappa
    + Sigma_{n_r I,p} u) [phi']_p ), the Stein's-lemma form of <n_r phi(m.kappa + I.u)>, at
    mu_p = mu_{m,p}.kappa + mu_{I,p}.u and
    Delta_p = S_p = kappa^T Sigma_mm,p kappa + 2 kappa^T Sigma_mI,p u + u^T Sigma_II,p u.
    Fixed points solve kappa = G(kappa); in continuous time the coordinate v of the state along m
    obeys dv/dt = -v + G(v) with kappa = G(v) (docs/theory, section theory-latent-dynamics); the
    map is kappa' = G(kappa).
``static`` (random bulk g, Mastrogiuseppe & Ostojic 2018, Neuron 99:609)
    unknowns (kappa, D), D the bulk variance; Delta_p = S_p + D;
    F = (G(kappa, D), g^2 sum_q alpha_q [phi^2]_q). Static states solve y = F(y); their outlier
    eigenvalues are -1 + eig(dF/dy) (the linear response of (kappa, bulk variance) to a perturbation
    growing as e^{lambda t}; at g = 0 it reduces to M_n (M_m [phi'] + Sigma_m^2 kappa [phi''])).
    Extra output: the squared bulk radius g^2 sum_q alpha_q [phi'^2]_q of J diag(phi'(x*)).
``chaotic`` (dynamic mean-field theory)
    unknowns (kappa, D_0, ell) with D_inf = D_0 - exp(ell) (so D_0 > D_inf strictly),
    Delta_{0,p} = S_p + D_0, Delta_{inf,p} = S_p + D_inf, residuals
    kappa - G(kappa, D_0) with sign flipped, the energy balance of the autocorrelation
    [(D_0^2 - D_inf^2)/2 - g^2 sum_q alpha_q ([Phi^2]_q - E_z [Phi]_in,q^2)] / exp(ell), and
    D_inf - g^2 sum_q alpha_q E_z [phi]_in,q^2, with [f]_in,q(z) = [f](mu_q + sqrt(Delta_inf,q) z,
    D_0 - D_inf). Dividing the energy balance by exp(ell) = D_0 - D_inf removes the static
    solutions, which satisfy it trivially.

Gaussian averages stay as function symbols with exact derivative rules (the heat equation):
``GaussAvg(orders, mu, Delta)`` is [prod_i phi^(k_i)](mu, Delta), with d/dmu the product rule
and d/dDelta one half of the second derivative; ``GaussAvg2(k, l, mu, a, c)`` is
E[phi^(k)(X) phi^(l)(Y)] for X, Y ~ N(mu, a) with covariance c, with d/dc = E[phi^(k+1) phi^(l+1)]
(Price's theorem). Order -1 is the primitive Phi. Jacobians therefore come out exact.

Compilation: the terms of one population are derived once, as functions of the unknowns and of
the mean and variances of the input of phi (whose derivatives enter by the chain rule), and the
generated code loops over the populations, reading each one's parameters from the flat vector, so
that neither the derivation nor the code grows with P (R = 10, P = 8: ~3 s of sympy instead of
~45 s). The expressions are reduced with ``sympy.cse`` and printed as Python (the printer
``lambdify`` uses), the Gaussian averages become loops over the rules of
:mod:`lowrank.quadrature` (nested averages on its shared lattice), and the module is written to a
cache folder and decorated with ``numba.njit(cache=True)``. It is generated once per
(kind, R, K, P, phi) and compiled at first call, never at import; later sessions reuse numba's
on-disk cache of it.
The folder is ``codegen/`` in ``$LOWRANK_CACHE_DIR``, else in ``$NUMBA_CACHE_DIR/lowrank``, else in
``~/.cache/lowrank``. Nothing found there is trusted: the folder is created private (mode 0700)
and used only if it is a real folder owned by this user that no one else can write (else a
warning names it and a fresh private temporary folder serves the session); each module's name
holds a SHA-256 digest of its source, the file is compared byte for byte with the source generated
in this session (and rewritten if it differs), and what runs is that in-memory source, never the
file's content.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import shutil
import stat
import sys
import tempfile
import threading
import types
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sympy as sp
from sympy.core.function import ArgumentIndexError
from sympy.printing.pycode import PythonCodePrinter

from ._checks import as_float, as_int, choose

__all__ = [
    "X",
    "Nonlinearity",
    "as_nonlinearity",
    "GaussAvg",
    "GaussAvg2",
    "Equations",
    "derive_equations",
    "parameter_layout",
    "parameter_vector",
    "compile_equations",
    "generate_source",
    "CompiledEquations",
    "KINDS",
]

KINDS = ("latent", "static", "chaotic")
_CODEGEN_VERSION = "3"

#: The variable of the nonlinearity phi(x).
X = sp.Symbol("x", real=True)


# --- the nonlinearity ---------------------------------------------------------------------------
class Nonlinearity:
    """An elementwise nonlinearity phi given as a sympy expression in one variable.

    Parameters
    ----------
    expr : sympy expression
        phi(x), with exactly one free symbol.
    primitive : sympy expression, optional
        A primitive Phi (Phi' = phi) in the same symbol; needed only for the chaotic mean-field
        equations. If omitted it is found with ``sympy.integrate`` when first needed. Give a
        numerically stable form when the naive one overflows (as ``log(cosh(x))`` does).
    name : str, optional
        A label for messages.
    max_slope : float, optional
        A proven bound sup_x |phi'(x)| (1 for the presets "tanh" and "erf"). When given,
        ``MeanField.stationary_states`` skips the search for chaotic states where
        g max_slope <= 1, where none exists (``MeanField.chaos_excluded``). Only a rough numerical
        check is made (|phi'| <= max_slope (1 + 1e-9) on a grid), so give a true bound or none.
    """

    def __init__(
        self, expr, primitive=None, name: str | None = None, max_slope: float | None = None
    ):
        if not isinstance(expr, sp.Basic):
            raise TypeError(f"phi must be a sympy expression, got {type(expr).__name__}")
        free = expr.free_symbols
        if len(free) != 1:
            raise ValueError(
                "phi must be a sympy expression in exactly one variable, "
                f"got free symbols {sorted(map(str, free))}"
            )
        (var,) = free
        self.expr = expr.xreplace({var: X})
        self._primitive = None
        if primitive is not None:
            if not isinstance(primitive, sp.Basic):
                raise TypeError(
                    f"primitive must be a sympy expression, got {type(primitive).__name__}"
                )
            extra = primitive.free_symbols - {var}
            if extra:
                raise ValueError(
                    f"primitive must depend only on {var}, "
                    f"got extra symbols {sorted(map(str, extra))}"
                )
            self._primitive = primitive.xreplace({var: X})
            # checked at a few points (sympy.simplify of such forms takes seconds)
            gap = sp.diff(self._primitive, X) - self.expr
            points = (sp.Rational(-13, 7), sp.Rational(3, 7), sp.Rational(11, 5))
            if any(abs(complex(gap.subs(X, x).evalf(30))) > 1e-12 for x in points):
                raise ValueError(
                    "primitive is not a primitive of phi (its derivative differs from phi)"
                )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, got {type(name).__name__}")
        self.name = name or str(self.expr)
        self._derivatives: dict[int, sp.Expr] = {0: self.expr}
        self._key = None
        self.max_slope = None
        if max_slope is not None:
            self.max_slope = as_float(max_slope, "max_slope", minimum=0.0)
            slope = sp.lambdify(X, self.derivative(1), modules=["scipy", "numpy"])
            grid = np.linspace(-10.0, 10.0, 2001)
            worst = float(np.max(np.abs(np.broadcast_to(slope(grid), grid.shape))))
            if not worst <= self.max_slope * (1.0 + 1e-9):
                raise ValueError(
                    f"max_slope = {self.max_slope} is not a bound of |phi'|: "
                    f"|phi'| reaches {worst:.6g} on [-10, 10]"
                )

    def derivative(self, order: int) -> sp.Expr:
        """phi^(order)(x) for order >= 0; the primitive Phi for order -1."""
        order = as_int(order, "order", minimum=-1)
        if order == -1:
            return self.primitive
        if order not in self._derivatives:
            self._derivatives[order] = sp.diff(self.derivative(order - 1), X)
        return self._derivatives[order]

    @property
    def primitive(self) -> sp.Expr:
        """Phi with Phi' = phi (any constant; it cancels in the mean-field equations)."""
        if self._primitive is None:
            found = sp.integrate(self.expr, X)
            if found.has(sp.Integral):
                raise ValueError(
                    f"sympy found no primitive of phi = {self.expr}; "
                    "pass Nonlinearity(expr, primitive=...)"
                )
            self._primitive = found
        return self._primitive

    @property
    def key(self) -> str:
        """A string that identifies phi (and its primitive when given) for caching."""
        if self._key is None:
            prim = sp.srepr(self._primitive) if self._primitive is not None else ""
            self._key = sp.srepr(self.expr) + "|" + prim
        return self._key

    def __repr__(self) -> str:
        return f"Nonlinearity({self.name})"


def _presets() -> dict[str, Nonlinearity]:
    a = sp.sqrt(sp.pi) / 2
    return {
        # log cosh x written so that it never overflows
        "tanh": Nonlinearity(
            sp.tanh(X), sp.Abs(X) + sp.log(1 + sp.exp(-2 * sp.Abs(X))) - sp.log(2), "tanh",
            max_slope=1.0,  # tanh' = 1 - tanh^2 <= 1
        ),
        # erf scaled to unit slope at 0, like tanh
        "erf": Nonlinearity(
            sp.erf(a * X), X * sp.erf(a * X) + 2 * sp.exp(-((a * X) ** 2)) / sp.pi, "erf",
            max_slope=1.0,  # phi' = exp(-pi x^2 / 4) <= 1
        ),
    }


_PRESETS: dict[str, Nonlinearity] = {}


def as_nonlinearity(phi) -> Nonlinearity:
    """A Nonlinearity from a preset name ("tanh", "erf"), a sympy expression or a Nonlinearity."""
    if isinstance(phi, Nonlinearity):
        return phi
    if isinstance(phi, str):
        if not _PRESETS:
            _PRESETS.update(_presets())
        if phi not in _PRESETS:
            raise ValueError(
                f"unknown phi {phi!r}; expected one of {sorted(_PRESETS)} or a sympy expression"
            )
        return _PRESETS[phi]
    if isinstance(phi, sp.Basic):
        return Nonlinearity(phi)
    raise TypeError(
        f"phi must be a name, a sympy expression or a Nonlinearity, got {type(phi).__name__}"
    )


# --- Gaussian averages as function symbols ------------------------------------------------------
def _derive_monomials(poly: dict[tuple, sp.Expr]) -> dict[tuple, sp.Expr]:
    """d/dx of a linear combination of monomials prod_i phi^(k_i), by the product rule."""
    out: dict[tuple, sp.Expr] = {}
    for mono, coeff in poly.items():
        for i in range(len(mono)):
            new = tuple(sorted(mono[:i] + (mono[i] + 1,) + mono[i + 1 :]))
            out[new] = out.get(new, 0) + coeff
    return out


class GaussAvg(sp.Function):
    """[prod_i phi^(k_i)](mu, Delta): Gaussian average of a product of derivatives of phi.

    Arguments: ``orders`` (a sympy Tuple of integers >= -1, -1 meaning the primitive Phi),
    ``mu`` and ``Delta``. d/dmu [f] = [f'] and d/dDelta [f] = [f'']/2.
    """

    nargs = 3

    def _eval_derivative(self, s):
        _, mu, delta = self.args
        return self.fdiff(2) * mu.diff(s) + self.fdiff(3) * delta.diff(s)

    def fdiff(self, argindex=1):
        orders, mu, delta = self.args
        poly = {tuple(int(k) for k in orders): sp.Integer(1)}
        if argindex == 2:
            return _average_of(_derive_monomials(poly), mu, delta)
        if argindex == 3:
            return _average_of(_derive_monomials(_derive_monomials(poly)), mu, delta) / 2
        raise ArgumentIndexError(self, argindex)


def _average_of(poly: dict[tuple, sp.Expr], mu, delta) -> sp.Expr:
    return sp.Add(*[c * GaussAvg(sp.Tuple(*mono), mu, delta) for mono, c in poly.items()])


def gauss_avg(orders: Sequence[int], mu, delta) -> GaussAvg:
    """GaussAvg with the orders sorted (a canonical form)."""
    return GaussAvg(sp.Tuple(*sorted(int(k) for k in orders)), mu, delta)


class GaussAvg2(sp.Function):
    """E[phi^(k)(X) phi^(l)(Y)], X, Y ~ N(mu, a) with covariance c.

    d/dmu: E[phi^(k+1) phi^(l)] + E[phi^(k) phi^(l+1)]; d/da (c fixed): half the sum with each
    order raised by two; d/dc: E[phi^(k+1) phi^(l+1)]. Stored with k <= l.
    """

    nargs = 5

    @classmethod
    def eval(cls, k, l, mu, a, c):
        if int(k) > int(l):
            return cls(l, k, mu, a, c)
        return None

    def fdiff(self, argindex=1):
        k, l, mu, a, c = self.args
        if argindex == 3:
            return GaussAvg2(k + 1, l, mu, a, c) + GaussAvg2(k, l + 1, mu, a, c)
        if argindex == 4:
            return (GaussAvg2(k + 2, l, mu, a, c) + GaussAvg2(k, l + 2, mu, a, c)) / 2
        if argindex == 5:
            return GaussAvg2(k + 1, l + 1, mu, a, c)
        raise ArgumentIndexError(self, argindex)


# --- parameters ---------------------------------------------------------------------------------
_BLOCKS = (  # name, rows, cols (as functions of R, K), symmetric
    ("cov_mm", "R", "R", True),
    ("cov_nm", "R", "R", False),
    ("cov_mi", "R", "K", False),
    ("cov_ni", "R", "K", False),
    ("cov_ii", "K", "K", True),
)


def _structure(rank, n_inputs, n_populations) -> tuple[int, int, int]:
    """Check the structure (R >= 1, K >= 0, P >= 1) of a mean-field system."""
    return (
        as_int(rank, "rank", minimum=1),
        as_int(n_inputs, "n_inputs", minimum=0),
        as_int(n_populations, "n_populations", minimum=1),
    )


def parameter_layout(
    rank: int, n_inputs: int, n_populations: int
) -> list[tuple[str, int, int, int]]:
    """Order of the flat parameter vector: entries (name, population, i, j).

    First g, then for each population alpha_p, the means of m, n and I, and the covariance blocks
    Sigma_mm (upper triangle), Sigma_nm, Sigma_mI, Sigma_nI and Sigma_II (upper triangle).
    """
    return list(_layout(*_structure(rank, n_inputs, n_populations)))


@functools.cache
def _layout(rank: int, n_inputs: int, n_populations: int) -> tuple:
    """``parameter_layout`` of a checked structure, made once."""
    sizes = {"R": rank, "K": n_inputs}
    layout = [("g", -1, 0, 0)]
    for p in range(n_populations):
        layout.append(("alpha", p, 0, 0))
        for name, size in (("mean_m", rank), ("mean_n", rank), ("mean_inputs", n_inputs)):
            layout.extend((name, p, i, 0) for i in range(size))
        for name, rows, cols, symmetric in _BLOCKS:
            for i in range(sizes[rows]):
                layout.extend((name, p, i, j) for j in range(i if symmetric else 0, sizes[cols]))
    return tuple(layout)


def parameter_vector(loadings, g: float) -> np.ndarray:
    """Flat parameter vector (see ``parameter_layout``) of a Gaussian or mixture law and bulk g."""
    if not all(hasattr(loadings, a) for a in ("components", "weights", "rank", "n_inputs")):
        raise TypeError(
            "loadings must be GaussianLoadings or MixtureLoadings, "
            f"got {type(loadings).__name__}"
        )
    g = as_float(g, "g", minimum=0.0)
    comps, weights = loadings.components, loadings.weights
    values = []
    structure = _structure(loadings.rank, loadings.n_inputs, len(comps))
    for name, p, i, j in _layout(*structure):
        if name == "g":
            values.append(g)
        elif name == "alpha":
            values.append(weights[p])
        else:
            block = getattr(comps[p], name)
            values.append(block[i] if block.ndim == 1 else block[i, j])
    return np.asarray(values, dtype=np.float64)


@dataclass(frozen=True)
class Equations:
    """A derived mean-field system (sympy objects).

    Attributes
    ----------
    kind : str
        "latent", "static" or "chaotic" (see the module docstring).
    unknowns, inputs, parameters : tuple of sympy Symbols
        The state y, the inputs u and the flat parameter vector (``parameter_layout`` order).
    values : sympy Matrix
        G(kappa) (latent), F(kappa, D) (static) or the residuals (chaotic).
    extras : sympy Matrix
        Auxiliary outputs named by ``extra_names`` (means and variances per population, and for
        the static system the squared bulk radius).
    """

    kind: str
    unknowns: tuple
    inputs: tuple
    parameters: tuple
    values: sp.Matrix
    extras: sp.Matrix
    extra_names: tuple

    def jacobian(self) -> sp.Matrix:
        """d values / d unknowns, exact through the GaussAvg derivative rules."""
        return self.values.jacobian(sp.Matrix(self.unknowns))


@dataclass(frozen=True)
class _Split:
    """A mean-field system split into per-population terms and an outer map.

    Every population p contributes ``terms`` (written for one population, with the parameter
    symbols ``population``, the P = 1 layout less g, and the symbols of ``intermediates``, pairs
    (symbol, expression) such as the mean and variances of the input of phi), which are summed
    over p into the symbols ``sums``; ``values`` and ``extras`` (global extras) are expressions in
    the unknowns, the inputs, g and ``sums``; ``pop_extras`` are per-population extras (slot
    names ``slots``).
    """

    unknowns: tuple
    inputs: tuple
    g: sp.Symbol
    population: tuple
    intermediates: list
    terms: list
    pop_extras: list
    slots: tuple
    sums: tuple
    values: list
    extras: list
    extra_names: tuple


def _split_system(kind: str, R: int, K: int) -> _Split:
    """The system ``kind`` (module docstring) as per-population terms and an outer map."""
    kappa = sp.Matrix(sp.symbols(f"kappa_1:{R + 1}", real=True))
    u = sp.Matrix(sp.symbols(f"u_1:{K + 1}", real=True)) if K else sp.zeros(0, 1)
    theta, blocks = _parameter_symbols(R, K, 1)
    g, b = theta[0], blocks[0]
    alpha = b["alpha"]
    mu = (b["mean_m"].T * kappa)[0] + ((b["mean_inputs"].T * u)[0] if K else 0)
    S = (kappa.T * b["cov_mm"] * kappa)[0]
    cov_nx = b["cov_nm"] * kappa
    if K:
        S += 2 * (kappa.T * b["cov_mi"] * u)[0] + (u.T * b["cov_ii"] * u)[0]
        cov_nx += b["cov_ni"] * u

    M = sp.Symbol("M", real=True)  # mu, the mean of the input x of phi

    def stein(d):
        """<n phi(x)> of the population: alpha (mu_n [phi] + Cov(n, x) [phi']) (Stein's lemma)."""
        return list(alpha * (b["mean_n"] * gauss_avg((0,), M, d) + cov_nx * gauss_avg((1,), M, d)))

    n_sums = R + {"latent": 0, "static": 2, "chaotic": 2}[kind]
    sums = sp.symbols(f"Sigma_0:{n_sums}", real=True)
    stein_sums = list(sums[:R])
    extras: list = []
    V = sp.Symbol("V", real=True)  # Delta (static: S + D; chaotic: Delta_0 = S + D_0)
    if kind == "latent":
        unknowns = tuple(kappa)
        intermediates = [(M, mu), (V, S)]
        terms, pop_extras, slots = stein(V), [M, V], ("mu", "delta")
        values = stein_sums
    elif kind == "static":
        D = sp.Symbol("D", nonnegative=True)
        unknowns = tuple(kappa) + (D,)
        intermediates = [(M, mu), (V, S + D)]
        terms = stein(V) + [alpha * gauss_avg((0, 0), M, V), alpha * gauss_avg((1, 1), M, V)]
        pop_extras, slots = [M, V], ("mu", "delta")
        values = stein_sums + [g**2 * sums[R]]
        extras = [g**2 * sums[R + 1]]  # the squared bulk radius
    else:
        D0, ell = sp.Symbol("D_0", positive=True), sp.Symbol("ell", real=True)
        unknowns = tuple(kappa) + (D0, ell)
        gap = sp.exp(ell)
        Dinf = D0 - gap
        C = sp.Symbol("C", real=True)  # Delta_inf = S + D_inf
        intermediates = [(M, mu), (V, S + D0), (C, S + Dinf)]
        terms = stein(V) + [
            alpha * (gauss_avg((-1, -1), M, V) - GaussAvg2(-1, -1, M, V, C)),
            alpha * GaussAvg2(0, 0, M, V, C),
        ]
        pop_extras, slots = [M, V, C], ("mu", "delta0", "deltainf")
        values = [s - k for s, k in zip(stein_sums, kappa, strict=True)] + [
            ((D0**2 - Dinf**2) / 2 - g**2 * sums[R]) / gap,
            Dinf - g**2 * sums[R + 1],
        ]
    return _Split(
        unknowns, tuple(u), g, tuple(theta[1:]), intermediates, terms, pop_extras, slots, sums,
        values, extras,
        ("radius2",) if kind == "static" else (),
    )


def derive_equations(kind: str, rank: int, n_inputs: int = 0, n_populations: int = 1) -> Equations:
    """Derive the mean-field system ``kind`` for rank R, K inputs and P populations.

    The nonlinearity does not enter here: Gaussian averages stay as ``GaussAvg`` symbols. The
    terms of one population are derived once and copied to each population by substituting its
    parameters (``_split_system``).

    Examples
    --------
    >>> eq = derive_equations("latent", 1)
    >>> eq.values[0]  # doctest: +NORMALIZE_WHITESPACE
    alpha_1*(kappa_1*s_n1m1_1*GaussAvg((1,), kappa_1*mu_m1_1, kappa_1**2*s_m1m1_1)
    + mu_n1_1*GaussAvg((0,), kappa_1*mu_m1_1, kappa_1**2*s_m1m1_1))
    """
    choose(kind, "kind", KINDS)
    R, K, P = _structure(rank, n_inputs, n_populations)
    split = _split_system(kind, R, K)
    theta, _ = _parameter_symbols(R, K, P)
    stride = len(split.population)
    totals = [sp.Integer(0)] * len(split.sums)
    pop_extras: list[list] = [[] for _ in split.slots]
    inter = dict(split.intermediates)
    terms = [t.xreplace(inter) for t in split.terms]
    local_extras = [e.xreplace(inter) for e in split.pop_extras]
    for p in range(P):
        own = dict(zip(split.population, theta[1 + p * stride : 1 + (p + 1) * stride], strict=True))
        totals = [t + term.xreplace(own) for t, term in zip(totals, terms, strict=True)]
        for slot, e in zip(pop_extras, local_extras, strict=True):
            slot.append(e.xreplace(own))
    outer = dict(zip(split.sums, totals, strict=True))
    outer[split.g] = theta[0]
    values = [v.xreplace(outer) for v in split.values]
    extras = [e for slot in pop_extras for e in slot] + [e.xreplace(outer) for e in split.extras]
    names = [f"{name}_{p}" for name in split.slots for p in range(P)] + list(split.extra_names)
    return Equations(
        kind,
        split.unknowns,
        split.inputs,
        tuple(theta),
        sp.Matrix(values),
        sp.Matrix(extras),
        tuple(names),
    )


def _parameter_symbols(R: int, K: int, P: int):
    """Symbols of the flat parameter vector and, per population, the blocks as sympy matrices."""
    label = {
        "mean_m": "mu_m{i}",
        "mean_n": "mu_n{i}",
        "mean_inputs": "mu_I{i}",
        "cov_mm": "s_m{i}m{j}",
        "cov_nm": "s_n{i}m{j}",
        "cov_mi": "s_m{i}I{j}",
        "cov_ni": "s_n{i}I{j}",
        "cov_ii": "s_I{i}I{j}",
    }
    theta = []
    blocks = [
        {
            "mean_m": sp.zeros(R, 1),
            "mean_n": sp.zeros(R, 1),
            "mean_inputs": sp.zeros(K, 1),
            "cov_mm": sp.zeros(R, R),
            "cov_nm": sp.zeros(R, R),
            "cov_mi": sp.zeros(R, K),
            "cov_ni": sp.zeros(R, K),
            "cov_ii": sp.zeros(K, K),
        }
        for _ in range(P)
    ]
    for name, p, i, j in parameter_layout(R, K, P):
        if name == "g":
            sym = sp.Symbol("g", nonnegative=True)
        elif name == "alpha":
            sym = sp.Symbol(f"alpha_{p + 1}", positive=True)
            blocks[p]["alpha"] = sym
        else:
            sym = sp.Symbol(label[name].format(i=i + 1, j=j + 1) + f"_{p + 1}", real=True)
            blocks[p][name][i, j] = sym
            if name in ("cov_mm", "cov_ii"):
                blocks[p][name][j, i] = sym
        theta.append(sym)
    return theta, blocks


# --- code generation ------------------------------------------------------------------------------
class _Printer(PythonCodePrinter):
    def __init__(self):
        super().__init__({"fully_qualified_modules": True, "standard": "python3"})


def _cse_lines(exprs: list, prefix: str, printer: _Printer) -> tuple[list[str], list]:
    """Common-subexpression elimination: assignment lines and the reduced expressions."""
    replacements, reduced = sp.cse(
        exprs, symbols=sp.numbered_symbols(prefix), optimizations="basic"
    )
    lines = [f"{sym} = {printer.doprint(expr)}" for sym, expr in replacements]
    return lines, reduced


def _family_lines(nl: Nonlinearity, monomials: list[tuple], prefix: str, printer: _Printer):
    """Lines evaluating the products prod_i phi^(k_i)(x) at a node x, for each monomial.

    Where the products need both tanh(x) and exp(-2 |x|) (tanh and the overflow-free primitive
    log cosh x = |x| + log(1 + exp(-2 |x|)) - log 2 of the chaotic equations), tanh(x) is
    computed from the latter as sign(x) (1 - e) / (1 + e), e = exp(-2 |x|): one exponential per
    node instead of an exponential and a tanh (absolute error ~1e-16 either way)."""
    xs = sp.Symbol("x")
    exprs = [sp.Mul(*[nl.derivative(k) for k in mono]).xreplace({X: xs}) for mono in monomials]
    decay = sp.exp(-2 * sp.Abs(xs))
    if any(e.has(decay) for e in exprs) and any(e.has(sp.tanh(xs)) for e in exprs):
        exprs = [e.xreplace({sp.tanh(xs): sp.sign(xs) * (1 - decay) / (1 + decay)}) for e in exprs]
    return _cse_lines(exprs, prefix, printer)


def _moment_lines(nl: Nonlinearity, monomials: list[tuple], names: list, prefix: str, printer):
    """Lines of the averages [prod_i phi^(k_i)] of one quadrature from the power moments
    E[phi^j] (j = 0 .. d), when every product is a polynomial of degree d in phi(x) itself (as
    for tanh, whose derivatives are polynomials in tanh): one phi and d products per node
    instead of every product; else None."""
    xs = sp.Symbol("x")
    inner = nl.expr.xreplace({X: xs})
    if not inner.is_Function:  # phi is a single function call, e.g. tanh(x)
        return None
    t = sp.Dummy("t")
    polys = []
    for mono in monomials:
        expr = sp.expand(sp.Mul(*[nl.derivative(k) for k in mono]).xreplace({X: xs}))
        expr = expr.xreplace({inner: t})
        if expr.has(xs) or not expr.is_polynomial(t):
            return None
        polys.append(sp.Poly(expr, t))
    degree = max(p.degree() for p in polys)
    moments = [sp.Symbol(f"{prefix}{j}") for j in range(degree + 1)]
    lines = [f"{m} = 0.0 if _n >= 0 else math.nan" for m in moments]
    lines += ["for _i in range(_n):", "    _pw = _w[_i]"]
    lines += [f"    _ph = {printer.doprint(inner.xreplace({xs: sp.Symbol('_x[_i]')}))}"]
    lines += [f"    {moments[0]} += _pw"]
    for m in moments[1:]:
        lines += ["    _pw *= _ph", f"    {m} += _pw"]
    for name, poly in zip(names, polys, strict=True):
        value = sum(
            (c * moments[j] for (j,), c in poly.terms()), sp.Integer(0)
        )
        lines += [f"{name} = {printer.doprint(value)}"]
    return lines


def _accumulate(indent: str, count: str, family: list, sums: list, printer: _Printer) -> list[str]:
    """Lines of a quadrature loop: for each node x, the family lines, then s += w * expr."""
    lines = [
        f"{indent}for _i in range({count}):",
        f"{indent}    x = _x[_i]",
        f"{indent}    _wi = _w[_i]",
    ]
    lines += [f"{indent}    {line}" for line in family]
    lines += [f"{indent}    {s} += _wi * ({printer.doprint(e)})" for s, e in sums]
    return lines


def _inner_pass(
    center: str, target: dict, sums: list, family: list, indent: str, printer
) -> list[str]:
    """Inner averages [phi^(k)](center, a - |c|) of a bivariate group into ``target``."""
    lines = [f"{indent}_ni = rule({center}, _va - abs(_vc), _x, _w)"]
    lines += [f"{indent}{target[k]} = 0.0" for k, _ in sums]
    return lines + _accumulate(indent, "_ni", family, [(target[k], e) for k, e in sums], printer)


def _lattice_pass(orders, family, family_exprs, names, atoms, printer) -> list[str]:
    """Lines of the nested averages of a bivariate group on the shared lattice
    (``nested_grid``): the family phi^(k) at every lattice point, the inner averages as discrete
    convolutions (``_B[q, j]`` at outer node j, every ``_st``-th lattice point, with the inner
    weights of row ``_kb * j``: one row for all, or one per outer node off the lattice), then
    the outer sums, mirrored (j -> 2 N_o - j) for c < 0."""
    q_of = {k: q for q, k in enumerate(orders)}
    lines = ["if _nl >= 0:", "    _no = 2 * _ld[0] + 1", "    _ni = 2 * _ld[1] + 1"]
    lines += ["    _st = _ld[2]", "    _kb = _ld[3]"]
    lines += _accumulate_lattice(family, family_exprs, printer)
    lines += ["    for _j in range(_no):"]
    lines += [f"        _s{q} = 0.0" for q in range(len(orders))]
    lines += ["        for _m in range(_ni):", "            _km = _li[_kb * _j + _m]"]
    lines += [f"            _s{q} += _km * _L[{q}, _st * _j + _m]" for q in range(len(orders))]
    lines += [f"        _B[{q}, _j] = _s{q}" for q in range(len(orders))]
    return lines + _outer_sum_lines("_no", "_no", "_lo", names, atoms, q_of, "    ")


def _outer_sum_lines(loop: str, count: str, weights: str, names, atoms, q_of: dict,
                     indent: str) -> list[str]:
    """Lines of the outer sums of the nested averages from the inner averages ``_B`` at the
    outer nodes j < ``loop`` (weights ``weights[j]``): each atom [phi^(k)] [phi^(l)] adds
    w_j B_k(y_j) B_l(y_j'), with j' = j for c >= 0 and the mirrored node ``count`` - 1 - j
    for c < 0."""
    lines = [
        f"{indent}for _j in range({loop}):",
        f"{indent}    _jj = _j if _vc >= 0.0 else {count} - 1 - _j",
        f"{indent}    _wj = {weights}[_j]",
    ]
    for n, atom in zip(names, atoms, strict=True):
        k, l = q_of[int(atom.args[0])], q_of[int(atom.args[1])]
        lines += [f"{indent}    {n} += _wj * _B[{k}, _j] * _B[{l}, _jj]"]
    return lines


def _accumulate_lattice(family: list, family_exprs: list, printer: _Printer) -> list[str]:
    """Lines storing the family phi^(k)(x) at every lattice point x in ``_L[q, k]``."""
    lines = ["    for _k in range(_nl):", "        x = _lx[_k]"]
    lines += [f"        {line}" for line in family]
    lines += [
        f"        _L[{q}, _k] = {printer.doprint(e)}" for q, e in enumerate(family_exprs)
    ]
    return lines


def _quadrature_lines(exprs: list, nl: Nonlinearity, printer: _Printer, indent: str):
    """Lines computing the Gaussian averages in ``exprs`` (one quadrature per argument group) and
    the reduced expressions: (lines, reduced, largest bivariate family or 0)."""
    uni: dict[tuple, dict] = {}
    bi: dict[tuple, dict] = {}
    for e in exprs:
        for atom in sorted(e.atoms(GaussAvg), key=sp.default_sort_key):
            uni.setdefault(atom.args[1:], {})[atom] = None
        for atom in sorted(e.atoms(GaussAvg2), key=sp.default_sort_key):
            bi.setdefault(atom.args[2:], {})[atom] = None
    atom_symbol: dict = {}
    arg_exprs = [a for key in list(uni) + list(bi) for a in key]
    lines, arg_reduced = _cse_lines(arg_exprs, "_p", printer)
    body = list(lines)
    pos = 0
    for g_index, atoms in enumerate(map(list, uni.values())):
        mu, delta = arg_reduced[pos : pos + 2]
        pos += 2
        monos = [tuple(int(k) for k in a.args[0]) for a in atoms]
        names = [f"_a{len(atom_symbol) + i}" for i in range(len(atoms))]
        atom_symbol.update({a: sp.Symbol(n) for a, n in zip(atoms, names, strict=True)})
        body += [f"_n = rule({printer.doprint(mu)}, {printer.doprint(delta)}, _x, _w)"]
        moments = _moment_lines(nl, monos, names, f"_m{g_index}_", printer)
        if moments is not None:
            body += moments
            continue
        fam, fam_exprs = _family_lines(nl, monos, f"_f{g_index}_", printer)
        body += [f"{n} = 0.0 if _n >= 0 else math.nan" for n in names]
        body += _accumulate("", "_n", fam, list(zip(names, fam_exprs, strict=True)), printer)
    n_family = 0
    for g_index, atoms in enumerate(map(list, bi.values())):
        mu, a, c = arg_reduced[pos : pos + 3]
        pos += 3
        orders = sorted({int(k) for atom in atoms for k in atom.args[:2]})
        inner = {k: f"_b{g_index}_{k + 1}" for k in orders}
        names = [f"_a{len(atom_symbol) + i}" for i in range(len(atoms))]
        atom_symbol.update({at: sp.Symbol(n) for at, n in zip(atoms, names, strict=True)})
        fam, fam_exprs = _family_lines(nl, [(k,) for k in orders], f"_g{g_index}_", printer)
        other = {k: f"_c{g_index}_{k + 1}" for k in orders}

        # X = mu + sqrt(a - |c|) x + sqrt(|c|) z, Y = mu + sqrt(a - |c|) y + sign(c) sqrt(|c|) z
        body += [
            f"_va = {printer.doprint(a)}",
            f"_vc = {printer.doprint(c)}",
            f"_vm = {printer.doprint(mu)}",
            "_ok = _va - abs(_vc) >= 0.0",
            "_nl = nested_grid(_vm, abs(_vc), _va - abs(_vc), _lx, _lo, _li, _ld) if _ok else -1",
            "_n = rule(_vm, abs(_vc), _xo, _wo) if _ok and _nl < 0 else -1",
            "_ok = _nl >= 0 or _n >= 0",
        ]
        body += [f"{n} = 0.0 if _ok else math.nan" for n in names]
        n_family = max(n_family, len(orders))
        body += _lattice_pass(orders, fam, fam_exprs, names, atoms, printer)
        # fallback (a lattice too fine for the two variances): nested composite rules; for c < 0
        # the inner averages at the mirrored nodes 2 mu - y_j, which are nodes y_{n-1-j} too
        # where the outer rule is symmetric about mu (Gauss-Hermite, trapezoid; else computed)
        body += [
            "_sym = True",
            "for _j in range(_n if _vc < 0.0 else 0):",
            "    if abs(_xo[_j] + _xo[_n - 1 - _j] - 2.0 * _vm) > 1e-13 * (1.0 + abs(_xo[_j])):",
            "        _sym = False",
            "for _j in range(_n):",
        ]
        sums = list(zip(orders, fam_exprs, strict=True))
        q_of = {k: q for q, k in enumerate(orders)}
        body += _inner_pass("_xo[_j]", inner, sums, fam, "    ", printer)
        body += ["    if _sym:"]
        body += [f"        _B[{q_of[k]}, _j] = {inner[k]}" for k in orders]
        body += ["    else:"]
        body += _inner_pass("2.0 * _vm - _xo[_j]", other, sums, fam, "        ", printer)
        body += ["        _wj = _wo[_j]"]
        for n, atom in zip(names, atoms, strict=True):
            k, l = int(atom.args[0]), int(atom.args[1])
            body += [f"        {n} += _wj * {inner[k]} * {other[l]}"]
        body += _outer_sum_lines("_n if _sym else 0", "_n", "_wo", names, atoms, q_of, "")
    final = [e.xreplace(atom_symbol) for e in exprs]
    lines, reduced = _cse_lines(final, "_o", printer)
    body += lines
    return [indent + line for line in body], reduced, n_family


def _function_source(
    name: str, split: _Split, n_populations: int, nl: Nonlinearity, with_jacobian: bool
) -> str:
    """Source of one compiled function filling ``out`` (and ``jac``) and ``extra``.

    The terms of one population are derived and printed once, inside a loop over the populations
    that reads population p's parameters from ``theta[1 + p stride:]`` and adds its terms (and
    their derivatives) to running sums; the outer map and its chain rule follow the loop. The
    code size and the derivation cost therefore do not grow with the number of populations.
    """
    printer = _Printer()
    P, n_y = n_populations, len(split.unknowns)
    stride = len(split.population)
    rename = {s: sp.Symbol(f"y{i}") for i, s in enumerate(split.unknowns)}
    rename.update({s: sp.Symbol(f"u{i}") for i, s in enumerate(split.inputs)})
    rename.update({s: sp.Symbol(f"th{i + 1}") for i, s in enumerate(split.population)})
    rename[split.g] = sp.Symbol("th0")
    sum_sym = [sp.Symbol(f"_S{j}") for j in range(len(split.sums))]
    dsum = [[sp.Symbol(f"_dS{j}_{k}") for k in range(n_y)] for j in range(len(split.sums))]
    rename.update(dict(zip(split.sums, sum_sym, strict=True)))

    # the loop over populations: terms (and d terms / d unknowns) into running sums; the terms
    # depend on the unknowns directly and through the intermediates z (mean and variances), whose
    # derivatives dz/dy_k are computed once: d term/dy_k = partial_k term + sum_z dterm/dz dz/dy_k
    rename.update({z: sp.Symbol(f"_z{i}") for i, (z, _) in enumerate(split.intermediates)})
    first = [(f"{rename[z]} =", e) for z, e in split.intermediates]
    targets = [(f"{sym} +=", t) for sym, t in zip(sum_sym, split.terms, strict=True)]
    if with_jacobian:
        dz = {
            (z, k): sp.Symbol(f"_d{rename[z]}_{k}")
            for z, _ in split.intermediates
            for k in range(n_y)
        }
        first += [
            (f"{dz[z, k]} =", e.diff(y))
            for z, e in split.intermediates
            for k, y in enumerate(split.unknowns)
        ]
        targets += [
            (
                f"{dsum[j][k]} +=",
                t.diff(y) + sp.Add(*[t.diff(z) * dz[z, k] for z, _ in split.intermediates]),
            )
            for j, t in enumerate(split.terms)
            for k, y in enumerate(split.unknowns)
        ]
    n_slots = len(split.slots)
    targets += [(f"extra[{i} * {P} + _q] =", e) for i, e in enumerate(split.pop_extras)]
    head, head_reduced = _cse_lines([e.xreplace(rename) for _, e in first], "_h", printer)
    exprs = [e.xreplace(rename) for _, e in targets]
    lines, reduced, n_family = _quadrature_lines(exprs, nl, printer, "        ")
    loop = [f"    {s} = 0.0" for s in sum_sym]
    if with_jacobian:
        loop += [f"    {d} = 0.0" for row in dsum for d in row]
    loop += [f"    for _q in range({P}):"]
    loop += [f"        th{i + 1} = theta[{1 + i} + _q * {stride}]" for i in range(stride)]
    loop += [f"        {line}" for line in head]
    loop += [
        f"        {t} {printer.doprint(r)}" for (t, _), r in zip(first, head_reduced, strict=True)
    ]
    loop += lines
    loop += [
        f"        {t} {printer.doprint(r)}" for (t, _), r in zip(targets, reduced, strict=True)
    ]

    # the outer map, and its Jacobian by the chain rule through the sums
    outer = [(f"out[{i}]", v) for i, v in enumerate(split.values)]
    if with_jacobian:
        for i, v in enumerate(split.values):
            for k, y in enumerate(split.unknowns):
                total = v.diff(y) + sp.Add(
                    *[v.diff(s) * dsum[j][k] for j, s in enumerate(split.sums)]
                )
                outer.append((f"jac[{i}, {k}]", total))
    outer += [(f"extra[{n_slots * P + i}]", e) for i, e in enumerate(split.extras)]
    tail, tail_reduced = _cse_lines([e.xreplace(rename) for _, e in outer], "_t", printer)
    body = loop + [f"    {line}" for line in tail]
    body += [
        f"    {t} = {printer.doprint(r)}" for (t, _), r in zip(outer, tail_reduced, strict=True)
    ]
    header = [
        "@njit(cache=True, error_model='numpy')",
        f"def {name}(y, u, theta, out, {'jac, ' if with_jacobian else ''}extra):",
    ]
    unpack = [f"    y{i} = y[{i}]" for i in range(n_y)]
    unpack += [f"    u{i} = u[{i}]" for i in range(len(split.inputs))]
    unpack += ["    th0 = theta[0]"]
    unpack += ["    _x = np.empty(MAX_NODES)", "    _w = np.empty(MAX_NODES)"]
    if n_family:
        unpack += ["    _xo = np.empty(MAX_NODES)", "    _wo = np.empty(MAX_NODES)"]
        unpack += [f"    {b} = np.empty(MAX_LATTICE)" for b in ("_lx", "_lo")]
        unpack += ["    _li = np.empty(MAX_KERNEL)", "    _ld = np.zeros(4, dtype=np.int64)"]
        unpack += [f"    {b} = np.empty(({n_family}, MAX_LATTICE))" for b in ("_L", "_B")]
    return "\n".join(header + unpack + body + ["    return None", ""])


def generate_source(kind: str, rank: int, n_inputs: int, n_populations: int, phi) -> str:
    """Python source of the compiled module for one structure (see ``compile_equations``)."""
    nl = as_nonlinearity(phi)
    choose(kind, "kind", KINDS)
    R, K, P = _structure(rank, n_inputs, n_populations)
    split = _split_system(kind, R, K)
    names = [f"{name}_{p}" for name in split.slots for p in range(P)] + list(split.extra_names)
    head = (
        f'"""Generated by lowrank.symbolic: {kind} mean-field equations, rank {R}, '
        f'{K} inputs, {P} populations, phi = {nl.name}. Do not edit."""\n'
        "import math\n\nimport numpy as np\nfrom numba import njit\n\n"
        "from lowrank.quadrature import MAX_KERNEL, MAX_LATTICE, MAX_NODES, nested_grid, rule\n\n"
        f"N_UNKNOWNS = {len(split.unknowns)}\nN_VALUES = {len(split.values)}\n"
        f"EXTRA_NAMES = {tuple(names)!r}\n\n\n"
    )
    return (
        head
        + _function_source("value", split, P, nl, with_jacobian=False)
        + "\n\n"
        + _function_source("value_jacobian", split, P, nl, with_jacobian=True)
    )


class CompiledEquations:
    """Compiled mean-field system: numba functions behind small numpy wrappers.

    Attributes
    ----------
    kind : str
    n_unknowns, n_values : int
    extra_names : tuple of str
    """

    def __init__(self, kind: str, module):
        self.kind = kind
        self._module = module
        self.n_unknowns = module.N_UNKNOWNS
        self.n_values = module.N_VALUES
        self.extra_names = module.EXTRA_NAMES

    def value(
        self, y: np.ndarray, u: np.ndarray, theta: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Values and extras at state y, inputs u, parameters theta (float64 arrays)."""
        out = np.empty(self.n_values)
        extra = np.empty(len(self.extra_names))
        self._module.value(y, u, theta, out, extra)
        return out, extra

    def value_jacobian(self, y: np.ndarray, u: np.ndarray, theta: np.ndarray):
        """Values, Jacobian (n_values, n_unknowns) and extras."""
        out = np.empty(self.n_values)
        jac = np.empty((self.n_values, self.n_unknowns))
        extra = np.empty(len(self.extra_names))
        self._module.value_jacobian(y, u, theta, out, jac, extra)
        return out, jac, extra


_COMPILED: dict[tuple, CompiledEquations] = {}
_LOCK = threading.Lock()


def _cache_dir() -> Path:
    """Private folder for generated modules (see the module docstring).

    ``$LOWRANK_CACHE_DIR/codegen``, else ``$NUMBA_CACHE_DIR/lowrank/codegen``, else
    ``~/.cache/lowrank/codegen``, created with mode 0700. If it cannot be created or is unsafe
    (``_unsafe``), a RuntimeWarning says why and a fresh private temporary folder of this process
    (``tempfile.mkdtemp``, removed at exit) is used instead.
    """
    if os.environ.get("LOWRANK_CACHE_DIR"):
        base = Path(os.environ["LOWRANK_CACHE_DIR"])
    elif os.environ.get("NUMBA_CACHE_DIR"):
        base = Path(os.environ["NUMBA_CACHE_DIR"]) / "lowrank"
    else:
        base = Path.home() / ".cache" / "lowrank"
    folder = base / "codegen"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        problem = f"cannot be created ({exc})"
    else:
        problem = _unsafe(folder)
    if problem is None:
        return folder
    warnings.warn(
        f"lowrank: the code cache {str(folder)!r} {problem}; this session writes its generated "
        "code to a fresh private temporary folder instead (set LOWRANK_CACHE_DIR to a folder "
        "only you can write to keep it between sessions)",
        RuntimeWarning,
        stacklevel=4,
    )
    return _session_folder()


def _unsafe(folder: Path) -> str | None:
    """Why ``folder`` must not hold code we run, or None when it is safe.

    Safe: a real folder (not a symbolic link) that this process can write, owned by this user, and
    writable by neither its group nor others. Ownership and mode are checked where the system has
    user ids (POSIX).
    """
    try:
        info = os.lstat(folder)
    except OSError as exc:
        return f"cannot be inspected ({exc})"
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a folder"
    if hasattr(os, "getuid"):
        if info.st_uid != os.getuid():
            return f"belongs to user id {info.st_uid}, not to this user ({os.getuid()})"
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return f"is writable by other users (mode {stat.S_IMODE(info.st_mode):o})"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "is not writable"
    return None


_SESSION_FOLDER: list[Path] = []


def _session_folder() -> Path:
    """This process's private temporary folder (mode 0700, unique name), made once."""
    if not _SESSION_FOLDER:
        folder = Path(tempfile.mkdtemp(prefix="lowrank-codegen-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _SESSION_FOLDER.append(folder)
    return _SESSION_FOLDER[0]


def _read_bytes(path: Path) -> bytes | None:
    """The content of ``path`` (None if missing, unreadable, a link or not a regular file)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read() if stat.S_ISREG(os.fstat(f.fileno()).st_mode) else None


def _load_module(mod_name: str, source: str):
    """Import ``source`` as module ``mod_name``, backed by a verified file in the cache folder.

    The file (which numba's on-disk cache is keyed on) is rewritten unless its bytes equal
    ``source``; the module then runs ``source`` itself, so no other content can be executed.
    """
    folder = _cache_dir()
    path = folder / f"{mod_name}.py"
    data = source.encode()
    if _read_bytes(path) != data:  # missing, stale, or not ours: write it afresh
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{mod_name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    code = compile(source, str(path), "exec")
    module = types.ModuleType(mod_name)
    module.__file__ = str(path)
    sys.modules[mod_name] = module
    exec(code, module.__dict__)  # noqa: S102 - our own generated source, verified above
    return module


def _module_name(kind: str, source: str) -> str:
    """Name of a generated module: a SHA-256 digest of its source and of the code it calls."""
    digest = hashlib.sha256((_source_fingerprint() + source).encode()).hexdigest()[:32]
    return f"lowrank_mf_{kind}_{digest}"


def _source_fingerprint() -> str:
    """Hash of the code the generated modules depend on, so an upgrade invalidates them."""
    from . import quadrature

    digest = hashlib.sha256(_CODEGEN_VERSION.encode())
    for path in (quadrature.__file__, __file__):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def compile_equations(
    kind: str, rank: int, n_inputs: int = 0, n_populations: int = 1, phi="tanh"
) -> CompiledEquations:
    """The compiled system ``kind`` for one structure, generated once and cached (memory and disk).

    Parameters
    ----------
    kind : {"latent", "static", "chaotic"}
    rank, n_inputs, n_populations : int
    phi : str, sympy expression or Nonlinearity

    Notes
    -----
    The first call for a structure in a session derives the equations with sympy (under a second)
    and numba compiles them on their first evaluation (several seconds, cached on disk).
    """
    nl = as_nonlinearity(phi)
    choose(kind, "kind", KINDS)
    rank, n_inputs, n_populations = _structure(rank, n_inputs, n_populations)
    key = (kind, rank, n_inputs, n_populations, nl.key)
    with _LOCK:
        if key in _COMPILED:
            return _COMPILED[key]
        source = generate_source(kind, rank, n_inputs, n_populations, nl)
        module = _load_module(_module_name(kind, source), source)
        compiled = CompiledEquations(kind, module)
        _COMPILED[key] = compiled
        return compiled
