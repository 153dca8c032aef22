"""ForecastSignal and ActualSignal: what the engine consumes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from cenas.carbon import CarbonTrace
from cenas.carbon.forecast import (
    ActualSignal,
    CarbonSignal,
    Forecaster,
    ForecastError,
    ForecastSignal,
    PreviousDay,
    make_forecaster,
)

H = pd.Timedelta(hours=1)


def _split(trace: CarbonTrace, day: int) -> tuple[CarbonTrace, CarbonTrace]:
    start = trace.start + pd.Timedelta(days=day)
    history = trace.window(trace.start, trace.offset_of(start))
    return history, trace.window(start, 24 * 5)


def test_actual_signal(trace: CarbonTrace) -> None:
    history, window = _split(trace, 30)
    sig = ActualSignal(window, 24, history=history)
    assert isinstance(sig, CarbonSignal)
    np.testing.assert_array_equal(sig.forecast(0), window.values[:24])
    np.testing.assert_array_equal(sig.forecast(5), window.values[5:29])
    same = ActualSignal(trace, 24, window_start=window.start)
    np.testing.assert_array_equal(same.forecast(7), sig.forecast(7))
    with pytest.raises(ForecastError, match="outside the trace"):
        sig.forecast(24 * 5 - 10)


def test_forecast_signal_hourly_matches_predict(
    trace: CarbonTrace, fitted: Callable[[str], Forecaster]
) -> None:
    model = fitted("transformer")
    history, window = _split(trace, 30)
    sig = ForecastSignal(window, model, 24, history=history)
    assert isinstance(sig, CarbonSignal)
    for k in (0, 1, 13):
        want = model.predict(trace, window.start + k * H, 24)
        np.testing.assert_allclose(sig.forecast(k), want, rtol=1e-6)
    # the same with a full trace and window_start
    full = ForecastSignal(trace, model, 24, window_start=window.start)
    np.testing.assert_allclose(full.forecast(13), sig.forecast(13), rtol=1e-6)


def test_forecast_signal_no_look_ahead(trace: CarbonTrace) -> None:
    history, window = _split(trace, 30)
    sig = ForecastSignal(window, PreviousDay(), 24, history=history)
    values = window.values.copy()
    values[10:] = 9999.0
    tampered = CarbonTrace(values=values, start=window.start, zone=window.zone)
    sig2 = ForecastSignal(tampered, PreviousDay(), 24, history=history)
    for k in range(11):
        np.testing.assert_array_equal(sig.forecast(k), sig2.forecast(k))
    assert not np.array_equal(sig.forecast(20), sig2.forecast(20))


def test_refresh_and_cache(trace: CarbonTrace) -> None:
    history, window = _split(trace, 30)
    calls: list[pd.Timestamp] = []

    class Counting(PreviousDay):
        def predict(self, trace: CarbonTrace, at: str | pd.Timestamp, horizon: int) -> np.ndarray:
            calls.append(pd.Timestamp(at))
            return super().predict(trace, at, horizon)

    sig = ForecastSignal(window, Counting(), 24, history=history, refresh_every=24)
    got = [sig.forecast(k) for k in range(80)]
    assert len(calls) == 4 and calls[1] == window.start + 24 * H
    assert sig.issue_offset(30) == 24
    issued = PreviousDay().predict(trace, window.start + 24 * H, 47)
    np.testing.assert_array_equal(got[30], issued[6:30])
    sig.forecast(5)
    assert len(calls) == 4  # cached
    with pytest.raises(ForecastError, match="beyond its 96 h"):
        ForecastSignal(window, PreviousDay(), 96, history=history, refresh_every=2)


def test_prefetch_batches(trace: CarbonTrace, fitted: Callable[[str], Forecaster]) -> None:
    model = fitted("lag-regression")
    history, window = _split(trace, 30)
    sig = ForecastSignal(window, model, 24, history=history)
    sig.prefetch(80)
    lazy = ForecastSignal(window, model, 24, history=history)
    for k in (0, 40, 79):
        np.testing.assert_allclose(sig.forecast(k), lazy.forecast(k), rtol=1e-9)


def test_signal_fits_unfitted_model_on_history(trace: CarbonTrace) -> None:
    history, window = _split(trace, 30)
    model = make_forecaster("lag-regression", lags=48)
    sig = ForecastSignal(window, model, 24, history=history)
    assert model.fitted
    assert sig.forecast(3).shape == (24,)


def test_signal_errors(trace: CarbonTrace) -> None:
    history, window = _split(trace, 30)
    with pytest.raises(ForecastError, match="either history or window_start"):
        ForecastSignal(window, PreviousDay(), 24, history=history, window_start=window.start)
    with pytest.raises(ForecastError, match="history ends"):
        ForecastSignal(window, PreviousDay(), 24, history=history.window(history.start, 100))
    with pytest.raises(ForecastError, match="outside the trace"):
        ActualSignal(trace, 24, window_start=trace.end + H)
    with pytest.raises(ForecastError, match="at least 1"):
        ActualSignal(trace, 0)
    no_history = ForecastSignal(window, PreviousDay(), 24)
    with pytest.raises(ForecastError, match="history"):
        no_history.forecast(0)
    assert no_history.forecast(24).shape == (24,)
