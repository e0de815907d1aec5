"""Results of a benchmark.sh grid, from the runs' TensorBoard files (no network), with rliable's
statistics (Agarwal et al. 2021: interquartile mean, stratified-bootstrap 95 % confidence
intervals, performance profiles).

    python benchmark_report.py benchmark_runs  # or: bash benchmark.sh --out benchmark_runs --report
    python benchmark_report.py benchmark_runs --include lab/data/study/evaluations.csv

A run is a folder <algo>__<env>__<seed> made by benchmark.sh; only finished runs (with a `done`
file) count. --include adds the runs of earlier reports' evaluations.csv files (their training
returns are not kept: n/a for an algorithm with any). --algorithms reports only the named ones,
--tasks only the named tasks (so --against gives one task's probability of improvement);
--prefix P names the files P<file> (a focused figure beside the full one). --against ALGO adds
each algorithm's probability of improvement over ALGO (rliable: P(X > Y), the Mann-Whitney
statistic per task averaged over the tasks both ran), on the final and on the mean evaluation,
with 95 % CIs.

Evaluations are aligned by env step: each run's `eval/episodic_return` is keyed by its step (a
step logged twice, as after a resume, keeps its last value), and a task uses the steps that all
of its runs reached. Writes to the grid's folder:
- results.md / results.csv: per task and algorithm, the IQM of the final evaluation and the IQM
  of each run's mean evaluation over the task's aligned steps (its learning curve's area over its
  length: every evaluation counts, not only the last), each with its 95 % CI; the mean of the last
  10 training episodes, runs and steps; then, where algorithms cover every task, the aggregate IQM
  of the per-task normalised score ((return - task min) / (task max - task min), min and max over
  all runs in the report);
- evaluations.csv: every evaluation of every run (task, algorithm, seed, step, return, hours of
  training before it where recorded), so that a report's numbers, curves by hours included, can be
  checked and combined with later runs once the run folders are gone;
- learning_curves.png: per task, the IQM of the evaluation return against env steps, with its
  95 % CI band, and against hours of training (CleanRL's wall-time view; the median over the runs
  whose TensorBoard files recorded it, pauses over 10 minutes left out); display names
  (WPPG-I [tag]), one colour per algorithm, the legend and a caption below the panels;
- aggregate.png: the aggregate IQM with its CI and the performance profile (fraction of runs
  above each score)."""

import signal
import sys

if __name__ == "__main__":  # Ctrl-C at any point, the imports included: one line. Nothing is lost:
    # the report writes all its files at once at the end
    signal.signal(signal.SIGINT, lambda *_: sys.exit("error: stopped by Ctrl-C; no file written"))

import argparse  # noqa: E402
import csv  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib  # noqa: E402
import matplotlib.ticker  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from rliable import library as rly  # noqa: E402
from rliable import metrics, plot_utils  # noqa: E402

REPS = 5000  # bootstrap resamples
# rliable 1.2 passes random_state to arch, which warns
warnings.filterwarnings("ignore", "random_state is deprecated", FutureWarning)


def read_events(run_dir):
    """The scalars of a TensorBoard run folder, over all its event files: {tag: [event, ...]} in
    the order written (a resumed run may log a step again, later); each event has .step, .value
    and .wall_time."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags()["scalars"]
    return {tag: sorted(acc.Scalars(tag), key=lambda event: event.wall_time) for tag in tags}


def read_run(run_folder):
    """({eval step: return}, [training episode returns], {eval step: hours}) of one benchmark
    run, over all its TensorBoard files."""
    evals, train, hours = {}, [], {}
    for tb_dir in sorted((run_folder / "runs").iterdir()):
        events = read_events(tb_dir)
        for event in events.get("eval/episodic_return", []):  # a resumed run's step: the last
            evals[event.step] = event.value
        train += [e.value for e in events.get("charts/episodic_return", [])]
        hours |= active_hours(events)
    return evals, np.array(train), hours


def active_hours(events):
    """{eval step: hours of training before it}: the wall time since the run's first event, less
    any pause over 10 minutes between two events (a run stopped and resumed later)."""
    times = np.sort([event.wall_time for tag in events.values() for event in tag])
    if not len(times):
        return {}
    gaps = np.diff(times, prepend=times[0])
    active = np.cumsum(np.where(gaps > 600, 0, gaps)) / 3600  # a pause counts for nothing
    evals = events.get("eval/episodic_return", [])
    return {e.step: float(active[np.searchsorted(times, e.wall_time)]) for e in evals}


def warn(message):
    print(f"warning: {message}", file=sys.stderr)


def finite_runs(runs):
    """Refuse evaluations that are not finite numbers, naming the run: the statistics and the
    figures cannot use them."""
    for (env_id, algo), seeds in runs.items():
        for evals, _, seed, _ in seeds:
            bad = [step for step, value in evals.items() if not math.isfinite(value)]
            if bad:
                sys.exit(
                    f"error: {algo} on {env_id} seed {seed} has a non-finite evaluation at "
                    f"step {bad[0]}; rerun or drop that run"
                )
    return runs


def collect(out):
    """Every finished run under out; a broken or foreign one is skipped with a warning."""
    runs = defaultdict(list)  # (env, algo) -> [(evals, train, seed)]
    folders = {}  # (env, algo, seed) -> the folder that holds that run
    for folder in sorted(Path(out).iterdir()):
        if not (folder.is_dir() and (folder / "done").exists()):
            continue
        parts = folder.name.split("__")
        if len(parts) != 3 or not parts[2].isdigit():
            warn(f"skipping {folder}: not a run folder named <algo>__<env>__<seed>")
            continue
        try:
            evals, train, hours = read_run(folder)
        except Exception as error:  # no runs/, unreadable or truncated event files
            warn(f"skipping {folder}: unreadable ({type(error).__name__}: {error})")
            continue
        if not evals:
            warn(f"skipping {folder}: no eval/episodic_return logged")
            continue
        key = (parts[1], parts[0], int(parts[2]))
        if key in folders:  # a copied folder (..__01 beside ..__1) would count as another seed
            sys.exit(
                f"error: {folders[key].name} and {folder.name} are the same run ({key[1]} on "
                f"{key[0]}, seed {key[2]}); keep one of them"
            )
        folders[key] = folder
        runs[(parts[1], parts[0])].append((evals, train, key[2], hours))
    return runs


COLUMNS = ["task", "algorithm", "seed", "step", "eval_return"]  # then "hours", where recorded


def read_evaluations(path):
    """{(env, algo, seed): ({step: return}, {step: hours})} of an earlier report's
    evaluations.csv (hours: where the file has them; an older one has no such column)."""
    runs = defaultdict(dict)  # (env, algo, seed) -> {step: return}
    hours = defaultdict(dict)  # (env, algo, seed) -> {step: hours of training}
    try:
        with open(path) as f:
            reader = csv.DictReader(f)
            if not set(COLUMNS) <= set(reader.fieldnames or []):
                raise KeyError("columns")
            for line, row in enumerate(reader, start=2):
                key = (row["task"], row["algorithm"], int(row["seed"]))
                if int(row["step"]) in runs[key]:
                    sys.exit(
                        f"error: --include {path}: line {line} repeats {key[1]} on {key[0]} seed "
                        f"{key[2]} at step {row['step']}; keep one row"
                    )
                runs[key][int(row["step"])] = float(row["eval_return"])
                if row.get("hours"):
                    hours[key][int(row["step"])] = float(row["hours"])
                if not math.isfinite(runs[key][int(row["step"])]):
                    sys.exit(
                        f"error: --include {path}: line {line} has a non-finite return "
                        f"({row['eval_return']}); fix or drop that row"
                    )
    except OSError as error:
        sys.exit(f"error: --include {path}: {error.strerror}")
    except (KeyError, ValueError, TypeError):
        sys.exit(f"error: --include {path}: not an evaluations.csv written by this report")
    return {key: (evals, hours[key]) for key, evals in runs.items()}


def add_included(runs, paths):
    for path in paths:
        for (env_id, algo, seed), (evals, hours) in read_evaluations(path).items():
            if any(s == seed for _, _, s, _ in runs[(env_id, algo)]):
                sys.exit(
                    f"error: --include {path}: {algo} on {env_id} seed {seed} is already in the "
                    "report"
                )
            runs[(env_id, algo)].append((evals, np.array([]), seed, hours))  # no training kept
    return runs


def aligned(runs, env_id):
    """{algo: (steps, returns (runs, steps))} on the eval steps that every run of this task
    reached."""
    task = {algo: seeds for (env, algo), seeds in runs.items() if env == env_id}
    steps = sorted(
        set.intersection(*(set(evals) for seeds in task.values() for evals, *_ in seeds))
    )
    return {
        algo: (np.array(steps), np.array([[evals[s] for s in steps] for evals, *_ in seeds]))
        for algo, seeds in task.items()
    }


def short(runs, env_id, final):
    """Name the runs of a task that stop before its last evaluated step: "final" is then the last
    step that every run reached (the steps column), not the budget's end."""
    seeds = [
        (a, seed, max(e)) for (env, a), ss in runs.items() if env == env_id for e, _, seed, _ in ss
    ]
    last = max(step for *_, step in seeds)
    if final < last:
        cut = ", ".join(
            f"{a} seed {seed} (step {step:,})" for a, seed, step in seeds if step < last
        )
        warn(f"{env_id}: {cut} stop before step {last:,}; 'final' there is step {final:,}")


def iqm_with_ci(score_dict):
    """{algo: scores (runs, tasks)} -> {algo: (IQM, CI low, CI high)}, stratified bootstrap over
    runs per task. rliable's bootstrap draws from numpy's global RNG and ignores its random_state:
    seeding that before each algorithm gives every algorithm the same CI in every report."""
    result = {}
    for algo, scores in score_dict.items():
        np.random.seed(0)
        point, interval = rly.get_interval_estimates(
            {algo: scores}, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=REPS
        )
        result[algo] = (point[algo][0], *interval[algo][:, 0])
    return result


def improvement(per_run, baseline):
    """{algo: (P, CI low, CI high, tasks)}: rliable's probability of improvement P(algo >
    baseline), the Mann-Whitney statistic of the two algorithms' runs per task averaged over the
    tasks both ran, from {task: {algo: per-run scores (runs,)}}; bootstrap seeded as in
    iqm_with_ci."""
    result = {}
    for algo in sorted({a for task in per_run.values() for a in task} - {baseline}):
        tasks = [t for t in sorted(per_run) if algo in per_run[t] and baseline in per_run[t]]
        if not tasks:
            continue
        pair = []
        for name in (algo, baseline):  # (runs, tasks), as many runs in every task
            n = min(len(per_run[t][name]) for t in tasks)
            pair.append(np.stack([per_run[t][name][:n] for t in tasks], axis=1))
        np.random.seed(0)
        point, interval = rly.get_interval_estimates(
            {algo: tuple(pair)}, metrics.probability_of_improvement, reps=REPS
        )
        result[algo] = (float(point[algo]), *np.ravel(interval[algo]), len(tasks))
    return result


def report(runs):
    env_ids = sorted({env for env, _ in runs})
    rows, curves, finals = [], {}, {}
    for env_id in env_ids:
        curves[env_id] = aligned(runs, env_id)
        if not len(next(iter(curves[env_id].values()))[0]):
            del curves[env_id]
            print(
                f"warning: {env_id}: its runs share no evaluation step; left out", file=sys.stderr
            )
            continue
        short(runs, env_id, int(next(iter(curves[env_id].values()))[0][-1]))
        finals[env_id] = {algo: returns[:, -1] for algo, (_, returns) in curves[env_id].items()}
        stats = iqm_with_ci({algo: final[:, None] for algo, final in finals[env_id].items()})
        auc = iqm_with_ci(
            {
                algo: returns.mean(axis=1, keepdims=True)
                for algo, (_, returns) in curves[env_id].items()
            }
        )
        for algo, (steps, returns) in sorted(curves[env_id].items()):
            # n/a unless every run kept its training returns (an included run keeps none)
            trains = [train for _, train, *_ in runs[(env_id, algo)]]
            last10 = [t[-10:].mean() for t in trains] if all(map(len, trains)) else [np.nan]
            rows.append(
                dict(
                    task=env_id,
                    algorithm=algo,
                    iqm=stats[algo][0],
                    ci_low=stats[algo][1],
                    ci_high=stats[algo][2],
                    auc_iqm=auc[algo][0],
                    auc_ci_low=auc[algo][1],
                    auc_ci_high=auc[algo][2],
                    last10_train=np.mean(last10),
                    runs=len(returns),
                    steps=int(steps[-1]),
                )
            )
    return rows, curves, finals


def normalised(finals):
    """{algo: (runs, tasks)} of per-task min-max normalised final returns, for algorithms that cover
    every task."""
    tasks = sorted(finals)
    algos = [
        a
        for a in sorted({a for f in finals.values() for a in f})
        if all(a in finals[t] for t in tasks)
    ]
    out = {}
    for algo in algos:
        n = min(len(finals[t][algo]) for t in tasks)  # rliable needs as many runs in every task
        columns = []
        for t in tasks:
            everything = np.concatenate(list(finals[t].values()))
            low, high = everything.min(), everything.max()
            columns.append((finals[t][algo][:n] - low) / max(high - low, 1e-8))
        out[algo] = np.stack(columns, axis=1)
    return out


def markdown(rows, aggregate, improvements=None, against=None):
    lines = [
        "| task | algorithm | final eval return, IQM [95 % CI] | mean eval return over the run, "
        "IQM [95 % CI] | "
        "last-10 train return (mean) | runs | steps |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        train = "n/a" if np.isnan(r["last10_train"]) else f"{r['last10_train']:.1f}"
        lines.append(
            f"| {r['task']} | {r['algorithm']} | {r['iqm']:.1f} [{r['ci_low']:.1f}, "
            f"{r['ci_high']:.1f}] | "
            f"{r['auc_iqm']:.1f} [{r['auc_ci_low']:.1f}, {r['auc_ci_high']:.1f}] | {train} | "
            f"{r['runs']} | "
            f"{r['steps']:,} |"
        )
    if aggregate:
        lines += ["", "| algorithm | normalised score over tasks, IQM [95 % CI] |", "|---|---|"]
        lines += [
            f"| {algo} | {iqm:.3f} [{low:.3f}, {high:.3f}] |"
            for algo, (iqm, low, high) in aggregate.items()
        ]
    if improvements:
        lines += [
            "",
            f"| algorithm | P(algorithm > {against}), final eval [95 % CI] | P(algorithm > "
            f"{against}), mean eval [95 % CI] | tasks |",
            "|---|---|---|---|",
        ]
        final, mean = improvements
        lines += [
            f"| {algo} | {p:.2f} [{low:.2f}, {high:.2f}] | {mean[algo][0]:.2f} "
            f"[{mean[algo][1]:.2f}, {mean[algo][2]:.2f}] | {tasks} |"
            for algo, (p, low, high, tasks) in final.items()
        ]
    return "\n".join(lines)


NAMES = {"wppg": "WPPG", "wppg_implicit": "WPPG-I", "sac": "SAC", "ppo": "PPO"}


def display(algo):
    """An algorithm's name in the figures: "WPPG-I [closed-lam5e-2]" for the run folders'
    wppg_implicit-closed-lam5e-2 (benchmark.sh's <script>-<tag>)."""
    base, _, tag = algo.partition("-")
    return NAMES.get(base, base) + (f" [{tag}]" if tag else "")


def palette(algos):
    """One colour per algorithm of the report, unique, the same in every panel and figure."""
    algos = sorted(algos)
    if len(algos) > 20:  # beyond tab20: evenly spaced hues
        return {a: plt.get_cmap("turbo")(i / (len(algos) - 1)) for i, a in enumerate(algos)}
    cmap = plt.get_cmap("tab10" if len(algos) <= 10 else "tab20")
    return {algo: cmap(i) for i, algo in enumerate(algos)}


def in_k_and_m(x, _):
    """An axis tick in thousands or millions of steps."""
    return f"{x / 1e6:g}M" if abs(x) >= 1e6 else f"{x / 1e3:g}k" if abs(x) >= 1e3 else f"{x:g}"


def time_axis(runs, curves):
    """{(task, algo): hours of training at each of its curve's steps}: the median over the runs
    that recorded wall times (an included run: where its CSV has them)."""
    result = {}
    for env_id, task in curves.items():
        for algo, (steps, _) in task.items():
            timed = [h for *_, h in runs[(env_id, algo)] if all(s in h for s in steps)]
            if timed:
                result[(env_id, algo)] = np.median([[h[s] for s in steps] for h in timed], axis=0)
    return result


def curve_figure(curves, path, colours, times):
    """Per task, the IQM of the evaluation return with its 95 % CI against env steps and, where
    runs recorded wall times, against hours of training; one legend and a caption below."""
    rows = 2 if times else 1
    fig, axes = plt.subplots(rows, len(curves), figsize=(4.8 * len(curves), 3.4 * rows))
    axes = np.array(axes).reshape(rows, len(curves))
    counts = defaultdict(set)  # algo -> the numbers of runs it has per task
    for col, (env_id, task) in enumerate(sorted(curves.items())):
        for algo, (steps, returns) in sorted(task.items()):
            if not len(steps):
                continue
            np.random.seed(0)  # as in iqm_with_ci
            point, interval = rly.get_interval_estimates(
                {algo: returns[:, None, :]},
                lambda x: np.array([metrics.aggregate_iqm(x[..., i]) for i in range(x.shape[-1])]),
                reps=REPS // 5,
            )
            counts[algo].add(len(returns))
            for row, x in enumerate([steps, times.get((env_id, algo))][:rows]):
                if x is None:
                    continue
                ax, c = axes[row, col], colours[algo]
                ax.plot(x, point[algo], label=display(algo), color=c)
                ax.fill_between(x, interval[algo][0], interval[algo][1], alpha=0.2, color=c)
        axes[0, col].set(title=env_id, xlabel="env steps", ylabel="eval return (IQM, 95 % CI)")
        axes[0, col].xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(in_k_and_m))
        if rows == 2:
            axes[1, col].set(xlabel="hours of training (the runs that recorded them)")
            axes[1, col].set(ylabel="eval return")
    labels = {display(a): a for a in sorted(counts)}
    handles = [plt.Line2D([], [], color=colours[a], linewidth=2) for a in labels.values()]
    runs = [
        f"{name} ({min(counts[a])}{'' if len(counts[a]) == 1 else f'-{max(counts[a])}'} "
        f"run{'' if max(counts[a]) == 1 else 's'})"
        for name, a in labels.items()
    ]
    fig.tight_layout()
    fig.legend(handles, runs, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(4, len(runs)))
    fig.text(
        0.5,
        -0.02 - 0.05 * math.ceil(len(runs) / 4),
        "IQM over runs (seeds), 95 % stratified-bootstrap CI; each point one evaluation: the mean "
        "return of the policy's evaluation episodes (10 by default) on a separate env",
        ha="center",
        fontsize=8,
    )
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def aggregate_figure(scores, aggregate, path, colours):
    taus = np.linspace(0, 1, 41)
    np.random.seed(0)  # as in iqm_with_ci
    profiles, profile_cis = rly.create_performance_profile(scores, taus, reps=REPS // 5)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    names = list(aggregate)
    ax1.barh(
        [display(a) for a in names],
        [aggregate[a][2] - aggregate[a][1] for a in names],
        left=[aggregate[a][1] for a in names],
        alpha=0.4,
        color=[colours[a] for a in names],
    )
    ax1.scatter([aggregate[a][0] for a in names], [display(a) for a in names], color="k", zorder=3)
    ax1.set(xlabel="normalised score, IQM and 95 % CI", xlim=(0, 1))
    plot_utils.plot_performance_profiles(
        profiles,
        taus,
        performance_profile_cis=profile_cis,
        colors={a: colours[a] for a in names},
        ax=ax2,
        xlabel="normalised score (tau)",
        ylabel="fraction of runs > tau",
    )
    # one handle per algorithm in its own colour: rliable draws a line and a CI band per profile,
    # so a legend of the first len(names) artists would pair names with other algorithms' colours
    handles = [plt.Line2D([], [], color=colours[a], linewidth=2) for a in names]
    legend = [display(a) for a in names]
    ax2.legend(handles, legend, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.text(
        0.5,
        -0.04,
        "final evaluation, min-max normalised per task over all runs of the report; IQM and 95 % "
        "stratified-bootstrap CI over runs and tasks (rliable)",
        ha="center",
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(out, include=(), algorithms=None, prefix="", against=None, tasks=None):
    if not Path(out).is_dir():
        sys.exit(f"error: {out} is not a folder of benchmark runs (benchmark.sh --out)")
    if "/" in prefix or prefix in (".", ".."):
        sys.exit(f"error: --prefix {prefix!r} must be a plain file-name prefix, without /")
    runs = finite_runs(add_included(collect(out), include))
    if algorithms:
        runs = {key: seeds for key, seeds in runs.items() if key[1] in algorithms}
    if tasks:
        runs = {key: seeds for key, seeds in runs.items() if key[0] in tasks}
    if not runs:
        given = " of the --algorithms and --tasks given" if algorithms or tasks else ""
        sys.exit(f"error: no finished runs in {out}{given}")
    algos = sorted({algo for _, algo in runs})
    if against is not None and against not in algos:
        sys.exit(
            f"error: --against {against}: not an algorithm of this report ({', '.join(algos)})"
        )
    rows, curves, finals = report(runs)
    if not rows:
        sys.exit("error: no task has runs that share an evaluation step; nothing to report")
    scores = normalised(finals) if finals else {}
    aggregate = iqm_with_ci(scores) if scores else {}
    improvements = None
    if against is not None:
        means = {t: {a: r.mean(axis=1) for a, (_, r) in task.items()} for t, task in curves.items()}
        improvements = (improvement(finals, against), improvement(means, against))
    text = markdown(rows, aggregate, improvements, against)
    names = ["results.md", "results.csv", "evaluations.csv", "learning_curves.png", "aggregate.png"]
    names = names if aggregate else names[:-1]  # no aggregate without an algorithm on every task
    written = [Path(out, prefix + name) for name in names]
    try:  # all files or none: written into a temporary folder, then moved into place
        with tempfile.TemporaryDirectory(dir=out, prefix=".report-") as tmp:
            write(out, rows, runs, text, curves, scores, aggregate, [Path(tmp, n) for n in names])
            for name, path in zip(names, written):
                os.replace(Path(tmp, name), path)
            if not aggregate:  # an earlier report's figure would no longer describe these tables
                Path(out, prefix + "aggregate.png").unlink(missing_ok=True)
    except OSError as error:
        sys.exit(
            f"error: cannot write the report in {out} ({error.strerror}); pass a writable folder"
        )
    print(text)
    print(f"\nwrote {', '.join(map(str, written))}")


def write(out, rows, runs, text, curves, scores, aggregate, written):
    written[0].write_text(text + "\n")
    with open(written[1], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(written[2], "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS + ["hours"])
        for (env_id, algo), seeds in sorted(runs.items()):
            for evals, _, seed, hours in sorted(seeds, key=lambda run: run[2]):
                writer.writerows(
                    [env_id, algo, seed, step, value, hours.get(step, "")]
                    for step, value in sorted(evals.items())
                )
    colours = palette({algo for task in curves.values() for algo in task})
    curve_figure(curves, written[3], colours, time_axis(runs, curves))
    if aggregate:
        aggregate_figure(scores, aggregate, written[4], colours)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "out", nargs="?", default="benchmark_runs", help="the grid's folder; the report goes there"
    )
    parser.add_argument(
        "--include", nargs="+", default=[], metavar="CSV", help="earlier reports' evaluations.csv"
    )
    parser.add_argument(
        "--algorithms",
        nargs="+",
        metavar="ALGO",
        help="report only these (e.g. for a legible figure)",
    )
    parser.add_argument(
        "--prefix", default="", help="put before every file name written (e.g. with --algorithms)"
    )
    parser.add_argument(
        "--against",
        metavar="ALGO",
        help="add each algorithm's probability of improvement over ALGO (rliable), e.g. sac",
    )
    parser.add_argument("--tasks", nargs="+", metavar="ENV", help="report only these tasks")
    opts = parser.parse_args()
    main(opts.out, opts.include, opts.algorithms, opts.prefix, opts.against, opts.tasks)
