"""Carbon-intensity traces: the trace type, readers, bundled registry, forecasting, and live
providers (:mod:`cenas.carbon.live`)."""

from __future__ import annotations

from cenas.carbon._readers import (
    MAX_INTENSITY,
    detect_format,
    load_trace,
    read_electricitymaps_csv,
    read_plain_csv,
)
from cenas.carbon._registry import (
    BUNDLED_ZONES,
    bundled_traces,
    bundled_years,
    canonical_zone,
    load_bundled,
)
from cenas.carbon._trace import CarbonTrace, Kind, to_utc_hour
from cenas.carbon.live import (
    CarbonProvider,
    ElectricityMapsProvider,
    LiveCarbonSignal,
    ProviderError,
    ProviderReading,
    TraceReplayProvider,
    WattTimeProvider,
)

__all__ = [
    "BUNDLED_ZONES",
    "MAX_INTENSITY",
    "CarbonProvider",
    "CarbonTrace",
    "ElectricityMapsProvider",
    "Kind",
    "LiveCarbonSignal",
    "ProviderError",
    "ProviderReading",
    "TraceReplayProvider",
    "WattTimeProvider",
    "bundled_traces",
    "bundled_years",
    "canonical_zone",
    "detect_format",
    "load_bundled",
    "load_trace",
    "read_electricitymaps_csv",
    "read_plain_csv",
    "to_utc_hour",
]
