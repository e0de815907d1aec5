r"""How many runs reached a return at the end and at any evaluation, per task and algorithm, from a
report's evaluations.csv (benchmark_report.py); with --compare, a two-sided Fisher exact test on
those counts. On InvertedPendulum-v5 an evaluation is either ~50-200 (the pole falls) or 1000 (the
maximum), so "solved" counts say more than a mean (lab/experiments.md).

    python -m lab.study.solved lab/data/study/evaluations.csv --task InvertedPendulum-v5 \
        --threshold 1000 --compare sac study_variants-sac-in-wppg-harness"""

import argparse
import csv
from collections import defaultdict

from scipy.stats import fisher_exact


def counts(path, task, threshold):
    """{algorithm: (runs, solved at the last evaluation, solved at any evaluation)}"""
    runs = defaultdict(dict)  # (algorithm, seed) -> {step: return}
    for row in csv.DictReader(open(path)):
        if row["task"] == task:
            runs[(row["algorithm"], row["seed"])][int(row["step"])] = float(row["eval_return"])
    out = defaultdict(lambda: [0, 0, 0])
    for (algo, _), evals in runs.items():
        out[algo][0] += 1
        out[algo][1] += evals[max(evals)] >= threshold
        out[algo][2] += max(evals.values()) >= threshold
    return dict(out)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="python -m lab.study.solved CSV --task T --threshold R [--compare A B]",
    )
    parser.add_argument("evaluations", help="a report's evaluations.csv")
    parser.add_argument("--task", required=True)
    parser.add_argument(
        "--threshold",
        type=float,
        required=True,
        help="an evaluation at or above it counts as solved",
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        action="append",
        default=[],
        metavar=("A", "B"),
        help="Fisher exact test of A against B, at the end and at any evaluation (repeatable)",
    )
    opts = parser.parse_args()
    try:
        table = counts(opts.evaluations, opts.task, opts.threshold)
    except OSError as error:
        parser.error(f"{opts.evaluations}: {error.strerror}")
    except (KeyError, ValueError):
        parser.error(f"{opts.evaluations}: not a report's evaluations.csv")
    if not table:
        parser.error(f"no runs of {opts.task} in {opts.evaluations}")
    for name in {name for pair in opts.compare for name in pair} - set(table):
        parser.error(f"--compare {name}: no such algorithm on {opts.task}; one of {sorted(table)}")
    print(
        f"| {opts.task}: algorithm | runs | >= {opts.threshold:g} at the end | at any evaluation |"
    )
    print("|---|---|---|---|")
    for algo, (n, end, ever) in sorted(table.items()):
        print(f"| {algo} | {n} | {end} | {ever} |")
    for a, b in opts.compare:
        for name, column in [("at the end", 1), ("at any evaluation", 2)]:
            (runs_a, solved_a), (runs_b, solved_b) = [
                (table[x][0], table[x][column]) for x in (a, b)
            ]
            p = fisher_exact([[solved_a, runs_a - solved_a], [solved_b, runs_b - solved_b]]).pvalue
            print(
                f"{a} {solved_a}/{runs_a} against {b} {solved_b}/{runs_b} {name}: Fisher exact p "
                f"= {p:.3f}"
            )


if __name__ == "__main__":
    main()
