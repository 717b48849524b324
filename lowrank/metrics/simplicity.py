"""Simplicity-bias geometry of multi-task networks (Turner & Barak, NeurIPS 2023).

Turner & Barak show that networks trained on several tasks reuse dynamics: in the gated mode the
tasks share attractors and the recurrent matrix has about as many unstable eigenvalues as one task
needs, while in the orthogonal mode each task gets its own. This module measures that:

- ``unstable_eigenvalue_count``: eigenvalues of the linearisation at the origin that make it
  unstable (|lambda(W)| > 1 for maps h' = tanh(W h); Re lambda(J) > 1 for flows
  dx/dt = -x + J tanh(x), whose Jacobian at 0 is -I + J), and a smooth version of the count;
- ``f_factor``: between-task over within-task variance of the network states;
- ``separability``: how well a linear classifier tells the tasks' states apart.

Symmetric probes. A network without biases is odd, F(-x) = -F(x); probed with +v and -v, each
task's states are symmetric about 0. Pooled over both signs, both tasks' mean states are then 0 (the
between-task variance, hence F, vanishes) and each task's states have 0 in their convex hull (no
hyperplane separates the tasks), in every mode. So both measures take ``probes_a`` and ``probes_b``,
the probe (e.g. its sign) behind each state, and compare the tasks within each probe value: states
reached from +v in task a against states reached from +v in task b, and so on, averaging over the
probe values. Tasks that share attractors (gated) then score F ~ 1 (noise) and chance accuracy;
tasks with separate attractors (orthogonal) score F >> 1 and accuracy 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from .._checks import as_array, as_float, as_int, choose
from .._repr import compact_repr
from ..dynamics.systems import Dynamics
from ..network import LowRankNetwork

__all__ = ["Separability", "UnstableModes", "f_factor", "separability", "unstable_eigenvalue_count"]


@dataclass
class UnstableModes:
    """Unstable eigenvalues of the linearisation at the origin.

    Attributes
    ----------
    count : int
        Number of unstable eigenvalues (|lambda| > 1 for maps, Re lambda > 1 for flows).
    soft : float
        sum_i sigmoid((r_i - 1) / width), r_i = |lambda_i| (maps) or Re lambda_i (flows).
    eigenvalues : ndarray (N,)
        All eigenvalues of W, least stable first.
    """

    __repr__ = compact_repr

    count: int
    soft: float
    eigenvalues: np.ndarray


def _weights(W, time: str) -> np.ndarray:
    """The recurrent matrix of any network ``lowrank.dynamics.as_system`` reads (a square array,
    a LowRankNetwork, a lowrank.RNN, a torch nn.RNN / nn.RNNCell, a dict of weights or a state
    dict, a tuple (W, W_in[, b]))."""
    is_module = callable(getattr(W, "named_modules", None))  # a torch module, duck-typed
    if not isinstance(W, (LowRankNetwork, dict, tuple)) and not hasattr(W, "weights") and (
        not is_module
    ):
        W = as_array(W, "W", ndim=2)  # array_like: a nested list, a torch tensor
    return Dynamics.from_object(W, time, name="W").W


def unstable_eigenvalue_count(W, time: str, *, width: float = 0.05) -> UnstableModes:
    """Count the eigenvalues that destabilise the origin of a tanh network (Turner & Barak 2023).

    Maps h' = tanh(W h + ...) linearise at 0 to h' = W h: unstable directions have |lambda(W)| > 1.
    Flows dx/dt = -x + W tanh(x) + ... linearise to dx/dt = (-I + W) x: unstable directions have
    Re lambda(W) > 1. The soft score sum_i sigmoid((r_i - 1) / width), with r_i = |lambda_i| or
    Re lambda_i, is a smooth surrogate: it tends to the count as width -> 0 (an eigenvalue exactly
    on the boundary counts 1/2) and changes continuously during training.

    Parameters
    ----------
    W : array_like (N, N), LowRankNetwork, lowrank.RNN, torch.nn.RNN, dict or tuple (W, W_in[, b])
        Recurrent weights, or a network holding them (``lowrank.dynamics.as_system``: also a
        torch ``nn.RNN`` / ``nn.RNNCell`` or its state dict, which are maps); a model must use
        the convention ``time``.
    time : {"continuous", "discrete"}
        The time convention deciding the stability criterion.
    width : float
        Width of the soft threshold, > 0.

    Returns
    -------
    UnstableModes
    """
    time = choose(time, "time", ("continuous", "discrete"))
    width = as_float(width, "width", positive=True)
    W = _weights(W, time)
    with threadpool_limits(1):
        values = np.linalg.eigvals(W)
    r = np.abs(values) if time == "discrete" else values.real
    order = np.argsort(-r, kind="stable")
    soft = float(np.sum(0.5 * (1.0 + np.tanh((r - 1.0) / (2.0 * width)))))  # sigmoid, overflow-free
    return UnstableModes(count=int(np.sum(r > 1.0)), soft=soft, eigenvalues=values[order])


def _task_pairs(states_a, states_b, probes_a, probes_b):
    """Split two tasks' states into the groups to compare: pooled, or one pair per probe value."""
    A = as_array(states_a, "states_a", ndim=2)
    B = as_array(states_b, "states_b", shape=(None, A.shape[1]))
    if (probes_a is None) != (probes_b is None):
        raise ValueError("give both probes_a and probes_b, or neither")
    if probes_a is None:
        return [(A, B)]
    pa = np.asarray(probes_a)
    pb = np.asarray(probes_b)
    if pa.shape != (len(A),):
        raise ValueError(f"probes_a must have one entry per state ({len(A)}), got shape {pa.shape}")
    if pb.shape != (len(B),):
        raise ValueError(f"probes_b must have one entry per state ({len(B)}), got shape {pb.shape}")
    values = [v for v in np.unique(pa) if np.any(pb == v)]
    if not values:
        raise ValueError("probes_a and probes_b share no probe value; nothing to compare")
    return [(A[pa == v], B[pb == v]) for v in values]


def _f_ratio(A: np.ndarray, B: np.ndarray) -> float:
    n = len(A) + len(B)
    if len(A) < 1 or len(B) < 1 or n < 3:
        raise ValueError(
            "states_a and states_b need at least one state each (per probe value) and three "
            "together"
        )
    mean = np.concatenate([A, B]).mean(axis=0)
    between = sum(len(X) * np.sum((X.mean(axis=0) - mean) ** 2) for X in (A, B))  # / (k - 1), k = 2
    within = sum(np.sum((X - X.mean(axis=0)) ** 2) for X in (A, B)) / (n - 2)
    if within == 0:
        if between == 0:
            raise ValueError(
                "states_a and states_b have neither between- nor within-task variance; "
                "F is undefined"
            )
        return np.inf
    return float(between / within)


def f_factor(states_a, states_b, probes_a=None, probes_b=None) -> float:
    """Between-task over within-task variance of network states (an ANOVA F statistic).

    For two groups of states (n = n_a + n_b, means mu_a, mu_b, grand mean mu):

        F = sum_g n_g |mu_g - mu|^2 / (2 - 1)   /   sum_g sum_{i in g} |x_i - mu_g|^2 / (n - 2).

    F ~ 1 when the tasks' states come from the same distribution, F >> 1 when they are apart.
    With ``probes_a`` / ``probes_b`` the ratio is computed within each probe value shared by the
    tasks and averaged (see the module docstring: pooled over symmetric probes, F is 0 in any mode).

    Parameters
    ----------
    states_a, states_b : array_like (samples, N)
        States of the network in task a and in task b.
    probes_a, probes_b : array_like (samples,), optional
        The probe (e.g. its sign, +1 / -1) that produced each state.

    Returns
    -------
    float
        F (mean over probe values when probes are given); inf when states do not vary within tasks.
    """
    return float(
        np.mean([_f_ratio(A, B) for A, B in _task_pairs(states_a, states_b, probes_a, probes_b)])
    )


@dataclass
class Separability:
    """Linear separability of two tasks' states.

    Attributes
    ----------
    accuracy : float
        Cross-validated accuracy of a linear support-vector classifier (0.5 = chance for equal
        groups); mean over probe values when probes are given.
    margin : float
        Geometric margin min_i y_i (w.x_i + b) / |w| of the classifier fitted to all states, in
        the units of the states: > 0 when the tasks are separated (the gap to the boundary), < 0
        when they are not; minimum over probe values.
    """

    __repr__ = compact_repr

    accuracy: float
    margin: float


def _separate(A: np.ndarray, B: np.ndarray, C: float, n_splits: int) -> tuple[float, float]:
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.svm import SVC

    X = np.concatenate([A, B])
    y = np.r_[np.ones(len(A)), -np.ones(len(B))]
    folds = min(n_splits, len(A), len(B))
    if folds < 2:
        raise ValueError(
            "states_a and states_b need at least two states each (per probe value) for "
            "cross-validation"
        )
    with threadpool_limits(1):
        cv = StratifiedKFold(folds, shuffle=True, random_state=0)
        accuracy = float(np.mean(cross_val_score(SVC(kernel="linear", C=C), X, y, cv=cv)))
        clf = SVC(kernel="linear", C=C).fit(X, y)
    w, b = clf.coef_[0], clf.intercept_[0]
    norm = np.linalg.norm(w)
    margin = float(np.min(y * (X @ w + b)) / norm) if norm > 0 else -np.inf
    return accuracy, margin


def separability(
    states_a, states_b, probes_a=None, probes_b=None, *, C: float = 1e3, n_splits: int = 5
) -> Separability:
    """How well a hyperplane separates the states of two tasks (scikit-learn linear SVM).

    The accuracy is cross-validated (stratified k-fold): in N dimensions any N + 1 points are
    separable, so training accuracy alone says nothing for few states. The margin comes from a fit
    to all states. With ``probes_a`` / ``probes_b`` the tasks are compared within each probe value
    shared by both (see the module docstring: pooled over symmetric probes no hyperplane separates
    the tasks in any mode).

    Parameters
    ----------
    states_a, states_b : array_like (samples, N)
        States of the network in task a and in task b.
    probes_a, probes_b : array_like (samples,), optional
        The probe (e.g. its sign) that produced each state.
    C : float
        Inverse regularisation of the SVM (large: close to the hard-margin classifier).
    n_splits : int
        Folds of the cross-validation (fewer when a group is smaller).

    Returns
    -------
    Separability
    """
    C = as_float(C, "C", positive=True)
    n_splits = as_int(n_splits, "n_splits", minimum=2)
    scores = [
        _separate(A, B, C, n_splits) for A, B in _task_pairs(states_a, states_b, probes_a, probes_b)
    ]
    return Separability(
        accuracy=float(np.mean([s[0] for s in scores])), margin=float(min(s[1] for s in scores))
    )
