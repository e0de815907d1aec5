"""The run machinery of the two WPPG scripts and of the SB3 baseline runner: what a training run
needs that is not the algorithm. It imports no script; copy it beside a script you copy.

  RunArgs, TrainArgs   the flags every run takes (each script's Args extends them)
  ENV_DEFAULTS, resolve_defaults   the paper's per-task table (App. D.3), for every runner
  check_args           bad input exits with one line that says what to change, before any work
  make_env, real_next_obs, evaluate   gymnasium 1.x environments and evaluation
  Run                  run name, TensorBoard, W&B, stop signals, checkpoints, NaN guard
(--resume and --load-model live in run_resume.py, imported only under those flags.)
  Tanh, keep_freed_memory   CPU speed tweaks (docs/speed.md)
"""

import ctypes
import importlib
import math
import os
import random
import shlex
import signal
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Optional

import gymnasium as gym
import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

CHECKPOINT_FORMAT = (
    3  # 1: before run_utils.py; 2: the stacked critic; older ones are refused in one line
)


@dataclass
class RunArgs:
    seed: int = 1
    """seed of the experiment"""
    torch_deterministic: bool = True
    """if toggled, `torch.backends.cudnn.deterministic=True`"""
    cuda: bool = True
    """if toggled, cuda will be used when available (a note says when it falls back to the CPU)"""
    track: bool = False
    """if toggled, this experiment will be tracked with Weights and Biases"""
    wandb_project_name: str = "wppg"
    """the wandb's project name"""
    wandb_entity: Optional[str] = None
    """the entity (team) of wandb's project"""
    env_id: str = "Hopper-v5"
    """the id of the environment: a MuJoCo v5 task, any env with flat Box observations and
    actions, or "module:EnvId" for an env that module registers"""
    total_timesteps: int = 1000000
    """total timesteps of the experiments"""
    learning_starts: int = 10000
    """timestep to start learning (uniform random actions before)"""
    eval_frequency: int = 10000
    """evaluate the deterministic policy every this many steps (and at the end)"""
    eval_episodes: int = 10
    """number of evaluation episodes"""
    log_frequency: int = 100
    """write losses to TensorBoard every this many steps"""


@dataclass
class TrainArgs(RunArgs):
    capture_video: bool = False
    """whether to capture videos of the evaluation episodes (under `videos/{run_name}`)"""
    save_model: bool = False
    """whether to save the actor, critics and args under `runs/{run_name}`"""
    load_model: Optional[str] = None
    """path of a model saved by --save-model: evaluate it instead of training"""
    checkpoint_frequency: int = 50000
    """write runs/{run_name}/checkpoint.pt every this many steps, at the end and on SIGTERM/INT"""
    keep_buffer: bool = False
    """keep the replay buffer in a finished run's last checkpoint (1M steps: 0.1-0.2 GB on the
    paper's small tasks, 2.9 GB on Humanoid), so that a higher --total-timesteps can extend it"""
    resume: Optional[str] = None
    """checkpoint to resume from, or "auto": the newest of this env id, exp_name and seed under
    runs/ (a fresh start if none). Flags that change training must equal the checkpoint's."""


# Paper App. D.3: (256, 256) ReLU networks for Hopper, HalfCheetah and Humanoid, (64, 64) Tanh for
# the other tasks; gamma 0.99 except Swimmer. Keys are env names up to their first "-".
ENV_DEFAULTS = {
    "Hopper": dict(hidden_sizes=(256, 256), activation="relu"),
    "HalfCheetah": dict(hidden_sizes=(256, 256), activation="relu"),
    "Humanoid": dict(hidden_sizes=(256, 256), activation="relu"),
    "Swimmer": dict(gamma=0.9999),
}
FALLBACK_DEFAULTS = dict(hidden_sizes=(64, 64), activation="tanh", gamma=0.99)


def task_defaults(env_id):
    """The per-task table's entry for env_id ("module:Name-v0" included)."""
    return {**FALLBACK_DEFAULTS, **ENV_DEFAULTS.get(env_id.split(":")[-1].split("-")[0], {})}


def resolve_defaults(args):
    """Fill gamma, hidden_sizes and activation left unset (None) from the per-task table, and
    WPPG-I's latent size: round(obs_dim / 3), at least 1 (App. D.3)."""
    for key, value in task_defaults(args.env_id).items():
        if getattr(args, key, 0) is None:
            setattr(args, key, value)
    if getattr(args, "latent_dim", 0) is None:
        env = gym.make(args.env_id)
        args.latent_dim = max(1, round(env.observation_space.shape[0] / 3))
        env.close()
    return args


POSITIVE = """total_timesteps num_envs buffer_size batch_size num_action_samples eval_frequency
    eval_episodes log_frequency checkpoint_frequency latent_dim eval_samples""".split()
ARG_CHECKS = [  # (flag, test of its value, what it must be); a flag the script lacks is skipped
    *[(name, lambda v: v is None or v >= 1, "must be a positive integer") for name in POSITIVE],
    ("learning_starts", lambda v: v >= 0, "must be >= 0"),
    (
        "hidden_sizes",
        lambda v: v is None or (len(v) > 0 and min(v) >= 1),
        "must be one or more positive integers",
    ),
    ("entropy_samples", lambda v: v >= 2, "must be at least 2 (each sample needs a neighbour)"),
    ("num_action_samples", lambda v: v >= 2, "must be at least 2 (the policy's spread is charted)"),
    ("eta", lambda v: v > 0, "(Wasserstein step size) must be > 0"),
    ("entropy_scale", lambda v: v >= 0, "(lambda) must be >= 0"),
    ("ent_coef", lambda v: v >= 0, "must be >= 0"),
    *[(name, lambda v: v > 0, "must be > 0") for name in ["policy_lr", "q_lr", "learning_rate"]],
    ("tau", lambda v: 0 < v <= 1, "must be in (0, 1]"),
    ("gamma", lambda v: v is None or 0 <= v <= 1, "must be in [0, 1]"),
    (
        "resume",
        lambda v: v in (None, "auto") or os.path.isfile(v),
        "must be an existing checkpoint file or auto",
    ),
]


def fail(message):
    """Exit with status 1 and one line on stderr."""
    sys.exit(f"error: {message}")


def flag(name):
    return "--" + name.replace("_", "-")


def check_args(args):
    """Reject bad input before any work: one line that says what to change, a non-zero exit."""
    for name, value in vars(args).items():
        if isinstance(value, float) and not math.isfinite(value):
            fail(f"{flag(name)} must be a finite number, got {value}")
    for name, ok, rule in ARG_CHECKS:
        if hasattr(args, name) and not ok(getattr(args, name)):
            fail(f"{flag(name)} {rule}, got {getattr(args, name)}")
    if getattr(args, "load_model", None) is not None:
        if not os.path.isfile(args.load_model):
            fail(f"--load-model {args.load_model}: no such file")
        return  # the saved model's env is checked when it is loaded
    seeds_used = max(args.total_timesteps, EVAL_SEED_OFFSET + args.eval_episodes)
    seeds_used += getattr(args, "num_envs", 1)  # seed + i per env, seed + step at a resume
    if not 0 <= args.seed <= 2**32 - 1 - seeds_used:  # numpy and gymnasium take [0, 2**32)
        fail(f"--seed must be in [0, {2**32 - 1 - seeds_used}], got {args.seed}")
    name = getattr(args, "exp_name", None)
    if name is not None and (not name.strip() or name.startswith(".") or "/" in name):
        fail(
            f"--exp-name {name!r} must be a plain file name (it names the run's folder and "
            "model): not empty, no '/', not starting with '.'"
        )
    obs_dim, act_dim = check_env(args.env_id)
    if getattr(args, "buffer_size", math.inf) < getattr(args, "batch_size", 0):
        fail(
            f"--buffer-size {args.buffer_size} holds fewer transitions than one batch "
            f"(--batch-size {args.batch_size})"
        )
    check_memory(args, obs_dim, act_dim)
    if args.learning_starts >= args.total_timesteps:
        print(
            f"warning: --learning-starts {args.learning_starts} >= --total-timesteps "
            f"{args.total_timesteps}: no gradient step will run",
            file=sys.stderr,
        )


def check_env(env_id):
    """The env must exist ("module:EnvId" imports module first, which registers it), be made
    without error, and have flat Box observations and Box actions."""
    module, _, env_name = env_id.rpartition(":")
    try:
        if module:
            importlib.import_module(module)
    except Exception as error:  # ImportError, but also a SyntaxError or any error it raises
        text = (str(error).splitlines() or [""])[0][:120]
        fail(f"--env-id {env_id}: cannot import {module!r} ({type(error).__name__}: {text})")
    try:
        with warnings.catch_warnings():  # gymnasium warns of old versions before it fails on them
            warnings.simplefilter("ignore")
            env = gym.make(env_id)
    except gym.error.UnregisteredEnv as error:  # gymnasium's message suggests the close names
        fail(f"unknown --env-id {env_id!r}: {(str(error).splitlines() or [''])[0][:160]}")
    except Exception as error:  # a missing package, an old MuJoCo version, a broken entry point
        text = (str(error).splitlines() or [""])[0][:120]
        fail(
            f"--env-id {env_id} cannot be made here ({type(error).__name__}: {text}); "
            "the MuJoCo tasks are the v5 ones, e.g. Hopper-v5"
        )
    obs_space, act_space, spec = env.observation_space, env.action_space, env.spec
    env.close()
    if not isinstance(act_space, gym.spaces.Box):
        fail(
            f"{env_id} has a {type(act_space).__name__} action space; WPPG needs continuous "
            "(Box) actions"
        )
    if not (isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1):
        fail(f"{env_id} observations must be a flat Box, got {obs_space}; flatten them first")
    if len(act_space.shape) != 1:
        fail(f"{env_id} actions must be a flat Box (one dimension), got shape {act_space.shape}")
    finite = np.isfinite(act_space.low).all() and np.isfinite(act_space.high).all()
    if not finite or not (act_space.low < act_space.high).all():
        fail(
            f"{env_id} action bounds must be finite with low < high (the actor squashes into "
            f"them), got low {act_space.low}, high {act_space.high}"
        )
    if spec is None or spec.max_episode_steps is None:
        fail(
            f"{env_id} has no time limit, so an evaluation episode may never end; register it "
            "with max_episode_steps"
        )
    return obs_space.shape[0], act_space.shape[0]


def check_memory(args, obs_dim, act_dim):
    """Refuse, before any work, what cannot fit in the memory free now: the replay buffer (float32
    rows of obs, next obs, action, reward, done), the networks (actor and target, 4 critics, with
    gradients and Adam's two moments) and one update's K-sample passes (a generous bound:
    activations and gradients of 2 critics x 3 passes, the entropy estimate's distances)."""
    hidden = getattr(args, "hidden_sizes", None) or task_defaults(args.env_id)["hidden_sizes"]
    latent = getattr(args, "latent_dim", None) or 0  # an implicit actor's input z
    rows = min(getattr(args, "buffer_size", 0), args.total_timesteps)
    buffer = 4 * rows * (2 * obs_dim + act_dim + 2)
    layers = list(zip([obs_dim + latent + act_dim, *hidden], [*hidden, 2 * act_dim]))
    networks = 4 * 6 * 4 * sum((n_in + 1) * n_out for n_in, n_out in layers)
    batch, k = getattr(args, "batch_size", 0), getattr(args, "num_action_samples", 0)
    entropy = getattr(args, "entropy_samples", 0)
    width = sum(hidden) + obs_dim + act_dim + latent
    update = 4 * batch * (24 * k * width + entropy**2 * act_dim + entropy * width)
    available = free_memory()
    if available is None:
        return
    sizes = "--hidden-sizes" + (" or --latent-dim" if latent else "")
    for what, size, flags in [
        ("the replay buffer", buffer, "--buffer-size"),
        ("the networks", networks, sizes),
        ("one update", update, f"--batch-size, --num-action-samples, --entropy-samples or {sizes}"),
        ("the buffer, networks and one update", buffer + networks + update, "--buffer-size"),
    ]:
        if size > available:
            fail(
                f"{what} {'need' if what.endswith('s') else 'needs'} about {size / 2**30:.1f} GiB, "
                f"more than the {available / 2**30:.1f} "
                f"GiB free; lower {flags}"
            )


def free_memory():
    """Bytes of memory available now (Linux's MemAvailable: free plus reclaimable cache), or None
    where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def seed_everything(seed, torch_deterministic):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = torch_deterministic


def pick_device(args):
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")
    if args.cuda and device.type == "cpu":
        print("note: CUDA is not available, running on the CPU")
    return device


# ------------------------------------------------------------------------------------------------
# Environments and evaluation (gymnasium 1.x)
# ------------------------------------------------------------------------------------------------
def make_env(env_id, seed, video_folder=None, video_every=1, video_prefix="rl-video"):
    def thunk():
        if video_folder:
            env = gym.make(env_id, render_mode="rgb_array")
            trigger = lambda episode: episode % video_every == 0  # noqa: E731
            with warnings.catch_warnings():  # the folder is reused, but each video is named
                warnings.filterwarnings("ignore", message=".*Overwriting existing videos")
                env = gym.wrappers.RecordVideo(env, video_folder, trigger, name_prefix=video_prefix)
        else:
            env = gym.make(env_id)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env.action_space.seed(seed)
        return env

    return thunk


def can_render(env_id):
    """--capture-video needs a renderer: try one frame before training, so that a missing one
    costs no training."""
    try:
        env = gym.make(env_id, render_mode="rgb_array")
        env.reset(seed=0)
        env.render()
        env.close()
        return True
    except Exception as error:  # no GL, no pygame, ...
        why = f"{env_id} cannot render here ({type(error).__name__})"
        print(
            f"warning: --capture-video: {why}; going on without videos (MuJoCo needs "
            "MUJOCO_GL=egl or osmesa)",
            file=sys.stderr,
        )
        return False


def real_next_obs(next_obs, infos):
    """With same-step autoreset, next_obs holds the reset observation where an episode ended; the
    real final observation, which truncated episodes bootstrap from, is in infos["final_obs"]."""
    real = next_obs.copy()
    for idx in np.flatnonzero(infos.get("_final_obs", [])):
        real[idx] = infos["final_obs"][idx]
    return real


EVAL_SEED_OFFSET = 10_000  # evaluation episodes use seeds seed + 10,000, + 10,001, ...


def evaluate(policy, env_id, episodes, seed, device, video_folder=None, step=0, stop=bool):
    """Mean return of policy(obs (1, obs_dim)) -> action (1, act_dim) over `episodes` episodes on
    a separate env; a video of the first episode is named after the step, so none is overwritten.
    A policy that samples draws from torch's generator seeded with `seed`, restored afterwards:
    evaluating never changes training's random numbers. Returns None as soon as stop() is true
    (a stop signal), whatever the episode's length."""
    env = make_env(env_id, seed, video_folder, episodes, f"eval-step-{step}")()
    returns = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed + episode)
            done = False
            while not done:
                if stop():
                    env.close()
                    return None
                with torch.no_grad():
                    x = torch.as_tensor(obs, dtype=torch.float32, device=device)
                    action = policy(x.unsqueeze(0))[0]
                obs, _, terminated, truncated, info = env.step(action.cpu().numpy())
                done = terminated or truncated
            returns.append(float(info["episode"]["r"]))
    env.close()
    return float(np.mean(returns))


def run_prefix(env_id, exp_name, seed):
    """CleanRL's run name is {env_id}__{exp_name}__{seed}__{unix time}: this is its identity."""
    return f"{env_id}__{exp_name}__{seed}"


def new_run_dir(env_id, exp_name, seed):
    """Name a new run and create runs/{name} at once: os.mkdir fails where the folder exists, so
    two runs started in the same second never share one; the second takes the name with -2."""
    base = f"{run_prefix(env_id, exp_name, seed)}__{int(time.time())}"
    for name in [base, *(f"{base}-{n}" for n in range(2, 1000))]:
        try:
            os.makedirs("runs", exist_ok=True)
            os.mkdir(f"runs/{name}")
            return name
        except FileExistsError:
            if not os.path.isdir("runs"):
                fail("cannot write to runs/ (a file of that name is in the way); move it away")
        except OSError as error:
            fail(f"cannot write to runs/{name} ({error.strerror}); run from a writable folder")
    fail(f"runs/{base}: 1,000 runs of this name started in one second; wait a second")


# ------------------------------------------------------------------------------------------------
# Logs: TensorBoard and W&B
# ------------------------------------------------------------------------------------------------
def open_writer(args, name, purge_step=None):
    """The run's TensorBoard writer under runs/{name}, with the flags as a table. On resume
    (purge_step), events at or after the checkpoint's step are dropped: none is logged twice."""
    try:
        writer = SummaryWriter(f"runs/{name}", purge_step=purge_step)
    except OSError as error:
        fail(f"cannot write to runs/{name} ({error.strerror}); run from a writable folder")
    table = "\n".join(f"|{key}|{value}|" for key, value in vars(args).items())
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + table)
    return writer


def init_wandb(args, name, run_id):
    """Start W&B, with the run's name, group and tags from benchmark.sh (WANDB_NAME: the run's
    folder, --tag included; WANDB_RUN_GROUP: task and algorithm; WANDB_TAGS: the algorithm and
    the git commit) or, run by hand, from the run itself; the script and this module are uploaded.
    Never hang without a network or an API key: fall back to offline logging."""
    import wandb

    kwargs = dict(
        project=args.wandb_project_name,
        entity=args.wandb_entity,
        config=vars(args),
        sync_tensorboard=True,
        name=os.environ.get("WANDB_NAME", name),
        group=os.environ.get("WANDB_RUN_GROUP", f"{args.env_id}__{args.exp_name}"),
        tags=os.environ.get("WANDB_TAGS", args.exp_name).split(","),
        job_type="train",
        save_code=True,
        id=run_id,
        resume="allow",
    )
    try:
        timeout = os.environ.get("WANDB_INIT_TIMEOUT", 30)  # seconds; W&B's own variable
        wandb.init(**kwargs, settings=wandb.Settings(init_timeout=timeout))
    except Exception as error:  # no API key, no network, timeouts: many types
        print(
            f"warning: W&B is not reachable ({type(error).__name__}: {str(error)[:100]}); "
            "logging offline; upload later: wandb sync wandb/offline-run-*"
        )
        wandb.teardown()  # drop the half-started online run before the offline one
        try:
            wandb.init(**kwargs, mode="offline")
        except Exception as error:  # an unwritable wandb/ folder, a full disk
            fail(
                f"W&B cannot log offline either ({type(error).__name__}: "
                f"{(str(error).splitlines() or [''])[0][:80]}); fix ./wandb or drop --track"
            )
    here = os.path.dirname(os.path.abspath(__file__))  # save_code uploads the script alone
    wandb.save(os.path.join(here, "run_utils.py"), base_path=here, policy="now")


# ------------------------------------------------------------------------------------------------
# One training run: name, logs, W&B, signals, checkpoints and resume, the non-finite guard
# ------------------------------------------------------------------------------------------------
class Run:
    """The bookkeeping of one training run, so that the training loop reads as the algorithm.
    Run(args, script, device) checks and loads the --resume checkpoint before it opens anything,
    names the run, starts W&B and TensorBoard and catches SIGTERM/SIGINT. In the loop:
    restore, log_episodes, guard, stop_if_nonfinite, log, evaluate_if_due, stopping,
    checkpoint_if_due; after it: finish."""

    def __init__(self, args, script, device):
        self.args, self.script, self.device = args, script, device
        keep_freed_memory()
        self.checkpoint = None
        if args.resume:  # the resume machinery: only under --resume
            from run_resume import load_checkpoint

            self.checkpoint = load_checkpoint(args, script, device)
        if self.checkpoint:
            self.name, self.wandb_id = self.checkpoint["run_name"], self.checkpoint["wandb_id"]
        else:
            self.name = new_run_dir(args.env_id, args.exp_name, args.seed)
            self.wandb_id = os.urandom(4).hex()
        self.lock = lock_run(self.name)  # held until this process exits
        self.path = f"runs/{self.name}/checkpoint.pt"
        self.video_folder = None
        if args.capture_video and can_render(args.env_id):
            self.video_folder = f"videos/{self.name}"
        if args.track:
            init_wandb(args, self.name, self.wandb_id)
        self.stop_signals, self.uploaded_videos = [], set()
        for sig in (signal.SIGTERM, signal.SIGINT):  # the loop stops after its step, checkpointed
            signal.signal(sig, lambda signum, frame: self.stop_signals.append(signum))
        step = self.checkpoint["step"] if self.checkpoint else 0
        self.writer = open_writer(args, self.name, purge_step=step or None)
        print(f"run {self.name} on {device}: logs in runs/{self.name}")
        self.next_eval, self.last_eval = args.eval_frequency, None  # last_eval: (step, mean return)
        self.first_nonfinite, self.loss_names = None, []
        self.sps_time, self.sps_step, self.last_print = time.time(), step, 0.0
        self.last_warmup_print = 0.0
        self.last_return = float("nan")

    def restore(self, checkpointed, envs):
        """Load a resumed run's states into checkpointed (name -> object with load_state_dict)
        and the RNGs; returns the first step (0 for a fresh run)."""
        if not self.checkpoint:
            return 0
        from run_resume import restore

        step, self.next_eval, self.last_eval = restore(self.checkpoint, checkpointed, envs)
        if self.last_eval is not None and self.last_eval[0] == step:  # purge_step dropped it
            self.scalar("eval/episodic_return", self.last_eval[1], step)
        return step

    def log_episodes(self, infos, step):
        """Log the episodes that ended at this step (charts/episodic_return and _length)."""
        if "final_info" in infos:
            done, episodes = infos["final_info"]["_episode"], infos["final_info"]["episode"]
            for ret, length in zip(episodes["r"][done], episodes["l"][done]):
                self.scalar("charts/episodic_return", ret, step)
                self.scalar("charts/episodic_length", length, step)
                self.last_return = float(ret)
            warm_up = step < self.args.learning_starts  # no losses yet: progress from the returns
            if warm_up and time.time() - self.last_warmup_print > 10:
                self.last_warmup_print = time.time()
                print(f"step={step} last_return={self.last_return:.1f} (warm-up)", flush=True)

    @property
    def last_checkpoint(self):
        return self.path if os.path.exists(self.path) else "none written yet"

    def scalar(self, tag, value, step):
        """writer.add_scalar; a failed write (a full disk: TensorBoard's writer thread re-raises its
        error here) ends the run in one line, keeping the last checkpoint."""
        try:
            self.writer.add_scalar(tag, value, step)
        except Exception as error:
            reason = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:80]}"
            fail(
                f"cannot write the TensorBoard log in runs/{self.name} ({reason}); free disk "
                f"space or fix permissions; last checkpoint: {self.last_checkpoint}"
            )

    def guard(self, losses, step):
        """Remember the first step at which each loss (name -> 0-d tensor) became non-finite,
        without a host sync."""
        values = torch.stack(list(losses.values()))
        if self.first_nonfinite is None:
            self.loss_names, self.first_nonfinite = list(losses), torch.full_like(values, -1)
        bad = (self.first_nonfinite < 0) & ~torch.isfinite(values)
        self.first_nonfinite = torch.where(bad, step, self.first_nonfinite)

    def stop_if_nonfinite(self):
        """Exit with one line if a loss became non-finite; one host sync, so call it rarely."""
        if self.first_nonfinite is None:
            return
        for name, step in zip(self.loss_names, self.first_nonfinite.tolist()):
            if step >= 0:
                self.writer.close()
                fail(
                    f"losses/{name} became non-finite at step {int(step)}; last good checkpoint: "
                    f"{self.last_checkpoint}; try a smaller --q-lr, --policy-lr or --eta"
                )

    def log(self, scalars, step):
        """Write scalars (tag -> tensor or number) and charts/SPS; print progress, with each
        losses/*_loss, every 10 s. First: stop if a loss became non-finite; free unused memory."""
        keep_freed_memory(release=True)
        self.stop_if_nonfinite()
        for tag, value in scalars.items():
            self.scalar(tag, value.item() if torch.is_tensor(value) else value, step)
        sps = "n/a"  # a resumed run's first log can come at the checkpoint's step: no rate yet
        if step > self.sps_step:
            sps = int((step - self.sps_step) / (time.time() - self.sps_time))
            self.scalar("charts/SPS", sps, step)
            self.sps_time, self.sps_step = time.time(), step
        if time.time() - self.last_print > 10:
            self.last_print = time.time()
            last = "none yet" if math.isnan(self.last_return) else f"{self.last_return:.1f}"
            losses = [
                f"{tag[7:]}={float(value):.4g}"
                for tag, value in scalars.items()
                if tag.startswith("losses/") and tag.endswith("_loss")
            ]
            print(f"step={step} SPS={sps} {' '.join(losses)} last_return={last}", flush=True)

    def evaluate_if_due(self, policy, done_steps, extra=None):
        """Evaluate every eval_frequency steps and at the end (done_steps: env steps so far);
        extra: {name: policy}, each logged as eval/episodic_return_{name} (no video)."""
        args = self.args
        if done_steps < self.next_eval and done_steps < args.total_timesteps:
            return
        seed, stop = args.seed + EVAL_SEED_OFFSET, lambda: self.stopping
        video = dict(video_folder=self.video_folder, step=done_steps)
        mean = evaluate(
            policy, args.env_id, args.eval_episodes, seed, self.device, **video, stop=stop
        )
        others = {
            name: evaluate(other, args.env_id, args.eval_episodes, seed, self.device, stop=stop)
            for name, other in (extra or {}).items()
        }
        if mean is None or None in others.values():  # stopped by a signal: the loop checkpoints
            return  # and exits; resumed, it evaluates again
        self.next_eval += args.eval_frequency
        self.last_eval = (done_steps, mean)
        self.scalar("eval/episodic_return", mean, done_steps)
        for name, value in others.items():
            self.scalar(f"eval/episodic_return_{name}", value, done_steps)
        print(f"step={done_steps} eval/episodic_return={mean:.1f}")
        if args.track and self.video_folder:
            self.upload_videos(done_steps)

    def upload_videos(self, step):
        """gymnasium 1.x videos no longer reach W&B by themselves: log new files explicitly."""
        import wandb

        folder = self.video_folder
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            if name.endswith(".mp4") and name not in self.uploaded_videos:
                video = wandb.Video(os.path.join(folder, name), format="mp4")
                wandb.log({"eval/video": video, "global_step": step})
                self.uploaded_videos.add(name)

    @property
    def stopping(self):
        return bool(self.stop_signals)

    def checkpoint_if_due(self, checkpointed, envs, done_steps):
        """Every checkpoint_frequency steps (done_steps crossed a multiple of it), except at the
        end, which finish() saves."""
        crossed = done_steps % self.args.checkpoint_frequency < self.args.num_envs
        if crossed and done_steps < self.args.total_timesteps:
            self.save(checkpointed, envs, done_steps)

    def save(self, checkpointed, envs, step, keep_buffer=True):
        """A checkpoint, never of a non-finite state, written atomically; without
        checkpointed["replay_buffer"] if not keep_buffer."""
        self.stop_if_nonfinite()
        rng = {
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
            "action_space": envs.single_action_space.np_random.bit_generator.state,
        }
        state = {
            "format": CHECKPOINT_FORMAT,
            "script": self.script,
            "step": step,
            "next_eval": self.next_eval,
            "last_eval": self.last_eval,
            "run_name": self.name,
            "wandb_id": self.wandb_id,
            "args": vars(self.args),
            "rng": rng,
        }
        kept = {k: obj for k, obj in checkpointed.items() if keep_buffer or k != "replay_buffer"}
        state |= {k: obj.state_dict() for k, obj in kept.items()}
        save_atomically(state, self.path, protocol=4)  # protocol 2: the buffer 1.5x larger

    def finish(self, checkpointed, envs, step, model):
        """After the loop: the last checkpoint, the saved model (--save-model), closed logs; after
        a stop signal, exit 128 + its number with the command that resumes. A finished run keeps
        its replay buffer only with --keep-buffer: it would never be read otherwise."""
        self.save(checkpointed, envs, step, keep_buffer=self.stopping or self.args.keep_buffer)
        self.writer.close()
        if self.stopping:
            print(
                f"stopped by signal {self.stop_signals[0]} after step {step}; checkpoint: "
                f"{self.path}; resume with the same command plus --resume {self.path}"
            )
            sys.exit(128 + self.stop_signals[0])
        if self.args.save_model:
            path = f"runs/{self.name}/{self.args.exp_name}.cleanrl_model"
            save_atomically({"script": self.script, **model}, path)
            print(
                f"model saved to {path}; evaluate it: python {self.script} --load-model "
                f"{shlex.quote(path)}"
            )
        if self.args.track:
            import wandb

            wandb.finish()


def lock_run(name):
    """One process per run: an exclusive lock on runs/{name}/.lock, held while this process
    lives (the kernel drops it when the process ends, however it ends, so a stale lock is simply
    taken). A second process, e.g. a forgotten --resume auto, is refused in one line."""
    import fcntl

    try:
        lock = open(f"runs/{name}/.lock", "a+")
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        fail(f"runs/{name} is being trained by another process (pid {holder}); stop it first")
    except OSError as error:
        fail(f"cannot lock runs/{name} ({error.strerror}); run from a writable folder")
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    return lock


def save_atomically(state, path, protocol=2):
    """torch.save to a temporary file, then rename it over path, so a kill never leaves a torn
    file. On a failure (a full disk raises RuntimeError, permissions OSError) the temporary file is
    removed, path is kept as it was, and the run exits with one line."""
    try:
        torch.save(state, path + ".tmp", pickle_protocol=protocol)
        os.replace(path + ".tmp", path)
    except (OSError, RuntimeError) as error:
        if os.path.exists(path + ".tmp"):
            os.remove(path + ".tmp")
        reason = getattr(error, "strerror", None) or (str(error).splitlines() or [""])[0][:100]
        fail(
            f"cannot write {path} ({reason}); free disk space or fix permissions (the previous "
            "file, if any, is kept)"
        )


# ------------------------------------------------------------------------------------------------
# CPU speed tweaks (docs/speed.md)
# ------------------------------------------------------------------------------------------------
class InplaceTanh(torch.autograd.Function):
    """tanh in place, as 2 sigmoid(2x) - 1 (equal to torch.tanh within 2e-7), with torch.tanh's
    backward from the output: twice as fast as torch.tanh_ on our CPU."""

    @staticmethod
    def forward(ctx, x):
        ctx.mark_dirty(x)
        y = x.mul_(2).sigmoid_().mul_(2).sub_(1)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        return torch.ops.aten.tanh_backward(grad, *ctx.saved_tensors)  # grad (1 - y^2), one pass


inplace_tanh = InplaceTanh.apply


class Tanh(torch.nn.Module):
    def forward(self, x):
        return inplace_tanh(x)


def keep_freed_memory(release=False):
    """Keep freed activations for reuse: the K-sample passes allocate and free MB-sized buffers
    every update, and glibc by default hands them back at once, so each update page-faults them
    in afresh. release=True hands all free memory back. Linux with glibc only."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        if release:
            libc.malloc_trim(0)
        else:
            libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: buffers up to 32 MB from the heap
            libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep freed memory until malloc_trim
    except (OSError, AttributeError):
        pass
