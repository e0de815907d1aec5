"""Results of a benchmark.sh grid, from the runs' TensorBoard files (no network): a Markdown table and a figure.

    python benchmark_report.py benchmark_runs     # writes benchmark_runs/results.md and learning_curves.png

A run is the folder <algo>__<env>__<seed> that benchmark.sh made; only finished runs (with a `done` file) count.
Table: per task and algorithm, mean ± std over seeds of the final evaluation return and of the mean of the last
10 training episodes. Figure: one panel per task, the mean evaluation return over seeds and its min-max band.
"""
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def read_run(run_folder):
    """(eval steps, eval returns, training episode returns) of one benchmark run."""
    (tb_dir,) = (run_folder / "runs").iterdir()
    acc = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    acc.Reload()
    evals = acc.Scalars("eval/episodic_return")
    train = [e.value for e in acc.Scalars("charts/episodic_return")]
    return np.array([e.step for e in evals]), np.array([e.value for e in evals]), np.array(train)


def collect(out):
    runs = defaultdict(list)  # (env, algo) -> [(steps, evals, train)]
    for folder in sorted(Path(out).iterdir()):
        if (folder / "done").exists():
            algo, env_id, _seed = folder.name.split("__")
            runs[(env_id, algo)].append(read_run(folder))
    return runs


def table(runs):
    lines = ["| task | algorithm | final eval return | last-10 train return | seeds | steps |", "|---|---|---|---|---|---|"]
    for (env_id, algo), seeds in sorted(runs.items()):
        final = np.array([evals[-1] for _, evals, _ in seeds])
        last10 = np.array([train[-10:].mean() if len(train) else np.nan for _, _, train in seeds])
        steps = int(min(steps[-1] for steps, _, _ in seeds))
        lines.append(f"| {env_id} | {algo} | {final.mean():.1f} ± {final.std():.1f} | "
                     f"{last10.mean():.1f} ± {last10.std():.1f} | {len(seeds)} | {steps:,} |")
    return "\n".join(lines)


def figure(runs, path):
    env_ids = sorted({env_id for env_id, _ in runs})
    fig, axes = plt.subplots(1, len(env_ids), figsize=(4.5 * len(env_ids), 3.5), squeeze=False)
    for ax, env_id in zip(axes[0], env_ids):
        for (task, algo), seeds in sorted(runs.items()):
            if task != env_id:
                continue
            n = min(len(steps) for steps, _, _ in seeds)  # seeds share evaluation steps; cut to the shortest
            steps, returns = seeds[0][0][:n], np.stack([evals[:n] for _, evals, _ in seeds])
            ax.plot(steps, returns.mean(0), label=f"{algo} ({len(seeds)} seeds)")
            ax.fill_between(steps, returns.min(0), returns.max(0), alpha=0.2)
        ax.set(title=env_id, xlabel="env steps", ylabel="eval return")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(out):
    runs = collect(out)
    if not runs:
        sys.exit(f"error: no finished runs in {out}")
    text = table(runs)
    Path(out, "results.md").write_text(text + "\n")
    figure(runs, Path(out, "learning_curves.png"))
    print(text)
    print(f"\nwrote {Path(out, 'results.md')} and {Path(out, 'learning_curves.png')}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "benchmark_runs")
