"""Fingerprints of simulated studies, to check that a change of the engine's code keeps
its results bit for bit (``tests/engine/data/golden_engine.json`` was written by the engine
before the backend interface; ``python -m tests.engine.golden`` rewrites it)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from cenas.config import StudyConfig
from cenas.engine.energy import PowerModel
from cenas.study import build_engine

LEGACY = {
    "power": PowerModel(inference_w=300.0, proxy_w=300.0),
    "results": "at-dispatch",
    "train_unscreened": True,
    "steer": "queue",
    "release_idle": False,
    "power_caps": None,
}
"""The engine before the carbon lever: every estimate drew ``estimate_w`` and results were
known at dispatch; the golden studies run in that configuration."""

GOLDEN = Path(__file__).parent / "data" / "golden_engine.json"

CASES: dict[str, dict[str, Any]] = {
    "default-rl": {"policy": "rl"},
    "static-random-24h": {"policy": "static", "optimizer": "random", "hours": 24, "gpus": 4},
    "one-shot-init": {"policy": "heuristic", "estimator": "one-shot", "hours": 30, "gpus": 6},
    "few-shot-block": {
        "policy": "static",
        "estimator": "few-shot",
        "queue_policy": "block",
        "hours": 24,
    },
    "predictor-dominance": {
        "policy": "heuristic",
        "estimator": "predictor",
        "selection": "dominance",
        "optimizer": "random",
        "hours": 24,
        "gpus": 4,
    },
    "tight-budget-vanilla": {"policy": "vanilla", "budget_g": 3000.0, "hours": 40},
    "three-gpus-seed3": {"policy": "static", "hours": 12, "gpus": 3, "seed": 3},
}


def fingerprint(overrides: dict[str, Any]) -> dict[str, Any]:
    """Run one study in memory; hash every step record, ledger entry, job and arch."""
    config = dataclasses.replace(StudyConfig(), **{**LEGACY, **overrides})
    engine = build_engine(config)
    engine.run()
    h = hashlib.sha256()
    for r in engine.records:
        fields = dataclasses.astuple(r)
        # no release and no power cap before the carbon lever (the records' last fields)
        assert r.n_release == 0 and r.cap == 0 and fields[-2:] == (0, 0)
        h.update(repr(fields[:-2]).encode())
    steps = h.hexdigest()
    h = hashlib.sha256()
    for e in engine.ledger.entries:
        h.update(
            repr((e.step, e.gpu, e.kind, e.job_id, e.seconds, e.energy_j, e.carbon_g)).encode()
        )
    ledger = h.hexdigest()
    h = hashlib.sha256()
    for j in engine.jobs:
        h.update(
            repr((j.id, j.kind, j.arch, j.total_s, j.done_s, j.start_step, j.end_step)).encode()
        )
    jobs = h.hexdigest()
    h = hashlib.sha256()
    # the estimates are listed, not hashed, and compared to 1e-9: a GP predictor's means
    # differ by ~1e-11 between OpenBLAS's CPU kernels (Intel vs AMD); every decision made
    # from them (jobs, steps, ledger, which arch was estimated when) is still hashed exactly
    estimates: list[float] = []
    for a in sorted(engine.archs):
        x = engine.archs[a]
        if x.estimated is not None:
            estimates.extend(x.estimated.tolist())
        true = None if x.true is None else x.true.tolist()
        h.update(
            repr((a, x.estimated is None, true, x.estimate_step, x.train_step, x.source)).encode()
        )
    archs = h.hexdigest()
    s = engine.summary()
    return {
        "steps": steps,
        "ledger": ledger,
        "jobs": jobs,
        "archs": archs,
        "estimates": estimates,
        "carbon_g": repr(s["carbon_g"]),
        "hv": repr(s["hv"]),
        "n_trained": s["n_trained"],
        "n_steps": s["steps"],
    }


def main() -> None:
    out = {name: fingerprint(o) for name, o in CASES.items()}
    GOLDEN.write_text(json.dumps(out, indent=1) + "\n")
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
