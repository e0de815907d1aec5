"""Bad input is refused before any training with one line that says what to change, and a non-zero
exit."""

import gymnasium as gym
import numpy as np
import pytest
import torch
import tyro

from conftest import SCRIPTS, load_script, run_script

MODULES = {name: load_script(name) for name in SCRIPTS}
CASES = [  # (flags, words the message must contain)
    (["--env-id", "Hoper-v5"], ["unknown --env-id 'Hoper-v5'", "did you mean Hopper-v5"]),
    (["--env-id", "CartPole-v1"], ["Discrete action space", "continuous (Box)"]),
    (["--env-id", "ImageObservations-v0"], ["observations must be a flat Box"]),
    (["--total-timesteps", "0"], ["--total-timesteps must be a positive integer"]),
    (["--batch-size", "-4"], ["--batch-size must be a positive integer"]),
    (["--buffer-size", "0"], ["--buffer-size must be a positive integer"]),
    (["--hidden-sizes", "64", "0"], ["--hidden-sizes must be one or more positive integers"]),
    (["--num-action-samples", "0"], ["--num-action-samples must be a positive integer"]),
    (["--eta", "0"], ["--eta (Wasserstein step size) must be > 0"]),
    (["--entropy-scale", "-1"], ["--entropy-scale (lambda) must be >= 0"]),
    (["--tau", "1.5"], ["--tau must be in (0, 1]"]),
    (["--gamma", "1.2"], ["--gamma must be in [0, 1]"]),
    (["--q-lr", "0"], ["--q-lr must be > 0"]),
    (["--entropy-samples", "1"], ["--entropy-samples must be at least 2"]),
    (["--entropy-scale", "inf"], ["--entropy-scale must be a finite number, got inf"]),
    (["--eta", "nan"], ["--eta must be a finite number, got nan"]),
    (
        ["--load-model", "missing.cleanrl_model"],
        ["--load-model missing.cleanrl_model: no such file"],
    ),
]
IMPLICIT_CASES = [(["--latent-dim", "0"], ["--latent-dim must be a positive integer"])]


class ImageObservations(gym.Env):
    """A continuous-action env whose observations are images, not flat vectors."""

    observation_space = gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


gym.register("ImageObservations-v0", entry_point=ImageObservations)


def refuse(module, flags):
    with pytest.raises(SystemExit) as exit_info:
        module.main(tyro.cli(module.Args, args=flags))
    return exit_info.value.code


def check_refused(module, flags, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = refuse(module, flags)
    assert isinstance(code, str) and code.startswith(
        "error: "
    ), code  # sys.exit(message): printed, exit 1
    assert "\n" not in code
    for word in words:
        assert word in code
    assert not (tmp_path / "runs").exists()  # refused before any training started


@pytest.mark.parametrize("flags,words", CASES, ids=[" ".join(flags) for flags, _ in CASES])
def test_bad_input_refused(script, flags, words, tmp_path, monkeypatch):
    check_refused(MODULES[script], flags, words, tmp_path, monkeypatch)


@pytest.mark.parametrize(
    "flags,words", IMPLICIT_CASES, ids=[" ".join(flags) for flags, _ in IMPLICIT_CASES]
)
def test_implicit_bad_input_refused(flags, words, tmp_path, monkeypatch):
    check_refused(
        MODULES["wppg_implicit_continuous_action.py"], flags, words, tmp_path, monkeypatch
    )


def test_exit_code_and_stderr_from_the_command_line(script, tmp_path):
    result = run_script(script, "--env-id", "CartPole-v1", cwd=tmp_path)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: CartPole-v1 has a Discrete action space")
    )


def test_learning_starts_beyond_total_warns(script, tmp_path):
    result = run_script(
        script,
        "--env-id",
        "InvertedPendulum-v5",
        "--total-timesteps",
        50,
        "--learning-starts",
        100,
        "--eval-episodes",
        1,
        "--hidden-sizes",
        8,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "warning: --learning-starts 100 >= --total-timesteps 50" in result.stderr


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory):
    """One short InvertedPendulum run of each script: {script: (checkpoint, saved model)}."""
    files = {}
    for name in SCRIPTS:
        cwd = tmp_path_factory.mktemp(name[:-3])
        result = run_script(
            name,
            "--env-id",
            "InvertedPendulum-v5",
            "--total-timesteps",
            200,
            "--learning-starts",
            100,
            "--save-model",
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
    checkpoint, model = finished_runs[script]
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(checkpoint.read_bytes()[:5000])
    base = ["--env-id", "InvertedPendulum-v5", "--hidden-sizes", "8"]
    check_refused(
        MODULES[script],
        [*base, "--resume", str(truncated)],
        [f"--resume {truncated}: not a readable " "checkpoint"],
        tmp_path,
        monkeypatch,
    )
    check_refused(
        MODULES[script],
        [*base, "--resume", str(model)],
        ["not a readable checkpoint"],
        tmp_path,
        monkeypatch,
    )
    older = (
        tmp_path / "older.pt"
    )  # a checkpoint of an earlier version, without the evaluation it last logged
    state = torch.load(checkpoint, weights_only=False)
    del state["last_eval"]
    torch.save(state, older)
    check_refused(
        MODULES[script],
        [*base, "--resume", str(older)],
        [f"--resume {older}: not a readable checkpoint " "(KeyError)"],
        tmp_path,
        monkeypatch,
    )
    check_refused(
        MODULES[script],
        [
            "--env-id",
            "Pendulum-v1",
            "--hidden-sizes",
            "16",
            "16",
            "--total-timesteps",
            "150",
            "--resume",
            str(checkpoint),
        ],
        [
            "flags differ from the checkpoint's",
            "--env-id (checkpoint: InvertedPendulum-v5, now: Pendulum-v1)",
            "--hidden-sizes (checkpoint: (8,), now: (16, 16))",
            "--total-timesteps (now 150, below the checkpoint's step 200)",
            "--buffer-size or --total-timesteps (room for 150 transitions, the checkpoint's "
            "buffer holds 200)",
        ],
        tmp_path,
        monkeypatch,
    )


def test_load_model_bad_files_refused(script, finished_runs, tmp_path, monkeypatch):
    checkpoint, model = finished_runs[script]
    other_model = finished_runs[next(name for name in SCRIPTS if name != script)][1]
    truncated = tmp_path / "truncated.cleanrl_model"
    truncated.write_bytes(model.read_bytes()[:2000])
    for path in [checkpoint, other_model, truncated]:
        check_refused(
            MODULES[script],
            ["--load-model", str(path)],
            [
                f"--load-model {path}: not a model saved by " "this script's --save-model",
                "--resume",
            ],
            tmp_path,
            monkeypatch,
        )
