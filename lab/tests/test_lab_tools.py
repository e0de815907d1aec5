"""The lab's tools (lab/experiments.md): lab/study/study_variants.py (the bridge from WPPG to SAC,
and the pairings, the single critic and torch.compile that left the scripts), lab/study/solved.py,
lab/study/policy_spread.py, lab/study/eval_latent.py, and the lab's command lines refusing bad
input. They use the reference tests' helpers (tests/conftest.py) and toys (tests/toys.py); the
reference's tests import nothing from here."""

import math
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import AffineTransform, Normal, TanhTransform, TransformedDistribution

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from conftest import (  # noqa: E402  the fixtures too: pytest finds them in this module
    MODULES,
    ROOT,
    SCRIPTS,
    SMALL,
    _work_in_tmp_path,  # noqa: F401
    assert_refused,
    make_actor,
    only_run_dir,
    run_script,
    scalars,
)
from toys import SpreadActor, quadratic, train_on_toy, two_modes  # noqa: E402

import run_utils  # noqa: E402
from lab import load_script  # noqa: E402
from lab.study.heat_toys import pairing  # noqa: E402

variants = load_script("lab/study/study_variants.py")


def test_log_prob_is_the_tanh_gaussian_density():
    torch.manual_seed(0)
    box = gym.spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([3.0, 0.5], np.float32))
    actor = variants.wppg.Actor(3, box, (16,), "tanh")
    obs, noise = torch.randn(4, 3), torch.randn(4, 5, 2)
    actions, log_prob = variants.sample_with_log_prob(actor, obs, noise)
    assert torch.allclose(actions, actor(obs.unsqueeze(1), noise))
    mean, raw = actor.net(obs.unsqueeze(1)).chunk(2, dim=-1)
    log_std = variants.wppg.LOG_STD_MIN + 0.5 * (
        variants.wppg.LOG_STD_MAX - variants.wppg.LOG_STD_MIN
    ) * (raw.tanh() + 1)
    low, high = actor.low, actor.high
    dist = TransformedDistribution(
        Normal(mean, log_std.exp()),
        [TanhTransform(), AffineTransform((low + high) / 2, (high - low) / 2)],
    )
    u = mean + log_std.exp() * noise
    expected = dist.log_prob(dist.transforms[1](dist.transforms[0](u))).sum(-1)
    assert torch.allclose(log_prob, expected, atol=1e-3)


def run_variants(tmp_path, variants, steps, lam):
    """A short InvertedPendulum run of study_variants: its run folder and its scalars."""
    flags = [
        "--env-id",
        "InvertedPendulum-v5",
        "--total-timesteps",
        steps,
        "--learning-starts",
        200,
    ]
    result = run_script(
        "lab/study/study_variants.py",
        "--variants",
        *variants,
        "--",
        *flags,
        "--entropy-scale",
        lam,
        *SMALL,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    run_dir = only_run_dir(tmp_path)
    return run_dir, scalars(run_dir)


def test_all_variants_train_and_log(tmp_path):
    variants = ["soft-target", "sac-actor", "entropy-reward", "online-actor"]
    run_dir, logged = run_variants(tmp_path, variants, 600, 0.2)
    assert "wppg_soft-target+sac-actor+entropy-reward+online-actor" in run_dir.name
    assert all(math.isfinite(v) for _, v in logged["losses/actor_loss"])
    assert [step for step, _ in logged["eval/episodic_return"]] == [600]


@pytest.mark.parametrize("implicit", [False, True], ids=["wppg", "wppg_implicit"])
def test_coupled_and_single_q_run_either_script(implicit, tmp_path):
    """The pairings and the single critic that left the scripts still run, for either actor."""
    chosen = ["coupled", "single-q"] + ["implicit-actor"] * implicit
    run_dir, logged = run_variants(tmp_path, chosen, 400, 0.05)
    assert f"wppg{'_implicit' * implicit}_coupled+single-q" in run_dir.name
    assert all(math.isfinite(v) for _, v in logged["losses/actor_loss"])


def test_single_q_is_q1_in_both_places():
    torch.manual_seed(0)
    qf = variants.single_q(variants.wppg)(3, 2, (8,), "tanh")
    x, a = torch.randn(4, 3), torch.randn(4, 5, 2)
    q = qf(x, a)
    torch.testing.assert_close(q[0], q[1])
    torch.testing.assert_close(q[0], qf.q1(x, a))


def test_rank_coupling_pairs_equal_ranks_per_dimension():
    samples = torch.tensor([[[0.3, 2.0], [0.1, 1.0], [0.2, 3.0]]])  # (B=1, K=3, d=2)
    targets = torch.tensor([[[5.0, -1.0], [4.0, -3.0], [6.0, -2.0]]])
    paired = variants.rank_coupling(samples, targets)
    assert paired.tolist() == [[[6.0, -2.0], [4.0, -3.0], [5.0, -1.0]]]


def test_heat_coupling_is_the_heat_steps_map_of_a_gaussian():
    """Samples of N(0, diag(4, 0.25)) rotated by 30 degrees, noise of variance h: the coupled
    samples are the heat-noised ones, rearranged so each stays near its own sample, with covariance
    Sigma + h I (the convolution's) and no more displacement than the W2 map's."""
    torch.manual_seed(0)
    rotation = torch.tensor([[math.cos(0.5), -math.sin(0.5)], [math.sin(0.5), math.cos(0.5)]])
    samples = (torch.randn(64, 4096, 2) * torch.tensor([2.0, 0.5])) @ rotation.T
    h = 0.04
    noisy = samples + h**0.5 * torch.randn_like(samples)
    coupled = variants.heat_coupling(samples, noisy, torch.ones(2))
    cov = torch.einsum("bki,bkj->ij", coupled, coupled) / coupled.shape[:2].numel()
    want = rotation @ torch.diag(torch.tensor([4.0, 0.25])) @ rotation.T + h * torch.eye(2)
    torch.testing.assert_close(cov, want, atol=0.02, rtol=0.02)
    moved = (coupled - samples).pow(2).sum(-1).mean()
    assert moved < 0.1 * (noisy - samples).pow(2).sum(-1).mean()  # 2 h is the independent pairing's


def test_online_actor_target_uses_the_first_actor_built():
    torch.manual_seed(0)
    box = gym.spaces.Box(-np.ones(2, np.float32), np.ones(2, np.float32))
    variants.built_actors.clear()
    online, target = (
        variants.RecordedActor(3, box, (16,), "tanh"),
        variants.RecordedActor(3, box, (16,), "tanh"),
    )
    qf_target = variants.wppg.TwinQNetworks(3, 2, (16,), "tanh")
    batch = run_utils.Batch(None, torch.randn(8, 3), None, torch.randn(8), torch.zeros(8))
    args = variants.wppg.Args(gamma=0.99, num_action_samples=4)

    def target_from(actor, critic_target):
        torch.manual_seed(1)  # the same next-action noise
        return critic_target(batch, actor, qf_target, 0.0, args)

    with_online = target_from(target, variants.online_actor_target(variants.wppg.critic_target))
    assert torch.equal(with_online, target_from(online, variants.wppg.critic_target))
    other_weights = target_from(target, variants.wppg.critic_target)
    assert not torch.allclose(with_online, other_weights)


def test_solved_counts_and_fisher_test(tmp_path):
    rows = ["task,algorithm,seed,step,eval_return"]
    for seed, evals in enumerate(
        [(50, 1000), (1000, 1000), (1000, 70), (60, 80), (1000, 1000)], 1
    ):  # a: 3 + 1
        rows += [f"T-v0,a,{seed},{step},{value}" for step, value in zip((2000, 4000), evals)]
    for seed, evals in enumerate(
        [(50, 1000), (60, 70), (80, 90), (70, 60), (1000, 60)], 1
    ):  # b: 1 + 1
        rows += [f"T-v0,b,{seed},{step},{value}" for step, value in zip((2000, 4000), evals)]
    rows.append("Other-v0,a,1,2000,1000")
    (tmp_path / "evaluations.csv").write_text("\n".join(rows) + "\n")
    solved = load_script("lab/study/solved.py")
    assert solved.counts(tmp_path / "evaluations.csv", "T-v0", 1000) == {
        "a": [5, 3, 4],
        "b": [5, 1, 2],
    }
    result = subprocess.run(
        [
            sys.executable,
            "lab/study/solved.py",
            tmp_path / "evaluations.csv",
            "--task",
            "T-v0",
            "--threshold",
            "1000",
            "--compare",
            "a",
            "b",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    # hypergeometric by hand: P(k of the 4 solved runs in a) = C(5, k) C(5, 4 - k) / 210 = 5, 50,
    # 100, 50, 5 / 210;
    # two-sided: every table as unlikely as the observed k = 3, i.e. k = 0, 1, 3, 4 (k = 4 of 6 at
    # any evaluation alike)
    # (5 + 50 + 50 + 5) / 210
    assert "a 3/5 against b 1/5 at the end: Fisher exact p = 0.524" in result.stdout
    assert "a 4/5 against b 2/5 at any evaluation: Fisher exact p = 0.524" in result.stdout


def finished_run(run, charts):
    """A benchmark.sh run folder with the TensorBoard scalars {tag: {step: value}}, marked done."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run / "runs" / f"{run.name}__0"))
    for tag, values in charts.items():
        for step, value in values.items():
            writer.add_scalar(tag, value, step)
    writer.close()
    (run / "done").touch()  # finished (benchmark.sh); an unfinished run is left out


def test_policy_spread_averages_the_second_half(tmp_path):
    run = tmp_path / "a__T-v0__1"
    finished_run(
        run,  # action_std 0.0 in the first half, step / 1000 from step 500 on
        {
            "charts/action_std": {s: s / 1000 if s >= 500 else 0.0 for s in range(0, 1001, 100)},
            "charts/entropy_estimate": {1000: -2.0},
        },
    )
    (tmp_path / "b__T-v0__1" / "runs").mkdir(parents=True)
    spread = load_script("lab/study/policy_spread.py")
    assert spread.second_half_means(run) == {
        "charts/action_std": pytest.approx(0.75),  # (0.5 + ... + 1.0) / 6
        "charts/entropy_estimate": -2.0,
    }
    result = subprocess.run(
        [sys.executable, "-m", "lab.study.policy_spread", tmp_path],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert (
        result.returncode == 0 and "| a__T-v0__1 | 0.750 | n/a | -2.000 | n/a |" in result.stdout
    ), result.stderr
    assert "b__T-v0__1" not in result.stdout  # not finished


def test_lambda_shape_groups_arms_by_lambda(tmp_path):
    """Each `<arm>-lam<λ>` algorithm becomes one point: the IQM over seeds of each run's mean
    evaluation (3 runs: nothing trimmed, so the plain mean); other algorithms are left out."""
    rows = ["task,algorithm,seed,step,eval_return"]
    for algo, per_seed in [
        ("x-pw-lam1e-4", [10, 20, 30]),
        ("x-pw-lam0.2", [1, 2, 3]),
        ("sac", [9]),
    ]:
        for seed, level in enumerate(per_seed, start=1):
            rows += [f"T-v0,{algo},{seed},{step},{level + d}" for step, d in [(5, -1), (10, 1)]]
    (tmp_path / "evaluations.csv").write_text("\n".join(rows) + "\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lab.study.lambda_shape",
            "--include",
            tmp_path / "evaluations.csv",
            "--figure",
            tmp_path / "lambda.png",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("| x-pw")]
    assert [line.split(" | ")[1:3] for line in table] == [
        ["0.0001", "20.0 [10.0, 30.0]"],
        ["0.2", "2.0 [1.0, 3.0]"],
    ]
    assert "sac" not in result.stdout and (tmp_path / "lambda.png").stat().st_size > 5_000


def test_lambda_shape_adds_the_spreads_of_the_run_folders(tmp_path):
    """From a benchmark.sh --out folder, each arm's spread columns are the second-half means of
    its finished runs averaged over the runs that log the chart, n/a where none does."""
    evals = {"eval/episodic_return": {500: 1.0, 1000: 3.0}}
    for seed, std in [(1, 0.1), (2, 0.3)]:  # constant, so the second-half mean is the value
        charts = {"charts/action_std": {0: 9.0, 600: std, 1000: std}}
        if seed == 1:
            charts["charts/entropy_estimate"] = {1000: -1.5}
        finished_run(tmp_path / f"x-lam0.1__T-v0__{seed}", evals | charts)
    (tmp_path / "x-lam0.1__T-v0__3" / "runs").mkdir(parents=True)  # unfinished: left out
    result = subprocess.run(
        [sys.executable, "-m", "lab.study.lambda_shape", tmp_path],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    # mean evaluation 2.0 per run; own spread (0.1 + 0.3) / 2; no executed spread; entropy seed 1
    assert "| x | 0.1 | 2.0 [2.0, 2.0] | 2 | 0.200 | n/a | -1.500 |" in result.stdout


def test_eval_latent_evaluates_a_saved_wppg_i_model_three_ways(tmp_path):
    flags = ["--env-id", "InvertedPendulum-v5", "--total-timesteps", 150, "--learning-starts", 100]
    result = run_script(
        "wppg_implicit_continuous_action.py",
        *flags,
        "--save-model",
        "--eval-episodes",
        1,
        "--hidden-sizes",
        8,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (model,) = only_run_dir(tmp_path).glob("*.cleanrl_model")
    tool = run_script("lab/study/eval_latent.py", model, "--episodes", 2, cwd=tmp_path)
    assert tool.returncode == 0, tool.stderr
    row = tool.stdout.strip().splitlines()[-1].split("|")
    assert row[1].strip() == str(model) and all(float(value) > 0 for value in row[2:5])


@pytest.mark.parametrize("module", MODULES.values(), ids=["wppg", "wppg_i"])
def test_rank_matching_expands_under_a_steep_critic(module):
    """The failure of rank matching (docs/heat_step.md): with eta c > 2 the transport step
    a + eta grad Q overshoots the maximum and reverses the samples' order; pairing by rank after
    moving turns that into an expansion, until the samples pile at the box's edges. Box [-1, 1],
    Q = -30 (a - 0.3)^2 / 2, eta 0.1: rank reaches a spread of 0.7, 9-48 % at the edge."""
    torch.manual_seed(0)
    box = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    actor = make_actor(module, box=box, hidden=(64, 64), activation="tanh", latent_dim=1)
    heat_std = (2 * 1e-4 * 0.1) ** 0.5
    with pairing(module, "rank") as matching:
        train_on_toy(module, actor, quadratic([[30.0]], [0.3]), matching, 32, 1500, 1e-3, 0.1)
    with torch.no_grad():
        actions = actor(torch.ones(1, 1, 3), torch.randn(1, 20_000, actor.noise_dim))[0]
    assert (actions + heat_std * torch.randn_like(actions)).std() > 0.3


def test_rank_pairing_sends_samples_where_no_mode_lies():
    """Two equal maxima at +-(0.5, 0.5); one transport step (eta = 1) moves each sample onto its
    basin's mode. Rank pairing per dimension sends half of the targets into the quadrants where no
    mode lies (measured: 47-50 %); the scripts' matchings keep them on the diagonal (test_math)."""
    wppg = variants.wppg
    torch.manual_seed(0)
    args = wppg.Args(eta=1.0)
    obs, noise = torch.ones(256, 3), torch.randn(256, 32, 2)
    transport = variants.coupled_transport(wppg, "rank")
    _, targets = transport(obs, SpreadActor(32), two_modes(), noise, 0.01, args)
    empty = (targets[..., 0] * targets[..., 1] < 0).float().mean().item()
    assert empty > 0.3 and np.corrcoef(targets.reshape(-1, 2).numpy().T)[0, 1] < 0.5


@pytest.mark.parametrize("script", SCRIPTS, ids=["wppg", "wppg_i"])
def test_compile_and_bf16_end_to_end(script, tmp_path):
    """--variants compile: torch.compile of the critic target and the matching loss, with bf16."""
    implicit = ["implicit-actor"] * ("implicit" in script)
    result = run_script(
        "lab/study/study_variants.py",
        *["--variants", "compile", *implicit, "--"],
        *["--env-id", "InvertedPendulum-v5", "--total-timesteps", 400, "--learning-starts", 200],
        *["--autocast", "bf16", *SMALL],
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    logged = scalars(only_run_dir(tmp_path))  # the compiled bf16 updates ran and stayed finite
    assert [step for step, _ in logged["losses/actor_loss"]] == [200, 250, 300, 350]
    assert all(
        math.isfinite(v) for tag in ["losses/qf1_loss", "losses/actor_loss"] for _, v in logged[tag]
    )


STUDY = [sys.executable, "-m", "lab.study."]
LAB_CASES = [  # (command, words on stderr); {out} is a folder holding a finished run
    (
        [*STUDY[:2], "lab.study.solved", "{out}/missing.csv", "--task", "T", "--threshold", "1"],
        "No such file",
    ),
    (
        [*STUDY[:2], "lab.study.solved", "{out}/results.md", "--task", "T", "--threshold", "1"],
        "no runs of T",
    ),
    ([*STUDY[:2], "lab.study.policy_spread", "{out}/missing"], "no finished run folders"),
    ([*STUDY[:2], "lab.study.eval_both_ways", "{out}/missing"], "not a folder of benchmark runs"),
    ([*STUDY[:2], "lab.study.eval_both_ways", "{out}"], "no finished WPPG-I run with both"),
    ([*STUDY[:2], "lab.study.eval_latent", "{out}/results.md"], "not a model saved by WPPG-I"),
    ([*STUDY[:2], "lab.study.lambda_shape", "{out}/missing"], "not a folder of benchmark"),
    (
        [*STUDY[:2], "lab.study.lambda_shape", "--include", "{out}/results.md"],
        "not an evaluations.csv",
    ),
    (
        [*STUDY[:2], "lab.study.study_variants", "--variants", "implicit-actor", "soft-target"],
        "goes only with compile, coupled, rank, single-q",
    ),
    (
        [*STUDY[:2], "lab.study.study_variants", "--variants", "rank", "coupled"],
        "two pairings: choose one",
    ),
    ([*STUDY[:2], "lab.study.heat_toys", "--toys", "cube"], "invalid choice: 'cube'"),
    ([*STUDY[:2], "lab.study.heat_toys", "--updates", "-1"], "--updates must be >= 0"),
    (
        [*STUDY[:2], "lab.study.eval_latent", "{out}/results.md", "--samples", "0"],
        "--episodes and --samples must be positive",
    ),
    *[
        (["bash", str(ROOT / "lab/study" / name), "frobnicate"], "give a chunk")
        for name in [
            "study.sh",
            "heat_study.sh",
            "defaults_study.sh",
            "walker_study.sh",
            "heat_screen.sh",
            "heat_confirm.sh",
            "wppgi_study.sh",
        ]
    ],
]


@pytest.mark.parametrize("command, words", LAB_CASES, ids=[" ".join(c[2:]) for c, _ in LAB_CASES])
def test_lab_tools_refuse_bad_input(command, words, tmp_path):
    assert_refused(command, words, tmp_path)


def test_pretest_is_the_exact_one_sided_mann_whitney_of_the_run_means(tmp_path):
    """Five runs of x, each above all five of y: U = 25 and the exact p = 1 / C(10, 5); the
    reverse hypothesis gets p = 1."""
    rows = ["task,algorithm,seed,step,eval_return"]
    for seed in range(1, 6):
        for step in (1000, 2000):  # run means: x 10 + seed, y seed
            rows += [f"T-v0,x,{seed},{step},{10 + seed + (step - 1500) / 1000}"]
            rows += [f"T-v0,y,{seed},{step},{seed + (step - 1500) / 1000}"]
    (tmp_path / "e.csv").write_text("\n".join(rows) + "\n")
    result = run_script(
        "lab/study/pretest.py",
        tmp_path / "e.csv",
        "--task",
        "T-v0",
        *["--hypothesis", "x", "y", "--hypothesis", "y", "x"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    forward, reverse = result.stdout.strip().splitlines()[-2:]
    assert f"| 25 | {1 / math.comb(10, 5):.4f} | holds |" in forward
    assert "| 0 | 1.0000 | not shown |" in reverse


def test_pretest_pools_arms_across_files_and_refuses_a_seed_twice(tmp_path):
    """--pool joins two studies' names for one arm: five seeds in each file make n = 10, and a
    run found in both files (a report that included the other) counts once; two different runs
    of one seed in a pooled arm are refused in one line."""
    header = "task,algorithm,seed,step,eval_return"
    first = [f"T-v0,old,{s},1000,{s}" for s in range(1, 6)] + ["T-v0,y,1,1000,0"]
    second = [f"T-v0,new,{s},1000,{s}" for s in range(6, 11)] + ["T-v0,y,1,1000,0"]
    (tmp_path / "a.csv").write_text("\n".join([header, *first]) + "\n")
    (tmp_path / "b.csv").write_text("\n".join([header, *second]) + "\n")
    files = [tmp_path / "a.csv", tmp_path / "b.csv"]
    pooled = ["--task", "T-v0", "--pool", "x", "old", "new", "--hypothesis", "x", "y"]
    result = run_script("lab/study/pretest.py", *files, *pooled, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "| x > y | 10, 1 |" in result.stdout
    (tmp_path / "b.csv").write_text(f"{header}\nT-v0,new,3,1000,9\n")
    result = run_script("lab/study/pretest.py", *files, *pooled, cwd=tmp_path)
    assert result.returncode != 0 and result.stderr.strip().splitlines()[-1].startswith(
        "error: x has two different runs of seed 3"
    )


@pytest.mark.parametrize("name", list(__import__("lab.mutations").mutations.MUTATIONS))
def test_each_mutation_still_applies_to_the_code(name):
    """lab/mutations.py replaces each text once in every file that holds it: a text the code no
    longer holds, or holds twice (e.g. a call that now matches its def), stops the table midway."""
    from lab.mutations import FILES, MUTATIONS, ROOT

    for old, _ in MUTATIONS[name][1]:
        counts = [(ROOT / f).read_text().count(old) for f in FILES]
        assert sum(counts) > 0 and max(counts) == 1, (old, dict(zip(FILES, counts)))
