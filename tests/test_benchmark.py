"""benchmark.sh and benchmark_report.py: the grid, failures and reruns, the report, Slurm, the
combined env."""

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

import gymnasium as gym
import pytest
from conftest import ROOT, SCRIPTS, SMALL, benchmark, only_run_dir, run_script, scalars

TINY = ["--total-timesteps", "300", "--learning-starts", "100", "--eval-frequency", "150", *SMALL]
ENVS = "InvertedPendulum-v5 Hopper-v5"
PENDULUM = ["--scripts", SCRIPTS[0], "--env-ids", "InvertedPendulum-v5"]  # one WPPG run per seed


def test_dry_run_prints_the_grid_and_writes_nothing(tmp_path):
    result = benchmark(
        "--out",
        tmp_path / "absent",
        "--env-ids",
        ENVS,
        "--start-seed",
        3,
        "--num-seeds",
        2,
        "--dry-run",
        "--",
        "--total-timesteps",
        1000,
        "--track",
    )
    assert result.returncode == 0, result.stderr
    expected = [
        f"OMP_NUM_THREADS=1 {sys.executable} {ROOT / script} --env-id {env_id} --seed {seed} "
        "--resume auto --total-timesteps 1000 --track"
        for script in SCRIPTS
        for env_id in ENVS.split()
        for seed in (3, 4)
    ]
    assert result.stdout.splitlines() == expected
    assert list(tmp_path.iterdir()) == []  # no --out folder, no grid file: nothing written


def test_two_grids_on_one_out_keep_their_own_grid_files(tmp_path):
    """Two invocations on one --out under one --tag (other seeds, e.g. two chunks at once) each
    read their own grid file: the second does not rewrite the first's, and --task runs the line of
    the grid file it is given (as the Slurm array does)."""
    for seed in (1, 2):
        result = benchmark(
            "--out",
            tmp_path,
            *PENDULUM,
            "--tag",
            "a_b",
            "--start-seed",
            seed,
            "--num-seeds",
            1,
            "--workers",
            1,
            "--",
            *TINY,
        )
        assert result.returncode == 0, result.stderr
    grids = {p.read_text().split("\t")[0]: p for p in tmp_path.glob("grid-a_b-*.tsv")}
    assert sorted(grids) == ["wppg-a_b__InvertedPendulum-v5__1", "wppg-a_b__InvertedPendulum-v5__2"]
    assert not list(tmp_path.glob(".grid.*"))  # no temporary file left behind
    first = grids["wppg-a_b__InvertedPendulum-v5__1"]
    shutil.rmtree(tmp_path / "wppg-a_b__InvertedPendulum-v5__1")  # to be run again by --task
    result = benchmark("--out", tmp_path, "--grid", first, "--task", 1)
    assert result.returncode == 0, result.stderr
    assert sorted(p.parent.name for p in tmp_path.glob("*/done")) == sorted(grids)


def test_default_grid_is_the_papers(tmp_path):
    lines = benchmark("--out", tmp_path, "--dry-run").stdout.splitlines()
    assert len(lines) == 2 * 6 * 5
    assert {line.split("--env-id ")[1].split()[0] for line in lines} == {
        "Hopper-v5",
        "Walker2d-v5",
        "HalfCheetah-v5",
        "Reacher-v5",
        "Swimmer-v5",
        "Humanoid-v5",
    }


def test_tiny_grid_table_and_figure(tmp_path):
    result = benchmark(
        "--out", tmp_path, "--env-ids", ENVS, "--num-seeds", 2, "--workers", 2, "--", *TINY
    )
    assert result.returncode == 0, result.stdout + result.stderr
    per_task_table = (tmp_path / "results.md").read_text().split("\n\n")[0]
    rows = per_task_table.splitlines()[2:]
    assert [row.split(" | ")[:2] for row in rows] == [
        ["| Hopper-v5", "wppg"],
        ["| Hopper-v5", "wppg_implicit"],
        ["| InvertedPendulum-v5", "wppg"],
        ["| InvertedPendulum-v5", "wppg_implicit"],
    ]
    assert all(row.endswith("| 2 | 300 |") for row in rows)
    assert (tmp_path / "learning_curves.png").stat().st_size > 10_000
    assert (tmp_path / "aggregate.png").stat().st_size > 10_000  # both algorithms cover both tasks


def test_failed_run_is_reported_and_rerun_alone(tmp_path):
    # a python that fails the seed-2 run until the file "allow" exists
    fake = tmp_path / "python"
    fake.write_text(
        f'#!/bin/bash\nif [[ "$*" == *"--seed 2"* && ! -f {tmp_path}/allow ]]; then exit 3; fi\n'
        f'exec {sys.executable} "$@"\n'
    )
    fake.chmod(0o755)
    flags = ["--out", tmp_path / "grid", *PENDULUM, "--num-seeds", 3, "--workers", 2, "--", *TINY]
    first = benchmark(*flags, python=fake)
    assert first.returncode == 1
    assert "1 of 3 runs failed" in first.stderr and "wppg__InvertedPendulum-v5__2" in first.stderr
    assert sorted(p.parent.name for p in (tmp_path / "grid").glob("*/done")) == [
        "wppg__InvertedPendulum-v5__1",
        "wppg__InvertedPendulum-v5__3",
    ]
    (tmp_path / "allow").touch()
    second = benchmark(*flags, python=fake)
    assert second.returncode == 0, second.stderr
    assert "skip wppg__InvertedPendulum-v5__1 (finished)" in second.stdout
    assert "skip wppg__InvertedPendulum-v5__3 (finished)" in second.stdout
    assert "done wppg__InvertedPendulum-v5__2" in second.stdout
    report = (tmp_path / "grid" / "results.md").stat().st_mtime_ns
    third = benchmark(*flags, python=fake)  # nothing left to run: the report is not rewritten
    assert third.returncode == 0, third.stderr
    assert "all 3 runs had finished; the report in" in third.stdout
    assert (tmp_path / "grid" / "results.md").stat().st_mtime_ns == report


@pytest.mark.parametrize("out", ["out", "o[1]"])  # a glob character in --out must not lose data
def test_stop_signal_checkpoints_the_runs_and_starts_no_more(tmp_path, out):
    """SIGTERM to benchmark.sh (as Ctrl-C reaches it) stops the running run with a checkpoint and
    starts no other run; the same command resumes from that checkpoint, whatever --out's name."""
    out = tmp_path / out
    cmd = [
        "bash",
        str(ROOT / "benchmark.sh"),
        "--out",
        str(out),
        *PENDULUM,
        "--num-seeds",
        "2",
        "--workers",
        "1",
        "--",
        "--total-timesteps",
        "100000",
        *TINY[2:],
    ]
    env = {**os.environ, "PYTHON": sys.executable, "WANDB_MODE": "offline"}
    log = out / "wppg__InvertedPendulum-v5__1" / "log.txt"

    def start_then_stop(ready):
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.time() + 300
        while not (log.exists() and ready(log.read_text())):
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.5)
        proc.terminate()
        return proc, proc.communicate(timeout=120)[1]

    proc, err = start_then_stop(lambda text: "step=" in text)
    assert proc.returncode == 130 and "rerun the same command to resume" in err
    assert "stopped by signal 15" in log.read_text()
    (checkpoint,) = out.glob("wppg__InvertedPendulum-v5__1/runs/*/checkpoint.pt")
    assert not (out / "wppg__InvertedPendulum-v5__2").exists()  # never started
    start_then_stop(lambda text: "resuming from" in text)
    assert f"resuming from {checkpoint.relative_to(log.parent)}" in log.read_text()
    assert "stopped by signal 15" in log.read_text().split("resuming from")[0]  # history kept


def test_a_second_benchmark_leaves_a_running_run_alone(tmp_path):
    """A run another benchmark.sh is running (it holds the run's lock) is neither started again nor
    cleaned away, even before its first checkpoint."""
    import fcntl

    run = tmp_path / "wppg__InvertedPendulum-v5__1"
    run.mkdir()
    (run / "log.txt").write_text("step=100 (the other benchmark's run)\n")
    with open(tmp_path / ".wppg__InvertedPendulum-v5__1.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = benchmark("--out", tmp_path, *PENDULUM, "--num-seeds", 1, "--", *TINY)
    assert result.returncode == 1
    assert "FAIL wppg__InvertedPendulum-v5__1: already running" in result.stdout
    assert (run / "log.txt").read_text() == "step=100 (the other benchmark's run)\n"
    assert [p.name for p in run.iterdir()] == ["log.txt"]


RUN_1 = "--env-id InvertedPendulum-v5 --seed 1 --resume auto"


@pytest.mark.parametrize(
    "flags, same",
    [
        (f"{RUN_1} --total-timesteps 1000 --no-cuda", True),
        (f"--total-timesteps 1000 --no-cuda {RUN_1}", True),  # the same flags in another order
        (f"{RUN_1} --total-timesteps 2000 --no-cuda", False),
        (
            "--env-id InvertedPendulum-v5 --seed 1000 --resume auto --total-timesteps 1 --no-cuda",
            False,
        ),
        (f"{RUN_1} --total-timesteps 1000", False),
    ],
)
@pytest.mark.parametrize("finished", [True, False], ids=["finished", "stopped"])
def test_finished_runs_with_other_flags_are_refused_not_those_of_a_moved_checkout(
    tmp_path, flags, same, finished
):
    grid = [
        "--out",
        tmp_path,
        *PENDULUM,
        "--num-seeds",
        1,
        "--dry-run",
        "--",
        "--total-timesteps",
        1000,
        "--no-cuda",
    ]
    run = tmp_path / "wppg__InvertedPendulum-v5__1"
    run.mkdir()
    if finished:  # a stopped run (no done file) counts too: rerun, it would mix two trainings
        (run / "done").touch()
    moved = "OMP_NUM_THREADS=1 /elsewhere/bin/python /old/checkout/wppg_continuous_action.py"
    (run / "cmd").write_text(f"{moved} {flags}\n")
    result = benchmark(*grid)
    if same:  # the dry run lists a stopped run, to be continued, not a finished one
        assert result.returncode == 0, result.stdout + result.stderr
        assert len(result.stdout.splitlines()) == (0 if finished else 1), result.stdout
    else:
        assert result.returncode == 2
        assert "1 run(s) in" in result.stderr and "made with other flags" in result.stderr


@pytest.fixture
def slurm():
    if shutil.which("sbatch") is None or os.geteuid() != 0:
        pytest.skip("needs root and Debian's slurm-wlm and munge (see tests/README.md)")
    subprocess.run(["bash", str(ROOT / "tests/slurm/start_slurm.sh")], check=True, timeout=120)


def test_slurm_job_array(slurm, tmp_path):
    result = benchmark(
        "--slurm", "--out", tmp_path, "--env-ids", ENVS, "--num-seeds", 1, "--", *TINY
    )
    assert result.returncode == 0, result.stderr
    job = result.stdout.split("submitted job array ")[1].split(":")[0]
    deadline = time.time() + 600
    while subprocess.run(
        ["squeue", "-h", "-j", job], capture_output=True, text=True
    ).stdout.strip():
        assert time.time() < deadline, "the Slurm job did not finish in 10 minutes"
        time.sleep(2)
    runs = sorted(p.parent.name for p in tmp_path.glob("*/done"))
    assert runs == sorted(
        f"{algo}__{env}__1" for algo in ["wppg", "wppg_implicit"] for env in ENVS.split()
    )
    assert len(list(tmp_path.glob("slurm-*.out"))) == 4
    report = benchmark("--out", tmp_path, "--report")
    assert report.returncode == 0 and (tmp_path / "learning_curves.png").exists()


def test_combined_humanoid_spaces():
    import combined_humanoid  # noqa: F401  (registers Humanoid-x{n}-v5)

    env = gym.make("Humanoid-x3-v5")
    obs, _ = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape == (3 * 348,)
    assert env.action_space.shape == (3 * 17,)
    obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
    assert obs.shape == (3 * 348,) and isinstance(reward, float)


def test_combined_humanoid_runs_with_each_script(script, tmp_path):
    result = run_script(
        script,
        "--env-id",
        "combined_humanoid:Humanoid-x2-v5",
        "--total-timesteps",
        200,
        "--learning-starts",
        100,
        "--eval-episodes",
        1,
        *SMALL,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "losses/actor_loss" in scalars(only_run_dir(tmp_path))


def test_slurm_requeue_resumes_from_checkpoint(slurm, tmp_path):
    """Preemption as Slurm does it: requeue a running task; the script checkpoints on SIGTERM and
    the requeued task resumes from that checkpoint."""
    result = benchmark(
        "--slurm",
        "--out",
        tmp_path,
        *PENDULUM,
        "--num-seeds",
        1,
        "--",
        "--total-timesteps",
        3000,
        "--checkpoint-frequency",
        500,
        *TINY[2:],
    )
    job = result.stdout.split("submitted job array ")[1].split(":")[0]
    deadline = time.time() + 600
    while not list(tmp_path.glob("*/runs/*/checkpoint.pt")):
        assert time.time() < deadline
        time.sleep(0.5)
    subprocess.run(["scontrol", "requeue", f"{job}_1"], check=True)
    while subprocess.run(
        ["squeue", "-h", "-j", job], capture_output=True, text=True
    ).stdout.strip():
        assert time.time() < deadline, "the requeued task did not finish in 10 minutes"
        time.sleep(2)
    log = (tmp_path / "wppg__InvertedPendulum-v5__1" / "log.txt").read_text()
    assert "stopped by signal 15" in log and "resuming from runs/" in log
    assert (tmp_path / "wppg__InvertedPendulum-v5__1" / "done").exists()


def test_slurm_task_requeues_itself_before_the_time_limit(tmp_path):
    """Without a Slurm install: the array asks for USR1 ten minutes before --time, sent to
    benchmark.sh itself (exec); on USR1 a task stops its run, which checkpoints on SIGTERM, and
    queues itself again (scontrol requeue) instead of being killed at the limit."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool, body in [
        ("sbatch", 'echo "$@" > {log}/sbatch.args; echo 42'),
        ("scontrol", 'echo "$@" > {log}/scontrol.args'),
    ]:
        (bin_dir / tool).write_text("#!/bin/bash\n" + body.format(log=tmp_path) + "\n")
        (bin_dir / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    out = tmp_path / "out"
    submit = subprocess.run(
        ["bash", ROOT / "benchmark.sh", "--slurm", "--out", out, *PENDULUM, "--num-seeds", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert submit.returncode == 0, submit.stderr
    args = (tmp_path / "sbatch.args").read_text()
    assert "--signal=B:USR1@600" in args and "--requeue" in args and "--wrap exec bash " in args
    # the task itself, as Slurm starts it: a run that marks SIGTERM, as the scripts checkpoint on it
    run = out / "wppg__Pendulum-v1__1"
    stand_in = (
        "import pathlib, signal, sys, time; stop = lambda *a: (pathlib.Path('stopped').touch(), "
        "sys.exit(143)); signal.signal(signal.SIGTERM, stop); "
        "pathlib.Path('started').touch(); time.sleep(120)"
    )
    grid = tmp_path / "grid.tsv"
    grid.write_text(f"{run.name}\t{sys.executable} -c {shlex.quote(stand_in)}\n")
    task = subprocess.Popen(
        ["bash", ROOT / "benchmark.sh", "--out", out, "--grid", grid, "--task", "1"],
        env={**env, "SLURM_JOB_ID": "777"},
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while not (run / "started").exists():
        assert time.time() < deadline and task.poll() is None, "the task did not start its run"
        time.sleep(0.1)
    task.send_signal(signal.SIGUSR1)
    stdout, _ = task.communicate(timeout=60)
    assert (run / "stopped").exists(), "the run was not stopped with SIGTERM"
    assert (tmp_path / "scontrol.args").read_text().split() == ["requeue", "777"]
    assert f"requeue {run.name}" in stdout and not (run / "done").exists()


def test_report_only_forwards_the_reports_flags(tmp_path):
    """--report passes what follows -- to benchmark_report.py: an empty --out with an --include
    reports the included runs."""
    rows = ["task,algorithm,seed,step,eval_return"]
    rows += [
        f"T-v0,{a},{s},{step},{s * step / 1000}"
        for a in "xy"
        for s in (1, 2)
        for step in (1000, 2000)
    ]
    (tmp_path / "earlier.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "empty").mkdir()
    result = benchmark(
        "--report", "--out", tmp_path / "empty", "--", "--include", tmp_path / "earlier.csv"
    )
    assert result.returncode == 0, result.stderr
    table = (tmp_path / "empty" / "results.md").read_text()
    assert "| T-v0 | x |" in table and "| T-v0 | y |" in table


def test_flags_go_to_the_runs_whose_script_takes_them(tmp_path):
    """WPPG takes --entropy-scale, SB3's SAC does not: both run, each with the flags it takes (the
    help's example); a flag no script takes, and the flags the grid owns, are refused."""
    grid = ["--scripts", f"{SCRIPTS[0]} sac", "--env-ids", "Pendulum-v1", "--num-seeds", "1"]
    flags = ["--total-timesteps", "600", "--learning-starts", "500", "--entropy-scale", "0.1"]
    result = benchmark(*grid, "--workers", "2", "--out", tmp_path, "--", *flags, "--no-cuda")
    assert result.returncode == 0, result.stderr
    assert "sac does not take --entropy-scale" in result.stderr
    wppg_cmd, sac_cmd = (
        (tmp_path / f"{a}__Pendulum-v1__1" / "cmd").read_text() for a in ("wppg", "sac")
    )
    assert "--entropy-scale 0.1" in wppg_cmd and "--entropy-scale" not in sac_cmd
    for algo in ("wppg", "sac"):
        logged = scalars(only_run_dir(tmp_path / f"{algo}__Pendulum-v1__1"))
        assert logged["eval/episodic_return"][-1][0] == 600, algo
    for bad, words in [
        ("--entropy-scal", "no script of the grid takes --entropy-scal"),
        ("--seed", "--seed after -- would override the grid's"),
    ]:
        refused = benchmark(*grid, "--out", tmp_path / "other", "--", bad, "7")
        assert refused.returncode == 2 and words in refused.stderr, refused.stderr


def test_a_refused_grid_leaves_nothing_behind(tmp_path):
    """No --out for a grid refused up front (no training script, an unknown env id), and no grid
    file beside runs made with other flags."""
    for grid in (["--scripts", "run_utils.py", *PENDULUM[2:]], ["--env-ids", "Hoper-v5"]):
        result = benchmark("--out", tmp_path / "new", *grid)
        assert result.returncode == 2 and not (tmp_path / "new").exists(), result.stderr
    assert "run_utils.py: not a training script" in benchmark("--scripts", "run_utils.py").stderr
    run = tmp_path / "wppg__InvertedPendulum-v5__1"
    run.mkdir()
    (run / "cmd").write_text("python wppg_continuous_action.py --eta 0.3\n")
    result = benchmark("--out", tmp_path, *PENDULUM, "--num-seeds", 1, "--", "--eta", 0.1)
    assert result.returncode == 2 and "made with other flags" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [run.name]


def test_a_script_copied_outside_the_repository_runs_in_the_grid(tmp_path):
    """--scripts takes a path: a researcher's copy of a script, elsewhere, runs with the
    repository's run_utils.py and is named after its file."""
    copy = tmp_path / "elsewhere" / "my_wppg.py"
    copy.parent.mkdir()
    copy.write_text((ROOT / SCRIPTS[0]).read_text())
    out = tmp_path / "out"
    grid = ["--scripts", copy, "--env-ids", "InvertedPendulum-v5", "--num-seeds", 1]
    result = benchmark("--out", out, *grid, "--", *TINY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / "my_wppg__InvertedPendulum-v5__1" / "done").exists()


def test_local_workers_spread_over_the_visible_gpus(tmp_path):
    """Two workers, two GPUs (a stand-in nvidia-smi lists them): each run gets its own, the first
    one free, as CUDA_VISIBLE_DEVICES (the runs stand-ins too: what they are given is the point)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\nprintf '0\\n1\\n'\n")
    seen = tmp_path / "seen"
    (bin_dir / "python").write_text(  # a run (--resume auto) records its GPU and lasts 3 s
        '#!/bin/sh\ncase "$*" in *--resume*) '
        f'echo "$CUDA_VISIBLE_DEVICES" >> {seen}; sleep 3; exit 0 ;; esac\n'
        f'exec {sys.executable} "$@"\n'
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env |= {"PATH": f"{bin_dir}:{env['PATH']}", "PYTHON": str(bin_dir / "python")}
    grid = ["--out", tmp_path / "out", *PENDULUM, "--num-seeds", 2, "--workers", 2]
    result = subprocess.run(
        ["bash", str(ROOT / "benchmark.sh"), *map(str, grid), "--", *TINY],
        env=env | {"WANDB_MODE": "offline"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(seen.read_text().split()) == ["0", "1"]
