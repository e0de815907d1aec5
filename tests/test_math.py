"""The algorithm's pieces on toys with known answers (paper §3, App. D; docs/heat_step.md)."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import MODULES, SCRIPTS, is_implicit, make_actor, plain_q, run_small
from toys import (
    SpreadActor,
    ToyQ,
    box_toy,
    quadratic,
    splitting_fixed_point,
    train_on_toy,
    two_modes,
)

import run_utils

wppg, wppg_i = (MODULES[name] for name in SCRIPTS)


def executed_samples(actor, heat_std, n=20_000):
    with torch.no_grad():
        actions = actor(torch.ones(1, 1, 3), torch.randn(1, n, actor.noise_dim))[0]
    return actions, actions + heat_std * torch.randn_like(actions)


def linear_critic(slope):
    """Q(a) = slope . a for every state, shaped (2, B, K)."""
    return ToyQ(lambda a: (a * torch.tensor(slope)).sum(-1))


def test_pointwise_matching_drives_actor_to_optimum_and_collapses_its_spread(module):
    torch.manual_seed(0)
    actor, a_star = make_actor(module), [0.5, -0.3]
    q = quadratic([[1.0, 0.0], [0.0, 1.0]], a_star)
    spread_before = train_on_toy(module, actor, q, "pointwise", 32, 1, 1e-3).std(dim=1).mean()
    samples = train_on_toy(module, actor, q, "pointwise", K=32, updates=600, lr=1e-3)
    assert torch.allclose(samples.mean(dim=(0, 1)), torch.tensor(a_star), atol=0.02)
    assert samples.std(dim=1).mean().item() < spread_before / 10
    if module is wppg:  # the explicit actor's sigma itself shrinks towards its floor exp(-5)
        _, raw = actor.net(torch.ones(1, 3)).chunk(2, dim=-1)
        log_std = wppg.LOG_STD_MIN + 0.5 * (wppg.LOG_STD_MAX - wppg.LOG_STD_MIN) * (raw.tanh() + 1)
        assert (log_std < -3).all()


BOXES = {"1d": ([-3.0], [3.0]), "2d": ([-3.0, 0.0], [3.0, 0.5])}


@pytest.mark.parametrize("box", BOXES)
def test_closed_form_reaches_the_splitting_fixed_point(module, box):
    """§3.1 in actions normalised to [-1, 1] (u = (a - m) / h, h the half-range), where the heat
    step, the transport step and the matching all live: on Q = -c u^2 / 2, transport then heat
    gives v <- (1 - eta c)^2 v + 2 lambda eta, fixed point 2 lambda / (c (2 - eta c)) per
    dimension, whatever the box. On [-3, 3] and [-3, 3] x [0, 0.5], at K = 128, the actor's own
    spread (closed-form adds no noise) must reach it within 15 % (explicit) or 25 % (implicit)."""
    torch.manual_seed(0)
    low, high = (np.array(bound, np.float32) for bound in BOXES[box])
    lam, eta, c, d = 0.05, 0.1, 2.0, len(low)
    actor = make_actor(module, box=gym.spaces.Box(low, high), latent_dim=d)
    args = module.Args(entropy_scale=lam, eta=eta, matching="closed-form")
    assert (module.heat_noise_std(args, actor) == 0).all()  # no noise when acting
    half = (high - low) / 2
    q = quadratic(np.diag(c / half**2).tolist(), ((low + high) / 2).tolist())  # c in units of u
    train_on_toy(module, actor, q, "closed-form", 128, 3000, 3e-3, eta, heat_std=0.0, lam=lam)
    actions, _ = executed_samples(actor, 0.0)
    fixed_point = splitting_fixed_point([[c]], lam, eta)[0, 0]
    tolerance = 0.25 if is_implicit(module) else 0.15
    ratio = actions.var(dim=0) / torch.tensor(half) ** 2 / fixed_point
    assert ((ratio - 1).abs() < tolerance).all(), ratio


def test_closed_form_reaches_the_full_covariance_of_the_implicit_actor():
    """The fixed point Sigma = (I - eta C) Sigma (I - eta C) + 2 lambda eta I on a separable toy
    (no correlation) and a non-separable one, C = [[2, 1.6], [1.6, 2]] (correlation -0.766):
    WPPG-I under closed-form must reach its correlation within 0.1 and its variances within 30 %."""
    lam, eta = 0.05, 0.1
    box = gym.spaces.Box(-3.0, 3.0, (2,), np.float32)
    for curvature in [[[2.0, 0.0], [0.0, 0.5]], [[2.0, 1.6], [1.6, 2.0]]]:
        torch.manual_seed(0)
        actor = make_actor(wppg_i, box=box, latent_dim=2)
        q = quadratic((np.array(curvature) / 9).tolist(), [0.0, 0.0])  # C in half-ranges (3)
        train_on_toy(wppg_i, actor, q, "closed-form", 128, 3000, 3e-3, eta, 0.0, lam)
        actions = executed_samples(actor, 0.0)[0].numpy() / 3
        target = splitting_fixed_point(curvature, lam, eta)
        corr, want = (
            np.corrcoef(actions.T)[0, 1],
            target[0, 1] / np.sqrt(target[0, 0] * target[1, 1]),
        )
        assert abs(corr - want) < 0.1, (curvature, corr, want)
        assert (np.abs(np.var(actions, axis=0) / np.diag(target) - 1) < 0.3).all()


def cov(x):
    """Each state's sample covariance: (B, K, d) -> (B, d, d)."""
    centred = x - x.mean(1, True)
    return centred.mT @ centred / (x.shape[1] - 1)


def test_closed_form_heat_adds_2_lambda_eta_along_each_axis(module):
    """A Gaussian's samples, rotated: the map keeps the mean and adds heat_var to the covariance,
    exactly as the convolution does."""
    torch.manual_seed(0)
    rotation = torch.tensor([[math.cos(0.5), -math.sin(0.5)], [math.sin(0.5), math.cos(0.5)]])
    samples = (torch.randn(8, 4096, 2) * torch.tensor([0.4, 0.1])) @ rotation.T + 0.2
    widened = module.closed_form_heat(samples, 0.01)
    torch.testing.assert_close(
        cov(widened), cov(samples) + 0.01 * torch.eye(2), atol=1e-5, rtol=1e-4
    )
    torch.testing.assert_close(widened.mean(1), samples.mean(1), atol=1e-5, rtol=0)


def test_closed_form_heat_on_a_rank_deficient_generator(module):
    """A latent of dimension 1 driving three action dimensions (a line, plus rounding-sized noise),
    a nearly saturated action dimension, one with no spread, one with a spread of 1e-22 (its
    variance a float32 subnormal), and fewer samples than dimensions (the combined Humanoid: K 32,
    d 34): each state's samples are nearly degenerate. Along each axis the widened deviations have
    variance v + heat_var, so no target can lie farther from the mean than sqrt((K - 1) (tr C +
    d heat_var)); a direction with no spread stays as it is. Scaling by eigh's float32 eigenvalues
    instead of the deviations' own variance put 85 % of the line's states beyond that bound; a
    subnormal variance made the scale infinite and the targets NaN (lab/mutations.py)."""
    torch.manual_seed(0)
    K, heat_var = 32, 2 * 0.05 * 0.1
    z = torch.randn(256, K, 1)
    line = torch.cat([0.3 * z, -0.2 * z, 0.1 * z], -1) + 1e-5 * torch.randn(256, K, 3)
    saturated = torch.cat([0.2 * torch.randn(256, K, 1), 1 - 1e-6 * torch.rand(256, K, 1)], -1)
    flat = torch.cat([0.2 * torch.randn(256, K, 1), torch.full((256, K, 1), 0.5)], -1)
    tiny = torch.cat([0.2 * torch.randn(256, K, 2), 1e-22 * torch.randn(256, K, 2)], -1)
    few = torch.tanh(torch.randn(256, 4, 3) @ torch.randn(3, 8))  # 4 samples in 8 dimensions
    for u in [line, saturated, flat, tiny, few]:
        widened = module.closed_form_heat(u, heat_var)
        mean, K = u.mean(dim=1, keepdim=True), u.shape[1]
        trace = (u - mean).pow(2).sum(dim=(1, 2)) / (K - 1)  # (B,)
        bound = ((K - 1) * (trace + u.shape[-1] * heat_var)).sqrt()
        distance = (widened - mean).norm(dim=-1).amax(dim=1)
        assert (distance <= bound * (1 + 1e-4)).all(), (distance / bound).max()
        assert torch.isfinite(widened).all()
    widened = module.closed_form_heat(line, heat_var).double()  # its three axes all have a spread
    want = cov(line.double()) + heat_var * torch.eye(3).double()
    torch.testing.assert_close(cov(widened), want, atol=1e-4, rtol=0)  # 1 % of heat_var
    widened = module.closed_form_heat(flat, heat_var)
    torch.testing.assert_close(widened[..., 1], flat[..., 1])  # no spread: nothing to widen
    widened = module.closed_form_heat(tiny, heat_var)
    torch.testing.assert_close(widened[..., 2:], tiny[..., 2:])  # rounding: nothing to widen


@pytest.mark.parametrize("matching, expands", [("pointwise", False), ("closed-form", False)])
def test_a_steep_critic_in_a_box(module, matching, expands):
    """With eta c > 2 the transport step a + eta grad Q overshoots the maximum and reverses the
    samples' order; pairing by rank after moving turns that into an expansion (the lab's test
    of rank matching, docs/heat_step.md). Box [-1, 1], Q = -30 (a - 0.3)^2 / 2, eta 0.1: the
    scripts' updates converge to the maximum."""
    torch.manual_seed(0)
    box = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    actor = make_actor(module, box=box, hidden=(64, 64), activation="tanh", latent_dim=1)
    heat_std = 0.0 if matching == "closed-form" else (2 * 1e-4 * 0.1) ** 0.5
    train_on_toy(module, actor, quadratic([[30.0]], [0.3]), matching, 32, 1500, 1e-3, 0.1, heat_std)
    actions, _ = executed_samples(actor, heat_std)
    edge = (1 - actions.abs() < 0.02).float().mean().item()
    if expands:
        assert actions.std() > 0.3
    else:
        assert actions.std() < 0.02 and edge == 0.0 and abs(actions.mean() - 0.3) < 0.01


@pytest.mark.parametrize("matching, spreads", [("pointwise", False), ("closed-form", True)])
def test_a_flat_critic_in_a_box(module, matching, spreads):
    """With Q flat in the action the heat push is the only signal. Pointwise regression (the
    default) leaves the actor where it is, its loss being zero, and puts no mass at the edges.
    The closed form widens it every update and nothing pulls it back: it spreads over the box and,
    Adam taking steps of the learning rate's size however small the push, piles at the clipped
    edges within 2,000 updates (measured: 93 % within 2 % of the edge), as the heat flow clipped
    to a box does. A flat critic is the worst case: any curvature gives a fixed point."""
    before = box_toy(module, is_implicit(module), matching, c=0.0, K=32, updates=0)
    actions = box_toy(module, is_implicit(module), matching, c=0.0, K=32, updates=2000)
    edge = (1 - actions.abs() < 0.02).float().mean().item()
    if spreads:
        assert actions.std() > max(0.25, 2 * before.std())
    else:
        assert edge < 0.02, f"{edge:.1%} of the samples at the edge"
        assert abs(actions.std() - before.std()) < 0.01


@pytest.mark.parametrize("matching, kept", [("pointwise", True), ("closed-form", True)])
def test_two_modes_each_sample_goes_to_its_own_mode(matching, kept):
    """Two equal maxima at +-(0.5, 0.5); one transport step (eta = 1) moves each sample onto its
    basin's mode, so the paired targets lie on the diagonal. Rank pairing per dimension sends half
    of them into the quadrants where no mode lies (measured: 47-50 %)."""
    q = two_modes()
    torch.manual_seed(0)
    args = wppg.Args(eta=1.0, matching=matching)
    obs, noise = torch.ones(256, 3), torch.randn(256, 32, 2)
    _, targets = wppg.transport_targets(obs, SpreadActor(32), q, noise, 0.01, args)
    empty = (targets[..., 0] * targets[..., 1] < 0).float().mean().item()
    corr = np.corrcoef(targets.reshape(-1, 2).numpy().T)[0, 1]
    assert (empty < 0.02 and corr > 0.95) if kept else (empty > 0.3 and corr < 0.5)


@pytest.mark.parametrize("heat_std", [0.05, 0.0])
def test_matching_gradient_is_a_dpg_step_on_the_heat_smoothed_critic(module, heat_std):
    """At the current parameters the pointwise loss's gradient is -2 eta J^T g(a + xi) / (B K), a
    DPG step on the critic smoothed by the heat noise xi (without noise: on the critic itself)."""
    torch.manual_seed(1)
    actor, q = make_actor(module), quadratic([[1.0, 0.0], [0.0, 2.0]], [0.2, 0.1])
    obs = torch.randn(4, 3)
    args = module.Args(eta=0.1, num_action_samples=5, matching="pointwise")
    torch.manual_seed(2)
    loss, _ = module.matching_loss(obs, actor, q, heat_std, args)
    grads = torch.autograd.grad(loss, list(actor.parameters()))
    torch.manual_seed(2)  # the same draws as inside matching_loss, in the same order
    actions = actor(obs.unsqueeze(1), torch.randn(4, 5, actor.noise_dim))
    noisy = (actions.detach() + heat_std * torch.randn(4, 5, 2)).clamp(-1, 1).requires_grad_(True)
    (g,) = torch.autograd.grad(q(obs, noisy)[0].sum(), noisy)
    expected = torch.autograd.grad(-2 * 0.1 * (g * actions).sum() / 20, list(actor.parameters()))
    for got, want in zip(grads, expected):
        assert torch.allclose(got, want, atol=1e-6)


def test_heat_std_is_sqrt_2_lambda_eta_of_the_half_range(module, monkeypatch, tmp_path):
    """The training code's heat noise under pointwise matching, on InvertedPendulum-v5 (actions in
    [-3, 3]): every acted action is the actor's plus noise of std sqrt(2 lambda eta) x 3."""
    monkeypatch.chdir(tmp_path)
    seen = []
    heat_step = module.heat_step

    def recording_heat_step(actions, std, low, high):
        seen.append(std)
        return heat_step(actions, std, low, high)

    monkeypatch.setattr(module, "heat_step", recording_heat_step)
    run_small(
        module,
        total_timesteps=120,
        num_action_samples=2,
        entropy_scale=0.02,
        eta=0.05,
        matching="pointwise",
    )
    want = torch.tensor([(2 * 0.02 * 0.05) ** 0.5 * 3.0])
    assert seen and all(torch.allclose(std, want, rtol=1e-6, atol=0) for std in seen)


def test_heat_step_noise_has_the_given_std_and_stays_in_the_box(module):
    noisy = module.heat_step(torch.zeros(200_000, 2), 0.1, -1.0, 1.0)
    assert noisy.std().item() == pytest.approx(0.1, rel=0.01)
    assert module.heat_step(torch.full((1000, 2), 0.999), 0.5, -1.0, 1.0).max().item() <= 1.0


def test_critic_target_is_fed_the_target_actor(module, monkeypatch, tmp_path):
    """main gives the critic target the Polyak target actor, not the online one (App. D.2.2)."""
    monkeypatch.chdir(tmp_path)
    fed = []
    target = module.critic_target

    def recording_target(data, actor, *rest):
        fed.append(actor)
        return target(data, actor, *rest)

    monkeypatch.setattr(module, "critic_target", recording_target)
    run_small(module, total_timesteps=110)
    assert len(fed) == 10
    assert all(not p.requires_grad for actor in fed for p in actor.parameters())  # Polyak's only


def test_policy_charts_on_known_samples(module):
    """Own spread from the actor's samples; executed = with the heat noise, clipped; edge share."""
    torch.manual_seed(0)
    actor, obs = make_actor(module), torch.zeros(4, 3)
    samples = torch.zeros(4, 20_000, 2)
    samples[:, ::2] = 0.3  # half at 0, half at 0.3 -> std 0.15 of the half-range 1
    samples[0, :4] = 0.995  # 4 of 80,000 samples within 2 % of the edge
    charts = module.policy_charts(actor, obs, samples, heat_std=0.2, entropy_samples=16)
    assert charts["charts/action_std"].item() == pytest.approx(0.15, rel=0.01)
    executed = charts["charts/executed_action_std"].item()
    assert executed == pytest.approx(math.hypot(0.15, 0.2), rel=0.02)  # independent noise
    assert charts["charts/action_edge_frac"].item() == pytest.approx(8 / (4 * 20_000 * 2))
    edge = torch.full((4, 20_000, 2), 0.999)
    clipped = module.policy_charts(actor, obs, edge, heat_std=0.5, entropy_samples=16)
    assert clipped["charts/executed_action_std"].item() < 0.5 * 0.7  # clipping cuts the spread


def test_critic_target_matches_hand_computation(module):
    torch.manual_seed(0)
    B, K, heat_std = 3, 4, 0.05
    actor = make_actor(module, hidden=(8,))
    qf = module.TwinQNetworks(3, 2, (8,), "tanh")
    next_obs, rewards = torch.randn(B, 3), torch.tensor([1.0, -2.0, 0.5])
    data = run_utils.Batch(None, next_obs, None, rewards, torch.tensor([0.0, 1.0, 0.0]))
    args = module.Args(gamma=0.9, num_action_samples=K)
    torch.manual_seed(5)
    y = module.critic_target(data, actor, qf, heat_std, args)
    torch.manual_seed(5)  # the same draws, in the same order, one state and one sample at a time
    noise, xi = torch.randn(B, K, actor.noise_dim), torch.randn(B, K, 2)
    with torch.no_grad():
        for b in range(B):
            values = []
            for k in range(K):
                a = actor(next_obs[b : b + 1], noise[b, k : k + 1])[0] + heat_std * xi[b, k]
                a = a.clamp(-1, 1).view(1, 1, 2)
                q1, q2 = (plain_q(qf, i, next_obs[b : b + 1], a).item() for i in range(2))
                values.append(min(q1, q2))
            bootstrap = 0.9 * (1 - data.terminations[b].item()) * sum(values) / K
            assert y[b].item() == pytest.approx(rewards[b].item() + bootstrap, abs=1e-5)
    assert y[1].item() == pytest.approx(-2.0)  # terminated: no bootstrap


def test_truncated_step_stores_real_final_observation():
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.make("InvertedPendulum-v5", max_episode_steps=3)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    rb = run_utils.ReplayBuffer(10, 4, 1, torch.device("cpu"))
    obs, _ = envs.reset(seed=0)
    for _ in range(3):
        next_obs, rewards, terminations, truncations, infos = envs.step(
            np.zeros((1, 1), np.float32)
        )
        rb.add(
            obs, run_utils.real_next_obs(next_obs, infos), np.zeros((1, 1)), rewards, terminations
        )
        obs = next_obs
    assert truncations[0] and not terminations[0]
    final = torch.as_tensor(infos["final_obs"][0], dtype=torch.float32)
    assert torch.equal(rb.next_obs[2], final)  # stored: the real final observation ...
    assert not torch.equal(rb.next_obs[2], torch.as_tensor(next_obs[0]))  # ... not the reset one
    assert rb.terminations[2].item() == 0.0  # truncation keeps bootstrapping
    batch = rb.sample(5)  # named fields, drawn from the 3 rows filled
    assert batch.next_obs.shape == (5, 4) and batch.actions.shape == (5, 1)
    assert all(any(torch.equal(row, stored) for stored in rb.obs[:3]) for row in batch.obs)


class LinearGenerator(torch.nn.Module):
    """f(s, z) = c z, z ~ N(0, I_d): with the heat noise, N(0, (c^2 + heat_std^2) I_d)."""

    def __init__(self, c, dim):
        super().__init__()
        self.c, self.noise_dim, self.half_range = c, dim, 1.0

    def forward(self, x, z):
        return self.c * z


@pytest.mark.parametrize("dim, tolerance", [(3, 0.25), (17, 1.5)])
def test_entropy_estimate_of_a_linear_generator(module, dim, tolerance):
    """The nearest-neighbour estimate at the default 64 samples, averaged over 64 states, against
    the closed form. Its bias over 2,000 states: -0.06 nats at d = 3, +1.2 at d = 17
    (docs/heat_step.md); with 512 samples the d = 17 error shrinks by a third at least."""
    torch.manual_seed(0)
    c, heat_std = 0.3, 0.05
    true = 0.5 * dim * math.log(2 * math.pi * math.e * (c**2 + heat_std**2))
    generator, obs = LinearGenerator(c, dim), torch.zeros(64, 3)
    default = module.Args().entropy_samples
    error = module.entropy_estimate(obs, generator, default, heat_std).mean() - true
    assert abs(error.item()) < tolerance
    if dim == 17:
        larger = module.entropy_estimate(obs, generator, 512, heat_std).mean() - true
        assert abs(larger.item()) < abs(error.item()) * 2 / 3


def test_entropy_estimate_sees_a_collapsed_actor():
    """A generator that ignores z: only the heat noise is left, and the estimate says so."""
    torch.manual_seed(0)
    estimate = wppg_i.entropy_estimate(torch.zeros(64, 3), LinearGenerator(0.0, 3), 64, 0.01)
    assert estimate.mean().item() == pytest.approx(
        1.5 * math.log(2 * math.pi * math.e * 1e-4), abs=0.25
    )


class ConstantReward(gym.Wrapper):
    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        return obs, 1.0, terminated, truncated, info


gym.register(
    "ConstantReward-v0", entry_point=lambda: ConstantReward(gym.make("InvertedPendulum-v5"))
)


def test_wppg_i_stores_reward_plus_lambda_entropy(monkeypatch, tmp_path):
    """App. D.1: WPPG-I stores r + lambda H(s_t), H from the current actor at the state acted in."""
    monkeypatch.chdir(tmp_path)
    entropies, stored = [], []
    estimate, add = wppg_i.entropy_estimate, run_utils.ReplayBuffer.add

    def recording_estimate(obs, *rest):
        value = estimate(obs, *rest)
        if obs.shape[0] == 1:  # the state acted in, not a logged batch
            entropies.append(value.item())
        return value

    def recording_add(self, obs, next_obs, actions, rewards, terminations):
        stored.append(float(rewards[0]))
        return add(self, obs, next_obs, actions, rewards, terminations)

    monkeypatch.setattr(wppg_i, "entropy_estimate", recording_estimate)
    monkeypatch.setattr(run_utils.ReplayBuffer, "add", recording_add)
    run_small(wppg_i, env_id="ConstantReward-v0", total_timesteps=40, entropy_scale=0.5)
    assert len(stored) == len(entropies) == 40
    assert stored == pytest.approx([1.0 + 0.5 * h for h in entropies], abs=1e-6)
    assert len(set(entropies)) > 1  # a real estimate per state, not a constant


TABLE = {
    "Hopper-v5": ((256, 256), "relu", 0.99, 4),
    "Walker2d-v5": ((64, 64), "tanh", 0.99, 6),
    "HalfCheetah-v5": ((256, 256), "relu", 0.99, 6),
    "Reacher-v5": ((64, 64), "tanh", 0.99, 3),
    "Swimmer-v5": ((64, 64), "tanh", 0.9999, 3),
    "Humanoid-v5": ((256, 256), "relu", 0.99, 116),
}


@pytest.mark.parametrize("env_id", TABLE)
def test_per_task_table(module, env_id, monkeypatch):
    """The paper's App. D.3 for all six tasks, and WPPG-I's latent size round(obs_dim / 3)."""
    args = module.Args(env_id=env_id, buffer_size=1000)

    def stop(args, *rest):  # main has filled its defaults when it starts the Run
        raise StopIteration

    monkeypatch.setattr(run_utils, "Run", stop)
    with pytest.raises(StopIteration):
        module.main(args)
    hidden, activation, gamma, latent = TABLE[env_id]
    assert (args.hidden_sizes, args.activation, args.gamma) == (hidden, activation, gamma)
    if is_implicit(module):
        assert args.latent_dim == latent
    flags = dict(env_id=env_id, gamma=0.9, hidden_sizes=(8,), activation="relu", latent_dim=9)
    chosen = run_utils.resolve_defaults(
        module.Args(**{k: v for k, v in flags.items() if hasattr(module.Args, k)})
    )
    assert (chosen.gamma, chosen.hidden_sizes, chosen.activation) == (0.9, (8,), "relu")


def test_polyak_update_averages_outside_autograd(module):
    online, target = make_actor(module), make_actor(module)
    target.requires_grad_(False)
    expected = [0.9 * t + 0.1 * o for t, o in zip(target.parameters(), online.parameters())]
    for _ in range(2):  # the second call would extend a graph made by the first
        module.polyak_update(target, online, 0.1)
    for param in target.parameters():
        assert param.grad_fn is None and not param.requires_grad
    first, first_online = next(target.parameters()), next(online.parameters()).detach()
    assert torch.allclose(first, 0.9 * expected[0].detach() + 0.1 * first_online)


# ------------------------------------------------------------------------------------------------
# One test for each equation a careless edit could change (lab/mutations.py lists which catches
# which mutation)
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("matching", ["pointwise", "closed-form"])
def test_targets_stay_where_tanh_can_reach(module, matching):
    """A critic that pushes every sample past the box's edge: the targets stop 0.1 % of the range
    inside it (at the edge itself the regression would drive tanh's input to infinity)."""
    torch.manual_seed(0)
    low, high = torch.tensor([-3.0, 0.0]), torch.tensor([3.0, 0.5])
    actor = make_actor(module, box=gym.spaces.Box(low.numpy(), high.numpy()))
    args = module.Args(eta=1.0, num_action_samples=8, matching=matching)
    noise = torch.randn(4, 8, actor.noise_dim)
    _, targets = module.transport_targets(
        torch.ones(4, 3), actor, linear_critic([1e3, -1e3]), noise, 0.01, args
    )
    margin = 1e-3 * (high - low)
    torch.testing.assert_close(targets[..., 0], torch.full((4, 8), 3.0 - margin[0].item()))
    torch.testing.assert_close(targets[..., 1], torch.full((4, 8), margin[1].item()))


@pytest.mark.parametrize("matching", ["pointwise", "closed-form"])
def test_a_flat_critic_without_heat_leaves_nothing_to_fit(module, matching):
    """grad_a Q = 0 and no heat noise: every sample is its own target, so the matching loss,
    which re-forwards the SAME noise (Prop. 1), is zero: fresh noise would regress the actor onto
    other samples of itself."""
    torch.manual_seed(0)
    args = module.Args(num_action_samples=16, matching=matching, entropy_scale=0.0)
    actor = make_actor(module)
    loss, _ = module.matching_loss(torch.randn(8, 3), actor, linear_critic([0.0, 0.0]), 0.0, args)
    assert loss.item() < 1e-12


def test_the_critic_target_samples_the_slow_polyak_actor(module, monkeypatch, tmp_path):
    """App. D.2.2: the K next actions come from the target actor, which trails the online one by
    Polyak averaging: after N updates it has moved about tau N / 2 as far (0.125 here, measured
    0.12; a copy of the online actor, detached or not, would move as far as the online one)."""
    monkeypatch.chdir(tmp_path)
    fed, online = [], []
    target, matching = module.critic_target, module.matching_loss

    def flat(net):
        return torch.cat([p.detach().flatten() for p in net.parameters()]).clone()

    def recording_target(data, actor, *rest):
        fed.append(flat(actor))
        return target(data, actor, *rest)

    def recording_matching(obs, actor, *rest):
        online.append(flat(actor))
        return matching(obs, actor, *rest)

    monkeypatch.setattr(module, "critic_target", recording_target)
    monkeypatch.setattr(module, "matching_loss", recording_matching)
    run_small(module, total_timesteps=150, tau=0.005)
    assert len(fed) == len(online) == 50
    moved_target, moved_online = (x[-1] - x[0] for x in (fed, online))
    assert 0 < moved_target.norm() < 0.25 * moved_online.norm()
    torch.testing.assert_close(fed[0], online[0])  # the target starts as a copy


def test_the_evaluation_action(module):
    """Evaluation acts with no heat noise: the explicit actor's squashed mean, which is the median
    of its samples (tanh is monotone); the implicit actor's mean action over eval_samples fresh
    latents, drawn by run_utils.evaluate from its own seed (training's random numbers untouched),
    and f(s, z = 0) for eval/episodic_return_z0."""
    torch.manual_seed(0)
    box = gym.spaces.Box(np.array([-3.0, 0.0], np.float32), np.array([3.0, 0.5], np.float32))
    actor, obs = make_actor(module, box=box, latent_dim=2), torch.randn(5, 3)
    with torch.no_grad():
        torch.manual_seed(3)
        action = actor.evaluation_action(obs)
        if is_implicit(module):
            torch.manual_seed(3)
            want = actor(obs.unsqueeze(1), torch.randn(5, actor.eval_samples, 2)).mean(dim=1)
            torch.testing.assert_close(action, want)
            torch.testing.assert_close(actor.z0_action(obs), actor(obs, torch.zeros(5, 2)))
            assert not torch.allclose(action, actor.z0_action(obs), atol=1e-3)
        else:
            samples = actor(obs.unsqueeze(1), torch.randn(5, 40_001, 2))
            half_range = torch.tensor([3.0, 0.25])
            median = samples.median(dim=1).values
            assert ((action - median).abs() / half_range).max() < 0.03  # measured: 0.015
            assert ((samples.std(dim=1)) / half_range).min() > 0.05  # a real spread to tell apart
    state = torch.get_rng_state()
    args = ("InvertedPendulum-v5", 1, 7, torch.device("cpu"))
    first = run_utils.evaluate(lambda x: actor.evaluation_action(x[:, :3])[:, :1] * 0.3, *args)
    assert torch.equal(torch.get_rng_state(), state)  # evaluating leaves training's numbers
    assert first == run_utils.evaluate(
        lambda x: actor.evaluation_action(x[:, :3])[:, :1] * 0.3, *args
    )
