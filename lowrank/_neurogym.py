"""neurogym tasks as lowrank tasks (``lowrank.tasks.from_neurogym``; needs the ``neurogym`` extra).

A neurogym environment (Molano-Mazon et al. 2022, "NeuroGym: An open resource for developing and
sharing neuroscience tasks") produces trials of observations ``ob`` (time, n_inputs) and ground
truth ``gt`` (time,) — an action index for a discrete action space. As in neurogym's own supervised
``Dataset``, consecutive trials are concatenated into sequences of fixed length; the targets are
the one-hot codes of the ground-truth actions (discrete action spaces) or the ground truth itself
(continuous ones), scored at every step, so a model trained on them with lowrank's mean squared
error learns the same map as neurogym's cross-entropy setting.

Unlike lowrank's own tasks, a neurogym task's targets depend on the trial's hidden variables (the
coherence drawn before the noise is added, say), not on the inputs alone: ``targets(inputs)`` and
``ood`` are therefore not available and say so.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ._checks import as_int, as_rng
from .tasks import Task, Trials

__all__ = ["NeurogymTask", "from_neurogym"]


def _neurogym():
    try:
        import neurogym
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "lowrank.tasks.from_neurogym needs neurogym: pip install neurogym "
            "(or pip install -e '.[neurogym]')"
        ) from error
    return neurogym


@dataclasses.dataclass(frozen=True)
class NeurogymTask(Task):
    """A neurogym environment's trials, concatenated into sequences of ``steps`` time steps.

    Parameters
    ----------
    env_id : str
        The environment's registered id, e.g. ``"PerceptualDecisionMaking-v0"``.
    env_kwargs : dict
        Keyword arguments of ``neurogym.make`` (``dt``, ``timing``, ...), JSON-ready.
    steps : int
        Length of each sequence of concatenated trials.
    """

    env_id: str
    env_kwargs: dict = dataclasses.field(default_factory=dict, hash=False)
    steps: int = 100

    def __post_init__(self):
        as_int(self.steps, "steps", minimum=1)
        env = self._make()
        space = env.action_space
        if hasattr(space, "n"):
            n_out = int(space.n)
        elif getattr(space, "shape", None) is not None and len(space.shape) == 1:
            n_out = int(space.shape[0])
        else:
            raise ValueError(
                f"env {self.env_id!r} has action space {space}: expected a Discrete space or a "
                "1-D Box"
            )
        shape = env.observation_space.shape
        if shape is None or len(shape) != 1:
            raise ValueError(
                f"env {self.env_id!r} has observations of shape {shape}: expected 1-D observations"
            )
        object.__setattr__(self, "_sizes", (int(shape[0]), n_out, hasattr(space, "n")))

    def _make(self):
        return _neurogym().make(self.env_id, **self.env_kwargs).unwrapped

    @property
    def n_inputs(self) -> int:
        return self._sizes[0]

    @property
    def n_outputs(self) -> int:
        return self._sizes[1]

    def generate(self, batch: int, seed=0) -> Trials:
        """Draw ``batch`` sequences of concatenated trials; same seed, same trials."""
        batch = self._batch_size(batch)
        rng = as_rng(seed)
        env = self._make()
        inputs = np.zeros((batch, self.steps, self.n_inputs), np.float32)
        targets = np.zeros((batch, self.steps, self.n_outputs), np.float32)
        for b in range(batch):
            env.seed(int(rng.integers(2**31 - 1)))
            t = 0
            while t < self.steps:
                env.new_trial()
                ob, gt = np.asarray(env.ob, np.float32), np.asarray(env.gt)
                take = min(len(ob), self.steps - t)
                inputs[b, t : t + take] = ob[:take]
                if self._sizes[2]:
                    targets[b, np.arange(t, t + take), gt[:take].astype(int)] = 1.0
                else:
                    targets[b, t : t + take] = gt[:take].reshape(take, -1)
                t += take
        return Trials(inputs, targets, np.ones(targets.shape, bool))

    def _inputs(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        return self.generate(batch, rng).inputs

    def _targets(self, inputs: np.ndarray):
        raise NotImplementedError(
            "a neurogym task's targets depend on each trial's hidden variables, not on the inputs "
            "alone: use task.generate(batch, seed), which returns inputs and targets together"
        )

    def ood(self, stretch: float = 2.0) -> Task:
        raise NotImplementedError(
            "a neurogym task has no out-of-distribution variant: make the environment with "
            "longer timing (neurogym.make(..., timing=...)) and wrap it again"
        )

    def to_dict(self) -> dict:
        return {
            "task": "NeurogymTask",
            "env_id": self.env_id,
            "env_kwargs": dict(self.env_kwargs),
            "steps": self.steps,
        }

    @property
    def name(self) -> str:
        return self.env_id


def from_neurogym(env: Any, steps: int = 100, **env_kwargs) -> NeurogymTask:
    """Wrap a neurogym task for ``lowrank.train`` and the analyses.

    Parameters
    ----------
    env : str or gymnasium.Env
        A neurogym environment made with ``neurogym.make(id, **kwargs)`` (its id and keyword
        arguments are read from its spec), or the id itself.
    steps : int
        Length of the sequences of concatenated trials (neurogym's ``seq_len``).
    **env_kwargs
        Keyword arguments of ``neurogym.make`` when ``env`` is an id.

    Returns
    -------
    NeurogymTask
    """
    if isinstance(env, str):
        env_id, kwargs = env, env_kwargs
    else:
        spec = getattr(env, "spec", None)
        if spec is None or not isinstance(getattr(spec, "id", None), str):
            raise TypeError(
                "env must be a neurogym environment made with neurogym.make(...) or its id, "
                f"got {type(env).__name__}"
            )
        if env_kwargs:
            raise TypeError("env_kwargs are only accepted with an environment id")
        env_id, kwargs = spec.id, dict(spec.kwargs or {})
    return NeurogymTask(env_id, dict(kwargs), as_int(steps, "steps", minimum=1))
