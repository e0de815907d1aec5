"""The paper's λ shape (its Humanoid ablation: a middle λ "significantly accelerates convergence"):
the mean evaluation over each run against λ, one line per matching, as IQM [95 % CI] over seeds.
Reads the runs of a benchmark.sh --out folder and/or earlier evaluations.csv files, and groups the
algorithms named `<arm>-lam<λ>` (benchmark.sh --tag ARM-lamΛ, as tools/study/heat_screen.sh names
them).

    python -m tools.study.lambda_shape benchmark_runs/heat_screen --figure lambda.png
"""

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import benchmark_report  # noqa: E402

NAME = re.compile(r"^(?P<arm>.+)-lam(?P<lam>\d+(?:\.\d+)?(?:e[-+]?\d+)?)$")


def lambda_table(runs, env_id):
    """{arm: [(λ, IQM, CI low, CI high, seeds)]} of the mean evaluation over the evaluation steps
    that every run of the task reached; algorithms not named `<arm>-lam<λ>` are left out."""
    means = {
        algo: returns.mean(axis=1)
        for algo, (_, returns) in benchmark_report.aligned(runs, env_id).items()
        if NAME.match(algo)
    }
    iqm = benchmark_report.iqm_with_ci({algo: m[:, None] for algo, m in means.items()})
    table = defaultdict(list)
    for algo, (point, low, high) in iqm.items():
        match = NAME.match(algo)
        table[match["arm"]].append((float(match["lam"]), point, low, high, len(means[algo])))
    return {arm: sorted(rows) for arm, rows in sorted(table.items())}


def figure(table, env_id, path):
    fig, ax = plt.subplots(figsize=(6, 4))
    for arm, rows in table.items():
        lam, point, low, high, _ = zip(*rows)
        ax.errorbar(
            lam,
            point,
            yerr=[[p - lo for p, lo in zip(point, low)], [hi - p for p, hi in zip(point, high)]],
            marker="o",
            capsize=3,
            label=arm,
        )
    ax.set_xscale("log")
    ax.set_xlabel("λ (entropy scale)")
    ax.set_ylabel("mean evaluation over the run, IQM [95 % CI]")
    ax.set_title(env_id)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", nargs="?", help="a benchmark.sh --out folder (optional)")
    parser.add_argument(
        "--include", nargs="*", default=[], help="earlier evaluations.csv files to add"
    )
    parser.add_argument("--figure", type=Path, help="write the figure here (a .png)")
    opts = parser.parse_args()
    if opts.out is None and not opts.include:
        parser.error("give a benchmark.sh --out folder or --include evaluations.csv")
    if opts.out is not None and not Path(opts.out).is_dir():
        parser.error(f"{opts.out} is not a folder of benchmark runs")
    if opts.figure is not None and opts.figure.suffix != ".png":
        parser.error(f"--figure {opts.figure}: name a .png file")
    found = benchmark_report.collect(opts.out) if opts.out else defaultdict(list)
    runs = benchmark_report.finite_runs(benchmark_report.add_included(found, opts.include))
    env_ids = sorted({env for env, algo in runs if NAME.match(algo)})
    if len(env_ids) != 1:
        sys.exit(f"error: need the runs of one task named <arm>-lam<λ>, found tasks {env_ids}")
    table = lambda_table(runs, env_ids[0])
    print(f"{env_ids[0]}: mean evaluation over the run, IQM [95 % CI]\n")
    print("| arm | λ | IQM [95 % CI] | seeds |\n|---|---|---|---|")
    for arm, rows in table.items():
        for lam, point, low, high, seeds in rows:
            print(f"| {arm} | {lam:g} | {point:.1f} [{low:.1f}, {high:.1f}] | {seeds} |")
    if opts.figure is not None:
        try:
            figure(table, env_ids[0], opts.figure)
        except OSError as error:
            sys.exit(f"error: cannot write {opts.figure} ({error.strerror})")
        print(f"\nwrote {opts.figure}")


if __name__ == "__main__":
    main()
