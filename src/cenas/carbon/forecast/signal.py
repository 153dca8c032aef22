"""Carbon signals for the search engine: forecast (causal) or actual (clairvoyant) intensity.

The CE-NAS scheduler (Zhao et al., NeurIPS 2024) decides at every hour of a search how to split
GPUs between energy-hungry training and cheap sampling, from the carbon intensity expected over
the next hours. A signal answers ``forecast(k)``: the intensity of hours ``[k, k + horizon)`` of
the engine's window (hour ``0`` is the window start), known at hour ``k``.

* :class:`ForecastSignal` predicts it with a :class:`Forecaster` from data strictly before hour
  ``k`` (or before the last refresh hour), caching one forecast per refresh.
* :class:`ActualSignal` returns the true values (an oracle, for upper-bound comparisons).

Both take the engine's window ``trace`` plus either a ``history`` trace that ends where the
window starts, or a longer trace and ``window_start``.

Example:
    >>> signal = ForecastSignal(window, load_pretrained("US-CAL-CISO"), 24, history=past)
    >>> signal.forecast(0)  # hours 0..23 of the window, from data before its start
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cenas.carbon._trace import CarbonTrace, to_utc_hour
from cenas.carbon.forecast._base import Forecaster, ForecastError, hours_between

_HOUR = pd.Timedelta(hours=1)


@runtime_checkable
class CarbonSignal(Protocol):
    """What the engine needs: a horizon and ``forecast(hour_offset)``."""

    horizon: int

    def forecast(self, hour_offset: int) -> NDArray[np.float64]:
        """Intensity of hours ``[hour_offset, hour_offset + horizon)`` of the window."""
        ...


def _resolve(
    trace: CarbonTrace, history: CarbonTrace | None, window_start: str | pd.Timestamp | None
) -> tuple[CarbonTrace, pd.Timestamp]:
    """The full data (history + window) and the time of hour offset 0."""
    if history is not None and window_start is not None:
        raise ForecastError("give either history or window_start, not both")
    if history is not None:
        if history.end < trace.start:
            raise ForecastError(
                f"history ends at {history.end.isoformat()}, not where the window starts "
                f"({trace.start.isoformat()})"
            )
        if history.start >= trace.start:
            return trace, trace.start
        before = history.window(history.start, hours_between(history.start, trace.start))
        return before.concat(trace), trace.start
    if window_start is None:
        return trace, trace.start
    start = to_utc_hour(window_start)
    if not trace.start <= start < trace.end:
        raise ForecastError(
            f"window start {start.isoformat()} is outside the trace "
            f"[{trace.start.isoformat()}, {trace.end.isoformat()})"
        )
    return trace, start


def _check_horizon(horizon: int) -> int:
    if int(horizon) < 1:
        raise ForecastError(f"signal horizon must be at least 1 h, got {horizon}")
    return int(horizon)


class ActualSignal:
    """The true intensity of the next ``horizon`` hours (a clairvoyant signal).

    Args:
        trace: The engine's window (hour offset 0 is its start, unless ``window_start``).
        horizon: Hours returned by :meth:`forecast`.
        history: Optional data before the window (unused by the oracle; accepted so that both
            signals take the same arguments).
        window_start: Time of hour offset 0 when ``trace`` is longer than the window.
    """

    def __init__(
        self,
        trace: CarbonTrace,
        horizon: int = 96,
        *,
        history: CarbonTrace | None = None,
        window_start: str | pd.Timestamp | None = None,
    ) -> None:
        self.horizon = _check_horizon(horizon)
        self.data, self.start = _resolve(trace, history, window_start)
        self._origin = hours_between(self.data.start, self.start)

    def forecast(self, hour_offset: int) -> NDArray[np.float64]:
        """True values of hours ``[hour_offset, hour_offset + horizon)`` of the window.

        Raises:
            ForecastError: If the trace does not cover those hours.
        """
        first = self._origin + int(hour_offset)
        if first < 0 or first + self.horizon > len(self.data):
            at = self.start + int(hour_offset) * _HOUR
            raise ForecastError(
                f"actual signal: hours [{at.isoformat()}, +{self.horizon} h) are outside the "
                f"trace [{self.data.start.isoformat()}, {self.data.end.isoformat()})"
            )
        return self.data.values[first : first + self.horizon].copy()


class ForecastSignal:
    """Forecast intensity of the next ``horizon`` hours, from data before the issue hour.

    With ``refresh_every=R`` a forecast is issued at window hours ``0, R, 2R, ...`` from the data
    before that hour and cached; ``forecast(k)`` returns its slice ``[k, k + horizon)``, so the
    model is asked for ``horizon + R - 1`` hours, which must not exceed its ``max_horizon``.
    ``R=1`` (default) re-forecasts every hour with everything observed so far.

    Args:
        trace: The engine's window (hour offset 0 is its start, unless ``window_start``).
        forecaster: A fitted forecaster. An unfitted one is fitted on the data before the
            window start.
        horizon: Hours returned by :meth:`forecast`.
        history: Data before the window, ending where ``trace`` starts (overlap is cut off).
        window_start: Time of hour offset 0 when ``trace`` itself holds the history.
        refresh_every: Hours between issued forecasts.
        batch: For models with a batched path (transformer, lag regression), how many issue
            hours are forecast together on a cache miss (all from data before each one's hour).

    Raises:
        ForecastError: If ``horizon + refresh_every - 1`` exceeds the model's ``max_horizon``,
            or the model needs fitting and there is too little data before the window.
    """

    def __init__(
        self,
        trace: CarbonTrace,
        forecaster: Forecaster,
        horizon: int = 96,
        *,
        history: CarbonTrace | None = None,
        window_start: str | pd.Timestamp | None = None,
        refresh_every: int = 1,
        batch: int = 24,
    ) -> None:
        self.horizon = _check_horizon(horizon)
        if int(refresh_every) < 1:
            raise ForecastError(f"refresh_every must be at least 1 h, got {refresh_every}")
        self.refresh_every = int(refresh_every)
        self.forecaster = forecaster
        self._length = self.horizon + self.refresh_every - 1
        if self._length > forecaster.max_horizon:
            raise ForecastError(
                f"{forecaster.name}: horizon {self.horizon} h refreshed every "
                f"{self.refresh_every} h needs {self._length} h, beyond its "
                f"{forecaster.max_horizon} h"
            )
        self.data, self.start = _resolve(trace, history, window_start)
        if not forecaster.fitted:
            n = hours_between(self.data.start, self.start)
            if n <= 0:
                raise ForecastError(
                    f"{forecaster.name}: not fitted and there is no data before the window start"
                )
            forecaster.fit(self.data.window(self.data.start, n))
        self._cache: dict[int, NDArray[np.float64]] = {}
        self.batch = max(1, int(batch))
        self._batched = type(forecaster)._predict_many is not Forecaster._predict_many

    def issue_offset(self, hour_offset: int) -> int:
        """Window hour at which the forecast used at ``hour_offset`` was issued."""
        return (int(hour_offset) // self.refresh_every) * self.refresh_every

    def _issued(self, issue: int) -> NDArray[np.float64]:
        if issue not in self._cache:
            if self._batched:
                # models with a batched path forecast the next issue hours in one call
                last = hours_between(self.start, self.data.end)
                ahead = [
                    i
                    for i in range(
                        issue, issue + self.batch * self.refresh_every, self.refresh_every
                    )
                    if i <= last and i not in self._cache
                ]
                self._predict_issues(ahead or [issue])
            else:
                at = self.start + issue * _HOUR
                self._cache[issue] = self.forecaster.predict(self.data, at, self._length)
        return self._cache[issue]

    def _predict_issues(self, issues: list[int]) -> None:
        ats = [self.start + i * _HOUR for i in issues]
        preds = self.forecaster.predict_many(self.data, ats, self._length)
        for i, p in zip(issues, preds, strict=True):
            self._cache[i] = p

    def forecast(self, hour_offset: int) -> NDArray[np.float64]:
        """Forecast of hours ``[hour_offset, hour_offset + horizon)`` of the window.

        Uses only the data before window hour ``issue_offset(hour_offset)``.

        Raises:
            ForecastError: If there is too little history before the issue hour, or the data
                ends before it.
        """
        issue = self.issue_offset(hour_offset)
        skip = int(hour_offset) - issue
        return self._issued(issue)[skip : skip + self.horizon].copy()

    def prefetch(self, hours: int) -> None:
        """Compute, in one batch, the forecasts used by window hours ``0 .. hours - 1``."""
        issues = sorted(
            {self.issue_offset(k) for k in range(max(0, int(hours)))} - set(self._cache)
        )
        if not issues:
            return
        self._predict_issues(issues)

    def clear(self) -> None:
        """Drop the cached forecasts."""
        self._cache.clear()


__all__ = ["ActualSignal", "CarbonSignal", "ForecastSignal"]
