"""Baseline carbon-intensity forecasters: seasonal naive, Holt-Winters, SARIMA, lag regression.

These are the yardsticks for the CE-NAS forecaster (Zhao et al., NeurIPS 2024): a learned
model is only worth its training cost if it beats repeating yesterday.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cenas.carbon._trace import CarbonTrace
from cenas.carbon.forecast._base import Forecaster, ForecastError, calendar_features


def _tile_last(values: NDArray[np.float64], period: int, horizon: int) -> NDArray[np.float64]:
    last = values[-period:]
    reps = -(-horizon // period)
    return np.tile(last, reps)[:horizon]


class PreviousDay(Forecaster):
    """Seasonal naive forecast with a daily period: the last 24 hours, repeated.

    The simplest forecast CE-NAS (Zhao et al., NeurIPS 2024) can schedule by.
    """

    name = "previous-day"
    min_history = 24
    history_hours = 24

    def __init__(self, max_horizon: int = 96) -> None:
        super().__init__()
        self.max_horizon = max_horizon

    def _predict(self, history: CarbonTrace, horizon: int) -> NDArray[np.float64]:
        return _tile_last(history.values, 24, horizon)


class SameHourLastWeek(Forecaster):
    """Seasonal naive forecast with a weekly period: the value 168 hours earlier.

    A baseline for the CE-NAS forecaster (Zhao et al., NeurIPS 2024).
    """

    name = "last-week"
    min_history = 168
    history_hours = 168

    def __init__(self, max_horizon: int = 96) -> None:
        super().__init__()
        self.max_horizon = max_horizon

    def _predict(self, history: CarbonTrace, horizon: int) -> NDArray[np.float64]:
        return _tile_last(history.values, 168, horizon)


def _fallback(values: NDArray[np.float64], horizon: int) -> NDArray[np.float64]:
    return _tile_last(values, 24, horizon)


class ETS(Forecaster):
    """Holt-Winters exponential smoothing with daily seasonality, refit at every origin.

    Additive seasonality of period 24 and an optional damped additive trend (Holt 1957,
    Winters 1960; Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*), fitted by
    statsmodels on the last ``fit_days`` days only. A CE-NAS baseline (Zhao et al., NeurIPS
    2024).

    Args:
        fit_days: Days of history each fit uses.
        damped_trend: Whether to add a damped additive trend.
        max_horizon: Longest horizon in hours.
    """

    name = "ets"

    def __init__(
        self,
        fit_days: int = 21,
        damped_trend: bool = False,
        initialization: str = "estimated",
        max_horizon: int = 96,
    ) -> None:
        super().__init__()
        if fit_days < 3:
            raise ForecastError(f"ets: fit_days must be at least 3, got {fit_days}")
        self.fit_days = fit_days
        self.damped_trend = damped_trend
        self.initialization = initialization
        self.max_horizon = max_horizon
        self.min_history = 72
        self.history_hours = 24 * fit_days

    def _predict(self, history: CarbonTrace, horizon: int) -> NDArray[np.float64]:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        y = history.values
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = ExponentialSmoothing(
                    y,
                    trend="add" if self.damped_trend else None,
                    damped_trend=self.damped_trend,
                    seasonal="add",
                    seasonal_periods=24,
                    initialization_method=self.initialization,
                ).fit()
                out = np.asarray(model.forecast(horizon), dtype=np.float64)
        except (ValueError, np.linalg.LinAlgError):
            return _fallback(y, horizon)
        return out if np.all(np.isfinite(out)) else _fallback(y, horizon)


class SARIMA(Forecaster):
    """Seasonal ARIMA with a daily season, refit at every origin on the last few weeks.

    ``SARIMA(p,0,q)(P,1,Q)_24`` (Box & Jenkins) by statsmodels' state-space SARIMAX, with
    simple seasonal differencing to keep the state small. A CE-NAS baseline (Zhao et al.,
    NeurIPS 2024).

    Args:
        order: Non-seasonal ``(p, d, q)``.
        seasonal_order: Seasonal ``(P, D, Q)``; the period is 24.
        fit_days: Days of history each fit uses.
        max_horizon: Longest horizon in hours.
    """

    name = "sarima"

    def __init__(
        self,
        order: tuple[int, int, int] = (2, 0, 1),
        seasonal_order: tuple[int, int, int] = (0, 1, 1),
        fit_days: int = 14,
        max_horizon: int = 96,
    ) -> None:
        super().__init__()
        if fit_days < 4:
            raise ForecastError(f"sarima: fit_days must be at least 4, got {fit_days}")
        self.order = tuple(order)
        self.seasonal_order = (*tuple(seasonal_order), 24)
        self.fit_days = fit_days
        self.max_horizon = max_horizon
        self.min_history = 96
        self.history_hours = 24 * fit_days

    def _predict(self, history: CarbonTrace, horizon: int) -> NDArray[np.float64]:
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        y = history.values
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = SARIMAX(
                    y,
                    order=self.order,
                    seasonal_order=self.seasonal_order,
                    trend="n",
                    simple_differencing=True,
                    enforce_stationarity=False,
                    enforce_invertibility=False,
                ).fit(disp=False, maxiter=50)
                diff = np.asarray(model.forecast(horizon), dtype=np.float64)
        except (ValueError, np.linalg.LinAlgError):
            return _fallback(y, horizon)
        if not np.all(np.isfinite(diff)):
            return _fallback(y, horizon)
        # the model forecasts the seasonally differenced series: integrate it back
        full = np.concatenate([y[-24:], np.zeros(horizon)])
        for h in range(horizon):
            full[24 + h] = full[h] + diff[h]
        return np.maximum(full[24:], 0.0)


class LagRegression(Forecaster):
    """Direct multi-horizon ridge regression on lagged intensity and calendar features.

    At an origin it takes the last ``lags`` hours (scaled by their mean), the calendar
    features of the origin and the latest covariate values (their training mean when the trace
    has none), and predicts all ``max_horizon``
    hours at once with one multi-output ridge regression (Hoerl & Kennard 1970). A CE-NAS
    baseline (Zhao et al., NeurIPS 2024).

    Args:
        lags: Hours of history used as features (default two weeks, the history the
            transformer reads).
        alpha: Ridge penalty.
        stride: Hours between training origins.
        max_horizon: Longest horizon in hours.
    """

    name = "lag-regression"

    def __init__(
        self, lags: int = 336, alpha: float = 1.0, stride: int = 1, max_horizon: int = 96
    ) -> None:
        if lags < 24:
            raise ForecastError(f"lag-regression: lags must be at least 24, got {lags}")
        self.lags = lags
        self.alpha = alpha
        self.stride = max(1, stride)
        self.max_horizon = max_horizon
        self.min_history = lags
        self.history_hours = lags
        self.covariates: tuple[str, ...] = ()
        self._model: Any = None
        self._cov_fill = np.zeros(0)
        super().__init__()

    @property
    def needs_fit(self) -> bool:
        return True

    def _features(
        self, window: NDArray[np.float64], covs: NDArray[np.float64], cal: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        level = np.maximum(window.mean(axis=1, keepdims=True), 1.0)
        x = np.concatenate([window / level - 1.0, np.log(level), covs, cal], axis=1)
        return x, level

    def _fit(self, traces: list[CarbonTrace]) -> None:
        from sklearn.linear_model import Ridge

        self.covariates = tuple(
            sorted(set.intersection(*(set(t.covariates) for t in traces)) & {"renewable_pct"})
        )
        xs, ys = [], []
        for tr in traces:
            n = len(tr)
            origins = np.arange(self.lags, n - self.max_horizon + 1, self.stride)
            if origins.size == 0:
                raise ForecastError(
                    f"lag-regression: trace {tr.zone} has {n} h, needs at least "
                    f"{self.lags + self.max_horizon} h to fit"
                )
            idx = origins[:, None] + np.arange(-self.lags, 0)[None, :]
            window = tr.values[idx]
            covs = (
                np.stack([tr.covariates[c][origins - 1] / 100.0 for c in self.covariates], 1)
                if self.covariates
                else np.zeros((origins.size, 0))
            )
            cal = calendar_features(tr.start, n)[origins]
            x, level = self._features(window, covs, cal)
            y = tr.values[origins[:, None] + np.arange(self.max_horizon)[None, :]] / level - 1.0
            xs.append(x)
            ys.append(y)
        model = Ridge(alpha=self.alpha)
        x_all = np.concatenate(xs)
        k = len(self.covariates)
        self._cov_fill = x_all[:, self.lags + 1 : self.lags + 1 + k].mean(axis=0)
        model.fit(x_all, np.concatenate(ys))
        self._model = model

    def _predict(self, history: CarbonTrace, horizon: int) -> NDArray[np.float64]:
        return self._predict_many([history], horizon)[0]

    def _predict_many(self, histories: list[CarbonTrace], horizon: int) -> NDArray[np.float64]:
        window = np.stack([h.values[-self.lags :] for h in histories])
        covs = np.array(
            [
                [
                    h.covariates[c][-1] / 100.0 if c in h.covariates else self._cov_fill[j]
                    for j, c in enumerate(self.covariates)
                ]
                for h in histories
            ]
        ).reshape(len(histories), len(self.covariates))
        cal = np.concatenate([calendar_features(h.end, 1) for h in histories])
        x, level = self._features(window, covs, cal)
        y = self._model.predict(x)
        return np.maximum(level * (1.0 + y[:, :horizon]), 0.0)


__all__ = ["ETS", "SARIMA", "LagRegression", "PreviousDay", "SameHourLastWeek"]
