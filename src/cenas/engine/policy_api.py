"""The state a policy observes and the allocation-policy interface.

CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024) splits the GPUs every scheduling step between
energy-efficient *estimation* and energy-intensive *training*; a policy maps the observed
:class:`State` to an :class:`Allocation`: how many GPUs train, how many estimate and how many
are *released* (returned to the cloud or powered down: they draw nothing and do nothing in
that step). A policy may also answer a plain number of training GPUs, the rest estimating.

The interface lives in the engine layer because the step loop (:mod:`cenas.engine.loop`)
builds the :class:`State` and calls :meth:`Policy.decide`; the policies themselves
(:mod:`cenas.policy`) sit above the engine, and :mod:`cenas.policy.base` re-exports these
names for users.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class State:
    """What a policy sees at the start of a step.

    Attributes:
        step: Index of the step about to run.
        n_steps: Steps in the time budget.
        n_gpus: GPUs in the pool.
        time_left: Fraction of the time budget left, in [0, 1].
        carbon_left: Fraction of the carbon budget left, in [0, 1] (1 without a budget).
        intensity: Carbon intensity of this step's hour, gCO2eq/kWh.
        forecast: Intensity of the coming hours (after this one), gCO2eq/kWh, from the
            carbon signal (a forecaster or, for reference runs, the trace itself).
        intensity_scale: Normaliser for intensities (the trace's maximum).
        hv_ratio: Hypervolume of the trained architectures over HV_max, in [0, 1].
        n_trained: Architectures fully trained so far.
        n_estimated: Architectures estimated so far.
        queue_len: Estimated candidates waiting for training.
        queue_capacity: Capacity of that queue.
        n_paused_train: Unfinished trainings waiting for a GPU.
        n_released: GPUs released in the previous step (one brought back this step works
            only after the study's release delay).
        release_delay_s: Seconds a released GPU needs before it works again.
        n_cap_levels: Power-cap levels the study offers (``Allocation.cap`` lies in
            ``[0, n_cap_levels]``; ``0``: caps are off).
        cap_energy: Energy of a unit of training work at each cap level relative to
            uncapped, level 1 first (empty when caps are off).
        cap_time: Time of a unit of training work at each level relative to uncapped.
    """

    step: int
    n_steps: int
    n_gpus: int
    time_left: float
    carbon_left: float
    intensity: float
    forecast: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    intensity_scale: float = 1000.0
    hv_ratio: float = 0.0
    n_trained: int = 0
    n_estimated: int = 0
    queue_len: int = 0
    queue_capacity: int = 1
    n_paused_train: int = 0
    n_released: int = 0
    release_delay_s: float = 0.0
    n_cap_levels: int = 0
    cap_energy: tuple[float, ...] = ()
    cap_time: tuple[float, ...] = ()

    def intensity_percentile(self, horizon: int = 24) -> float:
        """Share of the coming ``horizon`` hours that are cleaner than now, in [0, 1].

        0 means no coming hour is cleaner (now is the best time to train); 1 means every
        coming hour is cleaner. Without a forecast, 0.5.
        """
        coming = np.asarray(self.forecast[:horizon], dtype=np.float64)
        if coming.size == 0:
            return 0.5
        return float(np.mean(coming < self.intensity))


@dataclass(frozen=True)
class Allocation:
    """One step's split of the pool.

    Attributes:
        train: GPUs that train.
        estimate: GPUs that estimate.
        release: GPUs released for the step (0 W, no work).
        cap: Power-cap level of the working GPUs for the step: ``0`` uncapped, ``k`` the
            study's ``k``-th level (``EngineConfig.power_caps``).
    """

    train: int
    estimate: int
    release: int = 0
    cap: int = 0

    def __post_init__(self) -> None:
        if min(self.train, self.estimate, self.release, self.cap) < 0:
            raise ValueError(f"allocation counts must be non-negative, got {self}")

    @property
    def n_gpus(self) -> int:
        """GPUs the allocation covers."""
        return self.train + self.estimate + self.release


Decision = int | Allocation
"""What :meth:`Policy.decide` answers: an allocation, or a number of training GPUs."""


def as_allocation(decision: Decision | float, n_gpus: int) -> Allocation:
    """The allocation of a decision: a number of training GPUs (rounded and clipped; the
    rest estimate), or an :class:`Allocation` of exactly ``n_gpus`` GPUs.

    Raises:
        ValueError: For an allocation of another pool size.
    """
    if isinstance(decision, Allocation):
        if decision.n_gpus != n_gpus:
            raise ValueError(f"allocation {decision} covers {decision.n_gpus} GPUs, not {n_gpus}")
        return decision
    n = clip_gpus(decision, n_gpus)
    return Allocation(train=n, estimate=n_gpus - n)


def with_cap(decision: Decision, n_gpus: int, cap: int) -> Allocation:
    """``decision`` as an allocation with its power-cap level set to ``cap``."""
    alloc = as_allocation(decision, n_gpus)
    return Allocation(alloc.train, alloc.estimate, alloc.release, cap)


class Policy(ABC):
    """Decides how the pool splits in the coming step."""

    name: str = "policy"
    trains_unscreened: bool | None = None
    """``True`` for a policy whose training GPUs train whatever the optimiser proposes
    (vanilla NAS), whatever ``EngineConfig.train_unscreened`` says; ``None``: the config
    decides."""
    decides_cap: bool = False
    """Whether the policy picks its own power-cap level (``Allocation.cap``); a study with
    power caps gives the others a :class:`cenas.policy.CapRule`."""

    @abstractmethod
    def decide(self, state: State) -> Decision:
        """An :class:`Allocation` of ``state.n_gpus`` GPUs, or a number of training GPUs in
        ``[0, state.n_gpus]`` (the rest estimate)."""

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Forget per-episode memory (default: nothing)."""


def clip_gpus(n: float, n_gpus: int) -> int:
    """Round and clip a GPU count into ``[0, n_gpus]``."""
    return int(min(max(round(n), 0), n_gpus))


__all__ = [
    "Allocation",
    "Decision",
    "Policy",
    "State",
    "as_allocation",
    "clip_gpus",
    "with_cap",
]
