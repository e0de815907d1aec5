# WPPG: Wasserstein Proximal Policy Gradient (arXiv 2603.02576) with an explicit tanh-Gaussian actor.
# Docs, equations-to-lines map and results: README.md. Algorithm details: paper §3.2 and Appendix D.
import collections
import ctypes
import difflib
import glob
import importlib
import math
import os
import random
import signal
import sys
import time
from dataclasses import dataclass
from typing import Literal, Optional, Tuple

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import tyro
from torch.utils.tensorboard import SummaryWriter


@dataclass
class Args:
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment"""
    seed: int = 1
    """seed of the experiment"""
    torch_deterministic: bool = True
    """if toggled, `torch.backends.cudnn.deterministic=True`"""
    cuda: bool = True
    """if toggled, cuda will be used when available (the script says when it falls back to the CPU)"""
    track: bool = False
    """if toggled, this experiment will be tracked with Weights and Biases"""
    wandb_project_name: str = "wppg"
    """the wandb's project name"""
    wandb_entity: Optional[str] = None
    """the entity (team) of wandb's project"""
    capture_video: bool = False
    """whether to capture videos of the evaluation episodes (under `videos/{run_name}`; uploaded with --track)"""
    save_model: bool = False
    """whether to save the actor, critics and args under `runs/{run_name}`"""
    load_model: Optional[str] = None
    """path of a saved model: evaluate it for `eval_episodes` episodes instead of training"""
    checkpoint_frequency: int = 50000
    """write a full checkpoint to runs/{run_name}/checkpoint.pt every this many steps, at the end, and on SIGTERM/SIGINT"""
    resume: Optional[str] = None
    """checkpoint to resume from (pass the same flags as the first run), or "auto": the newest checkpoint of this
    env id, exp_name and seed under runs/, or a fresh start if there is none. The env starts a fresh episode."""

    # Algorithm specific arguments
    env_id: str = "Hopper-v5"
    """the id of the environment (a MuJoCo v5 task, any env with flat Box observations and actions, or
    "module:EnvId" for an env that module registers, e.g. combined_humanoid:Humanoid-x2-v5)"""
    total_timesteps: int = 1000000
    """total timesteps of the experiments"""
    num_envs: int = 1
    """the number of parallel game environments (one gradient step per vector step)"""
    buffer_size: int = int(1e6)
    """the replay memory buffer size"""
    gamma: Optional[float] = None
    """the discount factor gamma (default: the per-task table ENV_DEFAULTS, 0.99 for most tasks)"""
    tau: float = 0.005
    """target smoothing coefficient (Polyak averaging of target critics and target actor)"""
    batch_size: int = 256
    """the batch size of sample from the replay memory"""
    learning_starts: int = 10000
    """timestep to start learning (uniform random actions before)"""
    policy_lr: float = 1e-3
    """the learning rate of the policy network optimizer (README: Defaults; 3e-4 is the paper's, as reconstructed)"""
    q_lr: float = 1e-3
    """the learning rate of the Q network optimizer (README: Defaults; 3e-4 is the paper's, as reconstructed)"""
    policy_frequency: int = 1
    """the frequency of training the policy (delayed)"""
    target_network_frequency: int = 1
    """the frequency of updates for the target networks"""
    eta: float = 0.1
    """Wasserstein step size eta of the proximal (transport) step, §3.2"""
    entropy_scale: float = 1e-4
    """entropy scale lambda: the heat step adds N(0, 2*lambda*eta) noise to every sampled action, §3.1 eq. 6"""
    num_action_samples: int = 32
    """number K of action samples per state, for the critic target and for the actor update"""
    matching: Literal["rank", "pointwise"] = "rank"
    """actor update: "rank" pairs the actor's K samples with the moved heat-noised samples rank by rank in each action
    dimension, so the heat step accumulates into the actor (§3.1); "pointwise" regresses each sample onto its own
    moved copy, so the heat noise averages out and the actor's spread collapses (README: Where the heat step goes)"""
    entropy_samples: int = 64
    """samples per state of the nearest-neighbour entropy estimate of the executed policy (README: Entropy estimate)"""
    single_q: bool = False
    """ablation: use Q1 alone instead of min(Q1, Q2) in the target and the action gradient"""
    hidden_sizes: Optional[Tuple[int, ...]] = None
    """hidden layer sizes of actor and critics (default: the per-task table ENV_DEFAULTS)"""
    activation: Optional[Literal["relu", "tanh"]] = None
    """hidden activation of actor and critics (default: the per-task table ENV_DEFAULTS)"""
    eval_frequency: int = 10000
    """evaluate the deterministic policy every this many steps (and at the end)"""
    eval_episodes: int = 10
    """number of evaluation episodes"""
    log_frequency: int = 100
    """write losses to TensorBoard every this many steps"""
    compile: bool = False
    """if toggled, torch.compile the updates and acting (measured slower than eager on CPU; see README: Speed)"""
    autocast: Literal["off", "bf16"] = "off"
    """bf16: the K-sample critic passes under torch.autocast (1.5-3x faster on our CPU; see README)"""


# Paper App. D.3: (256, 256) ReLU networks for Hopper, HalfCheetah and Humanoid, (64, 64) Tanh for the
# other tasks; gamma 0.99 except Swimmer. Keys are env names up to their first "-"; flags override.
ENV_DEFAULTS = {
    "Hopper": dict(hidden_sizes=(256, 256), activation="relu"),
    "HalfCheetah": dict(hidden_sizes=(256, 256), activation="relu"),
    "Humanoid": dict(hidden_sizes=(256, 256), activation="relu"),
    "Swimmer": dict(gamma=0.9999),
}
FALLBACK_DEFAULTS = dict(hidden_sizes=(64, 64), activation="tanh", gamma=0.99)


def resolve_defaults(args):
    """Fill gamma, hidden_sizes and activation left unset from the per-task table."""
    table = {**FALLBACK_DEFAULTS, **ENV_DEFAULTS.get(args.env_id.split(":")[-1].split("-")[0], {})}
    for key, value in table.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


# ---------------------------------------------------------------------------------------------------------------
# The algorithm: networks, heat step, critic target, matching, replay buffer (paper §3, App. D)
# ---------------------------------------------------------------------------------------------------------------
class InplaceTanh(torch.autograd.Function):
    """tanh in place, as 2 sigmoid(2x) - 1 (equal to torch.tanh within 2e-7), with torch.tanh's backward from the
    output. Twice as fast as torch.tanh_ on our CPU, where tanh took half of a (64, 64) update (README: Speed)."""

    @staticmethod
    def forward(ctx, x):
        ctx.mark_dirty(x)
        y = x.mul_(2).sigmoid_().mul_(2).sub_(1)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        return torch.ops.aten.tanh_backward(grad, *ctx.saved_tensors)  # grad * (1 - y^2) in one pass


class Tanh(nn.Module):
    def forward(self, x):
        return InplaceTanh.apply(x)


def mlp(in_dim, out_dim, hidden_sizes, activation):
    layers = []
    for size in hidden_sizes:
        layers += [nn.Linear(in_dim, size), nn.ReLU() if activation == "relu" else Tanh()]
        in_dim = size
    return nn.Sequential(*layers, nn.Linear(in_dim, out_dim))


class SoftQNetworks(nn.Module):
    """Both critics Q1, Q2 in one module: each layer's weights stacked on a leading axis of size 2, so one batched
    matmul runs both. The first layer is split, W_s s + W_a a: the state part is computed once per state, not K times."""

    def __init__(self, obs_dim, act_dim, hidden_sizes, activation):
        super().__init__()
        sizes = [obs_dim + act_dim, *hidden_sizes, 1]
        self.obs_dim, self.activation = obs_dim, torch.relu_ if activation == "relu" else InplaceTanh.apply
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1 / math.sqrt(fan_in)  # nn.Linear's default initialisation
            self.weights.append(nn.Parameter(torch.empty(2, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(2, 1, fan_out).uniform_(-bound, bound)))

    def forward(self, x, a):
        """x: (B, obs_dim), a: (B, K, act_dim) -> (Q1, Q2) values, (2, B, K)."""
        B, K, _ = a.shape
        (w, b), *hidden, (w_out, b_out) = zip(self.weights, self.biases)
        state_part = torch.baddbmm(b, x.expand(2, -1, -1), w[:, : self.obs_dim])  # (2, B, hidden): once per state
        action_part = a @ w[:, None, self.obs_dim :]  # (2, B, K, hidden): broadcasts over both critics
        h = self.activation(action_part.add_(state_part.unsqueeze(2))).view(2, B * K, -1)
        for w, b in hidden:
            h = self.activation(torch.baddbmm(b, h, w))
        return (h * w_out.mT.to(h.dtype)).sum(-1).view(2, B, K) + b_out.view(2, 1, 1)  # width 1: a dot product


LOG_STD_MAX = 2
LOG_STD_MIN = -5


class Actor(nn.Module):
    """Explicit tanh-Gaussian actor (App. D.2.1): a = squash(m(s) + sigma(s) * noise), noise ~ N(0, I)."""

    def __init__(self, obs_dim, action_space, hidden_sizes, activation):
        super().__init__()
        act_dim = action_space.shape[0]
        self.noise_dim = act_dim
        self.net = mlp(obs_dim, 2 * act_dim, hidden_sizes, activation)
        self.register_buffer("low", torch.tensor(action_space.low, dtype=torch.float32))
        self.register_buffer("high", torch.tensor(action_space.high, dtype=torch.float32))

    def forward(self, x, noise):
        """x: (..., 1 or K, obs_dim), noise: (..., K, act_dim) -> actions (..., K, act_dim) in [low, high].
        One forward pass per state serves all K samples; noise = 0 gives the deterministic action."""
        mean, log_std = self.net(x).chunk(2, dim=-1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        u = mean + log_std.exp() * noise
        return self.low + (self.high - self.low) * (torch.tanh(u) + 1) / 2


def heat_step(actions, std, low, high):
    """Heat step = Gaussian injection (§3.1 eq. 6): convolve the policy with N(0, 2*lambda*eta I), stay in the box."""
    return (actions + std * torch.randn_like(actions)).clamp(low, high)


def critic_target(next_obs, rewards, terminations, target_actor, qf_target, gamma, K, heat_std, single_q, bf16=False):
    """Multi-sample double-Q target (App. D.2.2): y = r + gamma (1 - d) mean_k min_i Q_i'(s', a'_k)."""
    with torch.no_grad():
        noise = torch.randn(next_obs.shape[0], K, target_actor.noise_dim, device=next_obs.device)
        next_actions = target_actor(next_obs.unsqueeze(1), noise)  # (B, K, act_dim)
        next_actions = heat_step(next_actions, heat_std, target_actor.low, target_actor.high)
        with torch.autocast(next_obs.device.type, torch.bfloat16, enabled=bf16):
            next_q = qf_target(next_obs, next_actions).float()  # (2, B, K)
        next_q = next_q[0] if single_q else next_q.min(dim=0).values
        return rewards + gamma * (1 - terminations) * next_q.mean(dim=1)


def rank_coupling(samples, targets):
    """Pair the K samples of each state with the K targets, rank by rank in each dimension: the W2-optimal coupling of
    every 1-D marginal (exact for a diagonal Gaussian). samples, targets: (B, K, d) -> targets reordered, (B, K, d)."""
    order = samples.argsort(dim=1)  # order[r]: the sample of rank r; it gets the target of rank r
    return torch.empty_like(targets).scatter_(1, order, targets.sort(dim=1).values)


def matching_loss(obs, actor, qf, eta, K, heat_std, single_q, matching="rank", bf16=False):
    """Action-gradient matching (§3.2, Prop. 1 eq. 7): move K samples per state along grad_a Q, then regress
    the actor onto the moved samples, re-forwarding the SAME noise. Returns the loss and the samples."""
    noise = torch.randn(obs.shape[0], K, actor.noise_dim, device=obs.device)
    with torch.no_grad():
        actions = actor(obs.unsqueeze(1), noise)  # (B, K, act_dim)
    # the direction is computed on the heat-smoothed samples; only the action gradient is taken
    noisy = heat_step(actions, heat_std, actor.low, actor.high).requires_grad_(True)
    with torch.autocast(obs.device.type, torch.bfloat16, enabled=bf16):
        q = qf(obs, noisy)  # (2, B, K)
        q = q[0] if single_q else q.min(dim=0).values
    (grad,) = torch.autograd.grad(q.sum(), noisy)
    if matching == "pointwise":  # each sample onto its own moved copy: the heat noise averages out of the loss
        targets = actions + eta * grad
    else:  # §3.1's splitting: transport the heat-noised samples, then pair them with the actor's samples by rank
        targets = rank_coupling(actions, noisy.detach() + eta * grad)
    margin = 1e-3 * (actor.high - actor.low)  # tanh can't reach the box edge: keep targets inside it
    targets = targets.clamp(actor.low + margin, actor.high - margin)
    loss = (actor(obs.unsqueeze(1), noise) - targets).pow(2).sum(-1).mean()
    return loss, actions


def knn_entropy(x):
    """Kozachenko-Leonenko nearest-neighbour entropy estimate (nats) of the N samples x: (..., N, d) -> (...):
    H = psi(N) - psi(1) + log V_d + (d / N) sum_i log rho_i, rho_i the distance from x_i to its nearest neighbour and
    V_d the unit ball's volume. Needs no density; its error is measured in README: Entropy estimate."""
    n, d = x.shape[-2:]
    sq_dist = (x.unsqueeze(-2) - x.unsqueeze(-3)).pow(2).sum(-1)  # exact, unlike cdist's matmul form at tiny spreads
    sq_dist = sq_dist + torch.diag(torch.full((n,), float("inf"), device=x.device))  # not its own neighbour
    log_rho = 0.5 * sq_dist.min(dim=-1).values.clamp_min(1e-30).log()
    log_unit_ball = 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1)
    return sum(1 / i for i in range(1, n)) + log_unit_ball + d * log_rho.mean(dim=-1)  # psi(N) - psi(1) = H_{N-1}


def entropy_estimate(obs, actor, num_samples, heat_std):
    """Entropy of the executed policy (actor, then heat noise; before clipping to the box) at each state, from
    num_samples samples: obs (N, obs_dim) -> (N,)."""
    with torch.no_grad():
        noise = torch.randn(obs.shape[0], num_samples, actor.noise_dim, device=obs.device)
        samples = actor(obs.unsqueeze(1), noise)
        return knn_entropy(samples + heat_std * torch.randn_like(samples))


def polyak_update(target, online, tau):
    """target <- (1 - tau) target + tau online. Under no_grad: else every target parameter joins the autograd graph
    of its online parameter, and the graph grows by one node per tensor every step."""
    with torch.no_grad():
        for target_param, param in zip(target.parameters(), online.parameters()):
            target_param.lerp_(param, tau)


Batch = collections.namedtuple("Batch", ["obs", "next_obs", "actions", "rewards", "terminations"])


class ReplayBuffer:
    """Preallocated tensors on the training device. next_obs holds the real final observation at episode ends."""

    def __init__(self, size, obs_dim, act_dim, device):
        self.size, self.pos, self.full, self.device = size, 0, False, device
        shapes = dict(obs=(obs_dim,), next_obs=(obs_dim,), actions=(act_dim,), rewards=(), terminations=())
        for name in Batch._fields:
            setattr(self, name, torch.zeros(size, *shapes[name], device=device))

    def add(self, obs, next_obs, actions, rewards, terminations):
        idx = (self.pos + np.arange(len(obs))) % self.size
        for name, value in zip(Batch._fields, [obs, next_obs, actions, rewards, terminations]):
            getattr(self, name)[idx] = torch.as_tensor(np.asarray(value, dtype=np.float32), device=self.device)
        self.full = self.full or self.pos + len(obs) >= self.size
        self.pos = (self.pos + len(obs)) % self.size

    def sample(self, batch_size):
        idx = torch.randint(0, self.size if self.full else self.pos, (batch_size,), device=self.device)
        return Batch(*(getattr(self, name)[idx] for name in Batch._fields))

    def state_dict(self):  # the filled rows only, as numpy arrays (a view's pickle holds just its own rows)
        n = self.size if self.full else self.pos
        return {"pos": self.pos, "full": self.full, **{k: getattr(self, k)[:n].cpu().numpy() for k in Batch._fields}}

    def load_state_dict(self, state):
        self.pos, self.full = state["pos"], state["full"]
        for k in Batch._fields:
            getattr(self, k)[: len(state[k])] = torch.as_tensor(state[k], device=self.device)


# ---------------------------------------------------------------------------------------------------------------
# Run management: argument checks, environments, evaluation, charts, checkpoints, W&B
# ---------------------------------------------------------------------------------------------------------------
ARG_CHECKS = [  # (flag, test of its value, what it must be): bad input exits with one line, before any work
    *[(name, lambda v: v >= 1, "must be a positive integer") for name in [
        "total_timesteps", "num_envs", "buffer_size", "batch_size", "policy_frequency", "target_network_frequency",
        "num_action_samples", "eval_frequency", "eval_episodes", "log_frequency", "checkpoint_frequency"]],
    ("learning_starts", lambda v: v >= 0, "must be >= 0"),
    ("hidden_sizes", lambda v: v is None or (len(v) > 0 and min(v) >= 1), "must be one or more positive integers"),
    ("entropy_samples", lambda v: v >= 2, "must be at least 2 (each sample needs a neighbour)"),
    ("eta", lambda v: v > 0, "(Wasserstein step size) must be > 0"),
    ("entropy_scale", lambda v: v >= 0, "(lambda) must be >= 0"),
    ("policy_lr", lambda v: v > 0, "must be > 0"),
    ("q_lr", lambda v: v > 0, "must be > 0"),
    ("tau", lambda v: 0 < v <= 1, "must be in (0, 1]"),
    ("gamma", lambda v: v is None or 0 <= v <= 1, "must be in [0, 1]"),
    ("resume", lambda v: v in (None, "auto") or os.path.isfile(v), "must be an existing checkpoint file or auto"),
]


def check_args(args):
    """Reject bad input before any work: exit non-zero with one line that says what to change."""
    for name, value in vars(args).items():
        if isinstance(value, float) and not math.isfinite(value):
            sys.exit(f"error: --{name.replace('_', '-')} must be a finite number, got {value}")
    for name, ok, rule in ARG_CHECKS:
        if not ok(getattr(args, name)):
            sys.exit(f"error: --{name.replace('_', '-')} {rule}, got {getattr(args, name)}")
    check_env(args.env_id)
    if args.learning_starts >= args.total_timesteps and args.load_model is None:
        print(f"warning: --learning-starts {args.learning_starts} >= --total-timesteps {args.total_timesteps}: "
              "no gradient step will run", file=sys.stderr)


def check_env(env_id):
    """The env must exist ("module:EnvId" imports module first, which registers it) and have flat Box spaces."""
    module, _, env_name = env_id.rpartition(":")
    try:
        if module:
            importlib.import_module(module)
    except ImportError as error:
        sys.exit(f"error: --env-id {env_id}: cannot import {module!r} ({error})")
    if env_name not in gym.registry:
        close = difflib.get_close_matches(env_name, gym.registry.keys(), n=3, cutoff=0.6)
        sys.exit(f"error: unknown --env-id {env_id!r}" + (f"; did you mean {', '.join(close)}?" if close else ""))
    try:
        env = gym.make(env_id)
    except gym.error.DependencyNotInstalled as error:
        sys.exit(f"error: --env-id {env_id} needs a package that is not installed: {error}")
    obs_space, act_space = env.observation_space, env.action_space
    env.close()
    if not isinstance(act_space, gym.spaces.Box):
        sys.exit(f"error: {env_id} has a {type(act_space).__name__} action space; WPPG needs continuous (Box) actions")
    if not (isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1):
        sys.exit(f"error: {env_id} observations must be a flat Box, got {obs_space}; flatten them with a wrapper")


def make_env(env_id, seed, capture_video=False, video_folder=None, video_every=1, video_prefix="rl-video"):
    def thunk():
        if capture_video:
            env = gym.make(env_id, render_mode="rgb_array")
            env = gym.wrappers.RecordVideo(env, video_folder, episode_trigger=lambda ep: ep % video_every == 0,
                                           name_prefix=video_prefix)
        else:
            env = gym.make(env_id)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env.action_space.seed(seed)
        return env

    return thunk


def real_next_obs(next_obs, infos):
    """With same-step autoreset, next_obs holds the reset observation where an episode ended; the real final
    observation, which truncated episodes bootstrap from, is in infos["final_obs"]."""
    real = next_obs.copy()
    for idx in np.flatnonzero(infos.get("_final_obs", [])):
        real[idx] = infos["final_obs"][idx]
    return real


def evaluate(actor, env_id, episodes, seed, device, video_folder=None, step=0):
    """Mean return of the deterministic policy (noise = 0, no heat step) over `episodes` episodes; the video of
    the first episode, if any, is named after the step, so no evaluation overwrites another's."""
    env = make_env(env_id, seed, video_folder is not None, video_folder, episodes, f"eval-step-{step}")()
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            with torch.no_grad():
                x = torch.as_tensor(obs, dtype=torch.float32, device=device)
                action = actor(x.unsqueeze(0), torch.zeros(1, actor.noise_dim, device=device))[0]
            obs, _, terminated, truncated, info = env.step(action.cpu().numpy())
            done = terminated or truncated
        returns.append(float(info["episode"]["r"]))
    env.close()
    return float(np.mean(returns))


def policy_charts(actor, obs, samples, heat_std, entropy_samples):
    """How stochastic the policy is: the actor's own spread per state and dimension (heat noise excluded) and the
    executed policy's (actor + heat noise, clipped), in units of the action half-range; the executed policy's
    entropy estimate; the share of samples within 1 % of the box edge."""
    half_range = (actor.high - actor.low) / 2
    executed = heat_step(samples, heat_std, actor.low, actor.high)
    edge = torch.minimum(samples - actor.low, actor.high - samples) < 0.02 * half_range
    return {"action_std": (samples.std(dim=1) / half_range).mean(),
            "executed_action_std": (executed.std(dim=1) / half_range).mean(),
            "entropy_estimate": entropy_estimate(obs, actor, entropy_samples, heat_std).mean(),
            "action_edge_frac": edge.float().mean()}


def manage_freed_memory(release=False):
    """Keep freed activations for reuse. The K-sample passes allocate and free MB-sized buffers every update, and by
    default glibc hands them back to the OS at once, so each update page-faults them in afresh (Hopper-v5: 1.35-1.59x
    SPS with this setting). release=True, at logging steps, hands all free memory back (README: Speed)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        if release:
            libc.malloc_trim(0)
        else:
            libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: buffers up to 32 MB (glibc's maximum) come from the heap
            libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep freed memory until malloc_trim
    except (OSError, AttributeError):  # not Linux with glibc: nothing to do
        pass


def save_checkpoint(path, state):
    """Atomic: write a temporary file, then rename it over the old one, so a kill never leaves a torn checkpoint."""
    try:
        torch.save(state, path + ".tmp", pickle_protocol=4)  # protocol 2 would inflate the buffer's bytes 1.5x
        os.replace(path + ".tmp", path)
    except OSError as error:
        sys.exit(f"error: cannot write {path} ({error.strerror}); free disk space or fix permissions "
                 "(the previous checkpoint, if any, is kept)")


def rng_states(envs, device):
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
            "action_space": envs.single_action_space.np_random.bit_generator.state}


def set_rng_states(rng, envs):
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] is not None:
        torch.cuda.set_rng_state_all(rng["cuda"])
    envs.single_action_space.np_random.bit_generator.state = rng["action_space"]


# flags that fix the shapes of what a checkpoint holds: a resumed run must pass the same
RESUME_MUST_MATCH = ["env_id", "num_envs", "hidden_sizes", "activation"]


def load_checkpoint(args, device):
    """--resume PATH, or "auto": the newest checkpoint of this env id, exp_name and seed under runs/ (None if there
    is none). Our own file, holding numpy RNG states, so weights_only=False is needed and safe. Checked against this
    run's flags: exit with one line saying what to change."""
    path = args.resume
    if path == "auto":
        paths = glob.glob(f"runs/{glob.escape(f'{args.env_id}__{args.exp_name}__{args.seed}')}__*/checkpoint.pt")
        if not paths:
            print("note: --resume auto found no checkpoint; starting a fresh run")
            return None
        path = max(paths, key=os.path.getmtime)
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=False)
        saved, filled = checkpoint["args"], len(checkpoint["replay_buffer"]["obs"])
        if not {"step", "next_eval", "last_eval", "rng", "run_name", "wandb_id"} <= checkpoint.keys():
            raise KeyError("written by another version of this script")
    except Exception as error:  # a truncated or corrupt file, or one from another version, raises many types
        sys.exit(f"error: --resume {path}: not a readable checkpoint ({type(error).__name__}); pass another file, "
                 "or move it away to start afresh")
    differ = [f"--{name.replace('_', '-')} (checkpoint: {saved[name]}, now: {getattr(args, name)})"
              for name in RESUME_MUST_MATCH if list(np.atleast_1d(saved[name])) != list(np.atleast_1d(getattr(args, name)))]
    if args.total_timesteps < checkpoint["step"]:
        differ.append(f"--total-timesteps (now {args.total_timesteps}, below the checkpoint's step {checkpoint['step']})")
    if min(args.buffer_size, args.total_timesteps) < filled:
        differ.append(f"--buffer-size or --total-timesteps (room for {min(args.buffer_size, args.total_timesteps)} "
                      f"transitions, the checkpoint's buffer holds {filled})")
    if differ:
        sys.exit(f"error: --resume {path}: flags differ from the checkpoint's: {'; '.join(differ)}; pass the "
                 "checkpoint's flags, or start a new run without --resume")
    print(f"resuming from {path} at step {checkpoint['step']}; the env starts a fresh episode")
    return checkpoint


def load_saved_model(path, device):
    """The actor saved by --save-model (tensors and plain args: weights_only loading), and the args it was saved with;
    exit with one line saying what to change if the file is not such a model."""
    if not os.path.isfile(path):
        sys.exit(f"error: --load-model {path}: no such file")
    try:
        saved_model = torch.load(path, map_location=device)
        saved = saved_model["args"]
        env = gym.make(saved["env_id"])
        actor = Actor(env.observation_space.shape[0], env.action_space, saved["hidden_sizes"], saved["activation"]).to(device)
        actor.load_state_dict(saved_model["actor"])
    except Exception as error:  # not a model of this script: a checkpoint, the other script's model, a corrupt file
        sys.exit(f"error: --load-model {path}: not a model saved by this script's --save-model "
                 f"({type(error).__name__}); a training checkpoint continues with --resume")
    return actor, saved


def init_wandb(args, run_name, run_id):
    """Never hang without a network or an API key: fall back to offline logging, with a message."""
    import wandb

    kwargs = dict(project=args.wandb_project_name, entity=args.wandb_entity, sync_tensorboard=True, config=vars(args),
                  name=run_name, save_code=True, id=run_id, resume="allow")
    try:
        wandb.init(**kwargs, settings=wandb.Settings(init_timeout=30))
    except Exception as error:  # wandb raises many types here: no API key, no network, timeouts
        print(f"warning: W&B is not reachable ({type(error).__name__}: {str(error)[:100]}); logging offline, "
              "upload later with `wandb sync wandb/offline-run-*`")
        wandb.teardown()  # drop the half-started online run before starting the offline one
        wandb.init(**kwargs, mode="offline")


def upload_videos(video_folder, uploaded, step):
    """gymnasium 1.x videos no longer reach W&B by themselves (monitor_gym): log new files explicitly."""
    import wandb

    for name in sorted(os.listdir(video_folder)) if os.path.isdir(video_folder) else []:
        if name.endswith(".mp4") and name not in uploaded:
            wandb.log({"eval/video": wandb.Video(os.path.join(video_folder, name), format="mp4"), "global_step": step})
            uploaded.add(name)


def log_episodes(writer, infos, step, last):
    """Log the episodes that ended at this step; returns the last return seen."""
    if "final_info" in infos:
        done = infos["final_info"]["_episode"]
        for ret, length in zip(infos["final_info"]["episode"]["r"][done], infos["final_info"]["episode"]["l"][done]):
            writer.add_scalar("charts/episodic_return", ret, step)
            writer.add_scalar("charts/episodic_length", length, step)
            last = float(ret)
    return last


def main(args):
    check_args(args)
    resolve_defaults(args)
    manage_freed_memory()
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")
    if args.cuda and device.type == "cpu":
        print("note: CUDA is not available, running on the CPU")
    checkpoint = load_checkpoint(args, device) if args.resume else None
    run_name = checkpoint["run_name"] if checkpoint else f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    run_id = checkpoint["wandb_id"] if checkpoint else os.urandom(4).hex()
    video_folder = f"videos/{run_name}" if args.capture_video else None
    if args.track:
        import wandb

        init_wandb(args, run_name, run_id)

    # TRY NOT TO MODIFY: seeding
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic

    if args.load_model is not None:
        actor, saved = load_saved_model(args.load_model, device)
        mean_return = evaluate(actor, saved["env_id"], args.eval_episodes, args.seed, device, video_folder)
        print(f"{args.load_model}: mean return over {args.eval_episodes} episodes = {mean_return:.1f}")
        if args.track and video_folder:
            upload_videos(video_folder, set(), step=0)
        return mean_return

    # SIGTERM (e.g. Slurm preemption) or SIGINT (Ctrl-C): the loop's next step ends with a checkpoint and a clean exit
    stop_signals = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop_signals.append(signum))
    try:  # on resume, events at or after the checkpoint's step are dropped: no step is logged twice
        writer = SummaryWriter(f"runs/{run_name}", purge_step=checkpoint["step"] if checkpoint else None)
    except OSError as error:
        sys.exit(f"error: cannot write to runs/{run_name} ({error.strerror}); run from a writable folder")
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))
    print(f"run {run_name} on {device}: logs in runs/{run_name}")
    checkpoint_path = f"runs/{run_name}/checkpoint.pt"

    # env setup: gymnasium 1.x, same-step autoreset (final observation in infos["final_obs"])
    envs = gym.vector.SyncVectorEnv([make_env(args.env_id, args.seed + i) for i in range(args.num_envs)],
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    obs_dim, act_dim = envs.single_observation_space.shape[0], envs.single_action_space.shape[0]
    envs.single_action_space.seed(args.seed)

    actor = Actor(obs_dim, envs.single_action_space, args.hidden_sizes, args.activation).to(device)
    target_actor = Actor(obs_dim, envs.single_action_space, args.hidden_sizes, args.activation).to(device)
    qf = SoftQNetworks(obs_dim, act_dim, args.hidden_sizes, args.activation).to(device)
    qf_target = SoftQNetworks(obs_dim, act_dim, args.hidden_sizes, args.activation).to(device)
    target_actor.load_state_dict(actor.state_dict())
    qf_target.load_state_dict(qf.state_dict())
    for target in (target_actor, qf_target):
        target.requires_grad_(False)  # moved by Polyak averaging only
    q_optimizer = torch.optim.Adam(qf.parameters(), lr=args.q_lr)
    actor_optimizer = torch.optim.Adam(actor.parameters(), lr=args.policy_lr)
    rb = ReplayBuffer(min(args.buffer_size, args.total_timesteps), obs_dim, act_dim, device)
    heat_std = (2 * args.entropy_scale * args.eta) ** 0.5  # §3.1 eq. 6: N(0, 2 lambda eta I)
    bf16, K = args.autocast == "bf16", args.num_action_samples

    def update_critic(data):
        target = critic_target(data.next_obs, data.rewards, data.terminations, target_actor, qf_target, args.gamma, K,
                               heat_std, args.single_q, bf16)
        q_values = qf(data.obs, data.actions.unsqueeze(1))[..., 0]  # (2, B)
        qf_losses = (q_values - target).pow(2).mean(dim=1)  # (qf1_loss, qf2_loss)
        q_optimizer.zero_grad()
        qf_losses.sum().backward()
        q_optimizer.step()
        return q_values.detach().mean(dim=1), qf_losses.detach()

    def update_actor(obs):
        actor_loss, samples = matching_loss(obs, actor, qf, args.eta, K, heat_std, args.single_q, args.matching, bf16)
        actor_optimizer.zero_grad()
        actor_loss.backward()
        actor_optimizer.step()
        return actor_loss.detach(), samples

    def act(obs):
        actions = actor(obs, torch.randn(obs.shape[0], actor.noise_dim, device=device))
        return heat_step(actions, heat_std, actor.low, actor.high)

    if args.compile:
        update_critic, update_actor, act = torch.compile(update_critic), torch.compile(update_actor), torch.compile(act)

    stateful = {"actor": actor, "target_actor": target_actor, "qf": qf, "qf_target": qf_target,
                "q_optimizer": q_optimizer, "actor_optimizer": actor_optimizer, "replay_buffer": rb}
    start_step, next_eval, last_eval = 0, args.eval_frequency, None  # last_eval: (step, mean return)
    if checkpoint:
        for name, obj in stateful.items():
            obj.load_state_dict(checkpoint[name])
        set_rng_states(checkpoint["rng"], envs)
        start_step, next_eval, last_eval = checkpoint["step"], checkpoint["next_eval"], checkpoint["last_eval"]
        if last_eval is not None and last_eval[0] == start_step:  # purge_step dropped it: log it again
            writer.add_scalar("eval/episodic_return", last_eval[1], last_eval[0])

    def save(step):
        save_checkpoint(checkpoint_path, {
            "step": step, "next_eval": next_eval, "last_eval": last_eval, "run_name": run_name, "wandb_id": run_id,
            "args": vars(args), "rng": rng_states(envs, device), **{k: obj.state_dict() for k, obj in stateful.items()}})

    loss_names, first_nonfinite = ["qf1_loss", "qf2_loss", "actor_loss"], torch.full((3,), -1, device=device)

    def stop_if_nonfinite():  # one host sync: called at logging and checkpoint steps only
        for name, step in zip(loss_names, first_nonfinite.tolist()):
            if step >= 0:
                writer.close()
                kept = checkpoint_path if os.path.exists(checkpoint_path) else "none written yet"
                sys.exit(f"error: losses/{name} became non-finite at step {step}; last good checkpoint: {kept}; "
                         "try a smaller --q-lr, --policy-lr or --eta")

    # global steps run 0, n, 2n, ... (n = num_envs): the first one at or after learning_starts trains first
    first_update = -(-args.learning_starts // args.num_envs) * args.num_envs
    actor_loss, samples = torch.zeros((), device=device), None  # until the first actor update (e.g. after a resume)
    start_time, sps_step, last_print, last_return, uploaded_videos = time.time(), start_step, 0.0, float("nan"), set()

    # TRY NOT TO MODIFY: start the game
    obs, _ = envs.reset(seed=args.seed + start_step)
    for global_step in range(start_step, args.total_timesteps, args.num_envs):
        # ALGO LOGIC: put action logic here
        if global_step < args.learning_starts:
            actions = np.array([envs.single_action_space.sample() for _ in range(envs.num_envs)])
        else:
            with torch.no_grad():
                actions = act(torch.as_tensor(obs, dtype=torch.float32, device=device)).cpu().numpy()

        # TRY NOT TO MODIFY: execute the game and log data.
        next_obs, rewards, terminations, truncations, infos = envs.step(actions)
        last_return = log_episodes(writer, infos, global_step, last_return)

        # TRY NOT TO MODIFY: truncated episodes bootstrap from their real final observation
        rb.add(obs, real_next_obs(next_obs, infos), actions, rewards, terminations)
        obs = next_obs

        # ALGO LOGIC: training.
        if global_step >= args.learning_starts:
            data = rb.sample(args.batch_size)
            q_values, qf_losses = update_critic(data)
            iteration = (global_step - first_update) // args.num_envs  # counts the same after a resume
            if iteration % args.policy_frequency == 0:
                actor_loss, samples = update_actor(data.obs)
            if iteration % args.target_network_frequency == 0:
                polyak_update(target_actor, actor, args.tau)
                polyak_update(qf_target, qf, args.tau)
            finite = torch.isfinite(torch.cat([qf_losses, actor_loss.view(1)]))  # no host sync
            first_nonfinite = torch.where((first_nonfinite < 0) & ~finite, global_step, first_nonfinite)

            if global_step % args.log_frequency == 0:
                manage_freed_memory(release=True)
                stop_if_nonfinite()
                losses = {"qf1_values": q_values[0], "qf2_values": q_values[1], "qf1_loss": qf_losses[0],
                          "qf2_loss": qf_losses[1], "qf_loss": qf_losses.mean(), "actor_loss": actor_loss}
                for name, value in losses.items():
                    writer.add_scalar(f"losses/{name}", value.item(), global_step)
                if samples is not None:  # None until the first actor update
                    for name, value in policy_charts(actor, data.obs, samples, heat_std, args.entropy_samples).items():
                        writer.add_scalar(f"charts/{name}", value.item(), global_step)
                sps = int((global_step - sps_step) / (time.time() - start_time))
                writer.add_scalar("charts/SPS", sps, global_step)
                start_time, sps_step = time.time(), global_step
                if time.time() - last_print > 10:
                    last_print = time.time()
                    print(f"step={global_step} SPS={sps} qf_loss={qf_losses.mean():.3f} "
                          f"actor_loss={actor_loss:.4f} last_return={last_return:.1f}")

        done_steps = global_step + args.num_envs  # env steps taken once this iteration ends
        if done_steps >= next_eval or done_steps >= args.total_timesteps:
            next_eval += args.eval_frequency
            last_eval = (done_steps, evaluate(actor, args.env_id, args.eval_episodes, args.seed + 10_000, device,
                                              video_folder, done_steps))
            writer.add_scalar("eval/episodic_return", last_eval[1], done_steps)
            print(f"step={done_steps} eval/episodic_return={last_eval[1]:.1f}")
            if args.track and video_folder:
                upload_videos(video_folder, uploaded_videos, done_steps)

        # TRY NOT TO MODIFY: checkpoints (never of a non-finite state) and clean stops on SIGTERM/SIGINT.
        # done_steps % frequency < num_envs: this iteration crossed a multiple of the frequency
        if (done_steps % args.checkpoint_frequency < args.num_envs and done_steps < args.total_timesteps) or stop_signals:
            stop_if_nonfinite()
            save(done_steps)
        if stop_signals:
            writer.close()
            print(f"stopped by signal {stop_signals[0]} after step {done_steps}; checkpoint: {checkpoint_path}; "
                  f"resume with the same command plus --resume {checkpoint_path}")
            sys.exit(128 + stop_signals[0])

    stop_if_nonfinite()
    save(max(start_step, args.total_timesteps))
    if args.save_model:
        model_path = f"runs/{run_name}/{args.exp_name}.cleanrl_model"
        torch.save({"args": vars(args), "actor": actor.state_dict(), "qf": qf.state_dict()}, model_path)
        print(f"model saved to {model_path}; evaluate it with: python {args.exp_name}.py --load-model {model_path}")
    envs.close()
    writer.close()
    if args.track:
        wandb.finish()
    return run_name


if __name__ == "__main__":
    main(tyro.cli(Args))
