"""The executed-policy charts of benchmark runs, averaged over the second half of each run
(lab/experiments.md): `charts/action_std` (the actor's own spread / action half-range),
`charts/executed_action_std` (with the heat noise), `charts/entropy_estimate` (nats) and
`charts/action_edge_frac` (samples at the box's edge).

    python -m lab.study.policy_spread benchmark_runs/study "wppg-rank-lam0.02__*"
"""

import argparse
from pathlib import Path

import numpy as np

import benchmark_report

CHARTS = [
    "charts/action_std",
    "charts/executed_action_std",
    "charts/entropy_estimate",
    "charts/action_edge_frac",
]


def second_half_means(run_folder):
    """{chart: mean over the logged steps in the second half of the run} over the run's TensorBoard
    files."""
    values = {chart: {} for chart in CHARTS}
    for tb_dir in sorted((run_folder / "runs").iterdir()):
        events = benchmark_report.read_events(tb_dir)
        for chart in set(CHARTS) & set(events):  # a resumed run's step: the last
            values[chart].update((e.step, e.value) for e in events[chart])
    last = max((step for v in values.values() for step in v), default=0)
    return {
        chart: np.mean([x for step, x in v.items() if step >= last / 2])
        for chart, v in values.items()
        if v
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", help="a benchmark.sh --out folder")
    parser.add_argument(
        "pattern", nargs="?", default="*", help="run folders to read (a glob, default all)"
    )
    opts = parser.parse_args()
    folders = [  # finished runs only: an unfinished run's second half is not the run's
        f for f in sorted(Path(opts.out).glob(opts.pattern)) if (f / "done").exists()
    ]
    if not folders:
        parser.error(f"no finished run folders matching {opts.pattern} in {opts.out}")
    print("| run | " + " | ".join(c.split("/")[1] for c in CHARTS) + " |")
    print("|---" * (len(CHARTS) + 1) + "|")
    for folder in folders:
        means = second_half_means(folder)
        print(
            f"| {folder.name} | "
            + " | ".join(f"{means[c]:.3f}" if c in means else "n/a" for c in CHARTS)
            + " |"
        )


if __name__ == "__main__":
    main()
