"""`cenas search` (the main job) and `cenas compare`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cenas.config import StudyConfig, load_config_file
from cenas.errors import ConfigError

console = Console()

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML config file (keys as in StudyConfig).")
]
TraceOpt = Annotated[
    Path | None,
    typer.Option("--trace", help="Your own trace: Electricity Maps or timestamp,value CSV."),
]
ZoneOpt = Annotated[str | None, typer.Option("--zone", help="Bundled zone, e.g. US-CAL-CISO.")]
StartOpt = Annotated[str | None, typer.Option("--start", help="First hour of the window (UTC).")]
HoursOpt = Annotated[int | None, typer.Option("--hours", help="Time budget in hours.")]
GpusOpt = Annotated[int | None, typer.Option("--gpus", help="GPUs in the pool.")]
BudgetOpt = Annotated[
    float | None, typer.Option("--budget-g", help="Carbon budget in grams CO2eq.")
]
NoBudgetOpt = Annotated[bool, typer.Option("--no-budget", help="Run without a carbon budget.")]
PolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--policy", help="vanilla, one-shot, static, heuristic, clairvoyant, rl, rl-continuous."
    ),
]
EstimatorOpt = Annotated[
    str | None,
    typer.Option("--estimator", help="low-fidelity, predictor or oracle (a reference bound)."),
]
OptimizerOpt = Annotated[
    str | None, typer.Option("--optimizer", help="lamoo, random, nsga2, qnehvi, ...")
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed of everything random.")]
TaskOpt = Annotated[str | None, typer.Option("--task", help="nb201-<dataset>-<device>.")]
SignalOpt = Annotated[
    str | None,
    typer.Option(
        "--signal",
        help="Policy input: 'forecast', 'actual' (hindsight) or 'auto' (forecast when the "
        "window has history before it).",
    ),
]
KindOpt = Annotated[str | None, typer.Option("--kind", help="direct or lca intensity.")]


def build_config(config_file: Path | None, **flags: Any) -> StudyConfig:
    """Embedded default < config file < flags; validated."""
    data: dict[str, Any] = StudyConfig().to_dict()
    if config_file is not None:
        data.update(load_config_file(config_file))
    no_budget = flags.pop("no_budget", False)
    for key, value in flags.items():
        if value is not None:
            data[key] = str(value) if isinstance(value, Path) else value
    if no_budget:
        data["budget_g"] = None
    source = str(config_file) if config_file is not None else "flags"
    return StudyConfig.from_dict(data, source=source).validate()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("hour {task.completed:>3.0f}/{task.total:.0f}"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def search(
    config: ConfigOpt = None,
    trace: TraceOpt = None,
    zone: ZoneOpt = None,
    start: StartOpt = None,
    hours: HoursOpt = None,
    gpus: GpusOpt = None,
    budget_g: BudgetOpt = None,
    no_budget: NoBudgetOpt = False,
    policy: PolicyOpt = None,
    estimator: EstimatorOpt = None,
    optimizer: OptimizerOpt = None,
    seed: SeedOpt = None,
    task: TaskOpt = None,
    signal: SignalOpt = None,
    kind: KindOpt = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Study name (directory under --runs-dir).")
    ] = None,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Resume the study of this name.")
    ] = None,
    runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Where studies live.")] = Path(
        "runs"
    ),
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Run the carbon-aware search (with no options: the embedded default study)."""
    from cenas.report import write_report
    from cenas.study import Study

    if resume is not None:
        study = Study.open(runs_dir / resume)
        console.print(
            f"Resuming study [bold]{resume}[/] ({len(study.stored_steps())} steps stored)"
        )
    else:
        cfg = build_config(
            config,
            trace=trace,
            zone=zone,
            start=start,
            hours=hours,
            gpus=gpus,
            budget_g=budget_g,
            no_budget=no_budget,
            policy=policy,
            estimator=estimator,
            optimizer=optimizer,
            seed=seed,
            task=task,
            signal=signal,
            kind=kind,
        )
        study_name = name or f"search-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
        study = Study.create(runs_dir / study_name, cfg)
        console.print(f"Study [bold]{study_name}[/] → {study.directory}")
    cfg = study.config
    t0 = time.perf_counter()
    with _progress() as bar:
        job = bar.add_task(f"{cfg.policy}", total=cfg.hours, info="")

        def on(record: Any, engine: Any) -> None:
            bar.update(
                job,
                completed=record.step + 1,
                info=(
                    f"log10(HVmax-HV) {record.log_hv_diff:5.2f}  "
                    f"carbon {record.cum_carbon_g / 1000:6.2f} kg  "
                    f"split {record.n_train}T/{record.n_estimate}E  "
                    f"{record.intensity:4.0f} g/kWh"
                ),
            )

        engine = study.run(progress=None if quiet else on)
    elapsed = time.perf_counter() - t0
    report = write_report(study.directory)
    study.close()
    s = engine.summary()
    table = Table(title="Study summary", show_header=False)
    for key, value in [
        ("stopped", s["stop"]),
        ("hours", s["steps"]),
        ("hypervolume", f"{s['hv']:.3f} of {engine.task.hv_max:.3f} ({100 * s['hv_ratio']:.2f} %)"),
        ("log10(HV_max − HV)", f"{s['log_hv_diff']:.3f}"),
        (
            "carbon",
            f"{s['carbon_g'] / 1000:.2f} kg CO2eq"
            + (f" of {cfg.budget_g / 1000:.2f} kg budget" if cfg.budget_g else ""),
        ),
        ("energy", f"{s['energy_kwh']:.1f} kWh"),
        ("policy input", f"{cfg.policy} on {engine.signal.mode} intensities"),
        ("trained / estimated", f"{s['n_trained']} / {s['n_estimated']}"),
        ("wall time", f"{elapsed:.1f} s"),
        ("report", str(report)),
    ]:
        table.add_row(key, str(value))
    console.print(table)


def compare_cmd(
    config: ConfigOpt = None,
    trace: TraceOpt = None,
    zone: ZoneOpt = None,
    start: StartOpt = None,
    hours: HoursOpt = None,
    gpus: GpusOpt = None,
    estimator: EstimatorOpt = None,
    optimizer: OptimizerOpt = None,
    task: TaskOpt = None,
    signal: SignalOpt = None,
    kind: KindOpt = None,
    seed: SeedOpt = None,
    policies: Annotated[
        str, typer.Option("--policies", help="Comma-separated policies.")
    ] = "vanilla,one-shot,static,heuristic,rl,clairvoyant",
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds per policy and budget.")] = 10,
    budgets_g: Annotated[
        str, typer.Option("--budgets-g", help="Comma-separated carbon budgets (g).")
    ] = "5000,10000,20000",
    target: Annotated[float, typer.Option("--target", help="Target log10(HV_max − HV).")] = 0.5,
    out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("runs/compare"),
    workers: Annotated[
        int | None, typer.Option("--workers", help="Parallel processes (default: CPUs).")
    ] = None,
) -> None:
    """Compare policies × seeds × carbon budgets on one task and trace."""
    from cenas.compare import compare, write_compare
    from cenas.policy.registry import POLICIES

    pols = [p.strip() for p in policies.split(",") if p.strip()]
    for p in pols:
        if p not in POLICIES:
            raise ConfigError(
                f"--policies: unknown policy {p!r}; choose from {', '.join(POLICIES)}"
            )
    try:
        budgets = [float(b) for b in budgets_g.split(",") if b.strip()]
    except ValueError:
        raise ConfigError(f"--budgets-g: not a list of numbers: {budgets_g!r}") from None
    if not budgets or any(b <= 0 for b in budgets):
        raise ConfigError("--budgets-g: budgets must be positive numbers")
    if seeds <= 0:
        raise ConfigError(f"--seeds: must be positive, got {seeds}")
    base = build_config(
        config,
        trace=trace,
        zone=zone,
        start=start,
        hours=hours,
        gpus=gpus,
        estimator=estimator,
        optimizer=optimizer,
        task=task,
        signal=signal,
        kind=kind,
        seed=seed,
    )
    total = len(pols) * seeds * len(budgets)
    t0 = time.perf_counter()
    with _progress() as bar:
        job = bar.add_task("compare", total=total, info="")
        summary = compare(
            base,
            pols,
            seeds,
            budgets,
            target,
            workers=workers,
            progress=lambda r: bar.advance(job),
        )
    paths = write_compare(summary, out)
    table = Table(title=f"Carbon to reach log10(HV_max − HV) ≤ {target} and HV under each budget")
    table.add_column("policy")
    table.add_column("carbon to target (median, kg)")
    table.add_column("reached")
    table.add_column("× less than vanilla")
    table.add_column("÷ clairvoyant")
    for b in budgets:
        table.add_column(f"HV/HVmax @ {b / 1000:g} kg")
    for p, e in summary["policies"].items():
        med = e["carbon_to_target_g"]["median"]
        r = e["ratios"]
        table.add_row(
            p,
            "—" if med is None else f"{med / 1000:.2f}",
            f"{e['reached_target']}/{seeds}",
            "—" if r["vanilla_over_policy"] is None else f"{r['vanilla_over_policy']:.2f}",
            "—" if r["policy_over_clairvoyant"] is None else f"{r['policy_over_clairvoyant']:.2f}",
            *(
                f"{e['hv_ratio'][str(b)]['mean']:.4f} ± {e['hv_ratio'][str(b)]['std']:.4f}"
                for b in budgets
            ),
        )
    console.print(table)
    floor = summary.get("floor_carbon_g")
    console.print(
        f"floor (cheapest true-front subset at the cleanest hour): "
        f"{'—' if floor is None else f'{floor / 1000:.3f} kg'}"
    )
    console.print(
        f"{total} runs in {time.perf_counter() - t0:.1f} s → {', '.join(str(p) for p in paths)}"
    )


def register(root: typer.Typer) -> None:
    """Add the search and compare commands to the root app."""
    root.command("search")(search)
    root.command("compare")(compare_cmd)
