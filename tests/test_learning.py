"""A learning smoke test: at its defaults, WPPG learns InvertedDoublePendulum-v5 within 10,000
steps, where the rank coupling (the former default; its failure in docs/heat_step.md) does not.

The budget is the smallest that separates the two on the runs in docs/heat_step/idp/: at 10,000
steps pointwise evaluated 2,043 to 9,360 (5 seeds) and rank 359 to 379 (2 seeds); at 5,000 steps no
variant, SAC included, passed 600. Rank must fail the same check, so every run shows that the check
can fail. The two runs go side by side, one core each."""

from conftest import only_run_dir, scalars, start_script

STEPS, THRESHOLD = 10_000, 1_000


def test_default_learns_inverted_double_pendulum_where_rank_does_not(tmp_path):
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
    for matching in ["pointwise", "rank"]:
        (tmp_path / matching).mkdir()
        runs[matching] = start_script(
            "wppg_continuous_action.py", *flags, "--matching", matching, cwd=tmp_path / matching
        )
    final = {}
    try:
        for matching, process in runs.items():
            _, stderr = process.communicate(timeout=1200)
            assert process.returncode == 0, stderr
            ((step, final[matching]),) = scalars(only_run_dir(tmp_path / matching))[
                "eval/episodic_return"
            ]
            assert step == STEPS
    finally:  # a failed or timed-out first run does not leave the second one running
        for process in runs.values():
            process.kill()
    assert final["pointwise"] > THRESHOLD, f"pointwise: evaluation return {final['pointwise']:.0f}"
    assert final["rank"] < THRESHOLD, f"rank learned ({final['rank']:.0f}): the check cannot fail"
