"""Multi-objective optimisers (ask/tell) and hypervolume helpers."""

from __future__ import annotations

from cenas.optimize._lamoo import LaMOO, LaMOONode
from cenas.optimize._nsga2 import NSGA2
from cenas.optimize._qnehvi import QNEHVI
from cenas.optimize._registry import OPTIMIZERS, make_optimizer
from cenas.optimize.base import Optimizer, RandomSearch
from cenas.optimize.hypervolume import (
    dominance_number,
    hypervolume,
    log_hv_difference,
    nondominated_mask,
    pareto_front,
)

__all__ = [
    "NSGA2",
    "OPTIMIZERS",
    "QNEHVI",
    "LaMOO",
    "LaMOONode",
    "Optimizer",
    "RandomSearch",
    "dominance_number",
    "hypervolume",
    "log_hv_difference",
    "make_optimizer",
    "nondominated_mask",
    "pareto_front",
]
