"""Policies by name."""

from __future__ import annotations

from typing import Any

from cenas.engine.energy import PowerModel
from cenas.engine.signal import CarbonSignal
from cenas.errors import ConfigError
from cenas.policy._rules import (
    CapRule,
    ClairvoyantPolicy,
    DayAheadPolicy,
    ElasticPolicy,
    HeuristicPolicy,
    OneShotPolicy,
    StaticPolicy,
    VanillaPolicy,
)
from cenas.policy.base import Policy

POLICIES: tuple[str, ...] = (
    "vanilla",
    "one-shot",
    "static",
    "heuristic",
    "elastic",
    "day-ahead",
    "clairvoyant",
    "rl",
    "rl-continuous",
)


def make_policy(
    name: str,
    signal: CarbonSignal,
    n_gpus: int,
    power: PowerModel,
    carbon_budget_g: float | None,
    cap_rule: str | None = None,
    **kwargs: Any,
) -> Policy:
    """Build a policy by name.

    Args:
        name: One of :data:`POLICIES`.
        signal: The study's carbon signal (the clairvoyant reads the window from it).
        n_gpus: GPUs in the pool.
        power: Power model.
        carbon_budget_g: Carbon budget of the study.
        cap_rule: With power caps on, the :class:`CapRule` mode that adds a cap level to
            the policy's split (``None``: caps off; a policy that decides its own level,
            :attr:`Policy.decides_cap`, is not wrapped).
        **kwargs: Extra policy arguments (e.g. ``fraction`` for ``static``).

    Raises:
        ConfigError: For an unknown name.
    """
    policy = _make(name, signal, n_gpus, power, carbon_budget_g, **kwargs)
    if cap_rule is None or policy.decides_cap:
        return policy
    return CapRule(policy, cap_rule)


def _make(
    name: str,
    signal: CarbonSignal,
    n_gpus: int,
    power: PowerModel,
    carbon_budget_g: float | None,
    **kwargs: Any,
) -> Policy:
    if name == "vanilla":
        return VanillaPolicy()
    if name == "one-shot":
        return OneShotPolicy()
    if name == "static":
        return StaticPolicy(**kwargs)
    if name == "heuristic":
        return HeuristicPolicy(**kwargs)
    if name == "elastic":
        return ElasticPolicy(**kwargs)
    if name == "day-ahead":
        return DayAheadPolicy(**kwargs)
    if name == "clairvoyant":
        return ClairvoyantPolicy(signal.window, n_gpus, power, 1.0, carbon_budget_g, **kwargs)
    if name in ("rl", "rl-continuous"):
        from cenas.policy.rl import load_default_policy

        return load_default_policy("continuous" if name == "rl-continuous" else "discrete")
    raise ConfigError(f"unknown policy {name!r}: choose one of {', '.join(POLICIES)}")


__all__ = ["POLICIES", "make_policy"]
