"""Wall time of reading a bundled year of carbon intensity (an Electricity Maps export).

Reading a trace is on the path of every ``cenas search``; this replaces the timing
assertion that a unit test used to make. Prints the median and range of ``--repeats``
reads of each bundled 2021 trace after one warm-up read.

Usage::

    python benchmarks/traces.py [--repeats 5] [--out benchmarks/results/traces.txt]
"""

from __future__ import annotations

import argparse
import importlib.resources
import statistics
import sys
import time
from pathlib import Path

from cenas.carbon import BUNDLED_ZONES
from cenas.carbon._readers import read_electricitymaps_csv
from cenas.study import git_commit


def main(argv: list[str] | None = None) -> int:
    """Time the reads and print (and save) one line per zone."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/traces.txt"))
    args = ap.parse_args(argv)
    lines = [
        f"# python benchmarks/traces.py --repeats {args.repeats}",
        f"git commit: {git_commit()}",
        "seconds to read one bundled year (8760 hours), after a warm-up read",
    ]
    for zone in BUNDLED_ZONES:
        resource = importlib.resources.files("cenas").joinpath(
            "data", "carbon", f"{zone}_2021_hourly.csv.gz"
        )
        with importlib.resources.as_file(resource) as path:
            read_electricitymaps_csv(path)
            times = []
            for _ in range(args.repeats):
                began = time.perf_counter()
                read_electricitymaps_csv(path)
                times.append(time.perf_counter() - began)
        lines.append(
            f"{zone:<14} median {statistics.median(times):.3f} s "
            f"(min {min(times):.3f}, max {max(times):.3f})"
        )
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
