"""Power caps: levels from a power-limit profile, the simulator's time-for-energy trade, the
cap rules, the carbon budget under capped allocations, the study and CLI settings, and the
live backend's NVML limiter (on a fake NVML)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from cenas.bench import get_task
from cenas.config import StudyConfig
from cenas.engine import LowFidelityEstimator, PowerModel, SimulatedBackend, TabularTrainer
from cenas.engine.backend import Job, PowerCapError
from cenas.engine.energy import POWER_CAP_TABLES, PowerCap, cap_levels, most_efficient
from cenas.errors import ConfigError
from cenas.meters import MeterError, NvmlPowerLimiter
from cenas.policy import Policy, StaticPolicy
from cenas.policy._rules import CapRule
from cenas.policy.base import Allocation, State
from cenas.study import build_engine
from tests.engine.conftest import make_engine

CAP = PowerCap(limit=0.5, time_factor=1.25, power_factor=0.6)  # 25 % slower, 25 % less energy


def test_levels_from_a_power_limit_profile() -> None:
    levels = cap_levels((300, 200, 150), (100.0, 110.0, 160.0), (250.0, 180.0, 140.0))
    assert [c.limit for c in levels] == pytest.approx([2 / 3, 0.5])
    assert [c.time_factor for c in levels] == pytest.approx([1.1, 1.6])
    assert [c.energy_factor for c in levels] == pytest.approx([1.1 * 0.72, 1.6 * 0.56])
    assert most_efficient(c.energy_factor for c in levels) == 1
    assert most_efficient([1.0, 1.2]) == 0  # nothing saves energy: stay uncapped
    with pytest.raises(ValueError, match="two or more rows"):
        cap_levels((300,), (1.0,), (1.0,))
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        PowerCap(limit=1.5, time_factor=1.0, power_factor=1.0)


def test_zeus_tables_trade_time_for_energy() -> None:
    a40 = POWER_CAP_TABLES["zeus-a40"]
    best = a40[most_efficient(c.energy_factor for c in a40) - 1]
    # the A40 profile's sweet spot: 200 of 300 W, about 19 % less energy for 7 % more time
    assert best.limit == pytest.approx(2 / 3)
    assert best.energy_factor == pytest.approx(0.809, abs=0.002)
    assert best.time_factor == pytest.approx(1.072, abs=0.002)
    for table in POWER_CAP_TABLES.values():
        assert all(c.time_factor >= 1.0 and c.power_factor < 1.0 for c in table)
        assert [c.limit for c in table] == sorted((c.limit for c in table), reverse=True)


def _backend(power: PowerModel | None = None) -> SimulatedBackend:
    task = get_task()
    return SimulatedBackend(
        1, LowFidelityEstimator(task), TabularTrainer(task), power or PowerModel(), "at-finish"
    )


def test_a_capped_training_takes_longer_and_needs_less_energy() -> None:
    power = PowerModel(train_w=300.0, estimate_w=300.0, idle_w=50.0)
    free, capped = _backend(power), _backend(power)
    capped.set_cap(CAP)
    for b in (free, capped):
        b.begin_step(0, 10_000.0, 100.0, {})
        b.next_free()
        b.start(Job(id=1, kind="train", arch=7, total_s=2000.0), 0, 0.0)
    (e0,), (e1,) = free.ledger.entries, capped.ledger.entries
    assert e0.seconds == pytest.approx(2000.0) and e0.energy_j == pytest.approx(300.0 * 2000.0)
    assert e1.seconds == pytest.approx(2500.0)  # time factor 1.25
    assert e1.energy_j == pytest.approx(300.0 * 0.6 * 2500.0)  # power factor 0.6
    assert e1.energy_j / e0.energy_j == pytest.approx(CAP.energy_factor)
    assert capped.next_free()[0] == pytest.approx(2500.0)  # type: ignore[index]


def test_a_capped_step_does_less_work_and_the_rest_carries_over() -> None:
    b = _backend()
    b.set_cap(CAP)
    b.begin_step(0, 1000.0, 100.0, {})
    b.next_free()
    job = Job(id=1, kind="train", arch=7, total_s=2000.0)
    assert b.start(job, 0, 0.0) is None
    assert job.done_s == pytest.approx(1000.0 / 1.25)  # the step's wall time, slowed
    paused, _ = b.end_step()
    assert paused == [job]
    b.set_cap(None)  # uncapped again: the rest runs at full speed
    b.begin_step(1, 5000.0, 100.0, {})
    b.next_free()
    b.start(job, 0, 0.0)
    assert b.ledger.entries[-1].seconds == pytest.approx(2000.0 - 800.0)


def test_a_cap_leaves_inference_and_proxy_estimates_alone() -> None:
    task = get_task()
    from cenas.engine.evaluators import make_estimator

    est = make_estimator("one-shot", task)
    power = PowerModel(inference_w=170.0)
    b = SimulatedBackend(1, est, TabularTrainer(task), power, "at-finish")
    b.set_cap(CAP)
    assert b.cap_time_factor("estimate") == 1.0 and b.cap_time_factor("init") == 1.25
    assert b.power.estimate_w == pytest.approx(170.0)
    assert b.power.train_w == pytest.approx(300.0 * 0.6)


def test_the_engine_applies_the_allocations_cap_level() -> None:
    power = PowerModel(train_w=300.0, estimate_w=300.0, idle_w=50.0)
    eng = make_engine(StaticPolicy(1.0), hours=4, gpus=2, power=power)
    eng.config = dataclasses.replace(eng.config, power_caps=(CAP,))
    rec = eng.step(Allocation(2, 0, 0, cap=1))
    assert rec.cap == 1
    # 200-epoch trainings outlast the hour: both GPUs draw capped power all of it
    assert rec.energy_j == pytest.approx(2 * 300.0 * 0.6 * 3600.0)
    done = sum(j.done_s for j in eng.jobs if j.kind == "train")
    assert done == pytest.approx(2 * 3600.0 / 1.25)
    rec = eng.step(Allocation(2, 0, 0))
    assert rec.cap == 0 and rec.energy_j == pytest.approx(2 * 300.0 * 3600.0)
    with pytest.raises(ValueError, match="offers 1"):
        eng.step(Allocation(2, 0, 0, cap=2))
    assert eng.observe().n_cap_levels == 1
    assert eng.observe().cap_energy == pytest.approx((CAP.energy_factor,))


def test_cap_rules() -> None:
    levels = POWER_CAP_TABLES["zeus-a40"]
    best = most_efficient(c.energy_factor for c in levels)
    base = dict(step=0, n_steps=10, n_gpus=8, time_left=1.0, carbon_left=1.0)
    energy = tuple(c.energy_factor for c in levels)
    dirty = State(**base, intensity=300.0, forecast=np.full(24, 100.0), cap_energy=energy)
    clean = State(**base, intensity=50.0, forecast=np.full(24, 100.0), cap_energy=energy)
    eff = CapRule(StaticPolicy(0.5), "efficient")
    aware = CapRule(StaticPolicy(0.5), "carbon")
    assert eff.decide(dirty) == Allocation(4, 4, 0, best) == eff.decide(clean)
    assert aware.decide(dirty) == Allocation(4, 4, 0, best)
    assert aware.decide(clean) == Allocation(4, 4, 0, 0)
    no_caps = State(**base, intensity=300.0)
    assert eff.decide(no_caps).cap == 0
    assert eff.name == "static" and CapRule(_Vanilla()).trains_unscreened is True
    with pytest.raises(ValueError, match="cap rule"):
        CapRule(StaticPolicy(), "always")


class _Vanilla(Policy):
    name = "v"
    trains_unscreened = True

    def decide(self, state: State) -> int:
        return state.n_gpus


class _RandomCapped(Policy):
    name = "random-capped"

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def decide(self, state: State) -> Allocation:
        cuts = np.sort(self.rng.integers(0, state.n_gpus + 1, size=2))
        cap = int(self.rng.integers(0, state.n_cap_levels + 1))
        return Allocation(
            int(cuts[0]), int(cuts[1] - cuts[0]), int(state.n_gpus - cuts[1]), cap=cap
        )


@pytest.mark.parametrize("seed", range(3))
def test_budget_is_never_exceeded_under_capped_allocations(seed: int) -> None:
    budget = 1500.0
    eng = make_engine(_RandomCapped(seed), hours=48, gpus=4, budget=budget, seed=seed)
    eng.config = dataclasses.replace(eng.config, power_caps=POWER_CAP_TABLES["zeus-v100"])
    eng.run()
    assert eng.cum_carbon_g <= budget + 1e-6
    assert eng.ledger.total_carbon_g == pytest.approx(eng.cum_carbon_g)
    assert len({r.cap for r in eng.records}) > 1
    for r in eng.records:  # every GPU-second of every step charged once
        secs = sum(e.seconds for e in eng.ledger.entries if e.step == r.step)
        assert secs == pytest.approx(4 * r.seconds)


def test_a_capped_study_uses_less_energy_and_is_seeded() -> None:
    base = StudyConfig(hours=24, gpus=4, budget_g=None)
    free = build_engine(base)
    free.run()
    capped = build_engine(dataclasses.replace(base, power_caps="zeus-a40"))
    capped.run()
    again = build_engine(dataclasses.replace(base, power_caps="zeus-a40"))
    again.run()
    assert [r.carbon_g for r in again.records] == [r.carbon_g for r in capped.records]
    best = most_efficient(c.energy_factor for c in POWER_CAP_TABLES["zeus-a40"])
    assert {r.cap for r in capped.records} == {best}
    assert {r.cap for r in free.records} == {0}
    # same hours, same pool: less energy in all
    assert capped.ledger.total_energy_j < free.ledger.total_energy_j


def test_study_config_checks_power_caps() -> None:
    with pytest.raises(ConfigError, match="power_caps: unknown table 'x'"):
        StudyConfig(power_caps="x").validate()
    with pytest.raises(ConfigError, match="cap_rule"):
        StudyConfig(power_caps="zeus-a40", cap_rule="sometimes").validate()
    with pytest.raises(ConfigError, match="NVML; the workers run on the cpu"):
        StudyConfig(power_caps="zeus-a40", live=True, device="cpu").validate()
    assert (
        StudyConfig(power_caps="zeus-v100").engine_config().power_caps
        == (POWER_CAP_TABLES["zeus-v100"])
    )
    assert StudyConfig().engine_config().power_caps == ()


def test_a_backend_that_cannot_cap_refuses() -> None:
    from cenas.engine.backend import Backend

    class NoCaps(SimulatedBackend):
        set_cap = Backend.set_cap  # the interface's default

    task = get_task()
    b = NoCaps(1, LowFidelityEstimator(task), TabularTrainer(task), PowerModel())
    b.set_cap(None)
    with pytest.raises(PowerCapError, match="cannot cap GPU power"):
        b.set_cap(CAP)


class FakeNvml(SimpleNamespace):
    """Two GPUs with a 300 W default limit settable within 100-300 W."""

    def __init__(self, allow: bool = True) -> None:
        super().__init__()
        self.allow = allow
        self.limits = {0: 300_000, 1: 300_000}
        self.calls: list[tuple[int, int]] = []
        self.shut = 0

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        self.shut += 1

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetPowerManagementDefaultLimit(self, h: int) -> int:
        return 300_000

    def nvmlDeviceGetPowerManagementLimitConstraints(self, h: int) -> tuple[int, int]:
        return 100_000, 300_000

    def nvmlDeviceSetPowerManagementLimit(self, h: int, mw: int) -> None:
        if not self.allow:
            raise RuntimeError("Insufficient Permissions")
        self.calls.append((h, mw))
        self.limits[h] = mw


def test_nvml_limiter_sets_and_restores_limits() -> None:
    nvml = FakeNvml()
    lim = NvmlPowerLimiter([0, 1], nvml=nvml)  # type: ignore[arg-type]
    lim.apply(2 / 3)
    assert nvml.limits == {0: 200_000, 1: 200_000}
    lim.apply(2 / 3)  # unchanged: no call
    assert len(nvml.calls) == 2
    with pytest.raises(MeterError, match="outside its range 100-300 W"):
        lim.apply(0.2)
    lim.restore()
    assert nvml.limits == {0: 300_000, 1: 300_000} and nvml.shut == 1


def test_nvml_limiter_refusal_is_one_clear_line() -> None:
    lim = NvmlPowerLimiter([0], nvml=FakeNvml(allow=False))  # type: ignore[arg-type]
    with pytest.raises(MeterError, match="needs root or CAP_SYS_ADMIN") as err:
        lim.apply(0.5)
    assert "\n" not in str(err.value) and "Insufficient Permissions" in str(err.value)


def test_live_pool_refuses_caps_on_cpu_workers() -> None:
    from cenas.live import LocalBackend

    pool = LocalBackend.__new__(LocalBackend)  # the pool's cap logic, no workers
    pool.devices = ["cpu", "cpu"]
    pool.limiter = None
    pool.set_cap(None)  # nothing to do
    with pytest.raises(PowerCapError, match="'cpu' is not a CUDA GPU"):
        pool.set_cap(CAP)


def test_live_pool_caps_its_gpus_through_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    from cenas.live import LocalBackend
    from cenas.meters import _caps

    nvml = FakeNvml()
    monkeypatch.setattr(_caps, "_load_nvml", lambda: nvml)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    pool = LocalBackend.__new__(LocalBackend)
    pool.devices = ["cuda:0", "cuda:1", "cuda:0"]
    pool.limiter = None
    pool.set_cap(POWER_CAP_TABLES["zeus-a40"][3])  # 200 of 300 W
    assert nvml.limits == {0: 200_000, 1: 200_000}
    pool.set_cap(None)
    assert nvml.limits == {0: 300_000, 1: 300_000}
    pool.set_cap(POWER_CAP_TABLES["zeus-a40"][0])
    pool.restore_caps()
    assert nvml.limits == {0: 300_000, 1: 300_000} and pool.limiter is None
    nvml.allow = False
    with pytest.raises(PowerCapError, match="needs root"):
        pool.set_cap(CAP)
