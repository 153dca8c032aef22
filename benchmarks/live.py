"""Live mode on this machine: the demo search, and the scheduler's overhead.

1. The live search ``make demo`` runs (packaged CIFAR-10 subset, two CPU workers): its wall
   time (target <= 3 min on two cores), cells trained (target >= 10), and how its energy
   was obtained (RAPL where readable, else the documented power model, flagged).
2. Scheduler overhead: a live study whose jobs are a no-op trainer that sleeps a fixed time,
   so every second a worker is not inside a job is the scheduler's (dispatch, result
   handling, step ends); prints the share of worker time spent inside jobs (target >= 95 %)
   for jobs of 0.5 s and 2 s.

    python benchmarks/live.py --out benchmarks/results/live.txt
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEMO = [
    "search",
    "--live",
    "--workers",
    "2",
    "--hours",
    "8",
    "--step-minutes",
    "0.25",
    "--policy",
    "static",
    "--train-epochs",
    "2",
    "--channels",
    "4",
    "--cells",
    "1",
    "--estimator",
    "zero-cost:synflow",
]


def demo(lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "cenas",
            *DEMO,
            "--runs-dir",
            tmp,
            "--name",
            "demo",
            "--format",
            "json",
        ]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
    s = json.loads(out.stdout)
    lines.append("## 1. the live demo: cenas " + " ".join(DEMO))
    lines.append(
        f"wall {wall:.1f} s for the whole command (target <= 180 s); "
        f"engine {s['wall_seconds']:.1f} s; "
        f"{s['steps']} steps; {s['n_trained']} cells trained (target >= 10), "
        f"{s['n_estimated']} estimated"
    )
    lines.append(
        f"energy {s['energy_kwh'] * 1000:.3f} Wh: "
        f"measured {s['energy_measured_kwh'] * 1000:.3f} Wh, "
        f"modelled {s['energy_modelled_kwh'] * 1000:.3f} Wh; meters {', '.join(s['meters'])}"
    )
    lines.append(
        f"hypervolume {s['hv']:.4f} ({100 * s['hv_ratio']:.2f} % of the reference box); "
        f"carbon {s['carbon_g']:.4f} g"
    )


def overhead(lines: list[str], job_s: float, hours: int, step_minutes: float) -> None:
    from cenas.config import StudyConfig
    from cenas.live import build_live_engine

    os.environ["CENAS_BENCH_JOB_S"] = str(job_s)
    cfg = dataclasses.replace(
        StudyConfig(),
        live=True,
        gpus=2,
        hours=hours,
        step_minutes=step_minutes,
        runner="live_runners:sleep_job",
        policy="vanilla",
        optimizer="random",
        budget_g=None,
        estimator="zero-cost:synflow",
    )
    with tempfile.TemporaryDirectory() as tmp:
        engine = build_live_engine(cfg, Path(tmp))
        t0 = time.monotonic()
        try:
            engine.run()
        finally:
            wall = time.monotonic() - t0
            backend = engine.backend
            backend.close()
    busy = backend.busy_s  # type: ignore[attr-defined]
    worker_time = backend.n_workers * wall
    jobs = sum(1 for j in engine.jobs if j.status == "completed")
    lines.append(
        f"no-op jobs of {job_s:g} s, {hours} steps of {step_minutes * 60:g} s, 2 workers: "
        f"{jobs} jobs; inside jobs {busy:.1f} of {worker_time:.1f} worker-seconds = "
        f"{100 * busy / worker_time:.1f} % (target >= 95 %)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    os.environ["PYTHONPATH"] = str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")
    from cenas._git import git_commit

    load = os.getloadavg()
    lines = [
        f"# python benchmarks/live.py; git {git_commit()}; python {platform.python_version()}; "
        f"{os.cpu_count()} cores; load average at start {load[0]:.2f}",
    ]
    demo(lines)
    lines.append("## 2. scheduler overhead (a no-op trainer that sleeps)")
    overhead(lines, 0.5, 4, 0.25)
    overhead(lines, 2.0, 4, 0.25)
    lines.append(f"# load average at end {os.getloadavg()[0]:.2f}")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
