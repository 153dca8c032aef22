"""Estimates that steer the search: screened training, the optimiser fitted on calibrated
estimates, surrogate screening of proposals; and the elastic, day-ahead and static-release
rules."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cenas.config import StudyConfig
from cenas.engine.loop import Arch
from cenas.engine.screen import Screen
from cenas.errors import ConfigError
from cenas.policy import Allocation, DayAheadPolicy, ElasticPolicy, State, StaticPolicy
from cenas.study import build_engine

BASE = StudyConfig(
    policy="static",
    hours=16,
    gpus=4,
    budget_g=None,
    results="at-finish",
    train_unscreened=True,
    steer="queue",
)


def test_screened_training_trains_only_estimated_cells() -> None:
    eng = build_engine(dataclasses.replace(BASE, train_unscreened=False))
    eng.run()
    assert eng.trained_x
    assert all(eng.archs[a].estimated is not None for a in eng.trained_x)
    assert all(eng.archs[a].source == "queue" for a in eng.trained_x)
    # unscreened trains fresh cells straight from the optimiser when the
    # queue is empty, as at the start of a study
    plain = build_engine(BASE)
    plain.run()
    assert any(plain.archs[a].source == "direct" for a in plain.trained_x)


def test_steering_gives_lamoo_calibrated_estimates() -> None:
    eng = build_engine(dataclasses.replace(BASE, steer="optimizer"))
    eng.run()
    opt = eng.optimizer
    pending = {a for a, x in eng.archs.items() if x.estimated is not None and x.true is None}
    assert pending and set(opt._est_x.tolist()) == pending  # type: ignore[attr-defined]
    # calibrated: the 12-epoch accuracies are mapped near the 200-epoch scale
    trained_acc = -np.vstack(eng.trained_y)[:, 0]
    est_acc = -opt._est_y[:, 0]  # type: ignore[attr-defined]
    raw = -np.vstack([eng.archs[a].estimated for a in opt._est_x])[:, 0]  # type: ignore[attr-defined]
    assert abs(np.median(est_acc) - np.median(trained_acc)) < abs(
        np.median(raw) - np.median(trained_acc)
    )
    # the tree is built on told and estimated cells
    opt._prepare()  # type: ignore[attr-defined]
    assert opt._tx.shape[0] == len(eng.trained_x) + len(pending)  # type: ignore[attr-defined]
    # same seed, same result
    again = build_engine(dataclasses.replace(BASE, steer="optimizer"))
    again.run()
    assert again.trained_x == eng.trained_x


def test_screen_estimates_only_screened_proposals() -> None:
    eng = build_engine(dataclasses.replace(BASE, screen=4))
    eng.run()
    assert eng.screen is not None and eng.screen.ready
    assert len(eng.proposals) <= 4
    estimated = [j.arch for j in eng.jobs if j.kind == "estimate"]
    assert len(set(estimated)) == len(estimated)
    assert not set(eng.proposals) & set(eng.archs)  # waiting proposals were never run


def test_screen_chooses_the_predicted_best() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(60, 6)).astype(float)
    # objective 0 (minimised) falls with the number of ones; objective 1 is constant
    y = np.column_stack([-x.sum(axis=1), np.ones(60)])
    screen = Screen(seed=0)
    screen.fit(x[:5], y[:5])
    assert not screen.ready  # too few estimates
    screen.fit(x, y)
    cands = np.array([[0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0]], dtype=float)
    assert screen.choose(cands, np.array([1.0, 2.0])) == 1


def test_screen_needs_nb201_in_live_mode() -> None:
    with pytest.raises(ConfigError, match="screen"):
        dataclasses.replace(StudyConfig(), live=True, space="darts", screen=4).validate()
    with pytest.raises(ConfigError, match="steer"):
        dataclasses.replace(StudyConfig(), steer="nowhere").validate()


def _state(intensity: float, forecast: list[float], **kw: object) -> State:
    base: dict[str, object] = {
        "step": 0,
        "n_steps": 80,
        "n_gpus": 8,
        "time_left": 1.0,
        "carbon_left": 1.0,
        "intensity": intensity,
        "forecast": np.asarray(forecast, dtype=float),
        "queue_len": 0,
        "queue_capacity": 32,
    }
    base.update(kw)
    return State(**base)  # type: ignore[arg-type]


def test_elastic_trains_in_the_cleanest_hours_and_releases_otherwise() -> None:
    pol = ElasticPolicy(horizon=24, train_share=0.25, estimate_gpus=2)
    coming = [float(v) for v in range(101, 124)]  # 23 hours after now
    assert pol.decide(_state(100.0, coming)) == Allocation(6, 2, 0)  # cleanest: train
    # 200 is dirtier than every coming hour: estimate with 2, release 6
    assert pol.decide(_state(200.0, coming)) == Allocation(0, 2, 6)
    # a full queue releases the estimating GPUs too
    assert pol.decide(_state(200.0, coming, queue_len=32)) == Allocation(0, 0, 8)
    # 6 of 24 hours train: now (105) ranks 6th
    assert pol.decide(_state(105.5, coming)).train == 6
    assert pol.decide(_state(106.5, coming)).train == 0
    # endgame: the whole pool trains
    end = ElasticPolicy(endgame=0.1)
    assert end.decide(_state(900.0, coming, time_left=0.05)) == Allocation(8, 0, 0)
    # the last step knows no future hours: it trains
    assert pol.decide(_state(900.0, coming, step=79)).train == 6


def test_day_ahead_commits_to_the_cleanest_forecast_hours_of_each_block() -> None:
    pol = DayAheadPolicy(block=6, work_hours=2, fraction=0.5)
    # planned at step 0: now 50, then the forecast of steps 1-5
    plan0 = [50.0, 30.0, 90.0, 10.0, 70.0, 60.0]
    assert pol.decide(_state(50.0, plan0[1:], step=0)) == Allocation(0, 0, 8)  # not cleanest
    assert pol.plan(_state(50.0, plan0[1:], step=0)) == {1, 3}
    # inside the block the plan holds whatever is measured or forecast later
    assert pol.decide(_state(999.0, [1.0] * 5, step=1)) == Allocation(4, 4, 0)
    assert pol.decide(_state(1.0, [0.5] * 5, step=2)) == Allocation(0, 0, 8)
    assert pol.decide(_state(999.0, [], step=3)) == Allocation(4, 4, 0)
    assert pol.decide(_state(5.0, [1.0] * 5, step=5)).release == 8
    # the next block is planned at its first step: now (step 6) is the cleanest
    assert pol.decide(_state(5.0, [9.0, 8.0, 7.0, 6.0, 50.0], step=6)) == Allocation(4, 4, 0)
    assert pol.plan(_state(5.0, [], step=7)) == {6, 10}
    # a forecast shorter than the block: hours past its end never work
    short = DayAheadPolicy(block=6, work_hours=3)
    assert short.plan(_state(50.0, [40.0], step=0)) == {0, 1}
    # the study's end cuts the last block short: hours past it are never planned, and
    # the block works its share of the plan (3 of 6 hours -> 1 of 2)
    cut = DayAheadPolicy(block=6, work_hours=3, spend_surplus=False)
    assert cut.plan(_state(50.0, [40.0, 1.0, 2.0, 3.0, 4.0], step=6, n_steps=8)) == {7}
    assert cut.plan(_state(50.0, [40.0, 1.0, 2.0], step=0, n_steps=2)) == {1}
    # first seen inside a block (a resumed live study): only the block's remaining hours
    late = DayAheadPolicy(block=6, work_hours=2)
    assert late.plan(_state(50.0, [40.0, 1.0, 2.0, 3.0, 4.0], step=4)) == {4, 5}
    # a new study on the same policy without a reset plans again at its step 0
    assert late.plan(_state(9.0, [1.0, 2.0, 3.0, 4.0, 5.0], step=0)) == {1, 2}
    # reset forgets the plan: a new study plans again at its step 0
    pol.reset()
    assert pol.plan(_state(1.0, [2.0, 3.0, 4.0, 5.0, 6.0], step=0)) == {0, 1}
    for bad in ({"block": 0}, {"work_hours": 7, "block": 6}, {"fraction": 1.5}):
        with pytest.raises(ValueError, match="day-ahead"):
            DayAheadPolicy(**bad)  # type: ignore[arg-type]


def test_day_ahead_spends_the_budget_surplus_latest_first() -> None:
    pol = DayAheadPolicy(block=4, work_hours=1, reserve=0.0)
    day = [20.0, 30.0, 40.0]  # the forecast after a 10 g/kWh hour
    # block 0: nothing measured yet, the plain plan (the cleanest hour)
    assert pol.decide(_state(10.0, day, step=0, n_steps=8)).train == 4
    # the working hour used 0.1 of the budget at 10 g/kWh: 0.01 per g/kWh
    for step in (1, 2, 3):
        assert (
            pol.decide(
                _state(10.0 * (step + 1), day[step:], step=step, n_steps=8, carbon_left=0.9)
            ).release
            == 8
        )
    # block 1 is the last: its plan costs 0.1, the surplus 0.8 buys the 20 and 30 hours
    # (0.2 + 0.3), not the 40 one (0.4 > 0.3 left)
    assert pol.plan(_state(10.0, day, step=4, n_steps=8, carbon_left=0.9)) == {4, 5, 6}
    # with a third block to come, the later block absorbs the surplus first
    late = DayAheadPolicy(block=4, work_hours=1, reserve=0.0)
    late.decide(_state(10.0, day, step=0, n_steps=12))
    late.decide(_state(20.0, day[1:], step=1, n_steps=12, carbon_left=0.9))
    assert late.plan(_state(10.0, day, step=4, n_steps=12, carbon_left=0.9)) == {4}
    # the reserve is kept: 10 % of 0.9 leaves 0.71 after the plan, enough for 20 + 30 only
    kept = DayAheadPolicy(block=4, work_hours=1, reserve=0.1)
    kept.decide(_state(10.0, day, step=0, n_steps=8))
    kept.decide(_state(20.0, day[1:], step=1, n_steps=8, carbon_left=0.9))
    assert kept.plan(_state(10.0, day, step=4, n_steps=8, carbon_left=0.9)) == {4, 5, 6}
    tight = DayAheadPolicy(block=4, work_hours=1, reserve=0.5)
    tight.decide(_state(10.0, day, step=0, n_steps=8))
    tight.decide(_state(20.0, day[1:], step=1, n_steps=8, carbon_left=0.9))
    assert tight.plan(_state(10.0, day, step=4, n_steps=8, carbon_left=0.9)) == {4, 5}
    # without a budget (carbon_left stays 1) or with pacing off: the plain plan
    no_pacing = DayAheadPolicy(4, 1, spend_surplus=False)
    for plain, left in ((DayAheadPolicy(4, 1), 1.0), (no_pacing, 0.9)):
        plain.decide(_state(10.0, day, step=0, n_steps=8))
        plain.decide(_state(20.0, day[1:], step=1, n_steps=8, carbon_left=left))
        assert plain.plan(_state(10.0, day, step=4, n_steps=8, carbon_left=left)) == {4}
    with pytest.raises(ValueError, match="reserve"):
        DayAheadPolicy(reserve=1.0)


def test_day_ahead_pacing_spends_more_of_a_budget_and_never_exceeds_it() -> None:
    cfg = dataclasses.replace(
        BASE, policy="day-ahead", hours=72, train_unscreened=False, steer="optimizer"
    )
    spent: dict[bool, tuple[float, list[int]]] = {}
    for surplus in (False, True):
        eng = build_engine(dataclasses.replace(cfg, budget_g=4000.0))
        eng.policy = DayAheadPolicy(spend_surplus=surplus)
        eng.run()
        worked = [r.step for r in eng.records if r.n_release < cfg.gpus]
        assert eng.cum_carbon_g <= 4000.0 + 1e-6
        spent[surplus] = (eng.cum_carbon_g, worked)
    plain, paced = spent[False], spent[True]
    # the first day is planned alike; later days work more hours and spend more
    assert [s for s in paced[1] if s < 24] == [s for s in plain[1] if s < 24]
    assert len(paced[1]) > len(plain[1])
    assert paced[0] > plain[0]


def test_day_ahead_runs_a_study_and_spends_nothing_while_released() -> None:
    cfg = dataclasses.replace(
        BASE, policy="day-ahead", hours=48, train_unscreened=False, steer="optimizer"
    )
    eng = build_engine(cfg)
    eng.run()
    assert eng.step_index == 48
    worked = [r for r in eng.records if r.n_release < cfg.gpus]
    assert len(worked) == 2 * 6  # six hours of each 24-hour block
    for r in eng.records:
        if r.n_release == cfg.gpus:
            assert r.energy_j == 0.0 and r.carbon_g == 0.0
    assert eng.trained_x


def test_static_split_with_release() -> None:
    s = _state(100.0, [])
    assert StaticPolicy(0.5).decide(s) == 4
    assert StaticPolicy(0.5, release=0.25).decide(s) == Allocation(4, 2, 2)
    with pytest.raises(ValueError, match="release"):
        StaticPolicy(0.75, release=0.5)


def test_a_full_queue_trains_its_best_even_when_it_adds_nothing() -> None:
    cfg = dataclasses.replace(BASE, train_unscreened=False, queue_capacity=3)
    for full_queue, expect_train in ((True, True), (False, False)):
        eng = build_engine(dataclasses.replace(cfg, train_full_queue=full_queue))
        # a trained cell whose estimate dominates every queued estimate
        eng.archs[1] = Arch(arch=1, estimated=np.array([-90.0, 1.0]), true=np.array([-95.0, 1.0]))
        eng.trained_x, eng.trained_y = [1], [np.array([-95.0, 1.0])]
        for a, acc in ((2, -50.0), (3, -60.0), (4, -40.0)):
            eng.archs[a] = Arch(arch=a, estimated=np.array([acc, 2.0]))
            eng.queue.append(a)
        picked = eng._pop_screened()
        assert (picked is not None) == expect_train
        if expect_train:
            assert picked == 3  # the lowest dominance number: the best of the queue
        # with room in the queue nothing trains either way: estimating is still worth it
        eng.queue = eng.queue[:1]
        assert eng._pop_screened() is None
