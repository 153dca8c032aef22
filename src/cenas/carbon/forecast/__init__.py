"""Carbon-intensity forecasting for CE-NAS (Zhao et al., NeurIPS 2024).

* :class:`Forecaster`: ``fit(trace)`` and ``predict(trace, at, horizon)`` from data strictly
  before ``at`` (enforced by the base class).
* Models: :class:`TransformerForecaster` and the baselines :class:`PreviousDay`,
  :class:`SameHourLastWeek`, :class:`ETS`, :class:`SARIMA`, :class:`LagRegression`; by name
  through :func:`make_forecaster`.
* :func:`rolling_origin_evaluate`: daily forecasts over a test period, MAPE/MAE per day ahead.
* :func:`load_pretrained`: the shipped transformer of a bundled zone.
* :class:`ForecastSignal` / :class:`ActualSignal` (in :mod:`cenas.carbon.forecast.signal`):
  what the search engine consumes.
"""

from __future__ import annotations

from cenas.carbon.forecast._base import Forecaster, ForecastError, calendar_features
from cenas.carbon.forecast._baselines import (
    ETS,
    SARIMA,
    LagRegression,
    PreviousDay,
    SameHourLastWeek,
)
from cenas.carbon.forecast._evaluate import (
    EvaluationResult,
    forecast_origins,
    mae,
    mape,
    plot_week,
    rolling_origin_evaluate,
)
from cenas.carbon.forecast._pretrained import (
    load_pretrained,
    pretrained_dir,
    pretrained_zones,
    train_base,
    train_zone,
)
from cenas.carbon.forecast._registry import available_forecasters, make_forecaster
from cenas.carbon.forecast._transformer import (
    TrainingReport,
    TransformerConfig,
    TransformerForecaster,
)
from cenas.carbon.forecast.signal import ActualSignal, CarbonSignal, ForecastSignal

__all__ = [
    "ETS",
    "SARIMA",
    "ActualSignal",
    "CarbonSignal",
    "EvaluationResult",
    "ForecastError",
    "ForecastSignal",
    "Forecaster",
    "LagRegression",
    "PreviousDay",
    "SameHourLastWeek",
    "TrainingReport",
    "TransformerConfig",
    "TransformerForecaster",
    "available_forecasters",
    "calendar_features",
    "forecast_origins",
    "load_pretrained",
    "mae",
    "make_forecaster",
    "mape",
    "plot_week",
    "pretrained_dir",
    "pretrained_zones",
    "rolling_origin_evaluate",
    "train_base",
    "train_zone",
]
