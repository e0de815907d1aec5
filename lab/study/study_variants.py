"""Variants of WPPG (explicit actor) that only the study needs (lab/experiments.md): each one
bridges one component from WPPG toward SAC. The script is wppg_continuous_action.py with some of its
functions replaced; everything else, flags included, is the script's.

    python -m lab.study.study_variants --variants soft-target -- --entropy-scale 0.2 ...
    python -m lab.study.study_variants --variants soft-target sac-actor -- --eta 1e-6 ...  # SAC
    python -m lab.study.study_variants --variants soft-target sac-actor online-actor -- ...

  soft-target     the critic target subtracts lambda log pi(a'|s') (SAC's soft target; the explicit
                  actor's closed-form tanh-Gaussian density, App. D.1, before the heat noise)
  entropy-reward  store r + lambda H(s) with the nearest-neighbour estimate, as WPPG-I does
                  (App. D.1)
  online-actor    the critic target samples next actions from the online actor, as SAC does,
                  instead of the paper's Polyak target actor (App. D.2.2)
  sac-actor       SAC's actor loss, mean_k [lambda log pi(a_k|s) - min Q(s, a_k)] over K
                  reparameterised samples, in place of action-gradient matching (the heat noise
                  then only acts when sampling: pass a tiny --eta to remove it)
  rank, coupled   the actor updates the scripts no longer carry (docs/heat_step.md): "coupled" pairs
                  the heat-noised samples with the actor's by rank along their principal axes and
                  regresses each onto its partner's moved copy; "rank" pairs after moving and
                  diverges on steep critics. Either actor.
  single-q        Q1 alone instead of min(Q1, Q2) in the target and the action gradient. Either
                  actor.
  compile         torch.compile the critic target and the matching loss. Either actor.
  implicit-actor  run WPPG-I (wppg_implicit_continuous_action.py) instead of WPPG; only with the
                  variants marked "either actor". The closed-form heat step is the scripts' own
                  --matching closed-form."""

import argparse
import math
import sys

import torch
import tyro

from lab import load_script  # noqa: E402

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
            next_q = next_q.min(dim=0).values
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
        q = q.min(dim=0).values
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

    class ReplayBuffer(wppg.run_utils.ReplayBuffer):
        def add(self, obs, next_obs, actions, rewards, terminations):
            actor = built_actors[0]
            heat_std = (2 * lam * eta) ** 0.5 * (actor.high - actor.low) / 2
            x = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
            bonus = lam * wppg.entropy_estimate(x, actor, num_samples, heat_std).cpu().numpy()
            super().add(obs, next_obs, actions, rewards + bonus, terminations)

    return ReplayBuffer


def rank_coupling(samples, targets):
    """Pair the K samples of each state with the K targets rank by rank in each dimension, the
    W2-optimal coupling of every 1-D marginal: (B, K, d), (B, K, d) -> targets reordered."""
    order = samples.argsort(dim=1)  # order[r]: the sample of rank r; it gets the target of rank r
    return torch.empty_like(targets).scatter_(1, order, targets.sort(dim=1).values)


def heat_coupling(samples, noisy, half):
    """The heat step as a map of the actor's samples: the heat-noised ones paired with them by rank
    along the principal axes of each state's normalised samples (W2-optimal for a Gaussian)."""
    samples, noisy = samples / half, noisy / half
    centred = samples - samples.mean(dim=1, keepdim=True)
    axes = torch.linalg.eigh(centred.mT @ centred)[1]  # (B, d, d), orthonormal columns
    return rank_coupling(samples @ axes, noisy @ axes) @ axes.mT * half


def coupled_transport(module, kind):
    """The script's transport_targets with the "coupled" or "rank" pairing, as the scripts had it
    before 2026-12 (bit for bit, for the same random numbers)."""

    def transport_targets(obs, actor, qf, noise, heat_std, args):
        with torch.no_grad():
            actions = actor(obs.unsqueeze(1), noise)  # (B, K, act_dim)
            noisy = module.heat_step(actions, heat_std, actor.low, actor.high)
            if kind == "coupled":  # the heat step as a map of each sample
                noisy = heat_coupling(actions, noisy, actor.half_range)
                noisy = noisy.clamp(actor.low, actor.high)
        noisy.requires_grad_(True)
        q = qf(obs, noisy).min(dim=0).values
        (grad,) = torch.autograd.grad(q.sum(), noisy)
        moved = noisy.detach() + args.eta * actor.half_range**2 * grad
        targets = moved if kind == "coupled" else rank_coupling(actions, moved)
        margin = 1e-3 * (actor.high - actor.low)
        return actions, targets.clamp(actor.low + margin, actor.high - margin)

    return transport_targets


def single_q(module):
    """The script's twin critics with Q1 in both places, so that min(Q1, Q2) is Q1."""

    class SingleQ(module.TwinQNetworks):
        def forward(self, x, a):
            q1 = self.q1(x, a)
            return torch.stack([q1, q1])

    return SingleQ


BOTH_ACTORS = {"rank", "coupled", "single-q", "compile"}


def apply_either_actor(module, chosen):
    """Patch a script module (either actor) with the variants that apply to both."""
    for kind in ["rank", "coupled"]:
        if kind in chosen:
            module.transport_targets = coupled_transport(module, kind)
    if "single-q" in chosen:
        module.TwinQNetworks = single_q(module)
    if "compile" in chosen:
        module.critic_target = torch.compile(module.critic_target)
        module.matching_loss = torch.compile(module.matching_loss)


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
            *sorted(BOTH_ACTORS),
            "implicit-actor",
        ],
    )
    opts, rest = parser.parse_known_args()
    if {"rank", "coupled"} <= set(opts.variants):
        sys.exit("error: --variants rank and coupled are two pairings: choose one")
    if "implicit-actor" in opts.variants:
        if not set(opts.variants) - {"implicit-actor"} <= BOTH_ACTORS:
            sys.exit(
                "error: --variants implicit-actor goes only with " + ", ".join(sorted(BOTH_ACTORS))
            )
        implicit = load_script("wppg_implicit_continuous_action.py")
        args = tyro.cli(implicit.Args, args=[a for a in rest if a != "--"])
        chosen = [v for v in opts.variants if v != "implicit-actor"]
        apply_either_actor(implicit, chosen)
        args.exp_name = "wppg_implicit_" + "+".join(chosen)
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
        wppg.run_utils.ReplayBuffer = entropy_reward(lam, args.entropy_samples, args.eta)
    apply_either_actor(wppg, opts.variants)
    args.exp_name = "wppg_" + "+".join(opts.variants)
    wppg.main(args)


if __name__ == "__main__":
    main()
