"""How well each simulator estimator ranks NAS-Bench-201 cells, and what it costs.

CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024) spends cheap *estimation* to choose which cells
to *train*; an estimator is only worth its carbon if its ranking agrees with the trained
accuracies. This module measures that agreement against the NAS-Bench-201 table (200-epoch
test accuracy on one data set) for every tabular estimator of
:mod:`cenas.engine.evaluators`:

* ``low-fidelity`` (12-epoch accuracy), ``one-shot`` and ``few-shot`` (supernet accuracies
  of Few-shot NAS, Zhao et al., ICML 2021; CIFAR-10 only), every zero-cost proxy and the
  vote (Abdelfattah et al., ICLR 2021) on the cells the proxy table covers;
* the GP ``predictor`` (and ``predictor:<base>``) after ``n`` randomly chosen trained cells,
  predicting every other cell, averaged over seeds.

Measures, each over the cells scored (``n``):

* Spearman's ρ and Kendall's τ-b between the estimate and the true accuracy;
* Kendall's τ-b inside the true top 10 % (do the estimates order the good cells?);
* precision at the top k: the share of the estimate's k best cells that are among the k
  truly best, for k = 5 % and 1 % of ``n`` (at least one cell; ties broken by cell index);
* cost: mean GPU-seconds per estimate (on the estimator's own basis, see
  :attr:`~cenas.engine.evaluators.Estimator.cost_basis`) and the one-time GPU-hours before
  the first estimate (supernet training; for a predictor, the training of its cells).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import kendalltau, spearmanr

from cenas.bench import NB201Task, get_task
from cenas.engine.evaluators import (
    SUPERNETS,
    PredictorEstimator,
    ProxyTable,
    ZeroCostEstimator,
    load_proxy_table,
    make_estimator,
    proxy_names,
)
from cenas.errors import DataError

TOP_FRACTION = 0.10
"""The true top share inside which Kendall's τ is measured."""

PRECISION_FRACTIONS: tuple[float, ...] = (0.05, 0.01)
"""Top-k shares for the precision measure."""


@dataclass(frozen=True)
class RankAgreement:
    """Agreement of a score with the truth over ``n`` cells (see the module docstring)."""

    n: int
    spearman: float
    kendall: float
    kendall_top: float
    precision: dict[str, float]


@dataclass(frozen=True)
class EstimatorQuality:
    """One estimator's rank agreement and cost.

    Attributes:
        estimator: The estimator's name (a predictor carries ``@<n>``, its trained cells).
        agreement: Rank agreement with the true accuracy (means over seeds for predictors).
        seconds_per_estimate: Mean GPU-seconds of one estimate over the cells scored.
        init_gpu_hours: One-time GPU-hours before the first estimate.
        cost_basis: Where the seconds come from.
        note: Coverage or averaging, in words.
    """

    estimator: str
    agreement: RankAgreement
    seconds_per_estimate: float
    init_gpu_hours: float
    cost_basis: str
    note: str = ""


def _tau(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    if a.size < 2:
        return math.nan
    return float(kendalltau(a, b).statistic)


def rank_agreement(
    score: NDArray[np.float64],
    truth: NDArray[np.float64],
    top_fraction: float = TOP_FRACTION,
    precision_fractions: Sequence[float] = PRECISION_FRACTIONS,
) -> RankAgreement:
    """Rank agreement of ``score`` with ``truth`` (both higher-better) on their finite cells.

    Args:
        score: The estimate of each cell (NaN: not scored).
        truth: The true accuracy of each cell.
        top_fraction: The true top share for the restricted Kendall τ.
        precision_fractions: Top-k shares (k = max(1, round(share * n))).
    """
    ok = np.isfinite(score) & np.isfinite(truth)
    s, t = np.asarray(score)[ok], np.asarray(truth)[ok]
    n = int(s.size)
    if n < 2:
        nan_p = {_pct(f): math.nan for f in precision_fractions}
        return RankAgreement(n, math.nan, math.nan, math.nan, nan_p)
    by_truth = np.argsort(-t, kind="stable")
    by_score = np.argsort(-s, kind="stable")
    top = by_truth[: max(2, math.ceil(top_fraction * n))]
    precision = {}
    for f in precision_fractions:
        k = max(1, round(f * n))
        precision[_pct(f)] = len(set(by_score[:k].tolist()) & set(by_truth[:k].tolist())) / k
    return RankAgreement(
        n=n,
        spearman=float(spearmanr(s, t).statistic),
        kendall=_tau(s, t),
        kendall_top=_tau(s[top], t[top]),
        precision=precision,
    )


def _pct(f: float) -> str:
    return f"{100 * f:g}%"


def _mean_agreement(items: Sequence[RankAgreement]) -> RankAgreement:
    keys = list(items[0].precision)
    return RankAgreement(
        n=round(float(np.mean([a.n for a in items]))),
        spearman=float(np.mean([a.spearman for a in items])),
        kendall=float(np.mean([a.kendall for a in items])),
        kendall_top=float(np.mean([a.kendall_top for a in items])),
        precision={k: float(np.mean([a.precision[k] for a in items])) for k in keys},
    )


def true_accuracy(task: NB201Task) -> NDArray[np.float64]:
    """200-epoch test accuracy of every cell on the task's data set (enumeration order)."""
    return -np.asarray(task.all_objectives(), dtype=np.float64)[:, 0]


def tabular_quality(
    name: str, task: NB201Task, table: ProxyTable | None = None
) -> EstimatorQuality:
    """Quality of one tabular estimator (``low-fidelity``, a supernet or a proxy)."""
    if name.startswith("zero-cost:"):
        if table is None:
            raise DataError("zero-cost estimators need a proxy table")
        est: Any = ZeroCostEstimator(
            task, name.removeprefix("zero-cost:"), table, require_complete=False
        )
    else:
        est = make_estimator(name, task)
    tab = est.tabulate()
    assert tab is not None
    score, seconds = tab
    agreement = rank_agreement(score, true_accuracy(task))
    ok = np.isfinite(score)
    size = task.space.size
    note = "" if agreement.n == size else f"{agreement.n:,} of {size:,} cells covered"
    return EstimatorQuality(
        estimator=name,
        agreement=agreement,
        seconds_per_estimate=float(np.mean(seconds[ok])) if ok.any() else math.nan,
        init_gpu_hours=est.init_cost_s / 3600.0,
        cost_basis=est.cost_basis,
        note=note,
    )


def predictor_quality(
    task: NB201Task,
    n_train: int,
    seeds: int = 5,
    base: str | None = None,
    table: ProxyTable | None = None,
) -> EstimatorQuality:
    """Quality of the GP predictor after ``n_train`` random trained cells, on the other cells.

    Each seed draws ``n_train`` distinct cells uniformly, fits the predictor on their true
    objectives and predicts every other cell; the agreement is the mean over seeds, and the
    one-time cost is the mean GPU-hours of training those cells (plus the base's init).
    """
    size = task.space.size
    results, hours = [], []
    truth = true_accuracy(task)
    name = "predictor" if base is None else f"predictor:{base}"
    pred: PredictorEstimator | None = None
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        trained = np.sort(rng.choice(size, size=n_train, replace=False))
        base_est = None if base is None else _base(base, task, table)
        pred = PredictorEstimator(task, seed=seed, base=base_est)
        pred.update(trained, task.objectives(trained))
        rest = np.setdiff1d(np.arange(size), trained)
        score = np.full(size, np.nan)
        score[rest] = -pred.predict_accuracy(rest)
        results.append(rank_agreement(score, truth))
        hours.append(float(np.sum(task.train_cost(trained))) / 3600.0 + pred.init_cost_s / 3600)
    assert pred is not None
    secs = float(np.mean([pred.cost_s(int(c)) for c in range(size)])) if base else 1.0
    return EstimatorQuality(
        estimator=f"{name}@{n_train}",
        agreement=_mean_agreement(results),
        seconds_per_estimate=secs,
        init_gpu_hours=float(np.mean(hours)),
        cost_basis=pred.cost_basis,
        note=f"mean of {seeds} seed{'s' if seeds != 1 else ''}",
    )


def _base(name: str, task: NB201Task, table: ProxyTable | None) -> Any:
    if name.startswith("zero-cost:"):
        return ZeroCostEstimator(task, name.removeprefix("zero-cost:"), table)
    return make_estimator(name, task)


def evaluate_estimators(
    dataset: str = "cifar10",
    proxy_table: Path | None = None,
    predictor_sizes: Sequence[int] = (20, 50, 100),
    seeds: int = 5,
    predictor_bases: Sequence[str] = ("low-fidelity",),
) -> tuple[list[EstimatorQuality], list[str]]:
    """Every simulator estimator's quality on one data set.

    Args:
        dataset: ``cifar10``, ``cifar100`` or ``imagenet16`` (the truth: its 200-epoch test
            accuracy). Supernet estimators exist for CIFAR-10 only.
        proxy_table: The proxy table (default: the packaged one); proxies it lacks are left out.
        predictor_sizes: Trained cells of the predictor rows.
        seeds: Seeds per predictor row.
        predictor_bases: Bases of extra ``predictor:<base>`` rows (those that apply).

    Returns:
        The rows, and notes on what was left out.
    """
    task = get_task(f"nb201-{dataset}-fpga")
    notes: list[str] = []
    rows = [tabular_quality("low-fidelity", task)]
    if dataset == "cifar10":
        rows += [tabular_quality(s, task) for s in SUPERNETS]
    else:
        notes.append("one-shot, few-shot: CIFAR-10 supernets, left out for " + dataset)
    table: ProxyTable | None = None
    try:
        table = load_proxy_table(proxy_table)
    except DataError as exc:
        notes.append(f"zero-cost proxies left out: {exc}")
    if table is not None:
        measured_on = table.info.get("provenance", {}).get("data", {}).get("dataset")
        if measured_on and measured_on != dataset:
            notes.append(f"zero-cost proxies were measured on {measured_on} images")
        for p in (*proxy_names(), "vote"):
            if table.coverage(p) < 2:
                notes.append(f"zero-cost:{p}: not in {table.path}")
                continue
            rows.append(tabular_quality(f"zero-cost:{p}", task, table))
    usable_bases = []
    for b in predictor_bases:
        if b in SUPERNETS and dataset != "cifar10":
            continue
        if b.startswith("zero-cost:") and (
            table is None or table.coverage(b.removeprefix("zero-cost:")) < task.space.size
        ):
            notes.append(f"predictor:{b}: needs a complete zero-cost table, left out")
            continue
        usable_bases.append(b)
    for n in predictor_sizes:
        rows.append(predictor_quality(task, n, seeds))
        for b in usable_bases:
            rows.append(predictor_quality(task, n, seeds, base=b, table=table))
    return rows, notes


# ------------------------------------------------------------------- output
COLUMNS: tuple[str, ...] = (
    "estimator",
    "n",
    "spearman",
    "kendall",
    "kendall_top10",
    "precision_top5%",
    "precision_top1%",
    "seconds_per_estimate",
    "init_gpu_hours",
    "cost_basis",
    "note",
)
"""Columns of the CSV and of each JSON row."""


def to_records(rows: Sequence[EstimatorQuality]) -> list[dict[str, Any]]:
    """One flat dictionary per row (the CSV/JSON form)."""
    out = []
    for r in rows:
        a = r.agreement
        out.append(
            {
                "estimator": r.estimator,
                "n": a.n,
                "spearman": a.spearman,
                "kendall": a.kendall,
                "kendall_top10": a.kendall_top,
                **{f"precision_top{k}": v for k, v in a.precision.items()},
                "seconds_per_estimate": r.seconds_per_estimate,
                "init_gpu_hours": r.init_gpu_hours,
                "cost_basis": r.cost_basis,
                "note": r.note,
            }
        )
    return out


def to_csv(rows: Sequence[EstimatorQuality]) -> str:
    """The rows as CSV text."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(to_records(rows))
    return buf.getvalue()


def to_json(rows: Sequence[EstimatorQuality], **extra: Any) -> str:
    """The rows (and any ``extra`` keys) as JSON text."""
    return json.dumps({**extra, "rows": to_records(rows)}, indent=2)


def format_table(rows: Sequence[EstimatorQuality]) -> str:
    """A plain-text table of the rows (for benchmark files)."""
    head = (
        f"{'estimator':<31} {'n':>6} {'Spearman':>8} {'Kendall':>8} {'tau top10%':>10} "
        f"{'P@5%':>6} {'P@1%':>6} {'s/estimate':>10} {'init GPU-h':>10}  note"
    )
    lines = [head, "-" * len(head)]
    for rec in to_records(rows):
        lines.append(
            f"{rec['estimator']:<31} {rec['n']:>6} {rec['spearman']:>8.3f} "
            f"{rec['kendall']:>8.3f} {rec['kendall_top10']:>10.3f} "
            f"{rec['precision_top5%']:>6.3f} {rec['precision_top1%']:>6.3f} "
            f"{rec['seconds_per_estimate']:>10.3g} {rec['init_gpu_hours']:>10.2f}  {rec['note']}"
        )
    return "\n".join(lines)


def write_figure(rows: Sequence[EstimatorQuality], path: Path, title: str = "") -> Path:
    """Kendall τ against cost (log x): per estimate, and for ranking 1,000 candidates.

    The right panel adds the one-time cost: GPU-hours of ``init + 1000 × seconds``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    for r in rows:
        kind = (
            "predictor"
            if r.estimator.startswith("predictor")
            else "zero-cost"
            if r.estimator.startswith("zero-cost")
            else "supernet"
            if r.estimator in SUPERNETS
            else "low-fidelity"
        )
        color = {
            "predictor": "tab:purple",
            "zero-cost": "tab:orange",
            "supernet": "tab:blue",
            "low-fidelity": "tab:green",
        }[kind]
        label = r.estimator.removeprefix("zero-cost:")
        if kind == "zero-cost" and r.note:  # partial coverage: say on how many cells
            label += f" (n={r.agreement.n:,})"
        per = max(r.seconds_per_estimate, 1e-4)
        total = max(r.init_gpu_hours + 1000 * r.seconds_per_estimate / 3600.0, 1e-4)
        for ax, x in zip(axes, (per, total), strict=True):
            ax.scatter([x], [r.agreement.kendall], color=color, s=30)
            ax.annotate(
                label,
                (x, r.agreement.kendall),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
    axes[0].set_xlabel("seconds per estimate (log; each estimator's cost basis)")
    axes[1].set_xlabel("hours to rank 1,000 candidates, one-time cost included (log)")
    axes[0].set_ylabel("Kendall τ with the 200-epoch test accuracy")
    for ax in axes:
        ax.set_xscale("log")
        ax.grid(True, which="both", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = [
    "COLUMNS",
    "PRECISION_FRACTIONS",
    "TOP_FRACTION",
    "EstimatorQuality",
    "RankAgreement",
    "evaluate_estimators",
    "format_table",
    "predictor_quality",
    "rank_agreement",
    "tabular_quality",
    "to_csv",
    "to_json",
    "to_records",
    "true_accuracy",
    "write_figure",
]
