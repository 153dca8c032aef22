"""A live DARTS search on two CPU cores: wall time, cells trained, and their sizes.

Runs ``cenas search --live --space darts`` on the packaged CIFAR-10 subset with a reduced
recipe (C=4, 3 layers, 1 epoch per training, synflow estimates, two CPU workers, steps of
30 s), then checks every trained genotype's stored parameter count against the builder's
(``cenas.nn.build_darts``) and prints the study's trained front with the columns of
CE-NAS's result tables (accuracy, parameters, worker-hours, energy, carbon). Target: at
most 5 minutes on two cores.

    python benchmarks/darts_live.py --out benchmarks/results/darts-live.txt
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

COMMAND = [
    "search",
    "--live",
    "--space",
    "darts",
    "--workers",
    "2",
    "--hours",
    "6",
    "--step-minutes",
    "0.5",
    "--train-epochs",
    "1",
    "--channels",
    "4",
    "--layers",
    "3",
    "--pool-size",
    "2000",
    "--estimator",
    "zero-cost:synflow",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from cenas._git import git_commit
    from cenas.nn import build_darts
    from cenas.optimize.hypervolume import pareto_front
    from cenas.space import parse_genotype

    lines = [
        f"# python benchmarks/darts_live.py; git {git_commit()}; python "
        f"{platform.python_version()}; {os.cpu_count()} cores; load average at start "
        f"{os.getloadavg()[0]:.2f}",
        "## cenas " + " ".join(COMMAND),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "cenas",
            *COMMAND,
            "--runs-dir",
            tmp,
            "--name",
            "d",
            "--format",
            "json",
        ]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        s = json.loads(out.stdout)
        with sqlite3.connect(Path(tmp) / "d" / "study.db") as conn:
            rows = conn.execute(
                "SELECT a.arch, a.arch_str, a.objectives, SUM(l.seconds), SUM(l.energy_j), "
                "SUM(l.carbon_g) FROM archs a JOIN jobs j ON j.arch = a.arch "
                "JOIN ledger l ON l.job_id = j.id WHERE a.objectives IS NOT NULL "
                "GROUP BY a.arch"
            ).fetchall()
    lines.append(
        f"wall {wall:.1f} s for the whole command (target <= 300 s); {s['steps']} steps; "
        f"{s['n_trained']} genotypes trained, {s['n_estimated']} estimated; hypervolume "
        f"{s['hv']:.4f} ({100 * s['hv_ratio']:.2f} % of the reference box); energy "
        f"{s['energy_kwh'] * 1000:.3f} Wh (measured {s['energy_measured_kwh'] * 1000:.3f} Wh; "
        f"meters {', '.join(s['meters'])}); carbon {s['carbon_g']:.4f} g"
    )
    same = 0
    table = []
    for _arch, arch_str, objectives, seconds, energy_j, carbon in rows:
        acc, params_m = json.loads(objectives)
        built = build_darts(parse_genotype(arch_str), 4, 3, 10, auxiliary=False).count_params()
        same += int(round(params_m * 1e6) == built)
        table.append((-acc, params_m, seconds, energy_j, carbon, arch_str))
    lines.append(
        f"stored parameter count equals the builder's for {same} of {len(rows)} trained genotypes"
    )
    y = np.array([[-a, p] for a, p, *_ in table])
    front = pareto_front(y)
    lines.append("## trained front: val. accuracy %, params, worker-hours, Wh, g CO2eq, genotype")
    for acc, params_m, seconds, energy_j, carbon, arch_str in sorted(table, key=lambda r: r[1]):
        if any(np.allclose([-acc, params_m], f) for f in front):
            lines.append(
                f"{acc:6.2f} | {params_m * 1e6:8,.0f} | {seconds / 3600:.4f} | "
                f"{energy_j / 3600:.4f} | {carbon:.5f} | {arch_str}"
            )
    lines.append(f"# load average at end {os.getloadavg()[0]:.2f}")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
