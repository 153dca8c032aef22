"""compare's summary on a crafted set of runs, with the numbers it must give."""

from __future__ import annotations

import math

import pytest

from cenas.compare import RunResult, floor_carbon_g, summarise
from cenas.config import StudyConfig


def _run(policy: str, seed: int, budget: float, hv: float, c2t: float | None) -> RunResult:
    return RunResult(
        policy=policy,
        seed=seed,
        budget_g=budget,
        hv_ratio=hv,
        log_hv_diff=0.0,
        carbon_g=0.0,
        carbon_to_target_g=c2t,
        hours_to_target=None,
        n_trained=0,
        curve_log_hv=[],
        curve_carbon=[],
        curve_n_train=[],
    )


def test_summary_numbers_on_a_crafted_case() -> None:
    top, low = 2000.0, 1000.0
    c2t: dict[str, list[float | None]] = {
        "vanilla": [400.0, 900.0, None],
        "rl": [100.0, 300.0, 450.0],
        "clairvoyant": [200.0, None, None],
    }
    hv_low = {"vanilla": [0.5, 0.6, 0.7], "rl": [0.9, 0.8, 0.7], "clairvoyant": [0.1, 0.2, 0.3]}
    runs = []
    for p, values in c2t.items():
        for seed, value in enumerate(values):
            runs.append(_run(p, seed, top, 0.99, value))
            # the small budget's carbon to target must not be read
            runs.append(_run(p, seed, low, hv_low[p][seed], 1.0))
    base = StudyConfig(hours=6, gpus=2)
    s = summarise(base, list(c2t), [low, top], 0.5, runs[::-1], floor_g=50.0)
    rl, van, clv = (s["policies"][p] for p in ("rl", "vanilla", "clairvoyant"))
    assert rl["carbon_to_target_g"]["per_seed"] == [100.0, 300.0, 450.0]
    assert rl["carbon_to_target_g"]["median"] == 300.0
    assert van["carbon_to_target_g"]["median"] == 900.0  # (400, 900, inf)
    assert clv["carbon_to_target_g"]["median"] is None  # 2 of 3 seeds missed
    assert (rl["reached_target"], van["reached_target"], clv["reached_target"]) == (3, 2, 1)
    # geometric means of per-seed ratios over the seeds both reached
    assert rl["ratios"]["vanilla_over_policy"] == pytest.approx(math.sqrt(4.0 * 3.0), rel=1e-12)
    assert rl["ratio_pairs"]["vanilla"] == 2
    assert rl["ratios"]["policy_over_clairvoyant"] == pytest.approx(0.5, rel=1e-12)
    assert rl["ratio_pairs"]["clairvoyant"] == 1
    assert rl["ratios"]["policy_over_floor"] == pytest.approx((2 * 6 * 9) ** (1 / 3), rel=1e-12)
    assert van["ratios"]["vanilla_over_policy"] == pytest.approx(1.0, rel=1e-12)
    hv = rl["hv_ratio"][str(low)]
    assert hv["per_seed"] == [0.9, 0.8, 0.7]
    assert hv["mean"] == pytest.approx(0.8, rel=1e-12)
    assert hv["std"] == pytest.approx(0.1, rel=1e-12)
    assert s["floor_carbon_g"] == 50.0
    assert s["window"] == {
        "trace": "bundled US-CAL-CISO",
        "kind": "direct",
        "start": "2021-07-02T00:00:00+00:00",
        "end": "2021-07-02T06:00:00+00:00",
        "hours": 6,
    }
    assert "git_commit" in s["provenance"]


def test_one_seed_has_no_spread() -> None:
    runs = [_run("vanilla", 0, 1000.0, 0.9, None)]
    s = summarise(StudyConfig(hours=6, gpus=2), ["vanilla"], [1000.0], 0.5, runs, floor_g=None)
    assert s["policies"]["vanilla"]["hv_ratio"]["1000.0"]["std"] is None
    assert s["policies"]["vanilla"]["ratios"]["policy_over_floor"] is None


def test_floor_of_the_default_window_is_exact() -> None:
    # cheapest true-front subset reaching log10(HV_max − HV) <= 0.5 on nb201-cifar10-fpga:
    # 9,276.178888 GPU-seconds (the cheapest-first greedy needs 16,918.9), at 300 W and the
    # window's cleanest hour
    from cenas.study import resolve_trace

    cfg = StudyConfig()
    trace, offset = resolve_trace(cfg)
    cleanest = float(trace.values[offset : offset + cfg.hours].min())
    assert floor_carbon_g(cfg, 0.5) == pytest.approx(
        9276.178888 * 300.0 / 3.6e6 * cleanest, rel=1e-9
    )
