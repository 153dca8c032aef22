"""`cenas estimators evaluate`: how well each simulator estimator ranks cells, at what cost.

The measures are CE-NAS's question about its estimation GPUs (Zhao, Liu, Jiang, Guo,
NeurIPS 2024): is the cheap estimate worth its carbon? The computation lives in
:mod:`cenas.engine.estimator_quality`; this module only parses options and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cenas.cli._estimators import estimators_app
from cenas.errors import ConfigError

console = Console()


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--predictor-cells: not a list of integers: {text!r}") from None
    if not sizes or any(n < 5 or n >= 15_625 for n in sizes):
        raise ConfigError("--predictor-cells: each size must be in [5, 15624]")
    return sizes


@estimators_app.command("evaluate")
def evaluate_cmd(
    dataset: Annotated[
        str,
        typer.Option(
            "--dataset", help="Truth: 200-epoch test accuracy on cifar10, cifar100 or imagenet16."
        ),
    ] = "cifar10",
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    figure: Annotated[
        Path | None,
        typer.Option("--figure", help="PNG of Kendall τ against cost (log x)."),
    ] = None,
    proxy_table: Annotated[
        Path | None,
        typer.Option("--proxy-table", help="nb201_proxies.csv.gz (default: the packaged one)."),
    ] = None,
    predictor_cells: Annotated[
        str, typer.Option("--predictor-cells", help="Trained cells of the GP predictor rows.")
    ] = "20,50,100",
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds per predictor row.")] = 5,
    predictor_bases: Annotated[
        str,
        typer.Option(
            "--predictor-bases",
            help="Comma-separated bases of extra predictor:<base> rows ('' for none).",
        ),
    ] = "low-fidelity",
) -> None:
    """Rank agreement of every simulator estimator with the NAS-Bench-201 table, and its cost."""
    from cenas.bench import DATASETS
    from cenas.engine.estimator_quality import (
        evaluate_estimators,
        to_csv,
        to_json,
        to_records,
        write_figure,
    )

    if dataset not in DATASETS:
        raise ConfigError(f"--dataset: unknown {dataset!r}; choose one of {', '.join(DATASETS)}")
    if fmt not in ("table", "csv", "json"):
        raise ConfigError(f"--format: must be table, csv or json, got {fmt!r}")
    if seeds <= 0:
        raise ConfigError(f"--seeds: must be positive, got {seeds}")
    if proxy_table is not None and not proxy_table.is_file():
        raise ConfigError(f"--proxy-table: {proxy_table} is not a file")
    bases = [b.strip() for b in predictor_bases.split(",") if b.strip()]
    rows, notes = evaluate_estimators(
        dataset=dataset,
        proxy_table=proxy_table,
        predictor_sizes=_sizes(predictor_cells),
        seeds=seeds,
        predictor_bases=bases,
    )
    if figure is not None:
        write_figure(rows, figure, title=f"NAS-Bench-201 {dataset}: rank agreement and cost")
    if fmt == "csv":
        typer.echo(to_csv(rows), nl=False)
    elif fmt == "json":
        typer.echo(to_json(rows, dataset=dataset, notes=notes))
    else:
        table = Table(title=f"Estimators against the {dataset} 200-epoch test accuracy")
        table.add_column("estimator", no_wrap=True)
        for col in ("n", "Spearman", "Kendall τ", "τ top 10 %", "P@5 %", "P@1 %"):
            table.add_column(col, justify="right", no_wrap=True)
        table.add_column("s / estimate", justify="right", no_wrap=True)
        table.add_column("init GPU-h", justify="right", no_wrap=True)
        table.add_column("note", overflow="fold")
        for r in to_records(rows):
            table.add_row(
                r["estimator"],
                f"{r['n']:,}",
                f"{r['spearman']:.3f}",
                f"{r['kendall']:.3f}",
                f"{r['kendall_top10']:.3f}",
                f"{r['precision_top5%']:.3f}",
                f"{r['precision_top1%']:.3f}",
                f"{r['seconds_per_estimate']:.3g}",
                f"{r['init_gpu_hours']:.2f}",
                r["note"],
            )
        console.print(table)
        for note in notes:
            console.print(f"note: {note}", highlight=False)
        if figure is not None:
            console.print(f"figure → {figure}", highlight=False)


__all__ = ["evaluate_cmd"]
