"""The fast paths compute the same thing as the plain computation: fused critics with a split first
layer, torch.compile, and (approximately) bf16 autocast."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import is_implicit, plain_q

import run_utils

BOX = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)


def fixed_problem(module, activation="relu", seed=0):
    torch.manual_seed(seed)
    latent = {"latent_dim": 4, "eval_samples": 16} if is_implicit(module) else {}
    actor = module.Actor(11, BOX, (64, 64), activation, **latent)
    qf = module.TwinQNetworks(11, 3, (64, 64), activation)
    obs, rewards, terminations = (
        torch.randn(32, 11),
        torch.randn(32),
        (torch.rand(32) < 0.2).float(),
    )
    return actor, qf, obs, rewards, terminations


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_fused_critics_equal_two_plain_critics(module, activation):
    """Values and gradients (to the weights and to the actions) agree to float32 rounding (atol
    1e-5)."""
    _, qf, obs, _, _ = fixed_problem(module, activation)
    actions = torch.rand(32, 8, 3, requires_grad=True) * 2 - 1
    fused = qf(obs, actions)
    plain = torch.stack([plain_q(qf, i, obs, actions) for i in range(2)])
    assert fused.shape == (2, 32, 8)
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=1e-5)
    weights = torch.randn(2, 32, 8)  # an arbitrary loss of both critics
    grads_fused = torch.autograd.grad((fused * weights).sum(), [actions, *qf.parameters()])
    grads_plain = torch.autograd.grad((plain * weights).sum(), [actions, *qf.parameters()])
    for got, want in zip(grads_fused, grads_plain):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def target_and_actor_grads(module, critic_target, matching_loss, bf16=False):
    actor, qf, obs, rewards, terminations = fixed_problem(module)
    args = module.Args(gamma=0.99, num_action_samples=16, autocast="bf16" if bf16 else "off")
    data = run_utils.Batch(obs, obs, None, rewards, terminations)
    torch.manual_seed(1)
    y = critic_target(data, actor, qf, 0.05, args)
    loss, _ = matching_loss(obs, actor, qf, 0.05, args)
    return y, loss, torch.autograd.grad(loss, list(actor.parameters()))


def test_compiled_update_equals_eager(module):
    """torch.compile (inductor, CPU) gives the same target, loss and actor gradients (atol 1e-5,
    rtol 1e-4: fused kernels may sum in another order). Random draws fall back to eager's so both
    see the same noise."""
    torch._dynamo.reset()
    eager = target_and_actor_grads(module, module.critic_target, module.matching_loss)
    with torch._inductor.config.patch(
        fallback_random=True
    ):  # restored on exit (monkeypatch deletes the option)
        compiled = target_and_actor_grads(
            module, torch.compile(module.critic_target), torch.compile(module.matching_loss)
        )
    torch.testing.assert_close(compiled[0], eager[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(compiled[1], eager[1], atol=1e-5, rtol=1e-4)
    for got, want in zip(compiled[2], eager[2]):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_bf16_autocast_stays_close_to_fp32(module):
    """bf16 keeps 8 bits of mantissa: targets agree to 1 %, the actor's update direction to cosine >
    0.99."""
    y32, loss32, grads32 = target_and_actor_grads(
        module, module.critic_target, module.matching_loss
    )
    y16, loss16, grads16 = target_and_actor_grads(
        module, module.critic_target, module.matching_loss, bf16=True
    )
    assert y16.dtype == torch.float32 and not torch.equal(y16, y32)  # autocast really ran
    torch.testing.assert_close(y16, y32, atol=1e-2 * y32.abs().max().item(), rtol=0)
    flat32, flat16 = (
        torch.cat([g.flatten() for g in grads32]),
        torch.cat([g.flatten() for g in grads16]),
    )
    assert torch.nn.functional.cosine_similarity(flat32, flat16, dim=0) > 0.99
