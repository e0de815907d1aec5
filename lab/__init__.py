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


class _Resolved(Exception):
    pass


def resolved_args(module, **flags):
    """The script's Args with every default filled as its main fills them before training (the
    per-task table, WPPG-I's latent size), by running main up to the Run it would start."""
    import run_utils

    def stop(args, *rest):
        raise _Resolved(args)

    args, run = module.Args(**flags), run_utils.Run
    run_utils.Run = stop
    try:
        module.main(args)
    except _Resolved:
        return args
    finally:
        run_utils.Run = run
    raise RuntimeError(f"{module.__name__}.main returned before starting its run")
