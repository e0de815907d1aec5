"""Bad input is refused before any work with one line that says what to change, a non-zero exit,
and nothing written or changed."""

import signal
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest
import torch
import tyro
from conftest import MODULES, ROOT, SCRIPTS, assert_refused, finished_folder, run_script

SMALL_FLAGS = ["--learning-starts", "100", "--eval-episodes", "1", "--hidden-sizes", "8"]
CASES = [  # (flags, words the message must contain)
    (["--env-id", "Hoper-v5"], ["unknown --env-id 'Hoper-v5'", "Did you mean: `Hopper`?"]),
    (["--env-id", "pendulum-v1"], ["Did you mean: `Pendulum`?"]),
    (["--env-id", "Hopper-v3"], ["--env-id Hopper-v3 cannot be made here", "v5"]),
    (["--env-id", "Pusher-v4"], ["--env-id Pusher-v4 cannot be made here"]),
    (["--env-id", "CartPole-v1"], ["Discrete action space", "continuous (Box)"]),
    (["--env-id", "ImageObservations-v0"], ["observations must be a flat Box"]),
    (["--env-id", "nomodule:Env-v0"], ["cannot import 'nomodule'"]),
    (["--total-timesteps", "0"], ["--total-timesteps must be a positive integer"]),
    (["--batch-size", "-4"], ["--batch-size must be a positive integer"]),
    (["--buffer-size", "0"], ["--buffer-size must be a positive integer"]),
    (
        ["--buffer-size", "100", "--batch-size", "256"],
        ["--buffer-size must be at least --batch-size, got 100"],
    ),
    (["--hidden-sizes", "64", "0"], ["--hidden-sizes must be one or more positive integers"]),
    (["--num-action-samples", "0"], ["--num-action-samples must be at least 2"]),
    (["--num-action-samples", "1"], ["--num-action-samples must be at least 2"]),
    (["--eta", "0"], ["--eta must be > 0, got 0.0"]),
    (["--entropy-scale", "-1"], ["--entropy-scale must be >= 0, got -1.0"]),
    (["--tau", "1.5"], ["--tau must be in (0, 1]"]),
    (["--gamma", "1.2"], ["--gamma must be in [0, 1]"]),
    (["--q-lr", "0"], ["--q-lr must be > 0"]),
    (["--learning-starts", "-1"], ["--learning-starts must be >= 0"]),
    (["--entropy-samples", "1"], ["--entropy-samples must be at least 2"]),
    (["--entropy-scale", "inf"], ["--entropy-scale must be a finite number, got inf"]),
    (["--eta", "nan"], ["--eta must be a finite number, got nan"]),
    (["--resume", "missing.pt"], ["--resume must be an existing file or auto"]),
    (["--load-model", "missing.pt"], ["--load-model missing.pt: no such file"]),
]
CASES += [  # a run folder is never made for these (issue of careless use: docs in README.md)
    (["--seed", "-1"], ["--seed must be in [0, "]),
    (["--num-envs", "2000", "--total-timesteps", "1000"], ["--num-envs must be at most --total-"]),
    (["--total-timesteps", "5000000000"], ["--total-timesteps must be below 2**32"]),
    (["--seed", "4294967296"], ["--seed must be in [0, "]),
    (["--exp-name", ""], ["--exp-name '' must be a plain file name"]),
    (["--exp-name", "exp/v2"], ["--exp-name 'exp/v2' must be a plain file name"]),
    (["--exp-name", ".hidden"], ["--exp-name '.hidden' must be a plain file name"]),
    (["--num-action-samples", "1000000000"], ["one update would take", "--num-action-samples"]),
    (
        [
            "--batch-size",
            "100000000",
            "--buffer-size",
            "1000000000",
            "--total-timesteps",
            "1000000000",
        ],
        ["would take about", "GiB"],
    ),
    (["--env-id", "nan_env:MatrixActions-v0"], ["actions must be a flat Box", "(2, 3)"]),
    (["--env-id", "nan_env:UnboundedActions-v0"], ["action bounds must be finite"]),
    (["--env-id", "nan_env:NoTimeLimit-v0"], ["has no time limit", "max_episode_steps"]),
]
IMPLICIT_CASES = [
    (["--latent-dim", "0"], ["--latent-dim must be a positive integer"]),
    (
        ["--latent-dim", "100000000"],
        ["the networks would take about", "lower --hidden-sizes or --latent-dim"],
    ),
]


class ImageObservations(gym.Env):
    """A continuous-action env whose observations are images, not flat vectors."""

    observation_space = gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


gym.register("ImageObservations-v0", entry_point=ImageObservations)


def check_refused(module, flags, words, tmp_path, monkeypatch):
    """main exits with one line holding every word, before writing anything under runs/."""
    monkeypatch.chdir(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    with pytest.raises(SystemExit) as exit_info:
        module.main(tyro.cli(module.Args, args=flags))
    code = exit_info.value.code
    assert isinstance(code, str) and code.startswith("error: "), code  # printed, exit status 1
    assert "\n" not in code
    for word in words:
        assert word in code, code
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before  # nothing touched


@pytest.mark.parametrize("flags,words", CASES, ids=[" ".join(flags) for flags, _ in CASES])
def test_bad_input_refused(module, flags, words, tmp_path, monkeypatch):
    check_refused(module, flags, words, tmp_path, monkeypatch)


@pytest.mark.parametrize("flags,words", IMPLICIT_CASES, ids=["latent-dim 0", "latent-dim 1e8"])
def test_implicit_bad_input_refused(flags, words, tmp_path, monkeypatch):
    check_refused(MODULES[SCRIPTS[1]], flags, words, tmp_path, monkeypatch)


def test_exit_code_and_one_stderr_line_from_the_command_line(script, tmp_path):
    for flags in [["--env-id", "Hopper-v3"], ["--eta", "0"]]:
        result = run_script(script, *flags, cwd=tmp_path)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_learning_starts_beyond_total_warns(script, tmp_path):
    flags = ["--total-timesteps", 50, "--learning-starts", 100, "--eval-episodes", 1]
    result = run_script(script, "--env-id", "InvertedPendulum-v5", *flags, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning: --learning-starts 100 >= --total-timesteps 50" in result.stderr


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory):
    """One short InvertedPendulum run of each script: {script: (checkpoint, saved model)}."""
    files = {}
    for name in SCRIPTS:
        cwd = tmp_path_factory.mktemp(name[:-3])
        flags = ["--total-timesteps", 200, "--learning-starts", 100, "--save-model"]
        result = run_script(
            name,
            "--env-id",
            "InvertedPendulum-v5",
            *flags,
            "--eval-episodes",
            1,
            "--hidden-sizes",
            8,
            cwd=cwd,
        )
        assert result.returncode == 0, result.stderr
        (run_dir,) = (cwd / "runs").iterdir()
        files[name] = (run_dir / "checkpoint.pt", next(run_dir.glob("*.cleanrl_model")))
    return files


def test_resume_bad_checkpoints_refused(script, finished_runs, tmp_path, monkeypatch):
    """Refused in one line before anything of the run is opened: a torn file, a saved model, a
    checkpoint of the other script or of the earlier format, and flags that change training."""
    checkpoint, model = finished_runs[script]
    other = finished_runs[next(name for name in SCRIPTS if name != script)][0]
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(checkpoint.read_bytes()[:5000])
    older = tmp_path / "older.pt"  # as written before run_utils.py: no format, no script
    state = torch.load(checkpoint, weights_only=False)
    torch.save({k: v for k, v in state.items() if k not in ("format", "script")}, older)
    base = ["--env-id", "InvertedPendulum-v5", "--hidden-sizes", "8", "--resume"]
    cases = [
        ([str(truncated)], [f"--resume {truncated}: not a readable checkpoint"]),
        ([str(model)], ["not a readable checkpoint"]),
        ([str(other)], [f"a checkpoint of {other.parent.name.split('__')[1]}.py, not of {script}"]),
        ([str(older)], ["another version of this code (checkpoint format 1", "start a new run"]),
        (
            [str(checkpoint), "--policy-lr", "0.05", "--eta", "0.2", "--seed", "4"],
            [
                "flags that change training differ",
                "--policy-lr (checkpoint: 0.001, now: 0.05)",
                "--eta (checkpoint: 0.1, now: 0.2)",
                "--seed (checkpoint: 1, now: 4)",
            ],
        ),
        (
            [str(checkpoint), "--total-timesteps", "150"],
            ["--total-timesteps (150, below the checkpoint's step 200)"],
        ),
    ]
    for flags, words in cases:
        check_refused(MODULES[script], [*base, *flags], words, tmp_path, monkeypatch)


def test_load_model_bad_files_refused(script, finished_runs, tmp_path, monkeypatch):
    checkpoint, model = finished_runs[script]
    other_model = finished_runs[next(name for name in SCRIPTS if name != script)][1]
    truncated = tmp_path / "truncated.cleanrl_model"
    truncated.write_bytes(model.read_bytes()[:2000])
    for path, words in [
        (checkpoint, ["not a model saved by --save-model", "--resume"]),
        (truncated, ["not a model saved by --save-model"]),
        (other_model, [f"a model of {SCRIPTS[1 - SCRIPTS.index(script)]}"]),
    ]:
        check_refused(MODULES[script], ["--load-model", str(path)], words, tmp_path, monkeypatch)


REPORT = [sys.executable, str(ROOT / "benchmark_report.py")]
BENCHMARK = ["bash", str(ROOT / "benchmark.sh")]
ENTRY_CASES = [  # (command, words on stderr); {out} is a folder holding a finished run
    (BENCHMARK + ["--out", "{out}", "--env-ids", ""], "--env-ids is empty"),
    (BENCHMARK + ["--out", "{out}", "--env-ids", "Hoper-v5"], "Did you mean: `Hopper`?"),
    (BENCHMARK + ["--out", "{out}", "--env-ids", "*"], "--env-id * cannot be made here"),
    (BENCHMARK + ["--out", "{out}", "--scripts", ""], "--scripts is empty"),
    (BENCHMARK + ["--out", "{out}", "--num-seeds", "0"], "--num-seeds must be at least 1"),
    (BENCHMARK + ["--out", "{out}", "--workers", "0"], "--workers must be at least 1"),
    (BENCHMARK + ["--out", "{out}", "--env-ids"], "--env-ids needs a value"),
    (BENCHMARK + ["--out", "/proc/forbidden"], "cannot create --out"),
    (BENCHMARK + ["--out", "{out}", "--frobnicate"], "unknown option --frobnicate"),
    (BENCHMARK + ["--out", "--dry-run"], "--out needs a value, got the option --dry-run"),
    (BENCHMARK + ["--out", "{out}", "--num-seeds", "100000", "--dry-run"], "at most 1000"),
    (BENCHMARK + ["--out", "{out}", "--tag", "a/b"], "--tag 'a/b' must be letters"),
    (BENCHMARK + ["--out", "{out}", "--start-seed", "4294967296"], "--start-seed must leave"),
    (REPORT + ["{out}/missing"], "is not a folder of benchmark runs"),
    (REPORT + ["{out}/results.md"], "is not a folder of benchmark runs"),
    (REPORT + ["{out}", "--prefix", "a/b"], "--prefix 'a/b' must be a plain"),
    (REPORT + ["{out}", "--against", "sac"], "--against sac: not an algorithm of this report"),
    (REPORT + ["{out}", "--include", "{out}/missing.csv"], "No such file"),
    (REPORT + ["{out}", "--include", "{out}/results.md"], "not an evaluations.csv"),
    (REPORT + ["{out}", "--include", "{out}/nan.csv"], "line 2 has a non-finite return"),
    (
        REPORT + ["{out}", "--include", "{out}/dup.csv"],
        "line 3 repeats a on T-v0 seed 1 at step 100",
    ),
    ([sys.executable, str(ROOT / "baselines/sb3_continuous_action.py"), "--seed", "-1"], "--seed"),
    (
        [sys.executable, str(ROOT / "baselines/sb3_continuous_action.py"), "--ent-coef", "-5"],
        "--ent-coef must be >= 0",
    ),
    (
        [sys.executable, str(ROOT / "baselines/sb3_continuous_action.py"), "--learning-rate", "-1"],
        "--learning-rate must be > 0",
    ),
    (
        [sys.executable, str(ROOT / "baselines/sb3_continuous_action.py"), "--hidden-sizes", "0"],
        "--hidden-sizes must be one or more positive integers",
    ),
    (
        [sys.executable, str(ROOT / "baselines/sb3_continuous_action.py"), "--env-id", "Hopper-v3"],
        "cannot be made here",
    ),
]


@pytest.mark.parametrize(
    "command, words", ENTRY_CASES, ids=[" ".join(c[2:]) for c, _ in ENTRY_CASES]
)
def test_other_entry_points_refuse_bad_input(command, words, tmp_path):
    assert_refused(command, words, tmp_path)


def test_report_skips_a_corrupt_run_and_reports_the_rest(tmp_path):
    out = finished_folder(tmp_path / "out")
    for seed in (2, 3):
        finished_folder(tmp_path / f"more{seed}")
        (tmp_path / f"more{seed}/wppg__InvertedPendulum-v5__1").rename(
            out / f"wppg__InvertedPendulum-v5__{seed}"
        )
    corrupt = out / "wppg__InvertedPendulum-v5__4"
    (corrupt / "runs" / "r").mkdir(parents=True)
    (corrupt / "runs" / "r" / "events.out.tfevents.0").write_bytes(b"garbage")
    (corrupt / "done").touch()
    result = subprocess.run(REPORT + [str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"warning: skipping {corrupt}" in result.stderr
    assert "| InvertedPendulum-v5 | wppg | 200.0 [" in (out / "results.md").read_text()


def test_a_failed_log_write_ends_the_run_in_one_line(module, tmp_path, monkeypatch):
    """A full disk while logging: TensorBoard's writer raises from add_scalar; the run ends with
    one line that names the folder and the last checkpoint (none yet here)."""
    from torch.utils.tensorboard import SummaryWriter

    monkeypatch.chdir(tmp_path)
    calls = []

    def full_disk(self, *args, **kwargs):
        calls.append(args)
        if len(calls) > 3:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(SummaryWriter, "add_scalar", full_disk)
    flags = [
        "--env-id",
        "InvertedPendulum-v5",
        "--total-timesteps",
        "300",
        "--learning-starts",
        "100",
        "--eval-episodes",
        "1",
        "--hidden-sizes",
        "8",
        "--batch-size",
        "8",
    ]
    with pytest.raises(SystemExit) as exit_info:
        module.main(tyro.cli(module.Args, args=flags))
    message = exit_info.value.code
    assert (
        message.startswith("error: cannot write the TensorBoard log in runs/")
        and "\n" not in message
    )
    assert "No space left on device" in message and "last checkpoint: none written yet" in message


def test_a_full_disk_under_the_writer_thread_prints_one_line(script, tmp_path):
    """TensorBoard writes from a thread of its own, which re-raises a failed write: the run ends
    with the one line, and the thread prints no traceback around it."""
    flags = ["--env-id", "InvertedPendulum-v5", "--total-timesteps", "300", *SMALL_FLAGS]
    code = (
        "import runpy, sys, tensorboard.summary.writer.record_writer as rw\n"
        "calls = []\n"
        "def write(self, data):\n"
        "    calls.append(1)\n"
        "    if len(calls) > 20: raise OSError(28, 'No space left on device')\n"
        "rw.RecordWriter.write = write\n"
        f"sys.argv = {[str(ROOT / script), *flags]!r}; sys.path.insert(0, {str(ROOT)!r})\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: cannot write the TensorBoard log in runs/")
    assert "Traceback" not in result.stderr and "Exception in thread" not in result.stderr


def test_loading_a_checkpoint_as_a_model_prints_one_line(script, finished_runs, tmp_path):
    """--load-model with a checkpoint: the one-line error alone (torch's pickle-protocol warning
    came first)."""
    checkpoint, _ = finished_runs[script]
    result = run_script(script, "--load-model", checkpoint, cwd=tmp_path)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "not a model saved by --save-model" in result.stderr


@pytest.mark.parametrize(
    "source, error",
    [("def broken(:\n", "SyntaxError"), ("raise RuntimeError('no licence')\n", "RuntimeError")],
)
def test_an_env_module_that_fails_to_import_is_one_line(
    module, source, error, tmp_path, monkeypatch
):
    """--env-id module:EnvId whose module raises anything on import, not only ImportError."""
    (tmp_path / "envs_here").mkdir()
    (tmp_path / "envs_here" / "broken_env_module.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path / "envs_here"))
    flags = ["--env-id", "broken_env_module:Env-v0"]
    check_refused(
        module, flags, [f"cannot import 'broken_env_module' ({error}"], tmp_path, monkeypatch
    )


def test_ctrl_c_on_the_report_is_one_line_and_changes_nothing(tmp_path):
    """SIGINT while the report reads and bootstraps (or still imports): exit 1, one line, and the
    earlier report's files as they were."""
    out = finished_folder(tmp_path / "out")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    process = subprocess.Popen(
        [*REPORT, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1 and stderr.strip() == "error: stopped by Ctrl-C; no file written"
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("what", ["sac", "load-model"])
def test_a_stop_signal_on_a_baseline_or_an_evaluation_is_one_line(
    what, sig, finished_runs, tmp_path
):
    """Ctrl-C or SIGTERM on the SB3 runner or on a long --load-model evaluation (which prints its
    progress): exit 1 with one line, no traceback."""
    if what == "sac":
        command = [sys.executable, str(ROOT / "baselines/sb3_continuous_action.py"), "--algo"]
        command += ["sac", "--env-id", "InvertedPendulum-v5", "--total-timesteps", "100000"]
        ready = "logs in runs/"
    else:
        model = finished_runs[SCRIPTS[0]][1]
        command = [sys.executable, str(ROOT / SCRIPTS[0]), "--load-model", str(model)]
        command += ["--eval-episodes", "100000"]
        ready = "env steps evaluated"  # the progress line, after 10 s
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    seen, deadline = "", time.time() + 120
    while ready not in seen and time.time() < deadline:
        seen += process.stdout.readline()
    assert ready in seen, seen
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1 and "Traceback" not in stderr, stderr
    assert (
        stderr.strip()
        .splitlines()[-1]
        .endswith(
            "rerun from step 0" if what == "sac" else "the evaluation was stopped by a signal"
        )
    )
