"""Test-only envs, used as "nan_env:EnvId": InvertedPendulum-v5 whose reward turns NaN after
`nan_after` steps; Pendulum-v1 whose episodes last a billion steps; envs the scripts must refuse."""

import gymnasium as gym
import numpy as np


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
gym.register(
    "EndlessPendulum-v0",
    entry_point="gymnasium.envs.classic_control:PendulumEnv",
    max_episode_steps=10**9,
)
gym.register(
    "NoTimeLimit-v0",
    entry_point="gymnasium.envs.classic_control:PendulumEnv",
    max_episode_steps=None,
)


class BoxActions(gym.Env):
    """Observations (3,), actions a Box of the given shape and bounds; episodes of 10 steps."""

    def __init__(self, shape=(2,), low=-1.0, high=1.0):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.action_space = gym.spaces.Box(low, high, shape, np.float32)

    def reset(self, seed=None, options=None):
        return np.zeros(3, np.float32), {}

    def step(self, action):
        return np.zeros(3, np.float32), 0.0, False, False, {}


gym.register(
    "MatrixActions-v0", entry_point=BoxActions, kwargs=dict(shape=(2, 3)), max_episode_steps=10
)
gym.register(
    "UnboundedActions-v0", entry_point=BoxActions, kwargs=dict(high=np.inf), max_episode_steps=10
)
