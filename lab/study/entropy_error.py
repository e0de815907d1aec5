"""Error of the scripts' nearest-neighbour entropy estimate (knn_entropy) against closed forms
(docs/heat_step.md): Gaussians N(0, c^2 I_d), as a linear generator f = c z gives, and a
two-mode mixture in d = 3.

    python -m lab.study.entropy_error"""

import math

import torch

from lab import load_script  # noqa: E402

knn_entropy = load_script("wppg_continuous_action.py").knn_entropy
STATES = 2000


def bimodal(shape, d):
    """Modes at +-0.5 e_1, std 0.1 per dimension."""
    sign = torch.randint(0, 2, (*shape, 1)) * 2 - 1.0
    return 0.1 * torch.randn(*shape, d) + 0.5 * sign * torch.eye(d)[0]


def bimodal_entropy(d, n=400_000):
    a = bimodal((n,), d)
    log_p = [-(a - s * 0.5 * torch.eye(d)[0]).pow(2).sum(-1) / (2 * 0.01) for s in (1, -1)]
    return (
        -(torch.logaddexp(*log_p) - math.log(2) - 0.5 * d * math.log(2 * math.pi * 0.01))
        .mean()
        .item()
    )


def main():
    torch.manual_seed(0)
    print(f"error of the estimate (nats), mean and std over {STATES} states")
    print("| distribution | d | true entropy | N = 32 | N = 64 (default) | N = 128 |")
    print("|---|---|---|---|---|---|")
    for d in [1, 3, 6, 17]:
        c = 0.3
        true = 0.5 * d * math.log(2 * math.pi * math.e * c * c)
        cells = []
        for n in [32, 64, 128]:
            error = knn_entropy(c * torch.randn(STATES, n, d)) - true
            cells.append(f"{error.mean():+.2f} ± {error.std():.2f}")
        print(f"| N(0, 0.3² I) | {d} | {true:.2f} | {' | '.join(cells)} |")
    true = bimodal_entropy(3)
    cells = []
    for n in [32, 64, 128]:
        error = knn_entropy(bimodal((STATES, n), 3)) - true
        cells.append(f"{error.mean():+.2f} ± {error.std():.2f}")
    print(f"| two modes ±0.5, std 0.1 | 3 | {true:.2f} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
