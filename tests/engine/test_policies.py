from __future__ import annotations

import numpy as np
import pytest

from cenas.engine import PowerModel
from cenas.policy import (
    ClairvoyantPolicy,
    HeuristicPolicy,
    OneShotPolicy,
    State,
    StaticPolicy,
    VanillaPolicy,
)


def state(intensity: float, forecast: list[float], n_gpus: int = 8, **kw: float) -> State:
    return State(
        step=int(kw.pop("step", 0)),
        n_steps=80,
        n_gpus=n_gpus,
        time_left=float(kw.pop("time_left", 1.0)),
        carbon_left=1.0,
        intensity=intensity,
        forecast=np.asarray(forecast, dtype=float),
    )


def test_vanilla_one_shot_static() -> None:
    s = state(200, [100] * 24)
    assert VanillaPolicy().decide(s) == 8
    assert OneShotPolicy().decide(s) == 1
    assert StaticPolicy(0.5).decide(s) == 4
    assert StaticPolicy(0.0).decide(s) == 0
    with pytest.raises(ValueError):
        StaticPolicy(1.5)


def test_heuristic_trains_when_clean_relative_to_coming_hours() -> None:
    h = HeuristicPolicy(horizon=24, low=0.25, high=0.75)
    assert h.decide(state(100, list(range(150, 174)))) == 8  # cleanest hour: all train
    assert h.decide(state(300, list(range(150, 174)))) == 0  # dirtiest: none train
    # 12 of the 24 coming hours are cleaner: percentile 0.5, share (0.75 - 0.5) / 0.5 = 0.5
    assert h.decide(state(162, list(range(150, 174)))) == 4
    # 18 of 24 cleaner: percentile 0.75 = high, none train; 9 of 24: share 0.75, 6 GPUs
    assert h.decide(state(168, list(range(150, 174)))) == 0
    assert h.decide(state(159, list(range(150, 174)))) == 6
    assert h.decide(state(162, [])) == 4  # no forecast: percentile 0.5


def test_heuristic_endgame_trains_everything() -> None:
    h = HeuristicPolicy(endgame=0.1)
    assert h.decide(state(300, [100] * 24, time_left=0.05)) == 8


def test_clairvoyant_respects_budget_plan() -> None:
    window = np.array([500, 100, 300, 50, 400], dtype=float)
    power = PowerModel(train_w=300, estimate_w=300, idle_w=0)
    # 4 GPUs × 0.3 kW × 1 h = 1.2 kWh per training hour: 60 g at 50, 120 g at 100, 360 g at 300
    pol = ClairvoyantPolicy(window, 4, power, 1.0, carbon_budget_g=200.0, budget_margin=1.0)
    decisions = [pol.decide(state(float(v), [], n_gpus=4, step=i)) for i, v in enumerate(window)]
    assert decisions == [0, 4, 0, 4, 0]
