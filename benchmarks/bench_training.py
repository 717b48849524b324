"""Benchmark: lowrank.train against a plain torch nn.RNN training loop.

Both train the same 2-bit flip-flop network (Sussillo & Barak 2013; Turner & Barak 2023: N = 100,
discrete time, full rank) from the same initial weights, on the same batches (drawn from the task
with the seeds ``train`` uses), with the same hyperparameters (``train``'s defaults: Adam, masked
MSE, gradient clipping, batches per epoch), until an epoch's mean loss is below 1e-3. The plain loop
is what a user would write with ``torch.nn.RNN`` and ``torch.nn.Linear``, without checkpoints or
progress bar; ``train`` also records a checkpoint at each improvement. Both follow the same
trajectory, so the ratio of wall-clock times is the cost of the bookkeeping. Each side runs
``--repeats`` times, alternating, and the fastest run of each is reported.
Run:  python benchmarks/bench_training.py [--repeats 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import inspect
import time

import numpy as np
import torch

from lowrank import RNN, train
from lowrank import tasks as T
from lowrank.training import DEFAULT_LR

DEFAULTS = {
    k: p.default for k, p in inspect.signature(train).parameters.items() if p.default is not p.empty
}
DEFAULTS["lr"] = DEFAULT_LR[True]  # what train picks for a full-rank model
N = 100


def plain_loop(model: RNN, task, seed: int) -> tuple[int, float]:
    """Train nn.RNN + nn.Linear with the initial weights of ``model``; return (epochs, seconds)."""
    w = {k: torch.from_numpy(v) for k, v in model.weights().items()}
    rnn = torch.nn.RNN(task.n_inputs, N, batch_first=True, bias=False)
    readout = torch.nn.Linear(N, task.n_outputs)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(w["weight_in"])
        rnn.weight_hh_l0.copy_(w["weight_rec"])
        readout.weight.copy_(w["weight_out"])
        readout.bias.copy_(w["bias_out"])
    params = list(rnn.parameters()) + list(readout.parameters())
    optimizer = torch.optim.Adam(params, lr=DEFAULTS["lr"])
    start = time.perf_counter()
    for epoch in range(1, DEFAULTS["max_epochs"] + 1):
        for group in optimizer.param_groups:
            group["lr"] = DEFAULTS["lr"] * DEFAULTS["lr_decay"] ** (epoch - 1)
        total = 0.0
        for index in range(DEFAULTS["batches"]):
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(epoch, index)))
            x, y, mask = (torch.from_numpy(a) for a in task.generate(DEFAULTS["batch_size"], rng))
            mask = mask.float()
            states, _ = rnn(x)
            loss = torch.sum(mask * (readout(states) - y) ** 2) / torch.sum(mask)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if DEFAULTS["clip"] is not None:
                torch.nn.utils.clip_grad_norm_(params, DEFAULTS["clip"])
            optimizer.step()
            total += loss.item()
        if total / DEFAULTS["batches"] < DEFAULTS["target_loss"]:
            break
    return epoch, time.perf_counter() - start


def ours(model: RNN, task, seed: int) -> tuple[int, float]:
    start = time.perf_counter()
    run = train(model, task, seed=seed, progress=False)
    seconds = time.perf_counter() - start
    if not run.converged:
        raise RuntimeError("lowrank.train did not reach the target loss")
    return run.epochs, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(DEFAULTS["threads"] or torch.get_num_threads())
    task = T.flipflop(2)
    make = lambda: RNN(2, N, 2, init="gaussian", seed=args.seed)  # noqa: E731
    results = {"lowrank.train": [], "plain nn.RNN loop": []}
    for _ in range(args.repeats):
        results["plain nn.RNN loop"].append(plain_loop(make(), task, args.seed))
        results["lowrank.train"].append(ours(make(), task, args.seed))
    print(f"2-bit flip-flop, N = {N}, discrete, full rank, to MSE < {DEFAULTS['target_loss']:g}")
    shown = ("lr", "lr_decay", "batch_size", "batches", "clip", "threads")
    print("hyperparameters:", ", ".join(f"{k}={DEFAULTS[k]}" for k in shown))
    best = {}
    for name, runs in results.items():
        epochs = {e for e, _ in runs}
        seconds = min(s for _, s in runs)
        best[name] = seconds
        rate = max(epochs) / seconds
        print(f"{name:>18}: {seconds:6.2f} s, epochs {sorted(epochs)}, {rate:6.1f} epochs/s")
    ratio = best["lowrank.train"] / best["plain nn.RNN loop"]
    print(f"time ratio lowrank.train / plain loop: {ratio:.3f} (target <= 1.1)")


if __name__ == "__main__":
    main()
