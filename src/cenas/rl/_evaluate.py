"""Evaluate allocation policies on the same episodes: return, final hypervolume, carbon.

Reference: CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024), which compares its learned
allocator with vanilla NAS and rule-based allocation. Every policy runs on exactly the same
drawn episodes (window, budget, task seed), and every run is scored with the same reward,
so a learned policy's return is directly comparable with the rules'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cenas.errors import ConfigError
from cenas.metrics import carbon_to_target
from cenas.policy.base import Policy
from cenas.policy.rl._model import RLPolicy, load_default_policy
from cenas.rl._env import EnvConfig, Episode, EpisodeScorer, episodes, make_engine

EVAL_YEARS: tuple[int, ...] = (2023,)
"""Held-out years: never drawn during training."""


@dataclass(frozen=True)
class EpisodeResult:
    """One policy on one episode.

    Attributes:
        policy: Policy name.
        episode: The episode.
        ret: Return (sum of rewards).
        hv_ratio: Final ``HV / HV_max``.
        log_hv_diff: Final ``log10(HV_max − HV)``.
        carbon_g: Carbon emitted.
        steps: Steps run.
        n_trained: Cells trained.
        curve: ``(cum_carbon_g, log_hv_diff)`` after each step.
    """

    policy: str
    episode: Episode
    ret: float
    hv_ratio: float
    log_hv_diff: float
    carbon_g: float
    steps: int
    n_trained: int
    curve: tuple[tuple[float, float], ...] = field(repr=False, default=())

    def carbon_to(self, target: float) -> float | None:
        """Carbon emitted when ``log10(HV_max − HV)`` first reached ``target`` (or ``None``);
        see :func:`cenas.metrics.carbon_to_target`."""
        reached = carbon_to_target((c for c, _ in self.curve), (d for _, d in self.curve), target)
        return None if reached is None else reached[0]


def run_episode(policy: Policy | str, episode: Episode, config: EnvConfig) -> EpisodeResult:
    """Run one policy (an object or a registry name) on one episode.

    Args:
        policy: A :class:`~cenas.policy.base.Policy` or a name for
            :func:`cenas.policy.registry.make_policy`.
        episode: The episode.
        config: Task, pool and reward settings.
    """
    if isinstance(policy, str):
        engine = make_engine(episode, config, policy=policy)
        name = policy
    else:
        engine = make_engine(episode, config)
        policy.reset()
        engine.policy = policy
        name = policy.name
    scorer = EpisodeScorer(engine, config.reward)
    curve: list[tuple[float, float]] = []
    while not engine.done:
        _, record = scorer.step(None)
        curve.append((record.cum_carbon_g, record.log_hv_diff))
    s = engine.summary()
    return EpisodeResult(
        policy=name,
        episode=episode,
        ret=scorer.total,
        hv_ratio=float(s["hv_ratio"]),
        log_hv_diff=float(s["log_hv_diff"]),
        carbon_g=float(s["carbon_g"]),
        steps=int(s["steps"]),
        n_trained=int(s["n_trained"]),
        curve=tuple(curve),
    )


@dataclass(frozen=True)
class PolicySummary:
    """Means (and standard deviations) of one policy over the evaluation episodes."""

    policy: str
    episodes: int
    mean_return: float
    std_return: float
    mean_hv_ratio: float
    std_hv_ratio: float
    mean_carbon_g: float
    std_carbon_g: float
    mean_log_hv_diff: float


def summarise(results: Sequence[EpisodeResult]) -> PolicySummary:
    """Means over one policy's results."""
    if not results:
        raise ValueError("no results to summarise")
    ret = np.array([r.ret for r in results])
    hv = np.array([r.hv_ratio for r in results])
    co2 = np.array([r.carbon_g for r in results])
    diff = np.array([r.log_hv_diff for r in results])
    return PolicySummary(
        policy=results[0].policy,
        episodes=len(results),
        mean_return=float(ret.mean()),
        std_return=float(ret.std()),
        mean_hv_ratio=float(hv.mean()),
        std_hv_ratio=float(hv.std()),
        mean_carbon_g=float(co2.mean()),
        std_carbon_g=float(co2.std()),
        mean_log_hv_diff=float(diff.mean()),
    )


def _resolve(policy: RLPolicy | str | Path | None, kind: str) -> RLPolicy:
    if isinstance(policy, RLPolicy):
        return policy
    if policy is None:
        return load_default_policy(kind)
    return RLPolicy.load(policy)


def evaluate_policy(
    policy: RLPolicy | str | Path | None = None,
    *,
    kind: str = "discrete",
    config: EnvConfig | None = None,
    zones: Sequence[str] | None = None,
    years: Sequence[int] = EVAL_YEARS,
    n_episodes: int = 10,
    seed: int = 0,
    baselines: Sequence[str] = ("heuristic", "vanilla"),
) -> dict[str, PolicySummary]:
    """Evaluate a learned policy against rule-based baselines on the same episodes.

    Args:
        policy: The policy, a path to its ``.json``/``.npz`` (or their stem), or ``None``
            for the shipped policy of ``kind``.
        kind: Shipped policy to use when ``policy`` is ``None``.
        config: Episode and reward settings (default :class:`EnvConfig`; its action kind
            is ignored — the policy brings its own).
        zones: Zones to draw from (default: the config's).
        years: Years to draw from (default 2023, held out from training).
        n_episodes: Episodes per policy.
        seed: Seed of the episode draw.
        baselines: Registry names of the policies to compare with.

    Returns:
        Policy name -> summary, the learned policy first.

    Raises:
        ConfigError: For bad arguments or a missing/invalid policy file.
    """
    if n_episodes <= 0:
        raise ConfigError(f"episodes: must be positive, got {n_episodes}")
    learned = _resolve(policy, kind)
    cfg = config or EnvConfig()
    changes: dict[str, Any] = {"years": tuple(int(y) for y in years)}
    if zones:
        changes["zones"] = tuple(zones)
    cfg = cfg.replace(**changes).validate()
    eps = episodes(cfg, n_episodes, seed)
    out: dict[str, PolicySummary] = {}
    out[learned.name] = summarise([run_episode(learned, ep, cfg) for ep in eps])
    for name in baselines:
        out[name] = summarise([run_episode(name, ep, cfg) for ep in eps])
    return out


__all__ = [
    "EVAL_YEARS",
    "EpisodeResult",
    "PolicySummary",
    "evaluate_policy",
    "run_episode",
    "summarise",
]
