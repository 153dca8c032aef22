"""Rank agreement and cost of every simulator estimator on NAS-Bench-201.

CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024) buys cheap estimates to choose what to train;
this measures how well each estimate ranks the cells (Spearman, Kendall, Kendall inside the
true top 10 %, precision at the top 5 % / 1 %) and what one estimate and its one-time work
cost. The computation is :func:`cenas.engine.estimator_quality.evaluate_estimators` (the
same as ``cenas estimators evaluate``); this script writes it to
``benchmarks/results/estimators.txt`` and ``estimators.png``.

    python benchmarks/estimators.py                      # CIFAR-10, 5 seeds per predictor row
    python benchmarks/estimators.py --proxy-table PATH   # another proxy table
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from cenas.engine.estimator_quality import evaluate_estimators, format_table, write_figure
from cenas.study import git_commit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--predictor-cells", default="20,50,100")
    parser.add_argument("--predictor-bases", default="low-fidelity,few-shot,zero-cost:params")
    parser.add_argument("--proxy-table", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/estimators.txt"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    rows, notes = evaluate_estimators(
        dataset=args.dataset,
        proxy_table=args.proxy_table,
        predictor_sizes=[int(n) for n in args.predictor_cells.split(",")],
        seeds=args.seeds,
        predictor_bases=[b for b in args.predictor_bases.split(",") if b],
    )
    elapsed = time.perf_counter() - t0
    figure = write_figure(
        rows,
        args.out.with_suffix(".png"),
        title=f"NAS-Bench-201 {args.dataset}: Kendall τ with the 200-epoch accuracy and cost",
    )
    bases = {r.estimator.split("@")[0]: r.cost_basis for r in rows}
    lines = [
        f"# {datetime.now(UTC).date()}: python {shlex.join(sys.argv)}",
        f"git commit: {git_commit()}",
        f"truth: {args.dataset} 200-epoch test accuracy of the NAS-Bench-201 table; "
        "n = cells scored",
        "tau top10% = Kendall tau inside the true top 10 %; P@k = share of the estimate's "
        "top k among the true top k (k = 5 % / 1 % of n)",
        "s/estimate = mean seconds of one estimate on its cost basis (below); init GPU-h = "
        "one-time work before the first (supernet training; for predictor@N the training of "
        "its N cells)",
        "",
        format_table(rows),
        "",
        "cost basis:",
        *(f"  {name}: {basis}" for name, basis in bases.items()),
        *(f"note: {n}" for n in notes),
        f"computed in {elapsed:.1f} s; figure {figure}",
    ]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text, end="")


if __name__ == "__main__":
    main()
