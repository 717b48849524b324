"""Projection of a (trained) weight matrix onto low-rank form, and the law of its loadings.

Trained recurrent networks are close to "random bulk + a few structured directions": the weight
change Delta W = W - W_0 of a trained network is low rank (Schuessler et al. 2020, NeurIPS). The
truncated SVD  W - W_0 ~ U_R S_R V_R^T  is written in the package's convention

    W - W_0 ~ m n^T / N,    m = sqrt(N) U_R S_R^{1/2},   n = sqrt(N) V_R S_R^{1/2},

so that the loadings are of order one. The neurons' rows (m, n, input weights) are then fitted by a
Gaussian or a mixture of Gaussian populations (Beiran et al. 2021), which is what the mean-field
engine needs to predict attractors.
The factorisation is unique up to an invertible R x R mixing of m and n; the SVD's is canonical.

The number of populations is chosen by default by the resampling test of Dubreuil et al. (2022,
Nat. Neurosci. 25:783; ``lowrank.populations``): the smallest P whose resampled networks keep the
attractors of the network projected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from ._checks import as_array, as_bool, as_int, choose
from ._repr import compact_repr
from .dynamics.systems import Dynamics, System, own_time
from .loadings import GaussianLoadings, MixtureLoadings
from .network import LowRankNetwork
from .populations import PopulationChoice, count_attractors, fit_populations

__all__ = ["Projection", "choose_rank", "loading_rows", "project", "svd_factors"]


def choose_rank(singular_values, max_rank: int | None = None) -> int:
    """Rank at the largest gap of the singular-value spectrum.

    Returns the R (1 <= R <= max_rank) maximising the ratio s_R / s_{R+1}, the usual "elbow" of a
    low-rank-plus-noise spectrum (the ratio is scale-free, so the bulk's level need not be known).

    Parameters
    ----------
    singular_values : array_like
        Singular values in decreasing order.
    max_rank : int, optional
        Largest rank considered (default: half the number of singular values, at most 20).
    """
    s = as_array(singular_values, "singular_values", ndim=1)
    if s.size < 2:
        raise ValueError(f"singular_values must hold at least 2 values, got {s.size}")
    if np.any(np.diff(s) > 1e-12 * s[0]) or s[-1] < 0:
        raise ValueError("singular_values must be non-negative and sorted in decreasing order")
    if max_rank is None:
        max_rank = min(20, max(1, s.size // 2))
    max_rank = as_int(max_rank, "max_rank", minimum=1, maximum=s.size - 1)
    tiny = np.finfo(float).tiny
    ratios = s[:max_rank] / np.maximum(s[1 : max_rank + 1], tiny)
    return int(np.argmax(ratios)) + 1


def svd_factors(target: np.ndarray, rank: int | None = None):
    """Truncated SVD written as m n^T / N: m = sqrt(N) U_R S_R^{1/2}, n = sqrt(N) V_R S_R^{1/2}.

    Returns m, n (N, R) and all singular values; R is chosen by ``choose_rank`` if omitted.
    """
    N = target.shape[0]
    with threadpool_limits(1):  # multi-threaded OpenBLAS is far slower on 2 cores
        U, s, Vt = np.linalg.svd(target)
    if rank is None:
        rank = choose_rank(s) if s.size > 1 else 1
    rank = as_int(rank, "rank", minimum=1, maximum=N)
    scale = np.sqrt(N * s[:rank])
    return U[:, :rank] * scale, Vt[:rank].T * scale, s


def loading_rows(m, n, inputs, bias) -> tuple[np.ndarray, np.ndarray]:
    """The neurons' rows of loadings and the input that holds the network at rest.

    Each neuron's row is (m_i, n_i, input weights I_i, b_i): the bias b, when nonzero, is one
    more input column, driven by a constant 1.0 (Beiran et al. 2021 treat constant inputs as
    input loadings). Returns the rows (N, 2R + K) and u (K,), the input of zero external drive:
    zeros, then 1.0 for the bias column.
    """
    inputs = np.asarray(inputs, np.float64).reshape(len(m), -1)
    bias = np.asarray(bias, np.float64).reshape(-1)
    has_bias = bool(np.any(bias))
    rows = np.concatenate([m, n, inputs] + [bias[:, None]] * has_bias, axis=1)
    return rows, np.append(np.zeros(inputs.shape[1]), [1.0] * has_bias)


@dataclass
class Projection:
    """A weight matrix projected to rank R.

    Attributes
    ----------
    network : LowRankNetwork
        m, n (N, R) with m n^T / N the rank-R part of W (or of W - reference), the input weights and
        bias; with a reference, its bulk is kept as g chi (g = sqrt(N) std(reference)).
    loadings : GaussianLoadings or MixtureLoadings
        The law fitted to the neurons' rows (m, n, inputs, and the bias as one more input column
        held at 1.0 when the network has one): Gaussian, or a mixture of
        ``populations.n_populations`` populations.
    singular_values : ndarray
        All singular values of W (or W - reference), decreasing.
    energy : float
        Fraction of the squared Frobenius norm the rank keeps, sum_{r<=R} s_r^2 / sum s^2.
    time : str
        Time convention of the network the weights come from.
    populations : PopulationChoice
        How the number of populations was chosen (``lowrank.populations``), with the evidence.
    bias_input : bool
        The last input column of ``loadings`` is the network's bias (drive it with 1.0:
        ``drive``).
    """

    __repr__ = compact_repr

    network: LowRankNetwork
    loadings: GaussianLoadings | MixtureLoadings
    singular_values: np.ndarray
    energy: float
    time: str
    populations: PopulationChoice | None = None
    bias_input: bool = False

    @property
    def rank(self) -> int:
        return self.network.rank

    def meanfield(self, **kwargs):
        """The MeanField of the fitted loadings (bulk strength g, same time convention)."""
        from .meanfield import MeanField

        return MeanField(self.loadings, g=self.network.g, time=self.time, **kwargs)

    def drive(self, inputs=None) -> np.ndarray:
        """The input vector of ``loadings`` for the network's inputs u (K,) (zero if None): u,
        followed by 1.0 for the bias column when there is one."""
        K = self.network.n_inputs
        u = np.zeros(K) if inputs is None else as_array(inputs, "inputs", shape=(K,),
                                                        allow_empty=True)
        return np.append(u, 1.0) if self.bias_input else u


def project(
    weights,
    rank: int | None = None,
    reference=None,
    inputs=None,
    bias=None,
    time: str | None = None,
    mixture: bool = True,
    seed=0,
    populations: int | str | None = None,
    observed_stable: int | None = None,
    resample: dict | None = None,
) -> Projection:
    """Project a recurrent weight matrix to rank R (truncated SVD) and fit the law of its loadings.

    Parameters
    ----------
    weights : array_like (N, N), lowrank.RNN, torch.nn.RNN or dict
        Recurrent weights W, or a network holding them as ``lowrank.dynamics.as_system`` reads
        it: a ``lowrank.RNN``, a torch ``nn.RNN`` / ``nn.RNNCell`` (or a module holding one), a
        state dict of torch's or lowrank's layout. A network's input weights and bias are then
        used unless ``inputs`` / ``bias`` are given (a torch RNN's bias is b_ih + b_hh).
    rank : int, optional
        R; chosen at the largest singular-value gap (``choose_rank``) if omitted.
    reference : array_like (N, N), optional
        W_0 (e.g. the initial weights): the SVD is then of W - W_0 (Schuessler et al. 2020) and W_0
        is kept as the network's random bulk.
    inputs : array_like (N, K), optional
        Input weights; they join each neuron's row of loadings.
    bias : array_like (N,), optional
        Constant input of each neuron.
    time : {"discrete", "continuous"}, optional
        Time convention of the network the weights come from (for ``meanfield()``): a network's
        own (a torch RNN is "discrete"), else "discrete".
    mixture : bool
        Fit a mixture of populations (``populations``); False: one Gaussian (P = 1).
    seed : int
        Seed of the mixture fit and of the resampling.
    populations : int, "resample" or "bic", optional
        Number of populations: "resample" (the default unless ``mixture`` is False) takes the
        smallest P whose networks resampled from the fitted law keep the attractors of the
        projected network (``lowrank.populations.choose_populations``; Dubreuil et al. 2022);
        "bic" lets the Bayesian information criterion choose P in 1..5; an int fixes P.
    observed_stable : int, optional
        With "resample": the number of attractors the resampled networks must have; by default
        those of the network itself (W, the input weights and the bias, at zero input), counted
        by ``find_fixed_points`` (stable isolated points plus stable manifolds, once each).
    resample : dict, optional
        Further keywords of ``choose_populations`` (``n_networks``, ``max_populations``,
        ``large_N``, ``n_starts``, ``slow_manifold_tol``, ``task``, ...); ``n_starts`` and
        ``slow_manifold_tol`` also apply to the count of the network's own attractors.
    """
    if isinstance(weights, (dict, System)) or callable(getattr(weights, "named_modules", None)):
        # a network (a torch module, a lowrank.RNN, a state dict): read W, W_in and b from it
        source = Dynamics.from_object(weights, time or own_time(weights) or "discrete", "weights")
        weights, time = source.W, source.time
        if inputs is None and source.n_inputs:
            inputs = source.W_in
        if bias is None and np.any(source.bias):
            bias = source.bias
    W = as_array(weights, "weights", ndim=2)
    N = W.shape[0]
    if W.shape != (N, N):
        raise ValueError(f"weights must be square, got shape {W.shape}")
    if N < 2:
        raise ValueError(
            f"weights must be at least 2 x 2 to fit the law of the loadings, got {W.shape}"
        )
    time = choose("discrete" if time is None else time, "time", ("discrete", "continuous"))
    target = W
    bulk = None
    if reference is not None:
        W0 = as_array(reference, "reference", shape=(N, N))
        target = W - W0
        g = float(np.sqrt(N) * W0.std())
        if g > 0:
            bulk = (g, W0 / g)
    if not np.any(target):
        raise ValueError(
            "weights are zero"
            + (" minus reference" if reference is not None else "")
            + ": there is no low-rank structure to project"
        )
    m, n, s = svd_factors(target, rank)
    rank = m.shape[1]
    inputs_arr = (
        np.zeros((N, 0)) if inputs is None else as_array(inputs, "inputs", ndim=2, shape=(N, None))
    )
    network = LowRankNetwork(
        m, n, inputs_arr, g=bulk[0] if bulk else 0.0, chi=bulk[1] if bulk else None, bias=bias
    )
    rows, rest = loading_rows(m, n, inputs_arr, network.bias)
    bias_input = rest.size > inputs_arr.shape[1]
    K = rows.shape[1] - 2 * rank
    populations = _populations(mixture, populations)
    if populations != "resample" and (observed_stable is not None or resample):
        raise ValueError(
            f"observed_stable and resample apply to populations='resample', not {populations!r}"
        )
    options = {} if populations != "resample" else _resample_options(
        W, inputs_arr, network, time, observed_stable, resample, seed, rest
    )
    choice = fit_populations(rows, rank, K, populations, seed=seed, **options)
    total = float(np.sum(s**2))
    energy = float(np.sum(s[:rank] ** 2) / total) if total > 0 else 1.0
    return Projection(network, choice.loadings, s, energy, time, choice, bias_input)


def _populations(mixture, populations) -> int | str:
    """The ``populations`` of ``project`` once ``mixture`` is taken into account."""
    if not as_bool(mixture, "mixture"):
        if populations not in (None, 1):
            raise ValueError(f"mixture=False fits one Gaussian; it excludes populations="
                             f"{populations!r}")
        return 1
    return "resample" if populations is None else populations


def _resample_options(W, inputs, network, time, observed_stable, resample, seed, rest) -> dict:
    """Keywords of ``choose_populations`` for ``project``: the attractors to keep (the
    network's own unless given), the bulk, and the input ``rest`` (zero, bias at 1.0)."""
    from .fixedpoints import find_fixed_points

    options = dict(resample or {})
    if observed_stable is None:
        found = find_fixed_points(
            Dynamics(W, inputs, network.bias, time, network.n),
            n_starts=options.get("n_starts", 32), seed=seed,
            slow_manifold_tol=options.get("slow_manifold_tol"),
        )
        observed_stable = count_attractors(found)
    return {
        "observed_stable": observed_stable,
        "time": time,
        "g": network.g,
        "inputs": rest,
        **options,
    }
