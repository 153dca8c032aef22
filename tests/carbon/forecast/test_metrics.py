"""MAPE/MAE and the rolling-origin evaluation on crafted series."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cenas.carbon import CarbonTrace
from cenas.carbon.forecast import (
    ForecastError,
    PreviousDay,
    SameHourLastWeek,
    forecast_origins,
    mae,
    mape,
    plot_week,
    rolling_origin_evaluate,
)


def test_mape_mae_by_hand() -> None:
    actual = [100.0, 200.0, 50.0, 0.0]
    forecast = [110.0, 150.0, 50.0, 7.0]
    # |10|/100, |50|/200, 0/50 -> (0.1 + 0.25 + 0) / 3; the zero actual is skipped
    assert mape(forecast, actual) == pytest.approx(100 * 0.35 / 3)
    assert mae(forecast, actual) == pytest.approx((10 + 50 + 0 + 7) / 4)
    assert math.isnan(mape([1.0], [0.0]))
    assert math.isnan(mae([], []))


def _steps(days: int) -> CarbonTrace:
    """Each day constant at 100 * (day number + 1): previous-day errors are known exactly."""
    values = np.repeat(100.0 * (np.arange(days) + 1), 24)
    return CarbonTrace(values=values, start=pd.Timestamp("2023-01-01", tz="UTC"), zone="STEP")


def test_rolling_origin_previous_day_by_hand() -> None:
    trace = _steps(12)
    res = rolling_origin_evaluate(
        {"prev": PreviousDay()}, trace, "2023-01-03", test_until="2023-01-13", horizon=48
    )
    # origins: days 3..11 (0-based 2..10): the whole 48 h must fit before 2023-01-13
    assert res.n_origins == 9
    assert list(res.forecasts["origin"].unique()[:2]) == [
        pd.Timestamp("2023-01-03", tz="UTC"),
        pd.Timestamp("2023-01-04", tz="UTC"),
    ]
    # forecast for day d (1-based d=3..) is 100 (d-1), actual day 1 ahead 100 d, day 2 100 (d+1)
    d = np.arange(3, 12)
    day1_mape = np.mean(100 / (100 * d)) * 100
    day2_mape = np.mean(200 / (100 * (d + 1))) * 100
    t = res.table("mape")
    assert t.loc["prev", 1] == pytest.approx(day1_mape)
    assert t.loc["prev", 2] == pytest.approx(day2_mape)
    assert res.table("mae").loc["prev", 1] == pytest.approx(100.0)
    assert res.table("mae").loc["prev", 2] == pytest.approx(200.0)
    rows = res.metrics[res.metrics["model"] == "prev"]
    assert list(rows["n"]) == [9 * 24, 9 * 24]
    info = res.to_dict()
    json.dumps(info)
    assert info["models"]["prev"]["mape"]["day1"] == pytest.approx(day1_mape, abs=1e-4)
    assert info["n_origins"] == 9


def test_perfect_weekly_series() -> None:
    t = np.arange(24 * 30)
    values = 200 + 50 * np.sin(2 * np.pi * t / 168)
    trace = CarbonTrace(values=values, start=pd.Timestamp("2023-03-01", tz="UTC"))
    res = rolling_origin_evaluate(
        [SameHourLastWeek(), PreviousDay()], trace, "2023-03-10", horizon=96, issue_hour=6
    )
    assert res.models == ["last-week", "previous-day"]
    assert np.allclose(res.table("mape").loc["last-week"], 0.0)
    assert (res.table("mape").loc["previous-day"] > 1.0).all()
    assert (res.forecasts["origin"].dt.hour == 6).all()


def test_partial_last_day() -> None:
    trace = _steps(10)
    res = rolling_origin_evaluate([PreviousDay()], trace, "2023-01-03", horizon=30)
    assert list(res.table().columns) == [1, 2]
    assert list(res.metrics["n"]) == [res.n_origins * 24, res.n_origins * 6]


def test_origins() -> None:
    a = pd.Timestamp("2023-01-01 05:00", tz="UTC")
    b = pd.Timestamp("2023-01-05", tz="UTC")
    got = forecast_origins(a, b, 24, 0)
    assert got == [pd.Timestamp(f"2023-01-0{d}", tz="UTC") for d in (2, 3, 4)]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"train_until": "2023-01-03", "test_until": "2023-02-01"}, "outside the data"),
        ({"train_until": "2023-01-03", "test_from": "2022-12-01"}, "outside the data"),
        ({"train_until": "2023-01-05", "test_from": "2023-01-03"}, "before the end of training"),
        ({"train_until": "2023-01-03", "test_until": "2023-01-04"}, "too short"),
        (
            {"train_until": "2023-01-03", "test_from": "2023-01-06", "test_until": "2023-01-05"},
            "empty",
        ),
        ({"train_until": "2023-01-03", "horizon": 200}, "horizon 200"),
        ({"train_until": "2023-01-03", "issue_hour": 24}, "issue hour"),
    ],
)
def test_evaluation_errors(kw: dict[str, object], match: str) -> None:
    with pytest.raises(ForecastError, match=match) as exc:
        rolling_origin_evaluate([PreviousDay()], _steps(10), **kw)  # type: ignore[arg-type]
    assert "\n" not in str(exc.value)


def test_history_too_short_for_model() -> None:
    with pytest.raises(ForecastError, match="168 h of history"):
        rolling_origin_evaluate([SameHourLastWeek()], _steps(10), "2023-01-03")


def test_plot_week(tmp_path: Path) -> None:
    res = rolling_origin_evaluate([PreviousDay()], _steps(12), "2023-01-03", horizon=72)
    out = plot_week(res, "2023-01-04", tmp_path / "w.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ForecastError, match="no forecasts"):
        plot_week(res, "2024-01-01", tmp_path / "x.png")
