"""Tests of ``cenas traces list`` / ``cenas traces show``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cenas.carbon import CarbonTrace
from cenas.cli._traces import app, summarise
from cenas.errors import CenasError, TraceError

runner = CliRunner()

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_list() -> None:
    result = runner.invoke(app, ["list"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    for zone in ("US-CAL-CISO", "US-MIDA-PJM", "DE-LU", "GB", "US-TEX-ERCO"):
        assert zone in result.output
    assert "8760" in result.output
    assert "205.1" in result.output  # mean direct intensity of US-CAL-CISO 2021


def test_show_bundled_with_plot(tmp_path: Path) -> None:
    out = tmp_path / "ciso.png"
    result = runner.invoke(
        app, ["show", "US-CAL-CISO", "--year", "2021", "--out", str(out)], env={"COLUMNS": "120"}
    )
    assert result.exit_code == 0, result.output
    for text in ("bundled:US-CAL-CISO:2021", "mean daily swing", "p95", "hour of day"):
        assert text in result.output
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_show_user_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    stamps = pd.date_range("2024-02-28", periods=72, freq="h", tz="UTC")
    values = 100 + 50 * np.sin(np.arange(72) / 24 * 2 * np.pi)
    rows = [f"{t.isoformat()},{v:.2f}" for t, v in zip(stamps, values, strict=True)]
    path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    result = runner.invoke(app, ["show", "--trace", str(path)], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "72" in result.output


def test_show_user_file_fill_gaps(tmp_path: Path) -> None:
    path = tmp_path / "gap.csv"
    path.write_text("timestamp,value\n2021-01-01 00:00,1\n2021-01-01 02:00,3\n")
    result = runner.invoke(app, ["show", "--trace", str(path)])
    assert isinstance(result.exception, TraceError)
    result = runner.invoke(app, ["show", "--trace", str(path), "--fill-gaps", "1"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "args",
    [
        ["show", "FR"],
        ["show"],
        ["show", "GB", "--trace", "x.csv"],
        ["show", "GB", "--kind", "scope3"],
        ["show", "GB", "--year", "1999"],
    ],
)
def test_show_bad_arguments_raise_cenas_errors(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert isinstance(result.exception, TraceError), result.output


def test_show_bad_out_suffix(tmp_path: Path) -> None:
    result = runner.invoke(app, ["show", "GB", "--year", "2021", "--out", str(tmp_path / "x.jpg")])
    assert isinstance(result.exception, CenasError)


def test_summarise() -> None:
    hours = np.arange(48)
    values = np.where(hours % 24 < 12, 100.0, 200.0)
    trace = CarbonTrace(values=values, start=pd.Timestamp("2021-01-01", tz="UTC"))
    summary = summarise(trace)
    assert summary.hours == 48
    assert summary.mean == pytest.approx(150.0)
    assert summary.min == 100.0 and summary.max == 200.0
    assert summary.daily_swing == pytest.approx(100.0)
    assert summary.by_hour.shape == (24,)
    np.testing.assert_allclose(summary.by_hour[:12], 100.0)
    np.testing.assert_allclose(summary.by_hour[12:], 200.0)
    assert summary.percentiles[50] == pytest.approx(150.0)


def _write_bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,value\n2021-01-01 00:00,1\n2021-01-01 01:00,-4\n")
    return path


def test_root_cli_bad_file_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cenas.cli import main

    path = _write_bad(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["traces", "show", "--trace", str(path)])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{path}: row 3: negative value -4" in err
    assert "Traceback" not in err


def test_installed_script_bad_file(tmp_path: Path) -> None:
    path = _write_bad(tmp_path)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cenas.cli import main; main()",
            "traces",
            "show",
            "--trace",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "row 3" in lines[0] and str(path) in lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_show_checks_the_output_folder_before_work(tmp_path: Path) -> None:
    out = tmp_path / "missing" / "x.png"
    result = runner.invoke(app, ["show", "GB", "--year", "2021", "--out", str(out)])
    assert isinstance(result.exception, CenasError)
    assert "does not exist" in str(result.exception)
    assert result.output == ""


def test_show_zone_is_case_insensitive() -> None:
    result = runner.invoke(app, ["show", "us-cal-ciso", "--year", "2021"])
    assert result.exit_code == 0, result.output
    assert "bundled:US-CAL-CISO:2021" in result.output
