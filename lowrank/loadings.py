"""The joint law of one neuron's loadings (m_1..m_R, n_1..n_R, I_1..I_K).

Low-rank mean-field theory (Mastrogiuseppe & Ostojic 2018, Neuron 99:609; Beiran et al. 2021,
Neural Comput. 33:1572) takes each neuron's row of loadings to be drawn i.i.d. from a Gaussian,
or from a mixture of P Gaussians ("populations") with weights alpha_p. The covariance between
n_r and m_s is the overlap sigma_{n_r m_s}; the expected overlap matrix
E[n_r m_s] = sigma_{n_r m_s} + mu_{n_r} mu_{m_s} is the limit of n^T m / N.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._checks import (
    ConvergenceWarning,
    as_array,
    as_bool,
    as_float,
    as_int,
    as_rng,
    choose,
    seed_sequence,
)

__all__ = ["GaussianLoadings", "MixtureLoadings", "EMReport"]


def _scale(cov: np.ndarray) -> float:
    """max(max |C_ij|, 1): the scale at which symmetry and definiteness are judged."""
    return max(float(np.max(np.abs(cov))), 1.0) if cov.size else 1.0


def _check_covariance(cov: np.ndarray, name: str) -> np.ndarray:
    """Return the symmetrised ``cov``; raise ValueError unless it is symmetric PSD."""
    scale = _scale(cov)
    unit = cov / scale  # judged at unit scale, so that no square or sum overflows
    asymmetry = float(np.max(np.abs(unit - unit.T))) if cov.size else 0.0
    if asymmetry > 1e-10:
        raise ValueError(f"{name} must be symmetric (max |C - C^T| = {asymmetry * scale:.3g})")
    unit = 0.5 * (unit + unit.T)
    lowest = float(np.linalg.eigvalsh(unit).min()) if cov.size else 0.0
    if lowest < -1e-10:
        raise ValueError(
            f"{name} must be positive semi-definite; "
            f"its smallest eigenvalue is {lowest * scale:.6g}"
        )
    return unit * scale


def _covariance_factor(cov: np.ndarray) -> np.ndarray:
    """Return A with A A^T = cov, keeping only the directions whose variance exceeds 1e-12 times
    the largest (dim, rank); the same at any scale of cov."""
    scale = float(np.max(np.abs(cov))) if cov.size else 0.0
    if scale == 0.0:
        return np.zeros((cov.shape[0], 0))
    values, vectors = np.linalg.eigh(cov / scale)
    keep = values > 1e-12 * values.max()
    return vectors[:, keep] * (np.sqrt(values[keep]) * np.sqrt(scale))


def _standard_normal_rows(
    rng: np.random.Generator, n_rows: int, dim: int, whiten: bool
) -> np.ndarray:
    """Draw (n_rows, dim) standard normals; whitened: sample mean exactly 0 and sample
    covariance exactly I."""
    z = rng.standard_normal((n_rows, dim))
    if whiten and dim > 0:
        if n_rows <= dim:
            raise ValueError(f"whiten=True needs more rows than dimensions ({n_rows} <= {dim})")
        z -= z.mean(axis=0)
        values, vectors = np.linalg.eigh(z.T @ z / n_rows)
        z = z @ (vectors / np.sqrt(values)) @ vectors.T
    return z


@dataclass
class EMReport:
    """How the EM fit of ``MixtureLoadings.fit`` ended, for the chosen number of populations.

    Attributes
    ----------
    converged : bool
        The lower bound changed by less than ``tol`` within ``max_iter`` iterations.
    iterations : int
        EM iterations of the best initialisation.
    lower_bound : float
        Final mean log-likelihood lower bound.
    residual : float
        Its change over the last iteration (inf after a single iteration).
    n_components : int
        Number of populations chosen.
    bic : float
        Bayesian information criterion of the chosen fit.
    """

    converged: bool
    iterations: int
    lower_bound: float
    residual: float
    n_components: int
    bic: float


class GaussianLoadings:
    """Gaussian law of one neuron's row ``[m_1..m_R, n_1..n_R, I_1..I_K]``.

    Parameters
    ----------
    mean : array_like, shape (2R + K,)
        Means of the loadings, ordered m, then n, then input weights.
    cov : array_like, shape (2R + K, 2R + K)
        Covariance; must be symmetric positive semi-definite.
    rank : int
        Rank R of the connectivity M N^T / N.
    n_inputs : int
        Number K of input channels.

    Examples
    --------
    Rank one with overlap sigma_mn = 2 and unit variances (a pitchfork past overlap 1):

    >>> law = GaussianLoadings([0, 0], [[1, 2], [2, 5]], rank=1)
    >>> law.cov_nm
    array([[2.]])
    """

    def __init__(self, mean, cov, rank: int, n_inputs: int = 0):
        self.rank = as_int(rank, "rank", minimum=1)
        self.n_inputs = as_int(n_inputs, "n_inputs", minimum=0)
        dim = 2 * self.rank + self.n_inputs
        self.mean = as_array(mean, "mean", shape=(dim,))
        self.cov = _check_covariance(as_array(cov, "cov", shape=(dim, dim)), "cov")

    # --- index blocks -------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Length 2R + K of one row."""
        return 2 * self.rank + self.n_inputs

    @property
    def _m(self) -> slice:
        return slice(0, self.rank)

    @property
    def _n(self) -> slice:
        return slice(self.rank, 2 * self.rank)

    @property
    def _i(self) -> slice:
        return slice(2 * self.rank, self.dim)

    @property
    def mean_m(self) -> np.ndarray:
        return self.mean[self._m]

    @property
    def mean_n(self) -> np.ndarray:
        return self.mean[self._n]

    @property
    def mean_inputs(self) -> np.ndarray:
        return self.mean[self._i]

    @property
    def cov_mm(self) -> np.ndarray:
        """Cov(m_r, m_s), shape (R, R)."""
        return self.cov[self._m, self._m]

    @property
    def cov_nm(self) -> np.ndarray:
        """Overlaps sigma_{n_r m_s} = Cov(n_r, m_s), shape (R, R)."""
        return self.cov[self._n, self._m]

    @property
    def cov_nn(self) -> np.ndarray:
        return self.cov[self._n, self._n]

    @property
    def cov_mi(self) -> np.ndarray:
        """Cov(m_r, I_k), shape (R, K)."""
        return self.cov[self._m, self._i]

    @property
    def cov_ni(self) -> np.ndarray:
        """Cov(n_r, I_k), shape (R, K)."""
        return self.cov[self._n, self._i]

    @property
    def cov_ii(self) -> np.ndarray:
        return self.cov[self._i, self._i]

    # --- mixture interface (one population) ----------------------------------------------------
    @property
    def components(self) -> list[GaussianLoadings]:
        """The populations: this law alone."""
        return [self]

    @property
    def weights(self) -> np.ndarray:
        return np.ones(1)

    @property
    def n_populations(self) -> int:
        return 1

    def overlaps(self) -> np.ndarray:
        """Expected overlap matrix E[n_r m_s] = sigma_{n_r m_s} + mu_{n_r} mu_{m_s}, shape (R, R).

        This is the N -> infinity limit of ``n.T @ m / N``; its eigenvalues are the outliers of
        the connectivity (Rajan & Abbott 2006; docs/theory, section theory-spectra).
        """
        return self.cov_nm + np.outer(self.mean_n, self.mean_m)

    # --- sampling and fitting ------------------------------------------------------------------
    def sample(self, N: int, seed=0, whiten: bool = False) -> np.ndarray:
        """Draw N i.i.d. rows, shape (N, 2R + K).

        Parameters
        ----------
        N : int
            Number of neurons.
        seed : int or numpy.random.Generator
            Random seed; the same seed gives the same rows.
        whiten : bool
            If True, transform the draw so that its sample mean and (1/N-normalised) sample
            covariance equal ``mean`` and ``cov`` exactly. This removes the O(1/sqrt(N))
            fluctuation of the sample overlaps, which matters near bifurcations.
        """
        N = as_int(N, "N", minimum=1)
        rng = as_rng(seed)
        factor = _covariance_factor(self.cov)
        z = _standard_normal_rows(rng, N, factor.shape[1], as_bool(whiten, "whiten"))
        return self.mean + z @ factor.T

    def split(self, rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Split rows (N, 2R + K) into m (N, R), n (N, R) and input weights (N, K)."""
        rows = as_array(rows, "rows", ndim=2, shape=(None, self.dim))
        return rows[:, self._m].copy(), rows[:, self._n].copy(), rows[:, self._i].copy()

    @classmethod
    def fit(cls, rows, rank: int, n_inputs: int = 0) -> GaussianLoadings:
        """Maximum-likelihood Gaussian law (sample mean and 1/N covariance) of observed rows.

        Parameters
        ----------
        rows : array_like, shape (N, 2R + K)
            One row per neuron, ordered m, n, inputs.
        rank, n_inputs : int
            The block sizes R and K.
        """
        rank = as_int(rank, "rank", minimum=1)
        n_inputs = as_int(n_inputs, "n_inputs", minimum=0)
        rows = as_array(rows, "rows", ndim=2, shape=(None, 2 * rank + n_inputs))
        if rows.shape[0] < 2:
            raise ValueError(
                f"rows must hold at least 2 neurons to fit a covariance, got {rows.shape[0]}"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            mean = rows.mean(axis=0)
            centred = rows - mean
            cov = centred.T @ centred / rows.shape[0]
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))):
            raise ValueError("rows are too large: their mean or covariance overflows float64")
        return cls(mean, cov, rank, n_inputs)

    def __repr__(self) -> str:
        return f"GaussianLoadings(rank={self.rank}, n_inputs={self.n_inputs})"


class MixtureLoadings:
    """Mixture of P Gaussian populations (Beiran et al. 2021, Neural Comput. 33:1572).

    Parameters
    ----------
    components : sequence of GaussianLoadings
        One law per population, all with the same rank and number of inputs.
    weights : array_like, shape (P,)
        Population fractions alpha_p, positive and summing to 1.
    """

    def __init__(self, components: Sequence[GaussianLoadings], weights):
        try:
            if isinstance(components, GaussianLoadings):
                raise TypeError
            components = list(components)
        except TypeError:
            raise TypeError(
                f"components must be a list of GaussianLoadings, got {type(components).__name__}"
            ) from None
        if not components:
            raise ValueError("components must hold at least one GaussianLoadings")
        for p, comp in enumerate(components):
            if not isinstance(comp, GaussianLoadings):
                raise TypeError(
                    f"components[{p}] must be a GaussianLoadings, got {type(comp).__name__}"
                )
            if (comp.rank, comp.n_inputs) != (components[0].rank, components[0].n_inputs):
                raise ValueError(
                    f"components[{p}] has rank {comp.rank} and {comp.n_inputs} inputs; "
                    f"components[0] has rank {components[0].rank} and {components[0].n_inputs}"
                )
        weights = as_array(weights, "weights", shape=(len(components),))
        if np.any(weights <= 0):
            raise ValueError(f"weights must be positive, got {weights}")
        if abs(weights.sum() - 1.0) > 1e-8:
            raise ValueError(f"weights must sum to 1, got sum {weights.sum():.10g}")
        self.components = components
        self.weights = weights / weights.sum()
        self.rank = components[0].rank
        self.n_inputs = components[0].n_inputs
        #: How EM converged, when the mixture came from ``fit`` (None otherwise).
        self.fit_report: EMReport | None = None
        #: Each fitted neuron's population, when the mixture came from a hard assignment
        #: (``lowrank.populations.floored_mixture``; None otherwise).
        self.labels: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return 2 * self.rank + self.n_inputs

    @property
    def n_populations(self) -> int:
        return len(self.components)

    def overlaps(self) -> np.ndarray:
        """Expected overlap matrix E[n_r m_s] = sum_p alpha_p E_p[n_r m_s], shape (R, R)."""
        return sum(w * c.overlaps() for w, c in zip(self.weights, self.components, strict=True))

    def population_sizes(self, N: int) -> np.ndarray:
        """Deterministic population sizes closest to alpha_p N (largest-remainder rounding)."""
        N = as_int(N, "N", minimum=1)
        exact = self.weights * N
        sizes = np.floor(exact).astype(int)
        order = np.argsort(-(exact - sizes), kind="stable")
        sizes[order[: N - sizes.sum()]] += 1
        return sizes

    def sample(self, N: int, seed=0, whiten: bool = False, return_labels: bool = False):
        """Draw N rows, shape (N, 2R + K), grouped by population.

        Without whitening the population sizes are multinomial (i.i.d. rows from the mixture);
        with ``whiten=True`` they are the deterministic ``population_sizes(N)`` and every
        population's sample mean and covariance equal its law exactly.

        Returns
        -------
        rows : ndarray (N, 2R + K)
        labels : ndarray (N,) of int, only if ``return_labels``
        """
        N = as_int(N, "N", minimum=1)
        whiten = as_bool(whiten, "whiten")
        return_labels = as_bool(return_labels, "return_labels")
        children = seed_sequence(seed).spawn(self.n_populations + 1)
        if whiten:
            sizes = self.population_sizes(N)
        else:
            sizes = np.random.default_rng(children[-1]).multinomial(N, self.weights)
        blocks = [
            comp.sample(int(size), np.random.default_rng(child), whiten=whiten)
            if size
            else np.empty((0, self.dim))
            for comp, size, child in zip(self.components, sizes, children[:-1], strict=True)
        ]
        rows = np.concatenate(blocks, axis=0)
        labels = np.repeat(np.arange(self.n_populations), sizes)
        return (rows, labels) if return_labels else rows

    def split(self, rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Split rows (N, 2R + K) into m (N, R), n (N, R) and input weights (N, K)."""
        return self.components[0].split(rows)

    @classmethod
    def fit(
        cls,
        rows,
        rank: int,
        n_inputs: int = 0,
        n_components: int | str = "bic",
        max_components: int = 5,
        seed=0,
        reg_covar: float = 1e-6,
        covariance_type: str = "full",
        max_iter: int = 100,
        tol: float = 1e-3,
    ) -> MixtureLoadings:
        """Fit a Gaussian mixture to observed rows by EM (scikit-learn ``GaussianMixture``).

        Parameters
        ----------
        rows : array_like, shape (N, 2R + K)
        rank, n_inputs : int
        n_components : int or "bic"
            Number of populations, or "bic" to choose 1..max_components by the Bayesian
            information criterion.
        max_components : int
            Largest number of populations tried with "bic".
        seed : int
            Seed of the EM initialisation.
        reg_covar : float
            Added to the diagonal of each covariance for numerical stability.
        covariance_type : {"full", "tied", "best"}
            One covariance per population ("full"), one shared by all populations that differ
            by their means ("tied": far fewer parameters, so the BIC can afford more populations
            when neurons are few), or whichever of the two the BIC prefers ("best").
        max_iter : int
            EM iterations per initialisation.
        tol : float
            EM stops when the mean log-likelihood lower bound changes by less than ``tol``.

        Returns
        -------
        MixtureLoadings
            With ``fit_report`` (an :class:`EMReport`): converged, iterations, lower bound and
            its last change (the residual) for the chosen number of populations.

        Raises
        ------
        ValueError
            On bad arguments, or when EM fails on ``rows`` (degenerate or extreme values).

        Warns
        -----
        ConvergenceWarning
            (a RuntimeWarning) if EM did not converge for the chosen number of populations; the
            message gives the last change of the lower bound.
        """
        from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
        from sklearn.mixture import GaussianMixture

        rank = as_int(rank, "rank", minimum=1)
        n_inputs = as_int(n_inputs, "n_inputs", minimum=0)
        rows = as_array(rows, "rows", ndim=2, shape=(None, 2 * rank + n_inputs))
        if rows.shape[0] < 2:
            raise ValueError(f"rows must hold at least 2 neurons, got {rows.shape[0]}")
        reg_covar = as_float(reg_covar, "reg_covar", minimum=0.0)
        max_iter = as_int(max_iter, "max_iter", minimum=1)
        tol = as_float(tol, "tol", positive=True)
        if n_components == "bic":
            candidates = range(1, as_int(max_components, "max_components", minimum=1) + 1)
        else:
            candidates = [as_int(n_components, "n_components", minimum=1)]
        kinds = {"full": ["full"], "tied": ["tied"], "best": ["full", "tied"]}[
            choose(covariance_type, "covariance_type", ("full", "tied", "best"))
        ]
        seed_int = int(seed_sequence(seed).generate_state(1)[0])
        best, best_bic = None, np.inf
        for kind in kinds:
            for k in candidates:
                if k > rows.shape[0]:
                    break
                model = GaussianMixture(
                    k,
                    covariance_type=kind,
                    reg_covar=reg_covar,
                    random_state=seed_int,
                    n_init=2,
                    max_iter=max_iter,
                    tol=tol,
                )
                try:
                    with warnings.catch_warnings(), np.errstate(all="ignore"):
                        # reported below, for the chosen model only
                        warnings.simplefilter("ignore", SklearnConvergenceWarning)
                        model.fit(rows)
                        bic = model.bic(rows)
                except ValueError as exc:
                    raise ValueError(
                        f"EM failed on rows ({k} populations, covariance_type={kind!r}): {exc}"
                    ) from exc
                if bic < best_bic:
                    best, best_bic = model, bic
        if best is None:
            raise ValueError(
                f"rows holds {rows.shape[0]} neurons, too few for {list(candidates)} populations"
            )
        if not (np.all(np.isfinite(best.means_)) and np.all(np.isfinite(best.covariances_))):
            raise ValueError("EM on rows gave non-finite parameters (rows of extreme magnitude?)")
        bounds = np.asarray(getattr(best, "lower_bounds_", [best.lower_bound_]), dtype=float)
        report = EMReport(
            converged=bool(best.converged_),
            iterations=int(best.n_iter_),
            lower_bound=float(best.lower_bound_),
            residual=float(abs(bounds[-1] - bounds[-2])) if bounds.size > 1 else np.inf,
            n_components=int(best.n_components),
            bic=float(best_bic),
        )
        if not report.converged:
            warnings.warn(
                f"EM did not converge in {max_iter} iterations for {report.n_components} "
                f"populations: the lower bound ({report.lower_bound:.6g}) last changed by "
                f"{report.residual:.3g} > tol = {tol:.3g}; raise max_iter",
                ConvergenceWarning,
                stacklevel=2,
            )
        covariances = best.covariances_
        if best.covariance_type == "tied":
            covariances = [covariances] * best.n_components
        comps = [
            GaussianLoadings(mu, c, rank, n_inputs)
            for mu, c in zip(best.means_, covariances, strict=True)
        ]
        fitted = cls(comps, best.weights_ / best.weights_.sum())
        fitted.fit_report = report
        return fitted

    def __repr__(self) -> str:
        return (
            f"MixtureLoadings(rank={self.rank}, n_inputs={self.n_inputs}, "
            f"populations={self.n_populations})"
        )
