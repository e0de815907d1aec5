"""Unit checks of the algorithm's pieces against ALGORITHM.md: toy actor update, critic target, entropy estimate."""
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from conftest import SCRIPTS, load_script, plain_q

wppg, wppg_i = (load_script(name) for name in SCRIPTS)
BOX = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


def make_actor(module, hidden=(32, 32)):
    if module is wppg:
        return module.Actor(3, BOX, hidden, "relu")
    return module.Actor(3, BOX, hidden, "relu", latent_dim=2)


class QuadraticQ(torch.nn.Module):
    """Q1 = Q2 = -||a - a*||^2 / 2, the same for every state; (2, B, K) like the scripts' SoftQNetworks."""

    def __init__(self, a_star):
        super().__init__()
        self.a_star = a_star

    def forward(self, x, a):
        return (-0.5 * (a - self.a_star).pow(2).sum(-1)).expand(2, *a.shape[:-1])


@pytest.mark.parametrize("module", [wppg, wppg_i], ids=["wppg", "wppg_i"])
def test_matching_drives_actor_to_optimum_and_collapses_its_spread(module):
    torch.manual_seed(0)
    actor, a_star = make_actor(module), torch.tensor([0.5, -0.3])
    q = QuadraticQ(a_star)
    obs = torch.ones(16, 3)  # one state, a batch of 16 copies
    optimizer = torch.optim.Adam(actor.parameters(), lr=1e-3)
    _, samples = module.matching_loss(obs, actor, q, eta=0.1, K=32, heat_std=0.01, single_q=False)
    spread_before = samples.std(dim=1).mean().item()
    for _ in range(600):
        loss, samples = module.matching_loss(obs, actor, q, eta=0.1, K=32, heat_std=0.01, single_q=False)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.allclose(samples.mean(dim=(0, 1)), a_star, atol=0.02)
    assert samples.std(dim=1).mean().item() < spread_before / 10
    if module is wppg:  # the explicit actor's sigma itself shrinks towards its floor exp(-5)
        _, raw = actor.net(obs[:1]).chunk(2, dim=-1)
        log_std = module.LOG_STD_MIN + 0.5 * (module.LOG_STD_MAX - module.LOG_STD_MIN) * (torch.tanh(raw) + 1)
        assert (log_std < -3).all()


def test_matching_gradient_is_a_dpg_step_on_the_critic():
    """At the current parameters the loss gradient is -2 eta J^T g / (B K) (ALGORITHM.md: a DPG-style step)."""
    torch.manual_seed(1)
    actor, q = make_actor(wppg), QuadraticQ(torch.tensor([0.2, 0.1]))
    obs = torch.randn(4, 3)
    torch.manual_seed(2)
    loss, _ = wppg.matching_loss(obs, actor, q, eta=0.1, K=5, heat_std=0.0, single_q=True)
    grads = torch.autograd.grad(loss, list(actor.parameters()))
    torch.manual_seed(2)  # the same noise as inside matching_loss
    actions = actor(obs.unsqueeze(1), torch.randn(4, 5, 2))
    g = (q.a_star - actions).detach()  # grad_a Q
    expected = torch.autograd.grad(-2 * 0.1 * (g * actions).sum() / (4 * 5), list(actor.parameters()))
    for got, want in zip(grads, expected):
        assert torch.allclose(got, want, atol=1e-6)


def test_heat_step_noise_has_std_sqrt_2_lambda_eta():
    lam, eta = 1e-2, 0.1
    actions = torch.zeros(200_000, 2)
    noisy = wppg.heat_step(actions, (2 * lam * eta) ** 0.5, BOX.low[0], BOX.high[0])
    assert noisy.std().item() == pytest.approx(math.sqrt(2 * lam * eta), rel=0.01)
    assert wppg.heat_step(torch.full((1000, 2), 0.999), 0.5, -1.0, 1.0).max().item() <= 1.0  # stays in the box


@pytest.mark.parametrize("single_q", [False, True])
def test_critic_target_matches_hand_computation(single_q):
    torch.manual_seed(0)
    B, K, gamma, heat_std = 3, 4, 0.9, 0.05
    actor = make_actor(wppg, hidden=(8,))
    qf = wppg.SoftQNetworks(3, 2, (8,), "tanh")
    next_obs, rewards, terminations = torch.randn(B, 3), torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.0, 1.0, 0.0])
    torch.manual_seed(5)
    y = wppg.critic_target(next_obs, rewards, terminations, actor, qf, gamma, K, heat_std, single_q)
    torch.manual_seed(5)  # the same draws, in the same order, one state and one sample at a time
    noise = torch.randn(B, K, 2)
    xi = torch.randn(B, K, 2)
    with torch.no_grad():
        for b in range(B):
            values = []
            for k in range(K):
                a = actor(next_obs[b : b + 1], noise[b, k : k + 1])[0]
                a = (a + heat_std * xi[b, k]).clamp(-1, 1)
                q1, q2 = (plain_q(qf, i, next_obs[b : b + 1], a.view(1, 1, 2)).item() for i in range(2))
                values.append(q1 if single_q else min(q1, q2))
            expected = rewards[b].item() + gamma * (1 - terminations[b].item()) * sum(values) / K
            assert y[b].item() == pytest.approx(expected, abs=1e-5)
    assert y[1].item() == pytest.approx(-2.0)  # terminated: no bootstrap


def test_truncated_step_stores_real_final_observation():
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("InvertedPendulum-v5", max_episode_steps=3)],
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    rb = wppg.ReplayBuffer(10, 4, 1, torch.device("cpu"))
    obs, _ = envs.reset(seed=0)
    for _ in range(3):
        next_obs, rewards, terminations, truncations, infos = envs.step(np.zeros((1, 1), np.float32))
        rb.add(obs, wppg.real_next_obs(next_obs, infos), np.zeros((1, 1)), rewards, terminations)
        obs = next_obs
    assert truncations[0] and not terminations[0]
    final = torch.as_tensor(infos["final_obs"][0], dtype=torch.float32)
    assert torch.equal(rb.next_obs[2], final)  # stored: the real final observation ...
    assert not torch.equal(rb.next_obs[2], torch.as_tensor(next_obs[0]))  # ... not the reset observation
    assert rb.terminations[2].item() == 0.0  # truncation keeps bootstrapping


class LinearGenerator(torch.nn.Module):
    """f(s, z) = c z: the Gaussian-convolved policy is N(0, (c^2 + sigma_h^2) I)."""

    def __init__(self, c, dim):
        super().__init__()
        self.c, self.noise_dim = c, dim

    def forward(self, x, z):
        return self.c * z


def test_entropy_estimate_approaches_gaussian_entropy():
    # The plug-in estimate is biased upwards (Jensen: -E log p_hat >= -log p) and the bias shrinks as M grows.
    # At M = L = 2048 with sigma_h / c = 1/3 it measured 0.02-0.03 nats over 8 states; we allow 0.06 nats
    # (about 3 standard errors of the mean over 8 states) and require the error to shrink at least 4x from M = 64.
    torch.manual_seed(0)
    c, dim, bandwidth = 0.3, 2, torch.full((2,), 0.1)
    true = 0.5 * dim * math.log(2 * math.pi * math.e * (c**2 + 0.1**2))
    errors = {}
    for m in [64, 2048]:
        estimate = wppg_i.entropy_estimate(torch.zeros(8, 3), LinearGenerator(c, dim), m, m, bandwidth)
        errors[m] = estimate.mean().item() - true
    assert abs(errors[2048]) < 0.06
    assert abs(errors[2048]) < abs(errors[64]) / 4


def test_latent_dim_default_and_override():
    args = wppg_i.resolve_defaults(wppg_i.Args(env_id="Hopper-v5"))
    assert args.latent_dim == 4  # obs 11 -> round(11 / 3)
    assert wppg_i.resolve_defaults(wppg_i.Args(env_id="Humanoid-v5")).latent_dim == 116  # obs 348
    assert wppg_i.resolve_defaults(wppg_i.Args(env_id="Hopper-v5", latent_dim=9)).latent_dim == 9


def test_per_task_table_and_flags_override():
    assert wppg.resolve_defaults(wppg.Args(env_id="Hopper-v5")).hidden_sizes == (256, 256)
    swimmer = wppg.resolve_defaults(wppg.Args(env_id="Swimmer-v5"))
    assert (swimmer.hidden_sizes, swimmer.activation, swimmer.gamma) == ((64, 64), "tanh", 0.9999)
    assert wppg.resolve_defaults(wppg.Args(env_id="Swimmer-v5", gamma=0.9)).gamma == 0.9
