"""Attractors shared between tasks (Turner & Barak, NeurIPS 2023).

Each task is probed with a pulse of +amplitude and of -amplitude along its input direction
(``pulse_steps`` steps from the zero state), after which the network runs without input until it
settles. End states closer than ``tol`` (root-mean-square over units, in units of the activity h
of a map or tanh(x) of a flow) are the same attractor. Turner & Barak's gated flip-flop networks
reach 2 end states for two tasks (the tasks share them), orthogonal ones 4.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from .._checks import ConvergenceWarning, as_array, as_float, as_int
from .._repr import compact_repr
from ..dynamics.dedup import unique_points
from ..dynamics.steppers import run, stepper
from ..dynamics.systems import Dynamics

__all__ = ["SharedAttractors", "probe_end_states", "shared_attractors"]

_SETTLED = 1e-6  # largest change of the activity over the last step of a settled run (RMS)


@dataclass
class SharedAttractors:
    """End states reached by probing each task, and how the tasks share them.

    Attributes
    ----------
    end_states : ndarray (tasks, 2, N)
        Activity at the end of the free run after the +amplitude (index 0) and -amplitude (1)
        probes.
    labels : ndarray (tasks, 2) of int
        Which distinct end state each probe reached.
    n_end_states : int
        Number of distinct end states over all probes.
    n_shared : int
        Number of end states reached from more than one task.
    settled : ndarray (tasks, 2) of bool
        Whether each run ended at rest (change per step below 1e-6 RMS).
    """

    __repr__ = compact_repr

    end_states: np.ndarray
    labels: np.ndarray
    n_end_states: int
    n_shared: int
    settled: np.ndarray


def probe_end_states(
    model,
    inputs,
    *,
    time: str | None = None,
    pulse_steps: int = 5,
    free_steps: int = 1000,
    dt: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a batch of pulse probes from the zero state and return where the network ends up.

    Maps: h_{t+1} = tanh(W h_t + W_in u_t + b); flows: Euler steps of dt of
    dx/dt = -x + W tanh(x) + W_in u + b. The input u is held for ``pulse_steps`` steps, then 0.

    Parameters
    ----------
    model : LowRankNetwork, lowrank.RNN, torch.nn.RNN, dict of weights or tuple (W, W_in[, b])
        The network (``lowrank.dynamics.as_system``; also a torch ``nn.RNN`` / ``nn.RNNCell`` or
        its state dict, maps with b = b_ih + b_hh).
    inputs : array_like (batch, K)
        Pulse of each probe.
    time : {"continuous", "discrete"}, optional
        Required for a tuple of arrays or a dict; otherwise the model's own convention
        (LowRankNetwork: continuous unless given).
    pulse_steps, free_steps : int
        Steps with the pulse on, then without input.
    dt : float
        Euler step of a flow (unused for maps).

    Returns
    -------
    end : ndarray (batch, N)
        Activity (h, or tanh(x) for a flow) after the free run.
    change : ndarray (batch,)
        RMS change of the activity over the last step (0 at a fixed point).
    """
    system = Dynamics.from_object(model, time, name="model")
    U = as_array(inputs, "inputs", shape=(None, system.n_inputs))
    pulse_steps = as_int(pulse_steps, "pulse_steps", minimum=1)
    free_steps = as_int(free_steps, "free_steps", minimum=1)
    dt = as_float(dt, "dt", positive=True)
    drive_on = system.drive(U)
    drive_off = np.broadcast_to(system.bias, drive_on.shape)

    def step(drive):
        return stepper(lambda X: system.target(X, drive), system.time, "euler", dt)

    activity = (lambda X: X) if system.time == "discrete" else np.tanh
    with threadpool_limits(1):
        X = run(step(drive_on), np.zeros_like(drive_on), pulse_steps)
        X = run(step(drive_off), X, free_steps - 1)
        before = activity(X)
        end = activity(step(drive_off)(X))
    change = np.sqrt(np.mean((end - before) ** 2, axis=1))
    return end, change


def shared_attractors(
    model,
    tasks,
    *,
    time: str | None = None,
    amplitude: float = 1.0,
    pulse_steps: int = 5,
    free_steps: int = 1000,
    dt: float = 0.2,
    tol: float = 0.05,
) -> SharedAttractors:
    """End states reached from each task's probes, and how many are shared between tasks.

    Parameters
    ----------
    model : LowRankNetwork, lowrank.RNN, torch.nn.RNN, dict of weights or tuple (W, W_in[, b])
        The network (``lowrank.dynamics.as_system``); a torch ``nn.RNN`` / ``nn.RNNCell``, a
        module holding one, or its state dict (e.g. the authors' torch networks) directly.
    tasks : int or array_like (tasks, K)
        An int T means tasks 0..T-1 are input channels 0..T-1 (flip-flop bits); an array gives each
        task's input direction.
    time : {"continuous", "discrete"}, optional
        Required for a tuple of arrays or a dict of lowrank's weights.
    amplitude : float
        Probe amplitude: the pulses are +amplitude and -amplitude times the task's direction.
    pulse_steps, free_steps, dt :
        See ``probe_end_states`` (defaults: the 5-step pulses of Turner & Barak, 1000 free steps).
    tol : float
        RMS distance up to which two end states are the same attractor (single linkage,
        ``lowrank.dynamics.unique_points``: independent of the order of the probes).

    Returns
    -------
    SharedAttractors
        Warns (ConvergenceWarning, a RuntimeWarning) when a run did not settle (a limit cycle,
        chaos, or too few steps).
    """
    system = Dynamics.from_object(model, time, name="model")
    K = system.n_inputs
    if isinstance(tasks, (int, np.integer)) and not isinstance(tasks, bool):
        n_tasks = as_int(tasks, "tasks", minimum=1, maximum=K)
        directions = np.eye(K)[:n_tasks]
    else:
        directions = as_array(tasks, "tasks", shape=(None, K))
    amplitude = as_float(amplitude, "amplitude", positive=True)
    tol = as_float(tol, "tol", positive=True)
    probes = np.stack([amplitude * directions, -amplitude * directions], axis=1)  # (tasks, 2, K)
    end, change = probe_end_states(
        system, probes.reshape(-1, K), pulse_steps=pulse_steps, free_steps=free_steps, dt=dt
    )
    settled = change < _SETTLED
    if not np.all(settled):
        warnings.warn(
            f"shared_attractors: {np.sum(~settled)} of {settled.size} probes had not settled after "
            f"{free_steps} free steps (largest change per step {change.max():.1e}); raise "
            "free_steps, or "
            "the network does not end at fixed points",
            ConvergenceWarning,
            stacklevel=2,
        )
    labels = unique_points(end, atol=tol, rtol=0.0, norm="rms")[1].reshape(len(directions), 2)
    tasks_per_state = [
        len({t for t in range(len(directions)) if k in labels[t]}) for k in range(labels.max() + 1)
    ]
    return SharedAttractors(
        end_states=end.reshape(len(directions), 2, -1),
        labels=labels,
        n_end_states=int(labels.max() + 1),
        n_shared=int(sum(c > 1 for c in tasks_per_state)),
        settled=settled.reshape(len(directions), 2),
    )
