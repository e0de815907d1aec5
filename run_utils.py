"""The run machinery of the WPPG scripts and the SB3 baseline runner: everything a training run
needs
that is not the algorithm. It imports no script; copy it beside a script you copy.

RunArgs, TrainArgs    the flags every run takes (each script's Args extends them; --help lists them
  all)
check_args, check_env bad input exits with one line that says what to change, before any work
make_env, real_next_obs, log_episodes, evaluate    gymnasium 1.x envs, episode logging, evaluation
Run                   run name, TensorBoard, W&B, stop signals, checkpoints and resume, the non-
  finite guard
load_saved_model      the actor saved by --save-model
Tanh, keep_freed_memory    CPU speed tweaks (docs/speed.md)
"""

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
from typing import Optional

import gymnasium as gym
import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

CHECKPOINT_FORMAT = (
    2  # 1: before run_utils.py (no "format" key); such checkpoints are refused with one line
)


@dataclass
class RunArgs:
    seed: int = 1
    """seed of the experiment"""
    torch_deterministic: bool = True
    """if toggled, `torch.backends.cudnn.deterministic=True`"""
    cuda: bool = True
    """if toggled, cuda will be used when available (the script says when it falls back to the
    CPU)"""
    track: bool = False
    """if toggled, this experiment will be tracked with Weights and Biases"""
    wandb_project_name: str = "wppg"
    """the wandb's project name"""
    wandb_entity: Optional[str] = None
    """the entity (team) of wandb's project"""
    env_id: str = "Hopper-v5"
    """the id of the environment (a MuJoCo v5 task, any env with flat Box observations and actions,
    or
    "module:EnvId" for an env that module registers, e.g. combined_humanoid:Humanoid-x2-v5)"""
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
    """whether to capture videos of the evaluation episodes (under `videos/{run_name}`; uploaded
    with
    --track)"""
    save_model: bool = False
    """whether to save the actor, critics and args under `runs/{run_name}`"""
    load_model: Optional[str] = None
    """path of a model saved by --save-model: evaluate it for `eval_episodes` episodes instead of
    training"""
    checkpoint_frequency: int = 50000
    """write a full checkpoint to runs/{run_name}/checkpoint.pt every this many steps, at the end,
    and
    on SIGTERM/SIGINT"""
    resume: Optional[str] = None
    """checkpoint to resume from, or "auto": the newest checkpoint of this env id, exp_name and seed
    under runs/ (a fresh start if there is none). Flags that change training must equal the
    checkpoint's."""


POSITIVE = [
    "total_timesteps",
    "num_envs",
    "buffer_size",
    "batch_size",
    "policy_frequency",
    "eval_frequency",
    "target_network_frequency",
    "num_action_samples",
    "eval_episodes",
    "log_frequency",
    "checkpoint_frequency",
    "latent_dim",
]
ARG_CHECKS = [  # (flag, test of its value, what it must be); flags a script lacks are skipped
    *[(name, lambda v: v is None or v >= 1, "must be a positive integer") for name in POSITIVE],
    ("learning_starts", lambda v: v >= 0, "must be >= 0"),
    (
        "hidden_sizes",
        lambda v: v is None or (len(v) > 0 and min(v) >= 1),
        "must be one or more positive integers",
    ),
    ("entropy_samples", lambda v: v >= 2, "must be at least 2 (each sample needs a neighbour)"),
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
    """Reject bad input before any work: one line that says what to change, and a non-zero exit."""
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
    check_env(args.env_id)
    if (
        hasattr(args, "buffer_size")
        and min(args.buffer_size, args.total_timesteps) < args.batch_size
    ):
        fail(
            f"--buffer-size {args.buffer_size} holds fewer transitions than one --batch-size {args.batch_size}"
        )
    if args.learning_starts >= args.total_timesteps:
        print(
            f"warning: --learning-starts {args.learning_starts} >= --total-timesteps {args.total_timesteps}: "
            "no gradient step will run",
            file=sys.stderr,
        )


def check_env(env_id):
    """The env must exist ("module:EnvId" imports module first, which registers it), be made without
    error, and have flat Box observations and Box actions."""
    module, _, env_name = env_id.rpartition(":")
    try:
        if module:
            importlib.import_module(module)
    except ImportError as error:
        fail(f"--env-id {env_id}: cannot import {module!r} ({error})")
    if env_name not in gym.registry:
        close = difflib.get_close_matches(env_name, gym.registry.keys(), n=3, cutoff=0.6)
        fail(
            f"unknown --env-id {env_id!r}"
            + (f"; did you mean {', '.join(close)}?" if close else "")
        )
    try:
        env = gym.make(env_id)
    except (
        Exception
    ) as error:  # a missing package, an old MuJoCo version (v2/v3), a broken entry point
        text = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
        fail(
            f"--env-id {env_id} cannot be made here ({type(error).__name__}: {text}); "
            "the MuJoCo tasks are the v5 ones, e.g. Hopper-v5"
        )
    obs_space, act_space = env.observation_space, env.action_space
    env.close()
    if not isinstance(act_space, gym.spaces.Box):
        fail(
            f"{env_id} has a {type(act_space).__name__} action space; WPPG needs continuous (Box) actions"
        )
    if not (isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1):
        fail(
            f"{env_id} observations must be a flat Box, got {obs_space}; flatten them with a wrapper"
        )


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


# --------------------------------------------------------------------------------------------------
# -------------
# Environments and evaluation (gymnasium 1.x)
# --------------------------------------------------------------------------------------------------
# -------------
def make_env(env_id, seed, video_folder=None, video_every=1, video_prefix="rl-video"):
    def thunk():
        if video_folder:
            env = gym.make(env_id, render_mode="rgb_array")
            env = gym.wrappers.RecordVideo(
                env,
                video_folder,
                episode_trigger=lambda ep: ep % video_every == 0,
                name_prefix=video_prefix,
            )
        else:
            env = gym.make(env_id)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env.action_space.seed(seed)
        return env

    return thunk


def check_rendering(env_id):
    """--capture-video needs a renderer; try one frame before training, so a missing one costs no
    training."""
    try:
        env = gym.make(env_id, render_mode="rgb_array")
        env.reset(seed=0)
        env.render()
        env.close()
    except Exception as error:  # no GL, no pygame, ...
        print(
            f"warning: --capture-video: {env_id} cannot render here ({type(error).__name__}); "
            "training goes on without videos (MuJoCo needs MUJOCO_GL=egl or osmesa)",
            file=sys.stderr,
        )
        return False
    return True


def real_next_obs(next_obs, infos):
    """With same-step autoreset, next_obs holds the reset observation where an episode ended; the
    real
    final observation, which truncated episodes bootstrap from, is in infos["final_obs"]."""
    real = next_obs.copy()
    for idx in np.flatnonzero(infos.get("_final_obs", [])):
        real[idx] = infos["final_obs"][idx]
    return real


def log_episodes(writer, infos, step, last):
    """Log the episodes that ended at this step; returns the last return seen."""
    if "final_info" in infos:
        done = infos["final_info"]["_episode"]
        episodes = infos["final_info"]["episode"]
        for ret, length in zip(episodes["r"][done], episodes["l"][done]):
            writer.add_scalar("charts/episodic_return", ret, step)
            writer.add_scalar("charts/episodic_length", length, step)
            last = float(ret)
    return last


def evaluate(policy, env_id, episodes, seed, device, video_folder=None, step=0):
    """Mean return of policy(obs (1, obs_dim)) -> action (1, act_dim) over `episodes` episodes on a
    separate env; the video of the first episode, if any, is named after the step, so no evaluation
    overwrites another's."""
    env = make_env(env_id, seed, video_folder, episodes, f"eval-step-{step}")()
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            with torch.no_grad():
                x = torch.as_tensor(obs, dtype=torch.float32, device=device)
                action = policy(x.unsqueeze(0))[0]
            obs, _, terminated, truncated, info = env.step(action.cpu().numpy())
            done = terminated or truncated
        returns.append(float(info["episode"]["r"]))
    env.close()
    return float(np.mean(returns))


def load_saved_model(args, script, build_actor, device):
    """--load-model: the actor saved by --save-model (build_actor(env, saved_args) makes an empty
    one),
    evaluated with the seeds of training's evaluations, on the saved model's env; returns the mean
    return."""
    try:
        saved_model = torch.load(args.load_model, map_location=device)
        saved = saved_model["args"]
        if saved_model.get("script", script) != script:
            raise ValueError(f"saved by {saved_model['script']}")
    except Exception as error:  # a checkpoint, the other script's model, a corrupt file
        fail(
            f"--load-model {args.load_model}: not a model saved by {script}'s --save-model ({error}); "
            "a training checkpoint continues with --resume"
        )
    check_env(saved["env_id"])
    env = gym.make(saved["env_id"])
    actor = build_actor(env.observation_space, env.action_space, saved).to(device)
    try:
        actor.load_state_dict(saved_model["actor"])
    except RuntimeError:
        fail(f"--load-model {args.load_model}: its actor does not fit {script}'s networks")
    video_folder = None
    if args.capture_video and check_rendering(saved["env_id"]):
        video_folder = f"videos/{saved['env_id']}__{saved['exp_name']}__{saved['seed']}__eval"
    mean_return = evaluate(
        actor.deterministic,
        saved["env_id"],
        args.eval_episodes,
        saved["seed"] + 10_000,
        device,
        video_folder,
    )
    print(f"{args.load_model}: mean return over {args.eval_episodes} episodes = {mean_return:.1f}")
    return mean_return


# --------------------------------------------------------------------------------------------------
# -------------
# One training run: name, logs, W&B, signals, checkpoints and resume, the non-finite guard
# --------------------------------------------------------------------------------------------------
# -------------
RESUME_MAY_DIFFER = {
    "resume",
    "total_timesteps",
    "track",
    "wandb_project_name",
    "wandb_entity",
    "capture_video",
    "save_model",
    "checkpoint_frequency",
    "eval_frequency",
    "eval_episodes",
    "log_frequency",
    "cuda",
    "compile",
}  # every other flag must equal the checkpoint's: it changes training


class Run:
    """The bookkeeping of one training run, so that the training loop reads as the algorithm: run =
    Run(args, script, device) resumes a checkpoint (--resume), names the run, starts W&B and
    TensorBoard and catches SIGTERM/SIGINT; then run.restore(stateful, envs) -> first step,
    run.log(...), run.guard(...), run.evaluate_if_due(...), run.checkpoint_if_due(...) inside the
    loop, and run.finish(...) after it."""

    def __init__(self, args, script, device):
        self.args, self.script, self.device = args, script, device
        self.checkpoint = self.load_checkpoint() if args.resume else None
        step = self.checkpoint["step"] if self.checkpoint else 0
        self.name = (
            self.checkpoint["run_name"]
            if self.checkpoint
            else f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
        )
        self.wandb_id = self.checkpoint["wandb_id"] if self.checkpoint else os.urandom(4).hex()
        self.path = f"runs/{self.name}/checkpoint.pt"
        self.video_folder = None
        if args.capture_video and check_rendering(args.env_id):
            self.video_folder = f"videos/{self.name}"
        if args.track:
            self.init_wandb()
        self.stop_signals, self.uploaded_videos = [], set()
        for sig in (
            signal.SIGTERM,
            signal.SIGINT,
        ):  # the loop's next step ends with a checkpoint and a clean exit
            signal.signal(sig, lambda signum, frame: self.stop_signals.append(signum))
        # on resume, events at or after the checkpoint's step are dropped: no step is logged twice
        try:
            self.writer = SummaryWriter(
                f"runs/{self.name}", purge_step=step if self.checkpoint else None
            )
        except OSError as error:
            fail(f"cannot write to runs/{self.name} ({error.strerror}); run from a writable folder")
        self.writer.add_text(
            "hyperparameters",
            "|param|value|\n|-|-|\n"
            + "\n".join(f"|{key}|{value}|" for key, value in vars(args).items()),
        )
        print(f"run {self.name} on {device}: logs in runs/{self.name}")
        self.next_eval, self.last_eval = args.eval_frequency, None  # last_eval: (step, mean return)
        self.first_nonfinite, self.loss_names = None, []
        self.sps_time, self.sps_step, self.last_print, self.last_return = (
            time.time(),
            step,
            0.0,
            float("nan"),
        )

    # -- resume ------------------------------------------------------------------------------------
    # -------------
    def load_checkpoint(self):
        """--resume PATH or "auto"; checked against this script and these flags before anything of
        the
        run is opened or changed. Our own file, holding numpy RNG states: weights_only=False is
        needed and safe."""
        args, path = self.args, self.args.resume
        if path == "auto":
            pattern = f"runs/{glob.escape(f'{args.env_id}__{args.exp_name}__{args.seed}')}__*/checkpoint.pt"
            paths = glob.glob(pattern)
            if not paths:
                print("note: --resume auto found no checkpoint; starting a fresh run")
                return None
            path = max(paths, key=os.path.getmtime)
        try:
            checkpoint = torch.load(path, map_location=self.device, weights_only=False)
            version = checkpoint.get("format", 1)
        except Exception as error:  # a truncated or corrupt file raises many types
            fail(
                f"--resume {path}: not a readable checkpoint ({type(error).__name__}); pass another file, "
                "or move it away to start afresh"
            )
        if version != CHECKPOINT_FORMAT:
            fail(
                f"--resume {path}: written by another version of this code (checkpoint format {version}, this "
                f"code reads {CHECKPOINT_FORMAT}); start a new run without --resume"
            )
        if checkpoint["script"] != self.script:
            fail(
                f"--resume {path}: a checkpoint of {checkpoint['script']}, not of {self.script}; "
                f"resume it with {checkpoint['script']}"
            )
        saved = checkpoint["args"]
        plain = lambda v: list(v) if isinstance(v, (tuple, list)) else v  # noqa: E731
        differ = [
            f"{flag(k)} (checkpoint: {saved.get(k)}, now: {v})"
            for k, v in vars(args).items()
            if k not in RESUME_MAY_DIFFER and plain(v) != plain(saved.get(k))
        ]
        if args.total_timesteps < checkpoint["step"]:
            differ.append(
                f"--total-timesteps (now {args.total_timesteps}, below the checkpoint's step "
                f"{checkpoint['step']})"
            )
        if differ:
            fail(
                f"--resume {path}: flags that change training differ from the checkpoint's: {'; '.join(differ)}; "
                "pass the checkpoint's flags, or start a new run without --resume"
            )
        print(f"resuming from {path} at step {checkpoint['step']}; the env starts a fresh episode")
        return checkpoint

    def restore(self, stateful, envs):
        """Load the checkpoint's states into stateful (name -> object with load_state_dict); the
        first
        step."""
        if not self.checkpoint:
            return 0
        for name, obj in stateful.items():
            obj.load_state_dict(self.checkpoint[name])
        rng = self.checkpoint["rng"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None:
            torch.cuda.set_rng_state_all(rng["cuda"])
        envs.single_action_space.np_random.bit_generator.state = rng["action_space"]
        step, self.next_eval, self.last_eval = (
            self.checkpoint[k] for k in ("step", "next_eval", "last_eval")
        )
        if (
            self.last_eval is not None and self.last_eval[0] == step
        ):  # purge_step dropped it: log it again
            self.writer.add_scalar("eval/episodic_return", self.last_eval[1], step)
        return step

    # -- logging -----------------------------------------------------------------------------------
    # ---------------
    def init_wandb(self):
        """Never hang without a network or an API key: fall back to offline logging, with a
        message."""
        import wandb

        kwargs = dict(
            project=self.args.wandb_project_name,
            entity=self.args.wandb_entity,
            sync_tensorboard=True,
            config=vars(self.args),
            name=self.name,
            save_code=True,
            id=self.wandb_id,
            resume="allow",
        )
        try:
            wandb.init(**kwargs, settings=wandb.Settings(init_timeout=30))
        except Exception as error:  # wandb raises many types here: no API key, no network, timeouts
            print(
                f"warning: W&B is not reachable ({type(error).__name__}: {str(error)[:100]}); logging offline, "
                "upload later with `wandb sync wandb/offline-run-*`"
            )
            wandb.teardown()  # drop the half-started online run before starting the offline one
            wandb.init(**kwargs, mode="offline")

    def log(self, scalars, step, episodes_infos=None):
        """Write tensors or numbers as TensorBoard scalars ("losses/qf1_loss": value, ...) and
        charts/SPS; print progress every 10 s."""
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value.item() if torch.is_tensor(value) else value, step)
        sps = int((step - self.sps_step) / (time.time() - self.sps_time))
        self.writer.add_scalar("charts/SPS", sps, step)
        self.sps_time, self.sps_step = time.time(), step
        if time.time() - self.last_print > 10:
            self.last_print = time.time()
            print(
                f"step={step} SPS={sps} qf_loss={float(scalars['losses/qf_loss']):.3f} "
                f"actor_loss={float(scalars['losses/actor_loss']):.4f} last_return={self.last_return:.1f}"
            )

    def log_episodes(self, infos, step):
        self.last_return = log_episodes(self.writer, infos, step, self.last_return)

    # -- the non-finite guard
    # ---------------------------------------------------------------------------------------
    def guard(self, losses, step):
        """Remember the first step at which each loss (a dict of 0-d tensors) became non-finite; no
        host sync."""
        values = torch.stack(list(losses.values()))
        if self.first_nonfinite is None:
            self.loss_names, self.first_nonfinite = list(losses), torch.full_like(values, -1)
        self.first_nonfinite = torch.where(
            (self.first_nonfinite < 0) & ~torch.isfinite(values), step, self.first_nonfinite
        )

    def stop_if_nonfinite(self):
        """One host sync: at logging and checkpoint steps only."""
        if self.first_nonfinite is None:
            return
        for name, step in zip(self.loss_names, self.first_nonfinite.tolist()):
            if step >= 0:
                self.writer.close()
                kept = self.path if os.path.exists(self.path) else "none written yet"
                fail(
                    f"losses/{name} became non-finite at step {int(step)}; last good checkpoint: {kept}; "
                    "try a smaller --q-lr, --policy-lr or --eta"
                )

    # -- evaluation and checkpoints
    # -------------------------------------------------------------------------------
    def evaluate_if_due(self, policy, done_steps):
        """Evaluate every eval_frequency steps and at the end (done_steps: env steps taken so
        far)."""
        if done_steps < self.next_eval and done_steps < self.args.total_timesteps:
            return
        self.next_eval += self.args.eval_frequency
        args = self.args
        mean = evaluate(
            policy,
            args.env_id,
            args.eval_episodes,
            args.seed + 10_000,
            self.device,
            self.video_folder,
            done_steps,
        )
        self.last_eval = (done_steps, mean)
        self.writer.add_scalar("eval/episodic_return", mean, done_steps)
        print(f"step={done_steps} eval/episodic_return={mean:.1f}")
        if args.track and self.video_folder:
            self.upload_videos(done_steps)

    def upload_videos(self, step):
        """gymnasium 1.x videos no longer reach W&B by themselves (monitor_gym): log new files
        explicitly."""
        import wandb

        folder = self.video_folder
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            if name.endswith(".mp4") and name not in self.uploaded_videos:
                wandb.log(
                    {
                        "eval/video": wandb.Video(os.path.join(folder, name), format="mp4"),
                        "global_step": step,
                    }
                )
                self.uploaded_videos.add(name)

    @property
    def stopping(self):
        return bool(self.stop_signals)

    def checkpoint_if_due(self, stateful, envs, done_steps):
        """Every checkpoint_frequency steps (done_steps crossed a multiple of it) and on a stop
        signal."""
        n = self.args.num_envs
        crossed = (
            done_steps % self.args.checkpoint_frequency < n
            and done_steps < self.args.total_timesteps
        )
        if crossed or self.stopping:
            self.save(stateful, envs, done_steps)

    def save(self, stateful, envs, step):
        """Atomic: write a temporary file, then rename it over the old one, so a kill never leaves a
        torn checkpoint; never of a non-finite state; a full disk keeps the previous checkpoint."""
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
            **{k: obj.state_dict() for k, obj in stateful.items()},
        }
        save_atomically(state, self.path)

    def finish(self, stateful, envs, step, model=None):
        """After the loop: the last checkpoint, the saved model, closed logs; a stop signal exits
        128 +
        signal."""
        self.save(stateful, envs, step)
        self.writer.close()
        if self.stopping:
            print(
                f"stopped by signal {self.stop_signals[0]} after step {step}; checkpoint: {self.path}; "
                f"resume with the same command plus --resume {self.path}"
            )
            sys.exit(128 + self.stop_signals[0])
        if model is not None and self.args.save_model:
            path = f"runs/{self.name}/{self.args.exp_name}.cleanrl_model"
            save_atomically({"script": self.script, **model}, path)
            print(
                f"model saved to {path}; evaluate it with: python {self.script} --load-model {path}"
            )
        if self.args.track:
            import wandb

            wandb.finish()


def save_atomically(state, path):
    """torch.save to a temporary file, then rename it over path; on any failure (a full disk raises
    RuntimeError, permissions OSError) remove the temporary file, keep path as it was, and exit with
    one line."""
    try:
        torch.save(
            state, path + ".tmp", pickle_protocol=4
        )  # protocol 2 would inflate the buffer 1.5x
        os.replace(path + ".tmp", path)
    except (OSError, RuntimeError) as error:
        try:
            os.remove(path + ".tmp")
        except OSError:
            pass
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0][:100]
        fail(
            f"cannot write {path} ({reason}); free disk space or fix permissions (the previous file, if any, "
            "is kept)"
        )


# --------------------------------------------------------------------------------------------------
# -------------
# CPU speed tweaks (docs/speed.md)
# --------------------------------------------------------------------------------------------------
# -------------
class InplaceTanh(torch.autograd.Function):
    """tanh in place, as 2 sigmoid(2x) - 1 (equal to torch.tanh within 2e-7), with torch.tanh's
    backward from the output: twice as fast as torch.tanh_ on our CPU, where tanh took half of a
    (64, 64) update."""

    @staticmethod
    def forward(ctx, x):
        ctx.mark_dirty(x)
        y = x.mul_(2).sigmoid_().mul_(2).sub_(1)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        return torch.ops.aten.tanh_backward(
            grad, *ctx.saved_tensors
        )  # grad * (1 - y^2) in one pass


inplace_tanh = InplaceTanh.apply


class Tanh(torch.nn.Module):
    def forward(self, x):
        return inplace_tanh(x)


def keep_freed_memory(release=False):
    """Keep freed activations for reuse: the K-sample passes allocate and free MB-sized buffers
    every
    update, and by default glibc hands them back to the OS at once, so each update page-faults them
    in afresh. release=True, at logging steps, hands all free memory back. Linux with glibc only;
    elsewhere nothing."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        if release:
            libc.malloc_trim(0)
        else:
            libc.mallopt(
                -3, 32 << 20
            )  # M_MMAP_THRESHOLD: buffers up to 32 MB (glibc's maximum) from the heap
            libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep freed memory until malloc_trim
    except (OSError, AttributeError):
        pass
