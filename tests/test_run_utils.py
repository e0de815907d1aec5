"""run_utils.py on its own: argument checks, atomic saves, evaluation, the allocator tweak."""

import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional, Tuple

import gymnasium as gym
import pytest
import torch
from conftest import script_env

import run_extras
import run_utils


@dataclass
class Args(run_utils.TrainArgs):
    """A script's Args as run_utils sees them: its own flags beside the shared ones."""

    exp_name: str = "test"
    batch_size: Annotated[int, run_utils.COUNT] = 8
    buffer_size: Annotated[
        int, run_utils.Rule(lambda v, a: v >= a.batch_size, "holds no batch")
    ] = 100
    hidden_sizes: Annotated[Optional[Tuple[int, ...]], run_utils.SIZES] = None
    eta: Annotated[float, run_utils.POSITIVE] = 0.1


@pytest.mark.parametrize(
    "flags, words",
    [
        (dict(env_id="InvertedPendulum-v5"), None),
        (dict(env_id="Hopper-v3"), "cannot be made here"),
        (dict(eta=0.0), "--eta must be > 0, got 0.0"),
        (dict(eta=float("nan")), "--eta must be a finite number"),
        (dict(buffer_size=4), "--buffer-size holds no batch, got 4"),
        (dict(hidden_sizes=()), "--hidden-sizes must be one or more positive integers"),
        (dict(eval_episodes=0), "--eval-episodes must be a positive integer"),
    ],
)
def test_check_args(flags, words):
    args = Args(**{"env_id": "InvertedPendulum-v5", **flags})
    if words is None:
        run_utils.check_args(args)
        return
    with pytest.raises(SystemExit) as exit_info:
        run_utils.check_args(args)
    assert exit_info.value.code.startswith("error: ") and words in exit_info.value.code


def test_save_atomically_survives_a_full_disk(tmp_path, monkeypatch):
    """torch.save raises RuntimeError on a full disk: one line, no stray temporary file, the
    previous file intact."""
    path = str(tmp_path / "checkpoint.pt")
    run_utils.save_atomically({"step": 1}, path)

    def full_disk(state, file, **kwargs):
        open(file, "wb").write(b"partial")
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(run_utils.torch, "save", full_disk)
    with pytest.raises(SystemExit) as exit_info:
        run_utils.save_atomically({"step": 2}, path)
    message = exit_info.value.code
    assert message.startswith(f"error: cannot write {path} (RuntimeError: PytorchStreamWriter")
    assert "\n" not in message and not (tmp_path / "checkpoint.pt.tmp").exists()
    monkeypatch.undo()
    assert torch.load(path) == {"step": 1}


def test_evaluate_runs_the_policy_for_whole_episodes():
    """A policy that pushes one way topples InvertedPendulum in a few steps, every episode."""
    calls = []

    def push(x):
        calls.append(x.shape)
        return torch.full((1, 1), 3.0)

    mean = run_utils.evaluate(push, "InvertedPendulum-v5", 3, seed=0, device=torch.device("cpu"))
    assert 0 < mean < 50 and all(shape == (1, 4) for shape in calls)
    assert len(calls) == pytest.approx(3 * mean, abs=3)  # one action per step, reward 1 per step


ALLOCATOR_PROBE = """
import resource, torch
from run_utils import keep_freed_memory

def faults_and_rss(rounds=10):  # as an update: allocate, touch and free 8 buffers of 16 MB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        activations = [torch.ones(2, 8192, 256) for _ in range(8)]
        del activations
    rss = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, rss

default_faults, _ = faults_and_rss()
keep_freed_memory()
faults_and_rss()
kept_faults, kept_rss = faults_and_rss()
keep_freed_memory(release=True)
_, released_rss = faults_and_rss(rounds=0)
print(default_faults, kept_faults, kept_rss, released_rss)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the settings are glibc's")
def test_freed_activation_memory_is_reused_then_released():
    """glibc's default hands freed activations back to the OS, so the next round page-faults them
    in again; after keep_freed_memory() they are reused, and release=True hands them back."""
    result = subprocess.run(
        [sys.executable, "-c", ALLOCATOR_PROBE],
        capture_output=True,
        text=True,
        env=script_env(),
        check=True,
    )
    default_faults, kept_faults, kept_rss, released_rss = map(int, result.stdout.split())
    assert default_faults > 10 * 4096, "glibc's default no longer returns freed buffers"
    assert kept_faults < default_faults / 20
    assert released_rss < kept_rss - 64 * 2**20


def test_can_render_says_no_without_a_renderer(capsys):
    class NoRender(gym.Wrapper):
        def render(self):
            raise RuntimeError("no GL context")

    gym.register(
        "NoRenderHere-v0", entry_point=lambda **kw: NoRender(gym.make("InvertedPendulum-v5", **kw))
    )
    assert not run_extras.can_render("NoRenderHere-v0")
    assert "cannot render here (RuntimeError)" in capsys.readouterr().err


def test_runs_started_in_the_same_second_never_share_a_folder(tmp_path, monkeypatch):
    """CleanRL's name {env}__{exp}__{seed}__{unix time}; a clash takes the next free suffix."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run_utils.time, "time", lambda: 1234.5)
    names = [run_utils.new_run_dir("Pendulum-v1", "exp", 1) for _ in range(3)]
    assert names == [
        "Pendulum-v1__exp__1__1234",
        "Pendulum-v1__exp__1__1234-2",
        "Pendulum-v1__exp__1__1234-3",
    ]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == names


@pytest.mark.parametrize("from_benchmark", [False, True])
def test_wandb_run_is_named_grouped_tagged_and_uploads_run_utils(from_benchmark, monkeypatch):
    """By hand the run is grouped by task and exp-name; under benchmark.sh its name carries the
    --tag and its group and tags come from the grid (WANDB_NAME, WANDB_RUN_GROUP, WANDB_TAGS).
    run_utils.py and run_extras.py go up with the script, which save_code alone would miss."""
    calls = {"init": [], "save": []}
    fake = types.SimpleNamespace(
        init=lambda **kwargs: calls["init"].append(kwargs),
        save=lambda path, **kwargs: calls["save"].append(path),
        Settings=lambda **kwargs: kwargs,
    )
    monkeypatch.setitem(sys.modules, "wandb", fake)
    if from_benchmark:
        monkeypatch.setenv("WANDB_NAME", "wppg-lam0.1__Hopper-v5__3")
        monkeypatch.setenv("WANDB_RUN_GROUP", "wppg-lam0.1__Hopper-v5")
        monkeypatch.setenv("WANDB_TAGS", "wppg-lam0.1,commit-abc1234")
    else:
        for name in ["WANDB_NAME", "WANDB_RUN_GROUP", "WANDB_TAGS"]:
            monkeypatch.delenv(name, raising=False)
    args = types.SimpleNamespace(
        wandb_project_name="p", wandb_entity=None, env_id="Hopper-v5", exp_name="wppg_x", seed=3
    )
    run_extras.init_wandb(args, "Hopper-v5__wppg_x__3__17", "id1")
    (kwargs,) = calls["init"]
    if from_benchmark:
        assert kwargs["name"] == "wppg-lam0.1__Hopper-v5__3"
        assert kwargs["group"] == "wppg-lam0.1__Hopper-v5"
        assert kwargs["tags"] == ["wppg-lam0.1", "commit-abc1234"]
    else:
        assert kwargs["name"] == "Hopper-v5__wppg_x__3__17"
        assert (kwargs["group"], kwargs["tags"]) == ("Hopper-v5__wppg_x", ["wppg_x"])
    assert kwargs["save_code"] and kwargs["job_type"] == "train"
    assert [Path(path).name for path in calls["save"]] == ["run_utils.py", "run_extras.py"]
