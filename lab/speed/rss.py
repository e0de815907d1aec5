r"""Peak RSS of a training run with and without keep_freed_memory: is the glibc tuning still
needed now that the Polyak update runs under no_grad? Each configuration runs in its own process,
with glibc's defaults otherwise:

    OMP_NUM_THREADS=1 python -m lab.speed.rss --script wppg_continuous_action.py \
        --mode tuned|default -- <flags>

prints the peak RSS (MB) of the process and its RSS every 1,000 steps."""

import argparse
import importlib.util
import resource
import sys
from pathlib import Path

import tyro

ROOT = Path(__file__).resolve().parents[2]
import run_utils  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--script", default="wppg_continuous_action.py")
    parser.add_argument("--mode", choices=["tuned", "default"], required=True)
    opts, rest = parser.parse_known_args()
    spec = importlib.util.spec_from_file_location("wppg", ROOT / opts.script)
    wppg = importlib.util.module_from_spec(spec)
    sys.modules["wppg"] = wppg
    spec.loader.exec_module(wppg)
    if opts.mode == "default":
        run_utils.keep_freed_memory = lambda release=False: None
    samples = []
    add_scalar = run_utils.SummaryWriter.add_scalar

    def add_scalar_and_rss(
        self, tag, value, step=None, *a, **k
    ):  # sample the current RSS at every logged loss
        if tag == "losses/qf_loss" and step % 1000 == 0:
            rss = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() / 2**20
            samples.append((step, round(rss)))
        return add_scalar(self, tag, value, step, *a, **k)

    run_utils.SummaryWriter.add_scalar = add_scalar_and_rss
    wppg.main(tyro.cli(wppg.Args, args=[a for a in rest if a != "--"]))
    print("rss_mb_by_step", samples)
    print(
        f"peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} "
        f"({opts.script}, {opts.mode})"
    )
