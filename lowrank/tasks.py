"""Tasks for training recurrent networks: inputs, targets, and a mask of where the loss counts.

Every task draws a batch of trials from a seed with ``task.generate(batch, seed)``, which returns
``Trials(inputs, targets, mask)``: inputs (batch, time, n_inputs), targets and a boolean mask
(batch, time, n_outputs), float32 arrays with targets set to 0 where the mask is False. The
target of a task is a function of its inputs alone, ``task.targets(inputs)``, so the same rule
scores hand-made probes and out-of-distribution trials (``task.ood(stretch)``: longer trials and
delays).

Pulse tasks follow Turner & Barak (NeurIPS 2023, "The simplicity bias in multi-task RNNs"), whose
flip-flop in turn is that of Sussillo & Barak (Neural Comput. 2013): a pulse of ``pulse`` steps on a
channel sets a value that the matching output holds until the next pulse on that channel; the output
is not scored during the channel's own pulses nor before its first one. Every channel pulses at
t = 0; afterwards one channel, drawn at random, pulses at each event, after a silent gap drawn from
``gaps`` (10 <= gap < 40 steps with one channel, 10 <= gap < 30 with several, as in their code).
``multitask`` combines tasks in their three modes.
"""

from __future__ import annotations

import dataclasses
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar, NamedTuple

import numpy as np

from ._checks import as_array, as_float, as_int, as_rng, choose

__all__ = [
    "Trials",
    "Task",
    "PulseTask",
    "DelayedDiscrimination",
    "Sine",
    "PathIntegration",
    "MultiTask",
    "flipflop",
    "cycle",
    "line",
    "plane",
    "ring",
    "delayed_discrimination",
    "sine",
    "path_integration",
    "multitask",
    "from_dict",
    "from_neurogym",
    "MAKERS",
    "maker",
]

MODES = ("gated", "orthogonal", "parallel")
_MAX_VALUES = 2**31  # per array of a batch (16 GiB in float64): beyond, a mistake, not a task


class Trials(NamedTuple):
    """A batch of trials; unpacks as ``inputs, targets, mask = task.generate(...)``.

    Attributes
    ----------
    inputs : ndarray (batch, time, n_inputs), float32
    targets : ndarray (batch, time, n_outputs), float32, 0 where ``mask`` is False
    mask : ndarray (batch, time, n_outputs), bool, True where the loss counts
    """

    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray


class Task(ABC):
    """A task: a law of input sequences and the rule that maps inputs to targets.

    Subclasses are frozen dataclasses; ``_stretch`` names the integer fields (or pairs of integers)
    that ``ood`` lengthens.
    """

    _stretch: ClassVar[tuple[str, ...]] = ()

    @property
    @abstractmethod
    def n_inputs(self) -> int:
        """Number of input channels."""

    @property
    @abstractmethod
    def n_outputs(self) -> int:
        """Number of output channels."""

    @property
    @abstractmethod
    def steps(self) -> int:
        """Number of time steps of a trial."""

    @abstractmethod
    def _inputs(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        """Draw inputs (batch, steps, n_inputs)."""

    @abstractmethod
    def _targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Targets and mask (batch, time, n_outputs) for validated float64 inputs."""

    def generate(self, batch: int, seed=0) -> Trials:
        """Draw ``batch`` trials.

        Parameters
        ----------
        batch : int
            Number of trials.
        seed : int or numpy.random.Generator
            Same seed, same trials.
        """
        batch = self._batch_size(batch)
        inputs = self._inputs(batch, as_rng(seed)).astype(np.float32)
        targets, mask = self.targets(inputs)
        return Trials(inputs, targets, mask)

    def _batch_size(self, batch) -> int:
        """``batch`` checked: an int >= 1 whose arrays stay below ``_MAX_VALUES`` values."""
        batch = as_int(batch, "batch", minimum=1)
        size = batch * self.steps * max(self.n_inputs, self.n_outputs)
        if size > _MAX_VALUES:
            raise ValueError(
                f"batch={batch} trials of steps={self.steps} with {self.n_inputs} inputs and "
                f"{self.n_outputs} outputs would hold {size:.3g} values per array (at most "
                f"{_MAX_VALUES:.0e}); generate fewer or shorter trials"
            )
        return batch

    def targets(self, inputs) -> tuple[np.ndarray, np.ndarray]:
        """The correct outputs for ``inputs`` and where they are scored.

        Parameters
        ----------
        inputs : array_like (batch, time, n_inputs)

        Returns
        -------
        targets : ndarray (batch, time, n_outputs), float32, 0 where not scored
        mask : ndarray (batch, time, n_outputs), bool
        """
        inputs = as_array(inputs, "inputs", ndim=3, shape=(None, None, self.n_inputs))
        targets, mask = self._targets(inputs)
        return np.where(mask, targets, 0.0).astype(np.float32), mask

    def ood(self, stretch: float = 2.0) -> Task:
        """An out-of-distribution variant: trials and delays ``stretch`` times longer."""
        stretch = as_float(stretch, "stretch", minimum=1.0)
        return dataclasses.replace(
            self, **{f: _scale(self._field(f), stretch) for f in self._stretch}
        )

    def _field(self, name: str):
        return getattr(self, name)

    def to_dict(self) -> dict:
        """A JSON-ready description; ``from_dict`` rebuilds the task."""
        return {"task": type(self).__name__, **_plain(dataclasses.asdict(self))}

    @property
    def name(self) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()


def _scale(value, stretch: float):
    if isinstance(value, tuple):
        return tuple(_scale(v, stretch) for v in value)
    scaled = value * stretch
    if not np.isfinite(scaled):
        raise ValueError(f"stretch={stretch:g} makes the trials infinitely long")
    return int(round(scaled))


def _plain(value):
    """Tuples to lists, recursively, for JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _set(obj, name: str, value) -> None:
    object.__setattr__(obj, name, value)


def _int_pair(value, name: str, minimum: int) -> tuple[int, int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise TypeError(f"{name} must be a pair of integers (low, high), got {value!r}")
    low = as_int(value[0], f"{name}[0]", minimum=minimum)
    high = as_int(value[1], f"{name}[1]", minimum=minimum)
    if high <= low:
        raise ValueError(f"{name} must satisfy low < high (high is excluded), got {tuple(value)}")
    return low, high


def _float_pair(value, name: str) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise TypeError(f"{name} must be a pair of numbers (low, high), got {value!r}")
    low, high = as_float(value[0], f"{name}[0]"), as_float(value[1], f"{name}[1]")
    if high <= low:
        raise ValueError(f"{name} must satisfy low < high, got {tuple(value)}")
    return low, high


def _last_index(marks: np.ndarray) -> np.ndarray:
    """For each (trial, t): the latest time <= t where ``marks`` is True, -1 if none."""
    t = np.arange(marks.shape[1])
    return np.maximum.accumulate(np.where(marks, t, -1), axis=1)


def _pulse_ends(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steps inside pulses (any channel of ``x`` nonzero) and the last step of each pulse."""
    active = np.any(x != 0, axis=-1)
    following = np.zeros_like(active)
    following[:, :-1] = active[:, 1:]
    return active, active & ~following


# Pulse kinds: (input/output dimension, value sampler, output oscillates around the value)
def _binary(rng, size):
    return (2.0 * rng.integers(0, 2, size=size) - 1.0)[..., None]


def _uniform(rng, size):
    return rng.uniform(-1.0, 1.0, size=size)[..., None]


def _angle(rng, size):
    theta = rng.uniform(0.0, 2.0 * np.pi, size=size)
    return np.stack([np.cos(theta), np.sin(theta)], axis=-1)


_KINDS = {
    "flipflop": (1, _binary, False),
    "cycle": (1, _binary, True),
    "line": (1, _uniform, False),
    "ring": (2, _angle, False),
}


@dataclasses.dataclass(frozen=True)
class PulseTask(Task):
    """Memory of pulses: each item holds the last value it was given (Turner & Barak 2023).

    Parameters
    ----------
    items : tuple of str
        One entry per memory: "flipflop" (+-1, held: 2 fixed points per item), "cycle" (+-1, output
        oscillates around the held value: a limit cycle), "line" (uniform in (-1, 1): a line
        attractor), "ring" (a point (cos a, sin a) on two channels: a ring attractor).
    steps : int
        Trial length.
    pulse : int
        Pulse duration, shorter than ``steps``.
    gaps : (int, int), optional
        Silent steps between consecutive events, drawn from ``range(gaps[0], gaps[1])``; default
        (10, 40) with one item and (10, 30) with several (Turner & Barak 2023).
    amplitude, period : float
        Oscillation of "cycle" items, ``amplitude * sin(2 pi k / period)`` at k steps after the
        pulse (0.5 and 19.5 steps, Turner & Barak 2023).
    """

    items: tuple[str, ...]
    steps: int = 200
    pulse: int = 5
    gaps: tuple[int, int] | None = None
    amplitude: float = 0.5
    period: float = 19.5

    _stretch: ClassVar[tuple[str, ...]] = ("steps", "gaps")

    def __post_init__(self):
        if isinstance(self.items, str) or not isinstance(self.items, Sequence) or not self.items:
            raise TypeError(f"items must be a non-empty sequence of names from {list(_KINDS)}")
        _set(
            self,
            "items",
            tuple(choose(item, f"items[{i}]", list(_KINDS)) for i, item in enumerate(self.items)),
        )
        _set(self, "steps", as_int(self.steps, "steps", minimum=1))
        _set(self, "pulse", as_int(self.pulse, "pulse", minimum=1))
        if self.pulse >= self.steps:
            raise ValueError(
                f"pulse={self.pulse} must be shorter than the trial, steps={self.steps}: every "
                "channel pulses at t = 0, so no step after a pulse would be scored"
            )
        if self.gaps is not None:
            _set(self, "gaps", _int_pair(self.gaps, "gaps", minimum=1))
        _set(self, "amplitude", as_float(self.amplitude, "amplitude"))
        _set(self, "period", as_float(self.period, "period", positive=True))

    @property
    def gap_range(self) -> tuple[int, int]:
        """The gaps in use (the defaults of Turner & Barak when ``gaps`` is None)."""
        if self.gaps is not None:
            return self.gaps
        return (10, 40) if len(self.items) == 1 else (10, 30)

    def _field(self, name: str):
        return self.gap_range if name == "gaps" else getattr(self, name)

    @property
    def n_inputs(self) -> int:
        return sum(_KINDS[item][0] for item in self.items)

    n_outputs = n_inputs

    @property
    def name(self) -> str:
        kinds = sorted(set(self.items), key=self.items.index)
        if len(kinds) == 1:
            return f"{kinds[0]}{len(self.items)}"
        return "+".join(self.items)

    def _channels(self) -> list[slice]:
        edges = np.cumsum([0] + [_KINDS[item][0] for item in self.items])
        return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]

    def _inputs(self, batch, rng):
        low, high = self.gap_range
        events = self.steps // (self.pulse + low) + 1
        gaps = rng.integers(low, high, size=(batch, events))
        onsets = np.zeros((batch, events), dtype=np.int64)
        onsets[:, 1:] = np.cumsum(self.pulse + gaps[:, :-1], axis=1)
        chosen = rng.integers(0, len(self.items), size=(batch, events))
        t = np.arange(self.steps)
        event = np.sum(onsets[:, :, None] <= t, axis=1) - 1  # event whose onset last passed
        in_pulse = t - np.take_along_axis(onsets, event, axis=1) < self.pulse
        who = np.take_along_axis(chosen, event, axis=1)
        x = np.zeros((batch, self.steps, self.n_inputs))
        for i, (item, channels) in enumerate(zip(self.items, self._channels(), strict=True)):
            values = _KINDS[item][1](rng, (batch, events))  # (batch, events, dim)
            on = in_pulse & ((event == 0) | (who == i))
            held = np.take_along_axis(values, event[..., None], axis=1)
            x[:, :, channels] = np.where(on[..., None], held, 0.0)
        return x

    def _targets(self, inputs):
        y = np.zeros(inputs.shape[:2] + (self.n_outputs,))
        mask = np.zeros(y.shape, dtype=bool)
        for item, channels in zip(self.items, self._channels(), strict=True):
            x = inputs[:, :, channels]
            active, ends = _pulse_ends(x)
            last = _last_index(ends)
            held = np.take_along_axis(x, np.maximum(last, 0)[..., None], axis=1)
            if _KINDS[item][2]:
                k = np.arange(x.shape[1]) - last - 1
                held = held + self.amplitude * np.sin(2.0 * np.pi * k / self.period)[..., None]
            y[:, :, channels] = held
            mask[:, :, channels] = (~active & (last >= 0))[..., None]
        return y, mask


def flipflop(bits: int = 2, **options) -> PulseTask:
    """The n-bit flip-flop (Sussillo & Barak 2013): 2^bits stable states.

    Each of ``bits`` outputs holds the sign of the last +-1 pulse on its input; options as in
    ``PulseTask`` (steps=200, pulse=5, gaps of Turner & Barak 2023).
    """
    return PulseTask(("flipflop",) * as_int(bits, "bits", minimum=1), **options)


def cycle(channels: int = 1, **options) -> PulseTask:
    """Output oscillates around the last +-1 pulse: a limit cycle per value (Turner & Barak)."""
    return PulseTask(("cycle",) * as_int(channels, "channels", minimum=1), **options)


def line(channels: int = 1, **options) -> PulseTask:
    """Output holds the last pulse amplitude, uniform in (-1, 1): a line attractor per channel."""
    return PulseTask(("line",) * as_int(channels, "channels", minimum=1), **options)


def plane(**options) -> PulseTask:
    """Two line tasks at once (a plane attractor), sharing the pulse schedule of ``PulseTask``."""
    return line(2, **options)


def ring(**options) -> PulseTask:
    """Hold an angle: a pulse (cos a, sin a), a uniform in [0, 2 pi), sets the two outputs."""
    return PulseTask(("ring",), **options)


@dataclasses.dataclass(frozen=True)
class DelayedDiscrimination(Task):
    """Compare two pulses separated by a delay (Romo et al. 1999; Dubreuil et al. 2022).

    A trial: ``fixation`` silent steps, a pulse f1, a delay drawn from ``range(*delays)``, a pulse
    f2, then a response window of ``response`` steps in which the output must be sign(f1 - f2).
    The output must stay at 0 until the second pulse ends; steps after the window are not scored.
    (f1, f2) is uniform on the pairs in ``values`` with |f1 - f2| >= ``min_difference``.
    """

    fixation: int = 5
    pulse: int = 5
    delays: tuple[int, int] = (10, 40)
    response: int = 10
    values: tuple[float, float] = (0.2, 1.0)
    min_difference: float = 0.1

    _stretch: ClassVar[tuple[str, ...]] = ("delays",)
    n_inputs: ClassVar[int] = 1
    n_outputs: ClassVar[int] = 1

    def __post_init__(self):
        _set(self, "fixation", as_int(self.fixation, "fixation", minimum=0))
        _set(self, "pulse", as_int(self.pulse, "pulse", minimum=1))
        _set(self, "delays", _int_pair(self.delays, "delays", minimum=1))
        _set(self, "response", as_int(self.response, "response", minimum=1))
        _set(self, "values", _float_pair(self.values, "values"))
        if self.values[0] <= 0:
            raise ValueError(f"values must be positive (0 means no pulse), got {self.values}")
        _set(self, "min_difference", as_float(self.min_difference, "min_difference", minimum=0.0))
        if self.min_difference >= self.values[1] - self.values[0]:
            raise ValueError("min_difference must be smaller than the range of values")

    @property
    def steps(self) -> int:
        return self.fixation + 2 * self.pulse + self.delays[1] - 1 + self.response

    def _pulse_pairs(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        """(f1, f2) uniform on the pairs of ``values`` at least ``min_difference`` apart, drawn
        directly (no rejection loop, which would stall when ``min_difference`` nears the range).

        With w = high - low and u = w - |f1 - f2|, the allowed pairs are two triangles on which u
        has density proportional to u on [0, w - min_difference] (so u = (w - d) sqrt(U)) and,
        given u, the smaller value is uniform on [low, low + u].
        """
        low, high = self.values
        u = (high - low - self.min_difference) * np.sqrt(rng.uniform(size=batch))
        smaller = low + u * rng.uniform(size=batch)
        pair = np.stack([smaller, smaller + (high - low - u)], axis=1)
        swap = rng.integers(0, 2, size=batch).astype(bool)
        pair[swap] = pair[swap, ::-1]
        return pair

    def _inputs(self, batch, rng):
        f = self._pulse_pairs(batch, rng)
        second = self.fixation + self.pulse + rng.integers(*self.delays, size=batch)
        t = np.arange(self.steps)
        x = np.zeros((batch, self.steps, 1))
        first = (t >= self.fixation) & (t < self.fixation + self.pulse)
        x[:, first, 0] = f[:, :1]
        late = (t >= second[:, None]) & (t < second[:, None] + self.pulse)
        x[:, :, 0] += np.where(late, f[:, 1:], 0.0)
        return x

    def _targets(self, inputs):
        x = inputs[:, :, 0]
        _, ends = _pulse_ends(inputs)
        count = np.cumsum(ends, axis=1)
        t = np.arange(x.shape[1])
        rows = np.arange(x.shape[0])
        complete = count[:, -1] >= 2
        t1, t2 = np.argmax(count >= 1, axis=1), np.argmax(count >= 2, axis=1)
        choice = np.sign(x[rows, t1] - x[rows, t2])
        window = complete[:, None] & (t > t2[:, None]) & (t <= t2[:, None] + self.response)
        y = np.where(window, choice[:, None], 0.0)
        mask = ~complete[:, None] | (t <= t2[:, None] + self.response)
        return y[..., None], mask[..., None]


def delayed_discrimination(**options) -> DelayedDiscrimination:
    """Delayed discrimination of two pulse amplitudes; options as in ``DelayedDiscrimination``."""
    return DelayedDiscrimination(**options)


@dataclasses.dataclass(frozen=True)
class Sine(Task):
    """Sine-wave generator (Sussillo & Barak 2013): a static input sets the frequency.

    Level j of ``levels`` gives the input j / levels + 0.25 for the whole trial and the target
    sin(omega_j t), t = 0, 1, ..., with omega_j spaced evenly over ``frequencies`` (radians per
    step).
    """

    steps: int = 200
    frequencies: tuple[float, float] = (0.1, 0.6)
    levels: int = 51

    _stretch: ClassVar[tuple[str, ...]] = ("steps",)
    n_inputs: ClassVar[int] = 1
    n_outputs: ClassVar[int] = 1

    def __post_init__(self):
        _set(self, "steps", as_int(self.steps, "steps", minimum=1))
        _set(self, "frequencies", _float_pair(self.frequencies, "frequencies"))
        _set(self, "levels", as_int(self.levels, "levels", minimum=2))

    def _inputs(self, batch, rng):
        level = rng.integers(0, self.levels, size=batch) / self.levels + 0.25
        return np.broadcast_to(level[:, None, None], (batch, self.steps, 1)).copy()

    def _targets(self, inputs):
        low, high = self.frequencies
        fraction = (inputs[:, :1, :] - 0.25) * self.levels / (self.levels - 1)
        t = np.arange(inputs.shape[1])[None, :, None]
        return np.sin((low + (high - low) * fraction) * t), np.ones(inputs.shape, dtype=bool)


def sine(**options) -> Sine:
    """Sine waves whose frequency is set by a static input; options as in ``Sine``."""
    return Sine(**options)


@dataclasses.dataclass(frozen=True)
class PathIntegration(Task):
    """Integrate a 2-D velocity: inputs v_t ~ N(0, speed^2 I), target the position sum_s<=t v_s."""

    steps: int = 100
    speed: float = 0.1

    _stretch: ClassVar[tuple[str, ...]] = ("steps",)
    n_inputs: ClassVar[int] = 2
    n_outputs: ClassVar[int] = 2

    def __post_init__(self):
        _set(self, "steps", as_int(self.steps, "steps", minimum=1))
        _set(self, "speed", as_float(self.speed, "speed", positive=True))

    def _inputs(self, batch, rng):
        return self.speed * rng.standard_normal((batch, self.steps, 2))

    def _targets(self, inputs):
        return np.cumsum(inputs, axis=1), np.ones(inputs.shape, dtype=bool)


def path_integration(**options) -> PathIntegration:
    """2-D path integration; options as in ``PathIntegration``."""
    return PathIntegration(**options)


@dataclasses.dataclass(frozen=True)
class MultiTask(Task):
    """Several tasks in one network, each with its own input and output channels.

    Modes (Turner & Barak 2023):

    - "gated": one task per trial, drawn uniformly; only its outputs are scored, the others are
      unconstrained.
    - "orthogonal": one task per trial; the other outputs must stay at 0.
    - "parallel": all tasks in every trial, all scored. Pulse tasks share one pulse schedule (every
      channel pulses at t = 0, then one channel per event), so ``multitask([flipflop(1)] * 2,
      "parallel")`` is ``flipflop(2)``, trial for trial.

    In ``targets``, a task is active in a trial when any of its input channels is nonzero; in the
    gated and orthogonal modes inactive tasks are unscored or held at 0.
    """

    tasks: tuple[Task, ...]
    mode: str = "gated"

    def __post_init__(self):
        tasks = self.tasks
        if isinstance(tasks, Task) or not isinstance(tasks, Sequence) or not tasks:
            raise TypeError(
                "tasks must be a non-empty sequence of tasks (e.g. [flipflop(1), line(1)])"
            )
        for i, task in enumerate(tasks):
            if not isinstance(task, Task):
                raise TypeError(f"tasks[{i}] must be a Task, got {type(task).__name__}")
        _set(self, "tasks", tuple(tasks))
        _set(self, "mode", choose(self.mode, "mode", MODES))
        lengths = {task.steps for task in self.tasks}
        if len(lengths) > 1:
            raise ValueError(f"tasks must share the trial length, got steps {sorted(lengths)}")
        if self.mode == "parallel":
            self._merged_pulses()  # validates that the pulse tasks can share a schedule

    @property
    def n_inputs(self) -> int:
        return sum(task.n_inputs for task in self.tasks)

    @property
    def n_outputs(self) -> int:
        return sum(task.n_outputs for task in self.tasks)

    @property
    def steps(self) -> int:
        return self.tasks[0].steps

    @property
    def name(self) -> str:
        return f"{self.mode}({', '.join(task.name for task in self.tasks)})"

    def _blocks(self, kind: str) -> list[slice]:
        edges = np.cumsum([0] + [getattr(task, kind) for task in self.tasks])
        return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]

    def _merged_pulses(self) -> PulseTask | None:
        pulses = [task for task in self.tasks if isinstance(task, PulseTask)]
        if not pulses:
            return None
        shared = {(t.steps, t.pulse, t.gaps, t.amplitude, t.period) for t in pulses}
        if len(shared) > 1:
            raise ValueError(
                "pulse tasks in parallel mode share one pulse schedule: they must have the same "
                "steps, pulse, gaps, amplitude and period"
            )
        first = pulses[0]
        items = tuple(item for task in pulses for item in task.items)
        return dataclasses.replace(first, items=items)

    def _inputs(self, batch, rng):
        x = np.zeros((batch, self.steps, self.n_inputs))
        blocks = self._blocks("n_inputs")
        if self.mode == "parallel":
            merged = self._merged_pulses()
            pulsed = merged._inputs(batch, rng) if merged is not None else None
            start = 0
            for task, block in zip(self.tasks, blocks, strict=True):
                if isinstance(task, PulseTask):
                    x[:, :, block] = pulsed[:, :, start : start + task.n_inputs]
                    start += task.n_inputs
                else:
                    x[:, :, block] = task._inputs(batch, rng)
            return x
        which = rng.integers(0, len(self.tasks), size=batch)
        for k, (task, block) in enumerate(zip(self.tasks, blocks, strict=True)):
            rows = np.flatnonzero(which == k)
            if rows.size:
                x[rows, :, block] = task._inputs(rows.size, rng)
        return x

    def _targets(self, inputs):
        y = np.zeros(inputs.shape[:2] + (self.n_outputs,))
        mask = np.zeros(y.shape, dtype=bool)
        blocks = zip(self.tasks, self._blocks("n_inputs"), self._blocks("n_outputs"), strict=True)
        for task, inp, out in blocks:
            x = inputs[:, :, inp]
            y[:, :, out], mask[:, :, out] = task._targets(x)
            if self.mode != "parallel":
                active = np.any(x != 0, axis=(1, 2))[:, None, None]
                y[:, :, out] = np.where(active, y[:, :, out], 0.0)
                mask[:, :, out] = (mask[:, :, out] & active) | (self.mode == "orthogonal") & ~active
        return y, mask

    def ood(self, stretch: float = 2.0) -> MultiTask:
        """Every task ``stretch`` times longer (see ``Task.ood``)."""
        return MultiTask(tuple(task.ood(stretch) for task in self.tasks), self.mode)

    def to_dict(self) -> dict:
        return {"task": "MultiTask", "mode": self.mode, "tasks": [t.to_dict() for t in self.tasks]}


def multitask(tasks: Sequence[Task], mode: str = "gated") -> MultiTask:
    """Combine tasks in one of the modes of Turner & Barak 2023: "gated", "orthogonal", "parallel".

    Parameters
    ----------
    tasks : sequence of Task
        Each keeps its own input and output channels, in this order.
    mode : str
        See ``MultiTask``.
    """
    return MultiTask(tuple(tasks) if isinstance(tasks, (list, tuple)) else tasks, mode)


_CLASSES = {cls.__name__: cls for cls in (PulseTask, DelayedDiscrimination, Sine, PathIntegration)}


MAKERS = (
    "flipflop",
    "cycle",
    "line",
    "plane",
    "ring",
    "delayed_discrimination",
    "sine",
    "path_integration",
)


def maker(name: str) -> Callable[..., Task]:
    """The task maker called ``name`` (one of ``MAKERS``), e.g. ``maker("flipflop")(bits=3)``."""
    return globals()[choose(name, "task maker", MAKERS)]


def from_neurogym(env, steps: int = 100, **env_kwargs) -> Task:
    """Wrap a neurogym environment (or its id) as a lowrank task: see ``lowrank._neurogym``.

    Trials are concatenated into sequences of ``steps`` time steps, as neurogym's ``Dataset``
    does; targets are the one-hot ground-truth actions, scored at every step. Needs neurogym
    (``pip install -e ".[neurogym]"``).
    """
    from ._neurogym import from_neurogym as wrap

    return wrap(env, steps, **env_kwargs)


def from_dict(spec: dict) -> Task:
    """Rebuild a task from ``task.to_dict()`` (e.g. read back from a saved training run).

    Raises
    ------
    TypeError, ValueError
        When ``spec`` is not such a dict: naming the missing, unknown or malformed entry.
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("task"), str):
        raise TypeError("spec must be a dict made by Task.to_dict(), with a 'task' name entry")
    spec = dict(spec)
    kind = spec.pop("task")
    if kind == "MultiTask":
        if set(spec) != {"tasks", "mode"}:
            raise ValueError(
                f"spec of a MultiTask must hold exactly 'tasks' and 'mode', got {sorted(spec)}"
            )
        tasks = spec["tasks"]
        if not isinstance(tasks, list):
            raise TypeError(f"spec['tasks'] must be a list of task dicts, got {tasks!r}")
        return MultiTask(tuple(from_dict(t) for t in tasks), spec["mode"])
    if kind == "NeurogymTask":
        if set(spec) != {"env_id", "env_kwargs", "steps"}:
            raise ValueError(
                "spec of a NeurogymTask must hold exactly 'env_id', 'env_kwargs' and 'steps', "
                f"got {sorted(spec)}"
            )
        return from_neurogym(spec["env_id"], spec["steps"], **spec["env_kwargs"])
    cls = _CLASSES.get(kind)
    if cls is None:
        raise ValueError(
            f"unknown task {kind!r}; expected one of {sorted(_CLASSES) + ['MultiTask']}"
        )
    fields = dataclasses.fields(cls)
    unknown = set(spec) - {f.name for f in fields}
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)} for task {kind}")
    missing = [
        f.name
        for f in fields
        if f.name not in spec
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ValueError(f"spec of a {kind} misses the fields {missing}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})
