"""The :class:`CarbonTrace`: hourly grid carbon intensity in gCO2eq/kWh, UTC."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cenas.errors import TraceError

Kind = Literal["direct", "lca"]


def to_utc_hour(when: str | pd.Timestamp) -> pd.Timestamp:
    """Parse a time (naive = UTC) and check it falls on a whole hour.

    Raises:
        TraceError: If it cannot be parsed or is not on the hour.
    """
    try:
        ts = pd.Timestamp(when)
    except (ValueError, TypeError) as exc:
        raise TraceError(f"cannot parse time {when!r}: {exc}") from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if ts != ts.floor("h"):
        raise TraceError(f"time {when!r} is not on a whole hour")
    return ts


@dataclass(frozen=True)
class CarbonTrace:
    """An hourly carbon-intensity series without gaps.

    Attributes:
        values: Intensity of each hour in gCO2eq/kWh, ``(n,)``.
        start: Start of the first hour (UTC, on the hour).
        zone: Grid zone (e.g. ``US-CAL-CISO``) or a user label.
        kind: ``direct`` (operational) or ``lca`` (life-cycle) emissions.
        source: Where the values came from (file path or ``bundled:<zone>:<year>``).
        covariates: Optional aligned hourly series (e.g. ``renewable_pct``).
        column: The file column the values were read from (empty if not from a file).
        naive_utc: Whether the file's timestamps had no UTC offset and were read as UTC.
    """

    values: NDArray[np.float64]
    start: pd.Timestamp
    zone: str = "custom"
    kind: Kind = "direct"
    source: str = ""
    covariates: Mapping[str, NDArray[np.float64]] = field(default_factory=dict)
    column: str = ""
    naive_utc: bool = False

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim != 1:
            raise TraceError(f"trace {self.source or self.zone}: values must be 1-D")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "start", to_utc_hour(self.start))
        for name, cov in self.covariates.items():
            if len(cov) != len(values):
                raise TraceError(f"trace {self.source or self.zone}: covariate {name} misaligned")

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def end(self) -> pd.Timestamp:
        """End (exclusive) of the last hour."""
        return self.start + pd.Timedelta(hours=len(self))

    @property
    def index(self) -> pd.DatetimeIndex:
        """Hour starts, UTC."""
        return pd.date_range(self.start, periods=len(self), freq="h")

    def to_series(self) -> pd.Series:
        """The trace as a pandas series indexed by hour start (UTC)."""
        return pd.Series(self.values, index=self.index, name=f"{self.zone} ({self.kind})")

    def offset_of(self, when: str | pd.Timestamp) -> int:
        """Hour offset of ``when`` from the start of the trace.

        Raises:
            TraceError: If ``when`` lies outside the trace.
        """
        ts = to_utc_hour(when)
        offset = int((ts - self.start) / pd.Timedelta(hours=1))
        if not 0 <= offset < len(self):
            raise TraceError(
                f"trace {self.zone}: {ts.isoformat()} is outside "
                f"[{self.start.isoformat()}, {self.end.isoformat()})"
            )
        return offset

    def window(
        self, start: str | pd.Timestamp | None = None, hours: int | None = None
    ) -> CarbonTrace:
        """The sub-trace of ``hours`` hours from ``start`` (default: the trace's start).

        Raises:
            TraceError: If the window does not fit inside the trace.
        """
        first = 0 if start is None else self.offset_of(start)
        n = len(self) - first if hours is None else int(hours)
        if n <= 0:
            raise TraceError(f"trace {self.zone}: window length must be positive, got {n}")
        if first + n > len(self):
            begin = self.start + pd.Timedelta(hours=first)
            until = self.start + pd.Timedelta(hours=first + n)
            raise TraceError(
                f"trace {self.zone}: a {n}-hour window from {begin.isoformat()} "
                f"needs data until {until.isoformat()}, "
                f"but the trace ends at {self.end.isoformat()}"
            )
        return self._slice(first, first + n)

    def between(self, start: str | pd.Timestamp, end: str | pd.Timestamp) -> CarbonTrace:
        """The sub-trace ``[start, end)``."""
        first = self.offset_of(start)
        last = to_utc_hour(end)
        hours = int((last - self.start) / pd.Timedelta(hours=1)) - first
        return self.window(start, hours)

    def _slice(self, a: int, b: int) -> CarbonTrace:
        return CarbonTrace(
            values=self.values[a:b].copy(),
            start=self.start + pd.Timedelta(hours=a),
            zone=self.zone,
            kind=self.kind,
            source=self.source,
            covariates={k: v[a:b].copy() for k, v in self.covariates.items()},
            column=self.column,
            naive_utc=self.naive_utc,
        )

    def concat(self, other: CarbonTrace) -> CarbonTrace:
        """Join a trace that starts where this one ends."""
        if other.start != self.end:
            raise TraceError(
                f"cannot join traces: {other.start.isoformat()} "
                f"does not follow {self.end.isoformat()}"
            )
        keys = set(self.covariates) & set(other.covariates)
        return CarbonTrace(
            values=np.concatenate([self.values, other.values]),
            start=self.start,
            zone=self.zone,
            kind=self.kind,
            source=self.source if self.source == other.source else f"{self.source}+{other.source}",
            covariates={k: np.concatenate([self.covariates[k], other.covariates[k]]) for k in keys},
            column=self.column if self.column == other.column else "",
            naive_utc=self.naive_utc or other.naive_utc,
        )
