"""Each WPPG-I run's two evaluations, side by side (lab/experiments.md §3.7): the mean action over
`--eval-samples` latents (`eval/episodic_return`) and f(s, z = 0) (`eval/episodic_return_z0`),
as the mean over the run and at the last evaluation, with the actor's own spread at the end
(`charts/action_std`, half-ranges). Where the latent is unused the two agree; where it is in use
they differ, and only the first summarises the stochastic policy.

    python -m lab.study.eval_both_ways benchmark_runs/wppgi_study "wppg_implicit*__Reacher-v5__*"
"""

import argparse
import sys
from pathlib import Path

import numpy as np

import benchmark_report

TAGS = ["eval/episodic_return", "eval/episodic_return_z0"]


def both_ways(run_folder):
    """(mean over the run, last) of each evaluation and the last action_std of a finished run."""
    values = {tag: {} for tag in [*TAGS, "charts/action_std"]}
    for tb_dir in sorted((run_folder / "runs").iterdir()):
        events = benchmark_report.read_events(tb_dir)
        for tag in values:
            values[tag] |= {e.step: e.value for e in events.get(tag, [])}  # a resume: the last
    if not all(values.values()):
        return None
    evals = [[values[tag][s] for s in sorted(values[tag])] for tag in TAGS]
    spread = values["charts/action_std"][max(values["charts/action_std"])]
    return [np.mean(evals[0]), np.mean(evals[1]), evals[0][-1], evals[1][-1], spread]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="a benchmark.sh --out folder")
    parser.add_argument("pattern", nargs="?", default="wppg_implicit*", help="run folders (glob)")
    opts = parser.parse_args()
    if not Path(opts.out).is_dir():
        sys.exit(f"error: {opts.out} is not a folder of benchmark runs")
    rows = []
    for folder in sorted(Path(opts.out).glob(opts.pattern)):
        if (folder / "done").exists() and (row := both_ways(folder)) is not None:
            rows.append(f"| {folder.name} | " + " | ".join(f"{v:.2f}" for v in row[:4]))
            rows[-1] += f" | {row[4]:.4f} |"
    if not rows:
        sys.exit(f"error: no finished WPPG-I run with both evaluations matches {opts.pattern}")
    print(
        "| run | mean over the run: mean action over the latents | f(s, z = 0) | last: mean "
        "action | z = 0 | own spread at the end |\n|---|---|---|---|---|---|"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
