# WPPG-I: Wasserstein Proximal Policy Gradient (arXiv 2603.02576), implicit actor a = f(s, z).
# Each policy step is a Wasserstein proximal step split in two (§3.1): transport moves the
# actor's K sampled actions per state along the critic's action gradient and regresses the actor
# onto the moved samples (§3.2); the heat step adds the entropy term, as Gaussian noise
# N(0, 2 lambda eta I) on sampled actions or, in closed form, by widening the samples (§3.1 eq. 6).
# The critics learn a multi-sample double-Q target (App. D.2.2). The whole algorithm is in this
# file; the run machinery (checks, replay buffer, logs, checkpoints) is in run_utils.py.
import math
import os
import random
from dataclasses import dataclass
from typing import Annotated, Literal

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import tyro

import run_utils
from run_utils import COUNT, FRACTION, NON_NEGATIVE, PAIRS, POSITIVE, Rule, Tanh

HOLDS_A_BATCH = Rule(lambda v, args: v >= args.batch_size, "must be at least --batch-size")


@dataclass
class Args(run_utils.TrainArgs):
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment"""
    num_envs: Annotated[int, COUNT, run_utils.WITHIN_BUDGET] = 1
    """the number of parallel game environments (one gradient step per vector step)"""
    buffer_size: Annotated[int, COUNT, HOLDS_A_BATCH] = int(1e6)
    """the replay memory buffer size"""
    tau: Annotated[float, FRACTION] = 0.005
    """target smoothing coefficient (Polyak averaging of the target critics and target actor)"""
    batch_size: Annotated[int, COUNT] = 256
    """the batch size of sample from the replay memory"""
    policy_lr: Annotated[float, POSITIVE] = 1e-3
    """the learning rate of the policy network optimizer (the paper's, reconstructed: 3e-4)"""
    q_lr: Annotated[float, POSITIVE] = 1e-3
    """the learning rate of the Q network optimizer (the paper's, reconstructed: 3e-4)"""
    eta: Annotated[float, POSITIVE] = 0.1
    """Wasserstein step size eta of the transport step (§3.2); Adam cancels its scale in the actor
    update, so it acts through the heat: noise sqrt(2 lambda eta), or variance 2 lambda eta"""
    entropy_scale: Annotated[float, NON_NEGATIVE] = 5e-2
    """entropy scale lambda: the heat step convolves the policy with N(0, 2 lambda eta I) on actions
    normalised to [-1, 1] (§3.1 eq. 6): noise on every sampled action (pointwise) or each state's
    samples widened (closed-form)"""
    num_action_samples: Annotated[int, PAIRS] = 32
    """number K of action samples per state, for the critic target and for the actor update"""
    matching: Literal["pointwise", "closed-form"] = "closed-form"
    """actor update: "pointwise" regresses each sample onto its own moved copy, the heat noise
    added when sampling (§3.2, the paper's practical algorithm); "closed-form" moves the samples,
    then widens them so that their covariance grows by 2 lambda eta I (§3.1 eq. 6): the heat
    accumulates in the actor's own spread, and no noise is added when acting. Defaults (README):
    WPPG pointwise at lambda 1e-4; WPPG-I closed-form at 5e-2, chosen by a pre-registered test"""
    entropy_samples: Annotated[int, PAIRS] = 64
    """samples per state of the nearest-neighbour entropy estimate (charts/entropy_estimate)"""
    latent_dim: Annotated[int | None, COUNT] = None
    """size m of the actor's latent z ~ N(0, I_m) (default: round(obs_dim / 3), App. D.3)"""
    eval_samples: Annotated[int, COUNT, run_utils.NOT_TRAINING] = 16
    """evaluate the mean action over this many fresh latents (f(s, 0): eval/episodic_return_z0)"""
    autocast: Literal["off", "bf16"] = "off"
    """bf16: the K-sample critic passes under torch.autocast (Hopper: 1.5-2x on a bf16 CPU)"""


# ------------------------------------------------------------------------------------------------
# Networks (App. D.2)
# ------------------------------------------------------------------------------------------------
def mlp(in_dim, out_dim, hidden_sizes, activation, first_activation=False):
    act = nn.ReLU if activation == "relu" else Tanh
    layers = [act()] if first_activation else []
    for size in hidden_sizes:
        layers += [nn.Linear(in_dim, size), act()]
        in_dim = size
    return nn.Sequential(*layers, nn.Linear(in_dim, out_dim))


class QNetwork(nn.Module):
    """A critic Q(s, a) for K actions per state. Its first layer is split, W_s s + W_a a, so the
    state's part is computed once per state, not K times (1.95x on Humanoid's 348-wide state)."""

    def __init__(self, obs_dim, act_dim, hidden_sizes, activation):
        super().__init__()
        self.state_layer = nn.Linear(obs_dim, hidden_sizes[0])
        self.action_layer = nn.Linear(act_dim, hidden_sizes[0], bias=False)
        self.rest = mlp(hidden_sizes[0], 1, hidden_sizes[1:], activation, first_activation=True)

    def forward(self, x, a):
        """x: (B, obs_dim), a: (B, K, act_dim) -> Q values (B, K)."""
        return self.rest(self.state_layer(x).unsqueeze(1) + self.action_layer(a))[..., 0]


class TwinQNetworks(nn.Module):
    """The twin critics (App. D.2.2) -> (Q1, Q2), (2, B, K): a plain pair (stacking their weights
    for one batched matmul ran no faster on a CPU)."""

    def __init__(self, *sizes):
        super().__init__()
        self.q1, self.q2 = QNetwork(*sizes), QNetwork(*sizes)

    def forward(self, x, a):
        return torch.stack([self.q1(x, a), self.q2(x, a)])


class Actor(nn.Module):
    """Implicit actor (App. D.2.1): a = squash(f([s, z])), z ~ N(0, I_m); no density is needed."""

    def __init__(self, obs_dim, action_space, hidden_sizes, activation, latent_dim, eval_samples):
        super().__init__()
        act_dim = action_space.shape[0]
        self.noise_dim, in_dim, out_dim = latent_dim, obs_dim + latent_dim, act_dim  # noise: z
        self.eval_samples = eval_samples  # latents averaged by evaluation_action
        self.net = mlp(in_dim, out_dim, hidden_sizes, activation)
        self.register_buffer("low", torch.tensor(action_space.low, dtype=torch.float32))
        self.register_buffer("high", torch.tensor(action_space.high, dtype=torch.float32))
        self.register_buffer("half_range", (self.high - self.low) / 2, persistent=False)

    def forward(self, x, noise):
        """x: (..., 1 or K, obs_dim), noise: (..., K, noise_dim) -> actions (..., K, act_dim)."""
        u = self.net(torch.cat([x.expand(*noise.shape[:-1], -1), noise], -1))
        return self.low + (self.high - self.low) * (torch.tanh(u) + 1) / 2

    def evaluation_action(self, x):
        """The evaluation action: the policy's mean action, no heat noise. x: (N, obs_dim)."""
        z = torch.randn(x.shape[0], self.eval_samples, self.noise_dim, device=x.device)
        return self(x.unsqueeze(1), z).mean(dim=1)

    def z0_action(self, x):  # f(s, z = 0): one latent, not a summary of a stochastic policy
        return self(x, torch.zeros(x.shape[0], self.noise_dim, device=x.device))


def build_actor(observation_space, action_space, args):
    """The actor for these spaces and args (a dict: vars(Args), or a saved model's args)."""
    sizes, activation = args["hidden_sizes"], args["activation"]
    extra = args["latent_dim"], args.get("eval_samples", Args.eval_samples)  # saved before it: 16
    return Actor(observation_space.shape[0], action_space, sizes, activation, *extra)


# ------------------------------------------------------------------------------------------------
# Critic target, transport and heat step, matching, entropy estimate, Polyak update (§3, App. D)
# ------------------------------------------------------------------------------------------------
def heat_step(actions, std, low, high):
    """Heat step = Gaussian injection (§3.1 eq. 6): the policy convolved with N(0, 2 lambda eta I),
    clipped to the box."""
    return (actions + std * torch.randn_like(actions)).clamp(low, high)


def heat_noise_std(args, actor):
    """§3.1 eq. 6: the std of the heat noise added to sampled actions, sqrt(2 lambda eta)
    half-ranges (one lambda, all tasks); none under closed-form, whose actor carries the heat."""
    scale = 0.0 if args.matching == "closed-form" else (2 * args.entropy_scale * args.eta) ** 0.5
    return scale * actor.half_range


def critic_target(data, target_actor, qf_target, heat_std, args):
    """Multi-sample double-Q target (App. D.2.2): y = r + gamma (1 - d) mean_k min_i Q_i'(s', a'_k),
    the K next actions a'_k drawn from the target actor, heat step included."""
    with torch.no_grad():
        next_obs, K = data.next_obs, args.num_action_samples
        noise = torch.randn(next_obs.shape[0], K, target_actor.noise_dim, device=next_obs.device)
        next_actions = target_actor(next_obs.unsqueeze(1), noise)  # (B, K, act_dim)
        next_actions = heat_step(next_actions, heat_std, target_actor.low, target_actor.high)
        with torch.autocast(next_obs.device.type, torch.bfloat16, enabled=args.autocast == "bf16"):
            next_q = qf_target(next_obs, next_actions).float()  # (2, B, K)
        next_q = next_q.min(dim=0).values  # (B, K)
        return data.rewards + args.gamma * (1 - data.terminations) * next_q.mean(dim=1)


def closed_form_heat(u, heat_var):
    """The heat step in closed form, N(m, C) * N(0, heat_var I) = N(m, C + heat_var I), as the
    W2-optimal linear map of each state's K samples u (B, K, d), in normalised actions: the
    deviations from their mean scaled along their principal axes by sqrt(1 + heat_var / v), v
    the deviations' own variance along each axis. A direction with no spread cannot be widened by
    any map of the samples: it stays as it is. Below a std of 1e-6 (float32 rounds actions near the
    box's edge at 6e-8) a spread is rounding: fewer samples than dimensions leave such directions,
    and scaling them by sqrt(heat_var / v) would overflow."""
    mean = u.mean(dim=1, keepdim=True)
    centred = u - mean
    c64 = centred.double()  # the Gram matrix in float64: nearly degenerate samples' axes
    gram = c64.mT @ c64
    axes = torch.linalg.eigh(gram)[1].to(u.dtype)  # (B, d, d)
    proj = centred @ axes  # coordinates along the axes
    var = proj.pow(2).sum(dim=1, keepdim=True) / (u.shape[1] - 1)  # (B, 1, d), not eigh's values
    scale = torch.where(var > 1e-12, (1 + heat_var / var).sqrt(), torch.ones_like(var))
    return mean + (proj * scale) @ axes.mT


def transport_targets(obs, actor, qf, noise, heat_std, args):
    """Transport and heat step (§3.1-3.2): the actor's K samples per state and where the update
    moves them, along grad_a Q at the heat-noised samples (pointwise) or at the samples themselves
    (closed-form, heat_std 0), then widened (closed-form): noise (B, K, .) -> both (B, K, act_dim).
    As the heat noise, all is in actions normalised to [-1, 1]: one eta and lambda for all tasks."""
    with torch.no_grad():
        actions = actor(obs.unsqueeze(1), noise)  # (B, K, act_dim)
        heated = heat_step(actions, heat_std, actor.low, actor.high)
    heated.requires_grad_(True)
    with torch.autocast(obs.device.type, torch.bfloat16, enabled=args.autocast == "bf16"):
        q = qf(obs, heated).min(dim=0).values  # (B, K)
    (grad,) = torch.autograd.grad(q.sum(), heated)  # the action gradient only
    targets = actions + args.eta * actor.half_range**2 * grad  # eta grad_u Q, u = a / half
    if args.matching == "closed-form":  # then the heat step, on each state's K moved samples
        heat_var = 2 * args.entropy_scale * args.eta
        targets = closed_form_heat(targets / actor.half_range, heat_var) * actor.half_range
    margin = 1e-3 * (actor.high - actor.low)  # tanh can't reach the box edge: keep targets inside
    return actions, targets.clamp(actor.low + margin, actor.high - margin)


def matching_loss(obs, actor, qf, heat_std, args):
    """Action-gradient matching (§3.2, Prop. 1 eq. 7): regress the actor onto the moved samples,
    re-forwarding the SAME noise. Returns the loss and the samples."""
    noise = torch.randn(obs.shape[0], args.num_action_samples, actor.noise_dim, device=obs.device)
    actions, targets = transport_targets(obs, actor, qf, noise, heat_std, args)
    loss = ((actor(obs.unsqueeze(1), noise) - targets) / actor.half_range).pow(2).sum(-1).mean()
    return loss, actions


def knn_entropy(x):
    """Kozachenko-Leonenko nearest-neighbour entropy estimate (nats) of N samples, (..., N, d) ->
    (...): H = psi(N) - psi(1) + log V_d + (d / N) sum_i log rho_i, with rho_i the distance from
    x_i to its nearest neighbour and V_d the unit ball's volume. Needs no density."""
    n, d = x.shape[-2:]
    sq_dist = (x.unsqueeze(-2) - x.unsqueeze(-3)).pow(2).sum(-1)  # exact, unlike cdist's form
    sq_dist = sq_dist + torch.diag(torch.full((n,), float("inf"), device=x.device))  # not itself
    log_rho = 0.5 * sq_dist.min(dim=-1).values.clamp_min(1e-30).log()
    log_unit_ball = 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1)
    harmonic = sum(1 / i for i in range(1, n))  # psi(N) - psi(1)
    return harmonic + log_unit_ball + d * log_rho.mean(dim=-1)


def entropy_estimate(obs, actor, num_samples, heat_std):
    """Entropy of the actor's policy convolved with the heat noise (before clipping to the box), in
    actions normalised to [-1, 1], from num_samples samples per state: obs (N, obs_dim) -> (N,)."""
    with torch.no_grad():
        noise = torch.randn(obs.shape[0], num_samples, actor.noise_dim, device=obs.device)
        samples = actor(obs.unsqueeze(1), noise)
        return knn_entropy((samples + heat_std * torch.randn_like(samples)) / actor.half_range)


def polyak_update(target, online, tau):
    """target <- (1 - tau) target + tau online, under no_grad (else the autograd graph grows)."""
    with torch.no_grad():
        for target_param, param in zip(target.parameters(), online.parameters()):
            target_param.lerp_(param, tau)


def policy_charts(actor, obs, samples, heat_std, entropy_samples):
    """How stochastic the policy is, in half-ranges: the actor's own spread, the executed one (heat
    noise added, clipped), the entropy estimate, the share within 2 % of the box's edge."""
    executed = heat_step(samples, heat_std, actor.low, actor.high)
    edge = torch.minimum(samples - actor.low, actor.high - samples) < 0.02 * actor.half_range
    entropy = entropy_estimate(obs, actor, entropy_samples, heat_std)
    return {
        "charts/action_std": (samples.std(dim=1) / actor.half_range).mean(),
        "charts/executed_action_std": (executed.std(dim=1) / actor.half_range).mean(),
        "charts/entropy_estimate": entropy.mean(),
        "charts/action_edge_frac": edge.float().mean(),
    }


def memory_needs(args, obs_dim, act_dim):
    """What these sizes need in memory (float32 bytes, a generous bound), checked before any work:
    the buffer; actor, target and 4 critics with gradients and Adam's moments; one update's
    K-sample passes (2 critics x 3) and the entropy estimate's distances: [(what, bytes, flags)]."""
    rows = min(args.buffer_size, args.total_timesteps)
    k, n, hidden = args.num_action_samples, args.entropy_samples, args.hidden_sizes
    width = obs_dim + args.latent_dim + act_dim + sum(hidden)  # the widest layer's inputs, bounded
    update = 4 * args.batch_size * (24 * k * width + n * (n * act_dim + width))
    return [
        ("the replay buffer", 4 * rows * (2 * obs_dim + act_dim + 2), "--buffer-size"),
        ("the networks", 96 * width * max(*hidden, 2 * act_dim), "--hidden-sizes or --latent-dim"),
        ("one update", update, "--batch-size, --num-action-samples or --entropy-samples"),
    ]


def main(args):
    dims = run_utils.check_args(args)  # (obs_dim, act_dim); None under --load-model
    run_utils.resolve_defaults(args)
    device = run_utils.pick_device(args)
    script = os.path.basename(__file__)
    if args.load_model is not None:  # evaluate a saved model instead of training
        from run_extras import load_saved_model

        return load_saved_model(args, script, build_actor, device)
    args.latent_dim = args.latent_dim or max(1, round(dims[0] / 3))  # App. D.3: obs_dim / 3
    run_utils.check_memory(memory_needs(args, *dims))
    run = run_utils.Run(args, script, device)  # resume, run name, TensorBoard, W&B, signals

    # TRY NOT TO MODIFY: seeding
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic

    # env setup: gymnasium 1.x, same-step autoreset (final observation in infos["final_obs"])
    envs = gym.vector.SyncVectorEnv(
        [run_utils.make_env(args.env_id, args.seed + i) for i in range(args.num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    obs_space, act_space = envs.single_observation_space, envs.single_action_space
    obs_dim, act_dim = obs_space.shape[0], act_space.shape[0]
    act_space.seed(args.seed)

    actor = build_actor(obs_space, act_space, vars(args)).to(device)
    target_actor = build_actor(obs_space, act_space, vars(args)).to(device)
    qf = TwinQNetworks(obs_dim, act_dim, args.hidden_sizes, args.activation).to(device)
    qf_target = TwinQNetworks(obs_dim, act_dim, args.hidden_sizes, args.activation).to(device)
    target_actor.load_state_dict(actor.state_dict())
    qf_target.load_state_dict(qf.state_dict())
    for net in (target_actor, qf_target):
        net.requires_grad_(False)  # moved by Polyak averaging only
    q_optimizer = torch.optim.Adam(qf.parameters(), lr=args.q_lr)
    actor_optimizer = torch.optim.Adam(actor.parameters(), lr=args.policy_lr)
    rb = run_utils.ReplayBuffer(
        min(args.buffer_size, args.total_timesteps), obs_dim, act_dim, device
    )
    heat_std = heat_noise_std(args, actor)

    checkpointed = dict(actor=actor, target_actor=target_actor, qf=qf, qf_target=qf_target)
    checkpointed.update(q_optimizer=q_optimizer, actor_optimizer=actor_optimizer, replay_buffer=rb)
    start_step = done_steps = run.restore(checkpointed, envs)

    # TRY NOT TO MODIFY: start the game
    obs, _ = envs.reset(seed=args.seed + start_step)
    for global_step in range(start_step, args.total_timesteps, args.num_envs):
        # ALGO LOGIC: put action logic here
        x = torch.as_tensor(obs, dtype=torch.float32, device=device)
        if global_step < args.learning_starts:
            actions = np.array([act_space.sample() for _ in range(envs.num_envs)])
        else:
            with torch.no_grad():
                actions = actor(x, torch.randn(x.shape[0], actor.noise_dim, device=device))
                actions = heat_step(actions, heat_std, actor.low, actor.high).cpu().numpy()

        # TRY NOT TO MODIFY: execute the game and log data.
        next_obs, rewards, terminations, truncations, infos = envs.step(actions)
        run.log_episodes(infos, global_step)

        entropy = entropy_estimate(x, actor, args.entropy_samples, heat_std).cpu().numpy()
        rewards = rewards + args.entropy_scale * entropy  # App. D.1: the actor's entropy at s_t
        # TRY NOT TO MODIFY: truncated episodes bootstrap from their real final observation
        rb.add(obs, run_utils.real_next_obs(next_obs, infos), actions, rewards, terminations)
        obs = next_obs

        # ALGO LOGIC: training.
        if global_step >= args.learning_starts:
            data = rb.sample(args.batch_size)
            next_q_value = critic_target(data, target_actor, qf_target, heat_std, args)
            q_values = qf(data.obs, data.actions.unsqueeze(1))[..., 0]  # (2, B)
            qf_losses = (q_values - next_q_value).pow(2).mean(dim=1)  # (qf1_loss, qf2_loss)
            q_optimizer.zero_grad()
            qf_losses.sum().backward()
            q_optimizer.step()

            actor_loss, samples = matching_loss(data.obs, actor, qf, heat_std, args)
            actor_optimizer.zero_grad()
            actor_loss.backward()
            actor_optimizer.step()
            polyak_update(target_actor, actor, args.tau)
            polyak_update(qf_target, qf, args.tau)

            qf_losses, actor_loss = qf_losses.detach(), actor_loss.detach()
            q_values = q_values.detach().mean(dim=1)
            losses = dict(qf1_loss=qf_losses[0], qf2_loss=qf_losses[1], actor_loss=actor_loss)
            run.guard(losses, global_step)  # remembers a non-finite loss, without a host sync
            if global_step % args.log_frequency == 0:
                losses |= dict(qf1_values=q_values[0], qf2_values=q_values[1])
                losses["qf_loss"] = qf_losses.mean()
                charts = policy_charts(actor, data.obs, samples, heat_std, args.entropy_samples)
                run.log({f"losses/{k}": v for k, v in losses.items()} | charts, global_step)

        # TRY NOT TO MODIFY: evaluation, checkpoints and clean stops on SIGTERM/SIGINT
        done_steps = global_step + args.num_envs  # env steps taken once this iteration ends
        run.evaluate_if_due(actor.evaluation_action, done_steps, extra={"z0": actor.z0_action})
        if run.stopping:
            break
        run.checkpoint_if_due(checkpointed, envs, done_steps)

    envs.close()
    model = {"args": vars(args), "actor": actor.state_dict(), "qf": qf.state_dict()}
    run.finish(checkpointed, envs, done_steps if run.stopping else args.total_timesteps, model)
    return run.name


if __name__ == "__main__":
    main(tyro.cli(Args))
