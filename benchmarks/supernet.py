"""How well a small, CPU-trained weight-sharing supernet ranks NAS-Bench-201 cells.

A reduced SPOS supernet (default C=8, N=1; Guo et al., ECCV 2020) trains for a few minutes
on one CPU thread on the packaged CIFAR-10 subset (or ``--data``: a local CIFAR-10 copy such
as the shared JPEG tarball, of which ``--train-images`` are used); optionally the five
few-shot sub-supernets (Zhao et al., ICML 2021, edge 0 split) are trained further from it.
Then ``--cells`` random cells are estimated by inheritance with batch-norm recalibration on a
held-out validation split, and their estimates are rank-correlated (Kendall tau, Spearman)
with NAS-Bench-201's CIFAR-10 test accuracy after 200 epochs. For reference, the same cells'
published estimates of the paper's 600-epoch C=16, N=5 supernets (full CIFAR-10, GPU) are
rank-correlated too.

This tiny CPU run is NOT the paper's 600-epoch supernet: it measures what the code does at
this scale and how long each part takes, nothing more.

    python benchmarks/supernet.py

Writes benchmarks/results/supernet.txt (or --out) with the command, git commit, torch
version, threads and load average.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import importlib.resources
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import kendalltau, spearmanr

from cenas.bench import load_nb201_table
from cenas.datasets import ImageSet, load_cifar
from cenas.estimators._supernet import FewShotEstimator, OneShotEstimator, SupernetConfig
from cenas.space import NB201Space
from cenas.study import git_commit


def load() -> str:
    """The machine's load average, 1/5/15 minutes."""
    a, b, c = os.getloadavg()
    return f"{a:.2f} / {b:.2f} / {c:.2f}"


def published_supernet_table() -> pd.DataFrame:
    """The packaged published one-shot/few-shot estimates, by space enumeration index."""
    path = importlib.resources.files("cenas") / "data" / "nb201" / "nb201_supernet.csv.gz"
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        table = pd.read_csv(fh)
    space = NB201Space()
    table["space_index"] = [space.to_index(space.from_str(s)) for s in table["arch_str"]]
    return table.set_index("space_index").sort_index()


def correlations(score: np.ndarray, truth: np.ndarray) -> str:
    """Kendall tau and Spearman rho of ``score`` against ``truth``."""
    tau = kendalltau(score, truth).statistic
    rho = spearmanr(score, truth).statistic
    return f"Kendall tau {tau:+.3f}, Spearman {rho:+.3f}"


def estimate_all(
    est: OneShotEstimator | FewShotEstimator, cells: list[str], data: ImageSet
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and seconds of every cell."""
    scores, seconds = [], []
    for arch in cells:
        r = est.estimate(arch, data, torch.device("cpu"))
        scores.append(r.score)
        seconds.append(r.seconds)
    return np.array(scores), np.array(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="local CIFAR-10 copy")
    parser.add_argument("--train-images", type=int, default=0, help="subset of --data (0: all)")
    parser.add_argument("--val-size", type=int, default=600)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--cells-per-stage", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--few-shot-epochs", type=int, default=0, help="0: one-shot only")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--recal-batches", type=int, default=2)
    parser.add_argument("--eval-batch-size", type=int, default=256)
    parser.add_argument("--cells", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/supernet.txt"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    command = "python " + " ".join([sys.argv[0], *sys.argv[1:]])
    lines = [
        f"# {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC: {command}",
        f"# git {git_commit()}, torch {torch.__version__}, python {platform.python_version()}, "
        f"cpu, torch threads {torch.get_num_threads()} (machine: {os.cpu_count()} cores, "
        "shared with other jobs)",
        f"# load average (1/5/15 min) at start: {load()}",
        "# NOT the paper's supernet: a reduced network trained for minutes on one CPU thread",
        "# on a few thousand images, against the paper's 600-epoch C=16 N=5 supernet",
        "# (5 x 300 more epochs for few-shot) on all of CIFAR-10 on a GPU.",
    ]
    wall0 = time.perf_counter()
    data = load_cifar(args.data, "cifar10", "train")
    if args.data is not None and 0 < args.train_images < len(data):
        gen = torch.Generator().manual_seed(args.seed)
        keep = torch.sort(torch.randperm(len(data), generator=gen)[: args.train_images]).values
        data = data.subset(keep, f"{data.source} ({args.train_images} random images)")
    config = SupernetConfig(
        channels=args.channels,
        cells_per_stage=args.cells_per_stage,
        epochs=args.epochs,
        few_shot_epochs=args.few_shot_epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        val_size=args.val_size,
        split_seed=args.seed,
        recal_batches=args.recal_batches,
        eval_batch_size=args.eval_batch_size,
    )
    lines.append(
        f"data: {data.source}, {len(data)} training images: {len(data) - args.val_size} train "
        f"the supernet, {args.val_size} validate (seeded stratified split)"
    )
    lines.append(f"config: {config}")

    space = NB201Space()
    rng = np.random.default_rng(args.seed)
    index = np.sort(rng.choice(space.size, size=args.cells, replace=False))
    cells = [space.to_str(space.from_index(int(i))) for i in index]
    table = load_nb201_table()
    truth = table["cifar10_test_acc_200ep"].to_numpy()[index]
    lines.append(
        f"cells: {args.cells} drawn uniformly without replacement (seed {args.seed}); "
        "truth: NAS-Bench-201 CIFAR-10 test accuracy after 200 epochs"
    )
    lines.append("")

    cpu = torch.device("cpu")
    one = OneShotEstimator(config)
    one.prepare(data, cpu)
    scores, secs = estimate_all(one, cells, data)
    lines.append(
        f"one-shot supernet: {config.epochs} epochs trained in {one.train_seconds:.1f} s "
        f"({one.train_seconds / max(config.epochs, 1):.2f} s/epoch); training loss "
        f"{one.train_losses[0]:.3f} (epoch 1) -> {one.train_losses[-1]:.3f} (last)"
    )
    lines.append(
        f"  one estimate (recalibrate {config.recal_batches} x {config.eval_batch_size} images, "
        f"validate {args.val_size}): median {np.median(secs):.3f} s, mean {secs.mean():.3f} s, "
        f"total {secs.sum():.1f} s for {args.cells} cells"
    )
    lines.append(
        f"  estimates: validation accuracy {scores.min():.1f} .. {scores.max():.1f} %, "
        f"mean {scores.mean():.1f} %"
    )
    lines.append(f"  vs NB201 200-epoch accuracy: {correlations(scores, truth)}")
    rows = {"one_shot": scores}
    if args.few_shot_epochs > 0:
        tmp = args.out.parent / ".supernet-one-shot.pt"
        one.save(tmp)
        few = FewShotEstimator(config, one_shot_weights=tmp)
        few_seconds = few.prepare(data, cpu)
        tmp.unlink()
        f_scores, f_secs = estimate_all(few, cells, data)
        lines.append(
            f"few-shot: 5 sub-supernets (edge 0 split) x {config.few_shot_epochs} epochs "
            f"warm-started from the one-shot supernet, {few_seconds:.1f} s more training"
        )
        lines.append(
            f"  one estimate: median {np.median(f_secs):.3f} s; accuracy "
            f"{f_scores.min():.1f} .. {f_scores.max():.1f} %"
        )
        lines.append(f"  vs NB201 200-epoch accuracy: {correlations(f_scores, truth)}")
        rows["few_shot"] = f_scores
    published = published_supernet_table().loc[index]
    lines.append("")
    lines.append(
        "reference, the same cells: published estimates of Zhao et al.'s 600-epoch C=16 N=5 "
        "supernets (aoiang/few-shot-NAS)"
    )
    lines.append(f"  one-shot vs NB201: {correlations(published['one_shot'].to_numpy(), truth)}")
    lines.append(f"  few-shot vs NB201: {correlations(published['few_shot'].to_numpy(), truth)}")
    lines.append(
        f"  this run's one-shot vs the published one-shot: "
        f"{correlations(scores, published['one_shot'].to_numpy())}"
    )
    lines.append("")
    lines.append("per cell (space index, NB201 200-epoch %, estimates %):")
    for k, i in enumerate(index):
        est = " ".join(f"{name}={vals[k]:.1f}" for name, vals in rows.items())
        lines.append(f"  {int(i):5d} {truth[k]:6.2f} {est}")
    lines.append("")
    lines.append(f"# load average at end: {load()}; wall time {time.perf_counter() - wall0:.1f} s")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
