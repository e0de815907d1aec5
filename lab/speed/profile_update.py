r"""Where one update's time goes: torch.profiler over the scripts' own pieces (critic target, critic
loss, matching, Polyak update) on random data at an env's sizes, K = 32, batch 256, one thread
(docs/speed.md).

    python -m lab.speed.profile_update --env-id Walker2d-v5 \
        [--script wppg_implicit_continuous_action.py]"""

import argparse
import time

import gymnasium as gym
import torch
from torch.profiler import ProfilerActivity, profile

import run_utils
from lab import load_script, resolved_args  # noqa: E402


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env-id", default="Walker2d-v5")
    parser.add_argument("--script", default="wppg_continuous_action.py")
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--matching", default="pointwise", choices=["pointwise", "closed-form"])
    opts = parser.parse_args()
    torch.set_num_threads(1)
    m = load_script(opts.script)
    args = resolved_args(m, env_id=opts.env_id, matching=opts.matching)
    env = gym.make(opts.env_id)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    extra = [args.latent_dim, args.eval_samples] if hasattr(args, "latent_dim") else []
    actor, target_actor = (
        m.Actor(obs_dim, env.action_space, args.hidden_sizes, args.activation, *extra) for _ in "ab"
    )
    qf, qf_target = (
        m.TwinQNetworks(obs_dim, act_dim, args.hidden_sizes, args.activation) for _ in "ab"
    )
    for target in (target_actor, qf_target):
        target.requires_grad_(False)
    q_optimizer, actor_optimizer = (
        torch.optim.Adam(qf.parameters()),
        torch.optim.Adam(actor.parameters()),
    )
    B = args.batch_size
    heat_std = (2 * args.entropy_scale * args.eta) ** 0.5 * (actor.high - actor.low) / 2
    obs, next_obs, rewards, terminations = (
        torch.randn(B, obs_dim),
        torch.randn(B, obs_dim),
        torch.randn(B),
        torch.zeros(B),
    )
    actions = torch.rand(B, act_dim) * 2 - 1
    online, targets = (
        [*actor.parameters(), *qf.parameters()],
        [*target_actor.parameters(), *qf_target.parameters()],
    )
    data = run_utils.Batch(obs, next_obs, actions, rewards, terminations)

    def update():
        y = m.critic_target(data, target_actor, qf_target, heat_std, args)
        loss = (qf(obs, actions.unsqueeze(1))[..., 0] - y).pow(2).mean(1).sum()
        q_optimizer.zero_grad()
        loss.backward()
        q_optimizer.step()
        actor_loss, _ = m.matching_loss(obs, actor, qf, heat_std, args)
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
    print(
        f"{opts.script} {opts.matching}, {opts.env_id}, hidden {args.hidden_sizes} "
        f"{args.activation}: "
        f"{(time.perf_counter() - start) / opts.updates * 1000:.1f} ms per update"
    )
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(20):
            update()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
