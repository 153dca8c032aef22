"""Compare allocation policies over seeds and carbon budgets, as the CE-NAS paper does.

For every policy × seed × carbon budget the same study (task, trace window, GPUs, hours)
runs in simulation; runs go to parallel processes. Results:

* hypervolume under each carbon budget (per seed, mean, std);
* carbon needed to reach a target ``log10(HV_max − HV)`` (per seed and median), measured in
  the runs with the largest budget, and its ratio to vanilla, to the clairvoyant reference
  and to the *floor*: the cheapest set of true Pareto-front cells whose hypervolume reaches
  the target, trained at the window's lowest intensity — no search can spend less. Each
  ratio is the geometric mean of per-seed ratios over the seeds where both reached the
  target (:func:`cenas.metrics.paired_ratio`); the floor is exact
  (:func:`cenas.metrics.cheapest_front_subset`).
"""

from __future__ import annotations

import itertools
import json
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cenas.bench import get_task
from cenas.config import StudyConfig
from cenas.engine.energy import JOULES_PER_KWH
from cenas.errors import ConfigError
from cenas.metrics import (
    RATIO_DEFINITION,
    carbon_to_target,
    cheapest_front_subset,
    median_with_misses,
    paired_ratio,
)
from cenas.signals import resolve_trace
from cenas.study import build_engine, provenance


@dataclass(frozen=True)
class RunResult:
    """Outcome of one simulated run."""

    policy: str
    seed: int
    budget_g: float | None
    hv_ratio: float
    log_hv_diff: float
    carbon_g: float
    carbon_to_target_g: float | None
    hours_to_target: int | None
    n_trained: int
    curve_log_hv: list[float]
    curve_carbon: list[float]
    curve_n_train: list[int]


def run_one(config_dict: dict[str, Any], target: float) -> RunResult:
    """Run one study in memory (no database) and summarise it."""
    config = StudyConfig.from_dict(config_dict)
    engine = build_engine(config)
    engine.run()
    curve_carbon = [r.cum_carbon_g for r in engine.records]
    curve_log_hv = [r.log_hv_diff for r in engine.records]
    reached = carbon_to_target(curve_carbon, curve_log_hv, target)
    c2t, h2t = reached if reached is not None else (None, None)
    s = engine.summary()
    return RunResult(
        policy=config.policy,
        seed=config.seed,
        budget_g=config.budget_g,
        hv_ratio=float(s["hv_ratio"]),
        log_hv_diff=float(s["log_hv_diff"]),
        carbon_g=float(s["carbon_g"]),
        carbon_to_target_g=c2t,
        hours_to_target=h2t,
        n_trained=int(s["n_trained"]),
        curve_log_hv=curve_log_hv,
        curve_carbon=curve_carbon,
        curve_n_train=[r.n_train for r in engine.records],
    )


def front_cells(task_name: str) -> NDArray[np.int64]:
    """Indices of the cells whose true objectives lie on the task's true Pareto front."""
    task = get_task(task_name)
    return np.flatnonzero(
        np.isin(
            task.all_objectives().view([("a", float), ("b", float)]).ravel(),
            task.true_front().view([("a", float), ("b", float)]).ravel(),
        )
    )


def floor_carbon_g(config: StudyConfig, target: float) -> float | None:
    """The exact floor: carbon of the cheapest set of true-front cells whose hypervolume
    reaches ``target``, every training charged at the window's cleanest hour.

    No search can reach the target with less carbon (it must train cells whose
    hypervolume reaches it, and nothing is cheaper to train than front cells at the
    cleanest hour), so this is a lower bound. The subset is found exactly by
    :func:`cenas.metrics.cheapest_front_subset` for any front size.

    Returns:
        Grams CO2eq, or ``None`` if even the whole front cannot reach ``target``.
    """
    task = get_task(config.task)
    trace, offset = resolve_trace(config)
    cleanest = float(trace.values[offset : offset + config.hours].min())
    idx = front_cells(config.task)
    best = cheapest_front_subset(
        task.objectives(idx), task.train_cost(idx), task.ref_point, task.hv_max - 10.0**target
    )
    if best is None:
        return None
    return best * config.power.train_w / JOULES_PER_KWH * cleanest


def hv_stats(values: Sequence[float]) -> dict[str, Any]:
    """Per-seed values, mean and sample standard deviation (``None`` for one seed)."""
    arr = np.asarray(values, dtype=np.float64)
    return {
        "per_seed": [float(v) for v in arr],
        "mean": float(arr.mean()) if arr.size else None,
        "std": float(arr.std(ddof=1)) if arr.size > 1 else None,
    }


def compare(
    base: StudyConfig,
    policies: Sequence[str],
    seeds: int,
    budgets_g: Sequence[float],
    target: float,
    workers: int | None = None,
    progress: Callable[[RunResult], None] | None = None,
) -> dict[str, Any]:
    """Run every policy × seed × budget and build the summary.

    Returns:
        The summary dictionary (what ``summary.json`` holds), with the raw runs under
        ``runs``.
    """
    configs = []
    for policy, seed, budget in itertools.product(policies, range(seeds), budgets_g):
        cfg = StudyConfig.from_dict(base.to_dict())
        cfg.policy, cfg.seed, cfg.budget_g = policy, base.seed + seed, budget
        cfg.validate()
        configs.append(cfg.to_dict())
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise ConfigError(f"workers: must be 1 or more processes, got {workers!r}")
    workers = workers or min(len(configs), os.cpu_count() or 1)
    results: list[RunResult] = []
    if workers <= 1:
        for c in configs:
            results.append(run_one(c, target))
            if progress:
                progress(results[-1])
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(run_one, c, target) for c in configs]
            for f in futures:
                results.append(f.result())
                if progress:
                    progress(results[-1])
    return summarise(
        base, policies, budgets_g, target, results, floor_g=floor_carbon_g(base, target)
    )


def summarise(
    base: StudyConfig,
    policies: Sequence[str],
    budgets_g: Sequence[float],
    target: float,
    results: Sequence[RunResult],
    floor_g: float | None = None,
) -> dict[str, Any]:
    """Aggregate runs into the per-policy summary with ratios.

    Carbon to target is read from the runs with the largest budget. Every ratio is a
    :func:`cenas.metrics.paired_ratio`: the geometric mean, over the seeds where both
    sides reached the target, of the per-seed ratio (see
    :data:`cenas.metrics.RATIO_DEFINITION`); ``pairs`` counts those seeds. The ratio to
    the floor divides each reached seed's carbon by the floor.

    Args:
        base: The study every run started from.
        policies: Policies, in table order.
        budgets_g: Carbon budgets (grams).
        target: The target ``log10(HV_max − HV)``.
        results: Every run.
        floor_g: The floor (:func:`floor_carbon_g`), or ``None`` if the front cannot
            reach the target.
    """
    top = max(budgets_g)
    c2t: dict[str, list[float | None]] = {}
    per_policy: dict[str, Any] = {}
    for p in policies:
        mine = sorted((r for r in results if r.policy == p), key=lambda r: r.seed)
        c2t[p] = [r.carbon_to_target_g for r in mine if r.budget_g == top]
        per_policy[p] = {
            "carbon_to_target_g": {
                "per_seed": c2t[p],
                "median": median_with_misses(c2t[p]),
            },
            "reached_target": sum(v is not None for v in c2t[p]),
            "hv_ratio": {
                str(b): hv_stats([r.hv_ratio for r in mine if r.budget_g == b]) for b in budgets_g
            },
        }
    for p, entry in per_policy.items():
        ratios: dict[str, Any] = {}
        pairs: dict[str, int] = {}
        if "vanilla" in c2t:
            ratios["vanilla_over_policy"], pairs["vanilla"] = paired_ratio(c2t["vanilla"], c2t[p])
        else:
            ratios["vanilla_over_policy"], pairs["vanilla"] = None, 0
        if "clairvoyant" in c2t:
            ratios["policy_over_clairvoyant"], pairs["clairvoyant"] = paired_ratio(
                c2t[p], c2t["clairvoyant"]
            )
        else:
            ratios["policy_over_clairvoyant"], pairs["clairvoyant"] = None, 0
        if floor_g:
            ratios["policy_over_floor"], pairs["floor"] = paired_ratio(
                c2t[p], [floor_g] * len(c2t[p])
            )
        else:
            ratios["policy_over_floor"], pairs["floor"] = None, 0
        entry["ratios"] = ratios
        entry["ratio_pairs"] = pairs
    return {
        "target_log_hv_diff": target,
        "budgets_g": list(budgets_g),
        "ratio_definition": RATIO_DEFINITION,
        "floor_carbon_g": floor_g,
        "policies": per_policy,
        "config": base.to_dict(),
        "window": window_of(base),
        "provenance": provenance(base),
        "runs": [r.__dict__ for r in results],
    }


def window_of(config: StudyConfig) -> dict[str, Any]:
    """The window a study runs on: trace label, first hour, end (exclusive), hours."""
    trace, offset = resolve_trace(config)
    first = trace.start + pd.Timedelta(hours=offset)
    return {
        "trace": config.trace if config.trace is not None else f"bundled {config.zone}",
        "kind": config.kind,
        "start": first.isoformat(),
        "end": (first + pd.Timedelta(hours=config.hours)).isoformat(),
        "hours": config.hours,
    }


def write_compare(summary: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write ``summary.json``, ``runs.json`` and the figures; return the written paths."""
    import matplotlib

    matplotlib.use("Agg")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    slim = {k: v for k, v in summary.items() if k != "runs"}
    (out / "summary.json").write_text(json.dumps(slim, indent=2), encoding="utf-8")
    (out / "runs.json").write_text(json.dumps(summary["runs"]), encoding="utf-8")
    paths = [out / "summary.json", out / "runs.json"]
    for name, draw in (
        ("hv_over_time.png", _fig_progress),
        ("hv_boxplots.png", _fig_boxplots),
        ("carbon_to_target.png", _fig_carbon_to_target),
    ):
        draw(summary, out / name)
        paths.append(out / name)
    return paths


_STYLES = (
    ("-", "o"),
    ("--", "s"),
    ("-.", "^"),
    (":", "D"),
    ((0, (5, 1, 1, 1)), "v"),
    ((0, (1, 1)), "P"),
)


def _style(i: int) -> dict[str, Any]:
    """Line style, marker and staggered marker positions of the ``i``-th policy, so that
    curves lying on top of each other stay visible."""
    ls, marker = _STYLES[i % len(_STYLES)]
    return {"ls": ls, "marker": marker, "markevery": (i % 4 * 2, 8), "ms": 4, "lw": 1.4}


def _subtitle(summary: dict[str, Any]) -> str:
    w = summary.get("window") or {}
    seeds = len(next(iter(summary["policies"].values()))["carbon_to_target_g"]["per_seed"])
    start = str(w.get("start", "?"))[:16].replace("T", " ")
    end = str(w.get("end", "?"))[:16].replace("T", " ")
    return f"{w.get('trace', '?')}, {start} – {end} UTC, {seeds} seeds"


def _runs_of(summary: dict[str, Any], policy: str, budget: float) -> list[dict[str, Any]]:
    return [r for r in summary["runs"] if r["policy"] == policy and r["budget_g"] == budget]


def _fig_progress(summary: dict[str, Any], path: Path) -> None:
    """Median ``log10(HV_max − HV)`` against hours and against carbon spent, largest budget."""
    import matplotlib.pyplot as plt

    top = max(summary["budgets_g"])
    fig, (ax_h, ax_c) = plt.subplots(1, 2, figsize=(12.5, 4.2), sharey=True)
    for i, p in enumerate(summary["policies"]):
        runs = _runs_of(summary, p, top)
        curves = [r["curve_log_hv"] for r in runs if r["curve_log_hv"]]
        if not curves:
            continue
        n = max(len(c) for c in curves)
        # a run that stopped (its budget spent) keeps its last value
        mat = np.array([c + [c[-1]] * (n - len(c)) for c in curves])
        med = np.median(mat, axis=0)
        (line,) = ax_h.plot(np.arange(1, n + 1), med, label=p, **_style(i))
        # where the runs end (budget spent, or the time budget): median hour
        h = int(np.median([len(c) for c in curves]))
        ax_h.plot(h, med[h - 1], "X", ms=9, color=line.get_color(), mec="black", mew=0.6)
        # against carbon: each run's step curve sampled on a common grid of carbon spent
        grid = np.linspace(0.0, max(max(r["curve_carbon"]) for r in runs), 200)
        sampled = []
        for r in runs:
            carbon = np.asarray(r["curve_carbon"])
            values = np.asarray(r["curve_log_hv"])
            at = np.searchsorted(carbon, grid, side="right") - 1
            sampled.append(np.where(at >= 0, values[np.clip(at, 0, None)], np.nan))
        with warnings.catch_warnings():  # before any run's first step: no value yet
            warnings.simplefilter("ignore", RuntimeWarning)
            med_c = np.nanmedian(np.array(sampled), axis=0)
        style = _style(i) | {"markevery": (i * 5, 40)}
        ax_c.plot(grid / 1000.0, med_c, color=line.get_color(), label=p, **style)
        ends = [r["curve_carbon"][-1] / 1000.0 for r in runs]
        ax_c.plot(
            np.median(ends),
            med_c[-1],
            "X",
            ms=9,
            color=line.get_color(),
            mec="black",
            mew=0.6,
        )
    for ax in (ax_h, ax_c):
        ax.axhline(summary["target_log_hv_diff"], color="gray", ls=":", lw=1)
        ax.grid(alpha=0.3)
    ax_h.plot([], [], "X", color="gray", mec="black", label="runs end (median)")
    ax_h.plot([], [], ":", color="gray", label="target")
    ax_h.set_xlabel("hour")
    ax_h.set_ylabel("median log10(HV_max − HV)  (lower is better)")
    ax_h.set_title("against time")
    ax_c.set_xlabel("carbon spent (kg CO2eq)")
    ax_c.set_title("against carbon")
    handles, labels = ax_h.get_legend_handles_labels()
    ax_c.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle(f"Search progress, {top / 1000:g} kg budget — {_subtitle(summary)}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _points(ax: Any, data: list[list[float]], seed: int = 0) -> None:
    """Every seed as a dot beside its box (jittered sideways, never up or down)."""
    rng = np.random.default_rng(seed)
    for k, values in enumerate(data, start=1):
        if values:
            x = k + rng.uniform(-0.12, 0.12, len(values))
            ax.plot(x, values, "o", ms=3.5, color="black", alpha=0.6, zorder=3)


def _fig_boxplots(summary: dict[str, Any], path: Path) -> None:
    """HV/HV_max under each budget: boxes, every seed as a point, one shared y-axis."""
    import matplotlib.pyplot as plt

    budgets = summary["budgets_g"]
    policies = list(summary["policies"])
    fig, axes = plt.subplots(
        1, len(budgets), figsize=(3.6 * len(budgets) + 0.8, 4.2), squeeze=False, sharey=True
    )
    for ax, b in zip(axes[0], budgets, strict=True):
        data = [[r["hv_ratio"] for r in _runs_of(summary, p, b)] for p in policies]
        ax.boxplot(data, tick_labels=policies, showfliers=False, widths=0.5)
        _points(ax, data)
        ax.set_title(f"budget {b / 1000:g} kg")
        ax.tick_params(axis="x", rotation=45)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("HV / HV_max (higher is better)")
    fig.suptitle(f"Final hypervolume — {_subtitle(summary)}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fig_carbon_to_target(summary: dict[str, Any], path: Path) -> None:
    """Carbon to the target: every seed, the median and IQR, and the floor (log scale)."""
    import matplotlib.pyplot as plt

    policies = list(summary["policies"])
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    data, labels = [], []
    for p in policies:
        entry = summary["policies"][p]["carbon_to_target_g"]
        got = [v / 1000.0 for v in entry["per_seed"] if v is not None]
        data.append(got)
        labels.append(f"{p}\n{len(got)}/{len(entry['per_seed'])}")
    ax.boxplot([d or [np.nan] for d in data], tick_labels=labels, showfliers=False, widths=0.5)
    _points(ax, data)
    for k, p in enumerate(policies, start=1):
        med = summary["policies"][p]["carbon_to_target_g"]["median"]
        text = "median not reached" if med is None else f"median {med / 1000:.2f}"
        ax.annotate(
            text,
            (k, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, -4),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=7,
        )
    floor = summary.get("floor_carbon_g")
    ax.set_yscale("log")
    if floor:
        ax.axhline(floor / 1000.0, color="tab:red", ls="--", lw=1.2)
        ax.annotate(
            f"floor {floor / 1000:.3f} kg (cheapest true-front cells at the cleanest hour)",
            (0.01, floor / 1000.0),
            xycoords=("axes fraction", "data"),
            xytext=(0, 3),
            textcoords="offset points",
            fontsize=7,
            color="tab:red",
        )
        low = min([floor / 1000.0] + [v for d in data for v in d])
        high = max([floor / 1000.0] + [v for d in data for v in d])
        ax.set_ylim(low / 1.6, high * 2.0)
    ax.set_ylabel("kg CO2eq to reach the target (log scale)")
    ax.set_xlabel("policy, seeds that reached the target")
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.set_title(
        f"Carbon to reach log10(HV_max − HV) ≤ {summary['target_log_hv_diff']:g}, "
        f"{max(summary['budgets_g']) / 1000:g} kg runs\n{_subtitle(summary)}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["RunResult", "compare", "floor_carbon_g", "run_one", "summarise", "write_compare"]
