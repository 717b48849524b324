"""Behavioural degeneracy: how much networks trained on the same task differ out of distribution.

Huang et al. (2024, arXiv 2410.03972) measure behavioural degeneracy as the spread, across
independently trained networks, of their error on an out-of-distribution version of the task
(longer trials and delays, ``Task.ood``): networks that agree in distribution can generalise
very differently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .._checks import as_float, as_int
from .._repr import compact_repr

__all__ = ["OODVariability", "ood_variability"]


@dataclass
class OODVariability:
    """Out-of-distribution errors of an ensemble.

    Attributes
    ----------
    errors : ndarray (models,)
        Masked mean squared error of each model on the same OOD trials.
    mean, std : float
        Mean and standard deviation (ddof = 1 when there are several models) of ``errors``.
    cv : float
        Coefficient of variation std / mean (0 when the mean is 0).
    """

    __repr__ = compact_repr

    errors: np.ndarray
    mean: float
    std: float
    cv: float


def _masked_mse(outputs: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> float:
    mask = np.broadcast_to(np.asarray(mask, dtype=bool), targets.shape)
    return float(np.mean((outputs[mask] - targets[mask]) ** 2))


def ood_variability(
    models: Sequence, task, stretch: float = 2.0, batch: int = 64, seed=0
) -> OODVariability:
    """Spread of the out-of-distribution error across trained networks (Huang et al. 2024).

    Parameters
    ----------
    models : sequence of lowrank.RNN
        Networks trained on ``task`` (anything with ``run(inputs) -> (outputs, states)``).
    task : lowrank.tasks.Task
        The training task; its ``ood(stretch)`` variant is used.
    stretch : float
        How many times longer the OOD trials and delays are (>= 1).
    batch : int
        Number of OOD trials, the same for every model.
    seed : int
        Seeds the trials.
    """
    from ..tasks import Task

    if isinstance(models, (str, bytes)) or not isinstance(models, Iterable):
        raise TypeError(f"models must be a sequence of trained models, got {type(models).__name__}")
    models = list(models)
    if not models:
        raise ValueError("models must hold at least one trained model")
    if not isinstance(task, Task):
        raise TypeError(f"task must be a lowrank.tasks.Task, got {type(task).__name__}")
    for k, model in enumerate(models):
        if not hasattr(model, "run"):
            raise TypeError(
                f"models[{k}] must be a lowrank.RNN (with run()), got {type(model).__name__}"
            )
        sizes = (getattr(model, "n_in", task.n_inputs), getattr(model, "n_out", task.n_outputs))
        if sizes != (task.n_inputs, task.n_outputs):
            raise ValueError(
                f"models[{k}] has n_in={sizes[0]}, n_out={sizes[1]} but the task has "
                f"{task.n_inputs} inputs and {task.n_outputs} outputs"
            )
    stretch = as_float(stretch, "stretch", positive=True, minimum=1.0)
    batch = as_int(batch, "batch", minimum=1)
    trials = task.ood(stretch).generate(batch, seed=seed)
    errors = np.array(
        [_masked_mse(m.run(trials.inputs)[0], trials.targets, trials.mask) for m in models]
    )
    mean = float(errors.mean())
    std = float(errors.std(ddof=1)) if errors.size > 1 else 0.0
    return OODVariability(errors, mean, std, std / mean if mean > 0 else 0.0)
