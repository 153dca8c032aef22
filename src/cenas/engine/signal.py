"""Carbon signals: the intensity the ledger charges and the forecast the policy sees.

The engine charges every joule at the *actual* intensity of its hour, and lets the policy
see a *forecast* of the coming hours. Where the forecast comes from is swappable: the trace
itself (:class:`TraceSignal`, clairvoyant) or a forecaster (:mod:`cenas.carbon.forecast`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cenas.carbon import CarbonTrace
from cenas.errors import ConfigError


@runtime_checkable
class Forecast(Protocol):
    """Anything that predicts the intensity of the hours after a given window hour."""

    def forecast(self, hour_offset: int) -> NDArray[np.float64]:
        """Predicted intensity of hours ``hour_offset + 1 ...`` of the window."""
        ...


class TraceSignal:
    """The trace's own future values as the forecast (perfect foresight).

    Args:
        trace: A trace covering the window (and, ideally, ``horizon`` hours beyond it).
        window_start: Offset of the window's first hour in ``trace``.
        horizon: Hours of look-ahead.
    """

    def __init__(self, trace: CarbonTrace, window_start: int = 0, horizon: int = 48) -> None:
        self.trace = trace
        self.window_start = window_start
        self.horizon = horizon

    def forecast(self, hour_offset: int) -> NDArray[np.float64]:
        a = self.window_start + hour_offset + 1
        return np.asarray(self.trace.values[a : a + self.horizon], dtype=np.float64)


class _WindowForecast(Protocol):
    def forecast(self, hour_offset: int) -> NDArray[np.float64]: ...


class NextHoursForecast:
    """Adapts a signal whose ``forecast(k)`` covers hours ``[k, k + h)`` of the window (as
    :class:`cenas.carbon.forecast.ForecastSignal` does) to the engine's convention: the hours
    *after* ``k``, i.e. ``forecast(k + 1)``, issued from data before hour ``k + 1`` — hour
    ``k``'s own intensity is known when the step starts.

    Args:
        source: The forecast signal.
        offset: Hour of ``source`` at which the engine's window starts (a source built once
            over a long trace serves many windows, sharing its cache of issued forecasts).
    """

    def __init__(self, source: _WindowForecast, offset: int = 0) -> None:
        self.source = source
        self.offset = int(offset)

    def forecast(self, hour_offset: int) -> NDArray[np.float64]:
        return np.asarray(self.source.forecast(self.offset + hour_offset + 1), dtype=np.float64)


class CarbonSignal:
    """Actual intensities of a window plus a forecast source.

    Args:
        trace: The full trace the window is cut from.
        start: Offset of the window's first hour in ``trace``.
        hours: Hours in the window.
        forecast: Forecast source (default: :class:`TraceSignal`, the actual future).
    """

    def __init__(
        self,
        trace: CarbonTrace,
        start: int,
        hours: int,
        forecast: Forecast | None = None,
    ) -> None:
        if start < 0 or start + hours > len(trace):
            raise ConfigError(
                f"trace {trace.source or trace.zone}: a {hours}-hour window starting at hour "
                f"{start} does not fit in its {len(trace)} hours"
            )
        self.trace = trace
        self.start = start
        self.hours = hours
        self.window = trace.values[start : start + hours]
        self.scale = float(max(trace.values.max(), 1.0))
        self.source: Forecast = forecast if forecast is not None else TraceSignal(trace, start)
        # what the policies see as the coming hours
        self.mode = "actual" if forecast is None else "forecast"

    def hour_utc(self, hour_offset: int) -> pd.Timestamp:
        """The trace hour that window hour ``hour_offset`` replays."""
        return self.trace.start + pd.Timedelta(hours=self.start + hour_offset)

    def intensity(self, hour_offset: int) -> float:
        """Actual intensity of window hour ``hour_offset``."""
        return float(self.window[hour_offset])

    def forecast(self, hour_offset: int) -> NDArray[np.float64]:
        """Forecast of the hours after window hour ``hour_offset``."""
        return self.source.forecast(hour_offset)


__all__ = ["CarbonSignal", "Forecast", "NextHoursForecast", "TraceSignal"]
