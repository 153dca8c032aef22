from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cenas.bench import get_task
from cenas.carbon import CarbonTrace
from cenas.engine import (
    CarbonSignal,
    Engine,
    EngineConfig,
    LowFidelityEstimator,
    PowerModel,
    SimulatedBackend,
    TabularTrainer,
)
from cenas.optimize.base import RandomSearch
from cenas.policy import Policy


def square_trace(hours: int = 96, low: float = 100.0, high: float = 400.0) -> CarbonTrace:
    """Alternating 12 clean / 12 dirty hours."""
    values = np.where((np.arange(hours) // 12) % 2 == 0, low, high).astype(float)
    return CarbonTrace(values=values, start=pd.Timestamp("2021-01-01", tz="UTC"), zone="TEST")


def make_engine(
    policy: Policy,
    hours: int = 24,
    gpus: int = 4,
    budget: float | None = None,
    seed: int = 0,
    trace: CarbonTrace | None = None,
    power: PowerModel | None = None,
) -> Engine:
    task = get_task()
    trace = trace or square_trace()
    cfg = EngineConfig(
        n_gpus=gpus, hours=hours, carbon_budget_g=budget, power=power or PowerModel()
    )
    return Engine(
        cfg,
        task,
        RandomSearch(task.space, task.ref_point, seed),
        SimulatedBackend(gpus, LowFidelityEstimator(task), TabularTrainer(task), cfg.power),
        policy,
        CarbonSignal(trace, 0, hours),
    )


@pytest.fixture
def engine_factory():  # type: ignore[no-untyped-def]
    return make_engine
