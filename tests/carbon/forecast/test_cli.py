"""`cenas forecast` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cenas.cli import _register, app, main
from cenas.cli._forecast import app as forecast_app
from tests.carbon.forecast.conftest import synthetic_trace

runner = CliRunner()
ENV = {"COLUMNS": "160"}


@pytest.fixture(scope="module")
def csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    trace = synthetic_trace(days=40)
    path = tmp_path_factory.mktemp("cli") / "mine.csv"
    rows = [f"{t.isoformat()},{v:.3f}" for t, v in zip(trace.index, trace.values, strict=True)]
    path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    return path


def test_evaluate_user_csv(csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    args = [
        "evaluate", "--trace", str(csv), "--train-until", "2022-01-29",
        "--test-until", "2022-02-10", "--horizon", "48",
        "--models", "previous-day,last-week,lag-regression", "--out", str(out),
    ]  # fmt: skip
    result = runner.invoke(forecast_app, args, env=ENV)
    assert result.exit_code == 0, result.output
    assert "MAPE1" in result.output and "lag-regression" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    custom = metrics["zones"]["custom"]
    assert set(custom["models"]) == {"previous-day", "last-week", "lag-regression"}
    assert set(custom["models"]["previous-day"]["mape"]) == {"day1", "day2"}
    assert custom["n_origins"] == 11
    assert (out / "forecasts.csv").read_text().startswith("zone,model,origin")
    assert (out / "forecast_custom.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_tiny_transformer(csv: Path) -> None:
    args = [
        "evaluate", "--trace", str(csv), "--train-until", "2022-02-01",
        "--models", "transformer", "--epochs", "1",
    ]  # fmt: skip
    result = runner.invoke(forecast_app, args, env=ENV)
    # the default transformer needs 168 h input + 96 h horizon + validation: 31 days suffice
    assert result.exit_code == 0, result.output
    assert "transformer" in result.output


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--test-until", "2023-01-01"], "outside the data"),
        (["--horizon", "120"], "horizon 120"),
        (["--models", "prophet"], "unknown model"),
        (["--train-until", "2022-01-03", "--models", "last-week"], "history"),
    ],
)
def test_evaluate_errors_exit_2(
    csv: Path, extra: list[str], match: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["forecast", "evaluate", "--trace", str(csv), "--train-until", "2022-01-29"]
    with pytest.raises(SystemExit) as exc:
        main([*args, *extra])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert match in err and len(err.splitlines()) == 1


def test_predict_bundled_zone() -> None:
    _register()
    result = runner.invoke(
        app,
        ["forecast", "predict", "US-CAL-CISO", "--at", "2023-06-01", "--horizon", "24"],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    assert "2023-06-01 23:00" in result.output and "actual" in result.output
    assert "MAPE" in result.output


def test_predict_user_trace_baseline(csv: Path) -> None:
    result = runner.invoke(
        forecast_app,
        ["predict", "mine", "--trace", str(csv), "--at", "2022-02-10", "--model", "previous-day"],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    assert "actual" not in result.output  # the trace ends before the forecast
    lines = [ln for ln in result.output.splitlines() if "2022-02-1" in ln]
    assert len(lines) >= 96


def test_models_command() -> None:
    result = runner.invoke(forecast_app, ["models"], env=ENV)
    assert result.exit_code == 0
    assert "sarima" in result.output and "US-CAL-CISO" in result.output


def test_no_source_is_an_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["forecast", "evaluate"])
    assert exc.value.code == 2


def test_train_user_trace(csv: Path, tmp_path: Path) -> None:
    from cenas.carbon.forecast import TransformerForecaster

    result = runner.invoke(
        forecast_app,
        [
            "train",
            "--trace",
            str(csv),
            "--zone",
            "MINE",
            "--epochs",
            "1",
            "--members",
            "1",
            "--out",
            str(tmp_path),
        ],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    model = TransformerForecaster.load(tmp_path / "MINE.json")
    assert model.meta["zone"] == "MINE" and model.report.epochs_run == 1
