"""Training that records how attractors form: ``train`` returns a ``TrainingRun`` of checkpoints.

The loop is the one of Turner & Barak (NeurIPS 2023): Adam on the masked mean squared error
sum(mask (y - target)^2) / sum(mask), stopping once an epoch's mean loss falls below
``target_loss``, with a checkpoint of every weight at each improvement of the loss (their
checkpoints), or at every epoch, or every k epochs. An epoch is ``batches`` optimiser steps, each on
a fresh batch of trials; the batches of epoch e come from ``SeedSequence(seed, spawn_key=(e, b))``,
so a run is reproducible bit for bit on CPU and a saved run resumes exactly where it stopped.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import time as _time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import io
from ._checks import ConvergenceWarning, as_float, as_int
from .models import RNN
from .tasks import Task, from_dict

__all__ = ["Checkpoint", "TrainingRun", "train", "load_run"]

_KIND = "TrainingRun"
DEFAULT_LR = {True: 3e-3, False: 3e-2}  # full rank, rank R (the 2-bit flip-flop, N = 100)


@dataclasses.dataclass
class Checkpoint:
    """Weights of the model after ``epoch`` epochs (0: initial) and that epoch's mean loss.

    The loss of an epoch is the mean training loss of its batches, measured as the weights moved
    during the epoch (as in Turner & Barak 2023); that of epoch 0 is the loss of the initial weights
    on the first batch.
    """

    epoch: int
    loss: float
    weights: dict[str, np.ndarray]

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}{tuple(np.shape(v))}" for k, v in self.weights.items())
        return f"Checkpoint(epoch={self.epoch}, loss={self.loss:.3g}, weights: {shapes})"


@dataclasses.dataclass
class TrainingRun:
    """The record of a training run.

    Attributes
    ----------
    losses : ndarray (epochs,)
        Mean training loss of each epoch (epoch e at index e - 1).
    checkpoints : list of Checkpoint
        The initial weights, the recorded epochs, and the final weights.
    config : dict
        "model" (``RNN.config()``), "task" (``Task.to_dict()``) and "training" (the arguments of
        ``train``): everything needed to rebuild and resume the run.
    optimizer : dict
        Adam's state after the last epoch (for ``resume``).
    elapsed : float
        Wall-clock seconds spent training.
    """

    losses: np.ndarray
    checkpoints: list[Checkpoint]
    config: dict
    optimizer: dict
    elapsed: float = 0.0

    def __repr__(self) -> str:
        """A summary (sizes, losses, convergence), not the arrays: ``print(run)`` stays short."""
        training = self.config.get("training", {})
        model = self.config.get("model", {})
        task = self.config.get("task", {})
        name = task.get("task", "?") + (f" ({task['mode']})" if "mode" in task else "")
        rank = model.get("rank")
        first = self.losses[0] if self.epochs else float("nan")
        last = self.losses[-1] if self.epochs else float("nan")
        return (
            f"TrainingRun(task={name!r}, N={model.get('n_hidden', '?')}, "
            f"rank={'full' if rank is None else rank}, epochs={self.epochs}"
            f"/{training.get('max_epochs', '?')}, loss {first:.3g} -> {last:.3g} "
            f"(target {training.get('target_loss')}), converged={self.converged}, "
            f"checkpoints={len(self.checkpoints)}, elapsed={self.elapsed:.1f} s)"
        )

    @property
    def epochs(self) -> int:
        """Number of epochs trained."""
        return len(self.losses)

    @property
    def converged(self) -> bool:
        """Whether the last epoch's loss is below the target loss (False after a divergence)."""
        target = self.config.get("training", {}).get("target_loss")
        if target is None:  # e.g. networks read from another package: no target was set
            return False
        return bool(self.epochs and self.losses[-1] < target)

    def model(self, checkpoint: int = -1) -> RNN:
        """The model with the weights of ``checkpoints[checkpoint]`` (default: the final ones)."""
        checkpoint = as_int(
            checkpoint,
            "checkpoint",
            minimum=-len(self.checkpoints),
            maximum=len(self.checkpoints) - 1,
        )
        return RNN(**self.config["model"]).set_weights(self.checkpoints[checkpoint].weights)

    def task(self) -> Task:
        """The task the run was trained on."""
        return from_dict(self.config["task"])

    def stacked(self, name: str) -> np.ndarray:
        """One parameter across checkpoints, shape (checkpoints, ...), e.g. ``run.stacked("m")``."""
        names = self.checkpoints[0].weights
        if name not in names:
            raise ValueError(f"unknown parameter {name!r}; expected one of {sorted(names)}")
        return np.stack([c.weights[name] for c in self.checkpoints])

    def save(self, path) -> Path:
        """Write the run to ``path`` (npz + JSON, atomically); read it back with ``load_run``.

        Raises
        ------
        TypeError, ValueError
            If ``path`` is not a str or PathLike, or names an existing folder.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        if Path(path).is_dir():
            raise ValueError(
                f"path {str(path)!r} is a folder; give a file name such as "
                f"{str(Path(path) / 'run.npz')!r}"
            )
        arrays = {
            "losses": self.losses,
            "checkpoints/epoch": np.array([c.epoch for c in self.checkpoints], dtype=np.int64),
            "checkpoints/loss": np.array([c.loss for c in self.checkpoints], dtype=np.float64),
        }
        for name in self.checkpoints[0].weights:
            arrays[f"checkpoints/weights/{name}"] = self.stacked(name)
        arrays.update(io.flatten({"optimizer": self.optimizer.get("state", {})}))
        meta = {
            "config": self.config,
            "param_groups": self.optimizer.get("param_groups", []),
            "elapsed": self.elapsed,
        }
        return io.save(path, arrays, meta, kind=_KIND)

    def resume(
        self, max_epochs: int | None = None, target_loss: float | None = None, progress: bool = True
    ) -> TrainingRun:
        """Continue training where the run stopped.

        Losses and weights equal those of an uninterrupted run; the checkpoints also keep the final
        weights of this run.

        Parameters
        ----------
        max_epochs : int, optional
            New total number of epochs (default: the original ``max_epochs``).
        target_loss : float, optional
            New stopping threshold (default: the original one).
        progress : bool
            Show a progress bar.
        """
        settings = dict(self.config.get("training", {}))
        missing = set(inspect.signature(train).parameters) - {"model", "task"} - set(settings)
        if missing or not self.optimizer.get("state"):
            raise ValueError(
                "this run cannot be resumed: it was not made by lowrank.train "
                f"(no optimiser state or training settings {sorted(missing)})"
            )
        if self.epochs and not np.isfinite(self.losses[-1]):
            raise ValueError(
                f"this run diverged (loss {self.losses[-1]} at epoch {self.epochs}) and cannot be "
                "resumed; train again with a lower lr"
            )
        if max_epochs is not None:
            settings["max_epochs"] = max_epochs
        if target_loss is not None:
            settings["target_loss"] = target_loss
        settings["progress"] = progress
        return _train(self.model(), self.task(), settings, previous=self)


def load_run(path) -> TrainingRun:
    """Read a ``TrainingRun`` written by ``TrainingRun.save`` (no unpickling)."""
    arrays, header = io.load(path, kind=_KIND)
    nested = io.unflatten(arrays)
    meta = header["meta"]
    try:
        if not isinstance(meta.get("config"), dict):
            raise TypeError(f"its config is a {type(meta.get('config')).__name__}, not a mapping")
        points = nested["checkpoints"]
        weights = points["weights"]
        checkpoints = [
            Checkpoint(int(epoch), float(loss), {name: w[i] for name, w in weights.items()})
            for i, (epoch, loss) in enumerate(zip(points["epoch"], points["loss"], strict=True))
        ]
        optimizer = {"state": nested.get("optimizer", {}), "param_groups": meta["param_groups"]}
        return TrainingRun(
            nested["losses"], checkpoints, meta["config"], optimizer, float(meta["elapsed"])
        )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is not a complete training run ({exc!r})") from exc


def _device(device) -> torch.device:
    if isinstance(device, str):
        try:
            device = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(f"unknown device {device!r}; expected 'cpu' or 'cuda'") from exc
    if not isinstance(device, torch.device):
        raise TypeError(
            f"device must be 'cpu', 'cuda' or a torch.device, got {type(device).__name__}"
        )
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {str(device)!r}; expected 'cpu' or 'cuda'")
    if device.type == "cuda" and not torch.cuda.is_available():
        warnings.warn(
            "device='cuda' was asked but CUDA is not available; training on the CPU", stacklevel=4
        )
        return torch.device("cpu")
    if device.type == "cuda" and device.index is not None:
        if device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {str(device)!r} does not exist: {torch.cuda.device_count()} CUDA "
                "device(s) available"
            )
    if device.type == "cpu" and device.index not in (None, 0):
        raise ValueError(f"unknown device {str(device)!r}; expected 'cpu' or 'cuda'")
    return device


@contextmanager
def _threads(n: int | None):
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _batch(
    task: Task, size: int, seed: int, epoch: int, index: int, device
) -> tuple[torch.Tensor, ...]:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(epoch, index)))
    inputs, targets, mask = task.generate(size, rng)
    return tuple(torch.from_numpy(a).to(device) for a in (inputs, targets, mask.astype(np.float32)))


def _noise_generator(seed: int, epoch: int, device) -> torch.Generator:
    state = np.random.SeedSequence(seed, spawn_key=(epoch, 2**32)).generate_state(2, np.uint32)
    return torch.Generator(device=device).manual_seed(int(state[0]) << 32 | int(state[1]))


def _checkpoint_rule(value) -> str | int:
    if isinstance(value, str):
        if value not in ("improvement", "epoch"):
            raise ValueError(
                f"unknown checkpoints {value!r}; expected 'improvement', 'epoch' or an int"
            )
        return value
    return as_int(value, "checkpoints", minimum=1)


def _optimizer_state(optimizer: torch.optim.Optimizer) -> dict:
    state = optimizer.state_dict()
    arrays = {
        str(i): {k: v.detach().cpu().numpy().copy() for k, v in entry.items()}
        for i, entry in state["state"].items()
    }
    return {"state": arrays, "param_groups": state["param_groups"]}


def _load_optimizer(optimizer: torch.optim.Optimizer, saved: dict, device) -> None:
    state = {
        int(i): {k: torch.as_tensor(v) for k, v in entry.items()}
        for i, entry in saved["state"].items()
    }
    for entry in state.values():  # Adam keeps "step" on the CPU and the moments with the parameters
        for key in entry:
            if key != "step":
                entry[key] = entry[key].to(device)
    optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})


def train(
    model: RNN,
    task: Task,
    seed: int = 0,
    target_loss: float = 1e-3,
    max_epochs: int = 1000,
    lr: float | None = None,
    lr_decay: float = 1.0,
    batch_size: int = 32,
    batches: int = 5,
    clip: float | None = 1.0,
    checkpoints: str | int = "improvement",
    progress: bool = True,
    device: str | torch.device = "cpu",
    threads: int | None = 1,
) -> TrainingRun:
    """Train ``model`` on ``task`` with Adam on the masked MSE, recording checkpoints.

    Parameters
    ----------
    model : RNN
        Trained in place (moved to ``device``).
    task : Task
        Its ``n_inputs`` / ``n_outputs`` must match the model's.
    seed : int
        Seed of the training batches and of the training noise; same seed, same run.
    target_loss : float
        Stop after the first epoch whose mean loss is below this.
    max_epochs : int
        Stop after this many epochs in any case.
    lr : float, optional
        Adam's learning rate; by default 3e-3 for a full-rank model and 3e-2 for rank R, whose
        W = m n^T / N moves by O(lr / N) per entry and step where a full matrix moves by O(lr).
    lr_decay : float
        Learning-rate schedule: epoch e uses lr * lr_decay**(e - 1).
    batch_size : int
        Trials per batch.
    batches : int
        Optimiser steps (fresh batches) per epoch.
    clip : float, optional
        Clip the gradient norm to this value.
    checkpoints : "improvement", "epoch" or int
        Record the weights at each epoch whose loss is the best so far (Turner & Barak 2023), at
        every epoch, or every k epochs; the initial and final weights are always recorded.
    progress : bool
        Show a tqdm progress bar with the loss; False for scripts.
    device : str or torch.device
        "cpu" (default) or "cuda" (falls back to the CPU with a warning when unavailable).
    threads : int, optional
        Torch CPU threads during training (restored afterwards); None leaves torch's setting. One
        thread is the fastest for networks of a few hundred units on a shared machine: more threads
        barely speed up such small products and stall when another process holds a core.

    Returns
    -------
    TrainingRun
        ``converged`` tells whether the last epoch's loss is below ``target_loss``.

    Warns
    -----
    ConvergenceWarning
        A RuntimeWarning: when training stopped without reaching ``target_loss``: ``max_epochs``
        ran out (the message gives the loss reached), or the loss became NaN or infinite (training
        stops at that epoch, whose weights are the last checkpoint).
    """
    settings = {
        "seed": seed,
        "target_loss": target_loss,
        "max_epochs": max_epochs,
        "lr": lr,
        "lr_decay": lr_decay,
        "batch_size": batch_size,
        "batches": batches,
        "clip": clip,
        "checkpoints": checkpoints,
        "progress": progress,
        "device": str(device) if isinstance(device, torch.device) else device,
        "threads": threads,
    }
    return _train(model, task, settings)


def _validate(model, task, s: dict) -> dict:
    if not isinstance(model, RNN):
        raise TypeError(f"model must be a lowrank.RNN, got {type(model).__name__}")
    if not isinstance(task, Task):
        raise TypeError(f"task must be a lowrank.tasks.Task, got {type(task).__name__}")
    if (task.n_inputs, task.n_outputs) != (model.n_in, model.n_out):
        raise ValueError(
            f"task has {task.n_inputs} inputs and {task.n_outputs} outputs but the model has "
            f"n_in={model.n_in} and n_out={model.n_out}"
        )
    s["seed"] = as_int(s["seed"], "seed", minimum=0)
    s["target_loss"] = as_float(s["target_loss"], "target_loss", minimum=0.0)
    s["max_epochs"] = as_int(s["max_epochs"], "max_epochs", minimum=1)
    if s["lr"] is None:
        s["lr"] = DEFAULT_LR[model.rank is None]
    s["lr"] = as_float(s["lr"], "lr", positive=True)
    s["lr_decay"] = as_float(s["lr_decay"], "lr_decay", positive=True)
    s["batch_size"] = as_int(s["batch_size"], "batch_size", minimum=1)
    s["batches"] = as_int(s["batches"], "batches", minimum=1)
    if s["clip"] is not None:
        s["clip"] = as_float(s["clip"], "clip", positive=True)
    s["checkpoints"] = _checkpoint_rule(s["checkpoints"])
    if not isinstance(s["progress"], bool):
        raise TypeError(f"progress must be True or False, got {type(s['progress']).__name__}")
    if s["threads"] is not None:
        s["threads"] = as_int(s["threads"], "threads", minimum=1)
    return s


def _train(
    model: RNN, task: Task, settings: dict, previous: TrainingRun | None = None
) -> TrainingRun:
    s = _validate(model, task, dict(settings))
    device = _device(s["device"])
    threads = None if s["threads"] is None else min(s["threads"], os.cpu_count() or 1)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=s["lr"])
    if previous is None:
        losses, points, elapsed = [], [Checkpoint(0, float("nan"), model.weights())], 0.0
    else:
        losses, points, elapsed = (
            list(previous.losses),
            list(previous.checkpoints),
            previous.elapsed,
        )
        _load_optimizer(optimizer, previous.optimizer, device)
    best = min(losses, default=np.inf)
    rule = s["checkpoints"]
    start = len(losses)
    bar = tqdm(
        total=s["max_epochs"],
        initial=start,
        desc=task.name,
        unit="epoch",
        disable=not s["progress"],
    )
    began = _time.perf_counter()
    with _threads(threads), bar:
        for epoch in range(start + 1, s["max_epochs"] + 1):
            if losses and losses[-1] < s["target_loss"]:
                break
            for group in optimizer.param_groups:
                group["lr"] = s["lr"] * s["lr_decay"] ** (epoch - 1)
            generator = _noise_generator(s["seed"], epoch, device) if model.noise > 0 else None
            total = 0.0
            for index in range(s["batches"]):
                inputs, targets, mask = _batch(
                    task, s["batch_size"], s["seed"], epoch, index, device
                )
                outputs, _ = model(inputs, generator=generator)
                loss = torch.sum(mask * (outputs - targets) ** 2) / torch.sum(mask)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if s["clip"] is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), s["clip"])
                optimizer.step()
                value = loss.item()
                if epoch == 1 and index == 0:
                    points[0].loss = value
                total += value
            losses.append(total / s["batches"])
            diverged = not np.isfinite(losses[-1])
            improved = losses[-1] < best
            best = min(best, losses[-1])
            if (
                rule == "epoch"
                or (rule == "improvement" and improved)
                or (isinstance(rule, int) and epoch % rule == 0)
            ):
                points.append(Checkpoint(epoch, losses[-1], model.weights()))
            bar.set_postfix_str(f"loss={losses[-1]:.2e}", refresh=False)
            bar.update()
            if diverged:
                break
        if bar.n < bar.total:  # stopped early: the bar ends full at the epochs really run
            bar.total = bar.n
            bar.refresh()
    if points[-1].epoch != len(losses):
        points.append(Checkpoint(len(losses), losses[-1], model.weights()))
    config = {"model": model.config(), "task": task.to_dict(), "training": s}
    elapsed += _time.perf_counter() - began
    run = TrainingRun(
        np.asarray(losses, dtype=np.float64), points, config, _optimizer_state(optimizer), elapsed
    )
    _report(run)
    return run


def _report(run: TrainingRun) -> None:
    """Warn when a run stopped without reaching its target loss: diverged or out of epochs."""
    if run.converged:
        return
    target = run.config["training"]["target_loss"]
    if run.epochs and not np.isfinite(run.losses[-1]):
        warnings.warn(
            f"train: the loss became {run.losses[-1]} at epoch {run.epochs}; training stopped "
            "there (run.converged is False) - lower lr or set clip",
            ConvergenceWarning,
            stacklevel=4,
        )
    else:
        warnings.warn(
            f"train: loss {run.losses[-1]:.3g} after {run.epochs} epochs is above "
            f"target_loss={target:g} (run.converged is False); continue with "
            "run.resume(max_epochs=...)",
            ConvergenceWarning,
            stacklevel=4,
        )
