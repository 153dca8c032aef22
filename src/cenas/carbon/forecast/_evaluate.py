"""Rolling-origin evaluation of carbon-intensity forecasters.

One forecast per day, issued at a fixed hour over a test period, as a scheduler in CE-NAS
(Zhao et al., NeurIPS 2024) would receive them; errors are reported per day ahead (hours 0-23
are day 1, 24-47 day 2, ...).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from cenas.carbon._trace import CarbonTrace, to_utc_hour
from cenas.carbon.forecast._base import Forecaster, ForecastError, hours_between

_HOUR = pd.Timedelta(hours=1)


def mape(forecast: ArrayLike, actual: ArrayLike) -> float:
    """Mean absolute percentage error in percent, over hours whose actual value is not zero.

    Returns:
        ``nan`` when every actual value is zero (or there are none).
    """
    f = np.asarray(forecast, dtype=np.float64).ravel()
    a = np.asarray(actual, dtype=np.float64).ravel()
    ok = a != 0
    if not ok.any():
        return math.nan
    return float(np.mean(np.abs(f[ok] - a[ok]) / np.abs(a[ok])) * 100.0)


def mae(forecast: ArrayLike, actual: ArrayLike) -> float:
    """Mean absolute error in the unit of the series (gCO2eq/kWh)."""
    f = np.asarray(forecast, dtype=np.float64).ravel()
    a = np.asarray(actual, dtype=np.float64).ravel()
    if a.size == 0:
        return math.nan
    return float(np.mean(np.abs(f - a)))


@dataclass(frozen=True)
class EvaluationResult:
    """Forecasts and errors of a rolling-origin evaluation.

    Attributes:
        forecasts: One row per model, origin and lead hour: ``model, origin, lead, time,
            day_ahead, forecast, actual``.
        metrics: One row per model and day ahead: ``model, day_ahead, mape, mae, n``.
        zone: Zone of the trace.
        horizon: Hours per forecast.
        issue_hour: UTC hour at which forecasts are issued.
        train_until: End (exclusive) of the training period.
        test_from: Start of the test period.
        test_until: End (exclusive) of the test period.
        fit_seconds: Training wall time per model.
        predict_seconds: Wall time of all forecasts per model.
    """

    forecasts: pd.DataFrame
    metrics: pd.DataFrame
    zone: str
    horizon: int
    issue_hour: int
    train_until: pd.Timestamp
    test_from: pd.Timestamp
    test_until: pd.Timestamp
    fit_seconds: dict[str, float] = field(default_factory=dict)
    predict_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def models(self) -> list[str]:
        """Model names in evaluation order."""
        return list(dict.fromkeys(self.metrics["model"]))

    @property
    def n_origins(self) -> int:
        """Number of forecast origins."""
        return int(self.forecasts["origin"].nunique()) if len(self.forecasts) else 0

    def table(self, metric: Literal["mape", "mae"] = "mape") -> pd.DataFrame:
        """Models as rows, day ahead (1, 2, ...) as columns."""
        t = self.metrics.pivot(index="model", columns="day_ahead", values=metric)
        return t.loc[self.models]

    def to_dict(self) -> dict[str, Any]:
        """The content of ``metrics.json``: MAPE (%) and MAE per model and day ahead."""
        models: dict[str, Any] = {}
        for name in self.models:
            rows = self.metrics[self.metrics["model"] == name]
            days = [int(d) for d in rows["day_ahead"]]
            mapes = [float(v) for v in rows["mape"]]
            maes = [float(v) for v in rows["mae"]]
            models[name] = {
                "mape": {f"day{d}": _num(v) for d, v in zip(days, mapes, strict=True)},
                "mae": {f"day{d}": _num(v) for d, v in zip(days, maes, strict=True)},
                "fit_seconds": round(self.fit_seconds.get(name, 0.0), 3),
                "predict_seconds": round(self.predict_seconds.get(name, 0.0), 3),
            }
        return {
            "zone": self.zone,
            "horizon": self.horizon,
            "issue_hour": self.issue_hour,
            "train_until": self.train_until.isoformat(),
            "test_from": self.test_from.isoformat(),
            "test_until": self.test_until.isoformat(),
            "n_origins": self.n_origins,
            "units": {"mape": "percent", "mae": "gCO2eq/kWh"},
            "models": models,
        }


def _num(x: float) -> float | None:
    return None if not math.isfinite(float(x)) else round(float(x), 4)


def forecast_origins(
    test_from: pd.Timestamp, test_until: pd.Timestamp, horizon: int, issue_hour: int
) -> list[pd.Timestamp]:
    """Daily origins at ``issue_hour`` whose whole horizon lies in ``[test_from, test_until)``."""
    first = test_from.floor("D") + issue_hour * _HOUR
    if first < test_from:
        first += pd.Timedelta(days=1)
    out = []
    at = first
    while at + horizon * _HOUR <= test_until:
        out.append(at)
        at += pd.Timedelta(days=1)
    return out


def _named(models: Mapping[str, Forecaster] | Sequence[Forecaster]) -> dict[str, Forecaster]:
    if isinstance(models, Mapping):
        return dict(models)
    named: dict[str, Forecaster] = {}
    for m in models:
        key, i = m.name, 2
        while key in named:
            key, i = f"{m.name}-{i}", i + 1
        named[key] = m
    return named


def rolling_origin_evaluate(
    models: Mapping[str, Forecaster] | Sequence[Forecaster],
    trace: CarbonTrace,
    train_until: str | pd.Timestamp,
    test_from: str | pd.Timestamp | None = None,
    test_until: str | pd.Timestamp | None = None,
    horizon: int = 96,
    issue_hour: int = 0,
    fit: bool | Literal["auto"] = "auto",
) -> EvaluationResult:
    """Fit on the data before ``train_until`` and forecast once a day over the test period.

    Args:
        models: Forecasters, by name or as a list (named by their registry name).
        trace: Trace covering training and test periods.
        train_until: End (exclusive) of the training data.
        test_from: Start of the test period (default: ``train_until``).
        test_until: End (exclusive) of the test period (default: the end of the trace).
        horizon: Hours per forecast.
        issue_hour: UTC hour of day at which each forecast is issued.
        fit: ``True`` refits every model on the training data, ``False`` fits none, ``"auto"``
            fits those not fitted yet (e.g. keeps a pretrained transformer).

    Returns:
        Forecasts and per-day-ahead MAPE/MAE of every model.

    Raises:
        ForecastError: If the periods fall outside the data or overlap, the test period is too
            short for one forecast, a history is too short, or a horizon is beyond a model.
    """
    named = _named(models)
    if not named:
        raise ForecastError("no forecasters to evaluate")
    if not 0 <= issue_hour <= 23:
        raise ForecastError(f"issue hour must be 0..23, got {issue_hour}")
    train_end = to_utc_hour(train_until)
    t_from = train_end if test_from is None else to_utc_hour(test_from)
    t_until = trace.end if test_until is None else to_utc_hour(test_until)
    span = f"[{trace.start.isoformat()}, {trace.end.isoformat()})"
    if t_from >= t_until:
        raise ForecastError(f"test period [{t_from.isoformat()}, {t_until.isoformat()}) is empty")
    if t_from < trace.start or t_until > trace.end:
        raise ForecastError(
            f"test period [{t_from.isoformat()}, {t_until.isoformat()}) is outside the data "
            f"{span} of {trace.zone}"
        )
    if t_from < train_end:
        raise ForecastError(
            f"test period starts at {t_from.isoformat()}, before the end of training "
            f"{train_end.isoformat()}"
        )
    n_train = hours_between(trace.start, train_end)
    if n_train <= 0:
        raise ForecastError(
            f"training period ends at {train_end.isoformat()}, before the data {span} start"
        )
    for name, m in named.items():
        if not 1 <= horizon <= m.max_horizon:
            raise ForecastError(f"{name}: horizon {horizon} h is outside 1..{m.max_horizon} h")
    origins = forecast_origins(t_from, t_until, horizon, issue_hour)
    if not origins:
        raise ForecastError(
            f"test period [{t_from.isoformat()}, {t_until.isoformat()}) is too short for one "
            f"{horizon}-hour forecast issued at {issue_hour:02d}:00"
        )
    train = trace.window(trace.start, n_train)
    fit_s: dict[str, float] = {}
    for name, m in named.items():
        if fit is True or (fit == "auto" and not m.fitted):
            t0 = time.perf_counter()
            m.fit(train)
            fit_s[name] = time.perf_counter() - t0

    offsets = np.array([hours_between(trace.start, at) for at in origins])
    lead = np.arange(horizon)
    actual = trace.values[offsets[:, None] + lead[None, :]]
    n_days = -(-horizon // 24)
    frames, rows = [], []
    pred_s: dict[str, float] = {}
    times = pd.DatetimeIndex([at + int(h) * _HOUR for at in origins for h in lead])
    for name, m in named.items():
        t0 = time.perf_counter()
        pred = m.predict_many(trace, origins, horizon)
        pred_s[name] = time.perf_counter() - t0
        frames.append(
            pd.DataFrame(
                {
                    "model": name,
                    "origin": np.repeat(pd.DatetimeIndex(origins), horizon),
                    "lead": np.tile(lead, len(origins)),
                    "time": times,
                    "day_ahead": np.tile(lead // 24 + 1, len(origins)),
                    "forecast": pred.ravel(),
                    "actual": actual.ravel(),
                }
            )
        )
        for d in range(n_days):
            sl = slice(24 * d, min(24 * (d + 1), horizon))
            rows.append(
                {
                    "model": name,
                    "day_ahead": d + 1,
                    "mape": mape(pred[:, sl], actual[:, sl]),
                    "mae": mae(pred[:, sl], actual[:, sl]),
                    "n": int(actual[:, sl].size),
                }
            )
    return EvaluationResult(
        forecasts=pd.concat(frames, ignore_index=True),
        metrics=pd.DataFrame(rows),
        zone=trace.zone,
        horizon=horizon,
        issue_hour=issue_hour,
        train_until=train_end,
        test_from=t_from,
        test_until=t_until,
        fit_seconds=fit_s,
        predict_seconds=pred_s,
    )


def plot_week(
    result: EvaluationResult,
    week_start: str | pd.Timestamp,
    path: str | Path,
    days_ahead: Sequence[int] = (1, 3),
) -> Path:
    """Save a PNG of forecast vs actual over one week, one panel per day-ahead.

    Each panel stitches the forecasts' day-``k`` hours together, so it shows what a scheduler
    would have believed ``k`` days before each hour.

    Raises:
        ForecastError: If the week has no forecasts.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = to_utc_hour(week_start)
    end = start + pd.Timedelta(days=7)
    df = result.forecasts
    week = df[(df["time"] >= start) & (df["time"] < end)]
    if week.empty:
        raise ForecastError(
            f"no forecasts in the week from {start.isoformat()}; the test period is "
            f"[{result.test_from.isoformat()}, {result.test_until.isoformat()})"
        )
    days = [d for d in days_ahead if d <= -(-result.horizon // 24)] or [1]
    fig, axes = plt.subplots(
        len(days), 1, figsize=(11, 3.2 * len(days)), sharex=True, squeeze=False
    )
    truth = week.drop_duplicates("time").sort_values("time")
    for ax, d in zip(axes[:, 0], days, strict=True):
        ax.plot(truth["time"], truth["actual"], color="black", lw=2, label="actual")
        sub = week[week["day_ahead"] == d]
        for name in result.models:
            s = sub[sub["model"] == name].sort_values("time")
            ax.plot(s["time"], s["forecast"], lw=1.2, label=name)
        ax.set_ylabel("gCO2eq/kWh")
        ax.set_title(f"{result.zone}: day-{d}-ahead forecasts, week of {start.date()}")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize=8, ncol=2)
    fig.autofmt_xdate()
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


__all__ = [
    "EvaluationResult",
    "forecast_origins",
    "mae",
    "mape",
    "plot_week",
    "rolling_origin_evaluate",
]
