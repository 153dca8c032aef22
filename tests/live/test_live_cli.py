"""`cenas search --live` end to end: a coordinator SIGKILLed mid-study resumes with --resume."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        OMP_NUM_THREADS="1",
        CENAS_TEST_EPOCH_S="0.1",
        CENAS_TEST_EPOCHS="7",
    )
    return env


def _cenas(*args: str) -> list[str]:
    return [sys.executable, "-m", "cenas", *args]


def _steps(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM steps").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_live_study_survives_sigkill_of_the_coordinator(tmp_path: Path) -> None:
    cfg = tmp_path / "live.toml"
    cfg.write_text(
        'live = true\nrunner = "tests.live.runners:epochs"\ngpus = 2\nhours = 6\n'
        'step_minutes = 0.04\npolicy = "static"\noptimizer = "random"\n'
        'estimator = "zero-cost:synflow"\n'
    )
    runs = tmp_path / "runs"
    db = runs / "s" / "study.db"
    args = ["search", "--config", str(cfg), "--name", "s", "--runs-dir", str(runs), "--quiet"]
    proc = subprocess.Popen(
        _cenas(*args), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 120
    while _steps(db) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)  # inside step 3: some training is part done
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    stored = _steps(db)
    assert 2 <= stored < 6
    with sqlite3.connect(db) as conn:
        before = dict(
            conn.execute("SELECT arch, objectives FROM archs WHERE objectives IS NOT NULL")
        )
        unfinished = [
            j for (j,) in conn.execute("SELECT id FROM jobs WHERE kind = 'train' AND end_step = -1")
        ]
    assert before and unfinished

    done = subprocess.run(
        _cenas("search", "--resume", "s", "--runs-dir", str(runs), "--format", "json"),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["steps"] == 6 and summary["stop"] == "time budget spent"
    with sqlite3.connect(db) as conn:
        after = dict(
            conn.execute("SELECT arch, objectives FROM archs WHERE objectives IS NOT NULL")
        )
        status = conn.execute("SELECT value FROM meta WHERE key = 'status'").fetchone()[0]
        n_steps = conn.execute("SELECT COUNT(*) FROM steps").fetchone()[0]
        finished = {j for (j,) in conn.execute("SELECT id FROM jobs WHERE status = 'completed'")}
    assert status == "finished" and n_steps == 6
    # every result finished before the crash is kept, unchanged; more were added
    assert all(after[a] == y for a, y in before.items()) and len(after) > len(before)
    # the trainings stored as unfinished continued from their checkpoints after the crash
    for j in unfinished:
        state = json.loads((runs / "s" / "jobs" / str(j) / "state.json").read_text())
        assert j in finished and state["sessions"] >= 2 and state["epochs"] == 7
    assert summary["n_trained"] == len(after)
