"""GPU power and energy measured through NVML (``nvidia-ml-py``).

NVML reports, per GPU, the board's instantaneous power draw (``nvmlDeviceGetPowerUsage``,
milliwatts) and, on Volta and newer, a cumulative energy counter since the driver loaded
(``nvmlDeviceGetTotalEnergyConsumption``, millijoules). :class:`NvmlPowerSampler` reads the
power in a background thread at a fixed interval and the counter at the start and end of a
phase, so each phase of work (training, a proxy table, a supernet evaluation, idle) gets a
measured mean power, a peak, and an energy from the counter (or, where the counter is
missing, the time integral of the samples — reported as such).

Everything here is measured; nothing is modelled. Without an NVIDIA GPU and driver,
:func:`nvml_available` is false and :class:`NvmlPowerSampler` raises :class:`MeterError`.
"""

from __future__ import annotations

import importlib
import itertools
import threading
import time
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

from cenas.errors import CenasError


class MeterError(CenasError):
    """An energy meter that cannot be read on this machine."""


def _load_nvml() -> ModuleType:
    try:
        return importlib.import_module("pynvml")
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MeterError("NVML is not installed: pip install 'cenas[gpu]' (nvidia-ml-py)") from exc


def nvml_available() -> bool:
    """Whether NVML can be initialised here (an NVIDIA driver and GPU are present)."""
    try:
        nvml = _load_nvml()
        nvml.nvmlInit()
        nvml.nvmlShutdown()
    except Exception:
        return False
    return True


@dataclass
class PhaseReading:
    """Measured power of one phase of work on one GPU.

    Attributes:
        phase: What ran (``train``, ``proxies``, ``supernet-eval``, ``idle``...).
        gpu: NVML device index.
        seconds: Wall seconds of the phase.
        samples: Power samples taken.
        mean_w: Mean of the power samples (W).
        max_w: Largest sample (W).
        energy_j: Energy of the phase (J).
        energy_source: ``counter`` (NVML's cumulative energy counter) or ``samples``
            (time integral of the power samples, where the counter is unsupported).
        work: Units of work done in the phase (images, cells...), given by the caller.
    """

    phase: str
    gpu: int
    seconds: float
    samples: int
    mean_w: float
    max_w: float
    energy_j: float
    energy_source: str
    work: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)


class NvmlPowerSampler:
    """Samples one GPU's power in a background thread, phase by phase.

    Use as::

        with NvmlPowerSampler(gpu=0) as meter:
            with meter.phase("train") as reading:
                ...  # the work
            reading.work["images"] = n

    Args:
        gpu: NVML device index.
        interval_s: Seconds between power samples.
        nvml: The NVML module (``pynvml``); injectable for tests.
    """

    def __init__(self, gpu: int = 0, interval_s: float = 0.05, nvml: ModuleType | None = None):
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.gpu = gpu
        self.interval_s = interval_s
        self._nvml = nvml if nvml is not None else _load_nvml()
        self._handle: Any = None
        self.readings: list[PhaseReading] = []

    def __enter__(self) -> NvmlPowerSampler:
        try:
            self._nvml.nvmlInit()
            self._handle = self._nvml.nvmlDeviceGetHandleByIndex(self.gpu)
        except Exception as exc:
            raise MeterError(f"NVML cannot read GPU {self.gpu}: {exc}") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        self._nvml.nvmlShutdown()
        self._handle = None

    def power_w(self) -> float:
        """The board's power draw now (W)."""
        return float(self._nvml.nvmlDeviceGetPowerUsage(self._handle)) / 1000.0

    def energy_counter_j(self) -> float | None:
        """NVML's cumulative energy counter (J), or ``None`` where unsupported."""
        try:
            return float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)) / 1000.0
        except Exception:
            return None

    def phase(self, name: str) -> _Phase:
        """A context manager that measures one phase and appends its reading."""
        if self._handle is None:
            raise MeterError("use the sampler as a context manager before measuring a phase")
        return _Phase(self, name)


class _Phase:
    def __init__(self, meter: NvmlPowerSampler, name: str) -> None:
        self.meter = meter
        self.reading = PhaseReading(name, meter.gpu, 0.0, 0, 0.0, 0.0, 0.0, "samples")
        self._samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = 0.0
        self._e0: float | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._samples.append((time.perf_counter(), self.meter.power_w()))
            self._stop.wait(self.meter.interval_s)

    def __enter__(self) -> PhaseReading:
        self._e0 = self.meter.energy_counter_j()
        self._t0 = time.perf_counter()
        self._thread.start()
        return self.reading

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        t1 = time.perf_counter()
        self._samples.append((t1, self.meter.power_w()))
        e1 = self.meter.energy_counter_j()
        r = self.reading
        r.seconds = t1 - self._t0
        watts = [w for _, w in self._samples]
        r.samples = len(watts)
        r.mean_w = sum(watts) / len(watts)
        r.max_w = max(watts)
        if self._e0 is not None and e1 is not None:
            r.energy_j = e1 - self._e0
            r.energy_source = "counter"
        else:
            pts = [(self._t0, watts[0]), *self._samples]
            r.energy_j = sum(
                0.5 * (wa + wb) * (tb - ta) for (ta, wa), (tb, wb) in itertools.pairwise(pts)
            )
            r.energy_source = "samples"
        self.meter.readings.append(r)


__all__ = ["MeterError", "NvmlPowerSampler", "PhaseReading", "nvml_available"]
