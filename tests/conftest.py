"""Shared helpers: load the two single-file scripts as modules, run them as a user would, read their logs."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # combined_humanoid.py, importable as gymnasium's "module:EnvId" does
SCRIPTS = ["wppg_continuous_action.py", "wppg_implicit_continuous_action.py"]
# small settings that still run real updates: learning starts well before the end
SMALL = ["--num-action-samples", "4", "--batch-size", "32", "--hidden-sizes", "32", "32", "--eval-episodes", "2",
         "--log-frequency", "50"]


def load_script(name):
    spec = importlib.util.spec_from_file_location(name[:-3], ROOT / name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # torch.compile and pickle look modules up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=SCRIPTS, ids=["wppg", "wppg_i"])
def script(request):
    return request.param


def script_env(**extra):
    """The environment the tests run scripts in: W&B offline, one thread, headless rendering, tests/ importable."""
    return {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1", "MUJOCO_GL": "egl",
            "PYTHONPATH": str(ROOT / "tests"), **extra}


def run_script(script, *flags, cwd, timeout=300, **extra_env):
    """Run a script in a subprocess; returns the CompletedProcess (stdout and stderr captured)."""
    env = script_env(**extra_env)
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, flags)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def scalars(run_dir):
    """All scalars of a TensorBoard run directory: {tag: [(step, value), ...]}."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def only_run_dir(cwd):
    (run_dir,) = (Path(cwd) / "runs").iterdir()
    return run_dir


def plain_q(qf, i, x, a):
    """Critic i of a script's SoftQNetworks computed the plain way: an MLP on cat([s, a]) for every sample.
    x: (B, obs_dim), a: (B, K, act_dim) -> (B, K)."""
    h = torch.cat([x.unsqueeze(1).expand(-1, a.shape[1], -1), a], -1)
    for layer, (w, b) in enumerate(zip(qf.weights, qf.biases)):
        h = h @ w[i] + b[i]
        h = qf.activation(h) if layer < len(qf.weights) - 1 else h
    return h[..., 0]
