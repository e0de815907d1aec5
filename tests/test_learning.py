"""A learning smoke test: at its defaults, WPPG learns InvertedDoublePendulum-v5 within 10,000
steps, where the same run without an update (--learning-starts 10,000, all else the same) does
not.

The budget is the smallest that separates learning from not learning on the runs in
lab/data/heat_step/idp/: at 10,000 steps pointwise evaluated 2,043 to 9,360 (5 seeds) and the former
default, rank matching, 359 to 379 (2 seeds; the lab holds that check); at 5,000 steps no variant,
SAC included, passed 600. The actor that is never updated must fail the same check, so every run
shows that the check can fail; it costs seconds (no update), where an actor frozen by a tiny
--policy-lr would cost a second run of the critic's 9,000 updates."""

import pytest
from conftest import only_run_dir, run_script, scalars, start_script

STEPS, THRESHOLD = 10_000, 1_000


def test_default_learns_inverted_double_pendulum_where_an_untrained_actor_does_not(tmp_path):
    flags = [
        "--env-id",
        "InvertedDoublePendulum-v5",
        "--seed",
        1,
        "--total-timesteps",
        STEPS,
        "--learning-starts",
        1000,
        "--eval-frequency",
        STEPS,
    ]
    runs = {}
    scripts = {"default": [], "untrained": ["--learning-starts", STEPS]}  # the last one counts
    for name, extra in scripts.items():
        (tmp_path / name).mkdir()
        runs[name] = start_script("wppg_continuous_action.py", *flags, *extra, cwd=tmp_path / name)
    final = {}
    try:
        for name, process in runs.items():
            _, stderr = process.communicate(timeout=1200)
            assert process.returncode == 0, stderr
            ((step, final[name]),) = scalars(only_run_dir(tmp_path / name))["eval/episodic_return"]
            assert step == STEPS
    finally:  # a failed or timed-out first run does not leave the second one running
        for process in runs.values():
            process.kill()
    assert final["default"] > THRESHOLD, f"default: evaluation return {final['default']:.0f}"
    assert (
        final["untrained"] < THRESHOLD
    ), f"the untrained actor passed ({final['untrained']:.0f}): the check can't fail"


SPREAD_CASES = [  # script, flags, the band of charts/action_std after 1,000 updates, measured
    ("wppg_continuous_action.py", [], (0.002, 0.03)),  # 0.0074: its sigma floor, e^-5
    (
        "wppg_implicit_continuous_action.py",
        ["--matching", "pointwise", "--entropy-scale", 1e-4],
        (0.002, 0.03),
    ),  # 0.0070
    ("wppg_implicit_continuous_action.py", [], (0.05, 1.0)),  # 0.154: closed-form, lambda 5e-2
]


@pytest.mark.parametrize(
    "script, extra, band", SPREAD_CASES, ids=["wppg", "wppg_i-pointwise", "wppg_i-default"]
)
def test_the_actors_own_spread_is_what_the_readme_says(script, extra, band, tmp_path):
    """What the README says the defaults are: WPPG's is a deterministic policy gradient, and so is
    WPPG-I under pointwise matching; WPPG-I's default (closed-form, lambda 5e-2) keeps a real
    spread. After 1,000 updates on InvertedPendulum-v5 (seed 1) the actor's own spread
    (charts/action_std, in half-ranges, the mean of the last five logs) lies in the band. A
    pointwise actor that keeps a spread leaves its band upwards; WPPG without its sigma floor, or a
    closed form whose heat does not accumulate, downwards."""
    flags = [
        "--env-id",
        "InvertedPendulum-v5",
        "--total-timesteps",
        2000,
        "--learning-starts",
        1000,
        "--eval-frequency",
        100_000,
        "--eval-episodes",
        1,
        "--log-frequency",
        100,
        "--seed",
        1,
    ]
    result = run_script(script, *flags, *extra, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    spread = [value for _, value in scalars(only_run_dir(tmp_path))["charts/action_std"][-5:]]
    assert band[0] <= sum(spread) / 5 <= band[1], spread
