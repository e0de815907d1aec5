"""The run machinery of the two WPPG scripts and of the SB3 baseline runner: what a training run
needs that is not the algorithm. It imports no script and names none of their flags (each script
passes its own rules and memory count); copy it beside a script you copy.

  Rule, POSITIVE, ...  the rules a flag declares, `lr: Annotated[float, POSITIVE] = 1e-3`
  RunArgs, TrainArgs   the flags every run takes (each script's Args extends them)
  ENV_DEFAULTS, resolve_defaults   the paper's per-task table (App. D.3), for every runner
  check_args, check_memory   bad input exits with one line that says what to change, before work
  make_env, real_next_obs, evaluate, ReplayBuffer   gymnasium 1.x environments, evaluation, replay
  Run                  run name, TensorBoard, stop signals, checkpoints, NaN guard
  Tanh, keep_freed_memory   CPU speed tweaks (docs/speed.md)
--resume, --load-model, --capture-video and --track: run_extras.py, imported under those flags.
"""

import collections
import ctypes
import errno
import importlib
import math
import os
import random
import shlex
import signal
import sys
import threading
import time
import typing
import warnings
from dataclasses import dataclass
from typing import Annotated, Callable, Literal, Optional, Tuple

import gymnasium as gym
import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

# 1: before run_utils.py; 2: the stacked critic; older formats are refused in one line
CHECKPOINT_FORMAT = 3


@dataclass(frozen=True)
class Rule:
    """A flag's rule, attached where the flag is declared, `lr: Annotated[float, POSITIVE]`;
    check_args tests each value (None, a default still to be filled, passes): test(value, args)."""

    test: Callable
    what: str


POSITIVE = Rule(lambda v, _: v > 0, "must be > 0")
COUNT = Rule(lambda v, _: v >= 1, "must be a positive integer")
NON_NEGATIVE = Rule(lambda v, _: v >= 0, "must be >= 0")
PAIRS = Rule(lambda v, _: v >= 2, "must be at least 2 (a spread needs two samples)")
FRACTION = Rule(lambda v, _: 0 < v <= 1, "must be in (0, 1]")
DISCOUNT = Rule(lambda v, _: 0 <= v <= 1, "must be in [0, 1]")
SIZES = Rule(lambda v, _: len(v) > 0 and min(v) >= 1, "must be one or more positive integers")
WITHIN_BUDGET = Rule(lambda v, args: v <= args.total_timesteps, "must be at most --total-timesteps")
CHECKPOINT = Rule(lambda v, _: v == "auto" or os.path.isfile(v), "must be an existing file or auto")
NOT_TRAINING = "not training"  # marks a flag that does not change training: --resume may change it


@dataclass
class RunArgs:
    seed: int = 1
    """seed of the experiment"""
    torch_deterministic: bool = True
    """if toggled, `torch.backends.cudnn.deterministic=True`"""
    cuda: Annotated[bool, NOT_TRAINING] = True
    """if toggled, cuda will be used when available (a note says when it falls back to the CPU)"""
    track: Annotated[bool, NOT_TRAINING] = False
    """if toggled, this experiment will be tracked with Weights and Biases"""
    wandb_project_name: Annotated[str, NOT_TRAINING] = "wppg"
    """the wandb's project name"""
    wandb_entity: Annotated[Optional[str], NOT_TRAINING] = None
    """the entity (team) of wandb's project"""
    env_id: str = "Hopper-v5"
    """the id of the environment: a MuJoCo v5 task, any env with flat Box observations and
    actions, or "module:EnvId" for an env that module registers"""
    total_timesteps: Annotated[int, COUNT, NOT_TRAINING] = 1000000
    """total timesteps of the experiments (a resumed run may go on longer)"""
    learning_starts: Annotated[int, NON_NEGATIVE] = 10000
    """timestep to start learning (uniform random actions before)"""
    eval_frequency: Annotated[int, COUNT, NOT_TRAINING] = 10000
    """evaluate the deterministic policy every this many steps (and at the end)"""
    eval_episodes: Annotated[int, COUNT, NOT_TRAINING] = 10
    """number of evaluation episodes"""
    log_frequency: Annotated[int, COUNT, NOT_TRAINING] = 100
    """write losses to TensorBoard every this many steps"""
    gamma: Annotated[Optional[float], DISCOUNT] = None
    """the discount factor gamma (default: per task, run_utils.ENV_DEFAULTS)"""
    hidden_sizes: Annotated[Optional[Tuple[int, ...]], SIZES] = None
    """hidden layer sizes of the networks (default: per task, run_utils.ENV_DEFAULTS)"""
    activation: Optional[Literal["relu", "tanh"]] = None
    """hidden activation of the networks (default: per task, run_utils.ENV_DEFAULTS)"""


@dataclass
class TrainArgs(RunArgs):
    capture_video: Annotated[bool, NOT_TRAINING] = False
    """whether to capture videos of the evaluation episodes (under `videos/{run_name}`)"""
    save_model: Annotated[bool, NOT_TRAINING] = False
    """whether to save the actor, critics and args under `runs/{run_name}`"""
    load_model: Optional[str] = None
    """path of a model saved by --save-model: evaluate it instead of training"""
    checkpoint_frequency: Annotated[int, COUNT, NOT_TRAINING] = 50000
    """write runs/{run_name}/checkpoint.pt every this many steps, at the end and on SIGTERM/INT"""
    keep_buffer: Annotated[bool, NOT_TRAINING] = False
    """keep the replay buffer in a finished run's last checkpoint (1M steps: 0.1-0.2 GB on the
    paper's small tasks, 2.9 GB on Humanoid), so that a higher --total-timesteps can extend it"""
    resume: Annotated[Optional[str], CHECKPOINT, NOT_TRAINING] = None
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
    """Fill gamma, hidden_sizes and activation left unset (None) from the per-task table."""
    for key, value in task_defaults(args.env_id).items():
        if getattr(args, key, 0) is None:
            setattr(args, key, value)
    return args


def fail(message):
    """Exit with status 1 and one line on stderr."""
    sys.exit(f"error: {message}")


def reason(error, width=120):
    """An exception as one short line: its type and the first line of its message."""
    return f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:width]}"


def flag(name):
    return "--" + name.replace("_", "-")


def check_args(args):
    """Reject bad input before any work: one line that says what to change, a non-zero exit.
    Tests every flag's rules (its Annotated Rule objects), the seed and the env; returns the env's
    (obs_dim, act_dim), or None under --load-model (the saved model's env is checked then)."""
    for name, value in vars(args).items():
        if isinstance(value, float) and not math.isfinite(value):
            fail(f"{flag(name)} must be a finite number, got {value}")
    for name, hint in typing.get_type_hints(type(args), include_extras=True).items():
        for rule in getattr(hint, "__metadata__", ()):
            value = getattr(args, name)
            if isinstance(rule, Rule) and value is not None and not rule.test(value, args):
                fail(f"{flag(name)} {rule.what}, got {value}")
    if getattr(args, "load_model", None) is not None:
        if not os.path.isfile(args.load_model):
            fail(f"--load-model {args.load_model}: no such file")
        return None
    # seeds used: seed + i per env and seed + step at a resume (i, step < total_timesteps), and
    # seed + EVAL_SEED_OFFSET + episode; numpy and gymnasium take [0, 2**32)
    highest = 2**32 - 1 - max(args.total_timesteps, EVAL_SEED_OFFSET + args.eval_episodes)
    if highest < 0:
        fail(f"--total-timesteps must be below 2**32 (seeds run out), got {args.total_timesteps}")
    if not 0 <= args.seed <= highest:
        fail(f"--seed must be in [0, {highest}], got {args.seed}")
    name = getattr(args, "exp_name", None)
    if name is not None and (not name.strip() or name.startswith(".") or "/" in name):
        fail(
            f"--exp-name {name!r} must be a plain file name (it names the run's folder and "
            "model): not empty, no '/', not starting with '.'"
        )
    dims = check_env(args.env_id)
    if args.learning_starts >= args.total_timesteps:
        print(
            f"warning: --learning-starts {args.learning_starts} >= --total-timesteps "
            f"{args.total_timesteps}: no gradient step will run",
            file=sys.stderr,
        )
    return dims


def check_env(env_id):
    """The env must exist ("module:EnvId" imports module first, which registers it), be made
    without error, and have flat Box observations and Box actions."""
    module, _, env_name = env_id.rpartition(":")
    try:
        if module:
            importlib.import_module(module)
    except Exception as error:  # ImportError, but also a SyntaxError or any error it raises
        fail(f"--env-id {env_id}: cannot import {module!r} ({reason(error)})")
    try:
        with warnings.catch_warnings():  # gymnasium warns of old versions before it fails on them
            warnings.simplefilter("ignore")
            env = gym.make(env_id)
    except gym.error.UnregisteredEnv as error:  # gymnasium's message suggests the close names
        fail(f"unknown --env-id {env_id!r}: {(str(error).splitlines() or [''])[0][:160]}")
    except Exception as error:  # a missing package, an old MuJoCo version, a broken entry point
        fail(f"--env-id {env_id} cannot be made here ({reason(error)}); MuJoCo tasks are v5 ones")
    obs_space, act_space, spec = env.observation_space, env.action_space, env.spec
    env.close()
    if not isinstance(act_space, gym.spaces.Box):
        fail(f"{env_id} has a {type(act_space).__name__} action space; continuous (Box) needed")
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
    if spec is None or spec.max_episode_steps is None:  # an evaluation might never end
        fail(f"{env_id} has no time limit; register it with max_episode_steps")
    return obs_space.shape[0], act_space.shape[0]


def check_memory(needs):
    """Refuse, before any work, what cannot fit in the memory available now (Linux's MemAvailable,
    else unchecked). needs: the script's count, [(what, bytes, the flags that set it)]."""
    try:
        with open("/proc/meminfo") as f:
            available = int(dict(line.split(":", 1) for line in f)["MemAvailable"].split()[0]) << 10
    except (OSError, KeyError, ValueError):
        return
    total = sum(size for _, size, _ in needs)
    for what, size, flags in [*needs, ("all of it", total, needs[0][2])]:
        if size > available:
            fail(
                f"{what} would take about {size / 2**30:.1f} GiB, more than the "
                f"{available / 2**30:.1f} GiB free; lower {flags}"
            )


def pick_device(args):
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")
    if args.cuda and device.type == "cpu":
        print("note: CUDA is not available, running on the CPU")
    return device


# --- Environments and evaluation (gymnasium 1.x) ------------------------------------------------
def make_env(env_id, seed, video_folder=None, video_every=1, video_prefix="rl-video"):
    def thunk():
        if video_folder:  # --capture-video
            from run_extras import record_video

            env = record_video(env_id, video_folder, video_every, video_prefix)
        else:
            env = gym.make(env_id)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env.action_space.seed(seed)
        return env

    return thunk


def real_next_obs(next_obs, infos):
    """With same-step autoreset, next_obs holds the reset observation where an episode ended; the
    real final observation, which truncated episodes bootstrap from, is in infos["final_obs"]."""
    real = next_obs.copy()
    for idx in np.flatnonzero(infos.get("_final_obs", [])):
        real[idx] = infos["final_obs"][idx]
    return real


Batch = collections.namedtuple("Batch", ["obs", "next_obs", "actions", "rewards", "terminations"])


class ReplayBuffer:
    """Transitions in preallocated float32 tensors on the training device, as CleanRL takes SB3's
    buffer: next_obs holds the real final observation (real_next_obs); sampled with replacement."""

    def __init__(self, size, obs_dim, act_dim, device):
        self.size, self.pos, self.full, self.device = size, 0, False, device
        self.obs = torch.zeros(size, obs_dim, device=device)
        self.next_obs = torch.zeros(size, obs_dim, device=device)
        self.actions = torch.zeros(size, act_dim, device=device)
        self.rewards = torch.zeros(size, device=device)
        self.terminations = torch.zeros(size, device=device)

    def add(self, obs, next_obs, actions, rewards, terminations):
        idx = (self.pos + np.arange(len(obs))) % self.size
        for name, value in zip(Batch._fields, [obs, next_obs, actions, rewards, terminations]):
            value = np.asarray(value, dtype=np.float32)
            getattr(self, name)[idx] = torch.as_tensor(value, device=self.device)
        self.full = self.full or self.pos + len(obs) >= self.size
        self.pos = (self.pos + len(obs)) % self.size

    def sample(self, batch_size):
        high = self.size if self.full else self.pos
        idx = torch.randint(0, high, (batch_size,), device=self.device)
        return Batch(*(getattr(self, name)[idx] for name in Batch._fields))

    def state_dict(self):  # the filled rows only, as numpy arrays
        n = self.size if self.full else self.pos
        rows = {k: getattr(self, k)[:n].cpu().numpy() for k in Batch._fields}
        return {"pos": self.pos, "full": self.full, **rows}

    def load_state_dict(self, state):
        self.pos, self.full = state["pos"], state["full"]
        for k in Batch._fields:
            getattr(self, k)[: len(state[k])] = torch.as_tensor(state[k], device=self.device)


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
    """CleanRL's run name is {env_id}__{exp_name}__{seed}__{unix time}: this is its identity (a
    namespaced id's "/", as in ns/Name-v0, becomes "_": one folder per run)."""
    return f"{env_id.replace('/', '_')}__{exp_name}__{seed}"


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
            long = error.errno == errno.ENAMETOOLONG
            fix = "shorten --exp-name" if long else "run from a writable folder"
            fail(f"cannot write to runs/{name[:80]} ({error.strerror}); {fix}")
    fail(f"runs/{base}: 1,000 runs of this name started in one second; wait a second")


# --- One training run: its name, logs, signals, checkpoints, the non-finite guard ---------------
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


class Run:
    """The bookkeeping of one run, so that the training loop reads as the algorithm: the --resume
    checkpoint checked first, the run's name, W&B, TensorBoard, SIGTERM/SIGINT caught. In the loop:
    restore, log_episodes, guard, log, evaluate_if_due, stopping, checkpoint_if_due; then finish."""

    def __init__(self, args, script, device):
        self.args, self.script, self.device = args, script, device
        keep_freed_memory()
        self.checkpoint = None
        if args.resume:  # the resume machinery: only under --resume
            from run_extras import load_checkpoint

            self.checkpoint = load_checkpoint(args, script, device)
        if self.checkpoint:
            self.name, self.wandb_id = self.checkpoint["run_name"], self.checkpoint["wandb_id"]
        else:
            self.name = new_run_dir(args.env_id, args.exp_name, args.seed)
            self.wandb_id = os.urandom(4).hex()
        self.lock = lock_run(self.name)  # held until this process exits
        self.path = f"runs/{self.name}/checkpoint.pt"
        self.video_folder = None
        if args.capture_video or args.track:  # the extras for rare flags: only under those flags
            import run_extras

            if args.capture_video and run_extras.can_render(args.env_id):
                self.video_folder = f"videos/{self.name}"
            if args.track:
                run_extras.init_wandb(args, self.name, self.wandb_id)
        self.stop_signals, self.uploaded_videos = [], set()
        hook = threading.excepthook  # silent for TensorBoard's writer thread: scalar() reports
        threading.excepthook = lambda a: "AsyncWriter" in str(a.thread) or hook(a)  # a full disk
        for sig in (signal.SIGTERM, signal.SIGINT):  # the loop stops after its step, checkpointed
            signal.signal(sig, lambda signum, frame: self.stop_signals.append(signum))
        step = self.checkpoint["step"] if self.checkpoint else 0
        self.writer = open_writer(args, self.name, purge_step=step or None)
        print(f"run {self.name} on {device}: logs in runs/{self.name}")
        self.next_eval, self.last_eval = args.eval_frequency, None  # last_eval: (step, mean return)
        self.first_nonfinite, self.loss_names = None, []
        self.sps_time, self.sps_step, self.last_print = time.time(), step, 0.0
        self.last_warmup_print, self.last_return = 0.0, float("nan")

    def restore(self, checkpointed, envs):
        """Load a resumed run's states (name -> load_state_dict), RNGs; returns the first step."""
        if not self.checkpoint:
            return 0
        from run_extras import restore

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
            fail(
                f"cannot write the TensorBoard log in runs/{self.name} ({reason(error, 80)}); "
                f"free disk space or fix permissions; last checkpoint: {self.last_checkpoint}"
            )

    def guard(self, losses, step):
        """Remember the step at which each loss (name -> 0-d tensor) first was non-finite."""
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
                import run_extras  # what the failure's message needs

                self.writer.close()
                fail(
                    f"losses/{name} became non-finite at step {int(step)}; last good checkpoint: "
                    f"{self.last_checkpoint}; {run_extras.changed_flags(self.args)}"
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
            losses = [f"{t[7:]}={float(v):.4g}" for t, v in scalars.items() if t.endswith("_loss")]
            print(f"step={step} SPS={sps} {' '.join(losses)} last_return={last}", flush=True)

    def evaluate_if_due(self, policy, done_steps, extra=None):
        """Evaluate every eval_frequency steps and at the end (done_steps: env steps so far);
        extra: {name: policy}, each logged as eval/episodic_return_{name} (no video)."""
        args = self.args
        if done_steps < self.next_eval and done_steps < args.total_timesteps:
            return
        seed, stop = args.seed + EVAL_SEED_OFFSET, lambda: self.stopping
        means = {}  # tag -> mean return; a video of the main policy's first episode only
        for name, pi in {"": policy, **(extra or {})}.items():
            video = None if name else self.video_folder
            means[name] = evaluate(
                pi, args.env_id, args.eval_episodes, seed, self.device, video, done_steps, stop
            )
        if None in means.values():  # stopped by a signal: the loop checkpoints and exits;
            return  # resumed, it evaluates again
        self.next_eval += args.eval_frequency
        self.last_eval = (done_steps, means[""])
        for name, value in means.items():
            self.scalar("eval/episodic_return" + (name and f"_{name}"), value, done_steps)
        print(f"step={done_steps} eval/episodic_return={means['']:.1f}")
        if args.track and self.video_folder:
            from run_extras import upload_videos

            upload_videos(self.video_folder, self.uploaded_videos, done_steps)

    @property
    def stopping(self):
        return bool(self.stop_signals)

    def checkpoint_if_due(self, checkpointed, envs, done_steps):
        """Every checkpoint_frequency steps (crossed by done_steps); the end's is finish()'s."""
        crossed = done_steps % self.args.checkpoint_frequency < envs.num_envs
        if crossed and done_steps < self.args.total_timesteps:
            self.save(checkpointed, envs, done_steps)

    def save(self, checkpointed, envs, step, keep_buffer=True):
        """A checkpoint, never of a non-finite state, written atomically; without
        checkpointed["replay_buffer"] if not keep_buffer."""
        self.stop_if_nonfinite()
        rng = dict(
            python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state()
        )
        rng["cuda"] = torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None
        rng["action_space"] = envs.single_action_space.np_random.bit_generator.state
        state = dict(format=CHECKPOINT_FORMAT, script=self.script, step=step, rng=rng)
        state |= dict(next_eval=self.next_eval, last_eval=self.last_eval, args=vars(self.args))
        state |= dict(run_name=self.name, wandb_id=self.wandb_id)
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
                f"{self.path}; resume with the same command plus --resume {shlex.quote(self.path)}"
            )
            sys.exit(128 + self.stop_signals[0])
        if self.args.save_model:
            path = f"runs/{self.name}/{self.args.exp_name}.cleanrl_model"
            save_atomically({"script": self.script, **model}, path)
            print(
                f"model saved; evaluate it: python {self.script} --load-model {shlex.quote(path)}"
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
    lock.truncate(0)  # appends then write from the start
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
        why = getattr(error, "strerror", None) or reason(error, 100)
        fail(
            f"cannot write {path} ({why}); free disk space or fix permissions (kept: the old file)"
        )


# --- CPU speed tweaks (docs/speed.md) -----------------------------------------------------------
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


class Tanh(torch.nn.Module):
    def forward(self, x):
        return InplaceTanh.apply(x)


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
