"""`cenas forecast` commands: evaluate, train, predict, models."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from cenas.carbon import CarbonTrace
    from cenas.carbon.forecast import EvaluationResult, Forecaster

app = typer.Typer(
    help="Carbon-intensity forecasting: evaluate, train, predict.", no_args_is_help=True
)
_out = Console(soft_wrap=True)

DEFAULT_MODELS = "transformer,previous-day,last-week,lag-regression"
BUNDLED_TRAIN_UNTIL = "2023-01-01"
BUNDLED_TEST_UNTIL = "2024-01-01"


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _error(msg: str) -> Exception:
    from cenas.carbon.forecast import ForecastError

    return ForecastError(msg)


FillGapsOpt = Annotated[
    int,
    typer.Option("--fill-gaps", help="With --trace: interpolate gaps of at most N missing hours."),
]
ValueColumnOpt = Annotated[
    str | None,
    typer.Option(
        "--value-column",
        help="With --trace: the column to read (default value, or the intensity column of an "
        "Electricity Maps export).",
    ),
]


def _load_data(
    zone: str | None, trace: Path | None, fill_gaps: int = 0, value_column: str | None = None
) -> CarbonTrace:
    from cenas.carbon import load_bundled, load_trace

    if trace is None and (fill_gaps or value_column is not None):
        raise _error("--fill-gaps and --value-column apply to --trace files")
    if fill_gaps < 0:
        raise _error(f"--fill-gaps: must be 0 or more hours, got {fill_gaps}")
    if trace is not None:
        return load_trace(trace, fill_gaps=fill_gaps, value_column=value_column)
    assert zone is not None
    return load_bundled(zone)


def _make_models(
    names: list[str],
    zone: str,
    train_until: str,
    pretrained: bool,
    epochs: int | None,
    seed: int,
) -> dict[str, Forecaster]:
    from cenas.carbon import to_utc_hour
    from cenas.carbon.forecast import (
        load_pretrained,
        make_forecaster,
        pretrained_zones,
    )

    models: dict[str, Forecaster] = {}
    for name in names:
        key = name.lower()
        if key == "transformer":
            have = {z.lower() for z in pretrained_zones()}
            if pretrained and zone.lower() in have:
                model = load_pretrained(zone)
                until = model.meta.get("train_until")
                if until is not None and to_utc_hour(until) <= to_utc_hour(train_until):
                    models[key] = model
                    continue
            kw: dict[str, object] = {"seed": seed}
            if epochs is not None:
                kw["epochs"] = epochs
            models[key] = make_forecaster(key, **kw)
        else:
            models[key] = make_forecaster(key)
    return models


def _result_table(res: EvaluationResult) -> Table:
    n_days = -(-res.horizon // 24)
    table = Table(
        title=(
            f"{res.zone}: {res.n_origins} forecasts at {res.issue_hour:02d}:00 UTC, "
            f"{res.test_from.date()} .. {res.test_until.date()}; MAPEk in %, MAEk in g/kWh, "
            f"k = days ahead"
        ),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("model", no_wrap=True, min_width=14)
    for d in range(1, n_days + 1):
        table.add_column(f"MAPE{d}", justify="right", no_wrap=True)
    for d in range(1, n_days + 1):
        table.add_column(f"MAE{d}", justify="right", no_wrap=True)
    mape = res.table("mape").to_numpy(dtype=float)
    mae = res.table("mae").to_numpy(dtype=float)
    for i, name in enumerate(res.models):
        table.add_row(
            name,
            *[f"{v:.2f}" for v in mape[i]],
            *[f"{v:.1f}" for v in mae[i]],
        )
    return table


@app.command()
def evaluate(
    zone: Annotated[
        list[str] | None,
        typer.Option("--zone", help="Bundled zone (repeat or comma-separate for several)."),
    ] = None,
    trace: Annotated[
        Path | None, typer.Option("--trace", help="A carbon-intensity CSV instead of a zone.")
    ] = None,
    fill_gaps: FillGapsOpt = 0,
    value_column: ValueColumnOpt = None,
    train_until: Annotated[
        str | None,
        typer.Option(help="End (exclusive) of training data; default for a zone: 2023-01-01."),
    ] = None,
    test_from: Annotated[
        str | None, typer.Option(help="Start of the test period; default: --train-until.")
    ] = None,
    test_until: Annotated[
        str | None,
        typer.Option(
            help="End (exclusive) of the test period; default: 2024-01-01 or the trace's end."
        ),
    ] = None,
    horizon: Annotated[int, typer.Option(help="Hours per forecast.")] = 96,
    issue_hour: Annotated[int, typer.Option(help="UTC hour at which forecasts are issued.")] = 0,
    models: Annotated[
        str, typer.Option(help="Comma-separated models (ets and sarima are slow).")
    ] = DEFAULT_MODELS,
    out: Annotated[
        Path | None,
        typer.Option(help="Write forecasts.csv, metrics.json and a PNG per zone here."),
    ] = None,
    week_start: Annotated[
        str | None, typer.Option(help="Week plotted in the PNG; default: from the first forecast.")
    ] = None,
    pretrained: Annotated[
        bool,
        typer.Option(help="Use a zone's shipped transformer when trained before train-until."),
    ] = True,
    epochs: Annotated[
        int | None, typer.Option(help="Transformer training epochs (when trained here).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Transformer training seed.")] = 0,
) -> None:
    """Rolling-origin evaluation: one forecast a day, MAPE/MAE per day ahead."""
    from cenas.carbon import BUNDLED_ZONES
    from cenas.carbon.forecast import available_forecasters, plot_week, rolling_origin_evaluate

    zones: list[str] = [z for item in (zone or []) for z in _split(item)]
    if bool(zones) == (trace is not None):
        raise _error("give either --zone or --trace")
    if trace is not None and train_until is None:
        raise _error("--train-until is required with --trace")
    names = [n.lower() for n in _split(models)]
    if not names:
        raise _error("--models is empty")
    for n in names:
        if n not in available_forecasters():
            raise _error(f"unknown model {n!r}; choose from {', '.join(available_forecasters())}")
    bundled = {z.lower(): z for z in BUNDLED_ZONES}
    for name in zones:
        if name.lower() not in bundled:
            raise _error(f"unknown zone {name!r}; bundled zones: {', '.join(BUNDLED_ZONES)}")
    if horizon < 1:
        raise _error(f"--horizon must be positive, got {horizon}")

    results = []
    targets: list[str | None] = [bundled[z.lower()] for z in zones] or [None]
    for target in targets:
        data = _load_data(target, trace, fill_gaps, value_column)
        t_until_train = train_until or BUNDLED_TRAIN_UNTIL
        t_until_test: str | None = test_until
        if t_until_test is None and target is not None:
            t_until_test = BUNDLED_TEST_UNTIL
        fcs = _make_models(names, data.zone, t_until_train, pretrained, epochs, seed)
        res = rolling_origin_evaluate(
            fcs,
            data,
            train_until=t_until_train,
            test_from=test_from,
            test_until=t_until_test,
            horizon=horizon,
            issue_hour=issue_hour,
        )
        _out.print(_result_table(res))
        results.append(res)

    if out is not None:
        import pandas as pd

        out.mkdir(parents=True, exist_ok=True)
        frames = []
        for res in results:
            f = res.forecasts.copy()
            f.insert(0, "zone", res.zone)
            frames.append(f)
        pd.concat(frames, ignore_index=True).to_csv(out / "forecasts.csv", index=False)
        metrics = {"zones": {r.zone: r.to_dict() for r in results}}
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        for res in results:
            week = week_start or res.forecasts["origin"].min()
            plot_week(res, week, out / f"forecast_{res.zone}.png")
        _out.print(f"wrote {out / 'forecasts.csv'}, {out / 'metrics.json'} and figures")


@app.command()
def train(
    zone: Annotated[str | None, typer.Option(help="Bundled zone to train on.")] = None,
    trace: Annotated[
        Path | None, typer.Option(help="Train on this CSV instead (name the model with --zone).")
    ] = None,
    fill_gaps: FillGapsOpt = 0,
    value_column: ValueColumnOpt = None,
    years: Annotated[str, typer.Option(help="Bundled years, comma-separated.")] = "2021,2022",
    out: Annotated[Path, typer.Option(help="Folder for <zone>.npz and <zone>.json.")] = Path("."),
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs.")] = None,
    members: Annotated[
        int | None, typer.Option(min=1, help="Networks (seeds) averaged; default 3.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
) -> None:
    """Train a zone's transformer forecaster (as the shipped ones were: 2021-2022)."""
    from cenas.carbon.forecast import train_zone

    if zone is None and trace is None:
        raise _error("give --zone (bundled) or --trace")
    try:
        year_list = [int(y) for y in _split(years)]
    except ValueError:
        raise _error(f"--years must be comma-separated years, got {years!r}") from None
    given = trace is not None or fill_gaps or value_column is not None
    data = _load_data(None, trace, fill_gaps, value_column) if given else None
    name = zone or (data.zone if data is not None else "custom")
    kw: dict[str, Any] = {"seed": seed}
    if epochs is not None:
        kw["epochs"] = epochs
    if members is not None:
        kw["members"] = members
    t0 = time.perf_counter()
    model = train_zone(name, year_list, out=out, trace=data, **kw)
    rep = model.report
    _out.print(
        f"{model.meta.get('zone', name)}: {rep.epochs_run} epochs (best {rep.best_epoch}, "
        f"validation loss {rep.best_val_loss:.4f}) in {time.perf_counter() - t0:.0f} s; "
        f"wrote {out / (str(model.meta.get('zone', name)) + '.npz')}"
    )


@app.command()
def predict(
    zone: Annotated[str, typer.Argument(help="Bundled zone (or a label with --trace).")],
    at: Annotated[str, typer.Option(help="Forecast origin, UTC, on the hour.")],
    horizon: Annotated[int, typer.Option(help="Hours to forecast.")] = 96,
    model: Annotated[str, typer.Option(help="Model; transformer = the zone's pretrained.")] = (
        "transformer"
    ),
    trace: Annotated[Path | None, typer.Option(help="Data to forecast from instead.")] = None,
    fill_gaps: FillGapsOpt = 0,
    value_column: ValueColumnOpt = None,
) -> None:
    """Print the forecast of the hours from --at (and the actual values where known)."""
    import numpy as np
    import pandas as pd

    from cenas.carbon import to_utc_hour
    from cenas.carbon.forecast import load_pretrained, make_forecaster

    when = to_utc_hour(at)
    name = model.lower()
    fc = load_pretrained(zone) if name == "transformer" else make_forecaster(name)
    data = _load_data(zone, trace, fill_gaps, value_column)
    if not fc.fitted:
        n = int((when - data.start) / pd.Timedelta(hours=1))
        if n <= 0:
            raise _error(f"{name}: no data before {when.isoformat()} to fit on")
        fc.fit(data.window(data.start, min(n, len(data))))
    pred = fc.predict(data, when, horizon)
    times = pd.date_range(when, periods=horizon, freq="h")
    offsets = ((times - data.start) / pd.Timedelta(hours=1)).astype(int)
    known = (offsets >= 0) & (offsets < len(data))
    table = Table(title=f"{data.zone}: {name} forecast from {when.isoformat()} (gCO2eq/kWh)")
    table.add_column("hour (UTC)")
    table.add_column("forecast", justify="right")
    if known.any():
        table.add_column("actual", justify="right")
        table.add_column("error %", justify="right")
    for i, t in enumerate(times):
        row = [t.strftime("%Y-%m-%d %H:%M"), f"{pred[i]:.1f}"]
        if known.any():
            if known[i]:
                a = float(data.values[offsets[i]])
                err = abs(pred[i] - a) / a * 100 if a else float("nan")
                row += [f"{a:.1f}", f"{err:.1f}"]
            else:
                row += ["", ""]
        table.add_row(*row)
    _out.print(table)
    if known.all():
        truth = data.values[np.asarray(offsets)]
        ok = truth != 0
        err_pct = float(np.mean(np.abs(pred[ok] - truth[ok]) / truth[ok]) * 100)
        _out.print(f"MAPE {err_pct:.2f} %")


@app.command("models")
def list_models() -> None:
    """List forecasting models and the zones with a pretrained transformer."""
    from cenas.carbon.forecast import available_forecasters, pretrained_zones

    _out.print("models: " + ", ".join(available_forecasters()))
    _out.print("pretrained transformer zones: " + (", ".join(pretrained_zones()) or "none"))
