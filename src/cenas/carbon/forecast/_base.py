"""The :class:`Forecaster` interface and helpers shared by all forecasting models.

CE-NAS (Zhao et al., "CE-NAS: An End-to-End Carbon-Efficient Neural Architecture Search
Framework", NeurIPS 2024) schedules GPU work by a forecast of the grid's carbon intensity over
the next hours. Every model here forecasts hours ``[at, at + horizon)`` from data strictly
before ``at``; the base class enforces that by cutting the trace before handing it to the model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cenas.carbon._trace import CarbonTrace, to_utc_hour
from cenas.errors import CenasError

_HOUR = pd.Timedelta(hours=1)


class ForecastError(CenasError):
    """A forecast that cannot be made: bad horizon, short history, unfitted model, bad period."""


def as_trace_list(traces: CarbonTrace | Sequence[CarbonTrace]) -> list[CarbonTrace]:
    """One trace or several as a non-empty list.

    Raises:
        ForecastError: If no trace is given.
    """
    out = [traces] if isinstance(traces, CarbonTrace) else list(traces)
    if not out:
        raise ForecastError("fit needs at least one trace")
    return out


def calendar_features(start: pd.Timestamp, hours: int) -> NDArray[np.float64]:
    """Calendar features of ``hours`` consecutive hours from ``start`` (UTC).

    Returns:
        ``(hours, 6)``: sin/cos of hour of day, day of week and day of year.
    """
    first = to_utc_hour(start).tz_convert(None).to_datetime64().astype("datetime64[h]")
    stamps = first + np.arange(hours).astype("timedelta64[h]")
    days = stamps.astype("datetime64[D]")
    hour = (stamps - days).astype(np.int64).astype(np.float64)
    day_no = days.astype(np.int64)
    dow = ((day_no + 3) % 7).astype(np.float64) + hour / 24.0  # 1970-01-01 was a Thursday
    doy = (days - days.astype("datetime64[Y]")).astype(np.int64) + hour / 24.0
    ang = np.stack([2 * np.pi * hour / 24.0, 2 * np.pi * dow / 7.0, 2 * np.pi * doy / 365.25], 1)
    return np.concatenate([np.sin(ang), np.cos(ang)], axis=1)[:, [0, 3, 1, 4, 2, 5]]


def hours_between(a: pd.Timestamp, b: pd.Timestamp) -> int:
    """Whole hours from ``a`` to ``b`` (negative when ``b`` is earlier)."""
    return int((b - a) / _HOUR)


class Forecaster(ABC):
    """Forecasts the next hours of carbon intensity from the hours before.

    Subclasses implement :meth:`_predict`, which only ever sees a trace that ends at the
    forecast origin, so no model can look ahead. Models that learn implement :meth:`_fit`.

    Attributes:
        name: Registry name of the model.
        max_horizon: Longest horizon (hours) the model can forecast.
        min_history: Hours of history before the origin the model needs.
        history_hours: Hours of history handed to the model (``None``: all that exists).
    """

    name: ClassVar[str] = "forecaster"
    max_horizon: int = 96
    min_history: int = 24
    history_hours: int | None = None

    def __init__(self) -> None:
        self._fitted = not self.needs_fit

    @property
    def needs_fit(self) -> bool:
        """Whether :meth:`fit` must be called before :meth:`predict`."""
        return False

    @property
    def fitted(self) -> bool:
        """Whether the model is ready to predict."""
        return self._fitted

    def fit(self, trace: CarbonTrace | Sequence[CarbonTrace]) -> Self:
        """Fit the model on one history trace or several (e.g. several zones).

        Returns:
            The model itself.
        """
        self._fit(as_trace_list(trace))
        self._fitted = True
        return self

    def _fit(self, traces: list[CarbonTrace]) -> None:  # noqa: B027 - optional hook
        """Learn from the traces; models without parameters do nothing."""

    def _check(self, horizon: int) -> None:
        if not self._fitted:
            raise ForecastError(f"{self.name}: model is not fitted; call fit() first")
        if not 1 <= int(horizon) <= self.max_horizon:
            raise ForecastError(
                f"{self.name}: horizon {horizon} h is outside 1..{self.max_horizon} h"
            )

    def history_before(self, trace: CarbonTrace, at: str | pd.Timestamp) -> CarbonTrace:
        """The part of ``trace`` strictly before ``at`` that the model is allowed to see.

        Raises:
            ForecastError: If the trace holds fewer than :attr:`min_history` hours before ``at``
                or ends before ``at``.
        """
        ts = to_utc_hour(at)
        n = hours_between(trace.start, ts)
        if n > len(trace):
            raise ForecastError(
                f"{self.name}: trace {trace.zone} ends at {trace.end.isoformat()}, before the "
                f"forecast origin {ts.isoformat()}"
            )
        if n < self.min_history:
            raise ForecastError(
                f"{self.name}: needs {self.min_history} h of history before {ts.isoformat()}, "
                f"trace {trace.zone} has {max(n, 0)} h"
            )
        first = 0 if self.history_hours is None else max(0, n - self.history_hours)
        return trace.window(trace.start + first * _HOUR, n - first)

    def predict(
        self, trace: CarbonTrace, at: str | pd.Timestamp, horizon: int
    ) -> NDArray[np.float64]:
        """Forecast hours ``[at, at + horizon)`` from the data of ``trace`` before ``at``.

        Args:
            trace: A trace covering at least :attr:`min_history` hours before ``at``; values at
                or after ``at`` are never read.
            at: Forecast origin (UTC, on the hour).
            horizon: Hours to forecast, ``1..max_horizon``.

        Returns:
            ``(horizon,)`` forecast in gCO2eq/kWh.

        Raises:
            ForecastError: On a horizon beyond :attr:`max_horizon`, too short a history, or an
                unfitted model.
        """
        self._check(horizon)
        out = self._predict(self.history_before(trace, at), int(horizon))
        return np.asarray(out, dtype=np.float64).reshape(int(horizon))

    def predict_many(
        self, trace: CarbonTrace, ats: Sequence[str | pd.Timestamp], horizon: int
    ) -> NDArray[np.float64]:
        """Forecasts from several origins at once (batched where the model allows).

        Returns:
            ``(len(ats), horizon)``.
        """
        self._check(horizon)
        if len(ats) == 0:
            return np.zeros((0, int(horizon)))
        hists = [self.history_before(trace, at) for at in ats]
        out = np.asarray(self._predict_many(hists, int(horizon)), dtype=np.float64)
        return out.reshape(len(ats), int(horizon))

    @abstractmethod
    def _predict(self, history: CarbonTrace, horizon: int) -> NDArray[np.float64]:
        """Forecast the ``horizon`` hours that follow ``history`` (which ends at the origin)."""

    def _predict_many(self, histories: list[CarbonTrace], horizon: int) -> NDArray[np.float64]:
        return np.stack([self._predict(h, horizon) for h in histories])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_horizon={self.max_horizon})"


__all__ = [
    "ForecastError",
    "Forecaster",
    "as_trace_list",
    "calendar_features",
    "hours_between",
]
