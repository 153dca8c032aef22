"""Rank agreement of the measured zero-cost proxies with NAS-Bench-201's final accuracy.

References: Abdelfattah, Mehrotra, Dudziak, Lane, "Zero-Cost Proxies for Lightweight NAS",
ICLR 2021 (Spearman ρ on NAS-Bench-201 CIFAR-10: synflow 0.74, jacob_cov 0.73, snip 0.58,
grad_norm 0.58, grasp 0.48, fisher 0.36); Mellor, Turner, Storkey, Crowley, "Neural
Architecture Search without Training", ICML 2021 (NASWOT, Kendall τ 0.574 on NAS-Bench-201
CIFAR-10).

Reads every cell measured so far by ``cenas estimators table`` (a uniform random sample of
the space, since the job walks a seeded permutation), joins NAS-Bench-201's CIFAR-10
200-epoch test accuracy (:func:`cenas.bench.load_nb201_table`) and reports, per proxy and
for the vote of :data:`cenas.estimators.VOTE_MEMBERS` (mean member rank): the number of
cells ``n``, Spearman ρ, Kendall τ, and Kendall τ among the cells in the true top 10 % (cells
whose accuracy is at least the 90th percentile over all 15,625 cells), each with a 95 %
percentile-bootstrap interval over cells. A NaN score (``jacob_cov`` of a cell whose output
does not depend on its input) ranks below every number, as in the vote.

Usage::

    python benchmarks/proxies.py [--from benchmarks/results/nb201-proxies]
        [--bootstrap 1000] [--seed 0] [--out benchmarks/results/proxies.txt]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.stats import kendalltau, spearmanr

from cenas.bench import load_nb201_table
from cenas.estimators import PROXIES, VOTE_MEMBERS, vote_ranks
from cenas.estimators._table import merge_shards
from cenas.study import git_commit

PUBLISHED: dict[str, str] = {
    "synflow": "ρ 0.74 (Abdelfattah et al.)",
    "jacob_cov": "ρ 0.73 (Abdelfattah et al.)",
    "snip": "ρ 0.58 (Abdelfattah et al.)",
    "grad_norm": "ρ 0.58 (Abdelfattah et al.)",
    "grasp": "ρ 0.48 (Abdelfattah et al.)",
    "fisher": "ρ 0.36 (Abdelfattah et al.)",
    "naswot": "τ 0.574 (Mellor et al.)",
}

Stat = Callable[[NDArray[np.float64], NDArray[np.float64]], float]


def _spearman(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    return float(spearmanr(x, y).statistic)


def _kendall(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    return float(kendalltau(x, y).statistic)


def interval(
    stat: Stat, x: NDArray[np.float64], y: NDArray[np.float64], reps: int, seed: int
) -> tuple[float, float, float]:
    """``stat(x, y)`` and its 95 % percentile-bootstrap interval over resampled cells."""
    if len(x) < 3:
        return float("nan"), float("nan"), float("nan")
    value = stat(x, y)
    if reps <= 0:
        return value, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = np.empty(reps)
    for r in range(reps):
        idx = rng.integers(0, len(x), len(x))
        draws[r] = stat(x[idx], y[idx])
    lo, hi = np.nanpercentile(draws, [2.5, 97.5])
    return value, float(lo), float(hi)


def main(argv: list[str] | None = None) -> int:
    """Compute the table, print it and write it to ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--from", dest="src", type=Path, default=Path("benchmarks/results/nb201-proxies")
    )
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/proxies.txt"))
    args = ap.parse_args(argv)

    bench = load_nb201_table()
    acc_by_index = dict(zip(bench["index"], bench["cifar10_test_acc_200ep"], strict=True))
    top_cut = float(np.percentile(bench["cifar10_test_acc_200ep"], 90))
    table = merge_shards(args.src)
    table["acc"] = table["index"].map(acc_by_index)

    columns = {p: p for p in PROXIES}
    columns["vote"] = "vote"
    rows: list[str] = []
    header = (
        f"{'proxy':<10} {'n':>6}  {'Spearman ρ [95% CI]':<26} {'Kendall τ [95% CI]':<26} "
        f"{'τ top-10% [95% CI]':<26} {'n top':>5}  published"
    )
    for name in columns:
        if name == "vote":
            sub = table[table[[f"{m}_s" for m in VOTE_MEMBERS]].notna().all(axis=1)]
            if sub.empty:
                continue
            score = vote_ranks({m: sub[m].to_numpy() for m in VOTE_MEMBERS})
        else:
            sub = table[table[f"{name}_s"].notna()]
            if sub.empty:
                continue
            score = vote_ranks({name: sub[name].to_numpy()})  # NaN ranks lowest
        acc = sub["acc"].to_numpy(dtype=np.float64)
        score = np.asarray(score, dtype=np.float64)
        rho = interval(_spearman, score, acc, args.bootstrap, args.seed)
        tau = interval(_kendall, score, acc, args.bootstrap, args.seed)
        top = acc >= top_cut
        tau_top = interval(_kendall, score[top], acc[top], args.bootstrap, args.seed)

        def cell(v: tuple[float, float, float]) -> str:
            return f"{v[0]:+.3f} [{v[1]:+.3f}, {v[2]:+.3f}]"

        rows.append(
            f"{name:<10} {len(sub):>6}  {cell(rho):<26} {cell(tau):<26} {cell(tau_top):<26} "
            f"{int(top.sum()):>5}  {PUBLISHED.get(name, '')}"
        )

    command = "python benchmarks/proxies.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"# {command.strip()}",
        f"git commit: {git_commit()}",
        "cells measured (table "
        f"{args.src}): "
        + ", ".join(f"{p} {int(table[f'{p}_s'].notna().sum())}" for p in PROXIES)
        + " of 15625; accuracy: NAS-Bench-201 "
        "CIFAR-10 test, 200 epochs; top 10 %: accuracy >= "
        f"{top_cut:.2f} (90th percentile of all cells); bootstrap {args.bootstrap} resamples, "
        f"seed {args.seed}; vote = mean rank of {', '.join(VOTE_MEMBERS)}; NaN ranks lowest",
        "",
        header,
        *rows,
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
