"""Beiran et al. 2021 (Neural Comput. 33:1572), Fig. 3-style phase portraits of rank-two networks.

Three overlap matrices Sigma_nm (Sigma_mm = I, zero means): symmetric with eigenvalues 2.5 and 1.6
(stable fixed points and saddles), 2 I (a ring attractor) and 2 I + 0.6 R_90 (a limit cycle).
Grey streamlines of the mean-field flow, fixed points from ``MeanField.fixed_points`` (filled:
stable, open: unstable), and latent trajectories of finite networks (N = 2000, whitened loadings,
25 tau from three starts) in black; a legend below the panels names every mark.

Run: python figures/make_beiran2021_fig3.py   (writes figures/out/beiran2021_fig3.png)
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from lowrank import GaussianLoadings, LowRankNetwork, MeanField, simulate  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
CASES = {
    "fixed points and saddles": np.diag([2.5, 1.6]),
    "ring attractor": 2.0 * np.eye(2),
    "limit cycle": np.array([[2.0, -0.6], [0.6, 2.0]]),
}


def law(S: np.ndarray) -> GaussianLoadings:
    return GaussianLoadings(
        np.zeros(4), np.block([[np.eye(2), S.T], [S, S @ S.T + np.eye(2)]]), rank=2
    )


def portrait(ax, title: str, S: np.ndarray) -> None:
    mf = MeanField(law(S))
    grid = np.linspace(-2.4, 2.4, 25)
    U = np.empty((grid.size, grid.size))
    V = np.empty_like(U)
    for i, k2 in enumerate(grid):
        for j, k1 in enumerate(grid):
            U[i, j], V[i, j] = mf.velocity([k1, k2])
    ax.streamplot(grid, grid, U, V, color="0.65", density=0.9, linewidth=0.6, arrowsize=0.8)
    if title != "limit cycle":
        found = mf.fixed_points(n_starts=40)
        for p in found:
            ax.plot(*p.kappa, "o", color="C3", mfc="C3" if p.stable else "w", ms=6, zorder=3)
        for ring in found.manifolds:  # a continuous attractor is one curve of fixed points
            curve = np.vstack([ring.points, ring.points[:1]]) if ring.closed else ring.points
            ax.plot(curve[:, 0], curve[:, 1], color="C3", lw=2, zorder=3)
    else:
        cycle = mf.simulate([0.2, 0.0], t_max=60.0, dt=0.02).kappa[0, -1200:]
        ax.plot(cycle[:, 0], cycle[:, 1], color="C3", lw=2, zorder=3)
        ax.plot(0, 0, "o", color="C3", mfc="w", ms=6, zorder=3)
    net = LowRankNetwork.sample(law(S), 2000, seed=5, whiten=True)
    starts = np.array([[0.3, 0.1], [-0.2, 0.35], [0.1, -0.4]])
    traj = simulate(net, starts @ net.m.T, t_max=25.0, dt=0.05, method="rk4", record_x=False)
    for k in traj.kappa:
        ax.plot(k[:, 0], k[:, 1], color="k", lw=0.8)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(r"$\kappa_1$")
    ax.set_aspect("equal")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(11, 4.3))
    for ax, (title, S) in zip(axes, CASES.items(), strict=True):
        portrait(ax, title, S)
    axes[0].set_ylabel(r"$\kappa_2$")
    red = {"color": "C3", "ls": "none", "ms": 6}
    handles = [
        Line2D([], [], color="0.65", lw=0.8, label="mean-field flow"),
        Line2D([], [], marker="o", mfc="C3", label="stable fixed point", **red),
        Line2D([], [], marker="o", mfc="w", label="unstable fixed point", **red),
        Line2D([], [], color="C3", lw=2, label="ring of fixed points / limit cycle"),
        Line2D([], [], color="k", lw=0.8, label=r"network N = 2000, $0 \leq t \leq 25\,\tau$"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=5, frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path = OUT / "beiran2021_fig3.png"
    fig.savefig(path, dpi=150)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
