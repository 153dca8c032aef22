"""Carbon-intensity forecasting benchmark (CE-NAS, Zhao et al., NeurIPS 2024).

Trains nothing by default: the transformer is the shipped pretrained model of each zone
(trained on 2021-2022). Baselines are fitted on 2021-2022 here. Test: one 96-hour forecast a
day, issued at 00:00 UTC, over 2023.

* Table A, all models: the days of four test months (January, April, July, October 2023);
  ETS and SARIMA are refit at every origin, which is why not every day of the year.
* Table B, the fast models: every day of 2023.

Also reported: the transformer's training time per zone (as recorded when it was trained) and
the median latency of one 96-hour forecast.

Usage::

    python benchmarks/forecast.py                     # evaluate, print, save results
    python benchmarks/forecast.py --train             # retrain the shipped transformers first
    python benchmarks/forecast.py --zones DE-LU --months 1 --models previous-day,transformer
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Sequence
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cenas.carbon import BUNDLED_ZONES, load_bundled
from cenas.carbon.forecast import (
    Forecaster,
    load_pretrained,
    mae,
    make_forecaster,
    mape,
    pretrained_dir,
    rolling_origin_evaluate,
    train_base,
    train_zone,
)
from cenas.study import git_commit

ROOT = Path(__file__).resolve().parents[1]
EVAL_ZONES = ("US-CAL-CISO", "US-MIDA-PJM", "DE-LU")
ALL_MODELS = ("transformer", "previous-day", "last-week", "ets", "sarima", "lag-regression")
FAST_MODELS = ("transformer", "previous-day", "last-week", "lag-regression")
TRAIN_UNTIL = "2023-01-01"
HORIZON = 96


def _models(zone: str, names: Sequence[str], train: object) -> dict[str, Forecaster]:
    out: dict[str, Forecaster] = {}
    for name in names:
        if name == "transformer":
            out[name] = load_pretrained(zone)
        else:
            out[name] = make_forecaster(name)
            if out[name].needs_fit:
                out[name].fit(train)  # type: ignore[arg-type]
    return out


def _pooled(forecasts: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (model, day), g in forecasts.groupby(["model", "day_ahead"], sort=False):
        rows.append(
            {
                "model": model,
                "day_ahead": int(day),
                "mape": mape(g["forecast"], g["actual"]),
                "mae": mae(g["forecast"], g["actual"]),
            }
        )
    return pd.DataFrame(rows)


def _print_table(title: str, metrics: pd.DataFrame, names: Sequence[str]) -> None:
    print(title)
    days = sorted(metrics["day_ahead"].unique())
    head = f"  {'model':<16}" + "".join(f"  MAPE d{d}" for d in days)
    head += "".join(f"  MAE d{d}" for d in days)
    print(head)
    for name in names:
        sub = metrics[metrics["model"] == name].set_index("day_ahead")
        line = f"  {name:<16}" + "".join(f"{sub.loc[d, 'mape']:9.2f}" for d in days)
        line += "".join(f"{sub.loc[d, 'mae']:8.1f}" for d in days)
        print(line)
    mp = metrics.pivot(index="model", columns="day_ahead", values="mape")
    if "transformer" in mp.index and "previous-day" in mp.index:
        gain = 100 * (1 - mp.loc["transformer"] / mp.loc["previous-day"])
        others = mp.drop(index=["transformer"])
        best = others.min()
        print(
            "  transformer vs previous-day: "
            + ", ".join(f"d{d} {gain[d]:+.1f}%" for d in days)
            + " (positive = lower MAPE)"
        )
        print(
            "  best other model per day:    "
            + ", ".join(f"d{d} {others[d].idxmin()} {best[d]:.2f}" for d in days)
        )
        checks = [
            f"d{d} {'met' if gain[d] >= 25.0 and mp.loc['transformer', d] < best[d] else 'not met'}"
            for d in days
            if d <= 3
        ]
        print(
            "  target (transformer >= 25% below previous-day and below every other model): "
            + ", ".join(checks)
        )


def _latency(zone: str, trace: object) -> float:
    model = load_pretrained(zone)
    at0 = pd.Timestamp("2023-03-01", tz="UTC")
    times = []
    for i in range(60):
        at = at0 + pd.Timedelta(hours=7 * i)
        t0 = time.perf_counter()
        model.predict(trace, at, HORIZON)  # type: ignore[arg-type]
        times.append(time.perf_counter() - t0)
    return float(np.median(times[10:]) * 1000)


def run_training(zones: Sequence[str]) -> None:
    """Retrain the shipped transformers: one cross-zone model, fine-tuned per zone."""
    print("training the cross-zone transformer on all bundled zones, 2021-2022 ...", flush=True)
    t0 = time.perf_counter()
    base = train_base()
    print(
        f"  cross-zone model: {base.report.epochs_run} epochs (best {base.report.best_epoch}) "
        f"in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    for zone in zones:
        t1 = time.perf_counter()
        model = train_zone(zone, base=base, out=pretrained_dir())
        print(
            f"  {zone}: fine-tuned {model.report.epochs_run} epochs "
            f"(best {model.report.best_epoch}) in {time.perf_counter() - t1:.0f} s; "
            f"total with the cross-zone model {model.report.train_seconds:.0f} s",
            flush=True,
        )


def run_evaluation(
    zones: Sequence[str], months: Sequence[int], names: Sequence[str], full_year: bool
) -> None:
    """Print tables A and B and the timing lines."""
    torch.set_num_threads(1)
    print(
        f"Forecast benchmark: train 2021-2022, test 2023, one {HORIZON} h forecast a day at "
        f"00:00 UTC; MAPE in %, MAE in gCO2eq/kWh; day k = hours 24(k-1)..24k-1 ahead."
    )
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread")
    print(f"git commit: {git_commit()}")
    timing = []
    for zone in zones:
        trace = load_bundled(zone, [2021, 2022, 2023])
        train = trace.between(trace.start, TRAIN_UNTIL)
        models = _models(zone, names, train)
        frames = []
        t0 = time.perf_counter()
        for m in months:
            start = pd.Timestamp(year=2023, month=m, day=1, tz="UTC")
            end = start + pd.offsets.MonthBegin(1)
            res = rolling_origin_evaluate(
                models, trace, TRAIN_UNTIL, start, end, horizon=HORIZON, fit=False
            )
            frames.append(res.forecasts)
        forecasts = pd.concat(frames, ignore_index=True)
        n = forecasts["origin"].nunique()
        print()
        _print_table(
            f"[A] {zone}: {n} forecasts over 2023 months {','.join(map(str, months))} "
            f"({time.perf_counter() - t0:.0f} s)",
            _pooled(forecasts),
            names,
        )
        if full_year:
            fast = {k: v for k, v in models.items() if k in FAST_MODELS}
            res = rolling_origin_evaluate(
                fast, trace, TRAIN_UNTIL, TRAIN_UNTIL, "2024-01-01", horizon=HORIZON, fit=False
            )
            print()
            _print_table(
                f"[B] {zone}: {res.n_origins} forecasts, every day of 2023 (fast models)",
                res.metrics,
                list(fast),
            )
        if "transformer" in names:
            meta = models["transformer"].meta  # type: ignore[attr-defined]
            timing.append((zone, meta, _latency(zone, trace)))
    if timing:
        print()
        print("transformer training time (recorded when trained, 1 thread) and latency:")
        for zone, meta, lat in timing:
            print(
                f"  {zone:<12} cross-zone {meta.get('base_train_seconds', float('nan')):6.0f} s "
                f"+ zone fine-tune {meta.get('zone_train_seconds', float('nan')):5.0f} s; "
                f"one {HORIZON} h forecast: median {lat:.1f} ms"
            )


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of the benchmark."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", action="store_true", help="retrain the shipped transformers first")
    p.add_argument("--train-zones", default=",".join(BUNDLED_ZONES))
    p.add_argument("--zones", default=",".join(EVAL_ZONES))
    p.add_argument("--months", default="1,4,7,10", help="2023 test months of table A")
    p.add_argument("--models", default=",".join(ALL_MODELS))
    p.add_argument("--no-full-year", action="store_true", help="skip table B")
    p.add_argument("--no-eval", action="store_true", help="only train")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "forecast.txt"))
    args = p.parse_args(argv)
    if args.train:
        run_training([z for z in args.train_zones.split(",") if z])
    if args.no_eval:
        return
    buf = io.StringIO()

    class Tee(io.TextIOBase):
        def write(self, s: str) -> int:
            sys.__stdout__.write(s)  # type: ignore[union-attr]
            sys.__stdout__.flush()  # type: ignore[union-attr]
            return buf.write(s)

    with redirect_stdout(Tee()):  # type: ignore[type-var]
        run_evaluation(
            [z for z in args.zones.split(",") if z],
            [int(m) for m in args.months.split(",") if m],
            [m for m in args.models.split(",") if m],
            not args.no_full_year,
        )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(buf.getvalue())
        print(f"saved {args.out}")


if __name__ == "__main__":
    main()
