"""The Forecaster contract: no look-ahead, horizon and history checks, every model."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from cenas.carbon import CarbonTrace
from cenas.carbon.forecast import Forecaster, ForecastError, available_forecasters, make_forecaster
from tests.carbon.forecast.conftest import SMALL_KW

ALL = available_forecasters()


def _tamper(trace: CarbonTrace, at: pd.Timestamp) -> CarbonTrace:
    """The trace with every value and covariate at or after ``at`` replaced by junk."""
    k = trace.offset_of(at)
    values = trace.values.copy()
    values[k:] = np.linspace(5000, 10, len(trace) - k)
    covs = {}
    for name, cov in trace.covariates.items():
        c = np.asarray(cov).copy()
        c[k:] = 99.0
        covs[name] = c
    return CarbonTrace(values=values, start=trace.start, zone=trace.zone, covariates=covs)


def test_registry_names() -> None:
    assert set(ALL) == {
        "transformer",
        "previous-day",
        "last-week",
        "ets",
        "sarima",
        "lag-regression",
    }
    with pytest.raises(ForecastError, match="unknown forecaster"):
        make_forecaster("prophet")
    with pytest.raises(ForecastError, match="ets"):
        make_forecaster("ets", bogus=1)


@pytest.mark.parametrize("name", ALL)
def test_no_look_ahead(name: str, trace: CarbonTrace, fitted: Callable[[str], Forecaster]) -> None:
    model = fitted(name)
    at = trace.start + pd.Timedelta(hours=24 * 33 + 5)
    horizon = min(48, model.max_horizon)
    clean = model.predict(trace, at, horizon)
    dirty = model.predict(_tamper(trace, at), at, horizon)
    assert clean.shape == (horizon,)
    assert np.all(np.isfinite(clean))
    np.testing.assert_array_equal(clean, dirty)
    # a trace that simply ends at the origin gives the same forecast too
    cut = trace.window(trace.start, trace.offset_of(at))
    np.testing.assert_array_equal(clean, model.predict(cut, at, horizon))
    # and the batched path agrees with the single one
    many = model.predict_many(trace, [at, at + pd.Timedelta(hours=24)], horizon)
    np.testing.assert_allclose(many[0], clean, rtol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_horizon_and_history_errors(
    name: str, trace: CarbonTrace, fitted: Callable[[str], Forecaster]
) -> None:
    model = fitted(name)
    at = trace.start + pd.Timedelta(days=35)
    with pytest.raises(ForecastError, match="horizon") as exc:
        model.predict(trace, at, model.max_horizon + 1)
    assert "\n" not in str(exc.value)
    with pytest.raises(ForecastError, match="horizon"):
        model.predict(trace, at, 0)
    early = trace.start + pd.Timedelta(hours=model.min_history - 1)
    with pytest.raises(ForecastError, match="history") as exc:
        model.predict(trace, early, 24)
    assert "\n" not in str(exc.value)
    with pytest.raises(ForecastError, match="before the forecast origin"):
        model.predict(trace, trace.end + pd.Timedelta(hours=1), 24)
    # exactly at the end of the trace is fine: all the history is there
    assert model.predict(trace, trace.end, 24).shape == (24,)


@pytest.mark.parametrize("name", ["transformer", "lag-regression"])
def test_unfitted_model_errors(name: str, trace: CarbonTrace) -> None:
    model = make_forecaster(name, **SMALL_KW[name])
    assert not model.fitted
    with pytest.raises(ForecastError, match="not fitted"):
        model.predict(trace, trace.start + pd.Timedelta(days=20), 24)


def test_naive_models_exact(trace: CarbonTrace) -> None:
    at = trace.start + pd.Timedelta(days=20)
    k = trace.offset_of(at)
    prev = make_forecaster("previous-day").predict(trace, at, 60)
    np.testing.assert_array_equal(prev[:24], trace.values[k - 24 : k])
    np.testing.assert_array_equal(prev[24:48], trace.values[k - 24 : k])
    np.testing.assert_array_equal(prev[48:], trace.values[k - 24 : k - 12])
    week = make_forecaster("last-week").predict(trace, at, 96)
    np.testing.assert_array_equal(week, trace.values[k - 168 : k - 72])
    with pytest.raises(ForecastError, match="168 h of history"):
        make_forecaster("last-week").predict(trace, trace.start + pd.Timedelta(days=6), 24)


def test_fit_needs_a_trace() -> None:
    with pytest.raises(ForecastError, match="at least one trace"):
        make_forecaster("lag-regression").fit([])


def test_fit_too_short(trace: CarbonTrace) -> None:
    short = trace.window(trace.start, 100)
    with pytest.raises(ForecastError, match="needs at least"):
        make_forecaster("transformer", **SMALL_KW["transformer"]).fit(short)
    with pytest.raises(ForecastError, match="needs at least"):
        make_forecaster("lag-regression", **SMALL_KW["lag-regression"]).fit(short)
