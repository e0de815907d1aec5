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

    OMP_NUM_THREADS=1 python -m tools.study.heat_toys          # every toy, coupling, actor and K
    OMP_NUM_THREADS=1 python -m tools.study.heat_toys --toys box --samples 32
    OMP_NUM_THREADS=1 python -m tools.study.heat_toys --toys box --curvatures 0 --updates 6000"""

import argparse
import time

import gymnasium as gym
import numpy as np
import torch

from tools import load_script

SCRIPTS = {
    "explicit": "wppg_continuous_action.py",
    "implicit": "wppg_implicit_continuous_action.py",
}
COUPLINGS = ["pointwise", "closed-form", "rank", "coupled"]  # the last two: study_variants


class ToyQ(torch.nn.Module):
    """Q1 = Q2 = q(a) for every state, shaped (2, B, K) like the scripts' SoftQNetworks."""

    def __init__(self, q):
        super().__init__()
        self.q = q

    def forward(self, x, a):
        return self.q(a).expand(2, *a.shape[:-1])


def quadratic(curvature, center):
    """The critic Q(a) = -(a - m)^T C (a - m) / 2."""
    c, m = torch.tensor(curvature), torch.tensor(center)
    return ToyQ(lambda a: -0.5 * (((a - m) @ c) * (a - m)).sum(-1))


def two_modes(width=0.2):
    """Two equal maxima at +-(0.5, 0.5), curvature 1 near each: eta = 1 moves a sample onto its
    basin's mode."""
    m = torch.tensor([0.5, 0.5])

    def q(a):
        bumps = torch.stack([-(a - m).pow(2).sum(-1), -(a + m).pow(2).sum(-1)])
        return width**2 * torch.logsumexp(bumps / (2 * width**2), dim=0)

    return ToyQ(q)


def splitting_fixed_point(curvature, lam, eta):
    """Stationary covariance of transport then heat, Sigma <- A Sigma A + 2 lambda eta I with
    A = I - eta C (§3.1), by iteration."""
    a = np.eye(len(curvature)) - eta * np.asarray(curvature)
    sigma = np.zeros_like(a)
    for _ in range(20_000):
        sigma = a @ sigma @ a + 2 * lam * eta * np.eye(len(a))
    return sigma


def train_on_toy(module, actor, q, matching, K, updates, lr, eta=0.1, heat_std=0.01, lam=1e-4):
    """Repeated actor updates on one state (a batch of 16 copies); returns the last samples."""
    scripts_own = matching in ("pointwise", "closed-form")
    args = module.Args(
        eta=eta,
        num_action_samples=K,
        matching=matching if scripts_own else "pointwise",
        entropy_scale=lam,
    )
    obs, optimizer = torch.ones(16, 3), torch.optim.Adam(actor.parameters(), lr=lr)
    samples, transport = None, module.transport_targets  # no update, no samples
    if not scripts_own:  # the pairings that live in study_variants, for the time of this call
        module.transport_targets = load_variants().coupled_transport(module, matching)
    try:
        for _ in range(updates):
            loss, samples = module.matching_loss(obs, actor, q, heat_std, args)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        module.transport_targets = transport
    return samples


def load_variants():
    return load_script("tools/study/study_variants.py")


def train(module, actor_kind, matching, q, box, K, lam, eta, lr, updates, seed=0):
    """The actor's own samples at the toy state after training, and the heat std."""
    torch.manual_seed(seed)
    latent = [max(2, box.shape[0])] if actor_kind == "implicit" else []
    actor = module.Actor(3, box, (32, 32), "relu", *latent, *[16] * bool(latent))
    heat_std = 0.0 if matching == "closed-form" else (2 * lam * eta) ** 0.5
    train_on_toy(module, actor, q, matching, K, updates, lr, eta, heat_std, lam)
    with torch.no_grad():
        actions = actor(torch.ones(1, 1, 3), torch.randn(1, 20_000, actor.noise_dim))[0]
    return actions, heat_std


def box_toy(module, actor_kind, matching, c, K, updates=2000):
    """The box toy: the actor's own samples after training on Q = -c (a - 0.3)^2 / 2 in [-1, 1]."""
    box = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    q = quadratic([[c]], [0.3])
    return train(module, actor_kind, matching, q, box, K, 1e-4, 0.1, 1e-3, updates)[0]


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
        usage="python -m tools.study.heat_toys [options] (--help)",
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
    modules = {kind: load_script(SCRIPTS[kind]) for kind in opts.actors}
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
    if toy == "box":
        for c in opts.curvatures:
            actions = box_toy(module, actor_kind, matching, c, K, opts.updates)
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
            actor_kind,
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


class SpreadActor(torch.nn.Module):
    """A stand-in for an actor whose K samples per state are spread wide, N(0, 0.4^2 I) in the box
    [-1, 1]^2."""

    def __init__(self, K):
        super().__init__()
        self.low, self.high, self.half_range = -torch.ones(2), torch.ones(2), torch.ones(2)
        self.noise = torch.randn(256, K, 2)

    def forward(self, obs, noise):
        return (0.4 * noise).clamp(-0.99, 0.99)


if __name__ == "__main__":
    main()
