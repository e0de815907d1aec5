"""The paper's comparison in one harness: the Stable-Baselines3 baselines log like the WPPG scripts,
benchmark.sh runs them, and benchmark_report.py's rliable statistics are right on logs with known
values."""

import csv
import importlib
import math
import shutil
from types import SimpleNamespace

import matplotlib.colors
import numpy as np
import pytest
from conftest import ROOT, benchmark, only_run_dir, run_script, scalars
from torch.utils.tensorboard import SummaryWriter

report = importlib.import_module("benchmark_report")


@pytest.mark.parametrize("algo", ["sac", "ppo"])
def test_baseline_writes_the_scripts_tags_at_the_scripts_steps(algo, tmp_path):
    flags = ["--total-timesteps", 600, "--learning-starts", 200, "--eval-frequency", 300]
    result = run_script(
        "baselines/sb3_continuous_action.py",
        "--algo",
        algo,
        "--env-id",
        "InvertedPendulum-v5",
        *flags,
        "--eval-episodes",
        2,
        "--resume",
        "auto",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert only_run_dir(tmp_path).name.startswith(f"InvertedPendulum-v5__{algo}__1__")
    logged = scalars(only_run_dir(tmp_path))
    assert [step for step, _ in logged["eval/episodic_return"]] == [300, 600]
    assert [step for step, _ in logged["charts/SPS"]] == list(range(100, 700, 100))
    assert len(logged["charts/episodic_return"]) > 5  # InvertedPendulum's early episodes are short
    assert all(0 < value <= 1000 for _, value in logged["eval/episodic_return"])
    if algo == "sac":  # SB3's training losses, from the first update on
        assert all(math.isfinite(v) for _, v in logged["losses/critic_loss"])
        assert logged["losses/ent_coef"][0][1] == pytest.approx(0.2)  # fixed, not tuned


def test_dry_run_lists_the_baselines(tmp_path):
    """The dry run prints each runner's command, in the grid's order; the grid names the runs
    <algo>-<tag>__<env>__<seed> (the names are in the grid file a real run writes; a dry run
    writes nothing)."""
    grid = ["--scripts", "wppg_continuous_action.py sac ppo", "--env-ids", "Hopper-v5"]
    grid += ["--num-seeds", 1, "--tag", "v1"]
    result = benchmark("--out", tmp_path, *grid, "--dry-run", "--", "--total-timesteps", 1000)
    assert result.returncode == 0, result.stderr
    assert [line.split(" --env-id")[0].split(" ", 2)[2] for line in result.stdout.splitlines()] == [
        str(ROOT / "wppg_continuous_action.py"),
        f"{ROOT / 'baselines/sb3_continuous_action.py'} --algo sac",
        f"{ROOT / 'baselines/sb3_continuous_action.py'} --algo ppo",
    ]
    assert list(tmp_path.iterdir()) == []
    flags = ["--total-timesteps", 300, "--eval-frequency", 300, "--eval-episodes", 1]
    result = benchmark("--out", tmp_path, *grid, "--workers", 3, "--", *flags)
    assert result.returncode == 0, result.stderr
    names = [
        line.split("\t")[0]
        for line in next(tmp_path.glob("grid-v1-*.tsv")).read_text().splitlines()
    ]
    assert names == ["wppg-v1__Hopper-v5__1", "sac-v1__Hopper-v5__1", "ppo-v1__Hopper-v5__1"]
    assert all((tmp_path / name / "done").exists() for name in names)


def fake_run(out, name, evals, resumed_from=None):
    """A finished benchmark run whose TensorBoard file holds the given {step: eval return}. With
    resumed_from, the run logs 999 from that step on, then is "resumed" there (purge_step) and logs
    the given values again."""
    run_dir = out / name / "runs" / f"{name}__0"
    writer = SummaryWriter(str(run_dir))
    for step, value in evals.items():
        writer.add_scalar(
            "eval/episodic_return", 999.0 if resumed_from and step >= resumed_from else value, step
        )
        writer.add_scalar("charts/episodic_return", value, step)
    writer.close()
    if resumed_from:
        writer = SummaryWriter(str(run_dir), purge_step=resumed_from)
        for step, value in evals.items():
            if step >= resumed_from:
                writer.add_scalar("eval/episodic_return", value, step)
        writer.close()
    (out / name / "done").touch()


@pytest.fixture
def few_resamples(monkeypatch):
    """200 bootstrap resamples, not 5,000, for the tests that check what the report counts, draws
    and refuses, not the width of its CIs (test_report_iqm_ci_alignment_and_figures checks that)."""
    monkeypatch.setattr(report, "REPS", 200)


def drawn_figures(runs, monkeypatch):
    """The report over runs; returns the figures it drew: the learning curves, the aggregate."""
    figures = []
    monkeypatch.setattr(report.plt, "close", figures.append)
    report.main(runs)
    return figures


def test_report_iqm_ci_alignment_and_figures(tmp_path):
    finals = [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]
    # "a": evaluations every 2,000 steps; seed 1 resumed at 4,000
    for seed, final in enumerate(finals, 1):
        fake_run(
            tmp_path,
            f"a__Task-v0__{seed}",
            {2000: 1.0, 4000: final},
            resumed_from=4000 if seed == 1 else None,
        )
        # "b": every 1,000 steps, and seed 8 ran longer: the task is cut to the steps all reached
        b_evals = {s: 5.0 for s in range(1000, 5000, 1000)} | ({5000: 1e6} if seed == 8 else {})
        fake_run(tmp_path, f"b__Task-v0__{seed}", b_evals)
        fake_run(tmp_path, f"a__Other-v0__{seed}", {2000: float(seed)})
        fake_run(tmp_path, f"b__Other-v0__{seed}", {2000: 0.0})
    report.main(tmp_path)
    rows = {(r["task"], r["algorithm"]): r for r in csv.DictReader(open(tmp_path / "results.csv"))}
    a = rows[("Task-v0", "a")]
    assert float(a["iqm"]) == pytest.approx(35.0)  # mean of the middle half: 20, 30, 40, 50
    assert int(a["steps"]) == 4000 and int(rows[("Task-v0", "b")]["steps"]) == 4000
    assert float(rows[("Task-v0", "b")]["iqm"]) == pytest.approx(5.0)  # not the longer run's 1e6
    # each run's mean over its steps 2,000 and 4,000
    assert float(a["auc_iqm"]) == pytest.approx((1.0 + 35.0) / 2)
    # the 95 % CI of a percentile bootstrap over the 8 runs, computed here by hand (15.0 and 55.0
    # with this generator); a resample's IQM moves in steps of 2.5, so another random stream may
    # land one step away
    rng = np.random.default_rng(0)
    resampled = np.sort(rng.choice(finals, size=(20000, 8)), axis=1)[:, 2:6].mean(axis=1)
    low, high = np.percentile(resampled, [2.5, 97.5])
    assert float(a["ci_low"]) == pytest.approx(low, abs=2.6) and float(
        a["ci_high"]
    ) == pytest.approx(high, abs=2.6)
    text = (tmp_path / "results.md").read_text()
    # normalised per task by the min and max over all its runs (Task: 0 and 70, Other: 0 and 8);
    # the IQM over 8 runs x 2 tasks is the mean of the middle 8 of those 16 scores
    scores = np.sort(np.concatenate([np.array(finals) / 70, np.arange(1, 9) / 8]))
    assert f"| a | {scores[4:12].mean():.3f} [" in text
    for figure in ["learning_curves.png", "aggregate.png"]:
        assert (tmp_path / figure).stat().st_size > 10_000
    # every evaluation of every run, the resumed run with its re-logged value (not 999), the
    # longer run uncut: a, b (seed 8 evaluates 5 times) on Task; a, b on Other
    evaluations = list(csv.DictReader(open(tmp_path / "evaluations.csv")))
    assert len(evaluations) == 8 * 2 + (7 * 4 + 5) + 8 + 8
    a_runs = {
        (r["seed"], r["step"]): float(r["eval_return"])
        for r in evaluations
        if (r["task"], r["algorithm"]) == ("Task-v0", "a")
    }
    assert a_runs == {
        (str(seed), step): value
        for seed, final in enumerate(finals, 1)
        for step, value in [("2000", 1.0), ("4000", final)]
    }


@pytest.mark.usefixtures("few_resamples")
def test_report_includes_an_earlier_reports_evaluations(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for seed in range(1, 6):
        fake_run(first, f"a__Task-v0__{seed}", {1000: 0.0, 2000: 10.0 * seed})
        fake_run(second, f"b__Task-v0__{seed}", {1000: 1.0, 2000: 7.0})
        fake_run(first if seed < 3 else second, f"c__Task-v0__{seed}", {1000: 1.0, 2000: 7.0})
    report.main(first)
    report.main(second, [first / "evaluations.csv"])
    rows = {r["algorithm"]: r for r in csv.DictReader(open(second / "results.csv"))}
    before = next(csv.DictReader(open(first / "results.csv")))
    assert [rows["a"][k] for k in ["iqm", "ci_low", "ci_high", "auc_iqm"]] == [
        before[k] for k in ["iqm", "ci_low", "ci_high", "auc_iqm"]
    ]
    assert rows["a"]["last10_train"] == "nan"  # an included run keeps no training returns
    hours = {}  # a run's hours of training at each evaluation, as each report wrote them
    for folder in (first, second):
        for r in csv.DictReader(open(folder / "evaluations.csv")):
            hours.setdefault((r["algorithm"], r["seed"], r["step"]), set()).add(r["hours"])
    assert len(hours) == 3 * 5 * 2 and all(len(h) == 1 and h != {""} for h in hours.values())
    assert rows["c"]["last10_train"] == "nan" and rows["c"]["runs"] == "5"  # 2 of its 5 included
    # fake_run logs 1 and 7 as training returns
    assert float(rows["b"]["last10_train"]) == pytest.approx(4.0)
    assert (
        "| Task-v0 | a | 30.0 [" in (second / "results.md").read_text()
        and "| n/a | 5 | 2,000 |" in (second / "results.md").read_text()
    )
    report.main(second, [first / "evaluations.csv"], algorithms=["b"], prefix="only-b-")
    assert [r["algorithm"] for r in csv.DictReader(open(second / "only-b-results.csv"))] == ["b"]
    assert (second / "only-b-learning_curves.png").exists() and (
        second / "results.md"
    ).read_text() != (second / "only-b-results.md").read_text()
    with pytest.raises(SystemExit, match="a on Task-v0 seed 1 is already in the report"):
        report.main(first, [first / "evaluations.csv"])


def test_report_confidence_intervals_are_reproducible():
    """The same scores give the same bootstrap CIs (rliable ignores its random_state argument)."""
    scores = {"a": np.random.RandomState(1).rand(5, 2), "b": np.random.RandomState(2).rand(5, 2)}
    assert report.iqm_with_ci(scores) == report.iqm_with_ci(scores)


@pytest.mark.usefixtures("few_resamples")
def test_report_keeps_each_algorithms_colour_in_every_figure(tmp_path, monkeypatch):
    """Algorithm a runs on one task only, so the aggregate figure holds b and c alone: they keep
    the colours the learning curves give them."""
    for seed in (1, 2, 3):
        fake_run(tmp_path, f"a__Task-v0__{seed}", {2000: 1.0})
        for algo in "bc":
            for task in ("Task-v0", "Other-v0"):
                fake_run(tmp_path, f"{algo}__{task}__{seed}", {2000: float(seed)})
    curves, aggregate = drawn_figures(tmp_path, monkeypatch)
    seen = {}  # algorithm -> the RGB colours it is drawn in
    for ax in curves.axes:
        for line in ax.get_lines():
            seen.setdefault(line.get_label().split(" (")[0], set()).add(line.get_color()[:3])
    bars = aggregate.axes[0].patches  # one bar per algorithm of the aggregate, in its order
    for name, bar in zip(["b", "c"], bars):
        seen[name].add(tuple(bar.get_facecolor()[:3]))
    assert len(bars) == 2 and all(len(colours) == 1 for colours in seen.values()), seen
    assert len({colours.pop() for colours in seen.values()}) == 3


@pytest.mark.usefixtures("few_resamples")
def test_report_curve_legend_counts_runs(tmp_path, monkeypatch):
    """The learning curves' legend says how many runs each curve holds: one run, or a range when
    the tasks ran different numbers of seeds."""
    fake_run(tmp_path, "a__Task-v0__1", {2000: 1.0})
    for seed in (1, 2):
        fake_run(tmp_path, f"b__Task-v0__{seed}", {2000: float(seed)})
    fake_run(tmp_path, "b__Other-v0__1", {2000: 1.0})
    curves, _ = drawn_figures(tmp_path, monkeypatch)
    texts = [text.get_text() for text in curves.legends[0].get_texts()]
    assert texts == ["a (1 run)", "b (1-2 runs)"], texts


@pytest.mark.usefixtures("few_resamples")
def test_report_legend_gives_each_algorithm_its_own_colour(tmp_path, monkeypatch):
    """Four algorithms: each legend entry of the performance profile has the colour of its
    algorithm's bar and profile line (rliable draws a line and a CI band per algorithm, so a legend
    built from the first artists pairs names with other algorithms' colours)."""
    for seed in (1, 2, 3):
        for algo in "abcd":
            for task in ("Task-v0", "Other-v0"):
                fake_run(tmp_path, f"{algo}__{task}__{seed}", {2000: seed + "abcd".index(algo)})
    _, aggregate = drawn_figures(tmp_path, monkeypatch)
    bars, profile = aggregate.axes[0].patches, aggregate.axes[1]
    legend = profile.get_legend()
    names = [text.get_text() for text in legend.get_texts()]
    assert sorted(names) == list("abcd") and len(bars) == 4
    bar_colour = {name: tuple(bar.get_facecolor()[:3]) for name, bar in zip(names, bars)}
    line_colour = {name: line.get_color() for name, line in zip(names, profile.get_lines())}
    for name, handle in zip(names, legend.legend_handles):
        drawn = handle.get_color() if hasattr(handle, "get_color") else handle.get_facecolor()
        colour = matplotlib.colors.to_rgb(drawn)  # a band's legend handle is a patch
        assert colour == bar_colour[name] == matplotlib.colors.to_rgb(line_colour[name]), name
    assert len(set(bar_colour.values())) == 4


@pytest.mark.usefixtures("few_resamples")
def test_report_probability_of_improvement(tmp_path):
    """P(x > b) counts the pairs of runs (ties half) per task and averages over the tasks both
    ran: a beats b on One-v0 and loses on Two-v0 at the end, but leads most of Two-v0's runs in
    mean evaluation; c ran One-v0 alone."""
    for s in range(1, 6):
        evals = {  # (algo, task): {step: return}
            ("a", "One-v0"): {1000: 0.0, 2000: 10.0 + s},
            ("b", "One-v0"): {1000: 0.0, 2000: float(s)},
            ("c", "One-v0"): {1000: 0.0, 2000: 4.0},
            ("a", "Two-v0"): {1000: 10.0, 2000: -float(s)},
            ("b", "Two-v0"): {1000: 5.0, 2000: 0.0},
        }
        for (algo, task), returns in evals.items():
            fake_run(tmp_path, f"{algo}__{task}__{s}", returns)
    report.main(tmp_path, against="b")
    table = (tmp_path / "results.md").read_text().split("P(algorithm > b)", 1)[1]
    # a: final 1 on One-v0 and 0 on Two-v0; mean eval 1 on One-v0 and, on Two-v0, (10 - s) / 2
    # against 2.5: above for s = 1..4, a tie for s = 5, so (4 + 0.5) / 5 = 0.9
    assert "| a | 0.50 [" in table and "| 0.95 [" in table
    # c against b's 1..5: above 3 of 5, one tie, final and mean alike: 0.7, over one task
    assert "| c | 0.70 [" in table and table.rstrip().endswith("| 1 |")
    assert "| b |" not in table
    report.main(tmp_path, against="b", tasks=["Two-v0"], prefix="two-")  # one task's P
    table = (tmp_path / "two-results.md").read_text().split("P(algorithm > b)", 1)[1]
    assert "| a | 0.00 [" in table and "| 0.90 [" in table and "| c |" not in table
    with pytest.raises(SystemExit, match="no finished runs"):
        report.main(tmp_path, tasks=["Three-v0"])


def test_report_hours_of_training_leave_a_pause_out():
    """Events every 60 s for 5 minutes, a 13-minute pause (a run stopped and resumed), 5 more
    minutes: the last evaluation comes after 10 minutes of training, not 23 (nor 20, the pause
    capped at 10 minutes)."""
    times = [60.0 * i for i in range(6)] + [300 + 780 + 60.0 * i for i in range(6)]
    evals = [SimpleNamespace(step=1000 * i, wall_time=t, value=0.0) for i, t in enumerate(times)]
    hours = report.active_hours({"eval/episodic_return": evals})
    assert hours[5000] == pytest.approx(5 / 60) and hours[6000] == pytest.approx(5 / 60)
    assert hours[11000] == pytest.approx(10 / 60)


@pytest.mark.usefixtures("few_resamples")
def test_report_refuses_a_copied_run_and_leaves_no_stale_figure(tmp_path):
    """A copied run folder (..__01 beside ..__1) is the same seed, refused in one line; a report
    without an aggregate (one algorithm misses a task) removes an earlier report's figure."""
    for seed in (1, 2):
        for algo in "ab":
            for task in ("Task-v0", "Other-v0"):
                fake_run(tmp_path, f"{algo}__{task}__{seed}", {2000: float(seed)})
    report.main(tmp_path)
    assert (tmp_path / "aggregate.png").exists()
    for seed in (1, 2):  # now a ran Task-v0 alone and b Other-v0 alone: no aggregate
        (
            shutil.rmtree(tmp_path / f"a__Other-v0__{seed}"),
            shutil.rmtree(tmp_path / f"b__Task-v0__{seed}"),
        )
    report.main(tmp_path)
    assert not (tmp_path / "aggregate.png").exists()
    shutil.copytree(tmp_path / "a__Task-v0__1", tmp_path / "a__Task-v0__01")
    with pytest.raises(SystemExit, match="a__Task-v0__01 and a__Task-v0__1 are the same run"):
        report.main(tmp_path)


@pytest.mark.usefixtures("few_resamples")
def test_report_names_a_run_cut_short_and_what_final_means(tmp_path, capsys):
    """b's seed 2 stopped at step 2,000 of 3,000: the report says so, and "final" is step 2,000."""
    for seed in (1, 2):
        fake_run(tmp_path, f"a__Task-v0__{seed}", {1000: 1.0, 2000: 2.0, 3000: 3.0})
        last = {3000: 3.0} if seed == 1 else {}
        fake_run(tmp_path, f"b__Task-v0__{seed}", {1000: 1.0, 2000: 2.0, **last})
    report.main(tmp_path)
    err = capsys.readouterr().err
    assert (
        "Task-v0: b seed 2 (step 2,000) stop before step 3,000; 'final' there is step 2,000" in err
    )
    assert {row["steps"] for row in csv.DictReader(open(tmp_path / "results.csv"))} == {"2000"}


@pytest.mark.parametrize(
    "algo, env_id, entry, expected",
    [
        ("ppo", "Hopper-v5", "Hopper-v4", dict(batch_size=32, n_steps=512, gamma=0.999)),
        ("ppo", "Swimmer-v5", "Swimmer-v4", dict(batch_size=256, gamma=0.9999)),
        ("ppo", "Reacher-v5", "Reacher-v2", dict(batch_size=32, gamma=0.9)),
        ("sac", "Walker2d-v5", "Walker2d-v4", dict(learning_starts=10000)),
    ],
)
def test_rl_zoo_settings_come_from_rl_zoo3_itself(algo, env_id, entry, expected, capsys):
    """The runner takes RL Zoo's entry of the task's newest version in rl_zoo3's own yml, parsed
    and preprocessed by RL Zoo's code: PPO's normalisation and number of envs included."""
    runner = importlib.import_module("baselines.sb3_continuous_action")
    args = runner.Args(algo=algo, env_id=env_id)
    kwargs, normalize, n_envs = runner.zoo_settings(algo, args)
    assert {k: kwargs[k] for k in expected} == expected
    assert f"RL Zoo's settings for {entry}" in capsys.readouterr().out
    if algo == "ppo":
        assert normalize == {"gamma": expected["gamma"]} and args.gamma == expected["gamma"]
        assert n_envs == (4 if entry == "Swimmer-v4" else 1)
