"""`cenas compare` and `cenas search` output read through a pipe (80 columns, no terminal)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cenas.cli import _register, app, main

QUICK = ["--hours", "8", "--gpus", "2", "--optimizer", "random", "--workers", "1"]


def _compare(tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    _register()
    result = CliRunner().invoke(
        app,
        [
            "compare",
            *QUICK,
            "--seeds",
            "1",
            "--budgets-g",
            "1500,3000",
            "--policies",
            "vanilla,one-shot,clairvoyant",
            "--target",
            "1.8",
            "--out",
            str(tmp_path / "cmp"),
            *extra,
        ],
        env={"COLUMNS": "80"},
    )
    return result.exit_code, result.stdout, result.stderr


def test_piped_table_fits_80_columns_and_one_seed_has_no_spread(tmp_path: Path) -> None:
    code, out, err = _compare(tmp_path)
    assert code == 0, out + err
    lines = out.splitlines()
    too_wide = [line for line in lines if len(line) > 80]
    assert not too_wide, too_wide
    for policy in ("vanilla", "one-shot", "clairvoyant"):  # whole names, once per table
        assert sum(line.split()[0] == policy for line in lines if line.strip()) == 2
    assert "±" not in out  # one seed: a mean, no spread
    bar = out.split("Carbon to reach")[0]
    assert "run   6/6" in bar and "hour" not in bar  # the bar counts runs
    assert "geometric mean over paired runs" in out
    assert "2021-07-02 00:00 – 2021-07-02 08:00 UTC" in out


def test_csv_and_json_carry_the_summary_numbers(tmp_path: Path) -> None:
    code, out, err = _compare(tmp_path, "--format", "csv")
    assert code == 0, out + err
    rows = list(csv.DictReader(io.StringIO(out)))
    summary = json.loads((tmp_path / "cmp" / "summary.json").read_text())
    assert [r["policy"] for r in rows] == ["vanilla", "one-shot", "clairvoyant"]
    for r in rows:
        e = summary["policies"][r["policy"]]
        assert float(r["hv_ratio_mean_1500g"]) == e["hv_ratio"]["1500.0"]["mean"]
        assert r["hv_ratio_std_1500g"] == ""  # one seed
        assert int(r["reached"]) == e["reached_target"]
        med = e["carbon_to_target_g"]["median"]
        assert r["carbon_to_target_median_g"] == ("" if med is None else repr(med))
    code, out, _ = _compare(tmp_path, "--format", "json")
    assert code == 0
    assert json.loads(out)["policies"] == summary["policies"]


def test_unknown_format_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["compare", *QUICK, "--format", "xml", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--format" in err[0]
    assert not (tmp_path / "x").exists()


def test_search_summary_names_the_window_and_what_the_policy_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["search", "--runs-dir", str(tmp_path), "--name", "c", "--zone", "GB", "--quiet"]
    try:
        main([*args, *QUICK[:-2], "--policy", "clairvoyant"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    out = capsys.readouterr().out
    assert "bundled GB (direct), 2021-07-02 00:00 – 2021-07-02 08:00 UTC" in out
    assert "clairvoyant, reading the true intensity of every hour" in out
    assert "forecast intensities" not in out


def test_search_json_summary_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["search", "--runs-dir", str(tmp_path), "--name", "j", "--format", "json"]
    try:
        main([*args, *QUICK[:-2], "--policy", "static", "--zone", "GB"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    got = capsys.readouterr()
    summary = json.loads(got.out)  # nothing but the JSON on stdout
    assert summary["window"] == {
        "trace": "bundled GB",
        "kind": "direct",
        "start": "2021-07-02T00:00:00+00:00",
        "end": "2021-07-02T08:00:00+00:00",
        "hours": 8,
    }
    assert summary["steps"] == 8 and summary["policy"] == "static"
    assert summary["policy_reads"] == "no intensity (a fixed split)"
    assert "Study" in got.err
    with pytest.raises(SystemExit) as exc:
        main([*args[:-2], "--format", "yaml"])
    assert exc.value.code == 2
