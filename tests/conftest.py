"""Shared helpers: the two scripts as modules, run as a user runs them, and their logs read back."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run_utils, tools and combined_humanoid, as the scripts see them
import benchmark_report  # noqa: E402

torch.set_num_threads(1)  # as the scripts run in CI: one thread per process

SCRIPTS = ["wppg_continuous_action.py", "wppg_implicit_continuous_action.py"]
MODULES = {name: importlib.import_module(Path(name).stem) for name in SCRIPTS}
# small settings that still run real updates: learning starts well before the end
SMALL = [
    "--num-action-samples",
    "4",
    "--batch-size",
    "32",
    "--hidden-sizes",
    "32",
    "32",
    "--eval-episodes",
    "2",
    "--log-frequency",
    "50",
]


def pytest_collection_modifyitems(items):
    """The learning smoke test first: it runs for minutes, so the other tests fill in beside it
    rather than waiting for it at the end."""
    items.sort(key=lambda item: item.path.name != "test_learning.py")


@pytest.fixture(autouse=True)
def _work_in_tmp_path(tmp_path, monkeypatch):
    """Every test works in its own folder: nothing it or MuJoCo writes (MUJOCO_LOG.TXT, runs/, ...)
    lands in the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(params=SCRIPTS, ids=["wppg", "wppg_i"])
def script(request):
    """Each script by file name, for runs in a subprocess."""
    return request.param


@pytest.fixture(params=SCRIPTS, ids=["wppg", "wppg_i"])
def module(request):
    """Each script as a module, for its pieces."""
    return MODULES[request.param]


def is_implicit(module):
    return "latent_dim" in module.Args.__dataclass_fields__


def make_actor(module, obs_dim=3, box=None, hidden=(32, 32), activation="relu", latent_dim=2):
    """An actor of either script (WPPG-I's with latent_dim latents), actions in box."""
    box = box or gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    extra = [latent_dim, 16] if is_implicit(module) else []  # WPPG-I: latents, eval samples
    return module.Actor(obs_dim, box, hidden, activation, *extra)


def run_small(module, **flags):
    """module.main in this process on a tiny run: InvertedPendulum-v5, learning from step 100,
    (8,) networks, batch 8, one evaluation episode; flags override."""
    defaults = dict(
        env_id="InvertedPendulum-v5",
        learning_starts=100,
        eval_episodes=1,
        hidden_sizes=(8,),
        batch_size=8,
    )
    return module.main(module.Args(**{**defaults, **flags}))


def script_env(**extra):
    """The environment the tests run scripts in: W&B offline, one thread, headless rendering."""
    return {
        **os.environ,
        "WANDB_MODE": "offline",
        "OMP_NUM_THREADS": "1",
        "MUJOCO_GL": "egl",
        "PYTHONPATH": f"{ROOT / 'tests'}{os.pathsep}{ROOT}",
        **extra,
    }


def run_script(script, *flags, cwd, timeout=300, **extra_env):
    """Run a script in a subprocess; returns the CompletedProcess (stdout and stderr captured)."""
    return subprocess.run(
        [sys.executable, str(ROOT / script), *map(str, flags)],
        cwd=cwd,
        env=script_env(**extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_script(script, *flags, cwd, **extra_env):
    """Start a script in a subprocess; returns the Popen (stdout and stderr piped)."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / script), *map(str, flags)],
        cwd=cwd,
        env=script_env(**extra_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def benchmark(*flags, python=sys.executable, cwd=ROOT):
    """Run benchmark.sh with these flags; returns the CompletedProcess."""
    env = {**os.environ, "PYTHON": python, "WANDB_MODE": "offline"}
    return subprocess.run(
        ["bash", str(ROOT / "benchmark.sh"), *map(str, flags)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def scalars(run_dir):
    """All scalars of a TensorBoard run directory: {tag: [(step, value), ...]}."""
    events = benchmark_report.read_events(run_dir)
    return {tag: [(e.step, e.value) for e in tag_events] for tag, tag_events in events.items()}


def only_run_dir(cwd):
    (run_dir,) = (Path(cwd) / "runs").iterdir()
    return run_dir


def plain_q(qf, i, x, a):
    """Critic i of a script's TwinQNetworks computed the plain way: an MLP on cat([s, a]) for every
    sample, its first layer [W_s, W_a]. x: (B, obs_dim), a: (B, K, act_dim) -> (B, K)."""
    q = (qf.q1, qf.q2)[i]
    first = torch.cat([q.state_layer.weight, q.action_layer.weight], dim=1)
    h = torch.cat([x.unsqueeze(1).expand(-1, a.shape[1], -1), a], -1) @ first.T + q.state_layer.bias
    return q.rest(h)[..., 0]


def finished_folder(out):
    """An --out folder with one finished run and a report, as benchmark.sh leaves it."""
    from torch.utils.tensorboard import SummaryWriter

    run = out / "wppg__InvertedPendulum-v5__1"
    writer = SummaryWriter(str(run / "runs" / "r"))
    for step in (100, 200):
        writer.add_scalar("eval/episodic_return", float(step), step)
    writer.close()
    (run / "done").touch()
    (out / "results.md").write_text("an earlier report\n")
    (out / "nan.csv").write_text("task,algorithm,seed,step,eval_return\nT-v0,a,1,100,nan\n")
    (out / "dup.csv").write_text("task,algorithm,seed,step,eval_return\n" + "T-v0,a,1,100,1\n" * 2)
    return out


def assert_refused(command, words, tmp_path):
    """A command line given bad input: exit status non-zero, no traceback, at most two lines on
    stderr holding `words`, and nothing changed in a finished --out folder ({out} in command)."""
    out = finished_folder(tmp_path / "out")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    command = [part.replace("{out}", str(out)) for part in command]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHON": sys.executable},
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2, result.stderr
    assert words in result.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
