"""A live study reading a carbon provider over HTTP: fallback on errors, no secret leaks."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOKEN = "tok-SECRET-98765-zz"
FAIL = range(3, 7)  # the 3rd to 6th "latest" requests answer 500: one step falls back


class _Provider(BaseHTTPRequestHandler):
    latest = 0

    def log_message(self, *args: object) -> None:  # keep the test output clean
        return

    def _send(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.headers.get("auth-token") != TOKEN:
            self._send(401, {"error": "bad token"})
            return
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        if self.path.startswith("/v3/carbon-intensity/latest"):
            type(self).latest += 1
            if type(self).latest in FAIL:
                # an error page that echoes the credential: it must never be stored or shown
                self._send(500, {"error": f"upstream failure for token {TOKEN}"})
                return
            self._send(
                200,
                {
                    "zone": "DE",
                    "carbonIntensity": 300 + type(self).latest,
                    "datetime": now.isoformat().replace("+00:00", "Z"),
                },
            )
        elif self.path.startswith("/v3/carbon-intensity/forecast"):
            hours = [now + timedelta(hours=h) for h in range(1, 25)]
            self._send(
                200,
                {
                    "zone": "DE",
                    "forecast": [
                        {"carbonIntensity": 250.0, "datetime": h.isoformat().replace("+00:00", "Z")}
                        for h in hours
                    ],
                },
            )
        else:
            self._send(404, {"error": "no such endpoint"})


@pytest.fixture
def provider() -> Iterator[str]:
    _Provider.latest = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_live_study_on_a_provider_falls_back_and_never_leaks_the_token(
    provider: str, tmp_path: Path
) -> None:
    cfg = tmp_path / "live.toml"
    cfg.write_text(
        'live = true\nrunner = "tests.live.runners:epochs"\ngpus = 2\nhours = 5\n'
        'step_minutes = 0.02\npolicy = "heuristic"\noptimizer = "random"\n'
        'estimator = "zero-cost:synflow"\nzone = "DE-LU"\ncarbon_zone = "DE"\n'
        'carbon = "electricitymaps"\n'
        f'carbon_url = "{provider}"\n'
    )
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        OMP_NUM_THREADS="1",
        ELECTRICITYMAPS_TOKEN=TOKEN,
    )
    runs = tmp_path / "runs"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cenas",
            "search",
            "--config",
            str(cfg),
            "--name",
            "p",
            "--runs-dir",
            str(runs),
            "--format",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout)
    assert summary["steps"] == 5 and summary["signal"] == "live"
    db = runs / "p" / "study.db"
    with sqlite3.connect(db) as conn:
        prov = [
            json.loads(p) for (p,) in conn.execute("SELECT provenance FROM signal ORDER BY step")
        ]
        intensity = [i for (i,) in conn.execute("SELECT intensity FROM steps ORDER BY step")]
    assert [p["status"] for p in prov] == ["ok", "ok", "fallback", "ok", "ok"]
    fallback = prov[2]
    assert fallback["attempts"] == 4 and fallback["intensity_source"] == "last-value"
    assert intensity[2] == intensity[1] == 302.0 and intensity[3] == 307.0
    # the token is nowhere: not in the database, the report, any file of the study, the output
    for f in (runs / "p").rglob("*"):
        if f.is_file():
            assert TOKEN.encode() not in f.read_bytes(), f
    assert TOKEN not in out.stdout and TOKEN not in out.stderr
    assert "***" in fallback["error"] or "500" in fallback["error"]
