"""How much cleaner are a window's cleanest hours? The headroom carbon-aware timing has.

Reference: CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024) saves carbon by training in clean
hours. Timing can save at most the gap between a window's mean intensity and the mean of
its cleanest hours. For each of the 50 evaluation windows of ``benchmarks/rl.py`` (five
zones × ten seeds, 80 hours of 2023, drawn by ``rl.window``) this prints the ratio of the
window's mean intensity to the mean of its cleanest 30 % of hours (the share the
clairvoyant policy trains in), per zone and over all windows.

Usage::

    python benchmarks/clean_dirty.py [--seeds 10] [--share 0.3]
        [--out benchmarks/results/clean-dirty.txt]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cenas.carbon import BUNDLED_ZONES, load_bundled
from cenas.study import git_commit
from rl import EVAL_YEAR, HOURS, window


def ratio(values: np.ndarray, share: float) -> float:
    """Mean of ``values`` over the mean of its cleanest ``share`` of entries."""
    k = max(1, round(share * values.shape[0]))
    return float(values.mean() / np.sort(values)[:k].mean())


def main(argv: list[str] | None = None) -> int:
    """Compute the ratios, print them and write them to ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--share", type=float, default=0.3)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/clean-dirty.txt"))
    args = ap.parse_args(argv)
    lines = [
        f"# python benchmarks/clean_dirty.py --seeds {args.seeds} --share {args.share:g}",
        f"git commit: {git_commit()}",
        f"window mean / mean of its cleanest {args.share:.0%} of hours; the {HOURS}-hour "
        f"windows of benchmarks/rl.py ({EVAL_YEAR}, {args.seeds} seeds per zone)",
        "",
        f"{'zone':<14}{'mean':>8}{'median':>8}{'min':>8}{'max':>8}",
    ]
    every = []
    for zone in BUNDLED_ZONES:
        values = np.asarray(load_bundled(zone, EVAL_YEAR).values, dtype=np.float64)
        mine = [
            ratio(values[o : o + HOURS], args.share)
            for o in (window(zone, s) for s in range(args.seeds))
        ]
        every += mine
        lines.append(
            f"{zone:<14}{np.mean(mine):>8.3f}{np.median(mine):>8.3f}"
            f"{min(mine):>8.3f}{max(mine):>8.3f}"
        )
    lines.append(
        f"{'all windows':<14}{np.mean(every):>8.3f}{np.median(every):>8.3f}"
        f"{min(every):>8.3f}{max(every):>8.3f}"
    )
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
