"""The carbon side of a study: its trace window and the signal its policy sees.

CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024) lets the allocation policy decide from the
carbon intensity of the coming hour and a forecast of the hours after it. These helpers turn
a :class:`~cenas.config.StudyConfig` into that input: :func:`resolve_trace` finds the trace
and the window's first hour, :func:`resolve_signal` decides between the actual future and a
forecast (``signal="auto"``), and :func:`build_signal` assembles the
:class:`~cenas.engine.signal.CarbonSignal` with the forecast of :func:`forecast_source`.

They are shared by simulated studies (:mod:`cenas.study`) and live studies
(:mod:`cenas.live`), so they sit below both; :mod:`cenas.study` re-exports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from cenas.carbon import CarbonTrace, load_bundled, load_trace, to_utc_hour
from cenas.config import DEFAULT_START, StudyConfig
from cenas.engine.signal import CarbonSignal, NextHoursForecast
from cenas.errors import ConfigError

if TYPE_CHECKING:  # the forecasters import torch: only when a study forecasts
    from cenas.carbon.forecast import Forecaster


def resolve_trace(config: StudyConfig) -> tuple[CarbonTrace, int]:
    """The study's trace and the offset of its window's first hour.

    Raises:
        ConfigError: If the window does not fit in the trace.
    """
    if config.trace is not None:
        trace = load_trace(
            config.trace,
            kind=config.kind,  # type: ignore[arg-type]
            fill_gaps=config.fill_gaps,
            value_column=config.value_column,
        )
        label = config.trace
        start = trace.start if config.start is None else to_utc_hour(config.start)
    else:
        trace = load_bundled(config.zone, kind=config.kind)  # type: ignore[arg-type]
        label = f"bundled trace {config.zone}"
        start = to_utc_hour(config.start or DEFAULT_START)
    offset = int((start - trace.start).total_seconds() // 3600)
    if not 0 <= offset < len(trace):
        raise ConfigError(
            f"start: {start.isoformat()} is outside {label} "
            f"[{trace.start.isoformat()}, {trace.end.isoformat()})"
        )
    if offset + config.hours > len(trace):
        raise ConfigError(
            f"hours: {label} has only {len(trace) - offset} hours from {start.isoformat()}, "
            f"shorter than the {config.hours}-hour time budget"
        )
    return trace, offset


AUTO_MIN_HISTORY = 28 * 24
"""Hours of a user's trace before the window for ``signal="auto"`` to fit a forecaster."""


def _uses_pretrained(config: StudyConfig) -> bool:
    from cenas.carbon.forecast import pretrained_zones

    return config.trace is None and config.kind == "direct" and config.zone in pretrained_zones()


def _forecaster(config: StudyConfig) -> Forecaster:
    """The shipped transformer of a bundled zone, else an unfitted lag regression."""
    from cenas.carbon.forecast import load_pretrained, make_forecaster

    if _uses_pretrained(config):
        return load_pretrained(config.zone)
    return make_forecaster("lag-regression")


def resolve_signal(config: StudyConfig, offset: int, model: Forecaster | None = None) -> str:
    """``actual`` or ``forecast``: what the study's policy sees.

    ``auto`` (the default) means the forecast whenever one can be issued without
    look-ahead: a bundled zone with a shipped transformer and its input history before the
    window, or any trace with at least :data:`AUTO_MIN_HISTORY` hours before the window to
    fit a lag regression on; otherwise the actual intensities.

    Args:
        config: The study configuration.
        offset: Hours of the trace before the window.
        model: The study's forecaster, if already loaded (see :func:`forecast_source`).
    """
    if config.signal != "auto":
        return config.signal
    if _uses_pretrained(config):
        need = (model or _forecaster(config)).min_history
    else:
        need = AUTO_MIN_HISTORY
    return "forecast" if offset >= need else "actual"


def build_signal(config: StudyConfig, trace: CarbonTrace, offset: int) -> CarbonSignal:
    """The carbon signal: actual intensities plus the configured forecast source."""
    model = _forecaster(config) if config.signal != "actual" else None
    forecast = None
    if resolve_signal(config, offset, model) == "forecast":
        forecast = forecast_source(config, trace, offset, model)
    return CarbonSignal(trace, offset, config.hours, forecast=forecast)


FORECAST_HORIZON = 24
"""Hours of forecast the policies see (the daily cycle)."""


def forecast_source(
    config: StudyConfig, trace: CarbonTrace, offset: int, model: Forecaster | None = None
) -> NextHoursForecast:
    """The forecast a study's policy sees: the shipped transformer of a bundled zone, or,
    for a user's trace, a lag regression fitted on the trace's data before the window.

    Every forecast is issued from data before the hour it is used in (no look-ahead).
    ``model`` is the forecaster :func:`build_signal` already loaded, if any.
    """
    from cenas.carbon.forecast import ForecastSignal

    window_start = trace.start + pd.Timedelta(hours=offset)
    signal = ForecastSignal(
        trace, model or _forecaster(config), FORECAST_HORIZON, window_start=window_start
    )
    signal.prefetch(config.hours + 1)
    return NextHoursForecast(signal)


__all__ = [
    "AUTO_MIN_HISTORY",
    "FORECAST_HORIZON",
    "build_signal",
    "forecast_source",
    "resolve_signal",
    "resolve_trace",
]
