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
    "Ledger",
    "LedgerEntry",
    "PowerClass",
    "PowerModel",
    "WorkKind",
    "carbon_g",
]
