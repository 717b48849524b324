"""Turner & Barak (NeurIPS 2023): unstable eigenvalues and end states against the number of bits.

For the authors' trained flip-flop networks (100 tanh units, discrete time, shared/data/turner2023),
for each multi-task mode (gated, orthogonal, parallel) and 2-6 bits: left, the number of eigenvalues
of W_hh outside the unit circle (mean +- s.d. over seeds; crosses: the published means); right, the
number of distinct end states reached from +-1 pulses on each input channel
(``lowrank.metrics.shared_attractors``). Gated networks reuse one pair of attractors for every bit;
orthogonal and parallel ones grow with the number of bits.

With ``--sweep DIR`` (the folder of ``lowrank sweep figures/sweeps/turner2023_modes.toml``), the
networks we trained ourselves are drawn as well (dashed, open markers): the same measures from the
sweep's report (``lowrank.sweep.sweep_report``).

Run: python figures/make_turner2023_modes.py [--sweep DIR] [--data DIR]
     (writes figures/out/turner2023_modes.png)
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lowrank.metrics import shared_attractors, unstable_eigenvalue_count  # noqa: E402
from lowrank.turner2023 import add_data_argument, require_data_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "figures" / "out"
BITS = [2, 3, 4, 5, 6]
MODES = {
    "gated": ("flipflop{b}bits_200_vanilla_100.npz", [1.14, 1.1, 0.9, 1.0, 0.9]),
    "orthogonal": ("flipfloporthogonal_{b}bits_200_vanilla_100.npz", [1.8, 2.5, 3.6, 4.5, 5.6]),
    "parallel": ("flipflopparallel_{b}bits_200_vanilla_100.npz", [2, 3, 4, 5, 6]),
}


def measure(data_folder: Path, mode: str, bits: int) -> tuple[np.ndarray, np.ndarray]:
    data = np.load(data_folder / MODES[mode][0].format(b=bits))
    W_hh = data["final.rnn.weight_hh_l0"].astype(np.float64)
    W_ih = data["final.rnn.weight_ih_l0"].astype(np.float64)
    counts, ends = [], []
    for W, W_in in zip(W_hh, W_ih, strict=True):
        counts.append(unstable_eigenvalue_count(W, "discrete").count)
        ends.append(
            shared_attractors((W, W_in), bits, time="discrete", free_steps=3000).n_end_states
        )
    return np.array(counts), np.array(ends)


def overlay_sweep(folder: str, ax_eig, ax_end) -> None:
    """Mean +- s.d. over seeds of our own trained networks, from the sweep's report."""
    from lowrank.sweep import sweep_report

    groups = sweep_report(folder, degeneracy=False, figures=False).groups
    for k, mode in enumerate(MODES):
        rows = sorted((g for g in groups if g.get("mode") == mode), key=lambda g: g["tasks"])
        for ax, name in ((ax_eig, "unstable_final"), (ax_end, "n_end_states")):
            ax.errorbar([g["tasks"] for g in rows], [g[f"{name}_mean"] for g in rows],
                        [g[f"{name}_std"] or 0 for g in rows], color=f"C{k}", ls="--", marker="o",
                        mfc="none", capsize=3, label=f"{mode} (our sweep)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", help="results folder of the turner2023_modes sweep")
    add_data_argument(parser)
    args = parser.parse_args()
    data = require_data_dir(parser, args)
    OUT.mkdir(parents=True, exist_ok=True)
    fig, (ax_eig, ax_end) = plt.subplots(1, 2, figsize=(9, 3.6))
    if args.sweep:
        overlay_sweep(args.sweep, ax_eig, ax_end)
    sizes = []
    for k, (mode, (_, published)) in enumerate(MODES.items()):
        stats = [measure(data, mode, b) for b in BITS]
        counts = [s[0] for s in stats]
        sizes += counts
        ends = [s[1] for s in stats]
        color = f"C{k}"
        ax_eig.errorbar(
            BITS,
            [c.mean() for c in counts],
            [c.std() for c in counts],
            color=color,
            marker="o",
            capsize=3,
            label=mode,
        )
        ax_eig.plot(BITS, published, "x", color="k", ms=7, mew=1.5, zorder=5)
        ax_end.errorbar(
            BITS,
            [e.mean() for e in ends],
            [e.std() for e in ends],
            color=color,
            marker="o",
            capsize=3,
            label=mode,
        )
        print(
            mode,
            "unstable:",
            [round(float(c.mean()), 2) for c in counts],
            "end states:",
            [round(float(e.mean()), 2) for e in ends],
        )
    seeds = sorted({len(c) for c in sizes})
    ax_eig.set(
        xlabel="bits (flip-flop channels)",
        ylabel=r"eigenvalues of $W_{hh}$ with $|\lambda| > 1$",
        title="unstable eigenvalues",
    )
    ax_end.set(
        xlabel="bits (flip-flop channels)",
        ylabel="distinct end states",
        title=r"end states of $\pm 1$ probes",
    )
    ax_eig.plot([], [], "x", color="k", ms=7, mew=1.5, label="published mean (Turner & Barak)")
    for ax in (ax_eig, ax_end):
        ax.legend(frameon=False, fontsize=7, loc="upper left")
    fig.suptitle(
        "Turner & Barak 2023 networks (N = 100, discrete time): mean $\\pm$ s.d. over "
        f"{seeds[0]}-{seeds[-1]} seeds per mode and size",
        fontsize=9,
    )
    for ax in (ax_eig, ax_end):
        ax.set_xticks(BITS)
    fig.tight_layout()
    fig.savefig(OUT / "turner2023_modes.png", dpi=150)
    print(f"wrote {OUT / 'turner2023_modes.png'}")


if __name__ == "__main__":
    main()
