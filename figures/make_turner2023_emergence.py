"""Sequential emergence of attractors (Turner & Barak 2023), predicted against observed.

For the authors' two rank-2 runs (checkpoints_flipflopparallel_2bits_200_rank2_100_i100/i101) and
for rank-2 and full-rank networks trained here on the same task (2-bit flip-flop, parallel mode,
discrete time, N = 100, seeds 0-2): the number of eigenvalues of W outside the unit circle over
training, and at 8 checkpoints the number of stable fixed points predicted by a four-population
mean-field theory of the (projected, rank-2) loadings against the number found in the network.

Run: python figures/make_turner2023_emergence.py [--data DIR]
     (writes figures/out/turner2023_emergence.png/.json)
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import lowrank  # noqa: E402
from lowrank.demo import _spread  # noqa: E402
from lowrank.io import write_json  # noqa: E402
from lowrank.plotting import save_figure  # noqa: E402
from lowrank.turner2023 import add_data_argument, require_data_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "figures" / "out"
SEEDS = (0, 1, 2)


def runs(data: Path):
    """(label, kind, TrainingRun): the authors' rank-2 runs (in the folder ``data``), then ours."""
    for name in ("i100", "i101"):
        path = data / f"checkpoints_flipflopparallel_2bits_200_rank2_100_{name}.npz"
        yield f"Turner & Barak {name}", "rank 2", lowrank.load_turner2023(path)
    task = lowrank.tasks.flipflop(bits=2)
    for rank, kind in ((2, "rank 2"), (None, "full rank")):
        for seed in SEEDS:
            model = lowrank.RNN(task.n_inputs, 100, task.n_outputs, rank=rank, seed=seed)
            yield f"ours, seed {seed}", kind, lowrank.train(model, task, seed=seed, progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(parser)
    args = parser.parse_args()
    data = require_data_dir(parser, args)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex="col")
    record = []
    for label, kind, run in runs(data):
        col = 0 if kind == "rank 2" else 1
        report = lowrank.emergence(run, rank=2, populations=4, checkpoints=_spread(len(run.checkpoints), 8))
        table = report.table()
        n = len(run.checkpoints) - 1
        counts = report.outlier_counts()
        line, = axes[0, col].step([k / n for k in range(n + 1)], counts, where="post", label=label)
        axes[1, col].plot([r["checkpoint"] / n for r in table], [r["observed_stable"] for r in table], "o-",
                          color=line.get_color(), label=f"{label}: observed")
        axes[1, col].plot([r["checkpoint"] / n for r in table], [r["predicted_stable"] for r in table], "x--",
                          color=line.get_color())
        record.append({"run": label, "model": kind, "crossings": report.crossings(), "table": table})
        print(f"{kind:9s} {label:22s} crossings {report.crossings()}  final predicted/observed stable: "
              f"{table[-1]['predicted_stable']}/{table[-1]['observed_stable']}")
    for col, kind in enumerate(("rank 2", "full rank")):
        axes[0, col].set_title(f"{kind}: eigenvalues of W outside the unit circle")
        axes[1, col].set_title("stable fixed points: observed (o), predicted (x)")
        axes[1, col].set_xlabel("training progress (checkpoint / last)")
        axes[0, col].legend(frameon=False, fontsize=7)
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    save_figure(fig, OUT / "turner2023_emergence.png")
    write_json(OUT / "turner2023_emergence.json", record)
    print(f"wrote {OUT / 'turner2023_emergence.png'}")


if __name__ == "__main__":
    main()
