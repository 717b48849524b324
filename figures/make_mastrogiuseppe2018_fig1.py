"""Mastrogiuseppe & Ostojic 2018 (Neuron 99:609), Fig. 1: stationary and chaotic states against g.

Rank one with M_m = 1.1, M_n = 2, Sigma_m = Sigma_n = 1 and no overlap. The engine finds the two
transitions - stationary kappa != 0 -> chaotic kappa != 0 (the bulk radius of the static state
reaching 1), and chaotic kappa != 0 -> chaotic kappa = 0 (a branch point of the chaotic branch) -
and finite-N simulations (N = 1500, time averages) are overlaid as black dots;
dotted vertical lines mark the two transitions.

Run: python figures/make_mastrogiuseppe2018_fig1.py
     (writes figures/out/mastrogiuseppe2018_fig1.png)
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lowrank import GaussianLoadings, LowRankNetwork, MeanField, bifurcation_diagram, simulate  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
LAW = GaussianLoadings([1.1, 2.0], np.eye(2), rank=1)


def simulated_point(g: float, N: int = 1500, seed: int = 0) -> tuple[float, float]:
    """Time-averaged kappa and population variance of x of one network started on the kappa > 0
    side."""
    net = LowRankNetwork.sample(LAW, N, g=g, seed=seed)
    x0 = net.m[:, 0] * 1.0 + 0.1 * np.random.default_rng(seed).normal(size=N)
    traj = simulate(net, x0, t_max=150.0, dt=0.1, record_every=10)
    late = traj.x[0, 50:]
    return float(traj.kappa[0, 50:, 0].mean()), float(late.var(axis=1).mean())


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    diagram = bifurcation_diagram(lambda g: MeanField(LAW, g=g), "g", np.linspace(0.05, 4.0, 80))
    onset = [e for e in diagram.events_of("chaos_onset") if abs(e.kappa[0]) > 0.05]
    merge = [e for e in diagram.events_of("branch_point") if e.state.chaotic]
    fig, axes = plt.subplots(2, 1, figsize=(5.5, 7), sharex=True)
    diagram.plot(axes[0], "kappa")
    diagram.plot(axes[1], "delta0")
    gs = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    sims = np.array([simulated_point(g) for g in gs])
    for ax, column in zip(axes, (0, 1), strict=True):
        label = r"network N = 1500 (mean, 50-150 $\tau$)"
        ax.plot(gs, sims[:, column], "o", color="k", ms=4, label=label)
        for k, e in enumerate(onset[:1] + merge[:1]):
            label = "transitions" if k == 0 else None
            ax.axvline(e.parameter, color="0.6", lw=0.8, ls=":", label=label)
    title = []
    if onset:
        title.append(f"chaos onset g = {onset[0].parameter:.4f}")
    if merge:
        title.append(f"kappa -> 0 at g = {merge[0].parameter:.4f}")
    axes[0].set_title("; ".join(title), fontsize=9)
    for ax in axes:
        ax.legend(frameon=False, fontsize=7, loc="upper right" if ax is axes[0] else "upper left")
    axes[0].set_xlabel("")
    axes[1].set_xlabel("g (random connectivity strength)")
    fig.tight_layout()
    path = OUT / "mastrogiuseppe2018_fig1.png"
    fig.savefig(path, dpi=150)
    print(f"wrote {path}: " + "; ".join(title))


if __name__ == "__main__":
    main()
