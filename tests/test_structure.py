"""The layout the README promises: the algorithm whole in each script, the run machinery once in
run_utils.py, the two scripts parallel, and one formatter and linter for everything."""

import ast
import difflib
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, SCRIPTS


def top_level_names(path):
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def imported_modules(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_run_utils_imports_no_script_and_holds_no_algorithm():
    imported = imported_modules(ROOT / "run_utils.py")
    assert not imported & ({name[:-3] for name in SCRIPTS} | {"lab", "baselines", "conftest"})
    algorithm = {"critic_target", "matching_loss", "transport_targets", "heat_step", "Actor"}
    assert not top_level_names(ROOT / "run_utils.py") & algorithm


def test_the_shared_modules_are_short_and_name_no_script_flag():
    """run_utils.py holds what a default run executes, within 650 lines; neither it nor
    run_extras.py names a flag that only a script or the baseline runner declares: each passes
    its own rules (Annotated), memory count and latent size."""
    import run_utils

    assert len((ROOT / "run_utils.py").read_text().splitlines()) <= 650
    shared = set(run_utils.TrainArgs.__dataclass_fields__)
    runners = [ROOT / name for name in SCRIPTS] + [ROOT / "baselines" / "sb3_continuous_action.py"]
    own = set()
    for path in runners:
        tree = ast.parse(path.read_text())
        (args,) = [node for node in tree.body if getattr(node, "name", None) == "Args"]
        own |= {node.target.id for node in args.body if isinstance(node, ast.AnnAssign)}
    own -= shared | {"exp_name"}  # every runner's (CleanRL's) run name
    assert "eta" in own and "latent_dim" in own and "num_envs" in own
    for module in ["run_utils.py", "run_extras.py"]:
        text = (ROOT / module).read_text()
        named = {  # read as an attribute of args or by its string, or named as a flag
            name
            for name in own
            if re.search(rf"args\.{name}\b|[\"']{name}[\"']|--{name.replace('_', '-')}\b", text)
        }
        assert not named, (module, named)


def test_the_reference_and_its_tests_import_nothing_from_the_lab():
    """The lab (lab/: studies, their data, speed tools) builds on the reference, never the other
    way round: no script, no shared module, no baseline, no reference test imports it."""
    reference = [*SCRIPTS, "run_utils.py", "run_extras.py", "benchmark_report.py"]
    reference += ["combined_humanoid.py"]
    paths = [ROOT / name for name in reference] + sorted((ROOT / "tests").glob("*.py"))
    paths.remove(Path(__file__))  # this file names what it looks for
    paths += sorted((ROOT / "baselines").glob("*.py"))
    for path in paths:
        assert "lab" not in imported_modules(path), path
        text = path.read_text()  # nor runs its tools
        assert not any(
            tool in text for tool in ["lab/study", "lab.study", "lab/speed", "lab.speed"]
        )


def test_scripts_define_nothing_the_shared_module_provides():
    shared = top_level_names(ROOT / "run_utils.py")
    for name in SCRIPTS:
        assert not top_level_names(ROOT / name) & shared, name
        assert "run_utils" in imported_modules(ROOT / name)
    baseline = ROOT / "baselines" / "sb3_continuous_action.py"
    assert "run_utils" in imported_modules(baseline) and not top_level_names(baseline) & shared


def test_each_script_is_short_and_the_two_differ_only_where_wppg_i_does():
    """At most 400 lines a script, main at most 110, and at most 40 changed lines between them."""
    lines = {name: (ROOT / name).read_text().splitlines() for name in SCRIPTS}
    assert all(len(text) <= 400 for text in lines.values()), {k: len(v) for k, v in lines.items()}
    for name, text in lines.items():
        tree = ast.parse("\n".join(text))
        (main,) = [node for node in tree.body if getattr(node, "name", None) == "main"]
        assert main.end_lineno - main.lineno + 1 <= 110, name
    diff = difflib.unified_diff(*lines.values(), lineterm="", n=0)
    changed = [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert len(changed) <= 40, "\n".join(changed)


def test_ruff_lint_and_format_pass():
    for command in [["check", "--no-cache"], ["format", "--check", "--no-cache"]]:
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, str(ROOT)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_readme_is_a_front_door():
    readme = (ROOT / "README.md").read_text().splitlines()
    assert len(readme) <= 250
    commands = [line for line in readme if line.startswith("python -m venv .venv")]
    assert len(commands) == 2  # one installs and runs the main job, one runs the tests
