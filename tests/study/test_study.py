from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cenas.cli import app, main
from cenas.config import StudyConfig
from cenas.errors import ConfigError, StudyError
from cenas.study import Study

FAST = ["--hours", "6", "--gpus", "2", "--optimizer", "random", "--quiet"]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_search_writes_database_report_and_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_cli(["search", "--runs-dir", str(tmp_path), "--name", "s", *FAST], capsys)
    assert code == 0, out
    d = tmp_path / "s"
    for name in ("study.db", "report.html", "hv.png", "split.png", "carbon.png", "front.png"):
        assert (d / name).stat().st_size > 0
    conn = sqlite3.connect(d / "study.db")
    steps = conn.execute("SELECT COUNT(*), SUM(carbon_g) FROM steps").fetchone()
    ledger = conn.execute("SELECT SUM(carbon_g) FROM ledger").fetchone()[0]
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    assert steps[0] == 6
    assert ledger == pytest.approx(steps[1])
    assert json.loads(meta["config"])["hours"] == 6
    prov = json.loads(meta["provenance"])
    assert "nb201.csv.gz" in prov["data_sha256"] and prov["versions"]["numpy"]
    trained = conn.execute("SELECT COUNT(*) FROM archs WHERE true_0 IS NOT NULL").fetchone()[0]
    assert trained == json.loads(meta["summary"])["n_trained"]


def test_user_trace_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "mine.csv"
    rows = "\n".join(f"2024-03-01T{h:02d}:00:00Z,{100 + 10 * h}" for h in range(24))
    trace.write_text("timestamp,value\n" + rows + "\n", encoding="utf-8")
    code, out = run_cli(
        ["search", "--runs-dir", str(tmp_path), "--name", "u", "--trace", str(trace), *FAST], capsys
    )
    assert code == 0, out
    conn = sqlite3.connect(tmp_path / "u" / "study.db")
    first = conn.execute("SELECT hour_utc, intensity FROM steps ORDER BY step").fetchone()
    assert first[0].startswith("2024-03-01 00:00") and first[1] == 100.0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--task", "nb201-cifar10-toaster"], "device"),
        (["--task", "nope"], "task"),
        (["--zone", "XX-NOWHERE"], "zone"),
        (["--policy", "magic"], "policy"),
        (["--gpus", "0"], "gpus"),
        (["--budget-g", "-5"], "budget"),
        (["--hours", "0"], "hours"),
        (["--estimator", "psychic"], "estimator"),
        (["--start", "2023-12-31T20:00:00Z", "--hours", "80"], "hours"),
        (["--start", "1999-01-01T00:00:00Z"], "start"),
    ],
)
def test_bad_configuration_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code, out = run_cli(["search", "--runs-dir", str(tmp_path), "--quiet", *args], capsys)
    assert code == 2
    lines = [line for line in out.strip().splitlines() if line.strip()]
    assert len(lines) == 1, out
    assert "Traceback" not in out and needle in lines[0].lower()


def test_corrupt_and_foreign_databases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "study.db").write_bytes(b"this is not sqlite" * 100)
    code, out = run_cli(["search", "--resume", "junk", "--runs-dir", str(tmp_path)], capsys)
    assert code == 2 and "not a readable study database" in out
    (tmp_path / "foreign").mkdir()
    conn = sqlite3.connect(tmp_path / "foreign" / "study.db")
    conn.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('format', 'optuna')")
    conn.commit()
    conn.close()
    code, out = run_cli(["search", "--resume", "foreign", "--runs-dir", str(tmp_path)], capsys)
    assert code == 2 and "not a cenas study" in out
    code, out = run_cli(["search", "--resume", "missing", "--runs-dir", str(tmp_path)], capsys)
    assert code == 2 and "no study database" in out


def test_config_file_and_flags_precedence(tmp_path: Path) -> None:
    from cenas.cli._search import build_config

    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[study]\ngpus = 3\nhours = 12\npolicy = "vanilla"\n', encoding="utf-8")
    cfg = build_config(cfg_file, hours=10)
    assert (cfg.gpus, cfg.hours, cfg.policy) == (3, 10, "vanilla")
    bad = tmp_path / "bad.toml"
    bad.write_text("gpus = 2\nwarp_drive = true\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="warp_drive"):
        build_config(bad)


def test_existing_study_is_not_overwritten(tmp_path: Path) -> None:
    cfg = StudyConfig(hours=2, gpus=1, optimizer="random")
    Study.create(tmp_path / "x", cfg).close()
    with pytest.raises(StudyError, match="already exists"):
        Study.create(tmp_path / "x", cfg)


def test_compare_writes_summary(tmp_path: Path) -> None:
    runner = CliRunner()
    from cenas.cli import _register

    _register()
    out = tmp_path / "cmp"
    result = runner.invoke(
        app,
        [
            "compare",
            "--hours",
            "12",
            "--gpus",
            "4",
            "--optimizer",
            "random",
            "--seeds",
            "2",
            "--budgets-g",
            "1500,3000",
            "--policies",
            "vanilla,heuristic,clairvoyant",
            "--target",
            "1.6",
            "--out",
            str(out),
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["policies"]) == {"vanilla", "heuristic", "clairvoyant"}
    v = summary["policies"]["vanilla"]
    assert len(v["carbon_to_target_g"]["per_seed"]) == 2
    assert set(v["hv_ratio"]) == {"1500.0", "3000.0"}
    assert len(v["hv_ratio"]["1500.0"]["per_seed"]) == 2
    assert "vanilla_over_policy" in v["ratios"]
    for name in ("hv_over_time.png", "hv_boxplots.png", "carbon_to_target.png"):
        assert (out / name).stat().st_size > 0


def test_auto_signal_forecasts_only_with_history(tmp_path: Path) -> None:
    """The default signal is the forecast whenever there is history before the window."""
    from cenas.signals import AUTO_MIN_HISTORY
    from cenas.study import build_engine

    def mode(**kw: object) -> str:
        cfg = StudyConfig(hours=6, gpus=2, optimizer="random", **kw)  # type: ignore[arg-type]
        return build_engine(cfg).signal.mode

    assert StudyConfig().signal == "auto"
    assert mode() == "forecast"  # bundled default window, shipped transformer
    assert mode(start="2021-01-01T00:00:00Z") == "actual"  # nothing before the window
    assert mode(signal="actual") == "actual"
    trace = tmp_path / "mine.csv"
    hours = AUTO_MIN_HISTORY + 24
    stamps = [
        f"{t:%Y-%m-%dT%H}:00:00Z" for t in pd.date_range("2024-01-01", periods=hours, freq="h")
    ]
    values = 300 + 100 * np.sin(np.arange(hours) * 2 * np.pi / 24)
    trace.write_text(
        "timestamp,value\n"
        + "\n".join(f"{s},{v:.1f}" for s, v in zip(stamps, values, strict=True)),
        encoding="utf-8",
    )
    assert mode(trace=str(trace)) == "actual"  # the window starts at the first hour
    late = stamps[AUTO_MIN_HISTORY]
    engine = build_engine(
        StudyConfig(hours=6, gpus=2, optimizer="random", trace=str(trace), start=late)
    )
    assert engine.signal.mode == "forecast"
    fc = engine.signal.forecast(0)
    assert (
        np.all(np.isfinite(fc))
        and np.abs(fc[:6] - values[AUTO_MIN_HISTORY + 1 : AUTO_MIN_HISTORY + 7]).max() < 60
    )


def test_study_stored_before_the_selection_option_resumes_with_the_dominance_rule(
    tmp_path: Path,
) -> None:
    Study.create(tmp_path / "old", StudyConfig(hours=2, gpus=1, optimizer="random")).close()
    conn = sqlite3.connect(tmp_path / "old" / "study.db")
    stored = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])
    assert stored["selection"] == "hvi"  # new studies store their rule
    del stored["selection"]
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(stored),))
    conn.close()
    study = Study.open(tmp_path / "old")
    assert study.config.selection == "dominance"
    study.close()
