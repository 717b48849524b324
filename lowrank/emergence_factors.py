"""What a checkpoint's attractors are predicted from: the low-rank factors of its weights.

A rank-R model is predicted from its own m, n ("own"). A full-rank network W is predicted from a
rank-R network W ~ m n^T / N built three ways (``FULL_RANK_PREDICTIONS``, compared in
``emergence``):

- "truncated": the rank-R truncated SVD of W;
- "resolvent": the same with the rest W_rest = W - m n^T / N kept through its response,
  m' = (1 - W_rest)^-1 m, input weights and bias filtered alike, and n' from the left
  resolvent (1 - W_rest^T)^-1 n so that the rest's nonlinear response is kept to first order
  (``_through_rest``); by the matrix determinant lemma det(1 - W) = det(1 - W_rest)
  det(1 - n^T (1 - W_rest)^-1 m / N), so the reduced linearisation at the origin has an
  eigenvalue 1 exactly where W has (Schuessler et al. 2020, NeurIPS);
- "bulk": the rank-R part of W - W0 with an independent random bulk of W0's strength g
  (Mastrogiuseppe & Ostojic 2018, Neuron 99:609), when the initial weights W0 are known.

``choose_rank_by_attractors`` chooses R by the network's own attractors, as
``lowrank.populations.choose_populations`` chooses the number of populations (Dubreuil et al.
2022, Nat. Neurosci. 25:783).
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import NamedTuple

import numpy as np
from threadpoolctl import threadpool_limits

from ._checks import ConvergenceWarning, as_float
from .fixedpoints import Dynamics, find_fixed_points
from .populations import count_attractors
from .projection import choose_rank, svd_factors

#: the predictions of a full-rank network (``emergence``'s ``prediction``)
FULL_RANK_PREDICTIONS = ("truncated", "bulk", "resolvent")


def _own_factors(weights: dict) -> bool:
    """Whether the weights are a rank-R model's own m, n."""
    return "m" in weights and "n" in weights


def bulk_edge(W0: np.ndarray, margin: float | None = None) -> tuple[float, float]:
    """The bulk strength g = sqrt(N) std(W0) and the edge g + margin of its eigenvalue disk.

    By the circular law the eigenvalues of a random W0 with i.i.d. entries of variance g^2 / N fill
    the disk of radius g (Girko 1984; Rajan & Abbott 2006); the default margin 4 g / sqrt(N) sits
    above the finite-N fluctuation of its edge, as in ``LowRankNetwork.outliers``.
    """
    N = W0.shape[0]
    g = float(np.sqrt(N) * W0.std())
    if margin is None:
        margin = 4.0 * g / np.sqrt(N)
    margin = as_float(margin, "bulk_margin", minimum=0.0)
    return g, g + margin


class _Factors(NamedTuple):
    """What a prediction is made from: W ~ m n^T / N (+ a bulk of strength g), input weights and
    bias (those of the network except for "resolvent")."""

    m: np.ndarray
    n: np.ndarray
    g: float
    inputs: np.ndarray
    bias: np.ndarray


#: 1 - (W - m n^T / N) with a condition number above this has no usable linear response
_RESPONSE_CONDITION = 1e10


def _through_rest(W: np.ndarray, m, n, W_in, bias) -> _Factors | None:
    """The rank-R part m n^T / N of W with the rest W_rest = W - m n^T / N kept through its
    response ("resolvent", see ``emergence``); None where 1 - W_rest or 1 - B (below) is
    (numerically) singular.

    With A = (1 - W_rest)^-1 and psi(x) = tanh(x) - x, a fixed point x = W tanh(x) + c is
    exactly x = A (m kappa + c) + (A - 1) psi(x), kappa = n^T tanh(x) / N. Evaluating psi at
    x0 = A (m kappa + c) and keeping its first order,

        kappa = [l^T tanh(x0) + (n - l)^T x0] / N,    l = A^T n,

    exact for W_rest = 0 and for a linear transfer, and with the network's own cubic coefficient
    at a pitchfork of the origin (l and A m are W's left and right eigenvectors there). Solving
    the affine part, B = (n - l)^T A m / N and P = (1 - B)^-1, gives the rank-R network

        m' = A m,  n' = l P^T,  [W_in', b'] = (1 + m' P (n - l)^T / N) A [W_in, b],

    whose fixed points are those kappa, in the coordinates n'^T tanh(x) / N. Its linearisation
    at the origin, P l^T A m / N, has an eigenvalue 1 exactly where n^T A m / N has, and so,
    by the matrix determinant lemma, where W has (Schuessler et al. 2020, NeurIPS).
    """
    N, R = m.shape
    response = np.eye(N) - (W - m @ n.T / N)
    with threadpool_limits(1):
        if np.linalg.cond(response) > _RESPONSE_CONDITION:
            return None
        filtered = np.linalg.solve(
            response, np.concatenate([m, W_in, bias.reshape(N, 1)], axis=1)
        )
        left = np.linalg.solve(response.T, n)
        m_out, drive = filtered[:, :R], filtered[:, R:]
        excess = (n - left).T / N
        closing = np.eye(R) - excess @ m_out
        if np.linalg.cond(closing) > _RESPONSE_CONDITION:
            return None
        P = np.linalg.inv(closing)
        drive = drive + m_out @ (P @ (excess @ drive))
    K = W_in.shape[1]
    return _Factors(m_out, left @ P.T, 0.0, drive[:, :K], drive[:, K])


def _factors(weights: dict, dyn: Dynamics, rank, initial, bulk_margin) -> tuple[dict, float]:
    """{method: _Factors} of the predictions a checkpoint allows, and the bulk edge.

    A rank-R model: its own m, n ("own"). A full-rank one: the rank-R truncated SVD of W
    ("truncated"), the same with the rest of W through its response ("resolvent",
    unless its response is singular) and, with W0, the rank-R part of W - W0 with the bulk g of
    W0 ("bulk").
    """
    W, W_in, bias = dyn.W, dyn.W_in, dyn.bias
    if _own_factors(weights):
        m, n = (np.asarray(weights[k], float) for k in ("m", "n"))
        return {"own": _Factors(m, n, 0.0, W_in, bias)}, 0.0
    edge, factors = 0.0, {}
    if initial is not None:
        m, n, _ = svd_factors(W - initial, rank)
        g, edge = bulk_edge(initial, bulk_margin)
        factors["bulk"] = _Factors(m, n, g, W_in, bias)
        rank = m.shape[1]
    m, n, _ = svd_factors(W, rank)
    factors["truncated"] = _Factors(m, n, 0.0, W_in, bias)
    through = _through_rest(W, m, n, W_in, bias)
    if through is not None:
        factors["resolvent"] = through
    return factors, edge


#: largest rank ``choose_rank_by_attractors`` tries
MAX_RANK = 8

#: how many ranks above the smallest that keeps the attractor count ``choose_rank_by_attractors``
#: tries for their positions: each rank adds two dimensions to the rows a law is fitted to at the
#: trained N, and the populations' size floor grows with them (``choose_populations``); measured
#: on Turner & Barak's 3-bit network (N = 100), rank 3 (count kept, 17% off) matched at 6 of 8
#: checkpoints, rank 6 (within 10%) at 1 of 8
POSITION_RANKS = 1


def choose_rank_by_attractors(
    weights: dict, time: str, initial=None, prediction: str = "resolvent", *,
    max_rank: int = MAX_RANK, n_starts: int = 64, seed=0, slow_manifold_tol=None,
    position_tol: float = 0.1,
) -> tuple[int, list[dict]]:
    """The smallest rank whose low-rank network keeps the full-rank network's attractors.

    The test of ``choose_populations`` (Dubreuil et al. 2022) one step earlier: for R = 1, 2,
    ..., ``max_rank`` the rank-R network of the ``prediction`` ("truncated": m n^T / N of the
    truncated SVD of W; "resolvent": the same with the rest of W through its response;
    see ``emergence``) is built at the network's own N, with its input weights and bias, and its
    attractors are counted (``find_fixed_points`` in its R latent dimensions) against those of
    the network itself, and placed: the median relative distance of its stable points to the
    network's, both projected on its n and matched one to one
    (``emergence_checkpoint.relative_errors``). No law is fitted: this asks only whether rank R
    holds the attractors.

    Returns
    -------
    rank : int
        The smallest R whose count agrees and whose attractors lie within ``position_tol``,
        looking at most ``POSITION_RANKS`` ranks above the smallest R whose count agrees; else
        that smallest R; when none does (and for "bulk", whose bulk is
        redrawn and cannot be tested at one N), the singular-value gap of W - W0 (or of W
        without W0, ``lowrank.projection.choose_rank``).
    evidence : list of dict
        ``{"rank": R, "attractors": count, "position_error": median relative error or None}``
        per R tried, the first entry ``{"rank": None, "attractors": the network's count}``;
        empty for "bulk".
    """
    from .emergence_checkpoint import relative_errors  # it imports this module

    position_tol = as_float(position_tol, "position_tol", minimum=0.0)
    dyn = Dynamics.from_weights(weights, time)
    W, N = dyn.W, dyn.W.shape[0]
    if initial is not None or prediction == "bulk":
        gap = svd_factors(W - (0.0 if initial is None else initial))[0].shape[1]
        if prediction == "bulk":
            return gap, []
    m_all, n_all, s = svd_factors(W, N)  # one SVD for every rank tried
    if initial is None:
        gap = choose_rank(s) if s.size > 1 else 1
    search = {"n_starts": n_starts, "seed": seed, "slow_manifold_tol": slow_manifold_tol}
    counted = None  # the smallest R whose count agrees
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # emergence reports its own
        observed = find_fixed_points(dyn, **search)
        target = count_attractors(observed)
        evidence = [{"rank": None, "attractors": target}]
        for R in range(1, min(max_rank, N - 1) + 1):
            m, n = m_all[:, :R], n_all[:, :R]  # svd_factors(W, R)
            f = (_Factors(m, n, 0.0, dyn.W_in, dyn.bias) if prediction == "truncated"
                 else _through_rest(W, m, n, dyn.W_in, dyn.bias))
            if f is None:
                continue
            low = Dynamics(None, f.inputs, f.bias, time, f.n, factors=(f.m, f.n))
            found = find_fixed_points(low, **search)
            count = count_attractors(found)
            errors = relative_errors(
                low.project(found.x)[found.stable],
                replace(dyn, readout=f.n).project(observed.x)[observed.stable],
            )[1]
            error = float(np.median(errors)) if errors.size else None
            evidence.append({"rank": R, "attractors": count, "position_error": error})
            if count == target:
                if error is None or error <= position_tol:
                    return R, evidence
                counted = R if counted is None else counted
            if counted is not None and R >= counted + POSITION_RANKS:
                break
    return (gap if counted is None else counted), evidence
