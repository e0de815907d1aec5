"""A learning smoke test: at its defaults, WPPG learns InvertedDoublePendulum-v5 within 10,000
steps, where the rank coupling (the former default; its failure in docs/heat_step.md) does not.

The budget is the smallest that separates the two on the runs in docs/heat_step/idp/: at 10,000
steps pointwise evaluated 2,043 to 9,360 (5 seeds) and rank 359 to 379 (2 seeds); at 5,000 steps no
variant, SAC included, passed 600. The rank case must fail the same check (a strict xfail), so every
run shows that the test can fail."""

import pytest
from conftest import only_run_dir, run_script, scalars

STEPS, THRESHOLD = 10_000, 1_000
RANK_FAILS = pytest.mark.xfail(
    raises=AssertionError, strict=True, reason="rank's targets diverge on steep critics"
)


@pytest.mark.parametrize("matching", ["pointwise", pytest.param("rank", marks=RANK_FAILS)])
def test_default_learns_inverted_double_pendulum(matching, tmp_path):
    flags = ["--env-id", "InvertedDoublePendulum-v5", "--seed", 1, "--matching", matching,
             "--total-timesteps", STEPS, "--learning-starts", 1000,
             "--eval-frequency", STEPS]  # fmt: skip
    result = run_script("wppg_continuous_action.py", *flags, cwd=tmp_path, timeout=1200)
    if result.returncode != 0:  # a crash is not the expected failure: raise something else
        raise RuntimeError(result.stderr)
    ((step, final),) = scalars(only_run_dir(tmp_path))["eval/episodic_return"]
    assert step == STEPS
    assert final > THRESHOLD, f"{matching}: evaluation return {final:.0f} after {STEPS} steps"
