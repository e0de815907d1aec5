"""Study and speed tools around the two scripts; run them from the repository root as modules,
e.g. `python -m lab.study.heat_toys --help`."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_script(name):
    """Import one of the two scripts (a file, not a package) as a module of its own name."""
    spec = importlib.util.spec_from_file_location(Path(name).stem, ROOT / name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # torch.compile and pickle look modules up by name
    spec.loader.exec_module(module)
    return module
