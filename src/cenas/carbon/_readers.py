"""Readers for hourly carbon-intensity files.

Two formats are understood, each as ``.csv`` or gzip-compressed ``.csv.gz``:

* **Electricity Maps** data-portal exports (the format of the bundled traces): a header with
  ``Datetime (UTC)`` and ``Carbon Intensity gCO₂eq/kWh (direct)`` / ``(LCA)`` columns, plus
  optional ``Zone Id``, ``Renewable Percentage`` and ``Low Carbon Percentage`` columns; any
  other columns are ignored (``value_column`` reads another column instead of the kind's).
  Column names match case-insensitively, ``CO2`` may be spelled without the subscript, and
  the newer export names ``(Life cycle)``, ``Renewable energy percentage (RE%)`` and
  ``Carbon-free energy percentage (CFE%)`` are accepted as well.
* **Plain** CSV files with a ``timestamp`` and a ``value`` column (any order, any case; other
  columns, such as a source or an estimated flag, are ignored; ``value_column`` names another
  column to read). A file without a header is accepted too when its first line already is a
  data row of two fields, the first a timestamp; its columns are then timestamp, value.

The trace records the column its values came from (:attr:`CarbonTrace.column`).

Timestamps are ISO 8601 (``2021-01-01 00:00``, ``2021-01-01T00:00:00Z``,
``2021-03-28T03:00:00+02:00``; a trailing `` UTC`` is read as ``+00:00``). A stamp without
an offset means UTC (a plain file's trace then has ``naive_utc`` set, so that summaries say
so); stamps with an offset are converted to UTC, so a local-time file with DST changes
loads as a regular UTC trace. A file that mixes naive and offset-aware stamps is rejected,
since the naive ones cannot be placed on the UTC axis without guessing.

Every problem raises :class:`~cenas.errors.TraceError` with one line of the form
``<file>: row <n>: <problem>`` (``<file>: <problem>`` for a missing or unreadable file),
where ``n`` is the 1-based line number in the file (the header is line 1; blank lines are
skipped but counted; a quoted field spanning lines would shift the count). Problems checked,
in this order: unreadable or empty file, missing columns, unparsable timestamps, naive and
offset-aware stamps mixed, stamps not on a whole hour, duplicated hours, unsorted hours,
missing or non-numeric values, negative values, values above :data:`MAX_INTENSITY`, and
missing hours. Missing hours (gaps) are an error unless the caller opts in with
``fill_gaps=N``: gaps of at most ``N`` consecutive hours are then filled by linear
interpolation (covariates too). A file that fails and seems separated by ``;`` or tabs gets
a hint about the delimiter.
Covariates are auxiliary: holes in them are interpolated and an all-empty one is dropped.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cenas.carbon._trace import CarbonTrace, Kind
from cenas.errors import TraceError

MAX_INTENSITY = 2000.0
"""Largest plausible intensity in gCO2eq/kWh; larger values are rejected as absurd."""

Format = Literal["electricitymaps", "plain"]

_HOUR_NS = 3_600 * 10**9
_AWARE = re.compile(r"[T ]\d{2}(?::?\d{2}){0,2}(?:[.,]\d+)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")
_UTC_SUFFIX = re.compile(r"\s*UTC$", re.IGNORECASE)

# Electricity Maps column names, normalised by :func:`_norm`.
_EM_TIME = "datetime (utc)"
_EM_KIND: dict[str, tuple[str, ...]] = {
    "direct": ("carbon intensity gco2eq/kwh (direct)",),
    "lca": ("carbon intensity gco2eq/kwh (lca)", "carbon intensity gco2eq/kwh (life cycle)"),
}
_EM_ZONE = ("zone id",)
_EM_COVARIATES: dict[str, tuple[str, ...]] = {
    "renewable_pct": ("renewable percentage", "renewable energy percentage (re%)"),
    "low_carbon_pct": ("low carbon percentage", "carbon-free energy percentage (cfe%)"),
}
_EM_DISPLAY = {
    "direct": "Carbon Intensity gCO₂eq/kWh (direct)",
    "lca": "Carbon Intensity gCO₂eq/kWh (LCA)",
}


def _norm(name: str) -> str:
    """Normalise a column name for matching: case, subscript digits, whitespace."""
    return " ".join(name.replace("₂", "2").strip().lower().split())


def _fail(path: str, line: int | None, problem: str) -> TraceError:
    problem = " ".join(str(problem).split())
    if line is None:  # the file as a whole
        return TraceError(f"{path}: {problem}")
    return TraceError(f"{path}: row {line}: {problem}")


def _first_line(path: str | PathLike[str]) -> str | None:
    """The first non-blank line of a (possibly gzipped) file, or ``None`` if unreadable."""
    try:
        with Path(path).open("rb") as fh:
            head = fh.read(65536)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as gz:
                head = gz.read(65536)
        text = head.decode("utf-8-sig", errors="replace")
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    return next((ln for ln in text.splitlines() if ln.strip()), None)


def _delimiter_hint(path: str | PathLike[str]) -> str | None:
    """A hint when a file seems separated by ``;`` or tabs rather than commas."""
    line = _first_line(path)
    if line is None or "," in line:
        return None
    for sep, name in ((";", "';'"), ("\t", "tab")):
        if sep in line:
            return (
                f"the file seems to be separated by {name}; cenas reads comma-separated "
                "files: save it as CSV with ',' between fields and '.' as the decimal point"
            )
    return None


def _hinted(path: str | PathLike[str], exc: TraceError) -> TraceError:
    """``exc`` with the delimiter hint appended when the file seems to need one."""
    hint = _delimiter_hint(path) if Path(path).is_file() else None
    return TraceError(f"{exc} ({hint})") if hint else exc


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "...'"


class _Raw:
    """A CSV file as strings: its header (or None) and data rows with their line numbers."""

    def __init__(self, name: str, header: list[str] | None, rows: pd.DataFrame) -> None:
        self.name = name
        self.header = header
        self.rows = rows  # string cells, index = 1-based line number in the file

    def lines(self) -> NDArray[np.int64]:
        return np.asarray(self.rows.index, dtype=np.int64)


def _read_raw(path: str | PathLike[str]) -> _Raw:
    """Read a (possibly gzipped) CSV file as strings, keeping track of line numbers."""
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise _fail(name, None, "no such file")
    if p.is_dir():
        raise _fail(name, None, "is a directory, not a CSV file")
    try:
        with p.open("rb") as fh:
            gzipped = fh.read(2) == b"\x1f\x8b"
        frame = pd.read_csv(
            p,
            header=None,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            compression="gzip" if gzipped else None,
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        raise _fail(name, 1, "empty file (no header and no data rows)") from None
    except pd.errors.ParserError as exc:
        match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if match:
            want, line, saw = (int(g) for g in match.groups())
            raise _fail(
                name, line, f"malformed CSV: {saw} fields where {want} were expected"
            ) from None
        raise _fail(name, 1, f"malformed CSV ({exc})") from None
    except (UnicodeDecodeError, OSError, EOFError, gzip.BadGzipFile) as exc:
        raise _fail(name, None, f"cannot read file ({type(exc).__name__}: {exc})") from None
    frame = frame.fillna("")
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    blank = (frame.apply(lambda col: col.str.strip()) == "").all(axis=1)
    frame = frame[~blank]
    if frame.empty:
        raise _fail(name, 1, "empty file (no header and no data rows)")
    return _Raw(name, None, frame)


def _take_header(raw: _Raw) -> _Raw:
    """Use the first non-blank row of ``raw`` as its header."""
    first = raw.rows.iloc[0]
    header = [str(c).strip() for c in first]
    # pandas pads short rows; drop the trailing empty names it makes up.
    while header and header[-1] == "":
        header.pop()
    rows = raw.rows.iloc[1:, : len(header)]
    rows.columns = pd.Index(header)
    return _Raw(raw.name, header, rows)


def _parse_hours(raw: _Raw, column: str) -> tuple[pd.DatetimeIndex, bool]:
    """Parse the timestamp column to UTC, checking format, offsets and whole hours.

    Returns:
        The hours, and whether the stamps had no UTC offset (read as UTC).
    """
    shown_text = raw.rows[column].str.strip()
    # A trailing " UTC" (as in "2021-01-01 00:00:00 UTC") is an explicit zero offset.
    text = shown_text.str.replace(_UTC_SUFFIX, "+00:00", regex=True)
    lines = raw.lines()
    stamps = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    bad = np.flatnonzero(stamps.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        what = "empty timestamp" if shown_text.iloc[i] == "" else "cannot parse timestamp"
        shown = "" if shown_text.iloc[i] == "" else f" {_short(shown_text.iloc[i])}"
        raise _fail(raw.name, int(lines[i]), f"{what}{shown} (expected ISO 8601)")
    aware = text.str.contains(_AWARE).to_numpy()
    if aware.any() and not aware.all():
        i = int(np.flatnonzero(aware != aware[0])[0])
        kind = "has a UTC offset" if aware[i] else "has no UTC offset"
        raise _fail(
            raw.name,
            int(lines[i]),
            f"timestamp {_short(shown_text.iloc[i])} {kind} unlike row {int(lines[0])}; "
            "naive and offset-aware timestamps cannot be mixed",
        )
    index = pd.DatetimeIndex(stamps).as_unit("ns")
    ns = index.asi8
    off = np.flatnonzero(ns % _HOUR_NS != 0)
    if off.size:
        i = int(off[0])
        raise _fail(
            raw.name, int(lines[i]), f"timestamp {_short(shown_text.iloc[i])} is not on the hour"
        )
    dup = np.flatnonzero(index.duplicated())
    if dup.size:
        i = int(dup[0])
        first = int(lines[int(np.flatnonzero(ns == ns[i])[0])])
        raise _fail(
            raw.name,
            int(lines[i]),
            f"duplicated hour {index[i].isoformat()} (already at row {first})",
        )
    back = np.flatnonzero(np.diff(ns) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise _fail(
            raw.name,
            int(lines[i]),
            f"hours not sorted: {index[i].isoformat()} comes after {index[i - 1].isoformat()}",
        )
    return index, not bool(aware.any())


def _parse_values(raw: _Raw, column: str, label: str) -> NDArray[np.float64]:
    """Parse an intensity column, rejecting missing, negative and absurd values."""
    text = raw.rows[column].str.strip()
    lines = raw.lines()
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(np.isnan(values))
    if bad.size:
        i = int(bad[0])
        cell = text.iloc[i]
        problem = (
            f"missing value in {label}"
            if cell == "" or cell.lower() in {"nan", "na", "n/a", "null", "none"}
            else f"value {_short(cell)} in {label} is not a number"
        )
        raise _fail(raw.name, int(lines[i]), problem)
    neg = np.flatnonzero(values < 0)
    if neg.size:
        i = int(neg[0])
        raise _fail(raw.name, int(lines[i]), f"negative value {text.iloc[i]} in {label}")
    big = np.flatnonzero(values > MAX_INTENSITY)
    if big.size:
        i = int(big[0])
        raise _fail(
            raw.name,
            int(lines[i]),
            f"absurd value {text.iloc[i]} in {label} (more than {MAX_INTENSITY:g} gCO2eq/kWh)",
        )
    return values


def _parse_covariate(raw: _Raw, column: str) -> NDArray[np.float64] | None:
    """Parse an optional covariate; holes are interpolated, an all-empty column is dropped."""
    values = pd.to_numeric(raw.rows[column].str.strip(), errors="coerce")
    if values.isna().all():
        return None
    if values.isna().any():
        values = values.interpolate(limit_direction="both")
    return values.to_numpy(dtype=np.float64)


def _assemble(
    raw: _Raw,
    index: pd.DatetimeIndex,
    values: NDArray[np.float64],
    covariates: Mapping[str, NDArray[np.float64]],
    fill_gaps: int,
    *,
    zone: str,
    kind: Kind,
    column: str,
    naive_utc: bool = False,
) -> CarbonTrace:
    """Check for missing hours (filling them if allowed) and build the trace."""
    if isinstance(fill_gaps, bool) or not isinstance(fill_gaps, int | np.integer) or fill_gaps < 0:
        raise TraceError(f"fill_gaps must be a non-negative number of hours, got {fill_gaps!r}")
    ns = index.asi8
    steps = np.diff(ns) // _HOUR_NS
    gaps = np.flatnonzero(steps > 1)
    if gaps.size:
        missing = steps[gaps] - 1
        too_long = np.flatnonzero(missing > fill_gaps)
        if too_long.size:
            g = int(gaps[too_long[0]])
            n = int(missing[too_long[0]])
            hint = (
                f"fill_gaps={fill_gaps} fills at most {fill_gaps} hour(s)"
                if fill_gaps
                else f"pass fill_gaps={n} (--fill-gaps {n}) to interpolate it"
            )
            raise _fail(
                raw.name,
                int(raw.lines()[g + 1]),
                f"{n} missing hour(s) between {index[g].isoformat()} and "
                f"{index[g + 1].isoformat()}; {hint}",
            )
        full = pd.date_range(index[0], index[-1], freq="h")
        frame = pd.DataFrame({"value": values, **covariates}, index=index).reindex(full)
        frame = frame.interpolate(method="linear", limit_area="inside")
        values = frame["value"].to_numpy(dtype=np.float64)
        covariates = {k: frame[k].to_numpy(dtype=np.float64) for k in covariates}
    return CarbonTrace(
        values=values,
        start=index[0],
        zone=zone,
        kind=kind,
        source=raw.name,
        covariates=dict(covariates),
        column=column,
        naive_utc=naive_utc,
    )


def _find(header: list[str], names: tuple[str, ...]) -> str | None:
    wanted = set(names)
    for col in header:
        if _norm(col) in wanted:
            return col
    return None


def _no_column(raw: _Raw, value_column: str) -> TraceError:
    assert raw.header is not None
    return _fail(
        raw.name,
        1,
        f"no column {value_column!r} (--value-column); columns: {', '.join(raw.header)}",
    )


def _electricitymaps(
    raw: _Raw, kind: Kind, fill_gaps: int, value_column: str | None = None
) -> CarbonTrace:
    if kind not in _EM_KIND:
        raise TraceError(f"unknown trace kind {kind!r}; expected 'direct' or 'lca'")
    assert raw.header is not None
    time_col = _find(raw.header, (_EM_TIME,))
    if value_column is not None:
        value_col = _find(raw.header, (_norm(value_column),))
        if value_col is None:
            raise _no_column(raw, value_column)
    else:
        value_col = _find(raw.header, _EM_KIND[kind])
    missing = [
        name
        for name, col in (("Datetime (UTC)", time_col), (_EM_DISPLAY[kind], value_col))
        if col is None
    ]
    if missing:
        raise _fail(
            raw.name,
            1,
            f"Electricity Maps header lacks required column(s) {', '.join(missing)}",
        )
    assert time_col is not None and value_col is not None
    if raw.rows.empty:
        raise _fail(raw.name, 2, "no data rows after the header")
    index, _ = _parse_hours(raw, time_col)  # the column says UTC: naive stamps are UTC
    values = _parse_values(raw, value_col, f"column {value_col!r}")
    covariates: dict[str, NDArray[np.float64]] = {}
    for key, names in _EM_COVARIATES.items():
        col = _find(raw.header, names)
        if col is not None:
            cov = _parse_covariate(raw, col)
            if cov is not None:
                covariates[key] = cov
    zone = "custom"
    zone_col = _find(raw.header, _EM_ZONE)
    if zone_col is not None:
        zone = str(raw.rows[zone_col].iloc[0]).strip() or "custom"
    return _assemble(
        raw, index, values, covariates, fill_gaps, zone=zone, kind=kind, column=value_col
    )


def _looks_like_data(cells: list[str]) -> bool:
    """Whether a first line is a data row: two fields, the first a timestamp."""
    if len(cells) != 2:
        return False
    first = _UTC_SUFFIX.sub("+00:00", cells[0].strip())
    stamp = pd.to_datetime(pd.Series([first]), format="ISO8601", errors="coerce", utc=True)
    return bool(stamp.notna().iloc[0])


def _plain(
    raw: _Raw, fill_gaps: int, zone: str | None, kind: Kind, value_column: str | None = None
) -> CarbonTrace:
    first = [str(c) for c in raw.rows.iloc[0]]
    while len(first) > 2 and first[-1].strip() == "":
        first.pop()
    column = "value"
    if value_column is None and _looks_like_data(first) and raw.rows.shape[1] == 2:
        rows = raw.rows.copy()
        rows.columns = pd.Index(["timestamp", "value"])
        raw = _Raw(raw.name, None, rows)
    else:
        raw = _take_header(raw)
        assert raw.header is not None
        names = [_norm(c) for c in raw.header]
        wanted = "value" if value_column is None else _norm(value_column)
        if value_column is not None and wanted not in names:
            raise _no_column(raw, value_column)
        absent = [c for c in ("timestamp", wanted) if c not in names]
        if absent:
            hint = "; name the intensity column with --value-column" if "value" in absent else ""
            raise _fail(
                raw.name,
                1,
                f"missing column(s) {', '.join(absent)}{hint} (columns: {', '.join(raw.header)})",
            )
        used = ("timestamp", wanted)
        if any(names.count(n) > 1 for n in used):
            raise _fail(raw.name, 1, "repeated column name in the header")
        if raw.rows.empty:
            raise _fail(raw.name, 2, "no data rows after the header")
        column = raw.header[names.index(wanted)]
        rows = raw.rows.iloc[:, [names.index(n) for n in used]].copy()
        rows.columns = pd.Index(["timestamp", "value"])
        raw = _Raw(raw.name, raw.header, rows)
    index, naive = _parse_hours(raw, "timestamp")
    values = _parse_values(raw, "value", f"column {column!r}")
    return _assemble(
        raw,
        index,
        values,
        {},
        fill_gaps,
        zone=zone or "custom",
        kind=kind,
        column=column,
        naive_utc=naive,
    )


def _detect(raw: _Raw) -> Format:
    header = [_norm(str(c)) for c in raw.rows.iloc[0]]
    return "electricitymaps" if _EM_TIME in header else "plain"


def read_electricitymaps_csv(
    path: str | PathLike[str],
    kind: Kind = "direct",
    fill_gaps: int = 0,
    value_column: str | None = None,
) -> CarbonTrace:
    """Read an Electricity Maps data-portal export (``.csv`` or ``.csv.gz``).

    Args:
        path: The file.
        kind: Which intensity column to use: ``direct`` or ``lca`` (life cycle).
        fill_gaps: Largest gap, in consecutive missing hours, to fill by linear
            interpolation; ``0`` (the default) makes any gap an error.
        value_column: Read this column (matched case-insensitively) instead of the
            ``kind``'s intensity column; ``kind`` is then a label only.

    Returns:
        The trace, with ``zone`` from the ``Zone Id`` column (``custom`` if absent),
        ``source`` the path, and covariates ``renewable_pct`` and ``low_carbon_pct`` when
        the file has those columns.

    Raises:
        TraceError: If the file cannot be read or is invalid (one line naming file and row).
    """
    try:
        return _electricitymaps(_take_header(_read_raw(path)), kind, fill_gaps, value_column)
    except TraceError as exc:
        raise _hinted(path, exc) from None


def read_plain_csv(
    path: str | PathLike[str],
    fill_gaps: int = 0,
    zone: str | None = None,
    kind: Kind = "direct",
    value_column: str | None = None,
) -> CarbonTrace:
    """Read a plain ``timestamp,value`` CSV file (``.csv`` or ``.csv.gz``).

    The header must name a ``timestamp`` and a ``value`` column (any order, any case);
    other columns are ignored. A header-less file is accepted when its first line is a
    data row of two fields (its first a timestamp; columns timestamp, value).

    Args:
        path: The file.
        fill_gaps: Largest gap, in consecutive missing hours, to fill by linear
            interpolation; ``0`` (the default) makes any gap an error.
        zone: Label for the trace's ``zone`` (default ``custom``).
        kind: Whether the values are ``direct`` or ``lca`` emissions (a label only).
        value_column: Read this column (matched case-insensitively) instead of ``value``.

    Returns:
        The trace, without covariates, with ``source`` the path, ``column`` the column
        read and ``naive_utc`` set if the timestamps had no UTC offset.

    Raises:
        TraceError: If the file cannot be read or is invalid (one line naming file and row).
    """
    try:
        return _plain(_read_raw(path), fill_gaps, zone, kind, value_column)
    except TraceError as exc:
        raise _hinted(path, exc) from None


def detect_format(path: str | PathLike[str]) -> Format:
    """Tell whether a file is an Electricity Maps export or a plain ``timestamp,value`` CSV.

    Raises:
        TraceError: If the file cannot be read or is empty.
    """
    return _detect(_read_raw(path))


def load_trace(
    path: str | PathLike[str],
    kind: Kind = "direct",
    fill_gaps: int = 0,
    value_column: str | None = None,
) -> CarbonTrace:
    """Read a trace file in either format, detected from its header.

    A header with a ``Datetime (UTC)`` column means an Electricity Maps export
    (:func:`read_electricitymaps_csv`); anything else is read as a plain CSV
    (:func:`read_plain_csv`), whose ``kind`` is then only a label. ``fill_gaps`` and
    ``value_column`` are as there.

    Raises:
        TraceError: If the file cannot be read or is invalid (one line naming file and row).
    """
    try:
        raw = _read_raw(path)
        if _detect(raw) == "electricitymaps":
            return _electricitymaps(_take_header(raw), kind, fill_gaps, value_column)
        return _plain(raw, fill_gaps, None, kind, value_column)
    except TraceError as exc:
        raise _hinted(path, exc) from None


__all__ = [
    "MAX_INTENSITY",
    "Format",
    "detect_format",
    "load_trace",
    "read_electricitymaps_csv",
    "read_plain_csv",
]
