"""Where the pool runs in a spatial study: the zone whose coming hours are cleanest.

Spatial shifting goes beyond CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024); the rule is the
greedy one of carbon-aware load migration between data centres (Zheng, Chien, Suh, Joule
2020): move when the carbon the move saves over the coming hours exceeds the carbon the
move costs (:class:`cenas.engine.spatial.MigrationCost`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cenas.engine.energy import JOULES_PER_KWH

if TYPE_CHECKING:
    from cenas.engine.loop import Engine
    from cenas.engine.spatial import ZoneSignal


class GreedyZoneChooser:
    """Run in the zone with the least intensity over the next ``horizon`` hours (now and the
    forecast), moving only when that saves more than the move costs.

    The saving is the difference of the summed intensities times the pool's training power
    (its busiest draw) over those hours; the cost is the pool waiting the migration's
    seconds at idle power plus the network energy, both at the destination's intensity.

    Args:
        horizon: Hours compared (now included).
    """

    name = "greedy"

    def __init__(self, horizon: int = 6) -> None:
        if horizon < 1:
            raise ValueError("zone horizon must be at least one hour")
        self.horizon = horizon

    def _coming(self, signal: ZoneSignal, zone: str, step: int, n_steps: int) -> float:
        sig = signal.signals[zone]
        left = max(n_steps - step - 1, 0)
        ahead = np.asarray(sig.forecast(step)[: min(self.horizon - 1, left)], dtype=np.float64)
        return float(sig.intensity(step) + ahead.sum())

    def choose(self, engine: Engine, signal: ZoneSignal) -> str:
        s, cfg = engine.step_index, engine.config
        cost = {z: self._coming(signal, z, s, cfg.n_steps) for z in signal.zones}
        best = min(signal.zones, key=lambda z: (cost[z], signal.zones.index(z)))
        here = signal.active
        if best == here or s == 0:
            return best
        n_jobs = len(engine.paused["train"]) + len(engine.paused["estimate"])
        pool_kw = cfg.n_gpus * cfg.power.train_w / 1000.0
        saving_g = (cost[here] - cost[best]) * pool_kw * cfg.step_hours
        move_j = cfg.n_gpus * cfg.power.idle_w * engine.migration.seconds(
            n_jobs
        ) + engine.migration.network_j(n_jobs)
        move_g = move_j / JOULES_PER_KWH * signal.signals[best].intensity(s)
        return best if saving_g > move_g else here


__all__ = ["GreedyZoneChooser"]
