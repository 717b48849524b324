"""Huang et al. (2024)-style solution degeneracy against task complexity, at small scale.

The networks are the flip-flop networks trained by Turner & Barak (NeurIPS 2023; found by
``lowrank.turner2023.data_dir()``, 100 tanh units, 10 seeds each), in the parallel mode with 2-6
bits: task complexity is the number of bits. For each number of bits, between every pair of the
first ``SEEDS`` = 8 seeds (28 pairs, to stay under 3 minutes on 2 cores; ``SEEDS = 10`` gives all
45 pairs):

- dynamics: DSA distance (``lowrank.metrics.pairwise_dsa``, angular score, 5 delays, rank 8) between
  the hidden trajectories on one shared batch of flip-flop inputs;
- weights: permutation-invariant distance of W_hh (``permutation_invariant_distance``, FAQ
  heuristic), relative to the same distance between the seeds' initial weights.

Run time is about 1-2 minutes on 2 cores (a progress bar counts the pairs).

Run: python figures/make_huang2024_degeneracy.py [--data DIR]
     (writes figures/out/huang2024_degeneracy.png)
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from lowrank.metrics import pairwise_dsa, permutation_invariant_distance  # noqa: E402
from lowrank.turner2023 import add_data_argument, require_data_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "figures" / "out"
BITS = [2, 3, 4, 5, 6]
TRIALS, STEPS, PULSE = 8, 200, 5
SEEDS = 8


def flipflop_inputs(bits: int, seed: int = 0) -> np.ndarray:
    """(trials, steps, bits): 5-step pulses of +-1 at random times on every channel."""
    rng = np.random.default_rng(seed)
    u = np.zeros((TRIALS, STEPS, bits))
    for trial in range(TRIALS):
        for channel in range(bits):
            for start in rng.choice(np.arange(0, STEPS - PULSE, 2 * PULSE), size=4, replace=False):
                u[trial, start : start + PULSE, channel] = rng.choice([-1.0, 1.0])
    return u


def hidden(W: np.ndarray, W_in: np.ndarray, u: np.ndarray) -> np.ndarray:
    """h_{t+1} = tanh(W h_t + W_in u_t) from h = 0, states (trials, steps, units)."""
    h = np.zeros((u.shape[0], len(W)))
    states = np.empty(u.shape[:2] + (len(W),))
    for t in range(u.shape[1]):
        h = np.tanh(h @ W.T + u[:, t] @ W_in.T)
        states[:, t] = h
    return states


def mean_offdiagonal(D: np.ndarray) -> float:
    return float(D[np.triu_indices(len(D), 1)].mean())


def weight_distances(W: np.ndarray, bar: tqdm) -> np.ndarray:
    n = len(W)
    D = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            D[i, j] = D[j, i] = permutation_invariant_distance(W[i], W[j], n_restarts=2)
            bar.update()
    return D


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(parser)
    args = parser.parse_args()
    folder = require_data_dir(parser, args)
    OUT.mkdir(parents=True, exist_ok=True)
    dynamics, weights = [], []
    pairs = SEEDS * (SEEDS - 1) // 2
    bar = tqdm(total=3 * pairs * len(BITS), desc="seed pairs (DSA, trained W, initial W)")
    for bits in BITS:
        data = np.load(folder / f"flipflopparallel_{bits}bits_200_vanilla_100.npz")
        W = data["final.rnn.weight_hh_l0"].astype(np.float64)[:SEEDS]
        W_in = data["final.rnn.weight_ih_l0"].astype(np.float64)[:SEEDS]
        W0 = data["initial.rnn.weight_hh_l0"].astype(np.float64)[:SEEDS]
        u = flipflop_inputs(bits)
        runs = [hidden(w, w_in, u) for w, w_in in zip(W, W_in, strict=True)]
        dynamics.append(pairwise_dsa(runs, n_delays=5, rank=8))
        bar.update(pairs)
        weights.append(
            mean_offdiagonal(weight_distances(W, bar))
            / mean_offdiagonal(weight_distances(W0, bar))
        )
        dsa = mean_offdiagonal(dynamics[-1])
        tqdm.write(f"{bits} bits: DSA {dsa:.3f}, weights {weights[-1]:.3f}")
    bar.close()
    fig, (ax_dyn, ax_w) = plt.subplots(1, 2, figsize=(9, 3.8))
    values = [D[np.triu_indices(len(D), 1)] for D in dynamics]
    ax_dyn.boxplot(values, positions=BITS, widths=0.5)
    ax_dyn.plot([], [], color="C1", label="median")
    ax_dyn.plot([], [], "s", mfc="none", mec="k", ms=9, label="quartiles (box), 1.5 IQR (whiskers)")
    ax_dyn.plot([], [], "o", mfc="none", mec="k", label="outlying pair")
    ax_dyn.legend(frameon=False, fontsize=7, loc="upper right")
    ax_dyn.set(
        xlabel="bits (parallel flip-flop)",
        ylabel="DSA distance (angular)",
        title=f"dynamical degeneracy ({pairs} seed pairs)",
    )
    ax_dyn.set_ylim(0, 1.3 * max(v.max() for v in values))
    ax_w.plot(BITS, weights, "o-", color="C3", label=f"mean over {pairs} seed pairs")
    ax_w.legend(frameon=False, fontsize=7, loc="upper left")
    ax_w.set(
        xlabel="bits (parallel flip-flop)",
        ylabel="weight distance, trained / initial",
        title="permutation-invariant weight distance",
    )
    for ax in (ax_dyn, ax_w):
        ax.set_xticks(BITS)
    fig.tight_layout()
    fig.savefig(OUT / "huang2024_degeneracy.png", dpi=150)
    print(f"wrote {OUT / 'huang2024_degeneracy.png'}")


if __name__ == "__main__":
    main()
