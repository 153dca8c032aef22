"""Spatial shifting: each step's work runs in the zone a chooser picks, paying to migrate.

Beyond CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024), which shifts work in time only: grids
differ by the hour *and* by place, so a study over several zones moves its GPU pool to the
zone whose coming hours are cleanest, as carbon-aware spatial load shifting does between
data centres (Zheng, Chien, Suh, "Mitigating curtailment and carbon emissions through load
migration between data centers", Joule 2020; Radovanović et al., "Carbon-aware computing
for datacenters", IEEE Trans. Power Systems 2023). Every zone's signal covers the same UTC
hours; the engine charges each step at the intensity of the zone it ran in.

A move is not free (:class:`MigrationCost`): the pool in the new zone first waits
``setup_s`` to be provisioned plus the time to transfer the checkpoints of the unfinished
jobs, every GPU at idle power, and the transfer's network energy (``network_kwh_per_gb``,
0.06 kWh/GB: Aslan, Mayers, Koomey, France, "Electricity intensity of internet data
transmission", Journal of Industrial Ecology 2018) is charged at the destination's
intensity as ledger kind ``migrate`` (0 GPU-seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from cenas.engine.energy import JOULES_PER_KWH
from cenas.engine.signal import CarbonSignal
from cenas.errors import ConfigError

if TYPE_CHECKING:
    from cenas.engine.loop import Engine


@dataclass(frozen=True)
class MigrationCost:
    """What moving the pool to another zone costs.

    Attributes:
        setup_s: Seconds to provision the pool in the new zone (every GPU waits, idle).
        checkpoint_gb: Size of one unfinished job's checkpoint, GB (an NB201 network's
            weights and SGD momentum are about 12 MB at C=16; with the data-loader and
            optimiser state, 0.05 GB).
        bandwidth_gbit_s: Inter-region transfer rate, Gbit/s.
        network_kwh_per_gb: Network energy per GB moved (Aslan et al. 2018).
    """

    setup_s: float = 300.0
    checkpoint_gb: float = 0.05
    bandwidth_gbit_s: float = 1.0
    network_kwh_per_gb: float = 0.06

    def __post_init__(self) -> None:
        for name in ("setup_s", "checkpoint_gb", "network_kwh_per_gb"):
            if getattr(self, name) < 0:
                raise ConfigError(f"migration: {name} must be non-negative")
        if self.bandwidth_gbit_s <= 0:
            raise ConfigError("migration: bandwidth_gbit_s must be positive")

    def seconds(self, n_jobs: int) -> float:
        """Seconds the pool waits: provisioning, then the checkpoints' transfer."""
        return self.setup_s + n_jobs * self.checkpoint_gb * 8.0 / self.bandwidth_gbit_s

    def network_j(self, n_jobs: int) -> float:
        """Network energy of moving ``n_jobs`` checkpoints, joules."""
        return n_jobs * self.checkpoint_gb * self.network_kwh_per_gb * JOULES_PER_KWH


class ZoneSignal(CarbonSignal):
    """Several zones' carbon signals over the same UTC window; the active zone answers.

    Args:
        signals: Zone -> its signal (same window length and first UTC hour).
        first: The zone active at the start (default: the first).

    Raises:
        ConfigError: If the signals cover different hours.
    """

    def __init__(self, signals: dict[str, CarbonSignal], first: str | None = None) -> None:
        if len(signals) < 2:
            raise ConfigError("zones: give at least two zones for a spatial study")
        self.signals = dict(signals)
        self.zones = list(signals)
        base = self.signals[self.zones[0]]
        for zone, sig in self.signals.items():
            if sig.hours != base.hours or sig.hour_utc(0) != base.hour_utc(0):
                raise ConfigError(
                    f"zones: {zone}'s window ({sig.hour_utc(0)}, {sig.hours} h) differs from "
                    f"{self.zones[0]}'s ({base.hour_utc(0)}, {base.hours} h)"
                )
        self.hours = base.hours
        self.scale = max(s.scale for s in self.signals.values())
        self.mode = base.mode
        self.select(first if first is not None else self.zones[0])

    def hour_utc(self, hour_offset: int) -> pd.Timestamp:
        return self.signals[self.active].hour_utc(hour_offset)

    def intensity(self, hour_offset: int) -> float:
        return self.signals[self.active].intensity(hour_offset)

    def forecast(self, hour_offset: int) -> NDArray[np.float64]:
        return self.signals[self.active].forecast(hour_offset)

    def select(self, zone: str) -> None:
        """Make ``zone`` the active zone."""
        if zone not in self.signals:
            raise ConfigError(f"zone: {zone} is not one of the zones {self.zones}")
        self.active = zone
        active = self.signals[zone]
        self.trace, self.start, self.window = active.trace, active.start, active.window
        self.source = active.source


class ZoneChooser(Protocol):
    """Picks the zone of the coming step."""

    def choose(self, engine: Engine, signal: ZoneSignal) -> str:
        """The zone step ``engine.step_index`` runs in."""
        ...


__all__ = ["MigrationCost", "ZoneChooser", "ZoneSignal"]
