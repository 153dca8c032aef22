from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cenas.config import StudyConfig
from cenas.engine import Engine, PowerModel
from cenas.engine.energy import JOULES_PER_KWH
from cenas.engine.loop import Arch
from cenas.errors import ConfigError
from cenas.optimize.hypervolume import dominance_number, hypervolume
from cenas.policy import (
    ClairvoyantPolicy,
    HeuristicPolicy,
    OneShotPolicy,
    StaticPolicy,
    VanillaPolicy,
)

from .conftest import make_engine, square_trace


def test_ledger_totals_add_up_over_jobs_steps_and_gpus() -> None:
    eng = make_engine(StaticPolicy(0.5), hours=30)
    eng.run()
    total = eng.ledger.total_carbon_g
    assert total > 0
    assert math.isclose(total, eng.cum_carbon_g, rel_tol=1e-12)
    assert math.isclose(total, sum(eng.ledger.carbon_by_job().values()), rel_tol=1e-12)
    assert math.isclose(total, sum(eng.ledger.carbon_by_step().values()), rel_tol=1e-12)
    assert math.isclose(total, sum(r.carbon_g for r in eng.records), rel_tol=1e-12)
    # each GPU is accounted for exactly one step length per step
    for step in range(eng.step_index):
        for gpu in range(eng.config.n_gpus):
            secs = sum(e.seconds for e in eng.ledger.entries if e.step == step and e.gpu == gpu)
            assert secs == pytest.approx(3600.0)
    # carbon of each entry is its energy at that hour's intensity
    for e in eng.ledger.entries:
        intensity = eng.signal.intensity(e.step)
        assert e.carbon_g == pytest.approx(e.energy_j / JOULES_PER_KWH * intensity)


def test_jobs_charged_exactly_their_length_and_carry_over() -> None:
    eng = make_engine(VanillaPolicy(), hours=6, gpus=2)
    eng.run()
    trainings = [j for j in eng.jobs if j.kind == "train"]
    # NB201 trainings take 0.37-1.27 GPU-hours, so some must cross a step boundary
    crossed = [j for j in trainings if j.end_step > j.start_step]
    assert crossed, "expected at least one training to carry over to the next step"
    for job in trainings:
        charged = sum(e.seconds for e in eng.ledger.entries if e.job_id == job.id)
        assert charged == pytest.approx(job.done_s)
        if job.end_step >= 0:
            assert job.done_s == pytest.approx(job.total_s)


def test_paused_training_resumes_after_estimation_hours() -> None:
    eng = make_engine(VanillaPolicy(), hours=10, gpus=2)
    eng.step(2)
    unfinished = [j for j in eng.jobs if j.kind == "train" and j.end_step < 0]
    assert unfinished
    eng.step(0)  # all estimate: trainings pause, untouched
    for job in unfinished:
        assert all(e.job_id != job.id for e in eng.ledger.entries if e.step == 1)
    before = {j.id: j.done_s for j in unfinished}
    eng.step(2)
    resumed = [j for j in unfinished if j.done_s > before[j.id]]
    assert resumed, "paused trainings should resume before new ones start"


def test_no_architecture_trained_or_estimated_twice() -> None:
    eng = make_engine(StaticPolicy(0.5), hours=40, gpus=8)
    eng.run()
    for kind in ("train", "estimate"):
        archs = [j.arch for j in eng.jobs if j.kind == kind]
        assert len(archs) == len(set(archs))
    assert len(eng.trained_x) == len(set(eng.trained_x))


def test_only_trained_results_reach_the_optimizer() -> None:
    eng = make_engine(OneShotPolicy(), hours=20)
    eng.run()
    told = set(eng.optimizer.X.tolist())
    assert told == set(eng.trained_x)
    estimated_only = {a for a, info in eng.archs.items() if info.true is None}
    assert not told & estimated_only


def test_queue_bounded_and_best_estimate_trained_first() -> None:
    """Every training taken from the queue is the queued estimate that adds the most
    hypervolume to the trained cells' estimates (else the lowest dominance number)."""
    eng = make_engine(OneShotPolicy(), hours=8, gpus=4)
    choices: list[tuple[list[int], list[int], int]] = []
    pop = eng._pop_best

    def watched() -> int:
        queue, trained = list(eng.queue), list(eng.trained_x)
        chosen = pop()
        choices.append((queue, trained, chosen))
        return chosen

    eng._pop_best = watched  # type: ignore[method-assign]
    eng.run()
    assert all(r.queue_len <= eng.config.capacity for r in eng.records)
    real = [c for c in choices if len(c[0]) > 1]
    assert len(real) >= 5, "expected several choices among queued estimates"
    by_gain = 0
    for queue, trained, chosen in real:
        est = np.vstack([np.asarray(eng.archs[a].estimated) for a in queue])
        known = [e for e in (eng.archs[a].estimated for a in trained) if e is not None]
        gains = np.zeros(len(queue))
        if known:
            front = np.vstack(known)
            ref = np.maximum(np.maximum(est.max(0), front.max(0)), eng.task.ref_point) + 1e-6
            base = hypervolume(front, ref)
            gains = np.array([hypervolume(np.vstack([front, e]), ref) - base for e in est])
        if gains.max() > 1e-12:
            by_gain += 1
            assert gains[queue.index(chosen)] == pytest.approx(gains.max(), abs=1e-9)
        else:
            rank = dominance_number(est)
            assert rank[queue.index(chosen)] == rank.min()
    assert by_gain >= 1


@settings(max_examples=25, deadline=None)
@given(
    budget=st.floats(min_value=50.0, max_value=20_000.0),
    frac=st.floats(min_value=0.0, max_value=1.0),
    gpus=st.integers(min_value=1, max_value=8),
    seed=st.integers(min_value=0, max_value=5),
)
def test_carbon_budget_never_exceeded(budget: float, frac: float, gpus: int, seed: int) -> None:
    eng = make_engine(StaticPolicy(frac), hours=24, gpus=gpus, budget=budget, seed=seed)
    eng.run()
    assert eng.ledger.total_carbon_g <= budget * (1 + 1e-9)
    assert eng.done


def test_budget_stop_reason_and_time_budget() -> None:
    eng = make_engine(VanillaPolicy(), hours=24, budget=2000.0)
    eng.run()
    assert eng.stop_reason == "carbon budget spent"
    eng = make_engine(VanillaPolicy(), hours=5, budget=None)
    eng.run()
    assert eng.stop_reason == "time budget spent" and eng.step_index == 5


def test_same_seed_same_result() -> None:
    a = make_engine(HeuristicPolicy(), hours=30, seed=3)
    b = make_engine(HeuristicPolicy(), hours=30, seed=3)
    a.run()
    b.run()
    assert a.trained_x == b.trained_x
    assert [r.carbon_g for r in a.records] == [r.carbon_g for r in b.records]


def test_idle_gpus_draw_idle_power() -> None:
    power = PowerModel(train_w=300.0, estimate_w=300.0, idle_w=50.0)
    eng = make_engine(OneShotPolicy(), hours=3, gpus=4, power=power)
    eng.run()
    idle = [e for e in eng.ledger.entries if e.kind == "idle"]
    assert idle
    assert all(e.energy_j == pytest.approx(50.0 * e.seconds) for e in idle)


def test_clairvoyant_trains_only_in_the_cleanest_hours() -> None:
    trace = square_trace(96)
    pol = ClairvoyantPolicy(
        trace.values[:48], 4, PowerModel(), 1.0, carbon_budget_g=None, train_fraction=0.25
    )
    eng = make_engine(pol, hours=48, trace=trace)
    eng.run()
    train_hours = [r.step for r in eng.records if r.n_train > 0]
    assert train_hours and all(trace.values[h] == 100.0 for h in train_hours)
    assert np.isclose(len(train_hours), 12)


def test_full_queue_replaces_worst_and_dropped_cells_are_never_trained() -> None:
    eng = make_engine(OneShotPolicy(), hours=8, gpus=4)
    eng.run()
    dropped = {a for a, info in eng.archs.items() if info.source == "dropped"}
    assert dropped, "a full queue should drop its worst estimates"
    assert not dropped & set(eng.trained_x)
    assert all(r.queue_len <= eng.config.capacity for r in eng.records)


def test_estimate_ratio_bounds_estimation_work() -> None:
    from dataclasses import replace

    eng = make_engine(OneShotPolicy(), hours=12, gpus=4)
    eng.config = replace(eng.config, estimate_ratio=2.0)
    eng.run()
    n_est_jobs = sum(1 for j in eng.jobs if j.kind == "estimate")
    assert n_est_jobs <= 2.0 * (len(eng.trained_x) + eng.config.capacity) + 1
    assert any(e.kind == "idle" for e in eng.ledger.entries)


def test_block_queue_policy_idles_estimators_when_full() -> None:
    from dataclasses import replace

    eng = make_engine(OneShotPolicy(), hours=6, gpus=4)
    eng.config = replace(eng.config, queue_policy="block", estimate_ratio=None)
    eng.run()
    assert not any(info.source == "dropped" for info in eng.archs.values())
    assert sum(1 for j in eng.jobs if j.kind == "estimate") <= eng.config.capacity + len(
        eng.trained_x
    )


def _crafted_queue(selection: str) -> tuple[Engine, dict[str, int]]:
    """An engine whose trained cells and queue hold hand-set estimates (minimisation form).

    Trained estimates: (-90, 2.0) and (-89, 0.4). Queue: ``a`` = (-88, 0.5), dominated by a
    trained estimate but with by far the largest contribution within the queue; ``b`` =
    (-91, 3.0), the only candidate that adds hypervolume to the trained estimates; ``c`` =
    (-87, 0.6), dominated by ``a``.
    """
    eng = make_engine(OneShotPolicy(), hours=2, gpus=2)
    eng.config = dataclasses.replace(eng.config, selection=selection)  # type: ignore[arg-type]
    for arch, est in ((10, (-90.0, 2.0)), (11, (-89.0, 0.4))):
        eng.archs[arch] = Arch(arch=arch, estimated=np.array(est), true=np.array(est))
        eng.trained_x.append(arch)
    ids = {"a": 20, "b": 21, "c": 22}
    for name, est in (("a", (-88.0, 0.5)), ("b", (-91.0, 3.0)), ("c", (-87.0, 0.6))):
        eng.archs[ids[name]] = Arch(arch=ids[name], estimated=np.array(est))
        eng.queue.append(ids[name])
    return eng, ids


def test_hvi_selection_trains_what_adds_to_the_trained_front() -> None:
    eng, ids = _crafted_queue("hvi")
    assert eng._pop_best() == ids["b"]
    # a and c are both dominated by a trained estimate: fall back to the dominance rule
    assert eng._pop_best() == ids["a"]
    assert eng.queue == [ids["c"]]


def test_dominance_selection_is_blind_to_the_trained_front() -> None:
    eng, ids = _crafted_queue("dominance")
    assert eng._pop_best() == ids["a"]


def test_unknown_selection_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="selection"):
        StudyConfig(selection="best").validate()
