"""The paper's combined task (App. "Combined Humanoid Task", after WPO): n copies of Humanoid-v5 run
side by side as one env. Observations and actions are concatenated, rewards summed; the episode ends
when any copy ends.

Use it with either script through gymnasium's "module:EnvId" syntax, which imports this file first:

    python wppg_implicit_continuous_action.py --env-id combined_humanoid:Humanoid-x2-v5

Ids Humanoid-x2-v5 ... Humanoid-x10-v5 are registered (n = 2 ... 10)."""

import gymnasium as gym
import numpy as np


class CombinedEnv(gym.Env):
    def __init__(self, env_id="Humanoid-v5", copies=2, render_mode=None):
        self.envs = [
            gym.make(env_id, render_mode=render_mode if i == 0 else None) for i in range(copies)
        ]
        obs_space, act_space = self.envs[0].observation_space, self.envs[0].action_space
        self.observation_space = gym.spaces.Box(
            np.tile(obs_space.low, copies), np.tile(obs_space.high, copies), dtype=obs_space.dtype
        )
        self.action_space = gym.spaces.Box(
            np.tile(act_space.low, copies), np.tile(act_space.high, copies), dtype=act_space.dtype
        )
        self.render_mode, self.metadata = render_mode, self.envs[0].metadata

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        seeds = (
            [None] * len(self.envs) if seed is None else [seed + i for i in range(len(self.envs))]
        )
        return np.concatenate([env.reset(seed=s)[0] for env, s in zip(self.envs, seeds)]), {}

    def step(self, action):
        results = [
            env.step(a) for env, a in zip(self.envs, np.split(np.asarray(action), len(self.envs)))
        ]
        obs, rewards, terminations, truncations, _ = zip(*results)
        return np.concatenate(obs), float(sum(rewards)), any(terminations), any(truncations), {}

    def render(self):
        return self.envs[0].render()

    def close(self):
        for env in self.envs:
            env.close()


for n in range(2, 11):  # each copy keeps its own 1000-step time limit; so does the whole
    gym.register(
        f"Humanoid-x{n}-v5",
        entry_point=CombinedEnv,
        kwargs={"env_id": "Humanoid-v5", "copies": n},
        max_episode_steps=1000,
    )


if __name__ == "__main__":
    print(__doc__)
