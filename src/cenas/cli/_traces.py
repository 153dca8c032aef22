"""`cenas traces` commands: list the bundled carbon-intensity traces and summarise one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table

from cenas.carbon import (
    BUNDLED_ZONES,
    CarbonTrace,
    Kind,
    bundled_traces,
    load_bundled,
    load_trace,
)
from cenas.errors import CenasError, TraceError

app = typer.Typer(
    help="Hourly grid carbon-intensity traces (bundled Electricity Maps data or your own files).",
    no_args_is_help=True,
)

PERCENTILES: tuple[int, ...] = (5, 25, 50, 75, 95)


@dataclass(frozen=True)
class TraceSummary:
    """Summary statistics of a trace (gCO2eq/kWh; hours and days in UTC).

    Attributes:
        hours: Number of hours.
        mean: Mean intensity.
        std: Standard deviation.
        min: Smallest value.
        max: Largest value.
        percentiles: Percentile -> value, for :data:`PERCENTILES`.
        daily_swing: Mean over (complete or partial) UTC days of the day's max minus min.
        by_hour: Mean intensity for each hour of the day (UTC), ``(24,)``; NaN if absent.
    """

    hours: int
    mean: float
    std: float
    min: float
    max: float
    percentiles: dict[int, float]
    daily_swing: float
    by_hour: NDArray[np.float64]


def summarise(trace: CarbonTrace) -> TraceSummary:
    """Compute the statistics ``cenas traces show`` prints."""
    series = trace.to_series()
    stamps = pd.DatetimeIndex(series.index)
    values = trace.values
    days = series.groupby(stamps.floor("D"))
    swing = (days.max() - days.min()).mean()
    by_hour = series.groupby(stamps.hour).mean().reindex(range(24))
    return TraceSummary(
        hours=len(trace),
        mean=float(values.mean()),
        std=float(values.std()),
        min=float(values.min()),
        max=float(values.max()),
        percentiles={p: float(np.percentile(values, p)) for p in PERCENTILES},
        daily_swing=float(swing),
        by_hour=by_hour.to_numpy(dtype=np.float64),
    )


def plot_trace(trace: CarbonTrace, out: Path) -> None:
    """Write a PNG: the hourly series with its daily mean, and the hour-of-day profile.

    Raises:
        CenasError: If the file cannot be written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = trace.to_series()
    stamps = pd.DatetimeIndex(series.index)
    index = stamps.tz_localize(None)
    daily = series.resample("D").mean()
    hours = series.groupby(stamps.hour)
    mean, low, high = hours.mean(), hours.quantile(0.05), hours.quantile(0.95)

    fig = Figure(figsize=(12, 7), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, height_ratios=(3, 2))
    top.plot(index, trace.values, lw=0.4, color="tab:gray", alpha=0.6, label="hourly")
    top.plot(
        pd.DatetimeIndex(daily.index).tz_localize(None) + pd.Timedelta(hours=12),  # at noon
        daily.to_numpy(),
        lw=1.5,
        color="tab:green",
        label="daily mean",
    )
    top.set_ylabel("gCO₂eq/kWh")
    top.set_xlabel("time (UTC)")
    top.set_title(
        f"{trace.zone} — {trace.kind} carbon intensity, "
        f"{trace.start:%Y-%m-%d} to {trace.end:%Y-%m-%d} (UTC)"
    )
    top.legend(loc="upper right")
    top.grid(alpha=0.3)
    top.set_ylim(bottom=0)
    bottom.fill_between(
        mean.index, low.to_numpy(), high.to_numpy(), color="tab:green", alpha=0.2, label="5–95 %"
    )
    bottom.plot(mean.index, mean.to_numpy(), marker="o", color="tab:green", label="mean")
    bottom.set_xticks(range(0, 24, 2))
    bottom.set_xlim(-0.5, 23.5)
    bottom.set_xlabel("hour of day (UTC)")
    bottom.set_ylabel("gCO₂eq/kWh")
    bottom.set_title("hour-of-day profile")
    bottom.legend(loc="upper right")
    bottom.grid(alpha=0.3)
    fig.text(
        0.995,
        0.002,
        "data: Electricity Maps (ODbL)" if trace.source.startswith("bundled") else trace.source,
        ha="right",
        va="bottom",
        fontsize=7,
        color="gray",
    )
    try:
        fig.savefig(out, dpi=110, format="png")
    except OSError as exc:
        raise CenasError(f"{out}: cannot write the plot ({exc.strerror or exc})") from None


@app.command("list")
def list_traces() -> None:
    """List the bundled traces: zone, year, hours and direct intensity statistics."""
    table = Table(title="Bundled hourly carbon intensity (Electricity Maps, ODbL)")
    table.add_column("zone")
    table.add_column("year", justify="right")
    table.add_column("hours", justify="right")
    table.add_column("mean", justify="right")
    table.add_column("min", justify="right")
    table.add_column("max", justify="right")
    for zone, year in bundled_traces():
        trace = load_bundled(zone, year)
        table.add_row(
            zone,
            str(year),
            str(len(trace)),
            f"{trace.values.mean():.1f}",
            f"{trace.values.min():.1f}",
            f"{trace.values.max():.1f}",
        )
    console = Console()
    console.print(table)
    console.print("direct intensity in gCO₂eq/kWh; hours in UTC")


def _stats_table(trace: CarbonTrace, summary: TraceSummary) -> Table:
    table = Table(title=f"{trace.zone} ({trace.kind}), gCO₂eq/kWh", show_header=False)
    table.add_column("statistic")
    table.add_column("value", justify="right")
    table.add_row("source", trace.source)
    if trace.column:
        table.add_row("column read", trace.column)
    if trace.naive_utc:
        table.add_row("timestamps", "no UTC offset in the file: read as UTC")
    table.add_row("period (UTC)", f"{trace.start:%Y-%m-%d %H:%M} to {trace.end:%Y-%m-%d %H:%M}")
    table.add_row("hours", str(summary.hours))
    table.add_row("mean", f"{summary.mean:.1f}")
    table.add_row("std", f"{summary.std:.1f}")
    table.add_row("min", f"{summary.min:.1f}")
    for p, v in summary.percentiles.items():
        table.add_row(f"p{p}", f"{v:.1f}")
    table.add_row("max", f"{summary.max:.1f}")
    table.add_row("mean daily swing (max-min)", f"{summary.daily_swing:.1f}")
    for name, cov in sorted(trace.covariates.items()):
        table.add_row(f"mean {name}", f"{float(np.mean(cov)):.1f}")
    return table


def _hour_table(summary: TraceSummary) -> Table:
    table = Table(title="mean by hour of day (UTC)")
    columns = 4
    rows = 24 // columns
    for _ in range(columns):
        table.add_column("hour", justify="right")
        table.add_column("mean", justify="right")
    for r in range(rows):
        cells: list[str] = []
        for c in range(columns):
            h = c * rows + r
            value = summary.by_hour[h]
            cells += [f"{h:02d}", "-" if np.isnan(value) else f"{value:.1f}"]
        table.add_row(*cells)
    return table


@app.command("show")
def show(
    zone: Annotated[
        str | None,
        typer.Argument(help=f"Bundled zone: {', '.join(BUNDLED_ZONES)}.", show_default=False),
    ] = None,
    year: Annotated[
        int | None, typer.Option("--year", "-y", help="Year (default: all bundled years).")
    ] = None,
    kind: Annotated[
        str, typer.Option("--kind", "-k", help="direct (operational) or lca (life cycle).")
    ] = "direct",
    trace_file: Annotated[
        Path | None,
        typer.Option(
            "--trace",
            "-t",
            help="A trace file of your own (Electricity Maps export or timestamp,value CSV).",
        ),
    ] = None,
    fill_gaps: Annotated[
        int,
        typer.Option(
            "--fill-gaps", min=0, help="With --trace: interpolate gaps of at most N hours."
        ),
    ] = 0,
    value_column: Annotated[
        str | None,
        typer.Option(
            "--value-column",
            help="With --trace: the column to read (default: value, or the kind's "
            "intensity column of an Electricity Maps export).",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write a PNG plot to this file.")
    ] = None,
) -> None:
    """Summarise a trace: statistics, hour-of-day profile and (with --out) a PNG plot."""
    if kind not in ("direct", "lca"):
        raise TraceError(f"unknown --kind {kind!r}; expected 'direct' or 'lca'")
    chosen: Kind = "direct" if kind == "direct" else "lca"
    if (zone is None) == (trace_file is None):
        raise TraceError("give either a bundled ZONE or --trace FILE (exactly one)")
    if trace_file is not None and year is not None:
        raise TraceError("--year applies to bundled zones, not to --trace files")
    if trace_file is None and fill_gaps:
        raise TraceError("--fill-gaps applies to --trace files; bundled traces have no gaps")
    if trace_file is None and value_column is not None:
        raise TraceError("--value-column applies to --trace files, not to bundled zones")
    if out is not None and out.suffix.lower() != ".png":
        raise CenasError(f"{out}: --out must name a .png file")
    if out is not None and not out.parent.is_dir():
        raise CenasError(f"{out}: cannot write the plot (folder {out.parent} does not exist)")
    if trace_file is not None:
        trace = load_trace(trace_file, kind=chosen, fill_gaps=fill_gaps, value_column=value_column)
    else:
        assert zone is not None
        known = {z.upper(): z for z in BUNDLED_ZONES}
        trace = load_bundled(known.get(zone.upper(), zone), year, chosen)
    summary = summarise(trace)
    console = Console()
    console.print(_stats_table(trace, summary))
    console.print(_hour_table(summary))
    if out is not None:
        plot_trace(trace, out)
        console.print(f"plot written to {out}")


__all__ = ["TraceSummary", "app", "plot_trace", "summarise"]
