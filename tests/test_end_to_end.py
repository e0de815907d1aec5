"""Each script end to end on Hopper-v5 as a user runs it: training, logs, saved model, W&B
offline."""

import math

from conftest import SMALL, only_run_dir, run_script, scalars


def test_train_log_save_load_track(script, tmp_path):
    result = run_script(
        script,
        "--env-id",
        "Hopper-v5",
        "--total-timesteps",
        1000,
        "--learning-starts",
        400,
        "--eval-frequency",
        500,
        "--save-model",
        "--track",
        *SMALL,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    run_dir = only_run_dir(tmp_path)
    logged = scalars(run_dir)
    for tag in [
        "charts/episodic_return",
        "losses/qf1_loss",
        "losses/qf2_loss",
        "losses/actor_loss",
        "charts/SPS",
        "charts/action_std",
        "charts/executed_action_std",
        "charts/entropy_estimate",
        "eval/episodic_return",
    ]:
        assert tag in logged, f"{tag} missing; logged: {sorted(logged)}"
    # updates ran from step 400 on: losses logged at 400, 450, ..., 950, all finite
    assert [step for step, _ in logged["losses/qf1_loss"]] == list(range(400, 1000, 50))
    assert all(math.isfinite(value) for _, value in logged["losses/actor_loss"])
    assert [step for step, _ in logged["eval/episodic_return"]] == [500, 1000]
    assert list(
        (tmp_path / "wandb").glob("offline-run-*")
    ), "--track with WANDB_MODE=offline wrote no W&B run"

    (model,) = run_dir.glob("*.cleanrl_model")
    loaded = run_script(
        script, "--load-model", model, "--eval-episodes", 2, "--capture-video", cwd=tmp_path
    )
    assert loaded.returncode == 0, loaded.stderr
    assert "mean return over 2 episodes" in loaded.stdout
    assert list((tmp_path / "videos").glob("*/*.mp4")), "--capture-video wrote no video"


def test_same_seed_same_returns_pointwise_matching(script, tmp_path):
    logs = []
    for attempt in ["a", "b"]:
        (tmp_path / attempt).mkdir()
        result = run_script(
            script,
            "--env-id",
            "InvertedPendulum-v5",
            "--total-timesteps",
            600,
            "--learning-starts",
            200,
            "--seed",
            7,
            "--matching",
            "pointwise",
            *SMALL,
            cwd=tmp_path / attempt,
        )
        assert result.returncode == 0, result.stderr
        logs.append(scalars(only_run_dir(tmp_path / attempt)))
    assert (
        len(logs[0]["charts/episodic_return"]) > 10
    )  # many episodes, most of them after learning started
    assert logs[0]["charts/episodic_return"] == logs[1]["charts/episodic_return"]
    for chart in [
        "charts/action_std",
        "charts/executed_action_std",
        "charts/entropy_estimate",
    ]:  # policy_charts:
        assert logs[0][chart] and all(
            math.isfinite(value) for _, value in logs[0][chart]
        )  # test_math checks values
