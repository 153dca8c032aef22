"""Wall time of the default `cenas search` (80 h, 8 GPUs) and the share spent in the optimiser.

Runs the embedded default study in memory several times (no database, no report, as the
engine's own cost), plus one full CLI run with SQLite persistence and the report, and
prints the median and the optimiser's share measured side by side in one run.

With ``--baseline REV`` it also times the engine of git revision ``REV`` (checked out into a
temporary worktree) on the same study, alternating the two in separate processes, and
prints the ratio of their medians and whether their results are identical (the core's
backend interface must keep the simulator's result in at most 1.2x its wall time). Each
process imports ``sklearn.svm`` before the clock starts: the first LaMOO split imports it,
and what that import still has to load depends on what the package imported before (this
tree imports scipy's optimisers lazily, so it paid 0.14 s more inside the run for the same
library load), a process start-up cost the whole-CLI figure counts instead. That
comparison runs this tree on the default study of the engine before the carbon lever
(:data:`LEGACY`), which the baseline runs as its own default.

    python benchmarks/search.py --repeats 5 --baseline 35cff04
"""

from __future__ import annotations

import argparse
import json
import os
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


_ONE_RUN = """
import json, os, time
import sklearn.svm  # both engines import it at their first split: a process cost, not theirs
from cenas.config import StudyConfig
from cenas.study import build_engine
overrides = json.loads(os.environ.get("CENAS_BENCH_OVERRIDES", "{}"))
if "power" in overrides:
    from cenas.engine.energy import PowerModel
    overrides["power"] = PowerModel(**overrides["power"])
engine = build_engine(StudyConfig(**overrides))
t0 = time.perf_counter()
engine.run()
total = time.perf_counter() - t0
s = engine.summary()
print(json.dumps({"total": total, "log_hv": s["log_hv_diff"], "carbon": s["carbon_g"],
                  "hv": s["hv"], "n_trained": s["n_trained"]}))
"""


LEGACY: dict[str, Any] = {
    "policy": "rl",
    "results": "at-dispatch",
    "train_unscreened": True,
    "steer": "queue",
    "power": {"inference_w": 300.0, "proxy_w": 300.0},
    "release_idle": False,
}
"""The default study of the engine before the carbon lever, in this tree's settings: the
baseline revision runs its own default, which this reproduces, so both must agree bit for
bit."""


def run_in(
    src: str, env_threads: str = "1", overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One engine run of the default study (with ``overrides``) with the package at ``src``
    first on the path."""
    env = dict(os.environ, PYTHONPATH=src, OMP_NUM_THREADS=env_threads)
    env["CENAS_BENCH_OVERRIDES"] = json.dumps(overrides or {})
    out = subprocess.run(
        [sys.executable, "-c", _ONE_RUN], env=env, capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def against_baseline(rev: str, repeats: int) -> None:
    """Time this tree's engine (on the legacy default study, :data:`LEGACY`) and revision
    ``rev``'s (on its own default), alternating, in fresh processes."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "baseline")
        subprocess.run(
            ["git", "-C", here, "worktree", "add", "--detach", tree, rev],
            check=True,
            capture_output=True,
        )
        try:
            new, old = [], []
            for _ in range(repeats):
                old.append(run_in(os.path.join(tree, "src")))
                new.append(run_in(os.path.join(here, "src"), overrides=LEGACY))
        finally:
            subprocess.run(
                ["git", "-C", here, "worktree", "remove", "--force", tree], capture_output=True
            )
    t_new = statistics.median(r["total"] for r in new)
    t_old = statistics.median(r["total"] for r in old)
    same = all(
        {k: v for k, v in a.items() if k != "total"} == {k: v for k, v in b.items() if k != "total"}
        for a, b in zip(new, old, strict=True)
    )
    print(
        f"baseline {rev}: engine median {t_old:6.2f} s; this tree {t_new:6.2f} s; "
        f"ratio {t_new / t_old:.3f} (target <= 1.2), {repeats} alternating runs each"
    )
    print(
        f"same result as the baseline, bit for bit: {same} "
        f"(log10(HV_max-HV) {new[0]['log_hv']!r}, carbon {new[0]['carbon']!r} g, "
        f"{new[0]['n_trained']} trained)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--policy", default=None)
    parser.add_argument("--baseline", default=None, help="git revision to compare against")
    args = parser.parse_args()
    if args.baseline is not None:
        against_baseline(args.baseline, args.repeats)
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
