r"""Speed benchmark: steady-state SPS of both scripts at the paper's defaults, against the plain
implementation (the scripts as of BASELINE_REF) and a plain matmul, all measured in this one run on
this machine.

    OMP_NUM_THREADS=1 python -m lab.speed.speed   # Hopper-v5, one thread, ~10 minutes
    OMP_NUM_THREADS=1 python -m lab.speed.speed --env-id Walker2d-v5 --baseline-ref f04e61d \
        --configs plain fp32 plain fp32
    python -m lab.speed.speed --configs fp32 bf16 --updates 100   # a subset

Each configuration trains for `learning_starts` random steps, then `updates` steps with one update
each; SPS is measured over the second half of the updates (compilation happens in the first), from
the log's wall times, at the scripts' default log frequency (100 steps); `charts10` logs the losses
and policy charts every 10 steps, to show what the charts cost apart. GFLOP/s counts the nominal
matmul FLOPs of one training step of the plain algorithm (same count for every variant, so GFLOP/s
ratios are speed ratios)."""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import torch

import benchmark_report
import run_utils
from lab import load_script, resolved_args

ROOT = Path(__file__).resolve().parents[2]

BASELINE_REF = (
    "46f95d1"  # the last commit before the speed work (plain nn.Linear critics, one per Q)
)
SCRIPTS = {"wppg": "wppg_continuous_action.py", "wppg_i": "wppg_implicit_continuous_action.py"}
# plain_malloc: the plain scripts with the allocator settings the scripts now make
# (manage_freed_memory), to
# separate that gain from the critics' restructuring
GLIBC_KEEP_FREED = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}
CONFIGS = {
    "plain": [],
    "plain_malloc": [],
    "fp32": [],
    "pointwise": ["--matching", "pointwise"],
    "bf16": ["--autocast", "bf16"],
    "charts10": ["--log-frequency", "10"],  # the default flags, losses and charts every 10 steps
}  # torch.compile left the scripts for lab/study/study_variants.py --variants compile (no gain)


def mlp_flops(sizes):
    """Forward matmul FLOPs of one row through an MLP with these layer sizes."""
    return 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def flops_per_step(name, obs_dim, act_dim, hidden, K=32, B=256):
    """Nominal FLOPs of one env step + one update (backward = 2x forward; input-only backward =
    1x)."""
    critic = mlp_flops([obs_dim + act_dim, *hidden, 1])
    if name == "wppg":
        actor, actor_rows = mlp_flops([obs_dim, *hidden, 2 * act_dim]), B
        per_env_step = actor
    else:
        latent = max(1, round(obs_dim / 3))
        actor, actor_rows = mlp_flops([obs_dim + latent, *hidden, act_dim]), B * K
        per_env_step = actor * (1 + 64)  # acting + entropy estimate on 64 samples
    target = actor * actor_rows + 2 * critic * B * K
    critic_loss = 3 * 2 * critic * B
    matching = actor * actor_rows + 2 * 2 * critic * B * K + 3 * actor * actor_rows
    return per_env_step + target + critic_loss + matching


def matmul_gflops(dtype, width, rows=8192, repeats=50):
    """The critics' hidden layer as the scripts run it: both critics' (B K, width) @ (width, width)
    in one bmm."""
    a, b = torch.randn(2, rows, width, dtype=dtype), torch.randn(2, width, width, dtype=dtype)
    for _ in range(5):
        torch.bmm(a, b)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.bmm(a, b)
    return 2 * 2 * rows * width * width * repeats / (time.perf_counter() - start) / 1e9


def steady_sps(script_path, env_id, flags, learning_starts, updates, workdir, extra_env=None):
    cmd = [
        sys.executable,
        str(script_path),
        "--env-id",
        env_id,
        "--total-timesteps",
        str(learning_starts + updates),
        "--learning-starts",
        str(learning_starts),
        "--eval-frequency",
        str(10**9),
        "--eval-episodes",
        "1",
        "--log-frequency",
        "100",  # the scripts' default: a config may log more often (charts10)
        "--no-cuda",
        *flags,
    ]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        **(extra_env or {}),
    }
    result = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    (run_dir,) = (Path(workdir) / "runs").iterdir()
    logged = benchmark_report.read_events(run_dir)[
        "losses/qf1_loss"
    ]  # SPS from the wall times of ...
    events = [e for e in logged if e.step >= learning_starts + updates // 2]  # ... the second half
    os.rename(run_dir, Path(workdir) / f"done_{time.time_ns()}")
    if len(events) < 2:
        sys.exit("error: too few logged steps to time; use --updates 400 or more")
    return (events[-1].step - events[0].step) / (events[-1].wall_time - events[0].wall_time)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env-id", default="Hopper-v5")
    parser.add_argument("--scripts", nargs="+", default=list(SCRIPTS), choices=list(SCRIPTS))
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument(
        "--updates", type=int, default=600, help="training steps per configuration (>= 400)"
    )
    parser.add_argument("--learning-starts", type=int, default=1000)
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="git ref of the plain scripts")
    parser.add_argument(
        "--memory-env-id", default="Humanoid-v5", help="env whose 1M replay buffer is measured"
    )
    opts = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    env = gym.make(opts.env_id)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    wppg = load_script(SCRIPTS["wppg"])
    hidden = run_utils.resolve_defaults(wppg.Args(env_id=opts.env_id)).hidden_sizes
    width = hidden[-1]
    fp32, bf16 = matmul_gflops(torch.float32, width), matmul_gflops(torch.bfloat16, width)
    print(
        f"threads={torch.get_num_threads()} matmul 2 x (8192x{width} @ {width}x{width}): fp32 "
        f"{fp32:.1f} GFLOP/s, "
        f"bf16 {bf16:.1f} GFLOP/s"
    )
    print(f"\n{opts.env_id}, K=32, batch 256, hidden {hidden}, {opts.updates} updates per config\n")
    print(
        "| script | config | SPS | ms/step | GFLOP/step | GFLOP/s | % of matmul | speedup vs "
        "plain |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in opts.scripts:
            baseline = Path(tmp) / f"plain_{SCRIPTS[name]}"
            baseline.write_text(
                subprocess.run(
                    ["git", "show", f"{opts.baseline_ref}:{SCRIPTS[name]}"],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            flops = flops_per_step(name, obs_dim, act_dim, hidden)
            plain_sps = None
            for config in opts.configs:
                path = baseline if config.startswith("plain") else ROOT / SCRIPTS[name]
                sps = steady_sps(
                    path,
                    opts.env_id,
                    CONFIGS[config],
                    opts.learning_starts,
                    opts.updates,
                    tmp,
                    GLIBC_KEEP_FREED if config == "plain_malloc" else None,
                )
                plain_sps = sps if config == "plain" else plain_sps
                rate = flops * sps / 1e9
                reference = bf16 if "bf16" in config else fp32
                ratio = f"{sps / plain_sps:.2f}x" if plain_sps else "n/a"
                print(
                    f"| {name} | {config} | {sps:.1f} | {1000 / sps:.0f} | {flops / 1e9:.2f} | "
                    f"{rate:.1f} | "
                    f"{100 * rate / reference:.0f} % | {ratio} |",
                    flush=True,
                )

    implicit = load_script(SCRIPTS["wppg_i"])
    args = resolved_args(implicit, env_id=opts.env_id)
    actor = implicit.Actor(
        obs_dim, env.action_space, args.hidden_sizes, args.activation, args.latent_dim, 16
    )
    obs = torch.randn(1, obs_dim)
    for _ in range(20):
        implicit.entropy_estimate(obs, actor, args.entropy_samples, 0.01)
    start = time.perf_counter()
    for _ in range(500):
        implicit.entropy_estimate(obs, actor, args.entropy_samples, 0.01)
    print(
        f"\nWPPG-I entropy estimate, one state, {args.entropy_samples} samples: "
        f"{(time.perf_counter() - start) / 500 * 1000:.2f} ms per env step"
    )

    env = gym.make(opts.memory_env_id)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rb = run_utils.ReplayBuffer(
        1_000_000, env.observation_space.shape[0], env.action_space.shape[0], torch.device("cpu")
    )
    for tensor in [rb.obs, rb.next_obs, rb.actions, rb.rewards, rb.terminations]:
        tensor.fill_(1.0)  # touch every page
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2**20
    print(
        f"\nreplay buffer, {opts.memory_env_id}, 1M transitions: peak RSS grew by {grown:.2f} GiB"
    )


if __name__ == "__main__":
    main()
