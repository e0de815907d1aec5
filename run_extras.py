"""What only a rare flag needs, imported in that flag's branch: --resume (a checkpoint checked
against the script and its flags, then its states and RNGs restored), --load-model (a saved actor
evaluated), --capture-video (a renderer checked) and --track (W&B). A default run never imports
this file."""

import glob
import os
import random
import signal
import sys
import time
import typing
import warnings

import gymnasium as gym
import numpy as np
import torch

import run_utils


def flags_of(args, marker, name):
    """Whether the flag `name` of args carries `marker` in its Annotated declaration."""
    hint = typing.get_type_hints(type(args), include_extras=True).get(name)
    return marker in getattr(hint, "__metadata__", ())


def plain(value):
    return list(value) if isinstance(value, (tuple, list)) else value


def load_checkpoint(args, script, device):
    """--resume PATH or "auto", checked against this script and these flags. Our own file,
    holding numpy RNG states: weights_only=False is needed and safe."""
    path = args.resume
    if path == "auto":
        run = glob.escape(run_utils.run_prefix(args.env_id, args.exp_name, args.seed))
        paths = glob.glob(f"runs/{run}__*/checkpoint.pt")
        if not paths:
            print("note: --resume auto found no checkpoint; starting a fresh run")
            return None
        path = max(paths, key=os.path.getmtime)
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=False)
        version = checkpoint.get("format", 1) if "rng" in checkpoint else None
    except Exception as error:  # a truncated or corrupt file raises many types
        run_utils.fail(
            f"--resume {path}: not a readable checkpoint ({type(error).__name__}); pass "
            "another file, or move it away to start afresh"
        )
    if version is None:  # a saved model, or another dict
        run_utils.fail(
            f"--resume {path}: not a readable checkpoint (no training state; a model saved by "
            "--save-model is evaluated with --load-model)"
        )
    if version != run_utils.CHECKPOINT_FORMAT:
        run_utils.fail(
            f"--resume {path}: written by another version of this code (checkpoint format "
            f"{version}, this code reads {run_utils.CHECKPOINT_FORMAT}); start a new run"
        )
    if checkpoint["script"] != script:
        run_utils.fail(f"--resume {path}: a checkpoint of {checkpoint['script']}, not of {script}")
    saved = checkpoint["args"]
    differ = [
        f"{run_utils.flag(k)} (checkpoint: {saved.get(k)}, now: {v})"
        for k, v in vars(args).items()
        if not flags_of(args, run_utils.NOT_TRAINING, k) and plain(v) != plain(saved.get(k))
    ]
    if args.total_timesteps < checkpoint["step"]:
        differ.append(
            f"--total-timesteps ({args.total_timesteps}, below the checkpoint's "
            f"step {checkpoint['step']})"
        )
    if differ:
        run_utils.fail(
            f"--resume {path}: flags that change training differ from the checkpoint's: "
            f"{'; '.join(differ)}; pass the checkpoint's flags or start anew"
        )
    if checkpoint["step"] >= max(args.total_timesteps, saved["total_timesteps"]):  # finished
        print(
            f"{path}: this run finished at step {checkpoint['step']}; nothing to do (to train "
            "longer, raise --total-timesteps; a run trained with --keep-buffer can be extended)"
        )
        sys.exit(0)
    if "replay_buffer" not in checkpoint:  # a run that finished without --keep-buffer
        run_utils.fail(
            f"--resume {path}: this run finished without its replay buffer, so it cannot be "
            "extended; runs trained with --keep-buffer can; or start a new run"
        )
    print(f"resuming from {path} at step {checkpoint['step']}; the env starts a fresh episode")
    return checkpoint


def restore(checkpoint, checkpointed, envs):
    """Load the checkpoint's states into checkpointed (name -> object with load_state_dict) and the
    RNGs. Returns the step, the next evaluation's step and the last evaluation."""
    for name, obj in checkpointed.items():
        obj.load_state_dict(checkpoint[name])
    rng = checkpoint["rng"]
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] is not None:
        torch.cuda.set_rng_state_all(rng["cuda"])
    envs.single_action_space.np_random.bit_generator.state = rng["action_space"]
    return tuple(checkpoint[k] for k in ("step", "next_eval", "last_eval"))


def load_saved_model(args, script, build_actor, device):
    """--load-model: the actor saved by --save-model (build_actor(obs_space, act_space, saved args)
    makes an empty one), evaluated on the saved model's env with the seeds of training's
    evaluations. Returns the mean return."""
    try:
        with warnings.catch_warnings():  # torch warns of a checkpoint's pickle protocol first
            warnings.simplefilter("ignore")
            saved_model = torch.load(args.load_model, map_location=device)
        saved, owner = saved_model["args"], saved_model.get("script", script)
    except Exception as error:  # a checkpoint, a corrupt file, not a torch file
        run_utils.fail(
            f"--load-model {args.load_model}: not a model saved by --save-model "
            f"({type(error).__name__}); a checkpoint continues with --resume"
        )
    if owner != script:
        run_utils.fail(
            f"--load-model {args.load_model}: a model of {owner}; evaluate it with {owner}"
        )
    run_utils.check_env(saved["env_id"])
    env = gym.make(saved["env_id"])
    actor = build_actor(env.observation_space, env.action_space, saved).to(device)
    try:
        actor.load_state_dict(saved_model["actor"])
    except (RuntimeError, KeyError):
        run_utils.fail(
            f"--load-model {args.load_model}: its actor does not fit {script}'s networks"
        )
    prefix = run_utils.run_prefix(saved["env_id"], saved["exp_name"], saved["seed"])
    name = f"{prefix}__eval__{int(time.time())}"  # a second evaluation keeps the first's videos
    video_folder = f"videos/{name}" if args.capture_video and can_render(saved["env_id"]) else None
    print(f"evaluating {args.load_model} over {args.eval_episodes} episodes of {saved['env_id']}")
    last, steps = [time.time()], [0]

    def progress():  # evaluate() asks before every env step whether to stop: a line every 10 s
        steps[0] += 1
        if time.time() - last[0] > 10:
            last[0] = time.time()
            print(f"... {steps[0]:,} env steps evaluated", flush=True)
        return False

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM as Ctrl-C: one line
    try:
        seed = saved["seed"] + run_utils.EVAL_SEED_OFFSET
        mean = run_utils.evaluate(
            actor.evaluation_action, saved["env_id"], args.eval_episodes, seed, device,
            video_folder, stop=progress,
        )  # fmt: skip
    except KeyboardInterrupt:
        run_utils.fail(f"--load-model {args.load_model}: the evaluation was stopped by a signal")
    print(f"{args.load_model}: mean return over {args.eval_episodes} episodes = {mean:.1f}")
    if video_folder:
        print(f"video of the first episode in {video_folder}/")
    return mean


def changed_flags(args):
    """The training flags set away from their defaults, the first suspects of a diverged run."""
    defaults = vars(type(args)())
    changed = [
        f"{run_utils.flag(k)} {v}"
        for k, v in vars(args).items()
        if v != defaults[k] and v is not None and not flags_of(args, run_utils.NOT_TRAINING, k)
    ]
    return f"flags set here: {', '.join(changed)}" if changed else "at the default flags"


# ------------------------------------------------------------------------------------------------
# --capture-video and --track
# ------------------------------------------------------------------------------------------------
def record_video(env_id, folder, every, prefix):
    """The env, filmed: every `every`-th episode under folder, as prefix-episode-N.mp4."""
    env = gym.make(env_id, render_mode="rgb_array")
    trigger = lambda episode: episode % every == 0  # noqa: E731
    with warnings.catch_warnings():  # the folder is reused, but each video is named
        warnings.filterwarnings("ignore", message=".*Overwriting existing videos")
        return gym.wrappers.RecordVideo(env, folder, trigger, name_prefix=prefix)


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


def init_wandb(args, name, run_id):
    """Start W&B, with the run's name, group and tags from benchmark.sh (WANDB_NAME: the run's
    folder, --tag included; WANDB_RUN_GROUP: task and algorithm; WANDB_TAGS: the algorithm and
    the git commit) or, run by hand, from the run itself; the script and this module are uploaded.
    Never hang without a network or an API key: fall back to offline logging."""
    import wandb

    mode = os.environ.get("WANDB_MODE")
    if mode not in (None, "online", "offline", "disabled", "dryrun", "run", "shared"):
        run_utils.fail(f"WANDB_MODE={mode}: W&B takes online, offline or disabled; unset it")
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
            run_utils.fail(
                f"W&B cannot log offline either ({type(error).__name__}: "
                f"{(str(error).splitlines() or [''])[0][:80]}); fix ./wandb or drop --track"
            )
    here = os.path.dirname(os.path.abspath(__file__))  # save_code uploads the script alone
    for module in ("run_utils.py", "run_extras.py"):
        wandb.save(os.path.join(here, module), base_path=here, policy="now")


def upload_videos(folder, uploaded, step):
    """gymnasium 1.x videos no longer reach W&B by themselves: log new files explicitly."""
    import wandb

    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if name.endswith(".mp4") and name not in uploaded:
            video = wandb.Video(os.path.join(folder, name), format="mp4")
            wandb.log({"eval/video": video, "global_step": step})
            uploaded.add(name)
