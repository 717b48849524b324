"""Built-in sweep jobs: ``job(settings: dict, seed: int) -> dict`` of scalars and arrays.

``train_and_analyse`` is the job of the seed papers' sweeps: build a task and an RNN from the
settings, train it with ``seed``, then run the analyses of Turner & Barak (2023) and Huang et al.
(2024) on the trained network. Its settings (all optional):

=================  ==============================================================================
task               name of a task maker in ``lowrank.tasks`` ("flipflop", "cycle", "line", ...)
mode, tasks        combine ``tasks`` copies of the task in a multitask ``mode`` ("gated",
                   "orthogonal", "parallel"; Turner & Barak 2023)
(other names)      options of the task maker (``bits``, ``channels``, ``steps``, ...)
neurons            hidden units (64)
rank, time, alpha, noise, gain, init, bias
                   options of ``lowrank.RNN`` (full rank, discrete time by default)
max_epochs, target_loss, lr, lr_decay, batch_size, batches, clip, checkpoints
                   options of ``lowrank.train`` (200 epochs, loss 1e-3 by default)
analyses           which analyses to run (default: all but "emergence", see ``ANALYSES``)
probe_trials       trials of the shared probe batch (8)
probe_seed         seed of the probe and OOD batches, the same for every training seed (2023)
ood_stretch        how much longer the OOD trials are (2.0)
populations        Gaussian populations of the emergence analysis (4)
=================  ==============================================================================
"""

from __future__ import annotations

import numpy as np

from .._checks import as_float, as_int

__all__ = ["ANALYSES", "train_and_analyse"]

ANALYSES = {
    "unstable": "eigenvalues of W past the stability boundary, initial and final (Turner & Barak)",
    "end_states": "distinct end states of +-1 probes on each input, and how many are shared",
    "fixed_points": "fixed points of the trained network and how many are stable",
    "ood": "masked MSE on the out-of-distribution variant of the task (Huang et al. 2024)",
    "probe": "hidden states on a probe batch shared by all seeds (for DSA across seeds)",
    "weights": "initial and trained recurrent weights (for weight distances across seeds)",
    "emergence": "checkpoint at which each outlier crossed, predicted vs observed stable points",
}
_DEFAULT_ANALYSES = ["unstable", "end_states", "fixed_points", "ood", "probe", "weights"]
_MODEL = {"rank", "time", "alpha", "noise", "gain", "init", "bias"}
_NEURONS = 64
_MAX_EPOCHS = 200
_TRAINING = {
    "max_epochs",
    "target_loss",
    "lr",
    "lr_decay",
    "batch_size",
    "batches",
    "clip",
    "checkpoints",
}
_JOB = {
    "task",
    "mode",
    "tasks",
    "neurons",
    "analyses",
    "probe_trials",
    "probe_seed",
    "ood_stretch",
    "populations",
}


def _make_task(settings: dict):
    from .. import tasks as task_module

    name = settings.get("task", "flipflop")
    maker = task_module.maker(name)
    options = {k: v for k, v in settings.items() if k not in _JOB | _MODEL | _TRAINING}
    try:
        task = maker(**options)
    except TypeError as exc:
        raise ValueError(
            f"settings: {sorted(options)} are not all options of lowrank.tasks.{name} ({exc}); "
            f"job settings are {sorted(_JOB | _MODEL | _TRAINING)}"
        ) from None
    if settings.get("mode") is None:
        return task
    copies = as_int(settings.get("tasks", 1), "settings['tasks']", minimum=1)
    return task_module.multitask([task] * copies, mode=settings["mode"])


def _analyses(settings: dict) -> list[str]:
    chosen = settings.get("analyses", _DEFAULT_ANALYSES)
    if isinstance(chosen, str) or not isinstance(chosen, list):
        raise TypeError(f"settings['analyses'] must be a list of names from {sorted(ANALYSES)}")
    unknown = [a for a in chosen if a not in ANALYSES]
    if unknown:
        raise ValueError(
            f"settings['analyses']: unknown {unknown}, expected names from {sorted(ANALYSES)}"
        )
    return chosen


def train_and_analyse(settings: dict, seed: int) -> dict:
    """Train an RNN on a task with ``seed``, then analyse the trained network.

    The analyses implement Turner & Barak (NeurIPS 2023: unstable eigenvalues, shared end states)
    and Huang et al. (2024: OOD error, and the probe states and weights from which ``sweep-report``
    computes DSA and permutation-invariant distances across seeds).

    Returns
    -------
    dict
        Scalars: epochs, final_loss, converged, train_seconds, and those of each analysis
        (unstable_initial, unstable_final, unstable_soft_final, n_end_states, n_shared_end_states,
        n_fixed_points, n_stable_fixed_points, ood_error, outlier_crossings, predicted_stable,
        observed_stable). Arrays: losses, W_initial and W_final ("weights"), probe_states.
    """
    from ..fixedpoints import find_fixed_points
    from ..metrics import ood_variability, shared_attractors, unstable_eigenvalue_count
    from ..models import RNN
    from ..training import train

    analyses = _analyses(settings)
    task = _make_task(settings)
    model_options = {k: settings[k] for k in _MODEL if k in settings}
    neurons = as_int(settings.get("neurons", _NEURONS), "settings['neurons']", minimum=1)
    model = RNN(task.n_inputs, neurons, task.n_outputs, seed=seed, **model_options)
    training = {"max_epochs": _MAX_EPOCHS, **{k: settings[k] for k in _TRAINING if k in settings}}
    run = train(model, task, seed=seed, progress=False, threads=None, **training)
    first, last = run.model(0), run.model(-1)
    out: dict = {
        "epochs": run.epochs,
        "final_loss": float(run.losses[-1]) if run.losses.size else float("nan"),
        "converged": run.converged,
        "train_seconds": run.elapsed,
        "losses": run.losses,
    }
    if "weights" in analyses:
        out["W_initial"] = first.recurrent_weights()
        out["W_final"] = last.recurrent_weights()
    probe_seed = as_int(settings.get("probe_seed", 2023), "settings['probe_seed']", minimum=0)
    if "unstable" in analyses:
        final = unstable_eigenvalue_count(last, last.time)
        out["unstable_initial"] = unstable_eigenvalue_count(first, first.time).count
        out["unstable_final"] = final.count
        out["unstable_soft_final"] = final.soft
    if "end_states" in analyses:
        shared = shared_attractors(last, task.n_inputs)
        out["n_end_states"] = shared.n_end_states
        out["n_shared_end_states"] = shared.n_shared
    if "fixed_points" in analyses:
        points = find_fixed_points(last, seed=seed)
        out["n_fixed_points"] = len(points.x)
        out["n_stable_fixed_points"] = int(np.count_nonzero(points.stable))
    if "ood" in analyses:
        stretch = as_float(
            settings.get("ood_stretch", 2.0), "settings['ood_stretch']", positive=True
        )
        out["ood_error"] = float(ood_variability([last], task, stretch, seed=probe_seed).errors[0])
    if "probe" in analyses:
        trials = as_int(settings.get("probe_trials", 8), "settings['probe_trials']", minimum=1)
        out["probe_states"] = last.run(task.generate(trials, seed=probe_seed).inputs)[1]
    if "emergence" in analyses:
        out.update(_emergence(run, settings, seed))
    return out


def _emergence(run, settings: dict, seed: int) -> dict:
    from ..emergence_report import emergence

    populations = settings.get("populations", 4)
    report = emergence(
        run,
        rank=settings.get("rank") or 2,
        populations=populations,
        seed=seed,
        checkpoints=[0, len(run.checkpoints) - 1],
    )
    final = report.table()[-1]
    return {
        "outlier_crossings": " ".join(str(c) for c in report.crossings()),
        "predicted_stable": final["predicted_stable"],
        "observed_stable": final["observed_stable"],
    }


def _key_defaults() -> dict:
    """The values ``train_and_analyse`` uses for absent settings (the RNN's defaults among them).

    A sweep hashes them into each task's key with the settings given (``SweepSpec.tasks``), so
    that a changed default - the RNN's initialisation became torch's uniform one - gives new keys
    instead of silently reusing results computed under the old default.
    """
    import inspect

    from ..models import RNN

    parameters = inspect.signature(RNN.__init__).parameters
    defaults = {name: parameters[name].default for name in sorted(_MODEL)}
    return {**defaults, "neurons": _NEURONS, "max_epochs": _MAX_EPOCHS}


train_and_analyse.key_defaults = _key_defaults
