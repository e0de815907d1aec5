"""Checkpoints, exact restore, resume, signals, NaN guard, W&B without a network, unwritable run
folder."""

import signal
import time

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import SMALL, run_script, scalars, start_script

PENDULUM = ["--env-id", "InvertedPendulum-v5", "--learning-starts", 100, *SMALL]


def wait_for(path_glob, cwd, timeout=120):
    deadline = time.time() + timeout
    while not list(cwd.glob(path_glob)):
        assert time.time() < deadline, f"{path_glob} never appeared"
        time.sleep(0.05)
    return list(cwd.glob(path_glob))[0]


def load(path):
    return torch.load(path, weights_only=False)


def assert_same(a, b, where="checkpoint"):
    """Recursive exact equality of two checkpoint trees (tensors, arrays, RNG tuples, numbers)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), where
    else:
        assert a == b, where


def test_kill_resume_restores_exactly_and_continues(script, tmp_path):
    """SIGKILL after the step-300 checkpoint; the restored state equals the saved one bit for bit
    (resuming to the checkpoint's own step re-saves it at once); then training continues to 600 with
    no step logged twice. Parameters at 600 are not compared with a straight run: a resumed run
    starts a fresh episode (documented)."""
    flags = [*PENDULUM, "--total-timesteps", 600, "--checkpoint-frequency", 300]
    process = start_script(script, *flags, cwd=tmp_path)
    checkpoint = wait_for("runs/*/checkpoint.pt", tmp_path)
    process.send_signal(signal.SIGKILL)
    process.wait()
    saved = load(checkpoint)
    assert saved["step"] == 300 and saved["replay_buffer"]["pos"] == 300
    copy = tmp_path / "saved.pt"
    copy.write_bytes(checkpoint.read_bytes())

    restored = run_script(
        script,
        *PENDULUM,
        "--total-timesteps",
        300,
        "--checkpoint-frequency",
        300,
        "--resume",
        copy,
        "--keep-buffer",  # it finishes at once: keep what the next resume continues from
        cwd=tmp_path,
    )
    assert restored.returncode == 0, restored.stderr
    assert f"resuming from {copy} at step 300" in restored.stdout
    resaved = load(checkpoint)
    assert resaved.pop("args")["resume"] == str(copy) and saved.pop("args")["resume"] is None
    assert_same(saved, resaved)

    resumed = run_script(script, *flags, "--resume", "auto", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    final = load(checkpoint)
    assert (
        final["step"] == 600
        and final["run_name"] == saved["run_name"]
        and final["wandb_id"] == saved["wandb_id"]
    )
    steps = [step for step, _ in scalars(checkpoint.parent)["losses/qf1_loss"]]
    assert steps == sorted(set(steps)) and steps[-1] >= 550  # continuous, nothing twice


def test_sigterm_checkpoints_and_exits_cleanly(script, tmp_path):
    process = start_script(script, *PENDULUM, "--total-timesteps", 100000, cwd=tmp_path)
    wait_for("runs/*/events.out.tfevents.*", tmp_path)
    time.sleep(3)  # well into training
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "resume with the same command plus --resume runs/" in stdout
    (checkpoint,) = tmp_path.glob("runs/*/checkpoint.pt")
    assert 0 < load(checkpoint)["step"] < 100000


def test_kill_during_checkpoint_writes_never_corrupts_it(script, tmp_path):
    """A checkpoint every step, killed at several moments, each run in its own folder (a second run
    in the same folder would find the first one's file and could pass without ever being killed
    mid-write): the file loads."""
    for delay in [0.3, 0.7, 1.1]:
        cwd = tmp_path / f"delay-{delay}"
        cwd.mkdir()
        process = start_script(
            script,
            *PENDULUM,
            "--total-timesteps",
            100000,
            "--checkpoint-frequency",
            1,
            "--learning-starts",
            50,
            cwd=cwd,
        )
        first = wait_for("runs/*/checkpoint.pt", cwd)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL  # killed, not finished
        # still written every step after the first: later writes were under way
        assert load(first)["step"] > 1


def test_nan_stops_with_message_and_keeps_last_good_checkpoint(script, tmp_path):
    result = run_script(
        script,
        "--env-id",
        "nan_env:NaNReward-v0",
        "--learning-starts",
        100,
        *SMALL,
        "--total-timesteps",
        2000,
        "--checkpoint-frequency",
        100,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: losses/qf1_loss became non-finite at step ")
    nan_step = int(message.split("at step ")[1].split(";")[0])
    assert nan_step > 250  # rewards turn NaN after step 250
    (checkpoint,) = tmp_path.glob("runs/*/checkpoint.pt")
    assert f"last good checkpoint: runs/{checkpoint.parent.name}/checkpoint.pt" in message
    assert "flags set here: " in message and "--learning-starts 100" in message  # the suspects
    good = load(checkpoint)
    assert good["step"] <= nan_step
    assert all(torch.isfinite(p).all() for p in good["qf"].values())


@pytest.mark.parametrize(
    "wandb_env",
    [
        {"WANDB_MODE": "offline"},
        {
            "WANDB_MODE": "online",
            "WANDB_API_KEY": "0" * 40,
            "WANDB_BASE_URL": "http://127.0.0.1:9",
            "WANDB_INIT_TIMEOUT": "5",
        },
    ],
    ids=["offline", "bogus_network"],
)
def test_track_without_network_returns_in_bounded_time(script, wandb_env, tmp_path):
    begin = time.time()
    result = run_script(
        script,
        *PENDULUM,
        "--total-timesteps",
        150,
        "--track",
        cwd=tmp_path,
        timeout=180,
        **wandb_env,
    )
    assert result.returncode == 0, result.stderr
    assert time.time() - begin < 150
    assert list(tmp_path.glob("wandb/offline-run-*"))


def test_a_wandb_mode_wandb_does_not_know_is_named(script, tmp_path):
    result = run_script(script, *PENDULUM, "--track", cwd=tmp_path, WANDB_MODE="garbage")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: WANDB_MODE=garbage: W&B takes")


def test_unwritable_run_folder_is_a_clear_error(script, tmp_path):
    (tmp_path / "runs").write_text("a file where the runs folder should be")
    result = run_script(script, *PENDULUM, "--total-timesteps", 150, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot write to runs/")


def test_resume_keeps_the_evaluation_at_the_checkpoint_step(script, tmp_path):
    """The evaluation logged at the checkpoint's step is dropped by purge_step on resume; it must be
    logged again."""
    flags = [
        *PENDULUM,
        "--total-timesteps",
        600,
        "--checkpoint-frequency",
        300,
        "--eval-frequency",
        300,
        "--eval-episodes",
        1,
    ]
    process = start_script(script, *flags, cwd=tmp_path)
    checkpoint = wait_for("runs/*/checkpoint.pt", tmp_path)
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumed = run_script(script, *flags, "--resume", "auto", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    logged = scalars(checkpoint.parent)
    assert [step for step, _ in logged["eval/episodic_return"]] == [300, 600]
    assert all(sps > 0 for _, sps in logged["charts/SPS"])  # none of 0 at the resumed step


def test_two_envs_with_an_odd_learning_starts_train_the_actor(script, tmp_path):
    """--num-envs 2 with an odd --learning-starts: global steps are even, so the first update is
    at the even step after it; the actor trains from the first log on."""
    result = run_script(
        script,
        *PENDULUM[:2],
        *SMALL,
        "--num-envs",
        2,
        "--learning-starts",
        101,
        "--total-timesteps",
        400,
        "--log-frequency",
        50,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    logged = scalars(run_dir)
    # the actor trained from the first log on
    assert all(value > 0 for _, value in logged["losses/actor_loss"])
    assert "charts/action_std" in logged


def test_each_evaluation_keeps_its_video(script, tmp_path):
    result = run_script(
        script,
        *PENDULUM,
        "--total-timesteps",
        300,
        "--eval-frequency",
        150,
        "--eval-episodes",
        1,
        "--capture-video",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    videos = sorted(p.name for p in tmp_path.glob("videos/*/*.mp4"))
    assert videos == ["eval-step-150-episode-0.mp4", "eval-step-300-episode-0.mp4"]


class NoRender(gym.Wrapper):
    def render(self):
        raise RuntimeError("no GL context")


gym.register(
    "NoRender-v0", entry_point=lambda **kw: NoRender(gym.make("InvertedPendulum-v5", **kw))
)


def test_capture_video_without_a_renderer_keeps_training(module, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = module.Args(
        env_id="NoRender-v0",
        total_timesteps=60,
        learning_starts=50,
        eval_frequency=30,
        eval_episodes=1,
        hidden_sizes=(8,),
        capture_video=True,
    )
    module.main(args)
    assert (
        "NoRender-v0 cannot render here (RuntimeError); going on without videos"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "videos").exists()
    assert [
        step for step, _ in scalars(next((tmp_path / "runs").iterdir()))["eval/episodic_return"]
    ] == [30, 60]


def test_a_signal_stops_an_evaluation_that_would_never_end(script, tmp_path):
    """Evaluation episodes of a billion steps: SIGTERM inside the evaluation still stops the run
    within seconds, with a checkpoint and the resume command (the evaluation is not logged)."""
    flags = [
        "--env-id",
        "nan_env:EndlessPendulum-v0",
        "--total-timesteps",
        2000,
        "--learning-starts",
        1000,
        "--eval-frequency",
        100,
        *SMALL,
    ]
    process = start_script(script, *flags, cwd=tmp_path)
    wait_for("runs/*/events.*", tmp_path)
    time.sleep(5)  # the first 100 random steps take well under a second: now it is evaluating
    sent = time.time()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert time.time() - sent < 10, "the run took more than 10 s to stop"
    assert process.returncode == 128 + signal.SIGTERM, stderr
    (checkpoint,) = tmp_path.glob("runs/*/checkpoint.pt")
    assert load(checkpoint)["step"] == 100
    assert "eval/episodic_return" not in scalars(checkpoint.parent)


def test_resume_auto_leaves_a_finished_run_as_it_is(script, tmp_path):
    """--resume auto on a run that reached its budget says so, exits 0 and changes no file; the
    exp-name's space is quoted in the printed command, so pasting it works."""
    flags = [*PENDULUM, "--total-timesteps", 150, "--exp-name", "my run", "--save-model"]
    first = run_script(script, *flags, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "--load-model 'runs/" in first.stdout  # the path holds a space: quoted
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    again = run_script(script, *flags, "--resume", "auto", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "this run finished at step 150; nothing to do" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before


def test_a_finished_run_keeps_its_buffer_only_when_asked(script, tmp_path):
    """By default a finished run's checkpoint drops the replay buffer (GBs it would never read),
    and extending it is refused in one line; with --keep-buffer it keeps it, and a higher
    --total-timesteps continues the run."""
    for keep, folder in [([], "light"), (["--keep-buffer"], "full")]:
        (tmp_path / folder).mkdir()
        flags = [*PENDULUM, "--total-timesteps", 150, *keep]
        assert run_script(script, *flags, cwd=tmp_path / folder).returncode == 0
        (checkpoint,) = (tmp_path / folder).glob("runs/*/checkpoint.pt")
        assert ("replay_buffer" in load(checkpoint)) == bool(keep)
        flags[flags.index(150)] = 200
        more = run_script(script, *flags, "--resume", "auto", cwd=tmp_path / folder)
        if keep:
            assert more.returncode == 0, more.stderr
            assert load(checkpoint)["step"] == 200 and "replay_buffer" in load(checkpoint)
        else:
            assert more.returncode == 1 and "finished without its replay buffer" in more.stderr
            assert len(more.stderr.strip().splitlines()) == 1 and load(checkpoint)["step"] == 150


def test_a_second_process_on_a_running_run_is_refused(script, tmp_path):
    """--resume auto while the run still trains (a forgotten window, a requeued job): the second
    process is refused in one line naming the first's pid, and touches nothing of the first."""
    flags = [*PENDULUM, "--total-timesteps", 100_000, "--checkpoint-frequency", 200]
    first = start_script(script, *flags, cwd=tmp_path)
    try:
        checkpoint = wait_for("runs/*/checkpoint.pt", tmp_path)
        second = run_script(script, *flags, "--resume", "auto", cwd=tmp_path)
        assert second.returncode == 1, second.stderr
        assert f"being trained by another process (pid {first.pid})" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        assert first.poll() is None  # the first trains on
        step = load(checkpoint)["step"]
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
        assert first.returncode == 128 + signal.SIGTERM and load(checkpoint)["step"] > step
    finally:
        first.kill()
