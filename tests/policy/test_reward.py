"""The reward on hand-computed transitions, and the env's use of it."""

from __future__ import annotations

import math

import pytest

from cenas.engine.energy import PowerModel
from cenas.errors import ConfigError
from cenas.rl import AllocationEnv, EnvConfig, RewardWeights, carbon_normaliser, step_reward

W = RewardWeights(
    hv=10.0,
    hv_scale="ratio",
    time=0.5,
    carbon=0.1,
    trained=0.01,
    target=1.0,
    target_log_hv_diff=1.0,
    final=2.0,
)


def test_carbon_normaliser() -> None:
    # 8 GPUs x 300 W x 1 h = 2.4 kWh, at 400 g/kWh = 960 g
    assert carbon_normaliser(8, PowerModel(), 1.0, 400.0) == pytest.approx(960.0)


def test_mid_episode_transition() -> None:
    terms = step_reward(
        W,
        hv_before=0.5,
        hv_after=0.6,
        time_left=0.25,
        carbon_g=120.0,
        carbon_norm_g=960.0,
        new_trained=4,
        n_gpus=8,
        reached_target=True,
    )
    assert terms.progress == pytest.approx(10 * 0.1 * (1 + 0.5 * 0.75))  # 1.375
    assert terms.carbon == pytest.approx(0.1 * 120 / 960)  # 0.0125
    assert terms.trained == pytest.approx(0.01 * 4 / 8)  # 0.005
    assert terms.target == 1.0
    assert terms.final == 0.0
    assert terms.total == pytest.approx(1.375 - 0.0125 + 0.005 + 1.0)


def test_log_scale_progress() -> None:
    w = RewardWeights(hv=5.0, hv_scale="log", time=0.5)
    terms = step_reward(
        w,
        hv_before=0.9,
        hv_after=0.99,
        time_left=0.5,
        carbon_g=0.0,
        carbon_norm_g=960.0,
        new_trained=0,
        n_gpus=8,
    )
    # gap(0.9) = 1/3, gap(0.99) = 2/3: 5 * (1/3) * (1 + 0.5 * 0.5)
    assert terms.progress == pytest.approx(5 / 3 * 1.25)
    with pytest.raises(ConfigError):
        step_reward(
            RewardWeights(hv_scale="cubic"),
            hv_before=0.0,
            hv_after=0.0,
            time_left=1.0,
            carbon_g=0.0,
            carbon_norm_g=1.0,
            new_trained=0,
            n_gpus=1,
        )


def test_idle_dirty_step_costs_only_carbon() -> None:
    terms = step_reward(
        W,
        hv_before=0.9,
        hv_after=0.9,
        time_left=1.0,
        carbon_g=960.0,
        carbon_norm_g=960.0,
        new_trained=0,
        n_gpus=8,
    )
    assert terms.total == pytest.approx(-0.1)


def test_terminal_transition() -> None:
    terms = step_reward(
        W,
        hv_before=0.99,
        hv_after=0.99,
        time_left=1 / 80,
        carbon_g=0.0,
        carbon_norm_g=960.0,
        new_trained=0,
        n_gpus=8,
        done=True,
    )
    # gap(0.99) = -log10(0.01) / 3 = 2/3
    assert terms.final == pytest.approx(2.0 * 2.0 / 3.0)
    assert terms.total == pytest.approx(4.0 / 3.0)


def test_env_reward_matches_records() -> None:
    cfg = EnvConfig(
        zones=("GB",),
        years=(2021,),
        hours=6,
        reward=W,
        budget_range_g=(1e6, 1e6),
        optimizer="random",
        signal="actual",
    )
    env = AllocationEnv(cfg)
    env.reset(seed=3)
    assert env.engine is not None
    norm = carbon_normaliser(8, PowerModel(), 1.0, env.engine.signal.scale)
    hv_before, n_before, reached, step, done = 0.0, 0, False, 0, False
    while not done:
        _, reward, done, _, _ = env.step(5)
        rec = env.engine.records[-1]
        now = rec.log_hv_diff <= 1.0
        expected = (
            10 * (rec.hv_ratio - hv_before) * (1 + 0.5 * step / 6)
            - 0.1 * rec.carbon_g / norm
            + 0.01 * (rec.n_trained - n_before) / 8
            + (1.0 if now and not reached else 0.0)
            + (2.0 * min(-math.log10(max(1 - rec.hv_ratio, 1e-3)) / 3, 1.0) if done else 0.0)
        )
        assert reward == pytest.approx(expected)
        hv_before, n_before, reached, step = rec.hv_ratio, rec.n_trained, reached or now, step + 1
