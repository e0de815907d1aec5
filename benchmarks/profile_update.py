"""Where one update's time goes: torch.profiler over the scripts' own pieces (critic target, critic loss, matching,
Polyak update) on random data at an env's sizes, K = 32, batch 256, one thread (README: Speed).

    python benchmarks/profile_update.py --env-id Walker2d-v5 [--script wppg_implicit_continuous_action.py] [--ref f04e61d]

--ref profiles the scripts as of a git commit instead of the working tree (their matching_loss may lack --matching).
"""
import argparse
import inspect
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import torch
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from conftest import load_script  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-id", default="Walker2d-v5")
    parser.add_argument("--script", default="wppg_continuous_action.py")
    parser.add_argument("--ref", default=None, help="git ref of the script to profile (default: the working tree)")
    parser.add_argument("--updates", type=int, default=50)
    opts = parser.parse_args()
    torch.set_num_threads(1)
    if opts.ref:
        path = Path(tempfile.mkdtemp()) / opts.script
        path.write_text(subprocess.run(["git", "show", f"{opts.ref}:{opts.script}"], cwd=ROOT, capture_output=True,
                                       text=True, check=True).stdout)
        spec = __import__("importlib.util").util.spec_from_file_location("profiled", path)
        m = __import__("importlib.util").util.module_from_spec(spec)
        spec.loader.exec_module(m)
    else:
        m = load_script(opts.script)
    args = m.resolve_defaults(m.Args(env_id=opts.env_id))
    env = gym.make(opts.env_id)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    extra = [args.latent_dim] if hasattr(args, "latent_dim") else []
    actor, target_actor = (m.Actor(obs_dim, env.action_space, args.hidden_sizes, args.activation, *extra) for _ in "ab")
    qf, qf_target = (m.SoftQNetworks(obs_dim, act_dim, args.hidden_sizes, args.activation) for _ in "ab")
    for target in (target_actor, qf_target):
        target.requires_grad_(False)
    q_optimizer, actor_optimizer = torch.optim.Adam(qf.parameters()), torch.optim.Adam(actor.parameters())
    B, K, heat_std = 256, 32, (2 * args.entropy_scale * args.eta) ** 0.5
    obs, next_obs, rewards, terminations = torch.randn(B, obs_dim), torch.randn(B, obs_dim), torch.randn(B), torch.zeros(B)
    actions = torch.rand(B, act_dim) * 2 - 1
    online, targets = [*actor.parameters(), *qf.parameters()], [*target_actor.parameters(), *qf_target.parameters()]
    matching_flags = {"matching": args.matching} if "matching" in inspect.signature(m.matching_loss).parameters else {}

    def update():
        y = m.critic_target(next_obs, rewards, terminations, target_actor, qf_target, args.gamma, K, heat_std, False)
        loss = (qf(obs, actions.unsqueeze(1))[..., 0] - y).pow(2).mean(1).sum()
        q_optimizer.zero_grad()
        loss.backward()
        q_optimizer.step()
        actor_loss, _ = m.matching_loss(obs, actor, qf, args.eta, K, heat_std, False, **matching_flags)
        actor_optimizer.zero_grad()
        actor_loss.backward()
        actor_optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(targets, online, args.tau)

    for _ in range(10):
        update()
    start = time.perf_counter()
    for _ in range(opts.updates):
        update()
    print(f"{opts.script} {opts.ref or 'working tree'}, {opts.env_id}, hidden {args.hidden_sizes} {args.activation}: "
          f"{(time.perf_counter() - start) / opts.updates * 1000:.1f} ms per update")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(20):
            update()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
