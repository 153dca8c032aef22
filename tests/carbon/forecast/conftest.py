"""Small synthetic traces and tiny models for the forecasting tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from cenas.carbon import CarbonTrace
from cenas.carbon.forecast import Forecaster, make_forecaster

TINY_TRANSFORMER = {
    "input_hours": 48,
    "skip_hours": 72,
    "horizon": 48,
    "patch": 12,
    "d_model": 16,
    "n_heads": 2,
    "n_layers": 1,
    "d_ff": 32,
    "epochs": 2,
    "val_days": 3,
    "stride": 4,
    "batch_size": 64,
    "members": 2,
}

SMALL_KW: dict[str, dict[str, object]] = {
    "transformer": TINY_TRANSFORMER,
    "previous-day": {},
    "last-week": {},
    "ets": {"fit_days": 7},
    "sarima": {"fit_days": 5, "order": (1, 0, 0), "seasonal_order": (0, 1, 0)},
    "lag-regression": {"lags": 48, "stride": 2},
}


def synthetic_trace(days: int = 40, seed: int = 0, start: str = "2022-01-01") -> CarbonTrace:
    """Daily and weekly cycle plus noise, with a renewable share covariate."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * 24)
    daily = 60 * np.sin(2 * np.pi * (t % 24) / 24)
    weekly = 20 * (((t // 24) % 7) >= 5)
    values = 300 + daily - weekly + rng.normal(0, 8, t.size)
    renewable = np.clip(50 - daily / 2 + rng.normal(0, 2, t.size), 0, 100)
    return CarbonTrace(
        values=values,
        start=pd.Timestamp(start, tz="UTC"),
        zone="SYNTH",
        source="synthetic",
        covariates={"renewable_pct": renewable},
    )


@pytest.fixture(scope="session")
def trace() -> CarbonTrace:
    return synthetic_trace()


@pytest.fixture(scope="session")
def fitted(trace: CarbonTrace) -> Callable[[str], Forecaster]:
    """A fitted small model per registry name (fitted once per session)."""
    cache: dict[str, Forecaster] = {}

    def get(name: str) -> Forecaster:
        if name not in cache:
            model = make_forecaster(name, **SMALL_KW[name])
            cache[name] = model.fit(trace.window(trace.start, 24 * 30))
        return cache[name]

    return get
