# Baselines for the paper's comparison: SAC and PPO from Stable-Baselines3, run and logged like the
# WPPG scripts: the same CLI shape, TensorBoard tags at the same steps and run-folder layout, so
# that benchmark.sh and benchmark_report.py treat them like any other script. Settings and their
# sources: baselines/README.md.
#   python baselines/sb3_continuous_action.py --algo sac --env-id Hopper-v5 --seed 1
import os
import re
import signal
import sys
import time
from dataclasses import dataclass
from typing import Annotated, Literal, Optional

import torch
import tyro
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import run_utils  # noqa: E402


@dataclass
class Args(run_utils.RunArgs):
    algo: Literal["sac", "ppo"] = "sac"
    """the baseline: SAC as the paper runs it (fixed entropy coefficient) or PPO with RL Zoo's tuned
    settings, read from the rl_zoo3 package (its entry for the task's newest version there)"""
    exp_name: Optional[str] = None
    """the name of this experiment (default: the algorithm's name)"""
    resume: Optional[str] = None
    """accepted so that benchmark.sh can pass `--resume auto`; a stopped baseline run starts
    again"""
    learning_rate: Annotated[float, run_utils.POSITIVE] = 1e-3
    """SAC: learning rate of actor, critics and entropy coefficient (the WPPG scripts' default)"""
    ent_coef: Annotated[float, run_utils.NON_NEGATIVE] = 0.2
    """SAC: the fixed entropy coefficient alpha (the paper fixes it; 0.2 is Spinning Up's)"""
    autotune: bool = False
    """SAC: tune the entropy coefficient automatically (SB3's "auto")"""
    rl_zoo: bool = False
    """SAC with RL Zoo's tuned settings for the task (rl_zoo3's sac.yml, self-tuned alpha) in
    place of the paper's fixed-alpha settings; PPO always takes RL Zoo's"""


def make_model(args, device):
    """The SB3 model with the settings baselines/README.md lists."""
    if args.algo == "sac" and not args.rl_zoo:  # the paper's SAC
        env = make_vec_env(args.env_id, n_envs=1, seed=args.seed)
        policy_kwargs = dict(
            net_arch=list(args.hidden_sizes),
            activation_fn=torch.nn.ReLU if args.activation == "relu" else torch.nn.Tanh,
        )
        return SAC(
            "MlpPolicy",
            env,
            learning_rate=args.learning_rate,
            buffer_size=min(1_000_000, args.total_timesteps),
            learning_starts=args.learning_starts,
            batch_size=256,
            tau=0.005,
            gamma=args.gamma,
            train_freq=1,
            gradient_steps=1,
            ent_coef="auto" if args.autotune else args.ent_coef,
            policy_kwargs=policy_kwargs,
            seed=args.seed,
            device=device,
            verbose=0,
        )
    kwargs, normalize, n_envs = zoo_settings(args.algo, args)  # PPO as the paper ran it: RL Zoo's
    env = make_vec_env(args.env_id, n_envs=n_envs, seed=args.seed)
    env = VecNormalize(env, **normalize) if normalize is not None else env
    model = PPO if args.algo == "ppo" else SAC
    return model(env=env, seed=args.seed, device=device, verbose=0, **kwargs)


def zoo_settings(algo, args):
    """RL Zoo's tuned settings, read and preprocessed by rl_zoo3's own code (pinned): the entry of
    the task's newest version in its hyperparams/{algo}.yml (v4, else v2, for a v5 task), or its
    "default" where it has none, as RL Zoo does. Returns the model's kwargs (the policy included),
    VecNormalize's kwargs (None without normalisation) and the number of envs; sets args.gamma to
    the entry's, so that the logged flags say what ran."""
    import argparse

    import yaml
    from rl_zoo3.exp_manager import ExperimentManager

    zoo = argparse.Namespace()  # RL Zoo's own command-line options: none are needed here
    name = args.env_id.split(":")[-1].rsplit("-v", 1)[0]
    config = ExperimentManager(zoo, algo, args.env_id, "runs", verbose=0).config
    with open(config) as f:
        versions = [k for k in yaml.safe_load(f) if re.fullmatch(rf"{re.escape(name)}-v\d+", k)]
    entry = max(versions, key=lambda k: int(k.rsplit("-v", 1)[1]), default=args.env_id)
    manager = ExperimentManager(zoo, algo, entry, "runs", verbose=0)
    kwargs, *_ = manager._preprocess_hyperparams(manager.read_hyperparameters()[0])
    args.gamma = kwargs.get("gamma", 0.99)  # SB3's default where the entry sets none
    print(f"{algo}: RL Zoo's settings for {entry} (rl_zoo3, {config})", flush=True)
    return kwargs, manager.normalize_kwargs if manager.normalize else None, manager.n_envs


def deterministic_policy(model):
    """The model's deterministic action, as run_utils.evaluate takes a policy: obs (1, obs_dim) ->
    action (1, act_dim); PPO acts on normalised observations."""
    normalize = model.get_vec_normalize_env()

    def policy(x):
        obs = x.cpu().numpy()
        obs = normalize.normalize_obs(obs) if normalize is not None else obs
        return torch.as_tensor(model.predict(obs, deterministic=True)[0])

    return policy


class LogLikeWPPG(BaseCallback):
    """Writes the WPPG scripts' tags: charts/episodic_return and _length per episode, losses and
    charts/SPS every log_frequency steps, eval/episodic_return every eval_frequency steps and at the
    end; stops at total_timesteps."""

    def __init__(self, args, writer):
        super().__init__()
        self.args, self.writer = args, writer
        self.next_eval, self.last_eval, self.sps_step, self.start_time = (
            args.eval_frequency,
            -1,
            0,
            time.time(),
        )

    def _on_step(self):
        step, args = self.num_timesteps, self.args
        for info in self.locals["infos"]:
            if "episode" in info:  # SB3's Monitor wrapper
                self.writer.add_scalar("charts/episodic_return", info["episode"]["r"], step)
                self.writer.add_scalar("charts/episodic_length", info["episode"]["l"], step)
        if step % args.log_frequency == 0:
            for key, value in self.model.logger.name_to_value.items():
                if key.startswith("train/"):
                    self.writer.add_scalar(f"losses/{key[len('train/'):]}", value, step)
            self.writer.add_scalar(
                "charts/SPS", int((step - self.sps_step) / (time.time() - self.start_time)), step
            )
            self.sps_step, self.start_time = step, time.time()
        if step >= self.next_eval or step >= args.total_timesteps:
            self.next_eval += args.eval_frequency
            self.eval_at(step)
        # PPO collects whole rollouts: stop at the budget, as the scripts do
        return step < args.total_timesteps

    def eval_at(self, step):
        args, policy = self.args, deterministic_policy(self.model)
        eval_return = run_utils.evaluate(
            policy,
            args.env_id,
            args.eval_episodes,
            args.seed + run_utils.EVAL_SEED_OFFSET,
            torch.device("cpu"),
        )
        self.writer.add_scalar("eval/episodic_return", eval_return, step)
        self.last_eval = step
        print(f"step={step} eval/episodic_return={eval_return:.1f}", flush=True)


def main(args):
    if args.resume not in (None, "auto"):
        run_utils.fail("--resume: the baselines keep no checkpoint; pass auto or nothing")
    run_utils.check_args(args)
    sac_only = ["learning_rate", "ent_coef", "autotune", "hidden_sizes", "activation", "gamma"]
    ignored = [run_utils.flag(k) for k in sac_only if getattr(args, k) != getattr(Args, k)]
    if (args.algo == "ppo" or args.rl_zoo) and ignored:  # benchmark.sh may pass a grid's flags
        print(
            f"note: {', '.join(ignored)}: the paper's SAC flags; unused under RL Zoo's", flush=True
        )
    run_utils.resolve_defaults(args)  # the per-task table: SAC's networks, every gamma
    exp_name = args.exp_name or args.algo + ("_zoo" if args.rl_zoo and args.algo == "sac" else "")
    run_name = run_utils.new_run_dir(args.env_id, exp_name, args.seed)
    device = run_utils.pick_device(args)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    model = make_model(args, device)  # first: PPO's settings (gamma too) are then in the flags
    if args.track:
        from run_extras import init_wandb

        init_wandb(args, run_name, os.urandom(4).hex())
    writer = run_utils.open_writer(args, run_name)
    print(f"run {run_name} on {device}: logs in runs/{run_name}", flush=True)
    callback = LogLikeWPPG(args, writer)
    model.learn(total_timesteps=args.total_timesteps, callback=callback)
    if callback.last_eval < model.num_timesteps:  # the budget ended between two evaluations
        callback.eval_at(model.num_timesteps)
    writer.close()
    if args.track:
        import wandb

        wandb.finish()
    return run_name


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM (Slurm, kill) as Ctrl-C
    try:
        main(tyro.cli(Args))
    except KeyboardInterrupt:  # SB3 keeps no checkpoint here: the run's logs so far stay
        sys.exit(
            "error: stopped by a signal; the baselines keep no checkpoint, so rerun from step 0"
        )
