"""The reward of the learned allocation policy.

Reference: CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024) rewards its allocation agent for
hypervolume gained, weighted more heavily as the time budget runs out, against the carbon
the step emitted. Per scheduling step ``t`` with ``τ = time_left`` before the step::

    r_t = w_hv · (h(HV_t) − h(HV_{t−1})) · (1 + w_time · (1 − τ))         progress
        − w_carbon · carbon_t / C_norm                                     cost
        + w_trained · (newly trained cells) / n_gpus                       sample bonus
        + w_target · [log10(HV_max − HV) first drops to the target at t]   goal
        + w_final · gap(HV_T / HV_max) · [t is the last step]               terminal

where ``h`` measures hypervolume: ``ratio`` — ``h(HV) = HV / HV_max``, CE-NAS's hypervolume
gain — or ``log`` (the default) — ``h(HV) = gap(HV / HV_max)`` with
``gap(r) = −log10(1 − r) / 3`` clipped to [0, 1] (the observation's ``hv_gap``), and
``C_norm = n_gpus · train_w · step_hours · max intensity of the trace`` (grams): the
carbon of the whole pool training for one step in the trace's dirtiest hour, so the cost
term lies in [0, 1] per step on any grid and pool.

Choices and fixes relative to the reference code:

* ``HV_{t−1}`` is the hypervolume *after the previous step*, the same value the observation
  shows; the reference code kept a stale hypervolume in its state, so the progress it
  rewarded and the progress it showed disagreed.
* the sample bonus counts cells divided by the pool size, not a raw, unbounded count.
* the progress is measured on the log scale by default. On NAS-Bench-201 the very first
  trained cell already gives about 80 % of HV_max, so ``ΔHV / HV_max`` is dominated by a
  gain every policy gets in its first hour, and the difference that matters — 0.95 versus
  0.99 of HV_max — is worth almost nothing. Worse, with the time weight that first gain
  pays more the later it comes, so the agent is paid to postpone training (measured:
  under the ratio scale PPO's validation return fell as training went on). On the log
  scale each halving of the remaining gap is worth the same (0 → 0.8 gives 0.23,
  0.95 → 0.99 gives 0.23). ``hv_scale="ratio"`` restores CE-NAS's definition.
* the time weight makes late gains worth more, which is what the paper intends (finish
  strong); because the progress telescopes, it also slightly favours postponing gains, so
  the default weight is modest.
* the *goal term* is a one-off bonus on the step at which ``log10(HV_max − HV)`` first
  reaches ``target_log_hv_diff``: a sparse "reach the target" signal that the dense HV term
  (whose gains shrink to almost nothing near the front) does not give. Paid once, it
  rewards reaching the target early and cheaply, and never rewards spending after it.
* the *terminal term* pays, once at the end of the episode, ``gap(r) = −log10(1 − r) / 3``
  of the final hypervolume ratio ``r`` (the observation's ``hv_gap``): on this log scale
  the last per-mille of hypervolume still counts (0.95 → 0.43, 0.998 → 0.90), so the agent
  is rewarded for finishing close to the front under any budget, not only for the big
  early gains that dominate ``ΣΔHV``.
* released GPUs (the ``*-release`` action kinds) cost nothing: ``carbon_t`` is the step's
  carbon from the engine's ledger, where a released GPU's entry is 0 J (ledger kind
  ``released``), while an idle GPU still draws idle power. A GPU coming back from a release
  spends the study's release delay at idle power, which ``carbon_t`` does charge. The
  normaliser ``C_norm`` does not depend on the action. Checked by
  ``tests/policy/test_release.py::test_release_env_episode`` (a fully released step: 0 g,
  cost term 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cenas.engine.energy import JOULES_PER_KWH, PowerModel
from cenas.errors import ConfigError
from cenas.policy.rl._obs import hv_gap


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the reward terms (see the module docstring).

    Attributes:
        hv: Weight of the hypervolume progress.
        hv_scale: ``log`` (progress in ``gap(HV / HV_max)``) or ``ratio`` (``ΔHV / HV_max``).
        time: ``w_time``: the gain is multiplied by ``1 + w_time · (1 − time_left)``.
        carbon: Weight of the step's normalised carbon.
        trained: Bonus per newly trained cell, per GPU of the pool.
        target: One-off bonus when the target is first reached (0 disables it).
        target_log_hv_diff: The target, ``log10(HV_max − HV)``; ``None`` disables the bonus.
        final: Weight of the terminal term ``gap(HV_T / HV_max)``.
    """

    hv: float = 5.0
    hv_scale: str = "log"
    time: float = 0.5
    carbon: float = 0.1
    trained: float = 0.005
    target: float = 1.0
    target_log_hv_diff: float | None = 1.0
    final: float = 2.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


@dataclass(frozen=True)
class RewardTerms:
    """One step's reward, term by term."""

    progress: float
    carbon: float
    trained: float
    target: float
    final: float = 0.0

    @property
    def total(self) -> float:
        """The reward: progress − carbon + trained + target + final."""
        return self.progress - self.carbon + self.trained + self.target + self.final


def carbon_normaliser(
    n_gpus: int, power: PowerModel, step_hours: float, max_intensity: float
) -> float:
    """Grams emitted by ``n_gpus`` training for one step at ``max_intensity`` gCO2eq/kWh."""
    joules = n_gpus * power.train_w * step_hours * 3600.0
    return max(joules / JOULES_PER_KWH * max_intensity, 1e-9)


def step_reward(
    weights: RewardWeights,
    *,
    hv_before: float,
    hv_after: float,
    time_left: float,
    carbon_g: float,
    carbon_norm_g: float,
    new_trained: int,
    n_gpus: int,
    reached_target: bool = False,
    done: bool = False,
) -> RewardTerms:
    """The reward of one step.

    Args:
        weights: Term weights.
        hv_before: ``HV / HV_max`` after the previous step.
        hv_after: ``HV / HV_max`` after this step.
        time_left: Fraction of the time budget left *before* this step.
        carbon_g: Carbon the step emitted.
        carbon_norm_g: :func:`carbon_normaliser` of the episode.
        new_trained: Cells whose training finished in this step.
        n_gpus: GPUs in the pool.
        reached_target: Whether the target was first reached in this step.
        done: Whether this is the episode's last step (adds the terminal term).

    Returns:
        The terms; :attr:`RewardTerms.total` is the reward.
    """
    if weights.hv_scale == "log":
        gain = hv_gap(hv_after) - hv_gap(hv_before)
    elif weights.hv_scale == "ratio":
        gain = hv_after - hv_before
    else:
        raise ConfigError(f"reward hv_scale: must be 'log' or 'ratio', got {weights.hv_scale!r}")
    progress = weights.hv * gain * (1.0 + weights.time * (1.0 - time_left))
    return RewardTerms(
        progress=progress,
        carbon=weights.carbon * carbon_g / carbon_norm_g,
        trained=weights.trained * new_trained / max(n_gpus, 1),
        target=weights.target if reached_target else 0.0,
        final=weights.final * hv_gap(hv_after) if done else 0.0,
    )


__all__ = ["RewardTerms", "RewardWeights", "carbon_normaliser", "step_reward"]
