"""WPPG-I's evaluation action (docs/heat_step.md): the scripts evaluate f(s, 0), which need
not be the mode or the mean of the policy. This evaluates saved WPPG-I models three ways, with the
seeds of training's evaluations: z = 0, the mean of K actions f(s, z_k), and one sampled z (no heat
noise).

    python -m tools.study.eval_latent runs/*/wppg_implicit_continuous_action.cleanrl_model
"""

import argparse

import gymnasium as gym
import torch

import run_utils  # noqa: E402
from tools import load_script  # noqa: E402


def policies(actor, samples):
    """The three evaluation actions of an implicit actor: obs (1, obs_dim) -> (1, act_dim)."""

    def mean(x):
        return actor(x.unsqueeze(1), torch.randn(x.shape[0], samples, actor.noise_dim)).mean(dim=1)

    def sampled(x):
        return actor(x, torch.randn(x.shape[0], actor.noise_dim))

    return {"z = 0": actor.deterministic, f"mean of {samples}": mean, "sampled z": sampled}


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="python -m tools.study.eval_latent MODEL [MODEL ...] [--episodes N] [--samples K]",
    )
    parser.add_argument("models", nargs="+", help="models saved by WPPG-I's --save-model")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--samples", type=int, default=32, help="K for the mean action")
    opts = parser.parse_args()
    script = load_script("wppg_implicit_continuous_action.py")
    print(f"| model | z = 0 | mean of {opts.samples} | sampled z |")
    print("|---|---|---|---|")
    for path in opts.models:
        try:
            saved = torch.load(path, map_location="cpu")
            env = gym.make(saved["args"]["env_id"])
            actor = script.build_actor(env.observation_space, env.action_space, saved["args"])
            actor.load_state_dict(saved["actor"])
        except Exception as error:
            parser.error(f"{path}: not a model saved by WPPG-I's --save-model ({error})")
        torch.manual_seed(0)
        seed, env_id = saved["args"]["seed"] + run_utils.EVAL_SEED_OFFSET, saved["args"]["env_id"]
        returns = [
            run_utils.evaluate(policy, env_id, opts.episodes, seed, torch.device("cpu"))
            for policy in policies(actor, opts.samples).values()
        ]
        print(f"| {path} | " + " | ".join(f"{r:.1f}" for r in returns) + " |", flush=True)


if __name__ == "__main__":
    main()
