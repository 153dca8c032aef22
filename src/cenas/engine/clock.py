"""Pluggable time: one clock interface, simulated and wall-clock implementations.

The step loop only calls :meth:`Clock.now` and :meth:`Clock.advance_to`; it never knows
whether time jumps (simulation on a tabular benchmark, nothing sleeps) or passes for real
(live runs). This mirrors syne-tune's real vs. simulated ``TimeKeeper``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod


class Clock(ABC):
    """Seconds elapsed since the study started."""

    @abstractmethod
    def now(self) -> float:
        """Seconds since the start of the study."""

    @abstractmethod
    def advance_to(self, t: float) -> None:
        """Return once the clock reads at least ``t`` seconds."""

    @abstractmethod
    def jump_to(self, t: float) -> None:
        """Set the reading to ``t`` at once (replaying stored steps on resume)."""


class SimulatedClock(Clock):
    """A clock that jumps: :meth:`advance_to` sets the time and returns at once.

    Args:
        start: Initial reading in seconds (a resumed study starts where it stopped).
    """

    def __init__(self, start: float = 0.0) -> None:
        self._t = float(start)

    def now(self) -> float:
        return self._t

    def advance_to(self, t: float) -> None:
        if t < self._t:
            raise ValueError(f"simulated time cannot go back from {self._t} to {t}")
        self._t = float(t)

    def jump_to(self, t: float) -> None:
        self.advance_to(t)


class WallClock(Clock):
    """Real time: :meth:`advance_to` sleeps until the wall clock reaches ``t``.

    Args:
        start: Reading at construction (a resumed study continues its count).
        speedup: Divide real waiting by this factor (1 = real time; for demonstrations).
    """

    def __init__(self, start: float = 0.0, speedup: float = 1.0) -> None:
        if speedup <= 0:
            raise ValueError("speedup must be positive")
        self._origin = time.monotonic() - start / speedup
        self._speedup = speedup

    def now(self) -> float:
        return (time.monotonic() - self._origin) * self._speedup

    def advance_to(self, t: float) -> None:
        while (remaining := t - self.now()) > 0:
            time.sleep(min(remaining / self._speedup, 1.0))

    def jump_to(self, t: float) -> None:
        self._origin = time.monotonic() - t / self._speedup


__all__ = ["Clock", "SimulatedClock", "WallClock"]
