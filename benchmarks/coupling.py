"""Which coupling pairs the actor's K samples with the moved heat-noised samples (README: Where the heat step goes)?
Accuracy on the quadratic toy with a known fixed point, and cost per call at Hopper-v5's sizes, for:
  rank      per-dimension ranks (the scripts' rank_coupling): exact W2 coupling of every 1-D marginal;
  exact     the exact W2 assignment of the K samples per state (scipy's Hungarian solver, on the host);
  sinkhorn  entropic OT (50 log-domain iterations), each sample sent to its barycentric target.

    OMP_NUM_THREADS=1 python benchmarks/coupling.py
    OMP_NUM_THREADS=1 python benchmarks/coupling.py --samples 128 --couplings rank      # the finite-K bias
    OMP_NUM_THREADS=1 python benchmarks/coupling.py --actor implicit --couplings rank pointwise
"""
import argparse
import math
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import load_script  # noqa: E402
from test_math import QuadraticQ, train_on_toy  # noqa: E402

SCRIPTS = {"explicit": load_script("wppg_continuous_action.py"), "implicit": load_script("wppg_implicit_continuous_action.py")}
rank = SCRIPTS["explicit"].rank_coupling


def exact(samples, targets):
    cost = torch.cdist(samples, targets).pow(2).cpu().numpy()  # a host copy: a sync on a GPU
    order = np.stack([linear_sum_assignment(c)[1] for c in cost])
    return targets.gather(1, torch.as_tensor(order, device=targets.device).unsqueeze(-1).expand_as(targets))


def sinkhorn(samples, targets, iterations=50):
    cost = torch.cdist(samples, targets).pow(2)
    eps = 0.05 * cost.mean(dim=(1, 2), keepdim=True)
    log_k = -cost / eps
    f, g = torch.zeros_like(cost[..., 0]), torch.zeros_like(cost[..., 0])
    log_w = -math.log(cost.shape[1])
    for _ in range(iterations):
        f = log_w - torch.logsumexp(log_k + g.unsqueeze(1), dim=2)
        g = log_w - torch.logsumexp(log_k + f.unsqueeze(2), dim=1)
    plan = (log_k + f.unsqueeze(2) + g.unsqueeze(1)).exp()
    return plan @ targets / plan.sum(dim=2, keepdim=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=32, help="K")
    parser.add_argument("--actor", choices=list(SCRIPTS), default="explicit")
    parser.add_argument("--couplings", nargs="+", default=["rank", "exact", "sinkhorn"],
                        choices=["rank", "exact", "sinkhorn", "pointwise"])
    opts = parser.parse_args()
    torch.set_num_threads(1)
    lam, eta, curvature, K = 0.05, 0.1, [2.0, 0.5], opts.samples
    module = SCRIPTS[opts.actor]
    fixed_point = [2 * lam / (c * (2 - eta * c)) for c in curvature]
    box = gym.spaces.Box(-3.0, 3.0, (2,), np.float32)
    print(f"toy: Q = -sum c_i a_i^2 / 2, c = {curvature}, lambda {lam}, eta {eta}, K = {K}, {opts.actor} actor, 3000 Adam "
          f"updates (lr 3e-3); fixed point {[round(v, 4) for v in fixed_point]}")
    print("| coupling | executed variance | error vs fixed point | actor's own variance | ms per call, Hopper sizes "
          "(256, K, 3) |")
    print("|---|---|---|---|---|")
    samples, targets = torch.randn(256, K, 3), torch.randn(256, K, 3)
    couplings = {"rank": rank, "exact": exact, "sinkhorn": sinkhorn, "pointwise": lambda s, t: t}
    for name in opts.couplings:
        coupling = couplings[name]
        for _ in range(3):
            coupling(samples, targets)
        start = time.perf_counter()
        for _ in range(20):
            coupling(samples, targets)
        ms = (time.perf_counter() - start) / 20 * 1000
        torch.manual_seed(0)
        module.rank_coupling = coupling  # matching_loss looks the coupling up by name
        actor = module.Actor(3, box, (32, 32), "relu", *([2] if opts.actor == "implicit" else []))
        heat_std = (2 * lam * eta) ** 0.5
        matching = "pointwise" if name == "pointwise" else "rank"
        train_on_toy(module, actor, QuadraticQ(torch.zeros(2), curvature), matching, K=K, updates=3000, lr=3e-3,
                     eta=eta, heat_std=heat_std)
        with torch.no_grad():
            actions = actor(torch.ones(1, 1, 3), torch.randn(1, 20_000, 2))[0]
        own = actions.var(dim=0).tolist()
        var = (actions + heat_std * torch.randn_like(actions)).var(dim=0).tolist()
        errors = [f"{100 * (v / f - 1):+.0f} %" for v, f in zip(var, fixed_point)]
        print(f"| {name} | {', '.join(f'{v:.4f}' for v in var)} | {', '.join(errors)} | "
              f"{', '.join(f'{v:.4f}' for v in own)} | {ms:.2f} |", flush=True)
        module.rank_coupling = rank


if __name__ == "__main__":
    main()
