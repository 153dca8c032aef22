"""Wall time of the default `cenas search` (80 h, 8 GPUs) and the share spent in the optimiser.

Runs the embedded default study in memory several times (no database, no report, as the
engine's own cost), plus one full CLI run with SQLite persistence and the report, and
prints the median and the optimiser's share measured side by side in one run.

    python benchmarks/search.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from cenas.config import StudyConfig
from cenas.study import build_engine, git_commit


def timed_run(config: StudyConfig) -> dict[str, float]:
    engine = build_engine(config)
    opt = engine.optimizer
    spent = {"opt": 0.0}
    orig_ask, orig_tell = opt.ask, opt.tell

    def ask(n: int = 1) -> Any:
        t = time.perf_counter()
        try:
            return orig_ask(n)
        finally:
            spent["opt"] += time.perf_counter() - t

    def tell(c: Any, y: Any) -> None:
        t = time.perf_counter()
        try:
            orig_tell(c, y)
        finally:
            spent["opt"] += time.perf_counter() - t

    opt.ask, opt.tell = ask, tell  # type: ignore[method-assign]
    t0 = time.perf_counter()
    engine.run()
    total = time.perf_counter() - t0
    s = engine.summary()
    return {
        "total": total,
        "opt": spent["opt"],
        "log_hv": s["log_hv_diff"],
        "carbon": s["carbon_g"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--policy", default=None)
    args = parser.parse_args()
    config = StudyConfig() if args.policy is None else StudyConfig(policy=args.policy)
    runs = [timed_run(config) for _ in range(args.repeats)]
    totals = [r["total"] for r in runs]
    shares = [r["opt"] / r["total"] for r in runs]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "cenas", "search", "--quiet", "--runs-dir", tmp, "--name", "b"]
        if args.policy:
            cmd += ["--policy", args.policy]
        subprocess.run(cmd, check=True, capture_output=True)
        cli = time.perf_counter() - t0
    print(f"git commit: {git_commit()}")
    print(
        f"default study: policy={config.policy} optimizer={config.optimizer} "
        f"{config.gpus} GPUs {config.hours} h, {args.repeats} repeats"
    )
    print(
        f"engine run      median {statistics.median(totals):6.2f} s  "
        f"(min {min(totals):.2f}, max {max(totals):.2f})"
    )
    print(f"optimiser share median {100 * statistics.median(shares):5.1f} %")
    print(f"full CLI run (imports, SQLite, report) {cli:6.2f} s; target <= 15 s")
    same = len({(r["log_hv"], r["carbon"]) for r in runs}) == 1
    print(
        f"result: log10(HV_max-HV) {runs[0]['log_hv']:.3f}, "
        f"carbon {runs[0]['carbon'] / 1000:.2f} kg "
        f"(identical across repeats: {same})"
    )


if __name__ == "__main__":
    main()
