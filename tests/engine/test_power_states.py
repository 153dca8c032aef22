"""Power states of the carbon lever: released GPUs, the release delay, estimation power by
kind, results at finish, and the carbon budget under allocations with released GPUs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cenas.bench import get_task
from cenas.config import StudyConfig
from cenas.engine import LowFidelityEstimator, PowerModel, SimulatedBackend, TabularTrainer
from cenas.engine.backend import Job
from cenas.engine.energy import JOULES_PER_KWH
from cenas.policy import Policy, StaticPolicy
from cenas.policy.base import Allocation, State, as_allocation
from cenas.study import build_engine
from tests.engine.conftest import make_engine


def test_released_gpus_draw_nothing() -> None:
    power = PowerModel(train_w=300.0, estimate_w=300.0, idle_w=50.0)
    eng = make_engine(StaticPolicy(0.5), hours=4, gpus=4, power=power)
    rec = eng.step(Allocation(train=2, estimate=0, release=2))
    step = [e for e in eng.ledger.entries if e.step == 0]
    released = [e for e in step if e.kind == "released"]
    assert {e.gpu for e in released} == {2, 3}
    assert all(e.energy_j == 0.0 and e.carbon_g == 0.0 for e in released)
    assert sum(e.seconds for e in released) == pytest.approx(2 * 3600.0)
    # the two training GPUs draw training power all hour (200-epoch jobs outlast it)
    assert rec.energy_j == pytest.approx(2 * 300.0 * 3600.0)
    assert rec.n_release == 2 and rec.n_train == 2 and rec.n_estimate == 0
    assert eng.released == {2, 3}
    # a pool that is all released emits nothing and does nothing
    rec = eng.step(Allocation(0, 0, 4))
    assert rec.carbon_g == 0.0 and rec.energy_j == 0.0
    assert eng.observe().n_released == 4


def test_release_delay_is_charged_at_idle_power_and_delays_work() -> None:
    power = PowerModel(train_w=300.0, estimate_w=300.0, idle_w=50.0)
    eng = make_engine(StaticPolicy(0.5), hours=4, gpus=2, power=power)
    eng.config = dataclasses.replace(eng.config, release_delay_s=900.0)
    eng.step(Allocation(1, 0, 1))
    paused = [j for j in eng.jobs if j.kind == "train"]
    eng.step(Allocation(2, 0, 0))
    step1 = [e for e in eng.ledger.entries if e.step == 1]
    waits = [e for e in step1 if e.gpu == 1 and e.kind == "idle"]
    assert len(waits) == 1 and waits[0].seconds == pytest.approx(900.0)
    assert waits[0].energy_j == pytest.approx(50.0 * 900.0)
    work1 = sum(e.seconds for e in step1 if e.gpu == 1 and e.kind == "train")
    assert work1 == pytest.approx(3600.0 - 900.0)
    work0 = sum(e.seconds for e in step1 if e.gpu == 0 and e.kind == "train")
    assert work0 == pytest.approx(3600.0)  # never released: no delay
    assert paused


def test_allocation_checks_and_conversion() -> None:
    assert as_allocation(3, 8) == Allocation(3, 5, 0)
    assert as_allocation(11.7, 8) == Allocation(8, 0, 0)
    assert as_allocation(Allocation(1, 2, 5), 8) == Allocation(1, 2, 5)
    with pytest.raises(ValueError, match="covers 7 GPUs"):
        as_allocation(Allocation(1, 1, 5), 8)
    with pytest.raises(ValueError, match="non-negative"):
        Allocation(-1, 4, 5)


def _job(kind: str, total: float) -> Job:
    return Job(id=1, kind=kind, arch=7, total_s=total)  # type: ignore[arg-type]


@pytest.mark.parametrize("timing", ["at-dispatch", "at-finish"])
def test_result_timing(timing: str) -> None:
    task = get_task()
    b = SimulatedBackend(
        2, LowFidelityEstimator(task), TabularTrainer(task), PowerModel(), results=timing
    )  # type: ignore[arg-type]
    b.begin_step(0, 1000.0, 100.0, {})
    assert b.next_free() == (0.0, 0, None)
    first = b.start(_job("estimate", 400.0), 0, 0.0)
    t, w, second = b.next_free()  # type: ignore[misc]
    assert (t, w, second) == (0.0, 1, None)
    b.start(_job("estimate", 1000.0), 1, 0.0)  # ends exactly with the step
    t, w, later = b.next_free()  # type: ignore[misc]
    assert (t, w) == (400.0, 0)
    b.idle(0, t)
    assert b.next_free() is None
    unfinished, late = b.end_step()
    assert unfinished == []
    if timing == "at-dispatch":
        assert first is not None and later is None and late == []
    else:
        assert first is None and later is not None and later.t == 400.0
        assert len(late) == 1 and late[0].t == pytest.approx(1000.0)
        assert later.objectives is not None


def test_results_at_finish_in_a_whole_study() -> None:
    base = StudyConfig(policy="static", hours=12, gpus=4, budget_g=None, results="at-dispatch")
    a = build_engine(base)
    b = build_engine(dataclasses.replace(base, results="at-finish"))
    a.run()
    b.run()
    for eng in (a, b):  # every GPU-second charged once, whatever the timing
        assert sum(e.seconds for e in eng.ledger.entries) == pytest.approx(12 * 4 * 3600.0)
    # the optimiser learns later, so the studies diverge
    assert [j.arch for j in a.jobs] != [j.arch for j in b.jobs]
    # a result arrives within the step its job ended in, never before
    for arch in b.trained_x:
        job = next(j for j in b.jobs if j.kind == "train" and j.arch == arch)
        assert b.archs[arch].train_step == job.end_step


@pytest.mark.parametrize(
    ("estimator", "watts"), [("one-shot", "inference_w"), ("low-fidelity", "estimate_w")]
)
def test_estimates_draw_the_power_of_their_kind(estimator: str, watts: str) -> None:
    power = PowerModel(train_w=300.0, estimate_w=290.0, inference_w=170.0, proxy_w=110.0)
    cfg = StudyConfig(
        policy="one-shot", estimator=estimator, hours=12, gpus=4, budget_g=None, power=power
    )
    eng = build_engine(cfg)
    eng.run()
    est = [e for e in eng.ledger.entries if e.kind == "estimate" and e.seconds > 0]
    assert est
    for e in est:
        assert e.energy_j == pytest.approx(getattr(power, watts) * e.seconds)
    init = [e for e in eng.ledger.entries if e.kind == "init"]
    assert all(e.energy_j == pytest.approx(300.0 * e.seconds) for e in init)


class _RandomAllocation(Policy):
    name = "random-allocation"

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def decide(self, state: State) -> Allocation:
        cuts = np.sort(self.rng.integers(0, state.n_gpus + 1, size=2))
        return Allocation(int(cuts[0]), int(cuts[1] - cuts[0]), int(state.n_gpus - cuts[1]))


@pytest.mark.parametrize("seed", range(4))
def test_budget_is_never_exceeded_under_allocations_with_release(seed: int) -> None:
    budget = 1500.0
    eng = make_engine(_RandomAllocation(seed), hours=48, gpus=4, budget=budget, seed=seed)
    eng.config = dataclasses.replace(eng.config, release_delay_s=300.0)
    eng.run()
    assert eng.cum_carbon_g <= budget + 1e-6
    assert eng.ledger.total_carbon_g == pytest.approx(eng.cum_carbon_g)
    assert any(r.n_release > 0 for r in eng.records)
    # every GPU-second of every step is charged exactly once
    for r in eng.records:
        secs = sum(e.seconds for e in eng.ledger.entries if e.step == r.step)
        assert secs == pytest.approx(4 * r.seconds)
    energy = sum(e.energy_j for e in eng.ledger.entries)
    carbon = sum(
        e.energy_j / JOULES_PER_KWH * r.intensity
        for r in eng.records
        for e in eng.ledger.entries
        if e.step == r.step
    )
    assert energy > 0 and carbon == pytest.approx(eng.cum_carbon_g)


def test_idle_gpus_are_released_with_release_idle() -> None:
    power = PowerModel(train_w=300.0, estimate_w=300.0, idle_w=50.0)
    base = StudyConfig(
        policy="static",
        hours=6,
        gpus=4,
        budget_g=None,
        power=power,
        estimate_ratio=1.0,
        release_idle=False,
    )
    assert StudyConfig().release_idle  # on by default
    idle = build_engine(base)
    idle.run()
    freed = build_engine(dataclasses.replace(base, release_idle=True))
    freed.run()
    idle_s = sum(e.seconds for e in idle.ledger.entries if e.kind == "idle")
    assert idle_s > 0  # the estimation cap leaves GPUs with nothing to do
    assert not any(e.kind == "idle" for e in freed.ledger.entries)
    released = [e for e in freed.ledger.entries if e.kind == "released"]
    assert sum(e.seconds for e in released) == pytest.approx(idle_s)
    assert all(e.energy_j == 0.0 for e in released)
    # the same work, less energy: exactly the idle power of the idle seconds
    assert [j.arch for j in freed.jobs] == [j.arch for j in idle.jobs]
    saved = idle.ledger.total_energy_j - freed.ledger.total_energy_j
    assert saved == pytest.approx(50.0 * idle_s)
    assert freed.released  # released GPUs pay the release delay when they work again
