"""Which tests catch which wrong equation: apply each mutation below to a copy of the repository,
run the math and reference tests there, and print a Markdown table of the tests that fail. Not
part of the suite (tests/README.md holds its table); about 2 minutes a mutation on 2 cores.

    python -m lab.mutations                       # every mutation
    python -m lab.mutations --only fresh-noise    # one, by name"""

import argparse
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from lab import ROOT

FILES = ["wppg_continuous_action.py", "wppg_implicit_continuous_action.py", "run_utils.py"]
TESTS = ["tests/test_math.py", "tests/test_reference.py"]
# name -> (what it does, [(text, its replacement)]): each text is replaced in every file of FILES
# that holds it (the algorithm's in both scripts)
MUTATIONS = {
    "no-clamp-margin": (
        "targets clamped to the box itself, not 0.1 % inside it",
        [("margin = 1e-3 * (actor.high - actor.low)", "margin = 0 * (actor.high - actor.low)")],
    ),
    "heat-std-env-units": (
        "heat std sqrt(2 lambda eta) in env units (no half-range factor)",
        [("    return scale * actor.half_range", "    return scale + 0 * actor.half_range")],
    ),
    "fresh-noise": (
        "fresh noise at the re-forward of the matching loss",
        [
            (
                "(actor(obs.unsqueeze(1), noise) - targets)",
                "(actor(obs.unsqueeze(1), torch.randn_like(noise)) - targets)",
            )
        ],
    ),
    "online-actor-target": (
        "the online actor in the critic target",
        [
            (
                "= critic_target(data, target_actor, qf_target",
                "= critic_target(data, actor, qf_target",
            )
        ],
    ),
    "detached-online-copy": (
        "a detached copy of the online actor in the critic target",
        [
            (
                "= critic_target(data, target_actor, qf_target",
                "= critic_target(data, __import__('copy').deepcopy(actor).requires_grad_(False), "
                "qf_target",
            )
        ],
    ),
    "z0-eval-action": (
        "WPPG-I evaluated at z = 0 instead of the mean action over fresh latents",
        [
            (
                "return self(x.unsqueeze(1), z).mean(dim=1)",
                "return self(x.unsqueeze(1), 0 * z).mean(1)",
            )
        ],
    ),
    "eval-shares-training-rng": (
        "evaluation draws its latents from training's generator (no fork_rng)",
        [
            (
                'with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):',
                "with torch.no_grad():",
            )
        ],
    ),
    "closed-form-eigh-values": (
        "closed form: widened by eigh's float32 eigenvalues, not the projections' own variance",
        [
            (
                "var = proj.pow(2).sum(dim=1, keepdim=True) / (u.shape[1] - 1)",
                "var = torch.linalg.eigh(centred.mT @ centred)[0].unsqueeze(1).clamp_min(1e-12) "
                "/ (u.shape[1] - 1)",
            )
        ],
    ),
    "closed-form-subnormal-spread": (
        "closed form: any variance above 0 widened, a subnormal one included",
        [("torch.where(var > 1e-12,", "torch.where(var > 0,")],
    ),
    "closed-form-per-dimension": (
        "closed form: widened along each action dimension, not the principal axes",
        [
            (
                "axes = torch.linalg.eigh(gram)[1].to(u.dtype)",
                "axes = torch.eye(u.shape[-1]).expand(u.shape[0], -1, -1)",
            )
        ],
    ),
    "closed-form-lambda-eta": (
        "closed form: covariance grown by lambda eta, not 2 lambda eta",
        [
            (
                "heat_var = 2 * args.entropy_scale * args.eta",
                "heat_var = args.entropy_scale * args.eta",
            )
        ],
    ),
    "closed-form-noise-when-acting": (
        "closed form: the heat noise also added when acting and in the critic target",
        [('0.0 if args.matching == "closed-form"', '0.0 if args.matching == "closed_form"')],
    ),
}


def failing_tests(tree, workers):
    """The node ids of the tests that fail in tree (math and reference tests)."""
    report = Path(tree) / "report.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        *TESTS,
        "-q",
        "-n",
        str(workers),
        "-p",
        "no:cacheprovider",
        f"--junitxml={report}",
    ]
    subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=1800)
    if not report.exists():
        sys.exit(f"error: pytest wrote no report in {tree}")
    failed = []
    for case in ElementTree.parse(report).iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(f"{case.get('classname').split('.')[-1]}::{case.get('name')}")
    return failed


def collapse(test_ids):
    """One entry per test function, with how many of its parametrised cases failed."""
    counts = {}
    for test_id in test_ids:
        function = test_id.split("[")[0]
        counts[function] = counts.get(function, 0) + 1
    return [f"{function} ({n})" for function, n in counts.items()]


def mutated_copy(tree, replacements):
    """Copy the tracked files of the repository into tree and apply the replacements."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        (Path(tree) / name).parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_file():
            (Path(tree) / name).write_bytes((ROOT / name).read_bytes())
    found = {old: 0 for old, _ in replacements}
    for name in FILES:
        text = (Path(tree) / name).read_text()
        for old, new in replacements:
            if text.count(old) > 1:
                sys.exit(f"error: {name} holds {old!r} more than once; update lab/mutations.py")
            found[old] += text.count(old)
            text = text.replace(old, new)
        (Path(tree) / name).write_text(text)
    if not all(found.values()):
        sys.exit(f"error: no file holds {min(found, key=found.get)!r}; update lab/mutations.py")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="+", choices=list(MUTATIONS), default=list(MUTATIONS))
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers")
    opts = parser.parse_args()
    if opts.workers < 1:
        parser.error("--workers must be at least 1")
    print("| mutation | what it changes | a test that fails (its failing cases) |\n|---|---|---|")
    for name in [None, *opts.only]:  # None: the code as it is, where every test must pass
        what, replacements = MUTATIONS[name] if name else ("nothing", [])
        with tempfile.TemporaryDirectory() as tree:
            mutated_copy(tree, replacements)
            failed = failing_tests(tree, opts.workers)
        first = f"| {name or '(unmutated)'} | {what} |"
        for i, caught in enumerate(collapse(failed) or ["**none**"]):  # a row per failing test
            print(f"{first if i == 0 else '| | |'} {caught} |", flush=True)


if __name__ == "__main__":
    main()
