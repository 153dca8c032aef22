"""GPU power limits set through NVML (``nvidia-ml-py``), for studies with power caps.

A power cap is the board power limit of a GPU set below its default
(``nvmlDeviceSetPowerManagementLimit``, milliwatts, within
``nvmlDeviceGetPowerManagementLimitConstraints``); the GPU then lowers its clocks to stay
under it. The idea of capping training for energy, and the published trade-off a simulated
study uses, come from Zeus (You, Chung, Chowdhury, NSDI 2023). Setting a limit needs root
(or ``CAP_SYS_ADMIN``) on most systems; where NVML refuses, :class:`NvmlPowerLimiter` raises
one line saying so. Limits it changed are put back by :meth:`NvmlPowerLimiter.restore`.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from cenas.meters._nvml import MeterError, _load_nvml


class NvmlPowerLimiter:
    """Sets the power limit of NVIDIA GPUs to a share of their default limit.

    Args:
        indices: NVML device indices to cap together.
        nvml: The NVML module (``pynvml``); injectable for tests.

    Raises:
        MeterError: If NVML is missing or cannot read a GPU's limits.
    """

    def __init__(self, indices: Sequence[int], nvml: ModuleType | None = None) -> None:
        if not indices:
            raise MeterError("power caps: no GPU to cap")
        self._nvml: Any = nvml if nvml is not None else _load_nvml()
        try:
            self._nvml.nvmlInit()
        except Exception as exc:
            raise MeterError(f"power caps: NVML cannot start: {exc}") from None
        self.indices = list(indices)
        self._handles: dict[int, Any] = {}
        self.default_mw: dict[int, int] = {}
        self.range_mw: dict[int, tuple[int, int]] = {}
        self.limit: float | None = None
        """The share of the default limit now set (``None``: the defaults)."""
        try:
            for i in self.indices:
                h = self._nvml.nvmlDeviceGetHandleByIndex(i)
                self._handles[i] = h
                self.default_mw[i] = int(self._nvml.nvmlDeviceGetPowerManagementDefaultLimit(h))
                lo, hi = self._nvml.nvmlDeviceGetPowerManagementLimitConstraints(h)
                self.range_mw[i] = (int(lo), int(hi))
        except Exception as exc:
            self._nvml.nvmlShutdown()
            raise MeterError(f"power caps: NVML cannot read GPU power limits: {exc}") from None

    def target_mw(self, index: int, limit: float) -> int:
        """The limit in milliwatts that ``limit`` (a share of the default) means for GPU
        ``index``.

        Raises:
            MeterError: If it lies outside the GPU's allowed range.
        """
        mw = round(limit * self.default_mw[index])
        lo, hi = self.range_mw[index]
        if not lo <= mw <= hi:
            raise MeterError(
                f"power caps: {limit:.0%} of GPU {index}'s {self.default_mw[index] / 1000:.0f} W "
                f"limit is {mw / 1000:.0f} W, outside its range {lo / 1000:.0f}-{hi / 1000:.0f} W"
            )
        return mw

    def apply(self, limit: float | None) -> None:
        """Set every GPU's power limit to ``limit`` times its default (``None``: the
        default).

        Raises:
            MeterError: If NVML refuses (most often: setting a limit needs root).
        """
        if limit == self.limit:
            return
        for i in self.indices:
            mw = self.default_mw[i] if limit is None else self.target_mw(i, limit)
            try:
                self._nvml.nvmlDeviceSetPowerManagementLimit(self._handles[i], mw)
            except Exception as exc:
                raise MeterError(
                    f"power caps: NVML refused to set GPU {i}'s power limit to "
                    f"{mw / 1000:.0f} W ({exc}); setting a limit needs root or CAP_SYS_ADMIN "
                    "- run as such, or without power_caps"
                ) from None
        self.limit = limit

    def restore(self) -> None:
        """Put every default limit back (if a cap was set) and release NVML."""
        try:
            if self.limit is not None:
                self.apply(None)
        finally:
            self._nvml.nvmlShutdown()


__all__ = ["NvmlPowerLimiter"]
