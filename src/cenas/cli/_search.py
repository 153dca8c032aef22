"""`cenas search` (the main job) and `cenas compare`."""

from __future__ import annotations

import csv
import io
import itertools
import json
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cenas.bench import DATASETS, DEVICES
from cenas.carbon import BUNDLED_ZONES
from cenas.config import StudyConfig, default_toml, load_config_file
from cenas.errors import ConfigError
from cenas.optimize import OPTIMIZERS
from cenas.policy.registry import POLICIES

console = Console()

_D = StudyConfig()  # the embedded default, whose values the help texts show

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML config file; `cenas search --print-config` writes one with every key.",
    ),
]
TraceOpt = Annotated[
    Path | None,
    typer.Option(
        "--trace",
        help="Your own trace instead of a bundled zone: an Electricity Maps export or a CSV "
        "with timestamp and value columns (other columns are ignored).",
    ),
]
ZoneOpt = Annotated[
    str | None,
    typer.Option(
        "--zone",
        help=f"Bundled zone, any case: {', '.join(BUNDLED_ZONES)} (default {_D.zone}).",
    ),
]
StartOpt = Annotated[
    str | None,
    typer.Option(
        "--start",
        help="First hour of the window, ISO 8601; no offset means UTC (default 2021-07-02 "
        "00:00 UTC on a bundled zone, the trace's first hour with --trace).",
    ),
]
HoursOpt = Annotated[
    int | None, typer.Option("--hours", help=f"Time budget in hours (default {_D.hours}).")
]
GpusOpt = Annotated[
    int | None, typer.Option("--gpus", help=f"GPUs in the pool (default {_D.gpus}).")
]
BudgetOpt = Annotated[
    float | None,
    typer.Option(
        "--budget-g",
        help=f"Carbon budget in grams CO2eq (default {_D.budget_g:g}, i.e. "
        f"{(_D.budget_g or 0) / 1000:g} kg).",
    ),
]
NoBudgetOpt = Annotated[
    bool, typer.Option("--no-budget", help="Run without a carbon budget (not with --budget-g).")
]
PolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--policy", help=f"Allocation policy: {', '.join(POLICIES)} (default {_D.policy})."
    ),
]
EstimatorOpt = Annotated[
    str | None,
    typer.Option(
        "--estimator",
        help="low-fidelity, one-shot, few-shot (CIFAR-10; charge the supernet's training "
        "first), zero-cost:<proxy> (synflow, naswot, jacob_cov, snip, grad_norm, grasp, "
        "fisher, params, flops), zero-cost:vote, predictor, predictor:<estimator> or oracle "
        "(a reference bound). Live: zero-cost:<proxy>, zero-cost:vote (nb201), low-fidelity, "
        "predictor or predictor:<one of those>.",
    ),
]
OptimizerOpt = Annotated[
    str | None,
    typer.Option(
        "--optimizer", help=f"Optimiser: {', '.join(OPTIMIZERS)} (default {_D.optimizer})."
    ),
]
SeedOpt = Annotated[
    int | None, typer.Option("--seed", help=f"Seed of everything random (default {_D.seed}).")
]
TaskOpt = Annotated[
    str | None,
    typer.Option(
        "--task",
        help=f"Benchmark task nb201-<dataset>-<device>; data sets {', '.join(DATASETS)}; "
        f"devices {', '.join(DEVICES)} (default {_D.task}).",
    ),
]
SignalOpt = Annotated[
    str | None,
    typer.Option(
        "--signal",
        help="Policy input: 'forecast', 'actual' (hindsight) or 'auto' (forecast when the "
        f"window has history before it; default {_D.signal}).",
    ),
]
KindOpt = Annotated[
    str | None,
    typer.Option("--kind", help=f"Intensity: direct or lca (life cycle; default {_D.kind})."),
]
FillGapsOpt = Annotated[
    int | None,
    typer.Option(
        "--fill-gaps",
        help="With --trace: interpolate gaps of at most N missing hours (default 0: a gap "
        "is an error).",
    ),
]
ValueColumnOpt = Annotated[
    str | None,
    typer.Option(
        "--value-column",
        help="With --trace: the column to read (default value, or the kind's intensity "
        "column of an Electricity Maps export).",
    ),
]


LiveOpt = Annotated[
    bool,
    typer.Option(
        "--live",
        help="Run real jobs: train and estimate real NAS-Bench-201 networks on real data on "
        "live workers (default: the tabular simulation).",
    ),
]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Live: CIFAR-10 copy (ImageFolder folder or .tar.gz, or the python batches); "
        "default the packaged 3,600-image subset.",
    ),
]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", help="Live: cpu, cuda, cuda:N or auto (default cpu).")
]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", help="Live: worker processes (GPU slots or CPU slots); sets --gpus."),
]
BackendOpt = Annotated[str | None, typer.Option("--backend", help="Live: local (default) or ray.")]
StepMinutesOpt = Annotated[
    float | None,
    typer.Option(
        "--step-minutes",
        help="Live: wall-clock minutes per step, each replaying one hour of the trace "
        "(default: real hours).",
    ),
]
TrainEpochsOpt = Annotated[
    int | None,
    typer.Option("--train-epochs", help=f"Live: epochs of a training (default {_D.train_epochs})."),
]
ChannelsOpt = Annotated[
    int | None, typer.Option("--channels", help=f"Live: C of the networks (default {_D.channels}).")
]
CellsOpt = Annotated[
    int | None,
    typer.Option("--cells", help=f"Live: N cells per stage (default {_D.cells_per_stage})."),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option("--threads", help=f"Live: torch threads per CPU worker (default {_D.threads})."),
]
RetriesOpt = Annotated[
    int | None,
    typer.Option(
        "--max-retries",
        help=f"Live: restarts of a job that raised before it counts as failed "
        f"(default {_D.max_retries}).",
    ),
]


CarbonOpt = Annotated[
    str | None,
    typer.Option(
        "--carbon",
        help="Live: intensity from trace (replay, default), electricitymaps "
        "(ELECTRICITYMAPS_TOKEN) or watttime (WATTTIME_USERNAME/WATTTIME_PASSWORD).",
    ),
]
CarbonZoneOpt = Annotated[
    str | None,
    typer.Option("--carbon-zone", help="Live: the provider's zone or region (default --zone)."),
]
ZonesOpt = Annotated[
    str | None,
    typer.Option(
        "--zones",
        help="A spatial study over these bundled zones (comma-separated): each hour runs in "
        "the zone whose coming hours are cleanest, paying to move.",
    ),
]
PowerCapsOpt = Annotated[
    str | None,
    typer.Option(
        "--power-caps",
        help="GPU power-cap levels the study may use: zeus-a40 or zeus-v100 (Zeus's "
        "published power-limit profiles; live: set through NVML). Default: off.",
    ),
]
CapRuleOpt = Annotated[
    str | None,
    typer.Option(
        "--cap-rule",
        help="With --power-caps: efficient (the least-energy level every hour, default) or "
        "carbon (that level in hours dirtier than the coming day's median).",
    ),
]
CarbonUrlOpt = Annotated[
    str | None, typer.Option("--carbon-url", help="Live: the provider's base URL.")
]


SpaceOpt = Annotated[
    str | None,
    typer.Option(
        "--space",
        help="Live: nb201 (NAS-Bench-201 cells, default) or darts (DARTS normal + reduction "
        "cells).",
    ),
]
LayersOpt = Annotated[
    int | None,
    typer.Option("--layers", help=f"Live, darts: cells of the networks (default {_D.layers})."),
]
PoolOpt = Annotated[
    int | None,
    typer.Option(
        "--pool-size",
        help=f"Live, darts: genotypes in the seeded candidate pool (default {_D.pool_size}).",
    ),
]


def build_config(config_file: Path | None, **flags: Any) -> StudyConfig:
    """Embedded default < config file < flags; validated."""
    data: dict[str, Any] = StudyConfig().to_dict()
    if config_file is not None:
        data.update(load_config_file(config_file))
    no_budget = flags.pop("no_budget", False)
    if no_budget and flags.get("budget_g") is not None:
        raise ConfigError("--budget-g and --no-budget contradict each other; give one of them")
    for key, value in flags.items():
        if value is not None:
            data[key] = str(value) if isinstance(value, Path) else value
    if no_budget:
        data["budget_g"] = None
    source = str(config_file) if config_file is not None else "flags"
    return StudyConfig.from_dict(data, source=source).validate()


def _progress(unit: str = "hour", out: Console | None = None) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn(unit + " {task.completed:>3.0f}/{task.total:.0f}"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=out or console,
        transient=False,
    )


_RESUME_KEEPS = (
    "config",
    "trace",
    "zone",
    "start",
    "zones",
    "power_caps",
    "cap_rule",
    "hours",
    "gpus",
    "budget_g",
    "no_budget",
    "policy",
    "estimator",
    "optimizer",
    "seed",
    "task",
    "signal",
    "kind",
    "fill_gaps",
    "value_column",
    "name",
    "live",
    "data",
    "device",
    "workers",
    "backend",
    "step_minutes",
    "train_epochs",
    "channels",
    "cells",
    "threads",
    "max_retries",
    "carbon",
    "carbon_zone",
    "carbon_url",
    "space",
    "layers",
    "pool_size",
)
"""Options that would change a study: with ``--resume`` they are refused, not ignored."""


def resume_conflicts(**given: Any) -> list[str]:
    """The flags, as typed, among ``given`` that ``--resume`` cannot honour."""
    return [
        "--" + key.replace("_", "-") for key in _RESUME_KEEPS if given.get(key) not in (None, False)
    ]


def search(
    config: ConfigOpt = None,
    trace: TraceOpt = None,
    zone: ZoneOpt = None,
    zones: ZonesOpt = None,
    power_caps: PowerCapsOpt = None,
    cap_rule: CapRuleOpt = None,
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
    fill_gaps: FillGapsOpt = None,
    value_column: ValueColumnOpt = None,
    live: LiveOpt = False,
    data: DataOpt = None,
    device: DeviceOpt = None,
    workers: WorkersOpt = None,
    backend: BackendOpt = None,
    step_minutes: StepMinutesOpt = None,
    train_epochs: TrainEpochsOpt = None,
    channels: ChannelsOpt = None,
    cells: CellsOpt = None,
    threads: ThreadsOpt = None,
    max_retries: RetriesOpt = None,
    carbon: CarbonOpt = None,
    carbon_zone: CarbonZoneOpt = None,
    carbon_url: CarbonUrlOpt = None,
    space: SpaceOpt = None,
    layers: LayersOpt = None,
    pool_size: PoolOpt = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Study name, a folder under --runs-dir (default search-<UTC date-time>).",
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            help="Resume the study of this name with its stored settings (other study "
            "options are refused).",
        ),
    ] = None,
    runs_dir: Annotated[
        Path, typer.Option("--runs-dir", help="Where studies live (default runs).")
    ] = Path("runs"),
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    print_config: Annotated[
        bool,
        typer.Option(
            "--print-config",
            help="Write the config these options give (with none: the default) as TOML, "
            "every key explained, and exit; edit it and pass it to --config.",
        ),
    ] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="Summary as a table (default) or json (on stdout; messages and the "
            "progress bar go to stderr).",
        ),
    ] = "table",
) -> None:
    """Run the carbon-aware search (with no options: the embedded default study)."""
    from cenas.report import write_report
    from cenas.study import Study

    if fmt not in ("table", "json"):
        raise ConfigError(f"--format: must be 'table' or 'json', got {fmt!r}")
    say = console if fmt == "table" else Console(stderr=True)

    flags: dict[str, Any] = dict(
        trace=trace,
        zone=zone,
        zones=zones,
        power_caps=power_caps,
        cap_rule=cap_rule,
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
        fill_gaps=fill_gaps,
        value_column=value_column,
    )
    live_flags: dict[str, Any] = dict(
        data=data,
        device=device,
        backend=backend,
        step_minutes=step_minutes,
        train_epochs=train_epochs,
        channels=channels,
        cells_per_stage=cells,
        threads=threads,
        max_retries=max_retries,
        carbon=carbon,
        carbon_zone=carbon_zone,
        carbon_url=carbon_url,
        space=space,
        layers=layers,
        pool_size=pool_size,
    )
    if resume is not None:
        conflicts = resume_conflicts(
            config=config,
            name=name,
            live=live,
            workers=workers,
            cells=cells,
            **flags,
            **{k: v for k, v in live_flags.items() if k != "cells_per_stage"},
        )
        if conflicts:
            raise ConfigError(
                f"--resume: {', '.join(conflicts)} cannot be used with --resume (a study "
                "continues with the settings it was created with); drop "
                + ("it" if len(conflicts) == 1 else "them")
            )
        study = Study.open(runs_dir / resume)
        if print_config:
            typer.echo(default_toml(study.config), nl=False)
            study.close()
            return
        study.check_writable()
        study_name = resume
        say.print(f"Resuming study [bold]{resume}[/] ({len(study.stored_steps())} steps stored)")
    else:
        if workers is not None:
            if gpus is not None and gpus != workers:
                raise ConfigError("--workers and --gpus contradict each other; give one of them")
            flags["gpus"] = workers
        given_live = [k for k, v in live_flags.items() if v is not None]
        if given_live and not live:
            flag = "--" + given_live[0].replace("_", "-").replace("cells-per-stage", "cells")
            raise ConfigError(f"{flag}: applies to a live search; add --live")
        if live:
            flags.update(live=True, **live_flags)
        cfg = build_config(config, **flags)
        if print_config:
            typer.echo(default_toml(cfg), nl=False)
            return
        study_name = name or f"search-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
        study = Study.create(runs_dir / study_name, cfg)
        say.print(f"Study [bold]{study_name}[/] → {study.directory}")
    cfg = study.config
    t0 = time.perf_counter()
    try:
        if quiet:
            engine = study.run()
        else:
            with _progress(out=say) as bar:
                job = bar.add_task(f"{cfg.policy}", total=cfg.hours, info="")

                def on(record: Any, engine: Any) -> None:
                    bar.update(
                        job,
                        completed=record.step + 1,
                        info=(
                            (
                                f"HV {100 * record.hv_ratio:5.2f} % of box  "
                                if cfg.live
                                else f"log10(HVmax-HV) {record.log_hv_diff:5.2f}  "
                            )
                            + f"carbon {carbon_text(record.cum_carbon_g)}  "
                            f"split {record.n_train}T/{record.n_estimate}E  "
                            f"{record.intensity:4.0f} g/kWh"
                        ),
                    )

                engine = study.run(progress=on)
    except KeyboardInterrupt:
        stored = len(study.stored_steps())
        study.close()
        again = f"cenas search --resume {study_name}"
        if runs_dir != Path("runs"):
            again += f" --runs-dir {runs_dir}"
        Console(stderr=True).print(
            f"interrupted: {stored} of {cfg.hours} steps are stored in {study.db_path}; "
            f"continue with: {again}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(130) from None
    elapsed = time.perf_counter() - t0
    report = write_report(study.directory)
    study.close()
    if fmt == "json":
        typer.echo(json.dumps(summary_json(engine, cfg, elapsed, report), indent=2))
    else:
        _print_summary(engine, cfg, elapsed, report)


def summary_json(engine: Any, cfg: StudyConfig, elapsed: float, report: Path) -> dict[str, Any]:
    """The study summary for machines: the engine's summary, the window and the policy."""
    first = engine.signal.hour_utc(0)
    return {
        **engine.summary(),
        "hv_max": engine.task.hv_max,
        "budget_g": cfg.budget_g,
        "window": {
            "trace": cfg.trace if cfg.trace is not None else f"bundled {cfg.zone}",
            "kind": cfg.kind,
            "start": first.isoformat(),
            "end": (first + pd.Timedelta(hours=cfg.hours)).isoformat(),
            "hours": cfg.hours,
        },
        "policy": cfg.policy,
        "policy_reads": policy_input(cfg.policy, engine.signal.mode),
        "signal": engine.signal.mode,
        "wall_seconds": elapsed,
        "report": str(report),
    }


def zone_rows(engine: Any) -> list[tuple[str, str]]:
    """A spatial study's summary row: the share of hours in each zone and the moves."""
    steps = list(getattr(engine, "zone_steps", []))
    if not steps:
        return []
    zones = engine.signal.zones
    moves = sum(1 for a, b in itertools.pairwise(steps) if a != b)
    share = ", ".join(f"{z} {steps.count(z) / len(steps):.0%}" for z in zones)
    return [("zones", f"{share} of the hours; {moves} moves (the window shows the first zone)")]


def cap_rows(engine: Any) -> list[tuple[str, str]]:
    """A capped study's summary row: the hours at each power-cap level."""
    levels = engine.config.power_caps
    if not levels or not engine.records:
        return []
    caps = [r.cap for r in engine.records]
    used = sorted(set(caps))
    parts = [
        f"{'uncapped' if k == 0 else levels[k - 1].label() + ' limit'} {caps.count(k)} h"
        for k in used
    ]
    how = (
        "limits set through NVML, energy as metered"
        if engine.backend.live
        else "Zeus's published trade-off, modelled"
    )
    return [("power caps", ", ".join(parts) + f" ({how})")]


FIXED_RULES = ("vanilla", "one-shot", "static")
"""Policies that read no intensity: a fixed split, whatever the grid."""


def policy_input(policy: str, mode: str) -> str:
    """What a policy reads of the grid, in words, for the summary.

    Args:
        policy: Policy name.
        mode: The signal's mode, ``forecast`` or ``actual`` (see ``CarbonSignal.mode``).
    """
    if policy in FIXED_RULES:
        return "no intensity (a fixed split)"
    if policy == "clairvoyant":
        return "the true intensity of every hour of the window (a reference that reads the future)"
    if mode == "live":
        return (
            "the provider's intensity each hour and its forecast "
            "(the shipped forecaster where it gives none)"
        )
    if mode == "forecast":
        return "forecast intensities of the next 24 h, issued each hour from the data before it"
    return "the true intensities of the next 24 h (hindsight)"


def window_text(cfg: StudyConfig, engine: Any) -> str:
    """Trace, first hour and end of the window a study ran on (UTC)."""
    first = engine.signal.hour_utc(0)
    if cfg.live and cfg.carbon != "trace":
        zone = cfg.carbon_zone or cfg.zone
        return f"live {cfg.carbon} intensity of {zone}, from {first:%Y-%m-%d %H:%M} UTC"
    end = first + pd.Timedelta(hours=cfg.hours)
    label = cfg.trace if cfg.trace is not None else f"bundled {cfg.zone}"
    return f"{label} ({cfg.kind}), {first:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"


def trace_rows(cfg: StudyConfig, trace: Any) -> list[tuple[str, str]]:
    """Summary rows about a user's trace: the column read and how its timestamps were read."""
    if cfg.trace is None:
        return []
    rows = [("trace column", trace.column or "value")]
    if trace.naive_utc:
        rows.append(("trace timestamps", "no UTC offset in the file: read as UTC"))
    if cfg.fill_gaps:
        rows.append(("trace gaps", f"gaps of up to {cfg.fill_gaps} h interpolated"))
    return rows


def carbon_text(grams: float) -> str:
    """Carbon in kg, or in g below one kilogram (a short live demonstration)."""
    return f"{grams / 1000:.2f} kg CO2eq" if grams >= 1000 else f"{grams:.3f} g CO2eq"


def energy_text(s: dict[str, Any]) -> str:
    """Energy of a study, and how much of it a meter measured."""
    kwh = s["energy_kwh"]
    measured = s.get("energy_measured_kwh", 0.0)
    meters = ", ".join(s.get("meters", [])) or "the power model"
    text = f"{kwh:.1f} kWh" if kwh >= 1 else f"{kwh * 1000:.3f} Wh"
    if measured > 0:
        return f"{text} ({100 * measured / kwh:.0f} % measured; meters: {meters})"
    return f"{text} (all modelled: {meters}; nothing measured)"


def live_rows(cfg: StudyConfig, engine: Any) -> list[tuple[str, str]]:
    """Summary rows of a live study: workers, data, and how time maps onto the trace."""
    if not cfg.live:
        return []
    backend = engine.backend
    devices = sorted(set(getattr(backend, "devices", [])))
    rows = [
        (
            "mode",
            f"live, {backend.name} backend, {backend.n_workers} workers on {', '.join(devices)}",
        ),
        ("data", cfg.data or "packaged CIFAR-10 subset (3,000 train images)"),
        (
            "networks",
            (
                f"DARTS cells C={cfg.channels}, {cfg.layers} layers (pool of {cfg.pool_size} "
                f"genotypes)"
                if cfg.space == "darts"
                else f"NB201 C={cfg.channels} N={cfg.cells_per_stage}"
            )
            + f", {cfg.train_epochs}-epoch trainings, estimator {cfg.estimator}",
        ),
    ]
    if cfg.step_minutes is not None:
        rows.append(
            (
                "time",
                f"each step replays one hour of the trace in {cfg.step_minutes:g} min of wall time",
            )
        )
    failures = getattr(backend, "failures", [])
    if failures:
        rows.append(("failed attempts", f"{len(failures)} (retried up to {cfg.max_retries})"))
    return rows


def _print_summary(engine: Any, cfg: StudyConfig, elapsed: float, report: Path) -> None:
    s = engine.summary()
    budget = f" of {cfg.budget_g / 1000:.2f} kg budget" if cfg.budget_g else " (no budget)"
    if cfg.live:
        hv_rows = [
            (
                "hypervolume",
                f"{s['hv']:.3f} (val. accuracy % × M params; "
                f"{100 * s['hv_ratio']:.2f} % of the reference box)",
            ),
        ]
    else:
        hv_rows = [
            (
                "hypervolume",
                f"{s['hv']:.3f} of {engine.task.hv_max:.3f} ({100 * s['hv_ratio']:.2f} %)",
            ),
            ("log10(HV_max − HV)", f"{s['log_hv_diff']:.3f}"),
        ]
    rows = [
        *live_rows(cfg, engine),
        ("window", window_text(cfg, engine)),
        *(trace_rows(cfg, engine.signal.trace) if cfg.trace is not None else []),
        *zone_rows(engine),
        *cap_rows(engine),
        ("stopped", s["stop"]),
        ("hours", f"{s['steps']} of {cfg.hours}"),
        *hv_rows,
        ("carbon", carbon_text(s["carbon_g"]) + budget),
        ("energy", energy_text(s)),
        ("policy", f"{cfg.policy}, reading {policy_input(cfg.policy, engine.signal.mode)}"),
        ("trained / estimated", f"{s['n_trained']} / {s['n_estimated']}"),
        ("wall time", f"{elapsed:.1f} s"),
        ("report", str(report)),
    ]
    if console.is_terminal and console.width >= 100:
        table = Table(title="Study summary", show_header=False)
        for key, value in rows:
            table.add_row(key, str(value))
        console.print(table)
    else:  # piped or narrow: one plain line per row, never wrapped mid-cell
        typer.echo("Study summary")
        for key, value in rows:
            typer.echo(f"  {key:<20} {value}")


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
    fill_gaps: FillGapsOpt = None,
    value_column: ValueColumnOpt = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="First seed: each policy and budget runs seeds SEED, SEED+1, … "
            f"SEED+SEEDS−1 (default {_D.seed}).",
        ),
    ] = None,
    policies: Annotated[
        str, typer.Option("--policies", help=f"Comma-separated, of {', '.join(POLICIES)}.")
    ] = "vanilla,one-shot,static,heuristic,elastic,day-ahead,rl,clairvoyant",
    seeds: Annotated[
        int,
        typer.Option("--seeds", help="How many seeds per policy and budget, from --seed on."),
    ] = 10,
    budgets_g: Annotated[
        str, typer.Option("--budgets-g", help="Comma-separated carbon budgets (g).")
    ] = "5000,10000,20000",
    target: Annotated[float, typer.Option("--target", help="Target log10(HV_max − HV).")] = 0.5,
    out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("runs/compare"),
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Parallel processes, 1 or more (default: the CPUs)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="table (a wide table on a wide terminal, else a compact one), csv or json.",
        ),
    ] = "table",
) -> None:
    """Compare policies × seeds × carbon budgets on one task and trace."""
    from cenas.compare import compare, write_compare

    pols = parse_policies(policies)
    budgets = parse_budgets(budgets_g)
    if seeds <= 0:
        raise ConfigError(f"--seeds: must be positive, got {seeds}")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers: must be 1 or more processes, got {workers}")
    if fmt not in FORMATS:
        raise ConfigError(f"--format: must be one of {', '.join(FORMATS)}, got {fmt!r}")
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
        fill_gaps=fill_gaps,
        value_column=value_column,
        seed=seed,
    )
    from cenas.study import folder_problem

    problem = folder_problem(out)
    if problem is not None:
        raise ConfigError(f"--out: cannot write to {out} ({problem})")
    total = len(pols) * seeds * len(budgets)
    t0 = time.perf_counter()
    # machine formats keep stdout for the data: the progress goes to stderr
    if quiet:
        summary = compare(base, pols, seeds, budgets, target, workers=workers)
    else:
        with _progress("run", console if fmt == "table" else Console(stderr=True)) as bar:
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
    print_compare(summary, fmt)
    if fmt == "table":
        from cenas.signals import resolve_trace

        for key, value in trace_rows(base, resolve_trace(base)[0]):
            typer.echo(f"{key}: {value}")
        done = f"{total} runs in {time.perf_counter() - t0:.1f} s → "
        typer.echo(textwrap.fill(done + ", ".join(str(p) for p in paths), width=79))


FORMATS = ("table", "csv", "json")


def table_width(head: list[str], rows: list[list[str]]) -> int:
    """Columns a rich table of these cells needs unwrapped (cell, padding and rule)."""
    cols = zip(head, *rows, strict=True)
    return sum(max(len(c) for c in col) + 3 for col in cols) + 1


def parse_policies(text: str) -> list[str]:
    """``--policies``: comma-separated registry names.

    Raises:
        ConfigError: For an unknown name or an empty list.
    """
    from cenas.policy.registry import POLICIES

    pols = [p.strip() for p in text.split(",") if p.strip()]
    if not pols:
        raise ConfigError("--policies: give at least one policy")
    for p in pols:
        if p not in POLICIES:
            raise ConfigError(
                f"--policies: unknown policy {p!r}; choose from {', '.join(POLICIES)}"
            )
    return pols


def parse_budgets(text: str) -> list[float]:
    """``--budgets-g``: comma-separated positive carbon budgets in grams.

    Raises:
        ConfigError: For anything but a list of positive numbers.
    """
    try:
        budgets = [float(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise ConfigError(f"--budgets-g: not a list of numbers: {text!r}") from None
    if not budgets or any(not b > 0 or b == float("inf") for b in budgets):
        raise ConfigError("--budgets-g: budgets must be positive numbers")
    return budgets


def _num(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _hv_cell(stats: dict[str, Any]) -> str:
    """Mean ± sample std of HV/HV_max; the mean alone for one seed (no spread to show)."""
    if stats["mean"] is None:
        return "—"
    if stats["std"] is None:
        return f"{stats['mean']:.4f}"
    return f"{stats['mean']:.4f} ± {stats['std']:.4f}"


def compare_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Column names and one row of strings per policy (the wide table and CSV)."""
    budgets = summary["budgets_g"]
    head = [
        "policy",
        "carbon to target, median (kg)",
        "reached",
        "× less than vanilla",
        "÷ clairvoyant",
        "÷ floor",
        *(f"HV/HV_max @ {b / 1000:g} kg" for b in budgets),
    ]
    rows = []
    for p, e in summary["policies"].items():
        c2t, r = e["carbon_to_target_g"], e["ratios"]
        med = c2t["median"]
        rows.append(
            [
                p,
                "—" if med is None else f"{med / 1000:.2f}",
                f"{e['reached_target']}/{len(c2t['per_seed'])}",
                _num(r["vanilla_over_policy"], 2),
                _num(r["policy_over_clairvoyant"], 2),
                _num(r["policy_over_floor"], 1),
                *(_hv_cell(e["hv_ratio"][str(b)]) for b in budgets),
            ]
        )
    return head, rows


def _plain(head: list[str], rows: list[list[str]]) -> str:
    """Rows under a header, columns padded to their widest cell (first column left)."""
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    return "\n".join([line(head), "-" * len(line(head)), *(line(r) for r in rows)])


def compact_compare(summary: dict[str, Any]) -> str:
    """The comparison in two narrow tables (under 80 columns for up to four budgets)."""
    head, rows = compare_rows(summary)
    seeds = len(next(iter(summary["policies"].values()))["carbon_to_target_g"]["per_seed"])
    carbon_head = ["policy", "kg to target", "reached", "×vanilla", "÷clairv.", "÷floor"]
    hv_head = ["policy", *(h.replace("HV/HV_max @ ", "HV @ ") for h in head[6:])]
    return "\n".join(
        [
            f"Carbon to reach log10(HV_max − HV) ≤ {summary['target_log_hv_diff']:g} "
            f"(median over {seeds} seeds, {max(summary['budgets_g']) / 1000:g} kg runs)",
            _plain(carbon_head, [r[:6] for r in rows]),
            "",
            "HV/HV_max under each carbon budget "
            + ("(one seed)" if seeds == 1 else f"(mean ± std over {seeds} seeds)"),
            _plain(hv_head, [[r[0], *r[6:]] for r in rows]),
        ]
    )


def print_compare(summary: dict[str, Any], fmt: str) -> None:
    """Print the comparison as a table (wide or compact, by the console), CSV or JSON."""
    if fmt == "json":
        slim = {k: v for k, v in summary.items() if k != "runs"}
        typer.echo(json.dumps(slim, indent=2))
        return
    if fmt == "csv":
        typer.echo(compare_csv(summary), nl=False)
        return
    head, rows = compare_rows(summary)
    if console.is_terminal and console.width >= table_width(head, rows):
        table = Table(
            title=f"Carbon to reach log10(HV_max − HV) ≤ {summary['target_log_hv_diff']:g} "
            "and HV under each budget"
        )
        for h in head:
            table.add_column(h, no_wrap=True)
        for r in rows:
            table.add_row(*r)
        console.print(table)
    else:
        typer.echo(compact_compare(summary))
    floor = summary.get("floor_carbon_g")
    notes = [
        f"window: {_window_line(summary)}",
        f"ratios: {summary['ratio_definition']}",
        "floor: the cheapest set of true Pareto-front cells reaching the target, trained at "
        "the window's cleanest hour: " + ("—" if floor is None else f"{floor / 1000:.3f} kg"),
        f"git commit: {summary.get('provenance', {}).get('git_commit')}",
    ]
    for note in notes:
        typer.echo(textwrap.fill(note, width=79, subsequent_indent="  "))


def compare_csv(summary: dict[str, Any]) -> str:
    """One CSV row per policy with plain numbers (empty: not reached or not defined)."""
    budgets = summary["budgets_g"]
    head = [
        "policy",
        "carbon_to_target_median_g",
        "reached",
        "seeds",
        "vanilla_over_policy",
        "policy_over_clairvoyant",
        "policy_over_floor",
    ]
    for b in budgets:
        head += [f"hv_ratio_mean_{b:g}g", f"hv_ratio_std_{b:g}g"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(head)
    for p, e in summary["policies"].items():
        c2t, r = e["carbon_to_target_g"], e["ratios"]
        row: list[Any] = [
            p,
            c2t["median"],
            e["reached_target"],
            len(c2t["per_seed"]),
            r["vanilla_over_policy"],
            r["policy_over_clairvoyant"],
            r["policy_over_floor"],
        ]
        for b in budgets:
            row += [e["hv_ratio"][str(b)]["mean"], e["hv_ratio"][str(b)]["std"]]
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


def _window_line(summary: dict[str, Any]) -> str:
    w = summary["window"]
    start, end = (str(w[k])[:16].replace("T", " ") for k in ("start", "end"))
    return f"{w['trace']} ({w['kind']}), {start} – {end} UTC"


def register(root: typer.Typer) -> None:
    """Add the search and compare commands to the root app."""
    root.command("search")(search)
    root.command("compare")(compare_cmd)
