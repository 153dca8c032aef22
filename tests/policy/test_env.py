"""AllocationEnv: gymnasium/SB3 compliance, reproducibility, episode mechanics."""

from __future__ import annotations

import numpy as np
import pytest
from stable_baselines3.common.env_checker import check_env

from cenas.errors import ConfigError
from cenas.policy.rl import obs_size
from cenas.rl import AllocationEnv, EnvConfig


@pytest.mark.filterwarnings("ignore:We recommend you to use a symmetric")
@pytest.mark.parametrize("action", ["discrete", "continuous"])
def test_check_env(short_config: EnvConfig, action: str) -> None:
    env = AllocationEnv(short_config.replace(action=action))
    check_env(env)
    assert env.observation_space.shape == (obs_size(),)


def _rollout(env: AllocationEnv, seed: int) -> tuple[list[np.ndarray], list[float]]:
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    observations, rewards = [obs], []
    done = False
    while not done:
        obs, reward, done, truncated, _ = env.step(env.action_space.sample())
        assert not truncated
        observations.append(obs)
        rewards.append(reward)
    return observations, rewards


def test_seeded_reproducible(short_config: EnvConfig) -> None:
    env = AllocationEnv(short_config)
    a_obs, a_rew = _rollout(env, 7)
    ep_a = env.episode
    b_obs, b_rew = _rollout(AllocationEnv(short_config), 7)
    assert np.allclose(a_rew, b_rew)
    assert all(np.array_equal(x, y) for x, y in zip(a_obs, b_obs, strict=True))
    _rollout(env, 8)
    assert env.episode != ep_a


def test_episode_draws_within_config(short_config: EnvConfig) -> None:
    env = AllocationEnv(short_config)
    for seed in range(5):
        obs, info = env.reset(seed=seed)
        ep = info["episode"]
        assert ep.zone in short_config.zones and ep.year == 2021
        assert 1500.0 <= ep.budget_g <= 4000.0
        assert env.observation_space.contains(obs)
        assert env.engine is not None and env.engine.config.hours == 12


def test_terminal_observation_after_time_budget() -> None:
    cfg = EnvConfig(
        zones=("GB",), years=(2022,), hours=3, budget_range_g=(1e6, 1e6), optimizer="random"
    )
    env = AllocationEnv(cfg)
    env.reset(seed=0)
    rewards, done, info, obs = [], False, {}, None
    while not done:
        obs, r, done, _, info = env.step(9)
        rewards.append(r)
    assert len(rewards) == 3
    assert info["summary"]["stop"] == "time budget spent"
    assert obs is not None and obs[0] == 0.0  # time_left
    assert env.observation_space.contains(obs)
    with pytest.raises(RuntimeError):
        env.step(0)


def test_bad_config() -> None:
    with pytest.raises(ConfigError, match="zones"):
        EnvConfig(zones=("MARS",)).validate()
    with pytest.raises(ConfigError, match="years"):
        EnvConfig(years=(1999,)).validate()
    with pytest.raises(ConfigError, match="action"):
        EnvConfig(action="both").validate()


def test_forecast_signal_episodes(short_config: EnvConfig) -> None:
    """With signal=forecast the state holds the transformer's forecast, issued without
    look-ahead, and 2021 windows leave the forecaster its input history."""
    from cenas.carbon import load_bundled
    from cenas.carbon.forecast import load_pretrained
    from cenas.rl._env import episodes, make_engine, observe

    cfg = short_config.replace(signal="forecast").validate()
    model = load_pretrained("US-CAL-CISO")
    eps = episodes(cfg.replace(zones=("US-CAL-CISO",)), 20, seed=3)
    assert min(ep.offset for ep in eps) >= model.min_history
    ep = eps[0]
    state = observe(make_engine(ep, cfg))
    actual = observe(make_engine(ep, cfg.replace(signal="actual")))
    assert state.intensity == actual.intensity
    assert state.forecast.shape == (cfg.horizon,)
    assert not np.allclose(state.forecast, actual.forecast[: cfg.horizon])
    # the same forecast, issued directly from the data before the next hour
    trace = load_bundled("US-CAL-CISO", 2021)
    issue = trace.start + np.timedelta64(ep.offset + 1, "h")
    direct = model.predict(trace, issue, model.max_horizon)[: cfg.horizon]
    assert np.allclose(state.forecast, direct, rtol=1e-4, atol=1e-3)
    env = AllocationEnv(cfg)
    obs, _ = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    with pytest.raises(ConfigError, match="signal"):
        EnvConfig(signal="oracle").validate()
