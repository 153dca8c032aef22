"""A real subprocess killed with SIGKILL mid-run resumes to the same result."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

COLUMNS = "step, n_train, n_estimate, carbon_g, cum_carbon_g, hv, n_trained, n_estimated, stop"


def _steps(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT {COLUMNS} FROM steps ORDER BY step").fetchall()
    finally:
        conn.close()


def _count(db: Path) -> int:
    try:
        conn = sqlite3.connect(db, timeout=1)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM steps").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cenas", *args]


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_matches_uninterrupted(tmp_path: Path) -> None:
    common = [
        "--hours",
        "30",
        "--gpus",
        "4",
        "--optimizer",
        "random",
        "--policy",
        "heuristic",
        "--seed",
        "7",
        "--quiet",
        "--runs-dir",
        str(tmp_path),
    ]
    # each simulated hour takes 0.2 s of wall time, so the kill lands mid-run
    slow = tmp_path / "slow.toml"
    slow.write_text('clock = "wall"\nspeedup = 18000.0\n', encoding="utf-8")
    env = {**os.environ, "COLUMNS": "120"}

    proc = subprocess.Popen(
        _cli("search", "--name", "killed", "--config", str(slow), *common),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    db = tmp_path / "killed" / "study.db"
    deadline = time.monotonic() + 120
    while _count(db) < 8:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "study did not start"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = _count(db)
    assert 8 <= stored < 30, f"kill should land mid-run, {stored} steps stored"

    done = subprocess.run(
        _cli("search", "--resume", "killed", "--quiet", "--runs-dir", str(tmp_path)),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    ref = subprocess.run(
        _cli("search", "--name", "ref", *common),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert ref.returncode == 0, ref.stderr

    resumed, reference = _steps(db), _steps(tmp_path / "ref" / "study.db")
    assert len(resumed) == len(reference) == 30
    assert resumed == reference
    assert (tmp_path / "killed" / "report.html").exists()
