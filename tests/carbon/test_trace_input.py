"""Trace input a newcomer meets (issue 15): extra columns, gaps, delimiters, missing files."""

from __future__ import annotations

from pathlib import Path

import pytest

from cenas.carbon import load_trace, read_plain_csv
from cenas.errors import TraceError

ROWS = ("2021-01-01 00:00", "2021-01-01 01:00", "2021-01-01 02:00")


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_plain_trace_with_extra_columns_reads_timestamp_and_value(tmp_path: Path) -> None:
    text = "source,timestamp,estimated,value\n" + "".join(
        f"grid,{t},false,{100 + 10 * i}\n" for i, t in enumerate(ROWS)
    )
    trace = load_trace(write(tmp_path, text))
    assert trace.values.tolist() == [100.0, 110.0, 120.0]
    assert trace.column == "value"


def test_value_column_chooses_the_column(tmp_path: Path) -> None:
    text = "timestamp,value,lca\n" + "".join(
        f"{t},{100 + i},{300 + i}\n" for i, t in enumerate(ROWS)
    )
    path = write(tmp_path, text)
    trace = load_trace(path, value_column="LCA")
    assert trace.values.tolist() == [300.0, 301.0, 302.0] and trace.column == "lca"
    assert read_plain_csv(path, value_column="lca").values.tolist() == [300.0, 301.0, 302.0]
    with pytest.raises(TraceError) as info:
        load_trace(path, value_column="co2")
    assert str(info.value) == (
        f"{path}: row 1: no column 'co2' (--value-column); columns: timestamp, value, lca"
    )


def test_missing_value_column_names_the_option(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,co2\n" + "".join(f"{t},1\n" for t in ROWS))
    with pytest.raises(TraceError) as info:
        load_trace(path)
    assert str(info.value) == (
        f"{path}: row 1: missing column(s) value; name the intensity column with "
        "--value-column (columns: timestamp, co2)"
    )


def test_electricitymaps_value_column(tmp_path: Path) -> None:
    header = "Datetime (UTC),Zone Id,Carbon Intensity gCO₂eq/kWh (direct),Forecast"
    text = header + "\n" + "".join(f"{t},GB,{100 + i},{200 + i}\n" for i, t in enumerate(ROWS))
    path = write(tmp_path, text)
    assert load_trace(path).column == "Carbon Intensity gCO₂eq/kWh (direct)"
    trace = load_trace(path, value_column="forecast")
    assert trace.values.tolist() == [200.0, 201.0, 202.0] and trace.column == "Forecast"


def test_naive_timestamps_are_flagged(tmp_path: Path) -> None:
    naive = load_trace(write(tmp_path, "timestamp,value\n" + "".join(f"{t},1\n" for t in ROWS)))
    aware = load_trace(
        write(tmp_path, "timestamp,value\n" + "".join(f"{t}Z,1\n" for t in ROWS), "z.csv")
    )
    assert naive.naive_utc and not aware.naive_utc
    assert naive.window(ROWS[1], 1).naive_utc  # kept by sub-traces


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_missing_file_or_directory_has_no_row(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "nope.csv"
    if kind == "directory":
        path.mkdir()
    with pytest.raises(TraceError) as info:
        load_trace(path)
    expected = "no such file" if kind == "missing" else "is a directory, not a CSV file"
    assert str(info.value) == f"{path}: {expected}"


@pytest.mark.parametrize(
    "text",
    [
        "timestamp;value\n" + "".join(f"{t};1\n" for t in ROWS),
        "timestamp;value\n" + "".join(f"{t};1,5\n" for t in ROWS),  # decimal commas too
        "".join(f"{t};1\n" for t in ROWS),  # no header
        "timestamp\tvalue\n" + "".join(f"{t}\t1\n" for t in ROWS),
    ],
)
def test_other_delimiters_get_a_hint(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TraceError) as info:
        load_trace(path)
    message = str(info.value)
    sep = "tab" if "\t" in text else "';'"
    assert message.startswith(f"{path}: row "), message
    assert message.endswith(
        f"(the file seems to be separated by {sep}; cenas reads comma-separated files: "
        "save it as CSV with ',' between fields and '.' as the decimal point)"
    ), message


def test_traces_show_says_which_column_and_that_stamps_are_utc(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cenas.cli._traces import app

    text = "timestamp,value,lca\n" + "".join(
        f"{t},{100 + i},{300 + i}\n" for i, t in enumerate(ROWS)
    )
    path = write(tmp_path, text)
    result = CliRunner().invoke(
        app, ["show", "--trace", str(path), "--value-column", "lca"], env={"COLUMNS": "150"}
    )
    assert result.exit_code == 0, result.output
    assert "column read" in result.output and " lca " in result.output
    assert "no UTC offset in the file: read as UTC" in result.output
    cells = [" ".join(line.replace("│", " ").split()) for line in result.output.splitlines()]
    assert "mean 301.0" in cells  # the values of the lca column


def test_bundled_zones_are_case_insensitive() -> None:
    from cenas.carbon import bundled_years, canonical_zone, load_bundled

    assert canonical_zone("de-lu") == "DE-LU" and canonical_zone("mars") == "mars"
    assert load_bundled("us-cal-ciso", 2021).source == "bundled:US-CAL-CISO:2021"
    assert bundled_years("gb") == bundled_years("GB") != []


def test_forecast_commands_take_fill_gaps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cenas.cli import main

    hours = [h for h in range(72) if h != 30]
    path = write(
        tmp_path,
        "timestamp,value\n"
        + "".join(f"2021-01-{1 + h // 24:02d}T{h % 24:02d}:00:00Z,{100 + h}\n" for h in hours),
    )
    args = ["forecast", "predict", "custom", "--at", "2021-01-03T00:00:00Z", "--horizon", "3"]
    args += ["--model", "previous-day", "--trace", str(path)]

    def run(extra: list[str]) -> tuple[int, str]:
        try:
            main([*args, *extra])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    code, out = run([])
    assert code == 2 and "1 missing hour(s)" in out and "(--fill-gaps 1)" in out, out
    code, out = run(["--fill-gaps", "1"])
    assert code == 0, out
    assert "124.0" in out  # the previous day's 2021-01-02 00:00 (hour 24), forecast for 01-03
