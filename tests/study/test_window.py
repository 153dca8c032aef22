"""The window a study runs on is stored and shown as resolved, never as a null default."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from cenas.config import StudyConfig
from cenas.study import Study


def test_stored_config_records_the_resolved_start(tmp_path: Path) -> None:
    # a bundled zone without --start starts at 2021-07-02 00:00 UTC, whatever the zone
    Study.create(tmp_path / "gb", StudyConfig(zone="GB", hours=2, gpus=1)).close()
    conn = sqlite3.connect(tmp_path / "gb" / "study.db")
    stored = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])
    prov = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'provenance'").fetchone()[0])
    conn.close()
    assert stored["start"] == "2021-07-02T00:00:00+00:00"
    head = subprocess.run(
        ["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert prov["git_commit"] in (head, f"{head}+dirty")
    study = Study.open(tmp_path / "gb")
    assert study.config.start == "2021-07-02T00:00:00+00:00"
    study.close()
