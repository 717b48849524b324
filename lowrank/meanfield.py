"""Mean-field latent dynamics of low-rank networks: fixed points, stability and (D)MFT with a bulk.

For a network whose neurons' loadings (m, n, I) follow a Gaussian or a mixture of Gaussians,
the latent variables kappa_r = <n_r phi(x)> obey, in the limit N -> infinity and without a
random bulk (Beiran et al. 2021, Neural Comput. 33:1572; THEORY.md section 2)

    continuous time:  dkappa/dt = -kappa + G(kappa, u),
    discrete time:    kappa_{t+1} = G(kappa_t, u),
    G_r = sum_p alpha_p ( mu_{n_r,p} [phi]_p
                          + (Sigma_{n_r m,p} kappa + Sigma_{n_r I,p} u) [phi']_p ).

With a random bulk g chi (Mastrogiuseppe & Ostojic 2018, Neuron 99:609; THEORY.md section 3)
the latent variables are no longer a closed dynamical system; ``stationary_states`` returns the
static and chaotic solutions of the (dynamic) mean-field theory instead. The equations are
derived and compiled by :mod:`lowrank.symbolic`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ._checks import (
    MAX_STEPS,
    ConvergenceWarning,
    as_array,
    as_float,
    as_int,
    as_rng,
    choose,
    step_count,
)
from ._newton import NewtonResult, newton
from .symbolic import CompiledEquations, X, as_nonlinearity, compile_equations, parameter_vector

__all__ = [
    "MeanField",
    "FixedPoint",
    "LatentFixedPoints",
    "StationaryState",
    "StationaryStates",
    "LatentTrajectory",
]

#: eigenvalues this close to the stability boundary count as stable (neutral directions of
#: continuous attractors such as rings are zero only up to round-off)
STABILITY_MARGIN = 1e-8


@dataclass
class FixedPoint:
    """A fixed point of the latent dynamics (g = 0).

    Attributes
    ----------
    kappa : ndarray (R,)
    eigenvalues : ndarray (R,) complex
        Of the Jacobian of the flow (-1 + dG/dkappa) or of the map (dG/dkappa), by decreasing real
        part (flow) or modulus (map).
    stable : bool
        Re lambda < 0 for flows, |lambda| < 1 for maps (up to ``STABILITY_MARGIN``).
    residual : float
        max |velocity| at ``kappa``.
    iterations : int
        Newton iterations of the start that found it.
    multiplicity : int
        Number of starts that converged to it.
    """

    kappa: np.ndarray
    eigenvalues: np.ndarray
    stable: bool
    residual: float
    iterations: int
    multiplicity: int = 1


@dataclass
class StationaryState:
    """A static or chaotic solution of the mean-field theory with a random bulk.

    Attributes
    ----------
    kappa : ndarray (R,)
    mu : ndarray (P,)
        Mean input of each population, mu_p = mu_{m,p}.kappa + mu_{I,p}.u.
    delta0 : ndarray (P,)
        Total variance Delta_0 of each population's input (structure plus bulk).
    delta_inf : ndarray (P,)
        Its long-time autocovariance; equal to ``delta0`` for a static state.
    chaotic : bool
    stable : bool
        Static state: all outliers inside the stability region and bulk radius below 1.
        Chaotic state: the latent variables are stable to slow perturbations (the Schur complement
        of the residual Jacobian that eliminates the variances; an adiabatic criterion).
    eigenvalues : ndarray complex
        Static: the R + 1 outlier eigenvalues of the linearised dynamics, -1 + eig(dF/d(kappa, D))
        for flows (eig(dF) for maps); R of them when g = 0. Chaotic: the R eigenvalues of the
        reduced latent dynamics described above.
    bulk_radius : float
        g sqrt(sum_p alpha_p [phi'^2]_p): radius of the bulk of J diag(phi'(x*)); the static state
        turns chaotic when it exceeds 1 (NaN for chaotic states).
    residual : float
    iterations : int
    unknowns : ndarray
        The solver's unknowns: (kappa, D) for static states, (kappa, D_0, log(D_0 - D_inf)) for
        chaotic ones (D the bulk part of the variance).
    """

    kappa: np.ndarray
    mu: np.ndarray
    delta0: np.ndarray
    delta_inf: np.ndarray
    chaotic: bool
    stable: bool
    eigenvalues: np.ndarray
    bulk_radius: float
    residual: float
    iterations: int
    unknowns: np.ndarray = field(repr=False, default=None)


@dataclass
class _Collection(Sequence):
    """Solutions from ``n_starts`` Newton starts, with array views of their main fields.

    ``n_failed`` starts did not converge; ``failed_residual`` is the smallest residual they reached.
    """

    points: list
    n_starts: int
    n_failed: int
    failed_residual: float = np.inf

    def __len__(self) -> int:
        return len(self.points)

    def __getitem__(self, index):
        return self.points[index]

    def __iter__(self) -> Iterator:
        return iter(self.points)

    @property
    def kappa(self) -> np.ndarray:
        """(n, R) array of the solutions' kappa."""
        return np.array([p.kappa for p in self.points]).reshape(len(self.points), -1)

    @property
    def stable(self) -> np.ndarray:
        return np.array([p.stable for p in self.points], dtype=bool)

    @property
    def residual(self) -> np.ndarray:
        """(n,) array of the solutions' residuals (each <= the solver's tolerance)."""
        return np.array([p.residual for p in self.points], dtype=float)


@dataclass
class LatentFixedPoints(_Collection):
    """All fixed points found by ``MeanField.fixed_points``.

    Attributes
    ----------
    points : list of FixedPoint
        Sorted by |kappa|, then by kappa.
    n_starts : int
        Number of Newton starts.
    n_failed : int
        Starts that did not converge (normal: not every start lies in a basin of a root).
    failed_residual : float
        Smallest residual reached by a start that did not converge (inf if none failed).
    """

    @property
    def eigenvalues(self) -> np.ndarray:
        return np.array([p.eigenvalues for p in self.points])


@dataclass
class StationaryStates(_Collection):
    """All static and chaotic solutions found by ``MeanField.stationary_states``.

    Attributes
    ----------
    points : list of StationaryState
        Static states first, then chaotic ones, each sorted by |kappa|.
    n_starts, n_failed : int
        Newton starts, and those that did not converge to an admissible solution.
    failed_residual : float
        Smallest residual reached by a start that did not converge (inf if none failed).
    """

    @property
    def chaotic(self) -> np.ndarray:
        return np.array([p.chaotic for p in self.points], dtype=bool)

    @property
    def delta0(self) -> np.ndarray:
        return np.array([p.delta0 for p in self.points]).reshape(len(self.points), -1)

    @property
    def delta_inf(self) -> np.ndarray:
        return np.array([p.delta_inf for p in self.points]).reshape(len(self.points), -1)

    @property
    def mu(self) -> np.ndarray:
        return np.array([p.mu for p in self.points]).reshape(len(self.points), -1)


@dataclass
class LatentTrajectory:
    """Latent trajectories: ``t`` (T,), ``kappa`` (batch, T, R)."""

    t: np.ndarray
    kappa: np.ndarray


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
    The pitchfork of a rank-one network with overlap 2 (THEORY.md section 5):

    >>> from lowrank import GaussianLoadings
    >>> mf = MeanField(GaussianLoadings([0, 0], [[1, 2], [2, 5]], rank=1))
    >>> [round(float(p.kappa[0]), 6) for p in mf.fixed_points()]  # doctest: +SKIP
    [0.0, -1.337109, 1.337109]
    """

    def __init__(self, loadings, g: float = 0.0, phi="tanh", time: str = "continuous"):
        if not all(hasattr(loadings, a) for a in ("components", "weights", "rank", "n_inputs")):
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
        self.theta = parameter_vector(loadings, self.g)
        self._phi_scale = None
        self._compiled: dict[str, CompiledEquations] = {}

    def __repr__(self) -> str:
        return (
            f"MeanField(rank={self.rank}, n_inputs={self.n_inputs}, "
            f"populations={self.n_populations}, "
            f"g={self.g}, phi={self.phi.name}, time={self.time!r})"
        )

    # --- helpers ------------------------------------------------------------------------------
    def _equations(self, kind: str) -> CompiledEquations:
        if kind not in self._compiled:
            self._compiled[kind] = compile_equations(
                kind, self.rank, self.n_inputs, self.n_populations, self.phi
            )
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

    def _stable(self, eigenvalues: np.ndarray) -> bool:
        if eigenvalues.size == 0:
            return True
        if self._is_flow:
            return bool(np.max(eigenvalues.real) < STABILITY_MARGIN)
        return bool(np.max(np.abs(eigenvalues)) < 1.0 + STABILITY_MARGIN)

    def _sorted_eigenvalues(self, matrix: np.ndarray) -> np.ndarray:
        values = np.linalg.eigvals(matrix).astype(complex)
        order = np.argsort(-(values.real if self._is_flow else np.abs(values)), kind="stable")
        return values[order]

    def kappa_scale(self) -> float:
        """Typical size of kappa: sqrt(max_r E[n_r^2]) times the size of phi on [-3, 3]."""
        if self._phi_scale is None:
            f = sp.lambdify(X, self.phi.expr, modules=["scipy", "numpy"])
            grid = np.linspace(-3.0, 3.0, 61)
            self._phi_scale = float(np.max(np.abs(np.broadcast_to(f(grid), grid.shape))))
        second = sum(
            w * (c.mean_n**2 + np.diag(c.cov_nn))
            for w, c in zip(self.loadings.weights, self.loadings.components, strict=True)
        )
        return float(np.sqrt(np.max(second))) * max(self._phi_scale, 1e-3)

    def _starts(self, n_starts: int, seed) -> np.ndarray:
        """Newton starts: the origin, +-eigenvectors of the overlap matrix, random points."""
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

    def simulate(self, kappa0, t_max: float, dt: float = 0.01, inputs=None) -> LatentTrajectory:
        """Integrate the latent flow (classical RK4) or iterate the map.

        Parameters
        ----------
        kappa0 : array_like (R,) or (batch, R)
        t_max : float
            Duration (flow) or number of steps (map).
        dt : float
            Time step of the flow; must be 1 for the map.
        inputs : array_like (K,) or (n_steps, K), optional
            Constant inputs, or one row per step (held within the step).

        Returns
        -------
        LatentTrajectory
            ``t`` (n_steps + 1,), ``kappa`` (batch, n_steps + 1, R).
        """
        self._require_closed("simulate")
        k0 = as_array(kappa0, "kappa0", ndim=(1, 2))
        k0 = k0.reshape(-1, k0.shape[-1])
        if k0.shape[1] != self.rank:
            raise ValueError(
                f"kappa0 must have {self.rank} entries per trial, got shape {k0.shape}"
            )
        dt = as_float(dt, "dt", positive=True)
        n_steps = step_count(t_max, dt, self.time)
        if k0.shape[0] * (n_steps + 1) * self.rank > MAX_STEPS // 2**32:
            raise ValueError(f"t_max / dt = {n_steps} steps are too many to record; lower t_max")
        if inputs is None or np.ndim(inputs) <= 1:
            u_const = self._inputs(inputs)
            u_seq = np.broadcast_to(u_const, (max(n_steps, 1), self.n_inputs))
        else:
            u_seq = as_array(inputs, "inputs", shape=(n_steps, self.n_inputs), allow_empty=True)
        eq = self._equations("latent")

        def G(k, u):
            return eq.value(k, u, self.theta)[0]

        out = np.empty((k0.shape[0], n_steps + 1, self.rank))
        for b, k in enumerate(k0):
            k = k.copy()
            out[b, 0] = k
            for s in range(n_steps):
                u = np.ascontiguousarray(u_seq[s])
                if self._is_flow:
                    f1 = G(k, u) - k
                    k2 = k + 0.5 * dt * f1
                    f2 = G(k2, u) - k2
                    k3 = k + 0.5 * dt * f2
                    f3 = G(k3, u) - k3
                    k4 = k + dt * f3
                    f4 = G(k4, u) - k4
                    k = k + dt / 6.0 * (f1 + 2.0 * f2 + 2.0 * f3 + f4)
                else:
                    k = G(k, u)
                out[b, s + 1] = k
        return LatentTrajectory(np.arange(n_steps + 1) * dt, out)

    def residual_function(self, kind: str, inputs=None):
        """The function y -> (residual, Jacobian, extras) whose roots the solvers find.

        ``kind`` is "latent" (y = kappa, residual G - kappa, g = 0), "static" (y = (kappa, D),
        residual F(y) - y) or "chaotic" (y = (kappa, D_0, log(D_0 - D_inf)); NaN once the gap
        D_0 - D_inf collapses below 1e-7 (1 + D_0), where the static solutions take over).
        """
        kind = choose(kind, "kind", ("latent", "static", "chaotic"))
        if kind == "latent":
            self._require_closed("the latent residual")
        u = self._inputs(inputs)
        eq = self._equations(kind)
        R = self.rank
        if kind == "chaotic":

            def chaotic(y):
                out = eq.value_jacobian(y, u, self.theta)
                if y[R + 1] < np.log(
                    1e-7 * (1.0 + abs(y[R]))
                ):  # drifting onto the static solutions
                    out[0][:] = np.nan
                return out

            return chaotic
        eye = np.eye(eq.n_unknowns)

        def residual(y):
            F, dF, extra = eq.value_jacobian(y, u, self.theta)
            return F - y, dF - eye, extra

        return residual

    def _fixed_point_from(
        self, start: np.ndarray, u: np.ndarray, tol: float, max_iter: int
    ) -> NewtonResult:
        return newton(self.residual_function("latent", u), start, tol=tol, max_iter=max_iter)

    def _make_fixed_point(self, res: NewtonResult, multiplicity: int = 1) -> FixedPoint:
        dG = res.jacobian + np.eye(self.rank)
        eig = self._sorted_eigenvalues(res.jacobian if self._is_flow else dG)
        return FixedPoint(
            res.x.copy(), eig, self._stable(eig), res.residual, res.iterations, multiplicity
        )

    def fixed_points(
        self,
        inputs=None,
        n_starts: int | None = None,
        seed=0,
        tol: float = 1e-10,
        max_iter: int = 60,
    ) -> LatentFixedPoints:
        """All fixed points of the latent dynamics (g = 0), unstable ones included.

        Multi-start Newton (the origin, the eigen-directions of the overlap matrix and random points
        in a ball of radius ~ ``kappa_scale()``), then deduplication (solutions closer than
        1e-5 (1 + |kappa|) are one). On a continuous attractor (a ring) every start lands somewhere
        on it, so the result samples the attractor.

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
            Newton iterations per start.

        Returns
        -------
        LatentFixedPoints
            Each point carries its ``residual`` (<= ``tol``, or <= 1e-7 where round-off stalls
            Newton); ``n_failed`` and ``failed_residual`` describe the starts that did not converge.

        Warns
        -----
        ConvergenceWarning
            (a RuntimeWarning) when no start converged; the message gives the smallest residual
            reached.
        """
        self._require_closed("fixed_points")
        u = self._inputs(inputs)
        n_starts = 40 * self.rank if n_starts is None else as_int(n_starts, "n_starts", minimum=1)
        tol = as_float(tol, "tol", positive=True)
        max_iter = as_int(max_iter, "max_iter", minimum=1)
        found: list[NewtonResult] = []
        counts: list[int] = []
        failed, failed_residual = 0, np.inf
        for start in self._starts(n_starts, seed):
            res = self._fixed_point_from(start, u, tol, max_iter)
            if not res.converged:
                failed += 1
                failed_residual = min(failed_residual, res.residual)
                continue
            for i, other in enumerate(found):
                if np.max(np.abs(other.x - res.x)) <= 1e-5 * (1.0 + np.max(np.abs(res.x))):
                    counts[i] += 1
                    break
            else:
                found.append(res)
                counts.append(1)
        points = [self._make_fixed_point(r, c) for r, c in zip(found, counts, strict=True)]
        points.sort(key=_by_kappa)
        if not points:
            _warn_none_converged("fixed_points", n_starts, failed_residual, tol, max_iter)
        return LatentFixedPoints(points, n_starts, failed, failed_residual)

    # --- stationary states with a random bulk ------------------------------------------------
    def _static_from(
        self, y0: np.ndarray, u: np.ndarray, tol: float, max_iter: int
    ) -> NewtonResult:
        return newton(self.residual_function("static", u), y0, tol=tol, max_iter=max_iter)

    def _chaotic_from(
        self, y0: np.ndarray, u: np.ndarray, tol: float, max_iter: int
    ) -> NewtonResult:
        """Newton on the chaotic system, with half the iterations (its starts are cheap to
        multiply and a start that has not converged by then rarely does)."""
        return newton(
            self.residual_function("chaotic", u), y0, tol=tol, max_iter=max(1, max_iter // 2)
        )

    def _make_static(self, res: NewtonResult) -> StationaryState:
        P, R = self.n_populations, self.rank
        dF = res.jacobian + np.eye(R + 1)
        block = dF if self.g > 0 else dF[:R, :R]
        eig = self._sorted_eigenvalues(block - np.eye(block.shape[0]) if self._is_flow else block)
        radius = float(np.sqrt(max(res.extra[2 * P], 0.0)))
        stable = self._stable(eig) and radius < 1.0
        delta = res.extra[P : 2 * P].copy()
        return StationaryState(
            res.x[:R].copy(),
            res.extra[:P].copy(),
            delta,
            delta.copy(),
            False,
            stable,
            eig,
            radius,
            res.residual,
            res.iterations,
            res.x.copy(),
        )

    def _make_chaotic(self, res: NewtonResult) -> StationaryState:
        P, R = self.n_populations, self.rank
        J = res.jacobian
        # Schur complement: latent dynamics with the variances (D_0, ell) slaved to kappa
        reduced = J[:R, :R] - J[:R, R:] @ np.linalg.solve(J[R:, R:], J[R:, :R])
        eig = self._sorted_eigenvalues(reduced)
        return StationaryState(
            res.x[:R].copy(),
            res.extra[:P].copy(),
            res.extra[P : 2 * P].copy(),
            res.extra[2 * P : 3 * P].copy(),
            True,
            self._stable(eig),
            eig,
            float("nan"),
            res.residual,
            res.iterations,
            res.x.copy(),
        )

    def _is_chaotic_solution(self, res: NewtonResult) -> bool:
        """A converged chaotic solution with a genuine gap D_0 - D_inf and nonnegative variances."""
        P = self.n_populations
        if not res.converged:
            return False
        D0, gap = res.x[self.rank], np.exp(res.x[self.rank + 1])
        return bool(gap > 1e-6 * (1.0 + abs(D0)) and np.all(res.extra[2 * P : 3 * P] >= -1e-10))

    def solve_near(self, state, inputs=None, tol: float = 1e-10, max_iter: int = 60):
        """Newton from a known solution (of this or of a nearby MeanField); None if it fails.

        ``state`` is a FixedPoint or a StationaryState; the result has the same type and kind.
        Used for continuation in :func:`lowrank.bifurcation_diagram`; ``newton_from`` also
        returns the residual reached when Newton fails.
        """
        return self.newton_from(state, inputs, tol, max_iter)[0]

    def newton_from(self, state, inputs=None, tol: float = 1e-10, max_iter: int = 60):
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
        if isinstance(state, FixedPoint):
            self._require_closed("a FixedPoint start")
            res = self._fixed_point_from(self._kappa(state.kappa, "state.kappa"), u, tol, max_iter)
            return (self._make_fixed_point(res) if res.converged else None), res.residual
        if not isinstance(state, StationaryState):
            raise TypeError(
                f"state must be a FixedPoint or StationaryState, got {type(state).__name__}"
            )
        if state.chaotic:
            res = self._chaotic_from(state.unknowns, u, tol, max_iter)
            ok = self._is_chaotic_solution(res)
            return (self._make_chaotic(res) if ok else None), res.residual
        y0 = state.unknowns.copy()
        if self.g == 0:
            y0[-1] = 0.0
        res = self._static_from(y0, u, tol, max_iter)
        return (self._make_static(res) if res.converged else None), res.residual

    def stationary_states(
        self,
        inputs=None,
        n_starts: int | None = None,
        seed=0,
        tol: float = 1e-10,
        max_iter: int = 60,
    ) -> StationaryStates:
        """Every static and chaotic solution of the mean-field theory, unstable ones included.

        Static states (THEORY.md section 3) solve kappa = G(kappa, D),
        D = g^2 sum_q alpha_q [phi^2]_q
        with Delta_p = S_p(kappa) + D. Chaotic states (continuous time, g > 0) solve the dynamic
        mean-field equations for (kappa, D_0, D_inf) with D_0 > D_inf; in the zero-mean limit they
        reduce to Sompolinsky, Crisanti & Sommers (1988). For maps (``time="discrete"``) only static
        states are computed. Multi-start Newton as in ``fixed_points``, with bulk-variance starts
        D in g^2 (0.05, 0.5) (static); chaotic starts at the kappa of every static state, the
        origin and the top eigen-directions, with D_0 = 0.6 g^2 and D_0 - D_inf in D_0 (0.9, 0.4).

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

        Returns
        -------
        StationaryStates
            Static states first, then chaotic ones, each sorted by |kappa|, each with its
            ``residual``; ``n_failed`` and ``failed_residual`` describe the starts that failed.

        Warns
        -----
        ConvergenceWarning
            (a RuntimeWarning) when no static state was found; the message gives the smallest
            residual reached.
        """
        u = self._inputs(inputs)
        tol = as_float(tol, "tol", positive=True)
        max_iter = as_int(max_iter, "max_iter", minimum=1)
        n_starts = 20 * self.rank if n_starts is None else as_int(n_starts, "n_starts", minimum=1)
        kappa_starts = self._starts(n_starts, seed)
        g2 = self.g**2
        static_starts = [
            np.append(k, d)
            for d in ((0.0,) if self.g == 0 else (0.05 * g2, 0.5 * g2))
            for k in kappa_starts
        ]
        results, failed, failed_residual = [], 0, np.inf
        for y0 in static_starts:
            res = self._static_from(y0, u, tol, max_iter)
            if res.converged and res.x[-1] >= -1e-12:
                results.append(res)
            else:
                failed += 1
                failed_residual = min(failed_residual, res.residual)
        static = [self._make_static(r) for r in _dedup(results)]
        chaotic = []
        n_total = len(static_starts)
        if self.g > 0 and self._is_flow:
            # chaotic branches emanate from static states whose bulk radius exceeds 1: start from
            # their kappa and from the origin and the top eigen-directions
            seeds = [s.kappa for s in static] + list(kappa_starts[: 2 * self.rank + 1 : 2])
            seeds = [
                k
                for i, k in enumerate(seeds)
                if all(np.max(np.abs(k - q)) > 1e-3 for q in seeds[:i])
            ]
            chaotic_results = []
            for k in seeds:
                for frac in (0.9, 0.4):
                    n_total += 1
                    d0 = 0.6 * g2
                    y0 = np.concatenate([k, [d0, np.log(frac * d0)]])
                    res = self._chaotic_from(y0, u, tol, max_iter)
                    if self._is_chaotic_solution(res):
                        chaotic_results.append(res)
                    else:
                        failed += 1
                        if not res.converged:
                            failed_residual = min(failed_residual, res.residual)
            chaotic = [
                self._make_chaotic(r) for r in _dedup(chaotic_results, chaotic=True, rank=self.rank)
            ]
        points = sorted(static, key=_by_kappa) + sorted(chaotic, key=_by_kappa)
        if not static:
            _warn_none_converged(
                "stationary_states", len(static_starts), failed_residual, tol, max_iter
            )
        return StationaryStates(points, n_total, failed, failed_residual)


def _warn_none_converged(
    what: str, n_starts: int, residual: float, tol: float, max_iter: int
) -> None:
    warnings.warn(
        f"{what}: none of the {n_starts} Newton starts converged; the smallest residual reached "
        f"was {residual:.3g} (tol {tol:.3g}, max_iter {max_iter}); raise max_iter or n_starts",
        ConvergenceWarning,
        stacklevel=3,
    )


def _by_kappa(point) -> tuple:
    """Sort key of solutions: by |kappa|, then by kappa (rounded, so the order is reproducible)."""
    return round(float(np.linalg.norm(point.kappa)), 8), tuple(np.round(point.kappa, 8))


def _dedup(results: list[NewtonResult], chaotic: bool = False, rank: int = 0) -> list[NewtonResult]:
    """Drop solutions within 1e-5 (1 + |y|) of an earlier one (on kappa and the variances)."""

    def signature(res):
        if not chaotic:
            return res.x
        D0, gap = res.x[rank], np.exp(res.x[rank + 1])
        return np.concatenate([res.x[:rank], [D0, D0 - gap]])

    kept: list[NewtonResult] = []
    for res in results:
        sig = signature(res)
        if all(
            np.max(np.abs(signature(k) - sig)) > 1e-5 * (1.0 + np.max(np.abs(sig))) for k in kept
        ):
            kept.append(res)
    return kept
