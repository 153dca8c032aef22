"""GPU power model and the energy/carbon ledger.

Power defaults describe an NVIDIA A100-SXM4-40GB (TDP 400 W), a common data-centre GPU:

* ``train_w = 300``: sustained draw of full CNN training, about 75 % of TDP (typical of
  CIFAR-scale ResNet-like training, which does not saturate the GPU's tensor cores);
* ``estimate_w = 300``: low-fidelity estimation *is* short training, so it draws the same
  power; its energy is small because it runs 12 of 200 epochs, not because it draws less;
* ``inference_w = 180``: a supernet evaluation (forward passes of one validation set, no
  backward pass, no optimiser state);
* ``proxy_w = 115``: a zero-cost proxy (one or two passes of one batch, dominated by kernel
  launches and host work);
* ``idle_w = 55``: an idle A100 with its memory powered (NVIDIA reports 50-60 W);
* a *released* GPU (returned to the cloud, or powered down) draws nothing for the study.

``inference_w`` and ``proxy_w`` are **modelled, not measured**: no GPU power table has been
measured for cenas yet (``benchmarks/device_check.py`` measures one on a lent GPU). They follow
the linear utilisation model of server power (Fan, Weber, Barroso, "Power provisioning for a
warehouse-sized computer", ISCA 2007): ``idle + u * (train - idle)`` with an assumed
utilisation ``u`` of one half for inference and one quarter for a proxy.

Which estimation power a study's estimates draw follows the estimator's
:attr:`~cenas.engine.evaluators.Estimator.power_class` (:meth:`PowerModel.estimator_w`). An
estimator's one-time ``init`` work (a supernet's training) is training and draws
``train_w``.

**Power caps** (:class:`PowerCap`): a GPU's power limit set below its default slows the work
that is bound by it and lowers its draw by more, so each unit of training needs less energy
and more time. The levels and their trade-off come from Zeus's published power-limit
profiles (You, Chung, Chowdhury, "Zeus: Understanding and Optimizing GPU Energy Consumption
of DNN Training", NSDI 2023; the trace ``summary_power_<gpu>.csv`` of its artifact: seconds
per epoch and average power at every power limit), :data:`POWER_CAP_TABLES`. They are
published measurements of other GPUs and networks, not measured for cenas. A cap acts on
work at training power (trainings, a supernet's training, low-fidelity estimates); an
inference or proxy estimate and an idle GPU draw less than the lowest level, so a cap leaves
them unchanged.

Every charge is a :class:`LedgerEntry` of one GPU, one step and one job (or idle time), so
the carbon of a study adds up the same over jobs, over steps and over GPUs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

JOULES_PER_KWH = 3.6e6

WorkKind = Literal["train", "estimate", "init", "idle", "released", "migrate"]

PowerClass = Literal["train", "inference", "proxy"]
"""What an estimate's computation is: short training (low fidelity), inference (a supernet's
evaluation) or a zero-cost proxy."""


@dataclass(frozen=True)
class PowerModel:
    """Power draw of one GPU in each state, in watts.

    Attributes:
        train_w: While training.
        estimate_w: While estimating by short training (low fidelity).
        idle_w: While idle.
        inference_w: While estimating by inference (a supernet's evaluation).
        proxy_w: While computing a zero-cost proxy.
    """

    train_w: float = 300.0
    estimate_w: float = 300.0
    idle_w: float = 55.0
    inference_w: float = 180.0
    proxy_w: float = 115.0

    def __post_init__(self) -> None:
        for name in ("train_w", "estimate_w", "idle_w", "inference_w", "proxy_w"):
            if getattr(self, name) < 0:
                raise ValueError(f"power.{name} must be non-negative")

    def estimator_w(self, power_class: PowerClass) -> float:
        """Power of an estimating GPU whose estimates are of ``power_class``."""
        return {
            "train": self.estimate_w,
            "inference": self.inference_w,
            "proxy": self.proxy_w,
        }[power_class]

    def for_estimator(self, power_class: PowerClass) -> PowerModel:
        """This model with ``estimate_w`` set to the power of ``power_class`` estimates."""
        return dataclasses.replace(self, estimate_w=self.estimator_w(power_class))

    def capped(self, cap: PowerCap | None, estimates_train: bool) -> PowerModel:
        """This model under ``cap``: training power (and the estimating power, when the
        estimates are short trainings) scaled by the cap's power factor."""
        if cap is None:
            return self
        return dataclasses.replace(
            self,
            train_w=self.train_w * cap.power_factor,
            estimate_w=self.estimate_w * (cap.power_factor if estimates_train else 1.0),
        )

    def watts(self, kind: WorkKind) -> float:
        """Power of a GPU doing ``kind`` of work (``init``, a supernet's training: ``train_w``;
        ``released``: nothing)."""
        return {
            "train": self.train_w,
            "estimate": self.estimate_w,
            "init": self.train_w,
            "idle": self.idle_w,
            "released": 0.0,
            "migrate": 0.0,
        }[kind]


@dataclass(frozen=True)
class PowerCap:
    """One level of the GPU power limit and what it does to work at training power.

    Attributes:
        limit: The power limit as a share of the GPU's default limit, in (0, 1].
        time_factor: Seconds a unit of work takes under the cap, relative to uncapped.
        power_factor: Average draw under the cap, relative to uncapped.
    """

    limit: float
    time_factor: float
    power_factor: float

    def __post_init__(self) -> None:
        if not 0.0 < self.limit <= 1.0:
            raise ValueError(f"power cap limit must lie in (0, 1], got {self.limit}")
        if self.time_factor <= 0 or self.power_factor <= 0:
            raise ValueError("power cap time and power factors must be positive")

    @property
    def energy_factor(self) -> float:
        """Energy of a unit of work under the cap, relative to uncapped."""
        return self.time_factor * self.power_factor

    def label(self) -> str:
        """``67%``: the limit as a percentage of the default."""
        return f"{100 * self.limit:.0f}%"


def cap_levels(
    limits_w: Iterable[float], seconds: Iterable[float], watts: Iterable[float]
) -> tuple[PowerCap, ...]:
    """Power-cap levels from a power-limit profile: the seconds a fixed amount of work took
    and the average draw at each power limit, the highest limit (the default) first and
    itself left out of the levels.

    Raises:
        ValueError: For fewer than two rows or rows of unequal length.
    """
    lim, sec, pw = list(limits_w), list(seconds), list(watts)
    if len(lim) < 2 or not len(lim) == len(sec) == len(pw):
        raise ValueError("a power-limit profile needs two or more rows of limit, seconds, watts")
    return tuple(
        PowerCap(limit=lim[i] / lim[0], time_factor=sec[i] / sec[0], power_factor=pw[i] / pw[0])
        for i in range(1, len(lim))
    )


POWER_CAP_TABLES: dict[str, tuple[PowerCap, ...]] = {
    # Zeus NSDI 2023 artifact, summary_power_a40.csv: ImageNet ResNet-50, batch 256, on an
    # NVIDIA A40 (300 W default limit); seconds per epoch and average watts per limit.
    "zeus-a40": cap_levels(
        (300, 275, 250, 225, 200, 175, 150),
        (3847.48, 3857.81, 3864.98, 3909.47, 4123.52, 4705.61, 6326.84),
        (235.21, 230.85, 214.63, 196.41, 177.58, 160.23, 144.61),
    ),
    # The same, summary_power_v100.csv: an NVIDIA V100 (250 W default limit).
    "zeus-v100": cap_levels(
        (250, 225, 200, 175, 150, 125, 100),
        (3514.99, 3584.30, 3700.97, 3852.18, 4148.66, 5064.97, 6781.17),
        (220.25, 205.44, 184.94, 166.37, 144.59, 121.97, 98.38),
    ),
}
"""Named power-cap tables (see the module doc): ``zeus-a40`` (Ampere, the default GPU's
generation: at two thirds of the limit, 19 % less energy per epoch for 7 % more time) and
``zeus-v100``."""


def most_efficient(energy_factors: Iterable[float]) -> int:
    """The 1-based level of least energy per unit of work among levels of these relative
    energies (:attr:`PowerCap.energy_factor`); ``0`` when none saves energy (stay
    uncapped)."""
    best, best_e = 0, 1.0
    for i, e in enumerate(energy_factors, start=1):
        if e < best_e - 1e-12:
            best, best_e = i, e
    return best


def carbon_g(energy_j: float, intensity_g_per_kwh: float) -> float:
    """Grams of CO2eq of ``energy_j`` joules at an intensity in gCO2eq/kWh."""
    return energy_j / JOULES_PER_KWH * intensity_g_per_kwh


@dataclass(frozen=True)
class LedgerEntry:
    """One charge: a worker's work on one job (or idle time) within one step.

    ``measured`` is true only for energy a meter read (NVML, RAPL); ``meter`` names it
    (``model`` for the simulator's :class:`PowerModel`, ``model:cpu`` for the documented CPU
    power model, ``nvml:0``, ``rapl:package-0+dram``...).
    """

    step: int
    gpu: int
    kind: WorkKind
    job_id: int | None
    seconds: float
    energy_j: float
    carbon_g: float
    measured: bool = False
    meter: str = "model"


@dataclass
class Ledger:
    """All charges of a study, in order."""

    entries: list[LedgerEntry] = field(default_factory=list)

    def charge(
        self,
        step: int,
        gpu: int,
        kind: WorkKind,
        job_id: int | None,
        seconds: float,
        power: PowerModel,
        intensity: float,
    ) -> LedgerEntry:
        """Record ``seconds`` of ``kind`` work on ``gpu`` during ``step``."""
        energy = power.watts(kind) * seconds
        entry = LedgerEntry(step, gpu, kind, job_id, seconds, energy, carbon_g(energy, intensity))
        self.entries.append(entry)
        return entry

    def record(
        self,
        step: int,
        gpu: int,
        kind: WorkKind,
        job_id: int | None,
        seconds: float,
        energy_j: float,
        intensity: float,
        measured: bool,
        meter: str,
    ) -> LedgerEntry:
        """Record work whose energy a meter (or a named model) gave."""
        entry = LedgerEntry(
            step,
            gpu,
            kind,
            job_id,
            seconds,
            energy_j,
            carbon_g(energy_j, intensity),
            measured,
            meter,
        )
        self.entries.append(entry)
        return entry

    def measured_split(self) -> dict[str, float]:
        """Joules measured and modelled, and per meter (``meter:<name>``)."""
        out: dict[str, float] = {"measured_j": 0.0, "modelled_j": 0.0}
        for e in self.entries:
            out["measured_j" if e.measured else "modelled_j"] += e.energy_j
            key = f"meter:{e.meter}"
            out[key] = out.get(key, 0.0) + e.energy_j
        return out

    def extend(self, entries: Iterable[LedgerEntry]) -> None:
        """Append existing entries (on resume)."""
        self.entries.extend(entries)

    @property
    def total_carbon_g(self) -> float:
        """Carbon of every charge."""
        return float(sum(e.carbon_g for e in self.entries))

    @property
    def total_energy_j(self) -> float:
        """Energy of every charge."""
        return float(sum(e.energy_j for e in self.entries))

    def carbon_by_step(self) -> dict[int, float]:
        """Carbon per step."""
        out: dict[int, float] = {}
        for e in self.entries:
            out[e.step] = out.get(e.step, 0.0) + e.carbon_g
        return out

    def carbon_by_job(self) -> dict[int | None, float]:
        """Carbon per job (``None``: idle time)."""
        out: dict[int | None, float] = {}
        for e in self.entries:
            out[e.job_id] = out.get(e.job_id, 0.0) + e.carbon_g
        return out


__all__ = [
    "JOULES_PER_KWH",
    "POWER_CAP_TABLES",
    "Ledger",
    "LedgerEntry",
    "PowerCap",
    "PowerClass",
    "PowerModel",
    "WorkKind",
    "cap_levels",
    "carbon_g",
    "most_efficient",
]
