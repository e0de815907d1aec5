"""On a CUDA machine: does one update sync with the host, and how fast is it? For each matching
mode, the critic target, the critic loss, the matching loss and the Polyak updates run under
torch.cuda.set_sync_debug_mode("error") (any host sync raises), then are timed, at Hopper-v5's sizes
(obs 11, act 3, (256, 256) ReLU, B = 256, K = 32).

    python -m lab.speed.cuda_check"""

import time

import gymnasium as gym
import numpy as np
import torch

import run_utils
from lab import load_script


def main():
    if not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device; run this on a machine with one")
    device = torch.device("cuda")
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    for name in ["wppg_continuous_action.py", "wppg_implicit_continuous_action.py"]:
        m = load_script(name)
        box = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
        extra = [4, 16] if "implicit" in name else []
        actor, target_actor = (
            m.Actor(11, box, (256, 256), "relu", *extra).to(device) for _ in range(2)
        )
        qf, qf_target = (m.TwinQNetworks(11, 3, (256, 256), "relu").to(device) for _ in range(2))
        q_opt, a_opt = (
            torch.optim.Adam(qf.parameters(), 1e-3),
            torch.optim.Adam(actor.parameters(), 1e-3),
        )
        B, K = 256, 32
        obs, next_obs = torch.randn(B, 11, device=device), torch.randn(B, 11, device=device)
        actions, rewards = torch.rand(B, 3, device=device) * 2 - 1, torch.randn(B, device=device)
        done = torch.zeros(B, device=device)
        heat_std = (2 * 1e-4 * 0.1) ** 0.5 * (actor.high - actor.low) / 2
        data = run_utils.Batch(obs, next_obs, actions, rewards, done)
        for matching in ["pointwise", "closed-form"]:
            args = m.Args(gamma=0.99, num_action_samples=K, matching=matching)

            def update():
                y = m.critic_target(data, target_actor, qf_target, heat_std, args)
                q = qf(obs, actions.unsqueeze(1))[..., 0]
                q_opt.zero_grad()
                (q - y).pow(2).mean(dim=1).sum().backward()
                q_opt.step()
                loss, _ = m.matching_loss(obs, actor, qf, heat_std, args)
                a_opt.zero_grad()
                loss.backward()
                a_opt.step()
                m.polyak_update(target_actor, actor, 0.005)
                m.polyak_update(qf_target, qf, 0.005)

            for _ in range(5):
                update()
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")
            try:
                update()
                sync = "no host sync"
            except RuntimeError as error:
                sync = f"SYNCS: {str(error).splitlines()[0][:120]}"
            finally:
                torch.cuda.set_sync_debug_mode("default")
            torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(200):
                update()
            torch.cuda.synchronize()
            ms = (time.perf_counter() - start) / 200 * 1000
            print(f"{name[:-3]} {matching}: {ms:.2f} ms per update on the GPU; {sync}", flush=True)


if __name__ == "__main__":
    main()
