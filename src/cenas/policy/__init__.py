"""Allocation policies: how many GPUs train, estimate and are released each step."""

from __future__ import annotations

from cenas.policy._rules import (
    ClairvoyantPolicy,
    DayAheadPolicy,
    ElasticPolicy,
    HeuristicPolicy,
    OneShotPolicy,
    StaticPolicy,
    VanillaPolicy,
)
from cenas.policy.base import Allocation, Policy, State, as_allocation, clip_gpus
from cenas.policy.bound import BoundResult, WorkItem, offline_bound, work_of

__all__ = [
    "Allocation",
    "BoundResult",
    "ClairvoyantPolicy",
    "DayAheadPolicy",
    "ElasticPolicy",
    "HeuristicPolicy",
    "OneShotPolicy",
    "Policy",
    "State",
    "StaticPolicy",
    "VanillaPolicy",
    "WorkItem",
    "as_allocation",
    "clip_gpus",
    "offline_bound",
    "work_of",
]
