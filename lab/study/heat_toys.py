"""The heat step's couplings on toys with known answers (docs/heat_step.md): one state, a fixed
critic, repeated actor updates through the scripts' own matching_loss. Prints one Markdown table.

  box        1-D box [-1, 1], Q = -c (a - 0.3)^2 / 2 (c = 0: a flat critic), lambda 1e-4,
             eta 0.1, lr 1e-3, 2,000 updates (--curvatures, --updates): the actor's own spread
             and its share of samples within 2 % of the edge. eta c > 2 is the steep critic under
             which the transport step a + eta grad Q overshoots the maximum.
  separable, nonseparable
             2-D box [-3, 3], Q = -(a^T C a) / 2 with C = diag(2, 0.5) or [[2, 1.6], [1.6, 2]],
             lambda 0.05, eta 0.1, lr 3e-3, 3,000 updates: the executed policy's variances and
             correlation against the splitting's fixed point
             Sigma = (I - eta C) Sigma (I - eta C) + 2 lambda eta I.
  twomode    2-D box [-1, 1], two equal maxima at +-(0.5, 0.5); one transport step (eta = 1) of K
             widely spread samples per state: the correlation of the targets each sample is
             paired with, and their share in the two quadrants that hold no mode.

    OMP_NUM_THREADS=1 python -m lab.study.heat_toys          # every toy, coupling, actor and K
    OMP_NUM_THREADS=1 python -m lab.study.heat_toys --toys box --samples 32
    OMP_NUM_THREADS=1 python -m lab.study.heat_toys --toys box --curvatures 0 --updates 6000"""

import argparse
import contextlib
import importlib
import sys
import time

import gymnasium as gym
import numpy as np
import torch

from lab import ROOT

sys.path.insert(0, str(ROOT / "tests"))
from toys import (  # noqa: E402  the reference tests' toys
    SpreadActor,
    box_toy,
    quadratic,
    splitting_fixed_point,
    train,
    two_modes,
)

SCRIPTS = {"explicit": "wppg_continuous_action", "implicit": "wppg_implicit_continuous_action"}
COUPLINGS = ["pointwise", "closed-form", "rank", "coupled"]  # the last two: study_variants


def load_variants():
    from lab.study import study_variants

    return study_variants


@contextlib.contextmanager
def pairing(module, matching):
    """The matching to pass to the script: its own, or "pointwise" with the script's transport
    replaced, for the time of the block, by a pairing that lives in study_variants."""
    if matching in ("pointwise", "closed-form"):
        yield matching
        return
    transport = module.transport_targets
    module.transport_targets = load_variants().coupled_transport(module, matching)
    try:
        yield "pointwise"
    finally:
        module.transport_targets = transport


def cost_ms(module, matching, repeats=20):
    """ms per call of the coupling alone at Hopper-v5's sizes (256 states, K = 32, d = 3)."""
    samples, noisy = torch.randn(256, 32, 3), torch.randn(256, 32, 3)
    call = {
        "pointwise": lambda: noisy,
        "closed-form": lambda: module.closed_form_heat(noisy, 0.01),
        "rank": lambda: load_variants().rank_coupling(samples, noisy),
        "coupled": lambda: load_variants().heat_coupling(samples, noisy, torch.ones(3)),
    }[matching]
    for _ in range(3):
        call()
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - start) / repeats * 1000


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="python -m lab.study.heat_toys [options] (--help)",
    )
    parser.add_argument(
        "--toys",
        nargs="+",
        default=["box", "separable", "nonseparable", "twomode"],
        choices=["box", "separable", "nonseparable", "twomode"],
    )
    parser.add_argument("--couplings", nargs="+", default=COUPLINGS, choices=COUPLINGS)
    parser.add_argument("--actors", nargs="+", default=list(SCRIPTS), choices=list(SCRIPTS))
    parser.add_argument("--samples", nargs="+", type=int, default=[32, 128], help="K values")
    parser.add_argument(
        "--curvatures",
        nargs="+",
        type=float,
        default=[0.0, 1.0, 30.0],
        help="the box toy's c values",
    )
    parser.add_argument("--updates", type=int, default=2000, help="the box toy's actor updates")
    opts = parser.parse_args()
    if opts.updates < 0 or min(opts.samples) < 2:
        parser.error("--updates must be >= 0 and every --samples value >= 2")
    torch.set_num_threads(1)
    modules = {kind: importlib.import_module(SCRIPTS[kind]) for kind in opts.actors}
    print("| toy | actor | coupling | K | result | expected | ms per coupling call |")
    print("|---|---|---|---|---|---|---|")
    for toy in opts.toys:
        for actor_kind in (
            opts.actors[:1] if toy == "twomode" else opts.actors
        ):  # no actor in twomode
            module = modules[actor_kind]
            for matching in opts.couplings:
                for K in opts.samples:
                    for row in run_toy(toy, module, actor_kind, matching, K, opts):
                        print(
                            f"| {row[0]} | {actor_kind} | {matching} | {K} | {row[1]} | {row[2]} | "
                            f"{cost_ms(module, matching):.2f} |",
                            flush=True,
                        )


def run_toy(toy, module, actor_kind, matching, K, opts):
    with pairing(module, matching) as scripts_matching:
        yield from toy_rows(toy, module, actor_kind == "implicit", scripts_matching, K, opts)


def toy_rows(toy, module, implicit, matching, K, opts):
    if toy == "box":
        for c in opts.curvatures:
            actions = box_toy(module, implicit, matching, c, K, opts.updates)
            edge = (1 - actions.abs() > 0.02).logical_not().float().mean().item()
            expected = "spread ~0, edge 0" if c else "pointwise still; else spreads and wanders"
            yield (
                f"box c={c:g} (eta c={0.1 * c:g})",
                f"mean {actions.mean():+.3f}, spread {actions.std():.4f}, edge {edge:.2f}",
                f"mean +0.300, {expected}" if c else expected,
            )
    elif toy in ("separable", "nonseparable"):
        curvature = [[2.0, 0.0], [0.0, 0.5]] if toy == "separable" else [[2.0, 1.6], [1.6, 2.0]]
        lam, eta = 0.05, 0.1
        box = gym.spaces.Box(-3.0, 3.0, (2,), np.float32)
        actions, heat_std = train(
            module,
            implicit,
            matching,
            quadratic(curvature, [0.0, 0.0]),
            box,
            K,
            lam,
            eta,
            3e-3,
            3000,
        )
        executed = (actions + heat_std * torch.randn_like(actions)).numpy()
        cov, target = np.cov(executed.T), splitting_fixed_point(curvature, lam, eta)
        corr = cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])
        target_corr = target[0, 1] / np.sqrt(target[0, 0] * target[1, 1])
        errors = ", ".join(f"{100 * (cov[i, i] / target[i, i] - 1):+.0f} %" for i in range(2))
        yield (
            toy,
            f"variance error {errors}; correlation {corr:+.3f}",
            f"0 %, 0 %; correlation {target_corr:+.3f}",
        )
    else:  # one transport step from a wide spread of samples: where do the paired targets land?
        torch.manual_seed(0)
        actor = SpreadActor(K)
        args = module.Args(eta=1.0, matching=matching)
        obs = torch.ones(256, 3)
        _, targets = module.transport_targets(obs, actor, two_modes(), actor.noise, 0.01, args)
        corr = np.corrcoef(targets.reshape(-1, 2).numpy().T)[0, 1]
        empty = (targets[..., 0] * targets[..., 1] < 0).float().mean().item()
        yield (
            "twomode",
            f"targets' correlation {corr:+.3f}, share in the empty quadrants {empty:.2f}",
            "+1.00, 0.00 (each sample to its own basin's mode)",
        )


if __name__ == "__main__":
    main()
