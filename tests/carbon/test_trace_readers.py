"""Tests of the trace readers: formats, timestamp handling, validation, gap filling."""

from __future__ import annotations

import gzip
import importlib.resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cenas.carbon import (
    MAX_INTENSITY,
    detect_format,
    load_trace,
    read_electricitymaps_csv,
    read_plain_csv,
)
from cenas.errors import CenasError, TraceError

EM_HEADER = (
    "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
    "Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage,"
    "Data Source,Data Estimated,Data Estimation Method"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    """Write ``text`` to ``tmp_path / name``, gzip-compressed if the name ends in .gz."""
    path = tmp_path / name
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def plain(*rows: str, header: str = "timestamp,value") -> str:
    return "\n".join([header, *rows]) + "\n"


def em_row(stamp: str, direct: str, lca: str = "300", low: str = "50", ren: str = "40") -> str:
    return f"{stamp},USA,CAISO,US-CAL-CISO,{direct},{lca},{low},{ren},caiso.com,false,"


def em(*rows: str, header: str = EM_HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def expect_error(path: Path, row: int | None, fragment: str, **kwargs: object) -> str:
    """Load ``path`` and check the one-line error names the file, the row (``None``: the
    file as a whole, no row) and the problem."""
    with pytest.raises(TraceError) as info:
        load_trace(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    prefix = f"{path}: " if row is None else f"{path}: row {row}: "
    assert message.startswith(prefix), message
    assert fragment in message, message
    return message


GOOD = ("2021-01-01 00:00,100", "2021-01-01 01:00,110", "2021-01-01 02:00,120")


# --- one test per bad-trace case -----------------------------------------------------------


def test_error_is_a_one_line_value_error(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain("2021-01-01 00:00,-5"))
    with pytest.raises(CenasError):
        load_trace(path)
    with pytest.raises(ValueError):
        load_trace(path)


def test_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "nope.csv", None, "no such file")


def test_empty_file(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "t.csv", ""), 1, "empty file")


def test_blank_lines_only(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "t.csv", "\n\n \n"), 1, "empty file")


def test_header_without_data_rows(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "t.csv", "timestamp,value\n"), 2, "no data rows")


def test_em_header_without_data_rows(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "t.csv", em()), 2, "no data rows")


def test_unknown_column(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain(*GOOD, header="time,value"))
    expect_error(path, 1, "missing column(s) timestamp (columns: time, value)")


def test_extra_column_is_ignored(tmp_path: Path) -> None:
    rows = [r + ",x" for r in GOOD]
    path = write(tmp_path, "t.csv", plain(*rows, header="timestamp,value,zone"))
    assert load_trace(path).values.tolist() == [100.0, 110.0, 120.0]


def test_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "timestamp\n2021-01-01 00:00\n")
    expect_error(path, 1, "missing column(s) value")


def test_em_missing_required_column_is_named(tmp_path: Path) -> None:
    header = EM_HEADER.replace("Carbon Intensity gCO₂eq/kWh (direct),", "")
    rows = [",".join([*em_row("2021-01-01 00:00", "1").split(",")[:4], "300", "50", "40"])]
    path = write(tmp_path, "t.csv", em(*rows, header=header))
    expect_error(path, 1, "lacks required column(s) Carbon Intensity gCO₂eq/kWh (direct)")
    # The LCA column is still there, so kind="lca" loads.
    assert load_trace(path, kind="lca").values.tolist() == [300.0]


def test_em_missing_time_column(tmp_path: Path) -> None:
    header = EM_HEADER.replace("Datetime (UTC)", "When")
    path = write(tmp_path, "t.csv", em(em_row("2021-01-01 00:00", "1"), header=header))
    # Without its time column the header no longer looks like Electricity Maps.
    with pytest.raises(TraceError, match=r"row 1: .*lacks required column\(s\) Datetime \(UTC\)"):
        read_electricitymaps_csv(path)


def test_malformed_row(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain(GOOD[0], GOOD[1] + ",7", GOOD[2]))
    expect_error(path, 3, "malformed CSV: 3 fields where 2 were expected")


def test_unparsable_timestamp(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain(GOOD[0], "yesterday,110", GOOD[2]))
    expect_error(path, 3, "cannot parse timestamp 'yesterday'")


def test_empty_timestamp(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain(GOOD[0], GOOD[1], ",120"))
    expect_error(path, 4, "empty timestamp")


def test_mixed_naive_and_offset_timestamps(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain(GOOD[0], "2021-01-01T01:00:00+00:00,110", GOOD[2]))
    expect_error(path, 3, "naive and offset-aware timestamps cannot be mixed")


def test_mixed_offset_then_naive(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain("2021-01-01T00:00Z,1", "2021-01-01 01:00,2"))
    expect_error(path, 3, "has no UTC offset")


def test_timestamp_not_on_the_hour(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain(GOOD[0], "2021-01-01 00:30,110", GOOD[2]))
    expect_error(path, 3, "'2021-01-01 00:30' is not on the hour")


def test_duplicated_hour(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain(*GOOD, "2021-01-01 01:00,130"))
    expect_error(path, 5, "duplicated hour 2021-01-01T01:00:00+00:00 (already at row 3)")


def test_duplicated_hour_after_offset_normalisation(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain("2021-01-01T01:00+01:00,1", "2021-01-01T00:00Z,2"))
    expect_error(path, 3, "duplicated hour")


def test_unsorted_hours(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain(GOOD[0], GOOD[2], GOOD[1]))
    expect_error(path, 4, "hours not sorted")


def test_gap_is_an_error_by_default(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain(GOOD[0], "2021-01-01 03:00,130"))
    expect_error(path, 3, "2 missing hour(s) between 2021-01-01T00:00:00+00:00")


def test_nan_value(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain(GOOD[0], "2021-01-01 01:00,NaN", GOOD[2]))
    expect_error(path, 3, "missing value in column 'value'")


def test_empty_value(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain(GOOD[0], GOOD[1], "2021-01-01 02:00,"))
    expect_error(path, 4, "missing value")


def test_non_numeric_value(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain(GOOD[0], "2021-01-01 01:00,high", GOOD[2]))
    expect_error(path, 3, "value 'high' in column 'value' is not a number")


def test_negative_value(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain(GOOD[0], GOOD[1], "2021-01-01 02:00,-3.5"))
    expect_error(path, 4, "negative value -3.5")


def test_absurd_value(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain("2021-01-01 00:00,2500", GOOD[1]))
    expect_error(path, 2, "absurd value 2500")
    assert MAX_INTENSITY == 2000.0
    ok = write(tmp_path, "ok.csv", plain("2021-01-01 00:00,2000"))
    assert load_trace(ok).values.tolist() == [2000.0]


def test_em_nan_in_chosen_kind_column(tmp_path: Path) -> None:
    rows = (em_row("2021-01-01 00:00", "100"), em_row("2021-01-01 01:00", "101", lca=""))
    path = write(tmp_path, "t.csv", em(*rows))
    assert load_trace(path, kind="direct").values.tolist() == [100.0, 101.0]
    expect_error(path, 3, "missing value in column 'Carbon Intensity gCO₂eq/kWh (LCA)'", kind="lca")


def test_row_numbers_count_blank_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path, "t.csv", "timestamp,value\n\n2021-01-01 00:00,1\n\n2021-01-01 01:00,-1\n"
    )
    expect_error(path, 5, "negative value")


def test_gz_error_names_the_gz_file(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv.gz", plain(GOOD[0], "2021-01-01 01:00,-1"))
    expect_error(path, 3, "negative value")


def test_unreadable_bytes(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"timestamp,value\n\xff\xfe\x00,1\n")
    expect_error(path, None, "cannot read file")


# --- gap filling ------------------------------------------------------------------------------


def test_fill_gaps_interpolates_linearly(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain("2021-01-01 00:00,100", "2021-01-01 03:00,130"))
    trace = load_trace(path, fill_gaps=2)
    assert len(trace) == 4
    np.testing.assert_allclose(trace.values, [100, 110, 120, 130])
    assert trace.start == pd.Timestamp("2021-01-01", tz="UTC")


def test_fill_gaps_rejects_longer_gaps(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain("2021-01-01 00:00,100", "2021-01-01 03:00,130"))
    expect_error(path, 3, "fill_gaps=1 fills at most 1 hour(s)", fill_gaps=1)


def test_fill_gaps_reports_first_long_gap(tmp_path: Path) -> None:
    rows = ("2021-01-01 00:00,1", "2021-01-01 02:00,3", "2021-01-01 03:00,4", "2021-01-01 07:00,8")
    path = write(tmp_path, "t.csv", plain(*rows))
    expect_error(path, 5, "3 missing hour(s)", fill_gaps=1)
    np.testing.assert_allclose(load_trace(path, fill_gaps=3).values, np.arange(1, 9))


def test_fill_gaps_fills_covariates(tmp_path: Path) -> None:
    rows = (
        em_row("2021-01-01 00:00", "100", ren="10"),
        em_row("2021-01-01 02:00", "120", ren="30"),
    )
    path = write(tmp_path, "t.csv", em(*rows))
    trace = read_electricitymaps_csv(path, fill_gaps=1)
    np.testing.assert_allclose(trace.values, [100, 110, 120])
    np.testing.assert_allclose(trace.covariates["renewable_pct"], [10, 20, 30])


def test_fill_gaps_must_be_non_negative(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain(*GOOD))
    with pytest.raises(TraceError, match="fill_gaps"):
        load_trace(path, fill_gaps=-1)


# --- timestamps and offsets --------------------------------------------------------------------


def test_offsets_are_normalised_to_utc(tmp_path: Path) -> None:
    utc = write(tmp_path, "utc.csv", plain(*GOOD))
    zulu = write(tmp_path, "z.csv", plain(*(r.replace(" ", "T").replace(",", "Z,") for r in GOOD)))
    plus2 = write(
        tmp_path,
        "plus2.csv",
        plain(
            "2021-01-01T02:00:00+02:00,100",
            "2021-01-01T03:00:00+02:00,110",
            "2021-01-01T04:00:00+02:00,120",
        ),
    )
    reference = load_trace(utc)
    for path in (zulu, plus2):
        trace = load_trace(path)
        assert trace.start == reference.start
        np.testing.assert_array_equal(trace.values, reference.values)


def test_local_time_with_dst_change_is_regular_in_utc(tmp_path: Path) -> None:
    hours = pd.date_range("2021-03-27 20:00", periods=12, freq="h", tz="UTC")
    local = hours.tz_convert("Europe/Berlin")
    assert len({ts.utcoffset() for ts in local}) == 2  # the file spans the DST change
    rows = [f"{ts.isoformat()},{100 + i}" for i, ts in enumerate(local)]
    trace = load_trace(write(tmp_path, "berlin.csv", plain(*rows)))
    assert trace.start == hours[0]
    np.testing.assert_array_equal(trace.values, 100 + np.arange(12))


# --- formats -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["t.csv", "t.csv.gz"])
def test_plain_csv(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, plain(*GOOD))
    for trace in (read_plain_csv(path, zone="lab"), load_trace(path)):
        assert trace.values.tolist() == [100.0, 110.0, 120.0]
        assert trace.start == pd.Timestamp("2021-01-01 00:00", tz="UTC")
        assert trace.source == str(path)
        assert dict(trace.covariates) == {}
    assert read_plain_csv(path, zone="lab").zone == "lab"
    assert load_trace(path).zone == "custom"
    assert detect_format(path) == "plain"


def test_plain_csv_header_any_order_and_case(tmp_path: Path) -> None:
    rows = [f"{v},{t}" for t, v in (r.split(",") for r in GOOD)]
    path = write(tmp_path, "t.csv", plain(*rows, header="Value, Timestamp"))
    assert load_trace(path).values.tolist() == [100.0, 110.0, 120.0]


def test_plain_csv_without_header(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "\n".join(GOOD) + "\n")
    trace = read_plain_csv(path)
    assert trace.values.tolist() == [100.0, 110.0, 120.0]
    bad = write(tmp_path, "bad.csv", "2021-01-01 00:00,1\n2021-01-01 01:00,-2\n")
    expect_error(bad, 2, "negative value")  # no header: the data start on line 1


@pytest.mark.parametrize("name", ["em.csv", "em.csv.gz"])
def test_electricitymaps_csv(tmp_path: Path, name: str) -> None:
    rows = (
        em_row("2021-01-01 00:00:00", "238.71", lca="317.31", low="44.72", ren="33.74"),
        em_row("2021-01-01 01:00:00", "248.48", lca="328.81", low="42.43", ren="32.11"),
    )
    path = write(tmp_path, name, em(*rows))
    assert detect_format(path) == "electricitymaps"
    direct = read_electricitymaps_csv(path)
    assert direct.values.tolist() == [238.71, 248.48]
    assert direct.kind == "direct"
    assert direct.zone == "US-CAL-CISO"
    assert direct.start == pd.Timestamp("2021-01-01", tz="UTC")
    np.testing.assert_allclose(direct.covariates["renewable_pct"], [33.74, 32.11])
    np.testing.assert_allclose(direct.covariates["low_carbon_pct"], [44.72, 42.43])
    lca = load_trace(path, kind="lca")
    assert lca.values.tolist() == [317.31, 328.81]
    assert lca.kind == "lca"


def test_electricitymaps_newer_column_names(tmp_path: Path) -> None:
    header = (
        "Datetime (UTC),Country,Zone name,Zone id,Carbon intensity gCO₂eq/kWh (direct),"
        "Carbon intensity gCO₂eq/kWh (Life cycle),Carbon-free energy percentage (CFE%),"
        "Renewable energy percentage (RE%),Data source,Data estimated,Data estimation method"
    )
    path = write(tmp_path, "t.csv", em(em_row("2021-01-01 00:00:00", "1", lca="2"), header=header))
    trace = load_trace(path, kind="lca")
    assert trace.values.tolist() == [2.0]
    assert set(trace.covariates) == {"renewable_pct", "low_carbon_pct"}


def test_readers_reject_the_other_format(tmp_path: Path) -> None:
    em_path = write(tmp_path, "em.csv", em(em_row("2021-01-01 00:00", "1")))
    with pytest.raises(TraceError, match=r"row 1: missing column\(s\) timestamp, value; "):
        read_plain_csv(em_path)
    plain_path = write(tmp_path, "p.csv", plain(*GOOD))
    with pytest.raises(TraceError, match=r"row 1: Electricity Maps header lacks required"):
        read_electricitymaps_csv(plain_path)


def test_bad_kind(tmp_path: Path) -> None:
    path = write(tmp_path, "em.csv", em(em_row("2021-01-01 00:00", "1")))
    with pytest.raises(TraceError, match="unknown trace kind"):
        load_trace(path, kind="scope3")  # type: ignore[arg-type]


def test_bundled_year_reads_every_hour() -> None:
    # (how fast it reads is measured in benchmarks/traces.py, not asserted in a unit test)
    resource = importlib.resources.files("cenas").joinpath(
        "data", "carbon", "US-CAL-CISO_2021_hourly.csv.gz"
    )
    with importlib.resources.as_file(resource) as path:
        trace = read_electricitymaps_csv(path)
    assert len(trace) == 8760 and trace.zone == "US-CAL-CISO"
    assert trace.start == pd.Timestamp("2021-01-01", tz="UTC")
    assert trace.end == pd.Timestamp("2022-01-01", tz="UTC")
    assert (trace.values[0], trace.values[-1]) == (238.71, 160.61)


def test_utc_suffix_and_other_iso_forms(tmp_path: Path) -> None:
    rows = (
        "2021-01-01 00:00:00 UTC,100",
        "2021-01-01T01:00:00.000Z,110",
        "2021-01-01T04:00+0200,120",
        "2021-01-01T05:00+02,130",
    )
    trace = load_trace(write(tmp_path, "t.csv", plain(*rows)))
    assert trace.start == pd.Timestamp("2021-01-01", tz="UTC")
    assert trace.values.tolist() == [100.0, 110.0, 120.0, 130.0]


def test_basic_format_offset_mixed_with_naive(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", plain("20210101T0000,1", "20210101T0200+0100,2"))
    expect_error(path, 3, "cannot be mixed")


def test_headerless_file_with_bad_first_value(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "2021-01-01 00:00,\n2021-01-01 01:00,2\n")
    expect_error(path, 1, "missing value")
