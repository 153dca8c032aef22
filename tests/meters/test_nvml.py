"""NVML sampling against a fake NVML whose power and energy counter are known."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from cenas.meters import MeterError, NvmlPowerSampler


class FakeNvml(SimpleNamespace):
    """Draws 250 W constantly; the energy counter advances 250 J per second of wall time."""

    def __init__(self, counter: bool = True, fail_init: bool = False) -> None:
        super().__init__()
        self.counter = counter
        self.fail_init = fail_init
        self.t0 = time.perf_counter()
        self.inited = 0

    def nvmlInit(self) -> None:
        if self.fail_init:
            raise RuntimeError("NVML Shared Library Not Found")
        self.inited += 1

    def nvmlShutdown(self) -> None:
        self.inited -= 1

    def nvmlDeviceGetHandleByIndex(self, i: int) -> Any:
        return ("gpu", i)

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int:
        return 250_000  # mW

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: Any) -> int:
        if not self.counter:
            raise RuntimeError("Not Supported")
        return int((time.perf_counter() - self.t0) * 250_000)  # mJ


def test_phase_reads_counter_energy() -> None:
    fake = FakeNvml()
    with NvmlPowerSampler(0, interval_s=0.01, nvml=fake) as meter:  # type: ignore[arg-type]
        with meter.phase("train") as reading:
            time.sleep(0.2)
        reading.work["images"] = 512
    assert fake.inited == 0
    assert reading.energy_source == "counter"
    assert reading.mean_w == 250.0 and reading.max_w == 250.0
    assert reading.samples >= 3
    assert reading.energy_j == pytest.approx(250.0 * reading.seconds, rel=0.02)
    assert meter.readings == [reading]
    assert reading.to_dict()["work"] == {"images": 512}


def test_phase_integrates_samples_without_counter() -> None:
    fake = FakeNvml(counter=False)
    sampler = NvmlPowerSampler(0, interval_s=0.01, nvml=fake)  # type: ignore[arg-type]
    with sampler as meter, meter.phase("idle") as reading:
        time.sleep(0.1)
    assert reading.energy_source == "samples"
    # a constant 250 W integrates exactly over the phase
    assert reading.energy_j == pytest.approx(250.0 * reading.seconds, rel=1e-9)


def test_unreadable_gpu_is_one_line() -> None:
    meter = NvmlPowerSampler(0, nvml=FakeNvml(fail_init=True))  # type: ignore[arg-type]
    with pytest.raises(MeterError, match="NVML cannot read GPU 0"):
        meter.__enter__()
    with pytest.raises(MeterError, match="context manager"):
        NvmlPowerSampler(0, nvml=FakeNvml()).phase("x")  # type: ignore[arg-type]
