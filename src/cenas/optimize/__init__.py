"""Multi-objective optimisers (ask/tell) and hypervolume helpers."""

from __future__ import annotations

from cenas.optimize.hypervolume import (
    dominance_number,
    hypervolume,
    log_hv_difference,
    nondominated_mask,
    pareto_front,
)

__all__ = [
    "dominance_number",
    "hypervolume",
    "log_hv_difference",
    "nondominated_mask",
    "pareto_front",
]
