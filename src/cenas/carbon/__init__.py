"""Carbon-intensity traces: the trace type, readers, bundled registry, forecasting."""

from __future__ import annotations

from cenas.carbon._trace import CarbonTrace, Kind, to_utc_hour

__all__ = ["CarbonTrace", "Kind", "to_utc_hour"]
