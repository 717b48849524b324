"""Sequential emergence of attractors (Turner & Barak 2023), predicted against observed.

For the authors' two rank-2 runs (checkpoints_flipflopparallel_2bits_200_rank2_100_i100/i101) and
for rank-2 and full-rank networks trained here on the same task (2-bit flip-flop, parallel mode,
discrete time, N = 100, seeds 0-2): the number of eigenvalues of W outside the unit circle over
training, and at 8 checkpoints the number of stable attractors predicted by the mean-field theory
of the (projected, rank-2) loadings, with the number of populations chosen by the package's
resampling test at each checkpoint, against the number found in the network
(one row each; runs offset vertically by 0.06 so that equal counts do not hide one another).

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
OFFSET = 0.06  # vertical offset between runs in one panel, so that equal counts stay visible


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


def draw(record: list[dict]):
    """Three rows (outlier eigenvalues, observed and predicted stable points) by two columns
    (rank 2, full rank); runs in one panel are offset vertically by ``OFFSET`` so that equal
    counts stay visible, and each run keeps its colour in every row."""
    fig, axes = plt.subplots(3, 2, figsize=(10, 10), sharex=True, sharey="row")
    rows = (
        ("eigenvalues of W outside the unit circle", "outliers"),
        ("stable fixed points observed in the network", "observed_stable"),
        ("stable fixed points predicted by mean-field theory", "predicted_stable"),
    )
    for col, kind in enumerate(("rank 2", "full rank")):
        runs = [r for r in record if r["model"] == kind]
        for i, run in enumerate(runs):
            shift = OFFSET * (i - (len(runs) - 1) / 2)
            colour = f"C{i}"
            n = len(run["outliers"]) - 1
            axes[0, col].step([k / n for k in range(n + 1)], [c + shift for c in run["outliers"]],
                              where="post", color=colour, label=run["run"])
            x = [r["checkpoint"] / n for r in run["table"]]
            for row, (_, key) in enumerate(rows[1:], start=1):
                axes[row, col].plot(x, [r[key] + shift for r in run["table"]], "o-" if row == 1
                                    else "x--", color=colour, ms=5, label=run["run"])
        for row, (title, _) in enumerate(rows):
            axes[row, col].set_title(f"{kind}: {title}", fontsize=9)
            axes[row, col].legend(frameon=False, fontsize=7)
        axes[-1, col].set_xlabel("training progress (checkpoint / last checkpoint)")
    for row in range(3):
        axes[row, 0].set_ylabel(f"count (runs offset by {OFFSET})")
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(parser)
    args = parser.parse_args()
    data = require_data_dir(parser, args)
    record = []
    for label, kind, run in runs(data):
        picks = _spread(len(run.checkpoints), 8)
        report = lowrank.emergence(run, rank=2, checkpoints=picks)
        table = report.table()
        record.append({"run": label, "model": kind, "crossings": report.crossings(),
                       "outliers": report.outlier_counts(), "table": table})
        print(f"{kind:9s} {label:22s} crossings {report.crossings()}  final predicted/observed "
              f"stable: {table[-1]['predicted_stable']}/{table[-1]['observed_stable']}"
              + (" (the fitted law never settles: a cycle)"
                 if table[-1].get("predicted_settles") is False else ""))
    fig = draw(record)
    OUT.mkdir(parents=True, exist_ok=True)
    save_figure(fig, OUT / "turner2023_emergence.png")
    write_json(OUT / "turner2023_emergence.json", record)
    print(f"wrote {OUT / 'turner2023_emergence.png'}")


if __name__ == "__main__":
    main()
