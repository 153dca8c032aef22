"""The shipped pretrained transformers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cenas.carbon import load_bundled
from cenas.carbon.forecast import (
    ForecastError,
    TransformerConfig,
    TransformerForecaster,
    load_pretrained,
    mape,
    pretrained_dir,
    pretrained_zones,
)

REQUIRED = ("US-CAL-CISO", "US-MIDA-PJM", "DE-LU")


def test_shipped_zones_and_sizes() -> None:
    zones = pretrained_zones()
    for zone in REQUIRED:
        assert zone in zones
    for zone in zones:
        npz = pretrained_dir() / f"{zone}.npz"
        assert npz.stat().st_size < 1_000_000
        info = json.loads((pretrained_dir() / f"{zone}.json").read_text())
        assert info["format"] == "cenas-transformer-forecaster"
        assert info["meta"]["train_until"].startswith("2023-01-01")
        # shipped with the defaults, i.e. what the documented training command produces
        assert TransformerConfig.from_dict(info["config"]) == TransformerConfig()


# MAPE (%) of the shipped transformer's 96-hour forecast issued at 2023-05-10 00:00 UTC
# (a day it never saw in training); measured with the shipped weights, so a changed model,
# a changed input pipeline or a wrong zone's weights fails here.
MAPE_96H = {"US-CAL-CISO": 16.044, "US-MIDA-PJM": 2.961, "DE-LU": 19.190}


@pytest.mark.parametrize("zone", REQUIRED)
def test_load_and_predict_96h(zone: str) -> None:
    model = load_pretrained(zone.lower())
    assert isinstance(model, TransformerForecaster)
    assert model.fitted and model.max_horizon == 96
    trace = load_bundled(zone, 2023)
    at = pd.Timestamp("2023-05-10", tz="UTC")
    pred = model.predict(trace, at, 96)
    actual = trace.window(at, 96).values
    assert pred.shape == (96,) and np.all(np.isfinite(pred))
    assert mape(actual, pred) == pytest.approx(MAPE_96H[zone], abs=5e-3)


def test_unknown_zone() -> None:
    with pytest.raises(ForecastError, match="no pretrained forecaster for zone 'XX'"):
        load_pretrained("XX")
