"""WPPG-I's evaluation action (lab/experiments.md §3.7): saved WPPG-I models evaluated with the
seeds of training's evaluations at z = 0, at the mean of K actions f(s, z_k) for each K given (the
scripts' evaluation, --eval-samples), and at one sampled z (no heat noise). With --error, also the
mean action's Monte Carlo error: the RMS distance, in half-ranges, between the mean of K actions
and the mean of 4,096 at the states of the z = 0 episodes, and the actor's own spread there.

    python -m lab.study.eval_latent runs/*/wppg_implicit_continuous_action.cleanrl_model
    python -m lab.study.eval_latent MODEL --samples 1 4 16 64 --error
"""

import argparse

import gymnasium as gym
import numpy as np
import torch

import run_utils  # noqa: E402
from lab import load_script  # noqa: E402


def policies(actor, samples):
    """The evaluation actions of an implicit actor: obs (1, obs_dim) -> (1, act_dim)."""

    def mean_of(k):
        def mean(x):
            return actor(x.unsqueeze(1), torch.randn(x.shape[0], k, actor.noise_dim)).mean(dim=1)

        return mean

    def sampled(x):
        return actor(x, torch.randn(x.shape[0], actor.noise_dim))

    means = {f"mean of {k}": mean_of(k) for k in samples}
    return {"z = 0": actor.z0_action, **means, "sampled z": sampled}


def mean_action_error(actor, env_id, seed, samples, steps=500):
    """{K: RMS error of the K-sample mean action}, and the own spread, in half-ranges, over the
    states of one z = 0 episode (up to `steps`)."""
    env, states = gym.make(env_id), []
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        states.append(obs)
        with torch.no_grad():
            action = actor.z0_action(torch.as_tensor(obs, dtype=torch.float32)[None])[0]
        obs, _, terminated, truncated, _ = env.step(action.numpy())
        if terminated or truncated:
            break
    x = torch.as_tensor(np.array(states), dtype=torch.float32).unsqueeze(1)
    half = actor.half_range
    with torch.no_grad():
        draws = actor(x, torch.randn(len(states), 4096, actor.noise_dim))
        exact, spread = draws.mean(dim=1), (draws.std(dim=1) / half).mean().item()
        errors = {}
        for k in samples:
            mean = actor(x, torch.randn(len(states), k, actor.noise_dim)).mean(dim=1)
            errors[k] = ((mean - exact) / half).pow(2).sum(-1).mean().sqrt().item()
    return errors, spread


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="python -m lab.study.eval_latent MODEL [MODEL ...] [--samples K ...] [--error]",
    )
    parser.add_argument("models", nargs="+", help="models saved by WPPG-I's --save-model")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--samples", nargs="+", type=int, default=[32], help="K for the mean")
    parser.add_argument("--error", action="store_true", help="also the mean's Monte Carlo error")
    opts = parser.parse_args()
    if opts.episodes < 1 or min(opts.samples) < 1:
        parser.error("--episodes and --samples must be positive")
    script = load_script("wppg_implicit_continuous_action.py")
    names = ["z = 0", *(f"mean of {k}" for k in opts.samples), "sampled z"]
    print("| model | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for path in opts.models:
        try:
            saved = torch.load(path, map_location="cpu")
            env = gym.make(saved["args"]["env_id"])
            actor = script.build_actor(env.observation_space, env.action_space, saved["args"])
            actor.load_state_dict(saved["actor"])
        except Exception as error:
            parser.error(f"{path}: not a model saved by WPPG-I's --save-model ({error})")
        seed, env_id = saved["args"]["seed"] + run_utils.EVAL_SEED_OFFSET, saved["args"]["env_id"]
        returns = [
            run_utils.evaluate(policy, env_id, opts.episodes, seed, torch.device("cpu"))
            for policy in policies(actor, opts.samples).values()
        ]
        print(f"| {path} | " + " | ".join(f"{r:.1f}" for r in returns) + " |", flush=True)
        if opts.error:
            torch.manual_seed(0)
            errors, spread = mean_action_error(actor, env_id, seed, opts.samples)
            cells = ", ".join(f"K={k}: {e:.4f}" for k, e in errors.items())
            print(f"|  | own spread {spread:.4f}; RMS error of the mean action: {cells} |")


if __name__ == "__main__":
    main()
