"""Tests of the offline carbon lower bound: hand-checked optima and a brute-force check."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest

from cenas.errors import ConfigError
from cenas.policy.bound import WorkItem, offline_bound

STEP = 3600.0
IDLE = 55.0


def grams(joules_times_intensity: float) -> float:
    """Grams from a sum of energy (J) times intensity (g/kWh)."""
    return joules_times_intensity / 3.6e6


def test_one_training_runs_in_the_cleanest_steps_and_releases_the_dirty_one() -> None:
    job = WorkItem(1.5 * STEP, 300.0)
    r = offline_bound([300.0, 100.0, 200.0], [job], n_gpus=1)
    expected = grams(100 * 300 * 3600 + 200 * (300 * 1800 + 55 * 1800))
    assert r.feasible
    assert r.carbon_g == pytest.approx(expected, rel=1e-7)
    assert r.energy_j == pytest.approx(300 * 3600 + 300 * 1800 + 55 * 1800, rel=1e-7)
    assert r.powered.tolist() == [0, 1, 1]
    np.testing.assert_allclose(r.work_s["train"], [0.0, 3600.0, 1800.0], atol=1e-6)


def test_without_release_the_idle_step_is_paid() -> None:
    job = WorkItem(1.5 * STEP, 300.0)
    r = offline_bound([300.0, 100.0, 200.0], [job], n_gpus=1, allow_release=False)
    expected = grams(100 * 300 * 3600 + 200 * (300 * 1800 + 55 * 1800) + 300 * 55 * 3600)
    assert r.carbon_g == pytest.approx(expected, rel=1e-7)
    assert r.powered.tolist() == [1, 1, 1]
    np.testing.assert_allclose(r.work_s["train"], [0.0, 3600.0, 1800.0], atol=1e-6)


def test_identical_trainings_share_the_clean_steps_and_pack_the_rest() -> None:
    """Two identical jobs on two GPUs: side by side in the cleanest step, then their two
    half steps back to back on one GPU (no idle half step), the other GPU released."""
    jobs = [WorkItem(1.5 * STEP, 300.0), WorkItem(1.5 * STEP, 300.0)]
    r = offline_bound([300.0, 100.0, 200.0], jobs, n_gpus=2)
    expected = grams(100 * 2 * 300 * 3600 + 200 * 300 * 3600)
    assert r.carbon_g == pytest.approx(expected, rel=1e-7)
    assert r.powered.tolist() == [0, 2, 1]
    np.testing.assert_allclose(r.work_s["train"], [0.0, 7200.0, 3600.0], atol=1e-6)


def test_divisible_work_packs_into_the_cleanest_step_a_training_cannot() -> None:
    ci = [300.0, 100.0, 200.0]
    spread = offline_bound(ci, [WorkItem(2 * STEP, 300.0, divisible=True, kind="estimate")], 4)
    assert spread.carbon_g == pytest.approx(grams(100 * 2 * 300 * 3600), rel=1e-7)
    assert spread.powered.tolist() == [0, 2, 0]
    np.testing.assert_allclose(spread.work_s["estimate"], [0.0, 7200.0, 0.0], atol=1e-6)
    single = offline_bound(ci, [WorkItem(2 * STEP, 300.0)], 4)
    assert single.carbon_g == pytest.approx(grams((100 + 200) * 300 * 3600), rel=1e-7)
    assert single.powered.tolist() == [0, 1, 1]
    np.testing.assert_allclose(single.work_s["train"], [0.0, 3600.0, 3600.0], atol=1e-6)
    assert single.carbon_g > spread.carbon_g


def test_work_beyond_capacity_is_infeasible() -> None:
    too_much = [WorkItem(2.5 * STEP, 250.0, divisible=True, kind="estimate")]
    r = offline_bound([100.0, 200.0], too_much, n_gpus=1)
    assert not r.feasible
    assert r.carbon_g == float("inf")
    assert r.energy_j == float("inf")
    assert r.work_s["estimate"].tolist() == [0.0, 0.0]
    # One training longer than its window fits, though the pool has room to spare.
    long_job = offline_bound([100.0, 200.0], [WorkItem(2.5 * STEP, 250.0)], n_gpus=8)
    assert not long_job.feasible


def test_availability_window_is_respected() -> None:
    ci = [100.0, 300.0, 200.0, 50.0]
    r = offline_bound(ci, [WorkItem(STEP, 300.0, first_step=1, last_step=2)], 1)
    assert r.carbon_g == pytest.approx(grams(200 * 300 * 3600), rel=1e-7)
    np.testing.assert_allclose(r.work_s["train"], [0.0, 0.0, 3600.0, 0.0], atol=1e-6)
    assert r.powered.tolist() == [0, 0, 1, 0]
    # The default window is the whole window: the cleanest step, the last.
    free = offline_bound(ci, [WorkItem(STEP, 300.0)], 1)
    assert free.carbon_g == pytest.approx(grams(50 * 300 * 3600), rel=1e-7)
    # A divisible item restricted to the first step has to take it, over two GPUs.
    early = offline_bound(ci, [WorkItem(2 * STEP, 300.0, divisible=True, last_step=0)], 2)
    assert early.powered.tolist() == [2, 0, 0, 0]
    assert early.carbon_g == pytest.approx(grams(100 * 2 * 300 * 3600), rel=1e-7)


def test_kinds_are_reported_apart() -> None:
    work = [
        WorkItem(STEP, 300.0, kind="train"),
        WorkItem(0.5 * STEP, 200.0, divisible=True, kind="estimate"),
        WorkItem(0.0, 280.0, divisible=True, kind="init"),
    ]
    r = offline_bound([100.0, 400.0], work, n_gpus=2)
    np.testing.assert_allclose(r.work_s["train"], [3600.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(r.work_s["estimate"], [1800.0, 0.0], atol=1e-6)
    assert r.work_s["init"].tolist() == [0.0, 0.0]
    expected = grams(100 * (300 * 3600 + 200 * 1800 + 55 * 1800))
    assert r.carbon_g == pytest.approx(expected, rel=1e-7)


def test_no_work_releases_everything_or_pays_idle() -> None:
    assert offline_bound([100.0, 200.0], [], n_gpus=3).carbon_g == pytest.approx(0.0, abs=1e-9)
    kept = offline_bound([100.0, 200.0], [], n_gpus=3, allow_release=False)
    assert kept.carbon_g == pytest.approx(grams(3 * 55 * 3600 * 300), rel=1e-7)
    assert kept.work_s == {}


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: WorkItem(-1.0, 300.0), "seconds"),
        (lambda: WorkItem(float("nan"), 300.0), "seconds"),
        (lambda: WorkItem(10.0, -3.0), "watts"),
        (lambda: WorkItem(10.0, 300.0, first_step=-1), "first_step"),
        (lambda: WorkItem(10.0, 300.0, first_step=3, last_step=2), "last_step"),
        (lambda: offline_bound([], [WorkItem(10.0, 300.0)], 1), "intensity"),
        (lambda: offline_bound([[1.0, 2.0]], [], 1), "intensity"),
        (lambda: offline_bound([100.0, float("inf")], [], 1), "intensity"),
        (lambda: offline_bound([100.0, -1.0], [], 1), "intensity"),
        (lambda: offline_bound([100.0], [], 0), "n_gpus"),
        (lambda: offline_bound([100.0], [], 2.5), "n_gpus"),  # type: ignore[arg-type]
        (lambda: offline_bound([100.0], [], 1, step_s=0.0), "step_s"),
        (lambda: offline_bound([100.0], [], 1, idle_w=-1.0), "idle_w"),
        (lambda: offline_bound([100.0], [], 1, time_limit_s=0.0), "time_limit_s"),
        (lambda: offline_bound([100.0], [WorkItem(10.0, 40.0)], 1), "watts"),
        (lambda: offline_bound([100.0], [WorkItem(10.0, 300.0, last_step=1)], 1), "window"),
        (lambda: offline_bound([100.0], [WorkItem(10.0, 300.0, first_step=1)], 1), "window"),
        (lambda: offline_bound([100.0], [(10.0, 300.0)], 1), "WorkItem"),  # type: ignore[list-item]
    ],
)
def test_bad_input_raises_config_error(call: Callable[[], object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        call()


def brute_force(ci: list[float], seconds: list[float], watts: list[float], n_gpus: int) -> float:
    """Two steps, two indivisible jobs: enumerate ``n`` and a grid of the first step's work.

    The seconds are multiples of a quarter step, so every vertex of the LP for fixed ``n``
    lies on the quarter-step grid and the grid search finds the exact optimum.
    """
    grid = np.arange(0, 4 * 2 + 1) / 4 * STEP
    best = float("inf")
    for n0, n1 in itertools.product(range(n_gpus + 1), repeat=2):
        for a, b in itertools.product(grid, repeat=2):
            first, second = (a, b), (seconds[0] - a, seconds[1] - b)
            if any(not 0 <= v <= STEP for v in (*first, *second)):
                continue
            if sum(first) > n0 * STEP or sum(second) > n1 * STEP:
                continue
            joules0 = IDLE * STEP * n0 + sum(
                (w - IDLE) * v for w, v in zip(watts, first, strict=True)
            )
            joules1 = IDLE * STEP * n1 + sum(
                (w - IDLE) * v for w, v in zip(watts, second, strict=True)
            )
            best = min(best, grams(ci[0] * joules0 + ci[1] * joules1))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_matches_brute_force_on_tiny_instances(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ci = rng.uniform(20.0, 500.0, size=2).round(1).tolist()
    seconds = (rng.integers(1, 9, size=2) / 4 * STEP).tolist()
    watts = rng.uniform(IDLE, 350.0, size=2).round(1).tolist()
    work = [WorkItem(s, w) for s, w in zip(seconds, watts, strict=True)]
    r = offline_bound(ci, work, n_gpus=2)
    expected = brute_force(ci, seconds, watts, 2)
    if expected == float("inf"):
        assert not r.feasible
    else:
        assert r.feasible
        assert r.carbon_g == pytest.approx(expected, rel=1e-7)


def test_bound_never_exceeds_a_concrete_schedule() -> None:
    """List scheduling (each job back to back on the least-loaded GPU, every GPU powered)
    is a real schedule of the work, so it costs at least the bound."""
    rng = np.random.default_rng(7)
    ci = rng.uniform(50.0, 450.0, size=24)
    n_gpus, horizon = 6, 24
    jobs = [WorkItem(float(s), 250.0) for s in rng.uniform(0.2, 3.0, size=30) * STEP]
    jobs.append(WorkItem(20 * STEP, 150.0, divisible=True, kind="estimate"))
    busy = np.zeros((n_gpus, horizon))  # extra watt-seconds above idle, per GPU and step
    ends = np.zeros(n_gpus)
    pieces = [(j.seconds, j.watts) for j in jobs[:-1]]
    pieces += [(20 * STEP / n_gpus, 150.0)] * n_gpus  # the divisible item, split evenly
    for seconds, watts in pieces:
        g = int(np.argmin(ends))
        start, stop = ends[g], ends[g] + seconds
        for h in range(horizon):
            overlap = max(0.0, min(stop, (h + 1) * STEP) - max(start, h * STEP))
            busy[g, h] += (watts - IDLE) * overlap
        ends[g] = stop
    assert ends.max() <= horizon * STEP
    concrete = grams(float(np.dot(ci, n_gpus * IDLE * STEP + busy.sum(axis=0))))
    kept = offline_bound(ci, jobs, n_gpus, allow_release=False)
    released = offline_bound(ci, jobs, n_gpus)
    assert released.carbon_g <= kept.carbon_g <= concrete
    assert released.carbon_g < kept.carbon_g  # some step is worth releasing
    for r in (kept, released):
        assert r.feasible
        assert np.all((r.powered >= 0) & (r.powered <= n_gpus))
        total = r.work_s["train"] + r.work_s["estimate"]
        assert np.all(total <= r.powered * STEP + 1e-6)
        assert r.work_s["train"].sum() == pytest.approx(sum(j.seconds for j in jobs[:-1]))
        assert r.work_s["estimate"].sum() == pytest.approx(20 * STEP)
    assert kept.powered.tolist() == [n_gpus] * horizon


def test_work_of_a_ledger_groups_trainings_and_pools_estimation() -> None:
    from cenas.engine.energy import LedgerEntry
    from cenas.policy.bound import work_of

    entries = [
        LedgerEntry(0, 0, "train", 1, 3600.0, 300.0 * 3600.0, 0.0),
        LedgerEntry(1, 0, "train", 1, 1200.0, 300.0 * 1200.0, 0.0),
        LedgerEntry(1, 1, "estimate", 2, 100.0, 180.0 * 100.0, 0.0),
        LedgerEntry(1, 1, "estimate", 3, 50.0, 180.0 * 50.0, 0.0),
        LedgerEntry(1, 1, "idle", None, 3450.0, 55.0 * 3450.0, 0.0),
        LedgerEntry(1, 2, "released", None, 3600.0, 0.0, 0.0),
        LedgerEntry(2, 0, "train", 4, 600.0, 300.0 * 600.0, 0.0),  # after the target step
    ]
    items = work_of(entries, until_step=1)
    trains = [w for w in items if w.kind == "train"]
    assert len(trains) == 1 and trains[0].seconds == 4800.0 and not trains[0].divisible
    assert trains[0].watts == pytest.approx(300.0)
    est = [w for w in items if w.kind == "estimate"]
    assert len(est) == 1 and est[0].seconds == 150.0 and est[0].divisible
    assert est[0].watts == pytest.approx(180.0)
