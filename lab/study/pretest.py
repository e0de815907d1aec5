"""The pre-registered test of docs §3.7 (lab/experiments.md): per run, the mean of its evaluations
over the run; per hypothesis "X > Y" on one task, a one-sided exact Mann-Whitney U test
(scipy.stats.mannwhitneyu, alternative="greater", method="exact") at alpha = 0.05, with each arm's
IQM and 95 % stratified-bootstrap CI (benchmark_report's) as description. Prints one Markdown table.

    python -m lab.study.pretest EVALUATIONS.csv --task Reacher-v5 \\
        --hypothesis wppg_implicit-closed-lam5e-2 wppg_implicit \\
        --hypothesis wppg_implicit-closed-lam5e-2 sac

Several evaluations.csv files are read as one; --pool NAME ALGO... makes one arm of runs that
earlier studies named differently (their seeds must differ), e.g. WPPG-I's default on Walker2d-v5:
--pool default wppg_implicit wppg_implicit-pointwise-lam1e-4.
"""

import argparse
import sys

import numpy as np
from scipy.stats import mannwhitneyu

import benchmark_report


def per_run_means(paths, task, pools=()):
    """{arm: {seed: mean evaluation over the run}} of one task; an arm is an algorithm, or a pool
    (NAME, ALGO...) of algorithms whose runs it takes. A run found twice with the same evaluations
    (a report that included another) counts once; two different runs of one seed in an arm exit
    with one line."""
    pooled = {algo: name for name, *algos in pools for algo in algos}
    runs = {}
    for path in paths:
        for (env_id, algo, seed), (evals, _) in benchmark_report.read_evaluations(path).items():
            key = (pooled.get(algo, algo), seed)
            if env_id != task or runs.get(key) == evals:
                continue
            if key in runs:
                sys.exit(
                    f"error: {key[0]} has two different runs of seed {seed} on {task} (the "
                    f"second in {path}, {algo}); pool arms of different seeds"
                )
            runs[key] = evals
    means = {}
    for (arm, seed), evals in runs.items():
        means.setdefault(arm, {})[seed] = float(np.mean(list(evals.values())))
    return means


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "evaluations", nargs="+", help="evaluations.csv files written by benchmark_report.py"
    )
    parser.add_argument("--task", required=True)
    parser.add_argument("--hypothesis", nargs=2, action="append", required=True, metavar=("X", "Y"))
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument(
        "--pool",
        nargs="+",
        action="append",
        default=[],
        metavar="NAME ALGO",
        help="one arm NAME of these algorithms' runs (repeatable)",
    )
    opts = parser.parse_args()
    if any(len(pool) < 2 for pool in opts.pool):
        parser.error("--pool needs a name and at least one algorithm: --pool NAME ALGO [ALGO ...]")
    means = per_run_means(opts.evaluations, opts.task, opts.pool)
    for x, y in opts.hypothesis:
        for name in (x, y):
            if name not in means:
                parser.error(f"{name}: no runs on {opts.task} in {' '.join(opts.evaluations)}")
    print(
        f"| {opts.task}: X > Y | n X, Y | IQM X [95 % CI] | IQM Y [95 % CI] | U | p (exact) | "
        f"verdict at {opts.alpha} |\n|---|---|---|---|---|---|---|"
    )
    for x, y in opts.hypothesis:
        a, b = (np.array(list(means[name].values())) for name in (x, y))
        iqm = benchmark_report.iqm_with_ci({x: a[:, None], y: b[:, None]})
        test = mannwhitneyu(a, b, alternative="greater", method="exact")
        cells = [f"{iqm[n][0]:.2f} [{iqm[n][1]:.2f}, {iqm[n][2]:.2f}]" for n in (x, y)]
        verdict = "holds" if test.pvalue < opts.alpha else "not shown"
        print(
            f"| {x} > {y} | {len(a)}, {len(b)} | {cells[0]} | {cells[1]} | "
            f"{test.statistic:.0f} | {test.pvalue:.4f} | {verdict} |"
        )


if __name__ == "__main__":
    main()
