"""The carbon-intensity traces bundled with cenas (Electricity Maps, ODbL 1.0; see DATA.md).

Files live in the package data as ``cenas/data/carbon/<ZONE>_<YEAR>_hourly.csv.gz``; they are
found through :mod:`importlib.resources` when first asked for, and each loaded trace is cached.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Sequence
from dataclasses import replace
from importlib.resources.abc import Traversable

import numpy as np

from cenas.carbon._readers import read_electricitymaps_csv
from cenas.carbon._trace import CarbonTrace, Kind
from cenas.errors import TraceError

BUNDLED_ZONES: tuple[str, ...] = ("US-CAL-CISO", "US-MIDA-PJM", "DE-LU", "GB", "US-TEX-ERCO")
"""Zones with bundled hourly traces. US-CAL-CISO (CAISO) is the grid CE-NAS used."""

_FILE = re.compile(r"^(?P<zone>[A-Z0-9-]+)_(?P<year>\d{4})_hourly\.csv\.gz$")


def _data_dir() -> Traversable:
    return importlib.resources.files("cenas").joinpath("data", "carbon")


@functools.cache
def _catalogue() -> dict[tuple[str, int], Traversable]:
    found: dict[tuple[str, int], Traversable] = {}
    folder = _data_dir()
    if folder.is_dir():
        for entry in folder.iterdir():
            match = _FILE.match(entry.name)
            if match:
                found[(match["zone"], int(match["year"]))] = entry
    return found


def bundled_traces() -> list[tuple[str, int]]:
    """The bundled ``(zone, year)`` pairs, by zone (in :data:`BUNDLED_ZONES` order), then year."""
    order = {zone: i for i, zone in enumerate(BUNDLED_ZONES)}
    return sorted(_catalogue(), key=lambda zy: (order.get(zy[0], len(order)), zy[0], zy[1]))


def canonical_zone(zone: str) -> str:
    """A bundled zone's own spelling for ``zone``, matched case-insensitively (``de-lu`` is
    ``DE-LU``); an unknown zone is returned unchanged."""
    known = {z.upper(): z for z in (*BUNDLED_ZONES, *(z for z, _ in bundled_traces()))}
    return known.get(zone.strip().upper(), zone)


def bundled_years(zone: str) -> list[int]:
    """The years bundled for ``zone`` (case-insensitive; empty if the zone is unknown)."""
    zone = canonical_zone(zone)
    return [year for z, year in bundled_traces() if z == zone]


def _normalise_years(zone: str, years: int | Sequence[int] | None) -> tuple[int, ...]:
    zones = list(dict.fromkeys(z for z, _ in bundled_traces()))
    if zone not in zones:
        raise TraceError(
            f"no bundled trace for zone {zone!r}; bundled zones: {', '.join(zones) or 'none'}"
        )
    available = bundled_years(zone)
    if years is None:
        wanted = available
    elif isinstance(years, int | np.integer) and not isinstance(years, bool):
        wanted = [int(years)]
    else:
        wanted = sorted({int(y) for y in years})  # type: ignore[union-attr]
    listed = ", ".join(str(y) for y in available)
    if not wanted:
        raise TraceError(f"no years asked for zone {zone}; bundled years: {listed}")
    unknown = [y for y in wanted if y not in available]
    if unknown:
        raise TraceError(
            f"no bundled trace for {zone} in {', '.join(map(str, unknown))}; "
            f"bundled years for {zone}: {listed}"
        )
    if wanted != list(range(wanted[0], wanted[-1] + 1)):
        raise TraceError(
            f"bundled years for one trace must be consecutive, got {', '.join(map(str, wanted))}"
        )
    return tuple(wanted)


def _load_year(zone: str, year: int, kind: Kind) -> CarbonTrace:
    resource = _catalogue()[(zone, year)]
    with importlib.resources.as_file(resource) as path:
        trace = read_electricitymaps_csv(path, kind=kind)
    return trace


@functools.lru_cache(maxsize=64)
def _load(zone: str, years: tuple[int, ...], kind: Kind) -> CarbonTrace:
    trace = _load_year(zone, years[0], kind)
    for year in years[1:]:
        trace = trace.concat(_load_year(zone, year, kind))
    span = str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"
    trace = replace(trace, zone=zone, source=f"bundled:{zone}:{span}")
    # The trace is shared by every caller: make its arrays read-only.
    trace.values.setflags(write=False)
    for cov in trace.covariates.values():
        cov.setflags(write=False)
    return trace


def load_bundled(
    zone: str, years: int | Sequence[int] | None = None, kind: Kind = "direct"
) -> CarbonTrace:
    """Load a bundled hourly carbon-intensity trace.

    Args:
        zone: One of :data:`BUNDLED_ZONES` (e.g. ``US-CAL-CISO``; case-insensitive).
        years: A year, several consecutive years (joined in order), or ``None`` for all
            bundled years of the zone.
        kind: ``direct`` (operational) or ``lca`` (life-cycle) intensity.

    Returns:
        The trace (UTC, gCO2eq/kWh) with covariates ``renewable_pct`` and ``low_carbon_pct``
        and ``source`` like ``bundled:US-CAL-CISO:2021-2022``. Traces are cached and shared;
        their arrays are read-only.

    Raises:
        TraceError: If the zone, a year or the kind is not bundled (the message lists the
            valid ones), or the years are not consecutive.
    """
    if kind not in ("direct", "lca"):
        raise TraceError(f"unknown trace kind {kind!r}; expected 'direct' or 'lca'")
    zone = canonical_zone(zone)
    return _load(zone, _normalise_years(zone, years), kind)


__all__ = ["BUNDLED_ZONES", "bundled_traces", "bundled_years", "canonical_zone", "load_bundled"]
