"""The paper's λ shape (its Humanoid ablation: a middle λ "significantly accelerates convergence"):
the mean evaluation over each run against λ, one line per matching, as IQM [95 % CI] over seeds.
Reads the runs of a benchmark.sh --out folder and/or earlier evaluations.csv files, and groups the
algorithms named `<arm>-lam<λ>` (benchmark.sh --tag ARM-lamΛ, as lab/study/heat_screen.sh names
them). Where the run folders are there, the table adds the policy's spreads and entropy estimate
(lab/study/policy_spread: second-half means, averaged over the seeds).

    python -m lab.study.lambda_shape benchmark_runs/heat_screen --figure lambda.png
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
from lab.study.policy_spread import CHARTS, second_half_means  # noqa: E402

NAME = re.compile(r"^(?P<arm>.+)-lam(?P<lam>\d+(?:\.\d+)?(?:e[-+]?\d+)?)$")


def lambda_table(runs, env_id):
    """{arm: [(λ, IQM, CI low, CI high, per-run means, algorithm)]} of the mean evaluation over
    the evaluation steps that every run of the task reached; algorithms not named `<arm>-lam<λ>`
    are left out."""
    means = {
        algo: returns.mean(axis=1)
        for algo, (_, returns) in benchmark_report.aligned(runs, env_id).items()
        if NAME.match(algo)
    }
    iqm = benchmark_report.iqm_with_ci({algo: m[:, None] for algo, m in means.items()})
    table = defaultdict(list)
    for algo, (point, low, high) in iqm.items():
        match = NAME.match(algo)
        table[match["arm"]].append((float(match["lam"]), point, low, high, means[algo], algo))
    return {arm: sorted(rows) for arm, rows in sorted(table.items())}


def figure(table, env_id, path):
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (arm, rows) in enumerate(table.items()):
        lam, point, low, high, per_run, _ = zip(*rows)
        shift = 1.1 ** (i - (len(table) - 1) / 2)  # arms side by side at each λ
        lam = [x * shift for x in lam]
        for x, values in zip(lam, per_run):  # each run, faint
            ax.scatter([x] * len(values), values, s=10, alpha=0.35, color=f"C{i}")
        ax.errorbar(
            lam,
            point,
            yerr=[[p - lo for p, lo in zip(point, low)], [hi - p for p, hi in zip(point, high)]],
            marker="o",
            capsize=3,
            color=f"C{i}",
            label=arm,
        )
    ax.set_xscale("log")
    ax.set_xlabel("λ (entropy scale)")
    ax.set_ylabel("mean evaluation over the run\nIQM [95 % CI]; dots: each run")
    ax.set_title(env_id)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", nargs="?", type=Path, help="a benchmark.sh --out folder (optional)")
    parser.add_argument(
        "--include", nargs="*", default=[], help="earlier evaluations.csv files to add"
    )
    parser.add_argument("--figure", type=Path, help="write the figure here (a .png)")
    opts = parser.parse_args()
    if opts.out is None and not opts.include:
        parser.error("give a benchmark.sh --out folder or --include evaluations.csv")
    if opts.out is not None and not opts.out.is_dir():
        parser.error(f"{opts.out} is not a folder of benchmark runs")
    if opts.figure is not None and opts.figure.suffix != ".png":
        parser.error(f"--figure {opts.figure}: name a .png file")
    found = benchmark_report.collect(opts.out) if opts.out else defaultdict(list)
    runs = benchmark_report.finite_runs(benchmark_report.add_included(found, opts.include))
    env_ids = sorted({env for env, algo in runs if NAME.match(algo)})
    if len(env_ids) != 1:
        sys.exit(f"error: need the runs of one task named <arm>-lam<λ>, found tasks {env_ids}")
    env_id = env_ids[0]
    table = lambda_table(runs, env_id)
    print(f"{env_id}: mean evaluation over the run, IQM [95 % CI]; spreads in half-ranges\n")
    print("| arm | λ | IQM [95 % CI] | seeds | own spread | executed spread | entropy (nats) |")
    print("|---|---|---|---|---|---|---|")
    for arm, rows in table.items():
        for lam, point, low, high, per_run, algo in rows:
            charts = [
                second_half_means(folder)
                for _, _, seed, _ in runs[(env_id, algo)]
                if opts.out
                and ((folder := opts.out / f"{algo}__{env_id}__{seed}") / "runs").is_dir()
            ]
            spread = [  # own and executed spread, entropy: the mean over the runs that log it
                f"{sum(logged) / len(logged):.3f}"
                if (logged := [c[k] for c in charts if k in c])
                else "n/a"
                for k in CHARTS[:3]
            ]
            print(
                f"| {arm} | {lam:g} | {point:.1f} [{low:.1f}, {high:.1f}] | {len(per_run)} | "
                + " | ".join(spread)
                + " |"
            )
    if opts.figure is not None:
        try:
            figure(table, env_id, opts.figure)
        except OSError as error:
            sys.exit(f"error: cannot write {opts.figure} ({error.strerror})")
        print(f"\nwrote {opts.figure}")


if __name__ == "__main__":
    main()
