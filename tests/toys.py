"""Toys with known answers for the algorithm's pieces (test_math.py; the lab's heat_toys prints
them as a table): one state, a fixed critic, repeated actor updates through a script's own
matching_loss."""

import gymnasium as gym
import numpy as np
import torch


class ToyQ(torch.nn.Module):
    """Q1 = Q2 = q(a) for every state, shaped (2, B, K) like the scripts' twin critics."""

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
    args = module.Args(eta=eta, num_action_samples=K, matching=matching, entropy_scale=lam)
    obs, optimizer = torch.ones(16, 3), torch.optim.Adam(actor.parameters(), lr=lr)
    samples = None  # no update, no samples
    for _ in range(updates):
        loss, samples = module.matching_loss(obs, actor, q, heat_std, args)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return samples


def train(module, implicit, matching, q, box, K, lam, eta, lr, updates, seed=0):
    """The actor's own samples at the toy state after training, and the heat std."""
    torch.manual_seed(seed)
    latent = [max(2, box.shape[0]), 16] if implicit else []  # WPPG-I: latents, eval samples
    actor = module.Actor(3, box, (32, 32), "relu", *latent)
    heat_std = 0.0 if matching == "closed-form" else (2 * lam * eta) ** 0.5
    train_on_toy(module, actor, q, matching, K, updates, lr, eta, heat_std, lam)
    with torch.no_grad():
        actions = actor(torch.ones(1, 1, 3), torch.randn(1, 20_000, actor.noise_dim))[0]
    return actions, heat_std


def box_toy(module, implicit, matching, c, K, updates=2000):
    """The box toy: the actor's own samples after training on Q = -c (a - 0.3)^2 / 2 in [-1, 1]."""
    box = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    q = quadratic([[c]], [0.3])
    return train(module, implicit, matching, q, box, K, 1e-4, 0.1, 1e-3, updates)[0]


class SpreadActor(torch.nn.Module):
    """A stand-in for an actor whose K samples per state are spread wide, N(0, 0.4^2 I) in the box
    [-1, 1]^2."""

    def __init__(self, K):
        super().__init__()
        self.low, self.high, self.half_range = -torch.ones(2), torch.ones(2), torch.ones(2)
        self.noise = torch.randn(256, K, 2)

    def forward(self, obs, noise):
        return (0.4 * noise).clamp(-0.99, 0.99)
