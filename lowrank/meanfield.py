"""Mean-field latent dynamics of low-rank networks: fixed points, stability and (D)MFT with a bulk.

For a network whose neurons' loadings (m, n, I) follow a Gaussian or a mixture of Gaussians, in
the limit N -> infinity and without a random bulk (Beiran et al. 2021, Neural Comput. 33:1572;
docs/theory, sections theory-meanfield and theory-latent-dynamics), the latent variables
kappa_r = <n_r phi(x)> are kappa = G(v, w) with

    continuous time:  dv/dt = -v + G(v, w),  dw/dt = -w + u   (x = m v + I w),
    discrete time:    kappa_{t+1} = G(kappa_t, u_t),
    G_r = sum_p alpha_p ( mu_{n_r,p} [phi]_p
                          + (Sigma_{n_r m,p} kappa + Sigma_{n_r I,p} u) [phi']_p ),

so that fixed points solve kappa = G(kappa, u) in both conventions (v = kappa, w = u there).

With a random bulk g chi (Mastrogiuseppe & Ostojic 2018, Neuron 99:609; docs/theory, section
theory-bulk) the latent variables are no longer a closed dynamical system; ``stationary_states``
returns the static and chaotic solutions of the (dynamic) mean-field theory instead. The
equations are derived and compiled by :mod:`lowrank.symbolic`.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import warnings

import numpy as np
import sympy as sp

from ._checks import (
    MAX_STEPS,
    DivergenceWarning,
    as_array,
    as_float,
    as_int,
    as_rng,
    choose,
    step_count,
)
from .dynamics import (
    STABILITY_TOL,
    SolverReport,
    growth_rates,
    sort_eigenvalues,
    warn_report,
)
from .dynamics.manifold import find_manifold
from .dynamics.solve import (
    LOOSE_TOL,
    MIN_STEP,
    XTOL,
    NewtonResult,
    RootSearch,
    _gap,
    _solve,
    newton,
)
from .dynamics.stability import _classify_rates, _tol
from .dynamics.steppers import stepper
from .loadings import GaussianLoadings, MixtureLoadings
from .meanfield_kernels import NewtonKernel
from .meanfield_results import (
    FixedPoint,
    LatentFixedPoints,
    LatentTrajectory,
    StationaryState,
    StationaryStates,
)
from .symbolic import CompiledEquations, X, as_nonlinearity, compile_equations, parameter_vector

__all__ = [
    "MeanField",
    "FixedPoint",
    "LatentFixedPoints",
    "StationaryState",
    "StationaryStates",
    "LatentTrajectory",
]

#: two solutions closer than this (absolute and relative, max-norm) are one (``unique_points``)
SAME_ATOL = SAME_RTOL = 1e-5
#: max |phi| on [-3, 3] of each nonlinearity (by ``Nonlinearity.key``), computed once a session
_PHI_SCALES: dict = {}
#: most entries of each memo below (``_remember``)
MEMO_SIZE = 256
#: the sign flips of the residuals (``MeanField._flips``), by law, inputs and nonlinearity
_FLIPS: dict = {}
#: the kappa starts of the searches (``MeanField._starts``), by law, nonlinearity and seed
_STARTS: dict = {}
#: the parameters of each law other than g (``parameter_vector`` less its first entry, read-only),
#: by ``_law_key``: a model built per value of g re-reads none of the law's blocks
_LAW_PARAMETERS: dict = {}
#: the compiled systems, by (kind, rank, n_inputs, n_populations, ``Nonlinearity.key``), the key
#: of ``compile_equations``'s own cache (whose argument checks a model built per parameter value
#: would otherwise repeat)
_EQUATIONS: dict = {}


class MeanField:
    """Mean-field theory of a low-rank network with Gaussian (mixture) loadings.

    Parameters
    ----------
    loadings : GaussianLoadings or MixtureLoadings
        The law of each neuron's row (m_1..m_R, n_1..n_R, I_1..I_K).
    g : float
        Strength of the random bulk g chi, >= 0.
    phi : str, sympy expression or Nonlinearity
        The elementwise nonlinearity: "tanh" (default), "erf" (erf(sqrt(pi) x / 2)), or any sympy
        expression in one variable.
    time : {"continuous", "discrete"}
        Flow dkappa/dt = -kappa + G or map kappa' = G; decides what "stable" means.

    Examples
    --------
    The pitchfork of a rank-one network with overlap 2 (docs/theory, section theory-reference):

    >>> from lowrank import GaussianLoadings
    >>> mf = MeanField(GaussianLoadings([0, 0], [[1, 2], [2, 5]], rank=1))
    >>> [round(float(p.kappa[0]), 6) for p in mf.fixed_points()]  # doctest: +SKIP
    [0.0, -1.337109, 1.337109]
    """

    def __init__(self, loadings, g: float = 0.0, phi="tanh", time: str = "continuous"):
        if type(loadings) not in (GaussianLoadings, MixtureLoadings) and not (
            hasattr(loadings, "components")
            and hasattr(loadings, "weights")
            and hasattr(loadings, "rank")
            and hasattr(loadings, "n_inputs")
        ):
            raise TypeError(
                "loadings must be GaussianLoadings or MixtureLoadings, "
                f"got {type(loadings).__name__}"
            )
        self.loadings = loadings
        self.g = as_float(g, "g", minimum=0.0)
        self.phi = as_nonlinearity(phi)
        self.time = choose(time, "time", ("continuous", "discrete"))
        self.rank = loadings.rank
        self.n_inputs = loadings.n_inputs
        self.n_populations = len(loadings.components)
        self.theta = _parameters(loadings, self.g)
        self._phi_scale = self._kappa_scale = None
        self._compiled: dict[str, CompiledEquations] = {}
        self._residuals: dict[tuple, object] = {}  # residual_function's, by (kind, inputs)

    def __repr__(self) -> str:
        return (
            f"MeanField(rank={self.rank}, n_inputs={self.n_inputs}, "
            f"populations={self.n_populations}, "
            f"g={self.g}, phi={self.phi.name}, time={self.time!r})"
        )

    # --- helpers ------------------------------------------------------------------------------
    def _equations(self, kind: str) -> CompiledEquations:
        if kind not in self._compiled:
            key = (kind, self.rank, self.n_inputs, self.n_populations, self.phi.key)
            if key not in _EQUATIONS:  # checked and compiled once a session per structure
                _EQUATIONS[key] = compile_equations(
                    kind, self.rank, self.n_inputs, self.n_populations, self.phi
                )
            self._compiled[kind] = _EQUATIONS[key]
        return self._compiled[kind]

    def _inputs(self, inputs) -> np.ndarray:
        if inputs is None:
            return np.zeros(self.n_inputs)
        return as_array(inputs, "inputs", shape=(self.n_inputs,), allow_empty=True)

    def _kappa(self, kappa, name: str = "kappa") -> np.ndarray:
        return as_array(kappa, name, shape=(self.rank,))

    def _require_closed(self, what: str) -> None:
        if self.g > 0:
            raise ValueError(
                f"{what} needs g = 0: with a random bulk (g = {self.g}) the latent variables are "
                "not a closed dynamical system; use stationary_states() for the static and "
                "chaotic solutions"
            )

    @property
    def _is_flow(self) -> bool:
        return self.time == "continuous"

    def _stability(self, eigenvalues: np.ndarray, tol: float, edge: float | None = None) -> str:
        """"stable" / "unstable" / "marginal" of one linearisation in this time convention
        (``classify``), with ``edge`` (a real eigenvalue: the edge of the bulk) one more
        eigenvalue when given; on the growth rates as floats (a few: numpy's per-call overhead
        dominates)."""
        rates = growth_rates(eigenvalues, self.time).tolist()
        if edge is not None:
            rates.append(edge if self._is_flow else abs(edge) - 1.0)
        return _classify_rates(rates, _tol(tol))

    def _sorted_eigenvalues(self, matrix: np.ndarray) -> np.ndarray:
        """Eigenvalues of ``matrix``, least stable first."""
        return sort_eigenvalues(_eigenvalues(matrix), self.time)

    def kappa_scale(self) -> float:
        """Typical size of kappa: sqrt(max_r E[n_r^2]) times the size of phi on [-3, 3]."""
        if self._kappa_scale is not None:
            return self._kappa_scale
        if self._phi_scale is None:
            self._phi_scale = _PHI_SCALES.get(self.phi.key)
        if self._phi_scale is None:
            f = sp.lambdify(X, self.phi.expr, modules=["scipy", "numpy"])
            grid = np.linspace(-3.0, 3.0, 61)
            self._phi_scale = float(np.max(np.abs(np.broadcast_to(f(grid), grid.shape))))
            _PHI_SCALES[self.phi.key] = self._phi_scale
        second = sum(
            w * (c.mean_n**2 + np.diag(c.cov_nn))
            for w, c in zip(self.loadings.weights, self.loadings.components, strict=True)
        )
        self._kappa_scale = float(np.sqrt(np.max(second))) * max(self._phi_scale, 1e-3)
        return self._kappa_scale

    def _starts(self, n_starts: int, seed) -> np.ndarray:
        """Newton starts: the origin, +-eigenvectors of the overlap matrix, random points; made
        once per law, nonlinearity, number and integer seed (``_STARTS``: they do not depend on
        g, which is not in ``theta[1:]``)."""
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            return self._make_starts(n_starts, seed)
        key = (self.rank, self.n_inputs, self.phi.key, self.theta[1:].tobytes(), n_starts, seed)
        starts = _STARTS.get(key)
        if starts is None:
            starts = self._make_starts(n_starts, seed)
            _remember(_STARTS, key, starts)
        return starts.copy()

    def _make_starts(self, n_starts: int, seed) -> np.ndarray:
        """``_starts``, drawn afresh."""
        R = self.rank
        scale = 1.2 * max(self.kappa_scale(), 1e-6)
        starts = [np.zeros(R)]
        values, vectors = np.linalg.eig(self.loadings.overlaps())
        for v in vectors.T:
            v = v.real / max(np.linalg.norm(v.real), 1e-300)
            for frac in (0.4, 0.8):
                starts += [frac * scale * v, -frac * scale * v]
        rng = as_rng(seed)
        rest = max(n_starts - len(starts), 0)
        z = rng.standard_normal((rest, R))
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        z *= scale * rng.uniform(0.0, 1.0, (rest, 1)) ** (1.0 / R)
        return np.concatenate([np.array(starts), z])[: max(n_starts, 1)]

    # --- closed latent dynamics (g = 0) -------------------------------------------------------
    def latent_map(self, kappa, inputs=None) -> np.ndarray:
        """G(kappa, u) = <n phi(m.kappa + I.u)>, the right-hand side of both conventions (g = 0)."""
        self._require_closed("latent_map")
        return self._equations("latent").value(
            self._kappa(kappa), self._inputs(inputs), self.theta
        )[0]

    def velocity(self, kappa, inputs=None) -> np.ndarray:
        """dkappa/dt = -kappa + G(kappa, u) (flow); for a map, the displacement G - kappa."""
        kappa = self._kappa(kappa)
        return self.latent_map(kappa, inputs) - kappa

    def jacobian(self, kappa, inputs=None) -> np.ndarray:
        """Jacobian of the dynamics: -I + dG/dkappa (flow) or dG/dkappa (map), shape (R, R)."""
        self._require_closed("jacobian")
        _, dG, _ = self._equations("latent").value_jacobian(
            self._kappa(kappa), self._inputs(inputs), self.theta
        )
        return dG - np.eye(self.rank) if self._is_flow else dG

    def simulate(
        self,
        v0=None,
        t_max: float | None = None,
        dt: float = 0.01,
        inputs=None,
        *,
        w0=None,
        kappa0=None,
    ) -> LatentTrajectory:
        """Integrate the latent dynamics (classical RK4) or iterate the latent map (g = 0).

        Continuous time (tau = 1): the network dx/dt = -x + m kappa(t) + I u(t) keeps a state
        x = m.v + I.w in span(m, I), and its coordinates obey (Beiran et al. 2021, Neural Comput.
        33:1572; Dubreuil et al. 2022, Nat. Neurosci. 25:783)

            dv/dt = -v + kappa,   dw/dt = -w + u(t),   kappa = G(v, w) = <n phi(m.v + I.w)>,

        so the inputs reach the neurons low-pass filtered, and kappa itself does not obey
        dkappa/dt = -kappa + G(kappa) (the two agree only at fixed points, where v = kappa).
        The part of the initial state outside span(m, I) decays as e^{-t}; it is taken to be 0.
        Discrete time: kappa_{t+1} = G(kappa_t, u_t), exact for h_{t+1} = phi(W h_t + W_in u_t);
        there v = kappa and w = u.

        Parameters
        ----------
        v0 : array_like (R,) or (batch, R)
            Initial coordinates of the state along m (flow) or initial kappa (map). At a fixed
            point v = kappa.
        t_max : float
            Duration (flow) or number of steps (map).
        dt : float
            Time step of the flow; must be 1 for the map.
        inputs : array_like (K,) or (n_steps, K), optional
            Constant inputs, or one row per step (held within the step).
        w0 : array_like (K,) or (batch, K), optional
            Initial coordinates of the state along I (flow only); default 0: inputs switched
            on at t = 0.
        kappa0 : array_like, optional
            Legacy name of ``v0`` (same meaning: the initial v, which equals kappa only at fixed
            points).

        Returns
        -------
        LatentTrajectory
            ``t`` (n_steps + 1,), ``kappa`` and ``v`` (batch, n_steps + 1, R), ``w``
            (batch, n_steps + 1, K). For the map, the last row of ``w`` repeats the last input.

        Raises
        ------
        TypeError, ValueError
            On bad arguments, naming the argument; ValueError when g > 0 (no closed dynamics).

        Warns
        -----
        DivergenceWarning
            When a trial diverges: a non-finite state, |v| > 1e6 (1 + kappa_scale() + |v0|) or
            |w| > 1e6 (1 + max |u| + |w0|) (e.g. RK4 with dt > 2.78 is unstable on the leak).
            That trial's entries from the step that left the bound on are NaN.
        """
        self._require_closed("simulate")
        if kappa0 is not None and v0 is not None:
            raise TypeError("give the initial state as v0 or as its legacy name kappa0, not both")
        if t_max is None:
            raise TypeError("simulate() needs t_max")
        name = "v0" if kappa0 is None else "kappa0"
        start = as_array(v0 if kappa0 is None else kappa0, name, ndim=(1, 2))
        start = start.reshape(-1, start.shape[-1])
        if start.shape[1] != self.rank:
            raise ValueError(
                f"{name} must have {self.rank} entries per trial, got shape {start.shape}"
            )
        K = self.n_inputs
        if w0 is None:
            w_start = np.zeros((1, K))
        elif not self._is_flow:
            raise ValueError("w0 is for time='continuous'; the map applies the inputs directly")
        else:
            w_start = as_array(w0, "w0", ndim=(1, 2), allow_empty=True).reshape(-1, K)
        if 1 not in (start.shape[0], w_start.shape[0]) and start.shape[0] != w_start.shape[0]:
            raise ValueError(f"w0 has {w_start.shape[0]} trials but {name} has {start.shape[0]}")
        batch = max(start.shape[0], w_start.shape[0])
        start = np.broadcast_to(start, (batch, self.rank))
        w_start = np.broadcast_to(w_start, (batch, K))
        dt = as_float(dt, "dt", positive=True)
        n_steps = step_count(t_max, dt, self.time)
        if batch * (n_steps + 1) * (2 * self.rank + K) > MAX_STEPS // 2**32:
            raise ValueError(f"t_max / dt = {n_steps} steps are too many to record; lower t_max")
        if inputs is None or np.ndim(inputs) <= 1:
            u_seq = np.broadcast_to(self._inputs(inputs), (n_steps + 1, K))
        else:
            u_seq = as_array(inputs, "inputs", shape=(n_steps, K), allow_empty=True)
            # the last row is used only by the map's record of w (inputs are held)
            u_seq = np.concatenate([u_seq, u_seq[-1:] if n_steps else np.zeros((1, K))])
        eq = self._equations("latent")
        R = self.rank

        def G(v, w):  # kappa = <n phi(m.v + I.w)>
            return eq.value(v, w, self.theta)[0]

        # flow: d(v, w)/dt = -(v, w) + (G(v, w), u) with u held within the step; map: the same
        # target gives (v, w)' = (G(v, w), u_next)
        step = stepper(lambda y, u: (G(*y), u), self.time, "rk4", dt)
        bound_v = 1e6 * (1.0 + self.kappa_scale() + np.max(np.abs(start), axis=1))
        bound_w = 1e6 * (
            1.0 + np.max(np.abs(u_seq), initial=0.0) + np.max(np.abs(w_start), axis=1, initial=0.0)
        )
        kappa = np.full((batch, n_steps + 1, R), np.nan)
        state = np.full((batch, n_steps + 1, R + K), np.nan)
        diverged = []
        with np.errstate(over="ignore", invalid="ignore"):
            for b in range(batch):
                v, w = start[b], w_start[b] if self._is_flow else u_seq[0]
                for s in range(n_steps + 1):
                    if not (
                        np.all(np.isfinite(v))
                        and np.all(np.isfinite(w))
                        and np.max(np.abs(v)) <= bound_v[b]
                        and np.max(np.abs(w), initial=0.0) <= bound_w[b]
                    ):
                        diverged.append((b, s * dt))
                        break
                    state[b, s, :R], state[b, s, R:] = v, w
                    kappa[b, s] = G(v, w) if self._is_flow else v
                    if s < n_steps:
                        v, w = step((v, w), u_seq[s] if self._is_flow else u_seq[s + 1])
        if diverged:
            where = ", ".join(f"trial {b} at t = {t:g}" for b, t in diverged[:5])
            warnings.warn(
                f"simulate: {len(diverged)} of {batch} trials diverged ({where}): the state "
                "became non-finite or left |v| <= 1e6 (1 + kappa_scale + |v0|), "
                "|w| <= 1e6 (1 + max|u| + |w0|); their later entries are NaN. "
                "Lower dt (RK4 needs dt < 2.78) or check the dynamics.",
                DivergenceWarning,
                stacklevel=2,
            )
        t = np.arange(n_steps + 1) * dt
        v, w = np.ascontiguousarray(state[..., :R]), np.ascontiguousarray(state[..., R:])
        return LatentTrajectory(t, kappa, v, w)

    def residual_function(self, kind: str, inputs=None):
        """The function y -> (residual, Jacobian, extras) whose roots the solvers find.

        ``kind`` is "latent" (y = kappa, residual G - kappa, g = 0), "static" (y = (kappa, D),
        residual F(y) - y) or "chaotic" (y = (kappa, D_0, log(D_0 - D_inf)); NaN once the gap
        D_0 - D_inf collapses below 1e-7 (1 + D_0), where the static solutions take over).

        The static residual needs Delta_p = S_p(kappa) + D >= 0 in every population. Below that
        boundary (D < -min_p S_p) it is continued to first order in D from the boundary, with the
        boundary's Jacobian, so that a Newton step overshooting to a negative variance is pulled
        back instead of stalling at the boundary (the trivial state D = 0 of a bulk with g < 1 lies
        on it). Roots of the continuation have D < 0 and are not solutions.
        """
        kind = choose(kind, "kind", ("latent", "static", "chaotic"))
        if kind == "latent":
            self._require_closed("the latent residual")
        return self._residual(kind, self._inputs(inputs))

    def _residual(self, kind: str, u: np.ndarray):
        """``residual_function(kind, u)`` for checked inputs ``u``, made once per model (the
        functions hold no state: solvers call them many times per parameter value)."""
        key = (kind, u.tobytes())
        fun = self._residuals.get(key)
        if fun is None:
            fun = self._residuals[key] = self._make_residual(kind, u)
        return fun

    def _make_residual(self, kind: str, u: np.ndarray):
        """A new function of ``residual_function`` (see there) for checked inputs ``u``."""
        u = u.copy()  # the function keeps its inputs
        eq = self._equations(kind)
        R, P = self.rank, self.n_populations
        if kind == "chaotic":

            def chaotic(y):
                out = eq.value_jacobian(y, u, self.theta)
                if y[R + 1] < np.log(
                    1e-7 * (1.0 + abs(y[R]))
                ):  # drifting onto the static solutions
                    out[0][:] = np.nan
                return out

            chaotic.collapse_rule = self._collapse_rule(u)
            chaotic.newton_kernel = NewtonKernel(
                False, eq, self._equations("static"), R, P, u, self.theta, chaotic.collapse_rule
            )
            return chaotic
        eye = _eye(eq.n_unknowns)
        theta, static = self.theta, kind == "static"

        def residual(y):
            F, dF, extra = eq.value_jacobian(y, u, theta)
            low = min(extra[P : 2 * P].tolist()) if static else 0.0
            if low < 0.0:  # some Delta_p < 0: continue from the boundary Delta = 0
                inside = y.copy()
                inside[R] += -low + 1e-15 * (1.0 + abs(y[R]))
                F, dF, extra = eq.value_jacobian(inside, u, theta)
                F += dF[:, R] * (y[R] - inside[R])
            F -= y
            dF -= eye
            return F, dF, extra

        if static:
            residual.newton_kernel = NewtonKernel(True, eq, eq, R, P, u, theta)
        return residual

    def _flips(self, kind: str, u: np.ndarray, fun, samples) -> list[np.ndarray]:
        """``_symmetries(fun, samples())`` of the ``kind`` residual at inputs u, checked once per
        law, inputs and nonlinearity for all g > 0 (``_FLIPS``): g enters the residuals
        F = A + g^2 B only through the bulk terms B, whose components along kappa vanish and
        whose others do not change sign under a flip (which leaves D, D_0 and log(D_0 - D_inf)
        and the terms of A in them alone), so F(s y) = s F(y) holds at one g > 0 exactly when
        A(s y) = s A(y) and B(s y) = B(y), that is at every g > 0 (Mastrogiuseppe & Ostojic
        2018, Neuron 99:609, equations of the static and chaotic states)."""
        key = (
            kind,
            self.rank,
            self.n_inputs,
            self.n_populations,
            self.phi.key,
            self.time,
            self.g > 0,
            u.tobytes(),
            self.theta[1:].tobytes(),
        )
        flips = _FLIPS.get(key)
        if flips is None:
            flips = self._check_symmetries(fun, samples())
            if flips is None:  # not finite at a sample: none here, checked again next time
                return []
            _remember(_FLIPS, key, flips)
        return [f.copy() for f in flips]

    def _symmetries(self, fun, samples: np.ndarray) -> list[np.ndarray]:
        """Sign flips of kappa under which the residual is equivariant, checked numerically.

        A flip s (entries -1 on some kappa_r, +1 on them and on the other unknowns) is kept when
        F(s y) = s F(y) to 1e-9 (1 + |F(y)|) at every sample y. For an odd phi and inputs that
        enter evenly (none, or zero mean inputs) the full flip kappa -> -kappa is one: then
        [phi](-mu, Delta) = -[phi](mu, Delta) makes the latent equations odd, whatever the means of
        m and n (Mastrogiuseppe & Ostojic 2018 with M_m, M_n != 0). Every sign pattern is tried for
        R <= 3, only the full flip above.
        """
        return self._check_symmetries(fun, samples) or []

    def _check_symmetries(self, fun, samples: np.ndarray) -> list[np.ndarray] | None:
        """``_symmetries``, or None when the residual is not finite at some sample (no flip is
        kept then)."""
        R, n = self.rank, samples.shape[1]
        patterns = itertools.product((1.0, -1.0), repeat=R) if R <= 3 else [(-1.0,) * R]
        values = [fun(y)[0] for y in samples]
        if not all(np.all(np.isfinite(v)) for v in values):
            return None
        flips = []
        for pattern in patterns:
            if min(pattern) > 0:
                continue
            s = np.concatenate([pattern, np.ones(n - R)])
            if all(
                np.max(np.abs(fun(s * y)[0] - s * F)) <= 1e-9 * (1.0 + np.max(np.abs(F)))
                for y, F in zip(samples, values, strict=True)
            ):
                flips.append(s)
        return flips

    def _symmetry_samples(self, starts: list[np.ndarray]) -> np.ndarray:
        """Three test points for ``_symmetries``: generic kappa, the other unknowns of starts."""
        scale = max(self.kappa_scale(), 1e-3)
        picks = [starts[i % len(starts)].copy() for i in (0, len(starts) // 2, len(starts) - 1)]
        for y, kappa in zip(picks, _symmetry_kappas(self.rank), strict=True):
            y[: self.rank] = scale * kappa
        return np.array(picks)

    def _fixed_point_from(
        self, start: np.ndarray, u: np.ndarray, tol: float, max_iter: int
    ) -> NewtonResult:
        return newton(self._residual("latent", u), start, tol=tol, max_iter=max_iter)

    def _make_fixed_point(
        self, res: NewtonResult, multiplicity: int = 1, stability_tol: float = STABILITY_TOL
    ) -> FixedPoint:
        dG = res.jacobian + np.eye(self.rank)
        eig = self._sorted_eigenvalues(res.jacobian if self._is_flow else dG)
        return FixedPoint(
            res.x.copy(),
            eig,
            False,
            res.residual,
            res.iterations,
            multiplicity,
            stability=self._stability(eig, stability_tol),
            stability_tol=stability_tol,
        )

    def fixed_points(
        self,
        inputs=None,
        n_starts: int | None = None,
        seed=0,
        tol: float = 1e-10,
        max_iter: int = 60,
        stability_tol: float = STABILITY_TOL,
    ) -> LatentFixedPoints:
        """All fixed points of the latent dynamics (g = 0), unstable ones included.

        Multi-start deflated Newton (Farrell, Birkisson & Funke 2015, SIAM J. Sci. Comput.
        37:A2026): from each start (the origin, the eigen-directions of the overlap matrix and
        random points in a ball of radius ~ ``kappa_scale()``) plain Newton; a start where Newton
        stalls (at a minimum of |velocity| that is not a root, the ghost of a saddle-node) follows
        the flow by pseudo-transient continuation (Kelley & Keyes 1998) before it counts as
        failed. A start that converged is retried with Newton deflated by every solution known so
        far, while that finds new ones (:class:`lowrank.dynamics.solve.RootSearch`). When the
        equations are symmetric under a sign flip of kappa (checked numerically, e.g.
        kappa -> -kappa for an odd phi without inputs) the mirror image of every solution is added
        (after Newton from it). Solutions within 1e-5 (1 + max |kappa|) of each other in every
        coordinate are one. A solution whose Jacobian has null directions tangent to a family of
        solutions starts a manifold (a ring attractor), traced once by pseudo-arclength
        continuation (:func:`lowrank.dynamics.manifold.find_manifold`): its points are not listed
        among the isolated ones. ``complete`` means that no start failed, not that every solution
        was found: a solution that no start reaches stays unknown.

        Parameters
        ----------
        inputs : array_like (K,), optional
            Constant inputs u.
        n_starts : int, optional
            Number of starts (default 40 R).
        seed : int or Generator
            Seed of the random starts.
        tol : float
            Residual tolerance max |G(kappa) - kappa|.
        max_iter : int
            Newton iterations per start (and as many pseudo-transient steps where Newton stalls).
        stability_tol : float
            A point is stable when its largest growth rate (Re lambda for the flow, |lambda| - 1
            for the map) is below -stability_tol, unstable above +stability_tol, marginal in
            between (:func:`lowrank.dynamics.stability.classify`).

        Returns
        -------
        LatentFixedPoints
            Isolated points (``points``, each with its ``residual`` <= ``tol``, or <= 1e-7 where
            round-off stalls Newton) and ``manifolds``; ``report``, ``n_failed`` and
            ``failed_residual`` describe the starts whose Newton iteration did not converge, and
            ``complete`` is False when there were any.

        Warns
        -----
        ConvergenceWarning
            (a RuntimeWarning) when any start did not converge: the result may be incomplete. The
            message gives the number of such starts and the smallest residual they reached.
        """
        self._require_closed("fixed_points")
        u = self._inputs(inputs)
        n_starts = 40 * self.rank if n_starts is None else as_int(n_starts, "n_starts", minimum=1)
        tol = as_float(tol, "tol", positive=True)
        max_iter = as_int(max_iter, "max_iter", minimum=1)
        stability_tol = as_float(stability_tol, "stability_tol", minimum=0.0)
        fun = self._residual("latent", u)
        starts = list(self._starts(n_starts, seed))
        search = RootSearch(
            fun,
            tol,
            max_iter,
            atol=SAME_ATOL,
            rtol=SAME_RTOL,
            manifold=lambda res: find_manifold(
                fun, res.x, time=self.time, tol=tol, stability_tol=stability_tol
            ),
        )
        search.run(starts)
        search.mirror(self._symmetries(fun, self._symmetry_samples(starts)))
        points = [
            self._make_fixed_point(r, c, stability_tol)
            for r, c in zip(search.found, search.counts, strict=True)
        ]
        points.sort(key=_by_kappa)
        report = _report("fixed_points", [search], tol, max_iter)
        warn_report(report, stacklevel=3)
        return LatentFixedPoints(
            points,
            report.n_starts,
            report.n_failed,
            report.failed_residual,
            report,
            stability_tol,
            search.manifolds,
        )

    # --- stationary states with a random bulk ------------------------------------------------
    @property
    def chaos_excluded(self) -> bool:
        """True when no chaotic state can exist: g sup|phi'| < 1 (or = 1 with phi nonlinear).

        A chaotic state (D_0 > D_inf) solves, with c_p = S_p + q the covariance of the inputs
        at two times and a_p = S_p + D_0 their variance in population p, and
        F(q) = g^2 sum_p alpha_p E[Phi(X_p) Phi(Y_p)] (Cov(X_p, Y_p) = c_p), the equations

            h(D_inf) = 0   and   int_{D_inf}^{D_0} h(q) dq = 0,   h(q) = F'(q) - q,

        the second being the energy balance (D_0^2 - D_inf^2) / 2 = F(D_0) - F(D_inf) of the
        autocovariance (Sompolinsky, Crisanti & Sommers 1988, Phys. Rev. Lett. 61:259;
        Mastrogiuseppe & Ostojic 2018, Neuron 99:609, with structure). By Price's theorem
        F'(q) = g^2 sum_p alpha_p E[phi(X_p) phi(Y_p)] and
        h'(q) = g^2 sum_p alpha_p E[phi'(X_p) phi'(Y_p)] - 1 <= g^2 sup|phi'|^2 - 1
        (the alpha_p sum to 1); by Cauchy-Schwarz also
        h'(q) <= g^2 sum_p alpha_p [phi'^2](mu_p, a_p) - 1, the squared bulk radius at the
        chaotic state itself minus 1. When g sup|phi'| <= 1, h is nonincreasing on
        [D_inf, D_0], and strictly decreasing unless phi'(X) phi'(Y) = sup|phi'|^2 almost
        surely, which a nonlinear phi excludes; then h < 0 on (D_inf, D_0] and the integral is
        negative: no chaotic state exists, whatever the structure, inputs and populations. The
        bound sup|phi'| is the nonlinearity's ``max_slope`` (1 for "tanh" and "erf"); without it
        nothing is excluded. (A static state with a bulk radius above 1 is not needed: the
        criterion bounds the radius at the chaotic state, not at a static one.)
        """
        slope = self.phi.max_slope
        if slope is None or not self._is_flow:
            return False
        edge = self.g * slope
        return bool(edge < 1.0 or (edge == 1.0 and self.phi.derivative(2) != 0))

    def _static_from(
        self, y0: np.ndarray, u: np.ndarray, tol: float, max_iter: int
    ) -> NewtonResult:
        return newton(self._residual("static", u), y0, tol=tol, max_iter=max_iter)

    def _chaotic_from(
        self, y0: np.ndarray, u: np.ndarray, tol: float, max_iter: int
    ) -> NewtonResult:
        """Newton on the chaotic system, with half the iterations (its starts are cheap to
        multiply and a start that has not converged by then rarely does)."""
        return newton(
            self._residual("chaotic", u), y0, tol=tol, max_iter=max(1, max_iter // 2)
        )

    def _make_static(self, res: NewtonResult, stability_tol: float = STABILITY_TOL):
        P, R = self.n_populations, self.rank
        # res.jacobian = dF - I: the flow's Jacobian; the map's is dF (without the bulk: the
        # latent block, D = 0)
        J = res.jacobian if self.g > 0 else res.jacobian[:R, :R]
        eig = self._sorted_eigenvalues(J if self._is_flow else J + np.eye(J.shape[0]))
        radius = math.sqrt(max(float(res.extra[2 * P]), 0.0))
        # the edge of the bulk counts as one more eigenvalue: -1 + radius (flow), radius (map)
        edge = radius - 1.0 if self._is_flow else radius
        delta = res.extra[P : 2 * P].copy()
        return StationaryState(
            res.x[:R].copy(),
            res.extra[:P].copy(),
            delta,
            delta.copy(),
            False,
            False,
            eig,
            radius,
            res.residual,
            res.iterations,
            res.x.copy(),
            stability=self._stability(eig, stability_tol, edge),
            stability_tol=stability_tol,
        )

    def _make_chaotic(self, res: NewtonResult, stability_tol: float = STABILITY_TOL):
        P, R = self.n_populations, self.rank
        J = res.jacobian
        # Schur complement: latent dynamics with the variances (D_0, ell) slaved to kappa,
        # J_kk - J_kv J_vv^-1 J_vk, in floats (two variances: numpy's overhead dominates)
        slaved = [_solve(J[R:, R:], J[R:, c]).tolist() for c in range(R)]
        rows = J.tolist()
        reduced = np.array(
            [
                [rows[r][c] - rows[r][R] * slaved[c][0] - rows[r][R + 1] * slaved[c][1]
                 for c in range(R)]
                for r in range(R)
            ]
        )
        eig = self._sorted_eigenvalues(reduced)
        return StationaryState(
            res.x[:R].copy(),
            res.extra[:P].copy(),
            res.extra[P : 2 * P].copy(),
            res.extra[2 * P : 3 * P].copy(),
            True,
            False,
            eig,
            float("nan"),
            res.residual,
            res.iterations,
            res.x.copy(),
            stability=self._stability(eig, stability_tol),
            stability_tol=stability_tol,
        )

    def _is_chaotic_solution(self, res: NewtonResult) -> bool:
        """A converged chaotic solution with a genuine gap D_0 - D_inf and nonnegative variances."""
        return bool(res.converged and self._chaotic_admissible(res))

    def _chaotic_admissible(self, res: NewtonResult) -> bool:
        """A genuine gap D_0 - D_inf > 1e-6 (1 + D_0) and Delta_inf >= 0 (to 1e-8 (1 + D_0)):
        the equations also hold on the static states (gap 0) and at D_inf = -D_0."""
        P, R = self.n_populations, self.rank
        D0, log_gap = res.x[R : R + 2].tolist()
        floor = -1e-8 * (1.0 + abs(D0))
        return bool(
            log_gap > math.log(1e-6 * (1.0 + abs(D0)))
            and all(d >= floor for d in res.extra[2 * P : 3 * P].tolist())
        )

    def _collapsed(self, res: NewtonResult, start: np.ndarray) -> bool:
        """A chaotic start that ran into a degenerate, non-chaotic family of solutions of the
        chaotic equations, which every start does below the onset of chaos (not a failure):

        - the static states, gap D_0 - D_inf = 0: the gap fell below 1e-5 (1 + D_0) (the residual
          turns NaN at 1e-7 (1 + D_0));
        - the edge Delta_inf = -Delta_0 of the domain (correlation -1 between the inputs at two
          distant times; beyond it the averages are undefined): inadmissible, since the
          long-time autocovariance Delta_inf of a stationary state is >= 0, and Newton stalls
          there (to 1e-6 (1 + Delta_0) in every population).
        """
        return self._collapsed_point(res.x, res.extra)

    def _collapsed_point(self, y: np.ndarray, extra: np.ndarray) -> bool:
        """``_collapsed`` at the chaotic unknowns y with extras ``extra``."""
        return _collapsed_values(*self._collapse_values(y, extra))

    def _collapse_values(self, y: np.ndarray, extra: np.ndarray) -> tuple:
        """(D_0, log gap, Delta_0 and Delta_inf per population) of a chaotic iterate, as floats
        (a few: numpy's per-call overhead dominates)."""
        R, P = self.rank, self.n_populations
        D0, log_gap = y[R : R + 2].tolist()
        return D0, log_gap, extra[P : 2 * P].tolist(), extra[2 * P : 3 * P].tolist()

    def _collapse_rule(self, u: np.ndarray):
        """``rule(y, extra) -> bool``: a chaotic Newton iterate y sliding onto a degenerate family
        of solutions where no chaotic state can be, so that its start is accounted for
        (``_collapsed``) and the iteration can stop there (``newton``'s ``stop``) instead of
        converging linearly onto the family (the gap shrinks by ~e per step down to the NaN edge
        at 1e-7 (1 + D_0), with ever costlier quadrature). True on the criteria of ``_collapsed``
        and, earlier, when

        - the gap is D_0 - D_inf <= 1e-3 (1 + |D_0|) and the bulk radius at (kappa, D_0),
          rho^2 = g^2 sum_p alpha_p [phi'^2](mu_p, S_p + D_0), is below 1. By the
          Cauchy-Schwarz bound of ``chaos_excluded`` a chaotic state with these kappa and D_0
          needs rho^2 > 1 (else h(q) < 0 on (D_inf, D_0] and the energy balance fails): none is
          there, whatever its D_inf (Sompolinsky, Crisanti & Sommers 1988, Phys. Rev. Lett.
          61:259; Mastrogiuseppe & Ostojic 2018, Neuron 99:609);
        - or |Delta_inf + Delta_0| <= 1e-3 (1 + Delta_0) with Delta_0 >= 0.01 in every
          population: there Delta_inf < 0, and every admissible solution (Delta_inf >= 0) is at
          least ~Delta_0 away.
        """
        R, P = self.rank, self.n_populations
        static = self._equations("static")
        limit = np.log(1e-3)

        def rule(y: np.ndarray, extra: np.ndarray) -> bool:
            values = self._collapse_values(y, extra)
            if _collapsed_values(*values):
                return True
            D0, log_gap, delta0, delta_inf = values
            if all(
                abs(di + d0) <= 1e-3 * (1.0 + abs(d0)) and d0 >= 0.01
                for d0, di in zip(delta0, delta_inf, strict=True)
            ):
                return True
            if not log_gap <= limit + np.log1p(abs(D0)):
                return False
            radius2 = static.value(y[: R + 1], u, self.theta)[1][2 * P]
            return bool(radius2 < 1.0)

        return rule

    def _chaotic_signature(self, y: np.ndarray) -> np.ndarray:
        """(kappa, D_0, D_inf): chaotic solutions compared on the variances, not on log(gap)."""
        R = self.rank
        out = y.copy()
        out[R + 1] = y[R] - np.exp(y[R + 1])
        return out

    def _chaotic_starts(self, static: list, kappa_starts: np.ndarray, fun, u: np.ndarray):
        """Starts of the chaotic system, and the symmetries (sign flips) of its residual ``fun``.

        Chaotic states branch off static states whose bulk radius crosses 1 (Mastrogiuseppe &
        Ostojic 2018): start at the kappa and bulk variance D of every static state (or 0.6 g^2
        when larger), and at the origin and the top eigen-directions, with the gap D_0 - D_inf a
        fraction ``CHAOTIC_GAPS`` of D_0. Seeds (kappa, D_0) equal (to 1e-3) to an earlier one or
        to its image under a symmetry are dropped: the search adds mirror images itself.
        """
        g2 = self.g**2
        seeds = [np.append(s.kappa, max(s.unknowns[-1], 0.6 * g2)) for s in static]
        seeds += [np.append(k, 0.6 * g2) for k in kappa_starts[: 2 * self.rank + 1 : 2]]
        flips = self._flips(
            "chaotic",
            u,
            fun,
            lambda: self._symmetry_samples([np.append(s, np.log(0.5 * s[-1])) for s in seeds]),
        )
        signs = [f[:-1].tolist() for f in flips]
        kept: list[list] = []  # as lists of floats: a few short rows, compared without numpy
        top = 0.0  # max |entry| of the kept seeds
        for seed in map(np.ndarray.tolist, seeds):
            # dropped when the seed or an image is within 1e-3 (1 + max |entry|) of a kept
            # seed: the single-linkage groups of ``unique_points`` joining a new row to a kept
            # one need such a direct pair
            images = [seed] + [[a * b for a, b in zip(f, seed, strict=True)] for f in signs]
            size = max(abs(v) for v in seed)  # the images have the same entries up to sign
            if kept:
                radius = 1e-3 + 1e-3 * max(top, size)
                if min(_gap(a, b) for a in images for b in kept) <= radius:
                    continue
            kept.append(seed)
            top = max(top, size)
        starts = [
            np.array(s + [float(np.log(frac * s[-1]))]) for s in kept for frac in CHAOTIC_GAPS
        ]
        return starts, flips

    def solve_near(
        self,
        state,
        inputs=None,
        tol: float = 1e-10,
        max_iter: int = 60,
        stability_tol: float = STABILITY_TOL,
    ):
        """Newton from a known solution (of this or of a nearby MeanField); None if it fails.

        ``state`` is a FixedPoint or a StationaryState; the result has the same type and kind.
        Used for continuation in :func:`lowrank.bifurcation_diagram`; ``newton_from`` also
        returns the residual reached when Newton fails.
        """
        return self.newton_from(state, inputs, tol, max_iter, stability_tol)[0]

    def newton_from(
        self,
        state,
        inputs=None,
        tol: float = 1e-10,
        max_iter: int = 60,
        stability_tol: float = STABILITY_TOL,
    ):
        """Newton from a known solution: (solution or None, residual reached).

        Parameters
        ----------
        state : FixedPoint or StationaryState
            The start; the solution has the same type and kind.
        inputs : array_like (K,), optional
        tol : float
            Residual tolerance.
        max_iter : int
            Newton iterations (half of them for a chaotic state).
        stability_tol : float
            Tolerance of the stable / unstable / marginal classification of the solution.

        Returns
        -------
        solution : FixedPoint, StationaryState or None
            None when Newton did not converge (or, for a chaotic state, converged onto a static
            one).
        residual : float
            max |residual| at the last iterate, whether or not it converged.
        """
        u = self._inputs(inputs)
        tol = as_float(tol, "tol", positive=True)
        max_iter = as_int(max_iter, "max_iter", minimum=1)
        stability_tol = as_float(stability_tol, "stability_tol", minimum=0.0)
        if isinstance(state, FixedPoint):
            self._require_closed("a FixedPoint start")
            res = self._fixed_point_from(self._kappa(state.kappa, "state.kappa"), u, tol, max_iter)
            point = self._make_fixed_point(res, 1, stability_tol) if res.converged else None
            return point, res.residual
        if not isinstance(state, StationaryState):
            raise TypeError(
                f"state must be a FixedPoint or StationaryState, got {type(state).__name__}"
            )
        if state.chaotic:
            res = self._chaotic_from(state.unknowns, u, tol, max_iter)
            ok = self._is_chaotic_solution(res)
            return (self._make_chaotic(res, stability_tol) if ok else None), res.residual
        y0 = state.unknowns.copy()
        if self.g == 0:
            y0[-1] = 0.0
        res = self._static_from(y0, u, tol, max_iter)
        ok = res.converged and res.x[-1] >= -1e-12
        return (self._make_static(res, stability_tol) if ok else None), res.residual

    def stationary_states(
        self,
        inputs=None,
        n_starts: int | None = None,
        seed=0,
        tol: float = 1e-10,
        max_iter: int = 60,
        stability_tol: float = STABILITY_TOL,
        *,
        starts=None,
    ) -> StationaryStates:
        """Every static and chaotic solution of the mean-field theory, unstable ones included.

        Static states (Mastrogiuseppe & Ostojic 2018, Neuron 99:609) solve kappa = G(kappa, D),
        D = g^2 sum_q alpha_q [phi^2]_q
        with Delta_p = S_p(kappa) + D. Chaotic states (continuous time, g > 0) solve the dynamic
        mean-field equations for (kappa, D_0, D_inf) with D_0 > D_inf; in the zero-mean limit they
        reduce to Sompolinsky, Crisanti & Sommers (1988). For maps (``time="discrete"``) only static
        states are computed. Both systems are solved by multi-start deflated Newton with symmetric
        partners, as in ``fixed_points``: static starts at the kappa starts with bulk variance D in
        g^2 (0.05, 0.5); chaotic starts at the kappa and D of every static state (chaotic states
        branch off static ones whose bulk radius crosses 1) and at the origin and the top
        eigen-directions (``_chaotic_starts``). A chaotic start that runs onto a static state (its
        gap D_0 - D_inf collapses, as below the onset of chaos) or stalls on the edge
        Delta_inf = -Delta_0 of the domain has not failed (``_collapsed``); any other start whose
        Newton iteration does not converge has, and makes the result possibly incomplete.
        Where no chaotic state can exist (``chaos_excluded``: g sup|phi'| <= 1, a theorem for
        any structure) the chaotic search is not run. Known states (``starts``, e.g. those of a
        nearby parameter value) are tried first, as extra starts of the same search: every state
        that continues to this model is found, whatever the random starts reach. To follow the
        states over many parameter values, :func:`lowrank.stationary_states_along` continues
        them and searches only where their number may change.

        Parameters
        ----------
        inputs : array_like (K,), optional
            Constant inputs u.
        n_starts : int, optional
            Number of kappa starts (default 20 R).
        seed : int or Generator
            Seed of the random starts.
        tol : float
            Residual tolerance.
        max_iter : int
            Newton iterations per start (half of them for the chaotic starts).
        stability_tol : float
            Tolerance of the stable / unstable / marginal classification (see ``StationaryState``).
        starts : StationaryStates or sequence of StationaryState, optional
            Extra starts run before the others: Newton from each state's ``unknowns`` (static ones
            on the static system, chaotic ones on the chaotic system; chaotic ones are not used
            where no chaotic search runs). They count as starts: one that does not converge (nor
            collapses onto a static state) makes the result possibly incomplete.

        Returns
        -------
        StationaryStates
            Static states first, then chaotic ones, each sorted by |kappa|, each with its
            ``residual``; ``report``, ``n_failed`` and ``failed_residual`` describe the starts whose
            Newton iteration did not converge, and ``complete`` is False when there were any.

        Warns
        -----
        ConvergenceWarning
            (a RuntimeWarning) when any start did not converge: the result may be incomplete. The
            message gives the number of such starts and the smallest residual they reached.
        """
        u = self._inputs(inputs)
        tol = as_float(tol, "tol", positive=True)
        max_iter = as_int(max_iter, "max_iter", minimum=1)
        stability_tol = as_float(stability_tol, "stability_tol", minimum=0.0)
        n_starts = 20 * self.rank if n_starts is None else as_int(n_starts, "n_starts", minimum=1)
        known = self._given_states(starts)
        found, report, _ = self._search_states(
            u, n_starts, seed, tol, max_iter, stability_tol, known
        )
        warn_report(report, stacklevel=3)
        return StationaryStates(
            [state for state, _ in found],
            report.n_starts,
            report.n_failed,
            report.failed_residual,
            report,
            stability_tol,
        )

    def _given_states(self, starts) -> list[StationaryState]:
        """The ``starts`` of ``stationary_states`` as a list, checked."""
        if starts is None:
            return []
        if isinstance(starts, StationaryState):
            starts = [starts]
        try:
            states = list(starts)
        except TypeError:
            raise TypeError(
                "starts must be StationaryStates or a sequence of StationaryState, "
                f"got {type(starts).__name__}"
            ) from None
        R = self.rank
        for state in states:
            if not isinstance(state, StationaryState):
                raise TypeError(
                    f"starts must hold StationaryState objects, got {type(state).__name__}"
                )
            size = R + 2 if state.chaotic else R + 1
            if state.unknowns is None or np.shape(state.unknowns) != (size,):
                raise ValueError(
                    f"starts: a {'chaotic' if state.chaotic else 'static'} state of this model "
                    f"(rank {R}) has {size} unknowns, got shape {np.shape(state.unknowns)}"
                )
        return states

    def _search_states(
        self,
        u: np.ndarray,
        n_starts: int,
        seed,
        tol: float,
        max_iter: int,
        stability_tol: float,
        known: list[StationaryState],
    ) -> tuple[list[tuple[StationaryState, NewtonResult]], SolverReport, dict]:
        """The multi-start search of ``stationary_states``: (state, Newton result) pairs, static
        states first, then chaotic ones, each sorted by |kappa|; the report; and the symmetries
        (sign flips) of each system, keyed by ``chaotic`` (False, True)."""
        kappa_starts = self._starts(n_starts, seed)
        g2 = self.g**2
        static_fun = self._residual("static", u)
        static_starts = [s.unknowns.astype(float) for s in known if not s.chaotic]
        if self.g == 0:
            for y in static_starts:
                y[-1] = 0.0
        bulk = (0.0,) if self.g == 0 else (0.05 * g2, 0.5 * g2)
        grid = np.empty((len(bulk), len(kappa_starts), self.rank + 1))
        grid[..., :-1] = kappa_starts
        grid[..., -1] = np.array(bulk)[:, None]
        static_starts += list(grid.reshape(-1, self.rank + 1))
        static_search = _BatchedSearch(
            static_fun,
            tol,
            max_iter,
            accept=lambda r: r.x[-1] >= -1e-12,
            atol=SAME_ATOL,
            rtol=SAME_RTOL,
            patience=STATIC_PATIENCE,
            deflated_min_step=DEFLATED_MIN_STEP,
        )
        static_search.run(static_starts)
        symmetries = {
            False: self._flips(
                "static", u, static_fun, lambda: self._symmetry_samples(static_starts)
            ),
            True: [],
        }
        static_search.mirror(symmetries[False])
        static = [(self._make_static(r, stability_tol), r) for r in static_search.found]
        searches, chaotic = [static_search], []
        if self.g > 0 and self._is_flow and not self.chaos_excluded:
            chaotic_fun = self._residual("chaotic", u)
            chaotic_starts, flips = self._chaotic_starts(
                [s for s, _ in static], kappa_starts, chaotic_fun, u
            )
            chaotic_starts = [s.unknowns.astype(float) for s in known if s.chaotic] + chaotic_starts
            collapsing = chaotic_fun.collapse_rule
            chaotic_search = _BatchedSearch(
                chaotic_fun,
                tol,
                max(1, max_iter // 2),
                atol=SAME_ATOL,
                rtol=SAME_RTOL,
                accept=self._chaotic_admissible,
                collapsed=lambda res, start: collapsing(res.x, res.extra),
                signature=self._chaotic_signature,
                transient=False,
                stop=collapsing,
                patience=2,
                deflated_min_step=DEFLATED_MIN_STEP,
            )
            chaotic_search.run(chaotic_starts)
            chaotic_search.mirror(flips)
            symmetries[True] = flips
            chaotic = [(self._make_chaotic(r, stability_tol), r) for r in chaotic_search.found]
            searches.append(chaotic_search)
        found = sorted(static, key=lambda p: _by_kappa(p[0]))
        found += sorted(chaotic, key=lambda p: _by_kappa(p[0]))
        return found, _report("stationary_states", searches, tol, max_iter), symmetries


class _BatchedSearch(RootSearch):
    """``RootSearch`` whose plain Newton runs from the starts are made in one compiled call
    (``NewtonKernel.many``), before the loop of ``run``: they do not depend on the roots found
    so far, so the search's outcome is the same; the per-start cost of the Python calls goes."""

    def run(self, starts):
        starts = list(starts)
        many = getattr(getattr(self.fun, "newton_kernel", None), "many", None)
        results = None
        if many is not None and len(starts) > 1:
            results = many(
                np.array(starts, dtype=float),
                self.tol,
                self.max_iter,
                LOOSE_TOL,  # newton's defaults, as in ``RootSearch._newton``
                XTOL,
                self.power,
                self.shift,
                self.stop,
                MIN_STEP,
            )
        self._plain = {} if results is None else dict(zip(map(id, starts), results, strict=True))
        try:
            return super().run(starts)
        finally:
            self._plain = {}

    def _newton(self, x0: np.ndarray, roots=None) -> NewtonResult:
        res = None if roots is not None else getattr(self, "_plain", {}).pop(id(x0), None)
        if res is None:
            return super()._newton(x0, roots)
        self.nit += res.iterations
        self.nfev += res.nfev
        return res


#: gaps D_0 - D_inf of the chaotic starts, as fractions of D_0
CHAOTIC_GAPS = (0.9, 0.5)
#: deflated attempts in a row that find nothing new before the static search stops deflating
#: (as for the chaotic search). A choice, not a guarantee: a deflated attempt that fails costs a
#: full Newton run, and on the rank-one laws of the tests (Mastrogiuseppe & Ostojic 2018, the
#: pitchfork, a structureless bulk; g from 0.3 to 4) every static state that deflation found
#: came from the first deflated attempt after a converged start
STATIC_PATIENCE = 2
#: smallest step of the line search of a deflated attempt (2^-10 after ten halvings; plain starts
#: keep 1e-8). A failed deflated attempt is not a failed start, but it used to cost most of a call:
#: where the deflated direction overshoots (1 - d . grad log M near 0) it halved 10-27 times per
#: iteration while wandering between minima of the deflated residual
DEFLATED_MIN_STEP = 1e-3


def _report(what: str, searches: list[RootSearch], tol: float, max_iter: int) -> SolverReport:
    """One SolverReport for the starts of several searches."""
    n_starts = sum(s.n_starts for s in searches)
    n_failed = sum(s.n_failed for s in searches)
    failed_residual = min(s.failed_residual for s in searches)
    residuals = [r.residual for s in searches for r in s.found]
    residuals += [m.residual for s in searches for m in s.manifolds]
    report = SolverReport.from_starts(
        what,
        n_starts,
        n_failed,
        failed_residual,
        tol,
        residual=max(residuals, default=0.0),
        nit=sum(s.nit for s in searches),
        nfev=sum(s.nfev for s in searches),
        advice=f"raise max_iter (now {max_iter}) or n_starts",
    )
    if report.status == 2:
        report = dataclasses.replace(
            report,
            message=f"{what}: none of the {n_starts} Newton starts converged; the smallest "
            f"residual reached was {failed_residual:.3g} (tol {tol:.3g}, max_iter {max_iter}); "
            "raise max_iter or n_starts",
        )
    return report


def _remember(memo: dict, key, value) -> None:
    """memo[key] = value in one of the module's memos, emptied first once it holds MEMO_SIZE
    entries (a bound on what a long session of many laws keeps)."""
    if len(memo) >= MEMO_SIZE:
        memo.clear()
    memo[key] = value


def _law_key(loadings) -> tuple | None:
    """Everything ``parameter_vector`` reads from a GaussianLoadings or MixtureLoadings (the
    structure, the weights and each population's mean and covariance, as bytes with their dtypes
    and shapes), or None for another type of law (whose blocks may be computed otherwise)."""
    kind = type(loadings)
    if kind is GaussianLoadings:
        comps, weights = (loadings,), b""  # weights 1
    elif kind is MixtureLoadings:
        comps, w = loadings.components, loadings.weights
        if any(type(c) is not GaussianLoadings for c in comps):
            return None
        weights = (w.dtype.str, w.shape, w.tobytes())
    else:
        return None
    key = [kind, loadings.rank, loadings.n_inputs, len(comps), weights]
    for c in comps:
        mean, cov = c.mean, c.cov
        key += [mean.dtype.str, mean.shape, mean.tobytes(), cov.dtype.str, cov.shape, cov.tobytes()]
    return tuple(key)


def _parameters(loadings, g: float) -> np.ndarray:
    """``parameter_vector(loadings, g)``: the entries other than g made once per law
    (``_LAW_PARAMETERS``; the key is the law's content, so a law changed in place is read
    again), copied into a new vector with g first."""
    key = _law_key(loadings)
    if key is None:
        return parameter_vector(loadings, g)
    rest = _LAW_PARAMETERS.get(key)
    if rest is None:
        rest = parameter_vector(loadings, 0.0)[1:]
        rest.setflags(write=False)
        _remember(_LAW_PARAMETERS, key, rest)
    theta = np.empty(rest.size + 1)
    theta[0] = g
    theta[1:] = rest
    return theta


@functools.cache
def _symmetry_kappas(rank: int) -> tuple[np.ndarray, ...]:
    """The three generic kappa directions of ``MeanField._symmetry_samples`` (in units of the
    kappa scale), drawn once per rank from a fixed seed: the check must not depend on ``seed``."""
    rng = np.random.default_rng(20180611)
    kappas = []
    for _ in range(3):
        size = rng.uniform(0.2, 1.0, rank)
        kappas.append(size * rng.choice([-1.0, 1.0], rank))
    return tuple(kappas)


def _eigenvalues(matrix: np.ndarray) -> np.ndarray:
    """Eigenvalues of a real square matrix; in closed form for 1 x 1 and 2 x 2 (LAPACK's
    per-call overhead dominates there): lambda = m +- sqrt(m^2 - det) with m the half trace,
    the discriminant as ((a - d) / 2)^2 + b c, and the smaller real root as det / lambda_1
    (not m - sqrt(...), which cancels); errors ~ 1e-16 |A| as for LAPACK."""
    if matrix.shape == (1, 1):
        return matrix.astype(complex).ravel()
    if matrix.shape != (2, 2):
        return np.linalg.eigvals(matrix)
    (a, b), (c, d) = matrix.tolist()
    if not all(map(math.isfinite, (a, b, c, d))):
        return np.linalg.eigvals(matrix)
    m, h = 0.5 * (a + d), 0.5 * (a - d)
    disc = h * h + b * c
    if disc < 0.0:
        root = math.sqrt(-disc)
        return np.array([complex(m, root), complex(m, -root)])
    first = m + math.copysign(math.sqrt(disc), m)
    second = (a * d - b * c) / first if first != 0.0 else 0.0
    return np.array([first, second], dtype=complex)


@functools.cache
def _eye(n: int) -> np.ndarray:
    """The n x n identity, made once (read-only)."""
    eye = np.eye(n)
    eye.setflags(write=False)
    return eye


def _collapsed_values(D0: float, log_gap: float, delta0: list, delta_inf: list) -> bool:
    """``MeanField._collapsed_point`` on ``MeanField._collapse_values``: the gap D_0 - D_inf
    below 1e-5 (1 + |D_0|), or Delta_inf within 1e-6 (1 + |Delta_0|) of -Delta_0 in every
    population; False where any of them is not finite."""
    gap = float(np.exp(log_gap))  # numpy's exp, as before (math.exp may round differently)
    if not (math.isfinite(gap) and all(map(math.isfinite, delta0 + delta_inf))):
        return False
    return gap <= 1e-5 * (1.0 + abs(D0)) or all(
        abs(di + d0) <= 1e-6 * (1.0 + abs(d0)) for d0, di in zip(delta0, delta_inf, strict=True)
    )


def _by_kappa(point) -> tuple:
    """Sort key of solutions: by |kappa|, then by kappa (rounded, so the order is reproducible)."""
    kappa = point.kappa.tolist()
    return round(math.hypot(*kappa), 8), tuple([round(k, 8) for k in kappa])
