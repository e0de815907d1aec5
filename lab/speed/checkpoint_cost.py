"""Size of a full checkpoint and the time to write it, at a given replay-buffer fill, for the
explicit script.

    python -m lab.speed.checkpoint_cost --env-id Humanoid-v5 --fill 1000000

Builds the networks and optimizers at the paper's defaults for the env, fills the replay buffer with
`fill` random transitions, and writes the same dict the script writes (run_utils.save_atomically:
temporary file, then rename)."""

import argparse
import os
import tempfile
import time

import gymnasium as gym
import numpy as np
import torch

import run_utils  # noqa: E402
from lab import load_script  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--env-id", default="Hopper-v5")
    parser.add_argument(
        "--fill", type=int, default=1_000_000, help="transitions in the replay buffer"
    )
    parser.add_argument(
        "--dir", default=tempfile.gettempdir(), help="where to write the checkpoint"
    )
    opts = parser.parse_args()
    w = load_script("wppg_continuous_action.py")
    args = run_utils.resolve_defaults(w.Args(env_id=opts.env_id))
    env = gym.make(opts.env_id)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    actor, target_actor = (
        w.Actor(obs_dim, env.action_space, args.hidden_sizes, args.activation) for _ in range(2)
    )
    qf, qf_target = (
        w.TwinQNetworks(obs_dim, act_dim, args.hidden_sizes, args.activation) for _ in range(2)
    )
    q_optimizer, actor_optimizer = (
        torch.optim.Adam(qf.parameters()),
        torch.optim.Adam(actor.parameters()),
    )
    for optimizer, net in [
        (q_optimizer, qf),
        (actor_optimizer, actor),
    ]:  # Adam state exists after a first step
        sum(p.sum() for p in net.parameters()).backward()
        optimizer.step()
    rb = run_utils.ReplayBuffer(opts.fill, obs_dim, act_dim, torch.device("cpu"))
    for name in run_utils.Batch._fields:
        getattr(rb, name).normal_()
    rb.pos, rb.full = 0, True
    state = {
        "step": opts.fill,
        "actor": actor.state_dict(),
        "target_actor": target_actor.state_dict(),
        "qf": qf.state_dict(),
        "qf_target": qf_target.state_dict(),
        "q_optimizer": q_optimizer.state_dict(),
        "actor_optimizer": actor_optimizer.state_dict(),
        "replay_buffer": rb.state_dict(),
        "rng": {"numpy": np.random.get_state(), "torch": torch.get_rng_state()},
    }
    path = os.path.join(opts.dir, "checkpoint_cost.pt")
    start = time.perf_counter()
    run_utils.save_atomically(state, path)
    seconds = time.perf_counter() - start
    print(
        f"{opts.env_id}, {opts.fill:,} transitions: checkpoint "
        f"{os.path.getsize(path) / 2**30:.2f} GiB, "
        f"written in {seconds:.1f} s"
    )
    os.remove(path)


if __name__ == "__main__":
    main()
