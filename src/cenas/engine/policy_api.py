"""The state a policy observes and the allocation-policy interface.

CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024) splits the GPUs every scheduling step between
energy-efficient *estimation* and energy-intensive *training*; a policy maps the observed
:class:`State` to the number of training GPUs.

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

    def intensity_percentile(self, horizon: int = 24) -> float:
        """Share of the coming ``horizon`` hours that are cleaner than now, in [0, 1].

        0 means no coming hour is cleaner (now is the best time to train); 1 means every
        coming hour is cleaner. Without a forecast, 0.5.
        """
        coming = np.asarray(self.forecast[:horizon], dtype=np.float64)
        if coming.size == 0:
            return 0.5
        return float(np.mean(coming < self.intensity))


class Policy(ABC):
    """Decides how many GPUs train in the coming step; the rest estimate."""

    name: str = "policy"

    @abstractmethod
    def decide(self, state: State) -> int:
        """Number of training GPUs, in ``[0, state.n_gpus]``."""

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Forget per-episode memory (default: nothing)."""


def clip_gpus(n: float, n_gpus: int) -> int:
    """Round and clip a GPU count into ``[0, n_gpus]``."""
    return int(min(max(round(n), 0), n_gpus))


__all__ = ["Policy", "State", "clip_gpus"]
