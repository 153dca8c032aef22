"""Compare allocation policies over seeds and carbon budgets, as the CE-NAS paper does.

For every policy × seed × carbon budget the same study (task, trace window, GPUs, hours)
runs in simulation; runs go to parallel processes. Results:

* hypervolume under each carbon budget (per seed, mean, std);
* carbon needed to reach a target ``log10(HV_max − HV)`` (per seed and median), measured in
  the runs with the largest budget, and its ratio to vanilla, to the clairvoyant reference
  and to the *floor*: the cheapest set of true Pareto-front cells whose hypervolume reaches
  the target, trained at the window's lowest intensity — no search can spend less.
"""

from __future__ import annotations

import itertools
import json
import os
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
from cenas.metrics import (
    RATIO_DEFINITION,
    carbon_to_target,
    cheapest_front_subset,
    median_with_misses,
    paired_ratio,
)
from cenas.study import build_engine, provenance, resolve_trace


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
    """Write ``summary.json`` and the figures; return the written paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "summary.json"]
    slim = {k: v for k, v in summary.items() if k != "runs"}
    (out / "summary.json").write_text(json.dumps(slim, indent=2), encoding="utf-8")
    (out / "runs.json").write_text(json.dumps(summary["runs"]), encoding="utf-8")
    paths.append(out / "runs.json")
    runs = summary["runs"]
    policies = list(summary["policies"])
    budgets = summary["budgets_g"]
    top = max(budgets)

    fig, ax = plt.subplots(figsize=(7, 4))
    for p in policies:
        curves = [r["curve_log_hv"] for r in runs if r["policy"] == p and r["budget_g"] == top]
        n = max(len(c) for c in curves)
        mat = np.array([c + [c[-1]] * (n - len(c)) for c in curves])
        ax.plot(np.arange(1, n + 1), np.median(mat, axis=0), label=p)
    ax.axhline(summary["target_log_hv_diff"], color="gray", ls=":", label="target")
    ax.set_xlabel("hour")
    ax.set_ylabel("median log10(HV_max − HV)")
    ax.set_title(f"Search progress (budget {top / 1000:g} kg)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "hv_over_time.png", dpi=110)
    plt.close(fig)
    paths.append(out / "hv_over_time.png")

    fig, axes = plt.subplots(1, len(budgets), figsize=(4 * len(budgets), 4), squeeze=False)
    for ax, b in zip(axes[0], budgets, strict=True):
        data = [
            [r["hv_ratio"] for r in runs if r["policy"] == p and r["budget_g"] == b]
            for p in policies
        ]
        ax.boxplot(data, tick_labels=policies)
        ax.set_title(f"budget {b / 1000:g} kg")
        ax.set_ylabel("HV / HV_max")
        ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(out / "hv_boxplots.png", dpi=110)
    plt.close(fig)
    paths.append(out / "hv_boxplots.png")

    fig, ax = plt.subplots(figsize=(7, 4))
    meds = [summary["policies"][p]["carbon_to_target_g"]["median"] for p in policies]
    ax.bar(policies, [m / 1000 if m is not None else 0 for m in meds], color="tab:green")
    for i, m in enumerate(meds):
        ax.text(
            i,
            (m or 0) / 1000,
            "not reached" if m is None else f"{m / 1000:.1f}",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    if summary.get("floor_carbon_g"):
        ax.axhline(summary["floor_carbon_g"] / 1000, color="gray", ls="--", label="floor")
        ax.legend(fontsize=8)
    ax.set_ylabel("kg CO2eq to reach target (median)")
    ax.set_title(f"Carbon to reach log10(HV_max − HV) ≤ {summary['target_log_hv_diff']}")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(out / "carbon_to_target.png", dpi=110)
    plt.close(fig)
    paths.append(out / "carbon_to_target.png")
    return paths


__all__ = ["RunResult", "compare", "floor_carbon_g", "run_one", "summarise", "write_compare"]
