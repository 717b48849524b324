"""Low-rank recurrent networks with an optional random bulk.

Connectivity (Mastrogiuseppe & Ostojic 2018; docs/theory, section theory-network):

    J = g chi + sum_r m_r n_r^T / N,    chi_ij ~ N(0, 1/N),

with loadings m, n of order one. Spectra (Girko; Rajan & Abbott 2006): the eigenvalues of g chi fill
the disk of radius g, and the structure adds outliers at the eigenvalues of n^T m / N.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from ._checks import as_array, as_float, as_int, seed_sequence

__all__ = ["LowRankNetwork"]


class LowRankNetwork:
    """A rank-R network J = m n^T / N + g chi with input weights and an optional bias.

    Parameters
    ----------
    m, n : array_like, shape (N, R)
        Left and right connectivity vectors (loadings of order one).
    inputs : array_like, shape (N, K), optional
        Input weights I (K = 0 if omitted).
    g : float
        Strength of the random bulk, >= 0.
    chi : array_like, shape (N, N), optional
        The random bulk with entries of variance 1/N; required when g > 0.
    bias : array_like, shape (N,), optional
        Constant input b added to every neuron (zero if omitted).
    """

    def __init__(self, m, n, inputs=None, g: float = 0.0, chi=None, bias=None):
        self.m = as_array(m, "m", ndim=2)
        N, R = self.m.shape
        if R > N:
            raise ValueError(
                f"rank R = {R} must not exceed the number of neurons N = {N}: m has shape "
                f"{self.m.shape} (neurons x rank)"
            )
        self.n = as_array(n, "n", shape=(N, R))
        if inputs is None:
            self.inputs = np.zeros((N, 0))
        else:
            self.inputs = as_array(inputs, "inputs", ndim=2, shape=(N, None), allow_empty=True)
        self.g = as_float(g, "g", minimum=0.0)
        if chi is None:
            if self.g > 0:
                raise ValueError(
                    "chi (N, N) is required when g > 0; use LowRankNetwork.sample to draw it"
                )
            self.chi = None
        else:
            self.chi = as_array(chi, "chi", shape=(N, N))
        self.bias = np.zeros(N) if bias is None else as_array(bias, "bias", shape=(N,))

    @property
    def N(self) -> int:
        """Number of neurons."""
        return self.m.shape[0]

    @property
    def rank(self) -> int:
        return self.m.shape[1]

    @property
    def n_inputs(self) -> int:
        return self.inputs.shape[1]

    @property
    def has_bulk(self) -> bool:
        """True when the random bulk g chi contributes to the connectivity."""
        return self.chi is not None and self.g > 0

    @classmethod
    def sample(
        cls, loadings, N: int, g: float = 0.0, seed=0, whiten: bool = False
    ) -> LowRankNetwork:
        """Draw a network whose neurons' loadings follow ``loadings``.

        Parameters
        ----------
        loadings : GaussianLoadings or MixtureLoadings
            The law of each neuron's row (m, n, I).
        N : int
            Number of neurons (>= rank).
        g : float
            Bulk strength; chi_ij ~ N(0, 1/N) is drawn when g > 0.
        seed : int or numpy.random.Generator
            The loadings and the bulk come from independent child streams, so changing g does not
            change the loadings.
        whiten : bool
            Match the sample statistics of the loadings to the law exactly (see ``sample`` of the
            law).
        """
        if not hasattr(loadings, "sample") or not hasattr(loadings, "split"):
            raise TypeError(
                "loadings must be GaussianLoadings or MixtureLoadings, "
                f"got {type(loadings).__name__}"
            )
        N = as_int(N, "N", minimum=1)
        if loadings.rank > N:
            raise ValueError(
                f"rank R = {loadings.rank} must not exceed the number of neurons N = {N}"
            )
        g = as_float(g, "g", minimum=0.0)
        child_rows, child_bulk = seed_sequence(seed).spawn(2)
        rows = loadings.sample(N, np.random.default_rng(child_rows), whiten=whiten)
        m, n, inputs = loadings.split(rows)
        chi = None
        if g > 0:
            chi = np.random.default_rng(child_bulk).standard_normal((N, N)) / np.sqrt(N)
        return cls(m, n, inputs, g=g, chi=chi)

    def overlaps(self) -> np.ndarray:
        """Sample overlap matrix n^T m / N, shape (R, R), entry [r, s] = n_r . m_s / N."""
        return self.n.T @ self.m / self.N

    def dense(self) -> np.ndarray:
        """The full connectivity J = m n^T / N + g chi, shape (N, N)."""
        J = self.m @ self.n.T / self.N
        if self.has_bulk:
            J += self.g * self.chi
        return J

    def eigenvalues(self) -> np.ndarray:
        """All N eigenvalues of J, sorted by decreasing modulus.

        Without a bulk the nonzero eigenvalues are those of the R x R matrix n^T m / N (the
        other N - R are exactly zero), which avoids an O(N^3) decomposition.
        """
        if not self.has_bulk:
            values = np.zeros(self.N, dtype=complex)
            values[: self.rank] = np.linalg.eigvals(self.overlaps())
        else:
            with threadpool_limits(1):
                values = np.linalg.eigvals(self.dense())
        return values[np.argsort(-np.abs(values), kind="stable")]

    def bulk_radius(self) -> float:
        """Radius g of the disk filled by the eigenvalues of g chi (circular law)."""
        return self.g if self.has_bulk else 0.0

    def outliers(self, margin: float | None = None) -> np.ndarray:
        """Eigenvalues of J outside the bulk disk, sorted by decreasing modulus.

        Parameters
        ----------
        margin : float, optional
            Eigenvalues with modulus above ``bulk_radius() + margin`` count as outliers. The
            default, 4 g / sqrt(N), sits above the finite-N fluctuation of the bulk edge.
            Without a bulk every nonzero eigenvalue of n^T m / N is an outlier.
        """
        values = self.eigenvalues()
        if margin is None:
            margin = 4.0 * self.bulk_radius() / np.sqrt(self.N)
        margin = as_float(margin, "margin", minimum=0.0)
        scale = max(float(np.abs(values).max()), 1.0)
        threshold = max(self.bulk_radius() + margin, 1e-12 * scale)
        return values[np.abs(values) > threshold]

    def __repr__(self) -> str:
        return f"LowRankNetwork(N={self.N}, rank={self.rank}, n_inputs={self.n_inputs}, g={self.g})"
