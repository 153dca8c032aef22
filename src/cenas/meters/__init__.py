"""Measured energy: NVML power sampling of NVIDIA GPUs."""

from cenas.meters._nvml import MeterError, NvmlPowerSampler, PhaseReading, nvml_available

__all__ = ["MeterError", "NvmlPowerSampler", "PhaseReading", "nvml_available"]
