"""Test-only env: InvertedPendulum-v5 whose reward turns NaN after `nan_after` steps (used as
"nan_env:NaNReward-v0")."""

import gymnasium as gym


class NaNReward(gym.Wrapper):
    def __init__(self, nan_after=250):
        super().__init__(gym.make("InvertedPendulum-v5"))
        self.steps, self.nan_after = 0, nan_after

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        return (
            obs,
            float("nan") if self.steps > self.nan_after else reward,
            terminated,
            truncated,
            info,
        )


gym.register("NaNReward-v0", entry_point=NaNReward)
