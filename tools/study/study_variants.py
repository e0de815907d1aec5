"""Variants of WPPG (explicit actor) that only the study needs (docs/experiments.md): each one
bridges one component from WPPG toward SAC. The script is wppg_continuous_action.py with some of its
functions replaced; everything else, flags included, is the script's.

    python -m tools.study.study_variants --variants soft-target -- --entropy-scale 0.2 ...
    python -m tools.study.study_variants --variants soft-target sac-actor -- --eta 1e-6 ...  # SAC
    python -m tools.study.study_variants --variants soft-target sac-actor online-actor -- ...

  soft-target     the critic target subtracts lambda log pi(a'|s') (SAC's soft target; the explicit
                  actor's closed-form tanh-Gaussian density, App. D.1, before the heat noise)
  entropy-reward  store r + lambda H(s) with the nearest-neighbour estimate, as WPPG-I does
                  (App. D.1)
  online-actor    the critic target samples next actions from the online actor, as SAC does,
                  instead of the paper's Polyak target actor (App. D.2.2)
  sac-actor       SAC's actor loss, mean_k [lambda log pi(a_k|s) - min Q(s, a_k)] over K
                  reparameterised samples, in place of action-gradient matching (the heat noise
                  then only acts when sampling: pass a tiny --eta to remove it)
  closed-form-heat
                  the heat step in closed form, accumulated in the actor (docs/heat_step.md): the K
                  samples of each state are moved along grad_a Q (at the samples themselves), then
                  widened along their principal axes so that their covariance grows by
                  2 lambda eta I, the convolution N(m, C) * N(0, 2 lambda eta I) = N(m, C +
                  2 lambda eta I), all in actions normalised to [-1, 1]; the actor is regressed
                  onto them (same noise). No noise is added when acting or in the critic target:
                  the actor's own spread carries the heat. Works for either actor.
  implicit-actor  run WPPG-I (wppg_implicit_continuous_action.py) instead of WPPG; only with
                  closed-form-heat"""

import argparse
import math
import sys

import torch
import tyro

from tools import load_script  # noqa: E402

wppg = load_script("wppg_continuous_action.py")
built_actors = []  # every Actor the script builds, in order: main builds the online actor first


class RecordedActor(wppg.Actor):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        built_actors.append(self)


def sample_with_log_prob(actor, obs, noise):
    """Actions (B, K, d) of the explicit actor for the given noise, and their log-density under the
    tanh-Gaussian."""
    mean, log_std = actor.net(obs.unsqueeze(1)).chunk(2, dim=-1)
    log_std = wppg.LOG_STD_MIN + 0.5 * (wppg.LOG_STD_MAX - wppg.LOG_STD_MIN) * (
        torch.tanh(log_std) + 1
    )
    u = mean + log_std.exp() * noise
    actions = actor.low + (actor.high - actor.low) * (torch.tanh(u) + 1) / 2
    log_gauss = -0.5 * noise.pow(2) - log_std - 0.5 * math.log(2 * math.pi)
    da_du = (actor.high - actor.low) / 2 * (1 - torch.tanh(u).pow(2))
    log_jacobian = torch.log(da_du + 1e-6)
    return actions, (log_gauss - log_jacobian).sum(-1)


def soft_critic_target(lam):
    def critic_target(data, target_actor, qf_target, heat_std, args):
        with torch.no_grad():
            next_obs, K = data.next_obs, args.num_action_samples
            noise = torch.randn(
                next_obs.shape[0], K, target_actor.noise_dim, device=next_obs.device
            )
            next_actions, log_prob = sample_with_log_prob(target_actor, next_obs, noise)
            next_actions = wppg.heat_step(
                next_actions, heat_std, target_actor.low, target_actor.high
            )
            next_q = qf_target(next_obs, next_actions)
            next_q = next_q[0] if args.single_q else next_q.min(dim=0).values
            soft = (next_q - lam * log_prob).mean(dim=1)
            return data.rewards + args.gamma * (1 - data.terminations) * soft

    return critic_target


def sac_actor_loss(lam):
    def matching_loss(obs, actor, qf, heat_std, args):
        noise = torch.randn(
            obs.shape[0], args.num_action_samples, actor.noise_dim, device=obs.device
        )
        actions, log_prob = sample_with_log_prob(actor, obs, noise)
        q = qf(obs, actions)
        q = q[0] if args.single_q else q.min(dim=0).values
        return (lam * log_prob - q).mean(), actions.detach()

    return matching_loss


def online_actor_target(critic_target):
    """The given critic target, with next actions from the online actor in place of the target
    actor."""

    def with_online_actor(data, target_actor, *rest):
        return critic_target(data, built_actors[0], *rest)

    return with_online_actor


def entropy_reward(lam, num_samples, eta):
    """A replay buffer that adds lam * H(s) to each stored reward, H from the online actor."""

    class ReplayBuffer(wppg.ReplayBuffer):
        def add(self, obs, next_obs, actions, rewards, terminations):
            actor = built_actors[0]
            heat_std = (2 * lam * eta) ** 0.5 * (actor.high - actor.low) / 2
            x = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
            bonus = lam * wppg.entropy_estimate(x, actor, num_samples, heat_std).cpu().numpy()
            super().add(obs, next_obs, actions, rewards + bonus, terminations)

    return ReplayBuffer


def closed_form_heat(moved, heat_var, half_range):
    """The heat step as the W2-optimal map of each state's K samples onto a Gaussian convolved with
    N(0, heat_var I): deviations from the mean scaled along the principal axes by
    sqrt(1 + heat_var / variance). In actions normalised to [-1, 1]: (B, K, d) -> (B, K, d)."""
    u = moved / half_range
    mean = u.mean(dim=1, keepdim=True)
    var, axes = torch.linalg.eigh((u - mean).mT @ (u - mean) / (u.shape[1] - 1))
    scale = (1 + heat_var / var.clamp_min(1e-12)).sqrt().unsqueeze(1)  # (B, 1, d)
    return (mean + (((u - mean) @ axes) * scale) @ axes.mT) * half_range


def closed_form_transport(obs, actor, qf, noise, heat_std, args):
    """transport_targets with the heat step in closed form: move each sample along grad_a Q at
    itself (eta in half-ranges, as the script), then widen them (closed_form_heat)."""
    with torch.no_grad():
        actions = actor(obs.unsqueeze(1), noise)  # (B, K, act_dim)
    at = actions.clone().requires_grad_(True)
    q = qf(obs, at)
    q = q[0] if args.single_q else q.min(dim=0).values
    (grad,) = torch.autograd.grad(q.sum(), at)
    moved = actions + args.eta * actor.half_range**2 * grad
    targets = closed_form_heat(moved, 2 * args.entropy_scale * args.eta, actor.half_range)
    margin = 1e-3 * (actor.high - actor.low)
    return actions, targets.clamp(actor.low + margin, actor.high - margin)


def no_added_noise(args, actor):
    """heat_noise_std for closed-form-heat: the actor's samples already carry the heat."""
    return torch.zeros_like(actor.half_range)


def use_closed_form_heat(module):
    """Patch a script module (either actor) to the closed-form heat step."""
    module.transport_targets, module.heat_noise_std = closed_form_transport, no_added_noise


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        required=True,
        choices=[
            "soft-target",
            "entropy-reward",
            "sac-actor",
            "online-actor",
            "closed-form-heat",
            "implicit-actor",
        ],
    )
    opts, rest = parser.parse_known_args()
    if "implicit-actor" in opts.variants:
        if set(opts.variants) != {"implicit-actor", "closed-form-heat"}:
            sys.exit("error: --variants implicit-actor goes with closed-form-heat alone")
        implicit = load_script("wppg_implicit_continuous_action.py")
        args = tyro.cli(implicit.Args, args=[a for a in rest if a != "--"])
        use_closed_form_heat(implicit)
        args.exp_name = "wppg_implicit_closed-form-heat"
        return implicit.main(args)
    args = tyro.cli(wppg.Args, args=[a for a in rest if a != "--"])
    lam = args.entropy_scale
    wppg.Actor = RecordedActor
    if "soft-target" in opts.variants:
        wppg.critic_target = soft_critic_target(lam)
    if "sac-actor" in opts.variants:
        wppg.matching_loss = sac_actor_loss(lam)
    if "online-actor" in opts.variants:
        wppg.critic_target = online_actor_target(wppg.critic_target)
    if "entropy-reward" in opts.variants:
        wppg.ReplayBuffer = entropy_reward(lam, args.entropy_samples, args.eta)
    if "closed-form-heat" in opts.variants:
        use_closed_form_heat(wppg)
    args.exp_name = "wppg_" + "+".join(opts.variants)
    wppg.main(args)


if __name__ == "__main__":
    main()
