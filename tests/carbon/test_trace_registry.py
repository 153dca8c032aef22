"""Tests of the bundled-trace registry and of window slicing on bundled traces."""

from __future__ import annotations

import calendar

import numpy as np
import pandas as pd
import pytest

import cenas.carbon as carbon
from cenas.carbon import BUNDLED_ZONES, CarbonTrace, bundled_traces, bundled_years, load_bundled
from cenas.errors import TraceError


def test_bundled_catalogue() -> None:
    pairs = bundled_traces()
    assert BUNDLED_ZONES == ("US-CAL-CISO", "US-MIDA-PJM", "DE-LU", "GB", "US-TEX-ERCO")
    assert list(dict.fromkeys(z for z, _ in pairs)) == list(BUNDLED_ZONES)
    assert pairs == [(z, y) for z in BUNDLED_ZONES for y in (2021, 2022, 2023)]
    assert bundled_years("GB") == [2021, 2022, 2023]
    assert bundled_years("XX") == []


def test_exports() -> None:
    for name in (
        "BUNDLED_ZONES",
        "bundled_traces",
        "load_bundled",
        "load_trace",
        "read_electricitymaps_csv",
        "read_plain_csv",
        "CarbonTrace",
        "Kind",
        "to_utc_hour",
    ):
        assert name in carbon.__all__
        assert hasattr(carbon, name)


@pytest.mark.parametrize(("zone", "year"), bundled_traces())
def test_every_bundled_trace_loads(zone: str, year: int) -> None:
    trace = load_bundled(zone, year)
    assert len(trace) == (8784 if calendar.isleap(year) else 8760)
    assert trace.start == pd.Timestamp(f"{year}-01-01", tz="UTC")
    assert trace.zone == zone
    assert trace.kind == "direct"
    assert trace.source == f"bundled:{zone}:{year}"
    assert set(trace.covariates) == {"renewable_pct", "low_carbon_pct"}
    assert np.isfinite(trace.values).all()
    assert (trace.values >= 0).all() and (trace.values < 2000).all()


def test_known_first_value() -> None:
    trace = load_bundled("US-CAL-CISO", 2021)
    assert trace.start == pd.Timestamp("2021-01-01 00:00", tz="UTC")
    assert trace.values[0] == pytest.approx(238.71)
    assert trace.covariates["renewable_pct"][0] == pytest.approx(33.74)
    assert trace.covariates["low_carbon_pct"][0] == pytest.approx(44.72)
    lca = load_bundled("US-CAL-CISO", 2021, kind="lca")
    assert lca.kind == "lca"
    assert lca.values[0] == pytest.approx(317.31)


def test_all_years_concatenated_in_order() -> None:
    every = load_bundled("US-CAL-CISO")
    assert len(every) == 3 * 8760
    assert every.source == "bundled:US-CAL-CISO:2021-2023"
    middle = load_bundled("US-CAL-CISO", 2022)
    part = every.window("2022-01-01", len(middle))
    np.testing.assert_array_equal(part.values, middle.values)
    np.testing.assert_array_equal(
        part.covariates["renewable_pct"], middle.covariates["renewable_pct"]
    )


def test_year_sequence_is_sorted_and_named() -> None:
    trace = load_bundled("GB", [2022, 2021])
    assert trace.source == "bundled:GB:2021-2022"
    assert trace.start == pd.Timestamp("2021-01-01", tz="UTC")
    assert len(trace) == 2 * 8760


def test_cached_and_read_only() -> None:
    first = load_bundled("DE-LU", 2021)
    assert load_bundled("DE-LU", [2021]) is first
    assert first.zone == "DE-LU"  # the files say "DE"
    with pytest.raises(ValueError):
        first.values[0] = 0.0


def test_unknown_zone_lists_valid_ones() -> None:
    with pytest.raises(TraceError, match="bundled zones: US-CAL-CISO, US-MIDA-PJM, DE-LU"):
        load_bundled("FR")


def test_unknown_year_lists_valid_ones() -> None:
    with pytest.raises(TraceError, match=r"2019.*bundled years for GB: 2021, 2022, 2023"):
        load_bundled("GB", [2019, 2021])


def test_years_must_be_consecutive_and_kind_known() -> None:
    with pytest.raises(TraceError, match="consecutive"):
        load_bundled("GB", [2021, 2023])
    with pytest.raises(TraceError, match="no years"):
        load_bundled("GB", [])
    with pytest.raises(TraceError, match="unknown trace kind"):
        load_bundled("GB", 2021, kind="total")  # type: ignore[arg-type]


def test_window_slicing() -> None:
    trace = load_bundled("US-CAL-CISO", 2021)
    week = trace.window("2021-06-01T00:00:00Z", 168)
    assert isinstance(week, CarbonTrace)
    assert len(week) == 168
    offset = trace.offset_of("2021-06-01")
    np.testing.assert_array_equal(week.values, trace.values[offset : offset + 168])
    np.testing.assert_array_equal(
        week.covariates["renewable_pct"], trace.covariates["renewable_pct"][offset : offset + 168]
    )
    day = trace.between("2021-06-01 02:00+02:00", "2021-06-02")
    assert day.start == pd.Timestamp("2021-06-01", tz="UTC")
    assert len(day) == 24
    week.values[0] = -1.0  # a window is a copy: the cached trace is untouched
    assert trace.values[offset] != -1.0
    with pytest.raises(TraceError):
        trace.window("2021-12-31 23:00", 2)
    with pytest.raises(TraceError):
        trace.window("2022-01-01", 1)
