"""Allocation policies: how many GPUs train each step (the rest estimate)."""

from __future__ import annotations

from cenas.policy._rules import (
    ClairvoyantPolicy,
    HeuristicPolicy,
    OneShotPolicy,
    StaticPolicy,
    VanillaPolicy,
)
from cenas.policy.base import Policy, State, clip_gpus

__all__ = [
    "ClairvoyantPolicy",
    "HeuristicPolicy",
    "OneShotPolicy",
    "Policy",
    "State",
    "StaticPolicy",
    "VanillaPolicy",
    "clip_gpus",
]
