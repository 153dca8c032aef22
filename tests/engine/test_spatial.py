"""Spatial shifting: zone signals, migration charges, the greedy zone rule, the config."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from cenas.bench import get_task
from cenas.carbon import CarbonTrace
from cenas.config import StudyConfig
from cenas.engine import (
    CarbonSignal,
    Engine,
    EngineConfig,
    LowFidelityEstimator,
    PowerModel,
    SimulatedBackend,
    TabularTrainer,
)
from cenas.engine.energy import JOULES_PER_KWH
from cenas.engine.spatial import MigrationCost, ZoneSignal
from cenas.errors import ConfigError
from cenas.optimize.base import RandomSearch
from cenas.policy import VanillaPolicy
from cenas.policy._spatial import GreedyZoneChooser
from cenas.study import build_engine


def _trace(values: list[float], zone: str, start: str = "2021-01-01") -> CarbonTrace:
    return CarbonTrace(
        values=np.asarray(values, dtype=float), start=pd.Timestamp(start, tz="UTC"), zone=zone
    )


def _engine(a: list[float], b: list[float], migration: MigrationCost) -> Engine:
    task = get_task()
    hours = len(a)
    power = PowerModel(train_w=300.0, estimate_w=300.0, idle_w=50.0)
    signal = ZoneSignal(
        {
            "A": CarbonSignal(_trace(a, "A"), 0, hours),
            "B": CarbonSignal(_trace(b, "B"), 0, hours),
        }
    )
    return Engine(
        EngineConfig(n_gpus=2, hours=hours, carbon_budget_g=None, power=power),
        task,
        RandomSearch(task.space, task.ref_point, 0),
        SimulatedBackend(2, LowFidelityEstimator(task), TabularTrainer(task), power),
        VanillaPolicy(),
        signal,
        zones=GreedyZoneChooser(horizon=1),
        migration=migration,
    )


def test_the_pool_moves_to_the_cleaner_zone_and_pays_the_move() -> None:
    mig = MigrationCost(setup_s=600.0, checkpoint_gb=0.5, bandwidth_gbit_s=1.0)
    eng = _engine([100.0, 500.0, 500.0], [300.0, 100.0, 100.0], mig)
    eng.step()
    assert eng.zone_steps == ["A"]  # step 0 starts in the cleanest zone
    paused = len(eng.paused["train"])
    assert paused == 2  # 200-epoch trainings outlast the hour
    eng.step()
    assert eng.zone_steps == ["A", "B"]
    step1 = [e for e in eng.ledger.entries if e.step == 1]
    assert eng.records[1].intensity == 100.0  # charged at B's intensity
    # every GPU waits the provisioning and the transfer of both checkpoints, at idle power
    wait = 600.0 + 2 * 0.5 * 8.0 / 1.0
    for g in (0, 1):
        idle = [e for e in step1 if e.gpu == g and e.kind == "idle"]
        assert len(idle) == 1 and idle[0].seconds == pytest.approx(wait)
        assert idle[0].energy_j == pytest.approx(50.0 * wait)
        work = sum(e.seconds for e in step1 if e.gpu == g and e.kind == "train")
        assert work == pytest.approx(3600.0 - wait)
    net = [e for e in step1 if e.kind == "migrate"]
    assert len(net) == 1 and net[0].seconds == 0.0
    assert net[0].energy_j == pytest.approx(2 * 0.5 * 0.06 * JOULES_PER_KWH)
    assert net[0].carbon_g == pytest.approx(net[0].energy_j / JOULES_PER_KWH * 100.0)
    eng.step()  # staying costs nothing
    assert eng.zone_steps[-1] == "B"
    assert not [e for e in eng.ledger.entries if e.step == 2 and e.kind in ("migrate",)]


def test_no_move_when_it_costs_more_than_it_saves() -> None:
    # B is cleaner by 1 g/kWh for one hour: 0.6 kW x 1 g < a 2-hour provisioning at idle power
    mig = MigrationCost(setup_s=7200.0)
    eng = _engine([100.0, 200.0, 200.0], [150.0, 199.0, 199.0], mig)
    eng.run()
    assert eng.zone_steps == ["A", "A", "A"]
    assert not [e for e in eng.ledger.entries if e.kind == "migrate"]


def test_zone_signals_must_cover_the_same_hours() -> None:
    a = CarbonSignal(_trace([1.0] * 10, "A"), 0, 5)
    late = CarbonSignal(_trace([1.0] * 10, "B", start="2021-01-02"), 0, 5)
    with pytest.raises(ConfigError, match="differs"):
        ZoneSignal({"A": a, "B": late})
    with pytest.raises(ConfigError, match="two zones"):
        ZoneSignal({"A": a})
    with pytest.raises(ConfigError, match="bandwidth"):
        MigrationCost(bandwidth_gbit_s=0.0)


def test_a_spatial_study_from_the_config() -> None:
    cfg = StudyConfig(zones="US-CAL-CISO,DE-LU,GB", hours=24, budget_g=None)
    eng = build_engine(cfg)
    eng.run()
    assert len(eng.zone_steps) == 24 and set(eng.zone_steps) <= {"US-CAL-CISO", "DE-LU", "GB"}
    zsig = eng.signal
    assert isinstance(zsig, ZoneSignal)
    for r, z in zip(eng.records, eng.zone_steps, strict=True):
        assert r.intensity == zsig.signals[z].intensity(r.step)
    for bad, msg in (("GB", "two or more"), ("GB,GB", "distinct"), ("GB,XX", "unknown zone")):
        with pytest.raises(ConfigError, match=msg):
            dataclasses.replace(cfg, zones=bad).validate()
