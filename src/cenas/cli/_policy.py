"""`cenas policy` commands: train and evaluate the learned GPU-allocation policy.

Reference: CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024). ``train`` runs PPO on episodes of
the bundled 2021-2022 traces and writes a pickle-free policy; ``evaluate`` compares a
policy with rule-based baselines on the same episodes of the held-out 2023 traces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cenas.errors import ConfigError

app = typer.Typer(
    help="Learned GPU-allocation policy (PPO): train and evaluate.", no_args_is_help=True
)
console = Console()

SignalOpt = Annotated[
    str,
    typer.Option(
        "--signal", help="Forecast in the state: actual (hindsight) or forecast (transformer)."
    ),
]
OptimizerOpt = Annotated[
    str, typer.Option("--optimizer", help="Optimiser inside each episode's engine.")
]

ZonesOpt = Annotated[
    list[str] | None,
    typer.Option("--zones", help="Bundled zone(s); repeat or comma-separate. Default: all."),
]


def _split(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


def _years(values: list[str] | None) -> list[int]:
    out: list[int] = []
    for value in _split(values):
        try:
            out.append(int(value))
        except ValueError:
            raise ConfigError(f"years: not a year: {value!r}") from None
    return out


def _zones(values: list[str] | None) -> list[str]:
    from cenas.carbon import BUNDLED_ZONES

    by_upper = {z.upper(): z for z in BUNDLED_ZONES}
    zones = []
    for value in _split(values):
        if value.upper() not in by_upper:
            raise ConfigError(
                f"zones: unknown {value!r}; bundled zones are {', '.join(BUNDLED_ZONES)}"
            )
        zones.append(by_upper[value.upper()])
    return zones


@app.command("train")
def train(
    action: Annotated[
        str,
        typer.Option(
            "--action",
            help="Action space: discrete, continuous, discrete-release or continuous-release "
            "(the last two also release GPUs).",
        ),
    ] = "discrete",
    timesteps: Annotated[int, typer.Option("--timesteps", help="Environment steps.")] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of everything random.")] = 0,
    out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("rl-policy"),
    zones: ZonesOpt = None,
    years: Annotated[
        list[str] | None,
        typer.Option("--years", help="Training year(s); repeatable. Default 2021-2022."),
    ] = None,
    hours: Annotated[int, typer.Option("--hours", help="Episode length in hours.")] = 80,
    levels: Annotated[
        int, typer.Option("--levels", help="Training-share levels of the discrete kinds.")
    ] = 10,
    release_levels: Annotated[
        int, typer.Option("--release-levels", help="Release-share levels of discrete-release.")
    ] = 5,
    n_envs: Annotated[int, typer.Option("--n-envs", help="Environments per rollout.")] = 4,
    eval_every: Annotated[
        int, typer.Option("--eval-every", help="Timesteps between validation runs (0: never).")
    ] = 4_000,
    warm_start: Annotated[
        str, typer.Option("--warm-start", help="Teacher to clone before PPO, or 'none'.")
    ] = "static",
    optimizer: OptimizerOpt = "lamoo",
    signal: SignalOpt = "forecast",
    parallel: Annotated[
        bool,
        typer.Option(
            "--parallel/--serial",
            help="Step each environment in its own process (same result, uses all cores).",
        ),
    ] = True,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Train a GPU-allocation policy with PPO and write it (no pickle) to --out."""
    from cenas.policy.registry import POLICIES
    from cenas.rl import EnvConfig, PPOSettings, train_policy

    if n_envs <= 0:
        raise ConfigError(f"n-envs: must be positive, got {n_envs}")
    teacher = None if warm_start.lower() == "none" else warm_start
    if teacher is not None and (teacher not in POLICIES or teacher.startswith("rl")):
        raise ConfigError(f"warm-start: unknown rule-based policy {warm_start!r}")
    year_list = _years(years)
    if 2023 in year_list:
        console.print("[yellow]warning:[/] 2023 is the held-out evaluation year")
    extra = [f"--hours {hours}"] if hours != 80 else []
    extra += [f"--n-envs {n_envs}"] if n_envs != 4 else []
    extra += [f"--eval-every {eval_every}"] if eval_every != 4_000 else []
    result = train_policy(
        action=action,
        timesteps=timesteps,
        seed=seed,
        out_dir=out,
        config=EnvConfig(
            optimizer=optimizer, signal=signal, n_levels=levels, n_release_levels=release_levels
        ),
        zones=_zones(zones) or None,
        years=year_list or None,
        hours=hours,
        ppo=PPOSettings(n_envs=n_envs, warm_start=teacher),
        eval_every=eval_every,
        progress_bar=not quiet,
        parallel=parallel,
        command_extra=extra,
    )
    console.print(
        f"Trained {action} policy: {result.timesteps} timesteps in {result.seconds:.0f} s\n"
        f"  final → {out / 'policy.json'} (+ .npz)\n"
        f"  best on validation → {out / 'best.json'} (+ .npz)"
    )


@app.command("evaluate")
def evaluate(
    policy_file: Annotated[
        Path | None,
        typer.Option("--policy-file", help="Policy .json/.npz (or their stem). Default: shipped."),
    ] = None,
    kind: Annotated[
        str, typer.Option("--kind", help="Shipped policy when no file: discrete or continuous.")
    ] = "discrete",
    zones: ZonesOpt = None,
    years: Annotated[
        list[str] | None,
        typer.Option("--years", help="Evaluation year(s); default 2023 (held out)."),
    ] = None,
    episodes: Annotated[int, typer.Option("--episodes", help="Episodes per policy.")] = 10,
    hours: Annotated[int, typer.Option("--hours", help="Episode length in hours.")] = 80,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the episode draw.")] = 0,
    baselines: Annotated[
        str, typer.Option("--baselines", help="Comma-separated rule-based policies.")
    ] = "static,heuristic,vanilla",
    optimizer: OptimizerOpt = "lamoo",
    signal: SignalOpt = "forecast",
) -> None:
    """Compare a policy with rule-based baselines on the same (unseen) episodes."""
    from cenas.policy.registry import POLICIES
    from cenas.rl import EVAL_YEARS, EnvConfig, evaluate_policy

    names = _split([baselines])
    for name in names:
        if name not in POLICIES or name.startswith("rl"):
            raise ConfigError(f"baselines: unknown rule-based policy {name!r}")
    results = evaluate_policy(
        policy_file,
        kind=kind,
        config=EnvConfig(hours=hours, optimizer=optimizer, signal=signal),
        zones=_zones(zones) or None,
        years=_years(years) or EVAL_YEARS,
        n_episodes=episodes,
        seed=seed,
        baselines=names,
    )
    table = Table(title=f"{episodes} episodes (same windows, budgets and seeds for each policy)")
    for col in ("policy", "mean return", "mean HV/HVmax", "log10(HVmax−HV)", "carbon kg"):
        table.add_column(col, justify="left" if col == "policy" else "right", no_wrap=True)
    for s in results.values():
        table.add_row(
            s.policy,
            f"{s.mean_return:.3f} ± {s.std_return:.3f}",
            f"{s.mean_hv_ratio:.4f} ± {s.std_hv_ratio:.4f}",
            f"{s.mean_log_hv_diff:.3f}",
            f"{s.mean_carbon_g / 1000:.2f} ± {s.std_carbon_g / 1000:.2f}",
        )
    console.print(table)


__all__ = ["app"]
