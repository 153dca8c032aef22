"""Every model fits and predicts on a small synthetic trace; transformer specifics."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cenas.carbon import CarbonTrace
from cenas.carbon.forecast import (
    Forecaster,
    ForecastError,
    TransformerConfig,
    TransformerForecaster,
    available_forecasters,
    rolling_origin_evaluate,
)
from tests.carbon.forecast.conftest import TINY_TRANSFORMER, synthetic_trace


@pytest.mark.parametrize("name", available_forecasters())
def test_fit_and_predict(
    name: str, trace: CarbonTrace, fitted: Callable[[str], Forecaster]
) -> None:
    model = fitted(name)
    assert model.fitted
    at = trace.start + pd.Timedelta(days=32)
    pred = model.predict(trace, at, model.max_horizon)
    assert pred.shape == (model.max_horizon,)
    assert np.all(np.isfinite(pred)) and np.all(pred >= 0)
    # in the right range of the synthetic series (200..400 g/kWh)
    assert 150 < pred.mean() < 450


def test_learned_models_beat_nothing(
    trace: CarbonTrace, fitted: Callable[[str], Forecaster]
) -> None:
    models = {n: fitted(n) for n in ("lag-regression", "previous-day", "last-week")}
    res = rolling_origin_evaluate(
        models, trace, trace.start + pd.Timedelta(days=30), horizon=48, fit=False
    )
    mape = res.table()
    # on a clean daily + weekly pattern the regression must beat repeating yesterday
    assert mape.loc["lag-regression"].mean() < mape.loc["previous-day"].mean()


def test_transformer_deterministic(trace: CarbonTrace, tmp_path: Path) -> None:
    train = trace.window(trace.start, 24 * 30)
    a = TransformerForecaster(**TINY_TRANSFORMER).fit(train)
    b = TransformerForecaster(**TINY_TRANSFORMER).fit(train)
    at = trace.start + pd.Timedelta(days=33)
    pa, pb = a.predict(trace, at, 48), b.predict(trace, at, 48)
    np.testing.assert_array_equal(pa, pb)
    assert a.report.epochs_run >= 1 and a.report.n_train > 0 and a.report.n_val > 0
    # save (arrays + JSON) and load back
    path = a.save(tmp_path / "m.json", zone="SYNTH")
    assert path.suffix == ".npz" and (tmp_path / "m.json").is_file()
    c = TransformerForecaster.load(tmp_path / "m")
    np.testing.assert_allclose(c.predict(trace, at, 48), pa, rtol=1e-6)
    assert c.meta["zone"] == "SYNTH"
    assert c.config == a.config and c.covariates == ("renewable_pct",)


def test_transformer_across_traces_and_fine_tune(trace: CarbonTrace) -> None:
    other = synthetic_trace(days=35, seed=3, start="2021-06-01")
    model = TransformerForecaster(**TINY_TRANSFORMER).fit(
        [trace.window(trace.start, 24 * 30), other]
    )
    at = trace.start + pd.Timedelta(days=33)
    before = model.predict(trace, at, 24)
    model.fine_tune(trace.window(trace.start, 24 * 30))
    after = model.predict(trace, at, 24)
    assert after.shape == (24,) and np.all(np.isfinite(after))
    assert not np.array_equal(before, after)
    with pytest.raises(ForecastError, match="fine_tune needs a fitted model"):
        TransformerForecaster(**TINY_TRANSFORMER).fine_tune(trace)


def test_transformer_without_covariates(trace: CarbonTrace) -> None:
    bare = CarbonTrace(values=trace.values, start=trace.start, zone="BARE")
    model = TransformerForecaster(**TINY_TRANSFORMER).fit(trace.window(trace.start, 24 * 30))
    pred = model.predict(bare, trace.start + pd.Timedelta(days=33), 48)
    assert np.all(np.isfinite(pred))
    plain = TransformerForecaster(**TINY_TRANSFORMER).fit(bare.window(bare.start, 24 * 30))
    assert plain.covariates == ()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"patch": 7}, "multiples of patch"),
        ({"d_model": 10, "n_heads": 4}, "multiple of n_heads"),
        ({"loss": "mse"}, "loss"),
        ({"bogus": 1}, "unknown setting"),
        ({"input_hours": 48, "skip_hours": 24}, "skip_hours"),
    ],
)
def test_transformer_config_errors(kw: dict[str, object], match: str) -> None:
    with pytest.raises(ForecastError, match=match):
        TransformerForecaster(**kw)


def test_config_round_trip() -> None:
    cfg = TransformerConfig(patch=12, covariates=("renewable_pct", "low_carbon_pct"))
    assert TransformerConfig.from_dict({**cfg.__dict__, "extra": 1}) == cfg


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ForecastError, match="does not exist"):
        TransformerForecaster.load(tmp_path / "none")
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    (tmp_path / "bad.npz").write_bytes(b"")
    with pytest.raises(ForecastError, match="cannot load"):
        TransformerForecaster.load(tmp_path / "bad.json")


def test_load_single_net_files(trace: CarbonTrace, tmp_path: Path) -> None:
    """Files written before seed ensembles and the longer linear path (one net, keys without
    ``members.0.``, no ``members``/``skip_hours`` in the config) still load."""
    old_kw = {**TINY_TRANSFORMER, "members": 1, "skip_hours": TINY_TRANSFORMER["input_hours"]}
    model = TransformerForecaster(**old_kw).fit(trace.window(trace.start, 24 * 30))
    npz = model.save(tmp_path / "m.json")
    with np.load(npz) as arrays:
        old = {k.removeprefix("members.0."): arrays[k] for k in arrays.files}
    np.savez(npz, **old)  # type: ignore[arg-type]
    info = json.loads((tmp_path / "m.json").read_text())
    del info["config"]["members"], info["config"]["skip_hours"]
    (tmp_path / "m.json").write_text(json.dumps(info))
    at = trace.start + pd.Timedelta(days=33)
    loaded = TransformerForecaster.load(tmp_path / "m.json")
    assert loaded.config == model.config
    np.testing.assert_allclose(
        loaded.predict(trace, at, 24), model.predict(trace, at, 24), rtol=1e-6
    )


def test_linear_path_reads_skip_hours(trace: CarbonTrace) -> None:
    """An hour before the encoder's window but inside ``skip_hours`` moves the forecast; an
    hour before ``skip_hours`` does not (the model is handed only what it may read)."""
    model = TransformerForecaster(**TINY_TRANSFORMER).fit(trace.window(trace.start, 24 * 30))
    assert model.min_history == TINY_TRANSFORMER["skip_hours"]
    at = trace.start + pd.Timedelta(days=33)
    n = 33 * 24
    base = model.predict(trace, at, 24)

    def bumped(hours_before: int) -> np.ndarray:
        values = trace.values.copy()
        values[n - hours_before] += 80.0
        other = CarbonTrace(values=values, start=trace.start, covariates=trace.covariates)
        return model.predict(other, at, 24)

    assert not np.allclose(bumped(60), base)  # 60 h before: read by the linear path only
    np.testing.assert_array_equal(bumped(73), base)  # beyond skip_hours (72)
